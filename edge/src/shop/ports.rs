//! What the use cases need from the platform, as small traits ("ports").
//! The Worker implements them over Durable Objects and `fetch`
//! (`crate::platform`); the unit tests implement them in memory.
//!
//! The traits use `async fn` and are used as generic bounds only (no
//! `dyn`): on wasm32 nothing is `Send`, and static dispatch costs nothing.
#![allow(async_fn_in_trait)]

use durable_objects::cart_api::{CartKey, CartView, Mutation};

use crate::error::EdgeError;

/// Which cart object: its key, and the jurisdiction it must live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartRef {
    pub key: CartKey,
    /// `Some("eu")` keeps an EU customer's cart in the EU.
    pub jurisdiction: Option<&'static str>,
}

/// A Durable Object's answer: status, JSON body, and whether it is a
/// recorded answer given again (`Idempotent-Replayed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub replayed: bool,
}

/// The cart objects.
pub trait Carts {
    /// Sends one change to `cart`'s object.
    async fn mutate(&self, cart: &CartRef, change: &Mutation) -> Result<ObjectAnswer, EdgeError>;
    /// Reads `cart` as it stands.
    async fn view(&self, cart: &CartRef) -> Result<CartView, EdgeError>;
    /// Closes the live views of `cart` that the session `session_id` opened.
    async fn end_live(&self, cart: &CartRef, session_id: &str) -> Result<(), EdgeError>;
}

/// One request to an origin service, as the edge sends it (signed, with
/// its region, retries and breakers decided by the forwarding plan).
#[derive(Debug, Clone, Copy)]
pub struct OriginCall<'a> {
    pub service: &'a str,
    /// `GET` or a write method, as sent.
    pub method: &'a str,
    /// The path on the origin, and its query if any.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// JSON, for writes.
    pub body: Option<&'a [u8]>,
    /// Required for writes; made once per client request so retries reuse it.
    pub idempotency_key: Option<&'a str>,
    /// The customer's encoded claims, if logged in.
    pub claims: Option<&'a str>,
    /// The customer's home region, if logged in.
    pub home_region: Option<&'a str>,
    /// The flags evaluated for the request, encoded (`x-edge-flags`).
    pub flags: Option<&'a str>,
}

/// What an origin answered, and which region it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub region: String,
}

impl OriginAnswer {
    /// Whether a header is present (names compare case-insensitively).
    pub fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// The shop's origin services. An `Err` is what the client is told when
/// the edge gave up (timeout, unavailable, breaker open).
pub trait Origins {
    async fn call(&self, call: OriginCall<'_>) -> Result<OriginAnswer, EdgeError>;
}

/// Places taken in the login guards for one attempt: `(key, window_start)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reservation(pub Vec<(String, i64)>);

/// The session guard: revocations and failed-login counters, which must
/// hold across isolates and locations (one guard per session id or key).
pub trait Guard {
    /// Checks `key`'s limit and takes a place for one attempt, in one step.
    async fn reserve(
        &self,
        key: &str,
        limit: durable_objects::guard::Limit,
        now: i64,
    ) -> Result<durable_objects::guard_api::LoginVerdict, EdgeError>;
    /// Gives back a place taken under `key` in the window that began at
    /// `window_start`: its attempt was not a failed login.
    async fn release(&self, key: &str, window_start: i64) -> Result<(), EdgeError>;
    /// Refuses session `sid` until `until` (Unix seconds).
    async fn revoke(&self, sid: &str, until: i64) -> Result<(), EdgeError>;
    /// Whether session `sid` was revoked.
    async fn is_revoked(&self, sid: &str) -> Result<bool, EdgeError>;
}

/// The catalog, as the cart prices a line: a product by SKU (through the
/// edge's cache). `404` for an unknown SKU.
pub trait Prices {
    async fn product(&self, sku: &str) -> Result<origin_adapter::wire::Product, EdgeError>;
}

/// A request's JSON body, read only when a use case asks for it — after
/// the checks that need no body, so a refused request is not read — within
/// its limit and media type (`415`, `413`). Bytes already read are one.
pub trait JsonBody {
    async fn read(self) -> Result<Vec<u8>, EdgeError>;
}

impl JsonBody for &[u8] {
    async fn read(self) -> Result<Vec<u8>, EdgeError> {
        Ok(self.to_vec())
    }
}

impl<const N: usize> JsonBody for &[u8; N] {
    async fn read(self) -> Result<Vec<u8>, EdgeError> {
        Ok(self.to_vec())
    }
}

/// What became of a save of the flag document.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// Stored and published: the new version.
    Published(durable_objects::flags_api::Published),
    /// Refused by the store (`412` changed meanwhile, `503` not published).
    Refused(ObjectAnswer),
}

/// The flag document's single writer (compare-and-set on its version).
pub trait FlagStore {
    /// The document as saved, and its version (0 and none before any save).
    async fn published(&self) -> Result<durable_objects::flags_api::Published, EdgeError>;
    /// Replaces the document if it is still at `save.if_match`.
    async fn save(&self, save: durable_objects::flags_api::Save) -> Result<Saved, EdgeError>;
}

/// A drop's objects — its queue, its SKUs' stock — and the directory of
/// drop SKUs every isolate reads.
pub trait Drops {
    /// The drop `sku` is in, if any.
    async fn drop_of(
        &self,
        sku: &str,
    ) -> Result<Option<durable_objects::drop::DropConfig>, EdgeError>;
    /// One call to the queue object of drop `drop_id`.
    async fn queue(
        &self,
        drop_id: &str,
        call: &durable_objects::drop_api::QueueCall,
    ) -> Result<ObjectAnswer, EdgeError>;
    /// One call to the stock object `name` (`<sku>@<region>`): its counts
    /// after it. An object that could not read its stock is a `503`.
    async fn stock(
        &self,
        name: &str,
        call: durable_objects::drop_api::StockCall,
    ) -> Result<durable_objects::drop_api::StockCounts, EdgeError>;
    /// Makes `drop`'s SKUs drop SKUs for every isolate.
    async fn publish(&self, drop: &durable_objects::drop::DropConfig) -> Result<(), EdgeError>;
    /// Makes `skus` ordinary products again.
    async fn unpublish(&self, skus: &[String]) -> Result<(), EdgeError>;
}

/// Fresh randomness: 128 bits, raw or as a URL-safe identifier.
pub trait Entropy {
    fn id(&self) -> Result<String, EdgeError>;
    fn bytes(&self) -> Result<[u8; 16], EdgeError>;
}

/// The platform clock, in Unix milliseconds.
pub trait Clock {
    fn now_ms(&self) -> i64;
}
