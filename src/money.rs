//! Money: `rust_decimal::Decimal`, on the wire a string with two decimals ("299.00").

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serializer};

/// Half-up to the cent: the one rounding rule for amounts.
pub fn round(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub fn format(amount: Decimal) -> String {
    format!("{:.2}", round(amount))
}

/// Parses "299", "299.5" or "299.00"; more than two decimals is an error rather than a silent rounding.
pub fn parse(raw: &str) -> Result<Decimal, String> {
    let value: Decimal = raw.trim().parse().map_err(|_| format!("'{raw}' is not an amount like \"299.00\""))?;
    if value.scale() > 2 && value != round(value) {
        return Err(format!("'{raw}' has more than two decimals"));
    }
    if value.abs() >= Decimal::from(1_000_000_000_000i64) {
        return Err(format!("'{raw}' is too large"));
    }
    Ok(round(value))
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&format(*v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|r| parse(&r).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_half_up_and_print_two_decimals() {
        assert_eq!(format("299".parse().unwrap_or_default()), "299.00");
        assert_eq!(round("0.005".parse().unwrap_or_default()).to_string(), "0.01");
        assert_eq!(parse("12.5").ok().map(format), Some("12.50".to_string()));
        assert!(parse("1.234").is_err());
        assert!(parse("abc").is_err());
    }
}
