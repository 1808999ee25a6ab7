//! Which handler a request goes to, decided from method and path alone.

use crate::error::EdgeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    /// A catalog read (`/api/categories`, `/api/products[/{sku}]`, `/api/search`);
    /// its query is parsed by [`crate::catalog::query`].
    Catalog,
    /// An origin's signed purge of cached catalog entries.
    Purge,
    /// `/api/session`: who am I (GET), log in (POST), log out (DELETE).
    Session,
    /// `/api/orders[/{id}]`: the customer's own orders (personal reads).
    Orders,
    /// `/api/cart`: view (GET), clear (DELETE).
    Cart,
    /// `POST /api/cart/items`: add a line.
    AddCartItem,
    /// `/api/cart/items/{sku}`: set the quantity (PUT, PATCH), remove (DELETE).
    CartLine,
    /// `/api/cart/checkout`: check out (POST), where the checkout stands (GET).
    Checkout,
    /// `GET /api/cart/live`: a WebSocket that receives the cart at every change.
    CartLive,
    /// `GET /api/support/carts/{cart}`: a cart and its audit log, for support.
    SupportCart,
    /// `GET /api/flags`: the browser's flags.
    Flags,
    /// `/admin/flags`: read (GET) or replace (PUT) the flag document.
    AdminFlags,
    /// `/api/drops/{drop_id}/queue`: join (POST), where one stands (GET).
    DropQueue,
    /// `/admin/drops/{drop_id}`: configure (PUT), show (GET), end (DELETE).
    AdminDrop,
    /// `POST /admin/flags/overrides`: a signed QA override token.
    FlagOverride,
    /// `GET /api/openapi.json`: the API's OpenAPI document.
    OpenApi,
    /// Development only: panics on purpose to prove panic handling.
    DevPanic,
    /// A page of the storefront ([`crate::pages`]).
    Page(crate::pages::Page),
}

/// `Cache-Control` of every answer but a catalog read: the cart, session,
/// orders, account, flags and admin answers are someone's own, and errors
/// and other answers are not worth keeping. No shared cache may store them.
pub const PRIVATE: &str = "private, no-store";

impl Route {
    /// Whether its answer may be shared (stored by caches and served to
    /// others): catalog reads only. Every other answer, errors included,
    /// carries [`PRIVATE`].
    pub fn is_shared(&self) -> bool {
        match self {
            Route::Catalog | Route::OpenApi => true,
            Route::Page(page) => page.is_shared(),
            _ => false,
        }
    }
}

/// Which of a request's headers its handling reads (each read is a
/// crossing into JavaScript, so none is read for nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadersRead {
    /// Liveness: none.
    None,
    /// A catalog read: `If-None-Match` only — a shared answer depends on
    /// nothing else of the requester's (not even where they are).
    IfNoneMatch,
    /// Every header, and the requester's location.
    All,
}

/// The headers the handling of `routed` reads.
pub fn headers_read(routed: &Result<Route, EdgeError>) -> HeadersRead {
    match routed {
        Ok(Route::Health) => HeadersRead::None,
        Ok(Route::Catalog) => HeadersRead::IfNoneMatch,
        _ => HeadersRead::All,
    }
}

