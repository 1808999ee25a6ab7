//! The storefront's pages in real Chromium: `tests/browser/journey.mjs`
//! (playwright-core and axe-core from package-lock.json) drives Debian's
//! Chromium — never a downloaded browser — through the whole system, the
//! reference origins and `wrangler dev`, as customers would use it.
//! Screenshots of every step land in `target/browser/`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use e2e::process::Supervised;
use e2e::{System, SystemOptions};

use crate::run::{done, output, status, step};
use crate::tools::Tools;

/// Where Debian's `chromium` package puts the browser.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// The whole browser run, after which it is killed (the script stops
/// itself at 4 minutes; this catches a hang it cannot see).
const TIME_LIMIT: Duration = Duration::from_secs(6 * 60);

const INSTALL: &str = "apt-get update && apt-get install -y --no-install-recommends chromium";

/// Chromium: `$CHROMIUM`, else Debian's, installed with apt-get when
/// missing and this runs as root.
pub fn chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        if !path.exists() {
            bail!("CHROMIUM={} does not exist", path.display());
        }
        return Ok(path);
    }
    let path = PathBuf::from(DEBIAN_CHROMIUM);
    if path.exists() {
        return Ok(path);
    }
    let root = output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    if !root {
        bail!("{DEBIAN_CHROMIUM} is missing: as root, run `{INSTALL}` (or set CHROMIUM)");
    }
    let t = step("installing Debian's chromium (apt-get, once)");
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    status(&mut apt(&["update"]))?;
    status(&mut apt(&[
        "install",
        "-y",
        "--no-install-recommends",
        "chromium",
    ]))?;
    done(t);
    if !path.exists() {
        bail!("apt-get installed chromium, but {DEBIAN_CHROMIUM} is still missing");
    }
    Ok(path)
}

/// Starts the whole system (the Worker and the reference origin already
/// built) and runs the browser journeys against it; fails if any step does.
pub fn run(tools: &Tools) -> Result<()> {
    let chromium = chromium()?;
    let root = tools.root().to_path_buf();
    let artifacts = root.join("target/browser");
    // This run's screenshots only.
    if artifacts.exists() {
        std::fs::remove_dir_all(&artifacts)
            .with_context(|| format!("clearing {}", artifacts.display()))?;
    }
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;

    // Dropped on every return below, which stops wrangler dev and the origins.
    let sys = whole_system("the browser")?;

    let t = step(&format!(
        "browser journeys in Chromium ({}); screenshots in target/browser/",
        chromium.display()
    ));
    let mut command = Command::new(tools.ws.node());
    command
        .arg(root.join("tests/browser/journey.mjs"))
        .arg(&sys.edge_url)
        .arg(&artifacts)
        .current_dir(&root)
        .env("CHROMIUM", &chromium)
        .env("EDGE_ADMIN_TOKEN", &sys.admin_token)
        .env("ORIGIN_US", sys.origin_url("us").unwrap_or_default())
        .env("NO_COLOR", "1");
    finish(
        "the browser journeys (screenshots of every step in target/browser/)",
        command,
        TIME_LIMIT,
    )?;
    drop(sys);
    done(t);
    Ok(())
}

/// The whole system — reference origins and `wrangler dev` on free ports,
/// scratch state, no test hooks — for `whom`; stopped when dropped.
pub(crate) fn whole_system(whom: &str) -> Result<System> {
    let t = step(&format!(
        "starting the reference origins and wrangler dev for {whom} (scratch state)"
    ));
    let sys = System::start(SystemOptions {
        test_hooks: false,
        ..SystemOptions::default()
    })?;
    done(t);
    Ok(sys)
}

/// Runs `command` (`what` it is, for errors) in its own process group,
/// echoing its output, and fails if it fails or is still running after
/// `limit` (then its group is killed).
pub(crate) fn finish(what: &str, command: Command, limit: Duration) -> Result<()> {
    let (mut child, lines) = Supervised::spawn(what, command, false)?;
    let until = Instant::now() + limit;
    loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => println!("    {line}"),
            Err(RecvTimeoutError::Timeout) => {}
            // Output closed before the exit was seen.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
        }
        if let Some(exit) = child.exited() {
            // What it printed last, until its output closes (or goes quiet).
            while let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
                println!("    {line}");
            }
            if !exit.success() {
                bail!("{what} failed ({exit})");
            }
            return Ok(());
        }
        if Instant::now() >= until {
            child.stop();
            bail!(
                "{what} was still running after {} s and was stopped",
                limit.as_secs()
            );
        }
    }
}
