//! Calls into a cart object: binding, object naming, routes and bodies,
//! defined once for the edge (caller) and the object (callee), and the
//! small pure rules the object applies around a change (expiry, outbox
//! backoff, request de-duplication).

use origin_adapter::digest::{content_digest, fingerprint};
use origin_adapter::forward::EdgeContext;
use origin_adapter::wire::{Money, Order, Problem};
use serde::{Deserialize, Serialize};

use crate::cart::{Cart, CartLine, CartStatus, MergeReport};
use crate::drop_api::HoldTerms;
use crate::exchange::{Outgoing, Target};

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

/// Where every call goes (stub URLs must be absolute; the host is never
/// resolved): `POST` with a [`CartCall`] as JSON.
pub const CALL: &str = "https://cart/call";

/// Where a live view is opened: `GET` with `Upgrade: websocket`, answered
/// `101` with a socket that receives the cart at once and after every
/// change ([`crate::cart_live`]).
pub const LIVE: &str = "https://cart/live";

/// On a live view's handshake: the session that opens it (its id), and
/// when that session ends at the latest (Unix seconds). The view is closed
/// at logout ([`CartCall::EndLive`]) and is not sent to past that time.
pub const LIVE_SESSION: &str = "x-live-session";
pub const LIVE_UNTIL: &str = "x-live-until";

/// Every call into a cart object, and what it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum CartCall {
    /// The cart as it stands: `200` with a [`CartView`].
    View,
    /// The audit log, newest first: `200` with `{"entries": [LogEntry]}`.
    Log,
    /// One change: `200` with the [`CartView`] after it, a recorded answer
    /// (`Idempotent-Replayed: true`), or a problem saying which rule refused.
    Mutate(Box<Mutation>),
    /// A session ended (logged out): the live views it opened are closed.
    /// `200` with `{"closed": n}`.
    EndLive { session_id: String },
    /// What the cart holds of a drop SKU, asked by its stock when the
    /// hold's time is up: `200` with a [`crate::drop_api::Holding`].
    Holding { sku: String },
}

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

impl OrderTarget {
    /// The order request to `to` (this target's URL, parsed): a `POST` of
    /// `body` under `order_key`, with the customer's claims and the ids of
    /// the checkout that froze it — the request the edge sent first, so the
    /// origin's idempotency layer sees a retry, never a second order.
    pub fn outgoing<'a>(
        &'a self,
        to: &'a Target,
        order_key: &'a str,
        body: &'a [u8],
    ) -> Outgoing<'a> {
        Outgoing {
            method: "POST",
            target: to,
            body,
            idempotency_key: Some(order_key),
            context: EdgeContext {
                claims: self.claims.as_deref(),
                flags: None,
                request_id: Some(&self.request_id),
                traceparent: Some(&self.traceparent),
            },
        }
    }
}

/// One change, as the edge asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `hold`: the line is a drop SKU's, its units held first.
    Add {
        line: CartLine,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold: Option<HoldTerms>,
    },
    SetQuantity {
        sku: String,
        quantity: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold: Option<HoldTerms>,
    },
    Remove {
        sku: String,
    },
    Clear,
    /// A guest cart's lines, at login. A drop line's hold is moved along
    /// by the object first; a hold it could not move is left out and
    /// reported in `refused`.
    Merge {
        lines: Vec<CartLine>,
        from: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        refused: Vec<crate::cart::MergeConflict>,
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
    /// `status` is the origin's (409 or 422), passed on to the client.
    Refused {
        status: u16,
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

/// A request id (a client's `Idempotency-Key`, or one the edge derives)
/// and the fingerprint of what was asked: the same id with the same
/// fingerprint is a retry and gets the first answer; with another, `422`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    pub id: String,
    pub fingerprint: String,
}

impl ClientRequest {
    /// A client's request: its fingerprint is what the client sent —
    /// method, path and body — never what the edge adds (request ids,
    /// trace, the catalog's price), so a retry always matches.
    pub fn from_client(id: String, method: &str, path: &str, body: &[u8]) -> Self {
        Self {
            id,
            fingerprint: fingerprint(method, path, &content_digest(body)),
        }
    }
}

/// A change, as [`CartCall::Mutate`] carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// [`CartKey::name`] of the cart meant; the object refuses another.
    pub cart: String,
    /// Who asks, for the audit log: `guest`, `user:<id>`, `edge`.
    pub actor: String,
    /// `If-Match`: the version the client saw.
    pub if_match: Option<i64>,
    /// The request this change answers: a retry counts once. On the
    /// outcome of a checkout (`Placed`, `Refused`) it is the checkout's, so
    /// the checkout's final answer is what a retry gets.
    pub request: Option<ClientRequest>,
    /// How long the cart lives without changes (seconds).
    pub idle_seconds: i64,
    pub op: Op,
}

