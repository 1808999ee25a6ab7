//! Building the Worker (wasm) and the reference origin (native).

use std::process::Command;

use anyhow::Result;

use crate::run::{done, status, step};
use crate::tools::Tools;

/// `worker-build --release` in `edge/`: cargo (wasm32), wasm-bindgen,
/// wasm-opt and esbuild, writing `edge/build/`.
pub fn worker(tools: &Tools) -> Result<()> {
    let t = step("building the Worker (Rust → wasm, worker-build --release)");
    let path = std::env::join_paths(std::iter::once(tools.ws.tools_bin()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    status(
        Command::new(&tools.worker_build)
            .arg("--release")
            .current_dir(tools.root().join("edge"))
            .env("PATH", path)
            .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
            .env("WASM_OPT_BIN", tools.ws.wasm_opt())
            .env("ESBUILD_BIN", tools.ws.esbuild()),
    )?;
    done(t);
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
