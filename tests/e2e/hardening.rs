//! The faults found by trying the edge as a shop, an attacker and a busy
//! day would (issue 12), each as the answer that is right: a retried
//! checkout, methods as sent, personal answers never stored, numbers past
//! 2^53, cross-site logins, replaced sessions, oversized streamed bodies
//! and one tester's flag override.

use std::io::Read;
use std::time::{Duration, Instant};

use e2e::{System, SystemOptions};
use libtest_mimic::Failed;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::{
    Outcome, add_to_cart, cache_ttl, cart_cookie, check, client, expect_problem, header, login,
};

fn checkout_with_key(sys: &System, cookie: &str, key: &str) -> Result<Response, Failed> {
    Ok(client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", cookie)
        .header("idempotency-key", key)
        .send()?)
}

/// A client retrying its own checkout with the same `Idempotency-Key`
/// gets the first answer again — not a 422 because the edge's request id
/// or trace differ — and one order; the key on another request is a 422.
pub fn a_retried_checkout_gets_its_first_answer(sys: &System) -> Outcome {
    let cookie = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "KIT-0051", "quantity": 1}),
    ))?;
    let key = format!("checkout-{}", super::unix_now());
    let first = checkout_with_key(sys, &cookie, &key)?;
    check(
        first.status() == 201,
        format!("first checkout: {}", first.status()),
    )?;
    let first: Value = first.json()?;
    let again = checkout_with_key(sys, &cookie, &key)?;
    let replayed = header(&again, "idempotent-replayed");
    let etag = header(&again, "etag");
    let status = again.status();
    let again: Value = again.json()?;
    check(
        status == 201
            && replayed == "true"
            && again == first
            && etag == format!("\"v{}\"", first["cart"]["version"]),
        format!("retry: {status} replayed={replayed:?} etag={etag:?} {again} (first {first})"),
    )?;
    let other = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .header("cookie", &cookie)
        .header("idempotency-key", &key)
        .json(&json!({"sku": "KIT-0052", "quantity": 1}))
        .send()?;
    expect_problem(other, 422)?;
    Ok(())
}

/// An unknown method is never answered as another one.
pub fn unknown_methods_are_405_with_allow(sys: &System) -> Outcome {
    let propfind = reqwest::Method::from_bytes(b"PROPFIND").map_err(|e| e.to_string())?;
    for path in ["/api/cart", "/api/session", "/api/products/KIT-0001"] {
        let r = client()
            .request(propfind.clone(), format!("{}{path}", sys.edge_url))
            .send()?;
        let allow = header(&r, "allow");
        expect_problem(r, 405)?;
        check(
            allow.contains("GET") && !allow.contains("PROPFIND"),
            format!("{path}: Allow {allow:?}"),
        )?;
    }
    Ok(())
}

/// Every personal answer, errors included, is `private, no-store`; a cart
/// answer, even an empty one, carries its `ETag`.
pub fn personal_answers_are_never_stored(sys: &System) -> Outcome {
    let get = |path: &str| client().get(format!("{}{path}", sys.edge_url)).send();
    let empty = get("/api/cart")?;
    check(
        empty.status() == 200
            && header(&empty, "cache-control") == "private, no-store"
            && header(&empty, "etag") == "\"v0\"",
        format!(
            "empty cart: {} cache-control={:?} etag={:?}",
            empty.status(),
            header(&empty, "cache-control"),
            header(&empty, "etag")
        ),
    )?;
    for (path, status) in [
        ("/api/session", 200),
        ("/api/flags", 200),
        ("/api/orders", 401),
        ("/api/cart/checkout", 404),
        ("/api/account/addresses", 401),
    ] {
        let r = get(path)?;
        check(
            r.status() == status && header(&r, "cache-control") == "private, no-store",
            format!(
                "{path}: {} cache-control={:?}",
                r.status(),
                header(&r, "cache-control")
            ),
        )?;
    }
    let r = add_to_cart(sys, None, json!({"sku": "KIT-0053", "quantity": 0}));
    check(
        r.status() == 422 && header(&r, "cache-control") == "private, no-store",
        format!("a refused change: {}", r.status()),
    )?;
    let catalog = get("/api/products/KIT-0001")?;
    check(
        header(&catalog, "cache-control").starts_with("public"),
        "catalog reads stay shared",
    )
}

