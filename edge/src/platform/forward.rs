//! Calls to the shop's origin services, as [`crate::forwarding`] plans
//! them: the region candidates, the in-flight place, then the retry plan's
//! steps — each attempt signed, sent within its time, recorded by its
//! region's breaker — until an answer or a reason to give up.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use durable_objects::body::{MAX_ANSWER, read_answer_bounded};
use futures::future::{Either, select};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use super::runtime::{RequestContext, internal, now_ms, random};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forwarding::plan::{Plan, Step};
use crate::forwarding::resilience::{self, InFlight};
use crate::forwarding::services::Service;
use crate::forwarding::signing::{Ids, Target, sign, target};
use crate::forwarding::{Attempt, GaveUp, refusal, regions_of, service};
use crate::shop::ports::{OriginAnswer, OriginCall};

/// One request to an origin service (the core's [`OriginCall`]).
pub(crate) type Call<'a> = OriginCall<'a>;
/// What the origin answered, and where.
pub(crate) type Answer = OriginAnswer;

type Received = (u16, Vec<(String, String)>, Vec<u8>);

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
            "edge: shed {} {} ({} in flight) request_id={}",
            call.method,
            call.path,
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
    let base = service
        .endpoint(region)
        .ok_or_else(|| EdgeError::new(500, "a service endpoint vanished"))?;
    let t = target(base, call.path, call.query)?;
    let ids = Ids {
        request_id: &rc.request_id,
        trace: &rc.trace,
    };
    let nonce = URL_SAFE_NO_PAD.encode(random::<16>()?);
    let signed = sign(&config.signing_key, call, &t, ids, now_ms() / 1000, &nonce)
        .inspect_err(|e| worker::console_error!("edge: signing for {}: {e}", call.service))?;
    let started = now_ms();
    let (outcome, received) = attempt(&t, call, &signed, timeout_ms).await?;
    let finished = now_ms();
    resilience::record(service, region, !outcome.failed(), finished);
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
        Some((status, headers, body)) if !outcome.failed() => {
            let region = region.to_owned();
            let answer = Answer {
                status,
                headers,
                body,
                region,
            };
            (outcome, Some(answer))
        }
        _ => (outcome, None),
    })
}

/// Sends one attempt; the whole exchange, body included, within `timeout_ms`.
async fn attempt(
    t: &Target,
    call: &Call<'_>,
    signed: &[(&'static str, String)],
    timeout_ms: u64,
) -> Result<(Attempt, Option<Received>), EdgeError> {
    let headers = Headers::new();
    for (name, value) in signed
        .iter()
        .chain(&[("accept", "application/json".into())])
    {
        headers
            .set(name, value)
            .map_err(internal("signed a request"))?;
    }
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
