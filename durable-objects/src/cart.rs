//! A cart and its rules, as plain data: nothing here touches the platform.
//!
//! A cart is `open` (lines change), `checking_out` (frozen while its order
//! waits to be accepted), `checked_out` (the order was placed; a new add
//! starts a fresh cart) or `closed` (merged into a customer's cart at login).
//! Every change bumps `version`.

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
    /// A drop SKU's units are held for this cart until then
    /// ([`crate::stock_object`]); `None` for every other product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<LineHold>,
}

/// The hold a drop SKU's line has on its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineHold {
    pub drop: String,
    /// The stock object holding the units
    /// ([`crate::drop_api::stock_name`]).
    #[serde(default)]
    pub stock: String,
    /// Unix milliseconds; the line is removed then unless checked out.
    pub until_ms: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CartStatus {
    Open,
    /// Frozen: the order keyed `order_key` is on its way to the origin.
    CheckingOut {
        order_key: String,
    },
    CheckedOut {
        order_id: String,
    },
    /// Merged into a customer's cart; nothing more happens here.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Which life of this cart id this is: an expired cart's id comes back
    /// (the cookie or the user id outlives it) and its versions start
    /// again, so every key derived from the cart — the order's, a merge's
    /// — names the generation too and never repeats. Made by
    /// [`Cart::new`]; empty in carts stored before generations existed.
    #[serde(default)]
    pub generation: String,
    /// Bumped by every change; clients use it to order responses.
    pub version: i64,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    /// What the customer should know about the last change the shop made
    /// (a refused checkout's reason, a fresh cart after an order).
    #[serde(default)]
    pub notice: Option<String>,
}

impl Default for Cart {
    fn default() -> Self {
        Self {
            generation: String::new(),
            version: 0,
            status: CartStatus::Open,
            lines: Vec::new(),
            notice: None,
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
    NoSuchLine {
        sku: String,
    },
    /// Frozen for checkout.
    CheckingOut,
    CheckedOut,
    Closed,
    Empty,
    /// `If-Match` named another version.
    Stale {
        current: i64,
    },
}

impl CartError {
    /// The HTTP status a client gets for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            CartError::NoSuchLine { .. } => 404,
            CartError::Stale { .. } => 412,
            CartError::CheckingOut | CartError::CheckedOut | CartError::Closed => 409,
            _ => 422,
        }
    }
}

impl std::fmt::Display for CartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CartError::QuantityNotPositive => {
                f.write_str("quantity must be a whole number of at least 1")
            }
            CartError::QuantityTooLarge { max } => {
                write!(f, "limit: quantity per line is at most {max}")
            }
            CartError::TooManyLines { max } => {
                write!(f, "limit: a cart holds at most {max} different products")
            }
            CartError::CurrencyMismatch { cart, line } => {
                write!(f, "the cart is priced in {cart}, this product in {line}")
            }
            CartError::NoSuchLine { sku } => write!(f, "the cart has no line for {sku:?}"),
            CartError::CheckingOut => {
                f.write_str("the cart is being checked out; it cannot change until that ends")
            }
            CartError::CheckedOut => f.write_str("the cart is already checked out"),
            CartError::Closed => {
                f.write_str("this cart was merged into a customer's cart and is closed")
            }
            CartError::Empty => f.write_str("the cart is empty"),
            CartError::Stale { current } => write!(
                f,
                "the cart has changed: it is at version {current}; reload it and try again"
            ),
        }
    }
}

/// What a merge did with each incoming line.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeReport {
    /// SKUs whose quantities were added in full.
    pub merged: Vec<String>,
    /// Lines that could not be merged as they were, and why.
    pub conflicts: Vec<MergeConflict>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeConflict {
    pub sku: String,
    pub detail: String,
}

/// Where a checkout stands after asking to freeze the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freeze {
    /// Frozen now: place the order under this key.
    Started {
        order_key: String,
    },
    /// Already frozen by an earlier request: that order is on its way.
    Pending {
        order_key: String,
    },
    AlreadyPlaced {
        order_id: String,
    },
}

