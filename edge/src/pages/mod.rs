//! The storefront in a browser: which page a path is, what every page's
//! answer carries (a strict Content-Security-Policy and the browser
//! hardening headers), form bodies, and redirects after a form post
//! (POST/redirect/GET). The pages themselves are in [`views`]; what search
//! engines read in [`seo`]; the shell (`platform/pages.rs`) reads the data
//! through the same catalog, cart and session use cases as the API.

pub mod api;
pub mod assets;
pub mod catalog_pages;
pub mod drop_room;
pub mod forms;
pub mod money;
pub mod seo;
pub mod views;

use crate::error::EdgeError;
use crate::shop::reply::Reply;

/// A page of the storefront.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Home,
    Category(String),
    Product(String),
    Search,
    Cart,
    /// `POST /cart`: add a line (form: `sku`, `quantity`).
    AddToCart,
    /// `POST /cart/remove`: remove a line (form: `sku`).
    RemoveFromCart,
    Login,
    Logout,
    Checkout,
    Orders,
    Order(String),
    /// `/drops/{drop_id}`: a drop's waiting room, where the caller stands.
    Drop(String),
    /// `POST /drops/{drop_id}`: join the drop's queue (no fields).
    JoinDrop(String),
    Robots,
    SitemapIndex,
    /// `/sitemaps/pages.xml` or `/sitemaps/category-{slug}.xml`.
    Sitemap(String),
    Asset(String),
}

impl Page {
    /// Whether the page's answer may be shared: it says nothing of the
    /// requester (catalog pages, the crawl files, the assets).
    pub fn is_shared(&self) -> bool {
        matches!(
            self,
            Page::Home
                | Page::Category(_)
                | Page::Product(_)
                | Page::Search
                | Page::Robots
                | Page::SitemapIndex
                | Page::Sitemap(_)
                | Page::Asset(_)
        )
    }
}

/// Every page's path template, for logs ([`crate::routes::template`]).
pub const TEMPLATES: &[&str] = &[
    "/",
    "/search",
    "/cart",
    "/cart/remove",
    "/login",
    "/logout",
    "/checkout",
    "/orders",
    "/robots.txt",
    "/sitemap.xml",
    "/c/{slug}",
    "/p/{sku}",
    "/orders/{id}",
    "/drops/{drop_id}",
    "/sitemaps/{name}",
    "/assets/{name}",
];

/// The page at `method` + `path`: `None` when the path is no page,
/// `405` with `Allow` for a page that does not take the method.
pub fn page(method: &str, path: &str) -> Option<Result<Page, EdgeError>> {
    let segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
    };
    let (found, methods): (Page, &[&str]) = match path {
        "/" => (Page::Home, &["GET", "HEAD"]),
        "/search" => (Page::Search, &["GET", "HEAD"]),
        "/cart" if method == "POST" => (Page::AddToCart, &["GET", "HEAD", "POST"]),
        "/cart" => (Page::Cart, &["GET", "HEAD", "POST"]),
        "/cart/remove" => (Page::RemoveFromCart, &["POST"]),
        "/login" => (Page::Login, &["GET", "HEAD", "POST"]),
        "/logout" => (Page::Logout, &["POST"]),
        "/checkout" => (Page::Checkout, &["GET", "HEAD", "POST"]),
        "/orders" => (Page::Orders, &["GET", "HEAD"]),
        "/robots.txt" => (Page::Robots, &["GET", "HEAD"]),
        "/sitemap.xml" => (Page::SitemapIndex, &["GET", "HEAD"]),
        // The waiting room, and its join form posted to the same address.
        _ if path.starts_with("/drops/") => {
            let id = segment("/drops/")?;
            let found = if method == "POST" {
                Page::JoinDrop(id)
            } else {
                Page::Drop(id)
            };
            (found, &["GET", "HEAD", "POST"])
        }
        _ => {
            let found = if let Some(slug) = segment("/c/") {
                Page::Category(slug)
            } else if let Some(sku) = segment("/p/") {
                Page::Product(sku)
            } else if let Some(id) = segment("/orders/") {
                Page::Order(id)
            } else if let Some(name) = segment("/sitemaps/") {
                Page::Sitemap(name)
            } else {
                Page::Asset(segment("/assets/")?)
            };
            (found, &["GET", "HEAD"])
        }
    };
    if !methods.contains(&method) {
        return Some(Err(EdgeError::method_not_allowed(format!(
            "{path} does not accept {method}"
        ))
        .with_header("allow", methods.join(", "))));
    }
    Some(Ok(found))
}

/// The Content-Security-Policy of every page: scripts and styles only from
/// the edge's own files (no inline script, no `unsafe-inline`; JSON-LD is
/// data, not script), forms only to the edge, never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// An HTML answer with the page headers: CSP, HSTS, Permissions-Policy
/// (the edge's own hardening headers are added to every answer).
pub fn html(status: u16, body: maud::Markup) -> Reply {
    with_page_headers(Reply::raw(
        status,
        "text/html; charset=utf-8",
        body.into_string().into_bytes(),
    ))
}

