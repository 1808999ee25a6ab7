//! Catalog reads from an origin, bounded by a timeout. (Signed requests to
//! origin services go through [`super::forward`].)

use futures::future::{Either, select};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Request, Response};

use crate::error::EdgeError;

/// Sends `request`, aborting it after `timeout_ms`: 504 on timeout, 502 when
/// the origin cannot be reached.
pub(crate) async fn send(
    request: Request,
    timeout_ms: u64,
    what: &str,
) -> Result<Response, EdgeError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    match select(sent, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => {
            worker::console_error!("edge: {what} unreachable: {e}");
            Err(EdgeError::new(
                502,
                format!("the {what} could not be reached"),
            ))
        }
        Either::Right(((), _)) => {
            controller.abort();
            Err(EdgeError::new(
                504,
                format!("the {what} did not answer within {timeout_ms} ms"),
            ))
        }
    }
}
