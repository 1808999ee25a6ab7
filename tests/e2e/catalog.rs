//! Catalog scenarios: caching, coalescing, purge, validation, staleness.

use std::thread;
use std::time::{Duration, Instant};

use e2e::{System, SystemOptions};
use libtest_mimic::Failed;
use origin_adapter::keys::SigningKey;
use origin_adapter::purge::signed_purge_headers;
use serde_json::{Value, json};

use origin_adapter::wire::Product;

use super::{
    Outcome, add_to_cart, cart_cookie, change_price, check, client, expect_problem, header,
    origin_product,
};

fn get(sys: &System, path: &str) -> Result<reqwest::blocking::Response, Failed> {
    Ok(client().get(format!("{}{path}", sys.edge_url)).send()?)
}

/// How often the `us` origin was asked for `target` (path and query).
fn origin_requests(sys: &System, target: &str) -> Result<u64, Failed> {
    let url = format!(
        "{}/_test/requests",
        sys.origin_url("us").unwrap_or_default()
    );
    let counts: Value = client().get(url).send()?.json()?;
    Ok(counts[target].as_u64().unwrap_or(0))
}

pub fn purge_after_a_price_change_reaches_product_and_listing(sys: &System) -> Outcome {
    let product = "/api/products/KIT-0009";
    let listing = "/api/products?category=kitchen&sort=price&limit=100";
    get(sys, product)?;
    get(sys, listing)?;
    let cached = get(sys, product)?;
    check(
        header(&cached, "cache-status").contains(";hit"),
        "product cached",
    )?;
    check(
        header(&get(sys, listing)?, "cache-status").contains(";hit"),
        "listing cached",
    )?;
    let old: Value = cached.json()?;

    let new_price = old["price"]["amount_minor"].as_i64().unwrap_or(0) + 1000;
    let changed = change_price(sys, "KIT-0009", new_price)?;
    check(
        changed["purge"]["status"] == 200,
        format!("the origin's purge: {changed}"),
    )?;

    let after = get(sys, product)?;
    check(
        header(&after, "cache-status").contains("fwd=uri-miss"),
        "the product was purged",
    )?;
    let after: Value = after.json()?;
    check(
        after["price"]["amount_minor"] == new_price,
        format!("new price on the product: {after}"),
    )?;
    let page: Value = get(sys, listing)?.json()?;
    let shown = page["products"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["sku"] == "KIT-0009");
    check(
        shown.is_some_and(|p| p["price"]["amount_minor"] == new_price),
        format!("new price in the listing: {shown:?}"),
    )
}

pub fn concurrent_misses_reach_the_origin_once(sys: &System) -> Outcome {
    let path = "/api/products/GAR-0050";
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let url = format!("{}{path}", sys.edge_url);
            thread::spawn(move || {
                client()
                    .get(url)
                    .send()
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for w in workers {
        let status = w.join().map_err(|_| "a request thread panicked")??;
        check(
            status == 200,
            format!("a concurrent read answered {status}"),
        )?;
    }
    let n = origin_requests(sys, "/catalog/products/GAR-0050")?;
    check(
        n == 1,
        format!("50 concurrent reads reached the origin {n} times"),
    )
}

pub fn if_none_match_gives_304(sys: &System) -> Outcome {
    let first = get(sys, "/api/products/HOM-0004")?;
    let etag = header(&first, "etag");
    check(
        etag.starts_with('"') && etag.len() > 10,
        format!("strong ETag: {etag:?}"),
    )?;
    let again = client()
        .get(format!("{}/api/products/HOM-0004", sys.edge_url))
        .header("if-none-match", &etag)
        .send()?;
    check(
        again.status() == 304,
        format!("If-None-Match: {}", again.status()),
    )?;
    check(header(&again, "etag") == etag, "the 304 carries the ETag")?;
    check(again.bytes()?.is_empty(), "a 304 has no body")?;
    let other = client()
        .get(format!("{}/api/products/HOM-0004", sys.edge_url))
        .header("if-none-match", "\"something-else\"")
        .send()?;
    check(other.status() == 200, "a different tag gets the body")
}

pub fn equivalent_urls_share_one_entry(sys: &System) -> Outcome {
    let first = get(sys, "/api/products?sort=price&category=toys")?;
    check(
        first.status() == 200,
        format!("listing: {}", first.status()),
    )?;
    let second = get(
        sys,
        "/api/products?utm_source=mail&category=toys&gclid=abc&limit=24&sort=price",
    )?;
    check(
        header(&second, "cache-status").contains(";hit"),
        format!("second: {}", header(&second, "cache-status")),
    )?;
    let n = origin_requests(sys, "/catalog/products?category=toys&limit=24&sort=price")?;
    check(n == 1, format!("the origin saw the listing {n} times"))
}

pub fn no_customer_data_in_shared_answers(sys: &System) -> Outcome {
    let a = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "FIT-0001", "quantity": 1}),
    ))?;
    let b = cart_cookie(&add_to_cart(
        sys,
        None,
        json!({"sku": "FIT-0002", "quantity": 2}),
    ))?;
    check(a != b, "two customers, two carts")?;
    let read = |cookie: &str| -> Result<(String, String, String), Failed> {
        let r = client()
            .get(format!("{}/api/products/FIT-0003", sys.edge_url))
            .header("cookie", cookie)
            .send()?;
        Ok((
            header(&r, "set-cookie"),
            header(&r, "cache-control"),
            r.text()?,
        ))
    };
    let (set_a, cc_a, body_a) = read(&a)?;
    let (set_b, _, body_b) = read(&b)?;
    check(
        set_a.is_empty() && set_b.is_empty(),
        "catalog answers set no cookies",
    )?;
    check(cc_a.starts_with("public"), format!("Cache-Control: {cc_a}"))?;
    check(body_a == body_b, "both customers see the same product")?;
    for secret in [&a, &b] {
        let id = secret.split('=').nth(1).unwrap_or_default();
        check(!body_a.contains(id), "no cart id inside a catalog answer")?;
    }
    Ok(())
}

