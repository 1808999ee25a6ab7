//! `cargo xtask bench flags`: what evaluating a realistic flag document
//! (50 flags, 5 rules each) costs per request — natively (release build),
//! and through the edge (`GET /api/flags` with that document against the
//! small built-in one).

use std::time::Instant;

use anyhow::{Context as _, Result};
use edge::flags::FlagSet;
use serde_json::{Value, json};

const FLAGS: usize = 50;

/// 50 flags, each with five rules: an `in` on country, a `starts_with` on
/// email, a `sem_ver` on the app version, an `==` on a role, and a 20 %
/// `fractional` rollout for everyone else.
pub fn realistic_document() -> Value {
    let mut flags = serde_json::Map::new();
    for i in 0..FLAGS {
        flags.insert(
            format!("flag-{i:02}"),
            json!({
                "state": "ENABLED",
                "variants": { "on": true, "off": false },
                "defaultVariant": "off",
                "targeting": { "if": [
                    { "in": [{ "var": "country" }, ["DE", "AT", "CH"]] }, "on",
                    { "starts_with": [{ "var": "email" }, format!("beta{i}@")] }, "on",
                    { "sem_ver": [{ "var": "appVersion" }, ">=", format!("3.{i}.0")] }, "on",
                    { "==": [{ "var": "segment" }, "vip"] }, "on",
                    { "fractional": [["on", 20], ["off", 80]] }
                ]},
                "metadata": { "clientVisible": true }
            }),
        );
    }
    json!({ "flags": flags })
}

fn context(i: usize) -> serde_json::Map<String, Value> {
    let country = ["US", "DE", "FR", "GB"][i % 4];
    let segment = if i.is_multiple_of(10) {
        "vip"
    } else {
        "regular"
    };
    json!({
        "targetingKey": format!("user-{i:06}"),
        "country": country,
        "email": format!("someone{i}@example.com"),
        "appVersion": "3.10.2",
        "segment": segment,
        "path": "/api/flags"
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// The native half; run in release by `cargo xtask bench flags`.
pub fn native() -> Result<()> {
    let doc = realistic_document();
    let started = Instant::now();
    let set = FlagSet::from_value(&doc).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parse = started.elapsed();
    let keys: Vec<String> = set.keys().map(str::to_owned).collect();
    const REQUESTS: usize = 2_000;
    let contexts: Vec<_> = (0..REQUESTS).map(context).collect();
    let started = Instant::now();
    let mut on = 0usize;
    for ctx in &contexts {
        for key in &keys {
            let d = set.evaluate(
                key,
                std::hint::black_box(ctx),
                &Value::Bool(false),
                1_800_000_000,
            );
            on += usize::from(d.value == Value::Bool(true));
        }
    }
    let per_request = started.elapsed().as_secs_f64() * 1e6 / REQUESTS as f64;
    println!(
        "flags, native: document of {FLAGS} flags x 5 rules parsed and compiled in {:.2} ms; \
         all {FLAGS} evaluated per request in {per_request:.1} µs ({:.2} µs per flag; {on} 'on' of {})",
        parse.as_secs_f64() * 1e3,
        per_request / FLAGS as f64,
        REQUESTS * FLAGS
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

/// Both halves: native in release, then through the edge.
pub fn run() -> Result<()> {
    crate::bench::release("bench-flags-native")?;
    let sys = crate::bench::built_system()?;
    let client = reqwest::blocking::Client::new();
    let base = &sys.edge_url;
    let measure = |label: &str| -> Result<()> {
        let mut ms = Vec::new();
        for _ in 0..300 {
            let started = Instant::now();
            let r = client.get(format!("{base}/api/flags")).send()?;
            anyhow::ensure!(r.status() == 200, "GET /api/flags: {}", r.status());
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "GET /api/flags, {label}: p50 {:.2} ms, p99 {:.2} ms (300 in sequence)",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
        Ok(())
    };
    measure("built-in document (1 client-visible flag)")?;
    let etag = client
        .get(format!("{base}/admin/flags"))
        .bearer_auth(&sys.admin_token)
        .send()?
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .context("no ETag")?;
    let saved = client
        .put(format!("{base}/admin/flags"))
        .bearer_auth(&sys.admin_token)
        .header("if-match", etag)
        .json(&realistic_document())
        .send()?;
    anyhow::ensure!(
        saved.status() == 200,
        "saving the document: {}",
        saved.status()
    );
    std::thread::sleep(std::time::Duration::from_secs(6));
    measure("50 flags x 5 rules, all client-visible")?;
    Ok(())
}
