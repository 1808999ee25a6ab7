//! The `CartObject` Durable Object: one per cart, its state in the object's
//! own SQLite database. A change loads, applies the pure rule from
//! [`crate::cart`], stores the cart, its audit entry, the outbox and the
//! client's request id — all in one synchronous block, so it commits
//! atomically and is stored before it is acknowledged.
//!
//! The alarm does two jobs: it retries a checkout's order from the outbox
//! until the orders origin has accepted or refused it, and it removes a
//! cart nobody touched for its idle time.

use origin_adapter::wire::{OrderLine, OrderRequest, Problem};
use serde::Deserialize;
use worker::{
    Date, DurableObject, Env, Headers, Request, Response, Result, SqlStorage, State, WebSocket,
    WebSocketIncomingMessage, durable_object,
};

use crate::body::read_call;
use crate::cart::{Cart, CartError, CartStatus, Freeze, Limits, LineHold};
use crate::cart_api::{
    CALL, CartCall, CartView, CheckoutAnswer, LIVE_SESSION, LIVE_UNTIL, LOG_ENTRIES, LogEntry,
    Mutation, Op, OrderTarget, OutboxView, REMEMBERED_REQUESTS, Verdict, expires_at_ms,
    next_alarm_ms, outbox_retry_at_ms, refusal_detail, verdict,
};
use crate::cart_holds::{self, Taken};
use crate::cart_live;
use crate::drop_api::Holding;
use crate::exchange::{Exchange, Target, send_from_object};
use crate::respond::{alarm_at, json, problem};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cart_state (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    cart            TEXT NOT NULL,
    body            TEXT NOT NULL,
    last_change_ms  INTEGER NOT NULL,
    idle_seconds    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    order_key   TEXT NOT NULL,
    body        TEXT NOT NULL,
    target      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at_ms  INTEGER NOT NULL,
    last_error  TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    request_id   TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    at_ms        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    version  INTEGER NOT NULL,
    detail   TEXT NOT NULL
);";

/// The status recorded for a request whose final answer is not known yet
/// (a checkout while its order is on its way): a retry runs again rather
/// than replaying a half-way answer.
const NOT_FINAL: i64 = 0;

/// How long one outbox attempt may take.
const OUTBOX_TIMEOUT_MS: u64 = 10_000;
/// When the edge freezes a cart it places the order itself; the outbox's
/// first own attempt waits this long in case the edge never reports back.
const EDGE_GRACE_MS: i64 = 15_000;

#[durable_object]
pub struct CartObject {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// Checked once at construction so a bad schema fails loudly, not per request.
    schema_error: Option<String>,
    /// One change at a time: a drop line's hold is taken from its stock
    /// (an await) between reading the cart and storing it, and nothing
    /// may change the cart in between.
    changing: futures::lock::Mutex<()>,
}

#[derive(Deserialize)]
struct StateRow {
    cart: String,
    body: String,
    last_change_ms: i64,
    idle_seconds: i64,
}

#[derive(Deserialize)]
struct OutboxRow {
    order_key: String,
    body: String,
    target: String,
    attempts: i64,
    next_at_ms: i64,
    last_error: Option<String>,
}

#[derive(Deserialize)]
struct RequestRow {
    fingerprint: String,
    status: u16,
    body: String,
}

