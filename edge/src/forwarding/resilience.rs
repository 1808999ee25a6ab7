//! The isolate's resilience state: a breaker per service and region, a
//! retry budget per service, and the requests in flight per service.
//!
//! It lives in the isolate (see the README): it answers in microseconds,
//! needs no I/O of its own, and what it observes — whether this location
//! reaches a region — is local anyway. Plain data behind a `thread_local`;
//! time comes in as an argument.

use std::cell::RefCell;
use std::collections::HashMap;

use super::breaker::{Admission, Breaker};
use super::budget::RetryBudget;
use super::services::Service;

#[derive(Default)]
struct State {
    breakers: HashMap<(String, String), Breaker>,
    budgets: HashMap<String, RetryBudget>,
    in_flight: HashMap<String, u32>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Whether `service`'s breaker for `region` lets a request through now.
pub fn admit(service: &Service, region: &str, now_ms: i64) -> Admission {
    with(|s| {
        s.breakers
            .entry((service.name.clone(), region.to_owned()))
            .or_default()
            .admit(now_ms, service.breaker)
    })
}

/// Records an attempt's outcome with `service`'s breaker for `region`.
pub fn record(service: &Service, region: &str, succeeded: bool, now_ms: i64) {
    with(|s| {
        s.breakers
            .entry((service.name.clone(), region.to_owned()))
            .or_default()
            .record(succeeded, now_ms, service.breaker)
    });
}

/// Counts a request against `service`'s retry budget.
pub fn note_request(service: &Service, now_ms: i64) {
    with(|s| {
        s.budgets
            .entry(service.name.clone())
            .or_default()
            .note_request(now_ms)
    });
}

/// Spends one retry of `service`'s budget, if it has one.
pub fn try_retry(service: &Service, now_ms: i64) -> bool {
    with(|s| {
        s.budgets
            .entry(service.name.clone())
            .or_default()
            .try_retry(now_ms)
    })
}

/// A place among a service's requests in flight; given back when dropped,
/// however the request ends.
pub struct InFlight(String);

impl InFlight {
    /// A place, or `None` when `max_in_flight` are already under way.
    pub fn take(service: &Service) -> Option<Self> {
        with(|s| {
            let n = s.in_flight.entry(service.name.clone()).or_default();
            if *n >= service.max_in_flight {
                return None;
            }
            *n += 1;
            Some(InFlight(service.name.clone()))
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        with(|s| {
            if let Some(n) = s.in_flight.get_mut(&self.0) {
                *n = n.saturating_sub(1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::breaker::BreakerSettings;

    fn service(name: &str, max_in_flight: u32) -> Service {
        Service {
            name: name.into(),
            endpoints: vec![("us".into(), "https://us.example".into())],
            timeout_ms: 1000,
            retries: 2,
            failover: false,
            residency: false,
            max_in_flight,
            breaker: BreakerSettings {
                failures: 2,
                open_ms: 1000,
            },
        }
    }

    #[test]
    fn places_in_flight_are_given_back_however_a_request_ends() {
        let s = service("shed-test", 2);
        let a = InFlight::take(&s).expect("first");
        let b = InFlight::take(&s).expect("second");
        assert!(InFlight::take(&s).is_none(), "the third is shed");
        drop(a);
        let c = InFlight::take(&s).expect("a place came back");
        drop((b, c));
    }

    #[test]
    fn a_regions_breaker_opens_after_its_failures_and_only_there() {
        let s = service("breaker-test", 2);
        record(&s, "us", false, 0);
        record(&s, "us", false, 1);
        assert!(matches!(admit(&s, "us", 2), Admission::Refused { .. }));
        assert!(matches!(admit(&s, "eu", 2), Admission::Go));
    }
}
