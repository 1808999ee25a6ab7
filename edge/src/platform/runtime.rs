//! What every part of the shell shares: the request parsed at the entry,
//! the configuration parsed once per isolate, the platform's clock and
//! randomness, and how a platform error becomes a logged 500. A leaf: it
//! imports no other file of the shell.

use worker::{Date, Delay, Env, Headers, Request, Response};

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::region::Location;

/// A request as every handler reads it: parsed once, at the entry.
pub(crate) type RequestContext = crate::incoming::Incoming;

/// Reads the platform's request into an [`crate::incoming::Incoming`].
pub(crate) fn incoming(req: &Request) -> Result<RequestContext, EdgeError> {
    let url = req.url().map_err(internal("read the request URL"))?;
    let platform = req
        .cf()
        .map(|cf| Location {
            country: cf.country(),
            continent: cf.continent(),
        })
        .unwrap_or_default();
    Ok(RequestContext::parse(
        req.inner().method(),
        &url,
        req.headers().entries().collect(),
        platform,
        (random()?, random()?, random()?),
    ))
}

/// Maps a platform error to a 500 after logging what really happened.
pub(crate) fn internal(context: &'static str) -> impl Fn(worker::Error) -> EdgeError {
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
}

pub(crate) fn config(env: &Env) -> Result<std::rc::Rc<EdgeConfig>, EdgeError> {
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
        EdgeError::internal("the edge is misconfigured; the operator has been told which key")
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
pub(crate) fn random<const N: usize>() -> Result<[u8; N], EdgeError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
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

/// A core [`crate::shop::reply::Reply`] as a platform response.
pub(crate) fn render(reply: crate::shop::reply::Reply) -> Result<Response, EdgeError> {
    let headers = Headers::new();
    let fill = || -> worker::Result<()> {
        // An origin's answer passed back brings its own type, if any.
        if !reply.content_type.is_empty() {
            headers.set("content-type", reply.content_type)?;
        }
        for (name, value) in &reply.headers {
            headers.append(name, value)?;
        }
        Ok(())
    };
    fill().map_err(internal("answered"))?;
    Ok(Response::from_bytes(reply.body)
        .map_err(internal("answered"))?
        .with_status(reply.status)
        .with_headers(headers))
}