/// The headers every page carries.
pub fn with_page_headers(reply: Reply) -> Reply {
    reply
        .header("content-security-policy", CSP)
        .header(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        )
        .header(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        )
}

/// `303 See Other` to `location` (a path of the edge), after a form post.
pub fn see_other(location: &str) -> Reply {
    Reply::raw(303, "", Vec::new()).header("location", location.to_owned())
}

/// The page answer for an error: its status, in words a customer reads
/// (an internal cause is never shown).
///
/// For a form post (`posted`), a `404` is what the form named, not the
/// address.
pub fn problem_page(shop: &views::Shop, e: &EdgeError, posted: bool) -> Reply {
    let (title, detail) = match e.status() {
        404 if posted => ("Not found", e.detail()),
        404 => ("Page not found", "There is nothing at this address."),
        401 => ("Please log in", "This page is for logged-in customers."),
        403 => ("Not allowed", e.detail()),
        429 => ("Too many tries", e.detail()),
        // The maintenance switch (and checkout's): the shop says when to come back.
        503 => ("Back in a few minutes", e.detail()),
        500..=599 => (
            "Something went wrong",
            "The shop could not answer just now. Please try again in a moment.",
        ),
        _ => ("That did not work", e.detail()),
    };
    let meta = views::Meta {
        title,
        description: detail,
        canonical: None,
        ld: Vec::new(),
        index: false,
        refresh: None,
    };
    let mut reply = html(
        e.status(),
        views::page(shop, &meta, views::problem(title, detail)),
    );
    for (name, value) in e.headers() {
        reply = reply.header(name, value.clone());
    }
    reply
}

/// Whether a request asks for a page rather than data: a browser's
/// navigation sends `Accept: text/html…`.
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_found_by_path_and_method() {
        assert_eq!(page("GET", "/").unwrap().unwrap(), Page::Home);
        assert_eq!(
            page("GET", "/p/KIT-0001").unwrap().unwrap(),
            Page::Product("KIT-0001".into())
        );
        assert_eq!(page("POST", "/cart").unwrap().unwrap(), Page::AddToCart);
        assert_eq!(page("GET", "/cart").unwrap().unwrap(), Page::Cart);
        assert_eq!(
            page("GET", "/orders/o-1").unwrap().unwrap(),
            Page::Order("o-1".into())
        );
        assert!(page("GET", "/p/").is_none());
        assert!(page("GET", "/p/a/b").is_none());
        assert!(page("GET", "/api/cart").is_none());
        let refused = page("DELETE", "/login").unwrap().unwrap_err();
        assert_eq!(refused.status(), 405);
        assert!(page("GET", "/cart/remove").unwrap().is_err());
        assert_eq!(
            page("GET", "/drops/winter").unwrap().unwrap(),
            Page::Drop("winter".into())
        );
        assert_eq!(
            page("POST", "/drops/winter").unwrap().unwrap(),
            Page::JoinDrop("winter".into())
        );
        let refused = page("DELETE", "/drops/winter").unwrap().unwrap_err();
        assert_eq!(refused.status(), 405);
        assert!(page("GET", "/drops/").is_none());
        assert_eq!(crate::routes::template("/drops/winter"), "/drops/{drop_id}");
    }

    #[test]
    fn only_pages_that_say_nothing_of_the_requester_are_shared() {
        assert!(Page::Product("A".into()).is_shared());
        assert!(!Page::Cart.is_shared());
        assert!(!Page::Orders.is_shared());
        assert!(!Page::Login.is_shared());
        assert!(!Page::Drop("winter".into()).is_shared(), "it shows a place");
    }

    #[test]
    fn a_paused_shop_says_so_and_when_to_come_back() {
        let shop = views::Shop {
            name: "Shop",
            categories: &[],
            signed_in: false,
        };
        let paused = EdgeError::unavailable("changes are paused").with_header("retry-after", "60");
        let page = problem_page(&shop, &paused, false);
        assert_eq!(page.status, 503);
        assert!(
            page.headers
                .iter()
                .any(|(n, v)| *n == "retry-after" && v == "60")
        );
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("<h1>Back in a few minutes</h1>"));
        assert!(html.contains("changes are paused"));
        let failed = problem_page(&shop, &EdgeError::internal("x").with_cause("secret"), false);
        assert!(!String::from_utf8(failed.body).unwrap().contains("secret"));
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_framing() {
        assert!(!CSP.contains("unsafe-inline"));
        assert!(CSP.contains("script-src 'self'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        let reply = html(200, maud::html! { p { "<b>" } });
        assert_eq!(reply.body, b"<p>&lt;b&gt;</p>");
    }
}
