//! Whether the two Workers' configs agree: the edge (`wrangler.toml`) binds
//! its Durable Objects by `script_name` in `storefront-objects`
//! (`durable-objects/wrangler.toml`, entry `durable-objects/entry.mjs`), and
//! Cloudflare checks none of that pairing at deploy time — a binding to a
//! class the other Worker does not export, or a KV namespace id that differs
//! between them, fails only when a request meets it.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// Every disagreement between the edge's config `edge`, the objects
/// Worker's `objects` (both wrangler.toml text) and its entry `entry_mjs`;
/// empty when they pair. Errors are TOML that does not parse.
pub fn disagreements(edge: &str, objects: &str, entry_mjs: &str) -> Result<Vec<String>> {
    let edge: toml::Table = edge.parse()?;
    let objects: toml::Table = objects.parse()?;
    let Some(objects_name) = objects.get("name").and_then(|n| n.as_str()) else {
        bail!("the objects Worker's config has no name");
    };
    let mut found = Vec::new();
    let theirs = object_bindings(&objects);
    for (binding, (class, script)) in object_bindings(&edge) {
        if script.as_deref() != Some(objects_name) {
            found.push(format!(
                "the edge's Durable Object binding {binding} has script_name {script:?}, not {objects_name:?}"
            ));
        }
        match theirs.get(&binding) {
            Some((their_class, _)) if *their_class == class => {}
            Some((their_class, _)) => found.push(format!(
                "binding {binding}: the edge says class {class}, {objects_name} says {their_class}"
            )),
            None => found.push(format!(
                "binding {binding} ({class}) is not in {objects_name}'s config"
            )),
        }
    }
    let migrated = migrated_classes(&objects);
    for (binding, (class, _)) in &theirs {
        if !exported(entry_mjs, class) {
            found.push(format!(
                "{objects_name}'s entry does not export {class} (binding {binding})"
            ));
        }
        if !migrated.iter().any(|c| c == class) {
            found.push(format!(
                "no migration of {objects_name} creates or receives {class}"
            ));
        }
    }
    let their_kv = kv_namespaces(&objects);
    for (binding, id) in kv_namespaces(&edge) {
        match their_kv.get(&binding) {
            Some(their_id) if *their_id != id => found.push(format!(
                "KV namespace {binding}: id {id} in the edge's config, {their_id} in {objects_name}'s"
            )),
            _ => {}
        }
    }
    Ok(found)
}

/// Binding name → (class name, script name) of `[[durable_objects.bindings]]`.
fn object_bindings(doc: &toml::Table) -> BTreeMap<String, (String, Option<String>)> {
    array(doc.get("durable_objects").and_then(|d| d.get("bindings")))
        .filter_map(|b| {
            Some((
                text(b, "name")?,
                (text(b, "class_name")?, text(b, "script_name")),
            ))
        })
        .collect()
}

/// Binding name → id of `[[kv_namespaces]]`.
fn kv_namespaces(doc: &toml::Table) -> BTreeMap<String, String> {
    array(doc.get("kv_namespaces"))
        .filter_map(|k| Some((text(k, "binding")?, text(k, "id")?)))
        .collect()
}

/// The classes the `[[migrations]]` create or receive by transfer or rename.
fn migrated_classes(doc: &toml::Table) -> Vec<String> {
    let mut classes = Vec::new();
    for m in array(doc.get("migrations")) {
        for key in ["new_sqlite_classes", "new_classes"] {
            classes.extend(
                array(m.get(key))
                    .filter_map(|c| c.as_str())
                    .map(str::to_owned),
            );
        }
        for key in ["transferred_classes", "renamed_classes"] {
            classes.extend(
                array(m.get(key))
                    .filter_map(|c| c.get("to").and_then(|t| t.as_str()))
                    .map(str::to_owned),
            );
        }
    }
    classes
}

/// The string `key` of the table `entry`, if it has one.
fn text(entry: &toml::Value, key: &str) -> Option<String> {
    entry.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

fn array(value: Option<&toml::Value>) -> impl Iterator<Item = &toml::Value> {
    value.and_then(|v| v.as_array()).into_iter().flatten()
}

/// Whether `entry_mjs` exports `class` by name (`export { A, B } from …`).
fn exported(entry_mjs: &str, class: &str) -> bool {
    entry_mjs
        .lines()
        .filter(|l| l.trim_start().starts_with("export {"))
        .any(|l| l.split(['{', '}', ',']).any(|name| name.trim() == class))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The disagreements once `edit` has changed the repository's edge
    /// config, objects config and objects entry (in that order).
    fn found_after(edit: impl FnOnce(&mut [String; 3])) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let mut files = [
            read("wrangler.toml"),
            read("durable-objects/wrangler.toml"),
            read("durable-objects/entry.mjs"),
        ];
        edit(&mut files);
        let [edge, objects, entry] = &files;
        disagreements(edge, objects, entry).unwrap()
    }

    #[test]
    fn the_repository_configs_agree() {
        assert_eq!(found_after(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn a_class_the_entry_does_not_export_is_named() {
        let found = found_after(|f| f[2] = f[2].replace("StockObject", "Stock"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("does not export StockObject"),
            "{found:?}"
        );
    }

    #[test]
    fn a_kv_id_that_differs_is_named() {
        let found = found_after(|f| {
            f[1] = f[1].replacen(
                "00000000000000000000000000000001",
                "ffffffffffffffffffffffffffffffff",
                1,
            )
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("KV namespace DROPS"), "{found:?}");
    }

    #[test]
    fn a_binding_to_another_script_or_class_is_named() {
        let found = found_after(|f| {
            f[0] = f[0]
                .replacen(
                    "script_name = \"storefront-objects\"",
                    "script_name = \"elsewhere\"",
                    1,
                )
                .replacen("class_name = \"GuardObject\"", "class_name = \"Guard\"", 1)
        });
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn a_class_without_a_migration_is_named() {
        let found = found_after(|f| {
            f[1] = f[1].replace(
                "new_sqlite_classes = [\"GuardObject\"]",
                "new_sqlite_classes = []",
            )
        });
        assert_eq!(
            found,
            vec!["no migration of storefront-objects creates or receives GuardObject"]
        );
    }
}
