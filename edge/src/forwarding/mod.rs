//! Forwarding to the shop's regional origin services: the routing table
//! ([`services`]), region choice ([`region`]), circuit breakers
//! ([`breaker`]), retry budget and backoff ([`budget`]), the retry plan
//! of one request ([`plan`]), the isolate's breakers, budgets and
//! in-flight counts ([`resilience`]), and here the small rules in
//! between — idempotency keys, what an attempt sends (signed by
//! [`durable_objects::exchange`], the outbox's signer too), what counts as
//! a failure, what the client is told when the edge gives up, and which
//! origin headers pass.

pub mod breaker;
pub mod budget;
pub mod plan;
pub mod region;
pub mod resilience;
pub mod services;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use durable_objects::exchange::{Exchange, Outgoing, Target};
use origin_adapter::forward::{EdgeContext, validate_idempotency_key};
use sha2::{Digest as _, Sha256};

use crate::error::EdgeError;
use crate::shop::ports::OriginCall;

/// What one attempt of `call` to `to` sends, with the request's ids (the
/// trace as its `traceparent` text): signed by [`durable_objects::exchange`].
pub fn outgoing<'a>(
    call: &'a OriginCall<'a>,
    to: &'a Target,
    request_id: &'a str,
    traceparent: &'a str,
) -> Outgoing<'a> {
    Outgoing {
        method: call.method,
        target: to,
        body: call.body.unwrap_or_default(),
        idempotency_key: call.idempotency_key,
        context: EdgeContext {
            claims: call.claims,
            flags: call.flags,
            request_id: Some(request_id),
            traceparent: Some(traceparent),
        },
    }
}

/// What one attempt to reach an origin came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Answered(u16),
    /// The connection failed before an answer.
    Unreachable,
    TimedOut,
    /// An answer began but its body broke off.
    Broken,
}

impl Attempt {
    /// What an exchange came to.
    pub fn of(exchange: &Exchange) -> Self {
        match exchange {
            Exchange::Answered { status, .. } => Attempt::Answered(*status),
            Exchange::Unreachable => Attempt::Unreachable,
            Exchange::Broken => Attempt::Broken,
            Exchange::TimedOut => Attempt::TimedOut,
        }
    }

    /// Counts against the region's breaker.
    pub fn failed(self) -> bool {
        !matches!(self, Attempt::Answered(s) if s < 500)
    }

    /// Proof that the origin did nothing: nobody answered the connection,
    /// or it said it is unavailable. Only then may a request move to
    /// another region — its idempotency record lives in the first one.
    pub fn surely_not_processed(self) -> bool {
        matches!(self, Attempt::Unreachable | Attempt::Answered(503))
    }

    /// Another attempt may do better (only for idempotent or keyed requests).
    pub fn worth_retrying(self) -> bool {
        matches!(
            self,
            Attempt::Unreachable | Attempt::TimedOut | Attempt::Broken
        ) || matches!(self, Attempt::Answered(502..=504))
    }
}

/// Why the edge stopped trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// Too many requests to the service already in flight here.
    Shed,
    /// Every candidate region's breaker is open.
    BreakerOpen { retry_after_ms: i64 },
    /// A residency-pinned service does not run in the customer's home region.
    NoHomeEndpoint { region: String },
    /// The last attempt's result, and where it went.
    Failed { attempt: Attempt, region: String },
}

/// The regions a request to `service` may go to, in order: its home
/// region, else the nearest, else the default, then failover candidates;
/// a residency-pinned service outside the home region is a `503`.
pub fn regions_for(
    service: &services::Service,
    home: Option<&str>,
    location: &region::Location,
    nearest: &services::Nearest,
    default_region: &str,
) -> Result<Vec<String>, EdgeError> {
    let choice = region::choose(home, location, nearest, default_region);
    region::candidates(service, &choice).map_err(|region| {
        refusal(
            &service.name,
            &GaveUp::NoHomeEndpoint { region },
            service.timeout_ms,
        )
    })
}

