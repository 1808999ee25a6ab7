//! Drop endpoints, as the shell performs them: the queue
//! (`/api/drops/{drop_id}/queue`) and the admin API
//! (`/admin/drops/{drop_id}`, bearer `ADMIN_TOKEN`), running the core's
//! use cases ([`crate::shop::drops`]) over the platform's ports.

use worker::{Context, Env, Request};

use super::body::RequestBody;
use super::ports;
use super::runtime::RequestContext;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::routes::Route;
use crate::shop::reply::Reply;

pub(crate) async fn handle(
    route: Route,
    mut req: Request,
    (env, ctx): (&Env, &Context),
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let (drops, guard) = (ports::DropObjects(env), ports::GuardObjects(env));
    let case = ports::drop_case(&drops, &guard, rc, config);
    match (route, rc.method.as_str()) {
        (Route::DropQueue, "POST") => case.join().await,
        (Route::DropQueue, _) => case.standing().await,
        (_, method) => {
            super::admin::authorise(rc, config)?;
            match method {
                "PUT" => {
                    let prices = ports::CachedPrices { config, ctx };
                    case.configure(&prices, RequestBody { req: &mut req, rc })
                        .await
                }
                "DELETE" => case.end().await,
                _ => case.show().await,
            }
        }
    }
}
