//! How much extra load retries may add: a retry budget over a sliding
//! window, and jittered exponential backoff between attempts.

/// The window over which retries are counted against requests.
pub const WINDOW_MS: i64 = 10_000;
/// Retries allowed per request: one in five (20% extra load).
pub const RETRIES_PER_REQUEST: u32 = 5;
/// Retries allowed per window however quiet the traffic, so a lone
/// request can still fail over.
pub const MIN_RETRIES: u32 = 3;

/// Counts requests and retries in the current and previous window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryBudget {
    window_start_ms: i64,
    requests: u32,
    retries: u32,
    previous_requests: u32,
    previous_retries: u32,
}

impl RetryBudget {
    fn roll(&mut self, now_ms: i64) {
        if now_ms - self.window_start_ms >= 2 * WINDOW_MS {
            *self = Self {
                window_start_ms: now_ms,
                ..Self::default()
            };
        } else if now_ms - self.window_start_ms >= WINDOW_MS {
            self.previous_requests = self.requests;
            self.previous_retries = self.retries;
            self.requests = 0;
            self.retries = 0;
            self.window_start_ms += WINDOW_MS;
        }
    }

    /// Counts a first attempt.
    pub fn note_request(&mut self, now_ms: i64) {
        self.roll(now_ms);
        self.requests = self.requests.saturating_add(1);
    }

    /// Spends one retry if the budget allows it.
    pub fn try_retry(&mut self, now_ms: i64) -> bool {
        self.roll(now_ms);
        let requests = self.requests + self.previous_requests;
        let allowed = (requests / RETRIES_PER_REQUEST).max(MIN_RETRIES);
        if self.retries + self.previous_retries >= allowed {
            return false;
        }
        self.retries += 1;
        true
    }
}

/// "Full jitter" backoff before retry number `retry` (1 for the first):
/// uniform in `[0, min(cap, base · 2^(retry-1))]`, drawn from `random`.
pub fn backoff_ms(retry: u32, random: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let ceiling = base_ms
        .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
        .min(cap_ms);
    u64::from(random) % (ceiling + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_a_fifth_of_requests() {
        let mut b = RetryBudget::default();
        let mut granted = 0;
        for i in 0..1000 {
            b.note_request(i);
            if b.try_retry(i) {
                granted += 1;
            }
        }
        assert_eq!(granted, 200);
    }

    #[test]
    fn a_quiet_isolate_still_has_a_few_retries() {
        let mut b = RetryBudget::default();
        b.note_request(0);
        assert!(b.try_retry(0));
        assert!(b.try_retry(0));
        assert!(b.try_retry(0));
        assert!(!b.try_retry(0));
        // Two windows later the slate is clean.
        b.note_request(2 * WINDOW_MS);
        assert!(b.try_retry(2 * WINDOW_MS));
    }

    #[test]
    fn the_previous_window_still_counts() {
        let mut b = RetryBudget::default();
        for _ in 0..3 {
            assert!(b.try_retry(9_000));
        }
        assert!(!b.try_retry(WINDOW_MS + 1), "spent in the window before");
    }

    #[test]
    fn backoff_grows_is_capped_and_is_jittered() {
        assert_eq!(backoff_ms(1, u32::MAX, 50, 1000), u64::from(u32::MAX) % 51);
        assert!(backoff_ms(3, 199, 50, 1000) <= 200);
        assert!(backoff_ms(30, u32::MAX, 50, 1000) <= 1000);
        assert_eq!(backoff_ms(2, 0, 50, 1000), 0);
        let spread: std::collections::BTreeSet<u64> = (0..50u32)
            .map(|r| backoff_ms(3, r * 7919, 50, 1000))
            .collect();
        assert!(spread.len() > 20, "jitter spreads retries out");
    }
}
