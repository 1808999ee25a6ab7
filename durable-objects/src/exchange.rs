//! One request to an origin and its whole answer, within a time limit: the
//! single `fetch` the edge (catalog reads, forwarded calls, checkouts) and
//! the cart object's outbox (orders it retries) both send, and the one
//! RFC 9421 signing of it ([`sign`], [`send_signed`]) — so an order placed
//! by the edge and the same order retried by the outbox are the same
//! request. The body is read through the one bounded reader, so an origin
//! can never make either buffer more than [`MAX_ANSWER`].

use std::time::Duration;

use futures::future::{Either, select};
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use origin_adapter::forward::{
    EdgeContext, ForwardedRead, ForwardedWrite, signed_headers, signed_read_headers,
};
use origin_adapter::keys::SigningKey;

use crate::body::{MAX_ANSWER, read_answer_bounded};

/// Where a request goes: its URL, split as the signature covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// `host[:port]`, as RFC 9421's `@authority`.
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
}

impl Target {
    /// `url` split; `None` when it is not an absolute URL.
    pub fn parse(url: &str) -> Option<Self> {
        let parts = origin_adapter::signature::split_url(url)?;
        Some(Self {
            authority: parts.authority,
            path: parts.path.to_owned(),
            query: parts.query.map(str::to_owned),
            url: url.to_owned(),
        })
    }

    /// `path` (and `query`) at an origin's `base` URL (no trailing `/`).
    pub fn at(base: &str, path: &str, query: Option<&str>) -> Option<Self> {
        match query {
            Some(q) => Self::parse(&format!("{base}{path}?{q}")),
            None => Self::parse(&format!("{base}{path}")),
        }
    }
}

/// One request the edge signs for an origin: a read (`GET`, no key) or a
/// write (JSON body, `Idempotency-Key` required).
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub target: &'a Target,
    pub body: &'a [u8],
    pub idempotency_key: Option<&'a str>,
    /// Claims, flags, request id and trace, covered by the signature.
    pub context: EdgeContext<'a>,
}

/// The headers that make `out` a request the origin's verifier accepts
/// (RFC 9421 signature, `Content-Digest`, `Idempotency-Key`, the edge's
/// context, `Accept: application/json`). Unix seconds `now`; `nonce` fresh
/// for each attempt.
///
/// # Errors
/// A write without a key, a key that is not a structured-field string, or
/// a context that cannot be signed: the edge's own fault, never the client's.
pub fn sign(
    out: &Outgoing<'_>,
    key: &SigningKey,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, &'static str> {
    let t = out.target;
    let signed = match (out.method, out.idempotency_key) {
        ("GET", _) => signed_read_headers(
            &ForwardedRead {
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                context: out.context,
            },
            key,
            now,
            nonce,
        ),
        (_, Some(idempotency_key)) => signed_headers(
            &ForwardedWrite {
                method: out.method,
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                content_type: "application/json",
                idempotency_key,
                body: out.body,
                context: out.context,
            },
            key,
            now,
            nonce,
        ),
        (_, None) => return Err("the edge sends no write without an idempotency key"),
    };
    let mut headers = signed.map_err(|_| "the request could not be signed")?;
    headers.push(("accept", "application/json".to_owned()));
    Ok(headers)
}

/// Signs `out` ([`sign`]) and sends it ([`send`]).
///
/// # Errors
/// As [`sign`] (the message), or a request the platform cannot build.
pub async fn send_signed(
    out: &Outgoing<'_>,
    key: &SigningKey,
    (now, nonce): (i64, &str),
    timeout_ms: u64,
) -> Result<Exchange, String> {
    let signed = sign(out, key, now, nonce)?;
    let headers: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let body = (out.method != "GET").then_some(out.body);
    send(out.method, &out.target.url, &headers, body, timeout_ms)
        .await
        .map_err(|e| e.to_string())
}

