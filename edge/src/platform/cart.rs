//! Cart endpoints: the edge prices lines from the catalog and hands them to
//! the cart's Durable Object; checkout signs the order to the origin.

use durable_objects::cart::Cart;
use durable_objects::cart::CartLine;
use durable_objects::cart_api::{self, AddLine, CartView, CheckedOut};
use durable_objects::respond;
use origin_adapter::wire::paths;
use serde::Deserialize;
use worker::{Context, Env, Method, Request, Response, Stub};

use super::forward::{self, Call};
use super::{RequestContext, internal, objects, random};
use crate::cart_cookie;
use crate::checkout::{order_request, origin_outcome};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::request_body::{check_headers, parse_json};

/// `POST /api/cart/items`. The price is never the client's to say.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddItem {
    sku: String,
    quantity: i64,
}

fn stub(env: &Env, cart_id: &str) -> Result<Stub, EdgeError> {
    objects::stub(env, cart_api::BINDING, &cart_api::object_name(cart_id))
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// `GET /api/cart`: a browser without a cart sees an empty one.
pub(crate) async fn view(req: &Request, env: &Env) -> Result<Response, EdgeError> {
    match cart_cookie::cart_id(header(req, "cookie").as_deref())? {
        Some(id) => objects::call(&stub(env, &id)?, cart_api::VIEW, None).await,
        None => {
            respond::json(200, &CartView::of("", &Cart::default())).map_err(internal("answered"))
        }
    }
}

pub(crate) async fn add_item(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    ctx: &Context,
) -> Result<Response, EdgeError> {
    check_headers(
        header(&req, "content-type").as_deref(),
        header(&req, "content-length").as_deref(),
    )?;
    let existing = cart_cookie::cart_id(header(&req, "cookie").as_deref())?;
    let body = req
        .bytes()
        .await
        .map_err(|_| EdgeError::new(400, "the request body could not be read"))?;
    let item: AddItem = parse_json(&body)?;
    let product = super::catalog::product(config, &item.sku, ctx).await?;
    let cart_id = match &existing {
        Some(id) => id.clone(),
        None => cart_cookie::new_cart_id(random()?),
    };
    let add = AddLine {
        cart_id: cart_id.clone(),
        line: CartLine {
            sku: product.sku,
            name: product.name,
            unit_price: product.price,
            quantity: item.quantity,
        },
    };
    let body = serde_json::to_string(&add)
        .map_err(|_| EdgeError::new(500, "the edge could not encode the cart line"))?;
    let mut response = objects::call(&stub(env, &cart_id)?, cart_api::ADD_LINE, Some(body)).await?;
    if existing.is_none() && response.status_code() == 200 {
        response
            .headers_mut()
            .set("set-cookie", &cart_cookie::set_cookie(&cart_id))
            .map_err(internal("set the cart cookie"))?;
    }
    Ok(response)
}

/// `POST /api/cart/checkout`: place the order at the origin, signed, keyed
/// by cart version so retries place it once; then mark the cart.
pub(crate) async fn checkout(
    req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let content_type = header(&req, "content-type");
    let content_length = header(&req, "content-length");
    if content_type.is_some() || content_length.as_deref().is_some_and(|l| l.trim() != "0") {
        check_headers(content_type.as_deref(), content_length.as_deref())?;
    }
    let Some(cart_id) = cart_cookie::cart_id(header(&req, "cookie").as_deref())? else {
        return Err(EdgeError::new(404, "there is no cart to check out"));
    };
    // A logged-in customer's order carries their signed identity.
    let session = super::session::active(&req, env, config).await?;
    let claims = session.as_ref().map(super::session::edge_claims);
    let stub = stub(env, &cart_id)?;
    let mut current = objects::call(&stub, cart_api::VIEW, None).await?;
    let view: CartView = current.json().await.map_err(internal("read the cart"))?;
    let (order, key) = order_request(&view)?;
    let body = serde_json::to_vec(&order)
        .map_err(|_| EdgeError::new(500, "the edge could not encode the order"))?;

    let answer = forward::call(
        config,
        rc,
        Call {
            service: "orders",
            method: Method::Post,
            path: paths::ORDERS,
            query: None,
            body: Some(&body),
            idempotency_key: Some(&key),
            claims: claims.as_deref(),
            home_region: session.as_ref().map(|s| s.region.as_str()),
        },
    )
    .await?;
    let placed = origin_outcome(answer.status, &answer.body)?;

    let done = CheckedOut {
        cart_id: cart_id.clone(),
        version: view.version,
        order_id: placed.order_id.clone(),
    };
    let done = serde_json::to_string(&done)
        .map_err(|_| EdgeError::new(500, "the edge could not encode the checkout"))?;
    let mut marked = objects::call(&stub, cart_api::CHECKED_OUT, Some(done)).await?;
    if marked.status_code() != 200 {
        // The order stands at the origin; the cart moved on meanwhile (the
        // freeze-before-order flow of the cart issue closes this window).
        worker::console_error!(
            "edge: order {} placed but cart {cart_id} not marked",
            placed.order_id
        );
        return Ok(marked);
    }
    let cart: CartView = marked
        .json()
        .await
        .map_err(internal("read the checked-out cart"))?;
    respond::json(201, &serde_json::json!({ "order": placed, "cart": cart }))
        .map_err(internal("answered"))
}
