//! The Worker's platform shell: the only code that touches `worker`.
//! Each handler reads inputs, calls the pure core and performs effects.

mod admin;
mod body;
mod cart;
mod catalog;
mod flags;
mod forward;
mod guard;
mod objects;
mod orders;
mod origin;
mod proxy;
mod purge;
mod session;

use durable_objects::respond;
use wasm_bindgen::{JsCast as _, JsValue};
use worker::{Context, Date, Env, Request, Response, Result, event};

use origin_adapter::trace::TraceParent;

use crate::config::{EdgeConfig, Environment};
use crate::error::EdgeError;
use crate::forwarding::region::{Location, location};
use crate::routes::{Route, route};

/// What the edge knows of a request before any handler: its id and trace,
/// which every log line and forwarded request carries, and where it
/// comes from.
pub(crate) struct RequestContext {
    pub request_id: String,
    /// The edge's span, child of the client's `traceparent` if it sent one.
    pub trace: TraceParent,
    platform: Location,
    dev_country: Option<String>,
    dev_continent: Option<String>,
}

impl RequestContext {
    fn new(req: &Request) -> std::result::Result<Self, EdgeError> {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let incoming = header("traceparent").and_then(|v| TraceParent::parse(&v));
        let trace = TraceParent::child_of(incoming, random()?, random()?);
        let id: [u8; 16] = random()?;
        let platform = req
            .cf()
            .map(|cf| Location {
                country: cf.country(),
                continent: cf.continent(),
            })
            .unwrap_or_default();
        Ok(Self {
            request_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            trace,
            platform,
            dev_country: header("x-dev-country"),
            dev_continent: header("x-dev-continent"),
        })
    }

    /// Where the request comes from; the dev headers count only in development.
    pub fn location(&self, environment: Environment) -> Location {
        location(
            environment,
            self.platform.clone(),
            self.dev_country.as_deref(),
            self.dev_continent.as_deref(),
        )
    }
}

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
    let rc = match RequestContext::new(&req) {
        Ok(rc) => rc,
        Err(e) => return problem(&e),
    };
    // Only catalog reads are shared; every other answer is someone's own
    // (or says nothing worth keeping), errors included.
    let shared = req
        .url()
        .is_ok_and(|url| crate::routes::is_shared(&req.inner().method(), url.path()));
    let mut response = match handle(req, &env, &ctx, &rc).await {
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
    let mut response = respond::problem(e.status, e.detail.clone())?;
    for (name, value) in &e.headers {
        response.headers_mut().set(name, value)?;
    }
    Ok(response)
}

/// Maps a platform error to a 500 after logging what really happened.
pub(crate) fn internal(context: &'static str) -> impl Fn(worker::Error) -> EdgeError {
    move |e| {
        worker::console_error!("edge: {context}: {e}");
        EdgeError::new(
            500,
            format!("the edge failed while it {context}; it has been logged"),
        )
    }
}

thread_local! {
    /// The configuration, parsed once per isolate: vars and secrets are
    /// fixed for an isolate's life (a change deploys new isolates).
    static CONFIG: std::cell::RefCell<Option<std::rc::Rc<EdgeConfig>>> =
        const { std::cell::RefCell::new(None) };
}

fn config(env: &Env) -> std::result::Result<std::rc::Rc<EdgeConfig>, EdgeError> {
    if let Some(config) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(config);
    }
    // A var may be a string or (from a TOML table) an object, read as JSON.
    let lookup = |key: &str| {
        env.secret(key)
            .map(|s| s.to_string())
            .or_else(|_| env.var(key).map(|v| v.to_string()))
            .ok()
            .or_else(|| {
                env.object_var::<serde_json::Value>(key)
                    .ok()
                    .map(|v| v.to_string())
            })
    };
    let parsed = EdgeConfig::from_lookup(lookup).map_err(|e| {
        worker::console_error!("edge: refusing to serve: {e}");
        EdgeError::new(
            500,
            "the edge is misconfigured; the operator has been told which key",
        )
    })?;
    let parsed = std::rc::Rc::new(parsed);
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

/// Unix seconds and milliseconds from the platform clock.
pub(crate) fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

/// `n` bytes from the platform's CSPRNG.
pub(crate) fn random<const N: usize>() -> std::result::Result<[u8; N], EdgeError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        worker::console_error!("edge: no randomness: {e}");
        EdgeError::new(500, "the edge could not generate an identifier")
    })?;
    Ok(bytes)
}

/// Fresh identifiers from the platform's CSPRNG, for the use cases.
pub(crate) struct PlatformIds;

impl crate::shop::ports::Entropy for PlatformIds {
    fn id(&self) -> std::result::Result<String, EdgeError> {
        Ok(crate::cart_cookie::new_cart_id(random()?))
    }
}

