//! The storefront's pages as HTML (maud templates, which escape whatever
//! they interpolate). Every page shares one layout: a header with the shop's
//! name, the categories and the search form, then one `<main>` with one
//! `<h1>`. Nothing personal is rendered into a page that may be shared:
//! the cart count and login state come from the API after load
//! (`/assets/app.js`).

use durable_objects::cart::CartStatus;
use durable_objects::cart_api::CartView;
use maud::{DOCTYPE, Markup, html};
use origin_adapter::wire::{Category, Order, Product};
use serde_json::Value;

use super::money;
use super::seo;

/// What a page says about itself in its `<head>`.
pub struct Meta<'a> {
    pub title: &'a str,
    pub description: &'a str,
    /// Absolute; `None` for pages that are not indexed.
    pub canonical: Option<String>,
    /// schema.org blocks for the page.
    pub ld: Vec<Value>,
    /// Whether search engines may index it.
    pub index: bool,
    /// When the page loads itself again, without script.
    pub refresh: Option<Refresh>,
}

/// When a page loads itself again (`<meta http-equiv="refresh">`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// After this many seconds, script or not: the checkout page follows
    /// an order on its way by loading again.
    Always(u32),
    /// After this many seconds only when script is off (the refresh sits
    /// in `<noscript>`): with script the page follows by itself
    /// (`app.js`), and a reload too would ask twice.
    WithoutScript(u32),
}

/// The shop as the layout shows it: its name and categories, and — on a
/// customer's own pages only, never on a shared one — whether they are
/// logged in (the header then offers "Log out").
pub struct Shop<'a> {
    pub name: &'a str,
    pub categories: &'a [Category],
    pub signed_in: bool,
}

/// The layout around `content`.
pub fn page(shop: &Shop, meta: &Meta, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon yet: an empty one, so browsers do not ask for /favicon.ico.
                link rel="icon" href="data:,";
                title { (meta.title) " · " (shop.name) }
                meta name="description" content=(meta.description);
                @if !meta.index { meta name="robots" content="noindex"; }
                @match meta.refresh {
                    Some(Refresh::Always(seconds)) => { meta http-equiv="refresh" content=(seconds); }
                    Some(Refresh::WithoutScript(seconds)) => {
                        noscript { meta http-equiv="refresh" content=(seconds); }
                    }
                    None => {}
                }
                @if let Some(url) = &meta.canonical {
                    link rel="canonical" href=(url);
                    meta property="og:url" content=(url);
                }
                meta property="og:type" content="website";
                meta property="og:site_name" content=(shop.name);
                meta property="og:title" content=(meta.title);
                meta property="og:description" content=(meta.description);
                link rel="stylesheet" href=(super::assets::STYLE_PATH);
                script type="module" src=(super::assets::SCRIPT_PATH) {}
                @for block in &meta.ld {
                    script type="application/ld+json" { (seo::ld_json(block)) }
                }
            }
            body {
                a class="skip" href="#content" { "Skip to content" }
                header {
                    a class="brand" href="/" { (shop.name) }
                    form role="search" action="/search" method="get" {
                        label for="q" { "Search" }
                        input id="q" name="q" type="search" required maxlength="100";
                        button type="submit" { "Search" }
                    }
                    nav aria-label="Account" {
                        a href="/cart" { "Cart" span id="cart-count" class="count" aria-live="polite" {} }
                        a href="/orders" { "Orders" }
                        @if shop.signed_in {
                            form method="post" action="/logout" class="logout" {
                                button type="submit" class="link" { "Log out" }
                            }
                        } @else {
                            a href="/login" { "Log in" }
                        }
                    }
                    nav aria-label="Categories" {
                        ul {
                            @for c in shop.categories {
                                li { a href={ "/c/" (c.slug) } { (c.name) } }
                            }
                        }
                    }
                }
                main id="content" { (content) }
                footer { p { (shop.name) " — served at the edge." } }
            }
        }
    }
}

