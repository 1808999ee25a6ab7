//! How long a catalog answer may be served, and what to do with it now:
//! RFC 9111 freshness with RFC 5861's stale-while-revalidate and
//! stale-if-error, decided from plain numbers.

/// The windows of one cached answer, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub max_age: i64,
    pub stale_while_revalidate: i64,
    pub stale_if_error: i64,
}

impl Windows {
    /// How long the cache must keep the entry for all three uses.
    pub fn retention(&self) -> i64 {
        self.max_age + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Parses the route configuration form, which is Cache-Control syntax
    /// (`max-age=60, stale-while-revalidate=30, stale-if-error=86400`).
    pub fn parse(value: &str) -> Result<Self, String> {
        let d = Directives::parse(value);
        let max_age = d.max_age.ok_or("needs max-age")?;
        Ok(Self {
            max_age,
            stale_while_revalidate: d.stale_while_revalidate.unwrap_or(0),
            stale_if_error: d.stale_if_error.unwrap_or(0),
        })
    }
}

/// The Cache-Control directives a shared cache acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    pub max_age: Option<i64>,
    pub s_maxage: Option<i64>,
    pub stale_while_revalidate: Option<i64>,
    pub stale_if_error: Option<i64>,
    pub no_store: bool,
    pub private: bool,
    pub no_cache: bool,
}

impl Directives {
    /// Lenient, as RFC 9111 §4.2.1 asks: unknown or malformed directives
    /// are ignored; a malformed number makes that directive absent.
    pub fn parse(header: &str) -> Self {
        let mut d = Directives::default();
        for part in header.split(',') {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (
                    n.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"')),
                ),
                None => (part.trim().to_ascii_lowercase(), None),
            };
            let seconds = value
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|n| *n >= 0);
            match name.as_str() {
                "max-age" => d.max_age = seconds,
                "s-maxage" => d.s_maxage = seconds,
                "stale-while-revalidate" => d.stale_while_revalidate = seconds,
                "stale-if-error" => d.stale_if_error = seconds,
                "no-store" => d.no_store = true,
                "private" => d.private = true,
                "no-cache" => d.no_cache = true,
                _ => {}
            }
        }
        d
    }
}

/// The windows to store an origin answer under: the origin's own
/// Cache-Control where it speaks, the route's defaults where it is silent;
/// `None` when the origin forbids a shared cache to store it.
pub fn windows_for(origin_cache_control: Option<&str>, route_default: Windows) -> Option<Windows> {
    let Some(header) = origin_cache_control else {
        return Some(route_default);
    };
    let d = Directives::parse(header);
    if d.no_store || d.private || d.no_cache {
        return None;
    }
    Some(Windows {
        max_age: d.s_maxage.or(d.max_age).unwrap_or(route_default.max_age),
        stale_while_revalidate: d
            .stale_while_revalidate
            .unwrap_or(route_default.stale_while_revalidate),
        stale_if_error: d.stale_if_error.unwrap_or(route_default.stale_if_error),
    })
}

/// What a stored entry is good for at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it; `ttl` seconds of freshness remain.
    Fresh { ttl: i64 },
    /// Serve it now and refresh in the background.
    StaleWhileRevalidate { ttl: i64 },
    /// Ask the origin; serve this if the origin fails.
    StaleIfError { ttl: i64 },
    /// Useless: ask the origin, and fail if it does.
    Expired,
}

/// Freshness of an entry stored at `stored_at_ms`, at `now_ms`. `ttl` is
/// negative once stale (RFC 9211 reports it that way).
pub fn freshness(stored_at_ms: i64, windows: Windows, now_ms: i64) -> Freshness {
    let age = (now_ms - stored_at_ms).max(0) / 1000;
    let ttl = windows.max_age - age;
    let staleness = -ttl;
    if ttl > 0 {
        Freshness::Fresh { ttl }
    } else if staleness < windows.stale_while_revalidate {
        Freshness::StaleWhileRevalidate { ttl }
    } else if staleness < windows.stale_if_error {
        Freshness::StaleIfError { ttl }
    } else {
        Freshness::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Windows = Windows {
        max_age: 60,
        stale_while_revalidate: 30,
        stale_if_error: 600,
    };

    #[test]
    fn the_windows_follow_one_another() {
        assert_eq!(freshness(0, W, 0), Freshness::Fresh { ttl: 60 });
        assert_eq!(freshness(0, W, 59_999), Freshness::Fresh { ttl: 1 });
        assert_eq!(
            freshness(0, W, 60_000),
            Freshness::StaleWhileRevalidate { ttl: 0 }
        );
        assert_eq!(
            freshness(0, W, 89_999),
            Freshness::StaleWhileRevalidate { ttl: -29 }
        );
        assert_eq!(
            freshness(0, W, 90_000),
            Freshness::StaleIfError { ttl: -30 }
        );
        assert_eq!(freshness(0, W, 660_000), Freshness::Expired);
        assert_eq!(
            freshness(10_000, W, 0),
            Freshness::Fresh { ttl: 60 },
            "a clock behind never makes age negative"
        );
    }

    #[test]
    fn without_stale_windows_stale_is_expired() {
        let strict = Windows {
            max_age: 10,
            stale_while_revalidate: 0,
            stale_if_error: 0,
        };
        assert_eq!(freshness(0, strict, 10_000), Freshness::Expired);
        assert_eq!(strict.retention(), 10);
        assert_eq!(W.retention(), 660);
    }

    #[test]
    fn the_origin_speaks_first_and_defaults_fill_in() {
        assert_eq!(windows_for(None, W), Some(W));
        let origin = windows_for(Some("public, max-age=5, stale-if-error=100"), W).unwrap();
        assert_eq!(
            origin,
            Windows {
                max_age: 5,
                stale_while_revalidate: 30,
                stale_if_error: 100
            }
        );
        let shared = windows_for(Some("max-age=5, s-maxage=50"), W).unwrap();
        assert_eq!(shared.max_age, 50);
        for forbidden in ["no-store", "private, max-age=60", "no-cache"] {
            assert_eq!(windows_for(Some(forbidden), W), None, "{forbidden}");
        }
        assert_eq!(
            windows_for(Some("max-age=abc"), W).unwrap().max_age,
            60,
            "malformed numbers are ignored"
        );
    }

    #[test]
    fn route_configuration_uses_cache_control_syntax() {
        assert_eq!(
            Windows::parse("max-age=60, stale-while-revalidate=30, stale-if-error=600"),
            Ok(W)
        );
        assert!(Windows::parse("stale-if-error=600").is_err());
    }
}
