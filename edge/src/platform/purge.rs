//! `POST /api/purge`: an origin's signed word that products or categories
//! changed. [`crate::shop::purge`] verifies and reads it; this deletes
//! every entry it names from this location's cache.

use worker::Request;

use super::runtime::{RequestContext, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::purge::{Target, decide};
use crate::shop::reply::Reply;

pub(crate) async fn purge(
    mut req: Request,
    rc: &RequestContext,
    config: &EdgeConfig,
) -> Result<Reply, EdgeError> {
    let Some(keys) = &config.purge_keys else {
        return Err(EdgeError::unauthorized(
            "this edge accepts no purges (ORIGIN_VERIFY_KEYS is not set)",
        ));
    };
    let authority = rc.own_origin.split("://").nth(1).unwrap_or_default();
    let body = super::body::json_bytes(&mut req, rc).await?;
    let at = Target {
        authority,
        path: &rc.path,
        query: rc.query.as_deref(),
    };
    let purge = decide(keys, &at, &rc.headers, &body, now_ms() / 1000)?;
    let purged = super::catalog::purge(&purge.tags, &purge.keys).await;
    worker::console_log!(
        "edge: purge by {} removed {purged} entries for {:?}",
        purge.keyid,
        purge.tags
    );
    Reply::json(
        200,
        &serde_json::json!({ "purged_entries": purged, "tags": purge.tags }),
    )
}
