//! Flags as the edge serves them: the isolate's copy of the published
//! document with its fallbacks, what a browser may see, what an admin may
//! save, the QA override tokens an admin issues, and the catalog lifetime
//! (shared state, so decided with nothing of the requester's).

use std::collections::BTreeMap;
use std::rc::Rc;

use durable_objects::flags_api::{Published, Save};
use serde_json::{Map, Value};

use crate::error::EdgeError;
use crate::flags::{self, FlagSet};

/// The isolate's copy of the flag document: the last good one and when
/// KV was last asked. A KV outage or an unreadable document never breaks a
/// request: the last good document is used, then the built-in one.
#[derive(Default)]
pub struct DocumentCache {
    last: Option<(Rc<FlagSet>, i64, i64)>,
}

/// The built-in document (checked by a unit test and `cargo xtask test`).
pub fn built_in() -> Rc<FlagSet> {
    Rc::new(
        FlagSet::parse(flags::BUILT_IN)
            .or_else(|_| FlagSet::parse(r#"{"flags":{}}"#))
            .unwrap_or_else(|_| unreachable!("an empty document parses")),
    )
}

/// Reads what KV holds: `None` before anything was published.
pub fn read_published(text: Option<&str>) -> Result<Option<(FlagSet, i64)>, String> {
    let Some(text) = text else { return Ok(None) };
    let published: Published = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match published.document {
        None => Ok(None),
        Some(doc) => FlagSet::from_value(&doc)
            .map(|set| Some((set, published.version)))
            .map_err(|e| format!("version {} is invalid: {e}", published.version)),
    }
}

impl DocumentCache {
    /// The document and version to use at `now_ms` without asking KV, if
    /// the copy is younger than `ttl_seconds`.
    pub fn fresh(&self, now_ms: i64, ttl_seconds: i64) -> Option<(Rc<FlagSet>, i64)> {
        let (set, version, checked) = self.last.as_ref()?;
        (now_ms - checked < ttl_seconds * 1000).then(|| (set.clone(), *version))
    }

    /// Takes what reading KV gave: the new copy, and a warning to log when
    /// the read failed.
    pub fn settle(
        &mut self,
        read: Result<Option<(FlagSet, i64)>, String>,
        now_ms: i64,
    ) -> ((Rc<FlagSet>, i64), Option<String>) {
        let (chosen, warning) = match (read, &self.last) {
            (Ok(Some((set, version))), _) => ((Rc::new(set), version), None),
            (Ok(None), _) => ((built_in(), 0), None),
            (Err(e), Some((set, version, _))) => (
                (set.clone(), *version),
                Some(format!(
                    "could not read KV ({e}); keeping version {version}"
                )),
            ),
            (Err(e), None) => (
                (built_in(), 0),
                Some(format!(
                    "could not read KV ({e}); using the built-in document"
                )),
            ),
        };
        self.last = Some((chosen.0.clone(), chosen.1, now_ms));
        (chosen, warning)
    }

    /// Forgets the copy (this isolate saved a new document).
    pub fn forget(&mut self) {
        self.last = None;
    }
}

/// The variants a valid QA override token on the request forces, if any
/// (signed under a key derived from `ADMIN_TOKEN`, unexpired at `now`).
pub fn forced(
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    now: i64,
) -> Option<BTreeMap<String, String>> {
    let key = flags::overrides::key(config.admin_token.as_deref()?);
    flags::overrides::verify(incoming.flag_override.as_deref()?, &key, now)
}

/// A request's evaluation context: the user (if any), the anonymous id
/// given, roles, location and path.
pub fn context_of(
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    user: Option<&crate::session::token::SessionClaims>,
    anonymous_id: Option<&str>,
) -> Map<String, Value> {
    let location = incoming.location(config.environment);
    flags::context(
        user.map(|s| s.sub.as_str()),
        anonymous_id,
        user.map(|s| s.roles.as_slice()).unwrap_or(&[]),
        location.country.as_deref(),
        location.continent.as_deref(),
        &incoming.path,
    )
}

/// A boolean flag the edge obeys (`checkout-enabled`, `maintenance-mode`)
/// for an anonymous view of the request.
pub fn enabled(
    set: &FlagSet,
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    key: &str,
    default: bool,
    now: i64,
) -> bool {
    let ctx = context_of(incoming, config, None, incoming.anonymous_id.as_deref());
    let forced = forced(incoming, config, now);
    set.evaluate_with(key, &ctx, &Value::Bool(default), now, forced.as_ref())
        .value
        .as_bool()
        .unwrap_or(default)
}

/// A switch the edge obeys: `503` with `Retry-After: 60` and `detail`
/// while `key` is not `wanted` (`default` when the flag cannot say).
fn obey(
    (set, incoming, config, now): (
        &FlagSet,
        &crate::incoming::Incoming,
        &crate::config::EdgeConfig,
        i64,
    ),
    key: &str,
    (wanted, default): (bool, bool),
    detail: &str,
) -> Result<(), EdgeError> {
    if enabled(set, incoming, config, key, default, now) == wanted {
        return Ok(());
    }
    Err(EdgeError::unavailable(detail).with_header("retry-after", "60"))
}

/// What every write a browser may make must pass: it comes from this site
/// or an allowed one — with cookies or without (a cookieless cross-site
/// login would sign the browser into someone else's account) — and the
/// shop is not in maintenance.
pub fn admit_write(
    set: &FlagSet,
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    now: i64,
) -> Result<(), EdgeError> {
    crate::session::rules::check_same_site(
        &incoming.method,
        incoming.header("sec-fetch-site"),
        incoming.header("origin"),
        &incoming.own_origin,
        &config.allowed_origins,
    )?;
    refuse_in_maintenance(set, incoming, config, now)
}

/// `maintenance-mode`: while on, writes wait (`503`, `Retry-After: 60`)
/// and reads go on.
pub fn refuse_in_maintenance(
    set: &FlagSet,
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    now: i64,
) -> Result<(), EdgeError> {
    obey(
        (set, incoming, config, now),
        flags::obeyed::MAINTENANCE_MODE,
        (false, false),
        "the shop is in maintenance: browsing works, changes are paused for a few minutes",
    )
}

/// `checkout-enabled`: while off, checkout is refused (`503`), the cart
/// kept as it is.
pub fn refuse_when_checkout_is_off(
    set: &FlagSet,
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    now: i64,
) -> Result<(), EdgeError> {
    obey(
        (set, incoming, config, now),
        flags::obeyed::CHECKOUT_ENABLED,
        (true, true),
        "checkout is switched off for a moment; your cart is kept as it is — please try again shortly",
    )
}

/// Every flag's value for a request by `user`, for origins (`x-edge-flags`).
pub fn values_for(
    set: &FlagSet,
    incoming: &crate::incoming::Incoming,
    config: &crate::config::EdgeConfig,
    user: Option<&crate::session::token::SessionClaims>,
    now: i64,
) -> Map<String, Value> {
    let ctx = context_of(incoming, config, user, incoming.anonymous_id.as_deref());
    let forced = forced(incoming, config, now);
    set.keys()
        .map(|k| {
            let d = set.evaluate_with(k, &ctx, &Value::Null, now, forced.as_ref());
            (k.to_owned(), d.value)
        })
        .collect()
}

/// `GET /api/flags`: every client-visible flag, evaluated.
pub fn for_browser(
    set: &FlagSet,
    version: i64,
    ctx: &Map<String, Value>,
    forced: Option<&BTreeMap<String, String>>,
    now: i64,
) -> Value {
    let mut out = Map::new();
    for key in set.keys() {
        if set.flag(key).is_some_and(flags::client_visible) {
            let d = set.evaluate_with(key, ctx, &Value::Null, now, forced);
            out.insert(
                key.to_owned(),
                serde_json::json!({ "value": d.value, "variant": d.variant, "reason": d.reason }),
            );
        }
    }
    serde_json::json!({ "version": version, "flags": out })
}

/// `GET /api/flags/{key}?default=`: one client-visible flag's details; an
/// unknown or hidden one is the caller's default with `FLAG_NOT_FOUND`.
pub fn one_for_browser(
    set: &FlagSet,
    key: &str,
    query: Option<&str>,
    ctx: &Map<String, Value>,
    forced: Option<&BTreeMap<String, String>>,
    now: i64,
) -> Value {
    let default = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "default")
        .and_then(|(_, v)| serde_json::from_str(&v).ok())
        .unwrap_or(Value::Null);
    let details = if set.flag(key).is_some_and(flags::client_visible) {
        set.evaluate_with(key, ctx, &default, now, forced)
    } else {
        set.not_found(key, &default)
    };
    serde_json::to_value(details).unwrap_or_default()
}

/// The admin API's entity tag of a document version: `"f7"`.
pub fn etag(version: i64) -> String {
    format!("\"f{version}\"")
}

/// `PUT /admin/flags`, before its body is read: `If-Match` present (`428`)
/// and ours (`412`), JSON (`415`). The version the save must replace.
pub fn save_version(if_match: Option<&str>, content_type: Option<&str>) -> Result<i64, EdgeError> {
    let if_match = if_match.ok_or_else(|| {
        EdgeError::precondition_required(
            "saving flags needs If-Match with the ETag you read (GET /admin/flags)",
        )
    })?;
    let if_match = crate::checkout::tagged_version(if_match.trim(), 'f').ok_or_else(|| {
        EdgeError::precondition_failed("If-Match does not name a version of the flags")
    })?;
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|s| s.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(EdgeError::unsupported_media_type(
            "the flag document must be application/json",
        ));
    }
    Ok(if_match)
}

