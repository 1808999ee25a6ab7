//! The storefront's personal pages and their forms: the cart, login and
//! logout, checkout, the order history. Never shared: each is someone's
//! own. A form post is bounded and media-type checked, runs the API's use
//! case on the JSON its fields make ([`crate::pages::api`]), and answers
//! `303 See Other` (POST/redirect/GET), carrying the cookies the use case
//! set; a refusal is a page saying why, with its status.

use origin_adapter::wire::Order;
use serde_json::{Value, json};
use worker::Request;

use super::body::bytes;
use super::pages::{
    Platform, cart_case, cart_view, error_page, express_checkout, form_key, orders_of, with_cookies,
};
use super::runtime::{PlatformIds, now_ms};
use super::{flags, ports};
use crate::error::EdgeError;
use crate::pages::api::{answer, as_api};
use crate::pages::views::{self, Meta, Shop};
use crate::pages::{self, Page, field, form, see_other};
use crate::shop::reply::Reply;
use crate::shop::session::{SessionPorts, handle as session};

/// The orders service's list of a customer's orders.
#[derive(serde::Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

/// A form body's limit: the edge's forms are a few short fields.
const MAX_FORM_BODY: usize = 4 * 1024;
/// A form's field limit: the edge's forms have at most two.
const MAX_FIELDS: usize = 8;

pub(crate) async fn handle(
    page: Page,
    mut req: Request,
    shop: &Shop<'_>,
    p: &Platform<'_>,
) -> Result<Reply, EdgeError> {
    let answered = match page {
        Page::Cart => cart_view(p)
            .await
            .map(|view| private(shop, "Your cart", views::cart(&view))),
        Page::Login if p.rc.method != "POST" => Ok(private(shop, "Log in", views::login(None))),
        Page::Checkout if p.rc.method != "POST" => {
            let view = cart_view(p).await;
            let express = express_checkout(p).await;
            view.map(|v| private(shop, "Checkout", views::checkout(&v, express)))
        }
        Page::Orders => orders_of::<OrderList>(p, "/api/orders")
            .await
            .map(|list| private(shop, "Your orders", views::orders(&list.orders))),
        Page::Order(id) => {
            let just_placed = p.rc.query.as_deref() == Some("placed");
            orders_of::<Order>(p, &format!("/api/orders/{id}"))
                .await
                .map(|order| private(shop, "Your order", views::order(&order, just_placed)))
        }
        posted => post(posted, &mut req, shop, p).await,
    };
    Ok(match answered {
        // A page for customers asks a visitor to log in first.
        Err(e) if e.status() == 401 && !p.rc.is_write() => see_other("/login"),
        Err(e) => error_page(shop, &e),
        Ok(reply) => reply,
    })
}

/// A personal page: never indexed, never shared.
fn private(shop: &Shop<'_>, title: &str, content: maud::Markup) -> Reply {
    let meta = Meta {
        title,
        description: title,
        canonical: None,
        ld: Vec::new(),
        index: false,
    };
    pages::html(200, views::page(shop, &meta, content))
}

/// The fields of a posted form (`application/x-www-form-urlencoded`).
async fn fields(req: &mut Request, p: &Platform<'_>) -> Result<Vec<(String, String)>, EdgeError> {
    let media = p.rc.header("content-type").unwrap_or_default();
    let media = media.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(EdgeError::unsupported_media_type(
            "a form is sent as application/x-www-form-urlencoded",
        ));
    }
    form(&bytes(req, MAX_FORM_BODY).await?, MAX_FIELDS)
}

