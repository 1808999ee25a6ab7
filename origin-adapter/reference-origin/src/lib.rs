//! A reference regional origin: the catalog and orders services of one
//! region over embedded SQLite, with order writes behind origin-adapter's
//! verifying layer. Start it with [`run`]; build its router with [`app`].

pub mod db;
pub mod seed;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use origin_adapter::keys::KeyRing;
use origin_adapter::layer::{Clock, VerifiedEdge, VerifyEdgeLayer};
use origin_adapter::wire::{OrderRequest, PROBLEM_JSON, Problem, ProductPage, paths};
use rusqlite::Connection;
use serde::Deserialize;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The region this origin serves, e.g. `us`; it appears in order ids.
    pub region: Arc<str>,
    /// One connection: SQLite serialises writers anyway, and the reference
    /// origin's load is a test's or a laptop's.
    pub db: Arc<Mutex<Connection>>,
    pub clock: Clock,
}

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

/// Catalog responses may be cached by the edge; the windows follow RFC 5861.
const CATALOG_CACHE_CONTROL: &str =
    "public, max-age=60, stale-while-revalidate=30, stale-if-error=86400";

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "region": &*state.region }))
}

async fn product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Response, ApiError> {
    let found = with_db(&state, move |c| {
        db::product(c, &sku)
            .map(|p| (sku, p))
            .map_err(ApiError::internal)
    })
    .await?;
    match found {
        (_, Some(p)) => {
            Ok(([(header::CACHE_CONTROL, CATALOG_CACHE_CONTROL)], Json(p)).into_response())
        }
        (sku, None) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no product with SKU {sku:?}"),
        )),
    }
}

#[derive(Deserialize)]
struct ProductQuery {
    category: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn products(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(24);
    if !(1..=100).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 100".into(),
        ));
    }
    let page = with_db(&state, move |c| {
        let mut products = db::products(c, q.category.as_deref(), q.cursor.as_deref(), limit + 1)
            .map_err(ApiError::internal)?;
        let more = products.len() as i64 > limit;
        products.truncate(limit as usize);
        let next_cursor = more
            .then(|| products.last().map(|p| p.sku.clone()))
            .flatten();
        Ok(ProductPage {
            products,
            next_cursor,
        })
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, CATALOG_CACHE_CONTROL)], Json(page)).into_response())
}

async fn categories(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = with_db(&state, |c| db::categories(c).map_err(ApiError::internal)).await?;
    Ok(([(header::CACHE_CONTROL, CATALOG_CACHE_CONTROL)], Json(list)).into_response())
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
    let placed = with_db(&state, move |c| {
        Ok(db::place_order(c, &region, &key, &digest, &request, now))
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

async fn order_count(State(state): State<AppState>) -> Result<Response, ApiError> {
    let n = with_db(&state, |c| db::order_count(c).map_err(ApiError::internal)).await?;
    Ok(Json(serde_json::json!({ "orders": n })).into_response())
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
    let writes = Router::new()
        .route(paths::ORDERS, post(place_order))
        .route_layer(VerifyEdgeLayer::new(
            edge_keys,
            state.clock.clone(),
            MAX_WRITE_BODY,
        ));
    let mut router = Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::CATEGORIES, get(categories))
        .route(paths::PRODUCTS, get(products))
        .route(&format!("{}{{sku}}", paths::PRODUCT_PREFIX), get(product))
        .merge(writes);
    if test_hooks {
        router = router.route("/_test/orders/count", get(order_count));
    }
    router.fallback(not_found).with_state(state)
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

    fn router(key: &SigningKey) -> Router {
        let conn = db::open(std::path::Path::new(":memory:"), "USD").unwrap();
        let state = AppState {
            region: "us".into(),
            db: Arc::new(Mutex::new(conn)),
            clock: Arc::new(|| NOW),
        };
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
        let (_, _, count) = send(&r, get("/_test/orders/count")).await;
        assert_eq!(count["orders"], 0);

        let write = ForwardedWrite {
            method: "POST",
            authority: "origin.test",
            path: "/orders",
            query: None,
            content_type: "application/json",
            idempotency_key: "cart-c1-v1",
            body: &body,
        };
        let mut signed = Request::post("/orders").header("host", "origin.test");
        for (name, value) in signed_headers(&write, &key, NOW, "nonce-1").unwrap() {
            signed = signed.header(name, value);
        }
        let (status, _, order) = send(&r, signed.body(Body::from(body)).unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(order["order_id"], "ord-us-000001");
        let (_, _, count) = send(&r, get("/_test/orders/count")).await;
        assert_eq!(count["orders"], 1);
    }
}
