//! The IETF `Idempotency-Key` header draft with Stripe's semantics, as a
//! tower layer for an origin's write routes:
//!
//! * a keyed route refuses a request without a key (400);
//! * the first request with a key runs; its response is stored, errors
//!   included, and the same key with the same payload replays it
//!   (`Idempotent-Replayed: true`);
//! * the same key with a different payload is refused (422);
//! * while the first attempt is still running, another gets 409;
//! * records are kept [`RETENTION`] (over 24 hours).
//!
//! The one exception to "errors included" is a 5xx: it means the handler did
//! not finish its work (its transaction rolled back), so the key is released
//! and a retry runs again — otherwise a brief outage would be replayed to
//! every retry for a day.
//!
//! The payload fingerprint is the method, path and the request's verified
//! `Content-Digest`. Keys are scoped by the customer the edge vouches for, so
//! one customer's key can never replay another's response. Where records live
//! is the origin's business: it implements [`IdempotencyStore`] (the reference
//! origin uses SQLite) and calls [`decide`] inside its own transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt as _, Full, Limited};

use crate::forward::{REPLAYED_HEADER, validate_idempotency_key};
use crate::layer::{Clock, VerifiedEdge, problem};

/// How long a key is remembered, seconds (the draft asks for at least 24 h).
pub const RETENTION: i64 = 25 * 3600;
/// An attempt still marked running after this many seconds is taken to have
/// died with its process, and a retry may run again.
pub const LEASE: i64 = 120;
/// The largest response body stored for replay.
pub const MAX_STORED_BODY: usize = 1024 * 1024;

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Where a key's first request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    Running { started: i64 },
    Done(StoredResponse),
}

/// What a store remembers about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fingerprint: String,
    pub created: i64,
    pub state: RecordState,
}

/// What to do with a keyed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the handler (and record the key as running).
    Run,
    Replay(StoredResponse),
    InProgress,
    Mismatch,
}

/// The rule, over what the store found: the store records a running attempt
/// whenever this says [`Decision::Run`], in the same transaction.
pub fn decide(existing: Option<&Record>, fingerprint: &str, now: i64) -> Decision {
    let Some(record) = existing.filter(|r| now - r.created < RETENTION) else {
        return Decision::Run;
    };
    if record.fingerprint != fingerprint {
        return Decision::Mismatch;
    }
    match &record.state {
        RecordState::Done(response) => Decision::Replay(response.clone()),
        RecordState::Running { started } if now - started >= LEASE => Decision::Run,
        RecordState::Running { .. } => Decision::InProgress,
    }
}

pub use crate::digest::fingerprint;