/// A quantity within the limits, or the refusal naming the limit. The
/// edge checks a client's quantity with this before it crosses into the
/// cart object; the cart checks again.
pub fn check_quantity(quantity: i64, limits: Limits) -> Result<(), CartError> {
    if quantity < 1 {
        return Err(CartError::QuantityNotPositive);
    }
    if quantity > limits.max_quantity {
        return Err(CartError::QuantityTooLarge {
            max: limits.max_quantity,
        });
    }
    Ok(())
}

impl Cart {
    /// An empty cart starting a new life: `created_ms` (Unix milliseconds)
    /// and 32 random bits name the generation, so two lives of one cart id
    /// never share it, even within one millisecond.
    pub fn new(created_ms: i64, entropy: [u8; 4]) -> Self {
        let random = origin_adapter::trace::to_hex(&entropy);
        Self {
            generation: format!("{created_ms:x}{random}"),
            ..Self::default()
        }
    }

    /// `If-Match`: the change applies only to the version the client saw.
    pub fn check_version(&self, if_match: Option<i64>) -> Result<(), CartError> {
        match if_match {
            Some(v) if v != self.version => Err(CartError::Stale {
                current: self.version,
            }),
            _ => Ok(()),
        }
    }

    fn ensure_open(&self) -> Result<(), CartError> {
        match self.status {
            CartStatus::Open => Ok(()),
            CartStatus::CheckingOut { .. } => Err(CartError::CheckingOut),
            CartStatus::CheckedOut { .. } => Err(CartError::CheckedOut),
            CartStatus::Closed => Err(CartError::Closed),
        }
    }

    fn changed(&mut self) {
        self.version += 1;
    }

