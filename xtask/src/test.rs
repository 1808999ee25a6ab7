//! `cargo xtask test`: every check, in the order that fails fastest.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::run::{done, status, step, tee};
use crate::{browser, build, tools};

/// Adds up libtest's `test result:` lines.
fn count(output: &str, passed: &mut u64, failed: &mut u64) {
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        let number = |word: &str| {
            line.split(';')
                .find(|part| part.trim_end().ends_with(word))
                .and_then(|part| part.split_whitespace().rev().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        *passed += number("passed");
        *failed += number("failed");
    }
}

pub fn run() -> Result<()> {
    let started = Instant::now();
    let tools = tools::ensure()?;
    let root = tools.root().to_path_buf();
    let cargo = |args: &[&str]| {
        let mut command = Command::new("cargo");
        command.args(args).current_dir(&root);
        command
    };

    let t = step("cargo fmt --check");
    status(&mut cargo(&["fmt", "--all", "--", "--check"]))?;
    done(t);

    let t = step("configuration check (wrangler.toml, as the edge parses it)");
    crate::config::run(&[])?;
    done(t);

    let t = step("cargo clippy (native, all targets) -D warnings");
    status(&mut cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    done(t);

    let t = step("cargo clippy (wasm32: edge, durable-objects, origin-adapter) -D warnings");
    status(&mut cargo(&[
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "--package",
        "edge",
        "--package",
        "durable-objects",
        "--package",
        "origin-adapter",
        "--",
        "-D",
        "warnings",
    ]))?;
    done(t);

    // The edge Worker builds durable-objects without its classes (another
    // Worker's); that configuration is linted on its own.
    let t = step("cargo clippy (wasm32: durable-objects without its classes) -D warnings");
    status(&mut cargo(&[
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "--package",
        "durable-objects",
        "--no-default-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    done(t);

    let t = step("OpenAPI 3.1 document (edge/openapi.json) valid (openapi-spec-validator)");
    let python = tools::python_tools(&tools)?;
    status(
        Command::new(python.join("openapi-spec-validator")).arg(root.join("edge/openapi.json")),
    )?;
    done(t);

    let (mut passed, mut failed) = (0, 0);
    let t = step("unit tests (native)");
    let out = tee(&mut cargo(&[
        "test",
        "--workspace",
        "--all-features",
        "--exclude",
        "e2e",
    ]))?;
    count(&out, &mut passed, &mut failed);
    done(t);

    build::worker(&tools)?;
    build::origin(&tools)?;

    let t = step("end-to-end tests (reference origins + wrangler dev)");
    let out = tee(cargo(&["test", "--package", "e2e", "--test", "e2e"]).env("E2E_PREBUILT", "1"))?;
    count(&out, &mut passed, &mut failed);
    done(t);

    browser::run(&tools)?;
    crate::fuzz::run(&tools)?;

    let bundle = build::dry_run(&tools)?;
    let objects = build::dry_run_objects(&tools)?;
    println!("\nedge Worker upload size: {}", bundle.upload);
    println!("objects Worker upload size: {}", objects.upload);
    println!(
        "all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}
