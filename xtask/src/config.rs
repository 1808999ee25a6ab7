//! `cargo xtask config [SECRETS_FILE]`: validates the Worker's configuration
//! — `wrangler.toml` `[vars]` plus secrets — with the edge's own parser,
//! before any customer request could meet a bad key. Secrets come from the
//! given dotenv file, else `.dev.vars`, else stand-ins (then only their
//! presence is assumed, not checked). It also checks that the edge's and
//! the objects Worker's configs pair ([`crate::pairing`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use edge::config::EdgeConfig;
use origin_adapter::keys::SigningKey;

/// `[vars]` of a wrangler.toml, tables rendered as the JSON Workers sees.
pub fn wrangler_vars(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut vars = HashMap::new();
    if let Some(table) = doc.get("vars").and_then(|v| v.as_table()) {
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => serde_json::to_string(other)?,
            };
            vars.insert(key.clone(), text);
        }
    }
    Ok(vars)
}

fn dotenv(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect())
}

/// Checks `vars` + `secrets`; the error names the bad key.
pub fn check(
    vars: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
) -> Result<EdgeConfig> {
    EdgeConfig::from_lookup(|key| secrets.get(key).or_else(|| vars.get(key)).cloned())
        .map_err(|e| anyhow!("{e}"))
}

pub fn run(args: &[String]) -> Result<()> {
    let root = e2e::Workspace::here().root;
    let vars = wrangler_vars(&root.join("wrangler.toml"))?;
    let (secrets, source) = match args.first() {
        Some(file) => (dotenv(Path::new(file))?, file.clone()),
        None if root.join(".dev.vars").exists() => {
            (dotenv(&root.join(".dev.vars"))?, ".dev.vars".to_owned())
        }
        None => {
            let stand_in = SigningKey::from_seed("stand-in", [7; 32]).to_config();
            (
                HashMap::from([("EDGE_SIGNING_KEY".to_owned(), stand_in)]),
                "stand-ins (secrets not checked)".to_owned(),
            )
        }
    };
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).with_context(|| format!("reading {p}"));
    let found = crate::pairing::disagreements(
        &read("wrangler.toml")?,
        &read("durable-objects/wrangler.toml")?,
        &read("durable-objects/entry.mjs")?,
    )?;
    if !found.is_empty() {
        bail!(
            "wrangler.toml and durable-objects/wrangler.toml do not pair:\n  {}",
            found.join("\n  ")
        );
    }
    match check(&vars, &secrets) {
        Ok(config) => {
            println!(
                "configuration ok ({} environment, secrets from {source}): {} regions, {} services, {} forwarded routes",
                match config.environment {
                    edge::config::Environment::Development => "development",
                    edge::config::Environment::Production => "production",
                },
                config.origins.len(),
                config.services.services.len(),
                config.services.routes.len()
            );
            Ok(())
        }
        Err(e) => bail!("wrangler.toml is not a valid configuration: {e}"),
    }
}
