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
pub const LOGIN_CHECK: &str = "https://guard/login-check";
pub const LOGIN_FAILED: &str = "https://guard/login-failed";

/// `POST REVOKE`: refuse the session until `until` (its absolute expiry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoke {
    pub until: i64,
}

/// `POST LOGIN_CHECK` / `LOGIN_FAILED`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginAttempt {
    pub now: i64,
    pub limit: Limit,
}

/// The answer to `LOGIN_CHECK`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginVerdict {
    pub allowed: bool,
    pub retry_after: i64,
}

/// The answer to `IS_REVOKED`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}