/// A cart line as customers see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub sku: String,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub line_total: Money,
    /// A drop SKU's units are held for this cart until then (RFC 3339);
    /// the line is removed at that moment unless checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
    /// The drop whose units the line holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_id: Option<String>,
    /// Where they are held: `<sku>@<region>`, the stock of the region
    /// whose origin will place the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_in: Option<String>,
}

/// A checkout waiting in the outbox.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub cart_id: String,
    /// See [`Cart::generation`]; with `version` it names one state of the
    /// cart over its whole life.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generation: String,
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
            generation: cart.generation.clone(),
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
                    held_until: l
                        .hold
                        .as_ref()
                        .map(|h| crate::drop::format_time(h.until_ms)),
                    drop_id: l.hold.as_ref().map(|h| h.drop.clone()),
                    held_in: l.hold.as_ref().map(|h| h.stock.clone()),
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// When the outbox tries again after `attempts_made` attempts that did
/// not settle the order (the edge's own counts as one): 1 s after the
/// first, doubling, at most a minute — an origin back from an outage gets
/// its order within a minute. The edge and the alarm both use this.
pub fn outbox_retry_at_ms(now_ms: i64, attempts_made: i64) -> i64 {
    let wait = 1000_i64
        .saturating_mul(1 << (attempts_made - 1).clamp(0, 6))
        .min(60_000);
    now_ms.saturating_add(wait)
}

/// The alarm time: the earliest of expiry, the outbox's next attempt and
/// the end of a drop line's hold.
pub fn next_alarm_ms(
    expires_at_ms: i64,
    outbox_next_ms: Option<i64>,
    hold_end_ms: Option<i64>,
) -> i64 {
    [outbox_next_ms, hold_end_ms]
        .into_iter()
        .flatten()
        .fold(expires_at_ms, i64::min)
}

/// What a login does with the guest cart it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtLogin {
    /// Open with lines: merge them into the customer's cart, then close it.
    Merge,
    /// Its order is still on its way: leave it, and its cookie, alone —
    /// the customer follows the checkout through it.
    Keep,
    /// Nothing to bring along (empty, closed, or its order placed): the
    /// cookie may go.
    Nothing,
}

/// The rule for a guest cart at login, from its view.
pub fn at_login(guest: &CartView) -> AtLogin {
    match guest.status {
        CartStatus::CheckingOut { .. } => AtLogin::Keep,
        CartStatus::Open if !guest.lines.is_empty() => AtLogin::Merge,
        _ => AtLogin::Nothing,
    }
}

/// A checkout's answer when the order was placed: `201` (and what a
/// retry with the same `Idempotency-Key` gets again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutAnswer {
    pub order: Order,
    pub cart: CartView,
}

/// What the orders origin's answer means for a frozen cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: the cart is checked out.
    Placed(Box<Order>),
    /// Refused for a reason the customer can act on (price, stock): the
    /// cart opens again and the customer is told why.
    Refused { status: u16, reason: String },
    /// Not settled (down, slow, 5xx, unreadable, or the same order still
    /// running): the order waits in the outbox, which backs off.
    Pending(String),
}

/// Reads the orders origin's answer: `status`, `body`, and whether it came
/// with `Retry-After` — the idempotency layer's typed "still running"
/// signal (a `409` with `Retry-After`), never matched from its text. The
/// edge's own attempt and the outbox's alarm both decide with this.
pub fn verdict(status: u16, body: &[u8], retry_after: bool) -> Verdict {
    let detail = || {
        serde_json::from_slice::<Problem>(body)
            .ok()
            .and_then(|p| p.detail)
    };
    match status {
        200 | 201 => match serde_json::from_slice::<Order>(body) {
            Ok(order) => Verdict::Placed(Box::new(order)),
            // Accepted but unreadable: asking again later reads the replay.
            Err(_) => Verdict::Pending("the orders service's answer was unreadable".into()),
        },
        409 if retry_after => Verdict::Pending("the order is still being placed".into()),
        409 | 422 => Verdict::Refused {
            status,
            reason: detail().unwrap_or_else(|| "the orders service refused the order".into()),
        },
        other => Verdict::Pending(format!("the orders service answered {other}")),
    }
}

