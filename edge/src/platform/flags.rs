//! Flags at the edge, as the shell performs them: the published document
//! read from Workers KV into the isolate's copy
//! ([`crate::shop::flags::DocumentCache`]), the request's evaluation
//! context, the browser's flags, and the admin API, whose writes go
//! through the `FlagsObject` (compare-and-set) and are published to KV.

use std::cell::RefCell;
use std::rc::Rc;

use durable_objects::flags_api::{self as flags_calls, FlagsCall, Published, Save};
use worker::{Env, Request};

use super::objects;
use super::runtime::{PlatformIds, RequestContext, internal, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::flags::{self, FlagSet};
use crate::shop::flags::{self as core, DocumentCache};
use crate::shop::flags_api;
use crate::shop::ports::{FlagStore, ObjectAnswer, Saved};
use crate::shop::reply::Reply;

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
        env.kv(flags_calls::KV_BINDING)
            .map_err(|e| e.to_string())?
            .get(flags_calls::KV_KEY)
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

/// `GET /api/flags[/{key}]`: the client-visible flags for this browser.
pub(crate) async fn browser(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let session = super::session::active(rc, env, config).await?;
    let (set, version) = current(env, config).await;
    let asked = (rc, config, now_ms() / 1000);
    flags_api::browser((&set, version), asked, session.as_ref(), &PlatformIds)
}

/// The flags object, as the admin API reaches it.
struct FlagsObject<'a>(&'a Env);

impl FlagsObject<'_> {
    async fn call(&self, call: &FlagsCall) -> Result<worker::Response, EdgeError> {
        let stub = objects::stub(self.0, flags_calls::BINDING, flags_calls::OBJECT)?;
        objects::call(&stub, flags_calls::CALL, call).await
    }
}

impl FlagStore for FlagsObject<'_> {
    async fn published(&self) -> Result<Published, EdgeError> {
        let mut r = self.call(&FlagsCall::Document).await?;
        r.json().await.map_err(internal("read the flags"))
    }

    async fn save(&self, save: Save) -> Result<Saved, EdgeError> {
        let mut r = self.call(&FlagsCall::Save(save)).await?;
        if r.status_code() != 200 {
            let body = r.bytes().await.map_err(internal("read the flags"))?;
            let (status, replayed) = (r.status_code(), false);
            return Ok(Saved::Refused(ObjectAnswer {
                status,
                body,
                replayed,
            }));
        }
        let published = r.json().await.map_err(internal("read the saved flags"))?;
        // This isolate sees its own change at once; others within the cache time.
        CACHE.with(|c| c.borrow_mut().forget());
        Ok(Saved::Published(published))
    }
}

/// `GET /admin/flags` and `PUT /admin/flags` (bearer `ADMIN_TOKEN`).
pub(crate) async fn admin(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    super::admin::authorise(rc, config)?;
    let store = FlagsObject(env);
    if rc.method != "PUT" {
        return flags_api::document(&store).await;
    }
    // The headers are checked before the body is read.
    let if_match = core::save_version(rc.header("if-match"), rc.header("content-type"))?;
    let body = super::body::bytes(&mut req, flags::document::MAX_DOCUMENT).await?;
    flags_api::save(&store, if_match, body).await
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

/// `POST /admin/flags/overrides` (bearer `ADMIN_TOKEN`).
pub(crate) async fn override_token(
    mut req: Request,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Reply, EdgeError> {
    let admin = super::admin::authorise(rc, config)?;
    let body = super::body::json_bytes(&mut req, rc).await?;
    flags_api::override_token(&body, admin, now_ms() / 1000)
}
