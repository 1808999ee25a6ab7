//! Session scenarios: login through the identity origin, whoami, logout,
//! wrong credentials, bad cookies, and cross-site writes.

use e2e::System;
use libtest_mimic::Failed;
use serde_json::{Value, json};

use super::{Outcome, add_to_cart, cart_cookie, check, client, expect_problem, header, login};

fn whoami(sys: &System, cookie: &str) -> Result<Value, Failed> {
    Ok(client()
        .get(format!("{}/api/session", sys.edge_url))
        .header("cookie", cookie)
        .send()?
        .json()?)
}

fn session_cookie(r: &reqwest::blocking::Response) -> Result<String, Failed> {
    super::set_cookie(r, "__Host-session=v4.local.")
}

pub fn login_whoami_logout(sys: &System) -> Outcome {
    let r = login(sys, "alice@example.com", "alice-demo-password", None)?;
    check(r.status() == 200, format!("login: {}", r.status()))?;
    let cookie = session_cookie(&r)?;
    let me = whoami(sys, &cookie)?;
    check(
        me["authenticated"] == true && me["user_id"] == "user-0001" && me["region"] == "us",
        format!("whoami: {me}"),
    )?;

    let out = client()
        .delete(format!("{}/api/session", sys.edge_url))
        .header("cookie", &cookie)
        .send()?;
    check(
        out.status() == 200 && header(&out, "set-cookie").contains("Max-Age=0"),
        "logout clears the cookie",
    )?;
    let anonymous: Value = client()
        .get(format!("{}/api/session", sys.edge_url))
        .send()?
        .json()?;
    check(
        anonymous["authenticated"] == false,
        format!("after logout: {anonymous}"),
    )
}

pub fn a_new_login_never_keeps_the_old_session(sys: &System) -> Outcome {
    let first = session_cookie(&login(
        sys,
        "bruno@example.eu",
        "bruno-demo-password",
        None,
    )?)?;
    let second = login(sys, "bruno@example.eu", "bruno-demo-password", Some(&first))?;
    let second = session_cookie(&second)?;
    check(first != second, "a login issues a new token")?;
    let (before, after) = (whoami(sys, &first)?, whoami(sys, &second)?);
    check(
        before["authenticated"] == false && after["session_id"].is_string(),
        format!("the session presented before login survived it: {before} / {after}"),
    )?;
    check(
        whoami(sys, &second)?["region"] == "eu",
        "bruno's home region",
    )
}

pub fn wrong_credentials_say_nothing_more(sys: &System) -> Outcome {
    let wrong_password = expect_problem(login(sys, "alice@example.com", "nope", None)?, 401)?;
    let unknown_email = expect_problem(login(sys, "nobody@example.com", "nope", None)?, 401)?;
    check(
        wrong_password["detail"] == unknown_email["detail"],
        "the same answer for a wrong email or password",
    )?;
    expect_problem(
        client()
            .post(format!("{}/api/session", sys.edge_url))
            .header("content-type", "application/json")
            .body("{\"email\":")
            .send()?,
        400,
    )?;
    expect_problem(
        client()
            .post(format!("{}/api/session", sys.edge_url))
            .header("content-type", "text/plain")
            .body("alice")
            .send()?,
        415,
    )?;
    Ok(())
}

pub fn bad_session_cookies_are_anonymous(sys: &System) -> Outcome {
    let good = session_cookie(&login(
        sys,
        "carol@example.com",
        "carol-demo-password",
        None,
    )?)?;
    let token = good.trim_start_matches("__Host-session=");
    let mut flipped = token.as_bytes().to_vec();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    for cookie in [
        format!("__Host-session={}", String::from_utf8_lossy(&flipped)),
        format!("__Host-session={}", &token[..token.len() - 5]),
        format!("__Host-session={token}; __Host-session={token}"),
        "__Host-session=v4.local.%%%".to_owned(),
        format!("__Host-session={}", "A".repeat(5000)),
    ] {
        let r = client()
            .get(format!("{}/api/session", sys.edge_url))
            .header("cookie", &cookie)
            .send()?;
        let status = r.status();
        let me: Value = r.json()?;
        check(
            status == 200 && me["authenticated"] == false,
            format!("{status} {me} for a bad cookie"),
        )?;
    }
    Ok(())
}

