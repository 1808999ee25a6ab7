//! Checkout: freeze the cart and write its outbox (one step in the cart
//! object), place the order at the orders origin, and record the origin's
//! answer in the cart. What the answer means is
//! [`durable_objects::cart_api::verdict`], the rule the outbox's alarm uses
//! too; an order the edge could not settle waits in the outbox.

use durable_objects::cart::CartStatus;
use durable_objects::cart_api::{
    CartView, ClientRequest, Mutation, Op, OrderTarget, Verdict, refusal_detail, verdict,
};
use origin_adapter::wire::paths;
use serde_json::Value;

use super::caller::{client_request, edge_claims};
use super::cart;
use super::cart_changes::CartCase;
use super::ports::{CartRef, Carts, Entropy, Guard, JsonBody, ObjectAnswer, OriginCall, Origins};
use super::reply::Reply;
use crate::error::EdgeError;
use crate::flags::FlagSet;

/// One checkout, as the caller asks for it.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    pub cart: &'a CartRef,
    /// Who asks, for the cart's audit log (`guest`, `user:<id>`).
    pub actor: &'a str,
    pub idle_seconds: i64,
    pub if_match: Option<i64>,
    /// The client's `Idempotency-Key`, fingerprinted.
    pub request: Option<ClientRequest>,
    /// Where the order goes, recorded in the outbox for its retries.
    pub target: OrderTarget,
    pub claims: Option<&'a str>,
    pub home_region: Option<&'a str>,
    /// The request's flags, encoded for the origin.
    pub flags: &'a str,
}

/// How a checkout ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The cart answered for itself: a refusal (empty, closed, stale
    /// `If-Match`) or a retry's recorded answer. Passed on as it is.
    AsRecorded(ObjectAnswer),
    /// Placed: `201` now, or `200` when an earlier checkout placed it.
    Placed {
        status: u16,
        order: Value,
        cart: CartView,
    },
    /// Refused by the origin for a reason the customer can act on; the
    /// cart is open again.
    Refused { status: u16, reason: String },
    /// Not settled: the order waits in the outbox (`202`).
    Pending { cart: CartView, why: String },
}

fn change(c: &Checkout<'_>, actor: &str, if_match: Option<i64>, op: Op) -> Mutation {
    Mutation {
        cart: c.cart.key.short(),
        actor: actor.to_owned(),
        if_match,
        request: c.request.clone(),
        idle_seconds: c.idle_seconds,
        op,
    }
}

fn read_view(answer: &ObjectAnswer) -> Result<CartView, EdgeError> {
    serde_json::from_slice(&answer.body)
        .map_err(|_| EdgeError::internal("the cart answered with something unreadable"))
}

/// `POST /api/cart/checkout` by the caller of `case` (client body `body`,
/// fingerprinted with its key): refused while the `checkout-enabled`
/// switch in `flags` is off; the order goes to the first region the
/// forwarding plan picks, recorded in the outbox for its retries.
pub async fn place<C: Carts, G: Guard, I: Entropy>(
    case: &CartCase<'_, C, G, I>,
    origins: &impl Origins,
    flags: &FlagSet,
    body: impl JsonBody,
) -> Result<Reply, EdgeError> {
    let (rc, config) = (case.rc, case.config);
    // A checkout needs no body; one that is sent is JSON, within its limit.
    let declared = (rc.header("content-type"), rc.header("content-length"));
    let body = match cart::checkout_has_body(declared.0, declared.1)? {
        true => body.read().await?,
        false => Vec::new(),
    };
    if !body.is_empty() {
        crate::request_body::parse_json::<serde_json::Value>(&body)?;
    }
    let request = client_request(rc, &body)?;
    super::flags::refuse_when_checkout_is_off(flags, rc, config, case.now)?;
    let Some(owner) = case.owner(false).await? else {
        return Err(EdgeError::not_found("there is no cart to check out"));
    };
    let session = owner.session.as_ref();
    let claims = session.map(edge_claims);
    let home = session.map(|s| s.region.as_str());
    let values = super::flags::values_for(flags, rc, config, session, case.now);
    let flags = origin_adapter::forward::encode_flags(&values);
    let (region, base) = crate::forwarding::first_region(config, rc, "orders", home)?;
    let target = OrderTarget {
        url: format!("{base}{}", paths::ORDERS),
        region,
        claims: claims.clone(),
        request_id: rc.request_id.clone(),
        traceparent: rc.trace.to_string(),
    };
    let c = Checkout {
        cart: &owner.cart,
        actor: &owner.actor,
        idle_seconds: owner.idle_seconds,
        if_match: crate::checkout::if_match(rc.header("if-match")),
        request,
        target,
        claims: claims.as_deref(),
        home_region: home,
        flags: &flags,
    };
    answer(checkout(case.carts, origins, c).await?)
}

