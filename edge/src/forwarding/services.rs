//! The routing table: which origin service each forwarded route belongs to,
//! where each service runs per region, and how hard the edge tries. Read
//! from the `SERVICES` configuration key (JSON, or a TOML table in
//! `wrangler.toml`), validated once; every error gives its JSON path.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::breaker::BreakerSettings;

/// Who may use a forwarded route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone; a logged-in customer's claims travel along.
    Any,
    /// Logged-in customers only (401 otherwise).
    Customer,
}

/// One origin service (identity, orders, account, reviews, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// Region → base URL, in the order failover tries them.
    pub endpoints: Vec<(String, String)>,
    /// The edge's whole budget for one request to this service, retries
    /// and failover included (milliseconds).
    pub timeout_ms: u64,
    /// Extra attempts after the first, for idempotent or keyed requests.
    pub retries: u32,
    /// May a request go to another region when its region fails?
    pub failover: bool,
    /// Must a customer's request stay in their home region?
    pub residency: bool,
    /// Requests in flight per isolate before new ones are shed (503).
    pub max_in_flight: u32,
    pub breaker: BreakerSettings,
}

impl Service {
    pub fn endpoint(&self, region: &str) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, url)| url.as_str())
    }
}

/// A public route the edge forwards as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRoute {
    pub method: String,
    pub path: String,
    pub service: String,
    pub origin_path: String,
    pub access: Access,
}

/// Where a customer's country or continent is served from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nearest {
    /// ISO 3166-1 alpha-2 → region; wins over the continent.
    #[serde(default)]
    pub countries: BTreeMap<String, String>,
    /// Cloudflare continent code (AF, AN, AS, EU, NA, OC, SA) → region.
    #[serde(default)]
    pub continents: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTable {
    pub services: Vec<Service>,
    pub routes: Vec<ForwardedRoute>,
    pub nearest: Nearest,
}

/// Services the edge's own handlers call (login, checkout, orders).
pub const REQUIRED_SERVICES: [&str; 2] = ["identity", "orders"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    services: BTreeMap<String, RawService>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    nearest: Nearest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    endpoints: Option<BTreeMap<String, String>>,
    #[serde(default)]
    regions: Option<Vec<String>>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default)]
    failover: bool,
    #[serde(default)]
    residency: bool,
    #[serde(default = "default_in_flight")]
    max_in_flight: u32,
    #[serde(default)]
    breaker: RawBreaker,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    #[serde(default = "default_failures")]
    failures: u32,
    #[serde(default = "default_open_ms")]
    open_ms: u64,
}

