//! `cargo xtask bench drop`: a drop under a crowd. 2,000 browsers, each
//! with its own cookies, join one drop's queue at once, ask where they
//! stand until admitted, each add the drop's SKU once — 2,000 adds for 100
//! units — and every browser holding a unit checks out. Prints each
//! phase's throughput, latency and statuses, then what was held, sold and
//! ordered, as a Markdown table (also written to `target/bench-drop.md`).
//!
//! It measures, it does not judge: nothing here fails on a slow machine,
//! nor on counts that disagree — those are printed for a person to read,
//! with the first unexpected answers and the edge's own 5xx log lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use durable_objects::drop::{DropRequest, MIN_POLL_MS, QueueOrder, format_time};
use e2e::System;
use e2e::system::REGIONS;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::bench::percentile;

/// The crowd: distinct browsers, each with its own ticket and cart.
const CLIENTS: usize = 2_000;
/// Threads driving the crowd: enough to keep `wrangler dev` busy on a
/// small machine, few enough that the client's own scheduling stays out
/// of the figures.
const THREADS: usize = 48;
const STOCK: i64 = 100;
const SKU: &str = "KIT-0003";
const DROP_ID: &str = "bench-drop";
/// Every browser is admitted at once, so the figures are the queue's
/// and the stock's work, not the pace's.
const ADMIT_PER_MINUTE: i64 = 1_000_000;
/// Long enough that no hold ends before its checkout, however slow the machine.
const HOLD_SECONDS: i64 = 300;
/// One request's limit: a stuck request counts as no answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A phase starts no browser after this; those left are reported.
const PHASE_DEADLINE: Duration = Duration::from_secs(120);
/// A browser asks where it stands at most this many times, within this long.
const MAX_ASKS: usize = 30;
const STANDING_WAIT: Duration = Duration::from_secs(60);
/// The queue answers `429` to a ticket asking again within
/// `MIN_POLL_MS`; a browser waits that long after the last answer, and a
/// little more so the two clocks need not agree to the millisecond.
const ASK_GAP: Duration = Duration::from_millis(MIN_POLL_MS.unsigned_abs() + 100);
/// How long a pending (`202`) checkout is followed.
const CHECKOUT_WAIT: Duration = Duration::from_secs(30);
/// How long the admin view is given to agree with the orders placed.
const SETTLE_WAIT: Duration = Duration::from_secs(15);

/// One request as measured: its status (0: no answer) and its time.
struct Sample {
    status: u16,
    micros: u64,
}

/// What a phase's threads write down: every request, and the unexpected
/// answers (no answer, 5xx) in words.
#[derive(Default)]
struct Log {
    samples: Vec<Sample>,
    surprises: Vec<String>,
}

/// One answer, read whole.
struct Answer {
    status: u16,
    /// `Retry-After` in seconds.
    retry_after: Option<u64>,
    /// The JSON body, or `null`.
    body: Value,
}

/// One browser: the cookies the edge set it, sent back by hand (they are
/// `Secure`, and `wrangler dev` is plain http, where a cookie store would
/// keep them to itself), and how far it got.
#[derive(Default)]
struct Browser {
    cookies: e2e::CookieJar,
    /// When its queue last answered it: the next ask waits [`ASK_GAP`].
    last_asked: Option<Instant>,
    admitted: bool,
    held: bool,
    /// A `202` checkout still to follow.
    pending: bool,
    order_id: Option<String>,
}

