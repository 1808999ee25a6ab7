//! End-to-end tests: real reference origins and real `wrangler dev`
//! (workerd) over HTTP on 127.0.0.1. This file is the harness alone: each
//! area's module registers its own scenarios ([`cart::scenarios`], …).
//!
//! One shared system serves the scenarios that can run side by side; the
//! ones that disturb the system (restarts, faults, panics, short limits)
//! start their own. Every system is stopped before the process exits.
//! Run through `cargo xtask test`, which builds the Worker first.

#![allow(
    clippy::expect_used,
    reason = "in a test a failed expectation is a failed test"
)]

use std::sync::Arc;

use e2e::{System, SystemOptions};
use libtest_mimic::{Arguments, Trial};

#[path = "e2e/cart.rs"]
mod cart;
#[path = "e2e/catalog.rs"]
mod catalog;
#[path = "e2e/contract.rs"]
mod contract;
#[path = "e2e/drops.rs"]
mod drops;
#[path = "e2e/flags.rs"]
mod flags;
#[path = "e2e/forwarding.rs"]
mod forwarding;
#[path = "e2e/hardening.rs"]
mod hardening;
#[path = "e2e/live.rs"]
mod live;
#[path = "e2e/logs.rs"]
mod logs;
#[path = "e2e/pages.rs"]
mod pages;
#[path = "e2e/session.rs"]
mod session;
#[path = "e2e/support.rs"]
mod support;

use support::*;

/// A scenario on the shared system.
type Scenario = fn(&System) -> Outcome;
/// A scenario that starts a system of its own.
type Isolated = fn() -> Outcome;
/// One area's scenarios, by name: on the shared system, and on their own.
type Area = (Vec<(&'static str, Scenario)>, Vec<(&'static str, Isolated)>);

/// Builds the Worker and the origin once, unless `cargo xtask test` (which
/// sets `E2E_PREBUILT`) already did.
fn build_everything() -> anyhow::Result<()> {
    let root = e2e::Workspace::here().root;
    for args in [
        &["xtask", "build"][..],
        &["build", "--package", "reference-origin"][..],
    ] {
        let status = std::process::Command::new("cargo")
            .args(args)
            .current_dir(&root)
            .status()?;
        anyhow::ensure!(status.success(), "`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    if let Err(e) = e2e::process::stop_children_on_signal() {
        eprintln!("{e:#}");
    }
    let (mut shared_scenarios, mut isolated) = (Vec::new(), Vec::new());
    for (shared, own) in [
        session::scenarios(),
        catalog::scenarios(),
        cart::scenarios(),
        forwarding::scenarios(),
        hardening::scenarios(),
        flags::scenarios(),
        pages::scenarios(),
        live::scenarios(),
        logs::scenarios(),
        contract::scenarios(),
        drops::scenarios(),
    ] {
        shared_scenarios.extend(shared);
        isolated.extend(own);
    }

    if !args.list
        && std::env::var_os("E2E_PREBUILT").is_none()
        && let Err(e) = build_everything()
    {
        eprintln!("could not build the system under test: {e:#}");
        std::process::exit(1);
    }

    let shared = if args.list {
        None
    } else {
        match System::start(SystemOptions::default()) {
            Ok(sys) => Some(Arc::new(sys)),
            Err(e) => {
                eprintln!("could not start the system under test: {e:#}");
                std::process::exit(1);
            }
        }
    };

    let mut trials: Vec<Trial> = shared_scenarios
        .into_iter()
        .map(|(name, scenario)| {
            let sys = shared.clone();
            Trial::test(name, move || match &sys {
                Some(sys) => scenario(sys),
                None => Err("no system".into()),
            })
        })
        .collect();
    trials.extend(
        isolated
            .into_iter()
            .map(|(name, scenario)| Trial::test(name, scenario)),
    );

    let conclusion = libtest_mimic::run(&args, trials);
    // Stop the shared system before exiting: `exit` skips destructors.
    drop(shared);
    conclusion.exit();
}
