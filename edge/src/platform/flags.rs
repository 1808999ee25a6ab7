//! Flags at the edge: the document read from Workers KV and kept per
//! isolate for `FLAGS_CACHE_SECONDS`; the browser's flags; the admin API,
//! whose writes go through the `FlagsObject` (compare-and-set) and are
//! published to KV. A KV outage or an unreadable document never breaks a
//! request: the last good document is used, then the built-in one.

use std::cell::RefCell;
use std::rc::Rc;

use durable_objects::flags_object::{self, Published, Save};
use serde_json::{Map, Value};
use worker::{Env, Request, Response};

use super::runtime::{RequestContext, internal, now_ms, random};
use super::{objects, session};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::flags::{self, FlagSet};

struct Cached {
    set: Rc<FlagSet>,
    version: i64,
    checked_ms: i64,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn built_in() -> Rc<FlagSet> {
    // The built-in document is checked by a unit test and by `cargo xtask test`.
    Rc::new(FlagSet::parse(flags::BUILT_IN).unwrap_or_else(|e| {
        worker::console_error!("flags: the built-in document is invalid: {e}");
        FlagSet::parse(r#"{"flags":{}}"#)
            .unwrap_or_else(|_| unreachable!("an empty document parses"))
    }))
}

/// The flag document this isolate uses now, and its version (0: built in).
pub(crate) async fn current(env: &Env, config: &EdgeConfig) -> (Rc<FlagSet>, i64) {
    let now = now_ms();
    let fresh = CACHE.with(|c| {
        c.borrow().as_ref().and_then(|c| {
            (now - c.checked_ms < config.flags_cache_seconds * 1000)
                .then(|| (c.set.clone(), c.version))
        })
    });
    if let Some(hit) = fresh {
        return hit;
    }
    let read = async {
        let text = env
            .kv(flags_object::KV_BINDING)
            .map_err(|e| e.to_string())?
            .get(flags_object::KV_KEY)
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let Some(text) = text else {
            return Ok(None);
        };
        let published: Published = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        match published.document {
            None => Ok(None),
            Some(doc) => FlagSet::from_value(&doc)
                .map(|set| Some((Rc::new(set), published.version)))
                .map_err(|e| format!("version {} is invalid: {e}", published.version)),
        }
    };
    let (set, version) = match read.await {
        Ok(Some(found)) => found,
        Ok(None) => (built_in(), 0),
        Err(e) => {
            let last = CACHE.with(|c| c.borrow().as_ref().map(|c| (c.set.clone(), c.version)));
            match last {
                Some((set, version)) => {
                    worker::console_warn!(
                        "flags: could not read KV ({e}); keeping version {version}"
                    );
                    (set, version)
                }
                None => {
                    worker::console_warn!(
                        "flags: could not read KV ({e}); using the built-in document"
                    );
                    (built_in(), 0)
                }
            }
        }
    };
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cached {
            set: set.clone(),
            version,
            checked_ms: now,
        })
    });
    (set, version)
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

/// Evaluates one boolean flag the edge obeys for this request.
pub(crate) async fn enabled(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
    key: &str,
    default: bool,
) -> bool {
    let (set, _) = current(env, config).await;
    let ctx = request_context(config, rc, None, &[]);
    set.evaluate_with(
        key,
        &ctx,
        &Value::Bool(default),
        now_ms() / 1000,
        forced(rc, config).as_ref(),
    )
    .value
    .as_bool()
    .unwrap_or(default)
}

fn request_context(
    config: &EdgeConfig,
    rc: &RequestContext,
    user: Option<&str>,
    roles: &[String],
) -> Map<String, Value> {
    let location = rc.location(config.environment);
    flags::context(
        user,
        rc.anonymous_id.as_deref(),
        roles,
        location.country.as_deref(),
        location.continent.as_deref(),
        &rc.path,
    )
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
    let ctx = request_context(config, rc, user, roles);
    let now = now_ms() / 1000;
    let forced = forced(rc, config);
    set.keys()
        .map(|k| {
            let value = set
                .evaluate_with(k, &ctx, &Value::Null, now, forced.as_ref())
                .value;
            (k.to_owned(), value)
        })
        .collect()
}

