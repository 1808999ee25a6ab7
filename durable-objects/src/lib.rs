//! Durable Object classes of the storefront edge, exported through `edge`.
//!
//! * [`cart`]: the cart as plain data and the rules of changing it (pure);
//! * [`cart_api`]: the one typed description of calls into a cart object,
//!   shared by the edge (caller) and the object (callee);
//! * [`cart_object`]: the `CartObject` Durable Object itself — SQLite storage and
//!   the glue that calls [`cart`];
//! * [`guard`], [`guard_api`], [`guard_object`]: the same three parts for
//!   the session guard (revocations, failed-login counters);
//! * [`body`]: the one bounded reader for request bodies (edge and objects);
//! * [`exchange`]: the one signed request to an origin, sent within a time
//!   limit (the edge's forwarded calls and the cart's outbox);
//! * [`flags_object`]: the flag document's single writer (compare-and-set on
//!   its version), publishing to Workers KV.

pub mod body;
pub mod cart;
pub mod cart_api;
pub mod cart_live;
pub mod cart_object;
pub mod exchange;
pub mod flags_object;
pub mod guard;
pub mod guard_api;
pub mod guard_object;
pub mod respond;

pub use cart_object::CartObject;
pub use flags_object::FlagsObject;
pub use guard_object::GuardObject;
