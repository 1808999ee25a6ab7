//! Drops: a fair queue, exact holds. With stock 50 and 300 admitted carts
//! adding at once, exactly 50 hold a unit and 50 orders reach the origin;
//! a hold left to expire returns its unit; nobody adds without an
//! admission, nobody is admitted before opening, nobody passes the limit
//! with a second cart. Each scenario has its own SKU and drop id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use e2e::{CookieJar, System, SystemOptions};
use libtest_mimic::Failed;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::{Outcome, check, client, expect_problem, header, origin_product};

/// One browser: the cookies the edge set, sent back as a browser would.
#[derive(Clone, Default)]
struct Shopper {
    cookies: CookieJar,
}

impl Shopper {
    fn send(
        &mut self,
        sys: &System,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Response, Failed> {
        let mut req = client()
            .request(method, format!("{}{path}", sys.edge_url))
            .header("origin", sys.edge_url.as_str())
            .header("cookie", self.cookies.header());
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send()?;
        self.cookies.absorb(r.headers());
        Ok(r)
    }

    fn add(&mut self, sys: &System, sku: &str, quantity: i64) -> Result<Response, Failed> {
        let body = json!({"sku": sku, "quantity": quantity});
        self.send(sys, reqwest::Method::POST, "/api/cart/items", Some(body))
    }

    /// Joins drop `id` and asks where it stands until admitted (within 10 s).
    fn admitted(sys: &System, id: &str) -> Result<Self, Failed> {
        let mut shopper = Shopper::default();
        let path = format!("/api/drops/{id}/queue");
        let joined = shopper.send(sys, reqwest::Method::POST, &path, None)?;
        check(joined.status() == 202, format!("join: {}", joined.status()))?;
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let r = shopper.send(sys, reqwest::Method::GET, &path, None)?;
            let status = r.status();
            let view: Value = r.json()?;
            if status == 200 && view["state"] == "admitted" {
                return Ok(shopper);
            }
            check(Instant::now() < until, format!("not admitted: {view}"))?;
            std::thread::sleep(Duration::from_millis(1_100));
        }
    }
}

fn rfc3339(offset_seconds: i64) -> String {
    durable_objects::drop::format_time((super::unix_now() + offset_seconds) * 1000)
}

/// A drop of `skus` opening `opens_in` seconds from now, for an hour.
fn drop_body(skus: &[&str], opens_in: i64, limit: i64, hold_seconds: i64) -> Value {
    json!({
        "skus": skus,
        "opens_at": rfc3339(opens_in),
        "closes_at": rfc3339(opens_in + 3600),
        "admit_per_minute": 1_000_000,
        "order": "fifo",
        "per_customer_limit": limit,
        "hold_seconds": hold_seconds,
        // Every shopper here comes from 127.0.0.1.
        "joins_per_address": 1_000_000,
    })
}

fn admin(
    sys: &System,
    method: reqwest::Method,
    id: &str,
    body: Option<&Value>,
) -> Result<Response, Failed> {
    let mut req = client()
        .request(method, format!("{}/admin/drops/{id}", sys.edge_url))
        .bearer_auth(&sys.admin_token);
    if let Some(body) = body {
        req = req.json(body);
    }
    Ok(req.send()?)
}

fn configure(sys: &System, id: &str, body: &Value) -> Result<Value, Failed> {
    let r = admin(sys, reqwest::Method::PUT, id, Some(body))?;
    check(r.status() == 201, format!("a new drop: {}", r.status()))?;
    Ok(r.json()?)
}

/// Sets the `us` origin's stock of `sku` (the back office).
fn set_stock(sys: &System, sku: &str, stock: i64) -> Outcome {
    super::back_office(sys, sku, json!({ "stock": stock })).map(drop)
}

