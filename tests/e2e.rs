//! End-to-end tests: real reference origins and real `wrangler dev`
//! (workerd) over HTTP on 127.0.0.1.
//!
//! One shared system serves the scenarios that can run side by side; the
//! restart and panic scenarios start their own, because they disturb the
//! Worker instance. Every system is stopped before the process exits.
//! Run through `cargo xtask test`, which builds the Worker first.

#![allow(
    clippy::expect_used,
    reason = "in a test a failed expectation is a failed test"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{System, SystemOptions};
use libtest_mimic::{Arguments, Failed, Trial};
use origin_adapter::forward::{ForwardedWrite, signed_headers};
use origin_adapter::keys::SigningKey;
use origin_adapter::wire::{OrderLine, OrderRequest, Product};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

#[path = "e2e/cart.rs"]
mod cart;
#[path = "e2e/catalog.rs"]
mod catalog;
#[path = "e2e/flags.rs"]
mod flags;
#[path = "e2e/forwarding.rs"]
mod forwarding;
#[path = "e2e/hardening.rs"]
mod hardening;
#[path = "e2e/session.rs"]
mod session;

type Outcome = Result<(), Failed>;

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

fn check(condition: bool, message: impl Into<String>) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an RFC 9457 problem with `status`, returning its body.
fn expect_problem(r: Response, status: u16) -> Result<Value, Failed> {
    let got = r.status().as_u16();
    let content_type = header(&r, "content-type");
    let body: Value = r
        .json()
        .map_err(|e| format!("problem body is not JSON: {e}"))?;
    check(
        got == status,
        format!("expected {status}, got {got}: {body}"),
    )?;
    check(
        content_type.starts_with("application/problem+json"),
        format!("content-type was {content_type:?}"),
    )?;
    check(
        body["status"] == status && body["title"].is_string() && body["detail"].is_string(),
        format!("not a problem body: {body}"),
    )?;
    Ok(body)
}

/// The `name=value` part of the `Set-Cookie` for `prefix` (a cookie name,
/// possibly followed by the start of its value), checked to be HttpOnly,
/// Secure, SameSite=Lax and host-wide.
fn set_cookie(r: &Response, prefix: &str) -> Result<String, Failed> {
    let set = header(r, "set-cookie");
    check(
        set.starts_with(prefix),
        format!("no {prefix} cookie in {set:?}"),
    )?;
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        check(
            set.contains(attribute),
            format!("cookie lacks {attribute}: {set}"),
        )?;
    }
    Ok(set.split(';').next().unwrap_or_default().to_owned())
}

/// The `name=value` part of the cart cookie the edge set.
fn cart_cookie(r: &Response) -> Result<String, Failed> {
    set_cookie(r, "__Host-cart=")
}

fn add_to_cart(sys: &System, cookie: Option<&str>, body: Value) -> Response {
    let mut req = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().expect("the edge answers")
}

fn view_cart(sys: &System, cookie: &str) -> Result<Value, Failed> {
    let url = format!("{}/api/cart", sys.edge_url);
    Ok(client().get(url).header("cookie", cookie).send()?.json()?)
}

fn origin_product(sys: &System, sku: &str) -> Result<Product, Failed> {
    let url = format!(
        "{}/catalog/products/{sku}",
        sys.origin_url("us").unwrap_or_default()
    );
    Ok(client().get(url).send()?.json()?)
}

