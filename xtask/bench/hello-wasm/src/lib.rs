//! The floor under the edge in `cargo xtask bench edge`: a Worker whose
//! Rust answers through wasm-bindgen alone, without the `worker` crate's
//! per-request conversions. What separates it from the JavaScript hello
//! world is the wasm boundary; what separates the edge's `/healthz` from
//! it is the edge's own glue and work.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The runtime's `Response`.
    pub type Response;

    #[wasm_bindgen(constructor)]
    fn new(body: &str) -> Response;
}

/// `new Response("hello")`, made in Rust.
#[wasm_bindgen]
pub fn answer() -> Response {
    Response::new("hello")
}
