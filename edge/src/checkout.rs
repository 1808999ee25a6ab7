//! Cart versions as entity tags (`ETag`, `If-Match`). What the orders
//! origin's answer means for a frozen cart is
//! [`durable_objects::cart_api::verdict`], shared with the outbox.

use origin_adapter::wire::is_safe_integer;

/// A cart version as a strong entity tag: `"v7"`.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Reads `If-Match` (RFC 9110 §13.1.1): `None` when absent or `*`;
/// otherwise the version named. A tag that is not one of ours can never
/// match, so it is a version no cart has (`-1`), and the change gets 412.
pub fn if_match(header: Option<&str>) -> Option<i64> {
    let value = header?.trim();
    if value == "*" {
        return None;
    }
    // A number no cart can reach (past 2^53) matches nothing, like a
    // foreign tag: it never crosses into the cart object.
    let version = value.split(',').map(str::trim).find_map(|tag| {
        tag.strip_prefix("\"v")?
            .strip_suffix('"')?
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0 && is_safe_integer(*v))
    });
    Some(version.unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_our_tags_and_nothing_else_matches() {
        assert_eq!(if_match(None), None);
        assert_eq!(if_match(Some("*")), None);
        assert_eq!(if_match(Some("\"v7\"")), Some(7));
        assert_eq!(if_match(Some("\"x\", \"v3\"")), Some(3));
        assert_eq!(
            if_match(Some("W/\"v7\"")),
            Some(-1),
            "weak tags never match"
        );
        assert_eq!(if_match(Some("v7")), Some(-1));
        assert_eq!(etag(7), "\"v7\"");
        assert_eq!(if_match(Some(&etag(12))), Some(12));
        assert_eq!(if_match(Some("\"v9007199254740993\"")), Some(-1));
        assert_eq!(if_match(Some("\"v99999999999999999999\"")), Some(-1));
        assert_eq!(if_match(Some("\"v-3\"")), Some(-1));
    }
}
