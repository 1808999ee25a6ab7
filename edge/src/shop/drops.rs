//! A drop's use cases: joining its queue and asking where one stands
//! (answered with the passes of [`crate::drops`]), the admin's
//! configure / show / end, and what an add of a drop SKU must carry.
//! The queue and each SKU's stock are objects reached through [`Drops`].

use durable_objects::drop::{
    DropConfig, DropRequest, Phase, QueueOrder, Standing, format_time, retry_after,
};
use durable_objects::drop_api::{DropState, HoldTerms, QueueCall, StockCounts, TicketStatus};
use origin_adapter::wire::paths;
use serde::Serialize;

use super::caller::active_session;
use super::ports::{Drops, Entropy, Guard, JsonBody, ObjectAnswer, Prices};
use super::reply::Reply;
use crate::config::EdgeConfig;
use crate::drops::{PassKeys, drop_id_in, terms};
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
        config: &DropConfig,
        standing: &TicketStatus,
        set_ticket: bool,
        customer: Option<&str>,
    ) -> Result<Reply, EdgeError> {
        let keys = pass_keys(self.config)?;
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
        let presented = keys.ticket(drop_id, self.rc.cookie.as_deref())?;
        let customer = self.customer().await?;
        let ticket = match &presented {
            Some(ticket) => ticket.clone(),
            None => crate::cart_cookie::new_cart_id(self.ids.bytes()?),
        };
        let random = self.ids.bytes()?;
        let call = QueueCall::Join {
            ticket,
            customer: customer.clone(),
            now_ms: self.now_ms,
            draw: u32::from_be_bytes([random[0], random[1], random[2], random[3]]),
        };
        let standing: TicketStatus = read(&self.drops.queue(drop_id, &call).await?)?;
        let state = self.state(drop_id).await?;
        let new_here = presented.as_deref() != Some(standing.ticket.as_str());
        self.standing_reply(202, &state.config, &standing, new_here, customer.as_deref())
    }

    /// `GET /api/drops/{drop_id}/queue`: where the caller's ticket stands
    /// (`404` without one), with `Retry-After` while waiting and the
    /// admission cookie once admitted.
    pub async fn standing(&self) -> Result<Reply, EdgeError> {
        let drop_id = drop_id_in(&self.rc.path)?;
        let keys = pass_keys(self.config)?;
        let Some(ticket) = keys.ticket(drop_id, self.rc.cookie.as_deref())? else {
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
        let state = self.state(drop_id).await?;
        // Bound to whoever asks now: a guest admitted who then logs in
        // asks again and is admitted as the customer.
        self.standing_reply(200, &state.config, &standing, false, customer.as_deref())
    }

    async fn view(&self, state: DropState) -> Result<DropView, EdgeError> {
        let c = state.config;
        let mut stock = Vec::with_capacity(c.skus.len());
        for sku in &c.skus {
            let counts = self.drops.stock(&c.drop_id, sku).await?;
            stock.push(StockCounts {
                sku: sku.clone(),
                ..counts
            });
        }
        let counts = DropCounts {
            joined: state.counts.joined,
            waiting: state.counts.waiting,
            admitted: state.counts.admitted,
            held: stock.iter().map(|s| s.held).sum(),
            sold: stock.iter().map(|s| s.sold).sum(),
        };
        let phase = if state.ended {
            Phase::Closed
        } else {
            c.phase(self.now_ms)
        };
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
                return Err(EdgeError::conflict(format!(
                    "skus: {sku:?} is already in drop {:?}",
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
        self.drops.publish(&config).await?;
        Reply::json(answer.status, &self.view(state).await?)
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

/// What adding `sku` to a cart must carry: `None` for a product in no
/// drop; for a drop SKU the hold's terms, or `403` (see
/// [`crate::drops::terms`]). `customer` is the session's, if any.
pub async fn hold_terms(
    drops: &impl Drops,
    (rc, config): (&Incoming, &EdgeConfig),
    sku: &str,
    customer: Option<&str>,
    now_ms: i64,
) -> Result<Option<HoldTerms>, EdgeError> {
    let Some(drop) = drops.drop_of(sku).await? else {
        return Ok(None);
    };
    let keys = pass_keys(config)?;
    let admission = keys.admission(&drop.drop_id, rc.cookie.as_deref(), customer, now_ms / 1000);
    let source = format!("{}{}{sku}", config.default_origin(), paths::PRODUCT_PREFIX);
    terms(&drop, admission, customer, source, now_ms).map(Some)
}
