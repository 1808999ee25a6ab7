//! The catalog read: through the cache, fresh / stale-while-revalidate /
//! stale-if-error as [`crate::catalog::freshness`] decides, one origin
//! fetch per key at a time in an isolate (coalescing, with a deadline for
//! waiters whose leader vanished), and what an origin answer becomes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::catalog::coalesce::{Leader, Step, step};
use crate::catalog::freshness::{Freshness, Windows, freshness, windows_for};
use crate::catalog::query::CatalogQuery;
use crate::catalog::report::{Outcome, etag};
use crate::catalog::tags::entry_tags;
use crate::catalog::{MISSING_MAX_AGE, cache_key};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::shop::ports::Clock;

/// An answer the cache holds or the origin gave, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub status: u16,
    pub body: String,
    pub etag: String,
    pub tags: Vec<String>,
    /// Unix milliseconds.
    pub stored_at: i64,
    /// `None`: not to be stored.
    pub windows: Option<Windows>,
}

/// What a catalog read produced, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogAnswer {
    pub entry: Entry,
    pub outcome: Outcome,
    pub origin_ms: Option<i64>,
    /// Served stale within `stale-while-revalidate`: the caller refreshes
    /// the entry in the background ([`refresh`]).
    pub refresh: bool,
    /// Why a stale entry was served (the origin's failure), for the log.
    pub note: Option<String>,
}

/// The result of one origin fetch, errors included (so every waiter sees
/// the same outcome): the entry, whether it was stored, the origin's time.
pub type Fetch = Result<(Entry, bool, i64), EdgeError>;

/// What the catalog origin answered.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub cache_control: Option<String>,
    pub body: String,
}

/// The cache of one location, by key.
#[allow(async_fn_in_trait)]
pub trait CatalogCache {
    async fn lookup(&self, key: &str) -> Option<Entry>;
    /// Stores `entry` under `key` (and in its tags' indexes); whether it was.
    async fn store(&self, key: &str, entry: &Entry) -> bool;
}

/// The catalog origin: `GET` its canonical path, within the timeout.
#[allow(async_fn_in_trait)]
pub trait CatalogOrigin {
    async fn fetch(&self, canonical: &str) -> Result<Fetched, EdgeError>;
}

/// Waiting, on the platform's timer.
#[allow(async_fn_in_trait)]
pub trait Sleep {
    async fn sleep(&self, ms: u64);
}

/// The ports a catalog read uses.
pub struct Ports<'a, C, O, S, K> {
    pub cache: &'a C,
    pub origin: &'a O,
    pub sleep: &'a S,
    pub clock: &'a K,
    pub in_flight: &'a InFlight,
}

/// Where a leading request leaves its fetch's result for the others.
enum Slot {
    /// Fetching since this time (Unix milliseconds).
    Pending(i64),
    Done(Fetch),
    /// The leader went away without a result; waiters fetch for themselves.
    Abandoned,
}

/// Origin fetches under way in one isolate, by canonical path.
#[derive(Default)]
pub struct InFlight(RefCell<HashMap<String, Rc<RefCell<Slot>>>>);

/// Removes the leader's slot however the leader ends; if it ends without a
/// result (its request was dropped) the waiters are told to fetch.
struct Leading<'a> {
    in_flight: &'a InFlight,
    key: String,
    slot: Rc<RefCell<Slot>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        // Only its own slot: a request that took over may lead by now.
        if let Ok(mut map) = self.in_flight.0.try_borrow_mut()
            && map
                .get(&self.key)
                .is_some_and(|s| Rc::ptr_eq(s, &self.slot))
        {
            map.remove(&self.key);
        }
        if let Ok(mut slot) = self.slot.try_borrow_mut()
            && matches!(*slot, Slot::Pending(_))
        {
            *slot = Slot::Abandoned;
        }
    }
}

