//! The edge's one JSON line per request: what an operator filters on, and
//! nothing a customer would not want in a log.

use std::thread;
use std::time::{Duration, Instant};

use e2e::System;
use libtest_mimic::Failed;
use serde_json::{Value, json};

use super::{Outcome, add_to_cart, cart_cookie, check, client, header, log_lines};

/// The line of the request that answered with `request_id`.
fn line_of(sys: &System, request_id: &str) -> Result<Value, Failed> {
    let needle = format!("\"request_id\":\"{request_id}\"");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = log_lines(sys, &needle, "route").into_iter().next() {
            return Ok(line);
        }
        check(
            Instant::now() < deadline,
            format!("no log line for {request_id}"),
        )?;
        thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `wrangler.toml`'s `ACCESS_LOG_HIT_SAMPLE = "10"` picks the
/// fresh hit answered with `request_id` (its first 32 bits, hex).
fn hit_sampled(request_id: &str) -> bool {
    request_id
        .get(..8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .is_some_and(|draw| draw % 10 == 0)
}

pub fn every_request_logs_one_line_an_operator_can_filter(sys: &System) -> Outcome {
    let product = format!("{}/api/products/KIT-0041", sys.edge_url);
    let miss = client().get(&product).send()?;
    let line = line_of(sys, &header(&miss, "x-request-id"))?;
    check(
        line["cache"].as_str().is_some_and(|c| c.contains("fwd="))
            && line.get("sample_rate").is_none(),
        format!("a miss is always logged, unsampled: {line}"),
    )?;
    // Fresh hits are logged one in ten, chosen by their request id: read
    // until both kinds were answered (at most 300 reads; the chance that
    // 300 give only one kind is below 1e-13).
    let (mut logged, mut unlogged) = (None, None);
    for _ in 0..300 {
        let hit = client().get(&product).send()?;
        check(
            !header(&hit, "server-timing").is_empty(),
            "Server-Timing on a catalog read",
        )?;
        check(
            header(&hit, "cache-status").contains(";hit"),
            "the reads after the first are fresh hits",
        )?;
        let id = header(&hit, "x-request-id");
        let slot = if hit_sampled(&id) {
            &mut logged
        } else {
            &mut unlogged
        };
        slot.get_or_insert(id);
        if logged.is_some() && unlogged.is_some() {
            break;
        }
    }
    let (Some(logged), Some(unlogged)) = (logged, unlogged) else {
        return Err("300 hits were all sampled, or none was".into());
    };
    let line = line_of(sys, &logged)?;
    check(
        line["route"] == "/api/products/{sku}"
            && line["status"] == 200
            && line["method"] == "GET"
            && line["cache"].as_str().is_some_and(|c| c.contains("hit"))
            && line["sample_rate"] == 10
            && line["trace_id"].as_str().is_some_and(|t| t.len() == 32)
            && line["time"].as_str().is_some_and(|t| t.ends_with('Z'))
            && line["duration_ms"].is_i64(),
        format!("catalog hit: {line}"),
    )?;
    // Lines come in order: once a later request's line is in, the
    // unsampled hit's would be too.
    let later = client()
        .get(format!("{}/api/products/KIT-0043", sys.edge_url))
        .send()?;
    line_of(sys, &header(&later, "x-request-id"))?;
    check(
        log_lines(sys, &format!("\"request_id\":\"{unlogged}\""), "route").is_empty(),
        format!("the hit {unlogged}, not sampled, has no line"),
    )?;

    let added = add_to_cart(sys, None, json!({"sku": "KIT-0042", "quantity": 1}));
    check(
        !header(&added, "server-timing").is_empty(),
        "Server-Timing on a cart change",
    )?;
    let cookie = cart_cookie(&added)?;
    let line = line_of(sys, &header(&added, "x-request-id"))?;
    check(
        line["route"] == "/api/cart/items" && line["status"] == 200,
        format!("cart change: {line}"),
    )?;
    let secret = cookie.split('=').nth(1).unwrap_or("cookie");
    check(!line.to_string().contains(secret), "no cookie in the line")?;

    let placed = client()
        .post(format!("{}/api/cart/checkout", sys.edge_url))
        .header("cookie", &cookie)
        .header("idempotency-key", "\"log-checkout-1\"")
        .send()?;
    let line = line_of(sys, &header(&placed, "x-request-id"))?;
    check(
        line["checkout"] == "placed"
            && line["region"].is_string()
            && line["attempts"].as_u64() >= Some(1),
        format!("checkout: {} {line}", placed.status()),
    )?;

    let refused = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .header("origin", "https://evil.example")
        .json(&json!({"sku": "KIT-0042", "quantity": 1}))
        .send()?;
    let line = line_of(sys, &header(&refused, "x-request-id"))?;
    check(
        line["status"] == 403 && line["route"] == "/api/cart/items",
        format!("refused: {line}"),
    )?;

    let missing = client()
        .get(format!("{}/no/such/thing?email=a@b.c", sys.edge_url))
        .send()?;
    let line = line_of(sys, &header(&missing, "x-request-id"))?;
    check(
        line["route"] == "(other)" && !line.to_string().contains("a@b.c"),
        format!("never the raw path or query: {line}"),
    )
}

pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![(
        "logs::every_request_logs_one_line_an_operator_can_filter",
        every_request_logs_one_line_an_operator_can_filter,
    )];
    (shared, Vec::new())
}
