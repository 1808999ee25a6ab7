//! The session token: PASETO v4.local (XChaCha20 + BLAKE2b, via the
//! `pasetors` crate), its key named in the footer by its PASERK `lid`, so
//! the current key seals and every key of the ring opens. Expiry is checked
//! here against a time passed in: `pasetors`' own claim validation reads
//! the host clock, which panics on wasm32.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pasetors::Local;
use pasetors::keys::SymmetricKey;
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::token::UntrustedToken;
use pasetors::version4::{LocalToken, V4};
use serde::{Deserialize, Serialize};

/// Binds tokens to this use: a v4.local token made for anything else,
/// even under the same key, does not open as a session.
const IMPLICIT_ASSERTION: &[u8] = b"storefront-edge/session/v1";
/// Longer cookies are refused before any cryptography runs.
pub const MAX_TOKEN_LEN: usize = 2048;

/// What a session says about its customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionClaims {
    /// The customer's user id.
    pub sub: String,
    pub roles: Vec<String>,
    /// The customer's home region (data residency).
    pub region: String,
    /// This session's id; a login always makes a new one.
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Idle expiry: pushed forward while the session is in use.
    pub idle_exp: i64,
    /// Absolute expiry: never moves.
    pub exp: i64,
}

/// Why a token did not open. The edge treats every case as anonymous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    Malformed,
    UnknownKey,
    Invalid,
    Expired,
    NotYetValid,
    Seal,
}

struct RingKey {
    lid: String,
    key: SymmetricKey<V4>,
}

/// The session keys: the first seals, all open.
pub struct SessionKeys {
    keys: Vec<RingKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Footer {
    kid: String,
}

fn ring_key(b64: &str) -> Result<RingKey, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64.trim().trim_end_matches('='))
        .map_err(|_| "a session key is base64url".to_owned())?;
    if bytes.len() != 32 {
        return Err(format!(
            "a session key is 32 random bytes, not {}",
            bytes.len()
        ));
    }
    let mut distinct = bytes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 16 {
        return Err("a session key must be random (this one repeats too few byte values)".into());
    }
    let key = SymmetricKey::<V4>::from(&bytes).map_err(|_| "not a v4.local key".to_owned())?;
    let mut lid = String::new();
    Id::from(&key)
        .fmt(&mut lid)
        .map_err(|_| "could not name the key".to_owned())?;
    Ok(RingKey { lid, key })
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only, never key material.
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.lid))
            .finish()
    }
}

impl SessionKeys {
    /// Keys for another purpose derived from the session keys (HMAC-SHA256
    /// of `purpose` under each), current first: they rotate together.
    pub fn derive(&self, purpose: &str) -> Vec<[u8; 32]> {
        use hmac::{Hmac, Mac};
        self.keys
            .iter()
            .filter_map(|k| {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(k.key.as_bytes()).ok()?;
                mac.update(purpose.as_bytes());
                Some(mac.finalize().into_bytes().into())
            })
            .collect()
    }

    /// `current` seals; `previous` (comma-separated, may be empty) still
    /// opens, so rotating the key logs nobody out.
    pub fn from_config(current: &str, previous: &str) -> Result<Self, String> {
        let mut keys = vec![ring_key(current)?];
        for k in previous.split(',').filter(|k| !k.trim().is_empty()) {
            keys.push(ring_key(k)?);
        }
        Ok(Self { keys })
    }

    /// Seals `claims` under the current key.
    pub fn seal(&self, claims: &SessionClaims) -> Result<String, SessionError> {
        let current = self.keys.first().ok_or(SessionError::Seal)?;
        let message = serde_json::to_vec(claims).map_err(|_| SessionError::Seal)?;
        let footer = serde_json::to_vec(&Footer {
            kid: current.lid.clone(),
        })
        .map_err(|_| SessionError::Seal)?;
        LocalToken::encrypt(
            &current.key,
            &message,
            Some(&footer),
            Some(IMPLICIT_ASSERTION),
        )
        .map_err(|_| SessionError::Seal)
    }

