//! The origin's embedded SQLite database: schema, seed, and queries.

use std::path::Path;

use origin_adapter::wire::{Category, Money, Order, OrderLine, OrderRequest, Payment, Product};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::seed;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS categories (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    sku          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    category     TEXT NOT NULL REFERENCES categories(slug),
    price_minor  INTEGER NOT NULL CHECK (price_minor >= 0),
    currency     TEXT NOT NULL,
    stock        INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE INDEX IF NOT EXISTS products_by_category ON products(category, sku);
CREATE VIRTUAL TABLE IF NOT EXISTS products_fts USING fts5(
    name, description, content='products', content_rowid='rowid'
);
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT NOT NULL UNIQUE,
    idempotency_key  TEXT NOT NULL UNIQUE,
    request_digest   TEXT NOT NULL,
    cart_id          TEXT NOT NULL,
    cart_version     INTEGER NOT NULL,
    total_minor      INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id          INTEGER NOT NULL REFERENCES orders(id),
    sku               TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    unit_price_minor  INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);
";

/// Opens (creating if needed) the database at `path` and seeds an empty catalog.
pub fn open(path: &Path, currency: &str) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(SCHEMA)?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0))?;
    if count == 0 {
        let tx = conn.transaction()?;
        for (slug, name, _) in seed::CATEGORIES {
            tx.execute(
                "INSERT INTO categories (slug, name) VALUES (?1, ?2)",
                params![slug, name],
            )?;
        }
        {
            let mut insert = tx.prepare(
                "INSERT INTO products (sku, name, description, category, price_minor, currency, stock)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in seed::products(currency) {
                insert.execute(params![
                    p.sku,
                    p.name,
                    p.description,
                    p.category,
                    p.price.amount_minor,
                    p.price.currency,
                    p.stock
                ])?;
            }
        }
        tx.execute(
            "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
            [],
        )?;
        tx.commit()?;
    }
    crate::identity::seed(&conn)?;
    conn.execute_batch(crate::keys_store::SCHEMA)?;
    conn.execute_batch(crate::reviews::SCHEMA)?;
    conn.execute_batch(crate::account::SCHEMA)?;
    // Orders gained their customer after the first schema; add it in place.
    let has_user: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('orders') WHERE name = 'user_id')",
        [],
        |r| r.get(0),
    )?;
    if !has_user {
        conn.execute("ALTER TABLE orders ADD COLUMN user_id TEXT", [])?;
    }
    // …and their charges (promotion, tax, payment) after that.
    let has_charges: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('orders') WHERE name = 'tax_minor')",
        [],
        |r| r.get(0),
    )?;
    if !has_charges {
        conn.execute_batch(
            "ALTER TABLE orders ADD COLUMN subtotal_minor INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE orders ADD COLUMN discount_minor INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE orders ADD COLUMN promotion TEXT;
             ALTER TABLE orders ADD COLUMN tax_minor INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE orders ADD COLUMN payment_id TEXT;",
        )?;
    }
    let indexed: i64 = conn.query_row("SELECT COUNT(*) FROM products_fts", [], |r| r.get(0))?;
    if indexed == 0 {
        conn.execute(
            "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
            [],
        )?;
    }
    Ok(conn)
}

/// The database's secret for sealing cursors, made once and kept.
pub fn cursor_secret(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    // SQLite's randomblob() draws from the operating system's randomness.
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('cursor_secret', randomblob(32))",
        [],
    )?;
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'cursor_secret'",
        [],
        |r| r.get(0),
    )
}

fn product_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        sku: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        category: row.get(3)?,
        price: Money {
            amount_minor: row.get(4)?,
            currency: row.get(5)?,
        },
        stock: row.get(6)?,
    })
}

const PRODUCT_COLUMNS: &str = "sku, name, description, category, price_minor, currency, stock";

pub fn product(conn: &Connection, sku: &str) -> rusqlite::Result<Option<Product>> {
    conn.query_row(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?1"),
        [sku],
        product_from_row,
    )
    .optional()
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    Price,
    Newest,
}

/// The position after which a page starts (from a cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub rowid: i64,
}

/// A product and its row id (the "newest" order).
pub type Listed = (Product, i64);

