//! A request as the edge reads it, parsed once at the entry: method as
//! sent, path and query, the cookies the edge knows, the headers its rules
//! read, where it comes from, and the ids every log line and forwarded
//! request carries. Handlers read this, never the platform's request
//! headers (they read only its body, through the bounded reader).

use cookie::Cookie;
use origin_adapter::trace::TraceParent;

use crate::config::Environment;
use crate::flags::overrides;
use crate::forwarding::region::{Location, location};
use crate::session::rules::{SESSION_COOKIE, session_token_among};

/// The anonymous id cookie: a guest's bucket for rollouts.
pub const ANONYMOUS_COOKIE: &str = "__Host-anon";

/// `Set-Cookie` for a guest's anonymous id (a year, host-only, HttpOnly).
pub fn anonymous_cookie(id: &str) -> String {
    Cookie::build((ANONYMOUS_COOKIE, id))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::days(365))
        .build()
        .to_string()
}

/// One request, parsed.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// As sent (`PROPFIND` stays `PROPFIND`).
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `scheme://host[:port]` of the URL the client used.
    pub own_origin: String,
    /// Every header as received, names lower-case (a signature covers
    /// fields by name; the purge verifies against these).
    pub headers: Vec<(String, String)>,
    /// The whole `Cookie` header (the cart cookie is opened with the
    /// configuration's keys).
    pub cookie: Option<String>,
    /// The `__Host-session` token, if exactly one well-formed one came.
    pub session_token: Option<String>,
    /// The `__Host-anon` id, if well formed.
    pub anonymous_id: Option<String>,
    /// A QA override token: the header, else the cookie.
    pub flag_override: Option<String>,
    /// This request's id (32 hex digits), for logs and origins.
    pub request_id: String,
    /// The edge's span, child of the client's `traceparent` if it sent one.
    pub trace: TraceParent,
    /// Where the platform says the request comes from.
    platform: Location,
}

/// `scheme://host[:port]`, the path and the query of an absolute URL as
/// the runtime serialises a request's (WHATWG: host lower-case, default
/// port dropped, path percent-encoded); `None` for anything else.
pub fn split_url(url: &str) -> Option<(String, String, Option<String>)> {
    let p = origin_adapter::signature::split_url(url)?;
    Some((
        format!("{}://{}", p.scheme, p.authority),
        p.path.to_owned(),
        p.query.map(str::to_owned),
    ))
}

/// The method and path of a head ([`Incoming::from_head`]): all routing
/// needs, read before any header is.
pub fn method_and_path(head: &str) -> Option<(&str, &str)> {
    let mut lines = head.split('\n');
    let method = lines.next()?;
    let parts = origin_adapter::signature::split_url(lines.next()?)?;
    Some((method, parts.path))
}

/// A request id: 16 random bytes as 32 lower-case hexadecimal digits.
pub fn request_id(bytes: &[u8; 16]) -> String {
    origin_adapter::trace::to_hex(bytes)
}

impl Incoming {
    /// Parses the request head the JavaScript entry hands over in one
    /// string (one crossing, whatever the number of headers): the method,
    /// the URL, the platform's country and continent (empty when unknown),
    /// then one `name:value` line per header. `ids` as for [`Self::parse`].
    /// `None` when the head is malformed (the entry answers 400).
    pub fn from_head(head: &str, ids: ([u8; 16], [u8; 16], [u8; 8])) -> Option<Self> {
        let mut lines = head.split('\n');
        let method = lines.next()?.to_owned();
        let url = lines.next()?;
        let known = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let platform = Location {
            country: known(lines.next()?),
            continent: known(lines.next()?),
        };
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self::parse(method, url, headers, platform, ids)
    }

