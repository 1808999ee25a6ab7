//! A cart and its rules, as plain data: nothing here touches the platform.

use origin_adapter::wire::Money;
use serde::{Deserialize, Serialize};

/// Explicit limits, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_lines: usize,
    pub max_quantity: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_lines: 50,
            max_quantity: 99,
        }
    }
}

/// One product in the cart. Name and price come from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CartStatus {
    Open,
    CheckedOut { order_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Bumped by every change; clients use it to order responses.
    pub version: i64,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
}

impl Default for Cart {
    fn default() -> Self {
        Self {
            version: 0,
            status: CartStatus::Open,
            lines: Vec::new(),
        }
    }
}

/// Why a change was refused; each says which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartError {
    QuantityNotPositive,
    QuantityTooLarge {
        max: i64,
    },
    TooManyLines {
        max: usize,
    },
    CurrencyMismatch {
        cart: String,
        line: String,
    },
    NotOpen,
    Empty,
    /// The cart changed between reading it and recording its checkout.
    Changed {
        expected: i64,
        actual: i64,
    },
}

impl std::fmt::Display for CartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CartError::QuantityNotPositive => {
                f.write_str("quantity must be a whole number of at least 1")
            }
            CartError::QuantityTooLarge { max } => {
                write!(f, "quantity per line is limited to {max}")
            }
            CartError::TooManyLines { max } => {
                write!(f, "a cart holds at most {max} different products")
            }
            CartError::CurrencyMismatch { cart, line } => {
                write!(f, "the cart is priced in {cart}, this product in {line}")
            }
            CartError::NotOpen => f.write_str("the cart is already checked out"),
            CartError::Empty => f.write_str("the cart is empty"),
            CartError::Changed { expected, actual } => {
                write!(
                    f,
                    "the cart changed during checkout (version {expected}, now {actual}); review it and check out again"
                )
            }
        }
    }
}

impl Cart {
    /// Adds `quantity` of a catalog product; an existing line grows and
    /// takes the catalog's current name and price.
    pub fn add(&mut self, item: CartLine, limits: Limits) -> Result<(), CartError> {
        if self.status != CartStatus::Open {
            return Err(CartError::NotOpen);
        }
        if item.quantity < 1 {
            return Err(CartError::QuantityNotPositive);
        }
        if let Some(first) = self
            .lines
            .first()
            .filter(|l| l.unit_price.currency != item.unit_price.currency)
        {
            return Err(CartError::CurrencyMismatch {
                cart: first.unit_price.currency.clone(),
                line: item.unit_price.currency,
            });
        }
        match self.lines.iter_mut().find(|l| l.sku == item.sku) {
            Some(line) => {
                let quantity = line.quantity.saturating_add(item.quantity);
                if quantity > limits.max_quantity {
                    return Err(CartError::QuantityTooLarge {
                        max: limits.max_quantity,
                    });
                }
                *line = CartLine { quantity, ..item };
            }
            None => {
                if item.quantity > limits.max_quantity {
                    return Err(CartError::QuantityTooLarge {
                        max: limits.max_quantity,
                    });
                }
                if self.lines.len() >= limits.max_lines {
                    return Err(CartError::TooManyLines {
                        max: limits.max_lines,
                    });
                }
                self.lines.push(item);
            }
        }
        self.version += 1;
        Ok(())
    }

    /// Records that the order for the cart at `version` was placed.
    pub fn mark_checked_out(&mut self, version: i64, order_id: String) -> Result<(), CartError> {
        match &self.status {
            CartStatus::CheckedOut { order_id: existing } if *existing == order_id => Ok(()),
            CartStatus::CheckedOut { .. } => Err(CartError::NotOpen),
            CartStatus::Open if self.version != version => Err(CartError::Changed {
                expected: version,
                actual: self.version,
            }),
            CartStatus::Open if self.lines.is_empty() => Err(CartError::Empty),
            CartStatus::Open => {
                self.status = CartStatus::CheckedOut { order_id };
                self.version += 1;
                Ok(())
            }
        }
    }

    /// The sum of all lines; `None` for an empty cart.
    pub fn total(&self) -> Option<Money> {
        let currency = self.lines.first()?.unit_price.currency.clone();
        let amount_minor = self
            .lines
            .iter()
            .map(|l| l.unit_price.amount_minor.saturating_mul(l.quantity))
            .fold(0i64, i64::saturating_add);
        Some(Money {
            amount_minor,
            currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i64) -> CartLine {
        CartLine {
            sku: sku.into(),
            name: format!("Product {sku}"),
            unit_price: Money {
                amount_minor: 1999,
                currency: "USD".into(),
            },
            quantity,
        }
    }

    #[test]
    fn adding_merges_lines_and_bumps_the_version() {
        let mut cart = Cart::default();
        cart.add(line("A", 2), Limits::default()).unwrap();
        cart.add(line("A", 3), Limits::default()).unwrap();
        cart.add(line("B", 1), Limits::default()).unwrap();
        assert_eq!(cart.lines.len(), 2);
        assert_eq!(cart.lines[0].quantity, 5);
        assert_eq!(cart.version, 3);
        assert_eq!(
            cart.total(),
            Some(Money {
                amount_minor: 6 * 1999,
                currency: "USD".into()
            })
        );
    }

    #[test]
    fn limits_are_enforced_and_refusals_change_nothing() {
        let limits = Limits {
            max_lines: 1,
            max_quantity: 5,
        };
        let mut cart = Cart::default();
        assert_eq!(
            cart.add(line("A", 0), limits),
            Err(CartError::QuantityNotPositive)
        );
        assert_eq!(
            cart.add(line("A", -3), limits),
            Err(CartError::QuantityNotPositive)
        );
        assert_eq!(
            cart.add(line("A", 6), limits),
            Err(CartError::QuantityTooLarge { max: 5 })
        );
        cart.add(line("A", 5), limits).unwrap();
        let before = cart.clone();
        assert_eq!(
            cart.add(line("A", 1), limits),
            Err(CartError::QuantityTooLarge { max: 5 })
        );
        assert_eq!(
            cart.add(line("B", 1), limits),
            Err(CartError::TooManyLines { max: 1 })
        );
        assert_eq!(
            cart.add(line("A", i64::MAX), limits),
            Err(CartError::QuantityTooLarge { max: 5 })
        );
        assert_eq!(cart, before);
    }

    #[test]
    fn a_checked_out_cart_is_frozen() {
        let mut cart = Cart::default();
        assert_eq!(cart.mark_checked_out(0, "o1".into()), Err(CartError::Empty));
        cart.add(line("A", 1), Limits::default()).unwrap();
        let moved = cart.mark_checked_out(0, "o1".into());
        assert_eq!(
            moved,
            Err(CartError::Changed {
                expected: 0,
                actual: 1
            })
        );
        cart.mark_checked_out(1, "o1".into()).unwrap();
        let again = cart.mark_checked_out(1, "o1".into());
        assert_eq!(again, Ok(()), "recording the same order twice is harmless");
        let other = cart.mark_checked_out(1, "o2".into());
        assert_eq!(other, Err(CartError::NotOpen));
        let add = cart.add(line("B", 1), Limits::default());
        assert_eq!(add, Err(CartError::NotOpen));
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let mut cart = Cart::default();
        cart.add(line("A", 1), Limits::default()).unwrap();
        let mut eur = line("B", 1);
        eur.unit_price.currency = "EUR".into();
        assert!(matches!(
            cart.add(eur, Limits::default()),
            Err(CartError::CurrencyMismatch { .. })
        ));
    }
}
