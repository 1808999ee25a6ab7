//! The `CartObject` Durable Object: one per cart, its state in the object's own
//! SQLite database. Each change loads, applies the pure rule from
//! [`crate::cart`], and stores in one synchronous block, so the change
//! commits atomically and is stored before it is acknowledged.

use serde::Deserialize;
use worker::{
    DurableObject, Env, Method, Request, Response, Result, SqlStorage, State, durable_object,
};

use crate::cart::{Cart, CartError, CartLine, CartStatus, Limits};
use crate::cart_api::{ADD_LINE, AddLine, CHECKED_OUT, CartView, CheckedOut, VIEW};
use crate::respond::{json, problem};
use origin_adapter::wire::Money;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cart_meta (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    cart_id   TEXT NOT NULL,
    version   INTEGER NOT NULL,
    order_id  TEXT
);
CREATE TABLE IF NOT EXISTS cart_lines (
    position     INTEGER NOT NULL,
    sku          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    price_minor  INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    quantity     INTEGER NOT NULL
);";

#[durable_object]
pub struct CartObject {
    sql: SqlStorage,
    /// Checked once at construction so a bad schema fails loudly, not per request.
    schema_error: Option<String>,
}

#[derive(Deserialize)]
struct MetaRow {
    cart_id: String,
    version: i64,
    order_id: Option<String>,
}

#[derive(Deserialize)]
struct LineRow {
    sku: String,
    name: String,
    price_minor: i64,
    currency: String,
    quantity: i64,
}

fn cart_error(e: CartError) -> Result<Response> {
    match e {
        CartError::NotOpen | CartError::Changed { .. } => problem(409, e.to_string()),
        _ => problem(422, e.to_string()),
    }
}

impl CartObject {
    fn load(&self) -> Result<(Option<String>, Cart)> {
        let meta: Vec<MetaRow> = self
            .sql
            .exec(
                "SELECT cart_id, version, order_id FROM cart_meta WHERE singleton = 1",
                None,
            )?
            .to_array()?;
        let lines: Vec<LineRow> = self
            .sql
            .exec("SELECT sku, name, price_minor, currency, quantity FROM cart_lines ORDER BY position", None)?
            .to_array()?;
        let lines = lines
            .into_iter()
            .map(|r| CartLine {
                sku: r.sku,
                name: r.name,
                unit_price: Money {
                    amount_minor: r.price_minor,
                    currency: r.currency,
                },
                quantity: r.quantity,
            })
            .collect();
        Ok(match meta.into_iter().next() {
            None => (
                None,
                Cart {
                    lines,
                    ..Cart::default()
                },
            ),
            Some(m) => {
                let status = match m.order_id {
                    Some(order_id) => CartStatus::CheckedOut { order_id },
                    None => CartStatus::Open,
                };
                (
                    Some(m.cart_id),
                    Cart {
                        version: m.version,
                        status,
                        lines,
                    },
                )
            }
        })
    }

    /// Writes the whole cart; called with no `.await` between load and store.
    fn store(&self, cart_id: &str, cart: &Cart) -> Result<()> {
        let order_id = match &cart.status {
            CartStatus::CheckedOut { order_id } => Some(order_id.clone()),
            CartStatus::Open => None,
        };
        self.sql.exec(
            "INSERT INTO cart_meta (singleton, cart_id, version, order_id) VALUES (1, ?, ?, ?)
             ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, order_id = excluded.order_id",
            vec![cart_id.into(), cart.version.into(), order_id.into()],
        )?;
        self.sql.exec("DELETE FROM cart_lines", None)?;
        for (position, line) in cart.lines.iter().enumerate() {
            self.sql.exec(
                "INSERT INTO cart_lines (position, sku, name, price_minor, currency, quantity) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    (position as i64).into(),
                    line.sku.as_str().into(),
                    line.name.as_str().into(),
                    line.unit_price.amount_minor.into(),
                    line.unit_price.currency.as_str().into(),
                    line.quantity.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// Loads, applies `change`, stores: one synchronous, atomic step.
    fn change(
        &self,
        cart_id: &str,
        change: impl FnOnce(&mut Cart) -> std::result::Result<(), CartError>,
    ) -> Result<Response> {
        let (stored_id, mut cart) = self.load()?;
        if stored_id.as_deref().is_some_and(|id| id != cart_id) {
            return problem(409, "this cart object belongs to another cart id");
        }
        if let Err(e) = change(&mut cart) {
            return cart_error(e);
        }
        self.store(cart_id, &cart)?;
        json(200, &CartView::of(cart_id, &cart))
    }
}

impl DurableObject for CartObject {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let schema_error = sql.exec(SCHEMA, None).err().map(|e| e.to_string());
        Self { sql, schema_error }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Some(e) = &self.schema_error {
            worker::console_error!("cart: schema setup failed: {e}");
            return problem(500, "the cart store is unavailable");
        }
        let url = req.url()?;
        let route = format!("https://cart{}", url.path());
        match (req.method(), route.as_str()) {
            (Method::Get, VIEW) => {
                let (stored_id, cart) = self.load()?;
                let cart_id = stored_id.unwrap_or_default();
                json(200, &CartView::of(&cart_id, &cart))
            }
            (Method::Post, ADD_LINE) => {
                let add: AddLine = req.json().await?;
                self.change(&add.cart_id, |cart| cart.add(add.line, Limits::default()))
            }
            (Method::Post, CHECKED_OUT) => {
                let done: CheckedOut = req.json().await?;
                self.change(&done.cart_id, |cart| {
                    cart.mark_checked_out(done.version, done.order_id)
                })
            }
            _ => problem(404, "no such cart operation"),
        }
    }
}
