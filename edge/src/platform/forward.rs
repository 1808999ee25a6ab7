//! Calls to the shop's origin services: region choice, signing, timeouts,
//! retries within the budget, failover, circuit breakers and load shedding.
//! The decisions are in [`crate::forwarding`]; this performs them.
//!
//! Breakers, budgets and in-flight counts live in the isolate (see the
//! README): they answer in microseconds, need no I/O of their own, and what
//! they observe — whether this location reaches a region — is local anyway.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use durable_objects::body::{MAX_ANSWER, read_answer_bounded};
use futures::future::{Either, select};
use origin_adapter::forward::{
    EdgeContext, ForwardedRead, ForwardedWrite, signed_headers, signed_read_headers,
};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Url};

use super::runtime::{RequestContext, internal, now_ms, random};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::breaker::Breaker;
use crate::forwarding::budget::RetryBudget;
use crate::forwarding::plan::{Plan, Step};
use crate::forwarding::region::{candidates, choose};
use crate::forwarding::services::Service;
use crate::forwarding::{Attempt, GaveUp, refusal};
use crate::shop::ports::{OriginAnswer, OriginCall};

#[derive(Default)]
struct Resilience {
    breakers: HashMap<(String, String), Breaker>,
    budgets: HashMap<String, RetryBudget>,
    in_flight: HashMap<String, u32>,
}

thread_local! {
    static RESILIENCE: RefCell<Resilience> = RefCell::new(Resilience::default());
}

fn with_state<T>(f: impl FnOnce(&mut Resilience) -> T) -> T {
    RESILIENCE.with(|r| f(&mut r.borrow_mut()))
}

/// A place among a service's requests in flight; given back when dropped,
/// however the request ends.
struct Slot(String);

