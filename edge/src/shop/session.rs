//! `/api/session`: log in through the identity origin, say who the caller
//! is (renewing an active session once half its idle time is used), log
//! out — with the cookies each sets or clears. The token is opened on
//! every request without asking anyone; only revocation asks the guard.

use serde::Deserialize;

use super::caller::{active_session, presented_session};
use super::login::{self, GuestCart, LoggedIn, Settings};
use super::ports::{Carts, Entropy, Guard, JsonBody, Origins};
use super::reply::Reply;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::incoming::Incoming;
use crate::session::rules::{clear_cookie, renewed, set_cookie};
use crate::session::token::{SessionClaims, SessionKeys};

/// What the session's use cases reach: the guard, the identity origin,
/// the cart objects (a guest cart merged at login), fresh ids.
pub struct SessionPorts<'a, G, O, C, I> {
    pub guard: &'a G,
    pub origins: &'a O,
    pub carts: &'a C,
    pub ids: &'a I,
}

/// `POST /api/session` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// Runs `/api/session` for `rc` (`body`: a login's JSON) at Unix second `now`.
///
/// # Errors
/// `500` when no `SESSION_KEY` is set (logins are refused), and what the
/// login or the guard refused.
pub async fn handle<G: Guard, O: Origins, C: Carts, I: Entropy>(
    p: &SessionPorts<'_, G, O, C, I>,
    (rc, config, now): (&Incoming, &EdgeConfig, i64),
    body: impl JsonBody,
) -> Result<Reply, EdgeError> {
    match rc.method.as_str() {
        "POST" => log_in(p, (rc, config, now), body).await,
        "DELETE" => {
            // The cookie goes, and the session id is refused from now on
            // wherever it is presented.
            let Some(claims) = presented_session(rc, config, now) else {
                return logged_out();
            };
            p.guard.revoke(&claims.sid, claims.exp).await?;
            // Its pages stop watching the cart: a live view is not a way
            // around the revocation.
            let sid = claims.sid.clone();
            let cart = super::cart::Owner::customer(claims, config).cart;
            let ended = p.carts.end_live(&cart, &sid).await;
            let reply = logged_out()?;
            Ok(match ended {
                Ok(()) => reply,
                Err(e) => reply.noted(format!("at logout, live views stay open: {e}")),
            })
        }
        _ => {
            let claims = active_session(p.guard, rc, config, now).await?;
            let keys = config.session_keys.as_deref();
            let presented = rc.session_token.is_some();
            whoami(claims, presented, keys, config.session_idle, now)
        }
    }
}

async fn log_in<G: Guard, O: Origins, C: Carts, I: Entropy>(
    p: &SessionPorts<'_, G, O, C, I>,
    (rc, config, now): (&Incoming, &EdgeConfig, i64),
    body: impl JsonBody,
) -> Result<Reply, EdgeError> {
    let Some(settings) = Settings::from_config(config) else {
        return Err(
            EdgeError::internal("sessions are not configured on this edge")
                .with_cause("refusing logins: SESSION_KEY is not set"),
        );
    };
    let credentials: Credentials = crate::request_body::parse_json(&body.read().await?)?;
    let cookie = rc.cookie.as_deref();
    let guest_cart = config
        .cart_cookie_keys()
        .and_then(|keys| keys.cart_id(cookie).ok().flatten());
    let address = crate::session::rules::address_bucket(rc.header("cf-connecting-ip"));
    let attempt = login::Login {
        email: &credentials.email,
        password: &credentials.password,
        presented: presented_session(rc, config, now),
        guest_cart,
        address: &address,
        now,
        settings: &settings,
    };
    let done = login::login(p.guard, p.origins, p.carts, p.ids, attempt).await?;
    let had_cart = cookie.is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    let reply = logged_in(&done, config.session_absolute, had_cart)?;
    Ok(match &done.merge_note {
        Some(note) => reply.noted(format!("at login: {note}")),
        None => reply,
    })
}

/// `GET /api/session`'s answer: who the session is, or `authenticated:
/// false` alone.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The customer's home region, e.g. `eu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Unix seconds: when the session ends unless used (it slides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_expires_at: Option<i64>,
    /// Unix seconds: when it ends at the latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

fn anonymous(clear: bool) -> Result<Reply, EdgeError> {
    let reply = Reply::json(200, &SessionView::default())?;
    Ok(if clear {
        reply.header("set-cookie", clear_cookie())
    } else {
        reply
    })
}

/// `GET /api/session` for `claims` (an active session, if any) at Unix
/// second `now`; `presented` when a cookie came that did not open (it is
/// dropped from the browser).
pub fn whoami(
    claims: Option<SessionClaims>,
    presented: bool,
    keys: Option<&SessionKeys>,
    idle: i64,
    now: i64,
) -> Result<Reply, EdgeError> {
    let Some(claims) = claims else {
        return anonymous(presented);
    };
    let renewal =
        renewed(&claims, now, idle).and_then(|fresh| Some((keys?.seal(&fresh).ok()?, fresh)));
    let (claims, cookie) = match renewal {
        Some((token, fresh)) => {
            let cookie = set_cookie(&token, fresh.exp - now);
            (fresh, Some(cookie))
        }
        None => (claims, None),
    };
    let reply = Reply::json(
        200,
        &SessionView {
            authenticated: true,
            user_id: Some(claims.sub),
            roles: Some(claims.roles),
            region: Some(claims.region),
            session_id: Some(claims.sid),
            idle_expires_at: Some(claims.idle_exp),
            expires_at: Some(claims.exp),
        },
    )?;
    Ok(match cookie {
        Some(cookie) => reply.header("set-cookie", cookie),
        None => reply,
    })
}