/// Products of a category (or all), ordered by `sort`, after `after`.
pub fn products(
    conn: &Connection,
    category: Option<&str>,
    sort: Sort,
    after: Option<&After>,
    limit: i64,
) -> rusqlite::Result<Vec<Listed>> {
    let (keyset, order) = match sort {
        Sort::Name => ("(name, sku) > (?2, ?3)", "name, sku"),
        Sort::Price => ("(price_minor, sku) > (?4, ?3)", "price_minor, sku"),
        Sort::Newest => ("rowid < ?5", "rowid DESC"),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {PRODUCT_COLUMNS}, rowid FROM products
         WHERE (?1 IS NULL OR category = ?1) AND (?6 = 0 OR {keyset})
         ORDER BY {order} LIMIT ?7"
    ))?;
    let a = after.cloned().unwrap_or(After {
        sku: String::new(),
        name: String::new(),
        price: 0,
        rowid: 0,
    });
    stmt.query_map(
        params![
            category,
            a.name,
            a.sku,
            a.price,
            a.rowid,
            after.is_some(),
            limit
        ],
        |r| Ok((product_from_row(r)?, r.get(7)?)),
    )?
    .collect()
}

/// Whether a category exists.
pub fn category_exists(conn: &Connection, slug: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM categories WHERE slug = ?1)",
        [slug],
        |r| r.get(0),
    )
}

/// Full-text search over names and descriptions (FTS5), best matches first.
/// Every word must match, as a prefix.
pub fn search(
    conn: &Connection,
    q: &str,
    offset: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Listed>> {
    let terms: Vec<String> = q
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT p.sku, p.name, p.description, p.category, p.price_minor, p.currency, p.stock, p.rowid
         FROM products_fts JOIN products p ON p.rowid = products_fts.rowid
         WHERE products_fts MATCH ?1 ORDER BY products_fts.rank, p.sku LIMIT ?2 OFFSET ?3",
    )?;
    stmt.query_map(params![terms.join(" "), limit, offset], |r| {
        Ok((product_from_row(r)?, r.get(7)?))
    })?
    .collect()
}

/// Changes a product's price or stock; returns the product as it now is.
pub fn change_product(
    conn: &Connection,
    sku: &str,
    price_minor: Option<i64>,
    stock: Option<i64>,
) -> rusqlite::Result<Option<Product>> {
    conn.execute(
        "UPDATE products SET price_minor = COALESCE(?2, price_minor), stock = COALESCE(?3, stock) WHERE sku = ?1",
        params![sku, price_minor, stock],
    )?;
    product(conn, sku)
}

pub fn categories(conn: &Connection) -> rusqlite::Result<Vec<Category>> {
    let mut stmt = conn.prepare(
        "SELECT c.slug, c.name, COUNT(p.sku) FROM categories c
         LEFT JOIN products p ON p.category = c.slug GROUP BY c.slug ORDER BY c.slug",
    )?;
    stmt.query_map([], |r| {
        Ok(Category {
            slug: r.get(0)?,
            name: r.get(1)?,
            product_count: r.get(2)?,
        })
    })?
    .collect()
}

/// Why an order was not placed; each maps to a 4xx the customer can act on.
#[derive(Debug, PartialEq, Eq)]
pub enum OrderRefused {
    Empty,
    UnknownSku(String),
    BadQuantity(String),
    PriceChanged {
        sku: String,
        now: i64,
    },
    OutOfStock {
        sku: String,
        available: i64,
    },
    /// The idempotency key was used before for a different request.
    KeyReused,
    Database(String),
}

impl From<rusqlite::Error> for OrderRefused {
    fn from(e: rusqlite::Error) -> Self {
        OrderRefused::Database(e.to_string())
    }
}

