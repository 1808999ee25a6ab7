//! The storefront's personal pages and their forms: the cart, login and
//! logout, checkout, the order history, a drop's waiting room (in
//! [`super::drop_room`]). Never shared: each is someone's own. A form
//! post is bounded and media-type checked, runs the API's use
//! case on the JSON its fields make ([`crate::pages::api`]), and answers
//! `303 See Other` (POST/redirect/GET), carrying the cookies the use case
//! set; a refusal is a page saying why, with its status.

use durable_objects::cart::CartStatus;
use origin_adapter::wire::Order;
use serde_json::Value;
use worker::Request;

use super::body::bytes;
use super::pages::{
    Platform, cart_view, error_page, express_checkout, form_key, orders_of, with_cookies,
};
use super::runtime::{PlatformIds, now_ms};
use super::{flags, ports};
use crate::error::EdgeError;
use crate::pages::api::{answer, as_api};
use crate::pages::views::{self, Shop};
use crate::pages::{Page, forms, see_other};
use crate::shop::reply::Reply;
use crate::shop::session::{SessionPorts, handle as session};

/// The orders service's list of a customer's orders.
#[derive(serde::Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

pub(crate) async fn handle(
    page: Page,
    mut req: Request,
    shop: &Shop<'_>,
    p: &Platform<'_>,
) -> Result<Reply, EdgeError> {
    // A customer's own page may say they are logged in.
    let shop = &Shop {
        signed_in: p.rc.session_token.is_some(),
        ..*shop
    };
    let checking_out = page == Page::Checkout;
    let answered = match page {
        Page::Cart => cart_view(p)
            .await
            .map(|view| forms::personal(shop, "Your cart", views::cart(&view), None)),
        Page::Login if p.rc.method != "POST" => {
            let next = forms::next_page(query_value(p, "next").as_deref());
            let form = views::login(None, "", next);
            Ok(forms::personal(shop, "Log in", form, None))
        }
        Page::Checkout if p.rc.method != "POST" => checkout_page(shop, p).await,
        Page::Orders => orders_of::<OrderList>(p, "/api/orders")
            .await
            .map(|list| forms::personal(shop, "Your orders", views::orders(&list.orders), None)),
        Page::Order(id) => {
            let just_placed = p.rc.query.as_deref() == Some("placed");
            orders_of::<Order>(p, &format!("/api/orders/{id}"))
                .await
                .map(|order| {
                    forms::personal(shop, "Your order", views::order(&order, just_placed), None)
                })
        }
        Page::Drop(id) => super::drop_room::show(shop, p, &id).await,
        posted => post(posted, &mut req, shop, p).await,
    };
    Ok(match answered {
        // A page for customers asks a visitor to log in first, then
        // comes back.
        Err(e) if e.status() == 401 => see_other("/login?next=/orders"),
        // A cart cookie this shop did not sign (or no longer can open)
        // is dropped, and the page tried again with a fresh cart.
        Err(e) if e.status() == 400 && unreadable_cart_cookie(p) => {
            let again = if p.rc.is_write() {
                "/cart"
            } else {
                p.rc.path.as_str()
            };
            see_other(again).header("set-cookie", crate::cart_cookie::clear_cookie())
        }
        // A checkout that cannot go on now (another is under way, the cart
        // moved on): the checkout page says where it stands.
        Err(e) if e.status() == 409 && checking_out => see_other("/checkout"),
        Err(e) => error_page(shop, &e, p.rc.is_write()),
        Ok(reply) => reply,
    })
}

