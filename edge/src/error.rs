//! The edge's one error type: a status and a detail safe to show the client.
//! Internal causes are logged where they happen, never sent.

use origin_adapter::wire::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeError {
    pub status: u16,
    pub detail: String,
    /// Extra response headers, e.g. `Allow` on a 405.
    pub headers: Vec<(&'static str, String)>,
    /// What really happened, for the log only — never sent to the client.
    pub cause: Option<String>,
}

impl EdgeError {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// With an internal cause, which the shell logs and never sends.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn problem(&self) -> Problem {
        Problem::new(self.status, self.detail.clone())
    }
}

impl std::fmt::Display for EdgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}
