//! A flagd flag-definition document, read and validated once. Every error
//! names the JSON path of the first thing wrong, e.g.
//! `flags.new-checkout.defaultVariant: "blue" is not one of the variants`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::logic::OPERATIONS;

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT: usize = 512 * 1024;
/// The most flags a document may define.
pub const MAX_FLAGS: usize = 1000;
/// How deep `$ref`s may nest.
const MAX_REF_DEPTH: usize = 16;
/// How many JSON values all targeting rules may hold once every `$ref` is
/// replaced by its evaluator: shallow references can still multiply (ten
/// levels of an evaluator naming the next twice is 2^10 copies), and each
/// copy is compiled and kept in every isolate.
pub const MAX_EXPANDED_VALUES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// Where, as a dotted JSON path (`flags.<key>.targeting`).
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

fn err(path: impl Into<String>, problem: impl Into<String>) -> DocumentError {
    DocumentError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// One flag, ready to evaluate.
pub struct Flag {
    pub enabled: bool,
    pub variants: Map<String, Value>,
    pub default_variant: Option<String>,
    /// `None` when absent or `{}` (flagd: no targeting).
    /// Every `$ref` replaced by its evaluator, every operation known.
    pub targeting: Option<Value>,
    /// The document's metadata overlaid with the flag's own.
    pub metadata: Map<String, Value>,
}

/// A validated document: its flags with resolved targeting.
pub struct FlagSet {
    flags: BTreeMap<String, Flag>,
    pub metadata: Map<String, Value>,
}

impl std::fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagSet")
            .field("flags", &self.flags.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, DocumentError> {
    value
        .as_object()
        .ok_or_else(|| err(path, "must be an object"))
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), DocumentError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(err(
            format!("{path}.{k}"),
            format!(
                "is not part of the flagd schema (allowed: {})",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// flagd metadata: a flat object of strings, numbers and booleans.
fn metadata(value: Option<&Value>, path: &str) -> Result<Map<String, Value>, DocumentError> {
    let Some(value) = value else {
        return Ok(Map::new());
    };
    let map = object(value, path)?;
    for (k, v) in map {
        if !(v.is_string() || v.is_number() || v.is_boolean()) {
            return Err(err(
                format!("{path}.{k}"),
                "metadata values are strings, numbers or booleans",
            ));
        }
    }
    Ok(map.clone())
}

/// Refuses any number a JavaScript reader would not read exactly (beyond
/// ±2^53, RFC 7493 I-JSON): a `fractional` weight, a variant, a rule's
/// constant. The document is stored in KV and read back by the platform.
fn check_numbers(value: &Value, path: &str) -> Result<(), DocumentError> {
    match value {
        Value::Number(n) => {
            let safe = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => origin_adapter::wire::is_safe_integer(i),
                (None, Some(_), _) => false,
                (None, None, Some(f)) => f.abs() <= origin_adapter::wire::MAX_SAFE_INTEGER as f64,
                _ => false,
            };
            if safe {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!("{n} is outside ±(2^53 − 1), which JavaScript cannot read exactly"),
                ))
            }
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check_numbers(v, &at)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_numbers(v, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

/// Replaces every `{"$ref": "name"}` with the shared evaluator `name`,
/// counting every value produced against `budget` (what is left of
/// [`MAX_EXPANDED_VALUES`] for the whole document).
fn resolve_refs(
    rule: &Value,
    evaluators: &Map<String, Value>,
    path: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<Value, DocumentError> {
    if depth > MAX_REF_DEPTH {
        return Err(err(path, "$ref nests too deep (a cycle?)"));
    }
    *budget = budget.checked_sub(1).ok_or_else(|| {
        err(
            path,
            format!(
                "the rules expand to more than {MAX_EXPANDED_VALUES} values once $refs are resolved"
            ),
        )
    })?;
    match rule {
        Value::Object(map) if map.len() == 1 && map.contains_key("$ref") => {
            let name = map["$ref"]
                .as_str()
                .ok_or_else(|| err(format!("{path}.$ref"), "must name an evaluator"))?;
            let target = evaluators.get(name).ok_or_else(|| {
                err(
                    format!("{path}.$ref"),
                    format!("no evaluator {name:?} in $evaluators"),
                )
            })?;
            // The reference itself produced no value of its own.
            *budget += 1;
            resolve_refs(
                target,
                evaluators,
                &format!("$evaluators.{name}"),
                depth + 1,
                budget,
            )
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(
                    k.clone(),
                    resolve_refs(v, evaluators, &format!("{path}.{k}"), depth, budget)?,
                );
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| resolve_refs(v, evaluators, &format!("{path}[{i}]"), depth, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The largest total of a `fractional`'s weights: flagd's weights are
/// 32-bit, and the bucket is `hash × total >> 32` in 64 bits, which a larger
/// total would overflow (every subject then lands in the first variant).
pub const MAX_FRACTIONAL_TOTAL: i64 = i32::MAX as i64;

/// Checks every `fractional` in a resolved rule: each weight a whole number
/// from 0, their total at most [`MAX_FRACTIONAL_TOTAL`] and above 0.
fn check_fractional(rule: &Value, path: &str) -> Result<(), DocumentError> {
    match rule {
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let at = format!("{path}.{k}");
            if let ("fractional", Value::Array(args)) = (k.as_str(), v) {
                let mut total: i64 = 0;
                for (i, arg) in args.iter().enumerate() {
                    let Value::Array(bucket) = arg else { continue };
                    let weight = match bucket.get(1) {
                        None => 1,
                        Some(w) => w.as_i64().filter(|w| *w >= 0).ok_or_else(|| {
                            err(format!("{at}[{i}][1]"), "a weight is a whole number from 0")
                        })?,
                    };
                    total = total.saturating_add(weight);
                }
                if !(1..=MAX_FRACTIONAL_TOTAL).contains(&total) {
                    return Err(err(
                        at,
                        format!("the weights must add up to 1 to {MAX_FRACTIONAL_TOTAL}"),
                    ));
                }
            }
            check_fractional(v, &at)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_fractional(v, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

/// Refuses an operation the evaluator does not know, at load, rather than
/// when a customer's request meets it.
fn check_operations(rule: &Value, known: &[&str], path: &str) -> Result<(), DocumentError> {
    match rule {
        Value::Object(map) if map.is_empty() => Ok(()),
        Value::Object(map) if map.len() == 1 => {
            let (op, args) = map.iter().next().ok_or_else(|| err(path, "empty"))?;
            if !known.contains(&op.as_str()) {
                return Err(err(path.to_owned(), format!("unknown operation {op:?}")));
            }
            check_operations(args, known, &format!("{path}.{op}"))
        }
        Value::Object(map) => Err(err(
            path,
            format!(
                "an operation has exactly one key, not {}",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_operations(v, known, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

/// The JSON type a variant value has, for the one-type-per-flag rule.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Null => "null",
    }
}

impl FlagSet {
    /// Reads and validates a document.
    pub fn parse(text: &str) -> Result<Self, DocumentError> {
        if text.len() > MAX_DOCUMENT {
            return Err(err(
                "$",
                format!("the document exceeds {MAX_DOCUMENT} bytes"),
            ));
        }
        let root: Value =
            serde_json::from_str(text).map_err(|e| err("$", format!("not JSON: {e}")))?;
        Self::from_value(&root)
    }

    pub fn from_value(root: &Value) -> Result<Self, DocumentError> {
        check_numbers(root, "")?;
        let root = object(root, "$")?;
        only_keys(root, &["$schema", "flags", "$evaluators", "metadata"], "$")?;
        let mut budget = MAX_EXPANDED_VALUES;
        let set_metadata = metadata(root.get("metadata"), "metadata")?;
        let empty = Map::new();
        let evaluators = match root.get("$evaluators") {
            None => &empty,
            Some(v) => object(v, "$evaluators")?,
        };
        let flags = object(
            root.get("flags")
                .ok_or_else(|| err("flags", "is missing"))?,
            "flags",
        )?;
        if flags.len() > MAX_FLAGS {
            return Err(err("flags", format!("more than {MAX_FLAGS} flags")));
        }
        let mut out = BTreeMap::new();
        for (key, definition) in flags {
            let at = |field: &str| format!("flags.{key}.{field}");
            if key.is_empty() || key.len() > 128 {
                return Err(err(
                    format!("flags.{key}"),
                    "a flag key is 1 to 128 characters",
                ));
            }
            let def = object(definition, &format!("flags.{key}"))?;
            only_keys(
                def,
                &[
                    "state",
                    "variants",
                    "defaultVariant",
                    "targeting",
                    "metadata",
                ],
                &format!("flags.{key}"),
            )?;
            let enabled = match def.get("state").and_then(Value::as_str) {
                Some("ENABLED") => true,
                Some("DISABLED") => false,
                _ => return Err(err(at("state"), "must be \"ENABLED\" or \"DISABLED\"")),
            };
            let variants = object(
                def.get("variants")
                    .ok_or_else(|| err(at("variants"), "is missing"))?,
                &at("variants"),
            )?;
            // One type per flag: the default variant's (else the first's).
            let reference = def
                .get("defaultVariant")
                .and_then(Value::as_str)
                .and_then(|d| variants.get(d))
                .or_else(|| variants.values().next());
            let first = reference
                .map(kind)
                .ok_or_else(|| err(at("variants"), "must define at least one variant"))?;
            if first == "null" || first == "array" {
                return Err(err(
                    at("variants"),
                    "variants are booleans, strings, numbers or objects",
                ));
            }
            if let Some((name, value)) = variants.iter().find(|(_, v)| kind(v) != first) {
                return Err(err(
                    format!("{}.{name}", at("variants")),
                    format!("is a {}, the other variants are {first}s", kind(value)),
                ));
            }
            let default_variant = match def.get("defaultVariant") {
                None | Some(Value::Null) => None,
                Some(Value::String(v)) if variants.contains_key(v) => Some(v.clone()),
                Some(Value::String(v)) => {
                    return Err(err(
                        at("defaultVariant"),
                        format!("{v:?} is not one of the variants"),
                    ));
                }
                Some(_) => return Err(err(at("defaultVariant"), "must be a variant name or null")),
            };
            let targeting = match def.get("targeting") {
                None => None,
                Some(Value::Object(m)) if m.is_empty() => None,
                Some(rule @ Value::Object(_)) => {
                    let resolved =
                        resolve_refs(rule, evaluators, &at("targeting"), 0, &mut budget)?;
                    check_operations(&resolved, OPERATIONS, &at("targeting"))?;
                    check_fractional(&resolved, &at("targeting"))?;
                    Some(resolved)
                }
                Some(_) => return Err(err(at("targeting"), "must be a JsonLogic object")),
            };
            let mut flag_metadata = set_metadata.clone();
            flag_metadata.extend(metadata(def.get("metadata"), &at("metadata"))?);
            out.insert(
                key.clone(),
                Flag {
                    enabled,
                    variants: variants.clone(),
                    default_variant,
                    targeting,
                    metadata: flag_metadata,
                },
            );
        }
        Ok(Self {
            flags: out,
            metadata: set_metadata,
        })
    }

    pub fn flag(&self, key: &str) -> Option<&Flag> {
        self.flags.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(String::as_str)
    }
}
