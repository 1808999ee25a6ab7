//! Which region serves a request: the customer's home region first (data
//! residency), else the region nearest to where the request comes from,
//! else the default — and, per service, where it may fail over to.

use super::services::{Nearest, Service};
use crate::config::Environment;

/// Where a request comes from, as the platform reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: Option<String>,
    /// Cloudflare's continent code, e.g. `EU`.
    pub continent: Option<String>,
}

/// The location to route by. `wrangler dev` has no real `request.cf`, so in
/// development the `x-dev-country` / `x-dev-continent` headers stand in for
/// it; in production they are ignored, whatever they say.
pub fn location(
    environment: Environment,
    platform: Location,
    dev_country: Option<&str>,
    dev_continent: Option<&str>,
) -> Location {
    if environment != Environment::Development || (dev_country.is_none() && dev_continent.is_none())
    {
        return platform;
    }
    let code = |v: Option<&str>| {
        v.map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    };
    Location {
        country: code(dev_country),
        continent: code(dev_continent),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The logged-in customer's home region.
    Home,
    Nearest,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionChoice {
    pub region: String,
    pub basis: Basis,
}

pub fn choose(
    home: Option<&str>,
    location: &Location,
    nearest: &Nearest,
    default_region: &str,
) -> RegionChoice {
    if let Some(home) = home {
        return RegionChoice {
            region: home.to_owned(),
            basis: Basis::Home,
        };
    }
    let by_country = location
        .country
        .as_ref()
        .and_then(|c| nearest.countries.get(c));
    let by_continent = location
        .continent
        .as_ref()
        .and_then(|c| nearest.continents.get(c));
    match by_country.or(by_continent) {
        Some(region) => RegionChoice {
            region: region.clone(),
            basis: Basis::Nearest,
        },
        None => RegionChoice {
            region: default_region.to_owned(),
            basis: Basis::Default,
        },
    }
}

/// The regions to try for `service`, in order. A residency-pinned service
/// keeps a customer's request in their home region or refuses it; `Err`
/// names that region when the service does not run there.
pub fn candidates(service: &Service, choice: &RegionChoice) -> Result<Vec<String>, String> {
    let runs_in = |r: &str| service.endpoint(r).is_some();
    if service.residency && choice.basis == Basis::Home {
        return if runs_in(&choice.region) {
            Ok(vec![choice.region.clone()])
        } else {
            Err(choice.region.clone())
        };
    }
    let primary = if runs_in(&choice.region) {
        choice.region.clone()
    } else {
        service.endpoints[0].0.clone()
    };
    let mut list = vec![primary.clone()];
    if service.failover {
        list.extend(
            service
                .endpoints
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| *r != primary),
        );
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::services::ServiceTable;
    use crate::forwarding::services::tests::{TABLE, origins};

    fn table() -> ServiceTable {
        ServiceTable::parse(TABLE, &origins(), true, 5000, |_, _| false).unwrap()
    }

    fn at(country: &str, continent: &str) -> Location {
        Location {
            country: Some(country.into()),
            continent: Some(continent.into()),
        }
    }

    #[test]
    fn home_beats_location_and_location_beats_default() {
        let t = table();
        let c = choose(Some("eu"), &at("US", "NA"), &t.nearest, "us");
        assert_eq!((c.region.as_str(), c.basis), ("eu", Basis::Home));
        let c = choose(None, &at("DE", "EU"), &t.nearest, "us");
        assert_eq!((c.region.as_str(), c.basis), ("eu", Basis::Nearest));
        let c = choose(None, &at("GB", "XX"), &t.nearest, "us");
        assert_eq!(c.region, "eu", "the country wins over the continent");
        let c = choose(None, &Location::default(), &t.nearest, "us");
        assert_eq!((c.region.as_str(), c.basis), ("us", Basis::Default));
    }

    #[test]
    fn the_dev_override_is_ignored_in_production() {
        let platform = at("US", "NA");
        let dev = location(Environment::Development, platform.clone(), Some("de"), None);
        assert_eq!(dev.country.as_deref(), Some("DE"));
        let prod = location(
            Environment::Production,
            platform.clone(),
            Some("DE"),
            Some("EU"),
        );
        assert_eq!(prod, platform);
        let junk = location(
            Environment::Development,
            platform,
            Some("Deutschland"),
            None,
        );
        assert_eq!(junk.country, None);
    }

    #[test]
    fn residency_pins_and_failover_widens() {
        let t = table();
        let home_eu = choose(Some("eu"), &at("US", "NA"), &t.nearest, "us");
        let account = t.service("account").unwrap();
        assert_eq!(candidates(account, &home_eu), Ok(vec!["eu".to_owned()]));
        let reviews = t.service("reviews").unwrap();
        let us = choose(Some("us"), &Location::default(), &t.nearest, "us");
        assert_eq!(
            candidates(reviews, &us),
            Ok(vec!["us".to_owned(), "eu".to_owned()])
        );
        let mut pinned = account.clone();
        pinned.endpoints.retain(|(r, _)| r == "us");
        assert_eq!(candidates(&pinned, &home_eu), Err("eu".to_owned()));
        // A guest has no home: a pinned service serves them nearest, alone.
        let guest = choose(None, &at("DE", "EU"), &t.nearest, "us");
        assert_eq!(candidates(account, &guest), Ok(vec!["eu".to_owned()]));
    }
}
