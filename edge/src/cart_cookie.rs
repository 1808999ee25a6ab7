//! The guest cart cookie: an unguessable id (128 random bits) and its
//! HMAC-SHA256 tag, HttpOnly, Secure, `__Host-`. A cookie the shop did not
//! issue — another key, an altered id — is refused, never followed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::EdgeError;

pub const COOKIE_NAME: &str = "__Host-cart";
/// How long a browser keeps the cart cookie (seconds): 30 days.
pub const COOKIE_MAX_AGE: i64 = 30 * 24 * 3600;
/// What the tag keys are derived for (see `SessionKeys::derive`).
pub const KEY_PURPOSE: &str = "storefront-edge cart cookie v1";

/// A cart id from 16 random bytes (128 bits): 22 base64url characters.
pub fn new_cart_id(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

fn is_cart_id(value: &str) -> bool {
    value.len() == 22 && URL_SAFE_NO_PAD.decode(value).is_ok_and(|b| b.len() == 16)
}

fn tag(key: &[u8; 32], cart_id: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(cart_id.as_bytes());
    Some(mac)
}

/// Signs and checks cart cookies; the first key signs, all verify.
pub struct CookieKeys(pub Vec<[u8; 32]>);

impl CookieKeys {
    /// `<cart id>.<tag>`: what the cookie holds.
    pub fn value(&self, cart_id: &str) -> String {
        let mac = self
            .0
            .first()
            .and_then(|k| tag(k, cart_id))
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{cart_id}.{mac}")
    }

    fn verify(&self, cart_id: &str, mac: &str) -> bool {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return false;
        };
        self.0
            .iter()
            .filter_map(|k| tag(k, cart_id))
            .any(|m| m.verify_slice(&mac).is_ok())
    }

    /// The cart id in a `Cookie` header, if any. A malformed or forged
    /// cookie is a 400 that says so.
    pub fn cart_id(&self, cookie_header: Option<&str>) -> Result<Option<String>, EdgeError> {
        let Some(header) = cookie_header else {
            return Ok(None);
        };
        for cookie in Cookie::split_parse(header).flatten() {
            if cookie.name() != COOKIE_NAME {
                continue;
            }
            let Some((id, mac)) = cookie
                .value()
                .split_once('.')
                .filter(|(id, _)| is_cart_id(id))
            else {
                return Err(EdgeError::bad_request(format!(
                    "the {COOKIE_NAME} cookie is not a cart id"
                )));
            };
            if !self.verify(id, mac) {
                return Err(EdgeError::bad_request(format!(
                    "the {COOKIE_NAME} cookie was not issued by this shop; delete it to start a new cart"
                )));
            }
            return Ok(Some(id.to_owned()));
        }
        Ok(None)
    }

    /// The `Set-Cookie` value that gives a browser its cart.
    pub fn set_cookie(&self, cart_id: &str) -> String {
        Cookie::build((COOKIE_NAME, self.value(cart_id)))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(COOKIE_MAX_AGE))
            .build()
            .to_string()
    }
}

/// The `Set-Cookie` value that removes the cart cookie (after a merge).
pub fn clear_cookie() -> String {
    Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> CookieKeys {
        CookieKeys(vec![[1; 32], [2; 32]])
    }

    fn pair(set: &str) -> String {
        set.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn cart_ids_round_trip_through_the_signed_cookie() {
        let id = new_cart_id([7; 16]);
        assert_eq!(id.len(), 22);
        let header = format!("theme=dark; {}", pair(&keys().set_cookie(&id)));
        assert_eq!(keys().cart_id(Some(&header)), Ok(Some(id.clone())));
        assert_eq!(keys().cart_id(Some("theme=dark")), Ok(None));
        assert_eq!(keys().cart_id(None), Ok(None));
        // Signed under a previous key: still valid after rotation.
        let old = CookieKeys(vec![[2; 32]]);
        assert_eq!(
            keys().cart_id(Some(&pair(&old.set_cookie(&id)))),
            Ok(Some(id))
        );
    }

    #[test]
    fn forged_and_malformed_cart_cookies_are_refused() {
        let id = new_cart_id([7; 16]);
        let other = new_cart_id([8; 16]);
        let wrong_key = CookieKeys(vec![[9; 32]]).value(&id);
        let swapped = format!("{other}.{}", keys().value(&id).split_once('.').unwrap().1);
        for bad in [
            "__Host-cart=short".to_owned(),
            "__Host-cart=../../../../etc/passwd".to_owned(),
            format!("__Host-cart={id}"),
            format!("__Host-cart={wrong_key}"),
            format!("__Host-cart={swapped}"),
            format!("__Host-cart={id}.!!!"),
        ] {
            assert_eq!(
                keys().cart_id(Some(&bad)).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_cookie_is_host_only_secure_and_http_only() {
        let c = keys().set_cookie(&new_cart_id([1; 16]));
        for part in [
            "__Host-cart=",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=2592000",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        assert!(!c.contains("Domain"));
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