fn order_count(sys: &System) -> Result<i64, Failed> {
    let url = format!("{}/_test/counts", sys.origin_url("us").unwrap_or_default());
    let v: Value = client().get(url).send()?.json()?;
    v["orders"].as_i64().ok_or_else(|| "no order count".into())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ---- catalog -------------------------------------------------------------

fn product_is_read_from_origin_then_from_cache(sys: &System) -> Outcome {
    let url = format!("{}/api/products/OUT-0007", sys.edge_url);
    let first = client().get(&url).send()?;
    check(
        first.status() == 200,
        format!("first read: {}", first.status()),
    )?;
    let status1 = header(&first, "cache-status");
    check(
        status1.contains("fwd=uri-miss") && status1.contains("stored"),
        format!("first Cache-Status: {status1:?}"),
    )?;
    let product: Product = first.json()?;
    check(
        product == origin_product(sys, "OUT-0007")?,
        "the edge changed the product",
    )?;

    let second = client().get(&url).send()?;
    let status2 = header(&second, "cache-status");
    check(
        status2.starts_with("storefront-edge;hit;ttl="),
        format!("second Cache-Status: {status2:?}"),
    )?;
    check(
        second.json::<Product>()? == product,
        "the cached product differs",
    )
}

fn unknown_and_malformed_skus_are_problems(sys: &System) -> Outcome {
    let r = client()
        .get(format!("{}/api/products/NOPE-9999", sys.edge_url))
        .send()?;
    expect_problem(r, 404)?;
    let r = client()
        .get(format!("{}/api/products/bad%20sku", sys.edge_url))
        .send()?;
    expect_problem(r, 400).map(drop)
}

// ---- cart and checkout ---------------------------------------------------

fn cart_line_is_priced_from_the_catalog(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "KIT-0003", "quantity": 2}));
    check(r.status() == 200, format!("add: {}", r.status()))?;
    let cookie = cart_cookie(&r)?;
    let added: Value = r.json()?;
    let price = origin_product(sys, "KIT-0003")?.price;
    check(
        added["lines"][0]["unit_price"]["amount_minor"] == price.amount_minor,
        format!("line price: {added}"),
    )?;
    check(
        added["total"]["amount_minor"] == price.amount_minor * 2,
        format!("total: {added}"),
    )?;
    check(added["version"] == 1, format!("version: {added}"))?;

    let r = add_to_cart(
        sys,
        Some(&cookie),
        json!({"sku": "KIT-0003", "quantity": 1}),
    );
    let again: Value = r.json()?;
    check(
        again["lines"][0]["quantity"] == 3 && again["version"] == 2,
        format!("merge: {again}"),
    )?;

    let view: Value = view_cart(sys, &cookie)?;
    check(
        view == again,
        format!("GET /api/cart {view} != last mutation {again}"),
    )
}

fn a_client_cannot_name_the_price(sys: &System) -> Outcome {
    let r = add_to_cart(
        sys,
        None,
        json!({"sku": "KIT-0003", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "USD"}}),
    );
    let body = expect_problem(r, 400)?;
    check(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unit_price"),
        format!("detail: {body}"),
    )
}

fn bad_quantities_and_skus_are_refused(sys: &System) -> Outcome {
    for (body, status) in [
        (json!({"sku": "KIT-0003", "quantity": 0}), 422),
        (json!({"sku": "KIT-0003", "quantity": -2}), 422),
        (json!({"sku": "KIT-0003", "quantity": 100}), 422),
        (json!({"sku": "KIT-0003", "quantity": 1.5}), 400),
        (json!({"sku": "KIT-0003", "quantity": "two"}), 400),
        // A whole number however written, past any limit: named (issue 12).
        (json!({"sku": "KIT-0003", "quantity": 1e30}), 422),
        (json!({"sku": "NOPE-0001", "quantity": 1}), 404),
        (json!({"sku": "../x", "quantity": 1}), 400),
    ] {
        let r = add_to_cart(sys, None, body.clone());
        check(
            header(&r, "set-cookie").is_empty(),
            format!("{body}: a refused add must not create a cart"),
        )?;
        expect_problem(r, status)
            .map_err(|e| format!("{body}: {}", e.message().unwrap_or_default()))?;
    }
    Ok(())
}

fn malformed_cart_cookie_is_refused(sys: &System) -> Outcome {
    let r = client()
        .get(format!("{}/api/cart", sys.edge_url))
        .header("cookie", "__Host-cart=../../etc")
        .send()?;
    expect_problem(r, 400).map(drop)
}

