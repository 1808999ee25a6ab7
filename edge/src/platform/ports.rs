//! The ports of the core's use cases ([`crate::shop::ports`]), as the
//! Worker implements them: cart and guard Durable Objects, and signed
//! requests to origin services.

use durable_objects::cart_api::{self, CartCall, CartView, Mutation};
use durable_objects::guard::Limit;
use worker::Env;

use super::runtime::{RequestContext, internal};
use super::{forward, guard, objects};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::ports::{
    CartRef, Carts, Guard, ObjectAnswer, OriginAnswer, OriginCall, Origins, Reservation,
};

/// The cart objects, as the use cases reach them.
pub(crate) struct ObjectCarts<'a>(pub &'a Env);

impl ObjectCarts<'_> {
    fn stub(&self, cart: &CartRef) -> Result<worker::Stub, EdgeError> {
        objects::stub_in(
            self.0,
            cart_api::BINDING,
            &cart.key.name(),
            cart.jurisdiction,
        )
    }

    /// The cart's audit log, newest first (`{"entries": [...]}`).
    pub(crate) async fn log(&self, cart: &CartRef) -> Result<serde_json::Value, EdgeError> {
        let stub = self.stub(cart)?;
        let mut r = objects::call(&stub, cart_api::CALL, &CartCall::Log).await?;
        r.json().await.map_err(internal("read the cart log"))
    }
}

impl Carts for ObjectCarts<'_> {
    async fn mutate(&self, cart: &CartRef, change: &Mutation) -> Result<ObjectAnswer, EdgeError> {
        let stub = self.stub(cart)?;
        let mut r = objects::call(
            &stub,
            cart_api::CALL,
            &CartCall::Mutate(Box::new(change.clone())),
        )
        .await?;
        let replayed = r.headers().has("idempotent-replayed").unwrap_or(false);
        let body = r.bytes().await.map_err(internal("read the cart"))?;
        Ok(ObjectAnswer {
            status: r.status_code(),
            body,
            replayed,
        })
    }

    async fn view(&self, cart: &CartRef) -> Result<CartView, EdgeError> {
        let stub = self.stub(cart)?;
        let mut r = objects::call(&stub, cart_api::CALL, &CartCall::View).await?;
        r.json().await.map_err(internal("read the cart"))
    }
}

/// The session guard objects, as the use cases reach them.
pub(crate) struct GuardObjects<'a>(pub &'a Env);

impl Guard for GuardObjects<'_> {
    async fn reserve_login(
        &self,
        keys: &[(String, Limit)],
        now: i64,
    ) -> Result<Reservation, EdgeError> {
        guard::reserve_login(self.0, keys, now).await
    }

    async fn release_login(&self, reservation: Reservation) {
        guard::release_login(self.0, reservation).await;
    }

    async fn revoke(&self, sid: &str, until: i64) -> Result<(), EdgeError> {
        guard::revoke(self.0, sid, until).await
    }
}

/// The shop's origin services, as the use cases reach them.
pub(crate) struct ForwardedOrigins<'a> {
    pub config: &'a EdgeConfig,
    pub rc: &'a RequestContext,
}

impl Origins for ForwardedOrigins<'_> {
    async fn call(&self, call: OriginCall<'_>) -> Result<OriginAnswer, EdgeError> {
        forward::call(self.config, self.rc, call).await
    }
}
