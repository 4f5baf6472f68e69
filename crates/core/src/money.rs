//! Money as integers: `Nanos` is an amount in nano-USD (1 USD = 1_000_000_000), the unit every
//! cost is computed, stored and summed in; `Micros` (1 USD = 1_000_000) is the unit of amounts
//! people type (limits, subscription prices) and of the `*_micros` compatibility fields.
//!
//! Floating point never touches a stored amount. Formatting to a decimal string is exact. The
//! only rounding from nanos to micros is [`Nanos::to_micros`] (half away from zero), used for
//! compatibility fields and display, never for a stored amount or a sum.

use std::fmt;

/// An amount of US dollars in millionths of a dollar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub i64);

impl Micros {
    /// Exact decimal representation with six fractional digits, e.g. `0.012345`.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
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
}
