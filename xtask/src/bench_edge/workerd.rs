//! The `workerd serve` configuration of the side-by-side benchmark, written
//! as Cap'n Proto text: each contender a service on its own socket, the
//! edge's and the objects Worker's bindings read from their wrangler
//! configs (vars, Durable Objects, KV) with the running system's origins
//! and secrets, one in-memory Cache API service behind every contender, and
//! a network service for the loopback origins.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

/// One binding of a Worker.
#[derive(Debug, Clone)]
pub enum Binding {
    Text(String, String),
    /// A JSON value (a wrangler var that is a table or array).
    Json(String, String),
    /// A Durable Object namespace by class, of another service if named.
    DurableObject {
        name: String,
        class: String,
        service: Option<String>,
    },
    /// A KV namespace served by a service.
    Kv(String, String),
}

/// One module of a Worker: its name, as imports name it, and its kind.
#[derive(Debug, Clone)]
pub enum Module {
    Es(String),
    Wasm(String),
}

/// A Worker service: modules (files in the config's directory), bindings,
/// and the Durable Object classes it defines (SQLite-backed, under the
/// config's `objects/` directory: workerd's SQL needs a disk).
#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub name: String,
    pub modules: Vec<Module>,
    pub bindings: Vec<Binding>,
    pub durable_objects: Vec<String>,
    pub compatibility_date: String,
}

/// A Cap'n Proto text string.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn binding(b: &Binding) -> String {
    match b {
        Binding::Text(n, v) => format!("(name = {}, text = {})", quoted(n), quoted(v)),
        Binding::Json(n, v) => format!("(name = {}, json = {})", quoted(n), quoted(v)),
        Binding::DurableObject {
            name,
            class,
            service: None,
        } => format!(
            "(name = {}, durableObjectNamespace = {})",
            quoted(name),
            quoted(class)
        ),
        Binding::DurableObject {
            name,
            class,
            service: Some(s),
        } => format!(
            "(name = {}, durableObjectNamespace = (className = {}, serviceName = {}))",
            quoted(name),
            quoted(class),
            quoted(s)
        ),
        Binding::Kv(n, s) => format!("(name = {}, kvNamespace = {})", quoted(n), quoted(s)),
    }
}

fn worker(w: &Worker) -> String {
    let modules: Vec<String> = w
        .modules
        .iter()
        .map(|m| match m {
            Module::Es(n) => format!("(name = {}, esModule = embed {})", quoted(n), quoted(n)),
            Module::Wasm(n) => format!("(name = {}, wasm = embed {})", quoted(n), quoted(n)),
        })
        .collect();
    let bindings: Vec<String> = w.bindings.iter().map(binding).collect();
    let mut out = format!(
        "(\n  compatibilityDate = {},\n  modules = [\n    {}\n  ],\n  bindings = [\n    {}\n  ],\n",
        quoted(&w.compatibility_date),
        modules.join(",\n    "),
        bindings.join(",\n    ")
    );
    if !w.durable_objects.is_empty() {
        let classes: Vec<String> = w
            .durable_objects
            .iter()
            .map(|c| {
                format!(
                    "(className = {}, uniqueKey = {}, enableSql = true)",
                    quoted(c),
                    quoted(&format!("bench-{}-{c}", w.name))
                )
            })
            .collect();
        let _ = write!(
            out,
            "  durableObjectNamespaces = [{}],\n  durableObjectStorage = (localDisk = \"objects\"),\n",
            classes.join(", ")
        );
    }
    out.push_str("  cacheApiOutbound = \"cache\",\n  globalOutbound = \"loopback\",\n)");
    out
}

/// The whole configuration: `workers` served on `sockets` (`(service,
/// port)` on 127.0.0.1), plus the cache, KV and loopback services they use.
pub fn config(workers: &[Worker], sockets: &[(String, u16)]) -> String {
    let mut services: Vec<String> = workers
        .iter()
        .map(|w| format!("(name = {}, worker = .{})", quoted(&w.name), ident(&w.name)))
        .collect();
    services.push("(name = \"cache\", worker = .cacheService)".into());
    services.push("(name = \"kv\", worker = .kvService)".into());
    services.push(
        "(name = \"loopback\", network = (allow = [\"local\", \"private\", \"public\"]))".into(),
    );
    services.push("(name = \"objects\", disk = (path = \"objects\", writable = true))".into());
    let sockets: Vec<String> = sockets
        .iter()
        .map(|(service, port)| {
            format!(
                "(name = {}, address = \"127.0.0.1:{port}\", http = (), service = {})",
                quoted(service),
                quoted(service)
            )
        })
        .collect();
    let mut out = format!(
        "# Generated by `cargo xtask bench edge`; not edited by hand.\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\n\
         const config :Workerd.Config = (\n  services = [\n    {}\n  ],\n  sockets = [\n    {}\n  ],\n);\n",
        services.join(",\n    "),
        sockets.join(",\n    ")
    );
    for w in workers {
        let _ = write!(
            out,
            "\nconst {} :Workerd.Worker = {};\n",
            ident(&w.name),
            worker(w)
        );
    }
    let helper = |name: &str, module: &str| {
        format!(
            "\nconst {name} :Workerd.Worker = (\n  compatibilityDate = \"2026-11-01\",\n  modules = [(name = {m}, esModule = embed {m})],\n);\n",
            m = quoted(module)
        )
    };
    out.push_str(&helper("cacheService", "cache.mjs"));
    out.push_str(&helper("kvService", "kv.mjs"));
    out
}