/// A query parameter of the page's URL, decoded.
fn query_value(p: &Platform<'_>, name: &str) -> Option<String> {
    let query = p.rc.query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// Whether the request carries a cart cookie that does not open.
fn unreadable_cart_cookie(p: &Platform<'_>) -> bool {
    let Some(keys) = p.config.cart_cookie_keys() else {
        return false;
    };
    keys.cart_id(p.rc.cookie.as_deref()).is_err()
}

/// `GET /checkout`: the lines and the button; an order on its way (the
/// page reloads itself until it is settled); a placed one, its page.
async fn checkout_page(shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let view = cart_view(p).await?;
    let express = express_checkout(p).await;
    Ok(match &view.status {
        CartStatus::CheckedOut { order_id } if shop.signed_in => {
            see_other(&format!("/orders/{order_id}?placed"))
        }
        CartStatus::CheckingOut { .. } => {
            let page = views::checkout(&view, express, shop.signed_in);
            forms::personal(shop, "Checkout", page, Some(views::Refresh::Always(2)))
        }
        _ => forms::personal(
            shop,
            "Checkout",
            views::checkout(&view, express, shop.signed_in),
            None,
        ),
    })
}

/// The fields of a posted form, bounded.
async fn fields(req: &mut Request, p: &Platform<'_>) -> Result<Vec<(String, String)>, EdgeError> {
    forms::check_media(p.rc.header("content-type"))?;
    forms::form(&bytes(req, forms::MAX_FORM_BODY).await?, forms::MAX_FIELDS)
}

async fn post(
    page: Page,
    req: &mut Request,
    shop: &Shop<'_>,
    p: &Platform<'_>,
) -> Result<Reply, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(p.env), ports::GuardObjects(p.env));
    let key = form_key()?;
    // Every form is a form, those without fields too.
    forms::check_media(p.rc.header("content-type"))?;
    match page {
        Page::AddToCart => {
            let body = forms::add_to_cart(&fields(req, p).await?)?;
            let api = as_api(p.rc, "POST", "/api/cart/items", body.len(), Some(&key));
            let prices = ports::CachedPrices {
                config: p.config,
                ctx: p.ctx,
            };
            let reply = ports::cart_case(&carts, &guard, &api, p.config)
                .add(&prices, &ports::DropObjects(p.env), body.as_bytes())
                .await?;
            answer::<Value>(&reply)?;
            Ok(with_cookies(see_other("/cart"), &reply))
        }
        Page::RemoveFromCart => {
            let fields = fields(req, p).await?;
            let sku = forms::field(&fields, "sku")?;
            let api = as_api(
                p.rc,
                "DELETE",
                &format!("/api/cart/items/{sku}"),
                0,
                Some(&key),
            );
            let reply = ports::cart_case(&carts, &guard, &api, p.config)
                .set_line(&ports::DropObjects(p.env), sku, None::<&[u8]>)
                .await?;
            answer::<Value>(&reply)?;
            Ok(see_other("/cart"))
        }
        Page::Login => log_in(req, shop, p).await,
        Page::JoinDrop(id) => super::drop_room::join(p, &id).await,
        Page::Logout => {
            let api = as_api(p.rc, "DELETE", "/api/session", 0, None);
            let reply = run_session(p, &api, b"").await?;
            Ok(with_cookies(see_other("/"), &reply))
        }
        // A customer checks out: the order joins their history.
        _ if p.rc.session_token.is_none() => Ok(see_other("/login?next=/checkout")),
        _ => {
            let api = as_api(p.rc, "POST", "/api/cart/checkout", 0, Some(&key));
            let case = ports::cart_case(&carts, &guard, &api, p.config);
            let (set, _) = flags::current(p.env, p.config).await;
            let origins = ports::ForwardedOrigins {
                config: p.config,
                rc: &api,
            };
            let reply = crate::shop::checkout::place(&case, &origins, &set, &b""[..]).await?;
            Ok(forms::after_checkout(&answer(&reply)?))
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

/// `POST /login`: the API's login on the form's fields, then on
/// ([`forms::after_login`]); a refused login is the form again.
async fn log_in(req: &mut Request, shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let fields = fields(req, p).await?;
    let (body, next) = forms::log_in(&fields)?;
    let api = as_api(p.rc, "POST", "/api/session", body.len(), None);
    let done = run_session(p, &api, body.as_bytes()).await;
    match done.and_then(|reply| answer::<Value>(&reply).map(|_| reply)) {
        Ok(reply) => Ok(with_cookies(
            forms::after_login(p.rc.cookie.as_deref(), next),
            &reply,
        )),
        Err(e) => forms::login_refused(shop, &e, &fields).ok_or(e),
    }
}
