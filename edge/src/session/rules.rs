//! Session rules as plain functions: the cookie, sliding renewal, and the
//! cross-site check every cookie-authenticated write must pass.

use cookie::{Cookie, SameSite};

use super::token::SessionClaims;
use crate::error::EdgeError;

pub const SESSION_COOKIE: &str = "__Host-session";

/// The session token in a `Cookie` header. Absent, duplicated or oversized
/// cookies give `None`: the caller is then anonymous, never an error.
pub fn session_token(cookie_header: Option<&str>) -> Option<String> {
    let header = cookie_header?;
    let values = Cookie::split_parse(header)
        .flatten()
        .filter(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned());
    session_token_among(values)
}

/// The session token among the values of every `__Host-session` cookie a
/// request carried: exactly one, within the size limit.
pub fn session_token_among(mut values: impl Iterator<Item = String>) -> Option<String> {
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    Some(first).filter(|v| v.len() <= super::token::MAX_TOKEN_LEN)
}

/// `Set-Cookie` for a session token valid for `max_age` seconds.
pub fn set_cookie(token: &str, max_age: i64) -> String {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age.max(0)))
        .build()
        .to_string()
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    set_cookie("", 0)
}

/// A new session for a customer who just logged in.
pub fn new_session(
    user_id: String,
    roles: Vec<String>,
    region: String,
    sid: String,
    now: i64,
    idle: i64,
    absolute: i64,
) -> SessionClaims {
    SessionClaims {
        sub: user_id,
        roles,
        region,
        sid,
        iat: now,
        idle_exp: now + idle,
        exp: now + absolute,
    }
}

/// Sliding renewal: once half the idle window is used, push the idle expiry
/// forward (never past the absolute one). `None` when no renewal is due.
pub fn renewed(claims: &SessionClaims, now: i64, idle: i64) -> Option<SessionClaims> {
    if claims.idle_exp - now > idle / 2 {
        return None;
    }
    let idle_exp = (now + idle).min(claims.exp);
    (idle_exp > claims.idle_exp).then(|| SessionClaims {
        idle_exp,
        ..claims.clone()
    })
}

/// Whose failed logins a client address counts with: an IPv4 address on
/// its own, an IPv6 address with the rest of its /64 — one subscriber's
/// network, where an attacker can pick any of 2^64 addresses. Absent or
/// unreadable (never so behind Cloudflare): one shared bucket.
pub fn address_bucket(connecting_ip: Option<&str>) -> String {
    match connecting_ip.map(|ip| ip.trim().parse::<std::net::IpAddr>()) {
        Some(Ok(std::net::IpAddr::V4(v4))) => v4.to_string(),
        Some(Ok(std::net::IpAddr::V6(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => "unknown".into(),
    }
}

/// Refuses a write that a browser says comes from another site, unless
/// its `Origin` is this site or on the allow-list — whether or not it
/// carries cookies: a cross-site login without cookies (login CSRF) would
/// sign the browser into the attacker's account. Clients that send neither
/// `Origin` nor `Sec-Fetch-Site` are not browsers and pass.
pub fn check_same_site(
    method: &str,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    own_origin: &str,
    allowed: &[String],
) -> Result<(), EdgeError> {
    let safe_method = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if safe_method {
        return Ok(());
    }
    let refused =
        || EdgeError::forbidden("cross-site writes are refused (Origin / Sec-Fetch-Site)");
    match origin {
        Some(o) if o == own_origin || allowed.iter().any(|a| a == o) => Ok(()),
        Some(_) => Err(refused()),
        None => match sec_fetch_site {
            Some("cross-site" | "same-site") => Err(refused()),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_well_formed_session_cookie_counts() {
        assert_eq!(
            session_token(Some("a=b; __Host-session=v4.local.x")),
            Some("v4.local.x".into())
        );
        assert_eq!(
            session_token(Some("__Host-session=a; __Host-session=b")),
            None
        );
        assert_eq!(
            session_token(Some(&format!("__Host-session={}", "x".repeat(5000)))),
            None
        );
        assert_eq!(session_token(None), None);
        let c = set_cookie("t", 60);
        for part in [
            "__Host-session=t",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn renewal_slides_but_never_past_the_absolute_expiry() {
        let s = new_session("u".into(), vec![], "us".into(), "s".into(), 0, 1800, 3000);
        assert_eq!(renewed(&s, 100, 1800), None);
        let r = renewed(&s, 1000, 1800).unwrap();
        assert_eq!(r.idle_exp, 2800);
        let late = renewed(&r, 2500, 1800).unwrap();
        assert_eq!(late.idle_exp, 3000);
        assert_eq!(renewed(&late, 2900, 1800), None);
    }

    #[test]
    fn login_limits_count_an_ipv6_network_as_one_address() {
        assert_eq!(address_bucket(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            address_bucket(Some("2001:db8:1:2:aaaa::1")),
            address_bucket(Some("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_eq!(address_bucket(Some("2001:db8:1:2::9")), "2001:db8:1:2::/64");
        assert_ne!(
            address_bucket(Some("2001:db8:1:2::1")),
            address_bucket(Some("2001:db8:1:3::1"))
        );
        assert_eq!(address_bucket(None), "unknown");
        assert_eq!(address_bucket(Some("not an address")), "unknown");
    }

    #[test]
    fn cross_site_writes_are_refused_with_or_without_cookies() {
        let own = "https://shop.example";
        let allowed = vec!["https://checkout.example".to_owned()];
        let check =
            |method, site, origin| check_same_site(method, site, origin, own, &allowed).is_ok();
        let evil = Some("https://evil.example");
        for (method, site, origin, ok) in [
            ("POST", Some("cross-site"), evil, false),
            ("POST", Some("cross-site"), None, false),
            ("POST", Some("same-site"), None, false),
            ("DELETE", None, evil, false),
            ("PROPFIND", Some("cross-site"), evil, false),
            ("POST", Some("same-origin"), Some(own), true),
            (
                "POST",
                Some("cross-site"),
                Some("https://checkout.example"),
                true,
            ),
            ("GET", Some("cross-site"), evil, true),
            ("HEAD", Some("cross-site"), evil, true),
            // Non-browser clients send neither header.
            ("POST", None, None, true),
        ] {
            assert_eq!(
                check(method, site, origin),
                ok,
                "{method} {site:?} {origin:?}"
            );
        }
    }
}
