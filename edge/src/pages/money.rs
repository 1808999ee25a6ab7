//! Prices as a customer reads them, from minor units (ISO 4217).

/// The number of minor units in a major one, by ISO 4217 code: most
/// currencies have 2 decimal places; these have none or three.
fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// The symbol written before the amount, for the currencies that have a
/// well-known one; others are written with their code after the amount.
fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        "JPY" => "¥",
        _ => return None,
    })
}

/// The decimal amount (`"12.50"`), as schema.org's `Offer.price` wants it:
/// a dot, no grouping, the currency's own number of decimals.
pub fn decimal(amount_minor: i64, currency: &str) -> String {
    let places = exponent(currency);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let units = amount_minor.unsigned_abs();
    if places == 0 {
        return format!("{sign}{units}");
    }
    let scale = 10u64.pow(places);
    let width = places as usize;
    format!("{sign}{}.{:0width$}", units / scale, units % scale)
}

/// The price for a page: `€12.50`, `$3.00`, `1250 ISK`… (`12.50 CHF` for
/// a currency without a symbol here).
pub fn display(amount_minor: i64, currency: &str) -> String {
    let amount = decimal(amount_minor, currency);
    match symbol(currency) {
        Some(s) => match amount.strip_prefix('-') {
            Some(positive) => format!("-{s}{positive}"),
            None => format!("{s}{amount}"),
        },
        None => format!("{amount} {currency}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(decimal(1250, "EUR"), "12.50");
        assert_eq!(decimal(5, "USD"), "0.05");
        assert_eq!(decimal(1250, "JPY"), "1250");
        assert_eq!(decimal(1250, "KWD"), "1.250");
        assert_eq!(decimal(-199, "EUR"), "-1.99");
        assert_eq!(decimal(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn display_puts_a_known_symbol_first_and_a_code_last() {
        assert_eq!(display(1250, "EUR"), "€12.50");
        assert_eq!(display(-300, "USD"), "-$3.00");
        assert_eq!(display(999, "JPY"), "¥999");
        assert_eq!(display(1250, "CHF"), "12.50 CHF");
    }
}
