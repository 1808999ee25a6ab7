//! The Worker's platform shell: the only code that touches `worker`.
//! Each handler reads inputs, calls the pure core and performs effects.

mod admin;
mod body;
mod cart;
mod catalog;
mod flags;
mod forward;
mod objects;
mod ports;
mod proxy;
mod purge;
mod runtime;
mod session;

use durable_objects::respond;
use wasm_bindgen::{JsCast as _, JsValue};
use worker::{Context, Env, Request, Response, Result, event};

use crate::config::{EdgeConfig, Environment};
use crate::error::EdgeError;
use crate::routes::{Route, route};
use crate::shop::reply::Reply;
use runtime::{RequestContext, config, incoming, now_ms, render};

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

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let rc = match incoming(&req) {
        Ok(rc) => rc,
        Err(e) => return problem(&e),
    };
    let dev_routes = env
        .var("ENVIRONMENT")
        .is_ok_and(|v| v.to_string() == "development");
    let routed = route(&rc.method, &rc.path, dev_routes);
    // Only catalog reads are shared; every other answer is someone's own
    // (or says nothing worth keeping), errors included.
    let shared = routed.as_ref().is_ok_and(Route::is_shared);
    let answered = handle(routed, req, (&env, &ctx), &rc).await;
    let mut response = match answered.and_then(|reply| {
        if let Some(note) = &reply.note {
            worker::console_warn!("edge: {note} request_id={}", rc.request_id);
        }
        render(reply)
    }) {
        Ok(response) => response,
        Err(e) => problem(&e)?,
    };
    let headers = response.headers_mut();
    if !shared {
        headers.set("cache-control", crate::routes::PRIVATE)?;
    } else if !headers.has("cache-control")? {
        // A catalog error nobody set a lifetime on (a bad query) is not kept.
        headers.set("cache-control", "no-store")?;
    }
    headers.set("x-request-id", &rc.request_id)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "strict-origin-when-cross-origin")?;
    Ok(response)
}

/// An error as RFC 9457 problem JSON; its internal cause logged, never sent.
fn problem(e: &EdgeError) -> Result<Response> {
    if let Some(cause) = e.cause() {
        worker::console_error!("edge: {e}: {cause}");
    }
    let mut response = respond::problem(e.status(), e.detail().to_owned())?;
    for (name, value) in e.headers() {
        response.headers_mut().set(name, value)?;
    }
    Ok(response)
}

async fn handle(
    routed: std::result::Result<Route, EdgeError>,
    req: Request,
    (env, ctx): (&Env, &Context),
    rc: &RequestContext,
) -> std::result::Result<Reply, EdgeError> {
    let started = now_ms();
    let route = match routed {
        // Liveness says the isolate answers, configured or not.
        Ok(Route::Health) => return Reply::json(200, &serde_json::json!({ "status": "ok" })),
        Ok(route) => route,
        // Not one of the edge's own: perhaps a route the table forwards.
        Err(e) if e.status() == 404 => {
            let config = config(env)?;
            let forwarded = crate::forwarding::forwarded_route(&config.services, rc, e)?;
            guard_write(env, &config, rc).await?;
            return proxy::forward(req, env, &config, rc, &forwarded).await;
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

/// Runs the handler of the edge's own `route`.
async fn dispatch(
    route: Route,
    req: Request,
    (env, ctx): (&Env, &Context),
    config: &EdgeConfig,
    rc: &RequestContext,
    started: i64,
) -> std::result::Result<Reply, EdgeError> {
    match route {
        Route::Health => Reply::json(200, &serde_json::json!({ "status": "ok" })),
        Route::Catalog => match flags::catalog_config(env, config, rc).await {
            Some(overridden) => catalog::get(rc, &overridden, ctx, started).await,
            None => catalog::get(rc, config, ctx, started).await,
        },
        Route::Purge => purge::purge(req, rc, config).await,
        Route::Session => session::handle(req, env, config, rc).await,
        Route::Orders => proxy::orders(env, config, rc).await,
        Route::Cart | Route::AddCartItem | Route::CartLine | Route::Checkout => {
            cart::handle(route, req, (env, ctx), config, rc).await
        }
        Route::SupportCart => cart::support(env, config, rc).await,
        Route::Flags => flags::browser(env, config, rc).await,
        Route::AdminFlags => flags::admin(req, env, config, rc).await,
        Route::FlagOverride => flags::override_token(req, config, rc).await,
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
