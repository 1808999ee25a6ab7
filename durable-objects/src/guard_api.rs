//! Calls into a guard object, shared by the edge and the object. One object
//! per name: `session:{sid}` remembers a revocation, `login:{key}` counts
//! failed logins for a client address or an account.

use serde::{Deserialize, Serialize};

use crate::guard::Limit;

pub const BINDING: &str = "GUARD";

pub fn session_name(sid: &str) -> String {
    format!("session:{sid}")
}

pub fn login_name(key: &str) -> String {
    format!("login:{key}")
}

pub const REVOKE: &str = "https://guard/revoke";
pub const IS_REVOKED: &str = "https://guard/is-revoked";
/// Check the limit and take a place for one attempt, in one step.
pub const LOGIN_RESERVE: &str = "https://guard/login-reserve";
/// Give a place back: its attempt was not a failed login.
pub const LOGIN_RELEASE: &str = "https://guard/login-release";

/// `POST REVOKE`: refuse the session until `until` (its absolute expiry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoke {
    pub until: i64,
}

/// `POST LOGIN_RESERVE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginAttempt {
    pub now: i64,
    pub limit: Limit,
}

/// The answer to `LOGIN_RESERVE`: a place was taken in the window that
/// began at `window_start`, or not (`retry_after` seconds until one frees).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginVerdict {
    pub allowed: bool,
    pub retry_after: i64,
    pub window_start: i64,
}

/// `POST LOGIN_RELEASE`: the place taken in the window beginning at
/// `window_start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRelease {
    pub window_start: i64,
}

/// The answer to `IS_REVOKED`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}
