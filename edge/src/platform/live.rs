//! `GET /api/cart/live`, as the shell performs it: the core admits the
//! watcher ([`crate::shop::live`]), then the WebSocket handshake is handed
//! to the cart's object, which accepts it (hibernation) and answers `101`;
//! that answer goes back to the browser as it is.

use durable_objects::cart_api;
use worker::{Env, Headers, Method, Request, RequestInit};

use super::ports;
use super::runtime::{RequestContext, internal};
use crate::config::EdgeConfig;
use crate::error::EdgeError;

pub(crate) async fn open(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<web_sys::Response, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(env), ports::GuardObjects(env));
    let owner = crate::shop::live::admit(&ports::cart_case(&carts, &guard, rc, config)).await?;
    let headers = Headers::new();
    let mut set = vec![("upgrade", "websocket".to_owned())];
    if let Some(session) = &owner.session {
        set.push((cart_api::LIVE_SESSION, session.sid.clone()));
        set.push((cart_api::LIVE_UNTIL, session.exp.to_string()));
    }
    for (name, value) in set {
        headers
            .set(name, &value)
            .map_err(internal("opened a live view"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let handshake =
        Request::new_with_init(cart_api::LIVE, &init).map_err(internal("opened a live view"))?;
    let answer = carts
        .stub(&owner.cart)?
        .fetch_with_request(handshake)
        .await
        .map_err(internal("opened a live view"))?;
    match answer.status_code() {
        101 => Ok(answer.into()),
        429 => Err(
            EdgeError::too_many_requests("this cart has too many live views open")
                .with_header("retry-after", "60"),
        ),
        status => Err(EdgeError::internal("the cart refused a live view")
            .with_cause(format!("the cart object answered {status} to a live view"))),
    }
}