pub fn bad_catalog_queries_name_the_parameter(sys: &System) -> Outcome {
    for (path, parameter) in [
        ("/api/products?limit=0", "limit"),
        ("/api/products?limit=1000", "limit"),
        ("/api/products?sort=random", "sort"),
        ("/api/products?category=no-such-category", "category"),
        ("/api/products?category=%zz", "category"),
        ("/api/products?colour=red", "colour"),
        ("/api/search?q=", "q"),
        ("/api/products?cursor=abc.def", "cursor"),
    ] {
        let body = expect_problem(get(sys, path)?, 400)?;
        let detail = body["detail"].as_str().unwrap_or_default();
        check(
            detail.contains(&format!("`{parameter}`")),
            format!("{path}: {detail}"),
        )?;
    }
    let long = format!("/api/search?q={}", "a".repeat(2000));
    expect_problem(get(sys, &long)?, 400)?;
    expect_problem(get(sys, "/api/products/%FF%FE")?, 400)?;
    expect_problem(get(sys, "/api/products/NOPE-0001")?, 404)?;
    let post = client()
        .post(format!("{}/api/products", sys.edge_url))
        .send()?;
    let allow = header(&post, "allow");
    expect_problem(post, 405)?;
    check(allow == "GET, HEAD", format!("Allow: {allow:?}"))?;
    let head = client()
        .head(format!("{}/api/products/KIT-0001", sys.edge_url))
        .send()?;
    check(
        head.status() == 200 && !header(&head, "etag").is_empty(),
        format!("HEAD: {}", head.status()),
    )?;
    check(head.bytes()?.is_empty(), "HEAD has no body")?;

    // A genuine cursor works; the same cursor altered does not.
    let page: Value = get(sys, "/api/products?category=office&limit=5")?.json()?;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    check(!cursor.is_empty(), "a first page has a next cursor")?;
    let next = get(
        sys,
        &format!("/api/products?category=office&limit=5&cursor={cursor}"),
    )?;
    check(
        next.status() == 200,
        format!("next page: {}", next.status()),
    )?;
    let next: Value = next.json()?;
    check(
        next["products"][0]["sku"] != page["products"][0]["sku"],
        "the next page moves on",
    )?;
    let mut tampered = cursor.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    let body = expect_problem(
        get(
            sys,
            &format!("/api/products?category=office&limit=5&cursor={tampered}"),
        )?,
        400,
    )?;
    check(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("`cursor`"),
        format!("tampered cursor: {body}"),
    )
}