impl Default for RawBreaker {
    fn default() -> Self {
        Self {
            failures: default_failures(),
            open_ms: default_open_ms(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    /// `"POST /api/reviews"`.
    route: String,
    service: String,
    origin_path: String,
    #[serde(default = "default_access")]
    access: Access,
}

fn default_retries() -> u32 {
    2
}
fn default_in_flight() -> u32 {
    64
}
fn default_failures() -> u32 {
    5
}
fn default_open_ms() -> u64 {
    30_000
}
fn default_access() -> Access {
    Access::Customer
}

/// Checks a base URL the way `ORIGINS` entries are checked.
pub fn check_base_url(url: &str, development: bool) -> Result<(), String> {
    let secure = url.starts_with("https://");
    let local_http = url.starts_with("http://") && development;
    if !(secure || local_http) {
        return Err("must be an https:// URL (http:// only in development)".into());
    }
    if url.ends_with('/') || url.contains('?') || url.contains('#') {
        return Err("must be a base URL without trailing slash, query or fragment".into());
    }
    // The signature covers the authority as split here; `fetch` sends the
    // Host a URL serialiser writes. They agree only for a plain host (IDN
    // as punycode) and a plain port, so nothing else is accepted.
    let parts = origin_adapter::signature::split_url(url).ok_or("is not an absolute URL")?;
    let raw_authority = url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split('/')
        .next();
    let (host, port) = match parts
        .authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(':'))
    {
        Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => (host, Some(port)),
        _ => (parts.authority.as_str(), None),
    };
    let plain_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.[]:".contains(&b));
    let plain_port = port.is_none_or(|p| {
        !p.starts_with('0') && p.parse::<u16>().is_ok_and(|n| n > 0) && p.len() <= 5
    });
    if raw_authority.is_some_and(|a| a.contains('@')) || !plain_host || !plain_port {
        return Err(format!(
            "{:?}: the host must be plain (letters, digits, '.', '-'; punycode for IDN) with an optional port",
            parts.authority
        ));
    }
    Ok(())
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

impl ServiceTable {
    /// Parses and validates `json` against the regions of `ORIGINS`
    /// (`origins`: region → base URL). `is_builtin(method, path)` says
    /// whether a route is already the edge's own; `default_timeout_ms`
    /// applies where a service names none.
    pub fn parse(
        json: &str,
        origins: &[(String, String)],
        development: bool,
        default_timeout_ms: u64,
        is_builtin: impl Fn(&str, &str) -> bool,
    ) -> Result<Self, String> {
        let raw: RawTable = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let known_region = |r: &str| origins.iter().any(|(region, _)| region == r);

        let mut services = Vec::new();
        for (name, s) in raw.services {
            let at = |field: &str| format!("services.{name}.{field}");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                return Err(format!(
                    "services.{name}: names are lowercase letters or '-'"
                ));
            }
            let endpoints: Vec<(String, String)> = match (s.endpoints, s.regions) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "services.{name}: give endpoints or regions, not both"
                    ));
                }
                (Some(map), None) => map.into_iter().collect(),
                (None, Some(regions)) => {
                    let mut list = Vec::new();
                    for region in regions {
                        let url = origins
                            .iter()
                            .find(|(r, _)| *r == region)
                            .map(|(_, u)| u.clone())
                            .ok_or_else(|| {
                                format!("{}: {region:?} is not a region in ORIGINS", at("regions"))
                            })?;
                        list.push((region, url));
                    }
                    list
                }
                (None, None) => origins.to_vec(),
            };
            if endpoints.is_empty() {
                return Err(format!("{}: names no region", at("endpoints")));
            }
            for (region, url) in &endpoints {
                if !known_region(region) {
                    return Err(format!(
                        "{}.{region}: not a region in ORIGINS",
                        at("endpoints")
                    ));
                }
                check_base_url(url, development)
                    .map_err(|e| format!("{}.{region}: {e}", at("endpoints")))?;
            }
            let timeout_ms = s.timeout_ms.unwrap_or(default_timeout_ms);
            if !(100..=60_000).contains(&timeout_ms) {
                return Err(format!("{}: must be 100 to 60000", at("timeout_ms")));
            }
            if s.retries > 5 {
                return Err(format!("{}: must be 0 to 5", at("retries")));
            }
            if s.residency && s.failover {
                return Err(format!(
                    "services.{name}: a residency-pinned service cannot fail over to another region"
                ));
            }
            if !(1..=10_000).contains(&s.max_in_flight) {
                return Err(format!("{}: must be 1 to 10000", at("max_in_flight")));
            }
            if !(1..=1000).contains(&s.breaker.failures) {
                return Err(format!("{}: must be 1 to 1000", at("breaker.failures")));
            }
            if !(100..=3_600_000).contains(&s.breaker.open_ms) {
                return Err(format!("{}: must be 100 to 3600000", at("breaker.open_ms")));
            }
            services.push(Service {
                name,
                endpoints,
                timeout_ms,
                retries: s.retries,
                failover: s.failover,
                residency: s.residency,
                max_in_flight: s.max_in_flight,
                breaker: BreakerSettings {
                    failures: s.breaker.failures,
                    open_ms: s.breaker.open_ms as i64,
                },
            });
        }
        if services.iter().any(|s| s.name == "orders" && s.failover) {
            return Err(
                "services.orders: orders may not fail over: an order's idempotency record lives in one region"
                    .into(),
            );
        }
        for required in REQUIRED_SERVICES {
            if !services.iter().any(|s| s.name == required) {
                return Err(format!(
                    "services.{required}: is missing (the edge's own routes use it)"
                ));
            }
        }

        let mut routes: Vec<ForwardedRoute> = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            let at = format!("routes[{i}]");
            let (method, path) = r
                .route
                .split_once(' ')
                .ok_or_else(|| format!("{at}.route: must look like \"POST /api/reviews\""))?;
            if !METHODS.contains(&method) {
                return Err(format!("{at}.route: method must be one of {METHODS:?}"));
            }
            let path_ok = path.starts_with("/api/")
                && path.len() > 5
                && !path.ends_with('/')
                && path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
            if !path_ok {
                return Err(format!(
                    "{at}.route: the path must start with /api/ and use letters, digits, '-', '_' and '/'"
                ));
            }
            if is_builtin(method, path) {
                return Err(format!(
                    "{at}.route: {method} {path} is one of the edge's own routes"
                ));
            }
            if routes.iter().any(|x| x.method == method && x.path == path) {
                return Err(format!("{at}.route: {method} {path} is listed twice"));
            }
            if !services.iter().any(|s| s.name == r.service) {
                return Err(format!("{at}.service: no service {:?}", r.service));
            }
            if !r.origin_path.starts_with('/') || r.origin_path.contains(['?', '#']) {
                return Err(format!("{at}.origin_path: must be a path starting with /"));
            }
            routes.push(ForwardedRoute {
                method: method.to_owned(),
                path: path.to_owned(),
                service: r.service,
                origin_path: r.origin_path,
                access: r.access,
            });
        }

        for (field, map) in [
            ("countries", &raw.nearest.countries),
            ("continents", &raw.nearest.continents),
        ] {
            for (code, region) in map {
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!(
                        "nearest.{field}.{code}: codes are two capital letters"
                    ));
                }
                if !known_region(region) {
                    return Err(format!(
                        "nearest.{field}.{code}: {region:?} is not a region in ORIGINS"
                    ));
                }
            }
        }

        Ok(Self {
            services,
            routes,
            nearest: raw.nearest,
        })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The forwarded route for `method` + `path`: `Ok(None)` if the path is
    /// not forwarded at all, `Err(allowed methods)` if only the method is wrong.
    pub fn route(&self, method: &str, path: &str) -> Result<Option<&ForwardedRoute>, Vec<&str>> {
        let mut allowed = Vec::new();
        for r in self.routes.iter().filter(|r| r.path == path) {
            if r.method == method {
                return Ok(Some(r));
            }
            allowed.push(r.method.as_str());
        }
        if allowed.is_empty() {
            Ok(None)
        } else {
            Err(allowed)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn origins() -> Vec<(String, String)> {
        vec![
            ("us".into(), "http://127.0.0.1:8701".into()),
            ("eu".into(), "http://127.0.0.1:8702".into()),
        ]
    }

    pub(crate) const TABLE: &str = r#"{
        "services": {
            "identity": { "timeout_ms": 3000, "failover": true },
            "orders": { "timeout_ms": 8000, "residency": true },
            "account": { "residency": true, "breaker": { "failures": 3, "open_ms": 2000 } },
            "reviews": { "failover": true, "retries": 1 }
        },
        "routes": [
            { "route": "POST /api/reviews", "service": "reviews", "origin_path": "/reviews" },
            { "route": "POST /api/account/addresses", "service": "account", "origin_path": "/account/addresses" },
            { "route": "GET /api/account/addresses", "service": "account", "origin_path": "/account/addresses" }
        ],
        "nearest": { "continents": { "EU": "eu", "AF": "eu" }, "countries": { "GB": "eu" } }
    }"#;

    fn parse(json: &str) -> Result<ServiceTable, String> {
        ServiceTable::parse(json, &origins(), true, 5000, |m, p| {
            m == "GET" && p == "/api/cart"
        })
    }

    #[test]
    fn the_reference_table_parses_with_defaults() {
        let t = parse(TABLE).unwrap();
        let reviews = t.service("reviews").unwrap();
        assert_eq!(reviews.endpoints.len(), 2);
        assert_eq!(reviews.timeout_ms, 5000);
        assert_eq!(reviews.breaker.failures, 5);
        assert_eq!(t.service("account").unwrap().breaker.open_ms, 2000);
        let route = t.route("POST", "/api/reviews").unwrap().unwrap();
        assert_eq!(
            (route.service.as_str(), route.access),
            ("reviews", Access::Customer)
        );
        assert_eq!(t.route("DELETE", "/api/reviews"), Err(vec!["POST"]));
        assert_eq!(t.route("POST", "/api/nothing"), Ok(None));
    }

    #[test]
    fn errors_give_the_json_path() {
        let base: serde_json::Value = serde_json::from_str(TABLE).unwrap();
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/services/reviews/timeout_ms",
                5.into(),
                "services.reviews.timeout_ms",
            ),
            (
                "/services/reviews/retries",
                9.into(),
                "services.reviews.retries",
            ),
            (
                "/services/account/failover",
                true.into(),
                "services.account",
            ),
            (
                "/services/account/breaker/failures",
                0.into(),
                "services.account.breaker.failures",
            ),
            (
                "/services/reviews/endpoints",
                serde_json::json!({ "ap": "https://ap.example" }),
                "services.reviews.endpoints.ap",
            ),
            (
                "/services/reviews/regions",
                serde_json::json!(["mars"]),
                "services.reviews.regions",
            ),
            ("/routes/0/route", "POST /shop".into(), "routes[0].route"),
            ("/routes/0/route", "GET /api/cart".into(), "routes[0].route"),
            ("/routes/0/service", "ghosts".into(), "routes[0].service"),
            (
                "/routes/1/origin_path",
                "account".into(),
                "routes[1].origin_path",
            ),
            ("/nearest/countries/GB", "ap".into(), "nearest.countries.GB"),
        ];
        for (pointer, value, path) in cases {
            let mut doc = base.clone();
            let parent = pointer.rsplit_once('/').unwrap();
            let target = doc.pointer_mut(parent.0).unwrap();
            target[parent.1] = value;
            let e = parse(&doc.to_string()).unwrap_err();
            assert!(e.starts_with(path), "{pointer}: {e}");
        }
        let mut doc = base.clone();
        doc["services"]["orders"] = serde_json::json!({ "failover": true });
        assert!(
            parse(&doc.to_string())
                .unwrap_err()
                .starts_with("services.orders")
        );
        let mut doc = base.clone();
        doc["services"].as_object_mut().unwrap().remove("orders");
        assert!(
            parse(&doc.to_string())
                .unwrap_err()
                .starts_with("services.orders")
        );
        assert!(
            parse(r#"{"services":{},"extra":1}"#)
                .unwrap_err()
                .contains("extra")
        );
    }

    #[test]
    fn production_refuses_plain_http_endpoints() {
        let e = ServiceTable::parse(TABLE, &origins(), false, 5000, |_, _| false).unwrap_err();
        assert!(e.contains("https://"), "{e}");
    }
}
