//! Money as integers: `Nanos` is an amount in nano-USD (1 USD = 1_000_000_000), the unit every
//! cost is computed, stored and summed in; `Micros` (1 USD = 1_000_000) is the unit of amounts
//! people type (limits, subscription prices) and of the `*_micros` compatibility fields.
//!
//! Floating point never touches a stored amount. Formatting to a decimal string is exact.
//! [`parse_usd_units`] and [`format_usd_units`] convert between decimal text and an integer
//! count of any unit (`10^-scale` USD), so a change of the stored unit changes one argument.
//! The only rounding from nanos to micros is [`Nanos::to_micros`] (half away from zero), used
//! for compatibility fields and display, never for a stored amount or a sum.

use std::fmt;

/// An amount of US dollars in millionths of a dollar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub i64);

impl Micros {
    /// Exact decimal representation with six fractional digits, e.g. `0.012345`.
    pub fn to_decimal_string(self) -> String {
        format_usd_units(self.0, MICROS_SCALE)
    }

    /// For people: dollars to the cent from $1 up (`$1.23`, `-$2.50`); below $1 every
    /// significant digit, at least two (`$0.05`, `$0.585`, `$0.004321`), so a small amount never
    /// rounds to `$0.00` nor looks equal to a limit it is over.
    pub fn to_usd_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs < 1_000_000 {
            let digits = format!("{abs:06}");
            let kept = digits.trim_end_matches('0');
            let shown = if kept.len() < 2 { &digits[..2] } else { kept };
            return format!("{sign}$0.{shown}");
        }
        let cents = (abs + 5_000) / 10_000;
        format!("{sign}${}.{:02}", cents / 100, cents % 100)
    }

    /// Parse a decimal USD string ("12", "0.5", "-3.141592") into micro-USD, exactly.
    /// More than six fractional digits are rejected rather than silently rounded.
    pub fn parse_usd(text: &str) -> Result<Self, MoneyError> {
        let t = text.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !valid(whole) || !valid(frac) {
            return Err(MoneyError::NotANumber(text.to_owned()));
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise(text.to_owned()));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| MoneyError::OutOfRange(text.to_owned()))?
        };
        let frac_micros: i64 = format!("{frac:0<6}")
            .parse()
            .map_err(|_| MoneyError::NotANumber(text.to_owned()))?;
        let value = whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac_micros))
            .ok_or_else(|| MoneyError::OutOfRange(text.to_owned()))?;
        Ok(Micros(if neg { -value } else { value }))
    }
}

/// Decimal places of a micro-USD amount.
pub const MICROS_SCALE: u32 = 6;

/// Decimal places of a nano-USD amount (what costs are stored in).
pub const NANOS_SCALE: u32 = 9;

/// Exponents beyond this are clamped: 10^10000 overflows any unit and 10^-10000 rounds to zero,
/// so the clamp changes no result and keeps the arithmetic small.
const MAX_EXPONENT: i64 = 10_000;

/// `value` counted in `10^-scale` USD as fixed-point decimal text with exactly `scale`
/// fractional digits (`format_usd_units(1, 6)` is `0.000001`): never an exponent, never
/// through floating point, so the text is exact and parses back to the same integer.
pub fn format_usd_units(value: i64, scale: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let digits = value.unsigned_abs().to_string();
    let width = scale as usize + 1;
    let padded = format!("{digits:0>width$}");
    let (whole, frac) = padded.split_at(padded.len() - scale as usize);
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

/// Parses decimal USD text into an integer count of `10^-scale` USD (`scale` 6 = micro-USD).
///
/// Accepts an optional sign, digits with an optional decimal point, and an optional exponent
/// (`12`, `-0.5`, `.25`, `1e-6`, `2.5E+3`), with any number of fractional digits: the amount
/// is rounded once to the nearest unit, halves away from zero (`0.0000015` → 2 micro-USD).
/// `NaN`, infinities and anything else are [`MoneyError::NotANumber`]; an amount beyond
/// `i64` units is [`MoneyError::OutOfRange`]. No floating point is involved.
pub fn parse_usd_units(text: &str, scale: u32) -> Result<i64, MoneyError> {
    let not_a_number = || MoneyError::NotANumber(text.to_owned());
    let out_of_range = || MoneyError::OutOfRange(text.to_owned());
    let t = text.trim();
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(not_a_number());
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (e_negative, e_digits) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if e_digits.is_empty() || !all_digits(e_digits) {
                return Err(not_a_number());
            }
            let trimmed = e_digits.trim_start_matches('0');
            let magnitude = if trimmed.len() > 6 {
                MAX_EXPONENT
            } else {
                trimmed.parse::<i64>().unwrap_or(0).min(MAX_EXPONENT)
            };
            if e_negative { -magnitude } else { magnitude }
        }
    };
    // The amount is `digits × 10^shift` units.
    let digits = format!("{whole}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let frac_len = i64::try_from(frac.len()).map_err(|_| out_of_range())?;
    let shift = exponent - frac_len + i64::from(scale);
    let (kept, round_up) = if shift >= 0 {
        (
            digits.to_owned() + &"0".repeat(shift.min(MAX_EXPONENT) as usize),
            false,
        )
    } else {
        let dropped = usize::try_from(-shift).unwrap_or(usize::MAX);
        if dropped > digits.len() {
            (String::new(), false)
        } else {
            let (kept, gone) = digits.split_at(digits.len() - dropped);
            (
                kept.to_owned(),
                gone.as_bytes().first().is_some_and(|d| *d >= b'5'),
            )
        }
    };
    let value = if kept.is_empty() {
        0
    } else if kept.len() > 19 {
        return Err(out_of_range());
    } else {
        kept.parse::<i64>().map_err(|_| out_of_range())?
    };
    let value = if round_up {
        value.checked_add(1).ok_or_else(out_of_range)?
    } else {
        value
    };
    Ok(if negative { -value } else { value })
}

