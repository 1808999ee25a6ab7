//! Catalog reads parked between the two steps of a cache hit (the edge
//! decides; the JavaScript entry awaits the cache lookup; the edge answers):
//! each under a ticket, with its cache key and start time.
//!
//! Tickets start at a random number in each wasm instance, so a ticket
//! handed out before the instance was rebuilt cannot name a read parked
//! after it; a ticket is honoured only with its own key; and reads left
//! behind by clients that went away are dropped by age once too many wait.

use std::collections::HashMap;

/// How many reads may wait before the old ones are dropped.
pub const MAX_WAITING: usize = 10_000;
/// How old (ms) a waiting read may be once [`MAX_WAITING`] is reached.
pub const MAX_AGE_MS: i64 = 30_000;

/// Parked reads of type `T`.
#[derive(Debug)]
pub struct Parked<T> {
    next: Option<u32>,
    waiting: HashMap<u32, (T, String, i64)>,
}

impl<T> Default for Parked<T> {
    fn default() -> Self {
        Self {
            next: None,
            waiting: HashMap::new(),
        }
    }
}

impl<T> Parked<T> {
    /// Parks `read` for cache key `key`, started at `now_ms`; its ticket.
    /// `seed` gives the first ticket of this instance (random).
    pub fn park(&mut self, read: T, key: &str, now_ms: i64, seed: impl FnOnce() -> u32) -> u32 {
        if self.waiting.len() >= MAX_WAITING {
            self.waiting
                .retain(|_, (_, _, at)| now_ms - *at < MAX_AGE_MS);
        }
        let ticket = self.next.unwrap_or_else(seed).wrapping_add(1);
        self.next = Some(ticket);
        self.waiting.insert(ticket, (read, key.to_owned(), now_ms));
        ticket
    }

    /// The read parked under `ticket` for `key`, and when it started.
    pub fn peek(&self, ticket: u32, key: &str) -> Option<(&T, i64)> {
        let (read, k, at) = self.waiting.get(&ticket)?;
        (k == key).then_some((read, *at))
    }

    /// Takes the read parked under `ticket` for `key`; a ticket with
    /// another key is dropped (it was never this read's).
    pub fn take(&mut self, ticket: u32, key: &str) -> Option<(T, i64)> {
        let (read, k, at) = self.waiting.remove(&ticket)?;
        (k == key).then_some((read, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_names_only_its_own_read() {
        let mut p = Parked::default();
        let a = p.park("a", "k/a", 0, || 41);
        let b = p.park("b", "k/b", 1, || unreachable!("seeded once"));
        assert_eq!((a, b), (42, 43));
        assert_eq!(p.peek(a, "k/a"), Some((&"a", 0)));
        assert_eq!(p.peek(a, "k/b"), None, "another read's key");
        assert_eq!(p.take(b, "k/b"), Some(("b", 1)));
        assert_eq!(p.take(b, "k/b"), None, "taken once");
    }

    #[test]
    fn a_rebuilt_instance_hands_out_other_tickets_and_old_reads_go() {
        let mut before = Parked::default();
        let old = before.park(1, "k/x", 0, || 7);
        let mut after = Parked::default();
        let new = after.park(2, "k/y", 0, || 9_000);
        assert_ne!(old, new);
        assert_eq!(after.take(old, "k/x"), None);

        let mut full = Parked::default();
        for i in 0..MAX_WAITING {
            full.park(i, "k", 0, || 0);
        }
        let fresh = full.park(usize::MAX, "k", MAX_AGE_MS, || 0);
        assert_eq!(
            full.waiting.len(),
            1,
            "the old reads went, the new one stayed"
        );
        assert!(full.peek(fresh, "k").is_some());
    }
}