/// A route the `SERVICES` table forwards for `incoming`, or the edge's own
/// `404` (`not_found`) — a `405` with `Allow` when the path is the table's
/// and the method is not.
pub fn forwarded_route(
    table: &services::ServiceTable,
    incoming: &crate::incoming::Incoming,
    not_found: EdgeError,
) -> Result<services::ForwardedRoute, EdgeError> {
    match table.route(&incoming.method, &incoming.path) {
        Ok(Some(r)) => Ok(r.clone()),
        Ok(None) => Err(not_found),
        Err(allowed) => Err(EdgeError::method_not_allowed(format!(
            "{} does not accept {}",
            incoming.path, incoming.method
        ))
        .with_header("allow", allowed.join(", "))),
    }
}

/// `name`'s entry in the routing table; a `500` naming no secret when the
/// table lacks it (the edge's own routes need `identity` and `orders`).
pub fn service<'a>(
    config: &'a crate::config::EdgeConfig,
    name: &str,
) -> Result<&'a services::Service, EdgeError> {
    config.services.service(name).ok_or_else(|| {
        EdgeError::internal("the edge is misconfigured; the operator has been told")
            .with_cause(format!("no service {name:?} in SERVICES"))
    })
}

/// The regions a request to `service` from `incoming` (by a customer of
/// `home` region, if any) may go to, in order.
pub fn regions_of(
    config: &crate::config::EdgeConfig,
    incoming: &crate::incoming::Incoming,
    service: &services::Service,
    home: Option<&str>,
) -> Result<Vec<String>, EdgeError> {
    regions_for(
        service,
        home,
        &incoming.location(config.environment),
        &config.services.nearest,
        &config.default_region,
    )
}

/// The region (and its base URL) a request to service `name` goes to
/// first: what an order's outbox records, so its retries go where the edge
/// went.
pub fn first_region(
    config: &crate::config::EdgeConfig,
    incoming: &crate::incoming::Incoming,
    name: &str,
    home: Option<&str>,
) -> Result<(String, String), EdgeError> {
    let service = service(config, name)?;
    let region = regions_of(config, incoming, service, home)?
        .into_iter()
        .next()
        .unwrap_or_default();
    let base = service.endpoint(&region).unwrap_or_default().to_owned();
    Ok((region, base))
}

/// The orders origin's path for `GET /api/orders[/{id}]`; `404` for an id
/// that is not one (1–64 letters, digits and `-`).
pub fn order_path(edge_path: &str) -> Result<String, EdgeError> {
    let not_found = || EdgeError::not_found("no such order");
    match edge_path.strip_prefix("/api/orders") {
        Some("") => Ok(origin_adapter::wire::paths::ORDERS.to_owned()),
        Some(rest) => {
            let id = rest.strip_prefix('/').ok_or_else(not_found)?;
            let valid = !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            valid
                .then(|| format!("{}/{id}", origin_adapter::wire::paths::ORDERS))
                .ok_or_else(not_found)
        }
        None => Err(not_found()),
    }
}

fn retry_after(ms: i64) -> String {
    ((ms.max(0) + 999) / 1000).max(1).to_string()
}

/// What the client is told. Nothing here names an origin's address.
pub fn refusal(service: &str, why: &GaveUp, timeout_ms: u64) -> EdgeError {
    match why {
        GaveUp::Shed => {
            EdgeError::unavailable(format!("the {service} service is busy; retry shortly"))
                .with_header("retry-after", "1")
        }
        GaveUp::BreakerOpen { retry_after_ms } => EdgeError::unavailable(format!(
            "the {service} service is failing; the edge is not sending it requests for now"
        ))
        .with_header("retry-after", retry_after(*retry_after_ms)),
        GaveUp::NoHomeEndpoint { region } => EdgeError::unavailable(format!(
            "the {service} service does not run in your home region ({region}); your data is not sent elsewhere"
        )),
        GaveUp::Failed { attempt, region } => match attempt {
            Attempt::TimedOut => EdgeError::gateway_timeout(format!(
                "the {service} service did not answer within {timeout_ms} ms"
            )),
            Attempt::Unreachable => EdgeError::unavailable(format!(
                "the {service} service in region {region} is unavailable; retry shortly"
            ))
            .with_header("retry-after", "5"),
            Attempt::Broken | Attempt::Answered(_) => {
                EdgeError::bad_gateway(format!("the {service} service failed"))
            }
        },
    }
}

