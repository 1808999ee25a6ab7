//! Cart endpoints. The edge finds the caller's cart (a customer's by user
//! id, a guest's by the signed cookie), prices lines from the catalog, and
//! hands each change to the cart's Durable Object; checkout freezes the
//! cart there, then places the order and reports the origin's answer back.

use durable_objects::cart::{Cart, CartLine, Limits, check_quantity};
use durable_objects::cart_api::{
    self, CartKey, CartView, ClientRequest, Mutation, Op, OrderTarget, refusal_detail,
};
use origin_adapter::wire::paths;
use serde::Deserialize;
use worker::{Context, Env, Request, Response, Stub};

use super::forward;
use super::runtime::{RequestContext, internal, random};
use super::{objects, ports, session};
use crate::cart_cookie::{self, CookieKeys};
use crate::checkout::{etag, if_match};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::client_key;
use crate::request_body::{check_headers, parse_json, whole_number};
use crate::shop::checkout::{self, Checkout, Outcome};
use crate::shop::ports::{CartRef, ObjectAnswer};

/// `POST /api/cart/items`. The price is never the client's to say.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddItem {
    sku: String,
    #[serde(deserialize_with = "whole_number")]
    quantity: i64,
}

/// `PUT|PATCH /api/cart/items/{sku}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetQuantity {
    #[serde(deserialize_with = "whole_number")]
    quantity: i64,
}

/// Whose cart a request is about.
pub(crate) struct Owner {
    pub key: CartKey,
    pub actor: String,
    pub idle_seconds: i64,
    /// A customer whose home region is `eu` keeps their cart in the EU.
    pub jurisdiction: Option<&'static str>,
    /// A guest cart made by this request: its cookie must be set.
    pub new_guest: bool,
    pub session: Option<crate::session::token::SessionClaims>,
}

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
        return Ok(Some(Owner {
            key: CartKey::Customer(s.sub.clone()),
            actor: format!("user:{}", s.sub),
            idle_seconds: config.cart_customer_idle,
            jurisdiction: (s.region == "eu").then_some("eu"),
            new_guest: false,
            session: Some(s),
        }));
    }
    let keys = cookie_keys(config)?;
    let guest = |id: String, new_guest| Owner {
        key: CartKey::Guest(id),
        actor: "guest".into(),
        idle_seconds: config.cart_guest_idle,
        jurisdiction: None,
        new_guest,
        session: None,
    };
    match keys.cart_id(rc.cookie.as_deref())? {
        Some(id) => Ok(Some(guest(id, false))),
        None if create => Ok(Some(guest(cart_cookie::new_cart_id(random()?), true))),
        None => Ok(None),
    }
}

pub(crate) fn stub(env: &Env, owner: &Owner) -> Result<Stub, EdgeError> {
    objects::stub_in(
        env,
        cart_api::BINDING,
        &owner.key.name(),
        owner.jurisdiction,
    )
}

