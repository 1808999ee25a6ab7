//! Turning a cart into an order request, and the origin's answer into ours.

use durable_objects::cart::CartStatus;
use durable_objects::cart_api::CartView;
use origin_adapter::wire::{Order, OrderLine, OrderRequest, Problem};

use crate::error::EdgeError;

/// The order for a cart at one version; the key makes retries count once.
pub fn order_request(view: &CartView) -> Result<(OrderRequest, String), EdgeError> {
    if let CartStatus::CheckedOut { order_id } = &view.status {
        return Err(EdgeError::new(
            409,
            format!("the cart was already checked out as order {order_id}"),
        ));
    }
    if view.lines.is_empty() {
        return Err(EdgeError::new(422, "the cart is empty"));
    }
    let request = OrderRequest {
        cart_id: view.cart_id.clone(),
        cart_version: view.version,
        lines: view
            .lines
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price.clone(),
            })
            .collect(),
    };
    Ok((request, idempotency_key(&view.cart_id, view.version)))
}

/// One key per cart version: a retried checkout of the same cart reuses it.
pub fn idempotency_key(cart_id: &str, version: i64) -> String {
    format!("cart-{cart_id}-v{version}")
}

/// Maps the orders origin's answer to the order or to the customer's error.
pub fn origin_outcome(status: u16, body: &[u8]) -> Result<Order, EdgeError> {
    match status {
        200 | 201 => serde_json::from_slice(body).map_err(|_| {
            EdgeError::new(502, "the orders service answered with an unreadable order")
        }),
        // Conflicts the customer can act on (price, stock) keep their words.
        409 | 422 => {
            let detail = serde_json::from_slice::<Problem>(body)
                .ok()
                .and_then(|p| p.detail)
                .unwrap_or_else(|| "the orders service refused the order".into());
            Err(EdgeError::new(status, detail))
        }
        401 | 403 => Err(EdgeError::new(
            502,
            "the orders service refused the edge's signature",
        )),
        _ => Err(EdgeError::new(
            502,
            format!("the orders service failed (status {status})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_objects::cart::{Cart, CartLine, Limits};
    use origin_adapter::wire::Money;

    fn view(lines: usize) -> CartView {
        let mut cart = Cart::default();
        for i in 0..lines {
            cart.add(
                CartLine {
                    sku: format!("S{i}"),
                    name: "n".into(),
                    unit_price: Money {
                        amount_minor: 100,
                        currency: "USD".into(),
                    },
                    quantity: 2,
                },
                Limits::default(),
            )
            .unwrap();
        }
        CartView::of("abc", &cart)
    }

    #[test]
    fn an_order_carries_the_cart_lines_and_a_version_key() {
        let (req, key) = order_request(&view(2)).unwrap();
        assert_eq!(req.lines.len(), 2);
        assert_eq!(req.cart_version, 2);
        assert_eq!(key, "cart-abc-v2");
    }

    #[test]
    fn empty_and_checked_out_carts_are_refused() {
        assert_eq!(order_request(&view(0)).unwrap_err().status, 422);
        let mut v = view(1);
        v.status = CartStatus::CheckedOut {
            order_id: "o".into(),
        };
        assert_eq!(order_request(&v).unwrap_err().status, 409);
    }

    #[test]
    fn origin_answers_map_to_customer_errors() {
        let conflict = Problem::new(409, "only 1 of \"A\" left in stock").to_json();
        assert_eq!(
            origin_outcome(409, conflict.as_bytes()).unwrap_err().detail,
            "only 1 of \"A\" left in stock"
        );
        assert_eq!(origin_outcome(401, b"").unwrap_err().status, 502);
        assert_eq!(origin_outcome(503, b"").unwrap_err().status, 502);
        assert_eq!(origin_outcome(201, b"garbage").unwrap_err().status, 502);
    }
}
