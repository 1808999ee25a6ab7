//! The edge's configuration, parsed and validated once from Worker vars and
//! secrets. Every error names the key that is wrong.

use std::rc::Rc;

use origin_adapter::keys::{KeyRing, SigningKey};

use crate::session::token::SessionKeys;
use durable_objects::guard::Limit;

use crate::catalog::default_windows;
use crate::catalog::freshness::Windows;
use crate::catalog::query::CatalogRoute;
use crate::forwarding::services::ServiceTable;

/// Where the Worker runs; development-only behaviour is keyed on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// One region's origin base URL, e.g. `us` → `https://us.origin.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionOrigin {
    pub region: String,
    pub base_url: String,
}

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub environment: Environment,
    pub origins: Vec<RegionOrigin>,
    /// The region used when nothing better is known about the customer.
    pub default_region: String,
    /// The secret the edge signs forwarded writes with.
    pub signing_key: SigningKey,
    /// A service's timeout where the routing table names none (milliseconds).
    pub origin_timeout_ms: u64,
    /// The routing table: services, their regions, forwarded routes.
    pub services: ServiceTable,
    /// The same for catalog reads, which have stale copies to fall back on.
    pub catalog_timeout_ms: u64,
    /// Cache windows per catalog route, when the origin does not say.
    pub catalog_windows: Vec<(CatalogRoute, Windows)>,
    /// Origins' public keys for signed purges; `None` refuses every purge.
    pub purge_keys: Option<KeyRing>,
    /// Session keys (current first); `None` refuses logins.
    pub session_keys: Option<Rc<SessionKeys>>,
    /// Idle and absolute session lifetimes, seconds.
    pub session_idle: i64,
    pub session_absolute: i64,
    /// Other sites allowed to make cookie-authenticated writes.
    pub allowed_origins: Vec<String>,
    /// Failed logins allowed per account, and per client address.
    pub login_account_limit: Limit,
    pub login_address_limit: Limit,
    /// Seconds an untouched guest cart, and a customer's cart, is kept.
    pub cart_guest_idle: i64,
    pub cart_customer_idle: i64,
    /// Bearer token of the support (and admin) API; `None` refuses it.
    pub admin_token: Option<String>,
    /// How long an isolate keeps the flag document before reading KV again.
    pub flags_cache_seconds: i64,
    /// One fresh cache hit in this many has its access-log line (1: all).
    pub access_log_hit_sample: u32,
    /// Set per request from the `catalog-max-age` flag: a freshness
    /// lifetime that wins over the origin's and the defaults.
    pub catalog_max_age_override: Option<i64>,
}

/// A bad or missing configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration key {}: {}", self.key, self.problem)
    }
}

fn err(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        problem: problem.into(),
    }
}

