//! The session's answers: who the caller is (renewing an active session
//! once half its idle time is used), logged out, logged in — with the
//! cookies each sets or clears.

use super::login::{GuestCart, LoggedIn};
use super::reply::Reply;
use crate::error::EdgeError;
use crate::session::rules::{clear_cookie, renewed, set_cookie};
use crate::session::token::{SessionClaims, SessionKeys};

fn anonymous(clear: bool) -> Result<Reply, EdgeError> {
    let reply = Reply::json(200, &serde_json::json!({ "authenticated": false }))?;
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
        &serde_json::json!({
            "authenticated": true,
            "user_id": claims.sub,
            "roles": claims.roles,
            "region": claims.region,
            "session_id": claims.sid,
            "idle_expires_at": claims.idle_exp,
            "expires_at": claims.exp,
        }),
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