impl Browser {
    /// Sends a request as this browser does — its cookies, the edge as
    /// `Origin` (the edge refuses cross-site writes) — keeps the cookies
    /// set, and writes the request down in `log`.
    fn send(
        &mut self,
        (http, edge): (&Client, &str),
        method: Method,
        path: &str,
        body: Option<&Value>,
        log: &mut Log,
    ) -> Answer {
        let mut request = http
            .request(method.clone(), format!("{edge}{path}"))
            .header("origin", edge);
        if !self.cookies.0.is_empty() {
            request = request.header("cookie", self.cookies.header());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let answer = match request.send() {
            Ok(r) => {
                self.cookies.absorb(r.headers());
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                let body = r.json().unwrap_or(Value::Null);
                Answer {
                    status,
                    retry_after,
                    body,
                }
            }
            Err(e) => {
                log.surprises
                    .push(format!("{method} {path}: no answer: {e}"));
                Answer {
                    status: 0,
                    retry_after: None,
                    body: Value::Null,
                }
            }
        };
        log.samples.push(Sample {
            status: answer.status,
            micros: started.elapsed().as_micros() as u64,
        });
        if answer.status >= 500 {
            log.surprises.push(format!(
                "{method} {path}: {} {}",
                answer.status, answer.body
            ));
        }
        answer
    }

    /// Waits until the queue will take this browser's next ask.
    fn wait_to_ask(&self, at_least: Duration) {
        if let Some(last) = self.last_asked {
            std::thread::sleep(at_least.saturating_sub(last.elapsed()));
        }
    }
}

/// A phase as measured.
struct Phase {
    name: &'static str,
    samples: Vec<Sample>,
    took: Duration,
    /// Browsers the phase did not start before [`PHASE_DEADLINE`].
    not_reached: usize,
    surprises: Vec<String>,
}

impl Phase {
    fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.samples {
            *counts.entry(s.status).or_default() += 1;
        }
        counts
    }

    /// `| name | requests | req/s | p50 | p99 | statuses |`
    fn row(&self) -> String {
        if self.samples.is_empty() {
            return format!("| {} | 0 | — | — | — | — |", self.name);
        }
        let mut micros: Vec<u64> = self.samples.iter().map(|s| s.micros).collect();
        micros.sort_unstable();
        let statuses = self
            .statuses()
            .iter()
            .map(|(status, n)| match status {
                0 => format!("no answer ×{n}"),
                s => format!("{s} ×{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let not_reached = match self.not_reached {
            0 => String::new(),
            n => format!("; {n} browsers not reached"),
        };
        format!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {statuses}{not_reached} |",
            self.name,
            self.samples.len(),
            self.samples.len() as f64 / self.took.as_secs_f64().max(1e-9),
            percentile(&micros, 0.50),
            percentile(&micros, 0.99),
        )
    }
}

/// Runs `work` for every browser, in order, on [`THREADS`] threads that
/// start together; gives the browsers back (in no particular order).
fn phase(
    name: &'static str,
    browsers: Vec<Browser>,
    work: impl Fn(&mut Browser, &mut Log) + Sync,
) -> (Phase, Vec<Browser>) {
    let queue = Mutex::new(browsers.into_iter());
    let done = Mutex::new((Vec::new(), Log::default()));
    let start = Barrier::new(THREADS);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                let (mut finished, mut log) = (Vec::new(), Log::default());
                while started.elapsed() < PHASE_DEADLINE {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some(mut browser) = next else { break };
                    work(&mut browser, &mut log);
                    finished.push(browser);
                }
                let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
                done.0.extend(finished);
                done.1.samples.extend(log.samples);
                done.1.surprises.extend(log.surprises);
            });
        }
    });
    let took = started.elapsed();
    let (mut browsers, log) = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    let left: Vec<Browser> = queue
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .collect();
    let not_reached = left.len();
    browsers.extend(left);
    let measured = Phase {
        name,
        samples: log.samples,
        took,
        not_reached,
        surprises: log.surprises,
    };
    println!("    {}", measured.row());
    (measured, browsers)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A JSON answer from a back-office or test route, failing on a non-2xx.
fn read_json(request: reqwest::blocking::RequestBuilder, what: &str) -> Result<Value> {
    let r = request.send().with_context(|| what.to_owned())?;
    let status = r.status();
    let body: Value = r.json().unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{what}: {status} {body}");
    Ok(body)
}

/// What the origins say they received: orders stored, and `POST /orders`
/// requests (retries included), summed over the regions.
fn origin_orders(http: &Client, sys: &System) -> Result<(u64, u64)> {
    let (mut stored, mut requests) = (0, 0);
    for region in REGIONS {
        let origin = sys.origin_url(region).context("an origin")?;
        let counts = read_json(
            http.get(format!("{origin}/_test/counts")),
            "the origin's counts",
        )?;
        stored += counts["orders"].as_u64().unwrap_or(0);
        let seen = read_json(
            http.get(format!("{origin}/_test/requests")),
            "the origin's requests",
        )?;
        requests += seen["POST /orders"].as_u64().unwrap_or(0);
    }
    Ok((stored, requests))
}

