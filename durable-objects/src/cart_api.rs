//! Calls into a cart object: binding, object naming, routes and bodies,
//! defined once for the edge (caller) and the object (callee).

use origin_adapter::wire::Money;
use serde::{Deserialize, Serialize};

use crate::cart::{Cart, CartLine, CartStatus};

/// The Durable Object binding in `wrangler.toml`.
pub const BINDING: &str = "CART";

/// The object name for a cart id; one object per cart.
pub fn object_name(cart_id: &str) -> String {
    format!("cart:{cart_id}")
}

/// Stub URLs must be absolute; the host is never resolved.
pub const VIEW: &str = "https://cart/view";
pub const ADD_LINE: &str = "https://cart/lines";
pub const CHECKED_OUT: &str = "https://cart/checked-out";

/// `POST ADD_LINE`: the edge has already priced the line from the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddLine {
    pub cart_id: String,
    pub line: CartLine,
}

/// `POST CHECKED_OUT`: the orders origin accepted the cart at `version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckedOut {
    pub cart_id: String,
    pub version: i64,
    pub order_id: String,
}

/// A cart line as customers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub sku: String,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub line_total: Money,
}

/// The cart as every cart endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub cart_id: String,
    pub version: i64,
    pub status: CartStatus,
    pub lines: Vec<LineView>,
    pub total: Option<Money>,
}

impl CartView {
    pub fn of(cart_id: &str, cart: &Cart) -> Self {
        Self {
            cart_id: cart_id.to_owned(),
            version: cart.version,
            status: cart.status.clone(),
            lines: cart
                .lines
                .iter()
                .map(|l| LineView {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    unit_price: l.unit_price.clone(),
                    quantity: l.quantity,
                    line_total: Money {
                        amount_minor: l.unit_price.amount_minor.saturating_mul(l.quantity),
                        currency: l.unit_price.currency.clone(),
                    },
                })
                .collect(),
            total: cart.total(),
        }
    }
}
