//! Cart endpoints, as the shell performs them: find the caller's cart (a
//! customer's by user id, a guest's by the signed cookie), price lines from
//! the catalog, hand each change to the cart's Durable Object, and answer
//! as [`crate::shop::cart`] says; checkout is [`crate::shop::checkout`].

use durable_objects::cart::{Cart, CartLine};
use durable_objects::cart_api::{
    CartView, ClientRequest, Mutation, Op, OrderTarget, refusal_detail,
};
use origin_adapter::wire::paths;
use worker::{Context, Env, Request, Response};

use super::runtime::{RequestContext, random, render};
use super::{ports, session};
use crate::cart_cookie::{self, CookieKeys};
use crate::checkout::if_match;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::client_key;
use crate::request_body::parse_json;
use crate::shop::cart::{self as core, AddItem, Owner, SetQuantity, checked_quantity};
use crate::shop::checkout::{self, Checkout, Outcome};
use crate::shop::ports::Carts as _;
use crate::shop::reply::Reply;

fn cookie_keys(config: &EdgeConfig) -> Result<CookieKeys, EdgeError> {
    config.cart_cookie_keys().ok_or_else(|| {
        worker::console_error!("edge: carts need SESSION_KEY (their cookies are signed with it)");
        EdgeError::new(
            500,
            "the edge is misconfigured; the operator has been told which key",
        )
    })
}

/// The caller's cart: a logged-in customer's own, else the guest cart in
/// the cookie, else (if `create`) a new guest cart.
pub(crate) async fn owner(
    rc: &RequestContext,
    env: &Env,
    config: &EdgeConfig,
    create: bool,
) -> Result<Option<Owner>, EdgeError> {
    if let Some(s) = session::active(rc, env, config).await? {
        return Ok(Some(Owner::customer(s, config)));
    }
    match cookie_keys(config)?.cart_id(rc.cookie.as_deref())? {
        Some(id) => Ok(Some(Owner::guest(id, false, config))),
        None if create => {
            let id = cart_cookie::new_cart_id(random()?);
            Ok(Some(Owner::guest(id, true, config)))
        }
        None => Ok(None),
    }
}

/// The `Set-Cookie` of a guest cart this request made.
fn new_guest_cookie(owner: &Owner, config: &EdgeConfig) -> Option<String> {
    match (&owner.cart.key, owner.new_guest) {
        (durable_objects::cart_api::CartKey::Guest(id), true) => {
            cookie_keys(config).ok().map(|k| k.set_cookie(id))
        }
        _ => None,
    }
}

/// The client's `Idempotency-Key` for a cart change, fingerprinted by
/// what the client sent: method, path and `body`.
fn client_request(rc: &RequestContext, body: &[u8]) -> Result<Option<ClientRequest>, EdgeError> {
    let Some(id) = client_key(rc.header("idempotency-key"))? else {
        return Ok(None);
    };
    Ok(Some(ClientRequest::from_client(
        id, &rc.method, &rc.path, body,
    )))
}

/// Sends one change to the owner's cart object; its answer for the client.
async fn mutate(
    rc: &RequestContext,
    env: &Env,
    config: &EdgeConfig,
    owner: &Owner,
    (op, request): (Op, Option<ClientRequest>),
) -> Result<Response, EdgeError> {
    let m = Mutation {
        cart: owner.cart.key.short(),
        actor: owner.actor.clone(),
        if_match: if_match(rc.header("if-match")),
        request,
        idle_seconds: owner.idle_seconds,
        op,
    };
    let answer = ports::ObjectCarts(env).mutate(&owner.cart, &m).await?;
    render(core::change_reply(answer, new_guest_cookie(owner, config))?)
}

/// `GET /api/cart` (a browser without a cart sees an empty one) and
/// `DELETE /api/cart` (empties it).
pub(crate) async fn cart(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let Some(owner) = owner(rc, env, config, false).await? else {
        if rc.method == "DELETE" {
            return Err(EdgeError::new(404, "there is no cart to clear"));
        }
        return render(core::view_reply(
            &CartView::of("", &Cart::default()),
            false,
            None,
        )?);
    };
    if rc.method == "DELETE" {
        let change = (Op::Clear, client_request(rc, b"")?);
        return mutate(rc, env, config, &owner, change).await;
    }
    let view = ports::ObjectCarts(env).view(&owner.cart).await?;
    render(core::view_reply(&view, false, None)?)
}

/// A JSON body parsed into `T`, and the client request it makes (if keyed).
async fn json_body<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    rc: &RequestContext,
) -> Result<(T, Option<ClientRequest>), EdgeError> {
    let body = super::body::json_bytes(req, rc).await?;
    let parsed = parse_json(&body)?;
    Ok((parsed, client_request(rc, &body)?))
}