pub fn search_and_categories_are_cached(sys: &System) -> Outcome {
    let search: Value = get(sys, "/api/search?q=walnut%20lamp")?.json()?;
    let found = search["products"].as_array().cloned().unwrap_or_default();
    check(!found.is_empty(), format!("search found nothing: {search}"))?;
    check(
        found.iter().all(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.contains("Walnut") && n.contains("Lamp"))
        }),
        format!("search matched something else: {search}"),
    )?;
    let categories: Value = get(sys, "/api/categories")?.json()?;
    check(
        categories.as_array().is_some_and(|c| c.len() == 12),
        format!("categories: {categories}"),
    )?;
    for path in ["/api/search?q=walnut%20lamp", "/api/categories"] {
        // A concurrent scenario's purge may remove the category list between
        // two reads; a third read is then a hit again.
        let mut hit = None;
        for _ in 0..3 {
            let again = get(sys, path)?;
            if header(&again, "cache-status").contains(";hit") {
                hit = Some(again);
                break;
            }
        }
        let hit = hit.ok_or_else(|| format!("{path} was never served from the cache"))?;
        check(
            !header(&hit, "cache-tag").is_empty(),
            "entries carry Cache-Tag",
        )?;
        check(
            header(&hit, "server-timing").starts_with("edge;dur="),
            "Server-Timing",
        )?;
    }
    Ok(())
}

pub fn unknown_skus_are_negatively_cached(sys: &System) -> Outcome {
    for _ in 0..5 {
        expect_problem(get(sys, "/api/products/MISSING-0042")?, 404)?;
    }
    let n = origin_requests(sys, "/catalog/products/MISSING-0042")?;
    check(
        n == 1,
        format!("5 reads of an unknown SKU reached the origin {n} times"),
    )
}

fn purge(
    sys: &System,
    key: &SigningKey,
    body: &[u8],
    nonce: &str,
    now: i64,
) -> Result<reqwest::blocking::Response, Failed> {
    let authority = sys.edge_url.trim_start_matches("http://");
    let mut req = client()
        .post(format!("{}/api/purge", sys.edge_url))
        .body(body.to_vec());
    for (name, value) in signed_purge_headers(authority, "/api/purge", body, key, now, nonce)
        .map_err(|e| e.to_string())?
    {
        req = req.header(name, value);
    }
    Ok(req.send()?)
}

pub fn only_signed_purges_are_obeyed(sys: &System) -> Outcome {
    let path = "/api/products/AUD-0033";
    get(sys, path)?;
    let body = br#"{"skus":["AUD-0033"]}"#;
    let unsigned = client()
        .post(format!("{}/api/purge", sys.edge_url))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()?;
    expect_problem(unsigned, 401)?;
    let stranger = SigningKey::from_seed(sys.origin_key.keyid(), [9; 32]);
    expect_problem(purge(sys, &stranger, body, "p-1", super::unix_now())?, 401)?;
    // The edge's own write key is not a purge key either.
    expect_problem(
        purge(sys, &sys.signing_key, body, "p-2", super::unix_now())?,
        401,
    )?;
    check(
        header(&get(sys, path)?, "cache-status").contains(";hit"),
        "nothing was purged",
    )?;

    let now = super::unix_now();
    let ok = purge(sys, &sys.origin_key, body, "p-3", now)?;
    check(
        ok.status() == 200,
        format!("a signed purge: {}", ok.status()),
    )?;
    expect_problem(purge(sys, &sys.origin_key, body, "p-3", now)?, 401)?;
    check(
        header(&get(sys, path)?, "cache-status").contains("fwd=uri-miss"),
        "the signed purge removed the entry",
    )
}

