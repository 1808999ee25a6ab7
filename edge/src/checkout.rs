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
    let version = value
        .split(',')
        .map(str::trim)
        .find_map(|tag| tagged_version(tag, 'v'));
    Some(version.unwrap_or(-1))
}

/// The version a strong entity tag of ours names: `"<prefix><n>"`, `n`
/// written as `format!("{n}")` would (tags compare as strings, so `"v01"`
/// is not `"v1"`) and within 2^53 — a number past it could not cross into
/// a Durable Object unchanged. `None` for anything else.
pub fn tagged_version(tag: &str, prefix: char) -> Option<i64> {
    let digits = tag
        .strip_prefix('"')?
        .strip_prefix(prefix)?
        .strip_suffix('"')?;
    let version = digits.parse::<i64>().ok()?;
    (version >= 0 && is_safe_integer(version) && version.to_string() == digits).then_some(version)
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
        assert_eq!(
            if_match(Some("\"v01\"")),
            Some(-1),
            "tags compare as strings"
        );
        assert_eq!(if_match(Some("\"v+1\"")), Some(-1));
        assert_eq!(tagged_version("\"f0\"", 'f'), Some(0));
        assert_eq!(tagged_version("\"f00\"", 'f'), None);
        assert_eq!(tagged_version("\"f9007199254740993\"", 'f'), None);
        assert_eq!(tagged_version("\"v7\"", 'f'), None);
    }
}