/// How a checkout's outcome is answered.
fn answer(outcome: Outcome) -> Result<Reply, EdgeError> {
    match outcome {
        Outcome::AsRecorded(answer) => cart::recorded_checkout_reply(answer),
        Outcome::Placed {
            status,
            order,
            cart,
        } => cart::placed_reply(status, order, &cart),
        Outcome::Refused { status, reason } => Err(EdgeError::new(status, refusal_detail(&reason))),
        Outcome::Pending { cart, why } => Ok(cart::pending_reply(&cart)?.noted(format!(
            "the order of cart {} waits in the outbox: {why}",
            cart.cart_id
        ))),
    }
}

/// Runs a checkout through the `carts` and `origins` ports.
pub async fn checkout(
    carts: &impl Carts,
    origins: &impl Origins,
    c: Checkout<'_>,
) -> Result<Outcome, EdgeError> {
    let freeze = change(
        &c,
        c.actor,
        c.if_match,
        Op::Freeze {
            target: c.target.clone(),
        },
    );
    let frozen = carts.mutate(c.cart, &freeze).await?;
    if frozen.status != 200 {
        return Ok(Outcome::AsRecorded(frozen));
    }
    let view = read_view(&frozen)?;
    let pending = match (&view.status, &view.pending_order) {
        (CartStatus::CheckedOut { order_id }, _) => {
            return Ok(Outcome::Placed {
                status: 200,
                order: serde_json::json!({ "order_id": order_id }),
                cart: view,
            });
        }
        (CartStatus::CheckingOut { .. }, Some(pending)) => pending.clone(),
        _ => return Err(EdgeError::internal("the cart did not freeze for checkout")),
    };
    let sent = origins
        .call(OriginCall {
            service: "orders",
            method: "POST",
            path: paths::ORDERS,
            query: None,
            body: Some(pending.order_body.as_bytes()),
            idempotency_key: Some(&pending.order_key),
            claims: c.claims,
            home_region: c.home_region,
            flags: Some(c.flags),
        })
        .await;
    let outcome = match &sent {
        Ok(a) => verdict(a.status, &a.body, a.has("retry-after")),
        Err(e) => Verdict::Pending(e.detail().to_owned()),
    };
    // What really happened is for the log, never for the cart's record.
    let cause = sent.as_ref().err().and_then(EdgeError::cause);
    match outcome {
        Verdict::Placed(order) => {
            let order_json = serde_json::to_value(&order).unwrap_or_default();
            let cart = report(carts, &c, Op::Placed { order }).await?;
            Ok(Outcome::Placed {
                status: 201,
                order: order_json,
                cart,
            })
        }
        Verdict::Refused { status, reason } => {
            let op = Op::Refused {
                status,
                reason: reason.clone(),
            };
            report(carts, &c, op).await?;
            Ok(Outcome::Refused { status, reason })
        }
        Verdict::Pending(why) => {
            let op = Op::Deferred {
                reason: why.clone(),
            };
            report(carts, &c, op).await?;
            let why = match cause {
                Some(cause) => format!("{why} ({cause})"),
                None => why,
            };
            Ok(Outcome::Pending { cart: view, why })
        }
    }
}

/// Records the origin's answer in the cart (no `If-Match`: it is the edge
/// reporting, not the client changing), and with it, under the checkout's
/// request id, the answer a retry of the checkout gets.
async fn report(carts: &impl Carts, c: &Checkout<'_>, op: Op) -> Result<CartView, EdgeError> {
    let answer = carts.mutate(c.cart, &change(c, "edge", None, op)).await?;
    if answer.status != 200 {
        let refused = String::from_utf8_lossy(&answer.body).into_owned();
        return Err(
            EdgeError::internal("the checkout's outcome could not be recorded")
                .with_cause(format!("the cart refused the outcome: {refused}")),
        );
    }
    read_view(&answer)
}

