//! Storefront pages: rendered at the edge from the cached catalog, with
//! structured data that agrees with the API, strict page headers, forms
//! that work without script (POST/redirect/GET), and the crawl files.

use e2e::System;
use libtest_mimic::Failed;
use reqwest::blocking::Response;
use serde_json::Value;

use super::{Outcome, change_price, check, client, header, origin_product, set_cookie};

/// A browser's navigation to `path` (it accepts HTML), with `cookie`.
fn page(sys: &System, path: &str, cookie: Option<&str>) -> Result<Response, Failed> {
    let mut req = client()
        .get(format!("{}{path}", sys.edge_url))
        .header("accept", "text/html,application/xhtml+xml");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    Ok(req.send()?)
}

/// A form post from the edge's own pages.
fn post_form(
    sys: &System,
    path: &str,
    form: &str,
    cookie: Option<&str>,
) -> Result<Response, Failed> {
    let mut req = client()
        .post(format!("{}{path}", sys.edge_url))
        .header("origin", &sys.edge_url)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    Ok(req.send()?)
}

/// The page's JSON-LD blocks.
fn json_ld(html: &str) -> Vec<Value> {
    html.split("<script type=\"application/ld+json\">")
        .skip(1)
        .filter_map(|rest| rest.split("</script>").next())
        .filter_map(|block| serde_json::from_str(block).ok())
        .collect()
}