/// A store failed; the request is refused with 503 rather than run unkeyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// An origin's durable memory of keys. `begin` must look up, [`decide`] and
/// record a running attempt atomically; the others update that record.
pub trait IdempotencyStore: Send + Sync + 'static {
    fn begin(
        &self,
        scope: String,
        key: String,
        fingerprint: String,
        now: i64,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;

    fn complete(
        &self,
        scope: String,
        key: String,
        response: StoredResponse,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets a running attempt that produced nothing worth replaying.
    fn release(
        &self,
        scope: String,
        key: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Enforces idempotency keys in front of a write route. It must sit inside
/// [`crate::layer::VerifyEdgeLayer`], whose [`VerifiedEdge`] it reads.
pub struct IdempotencyLayer<St> {
    store: Arc<St>,
    clock: Clock,
}

impl<St> Clone for IdempotencyLayer<St> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<St> IdempotencyLayer<St> {
    pub fn new(store: Arc<St>, clock: Clock) -> Self {
        Self { store, clock }
    }
}

impl<S, St> tower_layer::Layer<S> for IdempotencyLayer<St> {
    type Service = Idempotent<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotent {
            inner,
            store: self.store.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The service [`IdempotencyLayer`] wraps around `S`.
pub struct Idempotent<S, St> {
    inner: S,
    store: Arc<St>,
    clock: Clock,
}

impl<S: Clone, St> Clone for Idempotent<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
        }
    }
}

fn replay(stored: StoredResponse) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(stored.body)));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(value) = stored
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// Who a key belongs to: the vouched-for customer, or guests as one scope.
fn scope_of(verified: &VerifiedEdge) -> String {
    match &verified.claims {
        Some(c) => format!("user:{}", c.user_id),
        None => "guest".to_owned(),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, St, B, RB> tower_service::Service<Request<B>> for Idempotent<S, St>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: IdempotencyStore,
    B: Send + 'static,
    RB: Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = self.store.clone();
        let now = (self.clock)();
        Box::pin(async move {
            let Some(verified) = request.extensions().get::<VerifiedEdge>().cloned() else {
                // A wiring mistake, not the client's: the verify layer is missing.
                return Ok(problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "idempotency is enforced only behind the edge verifier",
                ));
            };
            let Some(key) = verified.idempotency_key.clone() else {
                return Ok(problem(
                    StatusCode::BAD_REQUEST,
                    "this write requires an Idempotency-Key header",
                ));
            };
            if let Err(detail) = validate_idempotency_key(&key) {
                return Ok(problem(StatusCode::BAD_REQUEST, detail));
            }
            let digest = request
                .headers()
                .get("content-digest")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let print = fingerprint(request.method().as_str(), request.uri().path(), digest);
            let scope = scope_of(&verified);
            let decision = store.begin(scope.clone(), key.clone(), print, now).await;
            match decision {
                Err(StoreError(e)) => {
                    eprintln!("idempotency: store failed: {e}");
                    return Ok(problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "idempotency records are unavailable; retry shortly",
                    ));
                }
                Ok(Decision::Mismatch) => {
                    return Ok(problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "this Idempotency-Key was already used with a different request",
                    ));
                }
                Ok(Decision::InProgress) => {
                    let mut response = problem(
                        StatusCode::CONFLICT,
                        "a request with this Idempotency-Key is still being processed",
                    );
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return Ok(response);
                }
                Ok(Decision::Replay(stored)) => return Ok(replay(stored)),
                Ok(Decision::Run) => {}
            }

            let response = match inner.call(request).await {
                Ok(response) => response,
                Err(e) => {
                    let _ = store.release(scope, key).await;
                    return Err(e);
                }
            };
            let (parts, body) = response.into_parts();
            let bytes = match Limited::new(body, MAX_STORED_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    let _ = store.release(scope, key).await;
                    return Ok(problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the response could not be recorded",
                    ));
                }
            };
            let outcome = if parts.status.is_server_error() {
                store.release(scope, key).await
            } else {
                let stored = StoredResponse {
                    status: parts.status.as_u16(),
                    content_type: parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: bytes.to_vec(),
                };
                store.complete(scope, key, stored).await
            };
            if let Err(StoreError(e)) = outcome {
                // The work is done; only its replay record is missing. A
                // retry within the lease gets 409, after it runs again.
                eprintln!("idempotency: could not record a response: {e}");
            }
            Ok(Response::from_parts(parts, Full::new(bytes)))
        })
    }
}

#[cfg(test)]
mod layer_tests {
    //! The layer over an in-memory store, with a handler that counts runs.
    use super::*;
    use crate::wire::EdgeClaims;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{Layer as _, ServiceExt as _, service_fn};

    #[derive(Default)]
    struct Memory(Mutex<HashMap<(String, String), Record>>);

    impl IdempotencyStore for Memory {
        async fn begin(
            &self,
            scope: String,
            key: String,
            fingerprint: String,
            now: i64,
        ) -> Result<Decision, StoreError> {
            let mut map = self.0.lock().unwrap();
            let decision = decide(map.get(&(scope.clone(), key.clone())), &fingerprint, now);
            if decision == Decision::Run {
                map.insert(
                    (scope, key),
                    Record {
                        fingerprint,
                        created: now,
                        state: RecordState::Running { started: now },
                    },
                );
            }
            Ok(decision)
        }

        async fn complete(
            &self,
            scope: String,
            key: String,
            response: StoredResponse,
        ) -> Result<(), StoreError> {
            if let Some(r) = self.0.lock().unwrap().get_mut(&(scope, key)) {
                r.state = RecordState::Done(response);
            }
            Ok(())
        }

