//! An origin's signed purge, decided: verified like any RFC 9421 request
//! under the origins' keys (label `origin`, its own tag, replayed nonces
//! refused by this isolate), then read and checked, giving the tags and
//! keys to delete. The shell reads the body and deletes.

use std::cell::RefCell;

use origin_adapter::digest::verify_content_digest;
use origin_adapter::keys::KeyRing;
use origin_adapter::purge::{SIGNATURE_LIFETIME, covered_components, purge_policy};
use origin_adapter::replay::{NonceRefused, SeenNonces};
use origin_adapter::signature::{RequestView, verify};
use origin_adapter::wire::PurgeRequest;

use crate::catalog::query::valid_slug;
use crate::catalog::tags::{purge_keys, purge_tags};
use crate::catalog::validate_sku;
use crate::error::EdgeError;
use crate::request_body::parse_json;

/// Most SKUs or categories one purge may name.
pub const MAX_NAMES: usize = 100;

thread_local! {
    /// Purge nonces seen by this isolate within their signatures' lifetime.
    static SEEN: RefCell<SeenNonces> = RefCell::new(SeenNonces::new(100_000));
}

/// What a purge deletes, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    pub keyid: String,
    /// Entries carrying these tags go (through the tag indexes).
    pub tags: Vec<String>,
    /// These keys go by name (each SKU's product entry).
    pub keys: Vec<String>,
}

fn unauthorized(detail: impl Into<String>) -> EdgeError {
    EdgeError::unauthorized(detail)
}

/// Where a purge was sent: `host[:port]`, path and query, as signed.
pub struct Target<'a> {
    pub authority: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// The purge a `POST` to `at` asks for, with `headers` (names lower-case)
/// and `body`, verified at Unix second `now` under `keys`.
pub fn decide(
    keys: &KeyRing,
    at: &Target<'_>,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<Purge, EdgeError> {
    let field = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let digest =
        field("content-digest").ok_or_else(|| unauthorized("the purge has no Content-Digest"))?;
    verify_content_digest(digest, body).map_err(|e| unauthorized(e.to_string()))?;
    let view = RequestView {
        method: "POST",
        authority: at.authority,
        path: at.path,
        query: at.query,
        fields: headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
    };
    let required = covered_components();
    let verified = verify(&view, &purge_policy(&required), keys, now)
        .map_err(|e| unauthorized(e.to_string()))?;
    let forget_after =
        verified.created + SIGNATURE_LIFETIME.max(verified.expires - verified.created) + 5;
    let accepted = SEEN.with(|seen| {
        seen.borrow_mut()
            .accept(&verified.keyid, &verified.nonce, forget_after, now)
    });
    match accepted {
        Ok(()) => {}
        Err(NonceRefused::Replayed) => {
            return Err(unauthorized("this purge's nonce was already used (replay)"));
        }
        Err(NonceRefused::Full) => {
            return Err(EdgeError::unavailable("too many purges; retry shortly"));
        }
    }
    let purge = checked(parse_json(body)?)?;
    Ok(Purge {
        keyid: verified.keyid,
        tags: purge_tags(&purge),
        keys: purge_keys(&purge),
    })
}

/// A purge's names, within the limits and well formed.
fn checked(purge: PurgeRequest) -> Result<PurgeRequest, EdgeError> {
    if purge.skus.len() > MAX_NAMES || purge.categories.len() > MAX_NAMES {
        return Err(EdgeError::bad_request(format!(
            "a purge names at most {MAX_NAMES} SKUs and {MAX_NAMES} categories"
        )));
    }
    for sku in &purge.skus {
        validate_sku(sku)?;
    }
    if let Some(bad) = purge.categories.iter().find(|c| !valid_slug(c)) {
        return Err(EdgeError::bad_request(format!(
            "{bad:?} is not a category slug"
        )));
    }
    Ok(purge)
}

#[cfg(test)]
mod tests {
    use origin_adapter::keys::SigningKey;
    use origin_adapter::purge::signed_purge_headers;

    use super::*;

    const AT: Target<'static> = Target {
        authority: "edge.example",
        path: "/api/purge",
        query: None,
    };

    fn signed(key: &SigningKey, body: &[u8], now: i64, nonce: &str) -> Vec<(String, String)> {
        signed_purge_headers("edge.example", "/api/purge", body, key, now, nonce)
            .expect("signs")
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect()
    }

    #[test]
    fn a_signed_purge_names_its_tags_and_product_keys_once() {
        let key = SigningKey::from_seed("origin-1", [5; 32]);
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        let body = br#"{"skus":["KIT-0001"],"categories":["kitchen"]}"#;
        let now = 1_800_000_000;
        let headers = signed(&key, body, now, "purge-nonce-1");
        let purge = decide(&ring, &AT, &headers, body, now).unwrap();
        assert_eq!(purge.keyid, "origin-1");
        assert!(purge.tags.contains(&"sku:KIT-0001".to_owned()));
        assert_eq!(purge.keys.len(), 1);
        let replay = decide(&ring, &AT, &headers, body, now).unwrap_err();
        assert!(replay.detail().contains("replay"), "{replay}");
    }

    #[test]
    fn unsigned_tampered_or_oversized_purges_are_refused() {
        let key = SigningKey::from_seed("origin-1", [5; 32]);
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        let now = 1_800_000_000;
        let body = br#"{"skus":["KIT-0001"],"categories":[]}"#;
        assert_eq!(
            decide(&ring, &AT, &[], body, now).unwrap_err().status(),
            401
        );
        let headers = signed(&key, body, now, "purge-nonce-2");
        let tampered = br#"{"skus":["KIT-0002"],"categories":[]}"#;
        let e = decide(&ring, &AT, &headers, tampered, now).unwrap_err();
        assert_eq!(e.status(), 401);
        let many = serde_json::json!({"skus": vec!["A"; MAX_NAMES + 1], "categories": []});
        let many = serde_json::to_vec(&many).unwrap();
        let headers = signed(&key, &many, now, "purge-nonce-3");
        assert_eq!(
            decide(&ring, &AT, &headers, &many, now)
                .unwrap_err()
                .status(),
            400
        );
    }
}
