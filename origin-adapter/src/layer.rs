//! The origin side of the contract: a tower layer that verifies an edge
//! request's `Content-Digest` and RFC 9421 signature, refuses replays, and
//! only then lets the handler run. Rejections are RFC 9457 problems.
//!
//! Handlers read what was verified from the request extensions as
//! [`VerifiedEdge`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt as _, Either, Full, Limited};

use crate::digest::verify_content_digest;
use crate::forward::{
    CLAIMS_HEADER, FLAGS_HEADER, REQUEST_ID_HEADER, SIGNATURE_LIFETIME, TRACEPARENT_HEADER,
    decode_claims, decode_flags, edge_policy, required_components,
};
use crate::keys::KeyRing;
use crate::replay::{NonceRefused, SeenNonces};
use crate::signature::{Component, RequestView, verify};
use crate::trace::TraceParent;
use crate::wire::{EdgeClaims, PROBLEM_JSON, Problem};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The current Unix time in seconds; passed in so tests can move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the layer proved about a request, for handlers to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEdge {
    pub keyid: String,
    pub created: i64,
    pub nonce: String,
    /// The Idempotency-Key the signature covered, unquoted.
    pub idempotency_key: Option<String>,
    /// The customer the edge vouches for; `None` for an anonymous request.
    pub claims: Option<EdgeClaims>,
    /// The flags the edge evaluated for this request (empty if none).
    pub flags: serde_json::Map<String, serde_json::Value>,
    /// The edge's request id and trace, for logs.
    pub request_id: Option<String>,
    pub trace: Option<TraceParent>,
}

impl VerifiedEdge {
    /// `request_id=… trace_id=…` for a log line (`-` where unknown).
    pub fn log_ids(&self) -> String {
        format!(
            "request_id={} trace_id={}",
            self.request_id.as_deref().unwrap_or("-"),
            self.trace
                .map(|t| t.trace_id_hex())
                .unwrap_or_else(|| "-".into())
        )
    }
}

struct Verifier {
    keys: KeyRing,
    clock: Clock,
    seen: Mutex<SeenNonces>,
    max_body: usize,
    required: Vec<Component>,
}

/// Verifies edge signatures in front of any tower service.
#[derive(Clone)]
pub struct VerifyEdgeLayer {
    verifier: Arc<Verifier>,
}

impl VerifyEdgeLayer {
    /// `keys`: the edge's public keys; `max_body`: bytes buffered at most.
    pub fn new(keys: KeyRing, clock: Clock, max_body: usize) -> Self {
        Self {
            verifier: Arc::new(Verifier {
                keys,
                clock,
                seen: Mutex::new(SeenNonces::new(1_000_000)),
                max_body,
                required: required_components(),
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for VerifyEdgeLayer {
    type Service = VerifyEdge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyEdge {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`VerifyEdgeLayer`] wraps around `S`.
#[derive(Clone)]
pub struct VerifyEdge<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

/// An RFC 9457 problem response, as every origin-side layer answers.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response<Full<Bytes>> {
    let body = Problem::new(status.as_u16(), detail).to_json();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

fn reject<RB>(status: StatusCode, detail: String) -> Response<Either<Full<Bytes>, RB>> {
    problem(status, &detail).map(Either::Left)
}

impl Verifier {
    fn check(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<VerifiedEdge, (StatusCode, String)> {
        let unauthorized = |detail: String| (StatusCode::UNAUTHORIZED, detail);
        let text =
            |name: &header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());

        let digest = text(&header::HeaderName::from_static("content-digest"))
            .ok_or_else(|| unauthorized("the request has no Content-Digest".into()))?;
        verify_content_digest(digest, body).map_err(|e| unauthorized(e.to_string()))?;

        let authority = text(&header::HOST)
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .ok_or_else(|| {
                (
                    StatusCode::BAD_REQUEST,
                    "the request names no authority".into(),
                )
            })?;
        let mut fields = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            let value = value.to_str().map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("header {name} is not visible ASCII"),
                )
            })?;
            fields.push((name.as_str(), value));
        }
        let view = RequestView {
            method: parts.method.as_str(),
            authority,
            path: parts.uri.path(),
            query: parts.uri.query(),
            fields,
        };
        let now = (self.clock)();
        let verified = verify(&view, &edge_policy(&self.required), &self.keys, now)
            .map_err(|e| unauthorized(e.to_string()))?;

        let forget_after = verified.created
            + SIGNATURE_LIFETIME.max(verified.expires - verified.created)
            + crate::forward::CLOCK_SKEW;
        let accepted = match self.seen.lock() {
            Ok(mut seen) => seen.accept(&verified.keyid, &verified.nonce, forget_after, now),
            Err(_) => Err(NonceRefused::Full),
        };
        match accepted {
            Ok(()) => {}
            Err(NonceRefused::Replayed) => {
                return Err(unauthorized(
                    "this signature's nonce was already used (replay)".into(),
                ));
            }
            Err(NonceRefused::Full) => {
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the replay cache is full; retry shortly".into(),
                ));
            }
        }

        let idempotency_key = text(&header::HeaderName::from_static("idempotency-key"))
            .map(|v| v.trim().trim_matches('"').to_owned());
        // Present claims were covered by the signature (the policy requires
        // it); unreadable ones are refused rather than ignored.
        let claims = match text(&header::HeaderName::from_static(CLAIMS_HEADER)) {
            None => None,
            Some(v) => Some(
                decode_claims(v)
                    .ok_or_else(|| unauthorized("the identity claims are unreadable".into()))?,
            ),
        };
        let flags = match text(&header::HeaderName::from_static(FLAGS_HEADER)) {
            None => serde_json::Map::new(),
            Some(v) => decode_flags(v)
                .ok_or_else(|| unauthorized("the evaluated flags are unreadable".into()))?,
        };
        let request_id =
            text(&header::HeaderName::from_static(REQUEST_ID_HEADER)).map(str::to_owned);
        let trace =
            text(&header::HeaderName::from_static(TRACEPARENT_HEADER)).and_then(TraceParent::parse);
        Ok(VerifiedEdge {
            keyid: verified.keyid,
            created: verified.created,
            nonce: verified.nonce,
            idempotency_key,
            claims,
            flags,
            request_id,
            trace,
        })
    }
}

