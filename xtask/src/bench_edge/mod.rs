//! `cargo xtask bench edge`: this Worker side by side with a JavaScript
//! hello world (the runtime's ceiling), a Rust wasm-bindgen hello world
//! (the floor for Rust) and a Hono peer doing the same jobs, served by one
//! bare `workerd serve` pinned to one CPU and loaded by `oha` from the
//! other. Prints the table and writes BENCHMARKS.md with its SVG plot.
//! It measures; it never fails on speed.

mod load;
mod report;
mod workerd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use e2e::process::{Supervised, free_port};
use e2e::{System, SystemOptions};

use crate::run::{done, status, step};
use crate::tools::Tools;
use crate::{build, tools};
use load::{Load, Run};
use report::{Contender, Report, Row};
use workerd::{Binding, Module, Worker};

/// Where the server runs, and where the load generator does.
const SERVER_CPU: usize = 0;
const LOAD_CPU: usize = 1;
const CONNECTIONS: u32 = 32;
/// The objects Worker's service: its wrangler `name`, which the edge's
/// bindings give as `script_name`.
const OBJECTS: &str = "storefront-objects";
/// Interleaved repetitions of every (contender, path).
const REPETITIONS: usize = 5;
/// Start-ups measured per contender.
const STARTS: usize = 3;

const PRODUCT: &str = "/api/products/KIT-0001";
const LISTING: &str = "/api/products?category=kitchen&limit=20";
const SESSION: &str = "/api/session";
const HEALTH: &str = "/healthz";
/// The product's page (HTML, stored rendered at the edge): the edge only,
/// the peer has no pages.
const PAGE: &str = "/p/KIT-0001";

/// What each contender is asked, and the status every answer should have.
fn cases() -> Vec<(&'static str, &'static str)> {
    let mut cases = vec![("js-hello", "/"), ("wasm-hello", "/")];
    for contender in ["hono", "edge"] {
        for path in [PRODUCT, LISTING, SESSION, HEALTH] {
            cases.push((contender, path));
        }
    }
    cases.push(("edge", PAGE));
    cases
}

/// Seconds of load per run: `BENCH_SECONDS`, else 5.
fn seconds() -> u32 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(5)
}