fn offer_price(html: &str) -> Option<String> {
    json_ld(html)
        .into_iter()
        .find(|b| b["@type"] == "Product")
        .and_then(|b| b["offers"]["price"].as_str().map(str::to_owned))
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

pub fn a_product_page_is_cached_agrees_with_the_api_and_follows_a_purge(sys: &System) -> Outcome {
    let sku = "KIT-0031";
    let first = page(sys, &format!("/p/{sku}"), None)?;
    check(
        first.status() == 200,
        format!("product page: {}", first.status()),
    )?;
    let second = page(sys, &format!("/p/{sku}"), None)?;
    let status = header(&second, "cache-status");
    check(
        status.contains(";hit"),
        format!("second read from the edge cache: {status}"),
    )?;
    let html = second.text()?;
    let api: Value = client()
        .get(format!("{}/api/products/{sku}", sys.edge_url))
        .send()?
        .json()?;
    let api_price = decimal(api["price"]["amount_minor"].as_i64().unwrap_or(-1));
    check(
        offer_price(&html) == Some(api_price.clone()),
        format!("JSON-LD price {:?} = API's {api_price}", offer_price(&html)),
    )?;
    let crumbs = json_ld(&html)
        .into_iter()
        .find(|b| b["@type"] == "BreadcrumbList");
    check(crumbs.is_some(), "a BreadcrumbList on the product page")?;

    let new_price = origin_product(sys, sku)?.price.amount_minor + 700;
    change_price(sys, sku, new_price)?;
    let after = page(sys, &format!("/p/{sku}"), None)?;
    check(
        header(&after, "cache-status").contains("fwd=uri-miss"),
        "the purge reached the page",
    )?;
    let after = after.text()?;
    check(
        offer_price(&after) == Some(decimal(new_price)),
        format!("the page shows the new price: {:?}", offer_price(&after)),
    )
}

pub fn pages_carry_a_strict_policy_and_say_nothing_of_the_requester(sys: &System) -> Outcome {
    let anonymous = page(sys, "/c/garden", None)?;
    check(anonymous.status() == 200, "category page")?;
    check(
        header(&anonymous, "content-type").starts_with("text/html"),
        "HTML",
    )?;
    let csp = header(&anonymous, "content-security-policy");
    check(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        format!("CSP: {csp}"),
    )?;
    check(!csp.contains("unsafe-inline"), "no unsafe-inline")?;
    for name in [
        "strict-transport-security",
        "permissions-policy",
        "x-content-type-options",
        "referrer-policy",
    ] {
        check(
            !header(&anonymous, name).is_empty(),
            format!("{name} is set"),
        )?;
    }
    let html = anonymous.text()?;
    check(!html.contains("<script>"), "no inline script")?;
    check(html.contains("<link rel=\"canonical\""), "a canonical link")?;

    // A customer's cookie changes nothing in a shared page.
    let login = super::login(sys, "carol@example.com", "carol-demo-password", None)?;
    let session = set_cookie(&login, "__Host-session=")?;
    let theirs = page(sys, "/c/garden", Some(&session))?.text()?;
    check(theirs == html, "the shared page is the same for a customer")?;
    let tracked = page(sys, "/c/garden?utm_source=mail&fbclid=x", None)?.text()?;
    check(
        tracked.contains(&format!(
            "<link rel=\"canonical\" href=\"{}/c/garden\">",
            sys.edge_url
        )),
        "tracking parameters are not in the canonical link",
    )
}

pub fn an_unknown_page_is_an_html_404_and_the_api_keeps_problems(sys: &System) -> Outcome {
    let missing = page(sys, "/no-such-page", None)?;
    check(
        missing.status() == 404,
        format!("status {}", missing.status()),
    )?;
    check(
        header(&missing, "content-type").starts_with("text/html"),
        "an HTML page",
    )?;
    check(
        missing.text()?.contains("<h1>Page not found</h1>"),
        "says so",
    )?;
    let product = page(sys, "/p/NOPE-9999", None)?;
    check(
        product.status() == 404,
        format!("unknown product: {}", product.status()),
    )?;
    let api = client()
        .get(format!("{}/no-such-page", sys.edge_url))
        .send()?;
    check(
        header(&api, "content-type").starts_with("application/problem+json"),
        "a client that does not ask for HTML gets a problem",
    )
}

pub fn the_journey_works_without_script(sys: &System) -> Outcome {
    // A guest adds to the cart with the product page's form.
    let added = post_form(sys, "/cart", "sku=KIT-0033&quantity=2", None)?;
    check(added.status() == 303, format!("add: {}", added.status()))?;
    check(header(&added, "location") == "/cart", "to the cart")?;
    let guest = set_cookie(&added, "__Host-cart=")?;
    let cart = page(sys, "/cart", Some(&guest))?;
    check(
        header(&cart, "cache-control").contains("no-store"),
        "the cart page is private",
    )?;
    let cart = cart.text()?;
    check(
        cart.contains("/p/KIT-0033") && cart.contains("<td>2</td>"),
        "the line is there",
    )?;

    // Logging in merges the guest cart and comes back to it.
    let form = "email=carol%40example.com&password=carol-demo-password";
    let logged = post_form(sys, "/login", form, Some(&guest))?;
    check(
        logged.status() == 303,
        format!("login: {}", logged.status()),
    )?;
    check(header(&logged, "location") == "/cart", "back to the cart")?;
    let session = set_cookie(&logged, "__Host-session=")?;
    let merged = page(sys, "/cart", Some(&session))?.text()?;
    check(merged.contains("/p/KIT-0033"), "the guest's line merged")?;

    // Checkout, then the confirmation and the history.
    let placed = post_form(sys, "/checkout", "", Some(&session))?;
    check(
        placed.status() == 303,
        format!("checkout: {}", placed.status()),
    )?;
    let location = header(&placed, "location");
    check(
        location.starts_with("/orders/ord-"),
        format!("to the order: {location}"),
    )?;
    let order_id = location
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let confirmation = page(sys, &location, Some(&session))?.text()?;
    check(confirmation.contains("Thank you"), "a confirmation")?;
    check(confirmation.contains(&order_id), "with the order id")?;
    let history = page(sys, "/orders", Some(&session))?.text()?;
    check(history.contains(&order_id), "the order is in the history")?;
    let emptied = page(sys, "/cart", Some(&session))?.text()?;
    check(
        !emptied.contains("/p/KIT-0033"),
        "the cart moved on after checkout",
    )
}

pub fn bad_forms_get_a_page_saying_why(sys: &System) -> Outcome {
    let cross = client()
        .post(format!("{}/cart", sys.edge_url))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("sku=KIT-0001&quantity=1")
        .send()?;
    check(
        cross.status() == 403,
        format!("cross-site form: {}", cross.status()),
    )?;
    check(
        header(&cross, "content-type").starts_with("text/html"),
        "as a page",
    )?;
    let cases = [
        ("sku=KIT-0001&quantity=lots", 422, "quantity not a number"),
        ("sku=KIT-0001&quantity=0", 422, "quantity zero"),
        ("sku=KIT-0001", 400, "no quantity"),
        (
            "sku=KIT-0001&sku=KIT-0002&quantity=1",
            400,
            "repeated field",
        ),
        ("sku=NOPE-0000&quantity=1", 404, "unknown product"),
    ];
    for (form, status, what) in cases {
        let r = post_form(sys, "/cart", form, None)?;
        check(
            r.status() == status,
            format!("{what}: {} (wanted {status})", r.status()),
        )?;
    }
    let json = client()
        .post(format!("{}/cart", sys.edge_url))
        .header("content-type", "application/json")
        .body("{}")
        .send()?;
    check(
        json.status() == 415,
        format!("not a form: {}", json.status()),
    )?;
    let big = post_form(
        sys,
        "/cart",
        &format!("sku={}&quantity=1", "A".repeat(10_000)),
        None,
    )?;
    check(
        big.status() == 413,
        format!("oversized form: {}", big.status()),
    )?;
    let wrong = client().delete(format!("{}/login", sys.edge_url)).send()?;
    check(
        wrong.status() == 405 && !header(&wrong, "allow").is_empty(),
        "405 with Allow",
    )?;
    let orders = page(sys, "/orders", None)?;
    check(
        orders.status() == 303 && header(&orders, "location") == "/login?next=/orders",
        "a visitor is asked to log in",
    )?;
    let refused = post_form(
        sys,
        "/login",
        "email=carol%40example.com&password=nope",
        None,
    )?;
    check(
        refused.status() == 401,
        format!("wrong password: {}", refused.status()),
    )?;
    check(
        refused.text()?.contains("do not match"),
        "says so on the form",
    )
}

pub fn browsers_get_pages_for_every_refusal_and_guests_log_in_to_check_out(
    sys: &System,
) -> Outcome {
    for (method, path) in [
        ("GET", "/logout"),
        ("POST", "/"),
        ("GET", "/c/"),
        ("GET", "/cart/"),
    ] {
        let r = client()
            .request(method.parse()?, format!("{}{path}", sys.edge_url))
            .header("accept", "text/html")
            .header("origin", &sys.edge_url)
            .send()?;
        check(
            header(&r, "content-type").starts_with("text/html")
                && !header(&r, "content-security-policy").is_empty(),
            format!(
                "{method} {path}: {} {}",
                r.status(),
                header(&r, "content-type")
            ),
        )?;
    }
    let added = post_form(sys, "/cart", "sku=KIT-0034&quantity=1", None)?;
    let guest = set_cookie(&added, "__Host-cart=")?;
    let checkout = post_form(sys, "/checkout", "", Some(&guest))?;
    check(
        checkout.status() == 303 && header(&checkout, "location") == "/login?next=/checkout",
        format!(
            "a guest is asked to log in: {} {}",
            checkout.status(),
            header(&checkout, "location")
        ),
    )?;
    let form = "email=alice%40example.com&password=alice-demo-password&next=%2Fcheckout";
    let logged = post_form(sys, "/login", form, Some(&guest))?;
    check(
        header(&logged, "location") == "/checkout",
        "and comes back to checkout",
    )?;
    let elsewhere =
        "email=alice%40example.com&password=alice-demo-password&next=https%3A%2F%2Fevil.example";
    let logged = post_form(sys, "/login", elsewhere, None)?;
    check(header(&logged, "location") == "/", "never to another site")?;
    let untyped = client()
        .post(format!("{}/checkout", sys.edge_url))
        .header("origin", &sys.edge_url)
        .header("content-type", "application/json")
        .body("{}")
        .send()?;
    check(
        untyped.status() == 415,
        format!("a checkout that is no form: {}", untyped.status()),
    )?;
    let stale = page(
        sys,
        "/cart",
        Some(
            "__Host-cart=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    )?;
    check(
        stale.status() == 303 && header(&stale, "set-cookie").contains("Max-Age=0"),
        format!("an unreadable cart cookie is dropped: {}", stale.status()),
    )?;
    let sorted = page(sys, "/c/toys?sort=price", None)?.text()?;
    let next = sorted
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&");
    let second = page(sys, &next, None)?.text()?;
    let canonical = second
        .split("<link rel=\"canonical\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&");
    let path = canonical.trim_start_matches(&sys.edge_url).to_owned();
    let again = page(sys, &path, None)?;
    check(
        canonical.contains("sort=price") && again.status() == 200,
        format!("page 2's canonical {canonical} answers {}", again.status()),
    )
}

pub fn crawlers_find_robots_and_sitemaps_of_the_whole_catalog(sys: &System) -> Outcome {
    let robots = client()
        .get(format!("{}/robots.txt", sys.edge_url))
        .send()?
        .text()?;
    check(
        robots.contains(&format!("Sitemap: {}/sitemap.xml", sys.edge_url)),
        format!("robots.txt names the sitemap: {robots}"),
    )?;
    let index = client()
        .get(format!("{}/sitemap.xml", sys.edge_url))
        .send()?;
    check(
        header(&index, "content-type").starts_with("application/xml"),
        "XML",
    )?;
    let index = index.text()?;
    check(
        index.contains("/sitemaps/category-kitchen.xml"),
        "a sitemap per category",
    )?;
    let kitchen = client()
        .get(format!("{}/sitemaps/category-kitchen.xml", sys.edge_url))
        .send()?
        .text()?;
    let categories: Value = client()
        .get(format!("{}/api/categories", sys.edge_url))
        .send()?
        .json()?;
    let count = categories
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["slug"] == "kitchen"))
        .and_then(|c| c["product_count"].as_u64())
        .unwrap_or(0) as usize;
    let listed = kitchen.matches("<loc>").count();
    check(
        count > 0 && listed == count,
        format!("every kitchen product listed: {listed} of {count}"),
    )?;
    let missing = client()
        .get(format!("{}/sitemaps/category-nope.xml", sys.edge_url))
        .send()?;
    check(
        missing.status() == 404,
        "an unknown category has no sitemap",
    )
}

pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        (
            "pages::a_product_page_is_cached_agrees_with_the_api_and_follows_a_purge",
            a_product_page_is_cached_agrees_with_the_api_and_follows_a_purge,
        ),
        (
            "pages::pages_carry_a_strict_policy_and_say_nothing_of_the_requester",
            pages_carry_a_strict_policy_and_say_nothing_of_the_requester,
        ),
        (
            "pages::an_unknown_page_is_an_html_404_and_the_api_keeps_problems",
            an_unknown_page_is_an_html_404_and_the_api_keeps_problems,
        ),
        (
            "pages::the_journey_works_without_script",
            the_journey_works_without_script,
        ),
        (
            "pages::bad_forms_get_a_page_saying_why",
            bad_forms_get_a_page_saying_why,
        ),
        (
            "pages::browsers_get_pages_for_every_refusal_and_guests_log_in_to_check_out",
            browsers_get_pages_for_every_refusal_and_guests_log_in_to_check_out,
        ),
        (
            "pages::crawlers_find_robots_and_sitemaps_of_the_whole_catalog",
            crawlers_find_robots_and_sitemaps_of_the_whole_catalog,
        ),
    ];
    (shared, Vec::new())
}
