// The JavaScript a shop would write for the same jobs as the Rust edge, to
// measure it against (`cargo xtask bench edge`): Hono routing, catalog
// reads through the same Cache API with the same windows, ETag and cache
// headers, the flag document evaluated per read with OpenFeature's flagd
// core, and the same PASETO v4.local session cookie opened (with @noble)
// and checked against the same session guard Durable Object.
//
// Not part of the product: it is a yardstick, kept honest by doing what
// the edge does on each path and no less.
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { FlagdCore } from "@openfeature/flagd-core";
import { xchacha20 } from "@noble/ciphers/chacha.js";
import { blake2b } from "@noble/hashes/blake2.js";

const CACHE_NAME = "hono-peer";
const BROWSER_CACHE_CONTROL = "public, max-age=30";
// [max-age, stale-while-revalidate, stale-if-error], as the edge's defaults.
const WINDOWS = { product: [60, 60, 86400], listing: [30, 30, 3600] };
const SKU = /^[A-Z0-9][A-Z0-9-]{0,63}$/;
const SORTS = new Set(["name", "price", "newest"]);
const IMPLICIT_ASSERTION = new TextEncoder().encode("storefront-edge/session/v1");

let flagd;
const silent = { error() {}, warn() {}, info() {}, debug() {} };

function flags(env) {
  if (!flagd) {
    flagd = new FlagdCore(undefined, silent);
    flagd.setConfigurations(env.FLAG_DOCUMENT);
  }
  return flagd;
}

const b64 = {
  encode(bytes) {
    let s = btoa(String.fromCharCode(...bytes));
    return s.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  },
  decode(text) {
    const s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
  },
};

async function etagOf(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return `"${b64.encode(digest.subarray(0, 18))}"`;
}

