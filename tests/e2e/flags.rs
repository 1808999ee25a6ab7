//! Flags through the admin API: a changed rule takes effect within the
//! cache time; the checkout kill switch and maintenance mode; concurrent
//! saves of one version; the browser's flags.

use std::thread;
use std::time::Duration;

use e2e::{System, SystemOptions};
use libtest_mimic::Failed;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::{
    Outcome, add_to_cart, cache_ttl, cart_cookie, check, client, expect_problem, header, view_cart,
};

fn get_flags(sys: &System) -> Result<(String, Value), Failed> {
    let r = client()
        .get(format!("{}/admin/flags", sys.edge_url))
        .bearer_auth(&sys.admin_token)
        .send()?;
    check(
        r.status() == 200,
        format!("GET /admin/flags: {}", r.status()),
    )?;
    let etag = header(&r, "etag");
    Ok((etag, r.json()?))
}

fn put_flags(sys: &System, etag: &str, doc: &Value) -> Result<Response, Failed> {
    Ok(client()
        .put(format!("{}/admin/flags", sys.edge_url))
        .bearer_auth(&sys.admin_token)
        .header("if-match", etag)
        .json(doc)
        .send()?)
}

fn with_default(doc: &Value, flag: &str, variant: &str) -> Value {
    let mut doc = doc.clone();
    doc["flags"][flag]["defaultVariant"] = json!(variant);
    doc
}

/// A little over the edge's flag cache time in these tests (1 s).
const TTL: Duration = Duration::from_millis(1300);

fn checkout(sys: &System, cookie: &str) -> Result<Response, Failed> {
    Ok(client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", cookie)
        .send()?)
}

