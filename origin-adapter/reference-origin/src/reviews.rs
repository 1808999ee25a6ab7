//! The reviews service: customers' product reviews. Public content, so the
//! edge may fail a review over to another region.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use origin_adapter::wire::{Review, ReviewRequest};
use rusqlite::{Connection, params};

use crate::{ApiError, AppState, Customer, JsonBody, with_db};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reviews (
    id          INTEGER PRIMARY KEY,
    public_id   TEXT NOT NULL UNIQUE,
    sku         TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);";

fn check(r: &ReviewRequest) -> Result<(), String> {
    if !(1..=5).contains(&r.rating) {
        return Err("rating must be a whole number of stars from 1 to 5".into());
    }
    if r.title.trim().is_empty() || r.title.chars().count() > 120 {
        return Err("title must be 1 to 120 characters".into());
    }
    if r.body.chars().count() > 4000 {
        return Err("body must be at most 4000 characters".into());
    }
    Ok(())
}

fn insert(
    c: &mut Connection,
    region: &str,
    user: &str,
    r: &ReviewRequest,
    now: i64,
) -> Result<Review, ApiError> {
    let tx = c.transaction().map_err(ApiError::internal)?;
    let known: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM products WHERE sku = ?1)",
            [&r.sku],
            |row| row.get(0),
        )
        .map_err(ApiError::internal)?;
    if !known {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no product with SKU {:?}", r.sku),
        ));
    }
    tx.execute(
        "INSERT INTO reviews (public_id, sku, user_id, rating, title, body, created_at)
         VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6)",
        params![r.sku, user, r.rating, r.title, r.body, now],
    )
    .map_err(ApiError::internal)?;
    let id = tx.last_insert_rowid();
    let public_id = format!("rev-{region}-{id:06}");
    tx.execute(
        "UPDATE reviews SET public_id = ?1 WHERE id = ?2",
        params![public_id, id],
    )
    .map_err(ApiError::internal)?;
    tx.commit().map_err(ApiError::internal)?;
    Ok(Review {
        review_id: public_id,
        sku: r.sku.clone(),
        rating: r.rating,
        title: r.title.clone(),
        body: r.body.clone(),
        user_id: user.to_owned(),
        region: region.to_owned(),
    })
}

/// `POST /reviews` (keyed, signed, customers only).
pub async fn create(
    State(state): State<AppState>,
    Customer(claims): Customer,
    JsonBody(request): JsonBody<ReviewRequest>,
) -> Result<Response, ApiError> {
    check(&request).map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let region = state.region.clone();
    let now = (state.clock)();
    let review = with_db(&state, move |c| {
        insert(c, &region, &claims.user_id, &request, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(review)).into_response())
}

/// Reviews stored, of one SKU or of all.
pub fn count(c: &Connection, sku: Option<&str>) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COUNT(*) FROM reviews WHERE ?1 IS NULL OR sku = ?1",
        [sku],
        |r| r.get(0),
    )
}
