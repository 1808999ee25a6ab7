//! The storefront's forms: how a posted form is read, the API request its
//! fields make, and where the customer goes next (POST/redirect/GET).

use serde_json::{Value, json};

use super::views::{self, Meta, Shop};
use super::{html, see_other};
use crate::error::EdgeError;
use crate::shop::reply::Reply;

/// A form body's limit: the edge's forms are a few short fields.
pub const MAX_FORM_BODY: usize = 4 * 1024;
/// A form's field limit: the edge's forms have at most two.
pub const MAX_FIELDS: usize = 8;

/// `415` unless the body is a form (`application/x-www-form-urlencoded`).
pub fn check_media(content_type: Option<&str>) -> Result<(), EdgeError> {
    let media = content_type.unwrap_or_default();
    let media = media.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(());
    }
    Err(EdgeError::unsupported_media_type(
        "a form is sent as application/x-www-form-urlencoded",
    ))
}

/// A form body (`application/x-www-form-urlencoded`) as its fields; `400`
/// when a field repeats, when there are more than `max` fields, or when the
/// body is not UTF-8.
pub fn form(body: &[u8], max: usize) -> Result<Vec<(String, String)>, EdgeError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if fields.len() == max || fields.iter().any(|(n, _)| *n == name) {
            return Err(EdgeError::bad_request(format!(
                "the form has too many fields or repeats `{name}`"
            )));
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(EdgeError::bad_request("the form is not UTF-8 text"));
    }
    Ok(fields)
}

/// A form field's value, or `400` naming it.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Result<&'a str, EdgeError> {
    fields
        .iter()
        .find_map(|(n, v)| (n == name).then_some(v.as_str()))
        .ok_or_else(|| EdgeError::bad_request(format!("the form has no `{name}`")))
}

/// `POST /cart`'s fields as the API's `POST /api/cart/items` body.
///
/// # Errors
/// `400` for a missing field, `422` for a quantity that is not a number.
pub fn add_to_cart(fields: &[(String, String)]) -> Result<String, EdgeError> {
    let quantity: i64 = field(fields, "quantity")?
        .trim()
        .parse()
        .map_err(|_| EdgeError::unprocessable("the quantity is a whole number"))?;
    Ok(json!({ "sku": field(fields, "sku")?, "quantity": quantity }).to_string())
}

/// The pages a login may go on to (`next`): only these, so a login form
/// can never send a customer elsewhere (no open redirect).
pub const NEXT: &[&str] = &["/cart", "/checkout", "/orders"];

/// `POST /login`'s fields as the API's `POST /api/session` body, and the
/// page to go on to if the form named one of [`NEXT`].
pub fn log_in(fields: &[(String, String)]) -> Result<(String, Option<&'static str>), EdgeError> {
    let body = json!({
        "email": field(fields, "email")?,
        "password": field(fields, "password")?,
    })
    .to_string();
    Ok((body, next_page(field(fields, "next").ok())))
}

/// `next` if it is one of [`NEXT`].
pub fn next_page(next: Option<&str>) -> Option<&'static str> {
    NEXT.iter().copied().find(|n| Some(*n) == next)
}

/// Where a login goes: the page the form named, else the cart when the
/// guest had one (it has just been merged), else home.
pub fn after_login(cookie: Option<&str>, next: Option<&str>) -> Reply {
    let had_cart = cookie.is_some_and(|c| c.contains(crate::cart_cookie::COOKIE_NAME));
    let fallback = if had_cart { "/cart" } else { "/" };
    see_other(next_page(next).unwrap_or(fallback))
}

/// Where a checkout goes: the placed order's confirmation, else the
/// checkout page, which follows an order still on its way and shows why
/// one was refused.
pub fn after_checkout(placed: &Value) -> Reply {
    match placed["order"]["order_id"].as_str() {
        Some(id) => see_other(&format!("/orders/{id}?placed")),
        None => see_other("/checkout"),
    }
}

