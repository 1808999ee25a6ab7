//! The cart as the client sees it: whose cart a request is about, a
//! client's quantity checked before anything crosses into the cart object,
//! and what each cart answer looks like (`ETag` from the version, the
//! replay marker, a new guest's cookie; a checkout's `201`, `202` or
//! recorded answer).

use durable_objects::cart::{Limits, check_quantity};
use durable_objects::cart_api::{CartKey, CartView, CheckoutAnswer};
use origin_adapter::wire::PROBLEM_JSON;

use super::ports::{CartRef, ObjectAnswer};
use super::reply::Reply;
use crate::checkout::etag;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::session::token::SessionClaims;

/// `POST /api/cart/items`. The price is never the client's to say.
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub sku: String,
    /// 1–99 (a line's limit).
    #[serde(deserialize_with = "crate::request_body::whole_number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 99))]
    pub quantity: i64,
}

/// `PUT|PATCH /api/cart/items/{sku}`.
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 1–99 (a line's limit).
    #[serde(deserialize_with = "crate::request_body::whole_number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 99))]
    pub quantity: i64,
}

/// Whether a checkout carries a body to read: it needs none, and a client
/// that sends one (a media type, or a length above 0) sends JSON within
/// the limit (`415`, `413`).
pub fn checkout_has_body(
    content_type: Option<&str>,
    content_length: Option<&str>,
) -> Result<bool, EdgeError> {
    let declared = content_length.is_some_and(|l| l.trim() != "0");
    if content_type.is_none() && !declared {
        return Ok(false);
    }
    crate::request_body::check_headers(content_type, content_length)?;
    Ok(true)
}

/// Whose cart a request is about.
#[derive(Debug, Clone)]
pub struct Owner {
    pub cart: CartRef,
    /// Who asks, for the audit log: `guest` or `user:<id>`.
    pub actor: String,
    /// How long the cart lives untouched (seconds).
    pub idle_seconds: i64,
    /// A guest cart made by this request: its cookie must be set.
    pub new_guest: bool,
    pub session: Option<SessionClaims>,
}

impl Owner {
    /// A logged-in customer's own cart, by user id; an EU customer's in the
    /// EU jurisdiction.
    pub fn customer(session: SessionClaims, config: &EdgeConfig) -> Self {
        Self {
            cart: CartRef {
                key: CartKey::Customer(session.sub.clone()),
                jurisdiction: (session.region == "eu").then_some("eu"),
            },
            actor: format!("user:{}", session.sub),
            idle_seconds: config.cart_customer_idle,
            new_guest: false,
            session: Some(session),
        }
    }

    /// A guest's cart, by the id in its signed cookie (or a new one).
    pub fn guest(id: String, new_guest: bool, config: &EdgeConfig) -> Self {
        Self {
            cart: CartRef {
                key: CartKey::Guest(id),
                jurisdiction: None,
            },
            actor: "guest".into(),
            idle_seconds: config.cart_guest_idle,
            new_guest,
            session: None,
        }
    }
}

/// A client's quantity, checked against the cart's limits at the edge so
/// no number a cart cannot hold (one past 2^53 included) crosses into the
/// cart object: `422` naming the limit.
pub fn checked_quantity(quantity: i64) -> Result<i64, EdgeError> {
    check_quantity(quantity, Limits::default())
        .map(|()| quantity)
        .map_err(|e| EdgeError::new(e.status(), e.to_string()))
}

/// A cart as the client gets it: `ETag`, the replay marker, and
/// `set_cookie` when the request made a new guest cart.
pub fn view_reply(
    view: &CartView,
    replayed: bool,
    set_cookie: Option<String>,
) -> Result<Reply, EdgeError> {
    let mut reply = Reply::json(200, view)?.header("etag", etag(view.version));
    if replayed {
        reply = reply.header("idempotent-replayed", "true");
    }
    if let Some(cookie) = set_cookie {
        reply = reply.header("set-cookie", cookie);
    }
    Ok(reply)
}

/// The cart object's answer to a change: the cart, or its refusal as is.
pub fn change_reply(answer: ObjectAnswer, set_cookie: Option<String>) -> Result<Reply, EdgeError> {
    if answer.status != 200 {
        return Ok(refusal(answer));
    }
    let view: CartView = serde_json::from_slice(&answer.body)
        .map_err(|_| EdgeError::internal("the cart answered with something unreadable"))?;
    view_reply(&view, answer.replayed, set_cookie)
}

fn refusal(answer: ObjectAnswer) -> Reply {
    let reply = Reply::raw(answer.status, PROBLEM_JSON, answer.body);
    if answer.replayed {
        reply.header("idempotent-replayed", "true")
    } else {
        reply
    }
}

/// A placed order: `{order, cart}` with the cart's `ETag`.
pub fn placed_reply(
    status: u16,
    order: serde_json::Value,
    cart: &CartView,
) -> Result<Reply, EdgeError> {
    let body = serde_json::json!({ "order": order, "cart": cart });
    Ok(Reply::json(status, &body)?.header("etag", etag(cart.version)))
}