/// `serve`: start everything (workerd with its inspector on 127.0.0.1:9229
/// for a CPU profile), print the contenders' URLs and wait for Ctrl-C,
/// instead of measuring.
pub fn run(mode: Option<&str>) -> Result<()> {
    let hold = mode == Some("serve");
    e2e::process::stop_children_on_signal()?;
    let tools = tools::ensure()?;
    let oha = tools::oha(&tools)?;
    build::worker(&tools)?;
    let bundle = build::dry_run(&tools)?;
    let objects_bundle = build::dry_run_objects(&tools)?;
    build::origin(&tools)?;
    let dir = tools.root().join("target/bench-edge");
    std::fs::create_dir_all(&dir)?;
    remove_stale_wasm(&dir)?;
    let edge_modules = place(&bundle, &dir, "edge.js")?;
    let objects_modules = place(&objects_bundle, &dir, "objects.js")?;
    hello_wasm(&tools, &dir)?;
    hono(&tools, &dir)?;
    for file in ["hello.mjs", "hello-wasm.mjs", "cache.mjs", "kv.mjs"] {
        std::fs::copy(tools.root().join("xtask/bench").join(file), dir.join(file))?;
    }

    let t = step("starting the reference origins");
    let sys = System::start(SystemOptions {
        serve_edge: false,
        test_hooks: false,
        ..SystemOptions::default()
    })?;
    done(t);
    let (workers, objects) = workers(&tools, &sys, edge_modules, objects_modules)?;
    let ports: Vec<(String, u16)> = workers
        .iter()
        .map(|w| Ok((w.name.clone(), free_port()?)))
        .collect::<Result<_>>()?;
    // The objects Worker has no socket: the edge reaches it by its bindings.
    let services: Vec<Worker> = workers.iter().cloned().chain([objects]).collect();
    let url = |name: &str| {
        let port = ports.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
        format!("http://127.0.0.1:{}", port.unwrap_or_default())
    };
    let config = workerd::config(&services, &ports);
    let server = serve(&tools, &dir, "bench.capnp", &config, hold)?;
    let client = reqwest::blocking::Client::new();
    let cookie = crate::bench::demo_session_cookie(&client, &url("edge"))?;
    warm(&url, &cookie)?;
    if hold {
        for (name, _) in &ports {
            println!("{name:<10} {}", url(name));
        }
        println!("session cookie: {cookie}\ninspector: 127.0.0.1:9229 — Ctrl-C stops everything");
        let _keep = (server, sys);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    let load = Load {
        oha: &oha,
        cpu: LOAD_CPU,
        connections: CONNECTIONS,
        seconds: seconds(),
    };
    let mut rows: Vec<Row> = cases()
        .into_iter()
        .map(|(contender, path)| Row {
            contender,
            path,
            runs: Vec::new(),
        })
        .collect();
    let t = step(&format!(
        "{REPETITIONS} interleaved repetitions × {} cases × {} s",
        rows.len(),
        load.seconds
    ));
    for rep in 1..=REPETITIONS {
        for row in &mut rows {
            let headers = match row.path {
                SESSION => vec![("cookie".to_owned(), cookie.clone())],
                _ => vec![],
            };
            let run: Run = load.run(
                &format!("{}{}", url(row.contender), row.path),
                &headers,
                200,
            )?;
            println!(
                "    {rep}/{REPETITIONS} {:<10} {:<42} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  failed {}",
                row.contender,
                row.path,
                run.requests_per_second,
                run.p50_ms,
                run.p99_ms,
                run.failures
            );
            row.runs.push(run);
        }
    }
    done(t);
    drop(server);

    let contenders = sizes_and_starts(&tools, &dir, &workers, &bundle.upload)?;
    drop(sys);
    let report = Report {
        date: today(),
        machine: machine(),
        settings: format!(
            "{CONNECTIONS} connections, {} s per run, {REPETITIONS} repetitions interleaved; \
             start-up is the median of {STARTS} `workerd serve` starts of that contender alone.",
            load.seconds
        ),
        rows,
        contenders,
        objects_upload: objects_bundle.upload.clone(),
    };
    println!("\n{}", report.table());
    let plot = "xtask/bench/benchmarks.svg";
    report.svg(&tools.root().join(plot))?;
    crate::benchmarks_md::write_body(&tools.root().join("BENCHMARKS.md"), &report.markdown(plot))?;
    println!("wrote BENCHMARKS.md and {plot}");
    Ok(())
}

/// Removes the Workers' wasm modules of an earlier run.
fn remove_stale_wasm(dir: &Path) -> Result<()> {
    for stale in std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())) {
        if stale.to_string_lossy().ends_with("-index_bg.wasm") {
            std::fs::remove_file(stale)?;
        }
    }
    Ok(())
}

/// A dry run's entry (as `entry`) and wasm, the wasm under the name the
/// entry imports.
fn place(bundle: &build::Bundle, dir: &Path, entry: &str) -> Result<Vec<Module>> {
    let wasm_name = file_name(&bundle.wasm)?;
    std::fs::copy(&bundle.entry, dir.join(entry))?;
    std::fs::copy(&bundle.wasm, dir.join(&wasm_name))?;
    Ok(vec![Module::Es(entry.into()), Module::Wasm(wasm_name)])
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .context("a file has no name")?
        .to_string_lossy()
        .into_owned())
}

/// Builds the wasm-bindgen hello world and its JavaScript glue.
fn hello_wasm(tools: &Tools, dir: &Path) -> Result<()> {
    let t = step("building the wasm-bindgen hello world");
    status(
        Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
            .args(["--package", "hello-wasm"])
            .current_dir(tools.root()),
    )?;
    status(
        Command::new(&tools.wasm_bindgen)
            .args(["--target", "web", "--out-dir"])
            .arg(dir)
            .arg(
                tools
                    .root()
                    .join("target/wasm32-unknown-unknown/release/hello_wasm.wasm"),
            ),
    )?;
    done(t);
    Ok(())
}

/// Bundles the Hono peer (esbuild, as wrangler would).
fn hono(tools: &Tools, dir: &Path) -> Result<()> {
    let t = step("bundling the Hono peer");
    status(
        Command::new(tools.ws.esbuild())
            .arg(tools.root().join("xtask/bench/hono/peer.mjs"))
            .args(["--bundle", "--format=esm", "--platform=browser", "--minify"])
            .args(["--external:cloudflare:*", "--log-level=warning"])
            .arg(format!("--outfile={}", dir.join("hono.mjs").display())),
    )?;
    done(t);
    Ok(())
}

