//! JsonLogic (jsonlogic.com/operations.html) with flagd's own operations
//! (`fractional`, `sem_ver`, `starts_with`, `ends_with`), evaluated over
//! `serde_json` values: the targeting rules of a flagd document.
//!
//! Why not a crate: the JsonLogic engines that build for wasm32 cost the
//! Worker about a megabyte of code (a third of its upload) for the two
//! dozen operations a flag rule uses. This is those operations, with the
//! semantics of the reference implementation (json-logic-js: JavaScript's
//! truthiness, loose equality and number coercion) and flagd's
//! (flagd.dev/reference/custom-operations), checked against `datalogic-rs`
//! by a differential test. Rules are validated when a document is loaded
//! (operation names, `fractional` weights, size); evaluation never panics.

use serde_json::{Number, Value};

/// Every operation a rule may use.
pub const OPERATIONS: &[&str] = &[
    "var",
    "missing",
    "missing_some",
    "if",
    "?:",
    "==",
    "===",
    "!=",
    "!==",
    "!",
    "!!",
    "or",
    "and",
    ">",
    ">=",
    "<",
    "<=",
    "max",
    "min",
    "+",
    "-",
    "*",
    "/",
    "%",
    "map",
    "filter",
    "reduce",
    "all",
    "some",
    "none",
    "merge",
    "in",
    "cat",
    "substr",
    "log",
    "fractional",
    "sem_ver",
    "starts_with",
    "ends_with",
];

/// How deep rules may nest (a validated document is far shallower).
const MAX_DEPTH: usize = 64;

/// Why a rule could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicError(pub String);

impl std::fmt::Display for LogicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Evaluates `rule` against `data` (the evaluation context, with `$flagd`).
pub fn apply(rule: &Value, data: &Value) -> Result<Value, LogicError> {
    eval(rule, data, data, 0)
}

