//! An answer as plain data: status, media type, body and the headers that
//! matter. The use cases decide it; the shell turns it into a platform
//! response in one place.

use serde::Serialize;

use crate::error::EdgeError;

/// One answer to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// What the operator should know about this answer (a checkout left
    /// in the outbox, a merge that failed): logged by the shell, never sent.
    pub note: Option<String>,
}

impl Reply {
    /// `body` as JSON.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Self, EdgeError> {
        let body = serde_json::to_vec(body)
            .map_err(|_| EdgeError::internal("the edge could not encode its answer"))?;
        Ok(Self::raw(status, "application/json", body))
    }

    /// A body already encoded.
    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            body,
            headers: Vec::new(),
            note: None,
        }
    }

    /// With a note for the log.
    pub fn noted(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// With one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}
