//! A cart object's side of drop holds: taking units before a drop line is
//! stored, pinning them for a checkout, selling them with its order and
//! giving them back — each one call to the SKU's stock object
//! ([`crate::stock_object`]). Giving back is reported after the change
//! is stored; should the report be lost, the stock asks the cart when the
//! hold's time is up ([`crate::drop_api::Holding`]).

use origin_adapter::wire::Problem;
use worker::{Env, Result};

use crate::calls::{Address, call};
use crate::cart::LineHold;
use crate::drop_api::{Hold, HoldAnswer, HoldTerms, STOCK_BINDING, STOCK_CALL, StockCall};

/// What a stock object answered when asked to hold.
pub(crate) enum Taken {
    Held(LineHold),
    /// Refused: the status (`409` sold out, `422` over the limit, `503`)
    /// and the problem body to answer the client with.
    Refused(u16, String),
}

/// One call to the stock object named `stock`.
async fn send(env: &Env, stock: &str, c: &StockCall) -> Result<(u16, Vec<u8>)> {
    call(env, STOCK_BINDING, Address::Name(stock), STOCK_CALL, c).await
}

/// Sets the units cart `cart` (object id `cart_object`) holds of `sku`
/// to `quantity`, on `terms`.
pub(crate) async fn take(
    env: &Env,
    (cart, cart_object): (&str, &str),
    sku: &str,
    quantity: i64,
    terms: &HoldTerms,
    now_ms: i64,
) -> Result<Taken> {
    let c = StockCall::Hold(Box::new(Hold {
        sku: sku.to_owned(),
        cart: cart.to_owned(),
        cart_object: cart_object.to_owned(),
        quantity,
        terms: terms.clone(),
        now_ms,
    }));
    let (status, body) = send(env, &terms.stock, &c).await?;
    if status != 200 {
        let body = String::from_utf8(body).unwrap_or_default();
        let body = if body.is_empty() {
            Problem::new(status, "the drop's stock refused the hold").to_json()
        } else {
            body
        };
        return Ok(Taken::Refused(status, body));
    }
    let answer: HoldAnswer = serde_json::from_slice(&body)?;
    Ok(Taken::Held(LineHold {
        drop: terms.drop.clone(),
        stock: terms.stock.clone(),
        until_ms: answer.until_ms,
    }))
}

/// Keeps a checkout's holds until its order is settled; `false` when a
/// hold has already ended.
pub(crate) async fn pin(
    env: &Env,
    cart: &str,
    held: &[(String, String, i64)],
    now_ms: i64,
) -> Result<Option<String>> {
    for (stock, sku, _) in held {
        let c = StockCall::Checkout {
            cart: cart.to_owned(),
            now_ms,
        };
        let (status, _) = send(env, stock, &c).await?;
        if status != 200 {
            return Ok(Some(sku.clone()));
        }
    }
    Ok(None)
}

/// The order `order_id` took the cart's held units: sold.
pub(crate) async fn sold(env: &Env, cart: &str, held: &[(String, String, i64)], order_id: &str) {
    for (stock, sku, quantity) in held {
        let c = StockCall::Sold {
            cart: cart.to_owned(),
            order_id: order_id.to_owned(),
            quantity: *quantity,
        };
        if let Err(e) = send(env, stock, &c).await {
            worker::console_warn!("cart {cart}: {sku} sold but not told: {e}");
        }
    }
}

/// Gives back the units of the `(stock, sku)` holds the cart no longer has.
pub(crate) async fn release(env: &Env, cart: &str, given_up: &[(String, String)]) {
    for (stock, sku) in given_up {
        let c = StockCall::Release {
            cart: cart.to_owned(),
        };
        match send(env, stock, &c).await {
            Ok((200, _)) => {}
            Ok((status, _)) => worker::console_warn!("cart {cart}: {sku} not released ({status})"),
            Err(e) => worker::console_warn!("cart {cart}: {sku} not released: {e}"),
        }
    }
}

/// Moves the hold `from` (a guest cart) has in `stock` to `to` (object id
/// `to_object`), counting against `holders` too: when it now ends (Unix
/// milliseconds), or why it could not move.
pub(crate) async fn move_hold(
    env: &Env,
    stock: &str,
    (from, to, to_object): (&str, &str, &str),
    holders: &[String],
) -> Result<std::result::Result<i64, String>> {
    let c = StockCall::Move {
        from: from.to_owned(),
        to: to.to_owned(),
        to_object: to_object.to_owned(),
        holders: holders.to_vec(),
    };
    let (status, body) = send(env, stock, &c).await?;
    if status == 200 {
        let answer: HoldAnswer = serde_json::from_slice(&body)?;
        return Ok(Ok(answer.until_ms));
    }
    let detail = serde_json::from_slice::<Problem>(&body)
        .ok()
        .and_then(|p| p.detail)
        .unwrap_or_else(|| format!("its hold could not move ({status})"));
    Ok(Err(detail))
}