/// JavaScript's truthiness, as JsonLogic defines it (an empty array is
/// false, `"0"` is true).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// `rule`'s one operation and its arguments, if it is one.
fn operation(rule: &Value) -> Option<(&str, &Value)> {
    match rule {
        Value::Object(m) if m.len() == 1 => m.iter().next().map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

/// Evaluates with `root` the flag's whole context (for `fractional`'s
/// implicit bucket key) and `data` the current scope (an item in `map`).
fn eval(rule: &Value, data: &Value, root: &Value, depth: usize) -> Result<Value, LogicError> {
    if depth > MAX_DEPTH {
        return Err(LogicError("the rule nests too deeply".into()));
    }
    let Some((op, raw)) = operation(rule) else {
        return match rule {
            // An array of rules is evaluated element by element.
            Value::Array(items) => items
                .iter()
                .map(|r| eval(r, data, root, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        };
    };
    // Arguments: an array, or one value standing for a one-element array.
    let args: &[Value] = match raw {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    let d = depth + 1;
    let arg = |i: usize| -> Result<Value, LogicError> {
        args.get(i)
            .map_or(Ok(Value::Null), |a| eval(a, data, root, d))
    };
    let all = || -> Result<Vec<Value>, LogicError> {
        args.iter().map(|a| eval(a, data, root, d)).collect()
    };
    Ok(match op {
        "var" => var(&arg(0)?, data, || arg(1))?,
        "missing" => missing(&all()?, data),
        "missing_some" => {
            let need = number(&arg(0)?);
            let keys = match arg(1)? {
                Value::Array(k) => k,
                other => vec![other],
            };
            let absent = missing(&keys, data);
            let found = keys.len() as f64 - absent.as_array().map_or(0, Vec::len) as f64;
            if found >= need {
                Value::Array(vec![])
            } else {
                absent
            }
        }
        "if" | "?:" => {
            let mut i = 0;
            while i + 1 < args.len() {
                if truthy(&eval(&args[i], data, root, d)?) {
                    return eval(&args[i + 1], data, root, d);
                }
                i += 2;
            }
            if i < args.len() { arg(i)? } else { Value::Null }
        }
        "==" => Value::Bool(loose_eq(&arg(0)?, &arg(1)?)),
        "!=" => Value::Bool(!loose_eq(&arg(0)?, &arg(1)?)),
        "===" => Value::Bool(strict_eq(&arg(0)?, &arg(1)?)),
        "!==" => Value::Bool(!strict_eq(&arg(0)?, &arg(1)?)),
        "!" => Value::Bool(!truthy(&arg(0)?)),
        "!!" => Value::Bool(truthy(&arg(0)?)),
        "or" | "and" => {
            let mut last = Value::Null;
            for a in args {
                last = eval(a, data, root, d)?;
                if truthy(&last) == (op == "or") {
                    break;
                }
            }
            last
        }
        ">" | ">=" | "<" | "<=" => {
            let values = all()?;
            let holds = |a: &Value, b: &Value| compare(op, a, b);
            Value::Bool(match values.as_slice() {
                // `<` and `<=` with three: between.
                [a, b, c] if op.starts_with('<') => holds(a, b) && holds(b, c),
                [a, b, ..] => holds(a, b),
                _ => false,
            })
        }
        "max" | "min" => {
            let values: Vec<f64> = all()?.iter().map(number).collect();
            if values.is_empty() || values.iter().any(|v| v.is_nan()) {
                Value::Null
            } else {
                let pick = if op == "max" { f64::max } else { f64::min };
                to_value(values.into_iter().reduce(pick).unwrap_or(f64::NAN))
            }
        }
        "+" => to_value(all()?.iter().map(number).sum()),
        "*" => to_value(all()?.iter().map(number).product()),
        "-" => match all()?.as_slice() {
            [a] => to_value(-number(a)),
            [a, b, ..] => to_value(number(a) - number(b)),
            [] => Value::Null,
        },
        "/" => to_value(number(&arg(0)?) / number(&arg(1)?)),
        "%" => to_value(number(&arg(0)?) % number(&arg(1)?)),
        "map" | "filter" | "all" | "some" | "none" => {
            let items = match arg(0)? {
                Value::Array(items) => items,
                _ => vec![],
            };
            let each = args.get(1).cloned().unwrap_or(Value::Null);
            let mut kept = Vec::new();
            let mut hits = 0;
            for item in &items {
                let r = eval(&each, item, root, d)?;
                match op {
                    "map" => kept.push(r),
                    "filter" if truthy(&r) => kept.push(item.clone()),
                    _ if truthy(&r) => hits += 1,
                    _ => {}
                }
            }
            match op {
                "all" => Value::Bool(!items.is_empty() && hits == items.len()),
                "some" => Value::Bool(hits > 0),
                "none" => Value::Bool(hits == 0),
                _ => Value::Array(kept),
            }
        }
        "reduce" => {
            let items = match arg(0)? {
                Value::Array(items) => items,
                _ => vec![],
            };
            let each = args.get(1).cloned().unwrap_or(Value::Null);
            let mut acc = arg(2)?;
            for current in items {
                let scope = serde_json::json!({ "current": current, "accumulator": acc });
                acc = eval(&each, &scope, root, d)?;
            }
            acc
        }
        "merge" => Value::Array(
            all()?
                .into_iter()
                .flat_map(|v| match v {
                    Value::Array(items) => items,
                    other => vec![other],
                })
                .collect(),
        ),
        "in" => {
            let (needle, hay) = (arg(0)?, arg(1)?);
            Value::Bool(match hay {
                Value::String(s) => s.contains(&text(&needle)),
                Value::Array(items) => items.iter().any(|i| strict_eq(i, &needle)),
                _ => false,
            })
        }
        // Joined as JavaScript's `join` does: null is empty.
        "cat" => Value::String(
            all()?
                .iter()
                .map(|v| if v.is_null() { String::new() } else { text(v) })
                .collect(),
        ),
        "substr" => substr(&text(&arg(0)?), &arg(1)?, &arg(2)?),
        "log" => arg(0)?,
        "starts_with" => Value::Bool(affix(&arg(0)?).starts_with(&affix(&arg(1)?))),
        "ends_with" => Value::Bool(affix(&arg(0)?).ends_with(&affix(&arg(1)?))),
        "sem_ver" => sem_ver(&arg(0)?, &arg(1)?, &arg(2)?),
        "fractional" => fractional(&all()?, root),
        other => return Err(LogicError(format!("unknown operation {other:?}"))),
    })
}

/// `var`: a dot path into `data` (`""` or null: all of it), or a default.
fn var(
    path: &Value,
    data: &Value,
    default: impl FnOnce() -> Result<Value, LogicError>,
) -> Result<Value, LogicError> {
    let path = match path {
        Value::Null => return Ok(data.clone()),
        Value::String(s) if s.is_empty() => return Ok(data.clone()),
        other => text(other),
    };
    match lookup(data, &path) {
        Some(v) => Ok(v.clone()),
        None => default(),
    }
}

/// The value at a dot path; `None` where a step is missing (a null held
/// at the end is a value, as in json-logic-js).
fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The keys among `keys` (or the one array `keys` holds) that `data`
/// lacks or holds as null or `""`.
fn missing(keys: &[Value], data: &Value) -> Value {
    let keys: &[Value] = match keys {
        [Value::Array(inner)] => inner,
        other => other,
    };
    Value::Array(
        keys.iter()
            .filter(|k| match lookup(data, &text(k)) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            })
            .cloned()
            .collect(),
    )
}

/// JavaScript's `Number(v)` (NaN where it would be NaN).
pub fn number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                0.0
            } else {
                s.parse().unwrap_or(f64::NAN)
            }
        }
        Value::Array(items) => match items.as_slice() {
            [] => 0.0,
            [one] => number(&Value::String(text(one))),
            _ => f64::NAN,
        },
        Value::Object(_) => f64::NAN,
    }
}

