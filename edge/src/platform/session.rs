//! `/api/session`: log in through the identity origin, say who the caller
//! is, log out. The token is opened on every request without asking anyone.

use durable_objects::respond;
use serde::Deserialize;
use worker::{Env, Request, Response};

use super::runtime::{RequestContext, internal, now_ms};
use super::{guard, ports, runtime};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::session::rules::{address_bucket, clear_cookie, renewed, set_cookie};
use crate::session::token::SessionClaims;
use crate::shop;
use crate::shop::login::{GuestCart, Settings};

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

/// Marks a session answer uncacheable and, if given, sets a cookie.
fn personal(mut response: Response, cookie: Option<&str>) -> Result<Response, EdgeError> {
    let headers = response.headers_mut();
    headers
        .set("cache-control", "no-store")
        .map_err(internal("answered"))?;
    if let Some(cookie) = cookie {
        headers
            .set("set-cookie", cookie)
            .map_err(internal("set the session cookie"))?;
    }
    Ok(response)
}

fn json(body: &serde_json::Value) -> Result<Response, EdgeError> {
    respond::json(200, body).map_err(internal("answered"))
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
        Some(claims) if guard::is_revoked(env, &claims.sid).await? => Ok(None),
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
        guard::revoke(env, &claims.sid, claims.exp).await?;
    }
    personal(
        json(&serde_json::json!({ "authenticated": false }))?,
        Some(&clear_cookie()),
    )
}

/// `GET /api/session`: who the caller is, renewing an active session.
async fn whoami(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let Some(claims) = active(rc, env, config).await? else {
        // A cookie that does not open is dropped from the browser.
        let presented = rc.session_token.is_some();
        let cleared = presented.then(clear_cookie);
        return personal(
            json(&serde_json::json!({ "authenticated": false }))?,
            cleared.as_deref(),
        );
    };
    let now = now_ms() / 1000;
    let renewal = renewed(&claims, now, config.session_idle).and_then(|fresh| {
        config
            .session_keys
            .as_ref()?
            .seal(&fresh)
            .ok()
            .map(|token| (fresh, token))
    });
    let (claims, cookie) = match renewal {
        Some((fresh, token)) => {
            let cookie = set_cookie(&token, fresh.exp - now);
            (fresh, Some(cookie))
        }
        None => (claims, None),
    };
    let body = serde_json::json!({
        "authenticated": true,
        "user_id": claims.sub,
        "roles": claims.roles,
        "region": claims.region,
        "session_id": claims.sid,
        "idle_expires_at": claims.idle_exp,
        "expires_at": claims.exp,
    });
    personal(json(&body)?, cookie.as_deref())
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
    logged_in(&done, config, rc.cookie.as_deref())
}

/// The login's answer: the identity, the merge report, the session cookie,
/// and the guest cart's cookie cleared once nothing depends on it.
fn logged_in(
    done: &shop::login::LoggedIn,
    config: &EdgeConfig,
    cookie: Option<&str>,
) -> Result<Response, EdgeError> {
    let mut body = serde_json::to_value(&done.identity).unwrap_or_default();
    if let GuestCart::Merged(report) = &done.guest_cart {
        body["cart_merge"] = serde_json::to_value(report).unwrap_or_default();
    }
    let response = respond::json(200, &body).map_err(internal("answered"))?;
    let mut response = personal(
        response,
        Some(&set_cookie(&done.token, config.session_absolute)),
    )?;
    // The cookie goes only once nothing depends on it any more: a guest
    // cart whose merge failed, or whose order is still on its way, stays
    // reachable.
    let had_cart = cookie.is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    if had_cart && done.guest_cart.cookie_may_go() {
        response
            .headers_mut()
            .append("set-cookie", &crate::cart_cookie::clear_cookie())
            .map_err(internal("cleared the cart cookie"))?;
    }
    Ok(response)
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
