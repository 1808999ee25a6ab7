//! Catalog reads at the edge, as plain decisions: which request it is
//! ([`query`]), how long an answer may be served ([`freshness`]), what it
//! depends on ([`tags`]), how that is reported ([`report`]) and how
//! concurrent misses share one fetch ([`coalesce`]).

pub mod coalesce;
pub mod freshness;
pub mod parked;
pub mod query;
pub mod report;
pub mod tags;

use crate::error::EdgeError;
use freshness::Windows;
use query::CatalogRoute;

/// What browsers may keep; short, so the edge stays in charge of freshness.
pub const BROWSER_CACHE_CONTROL: &str = "public, max-age=30";

/// Default windows per route (RFC 5861); each can be overridden by config,
/// and the origin's own Cache-Control wins where it speaks.
pub fn default_windows(route: CatalogRoute) -> Windows {
    let (max_age, stale_while_revalidate, stale_if_error) = match route {
        CatalogRoute::Product => (60, 60, 86_400),
        CatalogRoute::Listing => (30, 30, 3_600),
        CatalogRoute::Search => (30, 30, 600),
        CatalogRoute::Categories => (300, 300, 86_400),
    };
    Windows {
        max_age,
        stale_while_revalidate,
        stale_if_error,
    }
}

/// How long an unknown SKU is remembered as unknown (negative caching).
pub const MISSING_MAX_AGE: i64 = 10;

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
        Err(EdgeError::bad_request(
            "a SKU is 1-64 letters, digits, '-' or '_'",
        ))
    }
}

/// The Cache API key of a normalised catalog path. A fixed host keeps keys
/// independent of the hostname a customer used, so purges can name them.
pub fn cache_key(canonical: &str) -> String {
    format!("https://{}.cache{canonical}", report::CACHE_NAME)
}

/// The Cache API key of a tag's index (the keys that carry the tag).
pub fn tag_index_key(tag: &str) -> String {
    let safe = percent_encoding::utf8_percent_encode(tag, percent_encoding::NON_ALPHANUMERIC);
    format!("https://{}.cache/_tags/{safe}", report::CACHE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_validated() {
        assert!(validate_sku("KIT-0001").is_ok());
        for bad in ["", "a b", "../etc", "x".repeat(65).as_str(), "KIT%2F1"] {
            assert_eq!(validate_sku(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn keys_live_under_one_internal_host() {
        assert_eq!(
            cache_key("/catalog/products/A"),
            "https://storefront-edge.cache/catalog/products/A"
        );
        assert_eq!(
            tag_index_key("sku:A-1"),
            "https://storefront-edge.cache/_tags/sku%3AA%2D1"
        );
        assert_ne!(tag_index_key("category:*"), tag_index_key("category:~"));
    }
}
