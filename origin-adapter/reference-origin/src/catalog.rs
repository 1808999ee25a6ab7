//! The catalog service: products, listings, search and categories for the
//! edge to cache, and the back office's price and stock changes, which tell
//! the edge to purge what it cached.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use origin_adapter::purge::signed_purge_headers;
use origin_adapter::wire::{Product, ProductChange, ProductPage, PurgeRequest};

use crate::cursor::{self, Position};
use crate::db::{self, After, Listed, Sort};
use crate::{ApiError, AppState, with_db};

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn bad(parameter: &str, why: &str) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        format!("query parameter `{parameter}` {why}"),
    )
}

fn params(q: Params, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let Query(map) = q.map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "the query string is malformed".into(),
        )
    })?;
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(unknown, "is not known here"));
    }
    Ok(map)
}

fn limit(map: &HashMap<String, String>) -> Result<i64, ApiError> {
    match map.get("limit") {
        None => Ok(24),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| bad("limit", "must be 1 to 100")),
    }
}

/// The catalog's answer, with the cache policy this origin advertises.
fn cacheable(state: &AppState, body: impl serde::Serialize) -> Response {
    let mut response = Json(body).into_response();
    if let Some(cc) = state.catalog_cache_control.as_deref()
        && let Ok(value) = cc.parse()
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

fn page(
    state: &AppState,
    rows: Vec<Listed>,
    limit: i64,
    scope: String,
    offset: i64,
) -> ProductPage {
    let more = rows.len() as i64 > limit;
    let rows: Vec<Listed> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = more.then(|| rows.last()).flatten().map(|(p, rowid)| {
        let position = Position {
            scope,
            sku: p.sku.clone(),
            name: p.name.clone(),
            price: p.price.amount_minor,
            rowid: *rowid,
            offset: offset + limit,
        };
        cursor::seal(&state.cursor_key, &position)
    });
    ProductPage {
        products: rows.into_iter().map(|(p, _)| p).collect(),
        next_cursor,
    }
}

pub async fn product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = sku.clone();
    match with_db(&state, move |c| {
        db::product(c, &lookup).map_err(ApiError::internal)
    })
    .await?
    {
        Some(p) => Ok(cacheable(&state, p)),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no product with SKU {sku:?}"),
        )),
    }
}

pub async fn products(State(state): State<AppState>, q: Params) -> Result<Response, ApiError> {
    let map = params(q, &["category", "sort", "limit", "cursor"])?;
    let limit = limit(&map)?;
    let sort = match map.get("sort").map(String::as_str).unwrap_or("name") {
        "name" => Sort::Name,
        "price" => Sort::Price,
        "newest" => Sort::Newest,
        _ => return Err(bad("sort", "must be one of name, price, newest")),
    };
    let category = map.get("category").cloned();
    let scope = format!(
        "{}|{}",
        map.get("sort").map(String::as_str).unwrap_or("name"),
        category.as_deref().unwrap_or("*")
    );
    let after = match map.get("cursor") {
        None => None,
        Some(c) => {
            let p = cursor::open(&state.cursor_key, c, &scope)
                .ok_or_else(|| bad("cursor", "was altered or belongs to another listing"))?;
            Some(After {
                sku: p.sku,
                name: p.name,
                price: p.price,
                rowid: p.rowid,
            })
        }
    };
    let rows = with_db(&state, move |c| {
        if let Some(cat) = &category
            && !db::category_exists(c, cat).map_err(ApiError::internal)?
        {
            return Err(bad("category", &format!("names no category ({cat:?})")));
        }
        db::products(c, category.as_deref(), sort, after.as_ref(), limit + 1)
            .map_err(ApiError::internal)
    })
    .await?;
    Ok(cacheable(&state, page(&state, rows, limit, scope, 0)))
}

pub async fn search(State(state): State<AppState>, q: Params) -> Result<Response, ApiError> {
    let map = params(q, &["q", "limit", "cursor"])?;
    let limit = limit(&map)?;
    let text = map
        .get("q")
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| bad("q", "is required"))?;
    if text.chars().count() > 100 {
        return Err(bad("q", "is longer than 100 characters"));
    }
    let scope = format!("search|{text}");
    let offset = match map.get("cursor") {
        None => 0,
        Some(c) => {
            cursor::open(&state.cursor_key, c, &scope)
                .ok_or_else(|| bad("cursor", "was altered or belongs to another search"))?
                .offset
        }
    };
    let rows = with_db(&state, move |c| {
        db::search(c, &text, offset, limit + 1).map_err(ApiError::internal)
    })
    .await?;
    Ok(cacheable(&state, page(&state, rows, limit, scope, offset)))
}

pub async fn categories(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = with_db(&state, |c| db::categories(c).map_err(ApiError::internal)).await?;
    Ok(cacheable(&state, list))
}

/// `PATCH /catalog/products/{sku}` (back office, bearer token): change the
/// price or stock, then tell the edge to purge the product and its category.
pub async fn change(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::body_rejected)?;
    let Some(office) = state.back_office.clone() else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "the back office is not enabled on this origin".into(),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let authorised = presented.is_some_and(|p| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            p.as_bytes(),
            office.admin_token.as_bytes(),
        ))
    });
    if !authorised {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a valid back-office bearer token is required".into(),
        ));
    }
    let change: ProductChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the change is not valid JSON for this API: {e}"),
        )
    })?;
    if change
        .price_minor
        .is_some_and(|p| !(0..=100_000_000).contains(&p))
        || change.stock.is_some_and(|s| !(0..=1_000_000).contains(&s))
    {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "price_minor and stock must be non-negative and sane".into(),
        ));
    }
    let lookup = sku.clone();
    let product: Product = with_db(&state, move |c| {
        db::change_product(c, &lookup, change.price_minor, change.stock).map_err(ApiError::internal)
    })
    .await?
    .ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no product with SKU {sku:?}"),
        )
    })?;
    let purge = notify_edge(&state, &office, &product).await;
    Ok(Json(serde_json::json!({ "product": product, "purge": purge })).into_response())
}

/// Sends the edge a signed purge; reports what happened rather than failing
/// the change, which is already stored.
async fn notify_edge(
    state: &AppState,
    office: &crate::BackOffice,
    product: &Product,
) -> serde_json::Value {
    let (Some(url), Some(key)) = (&office.edge_purge_url, &office.signing_key) else {
        return serde_json::json!({ "sent": false, "reason": "no EDGE_PURGE_URL / ORIGIN_SIGNING_KEY configured" });
    };
    let result = async {
        let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        let authority = origin_adapter::signature::authority(
            parsed.host_str().unwrap_or_default(),
            parsed.port(),
        );
        let body = serde_json::to_vec(&PurgeRequest {
            skus: vec![product.sku.clone()],
            categories: vec![product.category.clone()],
        })
        .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let nonce =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, nonce);
        let signed = signed_purge_headers(
            &authority,
            parsed.path(),
            &body,
            key,
            (state.clock)(),
            &nonce,
        )
        .map_err(|e| e.to_string())?;
        let mut request = state.http.post(parsed).body(body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        Ok::<_, String>(serde_json::json!({ "sent": true, "status": status, "answer": answer }))
    }
    .await;
    result.unwrap_or_else(|e| {
        eprintln!("origin: purge not delivered: {e}");
        serde_json::json!({ "sent": false, "reason": e })
    })
}
