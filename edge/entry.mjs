// The Worker's JavaScript entry: a thin wrapper around the Rust build.
//
// Why it exists: with panic=abort (the only mode stable Rust offers on
// wasm32), a Rust panic traps the wasm instance. `worker` then resets the
// instance for the next request, but the request that panicked — and any
// other request in flight on that instance — would never settle and
// workerd would answer with its own plain-text error. The Rust panic hook
// (edge/src/platform/mod.rs) calls `__storefrontEdgeOnPanic`; this wrapper
// answers every request in flight with an RFC 9457 problem instead.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustEdge from "./build/index.js";

export { CartObject, FlagsObject, GuardObject } from "./build/index.js";

const inFlight = new Set();

globalThis.__storefrontEdgeOnPanic = (message) => {
  console.error("edge: panic, answering in-flight requests with 500:", message);
  for (const settle of inFlight) settle();
  inFlight.clear();
};

function panicProblem() {
  const body = JSON.stringify({
    type: "about:blank",
    title: "Internal Server Error",
    status: 500,
    detail: "the edge failed unexpectedly; it has been logged",
  });
  return new Response(body, {
    status: 500,
    headers: {
      "content-type": "application/problem+json",
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

export default class StorefrontEdge extends WorkerEntrypoint {
  async fetch(request) {
    let settle;
    const panicked = new Promise((resolve) => {
      settle = resolve;
    });
    inFlight.add(settle);
    try {
      const rust = new RustEdge(this.ctx, this.env);
      const answer = await Promise.race([rust.fetch(request), panicked.then(() => null)]);
      return answer ?? panicProblem();
    } catch (error) {
      console.error("edge: request failed:", error);
      return panicProblem();
    } finally {
      inFlight.delete(settle);
    }
  }
}
