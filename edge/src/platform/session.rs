//! `/api/session`: log in through the identity origin, say who the caller
//! is, log out. The token is opened on every request without asking anyone.

use serde::Deserialize;
use worker::{Env, Request, Response};

use super::runtime::{RequestContext, now_ms, render};
use super::{ports, runtime};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::session::rules::address_bucket;
use crate::session::token::SessionClaims;
use crate::shop;
use crate::shop::login::Settings;
use crate::shop::ports::Guard as _;

/// `POST /api/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

/// The caller's session, if a valid one is presented; anything else is
/// anonymous, never an error.
pub(crate) fn current(rc: &RequestContext, config: &EdgeConfig) -> Option<SessionClaims> {
    let keys = config.session_keys.as_ref()?;
    keys.open(rc.session_token.as_deref()?, now_ms() / 1000)
        .ok()
}

pub(crate) async fn handle(
    req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    match rc.method.as_str() {
        "POST" => login(req, env, config, rc).await,
        "DELETE" => logout(env, config, rc).await,
        _ => whoami(env, config, rc).await,
    }
}

/// The caller's session, unless it was revoked (one guard round trip).
pub(crate) async fn active(
    rc: &RequestContext,
    env: &Env,
    config: &EdgeConfig,
) -> Result<Option<SessionClaims>, EdgeError> {
    match current(rc, config) {
        Some(claims) if ports::GuardObjects(env).is_revoked(&claims.sid).await? => Ok(None),
        other => Ok(other),
    }
}

/// `DELETE /api/session`: the cookie goes, and the session id is refused
/// from now on wherever it is presented.
async fn logout(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    if let Some(claims) = current(rc, config) {
        ports::GuardObjects(env)
            .revoke(&claims.sid, claims.exp)
            .await?;
    }
    render(shop::session::logged_out()?)
}

/// `GET /api/session`: who the caller is, renewing an active session.
async fn whoami(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let claims = active(rc, env, config).await?;
    render(shop::session::whoami(
        claims,
        rc.session_token.is_some(),
        config.session_keys.as_deref(),
        config.session_idle,
        now_ms() / 1000,
    )?)
}

async fn login(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let Some(settings) = Settings::from_config(config) else {
        worker::console_error!("edge: refusing logins: SESSION_KEY is not set");
        return Err(EdgeError::new(
            500,
            "sessions are not configured on this edge",
        ));
    };
    let login: Login = super::body::json(&mut req, rc).await?;
    let cookie = rc.cookie.as_deref();
    let guest_cart = config
        .cart_cookie_keys()
        .and_then(|keys| keys.cart_id(cookie).ok().flatten());
    let address = address_bucket(rc.header("cf-connecting-ip"));
    let done = shop::login::login(
        &ports::GuardObjects(env),
        &ports::ForwardedOrigins { config, rc },
        &ports::ObjectCarts(env),
        &runtime::PlatformIds,
        shop::login::Login {
            email: &login.email,
            password: &login.password,
            presented: current(rc, config),
            guest_cart,
            address: &address,
            now: now_ms() / 1000,
            settings: &settings,
        },
    )
    .await?;
    if let Some(note) = &done.merge_note {
        worker::console_warn!("edge: at login: {note}");
    }
    let had_cart = rc
        .cookie
        .as_deref()
        .is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    render(shop::session::logged_in(
        &done,
        config.session_absolute,
        had_cart,
    )?)
}

/// The claims a forwarded request carries for this session.
pub(crate) fn edge_claims(claims: &SessionClaims) -> String {
    origin_adapter::forward::encode_claims(&origin_adapter::wire::EdgeClaims {
        user_id: claims.sub.clone(),
        roles: claims.roles.clone(),
        region: claims.region.clone(),
        session_id: claims.sid.clone(),
    })
}
