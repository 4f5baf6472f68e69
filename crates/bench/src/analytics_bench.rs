//! `tokenwatch-bench analytics`: the dashboard's queries over a large store, on SQLite and on
//! PostgreSQL, each answered from the hourly rollup and — as the baseline measured in the same
//! run — from the raw events.
//!
//! Events are generated deterministically (default 10 million over the last 90 days, 1 in 10
//! tagged) and inserted through `Store::insert_events`, the writer's own path, so the rollup is
//! maintained by the production code and the insert rate includes that cost. An existing
//! database with at least the requested number of events is reused. For each engine and range
//! (30 and 90 days) it times the summary and the daily timeseries stacked by model (exactly the
//! API's computations, without HTTP), the per-model breakdown, and `report daily` by model (the
//! CLI's computation). Before timing, the totals from the rollup must equal the totals from the
//! raw events, the daily report must equal the one summed from the events, and (when generated in this run) the sums
//! the generator computed: a mismatch fails the run; timings never do.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokenwatch_app::analytics::series::{self, Bucket};
use tokenwatch_app::analytics::{Scope, summary};
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};
use tokenwatch_store::reports::{Breakdown, Period};
use tokenwatch_store::{AggKey, AggSums, EventFilter, Store};

const DAY_MS: i64 = 86_400_000;
const BATCH: usize = 5_000;
const MODELS: &[(&str, &str)] = &[
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("gemini", "gemini-2.5-pro"),
    ("gemini", "gemini-2.5-flash"),
];