/// What the object holds, loaded.
struct Loaded {
    key: Option<String>,
    cart: Cart,
    last_change_ms: i64,
    idle_seconds: i64,
    outbox: Option<OutboxRow>,
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

fn entropy<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| worker::Error::RustError(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// What a change needs from drops before it is applied: the hold a drop
/// line took, or the change as it can be made (a merge without the holds
/// that could not move).
#[derive(Default)]
struct Prepared {
    hold: Option<LineHold>,
    op: Option<Op>,
}

/// What [`CartObject::apply`] answers: status, JSON body, and whether it
/// is a recorded answer given again (`Idempotent-Replayed`).
struct Applied {
    status: u16,
    body: String,
    replayed: bool,
}

impl CartObject {
    fn load(&self) -> Result<Loaded> {
        let rows: Vec<StateRow> = self
            .sql
            .exec(
                "SELECT cart, body, last_change_ms, idle_seconds FROM cart_state",
                None,
            )?
            .to_array()?;
        let outbox: Vec<OutboxRow> = self
            .sql
            .exec(
                "SELECT order_key, body, target, attempts, next_at_ms, last_error FROM outbox",
                None,
            )?
            .to_array()?;
        let outbox = outbox.into_iter().next();
        Ok(match rows.into_iter().next() {
            // A cart not stored (never, or no more: expired) starts a new
            // life; its generation is stored with its first change.
            None => Loaded {
                key: None,
                cart: Cart::new(now_ms(), entropy()?),
                last_change_ms: 0,
                idle_seconds: 0,
                outbox,
            },
            Some(r) => Loaded {
                key: Some(r.cart),
                cart: serde_json::from_str(&r.body)?,
                last_change_ms: r.last_change_ms,
                idle_seconds: r.idle_seconds,
                outbox,
            },
        })
    }

    fn view(&self, loaded: &Loaded) -> CartView {
        let key = loaded.key.clone().unwrap_or_default();
        let mut view = CartView::of(&key, &loaded.cart);
        match loaded.key {
            Some(_) => {
                view.expires_at_ms =
                    Some(expires_at_ms(loaded.last_change_ms, loaded.idle_seconds));
            }
            // Not stored: the generation it would start with is not news.
            None => view.generation.clear(),
        }
        view.pending_order = loaded.outbox.as_ref().map(|o| OutboxView {
            order_key: o.order_key.clone(),
            region: serde_json::from_str::<OrderTarget>(&o.target)
                .map(|t| t.region)
                .unwrap_or_default(),
            attempts: o.attempts,
            next_attempt_at_ms: o.next_at_ms,
            last_error: o.last_error.clone(),
            order_body: o.body.clone(),
        });
        view
    }

    /// Sends the cart as it now stands to its live views.
    fn tell_live_views(&self) {
        match self.load() {
            Ok(loaded) => cart_live::broadcast(&self.state, &self.view(&loaded)),
            Err(e) => worker::console_warn!("cart: live views not told: {e}"),
        }
    }

    fn store(&self, key: &str, cart: &Cart, now: i64, idle_seconds: i64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO cart_state (singleton, cart, body, last_change_ms, idle_seconds)
             VALUES (1, ?, ?, ?, ?)
             ON CONFLICT (singleton) DO UPDATE SET body = excluded.body,
                 last_change_ms = excluded.last_change_ms, idle_seconds = excluded.idle_seconds",
            vec![
                key.into(),
                serde_json::to_string(cart)?.into(),
                now.into(),
                idle_seconds.into(),
            ],
        )?;
        Ok(())
    }

    fn audit(&self, now: i64, actor: &str, action: &str, version: i64, detail: &str) -> Result<()> {
        self.sql.exec(
            "INSERT INTO audit (at_ms, actor, action, version, detail) VALUES (?, ?, ?, ?, ?)",
            vec![
                now.into(),
                actor.into(),
                action.into(),
                version.into(),
                detail.into(),
            ],
        )?;
        self.sql.exec(
            "DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?",
            vec![LOG_ENTRIES.into()],
        )?;
        Ok(())
    }

    fn write_outbox(
        &self,
        order_key: &str,
        body: &str,
        target: &OrderTarget,
        next_at: i64,
    ) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO outbox (singleton, order_key, body, target, attempts, next_at_ms, last_error)
             VALUES (1, ?, ?, ?, 0, ?, NULL)",
            vec![
                order_key.into(),
                body.into(),
                serde_json::to_string(target)?.into(),
                next_at.into(),
            ],
        )?;
        Ok(())
    }

    /// The answer already recorded for `m`'s client request: the same
    /// request again (replayed), or its key reused for another (`422`).
    fn recorded(&self, m: &Mutation) -> Result<Option<Applied>> {
        let reporting = matches!(
            m.op,
            Op::Placed { .. } | Op::Refused { .. } | Op::Deferred { .. }
        );
        if let Some(request) = m.request.as_ref().filter(|_| !reporting) {
            let seen: Vec<RequestRow> = self
                .sql
                .exec(
                    "SELECT fingerprint, status, body FROM requests WHERE request_id = ?",
                    vec![request.id.as_str().into()],
                )?
                .to_array()?;
            if let Some(row) = seen.into_iter().next() {
                if row.fingerprint != request.fingerprint {
                    let p = Problem::new(
                        422,
                        "this Idempotency-Key was already used for a different request",
                    );
                    return Ok(Some(Applied {
                        status: 422,
                        body: p.to_json(),
                        replayed: false,
                    }));
                }
                if i64::from(row.status) != NOT_FINAL {
                    return Ok(Some(Applied {
                        status: row.status,
                        body: row.body,
                        replayed: true,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Applies one mutation; everything it writes is written here,
    /// synchronously.
    fn apply(&self, m: &Mutation, now: i64, taken: Option<LineHold>) -> Result<Applied> {
        let mut loaded = self.load()?;
        if loaded.key.as_deref().is_some_and(|k| k != m.cart) {
            let p = Problem::new(409, "this cart object belongs to another cart");
            return Ok(Applied {
                status: 409,
                body: p.to_json(),
                replayed: false,
            });
        }
        if let Some(recorded) = self.recorded(m)? {
            return Ok(recorded);
        }
        let outcome = self.change(&mut loaded, m, now, taken)?;
        let (status, body) = match outcome {
            Ok(None) => (200, serde_json::to_string(&self.view(&loaded))?),
            Ok(Some(detail)) => {
                let idle = m.idle_seconds.max(1);
                self.store(&m.cart, &loaded.cart, now, idle)?;
                loaded.key = Some(m.cart.clone());
                loaded.last_change_ms = now;
                loaded.idle_seconds = idle;
                self.audit(now, &m.actor, m.op.name(), loaded.cart.version, &detail)?;
                loaded.outbox = self.load()?.outbox;
                let mut view = self.view(&loaded);
                if let Op::Merge { .. } = m.op {
                    let report = detail
                        .rsplit_once(" from ")
                        .map_or(detail.as_str(), |(r, _)| r);
                    view.merge = serde_json::from_str(report).ok();
                }
                (200, serde_json::to_string(&view)?)
            }
            Err(e) => (
                e.status(),
                Problem::new(e.status(), e.to_string()).to_json(),
            ),
        };
        if let Some(request) = &m.request {
            self.remember(request, &m.op, status, &body, &loaded, now)?;
        }
        Ok(Applied {
            status,
            body,
            replayed: false,
        })
    }

    /// Records the answer a retry of `request` gets. A checkout's answer
    /// is final only once its order is settled: the freeze records a
    /// placeholder, and the outcome the edge reports (`Placed`,
    /// `Refused`, under the checkout's request) records what the client
    /// was told.
    fn remember(
        &self,
        request: &crate::cart_api::ClientRequest,
        op: &Op,
        status: u16,
        body: &str,
        loaded: &Loaded,
        now: i64,
    ) -> Result<()> {
        let (status, body) = match op {
            Op::Freeze { .. } if status == 200 => (NOT_FINAL, String::new()),
            Op::Deferred { .. } => return Ok(()),
            Op::Placed { order } if status == 200 => {
                let answer = CheckoutAnswer {
                    order: (**order).clone(),
                    cart: self.view(loaded),
                };
                (201, serde_json::to_string(&answer)?)
            }
            Op::Refused {
                status: refused,
                reason,
            } if status == 200 => (
                i64::from(*refused),
                Problem::new(*refused, refusal_detail(reason)).to_json(),
            ),
            // The outcome could not be recorded: the placeholder stays.
            Op::Placed { .. } | Op::Refused { .. } => return Ok(()),
            _ => (i64::from(status), body.to_owned()),
        };
        self.sql.exec(
            "INSERT OR REPLACE INTO requests (request_id, fingerprint, status, body, at_ms)
             VALUES (?, ?, ?, ?, ?)",
            vec![
                request.id.as_str().into(),
                request.fingerprint.as_str().into(),
                status.into(),
                body.into(),
                now.into(),
            ],
        )?;
        self.sql.exec(
            "DELETE FROM requests WHERE request_id NOT IN
               (SELECT request_id FROM requests ORDER BY at_ms DESC LIMIT ?)",
            vec![REMEMBERED_REQUESTS.into()],
        )?;
        Ok(())
    }

    /// The rule for `m.op`, with its outbox effects: the audit detail of
    /// a change, `None` when nothing changed, or why the rule refused.
    fn change(
        &self,
        loaded: &mut Loaded,
        m: &Mutation,
        now: i64,
        taken: Option<LineHold>,
    ) -> Result<std::result::Result<Option<String>, CartError>> {
        let cart = &mut loaded.cart;
        if let Err(e) = cart.check_version(m.if_match) {
            return Ok(Err(e));
        }
        let limits = Limits::default();
        let changed =
            |r: std::result::Result<(), CartError>, detail: String| r.map(|()| Some(detail));
        Ok(match &m.op {
            Op::Add { line, .. } => {
                let detail = format!(
                    "{} x{} at {}{}",
                    line.sku,
                    line.quantity,
                    line.unit_price.amount_minor,
                    if taken.is_some() { ", held" } else { "" }
                );
                let line = crate::cart::CartLine {
                    hold: taken,
                    ..line.clone()
                };
                changed(cart.add(line, limits), detail)
            }
            Op::SetQuantity { sku, quantity, .. } => {
                let result = cart.set_quantity(sku, *quantity, limits);
                // Without a hold taken (the SKU is no longer a drop's) the
                // line is an ordinary one: its old hold is given back.
                if result.is_ok()
                    && let Some(line) = cart.lines.iter_mut().find(|l| &l.sku == sku)
                {
                    line.hold = taken;
                }
                changed(result, format!("{sku} = {quantity}"))
            }
            Op::Remove { sku } => changed(cart.remove(sku), sku.clone()),
            Op::Clear => changed(cart.clear(), String::new()),
            Op::Merge {
                lines,
                from,
                refused,
            } => cart
                .merge(lines, limits)
                .map(|mut report| {
                    report.conflicts.extend(refused.iter().cloned());
                    Some(serde_json::to_string(&report).unwrap_or_default())
                })
                .map(|d| d.map(|d| format!("{d} from {from}"))),
            Op::Close => changed(cart.close(), String::new()),
            Op::Freeze { target } => {
                let version = cart.version;
                match cart.freeze(&m.cart) {
                    Ok(Freeze::Started { order_key }) => {
                        let order = OrderRequest {
                            cart_id: m.cart.clone(),
                            cart_version: version,
                            lines: cart
                                .lines
                                .iter()
                                .map(|l| OrderLine {
                                    sku: l.sku.clone(),
                                    quantity: l.quantity,
                                    unit_price: l.unit_price.clone(),
                                })
                                .collect(),
                        };
                        let body = serde_json::to_string(&order)?;
                        self.write_outbox(&order_key, &body, target, now + EDGE_GRACE_MS)?;
                        Ok(Some(format!("{order_key} to {}", target.region)))
                    }
                    // Already frozen or placed: the answer shows where it stands.
                    Ok(Freeze::Pending { .. } | Freeze::AlreadyPlaced { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Op::Placed { order } => {
                let result = changed(cart.placed(&order.order_id), order.order_id.clone());
                if result.is_ok() {
                    self.sql.exec("DELETE FROM outbox", None)?;
                }
                result
            }
            Op::Deferred { reason } => {
                if let Some(o) = &loaded.outbox {
                    let attempts = o.attempts + 1;
                    self.sql.exec(
                        "UPDATE outbox SET attempts = ?, next_at_ms = ?, last_error = ?",
                        vec![
                            attempts.into(),
                            outbox_retry_at_ms(now, attempts).into(),
                            reason.as_str().into(),
                        ],
                    )?;
                    loaded.outbox = self.load()?.outbox;
                }
                Ok(None)
            }
            Op::Refused { reason, .. } => {
                let result = changed(cart.refused(reason), reason.clone());
                if result.is_ok() {
                    self.sql.exec("DELETE FROM outbox", None)?;
                }
                result
            }
        })
    }

    async fn schedule(&self) -> Result<()> {
        let loaded = self.load()?;
        if loaded.key.is_none() {
            return Ok(());
        }
        let expires = expires_at_ms(loaded.last_change_ms, loaded.idle_seconds);
        let at = next_alarm_ms(
            expires,
            loaded.outbox.as_ref().map(|o| o.next_at_ms),
            loaded.cart.next_hold_end(),
        );
        self.state
            .storage()
            .set_alarm(alarm_at(at.max(now_ms() + 1)))
            .await
    }

    /// One attempt to hand the outbox's order to the orders origin: the
    /// same signed request the edge sends ([`crate::exchange`]), and what
    /// its answer means.
    async fn send_outbox(&self, outbox: &OutboxRow) -> Result<Verdict> {
        let target: OrderTarget = serde_json::from_str(&outbox.target)?;
        let to = Target::parse(&target.url)
            .ok_or_else(|| worker::Error::RustError(format!("bad order URL {}", target.url)))?;
        let out = target.outgoing(&to, &outbox.order_key, outbox.body.as_bytes());
        let sent = send_from_object(&self.env, &out, OUTBOX_TIMEOUT_MS).await?;
        Ok(match sent {
            Exchange::Answered {
                status,
                headers,
                body,
            } => verdict(
                status,
                &body,
                headers.iter().any(|(n, _)| n == "retry-after"),
            ),
            Exchange::TimedOut => {
                Verdict::Pending(format!("no answer within {OUTBOX_TIMEOUT_MS} ms"))
            }
            Exchange::Broken => Verdict::Pending("the answer broke off".into()),
            Exchange::Unreachable => Verdict::Pending("the orders service was unreachable".into()),
        })
    }

    /// Applies one change and answers it: `200` with the cart, a recorded
    /// answer marked replayed, or the problem that refused it.
    async fn mutate(&self, m: &Mutation) -> Result<Response> {
        let before = self.load()?.cart;
        let applied = match self.take_holds(m, &before).await? {
            Ok(prepared) => {
                let replaced = prepared.op.map(|op| Mutation { op, ..m.clone() });
                self.apply(replaced.as_ref().unwrap_or(m), now_ms(), prepared.hold)?
            }
            Err(refused) => refused,
        };
        let Applied {
            status,
            body,
            replayed,
        } = applied;
        if status == 200 && !replayed {
            self.report_holds(m, &before).await?;
            self.schedule().await?;
        }
        let headers = Headers::new();
        let content_type = if (200..300).contains(&status) {
            "application/json"
        } else {
            origin_adapter::wire::PROBLEM_JSON
        };
        headers.set("content-type", content_type)?;
        if replayed {
            headers.set("idempotent-replayed", "true")?;
        }
        Ok(Response::ok(body)?
            .with_status(status)
            .with_headers(headers))
    }

    /// Before a change is applied, the holds it needs: a drop line's units
    /// (set to what the line will hold), or a checkout's holds kept for
    /// its order. `Err` is the refusal to answer with; a change the cart's
    /// own rules refuse, or a retry, takes nothing and is answered by
    /// [`Self::apply`].
    async fn take_holds(
        &self,
        m: &Mutation,
        before: &Cart,
    ) -> Result<std::result::Result<Prepared, Applied>> {
        let refused = |status: u16, body: String| {
            Ok(Err(Applied {
                status,
                body,
                replayed: false,
            }))
        };
        if self.recorded(m)?.is_some() || before.check_version(m.if_match).is_err() {
            return Ok(Ok(Prepared::default()));
        }
        let now = now_ms();
        let mut trial = before.clone();
        let (sku, terms) = match &m.op {
            Op::Add {
                line,
                hold: Some(terms),
            } => {
                if trial.add(line.clone(), Limits::default()).is_err() {
                    return Ok(Ok(Prepared::default()));
                }
                (&line.sku, terms)
            }
            Op::SetQuantity {
                sku,
                quantity,
                hold: Some(terms),
            } => {
                if trial
                    .set_quantity(sku, *quantity, Limits::default())
                    .is_err()
                {
                    return Ok(Ok(Prepared::default()));
                }
                (sku, terms)
            }
            Op::Merge {
                lines,
                from,
                refused,
            } if lines.iter().any(|l| l.hold.is_some()) => {
                let me = self.state.id().to_string();
                let (lines, refused) = self
                    .move_holds(before, (from, &m.cart, &me), lines, refused.clone())
                    .await?;
                let op = Op::Merge {
                    lines,
                    from: from.clone(),
                    refused,
                };
                return Ok(Ok(Prepared {
                    hold: None,
                    op: Some(op),
                }));
            }
            Op::Freeze { .. } if before.status == CartStatus::Open => {
                if let Some((sku, drop)) = self.unheld_drop_line(before).await {
                    let detail = format!(
                        "{sku} is in a drop now: remove it, and add it again from the drop (/drops/{drop})"
                    );
                    return refused(409, Problem::new(409, detail).to_json());
                }
                let held = before.holds();
                if let Some(sku) = cart_holds::pin(&self.env, &m.cart, &held, now).await? {
                    let detail = format!(
                        "the hold on {sku} has ended; remove it from the cart and check out again"
                    );
                    return refused(409, Problem::new(409, detail).to_json());
                }
                return Ok(Ok(Prepared::default()));
            }
            _ => return Ok(Ok(Prepared::default())),
        };
        let quantity = trial
            .lines
            .iter()
            .find(|l| &l.sku == sku)
            .map_or(0, |l| l.quantity);
        let me = self.state.id().to_string();
        match cart_holds::take(&self.env, (&m.cart, &me), sku, quantity, terms, now).await? {
            Taken::Held(hold) => Ok(Ok(Prepared {
                hold: Some(hold),
                op: None,
            })),
            Taken::Refused(status, body) => refused(status, body),
        }
    }

    /// A line added before its SKU went into a drop not yet ended: its
    /// units were never held, and only held units are sold until an admin
    /// ends the drop (after `closes_at` too: holds taken while it was open
    /// still have their units).
    /// The drop directory unreadable is no reason to stop a checkout (the
    /// origin still checks its stock): logged, and passed.
    async fn unheld_drop_line(&self, cart: &Cart) -> Option<(String, String)> {
        for line in cart.lines.iter().filter(|l| l.hold.is_none()) {
            let key = crate::drop_api::sku_key(&line.sku);
            let read = match self.env.kv(crate::drop_api::KV_BINDING) {
                Ok(kv) => kv.get(&key).text().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let drop = match read {
                Ok(Some(text)) => serde_json::from_str::<crate::drop::DropConfig>(&text).ok(),
                Ok(None) => None,
                Err(e) => {
                    worker::console_warn!("cart: the drop directory was unreadable: {e}");
                    None
                }
            };
            if let Some(drop) = drop {
                return Some((line.sku.clone(), drop.drop_id));
            }
        }
        None
    }

    /// At login, the guest cart's drop lines come with their holds: each
    /// moved to this cart at its stock first (counting against the
    /// customer too), or left out and reported.
    async fn move_holds(
        &self,
        before: &Cart,
        (from, to, me): (&str, &str, &str),
        lines: &[crate::cart::CartLine],
        mut refused: Vec<crate::cart::MergeConflict>,
    ) -> Result<(Vec<crate::cart::CartLine>, Vec<crate::cart::MergeConflict>)> {
        let customer = match crate::cart_api::CartKey::from_short(to) {
            Some(crate::cart_api::CartKey::Customer(id)) => Some(id),
            _ => None,
        };
        let mut kept = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(hold) = &line.hold else {
                kept.push(line.clone());
                continue;
            };
            let unheld_here = before
                .lines
                .iter()
                .any(|l| l.sku == line.sku && l.hold.is_none());
            let moved = if unheld_here {
                Err("already in the cart without a drop's hold; not merged".to_owned())
            } else {
                let holders: Vec<String> = customer
                    .iter()
                    .map(|id| crate::drop_api::customer_holder(&hold.drop, id))
                    .collect();
                cart_holds::move_hold(&self.env, &hold.stock, (from, to, me), &holders).await?
            };
            match moved {
                Ok(until_ms) => kept.push(crate::cart::CartLine {
                    hold: Some(LineHold {
                        until_ms,
                        ..hold.clone()
                    }),
                    ..line.clone()
                }),
                Err(detail) => refused.push(crate::cart::MergeConflict {
                    sku: line.sku.clone(),
                    detail,
                }),
            }
        }
        Ok((kept, refused))
    }

    /// After a change is stored, its stock learns what it means for the
    /// holds: an order's units sold, or units given back.
    async fn report_holds(&self, m: &Mutation, before: &Cart) -> Result<()> {
        let after = self.load()?.cart;
        match (&m.op, &after.status) {
            (Op::Placed { .. }, CartStatus::CheckedOut { order_id }) => {
                cart_holds::sold(&self.env, &m.cart, &before.holds(), order_id).await;
            }
            _ => {
                let given_up = before.holds_given_up(&after);
                cart_holds::release(&self.env, &m.cart, &given_up).await;
            }
        }
        Ok(())
    }

    /// Removes the lines whose hold ended, and gives their units back.
    async fn end_holds(&self) -> Result<()> {
        let mut loaded = self.load()?;
        let Some(key) = loaded.key.clone() else {
            return Ok(());
        };
        let before = loaded.cart.clone();
        let ended = loaded.cart.end_holds(now_ms());
        if ended.is_empty() {
            return Ok(());
        }
        self.store(
            &key,
            &loaded.cart,
            loaded.last_change_ms,
            loaded.idle_seconds,
        )?;
        self.audit(
            now_ms(),
            "drop",
            "hold_ended",
            loaded.cart.version,
            &ended.join(","),
        )?;
        cart_holds::release(&self.env, &key, &before.holds_given_up(&loaded.cart)).await;
        self.tell_live_views();
        Ok(())
    }

    /// Retries the outbox's order if it is due.
    async fn retry_outbox(&self) -> Result<()> {
        let loaded = self.load()?;
        let (Some(outbox), Some(key)) = (loaded.outbox, loaded.key.clone()) else {
            return Ok(());
        };
        if outbox.next_at_ms > now_ms() {
            return Ok(());
        }
        let answer = self.send_outbox(&outbox).await;
        let now = now_ms();
        // The order may have been settled by the edge meanwhile.
        let current = self.load()?;
        if current.outbox.as_ref().map(|o| &o.order_key) != Some(&outbox.order_key) {
            return Ok(());
        }
        let target: Option<OrderTarget> = serde_json::from_str(&outbox.target).ok();
        let ids = target
            .map(|t| format!("request_id={} traceparent={}", t.request_id, t.traceparent))
            .unwrap_or_default();
        let settle = async |op: Op| -> Result<()> {
            let m = Mutation {
                cart: key.clone(),
                actor: "outbox".into(),
                if_match: None,
                request: None,
                idle_seconds: current.idle_seconds,
                op,
            };
            let applied = self.apply(&m, now, None)?;
            if applied.status == 200 {
                self.report_holds(&m, &current.cart).await?;
            }
            Ok(())
        };
        let outcome = answer.unwrap_or_else(|e| Verdict::Pending(e.to_string()));
        match outcome {
            Verdict::Placed(order) => {
                worker::console_log!(
                    "cart {key}: outbox order {} placed as {} after {} attempts {ids}",
                    outbox.order_key,
                    order.order_id,
                    outbox.attempts + 1
                );
                settle(Op::Placed { order }).await?;
            }
            Verdict::Refused { status, reason } => {
                worker::console_log!("cart {key}: outbox order refused: {reason} {ids}");
                settle(Op::Refused { status, reason }).await?;
            }
            // Every outcome that is not final backs off, an unreadable
            // acceptance included.
            Verdict::Pending(error) => {
                let attempts = outbox.attempts + 1;
                let next = outbox_retry_at_ms(now, attempts);
                worker::console_warn!(
                    "cart {key}: outbox attempt {attempts} failed ({error}); next in {} ms {ids}",
                    next - now
                );
                self.sql.exec(
                    "UPDATE outbox SET attempts = ?, next_at_ms = ?, last_error = ?",
                    vec![attempts.into(), next.into(), error.into()],
                )?;
            }
        }
        Ok(())
    }
}

impl DurableObject for CartObject {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self {
            state,
            env,
            sql,
            schema_error,
            changing: futures::lock::Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("cart: schema setup failed: {e}");
            return problem(500, "the cart store is unavailable");
        }
        if req.headers().get("upgrade")?.as_deref() == Some("websocket") {
            let loaded = self.load()?;
            let watcher = match req.headers().get(LIVE_SESSION)? {
                Some(session_id) => Some(cart_live::Watcher {
                    session_id,
                    until: req
                        .headers()
                        .get(LIVE_UNTIL)?
                        .and_then(|u| u.parse().ok())
                        .unwrap_or(0),
                }),
                None => None,
            };
            return cart_live::open(&self.state, &self.view(&loaded), watcher.as_ref());
        }
        let call: CartCall = match read_call(&mut req, CALL).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        match call {
            CartCall::View => {
                let loaded = self.load()?;
                json(200, &self.view(&loaded))
            }
            CartCall::Log => {
                let entries: Vec<LogEntry> = self
                    .sql
                    .exec(
                        "SELECT seq, at_ms, actor, action, version, detail FROM audit ORDER BY seq DESC",
                        None,
                    )?
                    .to_array()?;
                json(200, &serde_json::json!({ "entries": entries }))
            }
            CartCall::EndLive { session_id } => {
                let closed = cart_live::end(&self.state, &session_id);
                json(200, &serde_json::json!({ "closed": closed }))
            }
            CartCall::Holding { sku } => json(200, &Holding::of(&self.load()?.cart, &sku)),
            CartCall::Mutate(m) => {
                let answered = {
                    let _one_at_a_time = self.changing.lock().await;
                    self.mutate(&m).await?
                };
                if answered.status_code() < 300 {
                    self.tell_live_views();
                }
                Ok(answered)
            }
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let text = match &message {
            WebSocketIncomingMessage::String(text) => Some(text.as_str()),
            WebSocketIncomingMessage::Binary(_) => None,
        };
        cart_live::answer(&ws, text, || self.load().ok().map(|l| self.view(&l)));
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // The page went away: complete the closing handshake.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| (1000..5000).contains(c) && *c != 1005 && *c != 1006);
        let _ = ws.close(Some(code.unwrap_or(1000)), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_warn!("cart: a live view failed: {error}");
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let _one_at_a_time = self.changing.lock().await;
        if let Err(e) = self.end_holds().await {
            worker::console_error!("cart: ending holds failed: {e}");
        }
        if let Err(e) = self.retry_outbox().await {
            // Whatever failed, the next attempt still backs off: an alarm
            // re-armed at once would spin.
            worker::console_error!("cart: outbox retry failed: {e}");
            let now = now_ms();
            self.sql.exec(
                "UPDATE outbox SET attempts = attempts + 1,
                     next_at_ms = MAX(next_at_ms, ?), last_error = ?",
                vec![outbox_retry_at_ms(now, 6).into(), e.to_string().into()],
            )?;
        }
        let loaded = self.load()?;
        if loaded.key.is_none() {
            return Response::ok("empty");
        }
        let expires = expires_at_ms(loaded.last_change_ms, loaded.idle_seconds);
        let frozen = matches!(loaded.cart.status, CartStatus::CheckingOut { .. });
        if now_ms() >= expires && loaded.outbox.is_none() && !frozen {
            // Abandoned: everything goes, audit log included — its held
            // units back to their drops first. `deleteAll` drops the
            // tables too; this instance may serve again.
            let given_up = loaded.cart.holds_given_up(&Cart::default());
            cart_holds::release(
                &self.env,
                loaded.key.as_deref().unwrap_or_default(),
                &given_up,
            )
            .await;
            self.state.storage().delete_all().await?;
            self.sql.exec(SCHEMA, None)?;
            self.tell_live_views();
            return Response::ok("expired");
        }
        // The outbox may have placed the order: the views learn it.
        self.tell_live_views();
        self.schedule().await?;
        Response::ok("scheduled")
    }
}
