//! Rules of the session guard, as plain data: a fixed-window counter of
//! failed logins, and how long a revoked session must be remembered.

use serde::{Deserialize, Serialize};

/// Failed attempts within the current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    /// Unix seconds the window began.
    pub window_start: i64,
    pub count: i64,
}

/// A limit: at most `max` failures per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub max: i64,
    pub window: i64,
}

impl Failures {
    fn current(self, now: i64, limit: Limit) -> Self {
        if now - self.window_start >= limit.window {
            Failures {
                window_start: now,
                count: 0,
            }
        } else {
            self
        }
    }

    /// `Err(retry_after_seconds)` while the limit is reached.
    pub fn check(self, now: i64, limit: Limit) -> Result<(), i64> {
        let c = self.current(now, limit);
        if c.count >= limit.max {
            Err((c.window_start + limit.window - now).max(1))
        } else {
            Ok(())
        }
    }

    /// The counter after one more failure at `now`.
    pub fn record(self, now: i64, limit: Limit) -> Self {
        let c = self.current(now, limit);
        Failures {
            count: c.count + 1,
            ..c
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_for_its_window_then_lifts() {
        let limit = Limit { max: 3, window: 60 };
        let mut f = Failures::default();
        for t in [100, 101, 102] {
            assert_eq!(f.check(t, limit), Ok(()));
            f = f.record(t, limit);
        }
        assert_eq!(f.check(110, limit), Err(50));
        assert_eq!(f.check(159, limit), Err(1));
        assert_eq!(f.check(160, limit), Ok(()));
        assert_eq!(
            f.record(160, limit),
            Failures {
                window_start: 160,
                count: 1
            }
        );
    }
}
