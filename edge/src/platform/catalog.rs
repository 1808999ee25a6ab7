//! Catalog reads through the Cache API: the core's catalog read
//! ([`crate::shop::catalog`]) decides; this module is its cache (entries
//! and tag indexes in the Cache API), its origin (a `GET` with a timeout),
//! its timer and clock, and the rendering of the answer.

use std::rc::Rc;

use durable_objects::exchange::{self, Exchange};
use origin_adapter::wire::Product;
use worker::{Cache, Context, Headers, Response};

use js_sys::futures::JsFuture;

use super::runtime::{Timer, cached_entry, internal, now_ms, store_entry};
use crate::catalog::query::CatalogQuery;
use crate::catalog::tag_index_key;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::catalog::{
    self as core, CatalogAnswer, CatalogCache, CatalogOrigin, ENTRY_HEADER, Entry, Fetched,
    InFlight, Ports, answer_reply, indexed, product_of,
};
use crate::shop::reply::Reply;

thread_local! {
    /// Origin fetches under way in this isolate, by cache key.
    static IN_FLIGHT: Rc<InFlight> = Rc::new(InFlight::default());
}

/// This location's Cache API.
struct ApiCache;

impl CatalogCache for ApiCache {
    async fn lookup(&self, key: &str) -> Option<Entry> {
        lookup(key).await
    }

    async fn store(&self, key: &str, entry: &Entry) -> bool {
        store(&Cache::default(), key, entry).await
    }
}

/// The catalog origin of the default region.
struct CatalogService<'a>(&'a EdgeConfig);

impl CatalogOrigin for CatalogService<'_> {
    async fn fetch(&self, canonical: &str) -> Result<Fetched, EdgeError> {
        fetch(self.0, canonical).await
    }
}

/// The entry under `key`: its metadata header and body in one call.
pub(crate) async fn lookup(key: &str) -> Option<Entry> {
    let found = JsFuture::from(cached_entry(key, ENTRY_HEADER)).await.ok()?;
    let found = found.as_string()?;
    let (meta, body) = found.split_once('\n')?;
    Entry::from_stored(meta, body.to_owned())
}

/// Stores `entry` under `key`, indexed by its tags (so a purge finds it).
pub(crate) async fn store_tagged(key: &str, entry: &Entry) -> bool {
    store(&Cache::default(), key, entry).await
}

async fn store(cache: &Cache, key: &str, entry: &Entry) -> bool {
    let Some(stored) = entry.stored_headers() else {
        return false;
    };
    let mut as_stored = Reply::raw(200, "", Vec::new());
    as_stored.headers = stored;
    let head = as_stored.head();
    // A cache that refuses an entry costs speed, not correctness (the
    // glue logs why).
    let stored = JsFuture::from(store_entry(key, &head, entry.body.as_bytes())).await;
    if !stored.is_ok_and(|v| v.as_bool() == Some(true)) {
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
    let existing = match cache.get(index_key.as_str(), false).await {
        Ok(Some(mut r)) => r.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    let Some(keys) = indexed(&existing, key) else {
        return;
    };
    let headers = Headers::new();
    if headers
        .set("cache-control", "public, max-age=86400")
        .is_err()
    {
        return;
    }
    if let Ok(r) = Response::ok(keys) {
        let _ = cache.put(index_key.as_str(), r.with_headers(headers)).await;
    }
}

/// `GET`s a canonical catalog path from the default region's origin: 504
/// when it does not answer in time, 502 when it cannot be reached or its
/// answer is unreadable.
async fn fetch(config: &EdgeConfig, canonical: &str) -> Result<Fetched, EdgeError> {
    let url = format!("{}{canonical}", config.default_origin());
    let accept = [("accept", "application/json")];
    let timeout = config.catalog_timeout_ms;
    let exchange = exchange::send("GET", &url, &accept, None, timeout)
        .await
        .map_err(internal("built a catalog request"))?;
    let (status, headers, body) = match exchange {
        Exchange::Answered {
            status,
            headers,
            body,
        } => (status, headers, body),
        Exchange::TimedOut => {
            let detail = format!("the catalog service did not answer within {timeout} ms");
            return Err(EdgeError::gateway_timeout(detail));
        }
        other => {
            let detail = "the catalog service could not be reached or its answer was unreadable";
            return Err(EdgeError::bad_gateway(detail).with_cause(format!("{other:?} {url}")));
        }
    };
    if status >= 500 {
        worker::console_error!("edge: catalog answered {status} for {canonical}");
    }
    let body = String::from_utf8(body)
        .map_err(|_| EdgeError::bad_gateway("the catalog service's answer was not UTF-8 text"))?;
    let cache_control = headers
        .into_iter()
        .find_map(|(n, v)| (n == "cache-control").then_some(v));
    Ok(Fetched {
        status,
        cache_control,
        body,
    })
}

/// The catalog read's ports: this location's cache, the catalog origin,
/// the platform's timer, and the isolate's fetches in flight.
fn ports<'a>(
    origin: &'a CatalogService<'a>,
    in_flight: &'a InFlight,
) -> Ports<'a, ApiCache, CatalogService<'a>, Timer, Timer> {
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
    let origin = CatalogService(config);
    let answer = core::read(&ports(&origin, &in_flight), config, query).await?;
    if answer.refresh {
        let (config, query) = (config.clone(), query.clone());
        ctx.wait_until(async move {
            let origin = CatalogService(&config);
            let ports = ports(&origin, &in_flight);
            if let Err(e) = core::coalesced(&ports, &config, &query).await {
                let cause = e.cause().unwrap_or_default();
                worker::console_warn!("edge: background refresh failed: {e} {cause}");
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
    product_of(&answer.entry, sku)
}

/// `GET` a catalog resource: the JSON, or 304 when the client's copy is current.
pub(crate) async fn get(
    rc: &super::runtime::RequestContext,
    config: &EdgeConfig,
    ctx: &Context,
    started_ms: i64,
) -> Result<Reply, EdgeError> {
    let query = match crate::catalog::query::parse(&rc.path, rc.query.as_deref()) {
        Some(q) => q?,
        None => return Err(EdgeError::not_found(format!("no resource at {}", rc.path))),
    };
    let answer = read(config, &query, ctx).await?;
    let edge_ms = now_ms() - started_ms;
    Ok(answer_reply(&answer, rc.header("if-none-match"), edge_ms))
}

/// Removes from this location's cache every entry carrying one of `tags`
/// (through the tags' indexes, which go too) and the entries under
/// `keys`; how many entries were there.
pub(crate) async fn purge(tags: &[String], keys: &[String]) -> usize {
    let cache = Cache::default();
    let mut doomed: Vec<String> = keys.to_vec();
    for tag in tags {
        let index_key = tag_index_key(tag);
        if let Ok(Some(mut r)) = cache.get(index_key.as_str(), false).await {
            doomed.extend(
                r.text()
                    .await
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned),
            );
        }
        let _ = cache.delete(index_key.as_str(), false).await;
    }
    let mut purged = 0;
    for key in doomed {
        let deleted = cache.delete(key.as_str(), false).await;
        purged += usize::from(matches!(deleted, Ok(worker::CacheDeletionOutcome::Success)));
    }
    purged
}
