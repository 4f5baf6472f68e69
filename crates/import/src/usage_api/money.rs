//! The providers' amounts as exact nano-USD: Anthropic writes cents as a decimal string
//! (`"123.4567"` cents is $1.234567), OpenAI writes dollars as a JSON number or a decimal
//! string.
//!
//! The text is converted by integer arithmetic ([`parse_usd_units`]), never through a float.
//! A nano-USD is 10⁻⁷ cent and 10⁻⁹ dollar, so cents with up to seven decimals and dollars
//! with up to nine are exact; finer digits are not refused but rounded once to the nearest
//! nano-USD, halves away from zero (half-up for the positive amounts reports hold). Exponent
//! notation (`1.5e-7`, as a JSON number may print) is accepted.

use tokenwatch_core::money::{MoneyError, NANOS_SCALE, parse_usd_units};

/// Decimal places from cents to nano-USD (1 cent = 10⁷ nano-USD).
const CENTS_TO_NANOS_SCALE: u32 = NANOS_SCALE - 2;

/// Cents as decimal text to nano-USD.
pub fn cents_to_nanos(text: &str) -> Result<i64, String> {
    parse_usd_units(text.trim(), CENTS_TO_NANOS_SCALE).map_err(|e| why(e, "cents"))
}

/// US dollars as decimal text to nano-USD.
pub fn dollars_to_nanos(text: &str) -> Result<i64, String> {
    parse_usd_units(text.trim(), NANOS_SCALE).map_err(|e| why(e, "dollars"))
}

fn why(e: MoneyError, unit: &str) -> String {
    match e {
        MoneyError::OutOfRange(t) => format!("'{t}' {unit} is beyond the range of nano-USD"),
        MoneyError::NotANumber(t) | MoneyError::TooPrecise(t) => {
            format!("'{t}' is not a decimal amount of {unit}")
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn cents_and_dollars_are_exact() {
        assert_eq!(cents_to_nanos("123.4567"), Ok(1_234_567_000));
        assert_eq!(cents_to_nanos("0.36"), Ok(3_600_000));
        assert_eq!(cents_to_nanos("7"), Ok(70_000_000));
        assert_eq!(cents_to_nanos("0.0000001"), Ok(1));
        assert_eq!(dollars_to_nanos("0.0036"), Ok(3_600_000));
        assert_eq!(dollars_to_nanos("0.000000001"), Ok(1));
        assert_eq!(dollars_to_nanos("1.5e-7"), Ok(150));
        assert_eq!(dollars_to_nanos(" 12 "), Ok(12_000_000_000));
    }

    #[test]
    fn finer_than_a_nano_rounds_half_up() {
        assert_eq!(cents_to_nanos("0.00000005"), Ok(1));
        assert_eq!(cents_to_nanos("0.00000004999"), Ok(0));
        assert_eq!(dollars_to_nanos("0.0000000015"), Ok(2));
        assert_eq!(dollars_to_nanos("0.0000000014"), Ok(1));
    }

    #[test]
    fn nonsense_is_refused_in_words() {
        assert_eq!(
            cents_to_nanos("12,5"),
            Err("'12,5' is not a decimal amount of cents".to_owned())
        );
        assert_eq!(
            dollars_to_nanos("1e30"),
            Err("'1e30' dollars is beyond the range of nano-USD".to_owned())
        );
        assert!(dollars_to_nanos("NaN").is_err());
    }

    /// `whole.frac` as decimal text, `frac` zero-padded to `frac_digits` digits.
    fn text(whole: u32, frac: u64, frac_digits: usize) -> String {
        format!("{whole}.{frac:0frac_digits$}")
    }

    /// Integer arithmetic: `whole.frac` (frac of `digits` digits) × 10^`scale`, rounded half up.
    fn expected(whole: u32, frac: u64, digits: u32, scale: u32) -> i64 {
        let whole = i128::from(whole) * 10_i128.pow(scale);
        let frac = i128::from(frac);
        let part = if digits <= scale {
            frac * 10_i128.pow(scale - digits)
        } else {
            let div = 10_i128.pow(digits - scale);
            (frac + div / 2) / div
        };
        i64::try_from(whole + part).unwrap()
    }

    proptest! {
        #[test]
        fn cents_text_is_integer_arithmetic(whole in 0u32..100_000_000, digits in 0u32..12, raw in any::<u64>()) {
            let frac = raw % 10_u64.pow(digits);
            let t = if digits == 0 { whole.to_string() } else { text(whole, frac, digits as usize) };
            prop_assert_eq!(cents_to_nanos(&t), Ok(expected(whole, frac, digits, 7)));
        }

        #[test]
        fn dollars_text_is_integer_arithmetic(whole in 0u32..1_000_000, digits in 0u32..14, raw in any::<u64>()) {
            let frac = raw % 10_u64.pow(digits);
            let t = if digits == 0 { whole.to_string() } else { text(whole, frac, digits as usize) };
            prop_assert_eq!(dollars_to_nanos(&t), Ok(expected(whole, frac, digits, 9)));
        }

        #[test]
        fn dollars_as_json_numbers_read_by_their_text(nanos in 0i64..10_000_000_000_000) {
            // A JSON number with up to nine decimals (what OpenAI writes), through serde_json's
            // f64 and back to text, gives the same nanos.
            let written = tokenwatch_core::money::format_usd_units(nanos, NANOS_SCALE);
            let number: serde_json::Value = serde_json::from_str(&written).unwrap();
            let serde_json::Value::Number(n) = number else { panic!("{written} is a number") };
            prop_assert_eq!(dollars_to_nanos(&n.to_string()), Ok(nanos));
        }
    }
}