    /// Opens a token and checks its times against `now` (Unix seconds).
    pub fn open(&self, token: &str, now: i64) -> Result<SessionClaims, SessionError> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(LocalToken::HEADER) {
            return Err(SessionError::Malformed);
        }
        let untrusted =
            UntrustedToken::<Local, V4>::try_from(token).map_err(|_| SessionError::Malformed)?;
        let footer: Footer = serde_json::from_slice(untrusted.untrusted_footer())
            .map_err(|_| SessionError::Malformed)?;
        let ring_key = self
            .keys
            .iter()
            .find(|k| k.lid == footer.kid)
            .ok_or(SessionError::UnknownKey)?;
        let trusted = LocalToken::decrypt(
            &ring_key.key,
            &untrusted,
            Some(untrusted.untrusted_footer()),
            Some(IMPLICIT_ASSERTION),
        )
        .map_err(|_| SessionError::Invalid)?;
        let claims: SessionClaims =
            serde_json::from_str(trusted.payload()).map_err(|_| SessionError::Invalid)?;
        if claims.iat > now + 60 {
            return Err(SessionError::NotYetValid);
        }
        if now >= claims.exp || now >= claims.idle_exp {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

    fn claims() -> SessionClaims {
        SessionClaims {
            sub: "user-1".into(),
            roles: vec!["customer".into()],
            region: "eu".into(),
            sid: "s-1".into(),
            iat: 1000,
            idle_exp: 1000 + 1800,
            exp: 1000 + 12 * 3600,
        }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let keys = SessionKeys::from_config(K1, "").unwrap();
        let token = keys.seal(&claims()).unwrap();
        assert!(token.starts_with("v4.local."));
        assert_eq!(keys.open(&token, 1001), Ok(claims()));
        assert_eq!(keys.open(&token, 1000 + 1800), Err(SessionError::Expired));
        assert_eq!(keys.open(&token, 900), Err(SessionError::NotYetValid));
    }

    #[test]
    fn rotation_keeps_old_sessions_and_retirement_ends_them() {
        let old = SessionKeys::from_config(K1, "").unwrap();
        let token = old.seal(&claims()).unwrap();
        let rotated = SessionKeys::from_config(K2, K1).unwrap();
        assert_eq!(rotated.open(&token, 1001), Ok(claims()));
        let fresh = rotated.seal(&claims()).unwrap();
        assert_eq!(rotated.open(&fresh, 1001), Ok(claims()));
        let retired = SessionKeys::from_config(K2, "").unwrap();
        assert_eq!(retired.open(&token, 1001), Err(SessionError::UnknownKey));
    }

    #[test]
    fn weak_or_malformed_keys_are_refused() {
        assert!(SessionKeys::from_config("", "").is_err());
        assert!(SessionKeys::from_config("c2hvcnQ", "").is_err());
        assert!(SessionKeys::from_config(&URL_SAFE_NO_PAD.encode([7u8; 32]), "").is_err());
        assert!(SessionKeys::from_config(K1, "not base64!").is_err());
    }

    #[test]
    fn a_footer_naming_the_key_cannot_be_swapped() {
        let keys = SessionKeys::from_config(K2, K1).unwrap();
        let token = keys.seal(&claims()).unwrap();
        let other = SessionKeys::from_config(K1, "")
            .unwrap()
            .seal(&claims())
            .unwrap();
        let (body, _) = token.rsplit_once('.').unwrap();
        let (_, other_footer) = other.rsplit_once('.').unwrap();
        assert_eq!(
            keys.open(&format!("{body}.{other_footer}"), 1001),
            Err(SessionError::Invalid)
        );
        assert_eq!(keys.open(body, 1001), Err(SessionError::Malformed));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Thousands of mutations of a valid token: none opens.
        #[test]
        fn no_mutation_of_a_token_opens(position in 0usize..400, byte in any::<u8>(), cut in 0usize..400, kind in 0u8..4) {
            let keys = SessionKeys::from_config(K1, "").unwrap();
            let token = keys.seal(&claims()).unwrap();
            let mut bytes = token.clone().into_bytes();
            let at = position % bytes.len();
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.truncate(cut % bytes.len()),
                2 => bytes.insert(at, byte),
                _ => { bytes.remove(at); }
            }
            prop_assume!(bytes != token.as_bytes());
            let mutated = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(keys.open(&mutated, 1001).is_err(), "{mutated} opened");
        }
    }
}
