//! The Worker's platform shell: the only code that touches `worker`.
//! Each handler reads inputs, calls the pure core and performs effects.

mod admin;
mod body;
mod cart;
mod catalog;
mod flags;
mod forward;
mod objects;
mod orders;
mod origin;
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
use runtime::{RequestContext, config, incoming, internal, now_ms};

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
    let mut response = match handle(routed, req, &env, &ctx, &rc).await {
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

fn problem(e: &EdgeError) -> Result<Response> {
    if let Some(cause) = &e.cause {
        worker::console_error!("edge: {} {}: {cause}", e.status, e.detail);
    }
    let mut response = respond::problem(e.status, e.detail.clone())?;
    for (name, value) in &e.headers {
        response.headers_mut().set(name, value)?;
    }
    Ok(response)
}

async fn handle(
    routed: std::result::Result<Route, EdgeError>,
    req: Request,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
) -> std::result::Result<Response, EdgeError> {
    let started = now_ms();
    let route = match routed {
        // Liveness says the isolate answers, configured or not.
        Ok(Route::Health) => {
            return respond::json(200, &serde_json::json!({ "status": "ok" }))
                .map_err(internal("answered"));
        }
        Ok(route) => route,
        // Not one of the edge's own: perhaps a route the table forwards.
        Err(e) if e.status == 404 => {
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
    dispatch(route, req, env, ctx, &config, rc, started).await
}

/// Runs the handler of the edge's own `route`.
async fn dispatch(
    route: Route,
    req: Request,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
    rc: &RequestContext,
    started: i64,
) -> std::result::Result<Response, EdgeError> {
    match route {
        Route::Health => {
            respond::json(200, &serde_json::json!({ "status": "ok" })).map_err(internal("answered"))
        }
        Route::Catalog => match flags::catalog_config(env, config, rc).await {
            Some(overridden) => catalog::get(rc, &overridden, ctx, started).await,
            None => catalog::get(rc, config, ctx, started).await,
        },
        Route::Purge => purge::purge(req, rc, config).await,
        Route::Session => session::handle(req, env, config, rc).await,
        Route::Orders => orders::get(env, config, rc).await,
        Route::Cart => cart::cart(env, config, rc).await,
        Route::AddCartItem => cart::add_item(req, env, config, ctx, rc).await,
        Route::CartLine => cart::line(req, env, config, rc).await,
        Route::Checkout if rc.method == "POST" => cart::checkout(req, env, config, rc).await,
        Route::Checkout => cart::checkout_status(env, config, rc).await,
        Route::SupportCart => cart::support(env, config, rc).await,
        Route::Flags => flags::browser(env, config, rc).await,
        Route::AdminFlags => flags::admin(req, env, config, rc).await,
        Route::FlagOverride => flags::override_token(req, config, rc).await,
        Route::DevPanic if config.environment == Environment::Development => {
            panic!("deliberate panic from /__dev/panic")
        }
        Route::DevPanic => Err(EdgeError::new(404, "no resource here")),
    }
}

/// What every write a browser may make must pass: it comes from this site
/// or an allowed one — with cookies or without (a cookieless cross-site
/// login would sign the browser into someone else's account) — and the
/// shop is not in maintenance.
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
    flags::refuse_in_maintenance(env, config, rc).await
}