/// The four contenders as workerd services, and the edge's objects Worker.
fn workers(
    tools: &Tools,
    sys: &System,
    edge_modules: Vec<Module>,
    objects_modules: Vec<Module>,
) -> Result<(Vec<Worker>, Worker)> {
    let mut edge = workerd::from_wrangler(&tools.ws.wrangler_toml(), "edge")?;
    edge.modules = edge_modules;
    for (name, value) in &sys.edge_env {
        workerd::set_text(&mut edge, name, value);
    }
    let mut objects = workerd::from_wrangler(&tools.ws.objects_toml(), OBJECTS)?;
    objects.modules = objects_modules;
    let env = |name: &str| {
        sys.edge_env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("the system gave the edge no {name}"))
    };
    let flags = std::fs::read_to_string(tools.root().join("flags/flags.json"))?;
    let hono = Worker {
        name: "hono".into(),
        modules: vec![Module::Es("hono.mjs".into())],
        bindings: vec![
            Binding::Text(
                "CATALOG_ORIGIN".into(),
                sys.origin_url("us").context("no us origin")?.to_owned(),
            ),
            Binding::Text("SESSION_KEY".into(), env("SESSION_KEY")?),
            Binding::Text("FLAG_DOCUMENT".into(), flags),
            Binding::DurableObject {
                name: "GUARD".into(),
                class: "GuardObject".into(),
                service: Some(OBJECTS.into()),
            },
        ],
        compatibility_date: edge.compatibility_date.clone(),
        ..Worker::default()
    };
    let simple = |name: &str, modules: Vec<Module>| Worker {
        name: name.into(),
        modules,
        compatibility_date: edge.compatibility_date.clone(),
        ..Worker::default()
    };
    let js_hello = simple("js-hello", vec![Module::Es("hello.mjs".into())]);
    let wasm_hello = simple(
        "wasm-hello",
        vec![
            Module::Es("hello-wasm.mjs".into()),
            Module::Es("hello_wasm.js".into()),
            Module::Wasm("hello_wasm_bg.wasm".into()),
        ],
    );
    let signing_key = env("EDGE_SIGNING_KEY")?;
    workerd::set_text(&mut objects, "EDGE_SIGNING_KEY", &signing_key);
    Ok((vec![js_hello, wasm_hello, hono, edge], objects))
}

/// Writes `config` as `name` in `dir` and serves it, pinned to the
/// server's CPU, until every socket answers.
fn serve(tools: &Tools, dir: &Path, name: &str, config: &str, inspect: bool) -> Result<Supervised> {
    fresh_objects(dir)?;
    std::fs::write(dir.join(name), config)?;
    let mut command = Command::new("taskset");
    command
        .args(["-c", &SERVER_CPU.to_string()])
        .arg(workerd_binary(tools))
        .args(["serve", name, "--experimental"])
        .current_dir(dir);
    if inspect {
        command.arg("--inspector-addr=127.0.0.1:9229");
    }
    let echo = std::env::var_os("E2E_ECHO").is_some();
    let (process, _lines) = Supervised::spawn("workerd", command, echo)?;
    let ports: Vec<u16> = config
        .lines()
        .filter_map(|l| l.split("127.0.0.1:").nth(1))
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect();
    for port in ports {
        first_answer(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_secs(30),
        )?;
    }
    Ok(process)
}

/// An empty directory for the Durable Objects' SQLite files.
fn fresh_objects(dir: &Path) -> Result<()> {
    let objects = dir.join("objects");
    if objects.exists() {
        std::fs::remove_dir_all(&objects)?;
    }
    std::fs::create_dir_all(&objects)?;
    Ok(())
}

fn workerd_binary(tools: &Tools) -> PathBuf {
    tools.root().join("node_modules/.bin/workerd")
}

