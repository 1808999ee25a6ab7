//! The guest cart cookie: an unguessable id, HttpOnly, Secure, `__Host-`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};

use crate::error::EdgeError;

pub const COOKIE_NAME: &str = "__Host-cart";
/// How long a browser keeps the cart cookie (seconds): 30 days.
pub const COOKIE_MAX_AGE: i64 = 30 * 24 * 3600;

/// A cart id from 16 random bytes (128 bits): 22 base64url characters.
pub fn new_cart_id(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

fn is_cart_id(value: &str) -> bool {
    value.len() == 22 && URL_SAFE_NO_PAD.decode(value).is_ok_and(|b| b.len() == 16)
}

/// The cart id in a `Cookie` header, if any; a malformed one is a 400.
pub fn cart_id(cookie_header: Option<&str>) -> Result<Option<String>, EdgeError> {
    let Some(header) = cookie_header else {
        return Ok(None);
    };
    for cookie in Cookie::split_parse(header).flatten() {
        if cookie.name() == COOKIE_NAME {
            return if is_cart_id(cookie.value()) {
                Ok(Some(cookie.value().to_owned()))
            } else {
                Err(EdgeError::new(
                    400,
                    format!("the {COOKIE_NAME} cookie is not a cart id"),
                ))
            };
        }
    }
    Ok(None)
}

/// The `Set-Cookie` value that gives a browser its cart.
pub fn set_cookie(cart_id: &str) -> String {
    Cookie::build((COOKIE_NAME, cart_id))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(COOKIE_MAX_AGE))
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_ids_round_trip_through_the_cookie() {
        let id = new_cart_id([7; 16]);
        assert_eq!(id.len(), 22);
        let header = format!("theme=dark; {}", set_cookie(&id).split(';').next().unwrap());
        assert_eq!(cart_id(Some(&header)), Ok(Some(id)));
        assert_eq!(cart_id(Some("theme=dark")), Ok(None));
        assert_eq!(cart_id(None), Ok(None));
    }

    #[test]
    fn malformed_cart_cookies_are_refused() {
        for bad in [
            "__Host-cart=short",
            "__Host-cart=../../../../etc/passwd",
            "__Host-cart=!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(cart_id(Some(bad)).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_host_only_secure_and_http_only() {
        let c = set_cookie(&new_cart_id([1; 16]));
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
    }
}
