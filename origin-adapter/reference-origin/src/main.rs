//! `reference-origin`: one region's catalog and orders services.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use origin_adapter::keys::{KeyRing, SigningKey};
use reference_origin::{AppState, BackOffice, app, db, run, system_clock};

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
    /// The Cache-Control of catalog answers (RFC 9111/5861); `none` sends none.
    #[arg(long, env = "ORIGIN_CATALOG_CACHE_CONTROL", default_value = reference_origin::DEFAULT_CATALOG_CACHE_CONTROL)]
    catalog_cache_control: String,
    /// Bearer token of the back office (`PATCH /catalog/products/{sku}`); unset disables it.
    #[arg(long, env = "ORIGIN_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// The edge's purge endpoint, e.g. `https://shop.example/api/purge`.
    #[arg(long, env = "EDGE_PURGE_URL")]
    edge_purge_url: Option<String>,
    /// This origin's own signing key for purges: `<key id>:<base64url seed>`.
    #[arg(long, env = "ORIGIN_SIGNING_KEY")]
    origin_signing_key: Option<String>,
    /// Serve test-only introspection and fault switches under /_test (never in production).
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
    let mut state =
        AppState::new(&args.region, conn, system_clock()).context("reading the cursor secret")?;
    state.catalog_cache_control = match args.catalog_cache_control.as_str() {
        "none" => None,
        cc => Some(cc.into()),
    };
    if let Some(admin_token) = args.admin_token.filter(|t| t.len() >= 16) {
        let signing_key = match &args.origin_signing_key {
            Some(k) => Some(
                SigningKey::from_config(k).context("ORIGIN_SIGNING_KEY (--origin-signing-key)")?,
            ),
            None => None,
        };
        state.back_office = Some(BackOffice {
            admin_token,
            edge_purge_url: args.edge_purge_url,
            signing_key,
        });
    }
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
