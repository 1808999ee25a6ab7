//! A drop's use cases: joining its queue and asking where one stands
//! (answered with the passes of [`crate::drops`]), the admin's
//! configure / show / end, a drop as anyone may see it (its waiting
//! room), and what an add of a drop SKU must carry.
//! The queue and each SKU's stock are objects reached through [`Drops`].

use durable_objects::drop::{
    DropConfig, DropRequest, Phase, QueueOrder, Standing, format_time, retry_after,
};
use durable_objects::drop_api::{
    DropState, HoldTerms, QueueCall, StockCall, StockCounts, TicketStatus, stock_name,
};
use origin_adapter::wire::paths;
use serde::Serialize;

use super::caller::active_session;
use super::ports::{Drops, Entropy, Guard, JsonBody, ObjectAnswer, Prices};
use super::reply::Reply;
use crate::config::EdgeConfig;
use crate::drops::{PassKeys, SoldFrom, drop_id_in, terms};
use crate::error::EdgeError;
use crate::incoming::Incoming;
use crate::request_body::parse_json;

/// Where the caller stands in a drop's queue, as the API answers it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct QueueView {
    pub drop_id: String,
    pub state: Standing,
    /// 1 = next; `0` once admitted; `null` until a random draw is made at opening.
    pub position: Option<i64>,
    /// Estimated seconds until admission (0 once admitted).
    pub estimated_wait_seconds: i64,
    /// RFC 3339.
    pub opens_at: String,
    pub closes_at: String,
    /// When the admission ends (RFC 3339), once admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_until: Option<String>,
    /// What the admission lets the caller add.
    pub skus: Vec<String>,
}

/// A drop as the admin API answers it: its configuration and live counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DropView {
    pub drop_id: String,
    pub skus: Vec<String>,
    pub opens_at: String,
    pub closes_at: String,
    pub admit_per_minute: i64,
    pub order: QueueOrder,
    pub per_customer_limit: i64,
    pub hold_seconds: i64,
    pub phase: Phase,
    /// Ended by `DELETE`.
    pub ended: bool,
    pub counts: DropCounts,
    /// Each SKU's stock.
    pub stock: Vec<StockCounts>,
}

/// A drop's live counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DropCounts {
    pub joined: i64,
    pub waiting: i64,
    pub admitted: i64,
    /// Units held in carts, over every SKU.
    pub held: i64,
    /// Units sold, over every SKU.
    pub sold: i64,
}

/// The keys that sign drop passes; a 500 (logged with the key's name)
/// when `SESSION_KEY` is not set.
pub fn pass_keys(config: &EdgeConfig) -> Result<PassKeys, EdgeError> {
    config.drop_pass_keys().ok_or_else(|| {
        EdgeError::internal("the edge is misconfigured; the operator has been told which key")
            .with_cause("drop passes need SESSION_KEY (they are signed with it)")
    })
}

/// What the drop use cases reach: the drop objects, the session guard,
/// randomness (tickets, the draw), the request, configuration and time
/// (Unix milliseconds).
pub struct DropCase<'a, D, G, I> {
    pub drops: &'a D,
    pub guard: &'a G,
    pub ids: &'a I,
    pub rc: &'a Incoming,
    pub config: &'a EdgeConfig,
    pub now_ms: i64,
}

fn object_error(answer: &ObjectAnswer) -> EdgeError {
    let detail = serde_json::from_slice::<origin_adapter::wire::Problem>(&answer.body)
        .ok()
        .and_then(|p| p.detail)
        .unwrap_or_else(|| "the drop refused".into());
    let e = EdgeError::new(answer.status, detail);
    match answer.status {
        429 => e.with_header("retry-after", "1"),
        503 => e.with_header("retry-after", "30"),
        _ => e,
    }
}