/// Runs `work` over `items` on `threads` threads that start together.
fn at_once<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let queue = Mutex::new(items);
    let results = Mutex::new(Vec::new());
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                start.wait();
                loop {
                    let Some(item) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                        break;
                    };
                    let r = work(item);
                    if let Ok(mut all) = results.lock() {
                        all.push(r);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

fn stock_of(view: &Value) -> Value {
    view["stock"][0].clone()
}

fn exactly_the_stock_is_held_and_sold(sys: &System) -> Outcome {
    let (id, sku) = ("e2e-exact", "HOM-0011");
    set_stock(sys, sku, 50)?;
    configure(sys, id, &drop_body(&[sku], -1, 1, 600))?;
    let joined = at_once((0..300).collect(), 8, |_| {
        Shopper::admitted(sys, id).map_err(|e| format!("{e:?}"))
    });
    let shoppers: Vec<Shopper> = joined.into_iter().collect::<Result<_, _>>()?;
    check(shoppers.len() == 300, "300 admitted")?;

    let added = at_once(shoppers, 150, |mut s: Shopper| {
        let status = s.add(sys, sku, 1).map(|r| r.status().as_u16());
        (status.map_err(|e| format!("{e:?}")), s)
    });
    let mut statuses = BTreeMap::new();
    let mut holders = Vec::new();
    for (status, shopper) in added {
        let status = status?;
        *statuses.entry(status).or_insert(0) += 1;
        if status == 200 {
            holders.push(shopper);
        }
    }
    check(
        statuses == BTreeMap::from([(200, 50), (409, 250)]),
        format!("exactly 50 holds and 250 sold out: {statuses:?}"),
    )?;
    let view: Value = admin(sys, reqwest::Method::GET, id, None)?.json()?;
    check(
        stock_of(&view)["held"] == 50 && stock_of(&view)["available"] == 0,
        format!("the stock object agrees: {view}"),
    )?;

    let placed = at_once(holders, 10, |mut s: Shopper| -> Result<String, String> {
        let until = Instant::now() + Duration::from_secs(30);
        let r = s
            .send(sys, reqwest::Method::POST, "/api/cart/checkout", None)
            .map_err(|e| format!("{e:?}"))?;
        let mut status = r.status().as_u16();
        let mut body: Value = r.json().map_err(|e| e.to_string())?;
        while status == 202 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(500));
            let r = s
                .send(sys, reqwest::Method::GET, "/api/cart/checkout", None)
                .map_err(|e| format!("{e:?}"))?;
            body = r.json().map_err(|e| e.to_string())?;
            if let Some(order) = body["status"]["order_id"].as_str() {
                return Ok(order.to_owned());
            }
        }
        match (status, body["order"]["order_id"].as_str()) {
            (201, Some(order)) => Ok(order.to_owned()),
            _ => {
                status = status.max(1);
                Err(format!("checkout: {status} {body}"))
            }
        }
    });
    let orders: BTreeSet<String> = placed.into_iter().collect::<Result<_, _>>()?;
    check(orders.len() == 50, format!("50 orders: {}", orders.len()))?;
    let product = origin_product(sys, sku)?;
    check(
        product.stock == 0,
        format!("origin stock {}", product.stock),
    )?;
    let view: Value = admin(sys, reqwest::Method::GET, id, None)?.json()?;
    check(
        stock_of(&view)["sold"] == 50 && stock_of(&view)["held"] == 0,
        format!("sold as placed: {view}"),
    )?;
    check(view["counts"]["admitted"] == 300, format!("{view}"))
}

fn a_hold_left_to_expire_returns_its_unit(sys: &System) -> Outcome {
    let (id, sku) = ("e2e-expiry", "HOM-0012");
    set_stock(sys, sku, 1)?;
    configure(sys, id, &drop_body(&[sku], -1, 1, 2))?;
    let mut first = Shopper::admitted(sys, id)?;
    let mut second = Shopper::admitted(sys, id)?;
    let held = first.add(sys, sku, 1)?;
    check(held.status() == 200, format!("held: {}", held.status()))?;
    let cart: Value = held.json()?;
    check(
        cart["lines"][0]["held_until"].is_string(),
        format!("{cart}"),
    )?;
    expect_problem(second.add(sys, sku, 1)?, 409)?;
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let r = second.add(sys, sku, 1)?;
        if r.status() == 200 {
            break;
        }
        check(Instant::now() < until, "the unit came back within 20 s")?;
    }
    let r = first.send(sys, reqwest::Method::GET, "/api/cart", None)?;
    let cart: Value = r.json()?;
    check(
        cart["lines"].as_array().is_some_and(Vec::is_empty)
            && cart["notice"].as_str().is_some_and(|n| n.contains("hold")),
        format!("the first cart lost its line and says why: {cart}"),
    )
}

