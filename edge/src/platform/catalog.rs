//! Catalog reads through the Cache API: the core's catalog read
//! ([`crate::shop::catalog`]) decides; this module is its cache (entries
//! and tag indexes in the Cache API), its origin (a `GET` with a timeout),
//! its timer and clock, and the rendering of the answer.

use std::rc::Rc;

use durable_objects::body::{MAX_ANSWER, read_answer_bounded};
use origin_adapter::wire::Product;
use worker::{Cache, Context, Headers, Method, Request, RequestInit, Response};

use super::origin;
use super::runtime::Timer;
use super::runtime::{internal, now_ms};
use crate::catalog::freshness::Windows;
use crate::catalog::query::CatalogQuery;
use crate::catalog::report::{cache_status, not_modified, server_timing};
use crate::catalog::{BROWSER_CACHE_CONTROL, tag_index_key};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::catalog::{
    self as core, CatalogAnswer, CatalogCache, CatalogOrigin, Entry, Fetched, InFlight, Ports,
};

// Metadata kept on a stored entry, as response headers.
const STATUS: &str = "x-edge-status";
const STORED_AT: &str = "x-edge-stored-at";
const WINDOWS: &str = "x-edge-windows";
const TAGS: &str = "x-edge-tags";
/// Keys remembered per tag; past this, the oldest fall out of the index
/// and their entries simply live out their (short) lifetime (a purge of a
/// SKU still reaches its product entry by name).
const MAX_KEYS_PER_TAG: usize = 2_000;

thread_local! {
    /// Origin fetches under way in this isolate, by cache key.
    static IN_FLIGHT: Rc<InFlight> = Rc::new(InFlight::default());
}

/// This location's Cache API.
struct ApiCache;

impl CatalogCache for ApiCache {
    async fn lookup(&self, key: &str) -> Option<Entry> {
        lookup(&Cache::default(), key).await
    }

    async fn store(&self, key: &str, entry: &Entry) -> bool {
        store(&Cache::default(), key, entry).await
    }
}

/// The catalog origin of the default region.
struct CatalogService(EdgeConfig);

impl CatalogOrigin for CatalogService {
    async fn fetch(&self, canonical: &str) -> Result<Fetched, EdgeError> {
        fetch(&self.0, canonical).await
    }
}

async fn lookup(cache: &Cache, key: &str) -> Option<Entry> {
    let mut response = cache.get(key, false).await.ok().flatten()?;
    let h = response.headers();
    let get = |name: &str| h.get(name).ok().flatten();
    let status = get(STATUS)?.parse().ok()?;
    let stored_at = get(STORED_AT)?.parse().ok()?;
    let w: Vec<i64> = get(WINDOWS)?
        .split(',')
        .filter_map(|n| n.parse().ok())
        .collect();
    let [max_age, stale_while_revalidate, stale_if_error] = w[..] else {
        return None;
    };
    let etag = get("etag").unwrap_or_default();
    let tags = get(TAGS)
        .map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let body = response.text().await.ok()?;
    Some(Entry {
        status,
        body,
        etag,
        tags,
        stored_at,
        windows: Some(Windows {
            max_age,
            stale_while_revalidate,
            stale_if_error,
        }),
    })
}

async fn store(cache: &Cache, key: &str, entry: &Entry) -> bool {
    let Some(w) = entry.windows else { return false };
    let headers = Headers::new();
    let filled = (|| -> worker::Result<()> {
        headers.set("content-type", "application/json")?;
        headers.set(
            "cache-control",
            &format!("public, max-age={}", w.retention()),
        )?;
        headers.set(STATUS, &entry.status.to_string())?;
        headers.set(STORED_AT, &entry.stored_at.to_string())?;
        headers.set(
            WINDOWS,
            &format!(
                "{},{},{}",
                w.max_age, w.stale_while_revalidate, w.stale_if_error
            ),
        )?;
        headers.set("etag", &entry.etag)?;
        headers.set(TAGS, &entry.tags.join(","))
    })();
    let Ok(response) = Response::ok(entry.body.clone()).map(|r| r.with_headers(headers)) else {
        return false;
    };
    if filled.is_err() {
        return false;
    }
    if let Err(e) = cache.put(key, response).await {
        // A cache that refuses an entry costs speed, not correctness.
        worker::console_warn!("edge: cache put failed for {key}: {e}");
        return false;
    }
    for tag in &entry.tags {
        index(cache, tag, key).await;
    }
    true
}

/// Records that `key` carries `tag`, so a purge of the tag finds it.
async fn index(cache: &Cache, tag: &str, key: &str) {
    let index_key = tag_index_key(tag);
    let mut keys: Vec<String> = match cache.get(index_key.as_str(), false).await {
        Ok(Some(mut r)) => r
            .text()
            .await
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if keys.iter().any(|k| k == key) {
        return;
    }
    keys.push(key.to_owned());
    let excess = keys.len().saturating_sub(MAX_KEYS_PER_TAG);
    keys.drain(..excess);
    let headers = Headers::new();
    if headers
        .set("cache-control", "public, max-age=86400")
        .is_err()
    {
        return;
    }
    if let Ok(r) = Response::ok(keys.join("\n")) {
        let _ = cache.put(index_key.as_str(), r.with_headers(headers)).await;
    }
}

/// `GET`s a canonical catalog path from the default region's origin.
async fn fetch(config: &EdgeConfig, canonical: &str) -> Result<Fetched, EdgeError> {
    let url = format!("{}{canonical}", config.default_origin());
    let headers = Headers::new();
    headers
        .set("accept", "application/json")
        .map_err(internal("built a catalog request"))?;
    let request = Request::new_with_init(
        &url,
        RequestInit::new()
            .with_method(Method::Get)
            .with_headers(headers),
    )
    .map_err(internal("built a catalog request"))?;
    let mut response = origin::send(request, config.catalog_timeout_ms, "catalog service").await?;
    let status = response.status_code();
    if status >= 500 {
        worker::console_error!("edge: catalog answered {status} for {canonical}");
    }
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let body = read_answer_bounded(&mut response, MAX_ANSWER)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            EdgeError::new(
                502,
                "the catalog service's answer was unreadable or too large",
            )
        })?;
    Ok(Fetched {
        status,
        cache_control,
        body,
    })
}