fn checkout_places_one_signed_order(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "COF-0010", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let cart: Value = r.json()?;
    // Counted by this scenario's own product's stock: others place orders
    // on the shared system at the same time.
    let stock = || origin_product(sys, "COF-0010").map(|p| p.stock);
    let before = stock()?;

    let r = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", &cookie)
        .send()?;
    let status = r.status();
    let placed: Value = r.json()?;
    check(status == 201, format!("checkout: {status} {placed}"))?;
    let order_id = placed["order"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    check(order_id.starts_with("ord-us-"), format!("order: {placed}"))?;
    check(
        placed["order"]["subtotal"] == cart["total"]
            && placed["order"]["payment"]["status"] == "captured"
            && placed["order"]["payment"]["amount"] == placed["order"]["total"],
        format!("totals differ: {placed} vs {cart}"),
    )?;
    check(
        placed["cart"]["status"]["state"] == "checked_out",
        format!("cart after checkout: {placed}"),
    )?;
    check(stock()? == before - 1, "exactly one order was written")?;

    // Checking out again (a client retrying after a lost answer) gets the
    // same order; nothing more is written.
    let again = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", &cookie)
        .send()?;
    check(again.status() == 200, format!("again: {}", again.status()))?;
    let again: Value = again.json()?;
    check(
        again["order"]["order_id"] == order_id.as_str(),
        format!("the same order: {again}"),
    )?;
    check(stock()? == before - 1, "a second checkout wrote nothing")?;
    // The next add starts a new cart under the same cookie.
    let next = add_to_cart(
        sys,
        Some(&cookie),
        json!({"sku": "COF-0010", "quantity": 1}),
    );
    check(
        next.status() == 200,
        format!("add after: {}", next.status()),
    )?;
    let next: Value = next.json()?;
    check(
        next["status"]["state"] == "open"
            && next["lines"].as_array().map(Vec::len) == Some(1)
            && next["version"].as_i64() > placed["cart"]["version"].as_i64(),
        format!("a fresh cart: {next}"),
    )
}

fn concurrent_adds_to_one_cart_lose_nothing(sys: &System) -> Outcome {
    let first = add_to_cart(sys, None, json!({"sku": "TOY-0005", "quantity": 1}));
    let cookie = cart_cookie(&first)?;
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (url, cookie) = (format!("{}/api/cart/items", sys.edge_url), cookie.clone());
            std::thread::spawn(move || -> Result<i64, String> {
                let r = client()
                    .post(url)
                    .header("cookie", cookie)
                    .json(&json!({"sku": "TOY-0005", "quantity": 1}))
                    .send()
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body: Value = r.json().map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("{status}: {body}"));
                }
                body["version"]
                    .as_i64()
                    .ok_or_else(|| format!("no version in {body}"))
            })
        })
        .collect();
    let mut versions = Vec::new();
    for worker in workers {
        versions.push(worker.join().map_err(|_| "a request thread panicked")??);
    }
    versions.sort_unstable();
    check(
        versions == (2..=17).collect::<Vec<_>>(),
        format!("each change got its own version: {versions:?}"),
    )?;
    let view: Value = view_cart(sys, &cookie)?;
    check(
        view["lines"][0]["quantity"] == 17 && view["version"] == 17,
        format!("after 17 adds: {view}"),
    )
}

fn concurrent_checkouts_place_one_order(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "BAT-0003", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let stock = || origin_product(sys, "BAT-0003").map(|p| p.stock);
    let before = stock()?;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (url, cookie) = (
                format!("{}/api/cart/checkout", sys.edge_url),
                cookie.clone(),
            );
            std::thread::spawn(move || -> Result<(u16, Value), String> {
                let r = client()
                    .post(url)
                    .header("cookie", cookie)
                    .send()
                    .map_err(|e| e.to_string())?;
                let status = r.status().as_u16();
                Ok((status, r.json().map_err(|e| e.to_string())?))
            })
        })
        .collect();
    let mut order_ids = Vec::new();
    for worker in workers {
        let (status, body) = worker.join().map_err(|_| "a request thread panicked")??;
        match status {
            200 | 201 => order_ids.push(body["order"]["order_id"].clone()),
            // Still being placed by the first: the client polls.
            202 => {}
            other => return Err(format!("checkout answered {other}: {body}").into()),
        }
    }
    order_ids.dedup();
    check(
        order_ids.len() == 1,
        format!("one order id across successful checkouts: {order_ids:?}"),
    )?;
    let view = view_cart(sys, &cookie)?;
    check(
        view["status"]["order_id"] == order_ids[0],
        format!("the cart shows the order: {view}"),
    )?;
    check(
        stock()? == before - 1,
        "concurrent checkouts placed exactly one order",
    )
}

