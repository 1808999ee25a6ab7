//! Feature flags in OpenFeature's flagd format, evaluated at the edge.
//!
//! [`document`] reads and validates a flag-definition document (schema v0:
//! `flags`, `$evaluators` with `$ref`, `metadata`) and compiles every
//! targeting rule once — an unknown operation is refused there, with the
//! JSON path of the rule. [`FlagSet::evaluate`] is the pure evaluation:
//! definitions + context → OpenFeature evaluation details. JsonLogic and
//! flagd's operations (`fractional`, `sem_ver`, `starts_with`, `ends_with`)
//! come from `datalogic-rs`; only flagd's resolution rules are written here.

pub mod document;

use datalogic_rs::bumpalo::Bump;
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
                let arena = Bump::new();
                match self.engine.evaluate(rule, &data, &arena) {
                    Err(e) => {
                        return Details::error(
                            default,
                            ErrorCode::General,
                            format!("targeting failed: {e}"),
                            metadata,
                        );
                    }
                    Ok(result) => match result.to_serde_value() {
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