/// Numbers JavaScript cannot hold never cross into the cart object: a
/// quantity is refused naming its limit, a version no cart has is a 412.
pub fn numbers_past_2_53_never_cross_into_the_cart(sys: &System) -> Outcome {
    let huge = 9_007_199_254_740_993_i64;
    let r = add_to_cart(sys, None, json!({"sku": "KIT-0054", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let put = |extra: Option<(&str, String)>, quantity: i64| {
        let mut req = client()
            .put(format!("{}/api/cart/items/KIT-0054", sys.edge_url))
            .header("cookie", &cookie)
            .json(&json!({"quantity": quantity}));
        if let Some((name, value)) = extra {
            req = req.header(name, value);
        }
        req.send()
    };
    let body = expect_problem(put(None, huge)?, 422)?;
    check(
        body["detail"].as_str().is_some_and(|d| d.contains("99")),
        format!("names the limit: {body}"),
    )?;
    expect_problem(put(Some(("if-match", format!("\"v{huge}\""))), 2)?, 412)?;
    // Tags compare as strings: "v01" is not the cart's "v1".
    expect_problem(put(Some(("if-match", "\"v01\"".into())), 2)?, 412)?;
    for quantity in [
        json!(huge),
        json!(18_446_744_073_709_551_615_u64),
        json!(1e20),
    ] {
        let added = add_to_cart(
            sys,
            Some(&cookie),
            json!({"sku": "KIT-0054", "quantity": quantity}),
        );
        let body = expect_problem(added, 422)?;
        check(
            body["detail"].as_str().is_some_and(|d| d.contains("99")),
            format!("{quantity}: names the limit: {body}"),
        )?;
    }
    // The flag document's version tag: refused at the edge, never rounded.
    let flags = client()
        .put(format!("{}/admin/flags", sys.edge_url))
        .bearer_auth(&sys.admin_token)
        .header("if-match", format!("\"f{huge}\""))
        .json(&json!({"flags": {}}))
        .send()?;
    expect_problem(flags, 412)?;
    let cart = super::view_cart(sys, &cookie)?;
    check(
        cart["lines"][0]["quantity"] == 1,
        format!("nothing written: {cart}"),
    )
}

/// A cross-site login without cookies is refused like every other
/// cross-site write (login CSRF); so is a cookieless cross-site add.
pub fn cross_site_writes_without_cookies_are_refused(sys: &System) -> Outcome {
    let evil = client()
        .post(format!("{}/api/session", sys.edge_url))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"email": "alice@example.com", "password": "alice-demo-password"}))
        .send()?;
    check(
        header(&evil, "set-cookie").is_empty(),
        "no session cookie for a cross-site login",
    )?;
    expect_problem(evil, 403)?;
    let add = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"sku": "KIT-0055", "quantity": 1}))
        .send()?;
    expect_problem(add, 403)?;
    let same = client()
        .post(format!("{}/api/session", sys.edge_url))
        .header("origin", sys.edge_url.as_str())
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"email": "alice@example.com", "password": "alice-demo-password"}))
        .send()?;
    check(
        same.status() == 200,
        format!("same-origin login: {}", same.status()),
    )
}

/// Logging in while presenting session S issues S′ and ends S.
pub fn a_login_revokes_the_session_it_replaces(sys: &System) -> Outcome {
    let session = |r: &Response| super::set_cookie(r, "__Host-session=v4.local.");
    let whoami = |cookie: &str| -> Result<Value, Failed> {
        Ok(client()
            .get(format!("{}/api/session", sys.edge_url))
            .header("cookie", cookie)
            .send()?
            .json()?)
    };
    let old = session(&login(
        sys,
        "carol@example.com",
        "carol-demo-password",
        None,
    )?)?;
    check(
        whoami(&old)?["authenticated"] == true,
        "the first session works",
    )?;
    let new = session(&login(
        sys,
        "alice@example.com",
        "alice-demo-password",
        Some(&old),
    )?)?;
    check(
        whoami(&old)?["authenticated"] == false,
        "the replaced session is revoked",
    )?;
    check(
        whoami(&new)?["user_id"] == "user-0001",
        "the new session works",
    )
}