        async fn release(&self, scope: String, key: String) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(&(scope, key));
            Ok(())
        }
    }

    fn request(key: Option<&str>, digest: &str, user: Option<&str>) -> Request<Full<Bytes>> {
        let mut r = Request::post("/reviews")
            .header("content-digest", digest)
            .body(Full::new(Bytes::new()))
            .unwrap();
        r.extensions_mut().insert(VerifiedEdge {
            keyid: "edge".into(),
            created: 0,
            nonce: "n".into(),
            idempotency_key: key.map(str::to_owned),
            claims: user.map(|u| EdgeClaims {
                user_id: u.into(),
                roles: vec![],
                region: "us".into(),
                session_id: "s".into(),
            }),
            flags: Default::default(),
            request_id: None,
            trace: None,
        });
        r
    }

    async fn run(
        layer: &IdempotencyLayer<Memory>,
        runs: &Arc<AtomicUsize>,
        status: u16,
        req: Request<Full<Bytes>>,
    ) -> (u16, bool) {
        let runs = runs.clone();
        let handler = service_fn(move |_req: Request<Full<Bytes>>| {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut r = Response::new(Full::new(Bytes::from(format!("run {n}"))));
                *r.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok::<_, std::convert::Infallible>(r)
            }
        });
        let response = layer.layer(handler).oneshot(req).await.unwrap();
        (
            response.status().as_u16(),
            response.headers().contains_key(REPLAYED_HEADER),
        )
    }

    #[tokio::test]
    async fn the_draft_and_stripe_semantics_hold_through_the_layer() {
        let layer = IdempotencyLayer::new(Arc::new(Memory::default()), Arc::new(|| 1_000));
        let runs = Arc::new(AtomicUsize::new(0));
        let r = |key, digest, user| request(key, digest, user);

        assert_eq!(
            run(&layer, &runs, 201, r(None, "d1", None)).await,
            (400, false)
        );
        assert_eq!(
            run(&layer, &runs, 201, r(Some("bad\\"), "d1", None))
                .await
                .0,
            400
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0, "refused before the handler");

        assert_eq!(
            run(&layer, &runs, 201, r(Some("k"), "d1", Some("u1"))).await,
            (201, false)
        );
        assert_eq!(
            run(&layer, &runs, 201, r(Some("k"), "d1", Some("u1"))).await,
            (201, true)
        );
        assert_eq!(
            run(&layer, &runs, 201, r(Some("k"), "d2", Some("u1"))).await,
            (422, false)
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for three tries");

        // The same key of another customer is another request.
        assert_eq!(
            run(&layer, &runs, 201, r(Some("k"), "d1", Some("u2"))).await,
            (201, false)
        );

        // A 4xx is kept; a 5xx releases the key so a retry runs again.
        assert_eq!(
            run(&layer, &runs, 422, r(Some("e"), "d1", None)).await,
            (422, false)
        );
        assert_eq!(
            run(&layer, &runs, 201, r(Some("e"), "d1", None)).await,
            (422, true)
        );
        assert_eq!(
            run(&layer, &runs, 503, r(Some("f"), "d1", None)).await,
            (503, false)
        );
        assert_eq!(
            run(&layer, &runs, 201, r(Some("f"), "d1", None)).await,
            (201, false)
        );
    }

    #[tokio::test]
    async fn a_running_key_gets_409_with_retry_after() {
        let store = Arc::new(Memory::default());
        let layer = IdempotencyLayer::new(store.clone(), Arc::new(|| 1_000));
        store
            .begin(
                "guest".into(),
                "k".into(),
                fingerprint("POST", "/reviews", "d1"),
                999,
            )
            .await
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            run(&layer, &runs, 201, request(Some("k"), "d1", None)).await,
            (409, false)
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16) -> RecordState {
        RecordState::Done(StoredResponse {
            status,
            content_type: Some("application/json".into()),
            body: b"{}".to_vec(),
        })
    }

    fn record(fingerprint: &str, created: i64, state: RecordState) -> Record {
        Record {
            fingerprint: fingerprint.into(),
            created,
            state,
        }
    }

    #[test]
    fn a_new_key_runs() {
        assert_eq!(decide(None, "f", 100), Decision::Run);
    }

    #[test]
    fn a_finished_key_replays_errors_included() {
        for status in [201, 422, 409] {
            let r = record("f", 100, done(status));
            match decide(Some(&r), "f", 200) {
                Decision::Replay(s) => assert_eq!(s.status, status),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_different_payload_is_a_mismatch_even_while_running() {
        let r = record("f", 100, done(201));
        assert_eq!(decide(Some(&r), "g", 200), Decision::Mismatch);
        let r = record("f", 100, RecordState::Running { started: 100 });
        assert_eq!(decide(Some(&r), "g", 101), Decision::Mismatch);
    }

    #[test]
    fn a_running_key_is_in_progress_until_its_lease_ends() {
        let r = record("f", 100, RecordState::Running { started: 100 });
        assert_eq!(decide(Some(&r), "f", 100 + LEASE - 1), Decision::InProgress);
        assert_eq!(decide(Some(&r), "f", 100 + LEASE), Decision::Run);
    }

    #[test]
    fn keys_are_kept_a_day_and_then_forgotten() {
        let r = record("f", 0, done(201));
        assert!(matches!(
            decide(Some(&r), "f", 24 * 3600),
            Decision::Replay(_)
        ));
        assert_eq!(decide(Some(&r), "other", RETENTION), Decision::Run);
    }

    #[test]
    fn fingerprints_cover_method_path_and_digest() {
        let a = fingerprint("POST", "/reviews", "sha-256=:abc=:");
        assert_ne!(a, fingerprint("POST", "/orders", "sha-256=:abc=:"));
        assert_ne!(a, fingerprint("PUT", "/reviews", "sha-256=:abc=:"));
        assert_ne!(a, fingerprint("POST", "/reviews", "sha-256=:abd=:"));
    }
}
