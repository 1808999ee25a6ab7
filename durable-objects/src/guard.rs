//! Rules of the session guard, as plain data: a fixed-window counter of
//! failed logins, and how long a revoked session must be remembered.
//!
//! A login attempt *reserves* its place in the counter before it reaches
//! the identity origin, in the same step as the check: concurrent attempts
//! can never all pass a check that only later attempts would fail. A
//! reservation counts as a failure until the attempt turns out not to be
//! one ([`Failures::release`]); an edge that dies mid-login leaves it
//! counted, which errs on the side of the limit.

use serde::{Deserialize, Serialize};

/// Failed (or still running) attempts within the current window.
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

    /// Takes one place for an attempt at `now`: the counter with it taken,
    /// or `Err(retry_after_seconds)` while the limit is reached (nothing
    /// taken).
    pub fn reserve(self, now: i64, limit: Limit) -> Result<Self, i64> {
        let c = self.current(now, limit);
        if c.count >= limit.max {
            return Err((c.window_start + limit.window - now).max(1));
        }
        Ok(Failures {
            count: c.count + 1,
            ..c
        })
    }

    /// Gives back a place taken in the window that began at
    /// `window_start`, once its attempt proved not to be a failure. A
    /// place from a window that has since ended is already gone.
    pub fn release(self, window_start: i64) -> Self {
        if self.window_start == window_start && self.count > 0 {
            Failures {
                count: self.count - 1,
                ..self
            }
        } else {
            self
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
            f = f.reserve(t, limit).expect("within the limit");
        }
        assert_eq!(f.reserve(110, limit), Err(50));
        assert_eq!(f.reserve(159, limit), Err(1));
        assert_eq!(
            f.reserve(160, limit),
            Ok(Failures {
                window_start: 160,
                count: 1
            })
        );
    }

    #[test]
    fn concurrent_attempts_take_places_before_any_answer() {
        // Twenty-five attempts arrive before any has been answered: only
        // `max` get a place, whatever their outcome will be.
        let limit = Limit {
            max: 5,
            window: 900,
        };
        let mut f = Failures::default();
        let admitted = (0..25)
            .filter(|_| match f.reserve(1_000, limit) {
                Ok(next) => {
                    f = next;
                    true
                }
                Err(_) => false,
            })
            .count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn a_successful_attempt_gives_its_place_back_in_its_window_only() {
        let limit = Limit { max: 2, window: 60 };
        let f = Failures::default().reserve(100, limit).expect("a place");
        let f = f.reserve(101, limit).expect("a place");
        assert!(f.reserve(102, limit).is_err());
        let f = f.release(100);
        assert_eq!(f.count, 1);
        assert!(f.reserve(102, limit).is_ok());
        // A place from an ended window is not taken from the new one.
        let later = f.reserve(200, limit).expect("a new window");
        assert_eq!(later.release(100), later);
        assert_eq!(Failures::default().release(0).count, 0);
    }
}
