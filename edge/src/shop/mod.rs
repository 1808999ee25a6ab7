//! The shop's use cases, in the core: each is plain Rust over the
//! [`ports`] through which it reaches the platform, so it is tested
//! natively with in-memory fakes and the Worker only performs the effects.
//!
//! * [`cart`]: whose cart, quantities checked before they cross, and
//!   what each cart and checkout answer looks like;
//! * [`catalog`]: the catalog read through the cache, coalesced;
//! * [`checkout`]: freeze, place the order, record the origin's answer;
//! * [`flags`]: the document's copy and fallbacks, browsers' flags, the
//!   admin's saves and override tokens, the catalog lifetime;
//! * [`session`]: who the caller is, logged out, logged in — and cookies;
//! * [`reply`]: an answer as plain data, rendered by the shell;
//! * [`purge`]: an origin's signed purge, verified and checked;
//! * [`login`]: limits, the identity origin, a new session, the guest
//!   cart merged (or kept, with its cookie, when it cannot be).

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod flags;
pub mod login;
pub mod ports;
pub mod purge;
pub mod reply;
pub mod session;

#[cfg(test)]
mod fakes;
