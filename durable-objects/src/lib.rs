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
//!   its version), publishing to Workers KV;
//! * [`drop`], [`drop_api`], [`drop_object`], [`stock_object`]: drops — the
//!   rules (pure), the calls, the queue (one object per drop) and exact
//!   stock holds (one object per SKU and region);
//! * [`calls`]: one object calling another.

pub mod body;
pub mod calls;
pub mod cart;
pub mod cart_api;
mod cart_holds;
pub mod cart_live;
pub mod cart_object;
pub mod drop;
pub mod drop_api;
pub mod drop_object;
pub mod exchange;
pub mod flags_object;
pub mod guard;
pub mod guard_api;
pub mod guard_object;
pub mod respond;
pub mod stock_object;

pub use cart_object::CartObject;
pub use drop_object::DropObject;
pub use flags_object::FlagsObject;
pub use guard_object::GuardObject;
pub use stock_object::StockObject;