impl EdgeConfig {
    /// Reads every key through `get` (vars and secrets alike).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &'static str| {
            get(key)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| err(key, "is missing"))
        };

        let environment = match required("ENVIRONMENT")?.as_str() {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => {
                return Err(err(
                    "ENVIRONMENT",
                    format!("must be `development` or `production`, not {other:?}"),
                ));
            }
        };

        let mut origins = Vec::new();
        for entry in required("ORIGINS")?
            .split(',')
            .filter(|e| !e.trim().is_empty())
        {
            let (region, url) = entry.trim().split_once('=').ok_or_else(|| {
                err(
                    "ORIGINS",
                    format!("entry {entry:?} is not `<region>=<base url>`"),
                )
            })?;
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(err(
                    "ORIGINS",
                    format!("region {region:?} must be lowercase letters, digits or '-'"),
                ));
            }
            let development = environment == Environment::Development;
            crate::forwarding::services::check_base_url(url, development)
                .map_err(|e| err("ORIGINS", format!("origin of {region:?} {e}")))?;
            if origins.iter().any(|o: &RegionOrigin| o.region == region) {
                return Err(err("ORIGINS", format!("region {region:?} is listed twice")));
            }
            origins.push(RegionOrigin {
                region: region.to_owned(),
                base_url: url.to_owned(),
            });
        }
        if origins.is_empty() {
            return Err(err("ORIGINS", "names no region"));
        }

        let default_region = required("DEFAULT_REGION")?;
        if !origins.iter().any(|o| o.region == default_region) {
            return Err(err(
                "DEFAULT_REGION",
                format!("{default_region:?} is not a region in ORIGINS"),
            ));
        }

        let signing_key = SigningKey::from_config(&required("EDGE_SIGNING_KEY")?)
            .map_err(|e| err("EDGE_SIGNING_KEY", e.to_string()))?;

        let timeout = |key: &'static str, default: u64| match get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(ms @ 100..=30_000) => Ok(ms),
                _ => Err(err(
                    key,
                    "must be a whole number of milliseconds from 100 to 30000",
                )),
            },
        };
        let origin_timeout_ms = timeout("ORIGIN_TIMEOUT_MS", 5_000)?;
        let catalog_timeout_ms = timeout("CATALOG_TIMEOUT_MS", 3_000)?;

        let region_urls: Vec<(String, String)> = origins
            .iter()
            .map(|o| (o.region.clone(), o.base_url.clone()))
            .collect();
        let services = ServiceTable::parse(
            &required("SERVICES")?,
            &region_urls,
            environment == Environment::Development,
            origin_timeout_ms,
            |method, path| {
                !matches!(crate::routes::route(method, path, true), Err(e) if e.status() == 404)
            },
        )
        .map_err(|e| err("SERVICES", e))?;

        let mut catalog_windows = Vec::new();
        for (key, route) in [
            ("CACHE_PRODUCT", CatalogRoute::Product),
            ("CACHE_LISTING", CatalogRoute::Listing),
            ("CACHE_SEARCH", CatalogRoute::Search),
            ("CACHE_CATEGORIES", CatalogRoute::Categories),
        ] {
            let windows = match get(key) {
                None => default_windows(route),
                Some(v) => Windows::parse(&v)
                    .map_err(|e| err(key, format!("{e} (Cache-Control syntax)")))?,
            };
            catalog_windows.push((route, windows));
        }

        let purge_keys = match get("ORIGIN_VERIFY_KEYS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(
                KeyRing::from_config(&v).map_err(|e| err("ORIGIN_VERIFY_KEYS", e.to_string()))?,
            ),
        };

        let session_keys = match get("SESSION_KEY").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(current) => {
                let previous = get("SESSION_PREVIOUS_KEYS").unwrap_or_default();
                let keys = SessionKeys::from_config(&current, &previous)
                    .map_err(|e| err("SESSION_KEY", e))?;
                Some(Rc::new(keys))
            }
        };
        let seconds = |key: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        err(
                            key,
                            format!(
                                "must be whole seconds from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            }
        };
        let session_idle = seconds("SESSION_IDLE_SECONDS", 1800, 60..=86_400)?;
        let session_absolute = seconds("SESSION_ABSOLUTE_SECONDS", 43_200, 300..=2_592_000)?;
        let login_window = seconds("LOGIN_WINDOW_SECONDS", 900, 1..=86_400)?;
        let login_account_limit = Limit {
            max: seconds("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, 1..=1000)?,
            window: login_window,
        };
        let login_address_limit = Limit {
            max: seconds("LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1..=10_000)?,
            window: login_window,
        };
        let cart_guest_idle = seconds("CART_GUEST_IDLE_SECONDS", 30 * 86_400, 1..=365 * 86_400)?;
        let cart_customer_idle =
            seconds("CART_CUSTOMER_IDLE_SECONDS", 180 * 86_400, 1..=730 * 86_400)?;
        let admin_token = match get("ADMIN_TOKEN").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(t) if t.trim().len() >= 32 && t.trim().bytes().all(|b| b.is_ascii_graphic()) => {
                Some(t.trim().to_owned())
            }
            Some(_) => {
                return Err(err(
                    "ADMIN_TOKEN",
                    "must be at least 32 visible ASCII characters (e.g. 32 random bytes, hex)",
                ));
            }
        };
        let flags_cache_seconds = seconds("FLAGS_CACHE_SECONDS", 5, 0..=300)?;
        let access_log_hit_sample = match get("ACCESS_LOG_HIT_SAMPLE") {
            None => 1,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    err(
                        "ACCESS_LOG_HIT_SAMPLE",
                        "must be a whole number from 1 (every hit logged) to 10000",
                    )
                })?,
        };
        let mut allowed_origins = Vec::new();
        for o in get("ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            if !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') {
                return Err(err(
                    "ALLOWED_ORIGINS",
                    format!("{o:?} is not an origin like https://shop.example"),
                ));
            }
            allowed_origins.push(o.to_owned());
        }

        Ok(Self {
            environment,
            origins,
            default_region,
            signing_key,
            origin_timeout_ms,
            services,
            catalog_timeout_ms,
            catalog_windows,
            purge_keys,
            session_keys,
            session_idle,
            session_absolute,
            allowed_origins,
            login_account_limit,
            login_address_limit,
            cart_guest_idle,
            cart_customer_idle,
            admin_token,
            flags_cache_seconds,
            access_log_hit_sample,
            catalog_max_age_override: None,
        })
    }

    /// The keys cart cookies are signed with (derived from the session
    /// keys, so they rotate together); `None` without a session key.
    pub fn cart_cookie_keys(&self) -> Option<crate::cart_cookie::CookieKeys> {
        self.session_keys
            .as_ref()
            .map(|k| crate::cart_cookie::CookieKeys(k.derive(crate::cart_cookie::KEY_PURPOSE)))
    }

    /// The keys that sign drop passes (tickets, admissions), derived from
    /// the session keys.
    pub fn drop_pass_keys(&self) -> Option<crate::drops::PassKeys> {
        self.session_keys
            .as_ref()
            .map(|k| crate::drops::PassKeys(k.derive(crate::drops::KEY_PURPOSE)))
    }

    /// The cache windows of a catalog route.
    pub fn windows(&self, route: CatalogRoute) -> Windows {
        self.catalog_windows
            .iter()
            .find(|(r, _)| *r == route)
            .map(|(_, w)| *w)
            .unwrap_or_else(|| default_windows(route))
    }

    /// The origin base URL of `region`.
    pub fn origin(&self, region: &str) -> Option<&str> {
        self.origins
            .iter()
            .find(|o| o.region == region)
            .map(|o| o.base_url.as_str())
    }

    /// The origin of the default region; validated to exist.
    pub fn default_origin(&self) -> &str {
        self.origin(&self.default_region).unwrap_or_default()
    }
}

