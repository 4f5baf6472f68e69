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
    t.set_override(Some("groq"), "llama-3.3-70b-versatile", p.clone());
    assert_eq!(
        t.lookup("groq", "llama-3.3-70b-versatile")
            .unwrap()
            .rates
            .input,
        1_000_000
    );
    assert_eq!(t.version(), "2026-11-01+local");
    // An override of a name the shipped table has as an alias wins for its dated variants too,
    // not only for the exact name.
    t.set_override(None, "claude-3-5-sonnet", p);
    for model in ["claude-3-5-sonnet", "claude-3-5-sonnet-20241022"] {
        assert_eq!(
            t.lookup("anthropic", model).unwrap().rates.input,
            1_000_000,
            "{model}"
        );
    }
    assert_eq!(
        t.lookup("anthropic", "claude-3-7-sonnet-20250219")
            .unwrap()
            .rates
            .input,
        3_000_000
    );
    let err = ModelPrice::from_decimal_strs("x", "2", None, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("input"), "{err}");
}

/// The lookup as a scan of every entry: the rules of [`PriceTable::lookup`] written directly,
/// for the indexed lookup to be checked against.
fn scanned<'t>(t: &'t PriceTable, provider: &str, model: &str) -> Option<&'t ModelPrice> {
    // `name` is a dated or tagged variant of `id`: `id` followed by `-` or `@`.
    let extends = |name: &str, id: &str| {
        name.len() > id.len()
            && name.starts_with(id)
            && matches!(name.as_bytes()[id.len()], b'-' | b'@')
    };
    let model = model.trim();
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut candidates = vec![model];
    if let Some((_, bare)) = model.rsplit_once('/') {
        candidates.push(bare);
    }
    for candidate in candidates {
        for restricted in [true, false] {
            let applies = |e: &&Entry| {
                if restricted {
                    e.providers.iter().any(|p| p == provider)
                } else {
                    e.providers.is_empty()
                }
            };
            let entries = || t.entries.iter().filter(applies);
            if let Some(e) = entries().find(|e| names(e).contains(&candidate)) {
                return Some(&e.price);
            }
            // The longest extended name; the first entry in table order on a tie.
            let best = entries()
                .enumerate()
                .filter_map(|(at, e)| {
                    let len = names(e)
                        .into_iter()
                        .filter(|n| extends(candidate, n))
                        .map(str::len)
                        .max()?;
                    Some((len, std::cmp::Reverse(at), e))
                })
                .max_by_key(|&(len, at, _)| (len, at));
            if let Some((_, _, e)) = best {
                return Some(&e.price);
            }
        }
    }
    None
}

#[test]
fn indexed_lookup_matches_a_scan_of_every_entry() {
    let mut t = table();
    let p = |input: &str| ModelPrice::from_decimal_strs(input, "2", None, None, None).unwrap();
    // Overrides that shadow shipped names for one provider and for all, and a new family.
    t.set_override(Some("anthropic"), "claude-sonnet-4-5", p("1"));
    t.set_override(None, "gpt-4o", p("2"));
    t.set_override(None, "my-model", p("3"));
    t.set_override(Some("groq"), "my-model", p("4"));
    // An override named like a shipped entry's alias: both extend to the same dated names.
    t.set_override(None, "claude-3-5-sonnet", p("5"));
    let mut providers: Vec<String> = t.entries.iter().flat_map(|e| e.providers.clone()).collect();
    providers.extend(["openrouter", "unknown", ""].map(str::to_owned));
    providers.sort();
    providers.dedup();
    let mut models: Vec<String> = Vec::new();
    for e in &t.entries {
        for n in names(e) {
            models.extend([
                n.to_owned(),
                format!("{n}-20250101"),
                format!("{n}@latest"),
                format!("{n}-x-y"),
                format!("vendor/{n}"),
                format!("models/{n}"),
                format!(" {n} "),
                format!("{n}x"),
                n[..n.len() / 2].to_owned(),
            ]);
        }
    }
    models.extend(["", "-", "@", "/", "a/b/c", "totally-unknown"].map(str::to_owned));
    let mut priced = 0;
    for provider in &providers {
        for model in &models {
            let (got, want) = (t.lookup(provider, model), scanned(&t, provider, model));
            assert!(
                got.map(std::ptr::from_ref) == want.map(std::ptr::from_ref),
                "{provider} / {model:?}: indexed {got:?}, scanned {want:?}"
            );
            priced += usize::from(got.is_some());
        }
    }
    // The comparison covered both outcomes, not only misses.
    assert!(priced > models.len(), "{priced} priced lookups");
}
