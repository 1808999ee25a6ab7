//! `reference-origin`: one region's catalog and orders services.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Parser;
use origin_adapter::keys::KeyRing;
use reference_origin::{AppState, app, db, run, system_clock};

#[derive(Parser)]
#[command(about = "A reference regional origin over embedded SQLite")]
struct Args {
    /// The region this origin serves (appears in order ids).
    #[arg(long, env = "ORIGIN_REGION", default_value = "us")]
    region: String,
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, env = "ORIGIN_LISTEN", default_value = "127.0.0.1:8701")]
    listen: String,
    /// The SQLite file; created and seeded when absent.
    #[arg(long, env = "ORIGIN_DATA", default_value = ".data/origin-us.sqlite3")]
    data: PathBuf,
    /// The edge's public keys: `<key id>:<base64url key>[,…]`.
    #[arg(long, env = "EDGE_VERIFY_KEYS")]
    edge_keys: String,
    /// The currency of the seeded price list.
    #[arg(long, env = "ORIGIN_CURRENCY", default_value = "USD")]
    currency: String,
    /// Serve test-only introspection routes under /_test (never in production).
    #[arg(long)]
    test_hooks: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let keys = KeyRing::from_config(&args.edge_keys).context("EDGE_VERIFY_KEYS (--edge-keys)")?;
    if let Some(dir) = args.data.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let conn = db::open(&args.data, &args.currency)
        .with_context(|| format!("opening ORIGIN_DATA {}", args.data.display()))?;
    let state = AppState {
        region: args.region.clone().into(),
        db: Arc::new(Mutex::new(conn)),
        clock: system_clock(),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding ORIGIN_LISTEN {}", args.listen))?;
    // The harness reads this line to learn the port when given port 0.
    println!(
        "reference-origin region={} listening on http://{}",
        args.region,
        listener.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    run(listener, app(state, keys, args.test_hooks), async move {
        tokio::select! { _ = shutdown => {}, _ = term => {} }
    })
    .await?;
    Ok(())
}
