//! A catalog read from the cache in two synchronous steps around the
//! JavaScript entry's cache lookup (no Rust future; the stored body never
//! enters wasm): [`begin`] parks the read ([`crate::catalog::parked`]),
//! [`serve_cached`] answers a fresh entry ([`crate::shop::catalog::fresh_hit`]),
//! anything else goes the full way ([`serve_miss`]).

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use worker::{Context, Env};

use super::runtime::{RequestContext, now_ms};
use crate::catalog::parked::Parked;
use crate::routes::Route;
use crate::shop::catalog::{ENTRY_HEADER, fresh_hit};

thread_local! {
    static PARKED: RefCell<Parked<RequestContext>> = RefCell::new(Parked::default());
}

/// Parks `rc` until its entry is looked up: the plan the JavaScript entry
/// follows, `<ticket>\n<metadata header>\n<cache key>`.
pub(crate) fn begin(rc: RequestContext, started_ms: i64, key: &str) -> String {
    let seed = || super::runtime::random::<4>().map_or(1, u32::from_le_bytes);
    let ticket = PARKED.with(|p| p.borrow_mut().park(rc, key, started_ms, seed));
    format!("{ticket}\n{ENTRY_HEADER}\n{key}")
}

fn take(ticket: u32, key: &str) -> Option<(RequestContext, i64)> {
    PARKED.with(|p| p.borrow_mut().take(ticket, key))
}

/// The answer to ticket `ticket` from the stored entry's metadata `meta`
/// (empty on a miss) and its `body` (a stream, or null): a Response when
/// the entry is fresh, else `undefined` (the entry then calls
/// [`serve_miss`]).
#[wasm_bindgen(js_name = serveCached)]
pub fn serve_cached(
    ticket: u32,
    key: &str,
    meta: &str,
    body: JsValue,
) -> Option<web_sys::Response> {
    let now = now_ms();
    let decided = PARKED.with(|p| {
        let parked = p.borrow();
        let (rc, started) = parked.peek(ticket, key)?;
        fresh_hit(meta, now, rc.header("if-none-match"), now - started)
    })?;
    let (rc, started) = take(ticket, key)?;
    Some(super::finish_with_body(decided, &rc, body, started))
}

/// The full catalog read for ticket `ticket`, as [`super::serve`] would
/// have run it: a Promise of the Response.
#[wasm_bindgen(js_name = serveMiss)]
pub fn serve_miss(
    ticket: u32,
    key: &str,
    head: &str,
    request: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> JsValue {
    // A read whose place was lost (its instance rebuilt, or dropped as
    // too old) is read again from its head.
    let parked = take(ticket, key)
        .map(Ok)
        .unwrap_or_else(|| super::reread(head, &request).map(|rc| (rc, now_ms())));
    let (rc, started_ms) = match parked {
        Ok(parked) => parked,
        Err(e) => return super::problem(&e).into(),
    };
    js_sys::futures::future_to_promise(async move {
        let ctx = Context::new(ctx);
        let answered =
            super::handle(Ok(Route::Catalog), request, (&env, &ctx), &rc, started_ms).await;
        Ok(super::finish(answered, &rc, true, started_ms).into())
    })
    .into()
}