/// A body of unknown length that never ends: a reader yielding `total`
/// bytes in 64 KiB chunks, counting what was taken.
struct Endless {
    left: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(64 * 1024);
        buf[..n].fill(b' ');
        self.left -= n;
        Ok(n)
    }
}

/// A 24 MiB chunked body (no `Content-Length`) is refused with `413` once
/// the limit is passed — to the unauthenticated purge and to a cart add —
/// without the edge reading it all first.
pub fn streamed_bodies_past_the_limit_are_413(sys: &System) -> Outcome {
    for path in ["/api/purge", "/api/cart/items", "/api/session"] {
        let started = Instant::now();
        let body = reqwest::blocking::Body::new(Endless {
            left: 24 * 1024 * 1024,
        });
        let sent = client()
            .post(format!("{}{path}", sys.edge_url))
            .header("content-type", "application/json")
            .body(body)
            .send();
        match sent {
            Ok(r) => {
                expect_problem(r, 413)?;
            }
            // The edge may close the connection as soon as it has
            // answered; the answer must then have come before the end.
            Err(e) => check(
                started.elapsed() < Duration::from_secs(5),
                format!("{path}: no answer, after {:?}: {e}", started.elapsed()),
            )?,
        }
    }
    Ok(())
}

/// One tester's signed override of `catalog-max-age` changes nothing that
/// others are served: the shared entry keeps the origin's lifetime.
pub fn a_flag_override_never_changes_the_shared_catalog(sys: &System) -> Outcome {
    let issued: Value = client()
        .post(format!("{}/admin/flags/overrides", sys.edge_url))
        .bearer_auth(&sys.admin_token)
        .json(&json!({"variants": {"catalog-max-age": "ten-seconds"}, "ttl_seconds": 600}))
        .send()?
        .json()?;
    let token = issued["token"].as_str().ok_or("no override token")?;
    let product = format!("{}/api/products/OUT-0091", sys.edge_url);
    let tester = client()
        .get(&product)
        .header("x-flag-override", token)
        .send()?;
    check(
        tester.status() == 200,
        format!("tester's read: {}", tester.status()),
    )?;
    let plain = client().get(&product).send()?;
    let status = header(&plain, "cache-status");
    let ttl = cache_ttl(&status)?;
    check(
        ttl > 10,
        format!("the origin's lifetime, not the tester's 10 s: {status}"),
    )
}

// ---- bad input at the edge ---------------------------------------------------

pub fn bad_requests_get_problem_responses(sys: &System) -> Outcome {
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

pub fn a_panic_becomes_a_500_problem_and_the_next_request_is_served() -> Outcome {
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

/// This area's scenarios: those that share the system, then those that
/// start their own.
pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        (
            "hardening::streamed_bodies_past_the_limit_are_413",
            streamed_bodies_past_the_limit_are_413,
        ),
        (
            "hardening::numbers_past_2_53_never_cross_into_the_cart",
            numbers_past_2_53_never_cross_into_the_cart,
        ),
        (
            "hardening::unknown_methods_are_405_with_allow",
            unknown_methods_are_405_with_allow,
        ),
        (
            "edge::bad_requests_get_problem_responses",
            bad_requests_get_problem_responses,
        ),
        (
            "hardening::a_retried_checkout_gets_its_first_answer",
            a_retried_checkout_gets_its_first_answer,
        ),
        (
            "hardening::personal_answers_are_never_stored",
            personal_answers_are_never_stored,
        ),
        (
            "hardening::cross_site_writes_without_cookies_are_refused",
            cross_site_writes_without_cookies_are_refused,
        ),
        (
            "hardening::a_login_revokes_the_session_it_replaces",
            a_login_revokes_the_session_it_replaces,
        ),
        (
            "hardening::a_flag_override_never_changes_the_shared_catalog",
            a_flag_override_never_changes_the_shared_catalog,
        ),
        ("edge::health_answers", |sys: &System| {
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
    let isolated: Vec<(&'static str, super::Isolated)> = vec![(
        "isolated::a_panic_becomes_a_500_problem_and_the_next_request_is_served",
        a_panic_becomes_a_500_problem_and_the_next_request_is_served,
    )];
    (shared, isolated)
}