/// After `closes_at` anyone may add the SKU without an admission, but as
/// a hold: the units held while the drop was open stay theirs.
fn a_closed_drop_keeps_its_holds(sys: &System) -> Outcome {
    let (id, sku) = ("e2e-closing", "HOM-0019");
    set_stock(sys, sku, 2)?;
    let mut body = drop_body(&[sku], -1, 1, 600);
    body["closes_at"] = json!(rfc3339(3));
    configure(sys, id, &body)?;
    let mut early = Shopper::admitted(sys, id)?;
    check(early.add(sys, sku, 1)?.status() == 200, "held while open")?;
    std::thread::sleep(Duration::from_millis(4_000));
    let mut late = Shopper::default();
    expect_problem(late.add(sys, sku, 2)?, 409)?;
    let held = late.add(sys, sku, 1)?;
    check(
        held.status() == 200,
        format!("the free unit: {}", held.status()),
    )?;
    let cart: Value = held.json()?;
    check(
        cart["lines"][0]["held_until"].is_string(),
        format!("still a hold: {cart}"),
    )?;
    let placed = early.send(sys, reqwest::Method::POST, "/api/cart/checkout", None)?;
    check(
        placed.status() == 201,
        format!("the unit held while open: {}", placed.status()),
    )
}

fn nobody_adds_without_an_admission_nor_is_admitted_before_opening(sys: &System) -> Outcome {
    let sku = "HOM-0013";
    set_stock(sys, sku, 5)?;
    configure(sys, "e2e-later", &drop_body(&[sku], 3600, 1, 60))?;
    let mut early = Shopper::default();
    let path = "/api/drops/e2e-later/queue";
    let joined = early.send(sys, reqwest::Method::POST, path, None)?;
    check(joined.status() == 202, format!("join: {}", joined.status()))?;
    check(!header(&joined, "retry-after").is_empty(), "Retry-After")?;
    let view: Value = joined.json()?;
    check(
        view["state"] == "waiting" && view["position"] == 1,
        format!("waiting, first: {view}"),
    )?;
    check(
        view["estimated_wait_seconds"].as_i64().unwrap_or(0) > 3500,
        format!("waits for the opening: {view}"),
    )?;
    let again = early.send(sys, reqwest::Method::POST, path, None)?;
    let too_soon = early.send(sys, reqwest::Method::POST, path, None)?;
    check(
        too_soon.status() == 429,
        "joining again is a poll: once a second",
    )?;
    let same: Value = again.json()?;
    check(
        same["position"] == 1,
        format!("the same place again: {same}"),
    )?;
    let r = early.add(sys, sku, 1)?;
    let link = header(&r, "link");
    let problem = expect_problem(r, 403)?;
    check(link.contains(path), format!("links the queue: {link:?}"))?;
    check(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("opens at")),
        format!("{problem}"),
    )?;
    // One network's share of new places.
    let mut few = drop_body(&["HOM-0018"], 3600, 1, 60);
    few["joins_per_address"] = json!(2);
    configure(sys, "e2e-few", &few)?;
    for _ in 0..2 {
        let r = Shopper::default().send(
            sys,
            reqwest::Method::POST,
            "/api/drops/e2e-few/queue",
            None,
        )?;
        check(
            r.status() == 202,
            format!("within the share: {}", r.status()),
        )?;
    }
    let r =
        Shopper::default().send(sys, reqwest::Method::POST, "/api/drops/e2e-few/queue", None)?;
    let wait: i64 = header(&r, "retry-after").parse().unwrap_or(0);
    expect_problem(r, 429)?;
    check(
        wait > 60,
        format!("until the window ends: Retry-After {wait}"),
    )?;
    // Open, but this shopper never joined.
    let open_sku = "HOM-0014";
    set_stock(sys, open_sku, 5)?;
    configure(sys, "e2e-open", &drop_body(&[open_sku], -1, 1, 60))?;
    expect_problem(Shopper::default().add(sys, open_sku, 1)?, 403)?;
    let r = client()
        .get(format!("{}/api/drops/e2e-open/queue", sys.edge_url))
        .send()?;
    expect_problem(r, 404)?;
    // A forged admission is no admission.
    let mut forger = Shopper::admitted(sys, "e2e-open")?;
    if let Some(admit) = forger.cookies.0.get_mut("__Host-admit-e2e-open") {
        *admit = admit.replacen('.', ".9", 1);
    }
    expect_problem(forger.add(sys, open_sku, 1)?, 403)?;
    Ok(())
}

