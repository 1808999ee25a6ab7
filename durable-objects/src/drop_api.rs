//! Calls into a drop's objects, defined once for callers and callees: the
//! queue (one [`crate::drop_object::DropObject`] per drop) and the stock
//! (one [`crate::stock_object::StockObject`] per SKU and region — the
//! region whose origin places the order and checks its stock — whichever
//! drop it is in, so a SKU's units are counted once across drops), their
//! bindings and object names, and where the edge finds a SKU's drop in
//! Workers KV.

use serde::{Deserialize, Serialize};

use crate::drop::{DropConfig, Standing};

/// The queue objects' binding in `wrangler.toml`.
pub const QUEUE_BINDING: &str = "DROP_QUEUE";
/// The stock objects' binding.
pub const STOCK_BINDING: &str = "DROP_STOCK";
/// The KV namespace where every isolate finds which drop a SKU is in:
/// key [`sku_key`], value a [`DropConfig`] as JSON (written by the admin
/// API after the queue object accepted it; removed when the drop ends).
pub const KV_BINDING: &str = "DROPS";
/// Where calls go: `POST` with a [`QueueCall`] or [`StockCall`] as JSON.
pub const QUEUE_CALL: &str = "https://drop/call";
pub const STOCK_CALL: &str = "https://stock/call";

/// The KV key naming the drop `sku` is in.
pub fn sku_key(sku: &str) -> String {
    format!("sku:{sku}")
}

/// The stock object of `sku` as sold from `region`.
pub fn stock_name(sku: &str, region: &str) -> String {
    format!("{sku}@{region}")
}

/// Whom a logged-in customer's units count against in drop `drop`.
pub fn customer_holder(drop: &str, customer: &str) -> String {
    format!("customer:{drop}:{customer}")
}

/// Whom a device's units count against: its ticket (one drop's).
pub fn device_holder(ticket: &str) -> String {
    format!("device:{ticket}")
}

/// Every call into a drop's queue object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum QueueCall {
    /// Creates (`201`) or replaces (`200`) the drop, answering [`DropState`];
    /// `409` when people have joined and `order` or `opens_at` changes.
    Configure { config: DropConfig, now_ms: i64 },
    /// `200` with [`DropState`]; `404` for no drop.
    Show { now_ms: i64 },
    /// Ends the drop now: `200` with [`DropState`]; `404` for no drop.
    End { now_ms: i64 },
    /// Finds the place of the presented `ticket` (unless it is another
    /// customer's) or of `customer`, or takes one at the back under the
    /// `fresh` ticket: `200` with [`TicketStatus`]; `404` no drop, `409`
    /// closed, `429` asked again within a second, `503` queue full.
    Join {
        ticket: Option<String>,
        fresh: String,
        /// The client's address bucket (an IPv6 /64): new places from one
        /// are limited ([`crate::drop::DropConfig::joins_per_address`]).
        address: String,
        customer: Option<String>,
        now_ms: i64,
        /// Random, for a `random` queue's draw.
        draw: u32,
    },
    /// Where `ticket` stands: `200` with [`TicketStatus`]; `404` unknown
    /// ticket or drop; `403` another customer's; `429` asked again within
    /// [`crate::drop::MIN_POLL_MS`].
    /// A logged-in `customer` asking makes a guest's ticket theirs (unless
    /// they have one already), so their other devices find this place.
    Stand {
        ticket: String,
        customer: Option<String>,
        now_ms: i64,
    },
}

/// A queue's counts at a moment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    /// Places taken.
    pub joined: i64,
    /// Places not admitted yet.
    pub waiting: i64,
    /// Places admitted so far.
    pub admitted: i64,
}

/// A drop as its queue object holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropState {
    pub config: DropConfig,
    /// Ended by an admin (`DELETE`): closed whatever `closes_at` says.
    pub ended: bool,
    pub counts: QueueCounts,
}

/// Where one ticket stands in its drop's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketStatus {
    /// The ticket whose place this is (a customer joining again from
    /// another device is given the place, and ticket, they already have).
    pub ticket: String,
    pub standing: Standing,
    /// 1 = next; `None` while a random draw is still to come.
    pub position: Option<i64>,
    pub wait_seconds: i64,
    /// When the admission ends (Unix milliseconds), once admitted.
    pub admitted_until_ms: Option<i64>,
    /// The customer who joined with this ticket, if logged in.
    pub customer: Option<String>,
    /// The drop, so the answer needs no second call.
    pub drop: DropConfig,
}

