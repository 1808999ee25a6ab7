//! Ed25519 keys as they appear in configuration.
//!
//! One textual form for every key, so secrets, `.dev.vars` and error
//! messages all speak the same language:
//!
//! * a signing key (a secret of the signer): `<key id>:<base64url seed>`;
//! * a key ring (public, held by the verifier): `<key id>:<base64url public key>`
//!   entries separated by commas, so a new key can be added before the old
//!   one is retired.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;

/// A bad key in configuration; the message says which form was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

fn split_entry<'a>(entry: &'a str, what: &str) -> Result<(&'a str, [u8; 32]), KeyError> {
    let shape = || KeyError(format!("expected `<key id>:<base64url 32-byte {what}>`"));
    let (id, b64) = entry.trim().split_once(':').ok_or_else(shape)?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !id_ok {
        return Err(KeyError(
            "key id must be 1-64 characters of [A-Za-z0-9-_.]".into(),
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| shape())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| shape())?;
    Ok((id, bytes))
}

/// The signer's secret key and the id verifiers know it by.
#[derive(Clone)]
pub struct SigningKey {
    keyid: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret half.
        f.debug_struct("SigningKey")
            .field("keyid", &self.keyid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses `<key id>:<base64url 32-byte seed>`.
    pub fn from_config(value: &str) -> Result<Self, KeyError> {
        let (id, seed) = split_entry(value, "Ed25519 seed")?;
        Ok(Self::from_seed(id, seed))
    }

    /// A key from 32 random bytes the caller obtained.
    pub fn from_seed(keyid: &str, seed: [u8; 32]) -> Self {
        Self {
            keyid: keyid.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    pub(crate) fn key(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }

    /// The configuration form of this secret key.
    pub fn to_config(&self) -> String {
        format!(
            "{}:{}",
            self.keyid,
            URL_SAFE_NO_PAD.encode(self.key.to_bytes())
        )
    }

    /// The public half, as a verifier's key-ring entry.
    pub fn verifying_entry(&self) -> VerifyingKeyEntry {
        VerifyingKeyEntry {
            keyid: self.keyid.clone(),
            key: self.key.verifying_key(),
        }
    }
}

/// One public key in a verifier's ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKeyEntry {
    pub keyid: String,
    pub key: VerifyingKey,
}

impl VerifyingKeyEntry {
    /// Parses `<key id>:<base64url 32-byte public key>`.
    pub fn from_config(value: &str) -> Result<Self, KeyError> {
        let (id, bytes) = split_entry(value, "Ed25519 public key")?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError(format!("key {id:?} is not a valid Ed25519 public key")))?;
        Ok(Self {
            keyid: id.to_owned(),
            key,
        })
    }

    pub fn to_config(&self) -> String {
        format!(
            "{}:{}",
            self.keyid,
            URL_SAFE_NO_PAD.encode(self.key.as_bytes())
        )
    }
}

/// The public keys a verifier accepts, by key id.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    entries: Vec<VerifyingKeyEntry>,
}

impl KeyRing {
    /// Parses comma-separated entries; refuses an empty ring and duplicate ids.
    pub fn from_config(value: &str) -> Result<Self, KeyError> {
        let mut entries: Vec<VerifyingKeyEntry> = Vec::new();
        for part in value.split(',').filter(|p| !p.trim().is_empty()) {
            let entry = VerifyingKeyEntry::from_config(part)?;
            if entries.iter().any(|e| e.keyid == entry.keyid) {
                return Err(KeyError(format!("key id {:?} appears twice", entry.keyid)));
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(KeyError("the key ring is empty".into()));
        }
        Ok(Self { entries })
    }

    pub fn get(&self, keyid: &str) -> Option<&VerifyingKey> {
        self.entries
            .iter()
            .find(|e| e.keyid == keyid)
            .map(|e| &e.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_round_trips_through_config() {
        let key = SigningKey::from_seed("edge-1", [9; 32]);
        let again = SigningKey::from_config(&key.to_config()).unwrap();
        assert_eq!(again.verifying_entry(), key.verifying_entry());
        assert!(!format!("{key:?}").contains(&key.to_config()[7..]));
    }

    #[test]
    fn key_ring_holds_several_keys_for_rotation() {
        let a = SigningKey::from_seed("a", [1; 32])
            .verifying_entry()
            .to_config();
        let b = SigningKey::from_seed("b", [2; 32])
            .verifying_entry()
            .to_config();
        let ring = KeyRing::from_config(&format!("{a}, {b}")).unwrap();
        assert!(ring.get("a").is_some() && ring.get("b").is_some() && ring.get("c").is_none());
    }

    #[test]
    fn bad_configuration_says_what_was_expected() {
        for bad in ["", "noseparator", "id:short", ":AAAA", "bad id!:AAAA"] {
            assert!(SigningKey::from_config(bad).is_err(), "{bad}");
        }
        assert!(KeyRing::from_config(" , ").is_err());
        let a = SigningKey::from_seed("a", [1; 32])
            .verifying_entry()
            .to_config();
        let err = KeyRing::from_config(&format!("{a},{a}")).unwrap_err();
        assert!(err.0.contains("twice"));
    }
}
