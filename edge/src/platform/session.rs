//! `/api/session`, as the shell performs it: the body read (bounded) for
//! a login, then the core's use case ([`crate::shop::session`]) over the
//! guard, identity origin and cart objects.

use worker::{Env, Request};

use super::body::RequestBody;
use super::ports;
use super::runtime::{PlatformIds, RequestContext, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::reply::Reply;
use crate::shop::session::{SessionPorts, handle as session};

pub(crate) async fn handle(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let body = RequestBody { req: &mut req, rc };
    let p = SessionPorts {
        guard: &ports::GuardObjects(env),
        origins: &ports::ForwardedOrigins { config, rc },
        carts: &ports::ObjectCarts(env),
        ids: &PlatformIds,
    };
    session(&p, (rc, config, now_ms() / 1000), body).await
}

/// The caller's session, unless it was revoked (one guard round trip).
pub(crate) async fn active(
    rc: &RequestContext,
    env: &Env,
    config: &EdgeConfig,
) -> Result<Option<crate::session::token::SessionClaims>, EdgeError> {
    let guard = ports::GuardObjects(env);
    crate::shop::caller::active_session(&guard, rc, config, now_ms() / 1000).await
}
