//! The Worker's platform shell: the only code that touches `worker`.
//! Each handler reads inputs, calls the pure core and performs effects.

mod admin;
mod body;
mod cart;
mod catalog;
mod drop_room;
mod drops;
mod flags;
mod forward;
mod hit;
mod live;
mod objects;
mod page_forms;
mod pages;
mod ports;
mod proxy;
mod purge;
mod runtime;
mod session;

use wasm_bindgen::prelude::*;
use worker::{Context, Env, Request, event};

use crate::config::{EdgeConfig, Environment};
use crate::error::EdgeError;
use crate::incoming::request_id;
use crate::routes::{Route, headers_read, route};
use crate::shop::catalog::read_key;
use crate::shop::reply::Reply;
use runtime::{RequestContext, config, incoming, now_ms};

/// A panic tells the JavaScript entry (`edge/entry.mjs`), which answers
/// the requests in flight with 500 instead of leaving them hanging.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        runtime::panicked(&info.to_string());
    }));
}

/// The Rust side of `edge/entry.mjs`'s fetch: `head` is the request's
/// method and URL (`<method>\n<url>`), `request` the platform's (read for
/// the headers and location a route needs, in one call, and for a body). Answers a `Response`, at once where nothing
/// needs awaiting (liveness, a refused route), else a `Promise` of one.
#[wasm_bindgen]
pub fn serve(
    head: String,
    request: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> JsValue {
    // Routing needs only the method and the path; the headers it reads
    // come after, and the request is parsed once, with them.
    let Some((method, path)) = crate::incoming::method_and_path(&head) else {
        return problem(&EdgeError::bad_request("the request could not be read")).into();
    };
    let routed = route(method, path, runtime::development(&env));
    if let Ok(Route::Health) = routed {
        // Liveness says the isolate answers, configured or not; it reads
        // nothing of the request but its route.
        return match runtime::ids() {
            Ok((id, _, _)) => runtime::render(&health().sealed(&request_id(&id), false), None),
            Err(e) => problem(&e),
        }
        .into();
    }
    let lines = runtime::read_headers(&request, headers_read(&routed));
    let rc = match runtime::ids().and_then(|ids| incoming(&format!("{head}\n{lines}"), ids)) {
        Ok(rc) => rc,
        Err(e) => return problem(&e).into(),
    };
    let started = now_ms();
    if let Ok(Route::CartLive) = routed {
        // Answered with the cart object's own `101` (its socket inside),
        // which no reply of bytes can carry.
        return js_sys::futures::future_to_promise(async move {
            let opened = match config(&env) {
                Ok(config) => live::open(&env, &config, &rc).await,
                Err(e) => Err(e),
            };
            Ok(match opened {
                Ok(upgraded) => {
                    log_request(&rc, 101, (None, None), started);
                    upgraded.into()
                }
                Err(e) => finish(Err(e), &rc, false, started).into(),
            })
        })
        .into();
    }
    let rc = match &routed {
        Err(e) if e.status() != 404 && !wants_page(&rc) => {
            return finish(Err(e.clone()), &rc, false, started).into();
        }
        // A catalog read looks in the cache first, the entry awaiting it.
        Ok(Route::Catalog) if config(&env).is_ok() => {
            match read_key(&rc.method, &rc.path, rc.query.as_deref()) {
                Some(key) => return JsValue::from(hit::begin(rc, started, &key)),
                None => rc,
            }
        }
        _ => rc,
    };
    js_sys::futures::future_to_promise(async move {
        // Only catalog reads are shared; every other answer is someone's
        // own (or says nothing worth keeping), errors included.
        let shared = routed.as_ref().is_ok_and(Route::is_shared);
        let ctx = Context::new(ctx);
        let answered = handle(routed, request, (&env, &ctx), &rc, started).await;
        Ok(finish(answered, &rc, shared, started).into())
    })
    .into()
}

/// A catalog read parsed again from its head (its parked parse was lost).
fn reread(head: &str, request: &web_sys::Request) -> Result<RequestContext, EdgeError> {
    let lines = runtime::read_headers(request, crate::routes::HeadersRead::IfNoneMatch);
    incoming(&format!("{head}\n{lines}"), runtime::ids()?)
}

fn health() -> Reply {
    Reply::raw(200, "application/json", OK.to_vec())
}

const OK: &[u8] = br#"{"status":"ok"}"#;

/// The answer, with what every answer carries: its caching (a shared
/// catalog read keeps its own; anything else is private), the request id,
/// the browser hardening headers and `Server-Timing`; its log line. One
/// call to the platform.
fn finish(
    answered: Result<Reply, EdgeError>,
    rc: &RequestContext,
    shared: bool,
    started: i64,
) -> web_sys::Response {
    match answered {
        Ok(reply) => finish_reply(reply, rc, shared, None, started),
        Err(e) => {
            if let Some(cause) = e.cause() {
                worker::console_error!("edge: {e}: {cause} request_id={}", rc.request_id);
            }
            finish_reply(Reply::problem(&e, &rc.request_id), rc, false, None, started)
        }
    }
}

/// A fresh catalog entry's answer with its stored `body` (a stream).
fn finish_with_body(
    reply: Reply,
    rc: &RequestContext,
    body: JsValue,
    started: i64,
) -> web_sys::Response {
    finish_reply(reply, rc, true, Some(body), started)
}

fn finish_reply(
    reply: Reply,
    rc: &RequestContext,
    shared: bool,
    stream: Option<JsValue>,
    started: i64,
) -> web_sys::Response {
    if let Some(note) = &reply.note {
        worker::console_warn!("edge: {note} request_id={}", rc.request_id);
    }
    let mut sealed = reply.sealed(&rc.request_id, shared);
    if !sealed.headers.iter().any(|(n, _)| *n == "server-timing") {
        let edge_ms = now_ms() - started;
        sealed = sealed.header(
            "server-timing",
            crate::catalog::report::server_timing(edge_ms, None),
        );
    }
    let cache = sealed
        .headers
        .iter()
        .find_map(|(n, v)| (*n == "cache-status").then_some(v.as_str()));
    let location = sealed
        .headers
        .iter()
        .find_map(|(n, v)| (*n == "location").then_some(v.as_str()));
    log_request(rc, sealed.status, (cache, location), started);
    runtime::render(&sealed, stream)
}

/// The request's one JSON line ([`crate::access_log`]).
fn log_request(
    rc: &RequestContext,
    status: u16,
    (cache, location): (Option<&str>, Option<&str>),
    started: i64,
) {
    let one_in = runtime::configured().map_or(1, |c| c.access_log_hit_sample);
    let Some(sample_rate) = crate::access_log::sample_rate(cache, &rc.request_id, one_in) else {
        return;
    };
    let now = now_ms();
    let route = crate::routes::template(&rc.path);
    let forwarded = forward::attempts_of(&rc.request_id);
    let line = crate::access_log::RequestLine {
        time: crate::access_log::rfc3339(now),
        request_id: &rc.request_id,
        trace_id: rc.trace.trace_id_hex(),
        method: crate::access_log::method_name(&rc.method),
        route,
        status,
        duration_ms: now - started,
        cache,
        region: forwarded.as_ref().map(|(region, _)| region.clone()),
        attempts: forwarded.map(|(_, attempts)| attempts),
        checkout: crate::access_log::checkout_outcome(route, &rc.method, status, location),
        sample_rate: (sample_rate > 1).then_some(sample_rate),
    };
    worker::console_log!("{}", line.to_json());
}

/// An error as RFC 9457 problem JSON; its internal cause logged, never sent.
/// An error before the request could be read (no request id yet).
fn problem(e: &EdgeError) -> web_sys::Response {
    if let Some(cause) = e.cause() {
        worker::console_error!("edge: {e}: {cause}");
    }
    runtime::render(&Reply::problem(e, ""), None)
}

async fn handle(
    routed: Result<Route, EdgeError>,
    req: web_sys::Request,
    (env, ctx): (&Env, &Context),
    rc: &RequestContext,
    started: i64,
) -> Result<Reply, EdgeError> {
    let route = match routed {
        Ok(route) => route,
        // Not one of the edge's own: perhaps a route the table forwards.
        Err(e) if e.status() == 404 => {
            let config = config(env)?;
            let forwarded = match crate::forwarding::forwarded_route(&config.services, rc, e) {
                // A browser that asked for a page gets one that says so.
                Err(e) if wants_page(rc) => {
                    let p = pages::Platform::new(env, ctx, &config, rc);
                    return Ok(pages::refused(&p, &e).await);
                }
                found => found?,
            };
            guard_write(env, &config, rc).await?;
            return proxy::forward(Request::from(req), env, &config, rc, &forwarded).await;
        }
        Err(e) if wants_page(rc) => {
            let config = config(env)?;
            let p = pages::Platform::new(env, ctx, &config, rc);
            return Ok(pages::refused(&p, &e).await);
        }
        Err(e) => return Err(e),
    };
    let config = config(env)?;
    if let Route::Page(page) = route {
        let p = pages::Platform::new(env, ctx, &config, rc);
        if let Err(e) = guard_write(env, &config, rc).await {
            return Ok(pages::refused(&p, &e).await);
        }
        return pages::handle(page, Request::from(req), &p).await;
    }
    // Origin-signed and bearer-authorised routes are not a browser's to
    // make, and stay open in maintenance.
    if !matches!(
        route,
        Route::Purge | Route::AdminFlags | Route::FlagOverride | Route::AdminDrop
    ) {
        guard_write(env, &config, rc).await?;
    }
    dispatch(route, req, (env, ctx), &config, rc, started).await
}

/// Runs the handler of the edge's own `route`. The platform's request is
/// wrapped for the handlers that read a body, and only for them.
async fn dispatch(
    route: Route,
    req: web_sys::Request,
    (env, ctx): (&Env, &Context),
    config: &EdgeConfig,
    rc: &RequestContext,
    started: i64,
) -> Result<Reply, EdgeError> {
    match route {
        Route::Health => Ok(health()),
        Route::OpenApi => Ok(crate::contract::document(rc.header("if-none-match"))),
        Route::Catalog => match flags::catalog_config(env, config, rc).await {
            Some(overridden) => catalog::get(rc, &overridden, ctx, started).await,
            None => catalog::get(rc, config, ctx, started).await,
        },
        Route::Purge => purge::purge(Request::from(req), rc, config).await,
        Route::Session => session::handle(Request::from(req), env, config, rc).await,
        Route::Orders => proxy::orders(env, config, rc).await,
        Route::Cart | Route::AddCartItem | Route::CartLine | Route::Checkout => {
            cart::handle(route, Request::from(req), (env, ctx), config, rc).await
        }
        Route::SupportCart => cart::support(env, config, rc).await,
        Route::DropQueue | Route::AdminDrop => {
            drops::handle(route, Request::from(req), (env, ctx), config, rc).await
        }
        Route::Flags => flags::browser(env, config, rc).await,
        Route::AdminFlags => flags::admin(Request::from(req), env, config, rc).await,
        Route::FlagOverride => flags::override_token(Request::from(req), config, rc).await,
        Route::DevPanic if config.environment == Environment::Development => {
            panic!("deliberate panic from /__dev/panic")
        }
        Route::DevPanic => Err(EdgeError::not_found("no resource here")),
        Route::Page(_) | Route::CartLive => Err(EdgeError::not_found("no resource here")),
    }
}

/// Whether a browser asked for a page (its navigation accepts HTML) at a
/// path that is not the API's.
fn wants_page(rc: &RequestContext) -> bool {
    crate::pages::wants_html(rc.header("accept"))
        && !rc.path.starts_with("/api/")
        && !rc.path.starts_with("/admin/")
}

/// What every write a browser may make must pass
/// ([`crate::shop::flags::admit_write`]); reads pass at once.
async fn guard_write(env: &Env, config: &EdgeConfig, rc: &RequestContext) -> Result<(), EdgeError> {
    if !rc.is_write() {
        return Ok(());
    }
    let (set, _) = flags::current(env, config).await;
    crate::shop::flags::admit_write(&set, rc, config, now_ms() / 1000)
}
