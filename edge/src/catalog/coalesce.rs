//! Request coalescing, as a decision: what a request does about a catalog
//! fetch that another request in the same isolate is already leading.
//!
//! A leader can vanish without a trace: when its client goes away the
//! runtime stops polling its request, so no destructor reports it. Every
//! waiter therefore has a deadline — the leader's own timeout plus a
//! margin — after which it takes the slot over and fetches itself.

/// How long after the leader's fetch timeout a waiter keeps waiting (the
/// leader may still be storing what it fetched).
pub const TAKEOVER_MARGIN_MS: i64 = 2_000;

/// Where the leading fetch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    /// Fetching since `started_ms` (Unix milliseconds).
    Working { started_ms: i64 },
    /// Left a result for the waiters.
    Done,
    /// Ended without a result (its request was dropped).
    Abandoned,
}

/// What a request facing a leader does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Look again shortly.
    Wait,
    /// Use the leader's result.
    Use,
    /// Fetch alone: the leader is gone and said so.
    FetchAlone,
    /// The leader is past any fetch it could still finish: become the
    /// leader in its place.
    TakeOver,
}

/// The decision, given where the leader stands, the time, and the fetch
/// timeout (`CATALOG_TIMEOUT_MS`).
pub fn step(leader: Leader, now_ms: i64, timeout_ms: i64) -> Step {
    match leader {
        Leader::Done => Step::Use,
        Leader::Abandoned => Step::FetchAlone,
        Leader::Working { started_ms }
            if now_ms >= started_ms + timeout_ms + TAKEOVER_MARGIN_MS =>
        {
            Step::TakeOver
        }
        Leader::Working { .. } => Step::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_waits_for_a_live_leader_and_takes_over_a_vanished_one() {
        let working = Leader::Working { started_ms: 1_000 };
        assert_eq!(step(working, 1_000, 3_000), Step::Wait);
        assert_eq!(step(working, 5_999, 3_000), Step::Wait);
        assert_eq!(step(working, 6_000, 3_000), Step::TakeOver);
        assert_eq!(step(working, 60_000, 3_000), Step::TakeOver);
        assert_eq!(step(Leader::Done, 60_000, 3_000), Step::Use);
        assert_eq!(step(Leader::Abandoned, 0, 3_000), Step::FetchAlone);
    }
}
