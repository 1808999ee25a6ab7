//! The pinned toolchain, installed under the repository on first use:
//! the wasm32 target, worker-build and wasm-bindgen-cli in `.tools/`, and
//! Node 22, wrangler and binaryen in `node_modules/` from package-lock.json.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use e2e::Workspace;

use crate::run::{done, output, status, step};

/// The load generator of `cargo xtask bench edge` (its percentiles are
/// right where wrk's were not).
const OHA_VERSION: &str = "1.16.0";

/// The `worker` crate's version; worker-build must match it.
const WORKER_BUILD_VERSION: &str = "0.8.7";

/// Paths of the installed tools.
pub struct Tools {
    pub ws: Workspace,
    pub worker_build: PathBuf,
    pub wasm_bindgen: PathBuf,
}

impl Tools {
    pub fn root(&self) -> &Path {
        &self.ws.root
    }

    /// `node wrangler.js …` with the pinned Node.
    pub fn wrangler(&self) -> Command {
        let mut command = Command::new(self.ws.node());
        command
            .arg(self.ws.wrangler_js())
            .current_dir(self.root())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1");
        command
    }
}

/// The wasm-bindgen version Cargo.lock pins (the CLI must equal it exactly).
fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = "))
        {
            return Ok(version.trim_matches('"').to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen entry")
}

fn installed_version(binary: &Path) -> Option<String> {
    let out = output(Command::new(binary).arg("--version"))?;
    out.split_whitespace().last().map(str::to_owned)
}

fn cargo_install(root: &Path, krate: &str, version: &str) -> Result<()> {
    let install = |locked: bool| {
        let mut command = Command::new("cargo");
        command
            .args(["install", "--root"])
            .arg(root.join(".tools"))
            .arg(krate)
            .arg("--version")
            .arg(format!("={version}"));
        if locked {
            command.arg("--locked");
        }
        status(&mut command)
    };
    // A crate's own lock file can name a yanked or unpublished version;
    // then resolve afresh within the pinned crate version.
    install(true).or_else(|e| {
        println!("    `--locked` install failed ({e:#}); retrying with fresh resolution");
        install(false)
    })
}

pub fn ensure() -> Result<Tools> {
    let ws = Workspace::here();
    let root = ws.root.clone();
    let bin = ws.tools_bin();

    let targets =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        let t = step("installing the wasm32-unknown-unknown target");
        status(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
        done(t);
    }
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .unwrap_or_default();
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|c| c.starts_with(component)) {
            let t = step(&format!("installing the {component} component"));
            status(Command::new("rustup").args(["component", "add", component]))?;
            done(t);
        }
    }

    let worker_build = bin.join("worker-build");
    if installed_version(&worker_build).as_deref() != Some(WORKER_BUILD_VERSION) {
        let t = step(&format!(
            "installing worker-build {WORKER_BUILD_VERSION} into .tools/ (about 3 min on 2 cores)"
        ));
        cargo_install(&root, "worker-build", WORKER_BUILD_VERSION)?;
        done(t);
    }

    let wanted = locked_wasm_bindgen(&root)?;
    let wasm_bindgen = bin.join("wasm-bindgen");
    if installed_version(&wasm_bindgen).as_deref() != Some(wanted.as_str()) {
        let t = step(&format!(
            "installing wasm-bindgen-cli {wanted} into .tools/ (about 2 min)"
        ));
        cargo_install(&root, "wasm-bindgen-cli", &wanted)?;
        done(t);
    }

    // Reinstall when package-lock.json differs from the one last installed.
    let lock = std::fs::read_to_string(root.join("package-lock.json"))
        .context("reading package-lock.json")?;
    let stamp = root.join("node_modules/.installed-package-lock.json");
    let installed = std::fs::read_to_string(&stamp).unwrap_or_default();
    let complete = [ws.node(), ws.wrangler_js(), ws.wasm_opt(), ws.esbuild()]
        .iter()
        .all(|p| p.exists());
    if installed != lock || !complete {
        let t = step(
            "installing Node 22, wrangler, binaryen and esbuild into node_modules/ (from package-lock.json)",
        );
        // `npm install` rather than `npm ci`: the lock file holds only the
        // platform packages the registry offered (no darwin/windows workerd),
        // which `npm ci` refuses; `install` takes the locked versions as they are.
        status(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .current_dir(&root),
        )?;
        std::fs::write(&stamp, &lock).context("recording the installed lock file")?;
        done(t);
    }
    Ok(Tools {
        ws,
        worker_build,
        wasm_bindgen,
    })
}

/// `oha`, installed into `.tools/` on first use (`cargo install --locked`).
pub fn oha(tools: &Tools) -> Result<PathBuf> {
    let oha = tools.ws.tools_bin().join("oha");
    if installed_version(&oha).as_deref() != Some(OHA_VERSION) {
        let t = step(&format!(
            "installing oha {OHA_VERSION} into .tools/ (a few minutes, once)"
        ));
        cargo_install(tools.root(), "oha", OHA_VERSION)?;
        done(t);
    }
    Ok(oha)
}

/// The Python tools of the checks (openapi-spec-validator), installed into
/// `.tools/venv` from `xtask/python-requirements.txt` (every package
/// pinned) when that list changes; the venv's `bin/` directory.
pub fn python_tools(tools: &Tools) -> Result<PathBuf> {
    let root = tools.root();
    let venv = root.join(".tools/venv");
    let list = root.join("xtask/python-requirements.txt");
    let wanted = std::fs::read_to_string(&list).context("reading xtask/python-requirements.txt")?;
    let stamp = venv.join(".installed-requirements.txt");
    if std::fs::read_to_string(&stamp).unwrap_or_default() != wanted {
        let t = step("installing the Python check tools into .tools/venv (pinned, once)");
        if !venv.join("bin/pip").exists() {
            status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        status(
            Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "-r",
                ])
                .arg(&list),
        )?;
        std::fs::write(&stamp, &wanted).context("recording the installed requirements")?;
        done(t);
    }
    Ok(venv.join("bin"))
}