fn the_limit_holds_across_a_devices_carts(sys: &System) -> Outcome {
    let (id, sku) = ("e2e-limit", "HOM-0015");
    set_stock(sys, sku, 10)?;
    configure(sys, id, &drop_body(&[sku], -1, 1, 600))?;
    let mut shopper = Shopper::admitted(sys, id)?;
    check(shopper.add(sys, sku, 1)?.status() == 200, "the first unit")?;
    expect_problem(shopper.add(sys, sku, 1)?, 422)?;
    let first_cart = shopper.cookies.0.remove("__Host-cart");
    let problem = expect_problem(shopper.add(sys, sku, 1)?, 422)?;
    check(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 1")),
        format!("{problem}"),
    )?;
    // The second cart gives up; the first cart removes its line: the
    // device may hold one again.
    let second_cart = shopper.cookies.0.remove("__Host-cart");
    if let Some(cart) = first_cart {
        shopper.cookies.0.insert("__Host-cart".into(), cart);
    }
    let removed = shopper.send(
        sys,
        reqwest::Method::DELETE,
        &format!("/api/cart/items/{sku}"),
        None,
    )?;
    check(
        removed.status() == 200,
        format!("removed: {}", removed.status()),
    )?;
    if let Some(cart) = second_cart {
        shopper.cookies.0.insert("__Host-cart".into(), cart);
    }
    let view: Value = admin(sys, reqwest::Method::GET, id, None)?.json()?;
    check(stock_of(&view)["held"] == 0, format!("released: {view}"))?;
    check(
        shopper.add(sys, sku, 1)?.status() == 200,
        "held again after release",
    )
}

