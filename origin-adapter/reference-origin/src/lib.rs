//! A reference regional origin: the catalog, identity, orders, account and
//! reviews services of one region over embedded SQLite. Every signed route
//! sits behind origin-adapter's verifying layer, and every write behind its
//! idempotency layer. Start it with [`run`]; build its router with [`app`].

pub mod account;
pub mod catalog;
pub mod cursor;
pub mod db;
pub mod hooks;
pub mod identity;
pub mod keys_store;
pub mod pricing;
pub mod reviews;
pub mod seed;

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use origin_adapter::idempotency::IdempotencyLayer;
use origin_adapter::keys::KeyRing;
use origin_adapter::layer::{Clock, VerifiedEdge, VerifyEdgeLayer};
use origin_adapter::wire::{EdgeClaims, OrderRequest, PROBLEM_JSON, Problem, paths};
use rusqlite::Connection;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The region this origin serves, e.g. `us`; it appears in order ids.
    pub region: Arc<str>,
    /// One connection: SQLite serialises writers anyway, and the reference
    /// origin's load is a test's or a laptop's.
    pub db: Arc<Mutex<Connection>>,
    pub clock: Clock,
    /// The Cache-Control catalog answers carry; `None` sends none.
    pub catalog_cache_control: Option<Arc<str>>,
    /// Seals pagination cursors (kept in the database).
    pub cursor_key: Arc<[u8]>,
    pub hooks: Arc<hooks::Hooks>,
    /// Price and stock changes, and the purges they send; `None` disables.
    pub back_office: Option<BackOffice>,
    /// For calls to the edge (purges).
    pub http: reqwest::Client,
}

/// The back office: who may change the catalog, and whom to tell.
#[derive(Clone)]
pub struct BackOffice {
    pub admin_token: String,
    pub edge_purge_url: Option<String>,
    /// This origin's own key for signing purges (never the edge's).
    pub signing_key: Option<origin_adapter::keys::SigningKey>,
}

impl AppState {
    /// State over an open database, with the defaults a test or a laptop wants.
    pub fn new(region: &str, conn: Connection, clock: Clock) -> rusqlite::Result<Self> {
        let cursor_key: Arc<[u8]> = db::cursor_secret(&conn)?.into();
        Ok(Self {
            region: region.into(),
            db: Arc::new(Mutex::new(conn)),
            clock,
            catalog_cache_control: Some(DEFAULT_CATALOG_CACHE_CONTROL.into()),
            cursor_key,
            hooks: Arc::default(),
            back_office: None,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        })
    }
}

/// What catalog answers say to caches unless configured otherwise (RFC 5861).
pub const DEFAULT_CATALOG_CACHE_CONTROL: &str =
    "public, max-age=60, stale-while-revalidate=60, stale-if-error=86400";

/// An error a handler answers with, rendered as an RFC 9457 problem.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem::new(self.0.as_u16(), self.1).to_json();
        (self.0, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

impl ApiError {
    fn internal(e: impl std::fmt::Display) -> Self {
        eprintln!("origin: internal error: {e}");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the origin failed; it has been logged".into(),
        )
    }
}

/// The customer the edge vouched for, as a handler argument; a request
/// without one is refused with 401 before the handler runs.
pub struct Customer(pub EdgeClaims);

impl<S: Send + Sync> FromRequestParts<S> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<VerifiedEdge>()
            .and_then(|v| v.claims.clone())
            .map(Customer)
            .ok_or_else(|| {
                ApiError(
                    StatusCode::UNAUTHORIZED,
                    "this is personal: the edge must vouch for a customer".into(),
                )
            })
    }
}

/// A body that could not be read, as a problem: `413` past the router's
/// `DefaultBodyLimit` (see [`app`]) — declared length or not — else `400`.
pub fn body_rejected(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let status = rejection.status();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the body exceeds {MAX_WRITE_BODY} bytes")
    } else {
        "the body could not be read".into()
    };
    ApiError(status, detail)
}

/// A JSON body of type `T`: 415 for another media type, 400 when it does
/// not parse, each as a problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json".into(),
            ));
        }
        // Bounded by the router's `DefaultBodyLimit` (see [`app`]): past
        // it the rejection is a 413, declared length or not.
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(body_rejected)?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON for this API: {e}"),
            )
        })
    }
}

/// Logs every verified request with the edge's request and trace ids, so
/// one grep finds a request on both sides.
async fn log_verified(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ids = request
        .extensions()
        .get::<VerifiedEdge>()
        .map(VerifiedEdge::log_ids)
        .unwrap_or_default();
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    println!(
        "origin {}: {what} -> {} {ids}",
        state.region,
        response.status().as_u16()
    );
    response
}

/// Logs what the verifier refused (no ids: nothing about it is trusted).
async fn log_refused(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if matches!(response.status().as_u16(), 401 | 413) {
        println!(
            "origin {}: refused {what} -> {}",
            state.region,
            response.status().as_u16()
        );
    }
    response
}

