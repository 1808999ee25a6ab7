//! What every part of the shell shares: the request parsed at the entry,
//! the configuration parsed once per isolate, the platform's clock and
//! randomness, the JavaScript glue of the hot paths, rendering an answer,
//! and how a platform error becomes a logged 500. A leaf: it imports no
//! other file of the shell.

use wasm_bindgen::prelude::*;
use worker::{Delay, Env};

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::routes::HeadersRead;

/// A request as every handler reads it: parsed once, at the entry.
pub(crate) type RequestContext = crate::incoming::Incoming;

#[wasm_bindgen(module = "/src/platform/glue.js")]
extern "C" {
    /// A Response from a status, `name:value` lines and a body, in one call.
    fn respond(status: u16, head: &str, body: &[u8]) -> web_sys::Response;
    /// Tells the JavaScript entry that Rust panicked (`message`).
    pub(crate) fn panicked(message: &str);
    /// One header of the request, if sent.
    #[wasm_bindgen(js_name = headerValue)]
    fn header_value(request: &web_sys::Request, name: &str) -> Option<String>;
    /// The request's location then its headers as `name:value` lines, in
    /// one call (see [`read_headers`]).
    #[wasm_bindgen(js_name = headerLines)]
    fn header_lines(request: &web_sys::Request) -> String;
    /// The same with a body that stays in JavaScript (a stream, or null).
    #[wasm_bindgen(js_name = respondBody)]
    pub(crate) fn respond_body(status: u16, head: &str, body: JsValue) -> web_sys::Response;
    /// `meta + "\n" + body` of a stored catalog entry, or `undefined`.
    #[wasm_bindgen(js_name = cachedEntry)]
    pub(crate) fn cached_entry(key: &str, meta_header: &str) -> js_sys::Promise;
    /// Stores a body under a key with `name:value` lines as its headers.
    #[wasm_bindgen(js_name = storeEntry)]
    pub(crate) fn store_entry(key: &str, head: &str, body: &[u8]) -> js_sys::Promise;
}

/// A request's ids (request id, trace id, span id), from one draw of
/// randomness.
pub(crate) type Ids = ([u8; 16], [u8; 16], [u8; 8]);

pub(crate) fn ids() -> Result<Ids, EdgeError> {
    let r: [u8; 40] = random()?;
    let mut ids = ([0u8; 16], [0u8; 16], [0u8; 8]);
    ids.0.copy_from_slice(&r[..16]);
    ids.1.copy_from_slice(&r[16..32]);
    ids.2.copy_from_slice(&r[32..]);
    Ok(ids)
}

/// Reads a head (method, URL, location, then any header lines, in one
/// string) into an [`crate::incoming::Incoming`].
pub(crate) fn incoming(head: &str, ids: Ids) -> Result<RequestContext, EdgeError> {
    RequestContext::from_head(head, ids)
        .ok_or_else(|| EdgeError::bad_request("the request could not be read"))
}

/// What a route reads of the request beyond its method and URL, in the
/// head's layout: the location (country, continent: a line each, empty
/// unless the route reads every header) then `name:value` lines.
pub(crate) fn read_headers(request: &web_sys::Request, read: HeadersRead) -> String {
    match read {
        HeadersRead::None => "\n".to_owned(),
        HeadersRead::IfNoneMatch => match header_value(request, "if-none-match") {
            Some(v) => format!("\n\nif-none-match:{v}"),
            None => "\n".to_owned(),
        },
        HeadersRead::All => header_lines(request),
    }
}

/// Maps a platform error to a 500 after logging what really happened.
pub(crate) fn internal<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> EdgeError {
    move |e| {
        worker::console_error!("edge: {context}: {e}");
        EdgeError::internal(format!(
            "the edge failed while it {context}; it has been logged"
        ))
    }
}

thread_local! {
    /// The configuration, parsed once per isolate: vars and secrets are
    /// fixed for an isolate's life (a change deploys new isolates).
    static CONFIG: std::cell::RefCell<Option<std::rc::Rc<EdgeConfig>>> =
        const { std::cell::RefCell::new(None) };
    /// Whether `ENVIRONMENT` is `development` (the dev-only routes), read
    /// once: routing needs it before the configuration may parse.
    static DEVELOPMENT: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
}

/// Whether this isolate runs in development (`ENVIRONMENT=development`).
pub(crate) fn development(env: &Env) -> bool {
    DEVELOPMENT.with(|d| {
        *d.get_or_init(|| {
            env.var("ENVIRONMENT")
                .is_ok_and(|v| v.to_string() == "development")
        })
    })
}

pub(crate) fn config(env: &Env) -> Result<std::rc::Rc<EdgeConfig>, EdgeError> {
    if let Some(config) = configured() {
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
        EdgeError::internal("the edge is misconfigured; the operator has been told which key")
    })?;
    let parsed = std::rc::Rc::new(parsed);
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

/// The configuration if this isolate has parsed it (every request that
/// got past routing to a configured route has).
pub(crate) fn configured() -> Option<std::rc::Rc<EdgeConfig>> {
    CONFIG.with(|c| c.borrow().clone())
}

/// Unix seconds and milliseconds from the platform clock.
pub(crate) fn now_ms() -> i64 {
    // A static call: no Date object per reading.
    js_sys::Date::now() as i64
}

/// `n` bytes from the platform's CSPRNG, drawn a page at a time: a draw
/// crosses into JavaScript and allocates a typed array, which for the 40
/// bytes of a request's ids cost more than the rest of a liveness answer.
/// The bytes are the CSPRNG's own, each handed out once.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], EdgeError> {
    const PAGE: usize = 4096;
    thread_local! {
        static POOL: std::cell::RefCell<(Box<[u8; PAGE]>, usize)> =
            std::cell::RefCell::new((Box::new([0; PAGE]), PAGE));
    }
    let mut bytes = [0u8; N];
    POOL.with(|pool| {
        let (page, used) = &mut *pool.borrow_mut();
        if N > PAGE {
            return getrandom::fill(&mut bytes);
        }
        if PAGE - *used < N {
            getrandom::fill(&mut page[..])?;
            *used = 0;
        }
        bytes.copy_from_slice(&page[*used..*used + N]);
        // Handed out once: never again, not even after a failed refill.
        page[*used..*used + N].fill(0);
        *used += N;
        Ok(())
    })
    .map_err(|e| {
        worker::console_error!("edge: no randomness: {e}");
        EdgeError::internal("the edge could not generate an identifier")
    })?;
    Ok(bytes)
}

/// Fresh identifiers from the platform's CSPRNG, for the use cases.
pub(crate) struct PlatformIds;

impl crate::shop::ports::Entropy for PlatformIds {
    fn id(&self) -> Result<String, EdgeError> {
        Ok(crate::cart_cookie::new_cart_id(random()?))
    }

    fn bytes(&self) -> Result<[u8; 16], EdgeError> {
        random()
    }
}

/// The platform's timer and clock, for the use cases.
pub(crate) struct Timer;

impl crate::shop::catalog::Sleep for Timer {
    async fn sleep(&self, ms: u64) {
        Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

impl crate::shop::ports::Clock for Timer {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A core [`crate::shop::reply::Reply`] as a platform response, in one
/// call; its body the reply's bytes, or `stream` (a cached entry's).
pub(crate) fn render(
    reply: &crate::shop::reply::Reply,
    stream: Option<JsValue>,
) -> web_sys::Response {
    match stream {
        Some(body) => respond_body(reply.status, &reply.head(), body),
        None => respond(reply.status, &reply.head(), &reply.body),
    }
}
