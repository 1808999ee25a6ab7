//! Calling Durable Objects: one stub per object name, JSON in, and the
//! answer copied into a response the edge may still change.

use durable_objects::body::{BodyError, MAX_ANSWER};
use js_sys::futures::JsFuture;
use wasm_bindgen::{JsCast as _, JsValue};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Stub};

use super::runtime::internal;
use crate::error::EdgeError;

/// The stub of the object `name` in namespace `binding`.
pub(crate) fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub, EdgeError> {
    env.durable_object(binding)
        .and_then(|ns| ns.id_from_name(name)?.get_stub())
        .map_err(internal("reached a Durable Object"))
}

/// The stub of the object `name`, created in `jurisdiction` (e.g. `eu`)
/// when one is given: its data then stays there (Cloudflare's data
/// location guarantee). `worker` 0.8 has no binding for
/// `namespace.jurisdiction()`, so it is called through JavaScript.
pub(crate) fn stub_in(
    env: &Env,
    binding: &str,
    name: &str,
    jurisdiction: Option<&str>,
) -> Result<Stub, EdgeError> {
    let Some(jurisdiction) = jurisdiction else {
        return stub(env, binding, name);
    };
    let namespace = env
        .durable_object(binding)
        .map_err(internal("reached a Durable Object"))?;
    let raw: &JsValue = namespace.as_ref();
    let restricted = js_sys::Reflect::get(raw, &JsValue::from_str("jurisdiction"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(raw, &JsValue::from_str(jurisdiction)).ok());
    let Some(restricted) = restricted else {
        // `wrangler dev` has no jurisdictions; only there is the object
        // made without one. In production a request is refused rather than
        // stored outside its jurisdiction.
        let development = env
            .var("ENVIRONMENT")
            .is_ok_and(|v| v.to_string() == "development");
        if development {
            worker::console_warn!(
                "edge: this runtime has no {jurisdiction} jurisdiction; {name} is made without one (development only)"
            );
            return stub(env, binding, name);
        }
        worker::console_error!("edge: this runtime cannot restrict {binding} to {jurisdiction}");
        return Err(EdgeError::unavailable(
            "the cart store for your region is unavailable",
        ));
    };
    let restricted: worker::ObjectNamespace = restricted.unchecked_into();
    restricted
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(internal("reached a Durable Object"))
}

/// Sends one typed call (a `CartCall`, `GuardCall` or `FlagsCall`) to the
/// object behind `stub`: `POST url` with the call as JSON.
pub(crate) async fn call<C: serde::Serialize>(
    stub: &Stub,
    url: &str,
    call: &C,
) -> Result<Response, EdgeError> {
    let body = serde_json::to_string(call)
        .map_err(|_| EdgeError::internal("the edge could not encode a call to its store"))?;
    let mut init = RequestInit::new();
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(internal("called a Durable Object"))?;
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&body)));
    send(stub, url, &init).await
}

async fn send(stub: &Stub, url: &str, init: &RequestInit) -> Result<Response, EdgeError> {
    let request = Request::new_with_init(url, init).map_err(internal("called a Durable Object"))?;
    let answer = stub
        .fetch_with_request(request)
        .await
        .map_err(internal("called a Durable Object"))?;
    // A stub's response has immutable headers; answer with our own copy so
    // the edge can add cookies and security headers.
    let status = answer.status_code();
    let kept: Vec<(&str, String)> = ["content-type", "idempotent-replayed", "retry-after"]
        .into_iter()
        .filter_map(|name| Some((name, answer.headers().get(name).ok().flatten()?)))
        .collect();
    let body = read_own_answer(answer.into()).await.map_err(|e| {
        worker::console_error!("edge: a Durable Object's answer: {e}");
        EdgeError::internal("the edge could not read its own store; it has been logged")
    })?;
    let headers = Headers::new();
    for (name, value) in kept {
        headers
            .set(name, &value)
            .map_err(internal("read a Durable Object's answer"))?;
    }
    Ok(Response::from_bytes(body)
        .map_err(internal("read a Durable Object's answer"))?
        .with_status(status)
        .with_headers(headers))
}

/// An object's answer body, read by the runtime in one call
/// (`arrayBuffer()`), not chunk by chunk through a stream reader, whose
/// reads and lock release were 8.6% of a session check's CPU profile.
/// The objects are the edge's own and bound what they answer where they
/// read it (a client's call, an origin's answer: the limits of
/// [`durable_objects::body::read_answer_bounded`]), so the answer is held
/// to [`MAX_ANSWER`] after the read.
async fn read_own_answer(answer: web_sys::Response) -> Result<Vec<u8>, BodyError> {
    let read = answer.array_buffer().map_err(|_| BodyError::Unreadable)?;
    let buffer = JsFuture::from(read)
        .await
        .map_err(|_| BodyError::Unreadable)?;
    let bytes = js_sys::Uint8Array::new(&buffer);
    if bytes.length() as usize > MAX_ANSWER {
        return Err(BodyError::TooLarge { limit: MAX_ANSWER });
    }
    Ok(bytes.to_vec())
}
