//! The rules around a cart's checkout and its changes that need no
//! platform: versions as entity tags, and what the orders origin's answer
//! means for the cart.

use origin_adapter::wire::{Order, Problem};

use crate::error::EdgeError;

/// A cart version as a strong entity tag: `"v7"`.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Reads `If-Match` (RFC 9110 §13.1.1): `None` when absent or `*`;
/// otherwise the version named. A tag that is not one of ours can never
/// match, so it is a version no cart has (`-1`), and the change gets 412.
pub fn if_match(header: Option<&str>) -> Option<i64> {
    let value = header?.trim();
    if value == "*" {
        return None;
    }
    let version = value.split(',').map(str::trim).find_map(|tag| {
        tag.strip_prefix("\"v")?
            .strip_suffix('"')?
            .parse::<i64>()
            .ok()
    });
    Some(version.unwrap_or(-1))
}

/// What the orders origin's answer means for a frozen cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: the cart is checked out.
    Placed(Box<Order>),
    /// Refused for a reason the customer can act on (price, stock): the
    /// cart opens again and the customer is told why.
    Refused { status: u16, reason: String },
    /// Not settled (down, slow, 5xx, or the same order still running):
    /// the order waits in the cart's outbox and the client polls.
    Pending(String),
}

pub fn verdict(status: u16, body: &[u8], retry_after: bool) -> Verdict {
    let detail = || {
        serde_json::from_slice::<Problem>(body)
            .ok()
            .and_then(|p| p.detail)
    };
    match status {
        200 | 201 => match serde_json::from_slice::<Order>(body) {
            Ok(order) => Verdict::Placed(Box::new(order)),
            // Accepted but unreadable: the outbox asks again and reads the replay.
            Err(_) => Verdict::Pending("the orders service's answer was unreadable".into()),
        },
        // The idempotency layer's "still running" says when to come back.
        409 if retry_after => Verdict::Pending("the order is still being placed".into()),
        409 | 422 => Verdict::Refused {
            status,
            reason: detail().unwrap_or_else(|| "the orders service refused the order".into()),
        },
        other => Verdict::Pending(format!("the orders service answered {other}")),
    }
}

/// The client's error for a refused order.
pub fn refusal(status: u16, reason: &str) -> EdgeError {
    EdgeError::new(status, format!("checkout did not go through: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_our_tags_and_nothing_else_matches() {
        assert_eq!(if_match(None), None);
        assert_eq!(if_match(Some("*")), None);
        assert_eq!(if_match(Some("\"v7\"")), Some(7));
        assert_eq!(if_match(Some("\"x\", \"v3\"")), Some(3));
        assert_eq!(
            if_match(Some("W/\"v7\"")),
            Some(-1),
            "weak tags never match"
        );
        assert_eq!(if_match(Some("v7")), Some(-1));
        assert_eq!(etag(7), "\"v7\"");
        assert_eq!(if_match(Some(&etag(12))), Some(12));
    }

    #[test]
    fn origin_answers_settle_or_wait() {
        let usd = |amount_minor| origin_adapter::wire::Money {
            amount_minor,
            currency: "USD".into(),
        };
        let order = serde_json::to_string(&Order {
            order_id: "ord-us-000001".into(),
            status: "placed".into(),
            region: "us".into(),
            cart_id: "g-1".into(),
            lines: vec![],
            subtotal: usd(100),
            promotion: None,
            discount: usd(0),
            tax: usd(7),
            total: usd(107),
            payment: origin_adapter::wire::Payment {
                payment_id: "pay-us-000001".into(),
                status: "captured".into(),
                amount: usd(107),
            },
        })
        .unwrap();
        assert!(matches!(
            verdict(201, order.as_bytes(), false),
            Verdict::Placed(_)
        ));
        assert!(matches!(
            verdict(200, order.as_bytes(), false),
            Verdict::Placed(_)
        ));
        assert!(matches!(
            verdict(201, b"garbage", false),
            Verdict::Pending(_)
        ));
        let conflict = Problem::new(409, "only 1 of \"A\" left in stock").to_json();
        assert_eq!(
            verdict(409, conflict.as_bytes(), false),
            Verdict::Refused {
                status: 409,
                reason: "only 1 of \"A\" left in stock".into()
            }
        );
        assert!(matches!(
            verdict(409, conflict.as_bytes(), true),
            Verdict::Pending(_)
        ));
        assert!(matches!(verdict(503, b"", false), Verdict::Pending(_)));
        assert!(matches!(verdict(401, b"", false), Verdict::Pending(_)));
    }
}
