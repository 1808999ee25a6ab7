//! Cart endpoints, as the shell performs them: the body read (bounded),
//! the core's use case ([`crate::shop::cart_changes`],
//! [`crate::shop::checkout`]) run over the platform's ports.

use durable_objects::cart_api::CartView;
use worker::{Context, Env, Request};

use super::body::RequestBody;
use super::runtime::RequestContext;
use super::{flags, ports};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::routes::Route;
use crate::shop::ports::Carts as _;
use crate::shop::reply::Reply;
use crate::shop::{cart as core, checkout};

/// Runs a cart route: `/api/cart`, `/api/cart/items[/{sku}]`,
/// `/api/cart/checkout`.
pub(crate) async fn handle(
    route: Route,
    mut req: Request,
    (env, ctx): (&Env, &Context),
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(env), ports::GuardObjects(env));
    let drops = ports::DropObjects(env);
    let case = ports::cart_case(&carts, &guard, rc, config);
    match (route, rc.method.as_str()) {
        (Route::Cart, "DELETE") => case.clear().await,
        (Route::Cart, _) => case.show().await,
        (Route::Checkout, "GET" | "HEAD") => case.checkout_status().await,
        (Route::AddCartItem, _) => {
            let body = RequestBody { req: &mut req, rc };
            case.add(&ports::CachedPrices { config, ctx }, &drops, body)
                .await
        }
        (Route::CartLine, method) => {
            let sku = rc.path.rsplit('/').next().unwrap_or_default();
            let body = (method != "DELETE").then_some(RequestBody { req: &mut req, rc });
            case.set_line(&drops, sku, body).await
        }
        _ => {
            let (flags, _) = flags::current(env, config).await;
            let origins = ports::ForwardedOrigins { config, rc };
            let body = RequestBody { req: &mut req, rc };
            checkout::place(&case, &origins, &flags, body).await
        }
    }
}

/// `GET /api/support/carts/{g-<id>|u-<user>}[?region=eu]`: the cart and its
/// audit log, for the shop's support staff (bearer `ADMIN_TOKEN`).
pub(crate) async fn support(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    super::admin::authorise(rc, config)?;
    let cart = core::support_target(&rc.path, rc.query.as_deref(), config)?;
    let carts = ports::ObjectCarts(env);
    let view: CartView = carts.view(&cart).await?;
    let log = carts.log(&cart).await?;
    Reply::json(
        200,
        &serde_json::json!({ "cart": view, "log": log["entries"] }),
    )
}