pub fn cross_site_writes_are_refused(sys: &System) -> Outcome {
    let r = add_to_cart(sys, None, json!({"sku": "OFF-0003", "quantity": 1}));
    let cookie = cart_cookie(&r)?;
    let evil = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"sku": "OFF-0003", "quantity": 5}))
        .send()?;
    expect_problem(evil, 403)?;
    let same = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .header("cookie", &cookie)
        .header("origin", sys.edge_url.as_str())
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"sku": "OFF-0003", "quantity": 1}))
        .send()?;
    let status = same.status();
    let cart: Value = same.json()?;
    check(
        status == 200 && cart["lines"][0]["quantity"] == 2,
        format!("same-origin write: {status} {cart}"),
    )
}

/// A short login window (3 failures per account per 3 s) on a system of its own.
pub fn brute_force_is_limited_and_the_limit_lifts() -> Outcome {
    let sys = e2e::System::start(e2e::SystemOptions {
        edge_vars: vec![
            ("LOGIN_WINDOW_SECONDS".into(), "3".into()),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT".into(), "3".into()),
        ],
        ..e2e::SystemOptions::default()
    })?;
    // Fifteen wrong passwords at once: the limit is taken before the
    // identity service is asked, so at most three reach it.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let attempts: Vec<_> = (0..15)
            .map(|_| {
                scope.spawn(|| {
                    login(&sys, "carol@example.com", "guess", None)
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        attempts
            .into_iter()
            .map(|a| a.join().unwrap_or(0))
            .collect()
    });
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let judged = statuses.iter().filter(|s| **s == 401).count();
    check(
        judged <= 3 && refused + judged == 15,
        format!("concurrent wrong passwords: {statuses:?}"),
    )?;
    for _ in 0..3 {
        expect_problem(login(&sys, "alice@example.com", "guess", None)?, 401)?;
    }
    let limited = login(&sys, "alice@example.com", "alice-demo-password", None)?;
    let retry_after = header(&limited, "retry-after");
    expect_problem(limited, 429)?;
    check(
        retry_after
            .parse::<u64>()
            .is_ok_and(|s| (1..=3).contains(&s)),
        format!("Retry-After: {retry_after:?}"),
    )?;
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let lifted = login(&sys, "alice@example.com", "alice-demo-password", None)?;
    check(
        lifted.status() == 200,
        format!("after the window: {}", lifted.status()),
    )
}

pub fn own_orders_only_and_not_after_logout(sys: &System) -> Outcome {
    let alice = session_cookie(&login(
        sys,
        "alice@example.com",
        "alice-demo-password",
        None,
    )?)?;
    // A customer's cart is theirs by user id: no cart cookie.
    let added = add_to_cart(sys, Some(&alice), json!({"sku": "APP-0004", "quantity": 1}));
    check(
        added.status() == 200 && header(&added, "set-cookie").is_empty(),
        format!("add as alice: {}", added.status()),
    )?;
    let placed = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", &alice)
        .send()?;
    check(
        placed.status() == 201,
        format!("checkout: {}", placed.status()),
    )?;
    let placed: Value = placed.json()?;
    let order_id = placed["order"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mine = client()
        .get(format!("{}/api/orders", sys.edge_url))
        .header("cookie", &alice)
        .send()?;
    check(
        header(&mine, "cache-control") == "private, no-store",
        "personal reads are never cached",
    )?;
    let mine: Value = mine.json()?;
    let listed = mine["orders"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["order_id"] == order_id.as_str()));
    check(listed, format!("alice's orders: {mine}"))?;
    let one = client()
        .get(format!("{}/api/orders/{order_id}", sys.edge_url))
        .header("cookie", &alice)
        .send()?;
    check(
        one.status() == 200,
        format!("alice's order: {}", one.status()),
    )?;

    let bruno = session_cookie(&login(
        sys,
        "bruno@example.eu",
        "bruno-demo-password",
        None,
    )?)?;
    let theirs = client()
        .get(format!("{}/api/orders/{order_id}", sys.edge_url))
        .header("cookie", &bruno)
        .send()?;
    expect_problem(theirs, 404)?;
    expect_problem(
        client()
            .get(format!("{}/api/orders", sys.edge_url))
            .send()?,
        401,
    )?;

    client()
        .delete(format!("{}/api/session", sys.edge_url))
        .header("cookie", &alice)
        .send()?;
    let after = client()
        .get(format!("{}/api/orders", sys.edge_url))
        .header("cookie", &alice)
        .send()?;
    expect_problem(after, 401).map(drop)
}

pub fn client_identity_headers_never_reach_the_origin(sys: &System) -> Outcome {
    let cart = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "TOY-0042", "quantity": 1}),
    ))?;
    let forged_claims = "eyJ1c2VyX2lkIjoidXNlci0wMDAxIiwicm9sZXMiOlsic3VwcG9ydCJdLCJyZWdpb24iOiJ1cyIsInNlc3Npb25faWQiOiJ4In0";
    let r = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", &cart)
        .header("x-edge-claims", forged_claims)
        .header("x-user-id", "user-0001")
        .header("signature", "edge=:AAAA:")
        .header("signature-input", "edge=(\"@method\");created=1")
        .header("x-forwarded-for", "10.0.0.1")
        .send()?;
    check(r.status() == 201, format!("checkout: {}", r.status()))?;
    let placed: Value = r.json()?;
    let generation = placed["cart"]["generation"].as_str().unwrap_or_default();
    let cart_id = cart
        .trim_start_matches("__Host-cart=")
        .split('.')
        .next()
        .unwrap_or_default();
    let origin = sys.origin_url("us").unwrap_or_default();
    let url = format!("{origin}/_test/signed-headers?key=cart-g-{cart_id}-{generation}-v1");
    let answer = client().get(&url).send()?;
    let status = answer.status();
    let text = answer.text()?;
    let seen: Vec<(String, String)> = serde_json::from_str(&text)
        .map_err(|e| format!("{url} answered {status} {text:?}: {e}"))?;
    check(!seen.is_empty(), "the origin recorded the order's headers")?;
    check(!seen.is_empty(), "the origin recorded the order's headers")?;
    let value = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    check(
        value("x-edge-claims").is_none(),
        "an anonymous checkout carries no claims",
    )?;
    check(
        value("x-user-id").is_none() && value("x-forwarded-for").is_none(),
        format!("client headers reached the origin: {seen:?}"),
    )?;
    let signature = value("signature").unwrap_or_default();
    check(
        signature.starts_with("edge=:") && signature != "edge=:AAAA:",
        format!("the edge's own signature: {signature}"),
    )
}