/// Places an order atomically: checks every line against the catalog,
/// takes the stock, and records it under its idempotency key. The same key
/// and request again return the order placed the first time.
pub fn place_order(
    conn: &mut Connection,
    region: &str,
    idempotency_key: &str,
    request_digest: &str,
    request: &OrderRequest,
    now: i64,
    user_id: Option<&str>,
) -> Result<(Order, bool), OrderRefused> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, request_digest FROM orders WHERE idempotency_key = ?1",
            [idempotency_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((id, digest)) = existing {
        if digest != request_digest {
            return Err(OrderRefused::KeyReused);
        }
        return Ok((load_order(&tx, id, region)?, false));
    }

    if request.lines.is_empty() {
        return Err(OrderRefused::Empty);
    }
    let mut total = 0i64;
    let mut currency = String::new();
    for line in &request.lines {
        if !(1..=999).contains(&line.quantity) {
            return Err(OrderRefused::BadQuantity(line.sku.clone()));
        }
        let Some(p) = product(&tx, &line.sku)? else {
            return Err(OrderRefused::UnknownSku(line.sku.clone()));
        };
        if p.price != line.unit_price {
            return Err(OrderRefused::PriceChanged {
                sku: p.sku,
                now: p.price.amount_minor,
            });
        }
        if p.stock < line.quantity {
            return Err(OrderRefused::OutOfStock {
                sku: p.sku,
                available: p.stock,
            });
        }
        total += p.price.amount_minor * line.quantity;
        currency = p.price.currency;
    }
    let c = crate::pricing::charges(total, region);
    let promotion = (c.discount > 0).then_some(crate::pricing::PROMOTION_CODE);
    tx.execute(
        "INSERT INTO orders (public_id, idempotency_key, request_digest, cart_id, cart_version, total_minor, currency, created_at, user_id,
                             subtotal_minor, discount_minor, promotion, tax_minor)
         VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![idempotency_key, request_digest, request.cart_id, request.cart_version, c.total, currency, now, user_id,
                c.subtotal, c.discount, promotion, c.tax],
    )?;
    let id = tx.last_insert_rowid();
    // The simulated payment captures the total in the same transaction:
    // an order exists exactly when its payment does.
    tx.execute(
        "UPDATE orders SET public_id = ?1, payment_id = ?2 WHERE id = ?3",
        params![
            format!("ord-{region}-{id:06}"),
            format!("pay-{region}-{id:06}"),
            id
        ],
    )?;
    for line in &request.lines {
        tx.execute(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES (?1, ?2, ?3, ?4)",
            params![id, line.sku, line.quantity, line.unit_price.amount_minor],
        )?;
        tx.execute(
            "UPDATE products SET stock = stock - ?1 WHERE sku = ?2",
            params![line.quantity, line.sku],
        )?;
    }
    let order = load_order(&tx, id, region)?;
    tx.commit()?;
    Ok((order, true))
}

fn load_order(conn: &Connection, id: i64, region: &str) -> rusqlite::Result<Order> {
    #[allow(clippy::type_complexity)]
    let (public_id, cart_id, total, currency, subtotal, discount, promotion, tax, payment_id): (
        String,
        String,
        i64,
        String,
        i64,
        i64,
        Option<String>,
        i64,
        Option<String>,
    ) = conn.query_row(
        "SELECT public_id, cart_id, total_minor, currency, subtotal_minor, discount_minor, promotion, tax_minor, payment_id
         FROM orders WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        },
    )?;
    let money = |amount_minor| Money {
        amount_minor,
        currency: currency.clone(),
    };
    let mut stmt = conn.prepare(
        "SELECT sku, quantity, unit_price_minor FROM order_lines WHERE order_id = ?1 ORDER BY sku",
    )?;
    let lines = stmt
        .query_map([id], |r| {
            Ok(OrderLine {
                sku: r.get(0)?,
                quantity: r.get(1)?,
                unit_price: Money {
                    amount_minor: r.get(2)?,
                    currency: currency.clone(),
                },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Order {
        order_id: public_id,
        status: "placed".into(),
        region: region.to_owned(),
        cart_id,
        lines,
        subtotal: money(subtotal),
        promotion,
        discount: money(discount),
        tax: money(tax),
        total: money(total),
        payment: Payment {
            payment_id: payment_id.unwrap_or_default(),
            status: "captured".into(),
            amount: money(total),
        },
    })
}

/// A customer's orders, newest first.
pub fn orders_of(conn: &Connection, user_id: &str, region: &str) -> rusqlite::Result<Vec<Order>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM orders WHERE user_id = ?1 ORDER BY id DESC LIMIT 100")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter()
        .map(|id| load_order(conn, id, region))
        .collect()
}

/// One of a customer's orders; another customer's order is `None`, exactly
/// as if it did not exist.
pub fn order_of(
    conn: &Connection,
    user_id: &str,
    order_id: &str,
    region: &str,
) -> rusqlite::Result<Option<Order>> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM orders WHERE public_id = ?1 AND user_id = ?2",
            [order_id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|id| load_order(conn, id, region)).transpose()
}

