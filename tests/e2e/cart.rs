//! The cart as a Durable Object: line changes with versions and If-Match,
//! retried changes counted once, signed cookies, merge at login, the
//! support log, expiry, and checkout through the outbox when the orders
//! origin is down or drops its answer.

use std::thread;
use std::time::{Duration, Instant};

use e2e::{System, SystemOptions};
use libtest_mimic::Failed;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::forwarding::session_of;
use super::{
    Outcome, add_to_cart, cart_cookie, check, client, expect_problem, header, order_count,
    origin_product, view_cart,
};

fn send(
    sys: &System,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Result<Response, Failed> {
    let mut req = client()
        .request(method, format!("{}{path}", sys.edge_url))
        .header("cookie", cookie);
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    Ok(req.send()?)
}

fn version_of(r: Response) -> Result<(i64, Value), Failed> {
    let status = r.status();
    let etag = header(&r, "etag");
    let v: Value = r.json()?;
    check(status == 200, format!("{status}: {v}"))?;
    let version = v["version"].as_i64().ok_or("no version")?;
    check(
        etag == format!("\"v{version}\""),
        format!("ETag {etag} names the version {version}"),
    )?;
    Ok((version, v))
}

/// Set a quantity, remove a line, clear: each bumps the version; a change
/// against a stale version (If-Match) is refused with 412 and writes nothing.
pub fn lines_change_with_versions_and_if_match(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "KIT-0031", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let (v1, _) = version_of(r)?;
    let (v2, _) = version_of(add_to_cart(
        sys,
        Some(&cookie),
        json!({"sku": "KIT-0032", "quantity": 2}),
    ))?;
    let put = reqwest::Method::PUT;
    let (v3, cart) = version_of(send(
        sys,
        put.clone(),
        "/api/cart/items/KIT-0031",
        &cookie,
        &[("if-match", &format!("\"v{v2}\""))],
        Some(json!({"quantity": 5})),
    )?)?;
    check(
        v3 == v2 + 1 && cart["lines"][0]["quantity"] == 5 && v2 == v1 + 1,
        format!("set: {cart}"),
    )?;
    let stale = send(
        sys,
        put.clone(),
        "/api/cart/items/KIT-0031",
        &cookie,
        &[("if-match", &format!("\"v{v2}\""))],
        Some(json!({"quantity": 7})),
    )?;
    let problem = expect_problem(stale, 412)?;
    check(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("version {v3}")),
        format!("names the current version: {problem}"),
    )?;
    for (quantity, status) in [(json!(0), 422), (json!(-1), 422), (json!(100), 422)] {
        let r = send(
            sys,
            put.clone(),
            "/api/cart/items/KIT-0031",
            &cookie,
            &[],
            Some(json!({ "quantity": quantity })),
        )?;
        expect_problem(r, status)?;
    }
    for bad in [json!(1.5), json!("two"), json!(null)] {
        let r = send(
            sys,
            put.clone(),
            "/api/cart/items/KIT-0031",
            &cookie,
            &[],
            Some(json!({ "quantity": bad })),
        )?;
        expect_problem(r, 400)?;
    }
    let limit = expect_problem(
        send(
            sys,
            put.clone(),
            "/api/cart/items/KIT-0031",
            &cookie,
            &[],
            Some(json!({"quantity": 100})),
        )?,
        422,
    )?;
    check(
        limit["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 99"),
        format!("says which limit: {limit}"),
    )?;
    expect_problem(
        send(
            sys,
            put,
            "/api/cart/items/KIT-0099",
            &cookie,
            &[],
            Some(json!({"quantity": 1})),
        )?,
        404,
    )?;
    let after = view_cart(sys, &cookie)?;
    check(
        after["version"] == v3 && after["lines"][0]["quantity"] == 5,
        format!("refused changes wrote nothing: {after}"),
    )?;
    let (v4, cart) = version_of(send(
        sys,
        reqwest::Method::DELETE,
        "/api/cart/items/KIT-0032",
        &cookie,
        &[],
        None,
    )?)?;
    check(
        v4 == v3 + 1 && cart["lines"].as_array().map(Vec::len) == Some(1),
        format!("removed: {cart}"),
    )?;
    let (v5, cart) = version_of(send(
        sys,
        reqwest::Method::DELETE,
        "/api/cart",
        &cookie,
        &[],
        None,
    )?)?;
    check(
        v5 == v4 + 1 && cart["lines"].as_array().map(Vec::len) == Some(0),
        format!("cleared: {cart}"),
    )
}