/// The catalog read's ports: this location's cache, the catalog origin,
/// the platform's timer, and the isolate's fetches in flight.
fn ports<'a>(
    origin: &'a CatalogService,
    in_flight: &'a InFlight,
) -> Ports<'a, ApiCache, CatalogService, Timer, Timer> {
    Ports {
        cache: &ApiCache,
        origin,
        sleep: &Timer,
        clock: &Timer,
        in_flight,
    }
}

/// Reads `query` through the cache; a stale entry served within
/// `stale-while-revalidate` is refreshed after the answer (`waitUntil`).
pub(crate) async fn read(
    config: &EdgeConfig,
    query: &CatalogQuery,
    ctx: &Context,
) -> Result<CatalogAnswer, EdgeError> {
    let in_flight = IN_FLIGHT.with(Rc::clone);
    let origin = CatalogService(config.clone());
    let answer = core::read(&ports(&origin, &in_flight), config, query).await?;
    if answer.refresh {
        let (config, query) = (config.clone(), query.clone());
        ctx.wait_until(async move {
            let origin = CatalogService(config.clone());
            let ports = ports(&origin, &in_flight);
            if let Err(e) = core::coalesced(&ports, &config, &query).await {
                worker::console_warn!("edge: background refresh failed: {e}");
            }
        });
    }
    Ok(answer)
}

/// A product, for pricing a cart line: through the same cache.
pub(crate) async fn product(
    config: &EdgeConfig,
    sku: &str,
    ctx: &Context,
) -> Result<Product, EdgeError> {
    crate::catalog::validate_sku(sku)?;
    let answer = read(
        config,
        &CatalogQuery::Product {
            sku: sku.to_owned(),
        },
        ctx,
    )
    .await?;
    match answer.entry.status {
        200 => serde_json::from_str(&answer.entry.body).map_err(|_| {
            EdgeError::new(
                502,
                "the catalog service answered with an unreadable product",
            )
        }),
        404 => Err(EdgeError::new(404, format!("no product with SKU {sku:?}"))),
        status => Err(EdgeError::new(
            502,
            format!("the catalog service failed (status {status})"),
        )),
    }
}

/// `GET` a catalog resource: the JSON, or 304 when the client's copy is current.
pub(crate) async fn get(
    rc: &super::runtime::RequestContext,
    config: &EdgeConfig,
    ctx: &Context,
    started_ms: i64,
) -> Result<Response, EdgeError> {
    let query = match crate::catalog::query::parse(&rc.path, rc.query.as_deref()) {
        Some(q) => q?,
        None => return Err(EdgeError::new(404, format!("no resource at {}", rc.path))),
    };
    let answer = read(config, &query, ctx).await?;
    let entry = &answer.entry;
    let headers = Headers::new();
    let fresh_copy = entry.status == 200 && not_modified(rc.header("if-none-match"), &entry.etag);
    let filled = (|| -> worker::Result<()> {
        headers.set("cache-status", &cache_status(answer.outcome))?;
        headers.set(
            "server-timing",
            &server_timing(now_ms() - started_ms, answer.origin_ms),
        )?;
        headers.set("cache-tag", &entry.tags.join(","))?;
        if entry.status == 200 {
            headers.set("etag", &entry.etag)?;
            headers.set("cache-control", BROWSER_CACHE_CONTROL)?;
            headers.set("content-type", "application/json")?;
        } else {
            headers.set("cache-control", "no-store")?;
            headers.set("content-type", origin_adapter::wire::PROBLEM_JSON)?;
        }
        Ok(())
    })();
    filled.map_err(internal("answered"))?;
    let (status, body) = if fresh_copy {
        (304, String::new())
    } else {
        (entry.status, entry.body.clone())
    };
    Ok(Response::ok(body)
        .map_err(internal("answered"))?
        .with_status(status)
        .with_headers(headers))
}

/// Removes the entries under `keys` from this location's cache; how many
/// were there.
pub(crate) async fn purge_keys(keys: &[String]) -> usize {
    let cache = Cache::default();
    let mut purged = 0;
    for key in keys {
        if matches!(
            cache.delete(key.as_str(), false).await,
            Ok(worker::CacheDeletionOutcome::Success)
        ) {
            purged += 1;
        }
    }
    purged
}

/// Removes every entry carrying one of `tags` from this location's cache.
pub(crate) async fn purge_tags(tags: &[String]) -> usize {
    let cache = Cache::default();
    let mut purged = 0;
    for tag in tags {
        let index_key = tag_index_key(tag);
        let keys = match cache.get(index_key.as_str(), false).await {
            Ok(Some(mut r)) => r.text().await.unwrap_or_default(),
            _ => continue,
        };
        for key in keys.lines() {
            if matches!(
                cache.delete(key, false).await,
                Ok(worker::CacheDeletionOutcome::Success)
            ) {
                purged += 1;
            }
        }
        let _ = cache.delete(index_key.as_str(), false).await;
    }
    purged
}
