//! `cargo xtask flags check <flags.json>` validates a flagd document as the
//! edge will; `cargo xtask flags eval <flags.json> <flag-key> '<context>'
//! [--default <json>]` prints the evaluation details the edge would decide,
//! as one JSON object.

use anyhow::{Context as _, Result, bail};
use edge::flags::FlagSet;

const USAGE: &str = "usage: cargo xtask flags check <flags.json>
       cargo xtask flags eval <flags.json> <flag-key> '<context json>' [--default <json>]";

fn load(path: &str) -> Result<FlagSet> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    FlagSet::parse(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

pub fn run(args: &[String]) -> Result<()> {
    match args {
        [cmd, file] if cmd == "check" => {
            let set = load(file)?;
            println!("{file}: ok, {} flags", set.keys().count());
            Ok(())
        }
        [cmd, file, key, context, rest @ ..] if cmd == "eval" => {
            let default = match rest {
                [] => serde_json::Value::Null,
                [flag, value] if flag == "--default" => serde_json::from_str(value)
                    .with_context(|| format!("--default {value:?} is not JSON"))?,
                _ => bail!("{USAGE}"),
            };
            let context: serde_json::Value =
                serde_json::from_str(context).context("the context is not JSON")?;
            let Some(context) = context.as_object() else {
                bail!("the context must be a JSON object");
            };
            let set = load(file)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let details = set.evaluate(key, context, &default, now);
            println!("{}", serde_json::to_string(&details)?);
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}
