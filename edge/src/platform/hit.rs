//! A catalog read served from the cache in two synchronous steps, the
//! JavaScript entry awaiting the cache between them: no Rust future, no
//! promise glue, and the stored body handed from the cache to the answer
//! without entering wasm. [`begin`] names the cache key; [`serve_cached`]
//! decides from the entry's metadata header alone
//! ([`crate::shop::catalog::fresh_hit`]) and answers a fresh entry; any
//! other case (miss, stale, not ours) goes the full way, [`serve_miss`].

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::prelude::*;
use worker::{Context, Env};

use super::runtime::{RequestContext, now_ms};
use crate::routes::Route;
use crate::shop::catalog::{ENTRY_HEADER, fresh_hit};

/// Reads waiting for the entry's cache lookup, by ticket. A client that
/// goes away leaves its ticket behind: past this many, all are dropped.
const MAX_WAITING: usize = 10_000;

/// The next ticket, and each parked read with its start (ms).
#[derive(Default)]
struct Tickets {
    next: u32,
    waiting: HashMap<u32, (RequestContext, i64)>,
}

thread_local! {
    static TICKETS: RefCell<Tickets> = RefCell::new(Tickets::default());
}

/// Parks `rc` until its entry is looked up: the plan the JavaScript entry
/// follows, `<ticket>\n<metadata header>\n<cache key>`.
pub(crate) fn begin(rc: RequestContext, started_ms: i64, key: &str) -> String {
    TICKETS.with(|t| {
        let mut t = t.borrow_mut();
        if t.waiting.len() >= MAX_WAITING {
            t.waiting.clear();
        }
        t.next = t.next.wrapping_add(1);
        let ticket = t.next;
        t.waiting.insert(ticket, (rc, started_ms));
        format!("{ticket}\n{ENTRY_HEADER}\n{key}")
    })
}

/// The answer to ticket `ticket` from the stored entry's metadata `meta`
/// (empty on a miss) and its `body` (a stream, or null): a Response when
/// the entry is fresh, else `undefined` (the entry then calls
/// [`serve_miss`]).
#[wasm_bindgen(js_name = serveCached)]
pub fn serve_cached(ticket: u32, meta: &str, body: JsValue) -> Option<web_sys::Response> {
    let now = now_ms();
    TICKETS.with(|t| {
        let mut t = t.borrow_mut();
        let (rc, started) = t.waiting.get(&ticket)?;
        let reply = fresh_hit(meta, now, rc.header("if-none-match"), now - started)?;
        let (rc, _) = t.waiting.remove(&ticket)?;
        Some(super::finish_with_body(reply, &rc, body))
    })
}

/// The full catalog read for ticket `ticket`, as [`super::serve`] would
/// have run it: a Promise of the Response.
#[wasm_bindgen(js_name = serveMiss)]
pub fn serve_miss(
    ticket: u32,
    request: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> JsValue {
    let Some((rc, started_ms)) = TICKETS.with(|t| t.borrow_mut().waiting.remove(&ticket)) else {
        let gone = crate::error::EdgeError::internal("a catalog read lost its place");
        return super::problem(&gone, None).into();
    };
    js_sys::futures::future_to_promise(async move {
        let ctx = Context::new(ctx);
        let answered =
            super::handle(Ok(Route::Catalog), request, (&env, &ctx), &rc, started_ms).await;
        Ok(super::finish(answered, &rc, true).into())
    })
    .into()
}
