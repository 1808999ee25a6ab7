//! Requests from the edge to an origin, bounded by a timeout.

use futures::future::{Either, select};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Request, Response};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use origin_adapter::forward::{ForwardedRead, ForwardedWrite, signed_headers, signed_read_headers};
use worker::{Headers, Method, RequestInit, Url};

use super::{internal, now_ms, random};
use crate::config::EdgeConfig;
use crate::error::EdgeError;

/// Sends `request`, aborting it after `timeout_ms`: 504 on timeout, 502 when
/// the origin cannot be reached.
pub(crate) async fn send(
    request: Request,
    timeout_ms: u64,
    what: &str,
) -> Result<Response, EdgeError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    match select(sent, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => {
            worker::console_error!("edge: {what} unreachable: {e}");
            Err(EdgeError::new(
                502,
                format!("the {what} could not be reached"),
            ))
        }
        Either::Right(((), _)) => {
            controller.abort();
            Err(EdgeError::new(
                504,
                format!("the {what} did not answer within {timeout_ms} ms"),
            ))
        }
    }
}

/// Where an origin request goes: its URL, and the parts a signature covers.
struct Target {
    url: String,
    authority: String,
    path: String,
    query: Option<String>,
}

fn target(config: &EdgeConfig, path: &str, what: &str) -> Result<Target, EdgeError> {
    let url = format!("{}{path}", config.default_origin());
    let parsed =
        Url::parse(&url).map_err(|_| EdgeError::new(500, format!("the {what} URL is invalid")))?;
    Ok(Target {
        authority: origin_adapter::signature::authority(
            parsed.host_str().unwrap_or_default(),
            parsed.port(),
        ),
        path: parsed.path().to_owned(),
        query: parsed.query().map(str::to_owned),
        url,
    })
}

fn nonce() -> Result<String, EdgeError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<16>()?))
}

fn unsigned(what: &str) -> impl Fn(origin_adapter::signature::SignatureError) -> EdgeError + '_ {
    move |e| {
        worker::console_error!("edge: could not sign a request to the {what}: {e}");
        EdgeError::new(
            500,
            format!("the edge could not sign its request to the {what}"),
        )
    }
}

/// Sends a request carrying `signed` headers; returns the status and body.
async fn dispatch(
    config: &EdgeConfig,
    target: &Target,
    method: Method,
    signed: &[(&'static str, String)],
    body: Option<&[u8]>,
    what: &str,
) -> Result<(u16, Vec<u8>), EdgeError> {
    let headers = Headers::new();
    for (name, value) in signed {
        headers
            .set(name, value)
            .map_err(internal("signed a request"))?;
    }
    headers
        .set("accept", "application/json")
        .map_err(internal("signed a request"))?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    let request = Request::new_with_init(&target.url, &init)
        .map_err(internal("built a request to an origin"))?;
    let mut answer = send(request, config.origin_timeout_ms, what).await?;
    let bytes = answer
        .bytes()
        .await
        .map_err(internal("read an origin's answer"))?;
    Ok((answer.status_code(), bytes))
}

/// POSTs a JSON `body` to `path` on the default region's origin, signed
/// (RFC 9421) under `idempotency_key`, carrying `claims` if a customer is
/// logged in; returns the status and body.
pub(crate) async fn send_signed(
    config: &EdgeConfig,
    path: &str,
    body: &[u8],
    idempotency_key: &str,
    claims: Option<&str>,
    what: &str,
) -> Result<(u16, Vec<u8>), EdgeError> {
    let t = target(config, path, what)?;
    let write = ForwardedWrite {
        method: "POST",
        authority: &t.authority,
        path: &t.path,
        query: t.query.as_deref(),
        content_type: "application/json",
        idempotency_key,
        body,
        claims,
    };
    let signed = signed_headers(&write, &config.signing_key, now_ms() / 1000, &nonce()?)
        .map_err(unsigned(what))?;
    dispatch(config, &t, Method::Post, &signed, Some(body), what).await
}

/// GETs `path` on the default region's origin, signed, carrying `claims`.
pub(crate) async fn send_signed_read(
    config: &EdgeConfig,
    path: &str,
    claims: Option<&str>,
    what: &str,
) -> Result<(u16, Vec<u8>), EdgeError> {
    let t = target(config, path, what)?;
    let read = ForwardedRead {
        authority: &t.authority,
        path: &t.path,
        query: t.query.as_deref(),
        claims,
    };
    let signed = signed_read_headers(&read, &config.signing_key, now_ms() / 1000, &nonce()?)
        .map_err(unsigned(what))?;
    dispatch(config, &t, Method::Get, &signed, None, what).await
}
