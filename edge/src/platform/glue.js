// The few JavaScript calls the Rust shell makes on its hot paths. Each does
// in one crossing what the `worker` crate's API does in many (a header set
// is one crossing, a body read through a stream reader several), so a
// cached answer costs a handful of crossings, not dozens. No decision is
// made here: the Rust core decides, this only moves bytes. None of these
// may throw: an exception escaping into wasm ends the whole instance, and
// with it every request in flight.

// Statuses whose Response must have no body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

// A Response's headers from `name:value` lines. A plain object: the
// runtime reads a record into its headers several times faster than a
// list of pairs (measured: /healthz 16.7k → 20.9k req/s on bare workerd).
// A record holds one value per name, so a repeated name (two
// `Set-Cookie`s) takes the list form.
function headersOf(head) {
  const record = Object.create(null);
  let pairs = null;
  let start = 0;
  while (start < head.length) {
    let end = head.indexOf("\n", start);
    if (end < 0) end = head.length;
    const at = head.indexOf(":", start);
    if (at > start && at < end) {
      const name = head.slice(start, at);
      const value = head.slice(at + 1, end);
      if (pairs) pairs.push([name, value]);
      else if (Object.hasOwn(record, name)) {
        pairs = Object.entries(record);
        pairs.push([name, value]);
      } else record[name] = value;
    }
    start = end + 1;
  }
  return pairs ?? record;
}

/** A Rust panic: the JavaScript entry answers the requests in flight. */
export function panicked(message) {
  globalThis.__storefrontEdgeOnPanic?.(message);
}

/** One header of the request, or null. */
export function headerValue(request, name) {
  return request.headers.get(name);
}

/**
 * The request's location (country, continent: a line each, empty when
 * unknown) then its headers as `name:value` lines. Read only for the
 * routes that use them: `request.cf` is built on first access.
 */
export function headerLines(request) {
  const cf = request.cf;
  let lines = `${cf?.country ?? ""}\n${cf?.continent ?? ""}\n`;
  for (const [name, value] of request.headers) lines += `${name}:${value}\n`;
  return lines;
}

// What a Response the runtime refused (a header value it will not carry)
// becomes: a 500 problem, never an exception.
function refused(error) {
  console.error("edge: the runtime refused an answer:", error);
  return failure("the edge could not build its answer; it has been logged");
}

/**
 * A 500 RFC 9457 problem built without Rust (the entry's panic answer
 * too): `detail` says what failed, never why.
 */
export function failure(detail) {
  const body = JSON.stringify({ type: "about:blank", title: "Internal Server Error", status: 500, detail });
  return new Response(body, {
    status: 500,
    headers: {
      "content-type": "application/problem+json",
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

/** A Response: `status`, `head` as `name:value` lines, `body` bytes (copied). */
export function respond(status, head, body) {
  try {
    const content = NULL_BODY.has(status) ? null : body.slice();
    return new Response(content, { status, headers: headersOf(head) });
  } catch (error) {
    return refused(error);
  }
}

/**
 * A Response carrying `body` as it is (a cached entry's stream, or null);
 * a status without a body lets the stream go.
 */
export function respondBody(status, head, body) {
  try {
    let content = body;
    if (NULL_BODY.has(status)) {
      body?.cancel();
      content = null;
    }
    return new Response(content, { status, headers: headersOf(head) });
  } catch (error) {
    body?.cancel();
    return refused(error);
  }
}

/**
 * The catalog entry stored under `key` in this location's cache: its
 * `metaHeader` value, a newline, then its body; `undefined` on a miss or
 * for anything stored without the header.
 */
export async function cachedEntry(key, metaHeader) {
  const hit = await caches.default.match(key).catch(() => undefined);
  if (!hit) return undefined;
  const meta = hit.headers.get(metaHeader);
  if (meta === null) {
    await hit.body?.cancel();
    return undefined;
  }
  const body = await hit.text().catch(() => undefined);
  return body === undefined ? undefined : `${meta}\n${body}`;
}

/** Stores `body` under `key` with `head` (as `respond`'s): whether it was stored. */
export async function storeEntry(key, head, body) {
  try {
    await caches.default.put(key, new Response(body.slice(), { headers: headersOf(head) }));
    return true;
  } catch (error) {
    console.warn("edge: cache put failed for", key, error);
    return false;
  }
}
