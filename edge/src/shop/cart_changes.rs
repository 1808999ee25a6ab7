//! The cart's use cases: show, clear, add, set or remove a line, and the
//! support view — whose cart ([`super::caller`]), quantities checked,
//! prices from the catalog (never the client), the change sent to the
//! cart's object, and its answer ([`super::cart`]). The shell reads the
//! body (bounded) and renders the reply.

use durable_objects::cart::{Cart, CartLine};
use durable_objects::cart_api::{CartView, Mutation, Op};

use super::caller::{client_request, new_guest_cookie, owner};
use super::cart::{self as answers, AddItem, Owner, SetQuantity, checked_quantity};
use super::drops::hold_terms;
use super::ports::{Carts, Drops, Entropy, Guard, JsonBody, Prices};
use super::reply::Reply;
use crate::checkout::if_match;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::incoming::Incoming;
use crate::request_body::parse_json;

/// What the cart's use cases reach: the cart objects, the session guard,
/// fresh ids (a new guest cart), and the request as parsed at the entry
/// with the configuration and the time (Unix seconds, and milliseconds
/// for a drop's opening, which is to the millisecond).
pub struct CartCase<'a, C, G, I> {
    pub carts: &'a C,
    pub guard: &'a G,
    pub ids: &'a I,
    pub rc: &'a Incoming,
    pub config: &'a EdgeConfig,
    pub now: i64,
    pub now_ms: i64,
}

