//! Reads and writes the edge passes to an origin service: a customer's own
//! orders (`/api/orders[/{id}]`), and the routes the service table
//! forwards as they are (account, reviews, …). The edge checks the caller,
//! the query and the body, keys the write, signs it with the caller's
//! claims and flags, and passes back only the headers a client should see.

use origin_adapter::wire::PROBLEM_JSON;

use super::caller::{active_session, edge_claims};
use super::ports::{Entropy, Guard, JsonBody, OriginAnswer, OriginCall, Origins};
use super::reply::Reply;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::flags::FlagSet;
use crate::forwarding::services::{Access, ForwardedRoute};
use crate::forwarding::{client_key, forwarded_key, order_path, passes_back};
use crate::incoming::Incoming;

/// The longest query string passed on to an origin.
pub const MAX_QUERY: usize = 2048;

/// The request, as the forwarded use cases read it: parsed at the entry,
/// the configuration, and the time (Unix seconds).
pub type Asked<'a> = (&'a Incoming, &'a EdgeConfig, i64);

/// `GET /api/orders[/{id}]`: the logged-in customer's orders, from the
/// orders origin of their home region. Never cached.
///
/// # Errors
/// `401` without a session, `404` for an id that is not one, `502` when
/// the origin fails, and what the forwarding gave up with.
pub async fn orders(
    guard: &impl Guard,
    origins: &impl Origins,
    (rc, config, now): Asked<'_>,
) -> Result<Reply, EdgeError> {
    let Some(claims) = active_session(guard, rc, config, now).await? else {
        return Err(EdgeError::unauthorized("log in to see your orders"));
    };
    let path = order_path(&rc.path)?;
    let encoded = edge_claims(&claims);
    let answer = origins
        .call(OriginCall {
            service: "orders",
            method: "GET",
            path: &path,
            query: None,
            body: None,
            idempotency_key: None,
            claims: Some(&encoded),
            home_region: Some(&claims.region),
            flags: None,
        })
        .await?;
    let content_type = match answer.status {
        200 => "application/json",
        404 => PROBLEM_JSON,
        other => {
            return Err(EdgeError::bad_gateway("the orders service failed")
                .with_cause(format!("the orders service answered {other}")));
        }
    };
    Ok(Reply::raw(answer.status, content_type, answer.body))
}

/// A route the service table forwards, for `rc` (a write's JSON `body`,
/// read once the caller, the query and the key passed). The write travels under the client's
/// `Idempotency-Key` bound to who sent it, or one made for this request
/// (so the edge's own retries reuse it).
///
/// # Errors
/// `401` for a customer's route without a session, `414` for a query
/// past [`MAX_QUERY`] bytes, `400` for a body that is not JSON or a bad
/// key, and what the forwarding gave up with.
pub async fn pass(
    (guard, origins, ids): (&impl Guard, &impl Origins, &impl Entropy),
    (rc, config, now): Asked<'_>,
    (route, flags): (&ForwardedRoute, &FlagSet),
    body: impl JsonBody,
) -> Result<Reply, EdgeError> {
    let session = active_session(guard, rc, config, now).await?;
    if route.access == Access::Customer && session.is_none() {
        return Err(EdgeError::unauthorized("log in first"));
    }
    if rc.query.as_ref().is_some_and(|q| q.len() > MAX_QUERY) {
        let detail = format!("the query exceeds {MAX_QUERY} bytes");
        return Err(EdgeError::uri_too_long(detail));
    }
    let (body, key) = match rc.method.as_str() {
        "GET" => (Vec::new(), None),
        _ => {
            let client = client_key(rc.header("idempotency-key"))?;
            let body = body.read().await?;
            // Only JSON goes on.
            crate::request_body::parse_json::<serde_json::Value>(&body)?;
            let principal = match &session {
                Some(s) => format!("user:{}", s.sub),
                None => "guest".into(),
            };
            let key = forwarded_key(client.as_deref(), &principal, ids.bytes()?);
            (body, Some(key))
        }
    };
    let values = super::flags::values_for(flags, rc, config, session.as_ref(), now);
    let flags = origin_adapter::forward::encode_flags(&values);
    let claims = session.as_ref().map(edge_claims);
    let answer = origins
        .call(OriginCall {
            service: &route.service,
            method: &rc.method,
            path: &route.origin_path,
            query: rc.query.as_deref(),
            body: key.is_some().then_some(body.as_slice()),
            idempotency_key: key.as_deref(),
            claims: claims.as_deref(),
            home_region: session.as_ref().map(|s| s.region.as_str()),
            flags: Some(&flags),
        })
        .await?;
    Ok(passed_back(answer))
}