    /// Parses a request from what the platform hands over: the method as
    /// sent, the absolute URL, the headers and the platform's location.
    /// `ids` are 16 random bytes for the request id, then 16 and 8 for the
    /// trace. `None` when the URL is not absolute.
    pub fn parse(
        method: String,
        url: &str,
        headers: Vec<(String, String)>,
        platform: Location,
        ids: ([u8; 16], [u8; 16], [u8; 8]),
    ) -> Option<Self> {
        let (own_origin, path, query) = split_url(url)?;
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let cookie = find("cookie");
        // The Cookie header is split once; each cookie the edge knows is
        // picked from that one pass.
        let mut sessions = Vec::new();
        let (mut anonymous_id, mut override_cookie) = (None, None);
        for c in cookie
            .iter()
            .flat_map(|h| Cookie::split_parse(h.as_str()).flatten())
        {
            match c.name() {
                SESSION_COOKIE => sessions.push(c.value().to_owned()),
                ANONYMOUS_COOKIE if anonymous_id.is_none() => {
                    anonymous_id = Some(c.value().to_owned());
                }
                overrides::COOKIE if override_cookie.is_none() => {
                    override_cookie = Some(c.value().to_owned());
                }
                _ => {}
            }
        }
        let anonymous_id = anonymous_id.filter(|v| {
            v.len() == 22
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        let flag_override = find(overrides::HEADER).or(override_cookie);
        let client_trace = find("traceparent").and_then(|v| TraceParent::parse(&v));
        let (request_id, trace_id, span_id) = ids;
        let request_id_of = self::request_id;
        Some(Self {
            method,
            path,
            query,
            own_origin,
            session_token: session_token_among(sessions.into_iter()),
            anonymous_id,
            flag_override,
            request_id: request_id_of(&request_id),
            trace: TraceParent::child_of(client_trace, trace_id, span_id),
            platform,
            cookie,
            headers,
        })
    }

    /// A header's value (the first, if repeated), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Where the request comes from; the `x-dev-*` headers count only in
    /// development (`wrangler dev` has no real `request.cf`).
    pub fn location(&self, environment: Environment) -> Location {
        location(
            environment,
            self.platform.clone(),
            self.header("x-dev-country"),
            self.header("x-dev-continent"),
        )
    }

    /// Whether the request is a write (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[(&str, &str)]) -> Incoming {
        Incoming::parse(
            "PROPFIND".into(),
            "https://shop.example/api/cart?x=1",
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            Location {
                country: Some("DE".into()),
                continent: Some("EU".into()),
            },
            ([1; 16], [2; 16], [3; 8]),
        )
        .unwrap()
    }

    #[test]
    fn a_head_from_the_entry_is_the_same_request() {
        let head = "GET\nhttps://Shop.example:443/api/products?sku=1#x\nDE\n\nCookie:a=b\nx-flag-override: t1";
        let r = Incoming::from_head(head, ([1; 16], [2; 16], [3; 8])).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/api/products")
        );
        assert_eq!(r.query.as_deref(), Some("sku=1"));
        assert_eq!(r.cookie.as_deref(), Some("a=b"));
        assert_eq!(r.flag_override.as_deref(), Some("t1"));
        assert_eq!(r.location(Environment::Production).continent, None);
        assert!(Incoming::from_head("GET", ([0; 16], [0; 16], [0; 8])).is_none());
        assert_eq!(method_and_path(head), Some(("GET", "/api/products")));
        assert_eq!(method_and_path("GET\n/relative"), None);
        assert!(Incoming::from_head("GET\n/relative\n\n", ([0; 16], [0; 16], [0; 8])).is_none());
    }

    #[test]
    fn urls_split_into_origin_path_and_query() {
        let split = |u| split_url(u).unwrap();
        assert_eq!(
            split("https://user:pw@shop.example:8443/a/b?c=d&e"),
            (
                "https://shop.example:8443".into(),
                "/a/b".into(),
                Some("c=d&e".into())
            )
        );
        assert_eq!(
            split("http://127.0.0.1:8787"),
            ("http://127.0.0.1:8787".into(), "/".into(), None)
        );
        assert_eq!(split("http://h?q").1, "/");
        assert_eq!(split("http://h/p?").2.as_deref(), Some(""));
        assert!(split_url("no-scheme/path").is_none());
        assert!(split_url("http:///path").is_none());
    }

    #[test]
    fn a_request_is_read_once_into_plain_data() {
        let anon = "abcdefghijklmnopqrstuv";
        let r = parse(&[
            (
                "Cookie",
                &format!(
                    "__Host-session=v4.local.x; {ANONYMOUS_COOKIE}={anon}; __Host-flag-override=t1"
                ),
            ),
            ("If-Match", "\"v3\""),
            ("x-dev-country", "fr"),
        ]);
        assert_eq!(r.method, "PROPFIND", "the method as sent");
        assert_eq!(
            (r.path.as_str(), r.query.as_deref()),
            ("/api/cart", Some("x=1"))
        );
        assert_eq!(r.own_origin, "https://shop.example");
        assert_eq!(r.session_token.as_deref(), Some("v4.local.x"));
        assert_eq!(r.anonymous_id.as_deref(), Some(anon));
        assert_eq!(r.flag_override.as_deref(), Some("t1"));
        assert_eq!(r.header("if-match"), Some("\"v3\""));
        assert_eq!(r.request_id, "01".repeat(16));
        assert_eq!(
            r.location(Environment::Production).country.as_deref(),
            Some("DE")
        );
        assert_eq!(
            r.location(Environment::Development).country.as_deref(),
            Some("FR")
        );
    }

    #[test]
    fn the_override_header_wins_and_bad_cookies_are_ignored() {
        let r = parse(&[
            ("x-flag-override", "header"),
            (
                "cookie",
                "__Host-flag-override=cookie; __Host-anon=short; __Host-session=a; __Host-session=b",
            ),
        ]);
        assert_eq!(r.flag_override.as_deref(), Some("header"));
        assert_eq!(r.anonymous_id, None);
        assert_eq!(r.session_token, None, "two session cookies count as none");
        assert!(!r.is_write());
    }
}