/// What an origin's answer to `query` becomes: its windows (the origin's
/// `Cache-Control` first, then the route's, then the flag's lifetime),
/// tags and strong `ETag`. A `5xx` or a body that is not JSON is a `502`.
pub fn entry_from(
    config: &EdgeConfig,
    query: &CatalogQuery,
    fetched: Fetched,
    now_ms: i64,
) -> Result<Entry, EdgeError> {
    let cc = fetched.cache_control.as_deref();
    let windows = match fetched.status {
        200 => windows_for(cc, config.windows(query.route())).map(|w| {
            match config.catalog_max_age_override {
                Some(max_age) => Windows { max_age, ..w },
                None => w,
            }
        }),
        404 => windows_for(
            cc,
            Windows {
                max_age: MISSING_MAX_AGE,
                stale_while_revalidate: 0,
                stale_if_error: 0,
            },
        ),
        400..=499 => None,
        status => {
            return Err(EdgeError::bad_gateway(format!(
                "the catalog service failed (status {status})"
            )));
        }
    };
    let json: serde_json::Value = serde_json::from_str(&fetched.body).map_err(|_| {
        EdgeError::bad_gateway("the catalog service answered with something other than JSON")
    })?;
    Ok(Entry {
        status: fetched.status,
        etag: etag(fetched.body.as_bytes()),
        tags: entry_tags(query, &json),
        body: fetched.body,
        stored_at: now_ms,
        windows,
    })
}

async fn fetch_and_store<C: CatalogCache, O: CatalogOrigin, S: Sleep, K: Clock>(
    p: &Ports<'_, C, O, S, K>,
    config: &EdgeConfig,
    query: &CatalogQuery,
) -> Fetch {
    let canonical = query.canonical();
    let started = p.clock.now_ms();
    let fetched = p.origin.fetch(&canonical).await?;
    let origin_ms = p.clock.now_ms() - started;
    let entry = entry_from(config, query, fetched, p.clock.now_ms())?;
    let stored = p.cache.store(&cache_key(&canonical), &entry).await;
    Ok((entry, stored, origin_ms))
}

/// One origin fetch for `query`, shared by the isolate's concurrent misses.
pub async fn coalesced<C: CatalogCache, O: CatalogOrigin, S: Sleep, K: Clock>(
    p: &Ports<'_, C, O, S, K>,
    config: &EdgeConfig,
    query: &CatalogQuery,
) -> Fetch {
    let key = query.canonical();
    let timeout = i64::try_from(config.catalog_timeout_ms).unwrap_or(i64::MAX);
    // workerd ties I/O to the request that made it, so a waiter is never
    // woken by the leader: it looks at the slot on its own timer.
    let existing = p.in_flight.0.borrow().get(&key).cloned();
    if let Some(slot) = existing {
        loop {
            let leader = match &*slot.borrow() {
                Slot::Pending(started_ms) => Leader::Working {
                    started_ms: *started_ms,
                },
                Slot::Done(_) => Leader::Done,
                Slot::Abandoned => Leader::Abandoned,
            };
            match step(leader, p.clock.now_ms(), timeout) {
                Step::Wait => p.sleep.sleep(10).await,
                Step::Use => {
                    if let Slot::Done(result) = &*slot.borrow() {
                        return result.clone();
                    }
                }
                Step::FetchAlone => return fetch_and_store(p, config, query).await,
                // A leader that vanished leaves its slot behind: this
                // request replaces it and leads; later arrivals wait on it.
                Step::TakeOver => break,
            }
        }
    }
    let slot = Rc::new(RefCell::new(Slot::Pending(p.clock.now_ms())));
    p.in_flight.0.borrow_mut().insert(key.clone(), slot.clone());
    let leading = Leading {
        in_flight: p.in_flight,
        key,
        slot,
    };
    let result = fetch_and_store(p, config, query).await;
    *leading.slot.borrow_mut() = Slot::Done(result.clone());
    result
}

/// Reads `query` through the cache.
pub async fn read<C: CatalogCache, O: CatalogOrigin, S: Sleep, K: Clock>(
    p: &Ports<'_, C, O, S, K>,
    config: &EdgeConfig,
    query: &CatalogQuery,
) -> Result<CatalogAnswer, EdgeError> {
    let stored = p.cache.lookup(&cache_key(&query.canonical())).await;
    let now = p.clock.now_ms();
    let state = stored
        .as_ref()
        .and_then(|e| e.windows.map(|w| freshness(e.stored_at, w, now)));
    let answer = |entry, outcome, origin_ms, refresh| CatalogAnswer {
        entry,
        outcome,
        origin_ms,
        refresh,
        note: None,
    };
    match (stored, state) {
        (Some(entry), Some(Freshness::Fresh { ttl })) => {
            Ok(answer(entry, Outcome::Hit { ttl }, None, false))
        }
        (Some(entry), Some(Freshness::StaleWhileRevalidate { ttl })) => {
            Ok(answer(entry, Outcome::Hit { ttl }, None, true))
        }
        (Some(stale), Some(Freshness::StaleIfError { ttl })) => {
            match coalesced(p, config, query).await {
                Ok((entry, stored, ms)) => Ok(answer(
                    entry,
                    Outcome::Refreshed { stored },
                    Some(ms),
                    false,
                )),
                Err(e) => {
                    let outcome = Outcome::StaleOnError {
                        ttl,
                        origin_status: e.status(),
                    };
                    let note = format!(
                        "served stale: the catalog origin failed: {e} ({})",
                        e.cause().unwrap_or("no more detail")
                    );
                    Ok(CatalogAnswer {
                        note: Some(note),
                        ..answer(stale, outcome, None, false)
                    })
                }
            }
        }
        _ => {
            let (entry, stored, ms) = coalesced(p, config, query).await?;
            Ok(answer(entry, Outcome::Miss { stored }, Some(ms), false))
        }
    }
}