/// `GET /api/flags`: the flags marked client-visible, for this browser.
/// A guest gets an anonymous id cookie so rollouts stay sticky; at login
/// the bucket moves to the user id (see the README).
pub(crate) async fn browser(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    let session = session::active(rc, env, config).await?;
    let (set, version) = current(env, config).await;
    let mut anon = rc.anonymous_id.clone();
    let new_anon = if anon.is_none() && session.is_none() {
        anon = Some(crate::cart_cookie::new_cart_id(random()?));
        anon.clone()
    } else {
        None
    };
    let location = rc.location(config.environment);
    let ctx = flags::context(
        session.as_ref().map(|s| s.sub.as_str()),
        anon.as_deref(),
        session.as_ref().map(|s| s.roles.as_slice()).unwrap_or(&[]),
        location.country.as_deref(),
        location.continent.as_deref(),
        &rc.path,
    );
    let now = now_ms() / 1000;
    let forced = forced(rc, config);
    // One flag asked by name: its details, the caller's default on any
    // error (an unknown or hidden flag is FLAG_NOT_FOUND), never an error page.
    if let Some(key) = rc.path.strip_prefix("/api/flags/") {
        let default =
            url::form_urlencoded::parse(rc.query.as_deref().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "default")
                .and_then(|(_, v)| serde_json::from_str(&v).ok())
                .unwrap_or(Value::Null);
        let visible = set.flag(key).is_some_and(flags::client_visible);
        let details = if visible {
            set.evaluate_with(key, &ctx, &default, now, forced.as_ref())
        } else {
            set.not_found(key, &default)
        };
        let mut r = durable_objects::respond::json(200, &details).map_err(internal("answered"))?;
        r.headers_mut()
            .set("cache-control", "private, no-store")
            .map_err(internal("answered"))?;
        return Ok(r);
    }
    let mut out = Map::new();
    for key in set.keys() {
        if set.flag(key).is_some_and(flags::client_visible) {
            let d = set.evaluate_with(key, &ctx, &Value::Null, now, forced.as_ref());
            out.insert(
                key.to_owned(),
                serde_json::json!({ "value": d.value, "variant": d.variant, "reason": d.reason }),
            );
        }
    }
    let mut r = durable_objects::respond::json(
        200,
        &serde_json::json!({ "version": version, "flags": out }),
    )
    .map_err(internal("answered"))?;
    let headers = r.headers_mut();
    let set_headers = || -> worker::Result<()> {
        headers.set("cache-control", "private, no-store")?;
        if let Some(id) = &new_anon {
            let c = cookie::Cookie::build((ANONYMOUS_COOKIE, id.as_str()))
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(cookie::SameSite::Lax)
                .max_age(cookie::time::Duration::days(365))
                .build();
            headers.set("set-cookie", &c.to_string())?;
        }
        Ok(())
    };
    set_headers().map_err(internal("answered"))?;
    Ok(r)
}

