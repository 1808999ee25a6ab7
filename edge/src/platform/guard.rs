//! The session guard from the edge's side: revocations and login limits,
//! kept in `GuardObject`s so they hold across isolates and locations.

use durable_objects::guard::Limit;
use durable_objects::guard_api::{
    self, GuardCall, LoginAttempt, LoginRelease, LoginVerdict, Revoke, Revoked,
};
use worker::Env;

use super::objects;
use super::runtime::internal;
use crate::error::EdgeError;
use crate::shop::ports::Reservation;

/// Refuses `sid` until `until` (its absolute expiry).
pub(crate) async fn revoke(env: &Env, sid: &str, until: i64) -> Result<(), EdgeError> {
    let stub = objects::stub(env, guard_api::BINDING, &guard_api::session_name(sid))?;
    let call = GuardCall::Revoke(Revoke { until });
    let answer = objects::call(&stub, guard_api::CALL, &call).await?;
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
    let mut answer = objects::call(&stub, guard_api::CALL, &GuardCall::IsRevoked).await?;
    let revoked: Revoked = answer.json().await.map_err(internal("read a revocation"))?;
    Ok(revoked.revoked)
}

/// Takes a place for one login attempt under every key, checking each
/// limit in the same step (so concurrent attempts cannot all pass). Past
/// any limit: `429` with `Retry-After`, and the places taken are given back.
pub(crate) async fn reserve_login(
    env: &Env,
    keys: &[(String, Limit)],
    now: i64,
) -> Result<Reservation, EdgeError> {
    let mut taken = Reservation(Vec::with_capacity(keys.len()));
    for (key, limit) in keys {
        let stub = objects::stub(env, guard_api::BINDING, &guard_api::login_name(key))?;
        let call = GuardCall::LoginReserve(LoginAttempt { now, limit: *limit });
        let mut answer = objects::call(&stub, guard_api::CALL, &call).await?;
        let verdict: LoginVerdict = answer
            .json()
            .await
            .map_err(internal("read a login guard"))?;
        if !verdict.allowed {
            release_login(env, taken).await;
            return Err(
                EdgeError::new(429, "too many failed logins; wait before trying again")
                    .with_header("retry-after", verdict.retry_after.max(1).to_string()),
            );
        }
        taken.0.push((key.clone(), verdict.window_start));
    }
    Ok(taken)
}

/// Gives the places back: the attempt was not a failed login (it
/// succeeded, or the identity service never judged it). A place not given
/// back counts as a failure until its window ends.
pub(crate) async fn release_login(env: &Env, reservation: Reservation) {
    for (key, window_start) in reservation.0 {
        let released = async {
            let stub = objects::stub(env, guard_api::BINDING, &guard_api::login_name(&key))?;
            let call = GuardCall::LoginRelease(LoginRelease { window_start });
            objects::call(&stub, guard_api::CALL, &call).await
        };
        if let Err(e) = released.await {
            worker::console_warn!("edge: a login guard place was not given back: {e}");
        }
    }
}