/// The one header a stored entry keeps its metadata in, so a cache hit
/// reads one header, not five: `v1;<status>;<stored at, ms>;<max-age>,
/// <stale-while-revalidate>,<stale-if-error>;<ETag>;<tags, comma-separated>`.
pub const ENTRY_HEADER: &str = "x-edge-entry";

/// Keys remembered per tag; past this, the oldest fall out of the index and
/// their entries simply live out their (short) lifetime (a purge of a SKU
/// still reaches its product entry by name).
pub const MAX_KEYS_PER_TAG: usize = 2_000;

impl Entry {
    /// The headers an entry is stored with (type, lifetime in the cache,
    /// and [`ENTRY_HEADER`]); `None` when it must not be stored.
    pub fn stored_headers(&self) -> Option<Vec<(&'static str, String)>> {
        let w = self.windows?;
        let meta = format!(
            "v1;{};{};{},{},{};{};{}",
            self.status,
            self.stored_at,
            w.max_age,
            w.stale_while_revalidate,
            w.stale_if_error,
            self.etag,
            self.tags.join(",")
        );
        Some(vec![
            ("content-type", "application/json".into()),
            (
                "cache-control",
                format!("public, max-age={}", w.retention()),
            ),
            (ENTRY_HEADER, meta),
        ])
    }

    /// An entry read back from its [`ENTRY_HEADER`] and body; `None` for
    /// anything that is not one of ours (an older format included: a miss).
    pub fn from_stored(meta: &str, body: String) -> Option<Self> {
        let mut parts = meta.splitn(6, ';');
        if parts.next()? != "v1" {
            return None;
        }
        let status = parts.next()?.parse().ok()?;
        let stored_at = parts.next()?.parse().ok()?;
        let w: Vec<i64> = parts
            .next()?
            .split(',')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let [max_age, stale_while_revalidate, stale_if_error] = w[..] else {
            return None;
        };
        let etag = parts.next()?.to_owned();
        let tags = parts.next()?;
        Some(Entry {
            status,
            etag,
            tags: tags
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            stored_at,
            body,
            windows: Some(Windows {
                max_age,
                stale_while_revalidate,
                stale_if_error,
            }),
        })
    }
}

/// A tag's index with `key` added (the newest last, at most
/// [`MAX_KEYS_PER_TAG`]); `None` when it is there already.
pub fn indexed(index: &str, key: &str) -> Option<String> {
    let mut keys: Vec<&str> = index.lines().collect();
    if keys.contains(&key) {
        return None;
    }
    keys.push(key);
    let excess = keys.len().saturating_sub(MAX_KEYS_PER_TAG);
    Some(keys[excess..].join("\n"))
}

/// The cache key a catalog `GET`/`HEAD` of `path` and `query` reads;
/// `None` for another method or a query that does not parse (the full
/// read then answers, with the error).
pub fn read_key(method: &str, path: &str, query: Option<&str>) -> Option<String> {
    if !matches!(method, "GET" | "HEAD") {
        return None;
    }
    match crate::catalog::query::parse(path, query) {
        Some(Ok(q)) => Some(cache_key(&q.canonical())),
        _ => None,
    }
}

