//! Prices and cost: the shipped table, exact rounding, tiers, batch discounts, model matching
//! and overrides.

use super::*;

fn table() -> PriceTable {
    PriceTable::shipped().unwrap()
}

fn usage(input: i64, output: i64, read: i64, w5: i64, w1: i64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_5m_tokens: w5,
        cache_write_1h_tokens: w1,
        ..Usage::default()
    }
}

#[test]
fn shipped_table_is_sane() {
    let t = table();
    assert_eq!(t.version(), "2026-11-01");
    assert!(t.entries.len() >= 40);
    for e in &t.entries {
        let r = e.price.rates;
        assert!(r.input >= 0 && r.output >= 0, "{}", e.id);
        assert!(r.cache_read <= r.input, "{}: cache read above input", e.id);
        assert!(r.cache_write_1h >= r.cache_write_5m, "{}", e.id);
    }
}

#[test]
fn sonnet_with_every_cache_kind() {
    // 1000×3 + 500×15 + 2000×0.30 + 300×3.75 + 400×6 = 14_625 µ$
    let c = table()
        .cost(
            "anthropic",
            "claude-sonnet-4-5-20250929",
            &usage(1000, 500, 2000, 300, 400),
            CostOptions::default(),
        )
        .unwrap();
    assert_eq!(c.total, Nanos(14_625_000));
    assert_eq!(
        (
            c.input,
            c.output,
            c.cache_read,
            c.cache_write_5m,
            c.cache_write_1h
        ),
        (
            Nanos(3_000_000),
            Nanos(7_500_000),
            Nanos(600_000),
            Nanos(1_125_000),
            Nanos(2_400_000)
        )
    );
    assert_eq!(c.tier, None);
}

#[test]
fn long_context_tier_prices_every_token() {
    // 150k input + 60k cache read = 210k prompt > 200k: 150000×6 + 60000×0.6 + 1000×22.5
    let c = table()
        .cost(
            "anthropic",
            "claude-sonnet-4-5",
            &usage(150_000, 1000, 60_000, 0, 0),
            CostOptions::default(),
        )
        .unwrap();
    assert_eq!(c.total, Nanos((900_000 + 36_000 + 22_500) * 1_000));
    assert_eq!(c.tier, Some(200_000));
    // Gemini 2.5 Pro at exactly 200k stays in the base tier.
    let g = table()
        .cost(
            "gemini",
            "gemini-2.5-pro",
            &usage(200_000, 10, 0, 0, 0),
            CostOptions::default(),
        )
        .unwrap();
    assert_eq!(g.total, Nanos((250_000 + 100) * 1_000));
    let g = table()
        .cost(
            "gemini",
            "gemini-2.5-pro",
            &usage(200_001, 10, 0, 0, 0),
            CostOptions::default(),
        )
        .unwrap();
    // 200_001 × 2.5 = 500_002.5 µ$: exact in nanos.
    assert_eq!(g.total, Nanos(500_002_500 + 150_000));
}

#[test]
fn gpt_4o_cached_and_o3_reasoning() {
    // 176×2.5 + 1024×1.25 + 80×10 = 440 + 1280 + 800
    let c = table()
        .cost(
            "openai",
            "gpt-4o-2024-08-06",
            &usage(176, 80, 1024, 0, 0),
            CostOptions::default(),
        )
        .unwrap();
    assert_eq!(c.total, Nanos(2_520_000));
    // o3: reasoning is part of output and not priced again: 300×2 + 200×0.5 + 900×8
    let mut u = usage(300, 900, 200, 0, 0);
    u.reasoning_tokens = 700;
    assert_eq!(
        table()
            .cost("openai", "o3-2025-04-16", &u, CostOptions::default())
            .unwrap()
            .total,
        Nanos((600 + 100 + 7200) * 1_000)
    );
}