/// `value` percent-encoded for a URL's query (maud then escapes it for
/// HTML).
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A list of products with their prices.
pub fn products(list: &[Product]) -> Markup {
    html! {
        ul class="products" {
            @for p in list {
                li {
                    a href={ "/p/" (p.sku) } { (p.name) }
                    " "
                    span class="price" { (money::display(p.price.amount_minor, &p.price.currency)) }
                }
            }
        }
    }
}

/// The home page: categories and a few products.
pub fn home(shop: &Shop, featured: &[Product]) -> Markup {
    html! {
        h1 { "Welcome to " (shop.name) }
        section aria-labelledby="categories" {
            h2 id="categories" { "Categories" }
            ul class="categories" {
                @for c in shop.categories {
                    li { a href={ "/c/" (c.slug) } { (c.name) } " (" (c.product_count) ")" }
                }
            }
        }
        section aria-labelledby="featured" {
            h2 id="featured" { "New in" }
            (products(featured))
        }
    }
}

/// A category's products, one page at a time; `sort` as the API names it.
pub fn category(category: &Category, list: &[Product], sort: &str, next: Option<&str>) -> Markup {
    html! {
        nav aria-label="Breadcrumb" { a href="/" { "Home" } " › " (category.name) }
        h1 { (category.name) }
        form method="get" action={ "/c/" (category.slug) } class="sort" {
            label for="sort" { "Sort by" }
            select id="sort" name="sort" {
                @for (value, label) in [("name", "Name"), ("price", "Price"), ("newest", "Newest")] {
                    option value=(value) selected[sort == value] { (label) }
                }
            }
            button type="submit" { "Sort" }
        }
        (products(list))
        @if let Some(cursor) = next {
            a rel="next" href={ "/c/" (category.slug) "?sort=" (sort) "&cursor=" (query_value(cursor)) } { "Next page" }
        }
    }
}

/// Search results for `q` (empty: the form alone).
pub fn search(q: &str, list: &[Product], next: Option<&str>) -> Markup {
    html! {
        h1 { "Search" @if !q.is_empty() { " results for “" (q) "”" } }
        @if !q.is_empty() && list.is_empty() { p { "Nothing matches “" (q) "”." } }
        (products(list))
        @if let Some(cursor) = next {
            a rel="next" href={ "/search?q=" (query_value(q)) "&cursor=" (query_value(cursor)) } { "Next page" }
        }
    }
}

/// A product page with its add-to-cart form (which works without script).
pub fn product(p: &Product, category: Option<&Category>) -> Markup {
    html! {
        nav aria-label="Breadcrumb" {
            a href="/" { "Home" }
            @if let Some(c) = category { " › " a href={ "/c/" (c.slug) } { (c.name) } }
            " › " (p.name)
        }
        article class="product" {
            h1 { (p.name) }
            p class="price" { (money::display(p.price.amount_minor, &p.price.currency)) }
            p { (p.description) }
            @if p.stock > 0 {
                p class="stock" { "In stock" }
                form method="post" action="/cart" class="add" {
                    input type="hidden" name="sku" value=(p.sku);
                    label for="quantity" { "Quantity" }
                    input id="quantity" name="quantity" type="number" min="1" max="99" value="1" required;
                    button type="submit" { "Add to cart" }
                    p class="added" role="status" aria-live="polite" {}
                }
            } @else {
                p class="stock" { "Sold out" }
            }
        }
    }
}

/// The cart: its lines, each removable, and the way to checkout.
pub fn cart(view: &CartView) -> Markup {
    html! {
        h1 { "Your cart" }
        // A page watches its cart live only when there is a cart to watch.
        div id="cart" data-version=(view.version) data-live=(!view.cart_id.is_empty()) {
            @match &view.status {
                CartStatus::CheckedOut { order_id } => {
                    p { "Your cart is empty: its items are in order "
                        a href={ "/orders/" (order_id) } { (order_id) } "." }
                }
                CartStatus::CheckingOut { .. } => {
                    p { "Your order is on its way to the shop; it will be placed exactly once." }
                    (lines(view))
                }
                _ if view.lines.is_empty() => { p { "Your cart is empty." } }
                _ => {
                    (lines(view))
                    a class="button" href="/checkout" { "Check out" }
                }
            }
        }
    }
}

