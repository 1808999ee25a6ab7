//! Catalog requests as the edge understands them: parsed, validated and
//! normalised, so equivalent URLs share one cache entry and anything odd is a
//! 400 that names the parameter before the origin sees it.

use percent_encoding::percent_decode_str;

use crate::error::EdgeError;

/// Longest query string accepted, in bytes.
pub const MAX_QUERY: usize = 1024;
/// Page size when none is given, and the largest allowed.
pub const DEFAULT_LIMIT: u32 = 24;
pub const MAX_LIMIT: u32 = 100;
/// Longest search phrase, in characters.
pub const MAX_SEARCH: usize = 100;

/// Parameters that only track campaigns; they never change the answer.
const TRACKING: [&str; 10] = [
    "gclid", "fbclid", "msclkid", "dclid", "yclid", "mc_cid", "mc_eid", "_ga", "igshid", "ref_src",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    Price,
    Newest,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Price => "price",
            Sort::Newest => "newest",
        }
    }
}

/// A catalog read, with every default made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogQuery {
    Categories,
    Product {
        sku: String,
    },
    Products {
        category: Option<String>,
        sort: Sort,
        limit: u32,
        cursor: Option<String>,
    },
    Search {
        q: String,
        limit: u32,
        cursor: Option<String>,
    },
}

fn bad(parameter: &str, why: &str) -> EdgeError {
    EdgeError::bad_request(format!("query parameter `{parameter}` {why}"))
}

