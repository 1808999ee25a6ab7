//! Building `worker` responses: JSON bodies and RFC 9457 problems. Shared by
//! the Durable Objects and the edge so every error looks the same.

use origin_adapter::wire::{PROBLEM_JSON, Problem};
use serde::Serialize;
use worker::{Headers, Response, Result, ScheduledTime};

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

/// An alarm time from Unix milliseconds. `worker` 0.8 reads a bare `i64`
/// as an offset from now, not a time — this is the one way to say "at".
pub fn alarm_at(unix_ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        unix_ms as f64,
    )))
}
