//! Routes the table forwards as they are (account, reviews, …): the edge
//! checks the caller and the body, keys the write, and passes the origin's
//! answer back with only the headers a client should see.

use worker::{Env, Headers, Request, Response};

use super::forward::{self, Call};
use super::runtime::{RequestContext, internal, random};
use super::session;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::services::{Access, ForwardedRoute};
use crate::forwarding::{client_key, forwarded_key, passes_back};
use crate::request_body::parse_json;

/// The longest query string passed on to an origin.
const MAX_QUERY: usize = 2048;

/// A write's JSON body (within the limit) and the key it travels under:
/// the client's, bound to who sent it, or one made for this request.
async fn keyed_body(
    req: &mut Request,
    rc: &RequestContext,
    session: Option<&crate::session::token::SessionClaims>,
) -> Result<(Option<Vec<u8>>, Option<String>), EdgeError> {
    let client = client_key(rc.header("idempotency-key"))?;
    let bytes = super::body::json_bytes(req, rc).await?;
    // Only JSON goes on.
    parse_json::<serde_json::Value>(&bytes)?;
    let principal = session
        .map(|s| format!("user:{}", s.sub))
        .unwrap_or_else(|| "guest".into());
    let key = forwarded_key(client.as_deref(), &principal, random()?);
    Ok((Some(bytes), Some(key)))
}

pub(crate) async fn forward(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    route: &ForwardedRoute,
) -> Result<Response, EdgeError> {
    let session = session::active(rc, env, config).await?;
    if route.access == Access::Customer && session.is_none() {
        return Err(EdgeError::new(401, "log in first"));
    }
    let method = rc.method.as_str();
    let query = rc.query.clone();
    if query.as_ref().is_some_and(|q| q.len() > MAX_QUERY) {
        return Err(EdgeError::new(
            414,
            format!("the query exceeds {MAX_QUERY} bytes"),
        ));
    }
    let (body, key) = match method {
        "GET" => (None, None),
        _ => keyed_body(&mut req, rc, session.as_ref()).await?,
    };
    let claims = session.as_ref().map(session::edge_claims);
    let flags = super::flags::encoded_for(env, config, rc, session.as_ref()).await;
    let answer = forward::call(
        config,
        rc,
        Call {
            service: &route.service,
            method,
            path: &route.origin_path,
            query: query.as_deref(),
            body: body.as_deref(),
            idempotency_key: key.as_deref(),
            claims: claims.as_deref(),
            home_region: session.as_ref().map(|s| s.region.as_str()),
            flags: Some(&flags),
        },
    )
    .await?;
    passed_back(answer)
}

/// The origin's answer as the client gets it: only the headers a client
/// should see, and the region that served it.
fn passed_back(answer: forward::Answer) -> Result<Response, EdgeError> {
    let headers = Headers::new();
    let fill = || -> worker::Result<()> {
        for (name, value) in answer.headers.iter().filter(|(n, _)| passes_back(n)) {
            headers.set(name, value)?;
        }
        // Which region served it: for support, and to see failover happen.
        headers.set("x-served-by-region", &answer.region)
    };
    fill().map_err(internal("answered"))?;
    Ok(Response::from_bytes(answer.body)
        .map_err(internal("answered"))?
        .with_status(answer.status)
        .with_headers(headers))
}
