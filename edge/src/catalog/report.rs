//! What the edge tells clients about a catalog answer: `Cache-Status`
//! (RFC 9211), `ETag` and `If-None-Match` (RFC 9110), `Server-Timing`,
//! `Cache-Tag`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sfv::{KeyRef, ListSerializer, TokenRef};
use sha2::{Digest as _, Sha256};

/// The cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "storefront-edge";

/// How the answer was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// From the cache, fresh or within stale-while-revalidate (`ttl` < 0).
    Hit { ttl: i64 },
    /// From the origin after a miss; `stored` if it was cached.
    Miss { stored: bool },
    /// From the origin, replacing a stale entry.
    Refreshed { stored: bool },
    /// The stale entry, because the origin failed with `status`.
    StaleOnError { ttl: i64, origin_status: u16 },
}

fn integer(n: i64) -> sfv::Integer {
    sfv::Integer::try_from(n).unwrap_or(sfv::Integer::ZERO)
}

/// The `Cache-Status` field value for `outcome`.
pub fn cache_status(outcome: Outcome) -> String {
    let mut list = ListSerializer::new();
    let item = list.bare_item(TokenRef::constant(CACHE_NAME));
    let _ = match outcome {
        Outcome::Hit { ttl } => item
            .parameter(KeyRef::constant("hit"), true)
            .parameter(KeyRef::constant("ttl"), integer(ttl)),
        Outcome::Miss { stored } | Outcome::Refreshed { stored } => {
            let reason = if matches!(outcome, Outcome::Miss { .. }) {
                "uri-miss"
            } else {
                "stale"
            };
            let item = item.parameter(KeyRef::constant("fwd"), TokenRef::constant(reason));
            if stored {
                item.parameter(KeyRef::constant("stored"), true)
            } else {
                item
            }
        }
        Outcome::StaleOnError { ttl, origin_status } => item
            .parameter(KeyRef::constant("hit"), true)
            .parameter(KeyRef::constant("fwd"), TokenRef::constant("stale"))
            .parameter(
                KeyRef::constant("fwd-status"),
                integer(i64::from(origin_status)),
            )
            .parameter(KeyRef::constant("ttl"), integer(ttl)),
    };
    list.finish().unwrap_or_default()
}

/// A strong entity tag from the body's SHA-256.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..18]))
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `*` or any
/// listed tag equal to `etag` once `W/` is set aside.
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(header) = if_none_match else {
        return false;
    };
    let ours = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == ours)
}

/// `Server-Timing` with the edge's whole time and the origin's, if asked.
pub fn server_timing(edge_ms: i64, origin_ms: Option<i64>) -> String {
    match origin_ms {
        Some(o) => format!("edge;dur={edge_ms}, origin;dur={o}"),
        None => format!("edge;dur={edge_ms}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_says_how_the_answer_was_obtained() {
        assert_eq!(
            cache_status(Outcome::Hit { ttl: 42 }),
            "storefront-edge;hit;ttl=42"
        );
        assert_eq!(
            cache_status(Outcome::Hit { ttl: -3 }),
            "storefront-edge;hit;ttl=-3"
        );
        assert_eq!(
            cache_status(Outcome::Miss { stored: true }),
            "storefront-edge;fwd=uri-miss;stored"
        );
        assert_eq!(
            cache_status(Outcome::Refreshed { stored: false }),
            "storefront-edge;fwd=stale"
        );
        assert_eq!(
            cache_status(Outcome::StaleOnError {
                ttl: -120,
                origin_status: 502
            }),
            "storefront-edge;hit;fwd=stale;fwd-status=502;ttl=-120"
        );
    }

    #[test]
    fn etags_are_strong_and_match_weakly() {
        let tag = etag(b"{}");
        assert!(tag.starts_with('"') && tag.ends_with('"') && !tag.starts_with("W/"));
        assert_ne!(tag, etag(b"{ }"));
        assert!(not_modified(Some(&tag), &tag));
        assert!(not_modified(Some(&format!("\"x\", W/{tag}")), &tag));
        assert!(not_modified(Some("*"), &tag));
        assert!(!not_modified(Some("\"x\""), &tag));
        assert!(!not_modified(None, &tag));
    }

    #[test]
    fn server_timing_lists_what_was_measured() {
        assert_eq!(server_timing(5, Some(3)), "edge;dur=5, origin;dur=3");
        assert_eq!(server_timing(1, None), "edge;dur=1");
    }
}