/// Every call into a drop SKU's stock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum StockCall {
    /// Sets the units `cart` holds to `quantity` (0 releases): `200` with
    /// [`HoldAnswer`]; `409` sold out, `422` over the limit (problems);
    /// `503` when the stock could not be read from the origin.
    Hold(Box<Hold>),
    /// A checkout froze `cart`: its hold no longer ends by time until the
    /// order is settled (`200`), or `409` when it holds nothing.
    Checkout { cart: String, now_ms: i64 },
    /// The order of `cart` was placed with `quantity` units: they are
    /// sold (`200`; the same order twice counts once).
    Sold {
        cart: String,
        order_id: String,
        quantity: i64,
    },
    /// `cart` gives its units back (`200`, whether it held any or not).
    Release { cart: String },
    /// At login, a guest cart's hold becomes the customer cart's (`to`,
    /// object id `to_object`), counting against `holders` too; the time it
    /// ends does not move. `200` with [`HoldAnswer`] (what `to` now holds),
    /// `409` when `from` holds nothing, `422` over the limit.
    Move {
        from: String,
        to: String,
        to_object: String,
        holders: Vec<String>,
    },
    /// Reads the stock again from `source` (a drop configured again after
    /// a restock): what is free becomes the origin's stock less what is
    /// held. `200` with [`StockCounts`]; `503` when the origin cannot say.
    Reload { sku: String, source: String },
    /// `200` with [`StockCounts`].
    Counts,
}

/// [`StockCall::Hold`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub sku: String,
    /// The cart's short key ([`crate::cart_api::CartKey::short`]).
    pub cart: String,
    /// The cart object's id (hex), so the stock can ask it about the hold.
    pub cart_object: String,
    pub quantity: i64,
    pub terms: HoldTerms,
    pub now_ms: i64,
}

/// What a cart needs to hold units of a drop SKU, as the edge decides it
/// when an admitted customer adds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldTerms {
    pub drop: String,
    /// The stock object ([`stock_name`]).
    pub stock: String,
    /// Who the units count against: `customer:<drop>:<id>` when logged
    /// in, and always `device:<ticket>` (a ticket is one drop's).
    pub holders: Vec<String>,
    pub limit: i64,
    pub hold_seconds: i64,
    /// The product's URL at the catalog origin, where the stock is read
    /// the first time a unit is held.
    pub source: String,
}

/// A hold as taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldAnswer {
    pub held: i64,
    /// When the hold ends unless checked out (Unix milliseconds).
    pub until_ms: i64,
    pub available: i64,
}

/// A drop SKU's stock.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockCounts {
    pub sku: String,
    /// The region whose origin sells these units.
    #[serde(default)]
    pub region: String,
    /// As read from the origin when the first unit was held; `null` before.
    pub stock: Option<i64>,
    pub held: i64,
    pub sold: i64,
    pub available: Option<i64>,
}

/// What a cart says about its hold on one SKU, when the stock asks
/// (`CartCall::Holding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Holding {
    /// The cart holds `quantity` until `until_ms`.
    Held { quantity: i64, until_ms: i64 },
    /// Its order is on its way.
    CheckingOut,
    /// Its order was placed.
    Placed { order_id: String },
    /// It holds none.
    Nothing,
}

impl Holding {
    /// What `cart` holds of `sku`, as its stock should count it.
    pub fn of(cart: &crate::cart::Cart, sku: &str) -> Self {
        use crate::cart::CartStatus;
        let line = cart
            .lines
            .iter()
            .find(|l| l.sku == sku)
            .and_then(|l| Some((l.quantity, l.hold.as_ref()?.until_ms)));
        match (&cart.status, line) {
            (_, None) => Holding::Nothing,
            (CartStatus::Open, Some((quantity, until_ms))) => Holding::Held { quantity, until_ms },
            (CartStatus::CheckingOut { .. }, Some(_)) => Holding::CheckingOut,
            (CartStatus::CheckedOut { order_id }, Some(_)) => Holding::Placed {
                order_id: order_id.clone(),
            },
            (CartStatus::Closed, Some(_)) => Holding::Nothing,
        }
    }
}
