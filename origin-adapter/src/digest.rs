//! RFC 9530 `Content-Digest`.
//!
//! The edge always sends `sha-256`; a verifier accepts `sha-256` or
//! `sha-512` and requires every algorithm it knows in the field to match.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sfv::{BareItem, Dictionary, ListEntry, Parser};
use sha2::{Digest as _, Sha256, Sha512};

/// The `Content-Digest` field value of `body`, with SHA-256.
pub fn content_digest(body: &[u8]) -> String {
    let sum = Sha256::digest(body);
    format!("sha-256=:{}:", STANDARD.encode(sum))
}

/// What identifies a request's payload for idempotency (the draft's
/// "fingerprint"): method, path and the body's `Content-Digest` — what the
/// client sent, never metadata the receiver adds. The origin's idempotency
/// layer and the cart's request ids both use it.
pub fn fingerprint(method: &str, path: &str, content_digest: &str) -> String {
    format!("{method} {path} {}", content_digest.trim())
}

/// Why a `Content-Digest` did not vouch for a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// The field is not a structured-field dictionary.
    Malformed,
    /// No algorithm we accept (`sha-256`, `sha-512`) is present.
    NoKnownAlgorithm,
    /// A known algorithm's value does not match the body.
    Mismatch,
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DigestError::Malformed => "Content-Digest is not a valid structured-field dictionary",
            DigestError::NoKnownAlgorithm => "Content-Digest has neither sha-256 nor sha-512",
            DigestError::Mismatch => "Content-Digest does not match the body",
        })
    }
}

/// Checks that `field` (a `Content-Digest` value) matches `body`.
pub fn verify_content_digest(field: &str, body: &[u8]) -> Result<(), DigestError> {
    let dict: Dictionary = Parser::new(field)
        .parse()
        .map_err(|_| DigestError::Malformed)?;
    let mut checked = 0;
    for (algorithm, entry) in &dict {
        let expected: Vec<u8> = match algorithm.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        let ListEntry::Item(item) = entry else {
            return Err(DigestError::Malformed);
        };
        let BareItem::ByteSequence(got) = &item.bare_item else {
            return Err(DigestError::Malformed);
        };
        if *got != expected {
            return Err(DigestError::Mismatch);
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(DigestError::NoKnownAlgorithm);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9530 section 2 and Appendix B.
    const HELLO: &[u8] = br#"{"hello": "world"}"#;
    const HELLO_SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    const HELLO_SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn rfc9530_sha256_vector() {
        assert_eq!(content_digest(HELLO), HELLO_SHA256);
    }

    #[test]
    fn rfc9530_vectors_verify() {
        assert_eq!(verify_content_digest(HELLO_SHA256, HELLO), Ok(()));
        assert_eq!(verify_content_digest(HELLO_SHA512, HELLO), Ok(()));
        let both = format!("{HELLO_SHA256}, {HELLO_SHA512}");
        assert_eq!(verify_content_digest(&both, HELLO), Ok(()));
    }

    #[test]
    fn rfc9530_empty_body_vector() {
        // RFC 9530 Appendix B.1: the empty representation.
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn tampered_body_is_refused() {
        assert_eq!(
            verify_content_digest(HELLO_SHA256, br#"{"hello": "World"}"#),
            Err(DigestError::Mismatch)
        );
    }

    #[test]
    fn one_wrong_algorithm_spoils_the_field() {
        let wrong512 = "sha-512=:AAAA:";
        let field = format!("{HELLO_SHA256}, {wrong512}");
        assert_eq!(
            verify_content_digest(&field, HELLO),
            Err(DigestError::Mismatch)
        );
    }

    #[test]
    fn unknown_or_malformed_fields_are_refused() {
        assert_eq!(
            verify_content_digest("md5=:AAAA:", HELLO),
            Err(DigestError::NoKnownAlgorithm)
        );
        assert_eq!(
            verify_content_digest("sha-256=\"nope\"", HELLO),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            verify_content_digest("((", HELLO),
            Err(DigestError::Malformed)
        );
    }
}
