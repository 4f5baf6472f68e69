//! `tokenwatch-bench proxy`: what tokenwatch costs a request, with recording on, measured against
//! going straight to the same mock upstream in the same run.
//!
//! Every scenario interleaves direct and proxied traffic so machine noise hits both; figures are
//! medians and percentiles of the difference. After every scenario the number of recorded events
//! must equal the number of proxied requests: a lost event fails the run. Timings never fail it.

mod load;
mod paced;
mod procs;
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Proxy { smoke, out } => {
            // The generator runs on one thread: it shares 2 cores with the mock and tokenwatch.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let results = rt.block_on(scenarios::run(smoke))?;
            report::print(&results, smoke);
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
            report::check(&results, smoke)
        }
    }
}
