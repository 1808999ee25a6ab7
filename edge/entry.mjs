// The Worker's JavaScript entry: a thin wrapper around the Rust build.
//
// Why it exists:
//
// 1. Speed. worker-build's default export wraps every request in Proxies
//    (one for the entrypoint object, one per method call) so it can rebuild
//    the wasm instance after a trap. That costs more per request than the
//    edge's own work on a cache hit. This entry calls the Rust `fetch`
//    directly and asks for the rebuild only when it is needed: after a
//    panic or a trap, the next request goes through the wrapped path once,
//    which resets the instance.
// 2. Panics. With panic=abort (the only mode stable Rust offers on
//    wasm32), a Rust panic traps the wasm instance; the request that
//    panicked — and any other in flight on that instance — would never
//    settle, and workerd would answer with its own plain-text error. The
//    Rust panic hook (edge/src/platform/mod.rs) calls
//    `__storefrontEdgeOnPanic`; this wrapper then answers every request in
//    flight with an RFC 9457 problem instead.
import RustEdge from "./build/index.js";
import { failure } from "./src/platform/glue.js";


// The Rust handlers, unwrapped: `serve(head, request, env, ctx)`, and
// the two steps of a catalog read from the cache.
const { serve, serveCached, serveMiss } = RustEdge.prototype;
// worker-build's instance state: `criticalError` asks for a rebuild.
const initState = globalThis.__worker_init_state;

// The requests awaiting Rust, each with the settle of a promise it races:
// a panic settles them all, so none waits for an answer that will never
// come. (One promise per request: workerd lets a promise settle only in
// the request that made it.)
const inFlight = new Set();

globalThis.__storefrontEdgeOnPanic = (message) => {
  console.error("edge: panic, answering in-flight requests with 500:", message);
  initState.criticalError = true;
  for (const settle of inFlight) settle(null);
  inFlight.clear();
};

function panicProblem() {
  return failure("the edge failed unexpectedly; it has been logged");
}

// An exception out of a Rust call ends the wasm instance (wasm-bindgen
// marks it terminated): every request awaiting it is answered now, and the
// next request rebuilds it.
function failed(error) {
  console.error("edge: request failed:", error);
  initState.criticalError = true;
  for (const settle of inFlight) settle(null);
  inFlight.clear();
  return panicProblem();
}

// The request's head in one string, so Rust reads it in one crossing:
// method and URL. (Rust asks for the headers and the location, in one more
// crossing, only when the route needs them.)
function headOf(request) {
  return `${request.method}\n${request.url}`;
}

// A plain module Worker (not a `WorkerEntrypoint` class, which the runtime
// instantiates per request), and `fetch` is not `async`: an answer Rust
// gives at once (`/healthz`, a refusal) goes back without a promise, and
// only an answer that waits goes through `answerLater`. Measured on bare
// workerd, one core: /healthz 12.0k → 13.5k req/s.
export default {
  fetch(request, env, ctx) {
    try {
      const head = headOf(request);
      if (initState.criticalError) {
        // Constructing the wrapped entrypoint rebuilds the instance; the
        // unwrapped handlers then call into the new one.
        new RustEdge(ctx, env);
      }
      // A Response now, a Promise of one, or a catalog read's plan.
      const answer = serve(head, request, env, ctx);
      if (answer instanceof Response) return answer;
      return answerLater(answer, head, request, env, ctx);
    } catch (error) {
      return failed(error);
    }
  },
};

async function answerLater(answer, head, request, env, ctx) {
  try {
    if (typeof answer === "string") {
      // `<ticket>\n<metadata header>\n<cache key>`: Rust decides from
      // the stored entry's metadata; its body goes out untouched.
      const [ticket, metaHeader, key] = answer.split("\n");
      // A cache that fails is a miss: the full read answers.
      const stored = await caches.default.match(key).catch(() => undefined);
      const meta = stored?.headers.get(metaHeader) ?? "";
      const hit = serveCached(Number(ticket), key, meta, stored?.body ?? null);
      if (hit) return hit;
      await stored?.body?.cancel();
      answer = serveMiss(Number(ticket), key, head, request, env, ctx);
      if (answer instanceof Response) return answer;
    }
    let settle;
    const panicked = new Promise((resolve) => {
      settle = resolve;
    });
    inFlight.add(settle);
    try {
      return (await Promise.race([answer, panicked])) ?? panicProblem();
    } finally {
      inFlight.delete(settle);
    }
  } catch (error) {
    return failed(error);
  }
}
