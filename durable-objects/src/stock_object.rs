//! The `StockObject` Durable Object: one per SKU and region (the origin
//! that places its orders), whichever drop it is in — the single writer of
//! its units. Its stock is read from the catalog origin the first time
//! a unit is held (and again whenever its drop is configured); from then on every unit is free, held by one cart, or
//! sold, and [`decide_hold`] runs over the stored counts in one
//! synchronous block — so exactly the stock is ever held, however many
//! carts ask at once.
//!
//! A hold ends by time: when `hold_seconds` pass, the alarm asks the cart
//! what it still holds ([`Holding`]) and keeps, pins (a checkout on its
//! way), sells or releases accordingly. The cart also reports each change
//! as it happens; the alarm is what makes that at-least-once.

use origin_adapter::forward::EdgeContext;
use origin_adapter::wire::Product;
use serde::Deserialize;
use worker::{
    Date, DurableObject, Env, Request, Response, Result, SqlStorage, State, durable_object,
};

use crate::calls::{Address, call};
use crate::cart_api::{CALL as CART_CALL, CartCall};
use crate::drop::{CHECKOUT_PIN_MS, decide_hold};
use crate::drop_api::{Hold, HoldAnswer, Holding, STOCK_CALL, StockCall, StockCounts};
use crate::exchange::{Exchange, Outgoing, Target, send_from_object};
use crate::respond::{alarm_at, json, problem};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stock (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    sku        TEXT NOT NULL,
    total      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS holds (
    cart          TEXT PRIMARY KEY,
    cart_object   TEXT NOT NULL,
    quantity      INTEGER NOT NULL,
    holders       TEXT NOT NULL,
    until_ms      INTEGER NOT NULL,
    checking_out  INTEGER NOT NULL,
    hold_limit    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sold (
    order_id  TEXT PRIMARY KEY,
    cart      TEXT NOT NULL,
    quantity  INTEGER NOT NULL,
    holders   TEXT NOT NULL
);";

/// How long reading the stock from the origin may take.
const SOURCE_TIMEOUT_MS: u64 = 5_000;
/// When asking a cart about its hold fails during a checkout, ask again after this.
const ASK_AGAIN_MS: i64 = 30_000;

#[durable_object]
pub struct StockObject {
    state: State,
    env: Env,
    sql: SqlStorage,
    schema_error: Option<String>,
}

#[derive(Deserialize)]
struct StockRow {
    sku: String,
    total: i64,
}

#[derive(Deserialize)]
struct HoldRow {
    cart: String,
    cart_object: String,
    quantity: i64,
    holders: String,
    until_ms: i64,
    checking_out: i64,
    hold_limit: i64,
}

#[derive(Deserialize)]
struct HolderRow {
    cart: String,
    quantity: i64,
}

#[derive(Deserialize)]
struct Sum {
    n: Option<i64>,
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

impl StockObject {
    fn stock(&self) -> Result<Option<StockRow>> {
        let rows: Vec<StockRow> = self
            .sql
            .exec("SELECT sku, total FROM stock", None)?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    fn sum(&self, query: &str, params: Vec<worker::SqlStorageValue>) -> Result<i64> {
        let rows: Vec<Sum> = self.sql.exec(query, params)?.to_array()?;
        Ok(rows.first().and_then(|s| s.n).unwrap_or(0))
    }

    fn hold_of(&self, cart: &str) -> Result<Option<HoldRow>> {
        let rows: Vec<HoldRow> = self
            .sql
            .exec(
                "SELECT cart, cart_object, quantity, holders, until_ms, checking_out, hold_limit
                 FROM holds WHERE cart = ?",
                vec![cart.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// Stores `row` as the cart's whole hold.
    fn put(&self, row: &HoldRow) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO holds
                 (cart, cart_object, quantity, holders, until_ms, checking_out, hold_limit)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                row.cart.as_str().into(),
                row.cart_object.as_str().into(),
                row.quantity.into(),
                row.holders.as_str().into(),
                row.until_ms.into(),
                row.checking_out.into(),
                row.hold_limit.into(),
            ],
        )?;
        Ok(())
    }

    fn counts(&self) -> Result<StockCounts> {
        let stock = self.stock()?;
        let held = self.sum("SELECT SUM(quantity) AS n FROM holds", vec![])?;
        let sold = self.sum("SELECT SUM(quantity) AS n FROM sold", vec![])?;
        Ok(StockCounts {
            sku: stock.as_ref().map(|s| s.sku.clone()).unwrap_or_default(),
            region: String::new(),
            stock: stock.as_ref().map(|s| s.total),
            held,
            sold,
            available: stock.map(|s| (s.total - held - sold).max(0)),
        })
    }

    /// The product's stock as the origin at `source` says now.
    async fn read_origin(&self, source: &str) -> Result<std::result::Result<i64, String>> {
        let Some(target) = Target::parse(source) else {
            return Ok(Err(format!("{source} is not a URL")));
        };
        let out = Outgoing {
            method: "GET",
            target: &target,
            body: b"",
            idempotency_key: None,
            context: EdgeContext::default(),
        };
        Ok(
            match send_from_object(&self.env, &out, SOURCE_TIMEOUT_MS).await? {
                Exchange::Answered {
                    status: 200, body, ..
                } => serde_json::from_slice::<Product>(&body)
                    .map(|p| p.stock.max(0))
                    .map_err(|e| e.to_string()),
                Exchange::Answered { status, .. } => Err(format!("the catalog answered {status}")),
                other => Err(format!("the catalog: {other:?}")),
            },
        )
    }

    /// Reads the stock from the catalog origin the first time a unit is
    /// held: concurrent first holds may each read it, the first stored is kept.
    async fn load(&self, source: &str, sku: &str) -> Result<std::result::Result<(), String>> {
        if self.stock()?.is_some() {
            return Ok(Ok(()));
        }
        match self.read_origin(source).await? {
            Ok(stock) => {
                self.sql.exec(
                    "INSERT OR IGNORE INTO stock (singleton, sku, total) VALUES (1, ?, ?)",
                    vec![sku.into(), stock.into()],
                )?;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Reads the stock again ([`StockCall::Reload`]). The origin's stock
    /// already lacks what was sold here, so the total is it plus the sold
    /// units: what is free is then the origin's stock less what is held.
    /// A unit whose order the origin has taken but this object not yet
    /// counted as sold is subtracted twice — the safe side.
    async fn reload(&self, source: &str, sku: &str) -> Result<Response> {
        match self.read_origin(source).await? {
            Ok(stock) => {
                let sold = self.sum("SELECT SUM(quantity) AS n FROM sold", vec![])?;
                self.sql.exec(
                    "INSERT OR REPLACE INTO stock (singleton, sku, total) VALUES (1, ?, ?)",
                    vec![sku.into(), (stock + sold).into()],
                )?;
                json(200, &self.counts()?)
            }
            Err(e) => {
                worker::console_error!("stock {sku}: the stock could not be read again: {e}");
                problem(
                    503,
                    format!("the stock of {sku} could not be read; try again"),
                )
            }
        }
    }

    /// Sets a cart's hold, in one synchronous block once the stock is known.
    async fn hold(&self, h: Hold) -> Result<Response> {
        let sku = h.sku.clone();
        if h.quantity > 0
            && let Err(e) = self.load(&h.terms.source, &sku).await?
        {
            worker::console_error!("stock {sku}: the stock could not be read: {e}");
            return problem(503, "the drop's stock could not be read; try again");
        }
        let current = self.hold_of(&h.cart)?;
        let held_now = current.as_ref().map_or(0, |r| r.quantity);
        if h.quantity == 0 {
            self.sql.exec(
                "DELETE FROM holds WHERE cart = ?",
                vec![h.cart.as_str().into()],
            )?;
            return json(
                200,
                &HoldAnswer {
                    held: 0,
                    until_ms: 0,
                    available: self.counts()?.available.unwrap_or(0),
                },
            );
        }
        let total = self.stock()?.map_or(0, |s| s.total);
        let others = self.sum(
            "SELECT SUM(quantity) AS n FROM holds WHERE cart != ?",
            vec![h.cart.as_str().into()],
        )?;
        let sold = self.sum("SELECT SUM(quantity) AS n FROM sold", vec![])?;
        let free = total - others - sold;
        let holders = self.holding(&h.terms.holders, &[&h.cart])?;
        if let Err(refusal) = decide_hold(held_now, h.quantity, free, &holders, h.terms.limit) {
            return problem(refusal.status(), refusal.to_string());
        }
        // A hold's time runs from its first unit: changing it does not
        // renew it, so nobody keeps units by touching the cart.
        let until = current
            .as_ref()
            .map_or(h.now_ms + h.terms.hold_seconds * 1000, |r| r.until_ms);
        self.put(&HoldRow {
            cart: h.cart.clone(),
            cart_object: h.cart_object.clone(),
            quantity: h.quantity,
            holders: serde_json::to_string(&h.terms.holders)?,
            until_ms: until,
            checking_out: 0,
            hold_limit: h.terms.limit,
        })?;
        self.schedule().await?;
        json(
            200,
            &HoldAnswer {
                held: h.quantity,
                until_ms: until,
                available: free - h.quantity,
            },
        )
    }

    /// What each of `holders` holds or bought, in carts other than `besides`.
    fn holding(&self, holders: &[String], besides: &[&str]) -> Result<Vec<i64>> {
        let mut counts = Vec::with_capacity(holders.len());
        for holder in holders {
            let mut held = 0;
            let rows: Vec<HolderRow> = self
                .sql
                .exec(
                    "SELECT h.cart AS cart, h.quantity AS quantity FROM holds h, json_each(h.holders) j
                     WHERE j.value = ?",
                    vec![holder.as_str().into()],
                )?
                .to_array()?;
            for row in rows.iter().filter(|r| !besides.contains(&r.cart.as_str())) {
                held += row.quantity;
            }
            let bought = self.sum(
                "SELECT SUM(s.quantity) AS n FROM sold s, json_each(s.holders) j WHERE j.value = ?",
                vec![holder.as_str().into()],
            )?;
            counts.push(held + bought);
        }
        Ok(counts)
    }

    /// A guest cart's hold becomes a customer cart's ([`StockCall::Move`]).
    fn move_hold(
        &self,
        from: &str,
        to: &str,
        to_object: &str,
        more: &[String],
    ) -> Result<Response> {
        let Some(source) = self.hold_of(from)? else {
            return problem(409, "the hold on this product has ended");
        };
        let target = self.hold_of(to)?;
        let mut holders: Vec<String> = serde_json::from_str(&source.holders)?;
        if let Some(t) = &target {
            holders.extend(serde_json::from_str::<Vec<String>>(&t.holders)?);
        }
        holders.extend(more.iter().cloned());
        holders.sort();
        holders.dedup();
        let quantity = source.quantity + target.as_ref().map_or(0, |t| t.quantity);
        let others = self.holding(&holders, &[from, to])?;
        if let Some(&holding) = others
            .iter()
            .filter(|&&h| h + quantity > source.hold_limit)
            .max()
        {
            let refusal = crate::drop::HoldRefusal::OverLimit {
                limit: source.hold_limit,
                holding,
            };
            return problem(refusal.status(), refusal.to_string());
        }
        let until = target
            .as_ref()
            .map_or(source.until_ms, |t| t.until_ms.min(source.until_ms));
        self.sql
            .exec("DELETE FROM holds WHERE cart = ?", vec![from.into()])?;
        self.put(&HoldRow {
            cart: to.to_owned(),
            cart_object: to_object.to_owned(),
            quantity,
            holders: serde_json::to_string(&holders)?,
            until_ms: until,
            checking_out: 0,
            hold_limit: source.hold_limit,
        })?;
        json(
            200,
            &HoldAnswer {
                held: quantity,
                until_ms: until,
                available: self.counts()?.available.unwrap_or(0),
            },
        )
    }

    fn sell(&self, cart: &str, order_id: &str, quantity: i64) -> Result<()> {
        let row = self.hold_of(cart)?;
        let holders = row.as_ref().map_or("[]".to_owned(), |r| r.holders.clone());
        let quantity = row.as_ref().map_or(quantity, |r| r.quantity);
        self.sql.exec(
            "INSERT OR IGNORE INTO sold (order_id, cart, quantity, holders) VALUES (?, ?, ?, ?)",
            vec![
                order_id.into(),
                cart.into(),
                quantity.into(),
                holders.into(),
            ],
        )?;
        self.sql
            .exec("DELETE FROM holds WHERE cart = ?", vec![cart.into()])?;
        Ok(())
    }

    async fn schedule(&self) -> Result<()> {
        let next = self.sum("SELECT MIN(until_ms) AS n FROM holds", vec![])?;
        if next > 0 {
            self.state
                .storage()
                .set_alarm(alarm_at(next.max(now_ms() + 1)))
                .await?;
        }
        Ok(())
    }

    /// A hold whose time is up: what does its cart say?
    async fn settle(&self, row: HoldRow, now: i64) -> Result<()> {
        let sku = self.stock()?.map(|s| s.sku).unwrap_or_default();
        let asked = call(
            &self.env,
            crate::cart_api::BINDING,
            Address::Id(&row.cart_object),
            CART_CALL,
            &CartCall::Holding { sku: sku.clone() },
        )
        .await;
        let said = match asked {
            Ok((200, body)) => serde_json::from_slice::<Holding>(&body).ok(),
            _ => None,
        };
        // The hold may have changed while the cart was asked.
        match self.hold_of(&row.cart)? {
            Some(now_row) if now_row.until_ms == row.until_ms => {}
            _ => return Ok(()),
        }
        let cart = row.cart.as_str();
        match said {
            Some(Holding::Held { quantity, until_ms }) if until_ms > now && quantity > 0 => {
                self.sql.exec(
                    "UPDATE holds SET quantity = ?, until_ms = ?, checking_out = 0 WHERE cart = ?",
                    vec![quantity.into(), until_ms.into(), cart.into()],
                )?;
            }
            Some(Holding::CheckingOut) => self.pin(cart, now)?,
            Some(Holding::Placed { order_id }) => self.sell(cart, &order_id, row.quantity)?,
            // A checkout's cart that cannot be reached is asked again:
            // its order may still be on its way.
            None if row.checking_out != 0 => {
                self.sql.exec(
                    "UPDATE holds SET until_ms = ? WHERE cart = ?",
                    vec![(now + ASK_AGAIN_MS).into(), cart.into()],
                )?;
            }
            _ => {
                worker::console_log!(
                    "stock {sku}: the hold of {cart} ended; {} back",
                    row.quantity
                );
                self.sql
                    .exec("DELETE FROM holds WHERE cart = ?", vec![cart.into()])?;
            }
        }
        Ok(())
    }

    fn pin(&self, cart: &str, now: i64) -> Result<()> {
        self.sql.exec(
            "UPDATE holds SET checking_out = 1, until_ms = ? WHERE cart = ?",
            vec![(now + CHECKOUT_PIN_MS).into(), cart.into()],
        )?;
        Ok(())
    }
}

impl DurableObject for StockObject {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self {
            state,
            env,
            sql,
            schema_error,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("stock: schema setup failed: {e}");
            return problem(500, "the drop's stock is unavailable");
        }
        let call: StockCall = match crate::body::read_call(&mut req, STOCK_CALL).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        match call {
            StockCall::Hold(h) => self.hold(*h).await,
            StockCall::Checkout { cart, now_ms } => match self.hold_of(&cart)? {
                Some(row) if row.checking_out != 0 || row.until_ms > now_ms => {
                    self.pin(&cart, now_ms)?;
                    self.schedule().await?;
                    json(200, &serde_json::json!({ "pinned": row.quantity }))
                }
                _ => problem(409, "the hold on this product has ended"),
            },
            StockCall::Sold {
                cart,
                order_id,
                quantity,
            } => {
                self.sell(&cart, &order_id, quantity)?;
                json(200, &self.counts()?)
            }
            StockCall::Release { cart } => {
                self.sql.exec(
                    "DELETE FROM holds WHERE cart = ?",
                    vec![cart.as_str().into()],
                )?;
                json(200, &self.counts()?)
            }
            StockCall::Move {
                from,
                to,
                to_object,
                holders,
            } => {
                let moved = self.move_hold(&from, &to, &to_object, &holders)?;
                self.schedule().await?;
                Ok(moved)
            }
            StockCall::Reload { sku, source } => self.reload(&source, &sku).await,
            StockCall::Counts => json(200, &self.counts()?),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let due: Vec<HoldRow> = self
            .sql
            .exec(
                "SELECT cart, cart_object, quantity, holders, until_ms, checking_out, hold_limit
                 FROM holds WHERE until_ms <= ? ORDER BY until_ms LIMIT 100",
                vec![now.into()],
            )?
            .to_array()?;
        for row in due {
            let cart = row.cart.clone();
            if let Err(e) = self.settle(row, now).await {
                // Whatever failed, the hold is not asked about again at once.
                worker::console_error!("stock: settling the hold of {cart} failed: {e}");
                self.sql.exec(
                    "UPDATE holds SET until_ms = ? WHERE cart = ? AND until_ms <= ?",
                    vec![
                        (now + ASK_AGAIN_MS).into(),
                        cart.as_str().into(),
                        now.into(),
                    ],
                )?;
            }
        }
        self.schedule().await?;
        Response::ok("settled")
    }
}