pub fn admin_api_kill_switch_and_maintenance() -> Outcome {
    let sys = System::start(SystemOptions {
        edge_vars: vec![("FLAGS_CACHE_SECONDS".into(), "1".into())],
        ..SystemOptions::default()
    })?;
    let base = &sys.edge_url;

    // Guarded: no hint for a wrong or missing token.
    expect_problem(client().get(format!("{base}/admin/flags")).send()?, 401)?;
    let wrong = client()
        .get(format!("{base}/admin/flags"))
        .bearer_auth("0123456789abcdef0123456789abcdef-wrong")
        .send()?;
    expect_problem(wrong, 401)?;

    let (etag, doc) = get_flags(&sys)?;
    check(
        etag == "\"f0\"",
        format!("the built-in document is version 0: {etag}"),
    )?;

    // Refused documents name the path; nothing is stored.
    let mut bad = doc.clone();
    bad["flags"]["checkout-enabled"]["defaultVariant"] = json!("maybe");
    let refused = expect_problem(put_flags(&sys, &etag, &bad)?, 400)?;
    check(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("flags.checkout-enabled.defaultVariant"),
        format!("names the path: {refused}"),
    )?;
    let no_precondition = client()
        .put(format!("{base}/admin/flags"))
        .bearer_auth(&sys.admin_token)
        .json(&doc)
        .send()?;
    expect_problem(no_precondition, 428)?;

    // The kill switch: checkout refused (503), the cart untouched; lifted: works.
    let cookie = cart_cookie(&add_to_cart(
        &sys,
        None,
        json!({"sku": "KIT-0051", "quantity": 1}),
    ))?;
    let off = put_flags(&sys, &etag, &with_default(&doc, "checkout-enabled", "off"))?;
    check(off.status() == 200, format!("save: {}", off.status()))?;
    let v1 = header(&off, "etag");
    // Within the cache time (1 s here) every isolate obeys it.
    thread::sleep(TTL);
    let refused = expect_problem(checkout(&sys, &cookie)?, 503)?;
    check(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("switched off"),
        format!("the kill switch says so: {refused}"),
    )?;
    let cart = view_cart(&sys, &cookie)?;
    check(
        cart["status"]["state"] == "open" && cart["lines"][0]["quantity"] == 1,
        format!("the cart is untouched: {cart}"),
    )?;
    // Two admins save over the same version at once: one wins, one gets 412.
    let statuses: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = ["on", "off"]
            .iter()
            .map(|variant| {
                let (sys, doc, v1) = (&sys, &doc, &v1);
                s.spawn(move || {
                    put_flags(sys, v1, &with_default(doc, "maintenance-mode", variant))
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort_unstable();
    check(
        sorted == [200, 412],
        format!("one wins, one gets 412: {statuses:?}"),
    )?;

    // Whatever won, set maintenance on explicitly (and checkout back on).
    let (etag, _) = get_flags(&sys)?;
    let maintenance = with_default(
        &with_default(&doc, "maintenance-mode", "on"),
        "checkout-enabled",
        "on",
    );
    let r = put_flags(&sys, &etag, &maintenance)?;
    check(r.status() == 200, format!("save: {}", r.status()))?;
    thread::sleep(TTL);
    let refused = add_to_cart(
        &sys,
        Some(&cookie),
        json!({"sku": "KIT-0051", "quantity": 1}),
    );
    check(
        !header(&refused, "retry-after").is_empty(),
        "maintenance says when to come back",
    )?;
    expect_problem(refused, 503)?;
    let read = client()
        .get(format!("{base}/api/products/KIT-0051"))
        .send()?;
    check(read.status() == 200, "reads keep working in maintenance")?;
    // The admin API still works in maintenance: lift it.
    let (etag, _) = get_flags(&sys)?;
    let r = put_flags(&sys, &etag, &with_default(&doc, "checkout-enabled", "on"))?;
    check(r.status() == 200, format!("lift: {}", r.status()))?;
    thread::sleep(TTL);
    let placed = checkout(&sys, &cookie)?;
    check(
        placed.status() == 201,
        format!("checkout again: {}", placed.status()),
    )?;

    // The catalog's freshness lifetime follows the flag over the origin's 60 s.
    let (etag, _) = get_flags(&sys)?;
    let short = with_default(&doc, "catalog-max-age", "ten-seconds");
    let r = put_flags(&sys, &etag, &short)?;
    check(r.status() == 200, format!("save: {}", r.status()))?;
    thread::sleep(TTL);
    let product = format!("{base}/api/products/KIT-0061");
    client().get(&product).send()?;
    let hit = client().get(&product).send()?;
    let status = header(&hit, "cache-status");
    let ttl = cache_ttl(&status)?;
    check(
        ttl <= 10,
        format!("a 10 s lifetime, not the origin's 60 s: {status}"),
    )?;

    // The browser sees only client-visible flags, and gets a bucket cookie.
    let r = client().get(format!("{base}/api/flags")).send()?;
    let cookie = header(&r, "set-cookie");
    let v: Value = r.json()?;
    let keys: Vec<&String> = v["flags"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    check(
        keys == ["new-checkout-flow"] && cookie.starts_with("__Host-anon="),
        format!("client-visible flags only: {v}, cookie {cookie:?}"),
    )?;

    // Asked by name: an unknown (or hidden) flag is the caller's default
    // with FLAG_NOT_FOUND, never an error page.
    for key in ["no-such-flag", "maintenance-mode"] {
        let r = client()
            .get(format!("{base}/api/flags/{key}?default=false"))
            .send()?;
        check(r.status() == 200, format!("{key}: {}", r.status()))?;
        let d: Value = r.json()?;
        check(
            d["value"] == false && d["reason"] == "ERROR" && d["errorCode"] == "FLAG_NOT_FOUND",
            format!("{key}: {d}"),
        )?;
    }

    // A signed QA override forces a variant; an unsigned one is ignored.
    let issued: Value = client()
        .post(format!("{base}/admin/flags/overrides"))
        .bearer_auth(&sys.admin_token)
        .json(&json!({"variants": {"new-checkout-flow": "new"}, "ttl_seconds": 600}))
        .send()?
        .json()?;
    let token = issued["token"].as_str().ok_or("no token")?;
    let ask = |override_token: Option<&str>| -> Result<Value, Failed> {
        let mut req = client().get(format!("{base}/api/flags/new-checkout-flow?default=false"));
        if let Some(t) = override_token {
            req = req.header("x-flag-override", t);
        }
        Ok(req.send()?.json()?)
    };
    let forced = ask(Some(token))?;
    check(
        forced["value"] == true && forced["variant"] == "new",
        format!("forced by QA: {forced}"),
    )?;
    let payload = token.split('.').next().unwrap_or_default();
    for fake in [payload.to_owned(), format!("{payload}.AAAA")] {
        let d = ask(Some(&fake))?;
        check(
            d["value"] == false,
            format!("an unsigned override is ignored: {d}"),
        )?;
    }
    Ok(())
}

/// This area's scenarios: those that share the system, then those that
/// start their own.
pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![];
    let isolated: Vec<(&'static str, super::Isolated)> = vec![(
        "isolated::flags_admin_api_kill_switch_and_maintenance",
        admin_api_kill_switch_and_maintenance,
    )];
    (shared, isolated)
}