fn the_admin_api_validates_counts_and_ends(sys: &System) -> Outcome {
    let (id, sku) = ("e2e-admin", "HOM-0016");
    set_stock(sys, sku, 3)?;
    let body = drop_body(&[sku], -1, 2, 60);
    let r = client()
        .put(format!("{}/admin/drops/{id}", sys.edge_url))
        .json(&body)
        .send()?;
    expect_problem(r, 401)?;
    let mut bad = body.clone();
    bad["hold_seconds"] = json!(0);
    let p = expect_problem(admin(sys, reqwest::Method::PUT, id, Some(&bad))?, 422)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("hold_seconds")),
        format!("{p}"),
    )?;
    let mut unknown = body.clone();
    unknown["skus"] = json!(["NOPE-0001"]);
    let p = expect_problem(admin(sys, reqwest::Method::PUT, id, Some(&unknown))?, 422)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("NOPE-0001")),
        format!("{p}"),
    )?;
    let mut extra = body.clone();
    extra["price"] = json!(1);
    expect_problem(admin(sys, reqwest::Method::PUT, id, Some(&extra))?, 400)?;
    expect_problem(admin(sys, reqwest::Method::GET, "Not-An-Id", None)?, 400)?;
    expect_problem(admin(sys, reqwest::Method::GET, "e2e-nowhere", None)?, 404)?;
    let past = drop_body(&[sku], -7200, 2, 60);
    let p = expect_problem(admin(sys, reqwest::Method::PUT, id, Some(&past))?, 422)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("closes_at")),
        format!("{p}"),
    )?;

    // In a cart before the drop: never held, so not sold while it lasts.
    let mut early_bird = Shopper::default();
    check(
        early_bird.add(sys, sku, 1)?.status() == 200,
        "an ordinary add",
    )?;
    let created = configure(sys, id, &body)?;
    check(
        created["phase"] == "open" && created["ended"] == false,
        format!("{created}"),
    )?;
    let again = admin(sys, reqwest::Method::PUT, id, Some(&body))?;
    check(
        again.status() == 200,
        format!("changed: {}", again.status()),
    )?;
    let r = admin(sys, reqwest::Method::PUT, "e2e-admin-other", Some(&body))?;
    let p = expect_problem(r, 409)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("e2e-admin")),
        format!("{p}"),
    )?;

    let mut shopper = Shopper::admitted(sys, id)?;
    check(shopper.add(sys, sku, 2)?.status() == 200, "two held")?;
    let view: Value = admin(sys, reqwest::Method::GET, id, None)?.json()?;
    check(
        view["counts"]["joined"] == 1
            && view["counts"]["admitted"] == 1
            && view["counts"]["held"] == 2,
        format!("live counts: {view}"),
    )?;
    check(
        stock_of(&view)["stock"] == 3 && stock_of(&view)["available"] == 1,
        format!("{view}"),
    )?;
    let r = early_bird.send(sys, reqwest::Method::POST, "/api/cart/checkout", None)?;
    let p = expect_problem(r, 409)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("in a drop now")),
        format!("an unheld line of a drop's SKU: {p}"),
    )?;
    // Restocked at the origin: configured again, the drop sells it.
    set_stock(sys, sku, 10)?;
    let again: Value = admin(sys, reqwest::Method::PUT, id, Some(&body))?.json()?;
    check(
        stock_of(&again)["available"] == 8 && stock_of(&again)["held"] == 2,
        format!("the origin's 10 less the 2 held: {again}"),
    )?;
    let head = client()
        .head(format!("{}/api/drops/{id}/queue", sys.edge_url))
        .send()?;
    check(
        head.status() == 405,
        format!("a poll is no HEAD: {}", head.status()),
    )?;

    let ended: Value = admin(sys, reqwest::Method::DELETE, id, None)?.json()?;
    check(
        ended["ended"] == true && ended["phase"] == "closed",
        format!("{ended}"),
    )?;
    let r = Shopper::default().send(
        sys,
        reqwest::Method::POST,
        &format!("/api/drops/{id}/queue"),
        None,
    )?;
    expect_problem(r, 409)?;
    let ordinary = Shopper::default().add(sys, sku, 1)?;
    check(
        ordinary.status() == 200,
        format!("an ordinary product again: {}", ordinary.status()),
    )
}