/// `POST /api/cart/items`: name and price from the catalog (through the cache).
pub(crate) async fn add_item(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    ctx: &Context,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let (item, request): (AddItem, _) = json_body(&mut req, rc).await?;
    let quantity = checked_quantity(item.quantity)?;
    let owner = owner(rc, env, config, true)
        .await?
        .ok_or_else(|| EdgeError::new(500, "no cart could be made"))?;
    let product = super::catalog::product(config, &item.sku, ctx).await?;
    let line = CartLine {
        sku: product.sku,
        name: product.name,
        unit_price: product.price,
        quantity,
    };
    mutate(rc, env, config, &owner, (Op::Add { line }, request)).await
}

/// `PUT|PATCH /api/cart/items/{sku}` sets a quantity; `DELETE` removes the line.
pub(crate) async fn line(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let sku = rc.path.rsplit('/').next().unwrap_or_default().to_owned();
    crate::catalog::validate_sku(&sku)?;
    let change = if rc.method == "DELETE" {
        (Op::Remove { sku }, client_request(rc, b"")?)
    } else {
        let (set, request): (SetQuantity, _) = json_body(&mut req, rc).await?;
        let quantity = checked_quantity(set.quantity)?;
        (Op::SetQuantity { sku, quantity }, request)
    };
    let Some(owner) = owner(rc, env, config, false).await? else {
        return Err(EdgeError::new(404, "there is no cart"));
    };
    mutate(rc, env, config, &owner, change).await
}

/// `GET /api/cart/checkout`: where the checkout stands (the cart, with any
/// order still waiting in its outbox).
pub(crate) async fn checkout_status(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let Some(owner) = owner(rc, env, config, false).await? else {
        return Err(EdgeError::new(404, "there is no cart"));
    };
    let view = ports::ObjectCarts(env).view(&owner.cart).await?;
    render(core::view_reply(&view, false, None)?)
}

/// A checkout's client request id: a checkout has no body, and a client
/// that sends one sends JSON (read through the bound, fingerprinted).
async fn checkout_request(
    req: &mut Request,
    rc: &RequestContext,
) -> Result<Option<ClientRequest>, EdgeError> {
    let body = if core::checkout_has_body(rc.header("content-type"), rc.header("content-length"))? {
        super::body::bytes(req, crate::request_body::MAX_JSON_BODY).await?
    } else {
        Vec::new()
    };
    client_request(rc, &body)
}

/// `POST /api/cart/checkout`: freeze the cart and write its outbox (one
/// step in the object), place the order, record the answer. An order the
/// origin did not settle waits in the outbox: `202` and a status URL.
pub(crate) async fn checkout(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let request = checkout_request(&mut req, rc).await?;
    super::flags::refuse_when_checkout_is_off(env, config, rc).await?;
    let Some(owner) = owner(rc, env, config, false).await? else {
        return Err(EdgeError::new(404, "there is no cart to check out"));
    };
    let claims = owner.session.as_ref().map(session::edge_claims);
    let home = owner.session.as_ref().map(|s| s.region.clone());
    let flags = super::flags::encoded_for(env, config, rc, owner.session.as_ref()).await;
    let (region, base) = crate::forwarding::first_region(config, rc, "orders", home.as_deref())?;
    let target = OrderTarget {
        url: format!("{base}{}", paths::ORDERS),
        region,
        claims: claims.clone(),
        request_id: rc.request_id.clone(),
        traceparent: rc.trace.to_string(),
    };
    let outcome = checkout::checkout(
        &ports::ObjectCarts(env),
        &ports::ForwardedOrigins { config, rc },
        Checkout {
            cart: &owner.cart,
            actor: &owner.actor,
            idle_seconds: owner.idle_seconds,
            if_match: if_match(rc.header("if-match")),
            request,
            target,
            claims: claims.as_deref(),
            home_region: home.as_deref(),
            flags: &flags,
        },
    )
    .await?;
    render(checkout_answer(outcome, rc)?)
}

/// How a checkout's outcome is answered.
fn checkout_answer(outcome: Outcome, rc: &RequestContext) -> Result<Reply, EdgeError> {
    match outcome {
        Outcome::AsRecorded(answer) => core::recorded_checkout_reply(answer),
        Outcome::Placed {
            status,
            order,
            cart,
        } => core::placed_reply(status, order, &cart),
        Outcome::Refused { status, reason } => Err(EdgeError::new(status, refusal_detail(&reason))),
        Outcome::Pending { cart, why } => {
            worker::console_warn!(
                "edge: the order of cart {} waits in the outbox: {why} request_id={}",
                cart.cart_id,
                rc.request_id
            );
            core::pending_reply(&cart)
        }
    }
}

/// `GET /api/support/carts/{g-<id>|u-<user>}[?region=eu]`: the cart and its
/// audit log, for the shop's support staff (bearer `ADMIN_TOKEN`).
pub(crate) async fn support(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    super::admin::authorise(rc, config)?;
    let cart = core::support_target(&rc.path, rc.query.as_deref(), config)?;
    let carts = ports::ObjectCarts(env);
    let view = carts.view(&cart).await?;
    let log = carts.log(&cart).await?;
    render(Reply::json(
        200,
        &serde_json::json!({ "cart": view, "log": log["entries"] }),
    )?)
}