/// The admin API's entity tag of a document version.
fn etag(version: i64) -> String {
    format!("\"f{version}\"")
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
        let mut out =
            durable_objects::respond::json(200, &document).map_err(internal("answered"))?;
        let headers = out.headers_mut();
        let set = || -> worker::Result<()> {
            headers.set("etag", &etag(published.version))?;
            headers.set("cache-control", "no-store")
        };
        set().map_err(internal("answered"))?;
        return Ok(out);
    }
    let if_match = rc.header("if-match").ok_or_else(|| {
        EdgeError::new(
            428,
            "saving flags needs If-Match with the ETag you read (GET /admin/flags)",
        )
    })?;
    let if_match = crate::checkout::tagged_version(if_match.trim(), 'f')
        .ok_or_else(|| EdgeError::new(412, "If-Match does not name a version of the flags"))?;
    let essence = rc
        .header("content-type")
        .and_then(|ct| ct.split(';').next().map(|s| s.trim().to_ascii_lowercase()));
    if essence.as_deref() != Some("application/json") {
        return Err(EdgeError::new(
            415,
            "the flag document must be application/json",
        ));
    }
    let body = super::body::bytes(&mut req, flags::document::MAX_DOCUMENT).await?;
    if body.len() > flags::document::MAX_DOCUMENT {
        return Err(EdgeError::new(
            413,
            format!(
                "the document exceeds {} bytes",
                flags::document::MAX_DOCUMENT
            ),
        ));
    }
    let text =
        String::from_utf8(body).map_err(|_| EdgeError::new(400, "the document is not UTF-8"))?;
    // Validated before it is stored: the error names the JSON path.
    FlagSet::parse(&text)
        .map_err(|e| EdgeError::new(400, format!("invalid flag document at {e}")))?;
    let document: Value =
        serde_json::from_str(&text).map_err(|e| EdgeError::new(400, e.to_string()))?;
    let save = Save {
        if_match,
        document,
        actor: "admin".into(),
    };
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
    CACHE.with(|c| *c.borrow_mut() = None);
    let mut out =
        durable_objects::respond::json(200, &serde_json::json!({ "version": published.version }))
            .map_err(internal("answered"))?;
    out.headers_mut()
        .set("etag", &etag(published.version))
        .map_err(internal("answered"))?;
    Ok(out)
}

/// The configuration for a catalog read when the `catalog-max-age` flag
/// names a lifetime (a number of seconds, 0 or more); `None` otherwise, so
/// the usual read copies nothing.
///
/// The lifetime decides how long a shared cache entry lives, so it is
/// evaluated without anything of the requester's — no user, anonymous
/// id, location, and no QA override: one tester's override or one
/// visitor's bucket must never change what everyone else is served.
pub(crate) async fn catalog_config(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Option<EdgeConfig> {
    let (set, _) = current(env, config).await;
    let ctx = flags::shared_context(&rc.path);
    let details = set.evaluate_with(
        flags::obeyed::CATALOG_MAX_AGE,
        &ctx,
        &Value::Null,
        now_ms() / 1000,
        None,
    );
    let max_age = details.value.as_i64().filter(|n| *n >= 0)?;
    let mut config = config.clone();
    config.catalog_max_age_override = Some(max_age);
    Some(config)
}

/// `POST /admin/flags/overrides` (bearer `ADMIN_TOKEN`):
/// `{"variants": {"flag": "variant"}, "ttl_seconds": 3600}` → a token a
/// tester sends as `x-flag-override` (or the `__Host-flag-override` cookie).
pub(crate) async fn override_token(
    mut req: Request,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> Result<Response, EdgeError> {
    super::admin::authorise(rc, config)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        variants: std::collections::BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::request_body::whole_number")]
        ttl_seconds: i64,
    }
    let ask: Ask = super::body::json(&mut req, rc).await?;
    if !(1..=flags::overrides::MAX_LIFETIME).contains(&ask.ttl_seconds) {
        return Err(EdgeError::new(
            422,
            format!(
                "ttl_seconds must be 1 to {}",
                flags::overrides::MAX_LIFETIME
            ),
        ));
    }
    let admin = config
        .admin_token
        .as_deref()
        .ok_or_else(|| EdgeError::new(401, "this API needs the shop's bearer token"))?;
    let expires = now_ms() / 1000 + ask.ttl_seconds;
    let token = flags::overrides::sign(&ask.variants, expires, &flags::overrides::key(admin));
    durable_objects::respond::json(
        200,
        &serde_json::json!({ "token": token, "expires_at": expires, "header": flags::overrides::HEADER }),
    )
    .map_err(internal("answered"))
}