/// Polls `url` until anything answers; how long that took.
fn first_answer(url: &str, deadline: Duration) -> Result<Duration> {
    let started = Instant::now();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    while started.elapsed() < deadline {
        if client.get(url).send().is_ok() {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("{url} did not answer within {deadline:?}")
}

/// Each case asked until it answers 200 twice, so every catalog read the
/// load makes is a cache hit; the Hono peer must see the same session.
fn warm(url: &dyn Fn(&str) -> String, cookie: &str) -> Result<()> {
    let client = reqwest::blocking::Client::new();
    for (contender, path) in cases() {
        for _ in 0..3 {
            let answer = client
                .get(format!("{}{path}", url(contender)))
                .header("cookie", cookie)
                .send()?;
            if !answer.status().is_success() {
                bail!("{contender} answered {} to {path}", answer.status());
            }
            if path == SESSION {
                let body: serde_json::Value = answer.json()?;
                if body["authenticated"] != true {
                    bail!("{contender} did not recognise the session: {body}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Each contender's upload size and its median start to first answer
/// (served alone, so nothing else is compiled first).
fn sizes_and_starts(
    tools: &Tools,
    dir: &Path,
    workers: &[Worker],
    edge_upload: &str,
) -> Result<Vec<Contender>> {
    let t = step("sizes, and start to first answer");
    let mut out = Vec::new();
    for w in workers {
        let mut starts = Vec::new();
        // Alone: a binding to another service's objects goes (the health
        // path does not use it).
        let mut alone = w.clone();
        alone.bindings.retain(|b| {
            !matches!(
                b,
                Binding::DurableObject {
                    service: Some(_),
                    ..
                }
            )
        });
        for _ in 0..STARTS {
            let port = free_port()?;
            let config = workerd::config(std::slice::from_ref(&alone), &[(w.name.clone(), port)]);
            let name = format!("start-{}.capnp", w.name);
            fresh_objects(dir)?;
            std::fs::write(dir.join(&name), config)?;
            let mut command = Command::new("taskset");
            command
                .args(["-c", &SERVER_CPU.to_string()])
                .arg(workerd_binary(tools))
                .args(["serve", &name, "--experimental"])
                .current_dir(dir);
            let (process, _lines) = Supervised::spawn("workerd", command, false)?;
            let path = if w.name == "edge" || w.name == "hono" {
                HEALTH
            } else {
                "/"
            };
            let took = first_answer(
                &format!("http://127.0.0.1:{port}{path}"),
                Duration::from_secs(30),
            )?;
            starts.push(took.as_secs_f64() * 1000.0);
            drop(process);
        }
        let size_kib = match w.name.as_str() {
            "edge" => upload_kib(edge_upload)?,
            _ => files_kib(dir, &w.modules)?,
        };
        out.push(Contender {
            name: static_name(&w.name),
            what: describe(&w.name),
            size_kib,
            start_ms: load::spread(&starts).0,
        });
    }
    done(t);
    Ok(out)
}

fn static_name(name: &str) -> &'static str {
    match name {
        "js-hello" => "js-hello",
        "wasm-hello" => "wasm-hello",
        "hono" => "hono",
        _ => "edge",
    }
}

fn describe(name: &str) -> &'static str {
    match name {
        "js-hello" => "JavaScript hello world",
        "wasm-hello" => "Rust, wasm-bindgen only",
        "hono" => "Hono peer (JavaScript, bundled)",
        _ => "this Worker (Rust, `worker` crate)",
    }
}

/// `2314.69 KiB / gzip: 734.39 KiB` as numbers.
fn upload_kib(line: &str) -> Result<(f64, f64)> {
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [raw, gzip, ..] => Ok((raw, gzip)),
        _ => bail!("cannot read an upload size from {line:?}"),
    }
}

/// Raw and gzip KiB of a contender's module files.
fn files_kib(dir: &Path, modules: &[Module]) -> Result<(f64, f64)> {
    let (mut raw, mut gzip) = (0usize, 0usize);
    for m in modules {
        let (Module::Es(name) | Module::Wasm(name)) = m;
        let path = dir.join(name);
        raw += std::fs::metadata(&path)?.len() as usize;
        let out = Command::new("gzip").arg("-c").arg(&path).output()?;
        gzip += out.stdout.len();
    }
    Ok((raw as f64 / 1024.0, gzip as f64 / 1024.0))
}

fn today() -> String {
    crate::run::output(Command::new("date").args(["-u", "+%Y-%m-%d"]))
        .map(|d| d.trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let workerd = crate::run::output(
        Command::new(
            e2e::Workspace::here()
                .root
                .join("node_modules/.bin/workerd"),
        )
        .arg("--version"),
    )
    .map(|v| v.trim().to_owned())
    .unwrap_or_default();
    format!("{cores} cores ({cpu}), {workerd}")
}
