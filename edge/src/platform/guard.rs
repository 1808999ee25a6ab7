//! The session guard from the edge's side: revocations and login limits,
//! kept in `GuardObject`s so they hold across isolates and locations.

use durable_objects::guard::Limit;
use durable_objects::guard_api::{self, LoginAttempt, LoginVerdict, Revoke, Revoked};
use worker::Env;

use super::{internal, objects};
use crate::error::EdgeError;

/// Refuses `sid` until `until` (its absolute expiry).
pub(crate) async fn revoke(env: &Env, sid: &str, until: i64) -> Result<(), EdgeError> {
    let stub = objects::stub(env, guard_api::BINDING, &guard_api::session_name(sid))?;
    let body = serde_json::to_string(&Revoke { until })
        .map_err(|_| EdgeError::new(500, "could not encode a revocation"))?;
    let answer = objects::call(&stub, guard_api::REVOKE, Some(body)).await?;
    if answer.status_code() != 200 {
        return Err(EdgeError::new(
            500,
            "the session could not be revoked; it has been logged",
        ));
    }
    Ok(())
}

pub(crate) async fn is_revoked(env: &Env, sid: &str) -> Result<bool, EdgeError> {
    let stub = objects::stub(env, guard_api::BINDING, &guard_api::session_name(sid))?;
    let mut answer = objects::call(&stub, guard_api::IS_REVOKED, None).await?;
    let revoked: Revoked = answer.json().await.map_err(internal("read a revocation"))?;
    Ok(revoked.revoked)
}

/// Asks the login guard of every key at `url`; returns their verdicts.
async fn ask(
    env: &Env,
    keys: &[(String, Limit)],
    now: i64,
    url: &str,
) -> Result<Vec<LoginVerdict>, EdgeError> {
    let mut verdicts = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        let stub = objects::stub(env, guard_api::BINDING, &guard_api::login_name(key))?;
        let body = serde_json::to_string(&LoginAttempt { now, limit: *limit })
            .map_err(|_| EdgeError::new(500, "could not encode a login attempt"))?;
        let mut answer = objects::call(&stub, url, Some(body)).await?;
        verdicts.push(
            answer
                .json()
                .await
                .map_err(internal("read a login guard"))?,
        );
    }
    Ok(verdicts)
}

/// 429 with `Retry-After` while any of `keys` has too many failed logins.
pub(crate) async fn check_login(
    env: &Env,
    keys: &[(String, Limit)],
    now: i64,
) -> Result<(), EdgeError> {
    let verdicts = ask(env, keys, now, guard_api::LOGIN_CHECK).await?;
    match verdicts
        .iter()
        .filter(|v| !v.allowed)
        .map(|v| v.retry_after)
        .max()
    {
        None => Ok(()),
        Some(retry_after) => Err(EdgeError::new(
            429,
            "too many failed logins; wait before trying again",
        )
        .with_header("retry-after", retry_after.to_string())),
    }
}

/// Counts a failed login against every key.
pub(crate) async fn login_failed(
    env: &Env,
    keys: &[(String, Limit)],
    now: i64,
) -> Result<(), EdgeError> {
    ask(env, keys, now, guard_api::LOGIN_FAILED).await.map(drop)
}
