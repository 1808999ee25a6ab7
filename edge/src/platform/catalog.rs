//! Catalog reads through the Cache API, with stale-while-revalidate,
//! stale-if-error, negative caching, request coalescing and tag purges.
//! Decisions come from `crate::catalog`; this module performs them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use std::time::Duration;

use durable_objects::body::{MAX_ANSWER, read_answer_bounded};
use origin_adapter::wire::Product;
use worker::{Cache, Context, Delay, Headers, Method, Request, RequestInit, Response};

use super::{internal, now_ms, origin};
use crate::catalog::coalesce::{Leader, Step, step};
use crate::catalog::freshness::{Freshness, Windows, freshness, windows_for};
use crate::catalog::query::CatalogQuery;
use crate::catalog::report::{Outcome, cache_status, etag, not_modified, server_timing};
use crate::catalog::tags::entry_tags;
use crate::catalog::{BROWSER_CACHE_CONTROL, MISSING_MAX_AGE, cache_key, tag_index_key};
use crate::config::EdgeConfig;
use crate::error::EdgeError;

// Metadata kept on a stored entry, as response headers.
const STATUS: &str = "x-edge-status";
const STORED_AT: &str = "x-edge-stored-at";
const WINDOWS: &str = "x-edge-windows";
const TAGS: &str = "x-edge-tags";
/// Keys remembered per tag; past this, the oldest fall out of the index
/// and their entries simply live out their (short) lifetime.
const MAX_KEYS_PER_TAG: usize = 2_000;

/// An answer the cache holds or the origin gave, as plain data.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub status: u16,
    pub body: String,
    pub etag: String,
    pub tags: Vec<String>,
    stored_at: i64,
    windows: Option<Windows>,
}

/// What a catalog read produced, and how.
pub(crate) struct CatalogAnswer {
    pub entry: Entry,
    pub outcome: Outcome,
    pub origin_ms: Option<i64>,
}

/// The result of one coalesced origin fetch (errors included, so every
/// waiter sees the same outcome).
type Fetch = Result<(Entry, bool, i64), EdgeError>;

/// Where a leading request leaves its fetch's result for the others.
enum Slot {
    /// Fetching since this time (Unix milliseconds).
    Pending(i64),
    Done(Fetch),
    /// The leader went away without a result; waiters fetch for themselves.
    Abandoned,
}

thread_local! {
    /// Origin fetches under way in this isolate, by cache key: concurrent
    /// misses for one key wait on the same fetch.
    static IN_FLIGHT: RefCell<HashMap<String, Rc<RefCell<Slot>>>> = RefCell::new(HashMap::new());
}

/// Removes the leader's slot however the leader ends; if it ends without a
/// result (its request was cancelled) the waiters are told to fetch.
struct Leading {
    key: String,
    slot: Rc<RefCell<Slot>>,
}

impl Drop for Leading {
    fn drop(&mut self) {
        // Only its own slot: a request that took over may lead by now.
        IN_FLIGHT.with(|m| {
            let mut m = m.borrow_mut();
            if m.get(&self.key).is_some_and(|s| Rc::ptr_eq(s, &self.slot)) {
                m.remove(&self.key);
            }
        });
        if let Ok(mut slot) = self.slot.try_borrow_mut()
            && matches!(*slot, Slot::Pending(_))
        {
            *slot = Slot::Abandoned;
        }
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

/// Fetches `query` from the origin and stores what may be stored. Only one
/// such fetch per key runs at a time in this isolate.
async fn fetch_and_store(config: EdgeConfig, query: CatalogQuery) -> Fetch {
    let canonical = query.canonical();
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
    let started = now_ms();
    let mut response = origin::send(request, config.catalog_timeout_ms, "catalog service").await?;
    let status = response.status_code();
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
    let origin_ms = now_ms() - started;
    let windows = match status {
        200 => windows_for(cache_control.as_deref(), config.windows(query.route())).map(|w| {
            match config.catalog_max_age_override {
                Some(max_age) => Windows { max_age, ..w },
                None => w,
            }
        }),
        404 => windows_for(
            cache_control.as_deref(),
            Windows {
                max_age: MISSING_MAX_AGE,
                stale_while_revalidate: 0,
                stale_if_error: 0,
            },
        ),
        400..=499 => None,
        _ => {
            worker::console_error!("edge: catalog answered {status} for {canonical}");
            return Err(EdgeError::new(
                502,
                format!("the catalog service failed (status {status})"),
            ));
        }
    };
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        EdgeError::new(
            502,
            "the catalog service answered with something other than JSON",
        )
    })?;
    let entry = Entry {
        status,
        etag: etag(body.as_bytes()),
        tags: entry_tags(&query, &json),
        body,
        stored_at: now_ms(),
        windows,
    };
    let stored = store(&Cache::default(), &cache_key(&canonical), &entry).await;
    Ok((entry, stored, origin_ms))
}

