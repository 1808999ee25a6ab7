//! `/api/orders[/{id}]`: a customer's own orders, forwarded to the orders
//! origin with the customer's signed claims. Never cached.

use origin_adapter::wire::PROBLEM_JSON;
use worker::{Env, Headers, Response};

use super::forward::{self, Call};
use super::runtime::{RequestContext, internal};
use super::session;
use crate::config::EdgeConfig;
use crate::error::EdgeError;

pub(crate) async fn get(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let Some(claims) = session::active(rc, env, config).await? else {
        return Err(EdgeError::new(401, "log in to see your orders"));
    };
    let path = crate::forwarding::order_path(&rc.path)?;
    let encoded = session::edge_claims(&claims);
    let answer = forward::call(
        config,
        rc,
        Call {
            service: "orders",
            method: "GET",
            path: &path,
            query: None,
            body: None,
            idempotency_key: None,
            claims: Some(&encoded),
            home_region: Some(&claims.region),
            flags: None,
        },
    )
    .await?;
    let (status, body) = (answer.status, answer.body);
    let content_type = match status {
        200 => "application/json",
        404 => PROBLEM_JSON,
        other => {
            worker::console_error!("edge: orders service answered {other}");
            return Err(EdgeError::new(502, "the orders service failed"));
        }
    };
    let headers = Headers::new();
    let fill = || -> worker::Result<()> {
        headers.set("content-type", content_type)?;
        headers.set("cache-control", "no-store")
    };
    fill().map_err(internal("answered"))?;
    Ok(Response::from_bytes(body)
        .map_err(internal("answered"))?
        .with_status(status)
        .with_headers(headers))
}