async fn post(
    page: Page,
    req: &mut Request,
    shop: &Shop<'_>,
    p: &Platform<'_>,
) -> Result<Reply, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(p.env), ports::GuardObjects(p.env));
    let key = form_key()?;
    match page {
        Page::AddToCart => {
            let fields = fields(req, p).await?;
            let quantity: i64 = field(&fields, "quantity")?
                .trim()
                .parse()
                .map_err(|_| EdgeError::unprocessable("the quantity is a whole number"))?;
            let body = json!({ "sku": field(&fields, "sku")?, "quantity": quantity }).to_string();
            let api = as_api(p.rc, "POST", "/api/cart/items", body.len(), Some(&key));
            let prices = ports::CachedPrices {
                config: p.config,
                ctx: p.ctx,
            };
            let reply = cart_case(&carts, &guard, &api, p.config)
                .add(&prices, body.as_bytes())
                .await?;
            answer::<Value>(&reply)?;
            Ok(with_cookies(see_other("/cart"), &reply))
        }
        Page::RemoveFromCart => {
            let fields = fields(req, p).await?;
            let sku = field(&fields, "sku")?;
            let api = as_api(
                p.rc,
                "DELETE",
                &format!("/api/cart/items/{sku}"),
                0,
                Some(&key),
            );
            let reply = cart_case(&carts, &guard, &api, p.config)
                .set_line(sku, None::<&[u8]>)
                .await?;
            answer::<Value>(&reply)?;
            Ok(see_other("/cart"))
        }
        Page::Login => log_in(req, shop, p).await,
        Page::Logout => {
            let api = as_api(p.rc, "DELETE", "/api/session", 0, None);
            let reply = run_session(p, &api, b"").await?;
            Ok(with_cookies(see_other("/"), &reply))
        }
        _ => {
            let api = as_api(p.rc, "POST", "/api/cart/checkout", 0, Some(&key));
            let case = cart_case(&carts, &guard, &api, p.config);
            let (set, _) = flags::current(p.env, p.config).await;
            let origins = ports::ForwardedOrigins {
                config: p.config,
                rc: &api,
            };
            let reply = crate::shop::checkout::place(&case, &origins, &set, &b""[..]).await?;
            let placed: Value = answer(&reply)?;
            Ok(match placed["order"]["order_id"].as_str() {
                Some(id) => see_other(&format!("/orders/{id}?placed")),
                // Still on its way to the orders service: the history
                // shows it once it is placed.
                None => see_other("/orders"),
            })
        }
    }
}

/// Runs the API's `/api/session` use case as `api` (a login or logout).
async fn run_session(
    p: &Platform<'_>,
    api: &crate::incoming::Incoming,
    body: &[u8],
) -> Result<Reply, EdgeError> {
    let (guard, carts) = (ports::GuardObjects(p.env), ports::ObjectCarts(p.env));
    let origins = ports::ForwardedOrigins {
        config: p.config,
        rc: api,
    };
    let ports = SessionPorts {
        guard: &guard,
        origins: &origins,
        carts: &carts,
        ids: &PlatformIds,
    };
    session(&ports, (api, p.config, now_ms() / 1000), body).await
}

/// `POST /login`: the API's login on the form's fields; to the cart when
/// the guest had one (it has been merged), else home. A refused login is
/// the form again, saying why, with the refusal's status.
async fn log_in(req: &mut Request, shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let fields = fields(req, p).await?;
    let body = json!({
        "email": field(&fields, "email")?,
        "password": field(&fields, "password")?,
    })
    .to_string();
    let api = as_api(p.rc, "POST", "/api/session", body.len(), None);
    let had_cart =
        p.rc.cookie
            .as_deref()
            .is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    let done = run_session(p, &api, body.as_bytes()).await;
    let refused = match done.and_then(|reply| answer::<Value>(&reply).map(|_| reply)) {
        Ok(reply) => {
            let next = if had_cart { "/cart" } else { "/" };
            return Ok(with_cookies(see_other(next), &reply));
        }
        Err(e) if matches!(e.status(), 401 | 429) => e,
        Err(e) => return Err(e),
    };
    let why = match refused.status() {
        401 => "That email and password do not match an account.",
        _ => "Too many tries: please wait a few minutes and try again.",
    };
    let mut reply = private(shop, "Log in", views::login(Some(why)));
    reply.status = refused.status();
    for (name, value) in refused.headers() {
        reply = reply.header(name, value.clone());
    }
    Ok(reply)
}
