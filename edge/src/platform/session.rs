//! `/api/session`: log in through the identity origin, say who the caller
//! is, log out. The token is opened on every request without asking anyone.

use origin_adapter::wire::{Identity, LoginRequest, paths};
use serde::Deserialize;
use worker::{Env, Method, Request, Response};

use super::forward::{self, Call};
use super::{RequestContext, guard, internal, now_ms, random};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::session::rules::{clear_cookie, new_session, renewed, session_token, set_cookie};
use crate::session::token::SessionClaims;
use durable_objects::respond;

/// `POST /api/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The caller's session, if a valid one is presented; anything else is
/// anonymous, never an error.
pub(crate) fn current(req: &Request, config: &EdgeConfig) -> Option<SessionClaims> {
    let keys = config.session_keys.as_ref()?;
    let token = session_token(header(req, "cookie").as_deref())?;
    keys.open(&token, now_ms() / 1000).ok()
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
    match req.method() {
        Method::Post => login(req, env, config, rc).await,
        Method::Delete => logout(&req, env, config).await,
        _ => whoami(&req, env, config).await,
    }
}

/// The caller's session, unless it was revoked (one guard round trip).
pub(crate) async fn active(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
) -> Result<Option<SessionClaims>, EdgeError> {
    match current(req, config) {
        Some(claims) if guard::is_revoked(env, &claims.sid).await? => Ok(None),
        other => Ok(other),
    }
}

/// `DELETE /api/session`: the cookie goes, and the session id is refused
/// from now on wherever it is presented.
async fn logout(req: &Request, env: &Env, config: &EdgeConfig) -> Result<Response, EdgeError> {
    if let Some(claims) = current(req, config) {
        guard::revoke(env, &claims.sid, claims.exp).await?;
    }
    personal(
        json(&serde_json::json!({ "authenticated": false }))?,
        Some(&clear_cookie()),
    )
}

/// `GET /api/session`: who the caller is, renewing an active session.
async fn whoami(req: &Request, env: &Env, config: &EdgeConfig) -> Result<Response, EdgeError> {
    let Some(claims) = active(req, env, config).await? else {
        // A cookie that does not open is dropped from the browser.
        let presented = session_token(header(req, "cookie").as_deref()).is_some();
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
    let Some(keys) = config.session_keys.clone() else {
        worker::console_error!("edge: refusing logins: SESSION_KEY is not set");
        return Err(EdgeError::new(
            500,
            "sessions are not configured on this edge",
        ));
    };
    let login: Login = super::body::json(&mut req).await?;
    if login.email.is_empty() || login.email.len() > 254 || !login.email.contains('@') {
        return Err(EdgeError::new(
            400,
            "`email` must be an email address of at most 254 characters",
        ));
    }
    if login.password.is_empty() || login.password.len() > 1024 {
        return Err(EdgeError::new(
            400,
            "`password` must be 1 to 1024 characters",
        ));
    }
    // Limits per account and per client address, checked before the
    // identity service spends a password hash on the attempt.
    let now = now_ms() / 1000;
    let address =
        crate::session::rules::address_bucket(header(&req, "cf-connecting-ip").as_deref());
    let limits = [
        (
            format!("account:{}", login.email.trim().to_lowercase()),
            config.login_account_limit,
        ),
        (format!("address:{address}"), config.login_address_limit),
    ];
    let reservation = guard::reserve_login(env, &limits, now).await?;
    let forwarded = serde_json::to_vec(&LoginRequest {
        email: login.email,
        password: login.password,
    })
    .map_err(|_| EdgeError::new(500, "the edge could not encode the login"))?;
    let key = crate::cart_cookie::new_cart_id(random()?);
    let answer = match forward::call(
        config,
        rc,
        Call {
            service: "identity",
            method: Method::Post,
            path: paths::LOGIN,
            query: None,
            body: Some(&forwarded),
            idempotency_key: Some(&format!("login-{key}")),
            claims: None,
            home_region: None,
            flags: None,
        },
    )
    .await
    {
        Ok(answer) => answer,
        Err(e) => {
            guard::release_login(env, reservation).await;
            return Err(e);
        }
    };
    let (status, answer) = (answer.status, answer.body);
    if status == 401 {
        // The place taken stays: it is this failure, counted.
        return Err(EdgeError::new(401, "the email or the password is wrong"));
    }
    guard::release_login(env, reservation).await;
    let identity: Identity = match status {
        200 => serde_json::from_slice(&answer).map_err(|_| {
            EdgeError::new(
                502,
                "the identity service answered with an unreadable identity",
            )
        })?,
        400 => {
            return Err(EdgeError::new(
                400,
                "the identity service refused the login as malformed",
            ));
        }
        other => {
            return Err(EdgeError::new(
                502,
                format!("the identity service failed (status {other})"),
            ));
        }
    };
    // A new session id at every login: an id presented before never survives it.
    let sid = crate::cart_cookie::new_cart_id(random()?);
    let claims = new_session(
        identity.user_id.clone(),
        identity.roles.clone(),
        identity.region.clone(),
        sid,
        now,
        config.session_idle,
        config.session_absolute,
    );
    let token = keys.seal(&claims).map_err(|e| {
        worker::console_error!("edge: could not seal a session: {e:?}");
        EdgeError::new(500, "the edge could not create the session")
    })?;
    // The session presented with this login (another customer's, or an
    // older one of the same) ends here: it must not outlive its successor.
    if let Some(replaced) = current(&req, config) {
        guard::revoke(env, &replaced.sid, replaced.exp).await?;
    }
    // The guest cart comes along: merged into the customer's, then closed.
    let had_cart =
        header(&req, "cookie").is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    let guest = super::cart::merge_at_login(&req, env, config, &identity.user_id, &identity.region)
        .await
        .unwrap_or_else(|e| {
            worker::console_warn!("edge: guest cart not merged at login: {e}");
            super::cart::GuestCart::Kept
        });
    let mut body = serde_json::to_value(&identity).unwrap_or_default();
    if let super::cart::GuestCart::Merged(report) = &guest {
        body["cart_merge"] = serde_json::to_value(report).unwrap_or_default();
    }
    let response = respond::json(200, &body).map_err(internal("answered"))?;
    let mut response = personal(response, Some(&set_cookie(&token, config.session_absolute)))?;
    // The cookie goes only once nothing depends on it any more: a guest
    // cart whose merge failed, or whose order is still on its way, stays
    // reachable.
    if had_cart && guest.cookie_may_go() {
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