/// The save of a document replacing version `if_match`, checked before it
/// is stored: a valid document (`400` naming the JSON path).
pub fn save(if_match: i64, body: Vec<u8>) -> Result<Save, EdgeError> {
    let text =
        String::from_utf8(body).map_err(|_| EdgeError::bad_request("the document is not UTF-8"))?;
    FlagSet::parse(&text)
        .map_err(|e| EdgeError::bad_request(format!("invalid flag document at {e}")))?;
    let document =
        serde_json::from_str(&text).map_err(|e| EdgeError::bad_request(e.to_string()))?;
    Ok(Save {
        if_match,
        document,
        actor: "admin".into(),
    })
}

/// `POST /admin/flags/overrides`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideAsk {
    pub variants: BTreeMap<String, String>,
    #[serde(deserialize_with = "crate::request_body::whole_number")]
    pub ttl_seconds: i64,
}

/// A signed QA override token for `ask`, under a key derived from the
/// admin token; `422` for a lifetime outside 1 s to 7 days.
pub fn override_token(ask: &OverrideAsk, admin_token: &str, now: i64) -> Result<Value, EdgeError> {
    let max = flags::overrides::MAX_LIFETIME;
    if !(1..=max).contains(&ask.ttl_seconds) {
        return Err(EdgeError::unprocessable(format!(
            "ttl_seconds must be 1 to {max}"
        )));
    }
    let expires = now + ask.ttl_seconds;
    let key = flags::overrides::key(admin_token);
    let token = flags::overrides::sign(&ask.variants, expires, &key);
    Ok(serde_json::json!({
        "token": token,
        "expires_at": expires,
        "header": flags::overrides::HEADER,
    }))
}

