//! `cargo xtask bench [writes]`: catalog reads, sessions and forwarded
//! writes through the edge, printing numbers.
//! It measures, it does not judge: nothing here fails on a slow machine.
//!
//! The edge runs under `wrangler dev`, whose proxy and second workerd
//! process cap throughput well below what workerd alone serves; the figures
//! are a floor for the Worker, and the origin-request ratios are exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use e2e::{System, SystemOptions};

use crate::{build, tools};

const CLIENTS: usize = 16;
const CACHED_READ_SECONDS: u64 = 10;
const ZIPF_READS: usize = 10_000;
/// Seeded so runs compare like with like.
const SEED: u64 = 0x5EED_CAFE;

/// xorshift64*: enough randomness to pick SKUs, reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s = 1.0) over `n` ranks: the cumulative distribution to sample from.
fn zipf_cdf(n: usize) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

fn sample(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = rng.next_f64();
    cdf.partition_point(|c| *c < u).min(cdf.len() - 1)
}

fn all_skus() -> Vec<String> {
    let prefixes = [
        "KIT", "COF", "OUT", "APP", "FOO", "HOM", "GAR", "OFF", "AUD", "FIT", "TOY", "BAT",
    ];
    prefixes
        .iter()
        .flat_map(|p| (1..=100).map(move |i| format!("{p}-{i:04}")))
        .collect()
}

fn origin_product_requests(client: &reqwest::blocking::Client, sys: &System) -> Result<u64> {
    let url = format!(
        "{}/_test/requests",
        sys.origin_url("us").unwrap_or_default()
    );
    let counts: serde_json::Value = client.get(url).send()?.json()?;
    Ok(counts
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("/catalog/products/"))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0))
}

/// Reads `paths` with `CLIENTS` threads; returns latencies in microseconds.
fn load(
    edge: &str,
    paths: Arc<Vec<String>>,
    deadline: Option<Duration>,
) -> Result<(Vec<u64>, Duration, usize)> {
    load_with(edge, paths, deadline, None)
}

/// [`load`], sending `cookie` with every request.
fn load_with(
    edge: &str,
    paths: Arc<Vec<String>>,
    deadline: Option<Duration>,
    cookie: Option<String>,
) -> Result<(Vec<u64>, Duration, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (edge, paths, stop, cookie) =
                (edge.to_owned(), paths.clone(), stop.clone(), cookie.clone());
            std::thread::spawn(move || -> (Vec<u64>, usize) {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default();
                let (mut latencies, mut errors) = (Vec::new(), 0);
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let Some(path) = paths.get(i % paths.len()) else {
                        break;
                    };
                    if deadline.is_none() && i >= paths.len() {
                        break;
                    }
                    let t = Instant::now();
                    let mut request = client.get(format!("{edge}{path}"));
                    if let Some(c) = &cookie {
                        request = request.header("cookie", c);
                    }
                    match request.send().and_then(|r| r.bytes().map(|_| ())) {
                        Ok(()) => latencies.push(t.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                    i += CLIENTS;
                }
                (latencies, errors)
            })
        })
        .collect();
    if let Some(d) = deadline {
        std::thread::sleep(d);
        stop.store(true, Ordering::Relaxed);
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))?;
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    Ok((all, started.elapsed(), errors))
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

/// Native cost of opening a session token, as the edge does per request.
pub fn session_verify() -> Result<()> {
    use edge::session::token::{SessionClaims, SessionKeys};
    let keys = SessionKeys::from_config("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "")
        .map_err(|e| anyhow::anyhow!(e))?;
    let claims = SessionClaims {
        sub: "user-1".into(),
        roles: vec!["customer".into()],
        region: "eu".into(),
        sid: "0123456789abcdef0123456789abcdef".into(),
        iat: 1_000,
        idle_exp: 2_800,
        exp: 44_200,
    };
    let token = keys.seal(&claims).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    const N: u32 = 20_000;
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(keys.open(std::hint::black_box(&token), 1_001))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    println!(
        "session token open (PASETO v4.local, native, {N} opens): {per:.2} µs each ({} byte cookie)",
        token.len()
    );
    Ok(())
}

/// Runs an xtask command optimised, for a per-request cost: `cargo xtask`
/// itself is a debug build.
pub(crate) fn release(command: &str) -> Result<()> {
    crate::run::status(std::process::Command::new("cargo").args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "xtask",
        "--",
        command,
    ]))
}

/// The Worker and origin built, and the whole system started on scratch
/// state. `E2E_PREBUILT` (as for the end-to-end tests) skips the builds
/// when both are known to be current.
pub(crate) fn built_system() -> Result<System> {
    if std::env::var_os("E2E_PREBUILT").is_none() {
        let tools = tools::ensure()?;
        build::worker(&tools)?;
        build::origin(&tools)?;
    }
    System::start(SystemOptions::default())
}

