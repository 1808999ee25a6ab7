//! Every client body the edge reads goes through here: media type and
//! declared length checked first (`415`, `413`), then read through the one
//! bounded reader ([`durable_objects::body`]), which stops at the limit
//! whether or not a length was declared.

use durable_objects::body::read_bounded;
use worker::Request;

use super::runtime::RequestContext;
use crate::error::EdgeError;
use crate::request_body::{MAX_JSON_BODY, check_headers};

/// At most `limit` bytes of `req`'s body.
pub(crate) async fn bytes(req: &mut Request, limit: usize) -> Result<Vec<u8>, EdgeError> {
    read_bounded(req, limit)
        .await
        .map_err(|e| EdgeError::new(e.status(), e.to_string()))
}

/// A request's JSON body, for a use case to read when it is ready
/// ([`crate::shop::ports::JsonBody`]).
pub(crate) struct RequestBody<'a> {
    pub req: &'a mut Request,
    pub rc: &'a RequestContext,
}

impl crate::shop::ports::JsonBody for RequestBody<'_> {
    async fn read(self) -> Result<Vec<u8>, EdgeError> {
        json_bytes(self.req, self.rc).await
    }
}

/// A JSON body of at most [`MAX_JSON_BODY`] bytes, as raw bytes (for
/// digests and fingerprints).
pub(crate) async fn json_bytes(
    req: &mut Request,
    rc: &RequestContext,
) -> Result<Vec<u8>, EdgeError> {
    check_headers(rc.header("content-type"), rc.header("content-length"))?;
    bytes(req, MAX_JSON_BODY).await
}
