//! The verifier's memory of nonces it has already accepted, so a captured
//! request cannot be replayed inside its validity window.

use std::collections::HashMap;

/// Nonces seen per key id, each remembered until its signature could no
/// longer verify anyway.
#[derive(Debug)]
pub struct SeenNonces {
    /// (key id, nonce) → Unix second after which it may be forgotten.
    seen: HashMap<(String, String), i64>,
    /// Past this many live entries new requests are refused rather than
    /// letting memory grow without bound (fail closed).
    capacity: usize,
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefused {
    Replayed,
    Full,
}

impl SeenNonces {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            capacity,
        }
    }

    /// Accepts `nonce` once; a second use before `forget_after` is refused.
    pub fn accept(
        &mut self,
        keyid: &str,
        nonce: &str,
        forget_after: i64,
        now: i64,
    ) -> Result<(), NonceRefused> {
        if self.seen.len() >= self.capacity {
            self.seen.retain(|_, until| *until >= now);
        }
        let entry = (keyid.to_owned(), nonce.to_owned());
        match self.seen.get(&entry) {
            Some(until) if *until >= now => return Err(NonceRefused::Replayed),
            _ => {}
        }
        if self.seen.len() >= self.capacity {
            return Err(NonceRefused::Full);
        }
        self.seen.insert(entry, forget_after);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_key() {
        let mut seen = SeenNonces::new(10);
        assert_eq!(seen.accept("k", "n", 100, 0), Ok(()));
        assert_eq!(seen.accept("k", "n", 100, 50), Err(NonceRefused::Replayed));
        assert_eq!(seen.accept("other", "n", 100, 50), Ok(()));
    }

    #[test]
    fn expired_entries_make_room_and_a_full_set_fails_closed() {
        let mut seen = SeenNonces::new(2);
        seen.accept("k", "a", 10, 0).unwrap();
        seen.accept("k", "b", 100, 0).unwrap();
        assert_eq!(seen.accept("k", "c", 100, 5), Err(NonceRefused::Full));
        assert_eq!(seen.accept("k", "c", 100, 11), Ok(()));
    }
}