impl<C: Carts, G: Guard, I: Entropy> CartCase<'_, C, G, I> {
    /// The caller's cart, made for a guest if `create`.
    pub async fn owner(&self, create: bool) -> Result<Option<Owner>, EdgeError> {
        owner(
            (self.guard, self.ids),
            self.rc,
            self.config,
            self.now,
            create,
        )
        .await
    }

    async fn existing(&self, missing: &str) -> Result<Owner, EdgeError> {
        self.owner(false)
            .await?
            .ok_or_else(|| EdgeError::not_found(missing.to_owned()))
    }

    /// `GET /api/cart/checkout`: where the checkout stands (the cart, with
    /// any order still waiting in its outbox); `404` without a cart.
    pub async fn checkout_status(&self) -> Result<Reply, EdgeError> {
        let owner = self.existing("there is no cart").await?;
        let view = self.carts.view(&owner.cart).await?;
        answers::view_reply(&view, false, None)
    }

    /// `GET /api/cart`: a browser without a cart sees an empty one.
    pub async fn show(&self) -> Result<Reply, EdgeError> {
        let view = match self.owner(false).await? {
            Some(owner) => self.carts.view(&owner.cart).await?,
            None => CartView::of("", &Cart::default()),
        };
        answers::view_reply(&view, false, None)
    }

    /// `DELETE /api/cart`: empties it.
    pub async fn clear(&self) -> Result<Reply, EdgeError> {
        let owner = self.existing("there is no cart to clear").await?;
        let request = client_request(self.rc, b"")?;
        self.change(&owner, Op::Clear, request).await
    }

    /// What a change of `sku`'s line must carry: a drop SKU's hold terms
    /// (`403` without an admission), nothing for any other product.
    async fn hold(
        &self,
        drops: &impl Drops,
        owner: &Owner,
        sku: &str,
    ) -> Result<Option<durable_objects::drop_api::HoldTerms>, EdgeError> {
        let session = owner.session.as_ref();
        hold_terms(drops, (self.rc, self.config), sku, session, self.now_ms).await
    }

    /// `POST /api/cart/items` with `body` (`{"sku", "quantity"}`): name and
    /// price from `prices`; a guest without a cart gets one (and its cookie).
    /// A drop SKU's units are held in the same step ([`Self::hold`]).
    pub async fn add(
        &self,
        prices: &impl Prices,
        drops: &impl Drops,
        body: impl JsonBody,
    ) -> Result<Reply, EdgeError> {
        let body = body.read().await?;
        let item: AddItem = parse_json(&body)?;
        let request = client_request(self.rc, &body)?;
        let quantity = checked_quantity(item.quantity)?;
        let owner = self.owner(true).await?;
        let owner = owner.ok_or_else(|| EdgeError::internal("no cart could be made"))?;
        let product = prices.product(&item.sku).await?;
        let hold = self.hold(drops, &owner, &product.sku).await?;
        let line = CartLine {
            sku: product.sku,
            name: product.name,
            unit_price: product.price,
            quantity,
            hold: None,
        };
        self.change(&owner, Op::Add { line, hold }, request).await
    }

    /// `PUT|PATCH /api/cart/items/{sku}` with `body` (`{"quantity"}`) sets
    /// a quantity; `DELETE` (no body) removes the line.
    pub async fn set_line(
        &self,
        drops: &impl Drops,
        sku: &str,
        body: Option<impl JsonBody>,
    ) -> Result<Reply, EdgeError> {
        crate::catalog::validate_sku(sku)?;
        let sku = sku.to_owned();
        let (set, request) = match body {
            None => (None, client_request(self.rc, b"")?),
            Some(body) => {
                let body = body.read().await?;
                let set: SetQuantity = parse_json(&body)?;
                let request = client_request(self.rc, &body)?;
                (Some(checked_quantity(set.quantity)?), request)
            }
        };
        let owner = self.existing("there is no cart").await?;
        let op = match set {
            None => Op::Remove { sku },
            Some(quantity) => Op::SetQuantity {
                hold: self.hold(drops, &owner, &sku).await?,
                sku,
                quantity,
            },
        };
        self.change(&owner, op, request).await
    }

    /// Sends one change to the owner's cart object; its answer for the client.
    async fn change(
        &self,
        owner: &Owner,
        op: Op,
        request: Option<durable_objects::cart_api::ClientRequest>,
    ) -> Result<Reply, EdgeError> {
        let m = Mutation {
            cart: owner.cart.key.short(),
            actor: owner.actor.clone(),
            if_match: if_match(self.rc.header("if-match")),
            request,
            idle_seconds: owner.idle_seconds,
            op,
        };
        let answer = self.carts.mutate(&owner.cart, &m).await?;
        answers::change_reply(answer, new_guest_cookie(owner, self.config))
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{
        Catalog, CountingIds, MemoryCarts, MemoryDrops as NoDrops, MemoryGuard, config, incoming,
    };

    struct World(MemoryCarts, MemoryGuard, CountingIds, EdgeConfig);

    impl World {
        fn new() -> Self {
            World(
                MemoryCarts::default(),
                MemoryGuard::default(),
                CountingIds::default(),
                config(),
            )
        }

        fn case<'a>(
            &'a self,
            rc: &'a Incoming,
        ) -> CartCase<'a, MemoryCarts, MemoryGuard, CountingIds> {
            CartCase {
                carts: &self.0,
                guard: &self.1,
                ids: &self.2,
                rc,
                config: &self.3,
                now: 1_000,
                now_ms: 1_000_000,
            }
        }
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_guest_adds_at_the_catalogs_price_and_gets_a_cart_cookie() {
        let world = World::new();
        let rc = incoming("POST", "/api/cart/items", &[]);
        let case = world.case(&rc);
        let body = br#"{"sku":"KIT-0001","quantity":2}"#;
        let reply = block_on(case.add(&Catalog, &NoDrops::default(), body)).unwrap();
        assert_eq!(reply.status, 200);
        assert!(header(&reply, "set-cookie").is_some_and(|c| c.starts_with("__Host-cart=")));
        let view: CartView = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(view.lines[0].unit_price.amount_minor, 8199);
        let keyed = incoming("POST", "/api/cart/items", &[("idempotency-key", "\"open")]);
        let bad_key = block_on(world.case(&keyed).add(
            &Catalog,
            &NoDrops::default(),
            br#"{"sku":"KIT-0001","quantity":0}"#,
        ));
        assert_eq!(
            bad_key.unwrap_err().status(),
            400,
            "the key before the quantity"
        );
        let unknown = block_on(case.add(
            &Catalog,
            &NoDrops::default(),
            br#"{"sku":"NOPE-1","quantity":1}"#,
        ));
        assert_eq!(unknown.unwrap_err().status(), 404);
        let priced = block_on(case.add(
            &Catalog,
            &NoDrops::default(),
            br#"{"sku":"KIT-0001","quantity":1,"price":1}"#,
        ));
        assert_eq!(
            priced.unwrap_err().status(),
            400,
            "the price is never the client's"
        );
    }

    #[test]
    fn without_a_cart_a_read_is_empty_and_changes_are_404() {
        let world = World::new();
        let rc = incoming("DELETE", "/api/cart/items/KIT-0001", &[]);
        let case = world.case(&rc);
        let empty = block_on(case.show()).unwrap();
        assert_eq!(header(&empty, "etag"), Some("\"v0\""));
        assert_eq!(block_on(case.checkout_status()).unwrap_err().status(), 404);
        assert_eq!(
            block_on(case.set_line(&NoDrops::default(), "KIT-0001", None::<&[u8]>))
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(block_on(case.clear()).unwrap_err().status(), 404);
        assert_eq!(
            block_on(case.set_line(&NoDrops::default(), "bad sku", None::<&[u8]>))
                .unwrap_err()
                .status(),
            400
        );
        let unread = block_on(case.set_line(
            &NoDrops::default(),
            "bad!sku",
            Some(crate::shop::fakes::Unreadable),
        ));
        assert_eq!(unread.unwrap_err().status(), 400, "the SKU before the body");
        let too_many = block_on(case.set_line(
            &NoDrops::default(),
            "KIT-0001",
            Some(br#"{"quantity":1000000}"#),
        ));
        assert_eq!(too_many.unwrap_err().status(), 422);
    }
}
