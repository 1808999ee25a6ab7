//! Test-only hooks, present only when the origin starts with `--test-hooks`:
//! a count of catalog requests (to prove the edge's caching) and fault
//! switches (added latency, error responses, dropped responses) for the
//! catalog and the signed write routes, to prove the edge's fallbacks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::{ApiError, AppState};

/// What one group of routes should suffer.
#[derive(Debug, Default)]
struct FaultSet {
    latency_ms: AtomicU64,
    fail_status: AtomicU16,
    /// How many of the next answers to break after the work is done.
    drop_responses: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Hooks {
    /// Set by `app(…, test_hooks = true)`; nothing is recorded otherwise.
    pub enabled: std::sync::atomic::AtomicBool,
    catalog: FaultSet,
    writes: FaultSet,
    /// Catalog requests by path and query, signed ones by method and path,
    /// as received.
    requests: Mutex<HashMap<String, u64>>,
    /// The headers of each signed write received, by Idempotency-Key, to
    /// prove what the edge sends.
    signed: Mutex<HashMap<String, Vec<(String, String)>>>,
}

impl Hooks {
    pub fn record_signed_request(&self, key: &str, headers: &axum::http::HeaderMap) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(mut signed) = self.signed.lock() {
            let seen = headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or("<binary>").to_owned(),
                    )
                })
                .collect();
            signed.insert(key.to_owned(), seen);
        }
    }
}

/// Which routes a fault applies to.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultScope {
    #[default]
    Catalog,
    /// The signed routes the edge forwards (orders, identity, account, reviews).
    Writes,
}

/// `POST /_test/faults`: what a group of routes should do from now on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub scope: FaultScope,
    #[serde(default)]
    pub latency_ms: u64,
    /// An error status (500-599) to answer with instead, or 0 for none.
    #[serde(default)]
    pub fail_status: u16,
    /// Let the handler finish, then break the connection mid-answer, for
    /// this many of the next requests.
    #[serde(default)]
    pub drop_responses: u64,
}

async fn suffer(set: &FaultSet, request: Request, next: Next) -> Response {
    let latency = set.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Ok(status) = StatusCode::from_u16(set.fail_status.load(Ordering::SeqCst))
        && status.is_server_error()
    {
        return ApiError(status, "fault injected by /_test/faults".into()).into_response();
    }
    let response = next.run(request).await;
    let dropping = set
        .drop_responses
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if !dropping {
        return response;
    }
    // The status line and half the body go out, then the connection
    // breaks: the caller sees a broken answer to work that was done.
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    // The pause lets hyper flush the first part before the failure.
    let broken = futures::StreamExt::then(
        futures::stream::iter([
            Ok(half),
            Err(std::io::Error::other("fault: dropped response")),
        ]),
        |part| async move {
            if part.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            part
        },
    );
    Response::from_parts(parts, axum::body::Body::from_stream(broken))
}

/// Counts and records a signed-route request as received (before any
/// verification), then applies the configured faults.
pub async fn write_faults(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let hooks = &state.hooks;
    let target = format!("{} {}", request.method(), request.uri().path());
    if let Ok(mut counts) = hooks.requests.lock() {
        *counts.entry(target).or_default() += 1;
    }
    if let Some(key) = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    {
        hooks.record_signed_request(key.trim().trim_matches('"'), request.headers());
    }
    suffer(&hooks.writes, request, next).await
}

/// Counts the request, then applies the configured faults.
pub async fn catalog_faults(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let hooks = &state.hooks;
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if let Ok(mut counts) = hooks.requests.lock() {
        *counts.entry(target).or_default() += 1;
    }
    suffer(&hooks.catalog, request, next).await
}

pub async fn set_faults(
    State(state): State<AppState>,
    Json(faults): Json<Faults>,
) -> Result<StatusCode, ApiError> {
    if faults.fail_status != 0 && !(500..=599).contains(&faults.fail_status) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "fail_status must be 0 or 500-599".into(),
        ));
    }
    let set = match faults.scope {
        FaultScope::Catalog => &state.hooks.catalog,
        FaultScope::Writes => &state.hooks.writes,
    };
    set.latency_ms
        .store(faults.latency_ms.min(120_000), Ordering::SeqCst);
    set.fail_status.store(faults.fail_status, Ordering::SeqCst);
    set.drop_responses
        .store(faults.drop_responses.min(1000), Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn requests(State(state): State<AppState>) -> Json<HashMap<String, u64>> {
    Json(
        state
            .hooks
            .requests
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default(),
    )
}

/// `GET /_test/signed-headers?key=…`: what arrived with that write.
pub async fn signed_headers(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Json<Vec<(String, String)>> {
    let key = q.get("key").cloned().unwrap_or_default();
    Json(
        state
            .hooks
            .signed
            .lock()
            .ok()
            .and_then(|s| s.get(&key).cloned())
            .unwrap_or_default(),
    )
}
