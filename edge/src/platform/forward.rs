//! Calls to the shop's origin services, as [`crate::forwarding`] plans
//! them: the region candidates, the in-flight place, then the retry plan's
//! steps — each attempt signed, sent within its time, recorded by its
//! region's breaker — until an answer or a reason to give up.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use durable_objects::exchange::{Exchange, Target, send_signed};
use worker::Delay;

use super::runtime::{RequestContext, now_ms, random};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::plan::{Plan, Step};
use crate::forwarding::resilience::{self, InFlight};
use crate::forwarding::services::Service;
use crate::forwarding::{Attempt, GaveUp, outgoing, refusal, regions_of, service};
use crate::shop::ports::{OriginAnswer, OriginCall};

/// One request to an origin service (the core's [`OriginCall`]).
pub(crate) type Call<'a> = OriginCall<'a>;
/// What the origin answered, and where.
pub(crate) type Answer = OriginAnswer;

thread_local! {
    /// Forwarded attempts of the requests in flight, by request id: where
    /// the last went and how many there were, for the request's log line.
    static ATTEMPTS: std::cell::RefCell<std::collections::HashMap<String, (String, u32)>> =
        std::cell::RefCell::default();
}

/// Requests whose attempts are remembered at once; past it (requests that
/// never finished) the record starts again rather than grow.
const MAX_REMEMBERED: usize = 10_000;

fn remember_attempt(request_id: &str, region: &str) {
    ATTEMPTS.with(|a| {
        let mut a = a.borrow_mut();
        if a.len() >= MAX_REMEMBERED && !a.contains_key(request_id) {
            a.clear();
        }
        let entry = a.entry(request_id.to_owned()).or_insert((String::new(), 0));
        entry.0 = region.to_owned();
        entry.1 += 1;
    });
}

/// Where `request_id`'s forwarded calls last went and how many attempts
/// they made; forgotten once asked.
pub(crate) fn attempts_of(request_id: &str) -> Option<(String, u32)> {
    ATTEMPTS.with(|a| a.borrow_mut().remove(request_id))
}

/// Calls `call.service`, trying as its table entry allows.
pub(crate) async fn call(
    config: &EdgeConfig,
    rc: &RequestContext,
    call: Call<'_>,
) -> Result<Answer, EdgeError> {
    let service = service(config, call.service)?;
    let regions = regions_of(config, rc, service, call.home_region)?;
    let Some(_place) = InFlight::take(service) else {
        worker::console_warn!(
            "edge: shed {} to {} ({} in flight) request_id={}",
            call.method,
            service.name,
            service.max_in_flight,
            rc.request_id
        );
        return Err(refusal(&service.name, &GaveUp::Shed, service.timeout_ms));
    };
    let started = now_ms();
    resilience::note_request(service, started);
    let retryable = call.method == "GET" || call.idempotency_key.is_some();
    let mut plan = Plan::new(regions, service, retryable, started);
    loop {
        let now = now_ms();
        let admit = |region: &str| resilience::admit(service, region, now);
        let budget = || resilience::try_retry(service, now);
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
    let to = service
        .endpoint(region)
        .and_then(|base| Target::at(base, call.path, call.query))
        .ok_or_else(|| EdgeError::internal("a service endpoint is not a URL"))?;
    let traceparent = rc.trace.to_string();
    let out = outgoing(call, &to, &rc.request_id, &traceparent);
    let nonce = URL_SAFE_NO_PAD.encode(random::<16>()?);
    let started = now_ms();
    let signed = (started / 1000, nonce.as_str());
    let exchange = send_signed(&out, &config.signing_key, signed, timeout_ms).await;
    let unsigned = |e| EdgeError::internal("the edge could not sign its request").with_cause(e);
    let exchange = exchange.map_err(unsigned)?;
    let finished = now_ms();
    let outcome = Attempt::of(&exchange);
    resilience::record(service, region, !outcome.failed(), finished);
    remember_attempt(&rc.request_id, region);
    let attempt = serde_json::json!({
        "kind": "origin_attempt",
        "request_id": rc.request_id,
        "trace_id": rc.trace.trace_id_hex(),
        "method": call.method,
        "service": service.name,
        "region": region,
        "outcome": format!("{outcome:?}"),
        "duration_ms": finished - started,
    });
    worker::console_log!("{attempt}");
    let answer = match exchange {
        Exchange::Answered {
            status,
            headers,
            body,
        } if !outcome.failed() => Some(Answer {
            status,
            headers,
            body,
            region: region.to_owned(),
        }),
        _ => None,
    };
    Ok((outcome, answer))
}