fn checkout_without_a_cart_is_404(sys: &System) -> Outcome {
    let r = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .send()?;
    expect_problem(r, 404).map(drop)
}

// ---- the origin refuses anything the edge did not sign ---------------------

fn forged_writes_are_refused_at_the_origin(sys: &System) -> Outcome {
    let origin = sys.origin_url("us").unwrap_or_default().to_owned();
    let authority = origin.trim_start_matches("http://").to_owned();
    let product = origin_product(sys, "GAR-0004")?;
    let order = OrderRequest {
        cart_id: "forged".into(),
        cart_version: 1,
        lines: vec![OrderLine {
            sku: product.sku.clone(),
            quantity: 1,
            unit_price: product.price.clone(),
        }],
    };
    let body = serde_json::to_vec(&order)?;
    let send = |key: &SigningKey,
                signed_body: &[u8],
                sent_body: &[u8],
                now: i64,
                nonce: &str|
     -> Result<Response, Failed> {
        let write = ForwardedWrite {
            method: "POST",
            authority: &authority,
            path: "/orders",
            query: None,
            content_type: "application/json",
            idempotency_key: nonce,
            body: signed_body,
            context: Default::default(),
        };
        let mut req = client()
            .post(format!("{origin}/orders"))
            .body(sent_body.to_vec());
        for (name, value) in signed_headers(&write, key, now, nonce).map_err(|e| e.to_string())? {
            req = req.header(name, value);
        }
        Ok(req.send()?)
    };
    // Counted by this test's own product's stock: other scenarios place
    // orders on the shared system at the same time.
    let stock = || origin_product(sys, "GAR-0004").map(|p| p.stock);
    let before = stock()?;

    let unsigned = client()
        .post(format!("{origin}/orders"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()?;
    expect_problem(unsigned, 401)?;

    let mut tampered_body = body.clone();
    tampered_body.extend_from_slice(b" ");
    let tampered = send(
        &sys.signing_key,
        &body,
        &tampered_body,
        unix_now(),
        "tampered-1",
    )?;
    expect_problem(tampered, 401)?;

    let expired = send(
        &sys.signing_key,
        &body,
        &body,
        unix_now() - 600,
        "expired-1",
    )?;
    expect_problem(expired, 401)?;

    let impostor = SigningKey::from_seed(sys.signing_key.keyid(), [42; 32]);
    let wrong_key = send(&impostor, &body, &body, unix_now(), "wrong-key-1")?;
    expect_problem(wrong_key, 401)?;

    let unknown = SigningKey::from_seed("someone-else", [43; 32]);
    expect_problem(send(&unknown, &body, &body, unix_now(), "unknown-1")?, 401)?;
    check(stock()? == before, "a refused write wrote something")?;

    // The same checks pass a correctly signed request, once.
    let now = unix_now();
    let genuine = send(&sys.signing_key, &body, &body, now, "genuine-1")?;
    check(
        genuine.status() == 201,
        format!("genuine write: {}", genuine.status()),
    )?;
    let replay = send(&sys.signing_key, &body, &body, now, "genuine-1")?;
    expect_problem(replay, 401)?;
    check(stock()? == before - 1, "only the genuine write was stored")
}

// ---- bad input at the edge ---------------------------------------------------

fn bad_requests_get_problem_responses(sys: &System) -> Outcome {
    let base = &sys.edge_url;
    expect_problem(client().get(format!("{base}/no/such/route")).send()?, 404)?;

    let r = client().delete(format!("{base}/api/cart/items")).send()?;
    let allow = header(&r, "allow");
    expect_problem(r, 405)?;
    check(allow == "POST", format!("Allow: {allow:?}"))?;

    let items = format!("{base}/api/cart/items");
    let r = client()
        .post(&items)
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()?;
    expect_problem(r, 400)?;
    let r = client()
        .post(&items)
        .header("content-type", "text/plain")
        .body("sku=KIT-0001")
        .send()?;
    expect_problem(r, 415)?;
    let big = format!(
        "{{\"sku\":\"KIT-0001\",\"quantity\":1,\"pad\":\"{}\"}}",
        "x".repeat(64 * 1024)
    );
    let r = client()
        .post(&items)
        .header("content-type", "application/json")
        .body(big)
        .send()?;
    expect_problem(r, 413).map(drop)
}

// ---- scenarios that need a system of their own ---------------------------------

fn cart_survives_a_restart_of_wrangler_dev() -> Outcome {
    let mut sys = System::start(SystemOptions::default())?;
    let r = add_to_cart(&sys, None, json!({"sku": "AUD-0002", "quantity": 3}));
    let cookie = cart_cookie(&r)?;
    let before: Value = r.json()?;
    sys.restart_edge()?;
    let after: Value = view_cart(&sys, &cookie)?;
    check(
        after == before,
        format!("after restart {after} != before {before}"),
    )
}

fn a_panic_becomes_a_500_problem_and_the_next_request_is_served() -> Outcome {
    let sys = System::start(SystemOptions::default())?;
    let r = client()
        .get(format!("{}/__dev/panic", sys.edge_url))
        .send()?;
    expect_problem(r, 500)?;
    let r = client()
        .get(format!("{}/api/products/KIT-0001", sys.edge_url))
        .send()?;
    check(r.status() == 200, format!("after a panic: {}", r.status()))?;
    let r = add_to_cart(&sys, None, json!({"sku": "KIT-0001", "quantity": 1}));
    check(
        r.status() == 200,
        format!("cart after a panic: {}", r.status()),
    )
}

/// Builds the Worker and the origin once, unless `cargo xtask test` (which
/// sets `E2E_PREBUILT`) already did.
fn build_everything() -> anyhow::Result<()> {
    let root = e2e::Workspace::here().root;
    for args in [
        &["xtask", "build"][..],
        &["build", "--package", "reference-origin"][..],
    ] {
        let status = std::process::Command::new("cargo")
            .args(args)
            .current_dir(&root)
            .status()?;
        anyhow::ensure!(status.success(), "`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    if let Err(e) = e2e::process::stop_children_on_signal() {
        eprintln!("{e:#}");
    }
    type Scenario = fn(&System) -> Outcome;
    let shared_scenarios: Vec<(&str, Scenario)> = vec![
        ("session::login_whoami_logout", session::login_whoami_logout),
        (
            "session::own_orders_only_and_not_after_logout",
            session::own_orders_only_and_not_after_logout,
        ),
        (
            "session::client_identity_headers_never_reach_the_origin",
            session::client_identity_headers_never_reach_the_origin,
        ),
        (
            "session::a_new_login_never_keeps_the_old_session",
            session::a_new_login_never_keeps_the_old_session,
        ),
        (
            "session::wrong_credentials_say_nothing_more",
            session::wrong_credentials_say_nothing_more,
        ),
        (
            "session::bad_session_cookies_are_anonymous",
            session::bad_session_cookies_are_anonymous,
        ),
        (
            "session::cross_site_writes_are_refused",
            session::cross_site_writes_are_refused,
        ),
        (
            "catalog::purge_after_a_price_change_reaches_product_and_listing",
            catalog::purge_after_a_price_change_reaches_product_and_listing,
        ),
        (
            "catalog::concurrent_misses_reach_the_origin_once",
            catalog::concurrent_misses_reach_the_origin_once,
        ),
        (
            "catalog::if_none_match_gives_304",
            catalog::if_none_match_gives_304,
        ),
        (
            "catalog::equivalent_urls_share_one_entry",
            catalog::equivalent_urls_share_one_entry,
        ),
        (
            "catalog::no_customer_data_in_shared_answers",
            catalog::no_customer_data_in_shared_answers,
        ),
        (
            "catalog::bad_queries_name_the_parameter",
            catalog::bad_catalog_queries_name_the_parameter,
        ),
        (
            "catalog::search_and_categories_are_cached",
            catalog::search_and_categories_are_cached,
        ),
        (
            "catalog::unknown_skus_are_negatively_cached",
            catalog::unknown_skus_are_negatively_cached,
        ),
        (
            "catalog::only_signed_purges_are_obeyed",
            catalog::only_signed_purges_are_obeyed,
        ),
        (
            "cart::concurrent_adds_to_one_cart_lose_nothing",
            concurrent_adds_to_one_cart_lose_nothing,
        ),
        (
            "checkout::concurrent_checkouts_place_one_order",
            concurrent_checkouts_place_one_order,
        ),
        (
            "catalog::product_is_read_from_origin_then_from_cache",
            product_is_read_from_origin_then_from_cache,
        ),
        (
            "catalog::unknown_and_malformed_skus_are_problems",
            unknown_and_malformed_skus_are_problems,
        ),
        (
            "cart::line_is_priced_from_the_catalog",
            cart_line_is_priced_from_the_catalog,
        ),
        (
            "cart::a_client_cannot_name_the_price",
            a_client_cannot_name_the_price,
        ),
        (
            "cart::bad_quantities_and_skus_are_refused",
            bad_quantities_and_skus_are_refused,
        ),
        (
            "cart::malformed_cart_cookie_is_refused",
            malformed_cart_cookie_is_refused,
        ),
        (
            "checkout::places_one_signed_order",
            checkout_places_one_signed_order,
        ),
        (
            "checkout::without_a_cart_is_404",
            checkout_without_a_cart_is_404,
        ),
        (
            "origin::forged_writes_are_refused",
            forged_writes_are_refused_at_the_origin,
        ),
        (
            "edge::bad_requests_get_problem_responses",
            bad_requests_get_problem_responses,
        ),
        (
            "cart::lines_change_with_versions_and_if_match",
            cart::lines_change_with_versions_and_if_match,
        ),
        (
            "cart::a_retried_change_counts_once",
            cart::a_retried_change_counts_once,
        ),
        (
            "cart::forged_cart_cookies_are_refused",
            cart::forged_cart_cookies_are_refused,
        ),
        (
            "cart::guest_cart_is_merged_at_login",
            cart::guest_cart_is_merged_at_login,
        ),
        (
            "cart::support_reads_the_audit_log",
            cart::support_reads_the_audit_log,
        ),
        (
            "cart::sixty_four_concurrent_adds_are_exact",
            cart::sixty_four_concurrent_adds_are_exact,
        ),
        (
            "cart::a_price_change_reopens_the_cart_with_the_reason",
            cart::a_price_change_reopens_the_cart_with_the_reason,
        ),
        (
            "cart::an_eu_customers_cart_works",
            cart::an_eu_customers_cart_works,
        ),
        (
            "forwarding::a_keyed_write_happens_once",
            forwarding::a_keyed_write_happens_once,
        ),
        (
            "forwarding::concurrent_keyed_writes_make_one_record",
            forwarding::concurrent_keyed_writes_make_one_record,
        ),
        (
            "forwarding::only_the_edge_speaks_to_the_origin",
            forwarding::only_the_edge_speaks_to_the_origin,
        ),
        (
            "forwarding::edge_and_origin_log_the_same_ids",
            forwarding::edge_and_origin_log_the_same_ids,
        ),
        (
            "forwarding::forwarded_routes_refuse_bad_input",
            forwarding::forwarded_routes_refuse_bad_input,
        ),
        (
            "hardening::a_retried_checkout_gets_its_first_answer",
            hardening::a_retried_checkout_gets_its_first_answer,
        ),
        (
            "hardening::unknown_methods_are_405_with_allow",
            hardening::unknown_methods_are_405_with_allow,
        ),
        (
            "hardening::personal_answers_are_never_stored",
            hardening::personal_answers_are_never_stored,
        ),
        (
            "hardening::numbers_past_2_53_never_cross_into_the_cart",
            hardening::numbers_past_2_53_never_cross_into_the_cart,
        ),
        (
            "hardening::cross_site_writes_without_cookies_are_refused",
            hardening::cross_site_writes_without_cookies_are_refused,
        ),
        (
            "hardening::a_login_revokes_the_session_it_replaces",
            hardening::a_login_revokes_the_session_it_replaces,
        ),
        (
            "hardening::streamed_bodies_past_the_limit_are_413",
            hardening::streamed_bodies_past_the_limit_are_413,
        ),
        (
            "hardening::a_flag_override_never_changes_the_shared_catalog",
            hardening::a_flag_override_never_changes_the_shared_catalog,
        ),
        ("edge::health_answers", |sys| {
            check(
                client()
                    .get(format!("{}/healthz", sys.edge_url))
                    .send()?
                    .status()
                    == 200,
                "healthz",
            )
        }),
    ];

    if !args.list
        && std::env::var_os("E2E_PREBUILT").is_none()
        && let Err(e) = build_everything()
    {
        eprintln!("could not build the system under test: {e:#}");
        std::process::exit(1);
    }

    let shared = if args.list {
        None
    } else {
        match System::start(SystemOptions::default()) {
            Ok(sys) => Some(Arc::new(sys)),
            Err(e) => {
                eprintln!("could not start the system under test: {e:#}");
                std::process::exit(1);
            }
        }
    };

    let mut trials: Vec<Trial> = shared_scenarios
        .into_iter()
        .map(|(name, scenario)| {
            let sys = shared.clone();
            Trial::test(name, move || match &sys {
                Some(sys) => scenario(sys),
                None => Err("no system".into()),
            })
        })
        .collect();
    trials.push(Trial::test(
        "isolated::catalog_stale_answers_when_the_origin_fails_or_hangs",
        catalog::stale_answers_when_the_origin_fails_or_hangs,
    ));
    trials.push(Trial::test(
        "isolated::session_brute_force_is_limited_and_the_limit_lifts",
        session::brute_force_is_limited_and_the_limit_lifts,
    ));
    trials.push(Trial::test(
        "isolated::session_rotating_the_key_keeps_sessions",
        session::rotating_the_session_key_keeps_sessions,
    ));
    trials.push(Trial::test(
        "isolated::forwarding_failover_and_residency",
        forwarding::failover_and_residency,
    ));
    trials.push(Trial::test(
        "isolated::forwarding_timeouts_shedding_and_the_breaker",
        forwarding::timeouts_shedding_and_the_breaker,
    ));
    trials.push(Trial::test(
        "isolated::cart_checkout_survives_a_down_origin",
        cart::checkout_survives_a_down_origin,
    ));
    trials.push(Trial::test(
        "isolated::cart_an_idle_guest_cart_expires",
        cart::an_idle_guest_cart_expires,
    ));
    trials.push(Trial::test(
        "isolated::flags_admin_api_kill_switch_and_maintenance",
        flags::admin_api_kill_switch_and_maintenance,
    ));
    trials.push(Trial::test(
        "isolated::cart_survives_a_restart_of_wrangler_dev",
        cart_survives_a_restart_of_wrangler_dev,
    ));
    trials.push(Trial::test(
        "isolated::a_panic_becomes_a_500_problem_and_the_next_request_is_served",
        a_panic_becomes_a_500_problem_and_the_next_request_is_served,
    ));

    let conclusion = libtest_mimic::run(&args, trials);
    // Stop the shared system before exiting: `exit` skips destructors.
    drop(shared);
    conclusion.exit();
}