/// Runs `f` with the database on a blocking thread.
async fn with_db<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db
            .lock()
            .map_err(|_| ApiError::internal("database lock poisoned"))?;
        f(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "region": &*state.region }))
}

async fn place_order(
    State(state): State<AppState>,
    Extension(verified): Extension<VerifiedEdge>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "orders are application/json".into(),
        ));
    }
    let request: OrderRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the order is not valid JSON for this API: {e}"),
        )
    })?;
    let Some(key) = verified.idempotency_key else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "orders require an Idempotency-Key".into(),
        ));
    };
    // The signature covered Content-Digest, so it fingerprints the payload.
    let digest = headers
        .get("content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let region = state.region.clone();
    let now = (state.clock)();
    let user = verified.claims.map(|c| c.user_id);
    let placed = with_db(&state, move |c| {
        Ok(db::place_order(
            c,
            &region,
            &key,
            &digest,
            &request,
            now,
            user.as_deref(),
        ))
    })
    .await?;
    use db::OrderRefused::*;
    match placed {
        Ok((order, true)) => Ok((StatusCode::CREATED, Json(order)).into_response()),
        Ok((order, false)) => Ok((
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            Json(order),
        )
            .into_response()),
        Err(Empty) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an order needs at least one line".into(),
        )),
        Err(UnknownSku(sku)) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no product with SKU {sku:?}"),
        )),
        Err(BadQuantity(sku)) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("quantity of {sku:?} must be 1 to 999"),
        )),
        Err(PriceChanged { sku, now }) => Err(ApiError(
            StatusCode::CONFLICT,
            format!("the price of {sku:?} changed to {now} minor units; review the cart"),
        )),
        Err(OutOfStock { sku, available }) => Err(ApiError(
            StatusCode::CONFLICT,
            format!("only {available} of {sku:?} left in stock"),
        )),
        Err(KeyReused) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was already used with a different request".into(),
        )),
        Err(Database(e)) => Err(ApiError::internal(e)),
    }
}

/// `GET /orders`: the vouched-for customer's orders, never cached.
async fn list_orders(
    State(state): State<AppState>,
    Customer(claims): Customer,
) -> Result<Response, ApiError> {
    let user = claims.user_id;
    let region = state.region.clone();
    let orders = with_db(&state, move |c| {
        db::orders_of(c, &user, &region).map_err(ApiError::internal)
    })
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "orders": orders })),
    )
        .into_response())
}

