//! Building the Worker (wasm) and the reference origin (native).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::run::{done, status, step, tee};
use crate::tools::Tools;

/// The two Workers, each with `worker-build --release` (cargo for wasm32,
/// wasm-bindgen, wasm-opt, esbuild): the edge in `edge/` (writing
/// `edge/build/`) and the Durable Objects' `storefront-objects` in
/// `durable-objects/` (writing `durable-objects/build/`).
pub fn worker(tools: &Tools) -> Result<()> {
    for (dir, what) in [
        ("edge", "the edge Worker"),
        ("durable-objects", "the objects Worker"),
    ] {
        let t = step(&format!(
            "building {what} (Rust → wasm, worker-build --release in {dir}/)"
        ));
        worker_build(tools, dir)?;
        strip_names(tools, dir)?;
        done(t);
    }
    Ok(())
}

fn worker_build(tools: &Tools, dir: &str) -> Result<()> {
    let path = std::env::join_paths(std::iter::once(tools.ws.tools_bin()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    status(
        Command::new(&tools.worker_build)
            .arg("--release")
            .current_dir(tools.root().join(dir))
            .env("PATH", path)
            .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
            .env("WASM_OPT_BIN", tools.ws.wasm_opt())
            .env("ESBUILD_BIN", tools.ws.esbuild()),
    )
}

/// The wasm features worker-build enables for wasm-opt: the encodings
/// workerd reads (none newer), so a second pass writes the same kinds.
const WASM_FEATURES: &[&str] = &[
    "mutable-globals",
    "sign-ext",
    "nontrapping-float-to-int",
    "bulk-memory",
    "multivalue",
    "reference-types",
    "exception-handling",
];

/// Drops the name section worker-build keeps (`--debuginfo`): about 300 KB of
/// function names that Cloudflare counts in the upload and that only made
/// panic stack traces readable (a panic still logs its message and place).
/// `EDGE_KEEP_NAMES=1` keeps them, for a profile that names functions.
fn strip_names(tools: &Tools, dir: &str) -> Result<()> {
    if std::env::var_os("EDGE_KEEP_NAMES").is_some() {
        println!("    keeping the name section (EDGE_KEEP_NAMES): a profiling build");
        return Ok(());
    }
    let wasm = tools.root().join(dir).join("build/index_bg.wasm");
    let stripped = wasm.with_extension("stripped.wasm");
    let mut command = Command::new(tools.ws.wasm_opt());
    command
        .arg(&wasm)
        .arg("-o")
        .arg(&stripped)
        .arg("--strip-debug")
        .args(WASM_FEATURES.iter().map(|f| format!("--enable-{f}")));
    status(&mut command)?;
    std::fs::rename(&stripped, &wasm)?;
    Ok(())
}

/// The reference origin binary (debug profile, shared with the tests' build).
pub fn origin(tools: &Tools) -> Result<()> {
    let t = step("building the reference origin");
    status(
        Command::new("cargo")
            .args(["build", "--package", "reference-origin"])
            .current_dir(tools.root()),
    )?;
    done(t);
    Ok(())
}

/// What `wrangler deploy --dry-run` would upload.
pub struct Bundle {
    /// `… KiB / gzip: … KiB`, as wrangler counts it.
    pub upload: String,
    /// The bundled JavaScript entry and the wasm module it imports.
    pub entry: PathBuf,
    pub wasm: PathBuf,
}

/// `wrangler deploy --dry-run` of the edge Worker into
/// `target/deploy-dry-run/` (emptied first, so the one wasm file there is
/// this build's).
pub fn dry_run(tools: &Tools) -> Result<Bundle> {
    let t = step("wrangler deploy --dry-run (the size Cloudflare counts)");
    let bundle = dry_run_into(
        tools,
        &tools.root().join("wrangler.toml"),
        &tools.root().join("target/deploy-dry-run"),
    )?;
    done(t);
    Ok(bundle)
}

/// The same for the objects Worker, into `target/deploy-dry-run-objects/`.
pub fn dry_run_objects(tools: &Tools) -> Result<Bundle> {
    let t = step("wrangler deploy --dry-run of the objects Worker");
    let bundle = dry_run_into(
        tools,
        &tools.root().join("durable-objects/wrangler.toml"),
        &tools.root().join("target/deploy-dry-run-objects"),
    )?;
    done(t);
    Ok(bundle)
}

fn dry_run_into(
    tools: &Tools,
    config: &std::path::Path,
    outdir: &std::path::Path,
) -> Result<Bundle> {
    if outdir.exists() {
        std::fs::remove_dir_all(outdir)
            .with_context(|| format!("emptying {}", outdir.display()))?;
    }
    let out = tee(tools
        .wrangler()
        .args(["deploy", "--dry-run", "--config"])
        .arg(config)
        .arg("--outdir")
        .arg(outdir))?;
    let Some(size) = out.lines().find(|l| l.contains("Total Upload:")) else {
        bail!("wrangler deploy --dry-run printed no `Total Upload:` line");
    };
    let wasm = std::fs::read_dir(outdir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .context("the dry run wrote no wasm module")?;
    Ok(Bundle {
        upload: size
            .trim()
            .trim_start_matches("Total Upload:")
            .trim()
            .to_owned(),
        entry: outdir.join("entry.js"),
        wasm,
    })
}