/// A guest admitted and holding a unit logs in to check out: the hold
/// moves to the customer's cart (never released to others in between),
/// the ticket becomes the customer's, and the customer's units count
/// against them whichever cart or device asks: their other device, or —
/// logged out — a second, guest cart on this one.
fn a_customer_past_the_limit_is_refused_with_a_second_cart() -> Outcome {
    let sys = System::start(SystemOptions::default())?;
    let (id, sku) = ("e2e-customer", "HOM-0017");
    set_stock(&sys, sku, 10)?;
    configure(&sys, id, &drop_body(&[sku], -1, 1, 600))?;
    let path = format!("/api/drops/{id}/queue");
    let mut shopper = Shopper::admitted(&sys, id)?;
    check(
        shopper.add(&sys, sku, 1)?.status() == 200,
        "the guest holds one",
    )?;
    let carol = json!({"email": "carol@example.com", "password": "carol-demo-password"});
    let login = shopper.send(
        &sys,
        reqwest::Method::POST,
        "/api/session",
        Some(carol.clone()),
    )?;
    check(login.status() == 200, format!("login: {}", login.status()))?;
    let merged: Value = login.json()?;
    check(
        merged["cart_merge"]["merged"] == json!([sku]),
        format!("the held line came along: {merged}"),
    )?;
    let cart: Value = shopper
        .send(&sys, reqwest::Method::GET, "/api/cart", None)?
        .json()?;
    check(
        cart["cart_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("u-"))
            && cart["lines"][0]["held_until"].is_string(),
        format!("the customer's cart holds it: {cart}"),
    )?;
    let view: Value = admin(&sys, reqwest::Method::GET, id, None)?.json()?;
    check(
        stock_of(&view)["held"] == 1,
        format!("still held once: {view}"),
    )?;
    // Asked as the customer, the guest's ticket becomes theirs.
    std::thread::sleep(Duration::from_millis(1_100));
    let again: Value = shopper
        .send(&sys, reqwest::Method::GET, &path, None)?
        .json()?;
    check(again["state"] == "admitted", format!("{again}"))?;

    // Another device of the same customer finds the same place, and the
    // customer's limit.
    std::thread::sleep(Duration::from_millis(1_100));
    let mut other = Shopper::default();
    let login = other.send(&sys, reqwest::Method::POST, "/api/session", Some(carol))?;
    check(login.status() == 200, "second login")?;
    let joined: Value = other
        .send(&sys, reqwest::Method::POST, &path, None)?
        .json()?;
    check(
        joined["state"] == "admitted",
        format!("the customer's place: {joined}"),
    )?;
    let ticket = format!("__Host-drop-{id}");
    check(
        other.cookies.0.get(&ticket) == shopper.cookies.0.get(&ticket),
        "one ticket per customer",
    )?;
    expect_problem(other.add(&sys, sku, 1)?, 422)?;

    // Logged out, this device starts a guest cart: still this customer's device.
    let out = shopper.send(&sys, reqwest::Method::DELETE, "/api/session", None)?;
    check(out.status() == 200, "logged out")?;
    std::thread::sleep(Duration::from_millis(1_100));
    let again: Value = shopper
        .send(&sys, reqwest::Method::GET, &path, None)?
        .json()?;
    check(
        again["state"] == "admitted",
        format!("admitted as a guest: {again}"),
    )?;
    let ordinary = shopper.add(&sys, "KIT-0001", 1)?;
    check(
        ordinary.status() == 200 && shopper.cookies.0.contains_key("__Host-cart"),
        format!("a second (guest) cart: {}", ordinary.status()),
    )?;
    let p = expect_problem(shopper.add(&sys, sku, 1)?, 422)?;
    check(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 1")),
        format!("{p}"),
    )?;
    Ok(())
}

pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        (
            "drops::exactly_the_stock_is_held_and_sold",
            exactly_the_stock_is_held_and_sold,
        ),
        (
            "drops::a_hold_left_to_expire_returns_its_unit",
            a_hold_left_to_expire_returns_its_unit,
        ),
        (
            "drops::nobody_adds_without_an_admission_nor_is_admitted_before_opening",
            nobody_adds_without_an_admission_nor_is_admitted_before_opening,
        ),
        (
            "drops::a_closed_drop_keeps_its_holds",
            a_closed_drop_keeps_its_holds,
        ),
        (
            "drops::the_limit_holds_across_a_devices_carts",
            the_limit_holds_across_a_devices_carts,
        ),
        (
            "drops::the_admin_api_validates_counts_and_ends",
            the_admin_api_validates_counts_and_ends,
        ),
    ];
    let own: Vec<(&'static str, super::Isolated)> = vec![(
        "drops::a_customer_past_the_limit_is_refused_with_a_second_cart",
        a_customer_past_the_limit_is_refused_with_a_second_cart,
    )];
    (shared, own)
}