/// Reads a client's `Idempotency-Key`: a structured-field string as the
/// draft says (`"…"`), or, leniently, a bare token as many clients send.
pub fn client_key(header: Option<&str>) -> Result<Option<String>, EdgeError> {
    let Some(raw) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| EdgeError::bad_request(format!("Idempotency-Key: {why}"));
    let key = if raw.starts_with('"') {
        match sfv::Parser::new(raw).parse::<sfv::Item>() {
            Ok(sfv::Item {
                bare_item: sfv::BareItem::String(s),
                ..
            }) => s.as_str().to_owned(),
            _ => return Err(bad("not a structured-field string")),
        }
    } else {
        raw.to_owned()
    };
    // Its message names the header already.
    validate_idempotency_key(&key).map_err(EdgeError::bad_request)?;
    Ok(Some(key))
}

/// The key the edge sends: a client's key, bound to who sent it so two
/// customers' keys can never meet; or, for an unkeyed write, a fresh one
/// made once per client request so the edge's own retries reuse it.
pub fn forwarded_key(client: Option<&str>, principal: &str, fresh: [u8; 16]) -> String {
    match client {
        Some(key) => {
            let mut hash = Sha256::new();
            hash.update(principal.as_bytes());
            hash.update([0]);
            hash.update(key.as_bytes());
            format!("c-{}", URL_SAFE_NO_PAD.encode(hash.finalize()))
        }
        None => format!("e-{}", URL_SAFE_NO_PAD.encode(fresh)),
    }
}

