//! One object calling another: a typed call sent as JSON to the object
//! named `name` (or with the id `hex`) in a namespace, its whole answer
//! read within the bounded reader. The edge has its own equivalent, which
//! also copies headers it passes on; objects need status and body only.

use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, RequestInit, Result, Stub};

use crate::body::{MAX_ANSWER, read_answer_bounded};

/// Which object: by name (made if new) or by id (an object that exists).
pub enum Address<'a> {
    Name(&'a str),
    Id(&'a str),
}

fn stub(env: &Env, binding: &str, address: Address<'_>) -> Result<Stub> {
    let namespace = env.durable_object(binding)?;
    match address {
        Address::Name(name) => namespace.id_from_name(name)?.get_stub(),
        Address::Id(hex) => namespace.id_from_string(hex)?.get_stub(),
    }
}

/// `POST url` with `call` as JSON to the object at `address`: its status
/// and body.
///
/// # Errors
/// No such binding, an id that is not one, or no answer.
pub async fn call<C: serde::Serialize>(
    env: &Env,
    binding: &str,
    address: Address<'_>,
    url: &str,
    call: &C,
) -> Result<(u16, Vec<u8>)> {
    let stub = stub(env, binding, address)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&serde_json::to_string(call)?)));
    let mut answer = stub
        .fetch_with_request(Request::new_with_init(url, &init)?)
        .await?;
    let body = read_answer_bounded(&mut answer, MAX_ANSWER)
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok((answer.status_code(), body))
}