/// (path pattern, methods) — a trailing `{…}` matches one path segment.
const TABLE: &[(&str, &[&str])] = &[
    ("/healthz", &["GET", "HEAD"]),
    ("/api/openapi.json", &["GET", "HEAD"]),
    ("/api/categories", &["GET", "HEAD"]),
    ("/api/products", &["GET", "HEAD"]),
    ("/api/products/{sku}", &["GET", "HEAD"]),
    ("/api/search", &["GET", "HEAD"]),
    ("/api/purge", &["POST"]),
    ("/api/session", &["GET", "HEAD", "POST", "DELETE"]),
    ("/api/orders", &["GET", "HEAD"]),
    ("/api/orders/{id}", &["GET", "HEAD"]),
    ("/api/cart", &["GET", "HEAD", "DELETE"]),
    ("/api/cart/items", &["POST"]),
    ("/api/cart/items/{sku}", &["PUT", "PATCH", "DELETE"]),
    ("/api/cart/checkout", &["GET", "HEAD", "POST"]),
    ("/api/cart/live", &["GET"]),
    ("/api/support/carts/{cart}", &["GET", "HEAD"]),
    ("/api/flags", &["GET", "HEAD"]),
    ("/api/flags/{key}", &["GET", "HEAD"]),
    ("/admin/flags", &["GET", "HEAD", "PUT"]),
    ("/admin/flags/overrides", &["POST"]),
    // No HEAD: asking where one stands is a poll (counted, and it may
    // start an admission's clock), which a HEAD must not be.
    ("/api/drops/{drop_id}/queue", &["GET", "POST"]),
    ("/admin/drops/{drop_id}", &["GET", "HEAD", "PUT", "DELETE"]),
    ("/__dev/panic", &["GET"]),
];

/// The template of the route `path` takes, for logs (never the raw path):
/// the edge's own routes, then the storefront's pages; `(other)` for
/// anything else (a forwarded route, or nothing).
pub fn template(path: &str) -> &'static str {
    TABLE
        .iter()
        .map(|(pattern, _)| *pattern)
        .chain(crate::pages::TEMPLATES.iter().copied())
        .find(|pattern| matches(pattern, path).is_some())
        .unwrap_or("(other)")
}