#[cfg(test)]
mod tests {
    use durable_objects::cart_api::CartKey;
    use futures::executor::block_on;
    use origin_adapter::wire::Problem;

    use super::*;
    use crate::shop::fakes::{MemoryCarts, Script, ScriptedOrigins, line, placed_order};

    fn guest() -> CartRef {
        CartRef {
            key: CartKey::Guest("g1".into()),
            jurisdiction: None,
        }
    }

    fn target() -> OrderTarget {
        OrderTarget {
            url: "https://us.example/orders".into(),
            region: "us".into(),
            claims: None,
            request_id: "r1".into(),
            traceparent: "00-0-0-01".into(),
        }
    }

    fn run(
        carts: &MemoryCarts,
        origins: &ScriptedOrigins,
        request: Option<ClientRequest>,
    ) -> Result<Outcome, EdgeError> {
        let cart = guest();
        block_on(checkout(
            carts,
            origins,
            Checkout {
                cart: &cart,
                actor: "guest",
                idle_seconds: 60,
                if_match: None,
                request,
                target: target(),
                claims: None,
                home_region: None,
                flags: "",
            },
        ))
    }

    fn key(id: &str) -> Option<ClientRequest> {
        Some(ClientRequest::from_client(
            id.into(),
            "POST",
            "/api/cart/checkout",
            b"",
        ))
    }

