//! Project commands. Run as `cargo xtask <command>`:
//!
//! * `dev`   — build and run the whole system locally until Ctrl-C;
//! * `test`  — every check: fmt, clippy (native + wasm32), unit tests,
//!   end-to-end tests against real `wrangler dev`, the storefront pages in
//!   Chromium, deploy dry-run size;
//! * `browser` — only the storefront pages in Chromium (screenshots in
//!   `target/browser/`);
//! * `lighthouse` — Lighthouse scores of the storefront's pages;
//! * `fuzz` — schemathesis against the edge's OpenAPI document;
//! * `build` — install pinned tools and build the Worker;
//! * `tools` — install pinned tools only;
//! * `config` — validate wrangler.toml's vars (and secrets) as the edge will,
//!   and that it pairs with `durable-objects/wrangler.toml`;
//! * `flags` — check a flagd document, or evaluate a flag as the edge would;
//! * `bench` — catalog, session, forwarded-write and cart figures (prints
//!   numbers, never fails on speed); `bench edge` — side by side with a
//!   JavaScript peer on bare workerd, writing BENCHMARKS.md; `bench drop` —
//!   2,000 browsers at one drop of 100 units (`target/bench-drop.md`).
//!
//! Each installs what is missing first, under the repository (`.tools/`,
//! `node_modules/`), and is quick when everything is already there.

mod bench;
mod bench_drop;
mod bench_edge;
mod bench_flags;
mod benchmarks_md;
mod browser;
mod build;
mod config;
mod dev;
mod flags;
mod fuzz;
mod lighthouse;
mod pairing;
mod run;
mod test;
mod tools;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <dev|test|browser|fuzz|lighthouse|bench|build|tools|config|flags>

  dev     build the Worker, start origins (us, eu) and wrangler dev; Ctrl-C stops all
  test    fmt, clippy (native + wasm32), unit tests, end-to-end tests, browser journeys, deploy dry-run size
  browser build, start the system and run the browser journeys in Chromium (screenshots in target/browser/)
  fuzz    schemathesis against /api/openapi.json on the whole system (part of test)
  lighthouse  Lighthouse (mobile) on the home, category, product and cart pages; scores into BENCHMARKS.md
  build   install the pinned tools and build the Worker (edge/build/)
  tools   install the pinned tools only
  flags   `flags check <flags.json>`, `flags eval <flags.json> <key> '<context>' [--default <json>]`
  config  validate wrangler.toml [vars] + secrets (a dotenv file, else .dev.vars) as the edge parses them
  bench   catalog reads under a Zipf workload, sessions, forwarded writes (prints numbers);
          `bench writes` / `bench cart` / `bench flags` run only that part;
          `bench drop`: 2,000 browsers join a drop of 100 units at once, are admitted,
          add, check out; phases and counts as Markdown (also target/bench-drop.md);
          E2E_PREBUILT=1 skips the builds (bench parts, flags, drop);
          `bench edge`: this Worker beside a JavaScript and a wasm-bindgen hello world
          and a Hono peer on bare workerd (oha); writes BENCHMARKS.md and its plot;
          `bench edge serve` starts them for a profile (inspector on 127.0.0.1:9229)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev::run(),
        Some("bench") if args.get(1).map(String::as_str) == Some("flags") => bench_flags::run(),
        Some("bench") if args.get(1).map(String::as_str) == Some("drop") => bench_drop::run(),
        Some("bench") if args.get(1).map(String::as_str) == Some("edge") => {
            bench_edge::run(args.get(2).map(String::as_str))
        }
        Some("bench") => bench::run(args.get(1).map(String::as_str)),
        Some("bench-flags-native") => bench_flags::native(),
        Some("bench-session") => bench::session_verify(),
        Some("test") => test::run(),
        Some("browser") => tools::ensure().and_then(|t| {
            build::worker(&t)?;
            build::origin(&t)?;
            browser::run(&t)
        }),
        Some("fuzz") => tools::ensure().and_then(|t| {
            build::worker(&t)?;
            build::origin(&t)?;
            fuzz::run(&t)
        }),
        Some("lighthouse") => tools::ensure().and_then(|t| {
            build::worker(&t)?;
            build::origin(&t)?;
            lighthouse::run(&t)
        }),
        Some("build") => tools::ensure().and_then(|t| build::worker(&t)),
        Some("tools") => tools::ensure().map(drop),
        Some("config") => config::run(&args[1..]),
        Some("flags") => flags::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