/// The origin's answer as the client gets it: only the headers a client
/// should see, and the region that served it (for support, and to see
/// failover happen).
fn passed_back(answer: OriginAnswer) -> Reply {
    // No type of the edge's own: the origin's passes back, if it sent one.
    let mut reply = Reply::raw(answer.status, "", answer.body);
    for (name, value) in answer.headers {
        if let Some(name) = passes_back(&name) {
            reply = reply.header(name, value);
        }
    }
    reply.header("x-served-by-region", answer.region)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{
        CountingIds, MemoryGuard, Script, ScriptedOrigins, config, incoming, session_cookie,
    };

    fn route(access: Access) -> ForwardedRoute {
        ForwardedRoute {
            method: "POST".into(),
            path: "/api/reviews".into(),
            service: "reviews".into(),
            origin_path: "/reviews".into(),
            access,
        }
    }

    #[test]
    fn a_forwarded_write_is_json_keyed_and_bound_to_who_sent_it() {
        let (guard, ids, config) = (MemoryGuard::default(), CountingIds::default(), config());
        let set = FlagSet::parse(crate::flags::BUILT_IN).unwrap();
        let origins = ScriptedOrigins::new((0..3).map(|_| Script::Answer(201, "{}".into())));
        let send = |headers: &[(&str, &str)], body: &[u8], access| {
            let rc = incoming("POST", "/api/reviews", headers);
            let ports = (&guard, &origins, &ids);
            block_on(pass(
                ports,
                (&rc, &config, 1_000),
                (&route(access), &set),
                body,
            ))
        };
        assert_eq!(
            send(&[], b"{}", Access::Customer).unwrap_err().status(),
            401
        );
        assert_eq!(
            send(&[], b"not json", Access::Any).unwrap_err().status(),
            400
        );
        let (cookie, _) = session_cookie(&config, "u-1", 1_000);
        let keyed = [("idempotency-key", "k-1"), ("cookie", cookie.as_str())];
        let answer = send(&keyed, b"{}", Access::Customer).unwrap();
        assert_eq!(answer.status, 201);
        send(&[("idempotency-key", "k-1")], b"{}", Access::Any).unwrap();
        send(&[], b"{}", Access::Any).unwrap();
        let keys: Vec<String> = origins
            .calls
            .borrow()
            .iter()
            .map(|c| c.1.clone().unwrap())
            .collect();
        assert!(keys[0].starts_with("c-") && keys[1].starts_with("c-"));
        assert_ne!(
            keys[0], keys[1],
            "one client key from two callers never meets"
        );
        assert!(
            keys[2].starts_with("e-"),
            "an unkeyed write gets the edge's own"
        );
    }

    #[test]
    fn the_caller_and_the_key_are_checked_before_the_body_is_read() {
        use crate::shop::fakes::Unreadable;
        let (guard, ids, config) = (MemoryGuard::default(), CountingIds::default(), config());
        let set = FlagSet::parse(crate::flags::BUILT_IN).unwrap();
        let origins = ScriptedOrigins::new([]);
        let status = |headers: &[(&str, &str)], access| {
            let rc = incoming("POST", "/api/reviews", headers);
            let asked = (&rc, &config, 1_000);
            let refused = block_on(pass(
                (&guard, &origins, &ids),
                asked,
                (&route(access), &set),
                Unreadable,
            ));
            refused.unwrap_err().status()
        };
        assert_eq!(
            status(&[], Access::Customer),
            401,
            "a stranger's body is never read"
        );
        assert_eq!(status(&[("idempotency-key", "\"open")], Access::Any), 400);
        assert_eq!(status(&[], Access::Any), 415);
    }

    #[test]
    fn a_long_query_is_refused_before_any_origin_is_asked() {
        let (guard, ids, config) = (MemoryGuard::default(), CountingIds::default(), config());
        let set = FlagSet::parse(crate::flags::BUILT_IN).unwrap();
        let origins = ScriptedOrigins::new([]);
        let long = format!("/api/reviews?q={}", "a".repeat(MAX_QUERY));
        let rc = incoming("GET", &long, &[]);
        let asked = (&rc, &config, 1_000);
        let refused = block_on(pass(
            (&guard, &origins, &ids),
            asked,
            (&route(Access::Any), &set),
            b"",
        ));
        assert_eq!(refused.unwrap_err().status(), 414);
        assert!(origins.calls.borrow().is_empty());
    }

    #[test]
    fn orders_need_a_session_and_an_origin_failure_is_a_502_with_its_cause() {
        let (guard, config) = (MemoryGuard::default(), config());
        let origins = ScriptedOrigins::new([Script::Answer(500, String::new())]);
        let anonymous = incoming("GET", "/api/orders", &[]);
        let refused = block_on(orders(&guard, &origins, (&anonymous, &config, 1_000)));
        assert_eq!(refused.unwrap_err().status(), 401);
        let (cookie, _) = session_cookie(&config, "u-1", 1_000);
        let rc = incoming("GET", "/api/orders", &[("cookie", &cookie)]);
        let failed = block_on(orders(&guard, &origins, (&rc, &config, 1_000))).unwrap_err();
        assert_eq!(
            (failed.status(), failed.cause()),
            (502, Some("the orders service answered 500"))
        );
    }

    #[test]
    fn only_the_headers_a_client_should_see_pass_back() {
        let answer = OriginAnswer {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("set-cookie".into(), "origin=1".into()),
                ("server".into(), "origin/1.0".into()),
            ],
            body: b"{}".to_vec(),
            region: "eu".into(),
        };
        let reply = passed_back(answer);
        assert_eq!(
            reply.headers,
            [
                ("content-type", "application/json".to_owned()),
                ("x-served-by-region", "eu".to_owned())
            ]
        );
    }
}