/// Short windows (max-age 1 s, stale-while-revalidate 2 s, stale-if-error
/// 10 min) and a 1 s catalog timeout, on a system of its own.
pub fn stale_answers_when_the_origin_fails_or_hangs() -> Outcome {
    let mut sys = System::start(SystemOptions {
        origin_cache_control: Some(
            "public, max-age=1, stale-while-revalidate=2, stale-if-error=600".into(),
        ),
        edge_vars: vec![("CATALOG_TIMEOUT_MS".into(), "1000".into())],
        ..SystemOptions::default()
    })?;
    let sys_ref = &sys;
    // stale-while-revalidate: served at once, refreshed in the background.
    get(sys_ref, "/api/products/KIT-0020")?;
    get(sys_ref, "/api/products/KIT-0021")?;
    thread::sleep(Duration::from_millis(1500));
    let swr = get(sys_ref, "/api/products/KIT-0020")?;
    let status = header(&swr, "cache-status");
    check(
        swr.status() == 200 && status.contains(";hit;ttl="),
        format!("stale-while-revalidate: {status}"),
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while origin_requests(sys_ref, "/catalog/products/KIT-0020")? < 2 {
        check(
            Instant::now() < deadline,
            "the background refresh never reached the origin",
        )?;
        thread::sleep(Duration::from_millis(100));
    }

    // stale-if-error: past max-age + stale-while-revalidate, origin down.
    thread::sleep(Duration::from_millis(3500));
    sys.stop_origin("us");
    let stale = get(&sys, "/api/products/KIT-0021")?;
    let status = header(&stale, "cache-status");
    check(
        stale.status() == 200,
        format!("origin down, cached product: {}", stale.status()),
    )?;
    check(
        status.contains("fwd=stale") && status.contains("fwd-status=502"),
        format!("marked stale: {status}"),
    )?;
    expect_problem(get(&sys, "/api/products/KIT-0022")?, 502)?;

    // A hanging origin: the answer comes within the route's timeout.
    sys.start_origin("us")?;
    let faults = format!("{}/_test/faults", sys.origin_url("us").unwrap_or_default());
    client()
        .post(faults)
        .json(&json!({"latency_ms": 10_000}))
        .send()?;
    let started = Instant::now();
    let hung = get(&sys, "/api/products/KIT-0023")?;
    let took = started.elapsed();
    expect_problem(hung, 504)?;
    check(
        took < Duration::from_secs(5),
        format!("a 1 s timeout answered after {took:?}"),
    )?;
    let started = Instant::now();
    let stale = get(&sys, "/api/products/KIT-0021")?;
    check(
        stale.status() == 200 && started.elapsed() < Duration::from_secs(5),
        "stale while the origin hangs",
    )?;
    check(
        header(&stale, "cache-status").contains("fwd-status=504"),
        "marked as a timeout",
    )
}

// ---- catalog -------------------------------------------------------------

pub fn product_is_read_from_origin_then_from_cache(sys: &System) -> Outcome {
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

pub fn unknown_and_malformed_skus_are_problems(sys: &System) -> Outcome {
    let r = client()
        .get(format!("{}/api/products/NOPE-9999", sys.edge_url))
        .send()?;
    expect_problem(r, 404)?;
    let r = client()
        .get(format!("{}/api/products/bad%20sku", sys.edge_url))
        .send()?;
    expect_problem(r, 400).map(drop)
}

/// This area's scenarios: those that share the system, then those that
/// start their own.
pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        ("catalog::if_none_match_gives_304", if_none_match_gives_304),
        (
            "catalog::purge_after_a_price_change_reaches_product_and_listing",
            purge_after_a_price_change_reaches_product_and_listing,
        ),
        (
            "catalog::concurrent_misses_reach_the_origin_once",
            concurrent_misses_reach_the_origin_once,
        ),
        (
            "catalog::equivalent_urls_share_one_entry",
            equivalent_urls_share_one_entry,
        ),
        (
            "catalog::no_customer_data_in_shared_answers",
            no_customer_data_in_shared_answers,
        ),
        (
            "catalog::bad_queries_name_the_parameter",
            bad_catalog_queries_name_the_parameter,
        ),
        (
            "catalog::search_and_categories_are_cached",
            search_and_categories_are_cached,
        ),
        (
            "catalog::unknown_skus_are_negatively_cached",
            unknown_skus_are_negatively_cached,
        ),
        (
            "catalog::only_signed_purges_are_obeyed",
            only_signed_purges_are_obeyed,
        ),
        (
            "catalog::product_is_read_from_origin_then_from_cache",
            product_is_read_from_origin_then_from_cache,
        ),
        (
            "catalog::unknown_and_malformed_skus_are_problems",
            unknown_and_malformed_skus_are_problems,
        ),
    ];
    let isolated: Vec<(&'static str, super::Isolated)> = vec![(
        "isolated::catalog_stale_answers_when_the_origin_fails_or_hangs",
        stale_answers_when_the_origin_fails_or_hangs,
    )];
    (shared, isolated)
}