impl Slot {
    fn take(service: &Service) -> Option<Self> {
        with_state(|r| {
            let n = r.in_flight.entry(service.name.clone()).or_default();
            if *n >= service.max_in_flight {
                return None;
            }
            *n += 1;
            Some(Slot(service.name.clone()))
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        with_state(|r| {
            if let Some(n) = r.in_flight.get_mut(&self.0) {
                *n = n.saturating_sub(1);
            }
        });
    }
}

/// One request to an origin service (the core's [`OriginCall`]).
pub(crate) type Call<'a> = OriginCall<'a>;
/// What the origin answered, and where.
pub(crate) type Answer = OriginAnswer;

struct Target {
    url: String,
    authority: String,
    path: String,
    query: Option<String>,
}

fn target(base: &str, path: &str, query: Option<&str>) -> Result<Target, EdgeError> {
    let url = match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let parsed = Url::parse(&url).map_err(|_| EdgeError::new(500, "an origin URL is invalid"))?;
    Ok(Target {
        authority: origin_adapter::signature::authority(
            parsed.host_str().unwrap_or_default(),
            parsed.port(),
        ),
        path: parsed.path().to_owned(),
        query: parsed.query().map(str::to_owned),
        url,
    })
}

/// The signed headers of one attempt (each attempt gets a fresh nonce).
fn sign(
    config: &EdgeConfig,
    rc: &RequestContext,
    call: &Call<'_>,
    t: &Target,
) -> Result<Vec<(&'static str, String)>, EdgeError> {
    let nonce = URL_SAFE_NO_PAD.encode(random::<16>()?);
    let traceparent = rc.trace.to_string();
    let context = EdgeContext {
        claims: call.claims,
        flags: call.flags,
        request_id: Some(&rc.request_id),
        traceparent: Some(&traceparent),
    };
    let now = now_ms() / 1000;
    let signed = match (call.method, call.idempotency_key) {
        ("GET", _) => signed_read_headers(
            &ForwardedRead {
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                context,
            },
            &config.signing_key,
            now,
            &nonce,
        ),
        (_, Some(key)) => signed_headers(
            &ForwardedWrite {
                method: call.method,
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                content_type: "application/json",
                idempotency_key: key,
                body: call.body.unwrap_or_default(),
                context,
            },
            &config.signing_key,
            now,
            &nonce,
        ),
        (_, None) => return Err(EdgeError::new(500, "the edge sends no write without a key")),
    };
    signed.map_err(|e| {
        worker::console_error!("edge: could not sign a request to {}: {e}", call.service);
        EdgeError::new(500, "the edge could not sign its request to an origin")
    })
}

type Received = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends one attempt; the whole exchange, body included, within `timeout_ms`.
async fn attempt(
    t: &Target,
    call: &Call<'_>,
    signed: &[(&'static str, String)],
    timeout_ms: u64,
) -> Result<(Attempt, Option<Received>), EdgeError> {
    let headers = Headers::new();
    for (name, value) in signed {
        headers
            .set(name, value)
            .map_err(internal("signed a request"))?;
    }
    headers
        .set("accept", "application/json")
        .map_err(internal("signed a request"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::from(call.method.to_owned()))
        .with_headers(headers);
    if let (Some(body), false) = (call.body, call.method == "GET") {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    let request =
        Request::new_with_init(&t.url, &init).map_err(internal("built a request to an origin"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = Box::pin(async move {
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|_| Attempt::Unreachable)?;
        let status = response.status_code();
        let headers: Vec<(String, String)> = response.headers().entries().collect();
        let body = read_answer_bounded(&mut response, MAX_ANSWER)
            .await
            .map_err(|_| Attempt::Broken)?;
        Ok::<_, Attempt>((status, headers, body))
    });
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    Ok(match select(exchange, timer).await {
        Either::Left((Ok(received), _)) => (Attempt::Answered(received.0), Some(received)),
        Either::Left((Err(failed), _)) => (failed, None),
        Either::Right(((), _)) => {
            controller.abort();
            (Attempt::TimedOut, None)
        }
    })
}

/// The region (and its base URL) a request to `service` goes to first:
/// what an order's outbox records, so its retries go where the edge went.
pub(crate) fn region_for(
    config: &EdgeConfig,
    rc: &RequestContext,
    service: &str,
    home_region: Option<&str>,
) -> Result<(String, String), EdgeError> {
    let service = config.services.service(service).ok_or_else(|| {
        EdgeError::new(500, "the edge is misconfigured; the operator has been told")
    })?;
    let choice = choose(
        home_region,
        &rc.location(config.environment),
        &config.services.nearest,
        &config.default_region,
    );
    let regions = candidates(service, &choice).map_err(|region| {
        refusal(
            &service.name,
            &GaveUp::NoHomeEndpoint { region },
            service.timeout_ms,
        )
    })?;
    let region = regions.into_iter().next().unwrap_or_default();
    let base = service.endpoint(&region).unwrap_or_default().to_owned();
    Ok((region, base))
}

/// Calls `call.service`, trying as its table entry allows.
pub(crate) async fn call(
    config: &EdgeConfig,
    rc: &RequestContext,
    call: Call<'_>,
) -> Result<Answer, EdgeError> {
    let service = config.services.service(call.service).ok_or_else(|| {
        worker::console_error!("edge: no service {:?} in SERVICES", call.service);
        EdgeError::new(500, "the edge is misconfigured; the operator has been told")
    })?;
    let choice = choose(
        call.home_region,
        &rc.location(config.environment),
        &config.services.nearest,
        &config.default_region,
    );
    let regions = candidates(service, &choice).map_err(|region| {
        refusal(
            &service.name,
            &GaveUp::NoHomeEndpoint { region },
            service.timeout_ms,
        )
    })?;
    let Some(_slot) = Slot::take(service) else {
        worker::console_warn!(
            "edge: shed {} {} ({} in flight) request_id={}",
            call.method,
            call.path,
            service.max_in_flight,
            rc.request_id
        );
        return Err(refusal(&service.name, &GaveUp::Shed, service.timeout_ms));
    };
    let started = now_ms();
    with_state(|r| {
        r.budgets
            .entry(service.name.clone())
            .or_default()
            .note_request(started)
    });
    let retryable = call.method == "GET" || call.idempotency_key.is_some();
    let mut plan = Plan::new(regions, service, retryable, started);
    loop {
        let now = now_ms();
        let admit = |region: &str| {
            with_state(|r| {
                r.breakers
                    .entry((service.name.clone(), region.to_owned()))
                    .or_default()
                    .admit(now, service.breaker)
            })
        };
        let budget = || {
            with_state(|r| {
                r.budgets
                    .entry(service.name.clone())
                    .or_default()
                    .try_retry(now)
            })
        };
        match plan.next(now, admit, budget, u32::from_le_bytes(random::<4>()?)) {
            Step::Wait { ms } => Delay::from(Duration::from_millis(ms)).await,
            Step::GiveUp(why) => return Err(refusal(&service.name, &why, service.timeout_ms)),
            Step::Attempt { region, timeout_ms } => {
                match attempt_in(config, rc, &call, service, &region, timeout_ms).await? {
                    (_, Some(answer)) => return Ok(answer),
                    (outcome, None) => plan.failed(&region, outcome),
                }
            }
        }
    }
}

/// One attempt in `region`: signed, sent, recorded by the region's breaker
/// and logged. The answer when it is not a failure.
async fn attempt_in(
    config: &EdgeConfig,
    rc: &RequestContext,
    call: &Call<'_>,
    service: &Service,
    region: &str,
    timeout_ms: u64,
) -> Result<(Attempt, Option<Answer>), EdgeError> {
    let base = service
        .endpoint(region)
        .ok_or_else(|| EdgeError::new(500, "a service endpoint vanished"))?;
    let t = target(base, call.path, call.query)?;
    let signed = sign(config, rc, call, &t)?;
    let started = now_ms();
    let (outcome, received) = attempt(&t, call, &signed, timeout_ms).await?;
    let finished = now_ms();
    with_state(|r| {
        r.breakers
            .entry((service.name.clone(), region.to_owned()))
            .or_default()
            .record(!outcome.failed(), finished, service.breaker)
    });
    worker::console_log!(
        "edge: {} {} -> {}@{} {outcome:?} in {} ms request_id={} trace_id={}",
        call.method,
        call.path,
        service.name,
        region,
        finished - started,
        rc.request_id,
        rc.trace.trace_id_hex()
    );
    Ok(match received {
        Some((status, headers, body)) if !outcome.failed() => (
            outcome,
            Some(Answer {
                status,
                headers,
                body,
                region: region.to_owned(),
            }),
        ),
        _ => (outcome, None),
    })
}