    #[test]
    fn an_accepted_order_checks_the_cart_out() {
        let carts = MemoryCarts::default().with_cart(&guest(), &[line("A", 2)]);
        let origins = ScriptedOrigins::new([Script::Answer(201, placed_order("ord-1"))]);
        let outcome = run(&carts, &origins, None).unwrap();
        let Outcome::Placed {
            status,
            order,
            cart,
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!((status, order["order_id"].as_str()), (201, Some("ord-1")));
        assert_eq!(
            cart.status,
            CartStatus::CheckedOut {
                order_id: "ord-1".into()
            }
        );
        assert!(carts.outbox(&guest()).is_none(), "the outbox is emptied");
        let calls = origins.calls.borrow();
        assert_eq!(calls.len(), 1);
        assert!(
            calls[0]
                .1
                .as_deref()
                .is_some_and(|k| k.starts_with("cart-g-g1-"))
        );
    }

    #[test]
    fn an_origin_that_times_out_leaves_the_order_in_the_outbox() {
        let carts = MemoryCarts::default().with_cart(&guest(), &[line("A", 1)]);
        let origins = ScriptedOrigins::new([Script::GiveUp(504)]);
        let outcome = run(&carts, &origins, None).unwrap();
        assert!(matches!(outcome, Outcome::Pending { .. }), "{outcome:?}");
        let outbox = carts.outbox(&guest()).expect("the order waits");
        assert_eq!(outbox.attempts, 1);
        assert!(matches!(
            carts.cart(&guest()).status,
            CartStatus::CheckingOut { .. }
        ));
        // The same order still running at the origin: not settled either.
        let origins = ScriptedOrigins::new([Script::StillRunning]);
        let outcome = run(&carts, &origins, None).unwrap();
        assert!(matches!(outcome, Outcome::Pending { .. }), "{outcome:?}");
        // Asked again, the same key goes out and the answer settles it.
        let origins = ScriptedOrigins::new([Script::Answer(201, placed_order("ord-7"))]);
        let outcome = run(&carts, &origins, None).unwrap();
        assert!(matches!(outcome, Outcome::Placed { status: 201, .. }));
        assert_eq!(origins.calls.borrow()[0].1, Some(outbox.order_key));
    }

    #[test]
    fn a_refused_order_reopens_the_cart_with_the_reason() {
        let carts = MemoryCarts::default().with_cart(&guest(), &[line("A", 1)]);
        let refusal = Problem::new(409, "only 0 of \"A\" left in stock").to_json();
        let origins = ScriptedOrigins::new([Script::Answer(409, refusal)]);
        let outcome = run(&carts, &origins, None).unwrap();
        assert_eq!(
            outcome,
            Outcome::Refused {
                status: 409,
                reason: "only 0 of \"A\" left in stock".into()
            }
        );
        let cart = carts.cart(&guest());
        assert_eq!(cart.status, CartStatus::Open);
        assert!(cart.notice.is_some_and(|n| n.contains("left in stock")));
    }

    #[test]
    fn an_origin_answering_twice_places_one_order_and_a_retry_replays_it() {
        let carts = MemoryCarts::default().with_cart(&guest(), &[line("A", 1)]);
        let origins = ScriptedOrigins::new([Script::Answer(201, placed_order("ord-1"))]);
        let first = run(&carts, &origins, key("k1")).unwrap();
        assert!(matches!(first, Outcome::Placed { status: 201, .. }));
        // The client retries with its key: the recorded answer, no order sent.
        let again = ScriptedOrigins::new([]);
        let replay = run(&carts, &again, key("k1")).unwrap();
        let Outcome::AsRecorded(recorded) = replay else {
            panic!("{replay:?}")
        };
        assert_eq!((recorded.status, recorded.replayed), (201, true));
        assert!(again.calls.borrow().is_empty());
        // Without a key, a second checkout finds the order already placed.
        let plain = run(&carts, &again, None).unwrap();
        assert!(matches!(plain, Outcome::Placed { status: 200, .. }));
        assert!(again.calls.borrow().is_empty());
    }

    #[test]
    fn a_cart_that_cannot_record_the_outcome_is_an_error_not_a_lie() {
        let carts = MemoryCarts::default()
            .failing_reports()
            .with_cart(&guest(), &[line("A", 1)]);
        let origins = ScriptedOrigins::new([Script::Answer(201, placed_order("ord-1"))]);
        let e = run(&carts, &origins, None).unwrap_err();
        assert_eq!(e.status(), 500);
        // The order stays in the outbox, where the alarm settles it.
        assert!(carts.outbox(&guest()).is_some());
    }

    /// `place`, as the Worker runs it: a guest with a cart cookie.
    #[test]
    fn a_checkout_is_refused_by_the_kill_switch_without_a_cart_or_with_a_bad_body() {
        use crate::shop::fakes::{CountingIds, MemoryGuard, config, incoming};
        let config = config();
        let keys = config.cart_cookie_keys().unwrap();
        let cookie = keys.set_cookie("AAAAAAAAAAAAAAAAAAAAAA");
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let cart = CartRef {
            key: CartKey::Guest("AAAAAAAAAAAAAAAAAAAAAA".into()),
            jurisdiction: None,
        };
        let carts = MemoryCarts::default().with_cart(&cart, &[line("A", 1)]);
        let (guard, ids) = (MemoryGuard::default(), CountingIds::default());
        let origins = ScriptedOrigins::new([Script::Answer(201, placed_order("ord-1"))]);
        let run = |headers: &[(&str, &str)], flags: &FlagSet, body: &[u8]| {
            let rc = incoming("POST", "/api/cart/checkout", headers);
            let case = CartCase {
                carts: &carts,
                guard: &guard,
                ids: &ids,
                rc: &rc,
                config: &config,
                now: 1_000,
                now_ms: 1_000_000,
            };
            block_on(place(&case, &origins, flags, body))
        };
        let on = FlagSet::parse(crate::flags::BUILT_IN).unwrap();
        let off = FlagSet::from_value(&serde_json::json!({"flags": {"checkout-enabled": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"
        }}}))
        .unwrap();
        let with_cart = [("cookie", cookie.as_str())];
        assert_eq!(run(&with_cart, &off, b"").unwrap_err().status(), 503);
        assert_eq!(run(&[], &on, b"").unwrap_err().status(), 404);
        let sent_json = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/json"),
        ];
        assert_eq!(run(&sent_json, &on, b"{").unwrap_err().status(), 400);
        let sent_text = [("cookie", cookie.as_str()), ("content-type", "text/plain")];
        assert_eq!(run(&sent_text, &on, b"x").unwrap_err().status(), 415);
        assert!(origins.calls.borrow().is_empty(), "no order left the edge");
        let placed = run(&with_cart, &on, b"").unwrap();
        assert_eq!(placed.status, 201);
        let sent = origins.calls.borrow();
        assert!(
            sent[0]
                .1
                .as_deref()
                .is_some_and(|k| k.starts_with("cart-g-"))
        );
    }

    #[test]
    fn an_empty_cart_is_refused_by_the_cart_itself() {
        let carts = MemoryCarts::default();
        let origins = ScriptedOrigins::new([]);
        let outcome = run(&carts, &origins, None).unwrap();
        let Outcome::AsRecorded(refused) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(refused.status, 422);
        assert!(origins.calls.borrow().is_empty());
    }
}