impl<S, B, RB> tower_service::Service<Request<B>> for VerifyEdge<S>
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<RB>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<Full<Bytes>, RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes = match Limited::new(body, verifier.max_body).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Ok(reject(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the body exceeds {} bytes", verifier.max_body),
                    ));
                }
                Err(_) => {
                    return Ok(reject(
                        StatusCode::BAD_REQUEST,
                        "the request body could not be read".into(),
                    ));
                }
            };
            match verifier.check(&parts, &bytes) {
                Ok(verified) => {
                    parts.extensions.insert(verified);
                    let response = inner
                        .call(Request::from_parts(parts, Full::new(bytes)))
                        .await?;
                    Ok(response.map(Either::Right))
                }
                Err((status, detail)) => Ok(reject(status, detail)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::{ForwardedWrite, signed_headers};
    use crate::keys::SigningKey;
    use std::sync::atomic::{AtomicI64, Ordering};
    use tower::{Layer as _, ServiceExt as _, service_fn};

    const NOW: i64 = 1_800_000_000;

    fn layer(key: &SigningKey, now: Arc<AtomicI64>) -> VerifyEdgeLayer {
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        VerifyEdgeLayer::new(ring, Arc::new(move || now.load(Ordering::SeqCst)), 1024)
    }

    fn request(key: &SigningKey, body: &'static [u8], nonce: &str) -> Request<Full<Bytes>> {
        let w = ForwardedWrite {
            method: "POST",
            authority: "origin.test",
            path: "/orders",
            query: None,
            content_type: "application/json",
            idempotency_key: "k1",
            body,
            context: Default::default(),
        };
        let mut builder = Request::post("/orders").header("host", "origin.test");
        for (name, value) in signed_headers(&w, key, NOW, nonce).unwrap() {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(Bytes::from_static(body))).unwrap()
    }

    async fn status_of(layer: &VerifyEdgeLayer, req: Request<Full<Bytes>>) -> StatusCode {
        let handler = service_fn(|req: Request<Full<Bytes>>| async move {
            let verified = req.extensions().get::<VerifiedEdge>().cloned();
            assert_eq!(verified.unwrap().idempotency_key.as_deref(), Some("k1"));
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        layer.layer(handler).oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn signed_requests_pass_once_and_replays_are_refused() {
        let key = SigningKey::from_seed("edge", [5; 32]);
        let clock = Arc::new(AtomicI64::new(NOW + 1));
        let l = layer(&key, clock.clone());
        assert_eq!(
            status_of(&l, request(&key, b"{}", "n1")).await,
            StatusCode::OK
        );
        assert_eq!(
            status_of(&l, request(&key, b"{}", "n1")).await,
            StatusCode::UNAUTHORIZED
        );
        clock.store(NOW + 3600, Ordering::SeqCst);
        assert_eq!(
            status_of(&l, request(&key, b"{}", "n2")).await,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn identity_claims_count_only_when_signed() {
        let key = SigningKey::from_seed("edge", [5; 32]);
        let l = layer(&key, Arc::new(AtomicI64::new(NOW)));
        // Claims added after signing are not covered: refused.
        let mut forged = request(&key, b"{}", "c1");
        forged.headers_mut().insert(
            CLAIMS_HEADER,
            http::HeaderValue::from_static("eyJ1c2VyX2lkIjoiYWRtaW4ifQ"),
        );
        assert_eq!(status_of(&l, forged).await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn unsigned_tampered_and_oversized_requests_are_refused() {
        let key = SigningKey::from_seed("edge", [5; 32]);
        let l = layer(&key, Arc::new(AtomicI64::new(NOW)));
        let unsigned = Request::post("/orders")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        assert_eq!(status_of(&l, unsigned).await, StatusCode::UNAUTHORIZED);

        let (parts, _) = request(&key, b"{}", "n3").into_parts();
        let tampered = Request::from_parts(parts, Full::new(Bytes::from_static(b"{\"x\":1}")));
        assert_eq!(status_of(&l, tampered).await, StatusCode::UNAUTHORIZED);

        let big: &'static [u8] = Box::leak(vec![b' '; 2048].into_boxed_slice());
        assert_eq!(
            status_of(&l, request(&key, big, "n4")).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );

        let wrong = SigningKey::from_seed("edge", [6; 32]);
        assert_eq!(
            status_of(&l, request(&wrong, b"{}", "n5")).await,
            StatusCode::UNAUTHORIZED
        );
    }
}
