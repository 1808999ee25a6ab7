//! A circuit breaker per service and region: after `failures` consecutive
//! failures it opens and refuses at once; after `open_ms` it lets one probe
//! through (half-open); the probe's success closes it, its failure reopens.

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: i64,
    },
    /// One probe is out; others are refused until it reports (or, if it
    /// never does, until another `open_ms` has passed).
    HalfOpen {
        probe_since_ms: i64,
    },
}

/// Whether a request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Go, as the one half-open probe.
    Probe,
    Refused {
        retry_after_ms: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub state: BreakerState,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed { failures: 0 },
        }
    }
}

impl Breaker {
    pub fn admit(&mut self, now_ms: i64, s: BreakerSettings) -> Admission {
        match self.state {
            BreakerState::Closed { .. } => Admission::Go,
            BreakerState::Open { until_ms } if now_ms < until_ms => Admission::Refused {
                retry_after_ms: until_ms - now_ms,
            },
            BreakerState::HalfOpen { probe_since_ms } if now_ms - probe_since_ms < s.open_ms => {
                Admission::Refused {
                    retry_after_ms: probe_since_ms + s.open_ms - now_ms,
                }
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => {
                self.state = BreakerState::HalfOpen {
                    probe_since_ms: now_ms,
                };
                Admission::Probe
            }
        }
    }

    pub fn record(&mut self, succeeded: bool, now_ms: i64, s: BreakerSettings) {
        self.state = match (self.state, succeeded) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) if failures + 1 < s.failures => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            // A late failure while open does not extend the wait.
            (BreakerState::Open { until_ms }, false) => BreakerState::Open { until_ms },
            (_, false) => BreakerState::Open {
                until_ms: now_ms + s.open_ms,
            },
        };
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, BreakerState::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: BreakerSettings = BreakerSettings {
        failures: 5,
        open_ms: 30_000,
    };

    #[test]
    fn opens_after_five_consecutive_failures_only() {
        let mut b = Breaker::default();
        for _ in 0..4 {
            b.record(false, 0, S);
        }
        b.record(true, 0, S);
        for _ in 0..4 {
            b.record(false, 0, S);
            assert_eq!(b.admit(0, S), Admission::Go);
        }
        b.record(false, 1_000, S);
        assert_eq!(
            b.admit(2_000, S),
            Admission::Refused {
                retry_after_ms: 29_000
            }
        );
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_result_decides() {
        let mut b = Breaker {
            state: BreakerState::Open { until_ms: 30_000 },
        };
        assert_eq!(b.admit(30_000, S), Admission::Probe);
        assert!(matches!(b.admit(30_001, S), Admission::Refused { .. }));
        b.record(false, 30_500, S);
        assert_eq!(
            b.state,
            BreakerState::Open { until_ms: 60_500 },
            "a failed probe reopens"
        );
        assert_eq!(b.admit(60_500, S), Admission::Probe);
        b.record(true, 60_600, S);
        assert_eq!(b.admit(60_601, S), Admission::Go);
        assert!(!b.is_open());
    }

    #[test]
    fn a_lost_probe_does_not_wedge_the_breaker() {
        let mut b = Breaker {
            state: BreakerState::HalfOpen { probe_since_ms: 0 },
        };
        assert!(matches!(b.admit(29_999, S), Admission::Refused { .. }));
        assert_eq!(b.admit(30_000, S), Admission::Probe);
    }
}
