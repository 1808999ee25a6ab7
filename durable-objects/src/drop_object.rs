//! The `DropObject` Durable Object: one per drop, its queue. A ticket
//! joins once (a customer's second device finds the same place), is
//! ranked by the key it was given when it joined ([`DropConfig::rank_key`])
//! and is admitted when the pace of admission reaches its rank. Every
//! change is one synchronous block, so two joins never share a place.

use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State, durable_object};

use crate::drop::{
    ADMISSION_SECONDS, DropConfig, JOIN_WINDOW_MS, MAX_QUEUE, MIN_POLL_MS, Phase, Standing,
};
use crate::drop_api::{DropState, QUEUE_CALL, QueueCall, QueueCounts, TicketStatus};
use crate::respond::{json, problem};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS drop_state (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    config     TEXT NOT NULL,
    ended      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket         TEXT NOT NULL UNIQUE,
    customer       TEXT,
    joined_ms      INTEGER NOT NULL,
    band           INTEGER NOT NULL,
    draw           INTEGER NOT NULL,
    last_asked_ms  INTEGER NOT NULL,
    admitted_ms    INTEGER
);
CREATE INDEX IF NOT EXISTS tickets_rank ON tickets (band, draw, seq);
CREATE TABLE IF NOT EXISTS address_joins (
    address       TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    places        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets (customer);";

#[durable_object]
pub struct DropObject {
    sql: SqlStorage,
    schema_error: Option<String>,
}

#[derive(Deserialize)]
struct StateRow {
    config: String,
    ended: i64,
}

#[derive(Deserialize)]
struct TicketRow {
    seq: i64,
    ticket: String,
    customer: Option<String>,
    band: i64,
    draw: i64,
    last_asked_ms: i64,
    admitted_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

const TICKET_COLUMNS: &str = "seq, ticket, customer, band, draw, last_asked_ms, admitted_ms";

impl DropObject {
    fn state(&self) -> Result<Option<(DropConfig, bool)>> {
        let rows: Vec<StateRow> = self
            .sql
            .exec("SELECT config, ended FROM drop_state", None)?
            .to_array()?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(r) => Ok(Some((serde_json::from_str(&r.config)?, r.ended != 0))),
        }
    }

    fn count(&self, query: &str, params: Vec<worker::SqlStorageValue>) -> Result<i64> {
        let rows: Vec<Count> = self.sql.exec(query, Some(params))?.to_array()?;
        Ok(rows.first().map_or(0, |c| c.n))
    }

    fn counts(&self, config: &DropConfig, ended: bool, now: i64) -> Result<QueueCounts> {
        let joined = self.count("SELECT COUNT(*) AS n FROM tickets", vec![])?;
        let given = self.count(
            "SELECT COUNT(*) AS n FROM tickets WHERE admitted_ms IS NOT NULL",
            vec![],
        )?;
        let places = if ended {
            given
        } else {
            config.admitted_places(now).max(given)
        };
        let admitted = joined.min(places);
        Ok(QueueCounts {
            joined,
            waiting: joined - admitted,
            admitted,
        })
    }

    fn drop_state(&self, config: DropConfig, ended: bool, now: i64) -> Result<DropState> {
        let counts = self.counts(&config, ended, now)?;
        Ok(DropState {
            config,
            ended,
            counts,
        })
    }

    fn ticket(&self, column: &str, value: &str) -> Result<Option<TicketRow>> {
        let rows: Vec<TicketRow> = self
            .sql
            .exec(
                &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {column} = ?"),
                vec![value.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// Where `row` stands at `now`; the moment of its first admission is
    /// recorded, and its admission ends [`ADMISSION_SECONDS`] later.
    fn standing(
        &self,
        config: &DropConfig,
        ended: bool,
        row: &TicketRow,
        now: i64,
    ) -> Result<TicketStatus> {
        let status = |standing, position, wait_seconds, until| TicketStatus {
            ticket: row.ticket.clone(),
            standing,
            position,
            wait_seconds,
            admitted_until_ms: until,
            customer: row.customer.clone(),
            drop: config.clone(),
        };
        if ended || config.phase(now) == Phase::Closed {
            return Ok(status(Standing::Closed, None, 0, None));
        }
        let rank = self.count(
            "SELECT COUNT(*) AS n FROM tickets WHERE (band, draw, seq) <= (?, ?, ?)",
            vec![row.band.into(), row.draw.into(), row.seq.into()],
        )?;
        // Once admitted, admitted: a slower pace set later changes only
        // who comes next.
        if row.admitted_ms.is_none() && rank > config.admitted_places(now) {
            let position = rank - config.admitted_places(now);
            if !config.position_known(row.band, now) {
                // The draw's order must not show through the wait.
                let until_opening = (config.opens_at_ms - now).max(0) / 1000;
                return Ok(status(Standing::Waiting, None, until_opening, None));
            }
            let wait = config.wait_seconds(rank, now);
            return Ok(status(Standing::Waiting, Some(position), wait, None));
        }
        let admitted = match row.admitted_ms {
            Some(at) => at,
            None => {
                self.sql.exec(
                    "UPDATE tickets SET admitted_ms = ? WHERE seq = ?",
                    vec![now.into(), row.seq.into()],
                )?;
                now
            }
        };
        let until = admitted + ADMISSION_SECONDS * 1000;
        if now >= until {
            return Ok(status(Standing::Expired, None, 0, Some(until)));
        }
        Ok(status(Standing::Admitted, Some(0), 0, Some(until)))
    }

    fn configure(&self, config: DropConfig, now: i64) -> Result<Response> {
        let existing = self.state()?;
        if let Some((current, ended)) = &existing {
            if *ended {
                return problem(409, "this drop has ended; configure a new drop id");
            }
            let joined = self.count("SELECT COUNT(*) AS n FROM tickets", vec![])?;
            if joined > 0 && !current.same_queue(&config) {
                return problem(
                    409,
                    format!(
                        "{joined} people are in the queue: its order and opens_at can no longer change"
                    ),
                );
            }
        }
        self.sql.exec(
            "INSERT INTO drop_state (singleton, config, ended) VALUES (1, ?, 0)
             ON CONFLICT (singleton) DO UPDATE SET config = excluded.config",
            vec![serde_json::to_string(&config)?.into()],
        )?;
        let status = if existing.is_some() { 200 } else { 201 };
        json(status, &self.drop_state(config, false, now)?)
    }

    fn join(&self, call: Join, now: i64) -> Result<Response> {
        let Some((config, ended)) = self.state()? else {
            return problem(404, "there is no such drop");
        };
        let by_customer = match &call.customer {
            Some(customer) => self.ticket("customer", customer)?,
            None => None,
        };
        // A ticket that is another customer's is not this caller's place.
        let by_ticket = match &call.ticket {
            Some(ticket) => self
                .ticket("ticket", ticket)?
                .filter(|row| row.customer.is_none() || row.customer == call.customer),
            None => None,
        };
        let customer = call.customer.clone();
        if let Some(row) = by_customer.or(by_ticket) {
            // Joining again is asking where one stands.
            if let Some(too_soon) = self.asked(&row, now)? {
                return too_soon;
            }
            let standing = self.standing(&config, ended, &row, now)?;
            if standing.standing != Standing::Expired {
                return json(200, &standing);
            }
            // A turn that ran out is over: joining again goes to the back.
            self.sql
                .exec("DELETE FROM tickets WHERE seq = ?", vec![row.seq.into()])?;
            return self.insert(
                &config,
                ended,
                (&row.ticket, row.customer.or(customer)),
                call.draw,
                now,
            );
        }
        if ended || config.phase(now) == Phase::Closed {
            return problem(409, "this drop has closed");
        }
        if self.count("SELECT COUNT(*) AS n FROM tickets", vec![])? >= MAX_QUEUE {
            return problem(503, "the queue is full");
        }
        if let Some(wait_s) = self.count_join(&config, &call.address, now)? {
            let p = origin_adapter::wire::Problem::new(
                429,
                "too many new places from your network; wait for Retry-After",
            );
            return with_retry_after(p, wait_s);
        }
        // A presented ticket that is not this caller's is never reused.
        self.insert(&config, ended, (&call.fresh, customer), call.draw, now)
    }

    /// A ticket asks where it stands at most once per [`MIN_POLL_MS`]: the
    /// ask is recorded, or refused (`429`) when it comes too soon.
    fn asked(&self, row: &TicketRow, now: i64) -> Result<Option<Result<Response>>> {
        if now - row.last_asked_ms < MIN_POLL_MS {
            return Ok(Some(problem(429, "asked too soon; wait for Retry-After")));
        }
        self.sql.exec(
            "UPDATE tickets SET last_asked_ms = ? WHERE seq = ?",
            vec![now.into(), row.seq.into()],
        )?;
        Ok(None)
    }

    /// Counts one more new place from `address` in its window, or the
    /// seconds until the window ends when it has had its share.
    fn count_join(&self, config: &DropConfig, address: &str, now: i64) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Joins {
            window_start: i64,
            places: i64,
        }
        let rows: Vec<Joins> = self
            .sql
            .exec(
                "SELECT window_start, places FROM address_joins WHERE address = ?",
                vec![address.into()],
            )?
            .to_array()?;
        let (start, places) = match rows.first() {
            Some(j) if now - j.window_start < JOIN_WINDOW_MS => (j.window_start, j.places),
            _ => (now, 0),
        };
        if places >= config.joins_per_address {
            return Ok(Some((start + JOIN_WINDOW_MS - now).max(1_000) / 1000));
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO address_joins (address, window_start, places) VALUES (?, ?, ?)",
            vec![address.into(), start.into(), (places + 1).into()],
        )?;
        Ok(None)
    }

    /// Takes a place at the back for `ticket` (of `customer`, if known).
    fn insert(
        &self,
        config: &DropConfig,
        ended: bool,
        (ticket, customer): (&str, Option<String>),
        draw: u32,
        now: i64,
    ) -> Result<Response> {
        let (band, draw) = config.rank_key(now, draw);
        // A join's first question may follow at once.
        self.sql.exec(
            "INSERT INTO tickets (ticket, customer, joined_ms, band, draw, last_asked_ms)
             VALUES (?, ?, ?, ?, ?, 0)",
            vec![
                ticket.into(),
                customer.as_deref().into(),
                now.into(),
                band.into(),
                draw.into(),
            ],
        )?;
        let Some(row) = self.ticket("ticket", ticket)? else {
            return problem(500, "the place just taken could not be read");
        };
        json(200, &self.standing(config, ended, &row, now)?)
    }

    fn stand(&self, ticket: &str, customer: Option<&str>, now: i64) -> Result<Response> {
        let Some((config, ended)) = self.state()? else {
            return problem(404, "there is no such drop");
        };
        let Some(row) = self.ticket("ticket", ticket)? else {
            return problem(404, "this ticket has no place in the queue; join it");
        };
        if let (Some(theirs), Some(caller)) = (&row.customer, customer)
            && theirs != caller
        {
            return problem(403, "this place in the queue is another customer's");
        }
        if let Some(too_soon) = self.asked(&row, now)? {
            return too_soon;
        }
        let row = match customer {
            Some(customer)
                if row.customer.is_none() && self.ticket("customer", customer)?.is_none() =>
            {
                self.sql.exec(
                    "UPDATE tickets SET customer = ? WHERE seq = ?",
                    vec![customer.into(), row.seq.into()],
                )?;
                TicketRow {
                    customer: Some(customer.to_owned()),
                    ..row
                }
            }
            _ => row,
        };
        json(200, &self.standing(&config, ended, &row, now)?)
    }
}

struct Join {
    ticket: Option<String>,
    fresh: String,
    address: String,
    customer: Option<String>,
    draw: u32,
}

impl DurableObject for DropObject {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self { sql, schema_error }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("drop: schema setup failed: {e}");
            return problem(500, "the drop queue is unavailable");
        }
        let call: QueueCall = match crate::body::read_call(&mut req, QUEUE_CALL).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        match call {
            QueueCall::Configure { config, now_ms } => self.configure(config, now_ms),
            QueueCall::Show { now_ms } => match self.state()? {
                Some((config, ended)) => json(200, &self.drop_state(config, ended, now_ms)?),
                None => problem(404, "there is no such drop"),
            },
            QueueCall::End { now_ms } => match self.state()? {
                Some((config, _)) => {
                    // Whoever was admitted by now keeps the count; no more are.
                    let places = config.admitted_places(now_ms);
                    self.sql.exec(
                        "UPDATE tickets SET admitted_ms = COALESCE(admitted_ms, ?)
                         WHERE seq IN (SELECT seq FROM tickets ORDER BY band, draw, seq LIMIT ?)",
                        vec![now_ms.into(), places.into()],
                    )?;
                    self.sql.exec("UPDATE drop_state SET ended = 1", None)?;
                    json(200, &self.drop_state(config, true, now_ms)?)
                }
                None => problem(404, "there is no such drop"),
            },
            QueueCall::Join {
                ticket,
                fresh,
                address,
                customer,
                now_ms,
                draw,
            } => self.join(
                Join {
                    ticket,
                    fresh,
                    address,
                    customer,
                    draw,
                },
                now_ms,
            ),
            QueueCall::Stand {
                ticket,
                customer,
                now_ms,
            } => self.stand(&ticket, customer.as_deref(), now_ms),
        }
    }
}

/// A problem answered with `Retry-After: wait_s`.
fn with_retry_after(p: origin_adapter::wire::Problem, wait_s: i64) -> Result<Response> {
    let headers = worker::Headers::new();
    headers.set("content-type", origin_adapter::wire::PROBLEM_JSON)?;
    headers.set("retry-after", &wait_s.to_string())?;
    Ok(Response::ok(p.to_json())?
        .with_status(p.status)
        .with_headers(headers))
}