/// A change sent twice with the same Idempotency-Key counts once and both
/// answers are the same; the key with another change is refused.
pub fn a_retried_change_counts_once(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "GAR-0011", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let add = |q: i64| {
        send(
            sys,
            reqwest::Method::POST,
            "/api/cart/items",
            &cookie,
            &[("idempotency-key", "\"add-once-1\"")],
            Some(json!({"sku": "GAR-0011", "quantity": q})),
        )
    };
    let (first, _) = version_of(add(2)?)?;
    let (second, cart) = version_of(add(2)?)?;
    check(first == second, "the retry answered the same version")?;
    check(
        cart["lines"][0]["quantity"] == 3,
        format!("counted once: {cart}"),
    )?;
    expect_problem(add(5)?, 422)?;
    let view = view_cart(sys, &cookie)?;
    check(
        view["lines"][0]["quantity"] == 3,
        format!("still once: {view}"),
    )
}

/// A cart cookie the shop did not sign — another key, someone else's id
/// with this tag — is refused, and nothing is written.
pub fn forged_cart_cookies_are_refused(sys: &System) -> Outcome {
    let mine = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "TOY-0031", "quantity": 1}),
    ))?;
    let theirs = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "TOY-0032", "quantity": 1}),
    ))?;
    let (their_id, _) = theirs
        .trim_start_matches("__Host-cart=")
        .split_once('.')
        .ok_or("no tag")?;
    let (_, my_tag) = mine.split_once('.').ok_or("no tag")?;
    let forgeries = [
        format!("__Host-cart={their_id}.{my_tag}"),
        format!("__Host-cart={their_id}"),
        format!("__Host-cart={their_id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ];
    for forged in &forgeries {
        let r = add_to_cart(sys, Some(forged), json!({"sku": "TOY-0032", "quantity": 5}));
        expect_problem(r, 400)?;
    }
    let view = view_cart(sys, &theirs)?;
    check(
        view["lines"][0]["quantity"] == 1,
        format!("their cart is untouched: {view}"),
    )
}

/// At login the guest cart is merged into the customer's (quantities
/// added, limits respected, conflicts reported) and closed; the guest
/// cookie is cleared.
pub fn guest_cart_is_merged_at_login(sys: &System) -> Outcome {
    // carol's cart belongs to this scenario alone.
    let carol = session_of(sys, "carol@example.com")?;
    let (before, _) = version_of(send(
        sys,
        reqwest::Method::POST,
        "/api/cart/items",
        &carol,
        &[],
        Some(json!({"sku": "OUT-0007", "quantity": 98})),
    )?)?;
    let guest = add_to_cart(sys, None, json!({"sku": "OUT-0007", "quantity": 3}));
    let guest = cart_cookie(&guest)?;
    add_to_cart(sys, Some(&guest), json!({"sku": "OUT-0008", "quantity": 2}));
    let login = client()
        .post(format!("{}/api/session", sys.edge_url))
        .header("cookie", &guest)
        .json(&json!({"email": "carol@example.com", "password": "carol-demo-password"}))
        .send()?;
    check(login.status() == 200, format!("login: {}", login.status()))?;
    let cleared = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("__Host-cart=;") && c.contains("Max-Age=0"));
    check(cleared, "the guest cart cookie is cleared")?;
    let session = super::set_cookie(&login, "__Host-session=")?;
    let body: Value = login.json()?;
    let merge = &body["cart_merge"];
    check(
        merge["merged"] == json!(["OUT-0008"])
            && merge["conflicts"][0]["sku"] == "OUT-0007"
            && merge["conflicts"][0]["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("limited to 99"),
        format!("the merge report: {body}"),
    )?;
    let cart = view_cart(sys, &session)?;
    let quantity = |sku: &str| {
        cart["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["sku"] == sku))
            .map(|l| l["quantity"].clone())
    };
    check(
        quantity("OUT-0007") == Some(json!(99)) && quantity("OUT-0008") == Some(json!(2)),
        format!("the customer's cart: {cart}"),
    )?;
    check(
        cart["version"].as_i64() > Some(before),
        "the merge is a change",
    )?;
    let closed = add_to_cart(sys, Some(&guest), json!({"sku": "OUT-0009", "quantity": 1}));
    let problem = expect_problem(closed, 409)?;
    check(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("merged"),
        format!("the guest cart is closed: {problem}"),
    )?;
    // Tidy carol's cart for the next run against the same state.
    send(
        sys,
        reqwest::Method::DELETE,
        "/api/cart",
        &session,
        &[],
        None,
    )?;
    Ok(())
}

/// The support API shows a cart and its audit log, only with the token.
pub fn support_reads_the_audit_log(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "BAT-0021", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    send(
        sys,
        reqwest::Method::PUT,
        "/api/cart/items/BAT-0021",
        &cookie,
        &[],
        Some(json!({"quantity": 4})),
    )?;
    let id = cookie
        .trim_start_matches("__Host-cart=")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    let url = format!("{}/api/support/carts/g-{id}", sys.edge_url);
    expect_problem(client().get(&url).send()?, 401)?;
    expect_problem(
        client()
            .get(&url)
            .bearer_auth("not-the-token-not-the-token-not-the-token")
            .send()?,
        401,
    )?;
    let r = client().get(&url).bearer_auth(&sys.admin_token).send()?;
    check(r.status() == 200, format!("support: {}", r.status()))?;
    let v: Value = r.json()?;
    let actions: Vec<&str> = v["log"]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    check(
        actions == ["set_quantity", "add"],
        format!("the log, newest first: {v}"),
    )?;
    check(
        v["log"][0]["actor"] == "guest" && v["cart"]["lines"][0]["quantity"] == 4,
        format!("who and what: {v}"),
    )
}

/// 64 clients add to one cart at once: the total is exact.
pub fn sixty_four_concurrent_adds_are_exact(sys: &System) -> Outcome {
    let first = add_to_cart(sys, None, json!({"sku": "FIT-0001", "quantity": 1}));
    let cookie = cart_cookie(&first)?;
    let results: Vec<bool> = thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let cookie = &cookie;
                s.spawn(move || {
                    let sku = format!("FIT-000{}", 1 + i % 4);
                    add_to_cart(sys, Some(cookie), json!({"sku": sku, "quantity": 1})).status()
                        == 200
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    check(results.iter().all(|ok| *ok), "every add succeeded")?;
    let view = view_cart(sys, &cookie)?;
    let total: i64 = view["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["quantity"].as_i64()).sum())
        .unwrap_or(0);
    check(
        total == 65 && view["version"] == 65,
        format!("65 units in 65 versions: {view}"),
    )
}

fn checkout(sys: &System, cookie: &str) -> Result<Response, Failed> {
    Ok(client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", cookie)
        .send()?)
}

/// Checkout with the orders origin stopped: 202 and a status URL; once the
/// origin is back the outbox places exactly one order and the cart shows it.
/// Before that, an answer dropped after the order was placed: the edge's
/// retry gets the stored answer, one order.
pub fn checkout_survives_a_down_origin() -> Outcome {
    let mut sys = System::start(SystemOptions::default())?;
    let faults = format!("{}/_test/faults", sys.origin_url("us").unwrap_or_default());

    let cookie = cart_cookie(&add_to_cart(
        &sys,
        None,
        json!({"sku": "KIT-0041", "quantity": 2}),
    ))?;
    client()
        .post(&faults)
        .json(&json!({"scope": "writes", "drop_responses": 1}))
        .send()?;
    let r = checkout(&sys, &cookie)?;
    check(
        r.status() == 201,
        format!("checkout after a dropped answer: {}", r.status()),
    )?;
    check(
        order_count(&sys)? == 1,
        "one order after the dropped answer",
    )?;

    let cookie = cart_cookie(&add_to_cart(
        &sys,
        None,
        json!({"sku": "KIT-0042", "quantity": 1}),
    ))?;
    sys.stop_origin("us");
    let r = checkout(&sys, &cookie)?;
    let location = header(&r, "location");
    check(
        r.status() == 202 && location == "/api/cart/checkout",
        format!("origin down: {} {location}", r.status()),
    )?;
    let status: Value = client()
        .get(format!("{}{location}", sys.edge_url))
        .header("cookie", &cookie)
        .send()?
        .json()?;
    check(
        status["status"]["state"] == "checking_out" && status["pending_order"]["attempts"] == 1,
        format!("waiting in the outbox: {status}"),
    )?;
    let frozen = add_to_cart(
        &sys,
        Some(&cookie),
        json!({"sku": "KIT-0042", "quantity": 1}),
    );
    expect_problem(frozen, 409)?;
    // Asked again while it waits: still one pending order.
    let again = checkout(&sys, &cookie)?;
    check(
        again.status() == 202,
        format!("again while down: {}", again.status()),
    )?;

    sys.start_origin("us")?;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let view = view_cart(&sys, &cookie)?;
        if view["status"]["state"] == "checked_out" {
            check(
                view["pending_order"].is_null(),
                format!("the outbox is empty: {view}"),
            )?;
            break;
        }
        check(
            Instant::now() < deadline,
            format!("the outbox never placed the order: {view}"),
        )?;
        thread::sleep(Duration::from_millis(500));
    }
    check(
        order_count(&sys)? == 2,
        "exactly one more order at the origin",
    )
}

/// A guest cart nobody touches is removed after its idle time.
pub fn an_idle_guest_cart_expires() -> Outcome {
    let sys = System::start(SystemOptions {
        edge_vars: vec![("CART_GUEST_IDLE_SECONDS".into(), "2".into())],
        ..SystemOptions::default()
    })?;
    let cookie = cart_cookie(&add_to_cart(
        &sys,
        None,
        json!({"sku": "COF-0031", "quantity": 1}),
    ))?;
    let view = view_cart(&sys, &cookie)?;
    check(
        view["lines"].as_array().map(Vec::len) == Some(1) && view["expires_at_ms"].is_i64(),
        format!("a cart with its expiry: {view}"),
    )?;
    let order_of = |r: Response| -> Result<String, Failed> {
        let status = r.status();
        let v: Value = r.json()?;
        check(status == 201, format!("checkout: {status} {v}"))?;
        Ok(v["order"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    };
    let first = order_of(checkout(&sys, &cookie)?)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        thread::sleep(Duration::from_millis(500));
        let view = view_cart(&sys, &cookie)?;
        if view["version"] == 0 && view["lines"].as_array().map(Vec::len) == Some(0) {
            break;
        }
        check(
            Instant::now() < deadline,
            format!("still there after its idle time: {view}"),
        )?;
    }
    // The same cookie starts the cart's next life, at the same versions:
    // its order is a new one, not the first one replayed.
    let again = add_to_cart(
        &sys,
        Some(&cookie),
        json!({"sku": "COF-0032", "quantity": 1}),
    );
    check(
        again.status() == 200,
        format!("add after expiry: {}", again.status()),
    )?;
    let second = order_of(checkout(&sys, &cookie)?)?;
    check(
        !first.is_empty() && second != first && order_count(&sys)? == 2,
        format!("a second purchase is a second order: {first} then {second}"),
    )
}

/// An EU-resident customer's cart lives in an object created in the EU
/// jurisdiction; it works like any other.
pub fn an_eu_customers_cart_works(sys: &System) -> Outcome {
    let bruno = session_of(sys, "bruno@example.eu")?;
    let r = send(
        sys,
        reqwest::Method::POST,
        "/api/cart/items",
        &bruno,
        &[],
        Some(json!({"sku": "HOM-0003", "quantity": 1})),
    )?;
    let (_, cart) = version_of(r)?;
    check(
        cart["cart_id"] == "u-user-0002",
        format!("bruno's own cart: {cart}"),
    )?;
    send(sys, reqwest::Method::DELETE, "/api/cart", &bruno, &[], None)?;
    Ok(())
}

/// The price changed between add and checkout: the origin refuses the
/// order, the cart opens again saying why, and checking out at the new
/// price succeeds.
pub fn a_price_change_reopens_the_cart_with_the_reason(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "AUD-0050", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let cart: Value = r.json()?;
    let price = cart["lines"][0]["unit_price"]["amount_minor"]
        .as_i64()
        .ok_or("no price")?;
    let origin = sys.origin_url("us").unwrap_or_default();
    let changed = client()
        .patch(format!("{origin}/catalog/products/AUD-0050"))
        .bearer_auth(&sys.admin_token)
        .json(&json!({"price_minor": price + 500}))
        .send()?;
    check(
        changed.status() == 200,
        format!("back office: {}", changed.status()),
    )?;
    let refused = expect_problem(checkout(sys, &cookie)?, 409)?;
    check(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("price"),
        format!("says why: {refused}"),
    )?;
    let view = view_cart(sys, &cookie)?;
    check(
        view["status"]["state"] == "open"
            && view["notice"]
                .as_str()
                .unwrap_or_default()
                .contains("price"),
        format!("open again, with the reason: {view}"),
    )?;
    // Adding again takes the catalog's new price; then checkout succeeds.
    let again = add_to_cart(
        sys,
        Some(&cookie),
        json!({"sku": "AUD-0050", "quantity": 1}),
    );
    let again: Value = again.json()?;
    check(
        again["lines"][0]["unit_price"]["amount_minor"] == price + 500,
        format!("the new price: {again}"),
    )?;
    let placed = checkout(sys, &cookie)?;
    check(
        placed.status() == 201,
        format!("at the new price: {}", placed.status()),
    )
}

// ---- cart and checkout ---------------------------------------------------

pub fn cart_line_is_priced_from_the_catalog(sys: &System) -> Outcome {
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

pub fn a_client_cannot_name_the_price(sys: &System) -> Outcome {
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

pub fn bad_quantities_and_skus_are_refused(sys: &System) -> Outcome {
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

pub fn malformed_cart_cookie_is_refused(sys: &System) -> Outcome {
    let r = client()
        .get(format!("{}/api/cart", sys.edge_url))
        .header("cookie", "__Host-cart=../../etc")
        .send()?;
    expect_problem(r, 400).map(drop)
}

pub fn checkout_places_one_signed_order(sys: &System) -> Outcome {
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

pub fn concurrent_adds_to_one_cart_lose_nothing(sys: &System) -> Outcome {
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

pub fn concurrent_checkouts_place_one_order(sys: &System) -> Outcome {
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

pub fn checkout_without_a_cart_is_404(sys: &System) -> Outcome {
    let r = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .send()?;
    expect_problem(r, 404).map(drop)
}

pub fn cart_survives_a_restart_of_wrangler_dev() -> Outcome {
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

/// This area's scenarios: those that share the system, then those that
/// start their own.
pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        (
            "checkout::without_a_cart_is_404",
            checkout_without_a_cart_is_404,
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
            "cart::lines_change_with_versions_and_if_match",
            lines_change_with_versions_and_if_match,
        ),
        (
            "cart::a_retried_change_counts_once",
            a_retried_change_counts_once,
        ),
        (
            "cart::forged_cart_cookies_are_refused",
            forged_cart_cookies_are_refused,
        ),
        (
            "cart::guest_cart_is_merged_at_login",
            guest_cart_is_merged_at_login,
        ),
        (
            "cart::support_reads_the_audit_log",
            support_reads_the_audit_log,
        ),
        (
            "cart::sixty_four_concurrent_adds_are_exact",
            sixty_four_concurrent_adds_are_exact,
        ),
        (
            "cart::a_price_change_reopens_the_cart_with_the_reason",
            a_price_change_reopens_the_cart_with_the_reason,
        ),
        (
            "cart::an_eu_customers_cart_works",
            an_eu_customers_cart_works,
        ),
    ];
    let isolated: Vec<(&'static str, super::Isolated)> = vec![
        (
            "isolated::cart_checkout_survives_a_down_origin",
            checkout_survives_a_down_origin,
        ),
        (
            "isolated::cart_an_idle_guest_cart_expires",
            an_idle_guest_cart_expires,
        ),
        (
            "isolated::cart_survives_a_restart_of_wrangler_dev",
            cart_survives_a_restart_of_wrangler_dev,
        ),
    ];
    (shared, isolated)
}