/// Signs `out` with the Worker's `EDGE_SIGNING_KEY` secret, fresh nonce
/// and the platform's clock, and sends it: how an object (the cart's
/// outbox, a drop's stock) reaches an origin on its own.
///
/// # Errors
/// The secret missing or malformed, no randomness, or [`send_signed`]'s.
pub async fn send_from_object(
    env: &worker::Env,
    out: &Outgoing<'_>,
    timeout_ms: u64,
) -> worker::Result<Exchange> {
    let key = SigningKey::from_config(&env.secret("EDGE_SIGNING_KEY")?.to_string())
        .map_err(|e| worker::Error::RustError(format!("EDGE_SIGNING_KEY: {e}")))?;
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)
        .map_err(|e| worker::Error::RustError(format!("no randomness: {e}")))?;
    let nonce = origin_adapter::trace::to_hex(&nonce);
    let now = worker::Date::now().as_millis() as i64 / 1000;
    send_signed(out, &key, (now, &nonce), timeout_ms)
        .await
        .map_err(worker::Error::RustError)
}

/// What became of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// The origin answered; its status, headers (lower-case names) and body.
    Answered {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// No connection, or the request could not be sent.
    Unreachable,
    /// The answer broke off, or passed [`MAX_ANSWER`].
    Broken,
    /// No whole answer within the time limit; the request was aborted.
    TimedOut,
}

/// Sends `method url` with `headers` (and `body`, unless `GET`), and reads
/// the whole answer within `timeout_ms` milliseconds.
///
/// # Errors
/// Only when the request cannot be built (a malformed URL or header);
/// everything that happens on the network is an [`Exchange`].
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout_ms: u64,
) -> worker::Result<Exchange> {
    let sent = Headers::new();
    for (name, value) in headers {
        sent.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(method.to_owned()))
        .with_headers(sent);
    if let (Some(body), false) = (body, method == "GET") {
        init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(body))));
    }
    let request = Request::new_with_init(url, &init)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = Box::pin(async move {
        let Ok(mut response) = Fetch::Request(request).send_with_signal(&signal).await else {
            return Exchange::Unreachable;
        };
        let status = response.status_code();
        let headers = response.headers().entries().collect();
        match read_answer_bounded(&mut response, MAX_ANSWER).await {
            Ok(body) => Exchange::Answered {
                status,
                headers,
                body,
            },
            Err(_) => Exchange::Broken,
        }
    });
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    Ok(match select(exchange, timer).await {
        Either::Left((exchange, _)) => exchange,
        Either::Right(((), _)) => {
            controller.abort();
            Exchange::TimedOut
        }
    })
}

#[cfg(test)]
mod tests {
    use origin_adapter::trace::TraceParent;

    use super::*;

    #[test]
    fn targets_name_what_the_signature_covers() {
        let t = Target::at(
            "http://127.0.0.1:8701",
            "/catalog/products",
            Some("limit=2"),
        )
        .unwrap();
        assert_eq!(t.url, "http://127.0.0.1:8701/catalog/products?limit=2");
        assert_eq!(t.authority, "127.0.0.1:8701");
        assert_eq!(
            (t.path.as_str(), t.query.as_deref()),
            ("/catalog/products", Some("limit=2"))
        );
        assert!(Target::at("not a url", "/x", None).is_none());
        assert_eq!(
            Target::parse("https://eu.example/orders")
                .unwrap()
                .authority,
            "eu.example"
        );
    }

    #[test]
    fn writes_are_signed_only_with_a_key() {
        let key = SigningKey::from_seed("edge-1", [1; 32]);
        let trace = TraceParent::child_of(None, [2; 16], [3; 8]).to_string();
        let t = Target::at("https://us.example", "/reviews", None).unwrap();
        let out = |method, idempotency_key| Outgoing {
            method,
            target: &t,
            body: b"{}",
            idempotency_key,
            context: EdgeContext {
                claims: None,
                flags: None,
                request_id: Some("r1"),
                traceparent: Some(&trace),
            },
        };
        let signed = sign(&out("POST", Some("k1")), &key, 1_800_000_000, "n1").unwrap();
        let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
        for wanted in [
            "signature",
            "signature-input",
            "content-digest",
            "idempotency-key",
            "accept",
        ] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
        assert!(sign(&out("POST", None), &key, 1_800_000_000, "n2").is_err());
        assert!(sign(&out("POST", Some("bad\"key")), &key, 1_800_000_000, "n2").is_err());
        let read = sign(&out("GET", None), &key, 1_800_000_000, "n3").unwrap();
        assert!(!read.iter().any(|(n, _)| *n == "idempotency-key"));
    }
}
