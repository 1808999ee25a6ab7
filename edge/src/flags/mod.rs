//! Feature flags in OpenFeature's flagd format, evaluated at the edge.
//!
//! [`document`] reads and validates a flag-definition document (schema v0:
//! `flags`, `$evaluators` with `$ref`, `metadata`) and resolves every
//! targeting rule once — an unknown operation is refused there, with the
//! JSON path of the rule. [`FlagSet::evaluate`] is the pure evaluation:
//! definitions + context → OpenFeature evaluation details. [`logic`] is
//! JsonLogic with flagd's operations (`fractional`, `sem_ver`,
//! `starts_with`, `ends_with`), checked against `datalogic-rs`.

pub mod document;
pub mod logic;
pub mod overrides;

/// Flags the edge itself obeys. Their built-in values (in `flags/flags.json`,
/// compiled in) apply until a document says otherwise.
pub mod obeyed {
    /// `false` refuses checkout with 503; carts are untouched.
    pub const CHECKOUT_ENABLED: &str = "checkout-enabled";
    /// `true` refuses every write with 503 while reads keep working.
    pub const MAINTENANCE_MODE: &str = "maintenance-mode";
    /// A number of seconds caps how long catalog answers are fresh.
    pub const CATALOG_MAX_AGE: &str = "catalog-max-age";
}

/// The document the edge uses until one is saved (and when none can be read).
pub const BUILT_IN: &str = include_str!("../../../flags/flags.json");

/// The evaluation context of a request: `targetingKey` (the user id, else
/// the anonymous id), the session's roles, and the request's attributes.
pub fn context(
    user_id: Option<&str>,
    anonymous_id: Option<&str>,
    roles: &[String],
    country: Option<&str>,
    continent: Option<&str>,
    path: &str,
) -> Map<String, Value> {
    let mut c = Map::new();
    if let Some(key) = user_id.or(anonymous_id) {
        c.insert("targetingKey".into(), Value::from(key));
    }
    if let Some(user) = user_id {
        c.insert("userId".into(), Value::from(user));
    }
    // Kept after login too, so a rule can bucket by it and a guest keeps
    // their variant when they log in (see the README).
    if let Some(anonymous) = anonymous_id {
        c.insert("anonymousId".into(), Value::from(anonymous));
    }
    c.insert("roles".into(), Value::from(roles.to_vec()));
    c.insert("loggedIn".into(), Value::from(user_id.is_some()));
    if let Some(country) = country {
        c.insert("country".into(), Value::from(country));
    }
    if let Some(continent) = continent {
        c.insert("continent".into(), Value::from(continent));
    }
    c.insert("path".into(), Value::from(path));
    c
}

/// The context of a decision about shared state (how long a catalog
/// entry lives): the resource's path and nothing of the requester's, so
/// every requester gets the same answer.
pub fn shared_context(path: &str) -> Map<String, Value> {
    context(None, None, &[], None, None, path)
}

/// Whether a flag's metadata marks it for the browser (`clientVisible: true`).
pub fn client_visible(flag: &Flag) -> bool {
    flag.metadata.get("clientVisible") == Some(&Value::Bool(true))
}

use serde::Serialize;
use serde_json::{Map, Value};

pub use document::{DocumentError, Flag, FlagSet};

/// Why a value was chosen (OpenFeature's resolution reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// No targeting: the default variant.
    Static,
    /// Targeting matched nothing: the default variant (or the caller's).
    Default,
    TargetingMatch,
    Disabled,
    Error,
}

/// What went wrong (OpenFeature's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FlagNotFound,
    TypeMismatch,
    ParseError,
    General,
}

/// OpenFeature evaluation details, as `cargo xtask flags eval` prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    pub value: Value,
    pub variant: Option<String>,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub flag_metadata: Map<String, Value>,
}

impl Details {
    fn error(
        default: &Value,
        code: ErrorCode,
        message: String,
        metadata: Map<String, Value>,
    ) -> Self {
        Self {
            value: default.clone(),
            variant: None,
            reason: Reason::Error,
            error_code: Some(code),
            error_message: Some(message),
            flag_metadata: metadata,
        }
    }
}

