//! `POST /api/purge`: an origin's signed word that products or categories
//! changed. Verified like any RFC 9421 request, then every cache entry
//! carrying an affected tag is deleted from this location's cache.

use std::cell::RefCell;

use origin_adapter::digest::verify_content_digest;
use origin_adapter::purge::{SIGNATURE_LIFETIME, covered_components, purge_policy};
use origin_adapter::replay::{NonceRefused, SeenNonces};
use origin_adapter::signature::{RequestView, verify};
use origin_adapter::wire::PurgeRequest;
use worker::{Request, Response};

use super::runtime::{RequestContext, internal, now_ms};
use crate::catalog::query::valid_slug;
use crate::catalog::tags::purge_tags;
use crate::catalog::validate_sku;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::request_body::parse_json;
use durable_objects::respond;

/// Most SKUs or categories one purge may name.
const MAX_NAMES: usize = 100;

thread_local! {
    /// Purge nonces seen by this isolate within their signatures' lifetime.
    static SEEN: RefCell<SeenNonces> = RefCell::new(SeenNonces::new(100_000));
}

fn unauthorized(detail: impl Into<String>) -> EdgeError {
    EdgeError::new(401, detail)
}

pub(crate) async fn purge(
    mut req: Request,
    rc: &RequestContext,
    config: &EdgeConfig,
) -> Result<Response, EdgeError> {
    let Some(keys) = &config.purge_keys else {
        return Err(unauthorized(
            "this edge accepts no purges (ORIGIN_VERIFY_KEYS is not set)",
        ));
    };
    let url = req.url().map_err(internal("read the request URL"))?;
    let fields = &rc.headers;
    let body = super::body::json_bytes(&mut req, rc).await?;

    let digest = fields
        .iter()
        .find(|(n, _)| n == "content-digest")
        .map(|(_, v)| v.as_str());
    let digest = digest.ok_or_else(|| unauthorized("the purge has no Content-Digest"))?;
    verify_content_digest(digest, &body).map_err(|e| unauthorized(e.to_string()))?;
    let authority =
        origin_adapter::signature::authority(url.host_str().unwrap_or_default(), url.port());
    let view = RequestView {
        method: "POST",
        authority: &authority,
        path: url.path(),
        query: url.query(),
        fields: fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
    };
    let required = covered_components();
    let now = now_ms() / 1000;
    let verified = verify(&view, &purge_policy(&required), keys, now)
        .map_err(|e| unauthorized(e.to_string()))?;
    let forget_after =
        verified.created + SIGNATURE_LIFETIME.max(verified.expires - verified.created) + 5;
    let accepted = SEEN.with(|seen| {
        seen.borrow_mut()
            .accept(&verified.keyid, &verified.nonce, forget_after, now)
    });
    match accepted {
        Ok(()) => {}
        Err(NonceRefused::Replayed) => {
            return Err(unauthorized("this purge's nonce was already used (replay)"));
        }
        Err(NonceRefused::Full) => {
            return Err(EdgeError::new(503, "too many purges; retry shortly"));
        }
    }

    let purge: PurgeRequest = parse_json(&body)?;
    if purge.skus.len() > MAX_NAMES || purge.categories.len() > MAX_NAMES {
        return Err(EdgeError::new(
            400,
            format!("a purge names at most {MAX_NAMES} SKUs and {MAX_NAMES} categories"),
        ));
    }
    for sku in &purge.skus {
        validate_sku(sku)?;
    }
    if let Some(bad) = purge.categories.iter().find(|c| !valid_slug(c)) {
        return Err(EdgeError::new(
            400,
            format!("{bad:?} is not a category slug"),
        ));
    }
    let tags = purge_tags(&purge);
    let purged = super::catalog::purge_tags(&tags).await
        + super::catalog::purge_keys(&crate::catalog::tags::purge_keys(&purge)).await;
    worker::console_log!(
        "edge: purge by {} removed {purged} entries for {tags:?}",
        verified.keyid
    );
    respond::json(
        200,
        &serde_json::json!({ "purged_entries": purged, "tags": tags }),
    )
    .map_err(internal("answered"))
}