/// The answer to a read whose entry is fresh, decided from the entry's
/// [`ENTRY_HEADER`] alone at `now_ms`: status and headers, its body (the
/// stored one) untouched, so a cache hit need not carry the body through
/// the edge. `None` unless the entry is ours and fresh: the full read
/// ([`read`]) then decides, revalidation and errors included.
pub fn fresh_hit(
    meta: &str,
    now_ms: i64,
    if_none_match: Option<&str>,
    edge_ms: i64,
) -> Option<super::reply::Reply> {
    let entry = Entry::from_stored(meta, String::new())?;
    let Freshness::Fresh { ttl } = freshness(entry.stored_at, entry.windows?, now_ms) else {
        return None;
    };
    let answer = CatalogAnswer {
        entry,
        outcome: Outcome::Hit { ttl },
        origin_ms: None,
        refresh: false,
        note: None,
    };
    Some(answer_reply(&answer, if_none_match, edge_ms))
}

/// A catalog answer for the client: the JSON (or `304` when its copy is
/// current) with `Cache-Status`, `Server-Timing`, `Cache-Tag`, `ETag` and a
/// short browser lifetime; an error is a problem not to be kept.
pub fn answer_reply(
    answer: &CatalogAnswer,
    if_none_match: Option<&str>,
    edge_ms: i64,
) -> super::reply::Reply {
    use crate::catalog::BROWSER_CACHE_CONTROL;
    use crate::catalog::report::{cache_status, not_modified, server_timing};
    let entry = &answer.entry;
    let ok = entry.status == 200;
    let (status, body) = match ok && not_modified(if_none_match, &entry.etag) {
        true => (304, Vec::new()),
        false => (entry.status, entry.body.clone().into_bytes()),
    };
    let content_type = if ok {
        "application/json"
    } else {
        origin_adapter::wire::PROBLEM_JSON
    };
    let mut reply = super::reply::Reply::raw(status, content_type, body)
        .header("cache-status", cache_status(answer.outcome))
        .header("server-timing", server_timing(edge_ms, answer.origin_ms))
        .header("cache-tag", entry.tags.join(","));
    reply.note.clone_from(&answer.note);
    if ok {
        reply
            .header("etag", entry.etag.clone())
            .header("cache-control", BROWSER_CACHE_CONTROL)
    } else {
        reply.header("cache-control", "no-store")
    }
}

