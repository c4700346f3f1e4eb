//! Money: `rust_decimal::Decimal`, on the wire a string with two decimals ("299.00").

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serializer};

/// Amounts are stored as NUMERIC(14, 2): anything from here up does not fit.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

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
    if value.abs() >= MAX_AMOUNT {
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
    fn the_largest_amount_is_what_numeric_14_2_holds() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000i64));
        assert!(parse("999999999999.99").is_ok());
        assert!(parse("1000000000000").is_err());
    }

    #[test]
    fn amounts_round_half_up_and_print_two_decimals() {
        assert_eq!(format("299".parse().unwrap_or_default()), "299.00");
        assert_eq!(round("0.005".parse().unwrap_or_default()).to_string(), "0.01");
        assert_eq!(parse("12.5").ok().map(format), Some("12.50".to_string()));
        assert!(parse("1.234").is_err());
        assert!(parse("abc").is_err());
    }
}

/// A required amount, with the same parsing rules.
pub mod required {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Rates and multipliers (`discount_rate` "0.95", `earn_rate` "1"): decimal strings in their shortest form.
pub mod rate {
    use super::*;

    pub fn format(value: Decimal) -> String {
        value.normalize().to_string()
    }

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*value))
    }

    /// Strictly `digits[.digits]` with at most `max_decimals` decimals ("0.95", "1", "10.0"): no sign,
    /// exponent or spaces, so what the OpenAPI pattern admits and what the code accepts are the same.
    pub fn parse(raw: &str, max_decimals: usize) -> Result<Decimal, String> {
        let (whole, fraction) = match raw.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (raw, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let shape_ok = digits(whole)
            && whole.len() <= 12
            && (whole == "0" || !whole.starts_with('0'))
            && fraction.is_none_or(|f| digits(f) && f.len() <= max_decimals);
        if !shape_ok {
            return Err(format!("must be a decimal string like \"0.95\" with at most {max_decimals} decimals"));
        }
        raw.parse::<Decimal>().map_err(|_| format!("'{raw}' is not a decimal number"))
    }

    /// `parse`, then the range: `min < value <= max`, or `min <= value <= max` when `min_inclusive`.
    pub fn parse_within(
        raw: &str, max_decimals: usize, min: Decimal, min_inclusive: bool, max: Decimal,
    ) -> Result<Decimal, String> {
        let value = parse(raw, max_decimals)?;
        let above = if min_inclusive { value >= min } else { value > min };
        if above && value <= max {
            Ok(value)
        } else {
            let open = if min_inclusive { '[' } else { '(' };
            Err(format!("must be in {open}{min}, {max}]"))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rates_print_short_and_parse_strictly() {
            let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
            assert_eq!(format(d("0.9500")), "0.95");
            assert_eq!(format(d("1.000")), "1");
            assert_eq!(format(d("0")), "0");
            assert_eq!(parse("0.95", 4), Ok(d("0.95")));
            assert_eq!(parse("10", 3), Ok(d("10")));
            for bad in ["", ".5", "1.", "-1", "+1", "1e2", " 1", "0.12345", "1,5", "0x1", "01", "00.5"] {
                assert!(parse(bad, 4).is_err(), "{bad:?} must be rejected");
            }
            assert_eq!(parse_within("1", 4, Decimal::ZERO, false, Decimal::ONE), Ok(Decimal::ONE));
            assert!(parse_within("0", 4, Decimal::ZERO, false, Decimal::ONE).is_err());
            assert!(parse_within("0", 4, Decimal::ZERO, true, Decimal::ONE).is_ok());
            assert!(parse_within("1.0001", 4, Decimal::ZERO, true, Decimal::ONE).is_err());
        }
    }
}
