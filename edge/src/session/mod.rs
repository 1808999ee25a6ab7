//! Customer sessions at the edge. [`token`] seals and opens the session
//! token (PASETO v4.local) under a key ring; nothing here reads a clock.

pub mod rules;
pub mod token;