/// A service name as a Cap'n Proto constant name.
fn ident(name: &str) -> String {
    let mut out = String::from("w");
    out.extend(
        name.split(|c: char| !c.is_ascii_alphanumeric())
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }),
    );
    out
}

/// What a wrangler config gives a Worker, served as workerd service
/// `service`: its compatibility date, its vars (as text, or JSON for
/// tables), Durable Object bindings — of its own classes, or of another
/// Worker's (`script_name`, which names that Worker's service here) — and
/// KV bindings (served by the `kv` service, shared by every Worker).
pub fn from_wrangler(path: &Path, service: &str) -> Result<Worker> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut worker = Worker {
        name: service.into(),
        compatibility_date: doc
            .get("compatibility_date")
            .and_then(|d| d.as_str())
            .with_context(|| format!("{} has no compatibility_date", path.display()))?
            .to_owned(),
        ..Worker::default()
    };
    if let Some(vars) = doc.get("vars").and_then(|v| v.as_table()) {
        for (key, value) in vars {
            worker.bindings.push(match value {
                toml::Value::String(s) => Binding::Text(key.clone(), s.clone()),
                other => Binding::Json(key.clone(), serde_json::to_string(other)?),
            });
        }
    }
    let objects = doc
        .get("durable_objects")
        .and_then(|d| d.get("bindings"))
        .and_then(|b| b.as_array())
        .cloned()
        .unwrap_or_default();
    for o in objects {
        let (Some(name), Some(class)) = (
            o.get("name").and_then(|n| n.as_str()),
            o.get("class_name").and_then(|c| c.as_str()),
        ) else {
            continue;
        };
        let elsewhere = o.get("script_name").and_then(|s| s.as_str());
        if elsewhere.is_none() {
            worker.durable_objects.push(class.to_owned());
        }
        worker.bindings.push(Binding::DurableObject {
            name: name.to_owned(),
            class: class.to_owned(),
            service: elsewhere.map(str::to_owned),
        });
    }
    let kvs = doc
        .get("kv_namespaces")
        .and_then(|k| k.as_array())
        .cloned()
        .unwrap_or_default();
    for kv in kvs {
        if let Some(name) = kv.get("binding").and_then(|b| b.as_str()) {
            worker
                .bindings
                .push(Binding::Kv(name.to_owned(), "kv".to_owned()));
        }
    }
    Ok(worker)
}

/// Sets `name` to text `value`, replacing a var of that name.
pub fn set_text(worker: &mut Worker, name: &str, value: &str) {
    worker
        .bindings
        .retain(|b| !matches!(b, Binding::Text(n, _) | Binding::Json(n, _) if n == name));
    worker
        .bindings
        .push(Binding::Text(name.to_owned(), value.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_names_are_written_as_capnp_reads_them() {
        assert_eq!(quoted("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(ident("js-hello"), "wJsHello");
        let w = Worker {
            name: "edge".into(),
            modules: vec![Module::Es("entry.js".into()), Module::Wasm("x.wasm".into())],
            bindings: vec![
                Binding::Json("SERVICES".into(), r#"{"a":1}"#.into()),
                Binding::DurableObject {
                    name: "GUARD".into(),
                    class: "GuardObject".into(),
                    service: Some("edge".into()),
                },
            ],
            durable_objects: vec!["CartObject".into()],
            compatibility_date: "2026-11-01".into(),
        };
        let text = config(&[w], &[("edge".into(), 8080)]);
        assert!(text.contains(r#"(name = "SERVICES", json = "{\"a\":1}")"#));
        assert!(text.contains(r#"wasm = embed "x.wasm""#));
        assert!(text.contains("enableSql = true"));
        assert!(text.contains(r#"serviceName = "edge""#));
        assert!(text.contains(r#"address = "127.0.0.1:8080""#));
    }

    #[test]
    fn the_workers_read_their_bindings_from_their_wrangler_configs() {
        let root = e2e::Workspace::here().root;
        let edge = from_wrangler(&root.join("wrangler.toml"), "edge").unwrap();
        assert!(edge.durable_objects.is_empty(), "the edge defines no class");
        assert!(edge.bindings.iter().any(|b| matches!(
            b,
            Binding::DurableObject { class, service: Some(s), .. }
                if class == "CartObject" && s == "storefront-objects"
        )));
        assert!(
            edge.bindings
                .iter()
                .any(|b| matches!(b, Binding::Kv(n, _) if n == "FLAGS"))
        );
        assert!(
            edge.bindings
                .iter()
                .any(|b| matches!(b, Binding::Json(n, _) if n == "SERVICES"))
        );
        let objects = from_wrangler(
            &root.join("durable-objects/wrangler.toml"),
            "storefront-objects",
        )
        .unwrap();
        assert!(objects.durable_objects.contains(&"CartObject".to_owned()));
        assert!(objects.durable_objects.contains(&"StockObject".to_owned()));
    }
}
