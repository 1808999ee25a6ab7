//! Catalog reads at the edge: which cache entry answers a request, whether
//! it is still fresh, and how the answer is reported (RFC 9211).

use sfv::{KeyRef, ListSerializer, TokenRef};

use crate::error::EdgeError;

/// How long the edge serves a product from its cache (seconds).
pub const PRODUCT_MAX_AGE: i64 = 60;
/// What browsers may keep (seconds); shorter, so the edge stays in charge.
pub const BROWSER_CACHE_CONTROL: &str = "public, max-age=30";
/// The cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "storefront-edge";
/// Response header recording when an entry was stored (Unix ms).
pub const STORED_AT_HEADER: &str = "x-edge-stored-at";

/// SKUs are 1-64 characters of letters, digits, `-` and `_`.
pub fn validate_sku(sku: &str) -> Result<(), EdgeError> {
    let ok = !sku.is_empty()
        && sku.len() <= 64
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EdgeError::new(
            400,
            "a SKU is 1-64 letters, digits, '-' or '_'",
        ))
    }
}

/// The Cache API key of a product. A fixed host keeps keys independent of
/// the hostname a customer used, so purges can name them later.
pub fn product_cache_key(sku: &str) -> String {
    format!("https://{CACHE_NAME}.cache/catalog/products/{sku}")
}

/// What a stored entry is worth now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it; `ttl` seconds remain.
    Fresh { ttl: i64 },
    /// Too old: fetch from the origin.
    Expired,
}

/// Freshness of an entry stored at `stored_at_ms`, at `now_ms`.
pub fn freshness(stored_at_ms: i64, max_age: i64, now_ms: i64) -> Freshness {
    let age = (now_ms - stored_at_ms).max(0) / 1000;
    if age < max_age {
        Freshness::Fresh { ttl: max_age - age }
    } else {
        Freshness::Expired
    }
}

/// `Cache-Status` for an answer served from the cache.
pub fn cache_status_hit(ttl: i64) -> String {
    let mut list = ListSerializer::new();
    let _ = list
        .bare_item(TokenRef::constant(CACHE_NAME))
        .parameter(KeyRef::constant("hit"), true)
        .parameter(
            KeyRef::constant("ttl"),
            sfv::Integer::try_from(ttl).unwrap_or(sfv::Integer::ZERO),
        );
    list.finish().unwrap_or_default()
}

/// `Cache-Status` for an answer fetched from the origin.
pub fn cache_status_forward(reason: &str, stored: bool) -> String {
    let mut list = ListSerializer::new();
    let token = TokenRef::from_str(reason).unwrap_or(TokenRef::constant("miss"));
    let mut item = list
        .bare_item(TokenRef::constant(CACHE_NAME))
        .parameter(KeyRef::constant("fwd"), token);
    if stored {
        item = item.parameter(KeyRef::constant("stored"), true);
    }
    drop(item);
    list.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_validated() {
        assert!(validate_sku("KIT-0001").is_ok());
        for bad in ["", "a b", "../etc", "x".repeat(65).as_str(), "KIT%2F1"] {
            assert_eq!(validate_sku(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn freshness_follows_age() {
        assert_eq!(freshness(0, 60, 59_999), Freshness::Fresh { ttl: 1 });
        assert_eq!(freshness(0, 60, 60_000), Freshness::Expired);
        assert_eq!(
            freshness(10_000, 60, 0),
            Freshness::Fresh { ttl: 60 },
            "clock skew never makes age negative"
        );
    }

    #[test]
    fn cache_status_is_an_rfc9211_list() {
        assert_eq!(cache_status_hit(42), "storefront-edge;hit;ttl=42");
        assert_eq!(
            cache_status_forward("uri-miss", true),
            "storefront-edge;fwd=uri-miss;stored"
        );
        assert_eq!(
            cache_status_forward("uri-miss", false),
            "storefront-edge;fwd=uri-miss"
        );
    }
}
