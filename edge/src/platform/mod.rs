//! The Worker's platform shell: the only code that touches `worker`.
//! Each handler reads inputs, calls the pure core and performs effects.

mod admin;
mod body;
mod cart;
mod catalog;
mod flags;
mod forward;
mod hit;
mod objects;
mod ports;
mod proxy;
mod purge;
mod runtime;
mod session;

use wasm_bindgen::prelude::*;
use worker::{Context, Env, Request, event};

use crate::config::{EdgeConfig, Environment};
use crate::error::EdgeError;
use crate::routes::{Route, route};
use crate::shop::reply::Reply;
use runtime::{RequestContext, config, incoming, now_ms};

/// The JavaScript entry (`edge/entry.mjs`) registers this global; a panic
/// calls it so in-flight requests answer 500 instead of hanging.
const PANIC_NOTIFIER: &str = "__storefrontEdgeOnPanic";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let global = js_sys::global();
        if let Ok(notify) = js_sys::Reflect::get(&global, &JsValue::from_str(PANIC_NOTIFIER))
            && let Some(notify) = notify.dyn_ref::<js_sys::Function>()
        {
            let _ = notify.call1(&JsValue::NULL, &JsValue::from_str(&info.to_string()));
        }
    }));
}

/// The Rust side of `edge/entry.mjs`'s fetch: `head` is the request's
/// method, URL, location and headers in one string
/// ([`crate::incoming::Incoming::from_head`]), `request` the platform's
/// (read only for a body). Answers a `Response`, at once where nothing
/// needs awaiting (liveness, a refused route), else a `Promise` of one.
#[wasm_bindgen]
pub fn serve(
    head: String,
    request: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> JsValue {
    let rc = match incoming(&head) {
        Ok(rc) => rc,
        Err(e) => return problem(&e, None).into(),
    };
    let started = now_ms();
    let routed = route(&rc.method, &rc.path, runtime::development(&env));
    let rc = match &routed {
        // Liveness says the isolate answers, configured or not.
        Ok(Route::Health) => return finish(health(), &rc, false).into(),
        Err(e) if e.status() != 404 => return finish(Err(e.clone()), &rc, false).into(),
        // A catalog read looks in the cache first, the entry awaiting it.
        Ok(Route::Catalog) if config(&env).is_ok() => match hit::key(&rc) {
            Some(key) => return JsValue::from(hit::begin(rc, started, &key)),
            None => rc,
        },
        _ => rc,
    };
    js_sys::futures::future_to_promise(async move {
        // Only catalog reads are shared; every other answer is someone's
        // own (or says nothing worth keeping), errors included.
        let shared = routed.as_ref().is_ok_and(Route::is_shared);
        let ctx = Context::new(ctx);
        let answered = handle(routed, request, (&env, &ctx), &rc, started).await;
        Ok(finish(answered, &rc, shared).into())
    })
    .into()
}

fn health() -> std::result::Result<Reply, EdgeError> {
    Ok(Reply::raw(
        200,
        "application/json",
        br#"{"status":"ok"}"#.to_vec(),
    ))
}

/// The answer, with what every answer carries: its caching (a shared
/// catalog read keeps its own; anything else is private), the request id
/// and the browser hardening headers. One call to the platform.
fn finish(
    answered: std::result::Result<Reply, EdgeError>,
    rc: &RequestContext,
    shared: bool,
) -> web_sys::Response {
    match answered {
        Ok(reply) => finish_reply(reply, rc, shared, None),
        Err(e) => problem(&e, Some(rc)),
    }
}

/// A fresh catalog entry's answer with its stored `body` (a stream).
fn finish_with_body(reply: Reply, rc: &RequestContext, body: JsValue) -> web_sys::Response {
    finish_reply(reply, rc, true, Some(body))
}

fn finish_reply(
    reply: Reply,
    rc: &RequestContext,
    shared: bool,
    stream: Option<JsValue>,
) -> web_sys::Response {
    if let Some(note) = &reply.note {
        worker::console_warn!("edge: {note} request_id={}", rc.request_id);
    }
    let has_cache_control = reply.headers.iter().any(|(n, _)| *n == "cache-control");
    let cache_control = match (shared, has_cache_control) {
        (false, _) => Some(crate::routes::PRIVATE),
        // A catalog error nobody set a lifetime on (a bad query) is not kept.
        (true, false) => Some("no-store"),
        (true, true) => None,
    };
    let mut extra = vec![
        ("x-request-id", rc.request_id.as_str()),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
    ];
    if let Some(cc) = cache_control {
        extra.push(("cache-control", cc));
    }
    let mut reply = reply;
    if !shared {
        reply.headers.retain(|(n, _)| *n != "cache-control");
    }
    match stream {
        Some(body) => runtime::render_stream(&reply, &extra, body),
        None => runtime::render(&reply, &extra),
    }
}

/// An error as RFC 9457 problem JSON, never stored; its internal cause
/// logged, never sent.
fn problem(e: &EdgeError, rc: Option<&RequestContext>) -> web_sys::Response {
    let id = rc.map(|rc| rc.request_id.as_str()).unwrap_or_default();
    if let Some(cause) = e.cause() {
        worker::console_error!("edge: {e}: {cause} request_id={id}");
    }
    let body = e.problem().to_json();
    let mut headers = vec![
        ("content-type", origin_adapter::wire::PROBLEM_JSON),
        ("cache-control", crate::routes::PRIVATE),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
    ];
    if !id.is_empty() {
        headers.push(("x-request-id", id));
    }
    headers.extend(e.headers().iter().map(|(n, v)| (*n, v.as_str())));
    runtime::response(e.status(), headers, body.as_bytes())
}

async fn handle(
    routed: std::result::Result<Route, EdgeError>,
    req: web_sys::Request,
    (env, ctx): (&Env, &Context),
    rc: &RequestContext,
    started: i64,
) -> std::result::Result<Reply, EdgeError> {
    let route = match routed {
        Ok(Route::Health) => return health(),
        Ok(route) => route,
        // Not one of the edge's own: perhaps a route the table forwards.
        Err(e) if e.status() == 404 => {
            let config = config(env)?;
            let forwarded = crate::forwarding::forwarded_route(&config.services, rc, e)?;
            guard_write(env, &config, rc).await?;
            return proxy::forward(Request::from(req), env, &config, rc, &forwarded).await;
        }
        Err(e) => return Err(e),
    };
    let config = config(env)?;
    // Origin-signed and bearer-authorised routes are not a browser's to
    // make, and stay open in maintenance.
    if !matches!(
        route,
        Route::Purge | Route::AdminFlags | Route::FlagOverride
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
) -> std::result::Result<Reply, EdgeError> {
    match route {
        Route::Health => health(),
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
        Route::Flags => flags::browser(env, config, rc).await,
        Route::AdminFlags => flags::admin(Request::from(req), env, config, rc).await,
        Route::FlagOverride => flags::override_token(Request::from(req), config, rc).await,
        Route::DevPanic if config.environment == Environment::Development => {
            panic!("deliberate panic from /__dev/panic")
        }
        Route::DevPanic => Err(EdgeError::not_found("no resource here")),
    }
}

/// What every write a browser may make must pass: it comes from this site
/// or an allowed one — with cookies or without (a cookieless cross-site
/// login would sign the browser into someone else's account) — and the
/// shop is not in maintenance (`maintenance-mode`: writes wait, reads go on).
async fn guard_write(
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> std::result::Result<(), EdgeError> {
    if !rc.is_write() {
        return Ok(());
    }
    crate::session::rules::check_same_site(
        &rc.method,
        rc.header("sec-fetch-site"),
        rc.header("origin"),
        &rc.own_origin,
        &config.allowed_origins,
    )?;
    let (set, _) = flags::current(env, config).await;
    crate::shop::flags::refuse_in_maintenance(&set, rc, config, now_ms() / 1000)
}