function notModified(ifNoneMatch, etag) {
  if (!ifNoneMatch) return false;
  const ours = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((t) => {
    const c = t.trim();
    return c === "*" || c.replace(/^W\//, "") === ours;
  });
}

function answer(c, body, etag, status, tags, started) {
  const headers = {
    "cache-status": status,
    "server-timing": `edge;dur=${Date.now() - started}`,
    "cache-tag": tags.join(","),
  };
  if (notModified(c.req.header("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers: { ...headers, etag, "cache-control": BROWSER_CACHE_CONTROL } });
  }
  return new Response(body, {
    headers: { ...headers, "content-type": "application/json", etag, "cache-control": BROWSER_CACHE_CONTROL },
  });
}

async function fetchAndStore(c, canonical, key, windows, tags) {
  const res = await fetch(`${c.env.CATALOG_ORIGIN}${canonical}`, { headers: { accept: "application/json" } });
  const body = await res.text();
  if (res.status !== 200) return { body, status: res.status };
  const etag = await etagOf(body);
  const [maxAge, swr, sie] = windows;
  const stored = new Response(body, {
    headers: {
      "content-type": "application/json",
      "cache-control": `public, max-age=${maxAge + Math.max(swr, sie)}`,
      "x-stored-at": String(Date.now()),
      "x-windows": windows.join(","),
      etag,
      "cache-tag": tags.join(","),
    },
  });
  c.executionCtx.waitUntil(caches.default.put(key, stored));
  return { body, etag, status: 200 };
}

async function catalogRead(c, canonical, kind, tags) {
  const started = Date.now();
  const windows = [...WINDOWS[kind]];
  // A shared entry's lifetime may come from a flag, decided with nothing
  // of the requester's (as the edge does).
  const override = flags(c.env).resolveNumberEvaluation("catalog-max-age", -1, { path: c.req.path }, silent);
  if (override.value >= 0) windows[0] = override.value;
  const key = `https://${CACHE_NAME}.cache${canonical}`;
  const hit = await caches.default.match(key);
  if (hit) {
    const age = (Date.now() - Number(hit.headers.get("x-stored-at"))) / 1000;
    const etag = hit.headers.get("etag");
    if (age < windows[0]) {
      const ttl = Math.floor(windows[0] - age);
      return answer(c, hit.body, etag, `${CACHE_NAME}; hit; ttl=${ttl}`, tags, started);
    }
    if (age < windows[0] + windows[1]) {
      c.executionCtx.waitUntil(fetchAndStore(c, canonical, key, windows, tags));
      return answer(c, hit.body, etag, `${CACHE_NAME}; hit; ttl=0`, tags, started);
    }
  }
  const fetched = await fetchAndStore(c, canonical, key, windows, tags);
  if (fetched.status !== 200) {
    return new Response(fetched.body, {
      status: fetched.status,
      headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
    });
  }
  return answer(c, fetched.body, fetched.etag, `${CACHE_NAME}; fwd=uri-miss; stored`, tags, started);
}

function problem(status, detail) {
  return new Response(JSON.stringify({ type: "about:blank", status, detail }), {
    status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
  });
}

// PASETO v4.local: PAE, BLAKE2b keys, XChaCha20 (paseto.io's v4 spec).
function pae(pieces) {
  const le64 = (n) => {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
    return out;
  };
  const parts = [le64(pieces.length)];
  for (const p of pieces) parts.push(le64(p.length), p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();
const concat = (a, b) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

let sessionKey;
function keyOf(env) {
  if (!sessionKey) {
    const key = b64.decode(env.SESSION_KEY);
    const paserk = utf8.encode(`k4.local.${b64.encode(key)}`);
    const lid = `k4.lid.${b64.encode(blake2b(concat(utf8.encode("k4.lid."), paserk), { dkLen: 33 }))}`;
    sessionKey = { key, lid };
  }
  return sessionKey;
}

function openSession(env, token) {
  if (!token || token.length > 4096 || !token.startsWith("v4.local.")) return null;
  const [, , payload, footerText] = token.split(".");
  if (!payload || !footerText) return null;
  const { key, lid } = keyOf(env);
  const footer = b64.decode(footerText);
  if (JSON.parse(new TextDecoder().decode(footer)).kid !== lid) return null;
  const m = b64.decode(payload);
  const n = m.subarray(0, 32);
  const c = m.subarray(32, m.length - 32);
  const t = m.subarray(m.length - 32);
  const tmp = blake2b(concat(utf8.encode("paseto-encryption-key"), n), { key, dkLen: 56 });
  const ak = blake2b(concat(utf8.encode("paseto-auth-key-for-aead"), n), { key, dkLen: 32 });
  const expected = blake2b(pae([utf8.encode("v4.local."), n, c, footer, IMPLICIT_ASSERTION]), { key: ak, dkLen: 32 });
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= expected[i] ^ t[i];
  if (diff !== 0) return null;
  const claims = JSON.parse(new TextDecoder().decode(xchacha20(tmp.subarray(0, 32), tmp.subarray(32), c)));
  const now = Math.floor(Date.now() / 1000);
  if (claims.iat > now + 60 || now >= claims.exp || now >= claims.idle_exp) return null;
  return claims;
}

async function revoked(env, sid) {
  const stub = env.GUARD.get(env.GUARD.idFromName(`session:${sid}`));
  const r = await stub.fetch("https://guard/call", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ call: "is_revoked" }),
  });
  return (await r.json()).revoked;
}

const app = new Hono();

app.use("*", async (c, next) => {
  const requestId = crypto.randomUUID();
  await next();
  c.res.headers.set("x-request-id", requestId);
  c.res.headers.set("x-content-type-options", "nosniff");
  c.res.headers.set("referrer-policy", "strict-origin-when-cross-origin");
});

app.get("/healthz", (c) => c.json({ status: "ok" }));

app.get("/api/products/:sku", (c) => {
  const sku = c.req.param("sku");
  if (!SKU.test(sku)) return problem(400, "sku: not a SKU");
  return catalogRead(c, `/catalog/products/${sku}`, "product", [`product:${sku}`]);
});

app.get("/api/products", (c) => {
  const category = c.req.query("category");
  const sort = c.req.query("sort") ?? "name";
  const limit = Number(c.req.query("limit") ?? "20");
  if (category !== undefined && !/^[a-z0-9-]{1,64}$/.test(category)) return problem(400, "category: not a category");
  if (!SORTS.has(sort)) return problem(400, "sort: not a sort order");
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return problem(400, "limit: 1 to 100");
  const params = new URLSearchParams();
  if (category) params.set("category", category);
  params.set("limit", String(limit));
  params.set("sort", sort);
  const tags = category ? [`category:${category}`] : ["catalog"];
  return catalogRead(c, `/catalog/products?${params}`, "listing", tags);
});

app.get("/api/session", async (c) => {
  const claims = openSession(c.env, getCookie(c, "__Host-session"));
  if (!claims || (await revoked(c.env, claims.sid))) {
    return c.json({ authenticated: false }, 200, { "cache-control": "private, no-store" });
  }
  return c.json(
    {
      authenticated: true,
      user_id: claims.sub,
      roles: claims.roles,
      region: claims.region,
      session_id: claims.sid,
      idle_expires_at: claims.idle_exp,
      expires_at: claims.exp,
    },
    200,
    { "cache-control": "private, no-store" },
  );
});

app.get("/api/flags", (c) => {
  const anonymousId = getCookie(c, "__Host-anon");
  const context = { targetingKey: anonymousId, anonymousId, roles: [], loggedIn: false, path: c.req.path };
  const all = flags(c.env).resolveAll(context, silent);
  const out = {};
  for (const d of all) out[d.flagKey] = { value: d.value, variant: d.variant, reason: d.reason };
  return c.json({ flags: out }, 200, { "cache-control": "private, no-store" });
});

app.notFound(() => problem(404, "no resource here"));

export default app;
