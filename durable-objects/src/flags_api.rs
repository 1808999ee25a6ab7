//! The one typed description of calls into the flags object
//! ([`crate::flags_object`]), shared by the edge (caller) and the object,
//! and where the published document lives in Workers KV.

use serde::{Deserialize, Serialize};

/// The Durable Object binding, and the one object's name.
pub const BINDING: &str = "FLAGS_STORE";
pub const OBJECT: &str = "flags";
/// The KV binding edge isolates read, and the key of the document.
pub const KV_BINDING: &str = "FLAGS";
pub const KV_KEY: &str = "document";
/// Where every call goes: `POST` with a [`FlagsCall`] as JSON.
pub const CALL: &str = "https://flags/call";

/// Every call into the flags object, and what it answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum FlagsCall {
    /// The document as saved: `200` with [`Published`].
    Document,
    /// Replace the document if it is still at `if_match`: `200` with the
    /// new [`Published`], `412` when it changed, `503` when it was saved
    /// but not yet published.
    Save(Save),
}

/// What KV holds and `GET` answers: the document and its version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Published {
    pub version: i64,
    /// `None` before the first save: the edge's built-in defaults apply.
    pub document: Option<serde_json::Value>,
}

/// [`FlagsCall::Save`]: replace the document if it is still at `if_match`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Save {
    pub if_match: i64,
    pub document: serde_json::Value,
    pub actor: String,
}
