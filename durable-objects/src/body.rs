//! The one bounded reader for request bodies, used by the edge and by every
//! Durable Object: a body is read chunk by chunk and refused as soon as it
//! passes its limit, so a client can never make the edge buffer more than
//! the limit plus one chunk — `Content-Length` or not (chunked uploads
//! declare none).

use futures::StreamExt as _;
use worker::Request;

/// The largest body a Durable Object reads from the edge (a flag
/// document of 512 KiB with its envelope fits).
pub const MAX_OBJECT_CALL: usize = 1024 * 1024;

/// The largest answer the edge or an object reads from an origin (a page
/// of 100 products is a few dozen KiB) or from a Durable Object.
pub const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than `limit` bytes arrived; reading stopped there (HTTP 413).
    TooLarge { limit: usize },
    /// The stream broke off (HTTP 400).
    Unreadable,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "the body exceeds {limit} bytes"),
            BodyError::Unreadable => f.write_str("the request body could not be read"),
        }
    }
}

impl BodyError {
    /// The HTTP status a client gets for this error.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Unreadable => 400,
        }
    }
}

/// Collects chunks up to `limit` bytes: the pure half of the reader.
#[derive(Debug)]
pub struct Bounded {
    limit: usize,
    bytes: Vec<u8>,
}

impl Bounded {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            bytes: Vec::new(),
        }
    }

    /// Takes one more chunk; `TooLarge` once the total passes the limit
    /// (the chunk is not kept).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if chunk.len() > self.limit.saturating_sub(self.bytes.len()) {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads `req`'s body, at most `limit` bytes. A declared `Content-Length`
/// over the limit is refused before anything is read; a request without a
/// body reads as empty.
pub async fn read_bounded(req: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req.stream().map_err(|_| BodyError::Unreadable)?;
    let mut bounded = Bounded::new(limit);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        // Dropping the stream here cancels the rest of the upload.
        bounded.push(&chunk)?;
    }
    Ok(bounded.into_bytes())
}

/// Reads an answer's body (from an origin or a Durable Object), at most
/// `limit` bytes: a peer's answer is bounded like a client's request.
pub async fn read_answer_bounded(
    response: &mut worker::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    match response.body() {
        worker::ResponseBody::Empty => return Ok(Vec::new()),
        worker::ResponseBody::Body(bytes) => {
            let mut bounded = Bounded::new(limit);
            bounded.push(bytes)?;
            return Ok(bounded.into_bytes());
        }
        worker::ResponseBody::Stream(_) => {}
    }
    let mut stream = response.stream().map_err(|_| BodyError::Unreadable)?;
    let mut bounded = Bounded::new(limit);
    while let Some(chunk) = stream.next().await {
        bounded.push(&chunk.map_err(|_| BodyError::Unreadable)?)?;
    }
    Ok(bounded.into_bytes())
}

/// Reads a JSON body of at most `limit` bytes with `serde_json` (not
/// JavaScript's `JSON.parse`, which would round integers past 2^53).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    limit: usize,
) -> Result<T, String> {
    let bytes = read_bounded(req, limit).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The typed call a Durable Object receives: `POST` to `url` (its one
/// call URL; the host is never resolved, so only the path is compared)
/// with the call as JSON. Anything else is the problem to answer with:
/// `404` for another route, `400` for a body that is not a call.
pub async fn read_call<C: serde::de::DeserializeOwned>(
    req: &mut Request,
    url: &str,
) -> Result<C, worker::Result<worker::Response>> {
    let asked = req.inner().url();
    let path = origin_adapter::signature::split_url(&asked).map_or("", |p| p.path);
    if req.method() != worker::Method::Post || !url.ends_with(path) {
        return Err(crate::respond::problem(404, "no such operation"));
    }
    read_json(req, MAX_OBJECT_CALL)
        .await
        .map_err(|e| crate::respond::problem(400, format!("not a call: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_stops_at_the_limit() {
        let mut b = Bounded::new(10);
        assert_eq!(b.push(b"12345"), Ok(()));
        assert_eq!(b.push(b"67890"), Ok(()));
        assert_eq!(b.push(b"1"), Err(BodyError::TooLarge { limit: 10 }));
        assert_eq!(b.into_bytes(), b"1234567890");
        let mut b = Bounded::new(4);
        assert_eq!(
            b.push(&[0; 1 << 20]),
            Err(BodyError::TooLarge { limit: 4 }),
            "a huge first chunk is refused, not kept"
        );
        assert!(b.into_bytes().is_empty());
        assert_eq!(BodyError::TooLarge { limit: 1 }.status(), 413);
        assert_eq!(BodyError::Unreadable.status(), 400);
    }
}