/// How many orders exist; tests use it to prove a refused write wrote nothing.
pub fn order_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        open(Path::new(":memory:"), "USD").unwrap()
    }

    fn order_for(conn: &Connection, sku: &str, quantity: i64) -> OrderRequest {
        let p = product(conn, sku).unwrap().unwrap();
        OrderRequest {
            cart_id: "cart-1".into(),
            cart_version: 1,
            lines: vec![OrderLine {
                sku: p.sku,
                quantity,
                unit_price: p.price,
            }],
        }
    }

    fn stock(conn: &Connection, sku: &str) -> i64 {
        product(conn, sku).unwrap().unwrap().stock
    }

    #[test]
    fn the_catalog_is_seeded_once() {
        let conn = db();
        assert_eq!(
            categories(&conn)
                .unwrap()
                .iter()
                .map(|c| c.product_count)
                .sum::<i64>(),
            1200
        );
        let first = products(&conn, Some("kitchen"), Sort::Price, None, 3).unwrap();
        assert!(
            first
                .windows(2)
                .all(|w| w[0].0.price.amount_minor <= w[1].0.price.amount_minor)
        );
        let (last, rowid) = first.last().cloned().unwrap();
        let after = After {
            sku: last.sku.clone(),
            name: last.name.clone(),
            price: last.price.amount_minor,
            rowid,
        };
        let next = products(&conn, Some("kitchen"), Sort::Price, Some(&after), 3).unwrap();
        assert!(next.iter().all(|(p, _)| (p.price.amount_minor, &p.sku) > (last.price.amount_minor, &last.sku)));
        let newest = products(&conn, None, Sort::Newest, None, 2).unwrap();
        assert!(newest[0].1 > newest[1].1);
        let hits = search(&conn, "OAK", 0, 500).unwrap();
        assert_eq!(
            hits.len(),
            110,
            "every oak product, as a word of name or description"
        );
        let prefix = search(&conn, "stonew kitch", 0, 500).unwrap();
        assert!(!prefix.is_empty());
        assert!(
            prefix
                .iter()
                .all(|(p, _)| p.name.contains("Stoneware") && p.category == "kitchen")
        );
        assert!(
            search(&conn, "\" OR * NEAR(", 0, 5).is_ok(),
            "FTS syntax in a query is neutralised"
        );
    }

    #[test]
    fn an_order_takes_stock_once_per_idempotency_key() {
        let mut conn = db();
        let sku = "KIT-0001";
        let before = stock(&conn, sku);
        let request = order_for(&conn, sku, 1);
        let (order, created) = place_order(&mut conn, "us", "k1", "d1", &request, 0, None).unwrap();
        assert!(created);
        let price = request.lines[0].unit_price.amount_minor;
        let charged = crate::pricing::charges(price, "us");
        assert_eq!(order.subtotal.amount_minor, price);
        assert_eq!(order.total.amount_minor, charged.total);
        assert_eq!(order.payment.amount, order.total);
        assert_eq!(order.payment.payment_id, "pay-us-000001");
        let (again, created) = place_order(&mut conn, "us", "k1", "d1", &request, 0, None).unwrap();
        assert!(!created);
        assert_eq!(again, order);
        assert_eq!(stock(&conn, sku), before - 1);
        assert_eq!(
            place_order(&mut conn, "us", "k1", "other", &request, 0, None),
            Err(OrderRefused::KeyReused)
        );
        assert_eq!(order_count(&conn).unwrap(), 1);
    }

    #[test]
    fn refused_orders_write_nothing() {
        let mut conn = db();
        let sku = "KIT-0002";
        let available = stock(&conn, sku);
        let too_many = order_for(&conn, sku, available + 1);
        assert!(matches!(
            place_order(&mut conn, "us", "a", "d", &too_many, 0, None),
            Err(OrderRefused::OutOfStock { .. })
        ));
        let mut cheap = order_for(&conn, sku, 1);
        cheap.lines[0].unit_price.amount_minor = 1;
        assert!(matches!(
            place_order(&mut conn, "us", "b", "d", &cheap, 0, None),
            Err(OrderRefused::PriceChanged { .. })
        ));
        let mut unknown = order_for(&conn, sku, 1);
        unknown.lines[0].sku = "NOPE".into();
        assert_eq!(
            place_order(&mut conn, "us", "c", "d", &unknown, 0, None),
            Err(OrderRefused::UnknownSku("NOPE".into()))
        );
        let empty = OrderRequest {
            lines: vec![],
            ..order_for(&conn, sku, 1)
        };
        assert_eq!(
            place_order(&mut conn, "us", "e", "d", &empty, 0, None),
            Err(OrderRefused::Empty)
        );
        assert_eq!(order_count(&conn).unwrap(), 0);
        assert_eq!(stock(&conn, sku), available);
    }
}