fn read<T: serde::de::DeserializeOwned>(answer: &ObjectAnswer) -> Result<T, EdgeError> {
    if answer.status >= 300 {
        return Err(object_error(answer));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        EdgeError::internal("the drop's answer could not be read").with_cause(e.to_string())
    })
}

impl<D: Drops, G: Guard, I: Entropy> DropCase<'_, D, G, I> {
    async fn customer(&self) -> Result<Option<String>, EdgeError> {
        let session = active_session(self.guard, self.rc, self.config, self.now_ms / 1000).await?;
        Ok(session.map(|s| s.sub))
    }

    async fn state(&self, drop_id: &str) -> Result<DropState, EdgeError> {
        let call = QueueCall::Show {
            now_ms: self.now_ms,
        };
        read(&self.drops.queue(drop_id, &call).await?)
    }

    /// The answer about a ticket: its view, the ticket's cookie (when it
    /// is new to this browser), an admission's cookie, `Retry-After`.
    fn standing_reply(
        &self,
        status: u16,
        standing: &TicketStatus,
        set_ticket: bool,
        customer: Option<&str>,
    ) -> Result<Reply, EdgeError> {
        let keys = pass_keys(self.config)?;
        let config = &standing.drop;
        let view = QueueView {
            drop_id: config.drop_id.clone(),
            state: standing.standing,
            position: standing.position,
            estimated_wait_seconds: standing.wait_seconds,
            opens_at: format_time(config.opens_at_ms),
            closes_at: format_time(config.closes_at_ms),
            admitted_until: standing.admitted_until_ms.map(format_time),
            skus: config.skus.clone(),
        };
        let mut reply = Reply::json(status, &view)?;
        if set_ticket {
            reply = reply.header(
                "set-cookie",
                keys.set_ticket(&config.drop_id, &standing.ticket),
            );
        }
        match (standing.standing, standing.admitted_until_ms) {
            (Standing::Waiting, _) => {
                reply = reply.header(
                    "retry-after",
                    retry_after(standing.wait_seconds).to_string(),
                );
            }
            (Standing::Admitted, Some(until_ms)) => {
                let set = keys.set_admission(
                    &config.drop_id,
                    (&standing.ticket, customer),
                    until_ms / 1000,
                    self.now_ms / 1000,
                );
                reply = reply.header("set-cookie", set);
            }
            _ => {}
        }
        Ok(reply)
    }

    /// `POST /api/drops/{drop_id}/queue`: takes a place (`202`), or finds
    /// the one this browser's ticket — or this customer — already has.
    pub async fn join(&self) -> Result<Reply, EdgeError> {
        let drop_id = drop_id_in(&self.rc.path)?;
        let keys = pass_keys(self.config)?;
        // A ticket this shop cannot read is replaced, its cookie overwritten.
        let presented = keys
            .ticket(drop_id, self.rc.cookie.as_deref())
            .unwrap_or(None);
        let customer = self.customer().await?;
        let random = self.ids.bytes()?;
        let call = QueueCall::Join {
            ticket: presented.clone(),
            fresh: crate::cart_cookie::new_cart_id(self.ids.bytes()?),
            address: crate::session::rules::address_bucket(self.rc.header("cf-connecting-ip")),
            customer: customer.clone(),
            now_ms: self.now_ms,
            draw: u32::from_be_bytes([random[0], random[1], random[2], random[3]]),
        };
        let standing: TicketStatus = read(&self.drops.queue(drop_id, &call).await?)?;
        let new_here = presented.as_deref() != Some(standing.ticket.as_str());
        self.standing_reply(202, &standing, new_here, customer.as_deref())
    }

    /// `GET /api/drops/{drop_id}/queue`: where the caller's ticket stands
    /// (`404` without one), with `Retry-After` while waiting and the
    /// admission cookie once admitted.
    pub async fn standing(&self) -> Result<Reply, EdgeError> {
        let drop_id = drop_id_in(&self.rc.path)?;
        let keys = pass_keys(self.config)?;
        let presented = keys
            .ticket(drop_id, self.rc.cookie.as_deref())
            .map_err(|e| {
                e.with_header(
                    "set-cookie",
                    crate::drops::clear_cookie(&crate::drops::ticket_cookie(drop_id)),
                )
            })?;
        let Some(ticket) = presented else {
            return Err(EdgeError::not_found(
                "you have no place in this drop's queue; join it with POST",
            ));
        };
        let customer = self.customer().await?;
        let call = QueueCall::Stand {
            ticket,
            customer: customer.clone(),
            now_ms: self.now_ms,
        };
        let standing: TicketStatus = read(&self.drops.queue(drop_id, &call).await?)?;
        // Bound to whoever asks now: a guest admitted who then logs in
        // asks again and is admitted as the customer.
        self.standing_reply(200, &standing, false, customer.as_deref())
    }

    async fn view(&self, state: DropState) -> Result<DropView, EdgeError> {
        let c = state.config;
        let mut stock = Vec::with_capacity(c.skus.len() * self.config.origins.len());
        for sku in &c.skus {
            for origin in &self.config.origins {
                let name = stock_name(sku, &origin.region);
                let counts = self.drops.stock(&name, StockCall::Counts).await?;
                stock.push(StockCounts {
                    sku: sku.clone(),
                    region: origin.region.clone(),
                    ..counts
                });
            }
        }
        let counts = DropCounts {
            joined: state.counts.joined,
            waiting: state.counts.waiting,
            admitted: state.counts.admitted,
            held: stock.iter().map(|s| s.held).sum(),
            sold: stock.iter().map(|s| s.sold).sum(),
        };
        let phase = phase_of(state.ended, &c, self.now_ms);
        Ok(DropView {
            drop_id: c.drop_id.clone(),
            skus: c.skus.clone(),
            opens_at: format_time(c.opens_at_ms),
            closes_at: format_time(c.closes_at_ms),
            admit_per_minute: c.admit_per_minute,
            order: c.order,
            per_customer_limit: c.per_customer_limit,
            hold_seconds: c.hold_seconds,
            phase,
            ended: state.ended,
            counts,
            stock,
        })
    }

    /// `PUT /admin/drops/{drop_id}`: creates (`201`) or changes (`200`) a
    /// drop. Every SKU must be in the catalog and in no other drop.
    pub async fn configure(
        &self,
        prices: &impl Prices,
        body: impl JsonBody,
    ) -> Result<Reply, EdgeError> {
        let drop_id = drop_id_in(&self.rc.path)?;
        let request: DropRequest = parse_json(&body.read().await?)?;
        let config = request
            .validate(drop_id)
            .map_err(|e| EdgeError::unprocessable(e.to_string()))?;
        if config.closes_at_ms <= self.now_ms {
            return Err(EdgeError::unprocessable(
                "closes_at: already past; a drop must still be to come or on",
            ));
        }
        for sku in &config.skus {
            match prices.product(sku).await {
                Err(e) if e.status() == 404 => {
                    return Err(EdgeError::unprocessable(format!(
                        "skus: no product {sku:?}"
                    )));
                }
                other => drop(other?),
            }
            if let Some(other) = self.drops.drop_of(sku).await?
                && other.drop_id != drop_id
            {
                let closed = if other.phase(self.now_ms) == Phase::Closed {
                    format!(
                        ", which has closed: end it (DELETE /admin/drops/{}) to free it",
                        other.drop_id
                    )
                } else {
                    String::new()
                };
                return Err(EdgeError::conflict(format!(
                    "skus: {sku:?} is already in drop {:?}{closed}",
                    other.drop_id
                )));
            }
        }
        let previous = match self.state(drop_id).await {
            Ok(state) => Some(state.config),
            Err(e) if e.status() == 404 => None,
            Err(e) => return Err(e),
        };
        let call = QueueCall::Configure {
            config: config.clone(),
            now_ms: self.now_ms,
        };
        let answer = self.drops.queue(drop_id, &call).await?;
        let state: DropState = read(&answer)?;
        if let Some(previous) = previous {
            let dropped: Vec<String> = previous
                .skus
                .iter()
                .filter(|s| !config.skus.contains(s))
                .cloned()
                .collect();
            self.drops.unpublish(&dropped).await?;
        }
        // The stock as the origins say now: a drop configured again after
        // a restock sells what was restocked.
        for sku in &config.skus {
            for origin in &self.config.origins {
                let source = format!("{}{}{sku}", origin.base_url, paths::PRODUCT_PREFIX);
                let reload = StockCall::Reload {
                    sku: sku.clone(),
                    source,
                };
                self.drops
                    .stock(&stock_name(sku, &origin.region), reload)
                    .await?;
            }
        }
        self.drops.publish(&config).await?;
        Reply::json(answer.status, &self.view(state).await?)
    }

    /// A drop as anyone may see it — its configuration and where it is in
    /// its life (`404` for no drop) — for the waiting room of a caller
    /// with no place, or one who asked again too soon. It asks about no
    /// ticket, so it is never a poll.
    pub async fn outline(&self) -> Result<(DropConfig, Phase), EdgeError> {
        let state = self.state(drop_id_in(&self.rc.path)?).await?;
        let phase = phase_of(state.ended, &state.config, self.now_ms);
        Ok((state.config, phase))
    }

    /// `GET /admin/drops/{drop_id}`: the drop and its live counts.
    pub async fn show(&self) -> Result<Reply, EdgeError> {
        let state = self.state(drop_id_in(&self.rc.path)?).await?;
        Reply::json(200, &self.view(state).await?)
    }

    /// `DELETE /admin/drops/{drop_id}`: ends the drop now; its SKUs are
    /// ordinary products again (holds already taken run their course).
    pub async fn end(&self) -> Result<Reply, EdgeError> {
        let drop_id = drop_id_in(&self.rc.path)?;
        let call = QueueCall::End {
            now_ms: self.now_ms,
        };
        let state: DropState = read(&self.drops.queue(drop_id, &call).await?)?;
        self.drops.unpublish(&state.config.skus).await?;
        Reply::json(200, &self.view(state).await?)
    }
}

