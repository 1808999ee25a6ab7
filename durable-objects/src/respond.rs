//! Building `worker` responses: JSON bodies and RFC 9457 problems. Shared by
//! the Durable Objects and the edge so every error looks the same.

use origin_adapter::wire::{PROBLEM_JSON, Problem};
use serde::Serialize;
use worker::{Headers, Response, Result};

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let text = serde_json::to_string(body)?;
    with_type(status, text, "application/json")
}

/// An RFC 9457 problem response saying `detail`.
pub fn problem(status: u16, detail: impl Into<String>) -> Result<Response> {
    with_type(status, Problem::new(status, detail).to_json(), PROBLEM_JSON)
}

fn with_type(status: u16, body: String, content_type: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}
