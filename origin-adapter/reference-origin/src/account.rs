//! The account service: a customer's saved addresses. Personal data, so
//! the edge pins it to the customer's home region and never fails it over.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use origin_adapter::wire::{Address, AddressRequest};
use rusqlite::{Connection, params};

use crate::{ApiError, AppState, Customer, JsonBody, with_db};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS addresses (
    id           INTEGER PRIMARY KEY,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    line1        TEXT NOT NULL,
    city         TEXT NOT NULL,
    postal_code  TEXT NOT NULL,
    country      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS addresses_by_user ON addresses(user_id, id);";

/// Addresses a customer may keep.
pub const MAX_ADDRESSES: i64 = 20;

fn check(a: &AddressRequest) -> Result<(), String> {
    for (field, value, max) in [
        ("name", &a.name, 200),
        ("line1", &a.line1, 200),
        ("city", &a.city, 100),
        ("postal_code", &a.postal_code, 20),
    ] {
        if value.trim().is_empty() || value.chars().count() > max {
            return Err(format!("{field} must be 1 to {max} characters"));
        }
    }
    if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("country must be an ISO 3166-1 alpha-2 code like DE".into());
    }
    Ok(())
}

fn address(region: &str, id: i64, a: AddressRequest) -> Address {
    Address {
        address_id: format!("addr-{region}-{id:06}"),
        name: a.name,
        line1: a.line1,
        city: a.city,
        postal_code: a.postal_code,
        country: a.country,
        region: region.to_owned(),
    }
}

/// `POST /account/addresses` (keyed, signed, customers only).
pub async fn create(
    State(state): State<AppState>,
    Customer(claims): Customer,
    JsonBody(request): JsonBody<AddressRequest>,
) -> Result<Response, ApiError> {
    check(&request).map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let region = state.region.clone();
    let now = (state.clock)();
    let saved = with_db(&state, move |c| {
        let tx = c.transaction().map_err(ApiError::internal)?;
        let held: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM addresses WHERE user_id = ?1",
                [&claims.user_id],
                |r| r.get(0),
            )
            .map_err(ApiError::internal)?;
        if held >= MAX_ADDRESSES {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("an account keeps at most {MAX_ADDRESSES} addresses"),
            ));
        }
        tx.execute(
            "INSERT INTO addresses (user_id, name, line1, city, postal_code, country, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                claims.user_id,
                request.name,
                request.line1,
                request.city,
                request.postal_code,
                request.country,
                now
            ],
        )
        .map_err(ApiError::internal)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(ApiError::internal)?;
        Ok(address(&region, id, request))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `GET /account/addresses`: the customer's own, never cached.
pub async fn list(
    State(state): State<AppState>,
    Customer(claims): Customer,
) -> Result<Response, ApiError> {
    let region = state.region.clone();
    let addresses = with_db(&state, move |c| {
        let mut stmt = c
            .prepare(
                "SELECT id, name, line1, city, postal_code, country FROM addresses
                 WHERE user_id = ?1 ORDER BY id",
            )
            .map_err(ApiError::internal)?;
        let rows = stmt
            .query_map([&claims.user_id], |r| {
                Ok(address(
                    &region,
                    r.get(0)?,
                    AddressRequest {
                        name: r.get(1)?,
                        line1: r.get(2)?,
                        city: r.get(3)?,
                        postal_code: r.get(4)?,
                        country: r.get(5)?,
                    },
                ))
            })
            .map_err(ApiError::internal)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ApiError::internal)
    })
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "addresses": addresses })),
    )
        .into_response())
}

pub fn count(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COUNT(*) FROM addresses", [], |r| r.get(0))
}