/// `DELETE /api/session`: anonymous, the cookie cleared.
pub fn logged_out() -> Result<Reply, EdgeError> {
    anonymous(true)
}

/// `POST /api/session`: the identity, the merge report, the session
/// cookie, and the guest cart's cookie cleared once nothing depends on it
/// (`had_cart`: the request carried one).
pub fn logged_in(done: &LoggedIn, absolute: i64, had_cart: bool) -> Result<Reply, EdgeError> {
    let mut body = serde_json::to_value(&done.identity).unwrap_or_default();
    if let GuestCart::Merged(report) = &done.guest_cart {
        body["cart_merge"] = serde_json::to_value(report).unwrap_or_default();
    }
    let reply = Reply::json(200, &body)?.header("set-cookie", set_cookie(&done.token, absolute));
    Ok(if had_cart && done.guest_cart.cookie_may_go() {
        reply.header("set-cookie", crate::cart_cookie::clear_cookie())
    } else {
        reply
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::rules::new_session;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn a_logout_revokes_the_session_everywhere_and_a_login_needs_a_key() {
        use crate::shop::fakes::{
            CountingIds, MemoryCarts, MemoryGuard, ScriptedOrigins, config, incoming,
            session_cookie,
        };
        let (guard, origins, carts, ids) = (
            MemoryGuard::default(),
            ScriptedOrigins::new([]),
            MemoryCarts::default(),
            CountingIds::default(),
        );
        let p = SessionPorts {
            guard: &guard,
            origins: &origins,
            carts: &carts,
            ids: &ids,
        };
        let config = config();
        let (cookie, sid) = session_cookie(&config, "u-1", 1_000);
        let run = |method| {
            let rc = incoming(method, "/api/session", &[("cookie", &cookie)]);
            futures::executor::block_on(handle(&p, (&rc, &config, 1_010), b"")).unwrap()
        };
        let who: serde_json::Value = serde_json::from_slice(&run("GET").body).unwrap();
        assert_eq!(who["user_id"], "u-1");
        let out = run("DELETE");
        assert!(cookies(&out)[0].contains("Max-Age=0"));
        assert_eq!(*guard.revoked.borrow(), std::slice::from_ref(&sid));
        assert_eq!(
            *carts.ended_live.borrow(),
            [("customer:u-1".to_owned(), sid)],
            "the customer's live cart views closed"
        );
        let who: serde_json::Value = serde_json::from_slice(&run("GET").body).unwrap();
        assert_eq!(
            who["authenticated"], false,
            "the revoked session is anonymous"
        );

        let keyless = crate::config::for_tests();
        let rc = incoming("POST", "/api/session", &[]);
        let body = br#"{"email":"a@example.com","password":"pw"}"#;
        let refused = futures::executor::block_on(handle(&p, (&rc, &keyless, 1_010), body));
        assert_eq!(refused.unwrap_err().status(), 500);
        assert!(origins.calls.borrow().is_empty(), "nobody was asked");
    }

    fn cookies(reply: &Reply) -> Vec<&str> {
        reply
            .headers
            .iter()
            .filter(|(n, _)| *n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A session issued at 0: idle 100 s, absolute 1000 s.
    fn claims() -> SessionClaims {
        new_session(
            "user-1".into(),
            vec![],
            "us".into(),
            "s".into(),
            0,
            100,
            1000,
        )
    }

    #[test]
    fn whoami_renews_once_half_the_idle_time_is_used() {
        let keys = SessionKeys::from_config(KEY, "").unwrap();
        let claims = claims();
        let early = whoami(Some(claims.clone()), true, Some(&keys), 100, 10).unwrap();
        assert!(cookies(&early).is_empty(), "nothing to renew yet");
        let late = whoami(Some(claims), true, Some(&keys), 100, 60).unwrap();
        assert_eq!(cookies(&late).len(), 1);
        let body: serde_json::Value = serde_json::from_slice(&late.body).unwrap();
        assert_eq!(body["idle_expires_at"], 160);
        let stale = whoami(None, true, Some(&keys), 100, 60).unwrap();
        assert!(
            cookies(&stale)[0].contains("Max-Age=0"),
            "a dead cookie is dropped"
        );
        assert!(cookies(&whoami(None, false, None, 100, 60).unwrap()).is_empty());
    }

    #[test]
    fn a_login_clears_the_guest_cookie_only_when_nothing_waits_in_it() {
        let keys = SessionKeys::from_config(KEY, "").unwrap();
        let claims = claims();
        let done = |guest_cart| LoggedIn {
            identity: serde_json::from_value(serde_json::json!({
                "user_id": "user-1", "roles": [], "region": "us"
            }))
            .unwrap(),
            token: keys.seal(&claims).unwrap(),
            claims: claims.clone(),
            guest_cart,
            merge_note: None,
        };
        assert_eq!(
            cookies(&logged_in(&done(GuestCart::None), 1000, true).unwrap()).len(),
            2
        );
        assert_eq!(
            cookies(&logged_in(&done(GuestCart::Kept), 1000, true).unwrap()).len(),
            1
        );
        assert_eq!(
            cookies(&logged_in(&done(GuestCart::None), 1000, false).unwrap()).len(),
            1
        );
    }
}