impl Micros {
    /// The same amount in nano-USD (exact).
    pub fn to_nanos(self) -> Nanos {
        Nanos(self.0.saturating_mul(1_000))
    }
}

/// An amount of US dollars in billionths of a dollar: an i64 holds ±9.2 billion dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub i64);

impl Nanos {
    /// Rounded half away from zero to micro-USD: for `*_micros` compatibility fields and
    /// display only. Sums are taken in nanos first and rounded once.
    pub fn to_micros(self) -> Micros {
        let rounded = if self.0 >= 0 {
            self.0.saturating_add(500) / 1_000
        } else {
            self.0.saturating_sub(500) / 1_000
        };
        Micros(rounded)
    }

    /// Exact decimal representation with six to nine fractional digits: as many as the amount
    /// needs, at least six, so a whole number of micro-dollars reads as [`Micros`] does
    /// (`0.014625`) and a finer one keeps every digit (`0.00000825`).
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let frac = format!("{:09}", abs % 1_000_000_000);
        let kept = frac.trim_end_matches('0').len().max(6);
        format!("{sign}{}.{}", abs / 1_000_000_000, &frac[..kept])
    }

    /// For people, as [`Micros::to_usd_string`]; below a micro-dollar every significant digit
    /// to the nano-dollar (`$0.00000825`), so a small non-zero cost never shows as `$0.00`.
    pub fn to_usd_string(self) -> String {
        let abs = self.0.unsigned_abs();
        if abs >= 1_000_000_000 || abs.is_multiple_of(1_000) {
            return self.to_micros().to_usd_string();
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        let digits = format!("{abs:09}");
        format!("{sign}$0.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

/// Why a money string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("'{0}' is not a decimal amount of USD")]
    NotANumber(String),
    #[error("'{0}' has more than 6 decimal places (amounts are kept to the micro-dollar)")]
    TooPrecise(String),
    #[error("'{0}' is out of range")]
    OutOfRange(String),
}

/// Splits `total` into parts proportional to `weights` (negative weights count as 0), rounding
/// by largest remainder so the parts sum to `total` exactly; ties go to the earlier part. With
/// no positive weight the split is even.
pub fn split_proportionally(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let positive: Vec<i128> = weights.iter().map(|&w| i128::from(w.max(0))).collect();
    let sum: i128 = positive.iter().sum();
    let (weights, sum) = if sum == 0 {
        (vec![1i128; weights.len()], weights.len() as i128)
    } else {
        (positive, sum)
    };
    let total = i128::from(total);
    let scaled: Vec<i128> = weights.iter().map(|w| total * w).collect();
    let mut out: Vec<i128> = scaled.iter().map(|s| s.div_euclid(sum)).collect();
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&a, &b| {
        scaled[b]
            .rem_euclid(sum)
            .cmp(&scaled[a].rem_euclid(sum))
            .then(a.cmp(&b))
    });
    // The floors fall short by fewer than one unit per part.
    let left = total - out.iter().sum::<i128>();
    for &at in order.iter().take(usize::try_from(left).unwrap_or(0)) {
        out[at] += 1;
    }
    out.into_iter()
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn usd_to_the_cent_or_finer() {
        assert_eq!(Micros(0).to_usd_string(), "$0.00");
        assert_eq!(Micros(1_234_567).to_usd_string(), "$1.23");
        assert_eq!(Micros(1_235_000).to_usd_string(), "$1.24");
        assert_eq!(Micros(-2_500_000).to_usd_string(), "-$2.50");
        assert_eq!(Micros(4_321).to_usd_string(), "$0.004321");
        assert_eq!(Micros(-9_999).to_usd_string(), "-$0.009999");
        assert_eq!(Micros(50_000).to_usd_string(), "$0.05");
        assert_eq!(Micros(585_000).to_usd_string(), "$0.585");
        assert_eq!(Micros(999_999).to_usd_string(), "$0.999999");
    }
    use super::*;

    #[test]
    fn nanos_round_to_micros_half_away_from_zero() {
        assert_eq!(Nanos(8_250).to_micros(), Micros(8));
        assert_eq!(Nanos(8_500).to_micros(), Micros(9));
        assert_eq!(Nanos(8_499).to_micros(), Micros(8));
        assert_eq!(Nanos(-8_500).to_micros(), Micros(-9));
        assert_eq!(Nanos(1_650_000).to_micros(), Micros(1_650));
        assert_eq!(Micros(8).to_nanos(), Nanos(8_000));
    }

    #[test]
    fn nanos_format_exactly() {
        assert_eq!(Nanos(8_250).to_decimal_string(), "0.00000825");
        assert_eq!(Nanos(-1_500_000_001).to_decimal_string(), "-1.500000001");
        assert_eq!(Nanos(14_625_000).to_decimal_string(), "0.014625");
        assert_eq!(Nanos(0).to_decimal_string(), "0.000000");
        assert_eq!(Nanos(2_000_000_000).to_decimal_string(), "2.000000");
        assert_eq!(Nanos(8_250).to_usd_string(), "$0.00000825");
        assert_eq!(Nanos(1).to_usd_string(), "$0.000000001");
        assert_eq!(Nanos(50_000_000).to_usd_string(), "$0.05");
        assert_eq!(Nanos(1_234_567_891).to_usd_string(), "$1.23");
        assert_eq!(Nanos(0).to_usd_string(), "$0.00");
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(Micros(0).to_decimal_string(), "0.000000");
        assert_eq!(Micros(1).to_decimal_string(), "0.000001");
        assert_eq!(Micros(12_345_678).to_decimal_string(), "12.345678");
        assert_eq!(Micros(-1_500_000).to_decimal_string(), "-1.500000");
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(Micros::parse_usd("12"), Ok(Micros(12_000_000)));
        assert_eq!(Micros::parse_usd("0.5"), Ok(Micros(500_000)));
        assert_eq!(Micros::parse_usd(".25"), Ok(Micros(250_000)));
        assert_eq!(Micros::parse_usd("-3.141592"), Ok(Micros(-3_141_592)));
        assert!(matches!(
            Micros::parse_usd("1.0000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Micros::parse_usd("abc"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            Micros::parse_usd(""),
            Err(MoneyError::NotANumber(_))
        ));
    }

    #[test]
    fn formats_any_unit_without_exponents() {
        assert_eq!(format_usd_units(1, 6), "0.000001");
        assert_eq!(format_usd_units(1, 9), "0.000000001");
        assert_eq!(format_usd_units(-1_500_000_000, 9), "-1.500000000");
        assert_eq!(format_usd_units(1_234, 0), "1234");
        assert_eq!(format_usd_units(i64::MIN, 6), "-9223372036854.775808");
    }

    #[test]
    fn parses_any_notation_and_precision_rounding_once() {
        let p = |s: &str| parse_usd_units(s, 6);
        assert_eq!(p("1e-6"), Ok(1));
        assert_eq!(p("1E-06"), Ok(1));
        assert_eq!(p("2.5e+3"), Ok(2_500_000_000));
        assert_eq!(p(".25"), Ok(250_000));
        assert_eq!(p("-3.141592"), Ok(-3_141_592));
        assert_eq!(p("0.0000015"), Ok(2), "halves round away from zero");
        assert_eq!(p("0.00000149999"), Ok(1));
        assert_eq!(p("-0.0000015"), Ok(-2));
        assert_eq!(p("0.0000004"), Ok(0));
        assert_eq!(p("1e-99999999999"), Ok(0));
        assert_eq!(p("0e99999"), Ok(0));
        assert_eq!(p("000012.50"), Ok(12_500_000));
        assert_eq!(parse_usd_units("0.000000001", 9), Ok(1));
        for bad in [
            "",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e",
            "e5",
            "1.2.3",
            "0x10",
            "1 000",
        ] {
            assert!(
                matches!(p(bad), Err(MoneyError::NotANumber(_))),
                "{bad:?} is not a number"
            );
        }
        for huge in ["1e999", "9223372036854.775808", "99999999999999999999"] {
            assert!(
                matches!(p(huge), Err(MoneyError::OutOfRange(_))),
                "{huge:?} is out of range"
            );
        }
        for v in [0, 1, 999_999, 1_000_000, -42, i64::MAX, i64::MIN + 1] {
            assert_eq!(p(&format_usd_units(v, 6)), Ok(v));
        }
    }

    #[test]
    fn proportional_splits_are_exact() {
        assert_eq!(split_proportionally(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(split_proportionally(100, &[3, 1]), [75, 25]);
        assert_eq!(split_proportionally(7, &[0, 0]), [4, 3]);
        assert_eq!(split_proportionally(-10, &[1, 1, 1]), [-3, -3, -4]);
        assert_eq!(split_proportionally(5, &[]), Vec::<i64>::new());
        let parts = split_proportionally(1_000_000_007, &[13, 17, 19, 0, 23]);
        assert_eq!(parts.iter().sum::<i64>(), 1_000_000_007);
        assert_eq!(parts[3], 0);
    }
}
