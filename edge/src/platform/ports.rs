//! The ports of the core's use cases ([`crate::shop::ports`]), as the
//! Worker implements them: cart and guard Durable Objects, and signed
//! requests to origin services.

use durable_objects::cart_api::{self, CartCall, CartView, Mutation};
use durable_objects::guard::Limit;
use durable_objects::guard_api::{
    self, GuardCall, LoginAttempt, LoginRelease, LoginVerdict, Revoke, Revoked,
};
use worker::Env;

use super::runtime::{RequestContext, internal};
use super::{forward, objects};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::ports::{
    CartRef, Carts, Drops, Guard, ObjectAnswer, OriginAnswer, OriginCall, Origins, Prices,
};
use durable_objects::drop::DropConfig;
use durable_objects::drop_api::{self, QueueCall, StockCall, StockCounts};

/// The cart objects, as the use cases reach them.
pub(crate) struct ObjectCarts<'a>(pub &'a Env);

impl ObjectCarts<'_> {
    pub(crate) fn stub(&self, cart: &CartRef) -> Result<worker::Stub, EdgeError> {
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

    async fn end_live(&self, cart: &CartRef, session_id: &str) -> Result<(), EdgeError> {
        let stub = self.stub(cart)?;
        let call = CartCall::EndLive {
            session_id: session_id.to_owned(),
        };
        let r = objects::call(&stub, cart_api::CALL, &call).await?;
        match r.status_code() {
            200 => Ok(()),
            status => Err(EdgeError::internal("the cart did not close its live views")
                .with_cause(format!("the cart object answered {status} to end_live"))),
        }
    }
}

/// The session guard objects, as the use cases reach them: one per
/// session id (revocations) and one per login key (failed-login counts).
pub(crate) struct GuardObjects<'a>(pub &'a Env);

impl GuardObjects<'_> {
    async fn send(&self, name: &str, call: &GuardCall) -> Result<worker::Response, EdgeError> {
        let stub = objects::stub(self.0, guard_api::BINDING, name)?;
        objects::call(&stub, guard_api::CALL, call).await
    }
}

impl Guard for GuardObjects<'_> {
    async fn reserve(&self, key: &str, limit: Limit, now: i64) -> Result<LoginVerdict, EdgeError> {
        let call = GuardCall::LoginReserve(LoginAttempt { now, limit });
        let mut answer = self.send(&guard_api::login_name(key), &call).await?;
        answer.json().await.map_err(internal("read a login guard"))
    }

    async fn release(&self, key: &str, window_start: i64) -> Result<(), EdgeError> {
        let call = GuardCall::LoginRelease(LoginRelease { window_start });
        self.send(&guard_api::login_name(key), &call)
            .await
            .map(drop)
    }

    async fn revoke(&self, sid: &str, until: i64) -> Result<(), EdgeError> {
        let call = GuardCall::Revoke(Revoke { until });
        let answer = self.send(&guard_api::session_name(sid), &call).await?;
        if answer.status_code() != 200 {
            return Err(EdgeError::internal(
                "the session could not be revoked; it has been logged",
            ));
        }
        Ok(())
    }

    async fn is_revoked(&self, sid: &str) -> Result<bool, EdgeError> {
        let name = guard_api::session_name(sid);
        let mut answer = self.send(&name, &GuardCall::IsRevoked).await?;
        let revoked: Revoked = answer.json().await.map_err(internal("read a revocation"))?;
        Ok(revoked.revoked)
    }
}

/// The catalog through this location's cache, as the cart prices a line.
pub(crate) struct CachedPrices<'a> {
    pub config: &'a EdgeConfig,
    pub ctx: &'a worker::Context,
}

impl Prices for CachedPrices<'_> {
    async fn product(&self, sku: &str) -> Result<origin_adapter::wire::Product, EdgeError> {
        super::catalog::product(self.config, sku, self.ctx).await
    }
}

/// A drop's objects, and the directory of drop SKUs in Workers KV.
pub(crate) struct DropObjects<'a>(pub &'a Env);

impl DropObjects<'_> {
    fn kv(&self) -> Result<worker::kv::KvStore, EdgeError> {
        self.0
            .kv(drop_api::KV_BINDING)
            .map_err(internal("reached the drop directory"))
    }
}

