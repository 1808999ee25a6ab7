//! In-memory stand-ins for the ports, for the use cases' unit tests. The
//! cart fake applies the same pure rules as the cart object
//! ([`durable_objects::cart`]) and answers in its shapes; the origin fake
//! answers from a script and counts what it was sent.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use durable_objects::cart::{Cart, CartLine, Freeze, Limits};
use durable_objects::cart_api::{CartView, Mutation, Op, OutboxView};
use origin_adapter::wire::{Money, Order, Payment, Problem};

use super::ports::{CartRef, Carts, ObjectAnswer, OriginAnswer, OriginCall, Origins};
use crate::error::EdgeError;

/// One cart object: the cart, its outbox and the answers it recorded.
#[derive(Default)]
struct Object {
    cart: Cart,
    outbox: Option<OutboxView>,
    requests: HashMap<String, (String, u16, Vec<u8>)>,
}

/// Cart objects in memory, by object name. `fail_reports` makes every
/// report of an order's outcome fail, as a cart object that is down would.
#[derive(Default)]
pub struct MemoryCarts {
    objects: RefCell<HashMap<String, Object>>,
    pub ops: RefCell<Vec<&'static str>>,
    /// The live views closed: (cart, session id).
    pub ended_live: RefCell<Vec<(String, String)>>,
    pub fail_reports: bool,
    pub fail_merges: bool,
}

pub fn line(sku: &str, quantity: i64) -> CartLine {
    CartLine {
        sku: sku.into(),
        name: sku.into(),
        unit_price: Money {
            amount_minor: 1000,
            currency: "USD".into(),
        },
        quantity,
        hold: None,
    }
}

impl MemoryCarts {
    /// Every report of an order's outcome fails.
    pub fn failing_reports(mut self) -> Self {
        self.fail_reports = true;
        self
    }

    /// Every merge fails.
    pub fn failing_merges(mut self) -> Self {
        self.fail_merges = true;
        self
    }

    /// A cart holding `lines`, as if added.
    pub fn with_cart(self, cart: &CartRef, lines: &[CartLine]) -> Self {
        let mut object = Object::default();
        for l in lines {
            let _ = object.cart.add(l.clone(), Limits::default());
        }
        self.objects.borrow_mut().insert(cart.key.name(), object);
        self
    }

    pub fn cart(&self, cart: &CartRef) -> Cart {
        self.objects
            .borrow()
            .get(&cart.key.name())
            .map(|o| o.cart.clone())
            .unwrap_or_default()
    }

    pub fn outbox(&self, cart: &CartRef) -> Option<OutboxView> {
        self.objects
            .borrow()
            .get(&cart.key.name())
            .and_then(|o| o.outbox.clone())
    }
}

fn answer(status: u16, body: String) -> ObjectAnswer {
    ObjectAnswer {
        status,
        body: body.into_bytes(),
        replayed: false,
    }
}

fn view_of(name: &str, o: &Object) -> CartView {
    let mut view = CartView::of(name, &o.cart);
    view.pending_order = o.outbox.clone();
    view
}

impl Carts for MemoryCarts {
    async fn end_live(&self, cart: &CartRef, session_id: &str) -> Result<(), EdgeError> {
        self.ops.borrow_mut().push("end_live");
        self.ended_live
            .borrow_mut()
            .push((cart.key.name(), session_id.to_owned()));
        Ok(())
    }

