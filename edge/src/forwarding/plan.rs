//! The retry plan of one forwarded request, as a decision (tower's
//! `Policy` split): given what happened so far and the time left, the next
//! step is an attempt in some region, a pause, or giving up with a reason.
//! The shell only performs the steps; every rule is here and table-tested.
//!
//! The rules: attempts stay within the service's timeout; a retry needs a
//! GET or an idempotency key, a failure worth retrying, and the isolate's
//! retry budget, and waits a jittered backoff first; a region whose breaker
//! refuses is skipped; a retry moves to the next region (failover) only
//! when the first surely did nothing.

use super::breaker::Admission;
use super::budget::backoff_ms;
use super::services::Service;
use super::{Attempt, GaveUp};

/// Backoff bounds of a retry, in milliseconds (full jitter).
const BACKOFF_BASE_MS: u64 = 50;
const BACKOFF_CAP_MS: u64 = 1_000;

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send an attempt to `region`, allowed `timeout_ms`.
    Attempt { region: String, timeout_ms: u64 },
    /// Pause this long before the retry.
    Wait { ms: u64 },
    /// Stop; tell the client why.
    GiveUp(GaveUp),
}

/// One request's plan: its candidate regions, limits and history.
#[derive(Debug, Clone)]
pub struct Plan {
    regions: Vec<String>,
    retries: u32,
    retryable: bool,
    failover: bool,
    deadline_ms: i64,
    made: u32,
    /// The attempt number whose backoff was already waited.
    waited_for: u32,
    last: Option<GaveUp>,
    /// Where the first attempt would go: named when time ran out unused.
    first_region: String,
}

impl Plan {
    /// A plan over `regions` (in order of preference, at least one) for a
    /// request to `service` starting at `started_ms`; `retryable` when it
    /// is a GET or carries an idempotency key.
    pub fn new(regions: Vec<String>, service: &Service, retryable: bool, started_ms: i64) -> Self {
        Self {
            first_region: regions.first().cloned().unwrap_or_default(),
            regions,
            retries: service.retries,
            retryable,
            failover: service.failover,
            deadline_ms: started_ms.saturating_add(service.timeout_ms as i64),
            made: 0,
            waited_for: 0,
            last: None,
        }
    }