/// The catalog's freshness lifetime from `catalog-max-age` (seconds, 0 or
/// more), evaluated with nothing of the requester's — a shared entry's
/// lifetime must not depend on one visitor's bucket or override.
pub fn catalog_max_age(set: &FlagSet, path: &str, now: i64) -> Option<i64> {
    let ctx = flags::shared_context(path);
    set.evaluate_with(
        flags::obeyed::CATALOG_MAX_AGE,
        &ctx,
        &Value::Null,
        now,
        None,
    )
    .value
    .as_i64()
    .filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(version: i64, doc: Value) -> String {
        serde_json::json!({ "version": version, "document": doc }).to_string()
    }

    #[test]
    fn the_copy_falls_back_to_the_last_good_then_the_built_in_document() {
        let mut cache = DocumentCache::default();
        let ((_, v), warn) = cache.settle(Err("KV down".into()), 0);
        assert_eq!((v, warn.is_some()), (0, true), "built in");
        let good = published(3, serde_json::json!({"flags": {}}));
        let ((_, v), warn) = cache.settle(read_published(Some(&good)), 1_000);
        assert_eq!((v, warn), (3, None));
        assert!(cache.fresh(5_000, 5).is_some());
        assert!(cache.fresh(6_000, 5).is_none(), "older than the cache time");
        let bad = published(4, serde_json::json!({"flags": {"x": {"state": "ON"}}}));
        let read = read_published(Some(&bad));
        assert!(read.as_ref().is_err_and(|e| e.contains("version 4")));
        let ((_, v), warn) = cache.settle(read, 7_000);
        assert_eq!(v, 3, "the last good version stays");
        assert!(warn.is_some_and(|w| w.contains("keeping version 3")));
        assert_eq!(read_published(None).map(|r| r.is_none()), Ok(true));
        cache.forget();
        assert!(cache.fresh(7_001, 5).is_none());
    }

    #[test]
    fn a_save_is_checked_before_it_is_stored() {
        let doc = br#"{"flags": {}}"#.to_vec();
        let json = Some("application/json; charset=utf-8");
        assert_eq!(save_version(Some("\"f2\""), json), Ok(2));
        for (if_match, ct, status) in [
            (None, json, 428),
            (Some("\"f02\""), json, 412),
            (Some("\"v2\""), json, 412),
            (Some("\"f2\""), Some("text/plain"), 415),
        ] {
            assert_eq!(save_version(if_match, ct).unwrap_err().status(), status);
        }
        assert_eq!(save(2, doc).unwrap().if_match, 2);
        assert_eq!(
            save(2, br#"{"flags": 1}"#.to_vec()).unwrap_err().status(),
            400
        );
        assert_eq!(save(2, vec![0xff]).unwrap_err().status(), 400);
    }

    #[test]
    fn browsers_see_client_visible_flags_only() {
        let set = FlagSet::parse(flags::BUILT_IN).unwrap();
        let ctx = flags::context(None, Some("anon"), &[], None, None, "/api/flags");
        let all = for_browser(&set, 0, &ctx, None, 0);
        let keys: Vec<&String> = all["flags"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["new-checkout-flow"]);
        let hidden = one_for_browser(
            &set,
            "maintenance-mode",
            Some("default=true"),
            &ctx,
            None,
            0,
        );
        assert_eq!(
            (hidden["value"].clone(), hidden["errorCode"].clone()),
            (Value::Bool(true), Value::from("FLAG_NOT_FOUND"))
        );
    }

    #[test]
    fn the_switches_the_edge_obeys_refuse_with_503_and_retry_after() {
        let config = crate::config::for_tests();
        let incoming = crate::incoming::Incoming::parse(
            "POST".into(),
            "https://shop.example/api/cart",
            vec![],
            crate::forwarding::region::Location::default(),
            ([0; 16], [1; 16], [2; 8]),
        )
        .unwrap();
        let built_in = FlagSet::parse(flags::BUILT_IN).unwrap();
        assert!(refuse_in_maintenance(&built_in, &incoming, &config, 0).is_ok());
        assert!(refuse_when_checkout_is_off(&built_in, &incoming, &config, 0).is_ok());
        let switched = FlagSet::from_value(&serde_json::json!({"flags": {
            "maintenance-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
            "checkout-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}
        }}))
        .unwrap();
        for refused in [
            refuse_in_maintenance(&switched, &incoming, &config, 0),
            refuse_when_checkout_is_off(&switched, &incoming, &config, 0),
        ] {
            let e = refused.unwrap_err();
            assert_eq!(
                (e.status(), e.headers().to_vec()),
                (503, vec![("retry-after", "60".to_owned())])
            );
        }
    }

    #[test]
    fn override_tokens_live_one_second_to_seven_days() {
        let ask = |ttl_seconds| OverrideAsk {
            variants: BTreeMap::from([("f".to_owned(), "on".to_owned())]),
            ttl_seconds,
        };
        let issued = override_token(&ask(60), "t".repeat(32).as_str(), 100).unwrap();
        assert_eq!(issued["expires_at"], 160);
        for ttl in [0, flags::overrides::MAX_LIFETIME + 1, i64::MAX] {
            assert_eq!(override_token(&ask(ttl), "t", 0).unwrap_err().status(), 422);
        }
    }
}
