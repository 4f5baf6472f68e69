//! `tokenwatch-bench proxy`: what tokenwatch costs a request, with recording on, measured against
//! going straight to the same mock upstream in the same run.
//!
//! Every scenario interleaves direct and proxied traffic so machine noise hits both; figures are
//! medians and percentiles of the difference. After every scenario the number of recorded events
//! must equal the number of proxied requests: a lost event fails the run. Timings never fail it.

mod analytics_bench;
mod cc_corpus;
mod import_bench;
mod load;
mod paced;
mod procs;
mod realistic;
mod relay;
mod report;
mod scenarios;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks for tokenwatch (run with --release)")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Proxy overhead: added latency, streaming delay, concurrency, saturation, memory.
    Proxy {
        /// A few hundred requests per scenario; checks only that nothing was lost and every
        /// figure was produced (what CI runs).
        #[arg(long)]
        smoke: bool,
        /// Where to write the figures as JSON.
        #[arg(long, default_value = "bench-out/proxy.json")]
        out: PathBuf,
        /// Run only these scenarios (comma-separated: small, body_100kb, real_small,
        /// real_small_newconn, real_small_tls, real_small_h2, real_stream, sdk_small, one_conn,
        /// peer_litellm, wrk, stream_50, streams_1000, saturation, sustained_60s, soak), e.g.
        /// while profiling one of them. The soak runs only when named here (and for a few
        /// seconds in smoke mode). sdk_small times the official Python SDKs (anthropic, then
        /// openai) direct and through tokenwatch; it is skipped, with a note, when --python
        /// cannot import them. wrk runs `wrk -c1` and `-c16` against going direct, a bare hyper
        /// proxy and tokenwatch in rotated rounds; it is skipped when wrk is not installed.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Seconds of saturation in the soak, before its 30 s of idle.
        #[arg(long, default_value_t = 600)]
        soak_secs: u64,
        /// Open-loop arrival rate of the small and sustained scenarios in requests per second
        /// (the 100 kB scenario runs at a fifth of it). The targets are stated at 5000.
        #[arg(long, default_value_t = 5000.0)]
        rate: f64,
        /// The Python interpreter for sdk_small, with the `anthropic` and `openai` packages
        /// (the SDK test suite's virtualenv; see tests/sdk/requirements.txt).
        #[arg(long, default_value = "tests/sdk/.venv/bin/python")]
        python: PathBuf,
    },
    /// Claude Code log import: MB/s and peak RSS of a first import and an unchanged re-run,
    /// against ccusage 20.0.24 on the same corpus (installed with npm into bench-out/ if
    /// missing), with daily totals compared per day.
    Import {
        /// Corpus directory (holding projects/); generated if missing.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Size of a generated corpus.
        #[arg(long, default_value_t = 520)]
        size_mb: u64,
        /// ccusage binary (default: bench-out/ccusage, installed on demand).
        #[arg(long)]
        ccusage: Option<PathBuf>,
        /// Runs of each measurement; medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// A 6 MB corpus, one run, ccusage only if already installed (what CI runs).
        #[arg(long)]
        smoke: bool,
        #[arg(long, default_value = "bench-out/import.json")]
        out: PathBuf,
    },
    /// Dashboard queries (summary, timeseries, breakdown) over 10 million events on SQLite and
    /// PostgreSQL, from the hourly rollup and from the raw events; a reused database is kept.
    Analytics {
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// SQLite file (reused when it already holds the events).
        #[arg(long, default_value = "bench-out/analytics.db")]
        sqlite: String,
        /// PostgreSQL database URL; the database is created when missing.
        #[arg(long)]
        postgres: Option<String>,
        /// Timed runs per query (after one untimed warm-up).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// 20,000 events in fresh databases, 3 runs: checks the totals and that every figure
        /// was produced (what CI runs).
        #[arg(long)]
        smoke: bool,
        #[arg(long, default_value = "bench-out/analytics.json")]
        out: PathBuf,
    },
    /// Write the benchmark's Claude Code corpus without running anything.
    Corpus {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 520)]
        size_mb: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Percent of assistant lines written as `"usage": {` (with spaces).
        #[arg(long, default_value_t = 5)]
        pretty_percent: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Proxy {
            smoke,
            out,
            only,
            rate,
            soak_secs,
            python,
        } => {
            // The generator runs on one thread: it shares 2 cores with the mock and tokenwatch.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let soak = scenarios::SoakPlan {
                load: std::time::Duration::from_secs(soak_secs),
                idle: std::time::Duration::from_secs(30),
            };
            let results = rt.block_on(scenarios::run(smoke, &only, rate, &soak, &python))?;
            report::print(&results, smoke);
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
            report::check(&results, smoke)
        }
        Bench::Import {
            corpus,
            size_mb,
            ccusage,
            runs,
            smoke,
            out,
        } => import_bench::run(&import_bench::Plan {
            corpus,
            size_mb,
            ccusage,
            runs,
            smoke,
            out,
        }),
        Bench::Analytics {
            events,
            sqlite,
            postgres,
            runs,
            smoke,
            out,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let scratch = tempfile::tempdir()?;
                let (events, runs, sqlite) = if smoke {
                    let path = scratch.path().join("smoke.db").display().to_string();
                    (20_000, 3, path)
                } else {
                    (events, runs, sqlite)
                };
                if let Some(pg) = &postgres {
                    analytics_bench::ensure_pg_database(pg, smoke).await?;
                }
                analytics_bench::run(&analytics_bench::Plan {
                    events,
                    sqlite,
                    postgres,
                    runs,
                    smoke,
                    out,
                })
                .await
            })
        }
        Bench::Corpus {
            out,
            size_mb,
            seed,
            pretty_percent,
        } => {
            let stats = cc_corpus::generate(&out, size_mb, seed, pretty_percent)?;
            print_corpus_stats(&stats);
            Ok(())
        }
    }
}

#[expect(clippy::print_stdout, reason = "the command's output")]
fn print_corpus_stats(stats: &cc_corpus::CorpusStats) {
    println!(
        "{} files, {} bytes, {} lines",
        stats.files, stats.bytes, stats.lines
    );
}