/// JavaScript's `String(v)` (an integral number without a fraction).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| if i.is_null() { String::new() } else { text(i) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// flagd's string operations read a value as text: null as empty, an
/// array or object as its JSON.
fn affix(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
        other => text(other),
    }
}

/// A number as JSON: integral ones as integers; NaN and infinities, which
/// JSON cannot hold, as null.
fn to_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (x, y) => x == y,
    }
}

/// JavaScript's `==` over JSON values.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(_), Value::Number(_)) => strict_eq(a, b),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => a == b,
        // An object or array meets a primitive as its string.
        (Value::Array(_) | Value::Object(_), _) => loose_eq(&Value::String(text(a)), b),
        (_, Value::Array(_) | Value::Object(_)) => loose_eq(a, &Value::String(text(b))),
        // Booleans and strings meet numbers as numbers.
        _ => number(a) == number(b),
    }
}

/// JavaScript's relational operators: strings compare as strings, anything
/// else as numbers (NaN compares false).
fn compare(op: &str, a: &Value, b: &Value) -> bool {
    let ordering = match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => number(a).partial_cmp(&number(b)),
    };
    ordering.is_some_and(|o| match op {
        ">" => o.is_gt(),
        ">=" => o.is_ge(),
        "<" => o.is_lt(),
        _ => o.is_le(),
    })
}

/// `substr`: characters from `start` (from the end if negative), `len`
/// of them (leaving that many off the end if negative; all if absent).
fn substr(s: &str, start: &Value, len: &Value) -> Value {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = number(start) as i64;
    let from = if start < 0 {
        (n + start).max(0)
    } else {
        start.min(n)
    };
    let to = match len {
        Value::Null => n,
        l => {
            let l = number(l) as i64;
            if l < 0 {
                (n + l).max(from)
            } else {
                (from + l).min(n)
            }
        }
    };
    Value::String(chars[from as usize..to.max(from) as usize].iter().collect())
}

/// flagd's `sem_ver`: `[version, operator, version]`, versions as semver
/// (a `v` prefix and missing minor or patch allowed); null when either is
/// not a version or the operator is not one of `= != < <= > >= ^ ~`.
fn sem_ver(a: &Value, op: &Value, b: &Value) -> Value {
    let (Some(a), Some(b), Value::String(op)) = (version(a), version(b), op) else {
        return Value::Null;
    };
    Value::Bool(match op.as_str() {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        ">=" => a >= b,
        "^" => a.major == b.major,
        "~" => a.major == b.major && a.minor == b.minor,
        _ => return Value::Null,
    })
}

fn version(v: &Value) -> Option<semver::Version> {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let raw = raw.strip_prefix(['v', 'V']).unwrap_or(&raw);
    let raw = raw.split('+').next().unwrap_or_default();
    let (core, pre) = raw.split_at(raw.find('-').unwrap_or(raw.len()));
    let padded = match core.bytes().filter(|b| *b == b'.').count() {
        0 => format!("{core}.0.0{pre}"),
        1 => format!("{core}.0{pre}"),
        _ => raw.to_owned(),
    };
    semver::Version::parse(&padded).ok()
}

/// flagd's `fractional`: a bucket key (the first argument if it is a
/// string, else the flag key and `targetingKey`, concatenated), hashed
/// with 32-bit MurmurHash3 into the sum of the weights; the variant whose
/// range holds it. Null when the arguments are not `[variant, weight]`
/// pairs or there is no key.
fn fractional(args: &[Value], root: &Value) -> Value {
    let (key, pairs) = match args {
        [Value::String(key), rest @ ..] => (key.clone(), rest),
        [first, rest @ ..] => {
            let targeting = root.get("targetingKey").and_then(Value::as_str);
            let Some(targeting) = targeting.filter(|t| !t.is_empty()) else {
                return Value::Null;
            };
            let flag = root
                .pointer("/$flagd/flagKey")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let pairs = if first.is_null() { rest } else { args };
            (format!("{flag}{targeting}"), pairs)
        }
        [] => return Value::Null,
    };
    let mut buckets = Vec::new();
    for pair in pairs {
        let Some([Value::String(variant), rest @ ..]) = pair.as_array().map(Vec::as_slice) else {
            return Value::Null;
        };
        let weight = rest.first().map_or(1, |w| w.as_i64().unwrap_or(1).max(0));
        buckets.push((variant, weight as u64));
    }
    let total: u64 = buckets.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return Value::Null;
    }
    let bucket = (u64::from(murmur3_32(key.as_bytes())) * total) >> 32;
    let mut end = 0;
    for (variant, weight) in buckets {
        end += weight;
        if bucket < end {
            return Value::String(variant.clone());
        }
    }
    Value::Null
}

/// MurmurHash3, x86 32-bit, seed 0 (what flagd buckets with).
fn murmur3_32(bytes: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = 0u32;
    let mut blocks = bytes.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h = (h ^ mix(k))
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, b| (k << 8) | u32::from(*b));
        h ^= mix(k);
    }
    h ^= bytes.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests;
