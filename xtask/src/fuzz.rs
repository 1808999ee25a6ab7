//! The schema-driven fuzz run of `cargo xtask test`: schemathesis (pinned,
//! from `xtask/python-requirements.txt`) against `/api/openapi.json` on
//! the whole system — every phase (examples, coverage, fuzzing, stateful
//! through the document's links), every check, bounded by
//! `xtask/schemathesis.toml` and a time limit. It runs as a logged-in
//! customer (a cart and orders of its own); the origin-signed purge, the
//! admin routes and the WebSocket are left to the end-to-end tests.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::browser::{finish, whole_system};
use crate::run::{done, step};
use crate::tools::{Tools, python_tools};

const TIME_LIMIT: Duration = Duration::from_secs(5 * 60);

const EXCLUDED: &str = "^/admin/|^/api/support/|^/api/purge$|^/api/cart/live$";

pub fn run(tools: &Tools) -> Result<()> {
    let python = python_tools(tools)?;
    let root = tools.root().to_path_buf();
    let sys = whole_system("schemathesis")?;
    let client = reqwest::blocking::Client::new();
    let session = crate::bench::demo_session_cookie(&client, &sys.edge_url)?;
    let t = step("schemathesis against /api/openapi.json (every phase and check; bounded)");
    let mut command = Command::new(python.join("st"));
    command
        .arg("--no-color")
        .arg("--config-file")
        .arg(root.join("xtask/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/openapi.json", sys.edge_url))
        .args(["--url", &sys.edge_url])
        .args(["--exclude-path-regex", EXCLUDED])
        .args(["--request-timeout", "15"])
        .env(
            "EDGE_SESSION",
            session.trim_start_matches("__Host-session="),
        )
        .arg("--report-dir")
        .arg(root.join("target/schemathesis"))
        .args(["--report", "junit"])
        .current_dir(&root);
    finish(
        "schemathesis (reports in target/schemathesis/)",
        command,
        TIME_LIMIT,
    )?;
    drop(sys);
    done(t);
    Ok(())
}