    /// The next step at `now_ms`. `admit` asks a region's breaker;
    /// `budget_allows` asks (and spends) the isolate's retry budget, and is
    /// asked once per retry; `jitter` is a random number for the backoff.
    pub fn next(
        &mut self,
        now_ms: i64,
        mut admit: impl FnMut(&str) -> Admission,
        budget_allows: impl FnOnce() -> bool,
        jitter: u32,
    ) -> Step {
        let left = self.deadline_ms - now_ms;
        if self.made > self.retries || left <= 0 {
            return self.give_up();
        }
        if self.made > 0 && self.waited_for < self.made {
            if !self.retryable || !budget_allows() {
                return self.give_up();
            }
            self.waited_for = self.made;
            let pause = backoff_ms(self.made, jitter, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
            return Step::Wait {
                ms: pause.min(left as u64),
            };
        }
        let mut refused_for = i64::MAX;
        let pick = self
            .regions
            .iter()
            .find(|region| match admit(region) {
                Admission::Go | Admission::Probe => true,
                Admission::Refused { retry_after_ms } => {
                    refused_for = refused_for.min(retry_after_ms);
                    false
                }
            })
            .cloned();
        match pick {
            Some(region) => Step::Attempt {
                region,
                timeout_ms: left.max(1) as u64,
            },
            None => {
                self.last = self.last.take().or(Some(GaveUp::BreakerOpen {
                    retry_after_ms: refused_for,
                }));
                self.give_up()
            }
        }
    }

    /// Records an attempt that did not succeed (an answer below 500 is a
    /// success and ends the plan in the shell).
    pub fn failed(&mut self, region: &str, outcome: Attempt) {
        self.made += 1;
        self.last = Some(GaveUp::Failed {
            attempt: outcome,
            region: region.to_owned(),
        });
        if !outcome.worth_retrying() {
            // Nothing more to try: the next step gives up.
            self.made = self.retries.saturating_add(1);
            return;
        }
        // A request that may have been processed is retried where its
        // idempotency record is; one that surely was not may move on.
        if self.failover && self.regions.len() > 1 && outcome.surely_not_processed() {
            self.regions.retain(|r| r != region);
        }
    }

    fn give_up(&mut self) -> Step {
        Step::GiveUp(self.last.clone().unwrap_or(GaveUp::Failed {
            attempt: Attempt::TimedOut,
            region: self.first_region.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::breaker::BreakerSettings;

    fn service(retries: u32, failover: bool, timeout_ms: u64) -> Service {
        Service {
            name: "s".into(),
            endpoints: vec![
                ("us".into(), "https://us.example".into()),
                ("eu".into(), "https://eu.example".into()),
            ],
            timeout_ms,
            retries,
            failover,
            residency: false,
            max_in_flight: 64,
            breaker: BreakerSettings {
                failures: 5,
                open_ms: 30_000,
            },
        }
    }

    fn regions() -> Vec<String> {
        vec!["us".into(), "eu".into()]
    }

    const GO: fn(&str) -> Admission = |_| Admission::Go;

    /// Runs a plan against scripted outcomes, one per attempt; returns the
    /// steps taken (attempt regions and waits) and the end.
    fn run(plan: &mut Plan, outcomes: &[Attempt], budget: bool) -> (Vec<String>, Step) {
        let mut taken = Vec::new();
        let mut now = 0;
        let mut outcomes = outcomes.iter();
        for _ in 0..20 {
            match plan.next(now, GO, || budget, 7) {
                Step::Attempt { region, .. } => {
                    taken.push(region.clone());
                    now += 10;
                    match outcomes.next() {
                        Some(o) if !o.failed() => {
                            return (
                                taken,
                                Step::Attempt {
                                    region,
                                    timeout_ms: 0,
                                },
                            );
                        }
                        Some(o) => plan.failed(&region, *o),
                        None => plan.failed(&region, Attempt::TimedOut),
                    }
                }
                Step::Wait { ms } => {
                    taken.push(format!("wait {ms}"));
                    now += ms as i64;
                }
                end @ Step::GiveUp(_) => return (taken, end),
            }
        }
        panic!("the plan never ended");
    }

    #[test]
    fn a_first_success_ends_the_plan() {
        let mut plan = Plan::new(regions(), &service(2, false, 3000), true, 0);
        let (taken, _) = run(&mut plan, &[Attempt::Answered(201)], true);
        assert_eq!(taken, ["us"]);
    }

    #[test]
    fn retries_wait_and_stay_where_the_write_may_have_happened() {
        let mut plan = Plan::new(regions(), &service(2, true, 3000), true, 0);
        let (taken, end) = run(
            &mut plan,
            &[Attempt::TimedOut, Attempt::Broken, Attempt::Answered(502)],
            true,
        );
        assert_eq!(taken.iter().filter(|s| *s == "us").count(), 3, "{taken:?}");
        assert!(taken.iter().any(|s| s.starts_with("wait")));
        assert_eq!(
            end,
            Step::GiveUp(GaveUp::Failed {
                attempt: Attempt::Answered(502),
                region: "us".into()
            })
        );
    }

    #[test]
    fn failover_only_when_the_first_region_surely_did_nothing() {
        let mut plan = Plan::new(regions(), &service(2, true, 3000), true, 0);
        let (taken, _) = run(
            &mut plan,
            &[Attempt::Unreachable, Attempt::Answered(200)],
            true,
        );
        let tried: Vec<&String> = taken.iter().filter(|s| !s.starts_with("wait")).collect();
        assert_eq!(tried, ["us", "eu"]);
        // Without failover the retry stays.
        let mut plan = Plan::new(regions(), &service(2, false, 3000), true, 0);
        let (taken, _) = run(
            &mut plan,
            &[Attempt::Unreachable, Attempt::Answered(200)],
            true,
        );
        let tried: Vec<&String> = taken.iter().filter(|s| !s.starts_with("wait")).collect();
        assert_eq!(tried, ["us", "us"]);
    }

    #[test]
    fn no_retry_without_a_key_a_budget_or_a_reason() {
        for (retryable, budget, outcome) in [
            (false, true, Attempt::TimedOut),
            (true, false, Attempt::TimedOut),
            (true, true, Attempt::Answered(500)),
        ] {
            let mut plan = Plan::new(regions(), &service(2, true, 3000), retryable, 0);
            let (taken, end) = run(&mut plan, &[outcome, Attempt::Answered(200)], budget);
            assert_eq!(taken, ["us"], "{retryable} {budget} {outcome:?}");
            assert!(matches!(end, Step::GiveUp(GaveUp::Failed { .. })));
        }
    }

    #[test]
    fn time_and_breakers_bound_the_plan() {
        // No time left: give up before any attempt, naming the timeout.
        let mut plan = Plan::new(regions(), &service(2, true, 100), true, 0);
        assert_eq!(
            plan.next(100, GO, || true, 0),
            Step::GiveUp(GaveUp::Failed {
                attempt: Attempt::TimedOut,
                region: "us".into()
            })
        );
        // Every breaker open: give up with the soonest reopening.
        let mut plan = Plan::new(regions(), &service(2, true, 3000), true, 0);
        let open = |r: &str| Admission::Refused {
            retry_after_ms: if r == "us" { 900 } else { 400 },
        };
        assert_eq!(
            plan.next(0, open, || true, 0),
            Step::GiveUp(GaveUp::BreakerOpen {
                retry_after_ms: 400
            })
        );
        // One open breaker: the other region takes the attempt.
        let mut plan = Plan::new(regions(), &service(2, true, 3000), true, 0);
        let us_open = |r: &str| match r {
            "us" => Admission::Refused { retry_after_ms: 1 },
            _ => Admission::Go,
        };
        assert_eq!(
            plan.next(0, us_open, || true, 0),
            Step::Attempt {
                region: "eu".into(),
                timeout_ms: 3000
            }
        );
        // A wait never runs past the deadline.
        let mut plan = Plan::new(regions(), &service(2, true, 100), true, 0);
        assert!(matches!(plan.next(0, GO, || true, 0), Step::Attempt { .. }));
        plan.failed("us", Attempt::TimedOut);
        match plan.next(95, GO, || true, u32::MAX) {
            Step::Wait { ms } => assert!(ms <= 5, "{ms}"),
            other => panic!("{other:?}"),
        }
    }
}
