//! The identity service: customers with argon2id password hashes, and the
//! login check the edge forwards (signed) on a customer's behalf.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use origin_adapter::wire::{Identity, LoginRequest};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{ApiError, AppState, with_db};

/// Demo customers (documented in the README): email, password, roles, home region.
pub const DEMO_USERS: [(&str, &str, &str, &str); 3] = [
    ("alice@example.com", "alice-demo-password", "customer", "us"),
    ("bruno@example.eu", "bruno-demo-password", "customer", "eu"),
    (
        "carol@example.com",
        "carol-demo-password",
        "customer,support",
        "us",
    ),
];

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    roles          TEXT NOT NULL,
    region         TEXT NOT NULL
);";

fn hash(password: &str) -> Result<String, String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&random).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Creates the table and the demo users once.
pub fn seed(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    for (i, (email, password, roles, region)) in DEMO_USERS.iter().enumerate() {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
            [email],
            |r| r.get(0),
        )?;
        if !exists {
            let hashed =
                hash(password).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
            conn.execute(
                "INSERT INTO users (id, email, password_hash, roles, region) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![format!("user-{:04}", i + 1), email, hashed, roles, region],
            )?;
        }
    }
    Ok(())
}

/// A hash no password matches, verified when the email is unknown so a
/// wrong email costs as much time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy, never a password").unwrap_or_default())
}

/// Checks a login; `None` for a wrong email or password alike.
pub fn check(conn: &Connection, email: &str, password: &str) -> rusqlite::Result<Option<Identity>> {
    let row: Option<(String, String, String, String)> = conn
        .query_row(
            "SELECT id, password_hash, roles, region FROM users WHERE email = ?1",
            [email.trim().to_lowercase()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let stored: &str = row.as_ref().map(|r| r.1.as_str()).unwrap_or(decoy_hash());
    let matches = PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    Ok(match row {
        Some((user_id, _, roles, region)) if matches => Some(Identity {
            user_id,
            roles: roles.split(',').map(str::to_owned).collect(),
            region,
        }),
        _ => None,
    })
}

/// `POST /identity/login`, behind the edge-signature layer.
pub async fn login(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: LoginRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the login is not valid JSON for this API: {e}"),
        )
    })?;
    let found = with_db(&state, move |c| {
        check(c, &request.email, &request.password).map_err(ApiError::internal)
    })
    .await?;
    match found {
        Some(identity) => Ok(Json(identity).into_response()),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "the email or the password is wrong".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_users_log_in_and_wrong_credentials_do_not() {
        let conn = Connection::open_in_memory().unwrap();
        seed(&conn).unwrap();
        seed(&conn).unwrap();
        let alice = check(&conn, "Alice@Example.com", "alice-demo-password")
            .unwrap()
            .unwrap();
        assert_eq!(
            (alice.user_id.as_str(), alice.region.as_str()),
            ("user-0001", "us")
        );
        assert_eq!(check(&conn, "alice@example.com", "wrong").unwrap(), None);
        assert_eq!(
            check(&conn, "nobody@example.com", "alice-demo-password").unwrap(),
            None
        );
        let stored: String = conn
            .query_row("SELECT password_hash FROM users LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
    }
}