/// Origin response headers a client may see; everything else (cookies,
/// server details, caching an origin meant for itself) stays behind. The
/// name as the edge sends it on, when it passes.
pub fn passes_back(name: &str) -> Option<&'static str> {
    const PASSED: [&str; 6] = [
        "content-type",
        "content-language",
        "etag",
        "last-modified",
        "retry-after",
        origin_adapter::forward::REPLAYED_HEADER,
    ];
    PASSED
        .into_iter()
        .find(|passed| passed.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edge's first attempt at an order and the outbox's retry of it
    /// are one request: same target, key, body, claims and ids sign to the
    /// same headers (the edge adds only the flags it evaluated).
    #[test]
    fn an_order_retried_by_the_outbox_is_the_request_the_edge_sent() {
        use durable_objects::cart_api::OrderTarget;
        use durable_objects::exchange::sign;
        use origin_adapter::keys::SigningKey;

        let key = SigningKey::from_seed("edge-1", [7; 32]);
        let order = OrderTarget {
            url: "https://eu.example/orders".into(),
            region: "eu".into(),
            claims: Some("claims".into()),
            request_id: "req-1".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        };
        let to = Target::parse(&order.url).unwrap();
        let body = br#"{"lines":[]}"#;
        let call = OriginCall {
            service: "orders",
            method: "POST",
            path: "/orders",
            query: None,
            body: Some(body),
            idempotency_key: Some("cart-g-1-v3"),
            claims: order.claims.as_deref(),
            home_region: Some("eu"),
            flags: None,
        };
        let edge = outgoing(&call, &to, &order.request_id, &order.traceparent);
        let outbox = order.outgoing(&to, "cart-g-1-v3", body);
        assert_eq!(
            sign(&edge, &key, 1_800_000_000, "n").unwrap(),
            sign(&outbox, &key, 1_800_000_000, "n").unwrap()
        );
        assert_ne!(
            sign(&edge, &key, 1_800_000_000, "n").unwrap(),
            sign(
                &order.outgoing(&to, "cart-g-1-v4", body),
                &key,
                1_800_000_000,
                "n"
            )
            .unwrap()
        );
    }

    #[test]
    fn order_paths_name_one_order_or_all() {
        assert_eq!(order_path("/api/orders").unwrap(), "/orders");
        assert_eq!(
            order_path("/api/orders/ord-us-000001").unwrap(),
            "/orders/ord-us-000001"
        );
        for bad in [
            "/api/orders/",
            "/api/orders/a_b",
            "/api/ordersX",
            "/api/orders/../x",
        ] {
            assert_eq!(order_path(bad).unwrap_err().status(), 404, "{bad}");
        }
    }

    #[test]
    fn failures_and_retries_are_told_apart() {
        assert!(!Attempt::Answered(201).failed());
        assert!(!Attempt::Answered(422).failed());
        assert!(Attempt::Answered(500).failed());
        assert!(!Attempt::Answered(500).worth_retrying());
        assert!(Attempt::Answered(503).worth_retrying());
        assert!(Attempt::TimedOut.worth_retrying());
        assert!(Attempt::Unreachable.failed());
        assert!(!Attempt::Answered(409).worth_retrying());
        assert!(Attempt::Unreachable.surely_not_processed());
        assert!(
            !Attempt::TimedOut.surely_not_processed(),
            "it may have happened"
        );
        assert!(!Attempt::Broken.surely_not_processed());
    }

    #[test]
    fn giving_up_says_why_with_the_right_status() {
        let e = refusal("reviews", &GaveUp::Shed, 3000);
        assert_eq!((e.status(), e.headers()[0].1.as_str()), (503, "1"));
        let e = refusal(
            "reviews",
            &GaveUp::BreakerOpen {
                retry_after_ms: 1500,
            },
            3000,
        );
        assert_eq!((e.status(), e.headers()[0].1.as_str()), (503, "2"));
        let e = refusal(
            "account",
            &GaveUp::Failed {
                attempt: Attempt::TimedOut,
                region: "us".into(),
            },
            3000,
        );
        assert_eq!(e.status(), 504);
        assert!(e.detail().contains("3000 ms"));
        let e = refusal(
            "account",
            &GaveUp::NoHomeEndpoint {
                region: "eu".into(),
            },
            3000,
        );
        assert_eq!(e.status(), 503);
        assert!(e.detail().contains("not sent elsewhere"));
    }

    #[test]
    fn client_keys_are_read_as_the_draft_writes_them() {
        assert_eq!(
            client_key(Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"")).unwrap(),
            Some("8e03978e-40d5-43e8-bc93-6894a57f9324".into())
        );
        assert_eq!(
            client_key(Some("plain-key")).unwrap(),
            Some("plain-key".into())
        );
        assert_eq!(client_key(None).unwrap(), None);
        assert_eq!(
            client_key(Some("\"unterminated")).unwrap_err().status(),
            400
        );
        assert_eq!(
            client_key(Some(&"x".repeat(300))).unwrap_err().status(),
            400
        );
    }

    #[test]
    fn keys_are_bound_to_their_sender_and_fresh_keys_differ() {
        let a = forwarded_key(Some("k"), "user:1", [0; 16]);
        assert_eq!(a, forwarded_key(Some("k"), "user:1", [9; 16]), "stable");
        assert_ne!(a, forwarded_key(Some("k"), "user:2", [0; 16]));
        assert_ne!(
            forwarded_key(None, "user:1", [1; 16]),
            forwarded_key(None, "user:1", [2; 16])
        );
        assert!(validate_idempotency_key(&a).is_ok());
    }

    #[test]
    fn only_listed_headers_pass_back() {
        assert_eq!(passes_back("Content-Type"), Some("content-type"));
        assert!(passes_back("idempotent-replayed").is_some());
        for name in [
            "set-cookie",
            "server",
            "x-powered-by",
            "cache-control",
            "location",
        ] {
            assert!(passes_back(name).is_none(), "{name}");
        }
    }
}