impl Drops for DropObjects<'_> {
    async fn drop_of(&self, sku: &str) -> Result<Option<DropConfig>, EdgeError> {
        let text = self
            .kv()?
            .get(&drop_api::sku_key(sku))
            .text()
            .await
            .map_err(internal("read the drop directory"))?;
        match text {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(internal("read a drop in the directory")),
        }
    }

    async fn queue(&self, drop_id: &str, call: &QueueCall) -> Result<ObjectAnswer, EdgeError> {
        let stub = objects::stub(self.0, drop_api::QUEUE_BINDING, drop_id)?;
        let mut r = objects::call(&stub, drop_api::QUEUE_CALL, call).await?;
        let retry_after = r.headers().get("retry-after").ok().flatten();
        let body = r.bytes().await.map_err(internal("read a drop's queue"))?;
        // The queue says how long a refused caller waits (a poll: 1 s; an
        // address past its share of new places: the rest of its window).
        if let (429, Some(wait)) = (r.status_code(), retry_after) {
            let detail = serde_json::from_slice::<origin_adapter::wire::Problem>(&body)
                .ok()
                .and_then(|p| p.detail)
                .unwrap_or_else(|| "too many requests".into());
            return Err(EdgeError::too_many_requests(detail).with_header("retry-after", wait));
        }
        Ok(ObjectAnswer {
            status: r.status_code(),
            body,
            replayed: false,
        })
    }

    async fn stock(&self, name: &str, call: StockCall) -> Result<StockCounts, EdgeError> {
        let stub = objects::stub(self.0, drop_api::STOCK_BINDING, name)?;
        let mut r = objects::call(&stub, drop_api::STOCK_CALL, &call).await?;
        if r.status_code() != 200 {
            return Err(EdgeError::unavailable(format!(
                "the stock {name} could not be read from its origin; try again"
            ))
            .with_header("retry-after", "5"));
        }
        r.json().await.map_err(internal("read a drop's stock"))
    }

    async fn publish(&self, drop: &DropConfig) -> Result<(), EdgeError> {
        let text = serde_json::to_string(drop).map_err(internal("encode a drop"))?;
        let kv = self.kv()?;
        for sku in &drop.skus {
            kv.put(&drop_api::sku_key(sku), text.as_str())
                .map_err(internal("write the drop directory"))?
                .execute()
                .await
                .map_err(internal("write the drop directory"))?;
        }
        Ok(())
    }

    async fn unpublish(&self, skus: &[String]) -> Result<(), EdgeError> {
        let kv = self.kv()?;
        for sku in skus {
            kv.delete(&drop_api::sku_key(sku))
                .await
                .map_err(internal("write the drop directory"))?;
        }
        Ok(())
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

/// The drop use cases over this request's ports (the API's routes and
/// the waiting-room page alike).
pub(crate) fn drop_case<'a>(
    drops: &'a DropObjects<'a>,
    guard: &'a GuardObjects<'a>,
    rc: &'a super::runtime::RequestContext,
    config: &'a crate::config::EdgeConfig,
) -> crate::shop::drops::DropCase<'a, DropObjects<'a>, GuardObjects<'a>, super::runtime::PlatformIds>
{
    crate::shop::drops::DropCase {
        drops,
        guard,
        ids: &super::runtime::PlatformIds,
        rc,
        config,
        now_ms: super::runtime::now_ms(),
    }
}

/// The cart's use cases over this request's ports (the API's routes, the
/// pages and the live view alike).
pub(crate) fn cart_case<'a>(
    carts: &'a ObjectCarts<'a>,
    guard: &'a GuardObjects<'a>,
    rc: &'a super::runtime::RequestContext,
    config: &'a crate::config::EdgeConfig,
) -> crate::shop::cart_changes::CartCase<
    'a,
    ObjectCarts<'a>,
    GuardObjects<'a>,
    super::runtime::PlatformIds,
> {
    // One reading of the clock: the seconds are the same moment's.
    let now_ms = super::runtime::now_ms();
    crate::shop::cart_changes::CartCase {
        carts,
        guard,
        ids: &super::runtime::PlatformIds,
        rc,
        config,
        now: now_ms / 1000,
        now_ms,
    }
}