/// Splits a raw query into decoded pairs, refusing malformed encodings,
/// non-UTF-8, repeats and unknown names; tracking parameters are dropped.
fn pairs(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, EdgeError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_QUERY {
        return Err(EdgeError::bad_request(format!(
            "the query string exceeds {MAX_QUERY} bytes"
        )));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode(name, name)?;
        let value = decode(value, &name)?;
        if name.starts_with("utm_") || TRACKING.contains(&name.as_str()) {
            continue;
        }
        if !allowed.contains(&name.as_str()) {
            return Err(bad(
                &name,
                &format!("is not known here (allowed: {})", allowed.join(", ")),
            ));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(bad(&name, "is given more than once"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// Strict percent-decoding: every `%` starts two hex digits, `+` is a space,
/// and the result is UTF-8.
fn decode(text: &str, parameter: &str) -> Result<String, EdgeError> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(bad(parameter, "has invalid percent-encoding"));
        }
    }
    let spaced = text.replace('+', " ");
    let decoded = percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| bad(parameter, "is not valid UTF-8"))?;
    // Nothing a catalog value means has a control character, and a page
    // must not carry one into its HTML.
    if decoded.chars().any(char::is_control) {
        return Err(bad(parameter, "contains control characters"));
    }
    Ok(decoded)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn limit(pairs: &[(String, String)]) -> Result<u32, EdgeError> {
    match get(pairs, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<u32>() {
            Ok(n @ 1..=MAX_LIMIT) => Ok(n),
            _ => Err(bad(
                "limit",
                &format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Cursors are opaque to the edge; the origin verifies them. Only their
/// shape is checked here so junk never reaches the origin or a cache key.
fn cursor(pairs: &[(String, String)]) -> Result<Option<String>, EdgeError> {
    match get(pairs, "cursor") {
        None => Ok(None),
        Some(c)
            if !c.is_empty()
                && c.len() <= 256
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            Ok(Some(c.to_owned()))
        }
        Some(_) => Err(bad("cursor", "is not a cursor this API issued")),
    }
}

/// A category slug: lowercase letters, digits and `-`, at most 64.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses `path` + `query` into a catalog read; `None` if the path is not one.
pub fn parse(path: &str, query: Option<&str>) -> Option<Result<CatalogQuery, EdgeError>> {
    let parsed = match path {
        "/api/categories" => pairs(query, &[]).map(|_| CatalogQuery::Categories),
        "/api/products" => (|| {
            let p = pairs(query, &["category", "sort", "limit", "cursor"])?;
            let category = match get(&p, "category") {
                None => None,
                Some(c) if valid_slug(c) => Some(c.to_owned()),
                Some(_) => {
                    return Err(bad(
                        "category",
                        "must be a category slug (lowercase letters, digits, '-')",
                    ));
                }
            };
            let sort = match get(&p, "sort").unwrap_or("name") {
                "name" => Sort::Name,
                "price" => Sort::Price,
                "newest" => Sort::Newest,
                _ => return Err(bad("sort", "must be one of name, price, newest")),
            };
            Ok(CatalogQuery::Products {
                category,
                sort,
                limit: limit(&p)?,
                cursor: cursor(&p)?,
            })
        })(),
        "/api/search" => (|| {
            let p = pairs(query, &["q", "limit", "cursor"])?;
            let q = get(&p, "q")
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            if q.is_empty() {
                return Err(bad("q", "is required"));
            }
            if q.chars().count() > MAX_SEARCH {
                return Err(bad("q", &format!("is longer than {MAX_SEARCH} characters")));
            }
            Ok(CatalogQuery::Search {
                q,
                limit: limit(&p)?,
                cursor: cursor(&p)?,
            })
        })(),
        _ => {
            let sku = path.strip_prefix("/api/products/")?;
            (|| {
                pairs(query, &[])?;
                super::validate_sku(sku)?;
                Ok(CatalogQuery::Product {
                    sku: sku.to_owned(),
                })
            })()
        }
    };
    Some(parsed)
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl CatalogQuery {
    /// The normalised path and query: parameters sorted, defaults explicit.
    /// It is both the cache key's path and the origin request's path.
    pub fn canonical(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        let path = match self {
            CatalogQuery::Categories => "/catalog/categories".to_owned(),
            CatalogQuery::Product { sku } => format!("/catalog/products/{sku}"),
            CatalogQuery::Products {
                category,
                sort,
                limit,
                cursor,
            } => {
                if let Some(c) = category {
                    params.push(("category", c.clone()));
                }
                params.push(("sort", sort.as_str().to_owned()));
                params.push(("limit", limit.to_string()));
                if let Some(c) = cursor {
                    params.push(("cursor", c.clone()));
                }
                "/catalog/products".to_owned()
            }
            CatalogQuery::Search { q, limit, cursor } => {
                params.push(("q", q.clone()));
                params.push(("limit", limit.to_string()));
                if let Some(c) = cursor {
                    params.push(("cursor", c.clone()));
                }
                "/catalog/search".to_owned()
            }
        };
        params.sort();
        if params.is_empty() {
            return path;
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("{path}?{}", query.join("&"))
    }

    /// Which cache policy (route) this read falls under.
    pub fn route(&self) -> CatalogRoute {
        match self {
            CatalogQuery::Categories => CatalogRoute::Categories,
            CatalogQuery::Product { .. } => CatalogRoute::Product,
            CatalogQuery::Products { .. } => CatalogRoute::Listing,
            CatalogQuery::Search { .. } => CatalogRoute::Search,
        }
    }
}

/// Catalog routes, each with its own cache windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogRoute {
    Categories,
    Product,
    Listing,
    Search,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str, query: Option<&str>) -> CatalogQuery {
        parse(path, query).unwrap().unwrap()
    }

    fn err(path: &str, query: &str) -> EdgeError {
        parse(path, Some(query)).unwrap().unwrap_err()
    }

    #[test]
    fn control_characters_are_refused_by_name() {
        let e = err("/api/search", "q=mug%00");
        assert_eq!(e.status(), 400);
        assert!(
            e.detail().contains("`q` contains control characters"),
            "{}",
            e.detail()
        );
        assert!(
            parse("/api/search", Some("q=caf%C3%A9+mug"))
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn equivalent_urls_share_one_key() {
        let a = ok("/api/products", Some("sort=price&category=kitchen"));
        let b = ok(
            "/api/products",
            Some("category=kitchen&utm_source=mail&gclid=x&sort=price&limit=24"),
        );
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(
            a.canonical(),
            "/catalog/products?category=kitchen&limit=24&sort=price"
        );
        assert_eq!(
            ok("/api/products", None).canonical(),
            "/catalog/products?limit=24&sort=name"
        );
        let s1 = ok("/api/search", Some("q=Oak++Knife"));
        let s2 = ok("/api/search", Some("q=oak%20knife&fbclid=1"));
        assert_eq!(s1.canonical(), s2.canonical());
        assert_eq!(s1.canonical(), "/catalog/search?limit=24&q=oak%20knife");
    }

    #[test]
    fn bad_parameters_are_named() {
        for (path, query, name) in [
            ("/api/products", "limit=0", "limit"),
            ("/api/products", "limit=101", "limit"),
            ("/api/products", "limit=ten", "limit"),
            ("/api/products", "sort=random", "sort"),
            ("/api/products", "category=Kitchen!", "category"),
            ("/api/products", "cursor=a%20b", "cursor"),
            ("/api/products", "colour=red", "colour"),
            ("/api/products", "sort=name&sort=price", "sort"),
            ("/api/products", "category=%zz", "category"),
            ("/api/products", "category=%ff", "category"),
            ("/api/search", "q=", "q"),
            ("/api/categories", "x=1", "x"),
        ] {
            let e = err(path, query);
            assert_eq!(e.status(), 400, "{query}");
            assert!(
                e.detail().contains(&format!("`{name}`")),
                "{query}: {}",
                e.detail()
            );
        }
        let long = format!("q={}", "a".repeat(MAX_SEARCH + 1));
        assert!(err("/api/search", &long).detail().contains("`q`"));
        assert!(
            err("/api/search", &"q=a&".repeat(300))
                .detail()
                .contains("exceeds")
        );
    }

    #[test]
    fn product_paths_validate_the_sku() {
        assert_eq!(
            ok("/api/products/KIT-0001", None),
            CatalogQuery::Product {
                sku: "KIT-0001".into()
            }
        );
        assert_eq!(
            parse("/api/products/bad%20sku", None)
                .unwrap()
                .unwrap_err()
                .status(),
            400
        );
        assert!(parse("/api/cart", None).is_none());
    }
}