/// Whether `value` is of the type the caller's `default` asks for; a
/// `null` default accepts anything.
fn same_type(default: &Value, value: &Value) -> bool {
    matches!(
        (default, value),
        (Value::Null, _)
            | (Value::Bool(_), Value::Bool(_))
            | (Value::String(_), Value::String(_))
            | (Value::Number(_), Value::Number(_))
            | (Value::Object(_), Value::Object(_))
            | (Value::Array(_), Value::Array(_))
    )
}

impl FlagSet {
    /// What asking for an undefined flag answers: the caller's default,
    /// reason `ERROR`, code `FLAG_NOT_FOUND`.
    pub fn not_found(&self, key: &str, default: &Value) -> Details {
        Details::error(
            default,
            ErrorCode::FlagNotFound,
            format!("flag {key:?} is not defined"),
            self.metadata.clone(),
        )
    }

    /// Evaluates flag `key` for `context` (which carries `targetingKey` and
    /// any attributes), as flagd does. `default` is the caller's default
    /// value (and type); `now` is Unix seconds, offered to rules as
    /// `$flagd.timestamp`.
    pub fn evaluate(
        &self,
        key: &str,
        context: &Map<String, Value>,
        default: &Value,
        now: i64,
    ) -> Details {
        self.evaluate_with(key, context, default, now, None)
    }

    /// [`Self::evaluate`], with a QA override's forced variants: a forced
    /// variant of an enabled flag wins over targeting (reason
    /// `TARGETING_MATCH`); an unknown variant is ignored.
    pub fn evaluate_with(
        &self,
        key: &str,
        context: &Map<String, Value>,
        default: &Value,
        now: i64,
        forced: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Details {
        if let Some(flag) = self.flag(key)
            && flag.enabled
            && let Some(variant) = forced.and_then(|f| f.get(key))
            && let Some(value) = flag.variants.get(variant)
            && same_type(default, value)
        {
            return Details {
                value: value.clone(),
                variant: Some(variant.clone()),
                reason: Reason::TargetingMatch,
                error_code: None,
                error_message: None,
                flag_metadata: flag.metadata.clone(),
            };
        }
        let Some(flag) = self.flag(key) else {
            return Details::error(
                default,
                ErrorCode::FlagNotFound,
                format!("flag {key:?} is not defined"),
                self.metadata.clone(),
            );
        };
        let metadata = flag.metadata.clone();
        if !flag.enabled {
            return Details {
                value: default.clone(),
                variant: None,
                reason: Reason::Disabled,
                error_code: None,
                error_message: None,
                flag_metadata: metadata,
            };
        }
        let (variant, reason) = match &flag.targeting {
            None => (flag.default_variant.clone(), Reason::Static),
            Some(rule) => {
                let mut data = context.clone();
                data.insert(
                    "$flagd".into(),
                    serde_json::json!({ "flagKey": key, "timestamp": now }),
                );
                let data = Value::Object(data);
                match logic::apply(rule, &data) {
                    Err(e) => {
                        return Details::error(
                            default,
                            ErrorCode::General,
                            format!("targeting failed: {e}"),
                            metadata,
                        );
                    }
                    Ok(result) => match result {
                        Value::Null => (flag.default_variant.clone(), Reason::Default),
                        Value::String(v) => (Some(v), Reason::TargetingMatch),
                        // flagd reads a boolean result as the variant "true"/"false".
                        Value::Bool(b) => (Some(b.to_string()), Reason::TargetingMatch),
                        other => {
                            return Details::error(
                                default,
                                ErrorCode::General,
                                format!("targeting returned {other}, not a variant name"),
                                metadata,
                            );
                        }
                    },
                }
            }
        };
        let Some(variant) = variant else {
            // No default variant: the caller's own default ("code default").
            return Details {
                value: default.clone(),
                variant: None,
                reason: Reason::Default,
                error_code: None,
                error_message: None,
                flag_metadata: metadata,
            };
        };
        let Some(value) = flag.variants.get(&variant) else {
            return Details::error(
                default,
                ErrorCode::General,
                format!("targeting chose {variant:?}, which is not a variant of {key:?}"),
                metadata,
            );
        };
        if !same_type(default, value) {
            return Details::error(
                default,
                ErrorCode::TypeMismatch,
                format!("flag {key:?} is {value}, not of the type asked for"),
                metadata,
            );
        }
        Details {
            value: value.clone(),
            variant: Some(variant),
            reason,
            error_code: None,
            error_message: None,
            flag_metadata: metadata,
        }
    }
}

#[cfg(test)]
mod tests;
