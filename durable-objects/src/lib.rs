//! The storefront's Durable Objects: the rules they keep, the typed calls
//! the edge makes to them, and — with the `classes` feature (on by
//! default) — the classes themselves, which run in their own Worker,
//! `storefront-objects` (`durable-objects/wrangler.toml`). The edge Worker
//! depends on this crate without them: it only calls objects.
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
//! * [`flags_api`], [`flags_object`]: the flag document's single writer
//!   (compare-and-set on its version), publishing to Workers KV;
//! * [`drop`], [`drop_api`], [`drop_object`], [`stock_object`]: drops — the
//!   rules (pure), the calls, the queue (one object per drop) and exact
//!   stock holds (one object per SKU and region);
//! * [`calls`]: one object calling another.

pub mod body;
pub mod cart;
pub mod cart_api;
pub mod cart_live;
pub mod drop;
pub mod drop_api;
pub mod exchange;
pub mod flags_api;
pub mod guard;
pub mod guard_api;
pub mod respond;

#[cfg(feature = "classes")]
pub mod calls;
#[cfg(feature = "classes")]
mod cart_holds;
#[cfg(feature = "classes")]
pub mod cart_object;
#[cfg(feature = "classes")]
pub mod drop_object;
#[cfg(feature = "classes")]
pub mod flags_object;
#[cfg(feature = "classes")]
pub mod guard_object;
#[cfg(feature = "classes")]
pub mod stock_object;

#[cfg(feature = "classes")]
pub use cart_object::CartObject;
#[cfg(feature = "classes")]
pub use drop_object::DropObject;
#[cfg(feature = "classes")]
pub use flags_object::FlagsObject;
#[cfg(feature = "classes")]
pub use guard_object::GuardObject;
#[cfg(feature = "classes")]
pub use stock_object::StockObject;

/// A panic in an object logs its message and place (the Worker's panic
/// hook); the object's instance then restarts.
#[cfg(feature = "classes")]
#[worker::event(start)]
fn start() {
    console_error_panic_hook::set_once();
}