/// A valid development configuration, for other modules' unit tests.
#[cfg(test)]
pub(crate) fn for_tests() -> EdgeConfig {
    for_tests_with(&[])
}

/// The test configuration with some keys set differently.
#[cfg(test)]
pub(crate) fn for_tests_with(overrides: &[(&'static str, &str)]) -> EdgeConfig {
    match tests::parse(overrides) {
        Ok(config) => config,
        Err(e) => panic!("the test configuration is invalid: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn key() -> String {
        SigningKey::from_seed("edge-1", [1; 32]).to_config()
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            ("ENVIRONMENT", "development".into()),
            (
                "ORIGINS",
                "us=http://127.0.0.1:8701,eu=http://127.0.0.1:8702".into(),
            ),
            ("DEFAULT_REGION", "us".into()),
            ("EDGE_SIGNING_KEY", key()),
            (
                "SERVICES",
                crate::forwarding::services::tests::TABLE.to_owned(),
            ),
        ]
    }

    pub(super) fn parse(overrides: &[(&'static str, &str)]) -> Result<EdgeConfig, ConfigError> {
        let mut pairs = good();
        for (k, v) in overrides {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v.to_string()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        EdgeConfig::from_lookup(lookup(&borrowed))
    }

    #[test]
    fn a_good_configuration_parses() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.default_origin(), "http://127.0.0.1:8701");
        assert_eq!(c.origin("eu"), Some("http://127.0.0.1:8702"));
        assert_eq!(c.origin_timeout_ms, 5000);
        for fine in [
            "us=https://US.Example:8443,eu=http://[::1]:8701",
            "us=https://xn--bcher-kva.example,eu=http://127.0.0.1:8702",
        ] {
            let parsed = parse(&[("ORIGINS", fine)]).map(drop);
            assert!(parsed.is_ok(), "{fine}: {parsed:?}");
        }
    }

    #[test]
    fn every_error_names_its_key() {
        for (key, value) in [
            ("ENVIRONMENT", "staging"),
            ("ORIGINS", "us"),
            ("ORIGINS", "US=https://x"),
            ("ORIGINS", "us=https://x/"),
            ("ORIGINS", "us=https://a,us=https://b"),
            ("ORIGINS", "us=https://bücher.example"),
            ("ORIGINS", "us=https://o.example:0443"),
            ("ORIGINS", "us=https://o.example:"),
            ("ORIGINS", "us=https://user@o.example"),
            ("ORIGINS", "us=http://:80"),
            ("DEFAULT_REGION", "ap"),
            ("EDGE_SIGNING_KEY", "weak"),
            ("EDGE_SIGNING_KEY", ""),
            ("ORIGIN_TIMEOUT_MS", "0"),
            ("CATALOG_TIMEOUT_MS", "99999"),
            ("CACHE_PRODUCT", "stale-if-error=5"),
            ("ORIGIN_VERIFY_KEYS", "nope"),
            ("SESSION_KEY", "c2hvcnQ"),
            ("SESSION_IDLE_SECONDS", "5"),
            ("ALLOWED_ORIGINS", "evil.example"),
            ("SERVICES", "{}"),
            ("CART_GUEST_IDLE_SECONDS", "0"),
            ("CART_CUSTOMER_IDLE_SECONDS", "forever"),
            ("ADMIN_TOKEN", "short"),
            ("FLAGS_CACHE_SECONDS", "3601"),
            ("ACCESS_LOG_HIT_SAMPLE", "0"),
            ("ACCESS_LOG_HIT_SAMPLE", "1/100"),
            ("SERVICES", ""),
        ] {
            let e = parse(&[(key, value)]).unwrap_err();
            assert_eq!(e.key, key, "{value}: {e}");
        }
    }

    #[test]
    fn production_refuses_plain_http_origins() {
        let e = parse(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert_eq!(e.key, "ORIGINS");
        assert!(
            parse(&[
                ("ENVIRONMENT", "production"),
                ("ORIGINS", "us=https://us.example,eu=https://eu.example")
            ])
            .is_ok()
        );
    }
}
