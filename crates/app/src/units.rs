//! Money as the views show it beside the exact nano-USD amount: a USD number for charts and
//! the rounded micro-USD value older clients read.

/// USD as a number (for charts) from nano-USD; the exact amount is always beside it.
pub fn usd(nanos: i64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "a display number; exact nanos are sent too"
    )]
    let v = nanos as f64 / 1_000_000_000.0;
    v
}

/// The `*_micros` compatibility value of an exact nano-USD amount: rounded once, half-up.
pub fn micros(nanos: i64) -> i64 {
    tokenwatch_core::Nanos(nanos).to_micros().0
}
