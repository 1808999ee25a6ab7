//! An answer as plain data: status, media type, body and the headers that
//! matter. The use cases decide it; [`Reply::sealed`] adds what every
//! answer carries; the shell turns it into a platform response in one call
//! ([`Reply::head`] is its headers as one string).

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

    /// The answer as it leaves the edge, with what every answer carries:
    /// its caching — a `shared` answer (a catalog read) keeps its own
    /// lifetime or, having none (a bad query), `no-store`; any other is
    /// `private, no-store` whatever the handler said — the request id,
    /// and the browser hardening headers.
    pub fn sealed(mut self, request_id: &str, shared: bool) -> Self {
        // Sealing twice (a problem is sealed when made, and again on its
        // way out) must not send these twice.
        self.headers.retain(|(n, _)| {
            !matches!(
                *n,
                "x-request-id" | "x-content-type-options" | "referrer-policy"
            )
        });
        let has_lifetime = self.headers.iter().any(|(n, _)| *n == "cache-control");
        if !shared {
            self.headers.retain(|(n, _)| *n != "cache-control");
        }
        match (shared, has_lifetime) {
            (false, _) => self = self.header("cache-control", crate::routes::PRIVATE),
            (true, false) => self = self.header("cache-control", "no-store"),
            (true, true) => {}
        }
        if !request_id.is_empty() {
            self = self.header("x-request-id", request_id);
        }
        self.header("x-content-type-options", "nosniff")
            .header("referrer-policy", "strict-origin-when-cross-origin")
    }

    /// An error as the client gets it: RFC 9457 problem JSON with the
    /// error's own headers, never stored.
    pub fn problem(e: &EdgeError, request_id: &str) -> Self {
        let mut reply = Self::raw(
            e.status(),
            origin_adapter::wire::PROBLEM_JSON,
            e.problem().to_json().into_bytes(),
        );
        for (name, value) in e.headers() {
            reply = reply.header(name, value.clone());
        }
        // An empty id (not even the request could be read) is not sent.
        reply.sealed(request_id, false)
    }

    /// The content type and headers as `name:value` lines, the form the
    /// shell hands the platform in one call; a line break inside a value
    /// (never the edge's own, but an origin's) ends the value there, and a
    /// character a header cannot carry (outside printable ASCII, e.g. from
    /// an origin's SKU in a tag) becomes `?` — the runtime would refuse the
    /// whole answer.
    pub fn head(&self) -> String {
        let content_type =
            (!self.content_type.is_empty()).then_some(("content-type", self.content_type));
        // Sized for the usual dozen headers: one allocation, not a doubling
        // per header (a cache hit's answer is built on every read).
        let mut head = String::with_capacity(512);
        for (name, value) in content_type
            .into_iter()
            .chain(self.headers.iter().map(|(n, v)| (*n, v.as_str())))
        {
            head.push_str(name);
            head.push(':');
            push_value(&mut head, value);
            head.push('\n');
        }
        head
    }
}

/// Whether a header value can carry `c`: a tab or printable ASCII.
fn carriable(c: char) -> bool {
    c == '\t' || (' '..='~').contains(&c)
}

/// `value` up to its first line break, each character a header cannot
/// carry as `?`. One pass over the bytes: this runs for every header of
/// every answer.
fn push_value(head: &mut String, value: &str) {
    let mut clean = true;
    let mut end = value.len();
    for (i, b) in value.bytes().enumerate() {
        if b == b'\r' || b == b'\n' {
            end = i;
            break;
        }
        clean &= carriable(char::from(b));
    }
    // A line break is ASCII, so `end` is a char boundary.
    let line = value.get(..end).unwrap_or_default();
    if clean {
        head.push_str(line);
    } else {
        head.extend(line.chars().map(|c| if carriable(c) { c } else { '?' }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
        reply
            .headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn only_shared_answers_keep_a_lifetime_and_every_answer_is_hardened() {
        let cached = Reply::raw(200, "application/json", vec![])
            .header("cache-control", "public, max-age=30");
        let personal = cached.clone().sealed("r1", false);
        assert_eq!(named(&personal, "cache-control"), ["private, no-store"]);
        assert_eq!(named(&personal, "x-request-id"), ["r1"]);
        assert_eq!(named(&personal, "x-content-type-options"), ["nosniff"]);
        let shared = cached.sealed("r1", true);
        assert_eq!(named(&shared, "cache-control"), ["public, max-age=30"]);
        let bad_query = Reply::raw(400, "application/problem+json", vec![]).sealed("r1", true);
        assert_eq!(named(&bad_query, "cache-control"), ["no-store"]);
    }

    #[test]
    fn a_problem_carries_its_headers_and_a_head_is_one_line_per_header() {
        let e = EdgeError::method_not_allowed("no").with_header("allow", "GET");
        let reply = Reply::problem(&e, "r9");
        assert_eq!(
            (reply.status, reply.content_type),
            (405, "application/problem+json")
        );
        assert_eq!(named(&reply, "allow"), ["GET"]);
        let twice = reply.clone().sealed("r9", false);
        assert_eq!(
            named(&twice, "x-request-id"),
            ["r9"],
            "sealed twice, sent once"
        );
        assert_eq!(named(&twice, "x-content-type-options"), ["nosniff"]);
        assert!(named(&Reply::problem(&e, ""), "x-request-id").is_empty());
        let head = Reply::raw(200, "text/plain", vec![])
            .header("x-a", "1\r\nx-b: 2")
            .head();
        assert_eq!(head, "content-type:text/plain\nx-a:1\n");
        let tagged = Reply::raw(200, "", vec![])
            .header("cache-tag", "product:KIT-€1")
            .head();
        assert_eq!(tagged, "cache-tag:product:KIT-?1\n");
        let broken = Reply::raw(200, "", vec![])
            .header("x-a", "ok\n€")
            .header("x-b", "é\r\nx")
            .header("x-c", "")
            .head();
        assert_eq!(broken, "x-a:ok\nx-b:?\nx-c:\n", "one `?` per character");
        assert_eq!(Reply::raw(200, "", vec![]).head(), "");
    }
}