/// Where a drop is at `now_ms`: an admin's end closes it whatever its
/// times say.
fn phase_of(ended: bool, config: &DropConfig, now_ms: i64) -> Phase {
    if ended {
        Phase::Closed
    } else {
        config.phase(now_ms)
    }
}

/// What adding `sku` to a cart must carry: `None` for a product in no
/// drop; for a drop SKU the hold's terms, or `403` (see
/// [`crate::drops::terms`]). `customer` is the session's, if any.
pub async fn hold_terms(
    drops: &impl Drops,
    (rc, config): (&Incoming, &EdgeConfig),
    sku: &str,
    session: Option<&crate::session::token::SessionClaims>,
    now_ms: i64,
) -> Result<Option<HoldTerms>, EdgeError> {
    let Some(drop) = drops.drop_of(sku).await? else {
        return Ok(None);
    };
    let keys = pass_keys(config)?;
    let customer = session.map(|s| s.sub.as_str());
    let admission = keys.admission(&drop.drop_id, rc.cookie.as_deref(), customer, now_ms / 1000);
    terms(
        (&drop, sku),
        admission,
        customer,
        &sold_from(rc, config, session)?,
        now_ms,
    )
}

/// The region an order of this caller goes to — as a checkout chooses
/// it — and its origin: a drop SKU's units are that origin's stock.
pub fn sold_from(
    rc: &Incoming,
    config: &EdgeConfig,
    session: Option<&crate::session::token::SessionClaims>,
) -> Result<SoldFrom, EdgeError> {
    let home = session.map(|s| s.region.as_str());
    let (region, _) = crate::forwarding::first_region(config, rc, "orders", home)?;
    let origin = config.origin(&region).unwrap_or_default().to_owned();
    Ok(SoldFrom { region, origin })
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{Catalog, CountingIds, MemoryDrops, MemoryGuard, config, incoming};

    /// 2026-12-04T17:00:00Z, in Unix milliseconds.
    const OPENS: i64 = 1_796_403_600_000;

    struct World(MemoryDrops, MemoryGuard, CountingIds, EdgeConfig);

    impl World {
        fn new() -> Self {
            World(
                MemoryDrops::default(),
                MemoryGuard::default(),
                CountingIds::default(),
                config(),
            )
        }

        fn case<'a>(
            &'a self,
            rc: &'a Incoming,
            now_ms: i64,
        ) -> DropCase<'a, MemoryDrops, MemoryGuard, CountingIds> {
            DropCase {
                drops: &self.0,
                guard: &self.1,
                ids: &self.2,
                rc,
                config: &self.3,
                now_ms,
            }
        }

        fn configure(&self, id: &str, body: serde_json::Value) -> Result<Reply, EdgeError> {
            let rc = incoming("PUT", &format!("/admin/drops/{id}"), &[]);
            let body = serde_json::to_vec(&body).unwrap();
            block_on(
                self.case(&rc, OPENS - 60_000)
                    .configure(&Catalog, body.as_slice()),
            )
        }
    }

    fn drop_body(skus: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "skus": skus, "opens_at": "2026-12-04T17:00:00Z", "closes_at": "2026-12-04T18:00:00Z",
            "admit_per_minute": 60, "order": "fifo", "per_customer_limit": 1, "hold_seconds": 300
        })
    }

    fn cookies(reply: &Reply) -> Vec<String> {
        reply
            .headers
            .iter()
            .filter(|(n, _)| *n == "set-cookie")
            .map(|(_, v)| v.split(';').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_admin_configures_a_drop_naming_what_is_wrong() {
        let world = World::new();
        let created = world.configure("winter", drop_body(&["KIT-1"])).unwrap();
        assert_eq!(created.status, 201);
        let view: DropView = serde_json::from_slice(&created.body).unwrap();
        assert_eq!(
            (view.phase, view.opens_at.as_str()),
            (Phase::Scheduled, "2026-12-04T17:00:00Z")
        );
        assert_eq!(
            world
                .configure("winter", drop_body(&["KIT-1"]))
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            world.0.published.borrow().get("KIT-1").map(String::as_str),
            Some("winter")
        );
        let taken = world
            .configure("summer", drop_body(&["KIT-1"]))
            .unwrap_err();
        assert_eq!(taken.status(), 409, "a SKU in one drop at a time");
        let unknown = world
            .configure("summer", drop_body(&["NOPE-1"]))
            .unwrap_err();
        assert_eq!(
            (unknown.status(), unknown.detail()),
            (422, "skus: no product \"NOPE-1\"")
        );
        let mut bad = drop_body(&["KIT-2"]);
        bad["admit_per_minute"] = serde_json::json!(0);
        let e = world.configure("summer", bad).unwrap_err();
        assert!(
            e.status() == 422 && e.detail().starts_with("admit_per_minute"),
            "{e:?}"
        );
        assert_eq!(
            world
                .configure("Summer", drop_body(&["KIT-2"]))
                .unwrap_err()
                .status(),
            400
        );
        // Moving a SKU out of a drop makes it ordinary again.
        world.configure("winter", drop_body(&["KIT-3"])).unwrap();
        assert!(!world.0.published.borrow().contains_key("KIT-1"));
    }

    #[test]
    fn a_join_gives_a_ticket_and_asking_again_keeps_the_place() {
        let world = World::new();
        world.configure("winter", drop_body(&["KIT-1"])).unwrap();
        let rc = incoming("POST", "/api/drops/winter/queue", &[]);
        let joined = block_on(world.case(&rc, OPENS - 30_000).join()).unwrap();
        assert_eq!(joined.status, 202);
        let view: QueueView = serde_json::from_slice(&joined.body).unwrap();
        assert_eq!(
            (view.state, view.position, view.estimated_wait_seconds),
            (Standing::Waiting, Some(1), 30)
        );
        assert!(
            joined
                .headers
                .iter()
                .any(|(n, v)| *n == "retry-after" && v == "30")
        );
        let ticket = cookies(&joined).remove(0);
        assert!(ticket.starts_with("__Host-drop-winter="));

        let rc = incoming("GET", "/api/drops/winter/queue", &[("cookie", &ticket)]);
        let open = block_on(world.case(&rc, OPENS).standing()).unwrap();
        let view: QueueView = serde_json::from_slice(&open.body).unwrap();
        assert_eq!(view.state, Standing::Admitted);
        let admission = cookies(&open).remove(0);
        assert!(admission.starts_with("__Host-admit-winter="), "{admission}");

        let rc = incoming("POST", "/api/drops/winter/queue", &[("cookie", &ticket)]);
        let again = block_on(world.case(&rc, OPENS).join()).unwrap();
        assert!(
            !cookies(&again)
                .iter()
                .any(|c| c.starts_with("__Host-drop-")),
            "the same ticket: no new cookie"
        );

        let none = incoming("GET", "/api/drops/winter/queue", &[]);
        assert_eq!(
            block_on(world.case(&none, OPENS).standing())
                .unwrap_err()
                .status(),
            404
        );
        let forged = incoming(
            "GET",
            "/api/drops/winter/queue",
            &[("cookie", "__Host-drop-winter=x.y")],
        );
        assert_eq!(
            block_on(world.case(&forged, OPENS).standing())
                .unwrap_err()
                .status(),
            400
        );
        let nowhere = incoming("POST", "/api/drops/nowhere/queue", &[]);
        assert_eq!(
            block_on(world.case(&nowhere, OPENS).join())
                .unwrap_err()
                .status(),
            404
        );

        // What an add needs: nothing for an ordinary product, the admission for a drop's.
        let both = format!("{ticket}; {admission}");
        let (with, without) = (
            incoming("POST", "/api/cart/items", &[("cookie", &both)]),
            incoming("POST", "/api/cart/items", &[("cookie", &ticket)]),
        );
        let terms = |rc: &Incoming, sku: &str| {
            block_on(hold_terms(&world.0, (rc, &world.3), sku, None, OPENS))
        };
        assert_eq!(terms(&without, "KIT-9"), Ok(None));
        assert_eq!(terms(&without, "KIT-1").unwrap_err().status(), 403);
        let held = terms(&with, "KIT-1").unwrap().unwrap();
        assert!(
            held.source.ends_with("/catalog/products/KIT-1"),
            "{}",
            held.source
        );
        assert_eq!(held.holders.len(), 1, "a guest counts by device");
    }

    #[test]
    fn anyone_may_see_a_drop_for_its_waiting_room() {
        let world = World::new();
        world.configure("winter", drop_body(&["KIT-1"])).unwrap();
        let room = incoming("GET", "/drops/winter", &[]);
        let (config, phase) = block_on(world.case(&room, OPENS - 1).outline()).unwrap();
        assert_eq!(
            (config.skus, phase),
            (vec!["KIT-1".to_owned()], Phase::Scheduled)
        );
        let (_, phase) = block_on(world.case(&room, OPENS + 3_600_000).outline()).unwrap();
        assert_eq!(phase, Phase::Closed);
        let nowhere = incoming("GET", "/drops/nowhere", &[]);
        let missing = block_on(world.case(&nowhere, OPENS).outline()).unwrap_err();
        assert_eq!(missing.status(), 404);
    }
}
