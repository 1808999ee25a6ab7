//! What an order costs beyond its lines: the shop's promotion, the
//! region's tax, and the simulated payment that captures the total.
//! Integer minor units throughout; rounding is half up, once, on tax.

/// 10 % off a subtotal of at least this (minor units): the one promotion.
pub const PROMOTION_THRESHOLD: i64 = 10_000;
pub const PROMOTION_PERCENT: i64 = 10;
pub const PROMOTION_CODE: &str = "SPEND100-10OFF";

/// Tax rate of a region in basis points (1/100 of a percent).
pub fn tax_basis_points(region: &str) -> i64 {
    match region {
        "eu" => 2_000,
        "us" => 725,
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charges {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

pub fn charges(subtotal: i64, region: &str) -> Charges {
    let discount = if subtotal >= PROMOTION_THRESHOLD {
        subtotal * PROMOTION_PERCENT / 100
    } else {
        0
    };
    let taxable = subtotal - discount;
    let tax = (taxable * tax_basis_points(region) + 5_000) / 10_000;
    Charges {
        subtotal,
        discount,
        tax,
        total: taxable + tax,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_and_tax_in_minor_units() {
        assert_eq!(
            charges(9_999, "us"),
            Charges {
                subtotal: 9_999,
                discount: 0,
                tax: 725,
                total: 10_724
            }
        );
        let big = charges(20_000, "eu");
        assert_eq!((big.discount, big.tax, big.total), (2_000, 3_600, 21_600));
        assert_eq!(charges(1, "us").tax, 0, "0.0725 rounds down");
        assert_eq!(charges(7, "us").tax, 1, "0.5075 rounds up");
        assert_eq!(charges(100, "ap").tax, 0);
    }
}