/// Whether `path` has the pattern's segments, a `{…}` matching any one
/// non-empty segment.
fn matches(pattern: &str, path: &str) -> Option<()> {
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(()),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Routes `method` + `path`; unknown paths are 404, known paths with the
/// wrong method 405 with `Allow`. `dev_routes` enables development-only routes.
pub fn route(method: &str, path: &str, dev_routes: bool) -> Result<Route, EdgeError> {
    for (pattern, methods) in TABLE {
        if matches(pattern, path).is_none() {
            continue;
        }
        if *pattern == "/__dev/panic" && !dev_routes {
            break;
        }
        if !methods.contains(&method) {
            return Err(
                EdgeError::method_not_allowed(format!("{path} does not accept {method}"))
                    .with_header("allow", methods.join(", ")),
            );
        }
        return Ok(match *pattern {
            "/healthz" => Route::Health,
            "/api/openapi.json" => Route::OpenApi,
            "/api/categories" | "/api/products" | "/api/products/{sku}" | "/api/search" => {
                Route::Catalog
            }
            "/api/purge" => Route::Purge,
            "/api/session" => Route::Session,
            "/api/orders" | "/api/orders/{id}" => Route::Orders,
            "/api/cart" => Route::Cart,
            "/api/cart/items" => Route::AddCartItem,
            "/api/cart/items/{sku}" => Route::CartLine,
            "/api/cart/checkout" => Route::Checkout,
            "/api/cart/live" => Route::CartLive,
            "/api/support/carts/{cart}" => Route::SupportCart,
            "/api/flags" | "/api/flags/{key}" => Route::Flags,
            "/admin/flags" => Route::AdminFlags,
            "/admin/flags/overrides" => Route::FlagOverride,
            "/api/drops/{drop_id}/queue" => Route::DropQueue,
            "/admin/drops/{drop_id}" => Route::AdminDrop,
            _ => Route::DevPanic,
        });
    }
    match crate::pages::page(method, path) {
        Some(page) => page.map(Route::Page),
        None => Err(EdgeError::not_found(format!("no resource at {path}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_name_the_template_never_the_path() {
        assert_eq!(template("/api/products/KIT-0001"), "/api/products/{sku}");
        assert_eq!(template("/p/KIT-0001"), "/p/{sku}");
        assert_eq!(template("/c/kitchen"), "/c/{slug}");
        assert_eq!(template("/"), "/");
        assert_eq!(template("/api/reviews"), "(other)");
        assert_eq!(template("/p/a/b"), "(other)");
        assert_eq!(
            template("/api/drops/winter/queue"),
            "/api/drops/{drop_id}/queue"
        );
        assert_eq!(template("/api/drops//queue"), "(other)");
        assert_eq!(template("/api/drops/a/b/queue"), "(other)");
        assert_eq!(template("/admin/drops/winter"), "/admin/drops/{drop_id}");
    }

    #[test]
    fn only_the_headers_a_route_reads_are_read() {
        assert_eq!(
            headers_read(&route("GET", "/healthz", false)),
            HeadersRead::None
        );
        let catalog = route("GET", "/api/products/KIT-0001", false);
        assert_eq!(headers_read(&catalog), HeadersRead::IfNoneMatch);
        assert_eq!(
            headers_read(&route("POST", "/api/cart/items", false)),
            HeadersRead::All
        );
        assert_eq!(
            headers_read(&route("GET", "/nowhere", false)),
            HeadersRead::All
        );
    }

    #[test]
    fn known_routes_match() {
        for path in [
            "/api/products/KIT-0001",
            "/api/products",
            "/api/search",
            "/api/categories",
        ] {
            assert_eq!(route("GET", path, false), Ok(Route::Catalog), "{path}");
        }
        assert_eq!(route("POST", "/api/purge", false), Ok(Route::Purge));
        assert_eq!(
            route("POST", "/api/cart/items", false),
            Ok(Route::AddCartItem)
        );
        assert_eq!(route("GET", "/api/cart", false), Ok(Route::Cart));
        assert_eq!(route("DELETE", "/api/cart", false), Ok(Route::Cart));
        assert_eq!(
            route("PUT", "/api/cart/items/KIT-0001", false),
            Ok(Route::CartLine)
        );
        assert_eq!(
            route("GET", "/api/support/carts/g-abc", false),
            Ok(Route::SupportCart)
        );
        assert_eq!(
            route("POST", "/api/cart/checkout", false),
            Ok(Route::Checkout)
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(route("GET", "/api/nope", false).unwrap_err().status(), 404);
        assert_eq!(
            route("GET", "/api/products/", false).unwrap_err().status(),
            404
        );
        assert_eq!(
            route("GET", "/api/products/a/b", false)
                .unwrap_err()
                .status(),
            404
        );
        let e = route("DELETE", "/api/cart/items", false).unwrap_err();
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers(), vec![("allow", "POST".to_owned())]);
    }

    #[test]
    fn unknown_methods_are_405_never_another_methods_answer() {
        for method in ["PROPFIND", "get", "OPTIONS", "TRACE", "CONNECT", "FOO"] {
            let e = route(method, "/api/cart", false).unwrap_err();
            assert_eq!(e.status(), 405, "{method}");
            assert_eq!(e.headers(), vec![("allow", "GET, HEAD, DELETE".to_owned())]);
        }
    }

    #[test]
    fn only_catalog_reads_are_shared() {
        let shared = |method, path| route(method, path, false).is_ok_and(|r| r.is_shared());
        assert!(shared("GET", "/api/products/KIT-0001"));
        assert!(shared("HEAD", "/api/search"));
        for (method, path) in [
            ("GET", "/api/cart"),
            ("GET", "/api/session"),
            ("GET", "/api/orders"),
            ("GET", "/api/flags"),
            ("POST", "/api/products"),
            ("GET", "/api/account/addresses"),
            ("GET", "/nowhere"),
        ] {
            assert!(!shared(method, path), "{method} {path}");
        }
    }

    #[test]
    fn development_routes_exist_only_in_development() {
        assert_eq!(route("GET", "/__dev/panic", true), Ok(Route::DevPanic));
        assert_eq!(
            route("GET", "/__dev/panic", false).unwrap_err().status(),
            404
        );
    }
}