    async fn mutate(&self, cart: &CartRef, m: &Mutation) -> Result<ObjectAnswer, EdgeError> {
        self.ops.borrow_mut().push(m.op.name());
        let reporting = matches!(
            m.op,
            Op::Placed { .. } | Op::Refused { .. } | Op::Deferred { .. }
        );
        if (reporting && self.fail_reports)
            || (matches!(m.op, Op::Merge { .. }) && self.fail_merges)
        {
            return Err(EdgeError::internal("the cart object is down"));
        }
        let mut objects = self.objects.borrow_mut();
        let o = objects.entry(cart.key.name()).or_default();
        if let Some(r) = m.request.as_ref().filter(|_| !reporting)
            && let Some((fingerprint, status, body)) = o.requests.get(&r.id)
        {
            if *fingerprint != r.fingerprint {
                return Ok(answer(422, Problem::new(422, "key reused").to_json()));
            }
            if *status != 0 {
                return Ok(ObjectAnswer {
                    status: *status,
                    body: body.clone(),
                    replayed: true,
                });
            }
        }
        if let Err(e) = o.cart.check_version(m.if_match) {
            return Ok(answer(
                e.status(),
                Problem::new(e.status(), e.to_string()).to_json(),
            ));
        }
        let mut merge_report = None;
        let result = match &m.op {
            Op::Add { line, .. } => o.cart.add(line.clone(), Limits::default()),
            Op::Merge { lines, .. } => o
                .cart
                .merge(lines, Limits::default())
                .map(|report| merge_report = Some(report)),
            Op::Close => o.cart.close(),
            Op::Freeze { target } => match o.cart.freeze(&m.cart) {
                Ok(Freeze::Started { order_key }) => {
                    o.outbox = Some(OutboxView {
                        order_key,
                        region: target.region.clone(),
                        attempts: 0,
                        next_attempt_at_ms: 0,
                        last_error: None,
                        order_body: format!("{{\"cart\":\"{}\"}}", m.cart),
                    });
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            Op::Placed { order } => o.cart.placed(&order.order_id).map(|()| o.outbox = None),
            Op::Refused { reason, .. } => o.cart.refused(reason).map(|()| o.outbox = None),
            Op::Deferred { reason } => {
                if let Some(outbox) = &mut o.outbox {
                    outbox.attempts += 1;
                    outbox.last_error = Some(reason.clone());
                }
                Ok(())
            }
            other => panic!("the fake does not know {}", other.name()),
        };
        let name = m.cart.clone();
        let reply = match result {
            Ok(()) => {
                let mut view = view_of(&name, o);
                view.merge = merge_report;
                answer(200, serde_json::to_string(&view).unwrap_or_default())
            }
            Err(e) => answer(
                e.status(),
                Problem::new(e.status(), e.to_string()).to_json(),
            ),
        };
        if let Some(r) = &m.request {
            let status = match (&m.op, reply.status) {
                (Op::Freeze { .. }, 200) => 0,
                (Op::Deferred { .. }, _) => return Ok(reply),
                (Op::Placed { .. }, 200) => 201,
                _ => reply.status,
            };
            o.requests.insert(
                r.id.clone(),
                (r.fingerprint.clone(), status, reply.body.clone()),
            );
        }
        Ok(reply)
    }

    async fn view(&self, cart: &CartRef) -> Result<CartView, EdgeError> {
        let objects = self.objects.borrow();
        Ok(match objects.get(&cart.key.name()) {
            Some(o) => view_of(&cart.key.short(), o),
            None => CartView::of("", &Cart::default()),
        })
    }
}

/// What an origin does with one request, in order.
#[derive(Debug, Clone)]
pub enum Script {
    Answer(u16, String),
    /// An answer that says "the same key is still running".
    StillRunning,
    /// The edge gave up (timeout, unreachable): this error.
    GiveUp(u16),
}

/// One call an origin received: path, idempotency key, body.
pub type Received = (String, Option<String>, Vec<u8>);

/// Origins answering from a script; every call is recorded.
#[derive(Default)]
pub struct ScriptedOrigins {
    script: RefCell<VecDeque<Script>>,
    pub calls: RefCell<Vec<Received>>,
}

impl ScriptedOrigins {
    pub fn new(script: impl IntoIterator<Item = Script>) -> Self {
        Self {
            script: RefCell::new(script.into_iter().collect()),
            calls: RefCell::default(),
        }
    }
}

/// A placed order, as the orders origin answers it.
pub fn placed_order(order_id: &str) -> String {
    let usd = |amount_minor| Money {
        amount_minor,
        currency: "USD".into(),
    };
    serde_json::to_string(&Order {
        order_id: order_id.into(),
        status: "placed".into(),
        region: "us".into(),
        cart_id: "g-1".into(),
        lines: vec![],
        subtotal: usd(1000),
        promotion: None,
        discount: usd(0),
        tax: usd(73),
        total: usd(1073),
        payment: Payment {
            payment_id: "pay-1".into(),
            status: "captured".into(),
            amount: usd(1073),
        },
    })
    .unwrap_or_default()
}

impl Origins for ScriptedOrigins {
    async fn call(&self, call: OriginCall<'_>) -> Result<OriginAnswer, EdgeError> {
        self.calls.borrow_mut().push((
            call.path.to_owned(),
            call.idempotency_key.map(str::to_owned),
            call.body.unwrap_or_default().to_vec(),
        ));
        let step = self.script.borrow_mut().pop_front();
        let (status, body, headers) = match step {
            Some(Script::Answer(status, body)) => (status, body, vec![]),
            Some(Script::StillRunning) => (
                409,
                Problem::new(409, "still running").to_json(),
                vec![("retry-after".to_owned(), "1".to_owned())],
            ),
            Some(Script::GiveUp(status)) => {
                return Err(EdgeError::new(status, "the orders service did not answer"));
            }
            None => return Err(EdgeError::gateway_timeout("nothing more was scripted")),
        };
        Ok(OriginAnswer {
            status,
            headers,
            body: body.into_bytes(),
            region: "us".into(),
        })
    }
}

/// A session guard in memory: counts per key, revocations, and how often
/// places were given back.
#[derive(Default)]
pub struct MemoryGuard {
    pub failures: RefCell<HashMap<String, i64>>,
    pub released: RefCell<u32>,
    pub revoked: RefCell<Vec<String>>,
}

impl super::ports::Guard for MemoryGuard {
    async fn reserve(
        &self,
        key: &str,
        limit: durable_objects::guard::Limit,
        _now: i64,
    ) -> Result<durable_objects::guard_api::LoginVerdict, EdgeError> {
        let mut failures = self.failures.borrow_mut();
        let count = failures.entry(key.to_owned()).or_default();
        let allowed = *count < limit.max;
        if allowed {
            *count += 1;
        }
        Ok(durable_objects::guard_api::LoginVerdict {
            allowed,
            retry_after: if allowed { 0 } else { 60 },
            window_start: 0,
        })
    }

    async fn release(&self, key: &str, _window_start: i64) -> Result<(), EdgeError> {
        if let Some(n) = self.failures.borrow_mut().get_mut(key) {
            *n -= 1;
        }
        *self.released.borrow_mut() += 1;
        Ok(())
    }

    async fn revoke(&self, sid: &str, _until: i64) -> Result<(), EdgeError> {
        self.revoked.borrow_mut().push(sid.to_owned());
        Ok(())
    }

    async fn is_revoked(&self, sid: &str) -> Result<bool, EdgeError> {
        Ok(self.revoked.borrow().iter().any(|s| s == sid))
    }
}

/// A catalog of every `KIT-…` SKU ("Kit", $81.99, 3 in stock); any other is `404`.
pub struct Catalog;

impl super::ports::Prices for Catalog {
    async fn product(&self, sku: &str) -> Result<origin_adapter::wire::Product, EdgeError> {
        if !sku.starts_with("KIT-") {
            return Err(EdgeError::not_found("no such product"));
        }
        Ok(origin_adapter::wire::Product {
            sku: sku.to_owned(),
            name: "Kit".into(),
            description: String::new(),
            category: "kits".into(),
            price: Money {
                amount_minor: 8199,
                currency: "USD".into(),
            },
            stock: 3,
        })
    }
}

/// Identifiers counting up: `id-1`, `id-2`, …
#[derive(Default)]
pub struct CountingIds(RefCell<u32>);

impl super::ports::Entropy for CountingIds {
    fn id(&self) -> Result<String, EdgeError> {
        let mut n = self.0.borrow_mut();
        *n += 1;
        Ok(format!("id-{n}"))
    }

    fn bytes(&self) -> Result<[u8; 16], EdgeError> {
        let mut n = self.0.borrow_mut();
        *n += 1;
        Ok([*n as u8; 16])
    }
}

/// The test configuration, with sessions (a fixed `SESSION_KEY`).
pub fn config() -> crate::config::EdgeConfig {
    crate::config::for_tests_with(&[("SESSION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")])
}

/// A request to `https://shop.example{path}` with `headers`.
pub fn incoming(method: &str, path: &str, headers: &[(&str, &str)]) -> crate::incoming::Incoming {
    crate::incoming::Incoming::parse(
        method.to_owned(),
        &format!("https://shop.example{path}"),
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        crate::forwarding::region::Location::default(),
        ([0; 16], [1; 16], [2; 8]),
    )
    .unwrap()
}

/// A `Cookie` header carrying a session of `user` (region `us`) issued
/// at Unix second `now`, and the session's id.
pub fn session_cookie(
    config: &crate::config::EdgeConfig,
    user: &str,
    now: i64,
) -> (String, String) {
    let claims = crate::session::token::SessionClaims {
        sub: user.to_owned(),
        roles: vec![],
        region: "us".into(),
        sid: format!("sid-{user}"),
        iat: now,
        idle_exp: now + 3600,
        exp: now + 86_400,
    };
    let keys = config.session_keys.as_ref().unwrap();
    let token = keys.seal(&claims).unwrap();
    (
        format!("{}={token}", crate::session::rules::SESSION_COOKIE),
        claims.sid,
    )
}

/// A body whose read fails as a wrong media type would (`415`): a use case
/// that refuses for another reason first never reads it.
pub struct Unreadable;

impl super::ports::JsonBody for Unreadable {
    async fn read(self) -> Result<Vec<u8>, EdgeError> {
        Err(EdgeError::unsupported_media_type(
            "the body must be application/json",
        ))
    }
}

/// A drop's configuration and its tickets: (ticket, customer).
type MemoryQueue = (
    durable_objects::drop::DropConfig,
    Vec<(String, Option<String>)>,
);

/// Drops in memory: each drop's configuration and its queue's tickets in
/// the order they joined (a `fifo` queue, ranked by the real rules).
#[derive(Default)]
pub struct MemoryDrops {
    drops: RefCell<HashMap<String, MemoryQueue>>,
    /// The directory every isolate reads: SKU → drop id.
    pub published: RefCell<HashMap<String, String>>,
}

impl super::ports::Drops for MemoryDrops {
    async fn drop_of(
        &self,
        sku: &str,
    ) -> Result<Option<durable_objects::drop::DropConfig>, EdgeError> {
        let published = self.published.borrow();
        let Some(id) = published.get(sku) else {
            return Ok(None);
        };
        Ok(self.drops.borrow().get(id).map(|(c, _)| c.clone()))
    }

    async fn queue(
        &self,
        drop_id: &str,
        call: &durable_objects::drop_api::QueueCall,
    ) -> Result<ObjectAnswer, EdgeError> {
        use durable_objects::drop::Standing;
        use durable_objects::drop_api::{DropState, QueueCall, QueueCounts, TicketStatus};
        let mut drops = self.drops.borrow_mut();
        let json = |status: u16, body: &dyn erased::Body| ObjectAnswer {
            status,
            body: body.bytes(),
            replayed: false,
        };
        let missing = || {
            Ok(ObjectAnswer {
                status: 404,
                body: Problem::new(404, "there is no such drop")
                    .to_json()
                    .into_bytes(),
                replayed: false,
            })
        };
        let state = |c: &durable_objects::drop::DropConfig, joined: usize, now: i64| DropState {
            config: c.clone(),
            ended: false,
            counts: QueueCounts {
                joined: joined as i64,
                waiting: (joined as i64 - c.admitted_places(now)).max(0),
                admitted: (joined as i64).min(c.admitted_places(now)),
            },
        };
        match call {
            QueueCall::Configure { config, now_ms } => {
                let status = if drops.contains_key(drop_id) {
                    200
                } else {
                    201
                };
                let tickets = drops.remove(drop_id).map(|(_, t)| t).unwrap_or_default();
                let body = state(config, tickets.len(), *now_ms);
                drops.insert(drop_id.to_owned(), (config.clone(), tickets));
                Ok(json(status, &body))
            }
            QueueCall::Show { now_ms } | QueueCall::End { now_ms } => match drops.get(drop_id) {
                Some((c, t)) => Ok(json(200, &state(c, t.len(), *now_ms))),
                None => missing(),
            },
            QueueCall::Join { now_ms, .. } | QueueCall::Stand { now_ms, .. }
                if drops.contains_key(drop_id) =>
            {
                let (config, tickets) = drops.get_mut(drop_id).expect("checked");
                let (presented, fresh, customer) = match call {
                    QueueCall::Join {
                        ticket,
                        fresh,
                        customer,
                        ..
                    } => (ticket.clone(), Some(fresh.clone()), customer.clone()),
                    QueueCall::Stand { ticket, .. } => (Some(ticket.clone()), None, None),
                    _ => (None, None, None),
                };
                let found = tickets.iter().position(|(t, c)| {
                    Some(t) == presented.as_ref() || (c.is_some() && *c == customer)
                });
                let index = match (found, fresh) {
                    (Some(i), _) => i,
                    (None, Some(fresh)) => {
                        tickets.push((fresh, customer));
                        tickets.len() - 1
                    }
                    (None, None) => return missing(),
                };
                let rank = index as i64 + 1;
                let admitted = rank <= config.admitted_places(*now_ms);
                let status = TicketStatus {
                    ticket: tickets[index].0.clone(),
                    standing: if admitted {
                        Standing::Admitted
                    } else {
                        Standing::Waiting
                    },
                    position: Some(if admitted {
                        0
                    } else {
                        rank - config.admitted_places(*now_ms)
                    }),
                    wait_seconds: config.wait_seconds(rank, *now_ms),
                    admitted_until_ms: admitted.then_some(now_ms + 600_000),
                    customer: tickets[index].1.clone(),
                    drop: config.clone(),
                };
                Ok(json(200, &status))
            }
            _ => missing(),
        }
    }

    async fn stock(
        &self,
        name: &str,
        _call: durable_objects::drop_api::StockCall,
    ) -> Result<durable_objects::drop_api::StockCounts, EdgeError> {
        Ok(durable_objects::drop_api::StockCounts {
            sku: name.split('@').next().unwrap_or_default().to_owned(),
            ..Default::default()
        })
    }

    async fn publish(&self, drop: &durable_objects::drop::DropConfig) -> Result<(), EdgeError> {
        for sku in &drop.skus {
            self.published
                .borrow_mut()
                .insert(sku.clone(), drop.drop_id.clone());
        }
        Ok(())
    }

    async fn unpublish(&self, skus: &[String]) -> Result<(), EdgeError> {
        for sku in skus {
            self.published.borrow_mut().remove(sku);
        }
        Ok(())
    }
}

/// Serialising through `&dyn`, for the fakes' answers.
mod erased {
    pub trait Body {
        fn bytes(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Body for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}