async fn coalesced(config: &EdgeConfig, query: &CatalogQuery) -> Fetch {
    let key = query.canonical();
    let timeout = i64::try_from(config.catalog_timeout_ms).unwrap_or(i64::MAX);
    // The fetch runs in the leader's request. workerd ties I/O to the
    // request that made it, so a waiter is never woken by the leader: it
    // looks at the slot on its own timer, and does its own I/O after.
    let existing = IN_FLIGHT.with(|m| m.borrow().get(&key).cloned());
    if let Some(slot) = existing {
        loop {
            let leader = match &*slot.borrow() {
                Slot::Pending(started_ms) => Leader::Working {
                    started_ms: *started_ms,
                },
                Slot::Done(_) => Leader::Done,
                Slot::Abandoned => Leader::Abandoned,
            };
            match step(leader, now_ms(), timeout) {
                Step::Wait => Delay::from(Duration::from_millis(10)).await,
                Step::Use => {
                    if let Slot::Done(result) = &*slot.borrow() {
                        return result.clone();
                    }
                }
                Step::FetchAlone => {
                    return fetch_and_store(config.clone(), query.clone()).await;
                }
                // A leader that vanished leaves its slot behind: this
                // request replaces it and leads; later arrivals wait on it.
                Step::TakeOver => break,
            }
        }
    }
    let slot = Rc::new(RefCell::new(Slot::Pending(now_ms())));
    IN_FLIGHT.with(|m| m.borrow_mut().insert(key.clone(), slot.clone()));
    let leading = Leading { key, slot };
    let result = fetch_and_store(config.clone(), query.clone()).await;
    *leading.slot.borrow_mut() = Slot::Done(result.clone());
    result
}

/// Reads `query` through the cache, deciding with [`freshness`] what the
/// stored entry is good for.
pub(crate) async fn read(
    config: &EdgeConfig,
    query: &CatalogQuery,
    ctx: &Context,
) -> Result<CatalogAnswer, EdgeError> {
    let cache = Cache::default();
    let stored = lookup(&cache, &cache_key(&query.canonical())).await;
    let state = stored
        .as_ref()
        .and_then(|e| e.windows.map(|w| freshness(e.stored_at, w, now_ms())));
    match (stored, state) {
        (Some(entry), Some(Freshness::Fresh { ttl })) => Ok(CatalogAnswer {
            entry,
            outcome: Outcome::Hit { ttl },
            origin_ms: None,
        }),
        (Some(entry), Some(Freshness::StaleWhileRevalidate { ttl })) => {
            let (config, query) = (config.clone(), query.clone());
            ctx.wait_until(async move {
                if let Err(e) = coalesced(&config, &query).await {
                    worker::console_warn!("edge: background refresh failed: {e}");
                }
            });
            Ok(CatalogAnswer {
                entry,
                outcome: Outcome::Hit { ttl },
                origin_ms: None,
            })
        }
        (Some(stale), Some(Freshness::StaleIfError { ttl })) => {
            match coalesced(config, query).await {
                Ok((entry, stored, origin_ms)) => Ok(CatalogAnswer {
                    entry,
                    outcome: Outcome::Refreshed { stored },
                    origin_ms: Some(origin_ms),
                }),
                Err(e) => {
                    worker::console_warn!("edge: serving stale {}: {e}", query.canonical());
                    Ok(CatalogAnswer {
                        entry: stale,
                        outcome: Outcome::StaleOnError {
                            ttl,
                            origin_status: e.status,
                        },
                        origin_ms: None,
                    })
                }
            }
        }
        _ => {
            let (entry, stored, origin_ms) = coalesced(config, query).await?;
            Ok(CatalogAnswer {
                entry,
                outcome: Outcome::Miss { stored },
                origin_ms: Some(origin_ms),
            })
        }
    }
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
    req: &Request,
    config: &EdgeConfig,
    ctx: &Context,
    started_ms: i64,
) -> Result<Response, EdgeError> {
    let url = req.url().map_err(internal("read the request URL"))?;
    let query = match crate::catalog::query::parse(url.path(), url.query()) {
        Some(q) => q?,
        None => {
            return Err(EdgeError::new(
                404,
                format!("no resource at {}", url.path()),
            ));
        }
    };
    let answer = read(config, &query, ctx).await?;
    let entry = &answer.entry;
    let headers = Headers::new();
    let if_none_match = req.headers().get("if-none-match").ok().flatten();
    let fresh_copy = entry.status == 200 && not_modified(if_none_match.as_deref(), &entry.etag);
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
