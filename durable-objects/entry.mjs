// The `storefront-objects` Worker's entry: the Durable Object classes of
// the Rust build (`build/`, written by `cargo xtask build`). The edge
// Worker reaches them through its bindings (`script_name`); nothing else
// routes here, and a request that does is refused.
export { CartObject, DropObject, FlagsObject, GuardObject, StockObject } from "./build/index.js";

export default {
  fetch() {
    const body = JSON.stringify({
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: "the storefront's objects are reached through the edge",
    });
    return new Response(body, {
      status: 404,
      headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
    });
  },
};