pub struct Plan {
    pub events: u64,
    pub sqlite: String,
    pub postgres: Option<String>,
    pub runs: usize,
    pub smoke: bool,
    pub out: std::path::PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Timing {
    pub engine: String,
    pub query: String,
    pub range_days: i64,
    pub path: String,
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct EngineReport {
    pub engine: String,
    pub events: i64,
    pub generated: u64,
    pub insert_events_per_s: Option<f64>,
    pub timings: Vec<Timing>,
}

/// A deterministic event `i` of `n`, spread evenly over `[start, start + span)`.
fn event(i: u64, n: u64, start_ms: i64, span_ms: i64) -> UsageEvent {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let (provider, model) = MODELS[(x % MODELS.len() as u64) as usize];
    let offset = i128::from(span_ms) * i128::from(i) / i128::from(n.max(1));
    let ts_ms = start_ms + i64::try_from(offset).unwrap_or(0) + (x % 997) as i64;
    let small = (x % 1000) as i64;
    let id = format!("b{i:011}");
    let source = if x.is_multiple_of(7) {
        Source::ClaudeCode
    } else {
        Source::Proxy
    };
    let mut e = UsageEvent::blank(id.clone(), ts_ms, source, provider, model, "messages", id);
    e.project = Some(format!("project-{}", x % 20));
    e.session_id = Some(format!("s{}", i / 40));
    e.usage = Usage {
        input_tokens: 200 + small * 3,
        output_tokens: 50 + small,
        cache_read_tokens: if x.is_multiple_of(3) {
            4000 + small * 10
        } else {
            0
        },
        cache_write_5m_tokens: if x.is_multiple_of(11) { 1000 } else { 0 },
        ..Usage::default()
    };
    e.cost_nanos = if x.is_multiple_of(100) {
        None
    } else {
        Some(100 + small * 37)
    };
    e.price_version = Some("bench".to_owned());
    e.duration_ms = Some(300 + small * 5);
    e.ttft_ms = Some(100 + small);
    if x.is_multiple_of(50) {
        e.status = EventStatus::UpstreamError;
    }
    e.http_status = Some(200);
    e.streamed = true;
    if x.is_multiple_of(10) {
        e.tags = vec![("team".to_owned(), format!("team-{}", x % 5))];
    }
    e
}

fn add(s: &mut AggSums, e: &UsageEvent) {
    s.events += 1;
    s.requests += e.requests;
    s.usage += e.usage;
    s.cost_nanos += e.cost_nanos.unwrap_or(0);
}

/// Inserts events `have..n`; returns the sums of the 30-day window (when all were generated
/// here) and the insert rate.
async fn generate(
    store: &Store,
    have: u64,
    n: u64,
    start_ms: i64,
    span_ms: i64,
    window: (i64, i64),
) -> anyhow::Result<(Option<AggSums>, Option<f64>)> {
    if have >= n {
        return Ok((None, None));
    }
    let mut sums = AggSums::default();
    let began = Instant::now();
    let mut i = have;
    let mut last_report = Instant::now();
    while i < n {
        let end = (i + BATCH as u64).min(n);
        let batch: Vec<UsageEvent> = (i..end).map(|k| event(k, n, start_ms, span_ms)).collect();
        for e in batch
            .iter()
            .filter(|e| e.ts_ms >= window.0 && e.ts_ms < window.1)
        {
            add(&mut sums, e);
        }
        store.insert_events(&batch).await?;
        i = end;
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!("  {i} / {n} events");
            last_report = Instant::now();
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let rate = (n - have) as f64 / began.elapsed().as_secs_f64();
    Ok(((have == 0).then_some(sums), Some(rate)))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn time<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(f64, f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    f().await?; // warm the caches once, untimed
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    Ok((
        pct(&v, 0.5),
        pct(&v, 0.95),
        v.last().copied().unwrap_or(0.0),
    ))
}

fn total(rows: &[tokenwatch_store::AggRow]) -> AggSums {
    let mut s = AggSums::default();
    for r in rows {
        s.add(&r.sums);
    }
    s
}

async fn bench_engine(
    name: &str,
    url: &str,
    plan: &Plan,
    now_ms: i64,
) -> anyhow::Result<EngineReport> {
    let store = Store::open(url)
        .await
        .with_context(|| format!("opening {name} at {url}"))?;
    let span = 90 * DAY_MS;
    let start = now_ms - span;
    let have = u64::try_from(store.count_events(&EventFilter::all_tenants()).await?).unwrap_or(0);
    eprintln!("{name}: {have} events stored, {} wanted", plan.events);
    let window = (now_ms - 30 * DAY_MS, now_ms);
    let (expected, rate) = generate(&store, have, plan.events, start, span, window).await?;
    let events = store.count_events(&EventFilter::all_tenants()).await?;

    let mut timings = Vec::new();
    for days in [30, 90] {
        let filter = EventFilter {
            since_ms: Some(now_ms - days * DAY_MS),
            until_ms: Some(now_ms),
            ..EventFilter::all_tenants()
        };
        // Correctness before speed: the rollup's totals equal the raw events' totals.
        let fast = total(&store.aggregate(&filter, None, &AggKey::Model).await?);
        let slow = total(&store.aggregate_raw(&filter, None, &AggKey::Model).await?);
        if fast != slow {
            bail!("{name} {days}d: rollup totals {fast:?} differ from raw totals {slow:?}");
        }
        if let (30, Some(want)) = (days, expected) {
            let got = (
                fast.events,
                fast.usage.input_tokens,
                fast.usage.output_tokens,
                fast.usage.cache_read_tokens,
                fast.cost_nanos,
            );
            let exp = (
                want.events,
                want.usage.input_tokens,
                want.usage.output_tokens,
                want.usage.cache_read_tokens,
                want.cost_nanos,
            );
            if got != exp {
                bail!("{name} 30d: totals {got:?} differ from the generated {exp:?}");
            }
        }
        let scope = Scope {
            filter: filter.clone(),
            tz: jiff::tz::TimeZone::UTC,
            tz_name: "UTC".to_owned(),
            since_ms: now_ms - days * DAY_MS,
            until_ms: now_ms,
            now_ms,
        };
        let runs = plan.runs;
        let raw_runs = if plan.smoke { runs } else { 3 };
        let mut push = |query: &str, path: &str, runs: usize, t: (f64, f64, f64)| {
            timings.push(Timing {
                engine: name.to_owned(),
                query: query.to_owned(),
                range_days: days,
                path: path.to_owned(),
                runs,
                p50_ms: t.0,
                p95_ms: t.1,
                max_ms: t.2,
            });
        };
        let t = time(runs, || async {
            summary::build(&store, &scope)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .await?;
        push("summary", "rollup", runs, t);
        let t = time(runs, || async {
            series::build(
                &store,
                &scope,
                Bucket::Day,
                &AggKey::Model,
                "model".to_owned(),
            )
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .await?;
        push("timeseries (days, by model)", "rollup", runs, t);
        let t = time(raw_runs, || async {
            store
                .aggregate_raw(&filter, Some(DAY_MS), &AggKey::Model)
                .await
                .map(|_| ())
                .map_err(Into::into)
        })
        .await?;
        push("timeseries (days, by model)", "raw", raw_runs, t);
        let t = time(runs, || async {
            store
                .aggregate(&filter, None, &AggKey::Model)
                .await
                .map(|_| ())
                .map_err(Into::into)
        })
        .await?;
        push("breakdown (by model)", "rollup", runs, t);
        let t = time(raw_runs, || async {
            store
                .aggregate_raw(&filter, None, &AggKey::Model)
                .await
                .map(|_| ())
                .map_err(Into::into)
        })
        .await?;
        push("breakdown (by model)", "raw", raw_runs, t);
        let t = time(runs, || async {
            store
                .tag_totals(&filter)
                .await
                .map(|_| ())
                .map_err(Into::into)
        })
        .await?;
        push("tags (part of summary)", "rollup", runs, t);

        // `report daily --breakdown model`, from the rollup and (the baseline) from the events;
        // the two must agree before either is timed.
        let utc = jiff::tz::TimeZone::UTC;
        let daily = |raw: bool| {
            let (store, filter, utc) = (&store, &filter, &utc);
            async move {
                if raw {
                    store
                        .period_report_raw(filter, Period::Day, utc, Breakdown::Model)
                        .await
                } else {
                    store
                        .period_report(filter, Period::Day, utc, Breakdown::Model)
                        .await
                }
            }
        };
        let shape = |rows: Vec<tokenwatch_store::reports::ReportRow>| {
            rows.into_iter()
                .map(|r| (r.label, r.sums, r.models, r.breakdown))
                .collect::<Vec<_>>()
        };
        let (fast, slow) = (shape(daily(false).await?), shape(daily(true).await?));
        if fast != slow {
            bail!("{name} {days}d: report daily from the rollup differs from the events");
        }
        let t = time(runs, || async {
            daily(false).await.map(|_| ()).map_err(Into::into)
        })
        .await?;
        push("report daily (by model)", "rollup", runs, t);
        let t = time(raw_runs, || async {
            daily(true).await.map(|_| ()).map_err(Into::into)
        })
        .await?;
        push("report daily (by model)", "raw", raw_runs, t);
    }
    store.close().await;
    Ok(EngineReport {
        engine: name.to_owned(),
        events,
        generated: plan.events.saturating_sub(have),
        insert_events_per_s: rate,
        timings,
    })
}

#[expect(clippy::print_stdout, reason = "the table is the benchmark's output")]
pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    // Align "now" to the minute so reruns over a reused database see the same ranges' shape.
    let now_ms = now_ms - now_ms.rem_euclid(60_000);
    let mut reports = vec![bench_engine("sqlite", &plan.sqlite, plan, now_ms).await?];
    if let Some(pg) = &plan.postgres {
        reports.push(bench_engine("postgres", pg, plan, now_ms).await?);
    }
    println!(
        "analytics benchmark: {} events over 90 days ({} mode)",
        plan.events,
        if plan.smoke { "smoke" } else { "full" }
    );
    for r in &reports {
        println!(
            "{}: {} events stored{}",
            r.engine,
            r.events,
            r.insert_events_per_s.map_or(String::new(), |x| format!(
                ", inserted {} at {x:.0} events/s (rollup kept by the insert path)",
                r.generated
            ))
        );
        println!(
            "  {:<36} {:>5} {:>7} {:>5} {:>10} {:>10} {:>10}",
            "query", "range", "path", "runs", "p50 ms", "p95 ms", "max ms"
        );
        for t in &r.timings {
            println!(
                "  {:<36} {:>4}d {:>7} {:>5} {:>10.2} {:>10.2} {:>10.2}",
                t.query, t.range_days, t.path, t.runs, t.p50_ms, t.p95_ms, t.max_ms
            );
        }
    }
    if let Some(dir) = plan.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&plan.out, serde_json::to_string_pretty(&reports)?)?;
    let figures: usize = reports.iter().map(|r| r.timings.len()).sum();
    if figures != reports.len() * 16 {
        bail!("only {figures} figures were produced");
    }
    Ok(())
}

/// Creates the database of a PostgreSQL URL when it does not exist (dropping it first when
/// `fresh`), through the server's `postgres` maintenance database.
pub async fn ensure_pg_database(url: &str, fresh: bool) -> anyhow::Result<()> {
    let (base, name) = url
        .rsplit_once('/')
        .filter(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .context("the PostgreSQL URL must end in /DATABASE (letters, digits, _)")?;
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres")).await?;
    if fresh {
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&admin)
            .await?;
    }
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&admin)
        .await?;
    if exists.is_none() {
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
    }
    admin.close().await;
    Ok(())
}
