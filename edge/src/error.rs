//! What went wrong, in two kinds that never mix: a client's mistake
//! ([`ClientError`], 4xx — the detail says what to change) and a failure
//! of the edge or what it depends on ([`InternalError`], 5xx — the detail
//! is safe to show; the cause is logged, never sent). Both are answered
//! the one way, as an RFC 9457 problem document ([`EdgeError::problem`]),
//! by the shell's entry. Each status is made by its named constructor, so
//! handlers say what happened rather than which number to send.

use origin_adapter::wire::Problem;

/// A client's mistake: a 4xx status, what to change, extra headers
/// (`Allow` on a 405, `Retry-After` on a 429, `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    status: u16,
    detail: String,
    headers: Vec<(&'static str, String)>,
}

/// The edge, its configuration or an origin failed: a 5xx status, a
/// detail safe to show, extra headers (`Retry-After` on a 503), and what
/// really happened — for the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalError {
    status: u16,
    detail: String,
    headers: Vec<(&'static str, String)>,
    cause: Option<String>,
}

/// Every error a request can end in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    Client(ClientError),
    Internal(InternalError),
}

macro_rules! named {
    ($($(#[$doc:meta])* $name:ident => $status:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(detail: impl Into<String>) -> Self {
                Self::new($status, detail)
            }
        )*
    };
}

impl EdgeError {
    /// An error of `status`, a client's below 500 and the edge's from 500
    /// on. For statuses decided elsewhere (a body reader's, a cart rule's,
    /// an origin's refusal); handlers use the named constructors.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        if status < 500 {
            debug_assert!((400..500).contains(&status), "not an error: {status}");
            EdgeError::Client(ClientError {
                status,
                detail,
                headers: Vec::new(),
            })
        } else {
            EdgeError::Internal(InternalError {
                status,
                detail,
                headers: Vec::new(),
                cause: None,
            })
        }
    }

    named! {
        /// `400`: the request is malformed.
        bad_request => 400;
        /// `401`: credentials are missing or wrong.
        unauthorized => 401;
        /// `403`: understood, and not allowed.
        forbidden => 403;
        /// `404`: nothing here.
        not_found => 404;
        /// `405`: not this method (add `Allow`).
        method_not_allowed => 405;
        /// `409`: the resource's state does not allow it.
        conflict => 409;
        /// `412`: `If-Match` names another version.
        precondition_failed => 412;
        /// `413`: the body is too large.
        too_large => 413;
        /// `414`: the URI is too long.
        uri_too_long => 414;
        /// `415`: not a media type this route reads.
        unsupported_media_type => 415;
        /// `422`: well-formed, but not acceptable.
        unprocessable => 422;
        /// `426`: this route speaks another protocol (add `Upgrade`).
        upgrade_required => 426;
        /// `428`: the route needs `If-Match`.
        precondition_required => 428;
        /// `429`: too many requests (add `Retry-After`).
        too_many_requests => 429;
        /// `500`: the edge failed (give the cause with [`Self::with_cause`]).
        internal => 500;
        /// `502`: an origin answered with a failure or something unreadable.
        bad_gateway => 502;
        /// `503`: not available now (add `Retry-After`).
        unavailable => 503;
        /// `504`: an origin did not answer in time.
        gateway_timeout => 504;
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::Client(e) => e.status,
            EdgeError::Internal(e) => e.status,
        }
    }

    /// What the client is told.
    pub fn detail(&self) -> &str {
        match self {
            EdgeError::Client(e) => &e.detail,
            EdgeError::Internal(e) => &e.detail,
        }
    }

    /// Extra response headers.
    pub fn headers(&self) -> &[(&'static str, String)] {
        match self {
            EdgeError::Client(e) => &e.headers,
            EdgeError::Internal(e) => &e.headers,
        }
    }

    /// What really happened, for the log; only an internal error has one.
    pub fn cause(&self) -> Option<&str> {
        match self {
            EdgeError::Client(_) => None,
            EdgeError::Internal(e) => e.cause.as_deref(),
        }
    }

    /// With what really happened, which the shell logs and never sends. A
    /// client's mistake needs no cause: its detail says it all.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        if let EdgeError::Internal(e) = &mut self {
            e.cause = Some(cause.into());
        }
        self
    }

    /// With one more response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        match &mut self {
            EdgeError::Client(e) => e.headers.push((name, value.into())),
            EdgeError::Internal(e) => e.headers.push((name, value.into())),
        }
        self
    }

    /// The RFC 9457 problem document the client gets.
    pub fn problem(&self) -> Problem {
        Problem::new(self.status(), self.detail().to_owned())
    }
}

impl std::fmt::Display for EdgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status(), self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_mistake_carries_no_cause_and_a_failure_keeps_it_to_the_log() {
        let client = EdgeError::not_found("no such cart").with_cause("ignored");
        assert!(matches!(client, EdgeError::Client(_)));
        assert_eq!((client.status(), client.cause()), (404, None));
        let failure =
            EdgeError::bad_gateway("the orders service failed").with_cause("answered 500");
        assert!(matches!(failure, EdgeError::Internal(_)));
        assert_eq!(failure.cause(), Some("answered 500"));
        assert_eq!(
            failure.problem().detail.as_deref(),
            Some("the orders service failed")
        );
        let limited = EdgeError::too_many_requests("slow down").with_header("retry-after", "3");
        assert_eq!(limited.headers(), [("retry-after", "3".to_owned())]);
    }
}