/// Rotating the session key logs nobody out (a system of its own: it restarts the edge).
pub fn rotating_the_session_key_keeps_sessions() -> Outcome {
    let mut sys = e2e::System::start(e2e::SystemOptions::default())?;
    let before = session_cookie(&login(
        &sys,
        "carol@example.com",
        "carol-demo-password",
        None,
    )?)?;
    sys.rotate_session_key()?;
    let me = whoami(&sys, &before)?;
    check(
        me["authenticated"] == true && me["user_id"] == "user-0003",
        format!("after rotation: {me}"),
    )?;
    let after = session_cookie(&login(
        &sys,
        "carol@example.com",
        "carol-demo-password",
        None,
    )?)?;
    check(
        whoami(&sys, &after)?["authenticated"] == true,
        "a session sealed with the new key",
    )
}

/// This area's scenarios: those that share the system, then those that
/// start their own.
pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        ("session::login_whoami_logout", login_whoami_logout),
        (
            "session::own_orders_only_and_not_after_logout",
            own_orders_only_and_not_after_logout,
        ),
        (
            "session::client_identity_headers_never_reach_the_origin",
            client_identity_headers_never_reach_the_origin,
        ),
        (
            "session::a_new_login_never_keeps_the_old_session",
            a_new_login_never_keeps_the_old_session,
        ),
        (
            "session::wrong_credentials_say_nothing_more",
            wrong_credentials_say_nothing_more,
        ),
        (
            "session::bad_session_cookies_are_anonymous",
            bad_session_cookies_are_anonymous,
        ),
        (
            "session::cross_site_writes_are_refused",
            cross_site_writes_are_refused,
        ),
    ];
    let isolated: Vec<(&'static str, super::Isolated)> = vec![
        (
            "isolated::session_brute_force_is_limited_and_the_limit_lifts",
            brute_force_is_limited_and_the_limit_lifts,
        ),
        (
            "isolated::session_rotating_the_key_keeps_sessions",
            rotating_the_session_key_keeps_sessions,
        ),
    ];
    (shared, isolated)
}