/// The client's problem detail for a refused order.
pub fn refusal_detail(reason: &str) -> String {
    format!("checkout did not go through: {reason}")
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
        let waits: Vec<i64> = (1..10).map(|n| outbox_retry_at_ms(0, n)).collect();
        assert_eq!(
            waits,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(outbox_retry_at_ms(5_000, 1), 6_000);
        assert_eq!(outbox_retry_at_ms(i64::MAX, 9), i64::MAX);
        assert_eq!(expires_at_ms(1_000, 30), 31_000);
        assert_eq!(next_alarm_ms(31_000, Some(5_000), None), 5_000);
        assert_eq!(next_alarm_ms(31_000, None, None), 31_000);
        assert_eq!(next_alarm_ms(31_000, Some(9_000), Some(7_000)), 7_000);
    }

    #[test]
    fn a_request_is_fingerprinted_by_what_the_client_sent() {
        let body = br#"{"sku":"KIT-0001","quantity":2}"#;
        let a = ClientRequest::from_client("k1".into(), "POST", "/api/cart/items", body);
        let again = ClientRequest::from_client("k1".into(), "POST", "/api/cart/items", body);
        assert_eq!(a, again, "a retry matches, whatever the edge adds");
        let other_body = ClientRequest::from_client("k1".into(), "POST", "/api/cart/items", b"{}");
        let other_route =
            ClientRequest::from_client("k1".into(), "POST", "/api/cart/checkout", body);
        let other_method = ClientRequest::from_client("k1".into(), "PUT", "/api/cart/items", body);
        for other in [other_body, other_route, other_method] {
            assert_ne!(a.fingerprint, other.fingerprint);
        }
    }

    #[test]
    fn origin_answers_settle_or_wait() {
        let usd = |amount_minor| Money {
            amount_minor,
            currency: "USD".into(),
        };
        let order = serde_json::to_string(&Order {
            order_id: "ord-us-000001".into(),
            status: "placed".into(),
            region: "us".into(),
            cart_id: "g-1".into(),
            lines: vec![],
            subtotal: usd(100),
            promotion: None,
            discount: usd(0),
            tax: usd(7),
            total: usd(107),
            payment: origin_adapter::wire::Payment {
                payment_id: "pay-us-000001".into(),
                status: "captured".into(),
                amount: usd(107),
            },
        })
        .unwrap();
        assert!(matches!(
            verdict(201, order.as_bytes(), false),
            Verdict::Placed(_)
        ));
        assert!(matches!(
            verdict(200, order.as_bytes(), false),
            Verdict::Placed(_)
        ));
        // Accepted but unreadable: not settled, so the outbox backs off
        // rather than re-sending at once.
        assert!(matches!(
            verdict(201, b"garbage", false),
            Verdict::Pending(_)
        ));
        let conflict = Problem::new(409, "only 1 of \"A\" left in stock").to_json();
        assert_eq!(
            verdict(409, conflict.as_bytes(), false),
            Verdict::Refused {
                status: 409,
                reason: "only 1 of \"A\" left in stock".into()
            }
        );
        // The same order still running: Retry-After says so, whatever the text.
        let running = Problem::new(409, "anything at all").to_json();
        assert!(matches!(
            verdict(409, running.as_bytes(), true),
            Verdict::Pending(_)
        ));
        assert!(matches!(verdict(503, b"", false), Verdict::Pending(_)));
        assert!(matches!(verdict(401, b"", false), Verdict::Pending(_)));
    }

    #[test]
    fn a_guest_cart_at_login_is_merged_kept_or_let_go() {
        let mut cart = Cart::default();
        let view = |cart: &Cart| CartView::of("g-1", cart);
        assert_eq!(at_login(&view(&cart)), AtLogin::Nothing, "empty");
        cart.lines.push(CartLine {
            sku: "A".into(),
            name: "A".into(),
            unit_price: Money {
                amount_minor: 100,
                currency: "USD".into(),
            },
            quantity: 1,
            hold: None,
        });
        assert_eq!(at_login(&view(&cart)), AtLogin::Merge);
        cart.status = CartStatus::CheckingOut {
            order_key: "k".into(),
        };
        assert_eq!(
            at_login(&view(&cart)),
            AtLogin::Keep,
            "an order on its way keeps its cart reachable"
        );
        cart.status = CartStatus::CheckedOut {
            order_id: "o".into(),
        };
        assert_eq!(at_login(&view(&cart)), AtLogin::Nothing);
        cart.status = CartStatus::Closed;
        assert_eq!(at_login(&view(&cart)), AtLogin::Nothing);
    }

    #[test]
    fn calls_cross_as_one_tagged_json_shape() {
        let m = Mutation {
            cart: "g-1".into(),
            actor: "guest".into(),
            if_match: Some(3),
            request: None,
            idle_seconds: 60,
            op: Op::Clear,
        };
        let json = serde_json::to_value(CartCall::Mutate(Box::new(m.clone()))).unwrap();
        assert_eq!(
            (json["call"].clone(), json["op"]["op"].clone()),
            ("mutate".into(), "clear".into())
        );
        let back: CartCall = serde_json::from_value(json).unwrap();
        assert_eq!(back, CartCall::Mutate(Box::new(m)));
        let view: CartCall = serde_json::from_str(r#"{"call":"view"}"#).unwrap();
        assert_eq!(view, CartCall::View);
        assert!(serde_json::from_str::<CartCall>(r#"{"call":"drop_table"}"#).is_err());
    }

    #[test]
    fn ops_serialise_with_their_name() {
        let op = Op::SetQuantity {
            sku: "A".into(),
            quantity: 2,
            hold: None,
        };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["op"], "set_quantity");
        assert_eq!(op.name(), "set_quantity");
    }
}