/// The object's answer as the client gets it: `ETag` from the version,
/// never cached, and the cookie of a new guest cart.
async fn answer(
    mut response: Response,
    owner: &Owner,
    config: &EdgeConfig,
) -> Result<Response, EdgeError> {
    let status = response.status_code();
    if status != 200 {
        return Ok(response);
    }
    let replayed = response.headers().get("idempotent-replayed").ok().flatten();
    let view: CartView = response.json().await.map_err(internal("read the cart"))?;
    let mut out = durable_objects::respond::json(200, &view).map_err(internal("answered"))?;
    let headers = out.headers_mut();
    let set = || -> worker::Result<()> {
        headers.set("etag", &etag(view.version))?;
        if let Some(replayed) = &replayed {
            headers.set("idempotent-replayed", replayed)?;
        }
        if owner.new_guest
            && let CartKey::Guest(id) = &owner.key
        {
            headers.set(
                "set-cookie",
                &cookie_keys(config)
                    .map(|k| k.set_cookie(id))
                    .unwrap_or_default(),
            )?;
        }
        Ok(())
    };
    set().map_err(internal("answered"))?;
    Ok(out)
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

/// A client's quantity, checked against the cart's limits at the edge so
/// no number a cart cannot hold (one past 2^53 included) crosses into the
/// cart object: `422` naming the limit.
fn checked_quantity(quantity: i64) -> Result<i64, EdgeError> {
    check_quantity(quantity, Limits::default())
        .map(|()| quantity)
        .map_err(|e| EdgeError::new(e.status(), e.to_string()))
}

/// Sends one change to the owner's cart object.
async fn mutate(
    rc: &RequestContext,
    env: &Env,
    owner: &Owner,
    op: Op,
    request: Option<ClientRequest>,
) -> Result<Response, EdgeError> {
    let m = Mutation {
        cart: owner.key.short(),
        actor: owner.actor.clone(),
        if_match: if_match(rc.header("if-match")),
        request,
        idle_seconds: owner.idle_seconds,
        op,
    };
    let body = serde_json::to_string(&m)
        .map_err(|_| EdgeError::new(500, "the edge could not encode the change"))?;
    objects::call(&stub(env, owner)?, cart_api::MUTATE, Some(body)).await
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
        let empty = CartView::of("", &Cart::default());
        let mut r = durable_objects::respond::json(200, &empty).map_err(internal("answered"))?;
        r.headers_mut()
            .set("etag", &etag(empty.version))
            .map_err(internal("answered"))?;
        return Ok(r);
    };
    let response = if rc.method == "DELETE" {
        let request = client_request(rc, b"")?;
        mutate(rc, env, &owner, Op::Clear, request).await?
    } else {
        objects::call(&stub(env, &owner)?, cart_api::VIEW, None).await?
    };
    answer(response, &owner, config).await
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
    let response = mutate(rc, env, &owner, Op::Add { line }, request).await?;
    answer(response, &owner, config).await
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
    let (op, request) = if rc.method == "DELETE" {
        (Op::Remove { sku }, client_request(rc, b"")?)
    } else {
        let (set, request): (SetQuantity, _) = json_body(&mut req, rc).await?;
        let op = Op::SetQuantity {
            sku,
            quantity: checked_quantity(set.quantity)?,
        };
        (op, request)
    };
    let Some(owner) = owner(rc, env, config, false).await? else {
        return Err(EdgeError::new(404, "there is no cart"));
    };
    let response = mutate(rc, env, &owner, op, request).await?;
    answer(response, &owner, config).await
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
    let response = objects::call(&stub(env, &owner)?, cart_api::VIEW, None).await?;
    answer(response, &owner, config).await
}

fn placed_answer(
    status: u16,
    order: serde_json::Value,
    cart: &CartView,
) -> Result<Response, EdgeError> {
    let mut r = durable_objects::respond::json(
        status,
        &serde_json::json!({ "order": order, "cart": cart }),
    )
    .map_err(internal("answered"))?;
    r.headers_mut()
        .set("etag", &etag(cart.version))
        .map_err(internal("answered"))?;
    Ok(r)
}

/// A checkout the cart refused, or a retry of one whose answer is recorded:
/// a placed order's answer comes back as the first did, `ETag` included.
fn recorded_checkout(answer: ObjectAnswer) -> Result<Response, EdgeError> {
    let mut r = if (200..300).contains(&answer.status) {
        let recorded: cart_api::CheckoutAnswer = serde_json::from_slice(&answer.body)
            .map_err(|_| EdgeError::new(500, "a recorded checkout was unreadable"))?;
        let order = serde_json::to_value(&recorded.order).unwrap_or_default();
        placed_answer(answer.status, order, &recorded.cart)?
    } else {
        let mut r = Response::from_bytes(answer.body)
            .map_err(internal("answered"))?
            .with_status(answer.status);
        r.headers_mut()
            .set("content-type", origin_adapter::wire::PROBLEM_JSON)
            .map_err(internal("answered"))?;
        r
    };
    if answer.replayed {
        r.headers_mut()
            .set("idempotent-replayed", "true")
            .map_err(internal("answered"))?;
    }
    Ok(r)
}