fn admin_view(http: &Client, sys: &System) -> Result<Value> {
    read_json(
        http.get(format!("{}/admin/drops/{DROP_ID}", sys.edge_url))
            .bearer_auth(&sys.admin_token),
        "the admin view of the drop",
    )
}

/// `joined 2000, waiting 0, …` of an admin view.
fn counts_text(view: &Value) -> String {
    ["joined", "waiting", "admitted", "held", "sold"]
        .iter()
        .map(|k| format!("{k} {}", view["counts"][k]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 100 units of the SKU at the origin, and the drop: open since a second
/// ago, for an hour.
fn configure(http: &Client, sys: &System) -> Result<()> {
    let origin = sys.origin_url("us").context("no us origin")?;
    read_json(
        http.patch(format!("{origin}/catalog/products/{SKU}"))
            .bearer_auth(&sys.admin_token)
            .json(&json!({ "stock": STOCK })),
        "setting the origin's stock",
    )?;
    let now = unix_ms();
    let config = DropRequest {
        skus: vec![SKU.to_owned()],
        opens_at: format_time(now - 1_000),
        closes_at: format_time(now + 3_600_000),
        admit_per_minute: ADMIT_PER_MINUTE,
        order: QueueOrder::Fifo,
        per_customer_limit: 1,
        hold_seconds: HOLD_SECONDS,
        // Every browser here comes from 127.0.0.1.
        joins_per_address: 1_000_000,
    };
    read_json(
        http.put(format!("{}/admin/drops/{DROP_ID}", sys.edge_url))
            .bearer_auth(&sys.admin_token)
            .json(&config),
        "configuring the drop",
    )?;
    Ok(())
}

/// What the phases left: each phase, and the browsers by how far they got.
struct Crowd {
    phases: Vec<Phase>,
    admitted: usize,
    /// Browsers whose add took a unit, with their orders (if placed).
    holders: Vec<Browser>,
    /// The admin view between the adds and the checkouts.
    after_adds: Value,
}

/// The four phases (and the follow-up of pending checkouts), one after the other.
fn crowd(http: &Client, sys: &System) -> Result<Crowd> {
    let to = (http, sys.edge_url.as_str());
    let queue = format!("/api/drops/{DROP_ID}/queue");
    let ticket = format!("__Host-drop-{DROP_ID}");
    let browsers: Vec<Browser> = (0..CLIENTS).map(|_| Browser::default()).collect();

    let (joins, browsers) = phase("join (POST queue)", browsers, |b, log| {
        let a = b.send(to, Method::POST, &queue, None, log);
        if b.cookies.0.contains_key(&ticket) {
            b.last_asked = Some(Instant::now());
        }
        b.admitted = a.body["state"] == "admitted";
    });

    // Every browser asks at least once, as its queue page would, so the
    // standing is measured under the crowd even when the pace admits
    // everyone at the join; a waiting one asks again when told to.
    let (standing, browsers) = phase("standing (GET queue)", browsers, |b, log| {
        if b.last_asked.is_none() {
            return; // it has no ticket to ask with
        }
        let until = Instant::now() + STANDING_WAIT;
        let mut gap = ASK_GAP;
        for _ in 0..MAX_ASKS {
            if Instant::now() + gap > until {
                return;
            }
            b.wait_to_ask(gap);
            let a = b.send(to, Method::GET, &queue, None, log);
            b.last_asked = Some(Instant::now());
            match (a.status, a.body["state"].as_str()) {
                (200, Some("admitted")) => {
                    b.admitted = true;
                    return;
                }
                (200 | 429, _) => {
                    // As told, within the 1-30 s the edge itself promises.
                    let told = Duration::from_secs(a.retry_after.unwrap_or(1).clamp(1, 30));
                    gap = told.max(ASK_GAP);
                }
                _ => return,
            }
        }
    });
    let admitted = browsers.iter().filter(|b| b.admitted).count();

    // Every browser adds, admitted or not: one without an admission is
    // refused (403), and counted as such.
    let add = json!({ "sku": SKU, "quantity": 1 });
    let (adds, browsers) = phase("add (POST cart/items)", browsers, |b, log| {
        let a = b.send(to, Method::POST, "/api/cart/items", Some(&add), log);
        b.held = a.status == 200
            && a.body["lines"]
                .as_array()
                .is_some_and(|lines| lines.iter().any(|l| l["held_until"].is_string()));
    });
    let after_adds = admin_view(http, sys)?;

    let holders: Vec<Browser> = browsers.into_iter().filter(|b| b.held).collect();
    let (checkouts, holders) = phase("checkout (POST)", holders, |b, log| {
        let a = b.send(to, Method::POST, "/api/cart/checkout", None, log);
        match a.status {
            200 | 201 => b.order_id = a.body["order"]["order_id"].as_str().map(str::to_owned),
            202 => b.pending = true,
            _ => {}
        }
    });
    // A `202` order waits in the cart's outbox: follow it as the client
    // is told to, until the cart says it was placed or refused.
    let (pending, holders) = phase("pending checkout (GET)", holders, |b, log| {
        let until = Instant::now() + CHECKOUT_WAIT;
        let mut gap = Duration::ZERO;
        while b.pending && Instant::now() < until {
            std::thread::sleep(gap);
            let a = b.send(to, Method::GET, "/api/cart/checkout", None, log);
            let status = &a.body["status"];
            match status["state"].as_str() {
                Some("checked_out") => {
                    b.order_id = status["order_id"].as_str().map(str::to_owned);
                    b.pending = false;
                }
                Some("checking_out") if a.status == 200 => {}
                _ => b.pending = false,
            }
            gap = Duration::from_secs(a.retry_after.unwrap_or(1).clamp(1, 5));
        }
    });
    Ok(Crowd {
        phases: vec![joins, standing, adds, checkouts, pending],
        admitted,
        holders,
        after_adds,
    })
}

/// The admin view right after the checkouts, and once it agrees with the
/// `placed` orders (a sale is counted when the cart tells its stock) or
/// [`SETTLE_WAIT`] has passed, with how long that took.
fn settle(http: &Client, sys: &System, placed: usize) -> Result<(Value, Value, Duration)> {
    let right_after = admin_view(http, sys)?;
    let started = Instant::now();
    let mut settled = right_after.clone();
    while (settled["counts"]["sold"].as_u64() != Some(placed as u64)
        || settled["counts"]["held"].as_u64() != Some(0))
        && started.elapsed() < SETTLE_WAIT
    {
        std::thread::sleep(Duration::from_secs(1));
        settled = admin_view(http, sys)?;
    }
    Ok((right_after, settled, started.elapsed()))
}

pub fn run() -> Result<()> {
    e2e::process::stop_children_on_signal()?;
    let sys = crate::bench::built_system()?;
    let http = Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    configure(&http, &sys)?;
    let (orders_before, order_requests_before) = origin_orders(&http, &sys)?;

    println!(
        "\n==> drop {DROP_ID}: {CLIENTS} browsers, {STOCK} units of {SKU}, {THREADS} threads\n"
    );
    println!("    | phase | requests | req/s | p50 ms | p99 ms | statuses |");
    let crowd = crowd(&http, &sys)?;
    let placed = crowd
        .holders
        .iter()
        .filter(|b| b.order_id.is_some())
        .count();
    let still_pending = crowd.holders.iter().filter(|b| b.pending).count();
    let (right_after, settled, settle_took) = settle(&http, &sys, placed)?;
    let (orders_after, order_requests_after) = origin_orders(&http, &sys)?;
    let origin = sys.origin_url("us").context("no us origin")?;
    let origin_stock = read_json(
        http.get(format!("{origin}/catalog/products/{SKU}")),
        "the origin's product",
    )?["stock"]
        .clone();

    let add_statuses = crowd.phases[2].statuses();
    let refused = |s: u16| add_statuses.get(&s).copied().unwrap_or(0);
    let stock_after_adds = &crowd.after_adds["stock"][0];
    let held_after_adds = stock_after_adds["held"].as_i64().unwrap_or(-1);
    let stock_read = stock_after_adds["stock"].as_i64().unwrap_or(-1);
    let sold = settled["counts"]["sold"].as_i64().unwrap_or(-1);
    let orders_stored = orders_after.saturating_sub(orders_before);
    let yes_no = |b: bool| if b { "yes" } else { "**no**" };

    let mut md = format!(
        "## Drop: {CLIENTS} browsers, {STOCK} units\n\n\
         `cargo xtask bench drop`: {CLIENTS} browsers (own cookies each, {THREADS} threads) join \
         drop `{DROP_ID}` at once (fifo, {ADMIT_PER_MINUTE} admitted per minute, limit 1, \
         holds {HOLD_SECONDS} s), ask where they stand until admitted (each at least once, \
         {} s apart), add {SKU} once, and those holding a unit check out. Edge under \
         `wrangler dev`, {} cores.\n\n\
         | phase | requests | req/s | p50 ms | p99 ms | statuses |\n\
         |---|---:|---:|---:|---:|---|\n",
        ASK_GAP.as_secs_f64(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
    );
    for p in &crowd.phases {
        let _ = writeln!(md, "{}", p.row());
    }
    let rows: Vec<(&str, String)> = vec![
        (
            "browsers admitted",
            format!("{} of {CLIENTS}", crowd.admitted),
        ),
        (
            "adds holding a unit (200 with `held_until`)",
            crowd.holders.len().to_string(),
        ),
        (
            "adds refused: sold out 409 / over the limit 422 / no admission 403",
            format!("{} / {} / {}", refused(409), refused(422), refused(403)),
        ),
        (
            "units held after the adds (admin; stock as read from the origin)",
            format!("{held_after_adds} (stock {stock_read})"),
        ),
        (
            "orders placed (checkout 201/200, or 202 then placed)",
            format!("{placed} ({still_pending} still pending)"),
        ),
        (
            "units sold (admin)",
            format!(
                "{} right after the checkouts, {sold} after {:.1} s more",
                right_after["counts"]["sold"],
                settle_took.as_secs_f64()
            ),
        ),
        (
            "orders stored at the origins (before → after)",
            format!("{orders_stored} ({orders_before} → {orders_after})"),
        ),
        (
            "`POST /orders` requests the origins received (retries included)",
            order_requests_after
                .saturating_sub(order_requests_before)
                .to_string(),
        ),
        ("origin stock of the SKU after", origin_stock.to_string()),
        ("admin counts, final", counts_text(&settled)),
        (
            "held ≤ stock",
            yes_no(held_after_adds >= 0 && held_after_adds <= stock_read).to_owned(),
        ),
        (
            "sold == orders placed == orders stored",
            yes_no(sold == placed as i64 && orders_stored == placed as u64).to_owned(),
        ),
    ];
    md.push_str("\n| outcome | value |\n|---|---|\n");
    for (what, value) in rows {
        let _ = writeln!(md, "| {what} | {value} |");
    }
    md.push_str(&surprises(&crowd.phases, &sys));

    println!("\n{md}");
    let path = e2e::Workspace::here().root.join("target/bench-drop.md");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &md)?;
    println!("written to {}", path.display());
    Ok(())
}

/// What deserves a look: the clients' unexpected answers (none, 5xx), and
/// the edge's own log lines with a 5xx status or a panic — the first ten.
fn surprises(phases: &[Phase], sys: &System) -> String {
    let answers: Vec<&String> = phases.iter().flat_map(|p| &p.surprises).collect();
    let edge_5xx = sys.edge_log_with("\"status\":5");
    let panics = sys.edge_log_with("panicked");
    let mut text = format!(
        "\nunexpected answers (none, 5xx): {}; edge log lines with a 5xx status: {}; panics: {}\n",
        answers.len(),
        edge_5xx.len(),
        panics.len()
    );
    for line in answers.into_iter().chain(&edge_5xx).chain(&panics).take(10) {
        let _ = writeln!(text, "- `{}`", line.chars().take(300).collect::<String>());
    }
    text
}