/// `GET /orders/{id}`: another customer's order is a 404, as if absent.
async fn get_order(
    State(state): State<AppState>,
    Customer(claims): Customer,
    axum::extract::Path(order_id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let user = claims.user_id;
    let region = state.region.clone();
    let lookup = order_id.clone();
    let order = with_db(&state, move |c| {
        db::order_of(c, &user, &lookup, &region).map_err(ApiError::internal)
    })
    .await?;
    match order {
        Some(o) => Ok(([(header::CACHE_CONTROL, "no-store")], Json(o)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no order {order_id:?}"),
        )),
    }
}

/// `GET /_test/counts[?sku=…]`: records per service (reviews of one SKU
/// if asked), to prove what was written.
async fn counts(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let sku = q.get("sku").cloned();
    let counts = with_db(&state, move |c| {
        let read = || -> rusqlite::Result<serde_json::Value> {
            Ok(serde_json::json!({
                "orders": db::order_count(c)?,
                "reviews": reviews::count(c, sku.as_deref())?,
                "addresses": account::count(c)?,
            }))
        };
        read().map_err(ApiError::internal)
    })
    .await?;
    Ok(Json(counts).into_response())
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such route on this origin".into())
}

/// Largest write body the origin buffers before verifying it.
pub const MAX_WRITE_BODY: usize = 64 * 1024;

/// The origin's router. `edge_keys` are the public keys whose signatures
/// the write routes accept; `test_hooks` adds read-only introspection used
/// by end-to-end tests and never meant for production.
pub fn app(state: AppState, edge_keys: KeyRing, test_hooks: bool) -> Router {
    let keyed = IdempotencyLayer::new(
        Arc::new(keys_store::SqliteKeys {
            db: state.db.clone(),
        }),
        state.clock.clone(),
    );
    let mut signed = Router::new()
        .route(
            paths::ORDERS,
            post(place_order).layer(keyed.clone()).get(list_orders),
        )
        .route(&format!("{}/{{id}}", paths::ORDERS), get(get_order))
        .route(paths::LOGIN, post(identity::login))
        .route(paths::REVIEWS, post(reviews::create).layer(keyed.clone()))
        .route(
            paths::ADDRESSES,
            post(account::create).layer(keyed).get(account::list),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log_verified,
        ))
        .route_layer(VerifyEdgeLayer::new(
            edge_keys,
            state.clock.clone(),
            MAX_WRITE_BODY,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log_refused,
        ));
    let mut reads = Router::new()
        .route(paths::CATEGORIES, get(catalog::categories))
        .route(paths::PRODUCTS, get(catalog::products))
        .route(paths::SEARCH, get(catalog::search))
        .route(
            &format!("{}{{sku}}", paths::PRODUCT_PREFIX),
            get(catalog::product).patch(catalog::change),
        );
    state
        .hooks
        .enabled
        .store(test_hooks, std::sync::atomic::Ordering::Relaxed);
    if test_hooks {
        reads = reads.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hooks::catalog_faults,
        ));
        signed = signed.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hooks::write_faults,
        ));
    }
    let mut router = Router::new()
        .route(paths::HEALTH, get(health))
        .merge(reads)
        .merge(signed);
    if test_hooks {
        router = router
            .route("/_test/counts", get(counts))
            .route("/_test/faults", post(hooks::set_faults))
            .route("/_test/requests", get(hooks::requests))
            .route("/_test/signed-headers", get(hooks::signed_headers));
    }
    // Every body any handler reads (back office included) is read through
    // this limit; the signed routes' verify layer applies the same one.
    router
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WRITE_BODY))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The system clock in Unix seconds; the only place the origin reads time.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use origin_adapter::forward::{ForwardedWrite, signed_headers};
    use origin_adapter::keys::SigningKey;
    use tower::ServiceExt as _;

    const NOW: i64 = 1_800_000_000;

    #[tokio::test]
    async fn bodies_past_the_limit_are_413_declared_or_chunked() {
        let key = SigningKey::from_seed("test", [7; 32]);
        let r = router(&key);
        let big = vec![b' '; MAX_WRITE_BODY + 1];
        // No Content-Length: a streamed body, refused once it passes.
        let stream = futures::stream::iter(
            big.chunks(4096)
                .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let request = Request::patch("/catalog/products/KIT-0001")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
        let (status, content_type, _) = send(&r, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(content_type.starts_with("application/problem+json"));
    }

    fn router(key: &SigningKey) -> Router {
        let conn = db::open(std::path::Path::new(":memory:"), "USD").unwrap();
        let state = AppState::new("us", conn, Arc::new(|| NOW)).unwrap();
        app(
            state,
            KeyRing::from_config(&key.verifying_entry().to_config()).unwrap(),
            true,
        )
    }

    async fn send(
        router: &Router,
        request: Request<Body>,
    ) -> (StatusCode, String, serde_json::Value) {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap_or_default(),
        )
    }

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn catalog_reads_and_their_errors() {
        let r = router(&SigningKey::from_seed("edge", [1; 32]));
        let (status, _, body) = send(&r, get("/catalog/products/KIT-0001")).await;
        assert_eq!(
            (status, body["sku"].as_str()),
            (StatusCode::OK, Some("KIT-0001"))
        );
        let (status, content_type, body) = send(&r, get("/catalog/products/NOPE")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NOT_FOUND, PROBLEM_JSON)
        );
        assert_eq!(body["detail"], "no product with SKU \"NOPE\"");
        let (status, _, _) = send(&r, get("/catalog/products?limit=0")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, content_type, _) = send(&r, get("/nowhere")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NOT_FOUND, PROBLEM_JSON)
        );
    }

    #[tokio::test]
    async fn orders_need_an_edge_signature() {
        let key = SigningKey::from_seed("edge", [1; 32]);
        let r = router(&key);
        let (_, _, product) = send(&r, get("/catalog/products/KIT-0001")).await;
        let body = serde_json::to_vec(&serde_json::json!({
            "cart_id": "c1", "cart_version": 1,
            "lines": [{ "sku": "KIT-0001", "quantity": 1, "unit_price": product["price"] }]
        }))
        .unwrap();

        let unsigned = Request::post("/orders")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let (status, content_type, _) = send(&r, unsigned).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::UNAUTHORIZED, PROBLEM_JSON)
        );
        let (_, _, count) = send(&r, get("/_test/counts")).await;
        assert_eq!(count["orders"], 0);

        let write = ForwardedWrite {
            method: "POST",
            authority: "origin.test",
            path: "/orders",
            query: None,
            content_type: "application/json",
            idempotency_key: "cart-c1-v1",
            body: &body,
            context: Default::default(),
        };
        let mut signed = Request::post("/orders").header("host", "origin.test");
        for (name, value) in signed_headers(&write, &key, NOW, "nonce-1").unwrap() {
            signed = signed.header(name, value);
        }
        let (status, _, order) = send(&r, signed.body(Body::from(body)).unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(order["order_id"], "ord-us-000001");
        let (_, _, count) = send(&r, get("/_test/counts")).await;
        assert_eq!(count["orders"], 1);
    }
}