#[test]
fn batch_discount_and_rounding() {
    // claude-haiku-4-5 batch: (1×1 + 1×5) × 0.5 = 3 µ$
    let b = table()
        .cost(
            "anthropic",
            "claude-haiku-4-5",
            &usage(1, 1, 0, 0, 0),
            CostOptions { batch: true },
        )
        .unwrap();
    assert_eq!(b.total, Nanos(3_000));
    // gpt-4o-mini: a token costs 0.15 µ$ in, 0.60 µ$ out, kept exactly in nanos.
    let t = table();
    let cost = |input, output| {
        t.cost(
            "openai",
            "gpt-4o-mini",
            &usage(input, output, 0, 0, 0),
            CostOptions::default(),
        )
        .unwrap()
        .total
    };
    assert_eq!(
        (cost(1, 0), cost(3, 0), cost(0, 1)),
        (Nanos(150), Nanos(450), Nanos(600))
    );
    // The call from issue 17: 19 in, 9 out = $0.00000825, not 8 µ$.
    assert_eq!(cost(19, 9), Nanos(8_250));
    // The one rounding: half a nano-dollar left by a batch discount rounds up, and a price
    // finer than 3 decimals per million rounds to the nano-dollar.
    let fine = |input: &str| ModelPrice::from_decimal_strs(input, input, None, None, None).unwrap();
    let one_token = usage(1, 0, 0, 0, 0);
    let batch = CostOptions { batch: true };
    assert_eq!(
        t.cost_with(&fine("0.001"), &one_token, batch).total,
        Nanos(1)
    );
    assert_eq!(
        t.cost_with(&fine("0.000499"), &one_token, CostOptions::default())
            .total,
        Nanos(0)
    );
    assert_eq!(
        t.cost_with(&fine("0.0005"), &one_token, CostOptions::default())
            .total,
        Nanos(1)
    );
}

#[test]
fn web_search_per_request() {
    let mut u = usage(0, 0, 0, 0, 0);
    u.web_search_requests = 3;
    assert_eq!(
        table()
            .cost("anthropic", "claude-sonnet-4-5", &u, CostOptions::default())
            .unwrap()
            .total,
        Nanos(30_000_000)
    );
}

#[test]
fn matching_rules() {
    let t = table();
    let input = |p: &str, m: &str| t.lookup(p, m).map(|x| x.rates.input);
    assert_eq!(input("openai", "gpt-4o-mini-2024-07-18"), Some(150_000));
    assert_eq!(input("openai", "gpt-4o-2024-08-06"), Some(2_500_000));
    assert_eq!(input("openai", "gpt-5.1-2025-11-13"), Some(1_250_000));
    assert_eq!(
        input("openai", "gpt-4"),
        None,
        "gpt-4o must not price gpt-4"
    );
    assert_eq!(
        input("gemini", "models/gemini-2.5-flash-lite"),
        Some(100_000)
    );
    assert_eq!(
        input("anthropic", "claude-opus-4-20250514"),
        Some(15_000_000)
    );
    assert_eq!(
        input("anthropic", "claude-opus-4-5-20251101"),
        Some(5_000_000)
    );
    assert_eq!(input("groq", "llama-3.3-70b-versatile"), Some(590_000));
    assert_eq!(
        input("together", "llama-3.3-70b-versatile"),
        None,
        "restricted to groq"
    );
    assert_eq!(input("openrouter", "deepseek/deepseek-chat"), Some(280_000));
    assert_eq!(input("x", "totally-unknown"), None);
}

#[test]
fn overrides_win_and_mark_the_version() {
    let mut t = table();
    let p = ModelPrice::from_decimal_strs("1", "2", None, None, None).unwrap();
    t.set_override(Some("groq"), "llama-3.3-70b-versatile", p);
    assert_eq!(
        t.lookup("groq", "llama-3.3-70b-versatile")
            .unwrap()
            .rates
            .input,
        1_000_000
    );
    assert_eq!(t.version(), "2026-11-01+local");
    let err = ModelPrice::from_decimal_strs("x", "2", None, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("input"), "{err}");
}