async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
) -> std::result::Result<Response, EdgeError> {
    let started = now_ms();
    let url = req.url().map_err(internal("read the request URL"))?;
    // The method as sent: `worker`'s `Method` reads any method it does not
    // know as GET, which would answer `PROPFIND` with a GET's answer.
    let method = req.inner().method();
    let dev_routes = env
        .var("ENVIRONMENT")
        .is_ok_and(|v| v.to_string() == "development");
    let route = match route(&method, url.path(), dev_routes) {
        Ok(route) => route,
        // Not one of the edge's own: perhaps a route the table forwards.
        Err(e) if e.status == 404 => {
            let config = config(env)?;
            let forwarded = match config.services.route(&method, url.path()) {
                Ok(Some(r)) => r.clone(),
                Ok(None) => return Err(e),
                Err(allowed) => {
                    return Err(EdgeError::new(
                        405,
                        format!("{} does not accept {method}", url.path()),
                    )
                    .with_header("allow", allowed.join(", ")));
                }
            };
            check_csrf(&req, &method, &url, &config)?;
            if is_write(&method) {
                refuse_in_maintenance(&req, env, &config, rc).await?;
            }
            return proxy::forward(req, env, &config, rc, &forwarded).await;
        }
        Err(e) => return Err(e),
    };
    // Origin-signed and bearer-authorised routes are not a browser's to
    // make: a browser's ambient credentials cannot speak for them.
    if is_write(&method)
        && !matches!(
            route,
            Route::Purge | Route::AdminFlags | Route::FlagOverride
        )
    {
        check_csrf(&req, &method, &url, &*config(env)?)?;
    }
    if is_write(&method)
        && !matches!(
            route,
            Route::Purge | Route::AdminFlags | Route::FlagOverride
        )
    {
        refuse_in_maintenance(&req, env, &*config(env)?, rc).await?;
    }
    match route {
        Route::Health => {
            respond::json(200, &serde_json::json!({ "status": "ok" })).map_err(internal("answered"))
        }
        Route::Catalog => {
            let config = config(env)?;
            match flags::catalog_config(env, &config, &req).await {
                Some(overridden) => catalog::get(&req, &overridden, ctx, started).await,
                None => catalog::get(&req, &config, ctx, started).await,
            }
        }
        Route::Purge => purge::purge(req, &*config(env)?).await,
        Route::Session => session::handle(req, env, &*config(env)?, rc).await,
        Route::Orders => orders::get(&req, env, &*config(env)?, rc).await,
        Route::Cart => cart::cart(&req, env, &*config(env)?).await,
        Route::AddCartItem => cart::add_item(req, env, &*config(env)?, ctx).await,
        Route::CartLine => cart::line(req, env, &*config(env)?).await,
        Route::Checkout if method == "POST" => cart::checkout(req, env, &*config(env)?, rc).await,
        Route::Checkout => cart::checkout_status(&req, env, &*config(env)?).await,
        Route::SupportCart => cart::support(&req, env, &*config(env)?).await,
        Route::Flags => flags::browser(&req, env, &*config(env)?, rc).await,
        Route::AdminFlags => flags::admin(req, env, &*config(env)?).await,
        Route::FlagOverride => flags::override_token(req, &*config(env)?).await,
        Route::DevPanic => {
            if config(env)?.environment == Environment::Development {
                panic!("deliberate panic from /__dev/panic");
            }
            Err(EdgeError::new(404, "no resource here"))
        }
    }
}

/// A browser's writes must come from this site or an allowed one —
/// with cookies or without (a cookieless cross-site login would sign the
/// browser into someone else's account).
fn check_csrf(
    req: &Request,
    method: &str,
    url: &worker::Url,
    config: &EdgeConfig,
) -> std::result::Result<(), EdgeError> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    crate::session::rules::check_same_site(
        method,
        header("sec-fetch-site").as_deref(),
        header("origin").as_deref(),
        &url.origin().ascii_serialization(),
        &config.allowed_origins,
    )
}

fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// The maintenance-mode flag: writes wait, reads go on.
async fn refuse_in_maintenance(
    req: &Request,
    env: &Env,
    config: &EdgeConfig,
    rc: &RequestContext,
) -> std::result::Result<(), EdgeError> {
    let on = flags::enabled(
        env,
        config,
        req,
        rc,
        crate::flags::obeyed::MAINTENANCE_MODE,
        false,
    )
    .await;
    if on {
        return Err(EdgeError::new(
            503,
            "the shop is in maintenance: browsing works, changes are paused for a few minutes",
        )
        .with_header("retry-after", "60"));
    }
    Ok(())
}
