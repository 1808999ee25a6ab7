//! Flags at the edge, as the shell performs them: the published document
//! read from Workers KV into the isolate's copy
//! ([`crate::shop::flags::DocumentCache`]), the request's evaluation
//! context, the browser's flags, and the admin API, whose writes go
//! through the `FlagsObject` (compare-and-set) and are published to KV.

use std::cell::RefCell;
use std::rc::Rc;

use durable_objects::flags_object::{self, Published};
use serde_json::{Map, Value};
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

pub(crate) use crate::incoming::ANONYMOUS_COOKIE;

/// The variants a valid QA override token forces for this request, if any.
fn forced(
    rc: &RequestContext,
    config: &EdgeConfig,
) -> Option<std::collections::BTreeMap<String, String>> {
    let key = flags::overrides::key(config.admin_token.as_deref()?);
    flags::overrides::verify(rc.flag_override.as_deref()?, &key, now_ms() / 1000)
}

fn request_context(
    config: &EdgeConfig,
    rc: &RequestContext,
    user: Option<&str>,
    anonymous_id: Option<&str>,
    roles: &[String],
) -> Map<String, Value> {
    let location = rc.location(config.environment);
    flags::context(
        user,
        anonymous_id,
        roles,
        location.country.as_deref(),
        location.continent.as_deref(),
        &rc.path,
    )
}

/// Evaluates one boolean flag the edge obeys for this request.
pub(crate) async fn enabled(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    key: &str,
    default: bool,
) -> bool {
    let (set, _) = current(env, config).await;
    let ctx = request_context(config, rc, None, rc.anonymous_id.as_deref(), &[]);
    let forced = forced(rc, config);
    let details = set.evaluate_with(
        key,
        &ctx,
        &Value::Bool(default),
        now_ms() / 1000,
        forced.as_ref(),
    );
    details.value.as_bool().unwrap_or(default)
}

/// The values of every flag for a request, for origins (signed, in
/// `x-edge-flags`): key → value.
pub(crate) async fn values_for(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    user: Option<&str>,
    roles: &[String],
) -> Map<String, Value> {
    let (set, _) = current(env, config).await;
    let ctx = request_context(config, rc, user, rc.anonymous_id.as_deref(), roles);
    let now = now_ms() / 1000;
    let forced = forced(rc, config);
    set.keys()
        .map(|k| {
            let d = set.evaluate_with(k, &ctx, &Value::Null, now, forced.as_ref());
            (k.to_owned(), d.value)
        })
        .collect()
}

/// Every flag's value for a request by `session` (if any), encoded for
/// origins (`x-edge-flags`).
pub(crate) async fn encoded_for(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    session: Option<&crate::session::token::SessionClaims>,
) -> String {
    let user = session.map(|s| s.sub.as_str());
    let roles = session.map(|s| s.roles.as_slice()).unwrap_or(&[]);
    origin_adapter::forward::encode_flags(&values_for(env, config, rc, user, roles).await)
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
    let user = session.as_ref().map(|s| s.sub.as_str());
    let roles = session.as_ref().map(|s| s.roles.as_slice()).unwrap_or(&[]);
    let ctx = request_context(config, rc, user, anon, roles);
    let (now, forced) = (now_ms() / 1000, forced(rc, config));
    let body = match rc.path.strip_prefix("/api/flags/") {
        Some(key) => {
            core::one_for_browser(&set, key, rc.query.as_deref(), &ctx, forced.as_ref(), now)
        }
        None => core::for_browser(&set, version, &ctx, forced.as_ref(), now),
    };
    let mut r = durable_objects::respond::json(200, &body).map_err(internal("answered"))?;
    if let Some(id) = &new_anon {
        let c = cookie::Cookie::build((ANONYMOUS_COOKIE, id.as_str()))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .max_age(cookie::time::Duration::days(365))
            .build();
        r.headers_mut()
            .set("set-cookie", &c.to_string())
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
        let mut r = objects::call(&stub, flags_object::DOCUMENT, None).await?;
        let published: Published = r.json().await.map_err(internal("read the flags"))?;
        let document = match published.document {
            Some(d) => d,
            None => serde_json::from_str(flags::BUILT_IN).unwrap_or_default(),
        };
        return with_etag(&document, published.version);
    }
    let body = super::body::bytes(&mut req, flags::document::MAX_DOCUMENT).await?;
    let save = core::save(rc.header("if-match"), rc.header("content-type"), body)?;
    let body = serde_json::to_string(&save).map_err(|_| EdgeError::new(500, "could not encode"))?;
    let mut saved =
        objects::call_method(&stub, flags_object::DOCUMENT, worker::Method::Put, body).await?;
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