/// The product a catalog read of `sku` gave, for pricing a cart line.
pub fn product_of(entry: &Entry, sku: &str) -> Result<origin_adapter::wire::Product, EdgeError> {
    match entry.status {
        200 => serde_json::from_str(&entry.body).map_err(|_| {
            EdgeError::bad_gateway("the catalog service answered with an unreadable product")
        }),
        404 => Err(EdgeError::not_found(format!("no product with SKU {sku:?}"))),
        status => Err(EdgeError::bad_gateway(format!(
            "the catalog service failed (status {status})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use futures::executor::block_on;

    use super::*;

    #[derive(Default)]
    struct MemoryCache(RefCell<HashMap<String, Entry>>);

    impl CatalogCache for MemoryCache {
        async fn lookup(&self, key: &str) -> Option<Entry> {
            self.0.borrow().get(key).cloned()
        }
        async fn store(&self, key: &str, entry: &Entry) -> bool {
            if entry.windows.is_none() {
                return false;
            }
            self.0.borrow_mut().insert(key.to_owned(), entry.clone());
            true
        }
    }

    /// An origin answering from a list, counting its calls.
    struct Origin {
        answers: RefCell<Vec<Result<Fetched, EdgeError>>>,
        calls: Cell<u32>,
    }

    impl Origin {
        fn new(answers: Vec<Result<Fetched, EdgeError>>) -> Self {
            Self {
                answers: RefCell::new(answers),
                calls: Cell::new(0),
            }
        }
    }

    impl CatalogOrigin for Origin {
        async fn fetch(&self, _canonical: &str) -> Result<Fetched, EdgeError> {
            self.calls.set(self.calls.get() + 1);
            let mut answers = self.answers.borrow_mut();
            if answers.is_empty() {
                return Err(EdgeError::gateway_timeout("no answer"));
            }
            answers.remove(0)
        }
    }

    /// A clock that sleeping moves forward.
    #[derive(Default)]
    struct Time(Cell<i64>);

    impl Clock for Time {
        fn now_ms(&self) -> i64 {
            self.0.get()
        }
    }

    impl Sleep for Time {
        async fn sleep(&self, ms: u64) {
            self.0.set(self.0.get() + ms as i64);
        }
    }

    fn product(price: i64) -> Result<Fetched, EdgeError> {
        Ok(Fetched {
            status: 200,
            cache_control: Some("max-age=60, stale-while-revalidate=60, stale-if-error=600".into()),
            body: format!(r#"{{"sku":"KIT-0001","price":{price}}}"#),
        })
    }

    fn query() -> CatalogQuery {
        CatalogQuery::Product {
            sku: "KIT-0001".into(),
        }
    }

    fn config() -> EdgeConfig {
        crate::config::for_tests()
    }

    struct World {
        cache: MemoryCache,
        origin: Origin,
        time: Time,
        in_flight: InFlight,
        config: EdgeConfig,
    }

    impl World {
        fn new(answers: Vec<Result<Fetched, EdgeError>>) -> Self {
            Self {
                cache: MemoryCache::default(),
                origin: Origin::new(answers),
                time: Time::default(),
                in_flight: InFlight::default(),
                config: config(),
            }
        }

        fn read(&self) -> Result<CatalogAnswer, EdgeError> {
            let p = Ports {
                cache: &self.cache,
                origin: &self.origin,
                sleep: &self.time,
                clock: &self.time,
                in_flight: &self.in_flight,
            };
            block_on(read(&p, &self.config, &query()))
        }
    }

    #[test]
    fn a_miss_is_fetched_once_then_served_from_the_cache() {
        let w = World::new(vec![product(100)]);
        let first = w.read().unwrap();
        assert_eq!(first.outcome, Outcome::Miss { stored: true });
        w.time.0.set(30_000);
        let second = w.read().unwrap();
        assert_eq!(second.outcome, Outcome::Hit { ttl: 30 });
        assert_eq!(second.entry.etag, first.entry.etag);
        assert_eq!(w.origin.calls.get(), 1);
        assert!(w.in_flight.0.borrow().is_empty(), "the slot is gone");
    }

    #[test]
    fn stale_answers_refresh_in_the_background_or_stand_in_for_a_failing_origin() {
        let w = World::new(vec![product(100), Err(EdgeError::gateway_timeout("slow"))]);
        w.read().unwrap();
        w.time.0.set(90_000);
        let swr = w.read().unwrap();
        assert!(swr.refresh, "served stale, refreshed after");
        assert_eq!(w.origin.calls.get(), 1);
        w.time.0.set(200_000);
        let stale = w.read().unwrap();
        assert_eq!(
            stale.outcome,
            Outcome::StaleOnError {
                ttl: -140,
                origin_status: 504
            }
        );
        assert!(stale.entry.body.contains("100"));
    }

    #[test]
    fn a_failing_origin_on_a_miss_is_a_502_or_504_and_nothing_is_stored() {
        for (answer, status) in [
            (
                Ok(Fetched {
                    status: 503,
                    cache_control: None,
                    body: String::new(),
                }),
                502,
            ),
            (
                Ok(Fetched {
                    status: 200,
                    cache_control: None,
                    body: "<html>".into(),
                }),
                502,
            ),
            (Err(EdgeError::gateway_timeout("slow")), 504),
        ] {
            let w = World::new(vec![answer]);
            assert_eq!(w.read().unwrap_err().status(), status);
            assert!(w.cache.0.borrow().is_empty());
        }
    }

    #[test]
    fn a_waiter_takes_over_from_a_leader_that_vanished() {
        let w = World::new(vec![product(100)]);
        // A leader began at 0 and was never heard of again (its request
        // stopped being polled; no destructor ran).
        w.in_flight
            .0
            .borrow_mut()
            .insert(query().canonical(), Rc::new(RefCell::new(Slot::Pending(0))));
        let answer = w.read().unwrap();
        assert_eq!(answer.outcome, Outcome::Miss { stored: true });
        assert_eq!(w.origin.calls.get(), 1);
        let waited = w.time.now_ms();
        let deadline = i64::try_from(w.config.catalog_timeout_ms).unwrap()
            + crate::catalog::coalesce::TAKEOVER_MARGIN_MS;
        assert!(
            (deadline..deadline + 100).contains(&waited),
            "took over at its deadline, not before and not much after: {waited}"
        );
        assert!(w.in_flight.0.borrow().is_empty());
    }

    #[test]
    fn a_leader_that_was_dropped_tells_its_waiters_to_fetch() {
        let w = World::new(vec![product(100)]);
        let slot = Rc::new(RefCell::new(Slot::Pending(0)));
        w.in_flight
            .0
            .borrow_mut()
            .insert(query().canonical(), slot.clone());
        drop(Leading {
            in_flight: &w.in_flight,
            key: query().canonical(),
            slot: slot.clone(),
        });
        assert!(matches!(*slot.borrow(), Slot::Abandoned));
        assert!(w.in_flight.0.borrow().is_empty());
        assert_eq!(w.read().unwrap().outcome, Outcome::Miss { stored: true });
    }

    #[test]
    fn the_flags_lifetime_applies_over_the_origins() {
        let mut config = config();
        config.catalog_max_age_override = Some(10);
        let entry = entry_from(&config, &query(), product(1).unwrap(), 0).unwrap();
        assert_eq!(entry.windows.map(|w| w.max_age), Some(10));
        let unknown = Fetched {
            status: 404,
            cache_control: None,
            body: "{}".into(),
        };
        let entry = entry_from(&config, &query(), unknown, 0).unwrap();
        assert_eq!(entry.windows.map(|w| w.max_age), Some(MISSING_MAX_AGE));
    }

    #[test]
    fn a_stored_entry_reads_back_as_it_was() {
        let entry = entry_from(&config(), &query(), product(5).unwrap(), 42).unwrap();
        let headers = entry.stored_headers().expect("storable");
        let meta = &headers.iter().find(|(n, _)| *n == ENTRY_HEADER).unwrap().1;
        assert_eq!(Entry::from_stored(meta, entry.body.clone()), Some(entry));
        for foreign in [
            "",
            "v2;200;1;1,1,1;\"e\";t",
            "v1;200;x;1,1,1;\"e\";t",
            "v1;200;1;1,1;\"e\";t",
        ] {
            assert_eq!(
                Entry::from_stored(foreign, String::new()),
                None,
                "{foreign}"
            );
        }
    }

    #[test]
    fn a_fresh_hit_is_answered_from_its_metadata_alone() {
        let entry = entry_from(&config(), &query(), product(5).unwrap(), 1_000).unwrap();
        let headers = entry.stored_headers().unwrap();
        let meta = &headers.iter().find(|(n, _)| *n == ENTRY_HEADER).unwrap().1;
        let hit = fresh_hit(meta, 2_000, None, 1).expect("fresh at one second old");
        assert_eq!(hit.status, 200);
        assert!(hit.body.is_empty(), "the stored body goes out as it is");
        assert!(
            hit.headers
                .iter()
                .any(|(n, v)| *n == "etag" && *v == entry.etag)
        );
        let revalidated = fresh_hit(meta, 2_000, Some(&entry.etag), 1).unwrap();
        assert_eq!(revalidated.status, 304);
        let max_age = entry.windows.unwrap().max_age;
        assert!(
            fresh_hit(meta, 1_000 + max_age * 1000 + 1, None, 1).is_none(),
            "stale: the full read"
        );
        assert!(
            fresh_hit("", 2_000, None, 1).is_none(),
            "a miss: the full read"
        );
        assert_eq!(
            read_key("HEAD", "/api/products/KIT-0001", None).as_deref(),
            Some("https://storefront-edge.cache/catalog/products/KIT-0001")
        );
        assert!(read_key("POST", "/api/products/KIT-0001", None).is_none());
        assert!(read_key("GET", "/api/products", Some("limit=0")).is_none());
    }

    #[test]
    fn a_tag_index_keeps_the_newest_keys_once() {
        assert_eq!(indexed("", "a").as_deref(), Some("a"));
        assert_eq!(indexed("a\nb", "b"), None);
        let full: Vec<String> = (0..MAX_KEYS_PER_TAG).map(|i| format!("k{i}")).collect();
        let next = indexed(&full.join("\n"), "new").unwrap();
        assert_eq!(next.lines().count(), MAX_KEYS_PER_TAG);
        assert!(next.starts_with("k1\n") && next.ends_with("\nnew"));
    }

    #[test]
    fn answers_carry_their_cache_facts_and_a_current_copy_is_304() {
        let w = World::new(vec![product(100)]);
        let answer = w.read().unwrap();
        let reply = answer_reply(&answer, None, 3);
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .headers
                .iter()
                .any(|(n, v)| *n == "etag" && *v == answer.entry.etag)
        );
        let again = answer_reply(&answer, Some(&answer.entry.etag), 3);
        assert_eq!((again.status, again.body.len()), (304, 0));
        assert_eq!(
            product_of(&answer.entry, "KIT-0001").unwrap_err().status(),
            502,
            "not a product"
        );
    }
}