/// A checkout the cart refused, or a retry of one whose answer is
/// recorded: a placed order's answer comes back as the first did.
pub fn recorded_checkout_reply(answer: ObjectAnswer) -> Result<Reply, EdgeError> {
    if !(200..300).contains(&answer.status) {
        return Ok(refusal(answer));
    }
    let recorded: CheckoutAnswer = serde_json::from_slice(&answer.body)
        .map_err(|_| EdgeError::internal("a recorded checkout was unreadable"))?;
    let order = serde_json::to_value(&recorded.order).unwrap_or_default();
    let reply = placed_reply(answer.status, order, &recorded.cart)?;
    Ok(if answer.replayed {
        reply.header("idempotent-replayed", "true")
    } else {
        reply
    })
}

/// `202`: the order waits in the outbox; the client polls `Location`.
pub fn pending_reply(cart: &CartView) -> Result<Reply, EdgeError> {
    let body = serde_json::json!({
        "status": "pending",
        "detail": "the order is waiting to be accepted; it will be placed exactly once",
        "status_url": "/api/cart/checkout",
        "cart": cart,
    });
    Ok(Reply::json(202, &body)?
        .header("location", "/api/cart/checkout")
        .header("retry-after", "2")
        .header("etag", etag(cart.version)))
}

/// Which cart the support API asks for: `g-<id>` or `u-<user>` in the
/// path, `?region=eu` for one kept in the EU.
pub fn support_target(
    path: &str,
    query: Option<&str>,
    config: &EdgeConfig,
) -> Result<CartRef, EdgeError> {
    let short = path.rsplit('/').next().unwrap_or_default();
    let key = CartKey::from_short(short).ok_or_else(|| {
        EdgeError::not_found("no such cart: ids look like g-<cart id> or u-<user id>")
    })?;
    let region = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "region")
        .map(|(_, r)| r.into_owned());
    let jurisdiction = match region.as_deref() {
        Some("eu") => Some("eu"),
        Some(r) if r.is_empty() || config.origin(r).is_some() => None,
        Some(_) => return Err(EdgeError::bad_request("region: not a region of this shop")),
        None => None,
    };
    Ok(CartRef { key, jurisdiction })
}

#[cfg(test)]
mod tests {
    use durable_objects::cart::Cart;

    use super::*;

    fn answer(status: u16, body: &str, replayed: bool) -> ObjectAnswer {
        ObjectAnswer {
            status,
            body: body.as_bytes().to_vec(),
            replayed,
        }
    }

    #[test]
    fn a_cart_answer_carries_its_etag_replay_marker_and_new_cookie() {
        let view = CartView::of("g-1", &Cart::default());
        let body = serde_json::to_string(&view).unwrap();
        let reply = change_reply(answer(200, &body, true), Some("__Host-cart=x".into())).unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.headers.contains(&("etag", "\"v0\"".into())));
        assert!(
            reply
                .headers
                .contains(&("idempotent-replayed", "true".into()))
        );
        assert!(
            reply
                .headers
                .contains(&("set-cookie", "__Host-cart=x".into()))
        );
        let refused = change_reply(answer(412, "{}", false), Some("c".into())).unwrap();
        assert_eq!((refused.status, refused.content_type), (412, PROBLEM_JSON));
        assert!(refused.headers.is_empty(), "a refusal sets no cookie");
        assert!(change_reply(answer(200, "nonsense", false), None).is_err());
    }

    #[test]
    fn a_checkout_reads_a_body_only_when_one_is_sent() {
        assert_eq!(checkout_has_body(None, None), Ok(false));
        assert_eq!(checkout_has_body(None, Some("0")), Ok(false));
        assert_eq!(checkout_has_body(Some("application/json"), None), Ok(true));
        assert_eq!(
            checkout_has_body(None, Some("12")).unwrap_err().status(),
            415
        );
        assert_eq!(
            checkout_has_body(Some("application/json"), Some("99999999"))
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn quantities_are_checked_before_they_cross() {
        assert_eq!(checked_quantity(3), Ok(3));
        for bad in [0, -1, 100, i64::MAX, i64::MIN] {
            let e = checked_quantity(bad).unwrap_err();
            assert_eq!(e.status(), 422, "{bad}");
        }
    }

    #[test]
    fn support_names_a_cart_and_where_it_lives() {
        let config = crate::config::for_tests();
        let t = support_target("/api/support/carts/u-user-1", Some("region=eu"), &config).unwrap();
        assert_eq!(
            (t.key, t.jurisdiction),
            (CartKey::Customer("user-1".into()), Some("eu"))
        );
        assert!(support_target("/api/support/carts/g-abc", None, &config).is_ok());
        assert_eq!(
            support_target("/api/support/carts/x-1", None, &config)
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            support_target("/api/support/carts/g-a", Some("region=mars"), &config)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn a_pending_checkout_says_where_to_look() {
        let view = CartView::of("g-1", &Cart::default());
        let reply = pending_reply(&view).unwrap();
        assert_eq!(reply.status, 202);
        assert!(
            reply
                .headers
                .contains(&("location", "/api/cart/checkout".into()))
        );
    }
}
