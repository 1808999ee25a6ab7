//! QA overrides: a tester forces variants with a token the shop signed
//! (`POST /admin/flags/overrides`), sent as the `x-flag-override` header or
//! the `__Host-flag-override` cookie. The token is
//! `<base64url JSON {"v": {flag: variant}, "exp": unix seconds}>.<HMAC>`;
//! anything unsigned, altered or expired is ignored, never an error.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const HEADER: &str = "x-flag-override";
pub const COOKIE: &str = "__Host-flag-override";
/// What the signing key is derived for (from `ADMIN_TOKEN`).
pub const KEY_PURPOSE: &str = "storefront-edge flag override v1";
/// The longest an override token lives, seconds.
pub const MAX_LIFETIME: i64 = 7 * 86_400;

#[derive(Serialize, Deserialize)]
struct Claims {
    v: BTreeMap<String, String>,
    exp: i64,
}

/// The key override tokens are signed with, from the admin token.
pub fn key(admin_token: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(admin_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(KEY_PURPOSE.as_bytes());
    mac.finalize().into_bytes().into()
}

fn tag(key: &[u8; 32], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(payload.as_bytes());
    mac
}

/// A token forcing `variants` until `expires` (Unix seconds).
pub fn sign(variants: &BTreeMap<String, String>, expires: i64, key: &[u8; 32]) -> String {
    let claims = Claims {
        v: variants.clone(),
        exp: expires,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let mac = URL_SAFE_NO_PAD.encode(tag(key, &payload).finalize().into_bytes());
    format!("{payload}.{mac}")
}

/// The forced variants of a valid, unexpired token; `None` for anything else.
pub fn verify(token: &str, key: &[u8; 32], now: i64) -> Option<BTreeMap<String, String>> {
    let (payload, mac) = token.trim().split_once('.')?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    tag(key, payload).verify_slice(&mac).ok()?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.exp > now).then_some(claims.v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signed_unexpired_tokens_count() {
        let k = key("an admin token that is long enough!!");
        let v = BTreeMap::from([("new-checkout-flow".to_owned(), "new".to_owned())]);
        let t = sign(&v, 2_000, &k);
        assert_eq!(verify(&t, &k, 1_999), Some(v.clone()));
        assert_eq!(verify(&t, &k, 2_000), None, "expired");
        assert_eq!(
            verify(&t, &key("another admin token, long enough!!"), 1_000),
            None
        );
        let (payload, mac) = t.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"v":{"maintenance-mode":"on"},"exp":9999999999}"#);
        assert_eq!(verify(&format!("{forged}.{mac}"), &k, 1_000), None);
        assert_eq!(verify(payload, &k, 1_000), None, "unsigned");
        assert_eq!(verify("garbage", &k, 1_000), None);
    }
}