/// Which part to run: everything, or one of `writes`, `cart`.
pub fn run(only: Option<&str>) -> Result<()> {
    e2e::process::stop_children_on_signal()?;
    if let Some(part) = only {
        let sys = built_system()?;
        let client = reqwest::blocking::Client::new();
        return match part {
            "writes" => {
                forwarded_writes(&sys, &client, &demo_session_cookie(&client, &sys.edge_url)?)
            }
            "cart" => cart_mutations(&sys, &client),
            other => anyhow::bail!("no benchmark part {other:?} (writes, cart)"),
        };
    }
    release("bench-session")?;
    let tools = tools::ensure()?;
    build::worker(&tools)?;
    build::origin(&tools)?;
    println!("\n==> starting origins and wrangler dev (scratch state)");
    // The origins' catalog Cache-Control can be varied to see how the
    // freshness lifetime drives revalidations (`BENCH_ORIGIN_CACHE_CONTROL`).
    let origin_cache_control = std::env::var("BENCH_ORIGIN_CACHE_CONTROL").ok();
    if let Some(cc) = &origin_cache_control {
        println!("origin catalog Cache-Control: {cc}");
    }
    let sys = System::start(SystemOptions {
        origin_cache_control,
        ..SystemOptions::default()
    })?;
    let client = reqwest::blocking::Client::new();
    let skus = all_skus();

    // 1. Cached product reads: 100 hot SKUs, warmed, then read for a while.
    let hot: Vec<String> = skus
        .iter()
        .take(100)
        .map(|s| format!("/api/products/{s}"))
        .collect();
    load(&sys.edge_url, Arc::new(hot.clone()), None)?;
    let (lat, took, errors) = load(
        &sys.edge_url,
        Arc::new(hot),
        Some(Duration::from_secs(CACHED_READ_SECONDS)),
    )?;
    println!(
        "\ncached product reads ({CLIENTS} clients, {CACHED_READ_SECONDS} s): {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        lat.len(),
        lat.len() as f64 / took.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
    );

    // 2. Zipf(1.0) over the whole catalog: origin requests per 10,000 reads.
    let cdf = zipf_cdf(skus.len());
    let mut rng = Rng(SEED);
    let zipf = |rng: &mut Rng| -> Vec<String> {
        (0..ZIPF_READS)
            .map(|_| format!("/api/products/{}", skus[sample(&cdf, rng)]))
            .collect()
    };
    let measure = |label: &str, rng: &mut Rng| -> Result<()> {
        let before = origin_product_requests(&client, &sys).context("reading origin counters")?;
        let (lat, _, errors) = load(&sys.edge_url, Arc::new(zipf(rng)), None)?;
        let n = origin_product_requests(&client, &sys)? - before;
        println!(
            "zipf(1.0), 10,000 reads, {label}: {n} origin requests ({:.2} per 1,000 reads), p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
            n as f64 / 10.0,
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
        Ok(())
    };
    measure("cache as left by step 1", &mut rng)?;
    let all: Vec<String> = skus.iter().map(|s| format!("/api/products/{s}")).collect();
    load(&sys.edge_url, Arc::new(all), None)?;
    measure("warm (every SKU read once before)", &mut rng)?;
    // 3. Who-am-I with a session (token opened + revocation check in a
    //    Durable Object) versus without.
    let cookie = demo_session_cookie(&client, &sys.edge_url)?;
    let whoami = Arc::new(vec!["/api/session".to_owned()]);
    for (label, cookie) in [
        ("without a session", None),
        ("with a session", Some(cookie)),
    ] {
        let (lat, took, errors) = load_with(
            &sys.edge_url,
            whoami.clone(),
            Some(Duration::from_secs(5)),
            cookie,
        )?;
        println!(
            "GET /api/session {label} ({CLIENTS} clients, 5 s): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
            lat.len() as f64 / took.as_secs_f64(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
    }
    forwarded_writes(&sys, &client, &demo_session_cookie(&client, &sys.edge_url)?)?;
    cart_mutations(&sys, &client)?;
    println!(
        "\nmachine: {} cores; edge under wrangler dev; figures vary ±10% run to run",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    Ok(())
}

const WRITES: usize = 300;

/// A demo customer's session cookie (`name=value`), from the edge's own login.
pub fn demo_session_cookie(client: &reqwest::blocking::Client, edge: &str) -> Result<String> {
    let login = client
        .post(format!("{edge}/api/session"))
        .json(&serde_json::json!({"email": "alice@example.com", "password": "alice-demo-password"}))
        .send()?;
    login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .context("the demo login set no session cookie")
}

/// 4. A forwarded write (a review) through the edge, against the same
///    write signed here and sent to the origin directly, interleaved so
///    both see the same machine; one client, so latency is not queueing.
fn forwarded_writes(sys: &System, client: &reqwest::blocking::Client, cookie: &str) -> Result<()> {
    use origin_adapter::forward::{EdgeContext, ForwardedWrite, encode_claims, signed_headers};
    let origin = sys.origin_url("us").context("no us origin")?.to_owned();
    let authority = origin.trim_start_matches("http://").to_owned();
    let claims = encode_claims(&origin_adapter::wire::EdgeClaims {
        user_id: "user-0001".into(),
        roles: vec!["customer".into()],
        region: "us".into(),
        session_id: "bench".into(),
    });
    let body = serde_json::to_vec(&serde_json::json!({
        "sku": "KIT-0002", "rating": 5, "title": "Bench", "body": "Measured."
    }))?;
    let (mut via_edge, mut direct) = (Vec::new(), Vec::new());
    for i in 0..WRITES {
        let started = Instant::now();
        let r = client
            .post(format!("{}/api/reviews", sys.edge_url))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()?;
        via_edge.push(started.elapsed().as_micros() as u64);
        anyhow::ensure!(r.status() == 201, "edge write: {}", r.status());

        let key = format!("bench-direct-{i}");
        let nonce = format!("bench-nonce-{i}-{}", std::process::id());
        let write = ForwardedWrite {
            method: "POST",
            authority: &authority,
            path: "/reviews",
            query: None,
            content_type: "application/json",
            idempotency_key: &key,
            body: &body,
            context: EdgeContext {
                claims: Some(&claims),
                ..EdgeContext::default()
            },
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let mut req = client.post(format!("{origin}/reviews")).body(body.clone());
        for (name, value) in signed_headers(&write, &sys.signing_key, now, &nonce)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            req = req.header(name, value);
        }
        let started = Instant::now();
        let r = req.send()?;
        direct.push(started.elapsed().as_micros() as u64);
        anyhow::ensure!(r.status() == 201, "direct write: {}", r.status());
    }
    via_edge.sort_unstable();
    direct.sort_unstable();
    let ms = percentile;
    println!(
        "\nforwarded write (POST /api/reviews, 1 client, {WRITES} each): through the edge p50 {:.2} ms, p99 {:.2} ms; \
         origin directly p50 {:.2} ms, p99 {:.2} ms; edge adds p50 {:.2} ms, p99 {:.2} ms",
        ms(&via_edge, 0.50),
        ms(&via_edge, 0.99),
        ms(&direct, 0.50),
        ms(&direct, 0.99),
        ms(&via_edge, 0.50) - ms(&direct, 0.50),
        ms(&via_edge, 0.99) - ms(&direct, 0.99),
    );
    Ok(())
}

const CART_MUTATIONS: usize = 400;

/// 5. Mutations of one cart (quantity changes of one line, each a stored,
///    audited change in the cart's Durable Object): one client in sequence,
///    then 16 clients at once on the same cart.
fn cart_mutations(sys: &System, client: &reqwest::blocking::Client) -> Result<()> {
    let first = client
        .post(format!("{}/api/cart/items", sys.edge_url))
        .json(&serde_json::json!({"sku": "KIT-0009", "quantity": 1}))
        .send()?;
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .context("no cart cookie")?;
    let url = format!("{}/api/cart/items/KIT-0009", sys.edge_url);
    let put = |i: usize| -> Result<u64> {
        let started = Instant::now();
        let r = client
            .put(&url)
            .header("cookie", &cookie)
            .json(&serde_json::json!({"quantity": 1 + i % 99}))
            .send()?;
        anyhow::ensure!(r.status() == 200, "mutation: {}", r.status());
        Ok(started.elapsed().as_micros() as u64)
    };
    let started = Instant::now();
    let mut sequential = (0..CART_MUTATIONS).map(put).collect::<Result<Vec<_>>>()?;
    let took = started.elapsed();
    sequential.sort_unstable();
    println!(
        "\ncart mutations, one cart, 1 client ({CART_MUTATIONS}): {:.0} per s, p50 {:.2} ms, p99 {:.2} ms",
        CART_MUTATIONS as f64 / took.as_secs_f64(),
        percentile(&sequential, 0.50),
        percentile(&sequential, 0.99)
    );
    let started = Instant::now();
    let mut concurrent: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let put = &put;
                s.spawn(move || {
                    (0..CART_MUTATIONS / CLIENTS)
                        .map(|i| put(c * 1000 + i))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().and_then(Result::ok))
            .flatten()
            .collect()
    });
    let took = started.elapsed();
    concurrent.sort_unstable();
    println!(
        "cart mutations, one cart, {CLIENTS} clients ({} done): {:.0} per s, p50 {:.2} ms, p99 {:.2} ms",
        concurrent.len(),
        concurrent.len() as f64 / took.as_secs_f64(),
        percentile(&concurrent, 0.50),
        percentile(&concurrent, 0.99)
    );
    Ok(())
}
