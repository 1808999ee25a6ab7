//! Calls into a cart object: binding, object naming, routes and bodies,
//! defined once for the edge (caller) and the object (callee), and the
//! small pure rules the object applies around a change (expiry, outbox
//! backoff, request de-duplication).

use origin_adapter::wire::Money;
use serde::{Deserialize, Serialize};

use crate::cart::{Cart, CartLine, CartStatus, MergeReport};

/// The Durable Object binding in `wrangler.toml`.
pub const BINDING: &str = "CART";

/// Which cart: a guest's (by the id in their signed cookie) or a
/// customer's (by user id). One object per cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartKey {
    Guest(String),
    Customer(String),
}

impl CartKey {
    /// The object name, and the key recorded inside the object.
    pub fn name(&self) -> String {
        match self {
            CartKey::Guest(id) => format!("cart:{id}"),
            CartKey::Customer(user) => format!("customer:{user}"),
        }
    }

    /// A short form for order keys and support URLs: `g-<id>`, `u-<user>`.
    pub fn short(&self) -> String {
        match self {
            CartKey::Guest(id) => format!("g-{id}"),
            CartKey::Customer(user) => format!("u-{user}"),
        }
    }

    /// Reads [`CartKey::short`] back; `None` for anything else.
    pub fn from_short(text: &str) -> Option<Self> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(id) = text.strip_prefix("g-").filter(|s| ok(s)) {
            return Some(CartKey::Guest(id.to_owned()));
        }
        text.strip_prefix("u-")
            .filter(|s| ok(s))
            .map(|u| CartKey::Customer(u.to_owned()))
    }
}

/// Stub URLs must be absolute; the host is never resolved.
pub const VIEW: &str = "https://cart/view";
pub const MUTATE: &str = "https://cart/mutate";
pub const LOG: &str = "https://cart/log";

/// Where a frozen cart's order goes, and with what the edge vouches for;
/// kept in the outbox so the object can retry without the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTarget {
    /// The orders service's URL in the chosen region, e.g. `https://us…/orders`.
    pub url: String,
    pub region: String,
    /// Encoded claims of the customer, if logged in.
    pub claims: Option<String>,
    pub request_id: String,
    pub traceparent: String,
}

/// One change, as the edge asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Add {
        line: CartLine,
    },
    SetQuantity {
        sku: String,
        quantity: i64,
    },
    Remove {
        sku: String,
    },
    Clear,
    /// A guest cart's lines, at login.
    Merge {
        lines: Vec<CartLine>,
        from: String,
    },
    /// Closes a guest cart whose lines were merged.
    Close,
    /// Freezes for checkout and writes the outbox, in one step.
    Freeze {
        target: OrderTarget,
    },
    /// The origin's answer to the order, as the edge received it.
    Placed {
        order: Box<origin_adapter::wire::Order>,
    },
    Refused {
        reason: String,
    },
    /// The edge's own attempt did not settle the order: the outbox takes
    /// over at once, with backoff.
    Deferred {
        reason: String,
    },
}

impl Op {
    /// What the audit log calls it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add { .. } => "add",
            Op::SetQuantity { .. } => "set_quantity",
            Op::Remove { .. } => "remove",
            Op::Clear => "clear",
            Op::Merge { .. } => "merge",
            Op::Close => "close",
            Op::Freeze { .. } => "checkout",
            Op::Placed { .. } => "order_placed",
            Op::Refused { .. } => "order_refused",
            Op::Deferred { .. } => "order_deferred",
        }
    }
}

/// `POST MUTATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// [`CartKey::name`] of the cart meant; the object refuses another.
    pub cart: String,
    /// Who asks, for the audit log: `guest`, `user:<id>`, `edge`.
    pub actor: String,
    /// `If-Match`: the version the client saw.
    pub if_match: Option<i64>,
    /// A client's request id (`Idempotency-Key`): a retry counts once.
    pub request_id: Option<String>,
    /// How long the cart lives without changes (seconds).
    pub idle_seconds: i64,
    pub op: Op,
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

/// A checkout waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxView {
    pub order_key: String,
    pub region: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    /// The exact order body: whoever sends it sends these bytes, so the
    /// origin sees one request under one key.
    pub order_body: String,
}

/// The cart as every cart endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub cart_id: String,
    pub version: i64,
    pub status: CartStatus,
    pub lines: Vec<LineView>,
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_order: Option<OutboxView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeReport>,
    /// Unix milliseconds after which an untouched cart is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
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
            notice: cart.notice.clone(),
            pending_order: None,
            merge: None,
            expires_at_ms: None,
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub version: i64,
    pub detail: String,
}

/// Entries a cart keeps; older ones are dropped.
pub const LOG_ENTRIES: i64 = 500;
/// Client request ids a cart remembers.
pub const REMEMBERED_REQUESTS: i64 = 200;

/// When an untouched cart is removed.
pub fn expires_at_ms(last_change_ms: i64, idle_seconds: i64) -> i64 {
    last_change_ms.saturating_add(idle_seconds.saturating_mul(1000))
}

/// The wait before outbox attempt `attempts + 1`: 1 s, doubling, at most a
/// minute — an origin back from an outage gets its order within a minute.
pub fn outbox_backoff_ms(attempts: i64) -> i64 {
    1000_i64
        .saturating_mul(1 << attempts.clamp(0, 6))
        .min(60_000)
}

/// The alarm time: the earlier of the outbox's next attempt and expiry.
pub fn next_alarm_ms(expires_at_ms: i64, outbox_next_ms: Option<i64>) -> i64 {
    outbox_next_ms.map_or(expires_at_ms, |o| o.min(expires_at_ms))
}

/// What identifies a mutation for de-duplication: the op and its target.
pub fn fingerprint(m: &Mutation) -> String {
    serde_json::to_string(&(&m.cart, &m.op)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_keys_name_objects_and_read_back() {
        let g = CartKey::Guest("abc_DEF-1".into());
        assert_eq!(g.name(), "cart:abc_DEF-1");
        assert_eq!(CartKey::from_short(&g.short()), Some(g));
        let u = CartKey::Customer("user-0001".into());
        assert_eq!(u.name(), "customer:user-0001");
        assert_eq!(CartKey::from_short("u-user-0001"), Some(u));
        for bad in ["", "x-1", "g-", "u-../etc", "g-a b"] {
            assert_eq!(CartKey::from_short(bad), None, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_the_alarm_takes_the_earlier() {
        let waits: Vec<i64> = (0..9).map(outbox_backoff_ms).collect();
        assert_eq!(
            waits,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(expires_at_ms(1_000, 30), 31_000);
        assert_eq!(next_alarm_ms(31_000, Some(5_000)), 5_000);
        assert_eq!(next_alarm_ms(31_000, None), 31_000);
    }

    #[test]
    fn ops_serialise_with_their_name() {
        let op = Op::SetQuantity {
            sku: "A".into(),
            quantity: 2,
        };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["op"], "set_quantity");
        assert_eq!(op.name(), "set_quantity");
    }
}
