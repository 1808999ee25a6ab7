// The Cache API's backing store for a bare `workerd serve` (its
// `cacheApiOutbound`), in memory and shared by every contender, so none is
// faster for its cache. workerd sends `cache.put` as `PUT <key>` whose body
// is the serialised HTTP/1.1 response, `cache.match` as `GET <key>` (answer
// with `Cf-Cache-Status: HIT` and the response, or `MISS`), and
// `cache.delete` as `PURGE <key>` (200, or 404 when absent).
const entries = new Map();
const MAX_ENTRIES = 10_000;
const decoder = new TextDecoder();

function indexOf(bytes, needle, from) {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLF = [13, 10];
const END_OF_HEAD = [13, 10, 13, 10];

function dechunk(bytes) {
  const parts = [];
  let at = 0;
  for (;;) {
    const line = indexOf(bytes, CRLF, at);
    if (line < 0) break;
    const size = parseInt(decoder.decode(bytes.subarray(at, line)), 16);
    if (!size) break;
    parts.push(bytes.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function parse(bytes) {
  const end = indexOf(bytes, END_OF_HEAD, 0);
  const lines = decoder.decode(bytes.subarray(0, end)).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = [];
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "transfer-encoding") {
      chunked = value.toLowerCase().includes("chunked");
      continue;
    }
    headers.push([name, value]);
  }
  const rest = bytes.subarray(end + 4);
  return { status, headers, body: chunked ? dechunk(rest) : rest };
}

export default {
  async fetch(request) {
    const key = request.url;
    if (request.method === "PUT") {
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value);
      entries.set(key, parse(new Uint8Array(await request.arrayBuffer())));
      return new Response(null, { status: 204 });
    }
    if (request.method === "PURGE") {
      return new Response(null, { status: entries.delete(key) ? 200 : 404 });
    }
    const entry = entries.get(key);
    if (!entry) return new Response(null, { headers: { "cf-cache-status": "MISS" } });
    const headers = new Headers(entry.headers);
    headers.set("cf-cache-status", "HIT");
    return new Response(entry.body, { status: entry.status, headers });
  },
};
