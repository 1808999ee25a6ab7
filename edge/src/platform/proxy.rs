//! Routes the table forwards as they are (account, reviews, …) and a
//! customer's orders, as the shell performs them: the body read within its
//! limit, then the core's use case ([`crate::shop::forwarded`]).

use worker::{Env, Request};

use super::body::RequestBody;
use super::runtime::{PlatformIds, RequestContext, now_ms};
use super::{flags, ports};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::services::ForwardedRoute;
use crate::shop::forwarded;
use crate::shop::reply::Reply;

pub(crate) async fn forward(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    route: &ForwardedRoute,
) -> Result<Reply, EdgeError> {
    let body = RequestBody { req: &mut req, rc };
    let (flags, _) = flags::current(env, config).await;
    let guard = ports::GuardObjects(env);
    let origins = ports::ForwardedOrigins { config, rc };
    let asked = (rc, config, now_ms() / 1000);
    let ports = (&guard, &origins, &PlatformIds);
    forwarded::pass(ports, asked, (route, &flags), body).await
}

/// `GET /api/orders[/{id}]`.
pub(crate) async fn orders(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let guard = ports::GuardObjects(env);
    let origins = ports::ForwardedOrigins { config, rc };
    forwarded::orders(&guard, &origins, (rc, config, now_ms() / 1000)).await
}