fn lines(view: &CartView) -> Markup {
    html! {
        table {
            caption class="visually-hidden" { "Items in your cart" }
            thead { tr { th scope="col" { "Product" } th scope="col" { "Quantity" } th scope="col" { "Price" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
            tbody {
                @for line in &view.lines {
                    tr {
                        td {
                            a href={ "/p/" (line.sku) } { (line.name) }
                            @if let Some(until) = &line.held_until {
                                br;
                                small class="held" { "Held for you until " (super::drop_room::when(until)) }
                            }
                        }
                        td { (line.quantity) }
                        td { (money::display(line.line_total.amount_minor, &line.line_total.currency)) }
                        td {
                            form method="post" action="/cart/remove" {
                                input type="hidden" name="sku" value=(line.sku);
                                button type="submit" aria-label={ "Remove " (line.name) } { "Remove" }
                            }
                        }
                    }
                }
            }
            @if let Some(total) = &view.total {
                tfoot { tr { th scope="row" colspan="2" { "Total" } td { (money::display(total.amount_minor, &total.currency)) } td {} } }
            }
        }
    }
}

/// The login form; `problem` says why the last try failed, `email` is
/// what was typed, `next` the page to go on to (one of [`super::forms::NEXT`]).
pub fn login(problem: Option<&str>, email: &str, next: Option<&str>) -> Markup {
    html! {
        h1 { "Log in" }
        @if let Some(why) = problem { p class="problem" role="alert" { (why) } }
        form method="post" action="/login" class="login" {
            @if let Some(next) = next { input type="hidden" name="next" value=(next); }
            label for="email" { "Email" }
            input id="email" name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    }
}

/// The checkout page: the lines and the button that places the order
/// (`express`: the checkout-flow variant's one-step wording); an order on
/// its way says so; a visitor is asked to log in first (the order joins
/// their history).
pub fn checkout(view: &CartView, express: bool, signed_in: bool) -> Markup {
    html! {
        h1 { "Checkout" }
        @if let Some(notice) = &view.notice { p class="problem" role="alert" { (notice) } }
        @match &view.status {
            CartStatus::CheckingOut { .. } => {
                p role="status" { "Your order is on its way to the shop; it will be placed exactly once. This page follows it." }
                (lines(view))
            }
            CartStatus::Open if !view.lines.is_empty() => {
                (lines(view))
                @if signed_in {
                    form method="post" action="/checkout" {
                        button type="submit" { @if express { "Place order now" } @else { "Place order" } }
                    }
                } @else {
                    p { a class="button" href="/login?next=/checkout" { "Log in to check out" } }
                }
            }
            _ => { p { "Your cart is empty." } a href="/" { "Continue shopping" } }
        }
    }
}

/// An order as the orders service reports it: its lines and sums.
pub fn order(order: &Order, just_placed: bool) -> Markup {
    let m = |x: &origin_adapter::wire::Money| money::display(x.amount_minor, &x.currency);
    html! {
        h1 { @if just_placed { "Thank you for your order" } @else { "Your order" } }
        p { "Order " span class="order-id" { (order.order_id) } " — " (order.status) }
        table {
            caption class="visually-hidden" { "Items in the order" }
            thead { tr { th scope="col" { "Item" } th scope="col" { "Quantity" } th scope="col" { "Unit price" } } }
            tbody {
                @for line in &order.lines {
                    tr { td { a href={ "/p/" (line.sku) } { (line.sku) } } td { (line.quantity) } td { (m(&line.unit_price)) } }
                }
            }
        }
        dl class="sums" {
            dt { "Subtotal" } dd { (m(&order.subtotal)) }
            @if order.discount.amount_minor != 0 {
                dt { "Discount" @if let Some(p) = &order.promotion { " (" (p) ")" } } dd { "−" (m(&order.discount)) }
            }
            dt { "Tax" } dd { (m(&order.tax)) }
            dt { "Total" } dd { strong { (m(&order.total)) } }
        }
        a href="/orders" { "All your orders" }
    }
}

/// The customer's orders, newest first as the orders service lists them.
pub fn orders(list: &[Order]) -> Markup {
    html! {
        h1 { "Your orders" }
        @if list.is_empty() { p { "No orders yet." } }
        ul class="orders" {
            @for o in list {
                li {
                    a href={ "/orders/" (o.order_id) } { span class="order-id" { (o.order_id) } }
                    " — " (money::display(o.total.amount_minor, &o.total.currency))
                }
            }
        }
    }
}

/// A page for an error: the status's words and what to do next.
pub fn problem(title: &str, detail: &str) -> Markup {
    html! {
        h1 { (title) }
        p { (detail) }
        a href="/" { "Back to the shop" }
    }
}

#[cfg(test)]
mod tests {
    use durable_objects::cart::Cart;

    use super::*;

    fn with_line() -> CartView {
        let mut view = CartView::of("g-1", &Cart::default());
        view.lines.push(durable_objects::cart_api::LineView {
            sku: "KIT-0001".into(),
            name: "Knife <b>".into(),
            unit_price: origin_adapter::wire::Money {
                amount_minor: 500,
                currency: "EUR".into(),
            },
            quantity: 2,
            line_total: origin_adapter::wire::Money {
                amount_minor: 1000,
                currency: "EUR".into(),
            },
            held_until: None,
            drop_id: None,
            held_in: None,
        });
        view
    }

    #[test]
    fn a_drop_line_says_until_when_it_is_held() {
        let mut view = with_line();
        assert!(!cart(&view).into_string().contains("Held for you"));
        view.lines[0].held_until = Some("2026-12-04T17:10:00Z".into());
        let html = cart(&view).into_string();
        assert!(
            html.contains("Held for you until <time datetime=\"2026-12-04T17:10:00Z\""),
            "{html}"
        );
    }

    #[test]
    fn the_checkout_flow_variant_changes_the_checkout_page() {
        let view = with_line();
        assert!(
            checkout(&view, true, true)
                .into_string()
                .contains("Place order now")
        );
        let old = checkout(&view, false, true).into_string();
        assert!(old.contains(">Place order<") && old.contains("€10.00"));
        assert!(old.contains("Knife &lt;b&gt;"));
    }

    #[test]
    fn a_page_that_follows_itself_by_script_reloads_only_without_it() {
        let shop = Shop {
            name: "S",
            categories: &[],
            signed_in: false,
        };
        let head = |refresh| {
            let meta = Meta {
                title: "T",
                description: "T",
                canonical: None,
                ld: Vec::new(),
                index: false,
                refresh,
            };
            page(&shop, &meta, html! {}).into_string()
        };
        let always = head(Some(Refresh::Always(2)));
        assert!(always.contains(
            r#"<meta name="robots" content="noindex"><meta http-equiv="refresh" content="2">"#
        ));
        let without = head(Some(Refresh::WithoutScript(5)));
        assert!(
            without.contains(r#"<noscript><meta http-equiv="refresh" content="5"></noscript>"#)
        );
        assert!(!head(None).contains("http-equiv"));
    }

    #[test]
    fn a_checked_out_cart_offers_nothing_more_to_buy() {
        let mut view = with_line();
        view.status = CartStatus::CheckedOut {
            order_id: "ord-1".into(),
        };
        let html = cart(&view).into_string();
        assert!(html.contains("/orders/ord-1") && !html.contains("Check out"));
        assert!(
            !checkout(&view, false, true)
                .into_string()
                .contains("Place order")
        );
        let visitor = checkout(&with_line(), false, false).into_string();
        assert!(visitor.contains("/login?next=/checkout") && !visitor.contains("Place order"));
        let open = cart(&with_line()).into_string();
        assert!(open.contains("data-live=\"true\"") && open.contains("Check out"));
    }
}
