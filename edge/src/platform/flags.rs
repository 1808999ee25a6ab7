//! Flags at the edge, as the shell performs them: the published document
//! read from Workers KV into the isolate's copy
//! ([`crate::shop::flags::DocumentCache`]), the request's evaluation
//! context, the browser's flags, and the admin API, whose writes go
//! through the `FlagsObject` (compare-and-set) and are published to KV.

use std::cell::RefCell;
use std::rc::Rc;

use durable_objects::flags_object::{self, FlagsCall, Published};
use serde_json::Value;
use worker::{Env, Request, Response};

use super::runtime::{RequestContext, internal, now_ms, random};
use super::{objects, session};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::flags::{self, FlagSet};
use crate::shop::flags::{self as core, DocumentCache, OverrideAsk};

thread_local! {
    static CACHE: RefCell<DocumentCache> = RefCell::new(DocumentCache::default());
}

/// The flag document this isolate uses now, and its version (0: built in).
pub(crate) async fn current(env: &Env, config: &EdgeConfig) -> (Rc<FlagSet>, i64) {
    let now = now_ms();
    if let Some(hit) = CACHE.with(|c| c.borrow().fresh(now, config.flags_cache_seconds)) {
        return hit;
    }
    let text = async {
        env.kv(flags_object::KV_BINDING)
            .map_err(|e| e.to_string())?
            .get(flags_object::KV_KEY)
            .text()
            .await
            .map_err(|e| e.to_string())
    };
    let read = text.await.and_then(|t| core::read_published(t.as_deref()));
    let (chosen, warning) = CACHE.with(|c| c.borrow_mut().settle(read, now));
    if let Some(warning) = warning {
        worker::console_warn!("flags: {warning}");
    }
    chosen
}

/// `maintenance-mode`: writes wait, reads go on.
pub(crate) async fn refuse_in_maintenance(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<(), EdgeError> {
    let (set, _) = current(env, config).await;
    core::refuse_in_maintenance(&set, rc, config, now_ms() / 1000)
}

/// `checkout-enabled`: the kill switch, the cart kept as it is.
pub(crate) async fn refuse_when_checkout_is_off(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<(), EdgeError> {
    let (set, _) = current(env, config).await;
    core::refuse_when_checkout_is_off(&set, rc, config, now_ms() / 1000)
}

/// Every flag's value for a request by `session` (if any), encoded for
/// origins (`x-edge-flags`).
pub(crate) async fn encoded_for(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    session: Option<&crate::session::token::SessionClaims>,
) -> String {
    let (set, _) = current(env, config).await;
    let values = core::values_for(&set, rc, config, session, now_ms() / 1000);
    origin_adapter::forward::encode_flags(&values)
}

/// `GET /api/flags[/{key}]`: the client-visible flags for this browser.
/// A guest gets an anonymous id cookie so rollouts stay sticky; at login
/// the bucket moves to the user id (see the README).
pub(crate) async fn browser(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let session = session::active(rc, env, config).await?;
    let (set, version) = current(env, config).await;
    let new_anon = match (&rc.anonymous_id, &session) {
        (None, None) => Some(crate::cart_cookie::new_cart_id(random()?)),
        _ => None,
    };
    let anon = rc.anonymous_id.as_deref().or(new_anon.as_deref());
    let ctx = core::context_of(rc, config, session.as_ref(), anon);
    let now = now_ms() / 1000;
    let forced = core::forced(rc, config, now);
    // One flag asked by name answers its details only; the full list is
    // what gives a guest their bucket cookie.
    if let Some(key) = rc.path.strip_prefix("/api/flags/") {
        let details =
            core::one_for_browser(&set, key, rc.query.as_deref(), &ctx, forced.as_ref(), now);
        return durable_objects::respond::json(200, &details).map_err(internal("answered"));
    }
    let body = core::for_browser(&set, version, &ctx, forced.as_ref(), now);
    let mut r = durable_objects::respond::json(200, &body).map_err(internal("answered"))?;
    if let Some(id) = &new_anon {
        r.headers_mut()
            .set("set-cookie", &crate::incoming::anonymous_cookie(id))
            .map_err(internal("answered"))?;
    }
    Ok(r)
}

fn with_etag(body: &Value, version: i64) -> Result<Response, EdgeError> {
    let mut out = durable_objects::respond::json(200, body).map_err(internal("answered"))?;
    out.headers_mut()
        .set("etag", &core::etag(version))
        .map_err(internal("answered"))?;
    Ok(out)
}

/// `GET /admin/flags` and `PUT /admin/flags` (bearer `ADMIN_TOKEN`).
pub(crate) async fn admin(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    super::admin::authorise(rc, config)?;
    let stub = objects::stub(env, flags_object::BINDING, flags_object::OBJECT)?;
    if rc.method != "PUT" {
        let mut r = objects::call(&stub, flags_object::CALL, &FlagsCall::Document).await?;
        let published: Published = r.json().await.map_err(internal("read the flags"))?;
        let document = match published.document {
            Some(d) => d,
            None => serde_json::from_str(flags::BUILT_IN).unwrap_or_default(),
        };
        return with_etag(&document, published.version);
    }
    // The headers are checked before the body is read.
    let if_match = core::save_version(rc.header("if-match"), rc.header("content-type"))?;
    let body = super::body::bytes(&mut req, flags::document::MAX_DOCUMENT).await?;
    let save = core::save(if_match, body)?;
    let mut saved = objects::call(&stub, flags_object::CALL, &FlagsCall::Save(save)).await?;
    if saved.status_code() != 200 {
        return Ok(saved);
    }
    let published: Published = saved
        .json()
        .await
        .map_err(internal("read the saved flags"))?;
    // This isolate sees its own change at once; others within the cache time.
    CACHE.with(|c| c.borrow_mut().forget());
    with_etag(
        &serde_json::json!({ "version": published.version }),
        published.version,
    )
}

/// The configuration for a catalog read when `catalog-max-age` names a
/// lifetime; `None` otherwise, so the usual read copies nothing.
pub(crate) async fn catalog_config(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Option<EdgeConfig> {
    let (set, _) = current(env, config).await;
    let max_age = core::catalog_max_age(&set, &rc.path, now_ms() / 1000)?;
    let mut config = config.clone();
    config.catalog_max_age_override = Some(max_age);
    Some(config)
}

/// `POST /admin/flags/overrides` (bearer `ADMIN_TOKEN`): a signed QA
/// override token a tester sends as `x-flag-override` (or the cookie).
pub(crate) async fn override_token(
    mut req: Request,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    super::admin::authorise(rc, config)?;
    let ask: OverrideAsk = super::body::json(&mut req, rc).await?;
    let admin = config
        .admin_token
        .as_deref()
        .ok_or_else(|| EdgeError::new(401, "this API needs the shop's bearer token"))?;
    let issued = core::override_token(&ask, admin, now_ms() / 1000)?;
    durable_objects::respond::json(200, &issued).map_err(internal("answered"))
}