/// The login form again, saying why it was refused (`401`, `429`), with the
/// refusal's status and headers and what was typed; `None` for any other
/// error.
pub fn login_refused(
    shop: &Shop,
    refused: &EdgeError,
    fields: &[(String, String)],
) -> Option<Reply> {
    let why = match refused.status() {
        401 => "That email and password do not match an account.",
        429 => "Too many tries: please wait a few minutes and try again.",
        _ => return None,
    };
    let email = field(fields, "email").unwrap_or_default();
    let next = next_page(field(fields, "next").ok());
    let mut reply = personal(shop, "Log in", views::login(Some(why), email, next), None);
    reply.status = refused.status();
    for (name, value) in refused.headers() {
        reply = reply.header(name, value.clone());
    }
    Some(reply)
}

/// A personal page: never indexed (the shell keeps it from being shared);
/// `refresh` says when it loads itself again.
pub fn personal(
    shop: &Shop,
    title: &str,
    content: maud::Markup,
    refresh: Option<views::Refresh>,
) -> Reply {
    let meta = Meta {
        title,
        description: title,
        canonical: None,
        ld: Vec::new(),
        index: false,
        refresh,
    };
    html(200, views::page(shop, &meta, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_strictly() {
        let fields = form(b"sku=KIT-0001&quantity=2&note=a+b%21", 5).unwrap();
        assert_eq!(field(&fields, "note").unwrap(), "a b!");
        assert_eq!(form(b"sku=A&sku=B", 5).unwrap_err().status(), 400);
        assert_eq!(form(b"a=1&b=2&c=3", 2).unwrap_err().status(), 400);
        assert_eq!(field(&fields, "missing").unwrap_err().status(), 400);
        assert_eq!(form(&[0xff, b'=', b'1'], 5).unwrap_err().status(), 400);
    }

    #[test]
    fn a_form_becomes_the_apis_json_and_leads_on() {
        let fields = form(b"sku=KIT-0001&quantity=+2", MAX_FIELDS).unwrap();
        let body: Value = serde_json::from_str(&add_to_cart(&fields).unwrap()).unwrap();
        assert_eq!(body, json!({"sku": "KIT-0001", "quantity": 2}));
        let lots = form(b"sku=A&quantity=lots", MAX_FIELDS).unwrap();
        assert_eq!(add_to_cart(&lots).unwrap_err().status(), 422);
        assert_eq!(
            check_media(Some("application/json")).unwrap_err().status(),
            415
        );
        assert!(check_media(Some("application/x-www-form-urlencoded; charset=UTF-8")).is_ok());
        let to = |reply: &Reply| {
            reply
                .headers
                .iter()
                .find_map(|(n, v)| (*n == "location").then(|| v.clone()))
                .unwrap_or_default()
        };
        assert_eq!(to(&after_login(None, None)), "/");
        assert_eq!(to(&after_login(None, Some("/orders"))), "/orders");
        let elsewhere = after_login(None, Some("https://evil.example/"));
        assert_eq!(to(&elsewhere), "/", "never to another site");
        let placed = after_checkout(&json!({"order": {"order_id": "ord-1"}}));
        assert_eq!(to(&placed), "/orders/ord-1?placed");
        let pending = after_checkout(&json!({"status": "pending"}));
        assert_eq!(to(&pending), "/checkout", "the checkout page follows it");
    }

    #[test]
    fn a_refused_login_is_the_form_again_with_the_refusals_status() {
        let shop = Shop {
            name: "S",
            categories: &[],
            signed_in: false,
        };
        let limited = EdgeError::too_many_requests("slow down").with_header("retry-after", "900");
        let typed = vec![("email".to_owned(), "a@example.com".to_owned())];
        let page = login_refused(&shop, &limited, &typed).unwrap();
        assert_eq!(page.status, 429);
        let retry = page
            .headers
            .iter()
            .any(|(n, v)| *n == "retry-after" && v == "900");
        assert!(retry);
        let html = String::from_utf8(page.body).unwrap();
        assert!(
            html.contains(r#"value="a@example.com""#),
            "what was typed stays"
        );
        let down = EdgeError::bad_gateway("down");
        assert!(login_refused(&shop, &down, &typed).is_none());
    }
}
