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

/// Where every call goes: `POST` with a [`GuardCall`] as JSON.
pub const CALL: &str = "https://guard/call";

/// Every call into a guard object, and what it answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum GuardCall {
    /// Refuse the session until `until`: `200` with [`Revoked`].
    Revoke(Revoke),
    /// Whether the session is refused: `200` with [`Revoked`].
    IsRevoked,
    /// Check the limit and take a place for one attempt, in one step:
    /// `200` with a [`LoginVerdict`].
    LoginReserve(LoginAttempt),
    /// Give a place back (its attempt was not a failed login): `200`.
    LoginRelease(LoginRelease),
}

/// [`GuardCall::Revoke`]: refuse the session until `until` (its absolute expiry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoke {
    pub until: i64,
}

/// [`GuardCall::LoginReserve`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginAttempt {
    pub now: i64,
    pub limit: Limit,
}

/// The answer to [`GuardCall::LoginReserve`]: a place was taken in the window that
/// began at `window_start`, or not (`retry_after` seconds until one frees).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginVerdict {
    pub allowed: bool,
    pub retry_after: i64,
    pub window_start: i64,
}

/// [`GuardCall::LoginRelease`]: the place taken in the window beginning at
/// `window_start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRelease {
    pub window_start: i64,
}

/// The answer to [`GuardCall::IsRevoked`] and [`GuardCall::Revoke`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}