/// A checkout's client request id: a checkout has no body, and a client
/// that sends one sends JSON (read through the bound, fingerprinted).
async fn checkout_request(
    req: &mut Request,
    rc: &RequestContext,
) -> Result<Option<ClientRequest>, EdgeError> {
    let content_type = rc.header("content-type");
    let content_length = rc.header("content-length");
    let declared = content_length.is_some_and(|l| l.trim() != "0");
    let body = if content_type.is_some() || declared {
        check_headers(content_type, content_length)?;
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
    refuse_when_switched_off(env, config, rc).await?;
    let Some(owner) = owner(rc, env, config, false).await? else {
        return Err(EdgeError::new(404, "there is no cart to check out"));
    };
    let claims = owner.session.as_ref().map(session::edge_claims);
    let home = owner.session.as_ref().map(|s| s.region.clone());
    let flags = super::flags::encoded_for(env, config, rc, owner.session.as_ref()).await;
    let (region, base) = forward::region_for(config, rc, "orders", home.as_deref())?;
    let target = OrderTarget {
        url: format!("{base}{}", paths::ORDERS),
        region,
        claims: claims.clone(),
        request_id: rc.request_id.clone(),
        traceparent: rc.trace.to_string(),
    };
    let cart = CartRef {
        key: owner.key.clone(),
        jurisdiction: owner.jurisdiction,
    };
    let outcome = checkout::checkout(
        &ports::ObjectCarts(env),
        &ports::ForwardedOrigins { config, rc },
        Checkout {
            cart: &cart,
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
    checkout_answer(outcome, rc)
}

/// The `checkout-enabled` kill switch: `503`, the cart kept as it is.
async fn refuse_when_switched_off(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<(), EdgeError> {
    let on = super::flags::enabled(
        env,
        config,
        rc,
        crate::flags::obeyed::CHECKOUT_ENABLED,
        true,
    );
    if on.await {
        return Ok(());
    }
    Err(EdgeError::new(
        503,
        "checkout is switched off for a moment; your cart is kept as it is — please try again shortly",
    )
    .with_header("retry-after", "60"))
}

/// How a checkout's outcome is answered.
fn checkout_answer(outcome: Outcome, rc: &RequestContext) -> Result<Response, EdgeError> {
    match outcome {
        Outcome::AsRecorded(answer) => recorded_checkout(answer),
        Outcome::Placed {
            status,
            order,
            cart,
        } => placed_answer(status, order, &cart),
        Outcome::Refused { status, reason } => Err(EdgeError::new(status, refusal_detail(&reason))),
        Outcome::Pending { cart, why } => {
            worker::console_warn!(
                "edge: the order of cart {} waits in the outbox: {why} request_id={}",
                cart.cart_id,
                rc.request_id
            );
            pending_answer(&cart)
        }
    }
}

/// `202`: the order waits in the outbox; the client polls `Location`.
fn pending_answer(cart: &CartView) -> Result<Response, EdgeError> {
    let mut r = durable_objects::respond::json(
        202,
        &serde_json::json!({
            "status": "pending",
            "detail": "the order is waiting to be accepted; it will be placed exactly once",
            "status_url": "/api/cart/checkout",
            "cart": cart,
        }),
    )
    .map_err(internal("answered"))?;
    let headers = r.headers_mut();
    let set = || -> worker::Result<()> {
        headers.set("location", "/api/cart/checkout")?;
        headers.set("retry-after", "2")?;
        headers.set("etag", &etag(cart.version))
    };
    set().map_err(internal("answered"))?;
    Ok(r)
}

/// `GET /api/support/carts/{g-<id>|u-<user>}[?region=eu]`: the cart and its
/// audit log, for the shop's support staff (bearer `ADMIN_TOKEN`).
pub(crate) async fn support(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    super::admin::authorise(rc, config)?;
    let short = rc.path.rsplit('/').next().unwrap_or_default();
    let key = CartKey::from_short(short).ok_or_else(|| {
        EdgeError::new(
            404,
            "no such cart: ids look like g-<cart id> or u-<user id>",
        )
    })?;
    let query = rc.query.as_deref().unwrap_or_default();
    let jurisdiction =
        match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "region") {
            Some((_, r)) if r == "eu" => Some("eu"),
            Some((_, r)) if r.is_empty() || config.origin(&r).is_some() => None,
            Some(_) => return Err(EdgeError::new(400, "region: not a region of this shop")),
            None => None,
        };
    let stub = objects::stub_in(env, cart_api::BINDING, &key.name(), jurisdiction)?;
    let mut view = objects::call(&stub, cart_api::VIEW, None).await?;
    let mut log = objects::call(&stub, cart_api::LOG, None).await?;
    let view: serde_json::Value = view.json().await.map_err(internal("read the cart"))?;
    let log: serde_json::Value = log.json().await.map_err(internal("read the cart log"))?;
    durable_objects::respond::json(
        200,
        &serde_json::json!({ "cart": view, "log": log["entries"] }),
    )
    .map_err(internal("answered"))
}
