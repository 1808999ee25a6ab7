//! The shop's use cases, in the core: each is plain Rust over the
//! [`ports`] through which it reaches the platform, so it is tested
//! natively with in-memory fakes and the Worker only performs the effects.
//!
//! * [`caller`]: who asks — the session (unless revoked), their cart,
//!   the claims origins get, the client's idempotency key;
//! * [`cart`]: whose cart, quantities checked before they cross, and
//!   what each cart and checkout answer looks like;
//! * [`cart_changes`]: show, clear, add, set and remove, priced from the
//!   catalog;
//! * [`catalog`]: the catalog read through the cache, coalesced;
//! * [`checkout`]: freeze, place the order, record the origin's answer;
//! * [`drops`]: a drop's queue (join, where one stands), its admin API,
//!   and what an add of a drop SKU carries;
//! * [`flags_api`]: a browser's flags, the admin's document and override
//!   tokens;
//! * [`forwarded`]: a customer's orders, and the routes the service table
//!   passes to an origin as they are;
//! * [`flags`]: the document's copy and fallbacks, browsers' flags, the
//!   admin's saves and override tokens, the catalog lifetime;
//! * [`session`]: who the caller is, logged out, logged in — and cookies;
//! * [`reply`]: an answer as plain data, rendered by the shell;
//! * [`purge`]: an origin's signed purge, verified and checked;
//! * [`login`]: limits, the identity origin, a new session, the guest
//!   cart merged (or kept, with its cookie, when it cannot be).

pub mod caller;
pub mod cart;
pub mod cart_changes;
pub mod catalog;
pub mod checkout;
pub mod drops;
pub mod flags;
pub mod flags_api;
pub mod forwarded;
pub mod live;
pub mod login;
pub mod ports;
pub mod purge;
pub mod reply;
pub mod session;

#[cfg(test)]
pub(crate) mod fakes;