    /// Adds `quantity` of a catalog product; an existing line grows and
    /// takes the catalog's current name and price. After an order was
    /// placed, an add starts a fresh cart (same id, later version).
    pub fn add(&mut self, item: CartLine, limits: Limits) -> Result<(), CartError> {
        if let CartStatus::CheckedOut { order_id } = &self.status {
            check_quantity(item.quantity, limits)?;
            self.notice = Some(format!("order {order_id} was placed; this is a new cart"));
            self.status = CartStatus::Open;
            self.lines.clear();
        } else {
            self.ensure_open()?;
            self.notice = None;
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
                check_quantity(quantity, limits)?;
                *line = CartLine { quantity, ..item };
            }
            None => {
                check_quantity(item.quantity, limits)?;
                if self.lines.len() >= limits.max_lines {
                    return Err(CartError::TooManyLines {
                        max: limits.max_lines,
                    });
                }
                self.lines.push(item);
            }
        }
        self.changed();
        Ok(())
    }

    pub fn set_quantity(
        &mut self,
        sku: &str,
        quantity: i64,
        limits: Limits,
    ) -> Result<(), CartError> {
        self.ensure_open()?;
        check_quantity(quantity, limits)?;
        let line = self
            .lines
            .iter_mut()
            .find(|l| l.sku == sku)
            .ok_or_else(|| CartError::NoSuchLine { sku: sku.into() })?;
        line.quantity = quantity;
        self.notice = None;
        self.changed();
        Ok(())
    }

    pub fn remove(&mut self, sku: &str) -> Result<(), CartError> {
        self.ensure_open()?;
        let before = self.lines.len();
        self.lines.retain(|l| l.sku != sku);
        if self.lines.len() == before {
            return Err(CartError::NoSuchLine { sku: sku.into() });
        }
        self.notice = None;
        self.changed();
        Ok(())
    }

    pub fn clear(&mut self) -> Result<(), CartError> {
        self.ensure_open()?;
        self.lines.clear();
        self.notice = None;
        self.changed();
        Ok(())
    }

    /// Adds a guest cart's lines (login): quantities add up to the limit,
    /// lines beyond the line limit or in another currency are left out,
    /// and the report says which. A checked-out cart starts afresh first.
    pub fn merge(&mut self, lines: &[CartLine], limits: Limits) -> Result<MergeReport, CartError> {
        if let CartStatus::CheckedOut { .. } = self.status {
            self.status = CartStatus::Open;
            self.lines.clear();
        }
        self.ensure_open()?;
        let mut report = MergeReport::default();
        for incoming in lines {
            let conflict = |detail: String| MergeConflict {
                sku: incoming.sku.clone(),
                detail,
            };
            // A drop line comes with its hold, which its cart object moved
            // to this cart first ([`crate::drop_api::StockCall::Move`]).
            if let Some(hold) = &incoming.hold {
                match self.lines.iter_mut().find(|l| l.sku == incoming.sku) {
                    Some(line) if line.hold.is_some() => {
                        line.quantity = line.quantity.saturating_add(incoming.quantity);
                        line.hold = Some(hold.clone());
                        report.merged.push(incoming.sku.clone());
                    }
                    Some(_) => report.conflicts.push(conflict(
                        "already in the cart without a drop's hold; not merged".into(),
                    )),
                    None => {
                        self.lines.push(incoming.clone());
                        report.merged.push(incoming.sku.clone());
                    }
                }
                continue;
            }
            if let Some(first) = self.lines.first()
                && first.unit_price.currency != incoming.unit_price.currency
            {
                report.conflicts.push(conflict(format!(
                    "priced in {}, the cart in {}; not merged",
                    incoming.unit_price.currency, first.unit_price.currency
                )));
                continue;
            }
            let full = self.lines.len() >= limits.max_lines;
            match self.lines.iter_mut().find(|l| l.sku == incoming.sku) {
                Some(line) => {
                    let wanted = line.quantity.saturating_add(incoming.quantity);
                    if wanted > limits.max_quantity {
                        line.quantity = limits.max_quantity;
                        report.conflicts.push(conflict(format!(
                            "quantity limited to {} (the two carts held {wanted})",
                            limits.max_quantity
                        )));
                    } else {
                        line.quantity = wanted;
                        report.merged.push(incoming.sku.clone());
                    }
                }
                None if full => {
                    report.conflicts.push(conflict(format!(
                        "the cart already holds {} different products; not merged",
                        limits.max_lines
                    )));
                }
                None => {
                    let quantity = incoming.quantity.clamp(1, limits.max_quantity);
                    self.lines.push(CartLine {
                        quantity,
                        ..incoming.clone()
                    });
                    report.merged.push(incoming.sku.clone());
                }
            }
        }
        self.notice = None;
        self.changed();
        Ok(report)
    }

    /// Closes a guest cart after its lines were merged elsewhere.
    pub fn close(&mut self) -> Result<(), CartError> {
        if self.status == CartStatus::Closed {
            return Ok(());
        }
        self.ensure_open()?;
        self.status = CartStatus::Closed;
        self.changed();
        Ok(())
    }

    /// Freezes the cart for checkout. The order key names cart, generation
    /// and version, so however often the order is sent the origin places
    /// it once, and no later order of the same cart id can share its key.
    pub fn freeze(&mut self, cart_key: &str) -> Result<Freeze, CartError> {
        match &self.status {
            CartStatus::CheckingOut { order_key } => {
                return Ok(Freeze::Pending {
                    order_key: order_key.clone(),
                });
            }
            CartStatus::CheckedOut { order_id } => {
                return Ok(Freeze::AlreadyPlaced {
                    order_id: order_id.clone(),
                });
            }
            CartStatus::Closed => return Err(CartError::Closed),
            CartStatus::Open => {}
        }
        if self.lines.is_empty() {
            return Err(CartError::Empty);
        }
        let order_key = match self.generation.as_str() {
            "" => format!("cart-{cart_key}-v{}", self.version),
            generation => format!("cart-{cart_key}-{generation}-v{}", self.version),
        };
        self.status = CartStatus::CheckingOut {
            order_key: order_key.clone(),
        };
        self.notice = None;
        self.changed();
        Ok(Freeze::Started { order_key })
    }

    /// The origin accepted the order (harmless to record twice).
    pub fn placed(&mut self, order_id: &str) -> Result<(), CartError> {
        match &self.status {
            CartStatus::CheckedOut { order_id: o } if o == order_id => Ok(()),
            CartStatus::CheckingOut { .. } => {
                self.status = CartStatus::CheckedOut {
                    order_id: order_id.to_owned(),
                };
                self.changed();
                Ok(())
            }
            CartStatus::CheckedOut { .. } => Err(CartError::CheckedOut),
            CartStatus::Open => Err(CartError::Empty),
            CartStatus::Closed => Err(CartError::Closed),
        }
    }

    /// The origin refused the order for a reason the customer can act on
    /// (price, stock): the cart opens again, saying why, and its drop
    /// lines go — their units return to the drop's stock.
    pub fn refused(&mut self, reason: &str) -> Result<(), CartError> {
        match self.status {
            CartStatus::CheckingOut { .. } => {
                self.status = CartStatus::Open;
                self.lines.retain(|l| l.hold.is_none());
                self.notice = Some(format!("checkout did not go through: {reason}"));
                self.changed();
                Ok(())
            }
            CartStatus::Open => Ok(()),
            CartStatus::CheckedOut { .. } => Err(CartError::CheckedOut),
            CartStatus::Closed => Err(CartError::Closed),
        }
    }

    /// Removes the lines whose hold ended by `now_ms` (Unix milliseconds)
    /// from an open cart, saying so; a frozen cart keeps them — its order
    /// is on its way. The SKUs removed.
    pub fn end_holds(&mut self, now_ms: i64) -> Vec<String> {
        if self.status != CartStatus::Open {
            return Vec::new();
        }
        let ended: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l.hold.as_ref().is_some_and(|h| h.until_ms <= now_ms))
            .map(|l| l.sku.clone())
            .collect();
        if !ended.is_empty() {
            self.lines.retain(|l| !ended.contains(&l.sku));
            self.notice = Some(format!(
                "the hold on {} ended; its units went back to the drop",
                ended.join(", ")
            ));
            self.changed();
        }
        ended
    }

    /// When the first hold of an open cart ends (Unix milliseconds).
    pub fn next_hold_end(&self) -> Option<i64> {
        if self.status != CartStatus::Open {
            return None;
        }
        self.lines
            .iter()
            .filter_map(|l| l.hold.as_ref().map(|h| h.until_ms))
            .min()
    }

    /// The units of `sku` this cart holds, as its line and status say:
    /// what a drop's stock should count for it.
    pub fn held(&self, sku: &str) -> i64 {
        match self.status {
            CartStatus::Open | CartStatus::CheckingOut { .. } => self
                .lines
                .iter()
                .find(|l| l.sku == sku && l.hold.is_some())
                .map_or(0, |l| l.quantity),
            CartStatus::CheckedOut { .. } | CartStatus::Closed => 0,
        }
    }

    /// Every held line: `(stock object, sku, quantity)`.
    pub fn holds(&self) -> Vec<(String, String, i64)> {
        self.lines
            .iter()
            .filter_map(|l| {
                let h = l.hold.as_ref()?;
                Some((h.stock.clone(), l.sku.clone(), l.quantity))
            })
            .collect()
    }

    /// The holds `self` had that `after` no longer has: `(stock object,
    /// sku)` — their units go back to the drop's stock.
    pub fn holds_given_up(&self, after: &Cart) -> Vec<(String, String)> {
        self.holds()
            .into_iter()
            .filter(|(_, sku, _)| self.held(sku) > 0 && after.held(sku) == 0)
            .map(|(drop, sku, _)| (drop, sku))
            .collect()
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
            hold: None,
        }
    }

    fn cart_with(lines: &[(&str, i64)]) -> Cart {
        let mut cart = Cart::default();
        for (sku, q) in lines {
            cart.add(line(sku, *q), Limits::default()).unwrap();
        }
        cart
    }

    #[test]
    fn adding_merges_lines_and_bumps_the_version() {
        let cart = cart_with(&[("A", 2), ("A", 3), ("B", 1)]);
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
        for q in [0, -3] {
            assert_eq!(
                cart.add(line("A", q), limits),
                Err(CartError::QuantityNotPositive)
            );
        }
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
        assert_eq!(
            cart.set_quantity("A", 6, limits),
            Err(CartError::QuantityTooLarge { max: 5 })
        );
        assert_eq!(
            cart.set_quantity("A", 0, limits),
            Err(CartError::QuantityNotPositive)
        );
        assert_eq!(cart, before);
        assert!(
            CartError::TooManyLines { max: 1 }
                .to_string()
                .starts_with("limit:")
        );
    }

    #[test]
    fn set_remove_and_clear_change_lines_and_versions() {
        let mut cart = cart_with(&[("A", 2), ("B", 1)]);
        cart.set_quantity("A", 7, Limits::default()).unwrap();
        assert_eq!((cart.lines[0].quantity, cart.version), (7, 3));
        assert_eq!(
            cart.set_quantity("Z", 1, Limits::default()),
            Err(CartError::NoSuchLine { sku: "Z".into() })
        );
        cart.remove("B").unwrap();
        assert_eq!(cart.remove("B").unwrap_err().status(), 404);
        cart.clear().unwrap();
        assert!(cart.lines.is_empty());
        assert_eq!(cart.version, 5);
    }

    #[test]
    fn if_match_refuses_a_stale_version() {
        let cart = cart_with(&[("A", 1)]);
        assert_eq!(cart.check_version(Some(1)), Ok(()));
        assert_eq!(cart.check_version(None), Ok(()));
        let stale = cart.check_version(Some(0)).unwrap_err();
        assert_eq!(
            (stale.status(), stale.clone()),
            (412, CartError::Stale { current: 1 })
        );
    }

    #[test]
    fn checkout_freezes_then_places_or_reopens() {
        let mut cart = Cart::default();
        assert_eq!(cart.freeze("g1"), Err(CartError::Empty));
        cart.add(line("A", 1), Limits::default()).unwrap();
        let key = match cart.freeze("g1").unwrap() {
            Freeze::Started { order_key } => order_key,
            other => panic!("{other:?}"),
        };
        assert_eq!(key, "cart-g1-v1");
        assert_eq!(
            cart.freeze("g1"),
            Ok(Freeze::Pending {
                order_key: key.clone()
            }),
            "a second checkout joins the first"
        );
        for refused in [
            cart.add(line("B", 1), Limits::default()),
            cart.set_quantity("A", 2, Limits::default()),
            cart.remove("A"),
            cart.clear(),
        ] {
            assert_eq!(refused, Err(CartError::CheckingOut));
        }
        let mut reopened = cart.clone();
        reopened.refused("only 0 of \"A\" left in stock").unwrap();
        assert_eq!(reopened.status, CartStatus::Open);
        assert!(
            reopened
                .notice
                .as_deref()
                .unwrap()
                .contains("left in stock")
        );
        reopened.add(line("B", 1), Limits::default()).unwrap();

        cart.placed("ord-1").unwrap();
        cart.placed("ord-1").unwrap();
        assert_eq!(cart.placed("ord-2"), Err(CartError::CheckedOut));
        assert_eq!(
            cart.freeze("g1"),
            Ok(Freeze::AlreadyPlaced {
                order_id: "ord-1".into()
            })
        );
        assert_eq!(cart.remove("A"), Err(CartError::CheckedOut));
        // An add after the order starts a fresh cart.
        let before = cart.version;
        cart.add(line("C", 2), Limits::default()).unwrap();
        assert_eq!(cart.status, CartStatus::Open);
        assert_eq!(cart.lines.len(), 1);
        assert!(cart.version > before);
        assert!(cart.notice.is_some());
    }

    #[test]
    fn merging_adds_quantities_within_limits_and_reports_conflicts() {
        let limits = Limits {
            max_lines: 2,
            max_quantity: 10,
        };
        let mut customer = Cart::default();
        customer.add(line("A", 8), limits).unwrap();
        let mut eur = line("E", 1);
        eur.unit_price.currency = "EUR".into();
        let guest = vec![line("A", 5), line("B", 2), line("C", 1), eur];
        let report = customer.merge(&guest, limits).unwrap();
        assert_eq!(report.merged, vec!["B"]);
        let conflicted: Vec<&str> = report.conflicts.iter().map(|c| c.sku.as_str()).collect();
        assert_eq!(conflicted, vec!["A", "C", "E"]);
        assert_eq!(customer.lines[0].quantity, 10);
        assert_eq!(customer.lines[1].quantity, 2);

        let mut guest_cart = cart_with(&[("A", 1)]);
        guest_cart.close().unwrap();
        guest_cart.close().unwrap();
        assert_eq!(guest_cart.add(line("A", 1), limits), Err(CartError::Closed));
        assert_eq!(guest_cart.freeze("g"), Err(CartError::Closed));
    }

    #[test]
    fn a_cart_id_living_again_never_repeats_an_order_key() {
        let key_of = |mut cart: Cart| {
            cart.add(line("A", 1), Limits::default()).unwrap();
            match cart.freeze("g-1").unwrap() {
                Freeze::Started { order_key } => order_key,
                other => panic!("{other:?}"),
            }
        };
        let first = key_of(Cart::new(1_700_000_000_000, [1, 2, 3, 4]));
        // Expired and made again from the same cookie, same versions.
        let again = key_of(Cart::new(1_700_000_000_000, [9, 9, 9, 9]));
        let later = key_of(Cart::new(1_700_000_006_000, [1, 2, 3, 4]));
        assert_eq!(first, "cart-g-1-18bcfe5680001020304-v1");
        assert_ne!(first, again);
        assert_ne!(first, later);
        // A generation is kept through every change.
        let mut cart = Cart::new(5, [0; 4]);
        cart.add(line("A", 1), Limits::default()).unwrap();
        cart.clear().unwrap();
        assert_eq!(cart.generation, "500000000");
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let mut cart = cart_with(&[("A", 1)]);
        let mut eur = line("B", 1);
        eur.unit_price.currency = "EUR".into();
        assert!(matches!(
            cart.add(eur, Limits::default()),
            Err(CartError::CurrencyMismatch { .. })
        ));
    }

    fn held_line(sku: &str, quantity: i64, until_ms: i64) -> CartLine {
        CartLine {
            hold: Some(LineHold {
                drop: "d".into(),
                stock: "s".into(),
                until_ms,
            }),
            ..line(sku, quantity)
        }
    }

    #[test]
    fn a_drop_line_ends_with_its_hold_and_stays_with_its_cart() {
        let mut cart = cart_with(&[("A", 1)]);
        cart.add(held_line("D", 2, 5_000), Limits::default())
            .unwrap();
        assert_eq!(cart.held("D"), 2);
        assert_eq!(cart.held("A"), 0, "an ordinary line holds nothing");
        assert_eq!(cart.next_hold_end(), Some(5_000));
        assert!(cart.end_holds(4_999).is_empty());
        let version = cart.version;
        assert_eq!(cart.end_holds(5_000), vec!["D".to_owned()]);
        assert_eq!(cart.lines.len(), 1);
        assert!(cart.version > version && cart.notice.is_some());

        let mut customer = cart_with(&[("B", 1)]);
        customer
            .add(held_line("D", 1, 9_000), Limits::default())
            .unwrap();
        let report = customer
            .merge(
                &[
                    held_line("D", 1, 8_000),
                    line("C", 1),
                    held_line("B", 1, 9_000),
                ],
                Limits::default(),
            )
            .unwrap();
        assert_eq!(report.merged, vec!["D".to_owned(), "C".to_owned()]);
        assert_eq!(customer.held("D"), 2, "a moved hold adds up");
        assert_eq!(
            customer.next_hold_end(),
            Some(8_000),
            "and ends when the moved one did"
        );
        assert_eq!(report.conflicts[0].sku, "B", "not onto an ordinary line");

        let mut frozen = Cart::default();
        frozen
            .add(held_line("D", 1, 5_000), Limits::default())
            .unwrap();
        frozen.add(line("A", 1), Limits::default()).unwrap();
        frozen.freeze("g-1").unwrap();
        assert!(
            frozen.end_holds(9_000).is_empty(),
            "a checkout keeps its holds"
        );
        assert_eq!(frozen.held("D"), 1);
        let before = frozen.clone();
        frozen.refused("out of stock").unwrap();
        assert_eq!(
            before.holds_given_up(&frozen),
            vec![("s".to_owned(), "D".to_owned())]
        );
        assert_eq!(
            frozen.lines.len(),
            1,
            "a refused order gives its units back"
        );
        assert_eq!(frozen.held("D"), 0);
    }
}
