//! Incremental import of agent log files (JSON Lines), shared by Claude Code and Codex.
//!
//! A pass ([`import`]) is a pipeline: [`scan`](fn@scan) (blocking, CPU-bound: stat every file,
//! read only what is new, parse on every core, merge duplicates keeping the largest usage) hands
//! merged chunks of records to the writer while it reads on, and the writer puts them all into
//! ONE transaction with [`tokenwatch_store::OnConflict::KeepLargest`] (on a SQLite file, through
//! the store's bulk path), then saves the cursors. Only an index of the responses seen (key,
//! tokens, cost) lives for the whole pass, never all its records.
//!
//! The stages, each with its own invariants: `discover` walks the roots, `read` takes what is
//! new from one file, `record` is what a parser hands over and how it is priced, `scan` merges
//! a pass's records, and `pass` runs it all against the store.

mod discover;
mod pass;
mod read;
mod record;
mod scan;

pub use discover::{DirChanges, Found, discover};
pub use pass::{PassOptions, Progress, Quiet, Summary, import};
pub(crate) use read::for_each_line;
pub use record::{FileCtx, FileOut, Interner, Malformed, Pricer, Record};
pub use scan::{Scan, scan};

/// Which agent's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    ClaudeCode,
    Codex,
}

impl LogKind {
    /// The `source` of its events and of its cursors.
    pub fn source(self) -> &'static str {
        match self {
            LogKind::ClaudeCode => "claude_code",
            LogKind::Codex => "codex",
        }
    }
}

/// How an event's cost is decided (Claude Code lines may carry their own `costUSD`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CostMode {
    /// Always from the price table (unknown model: unpriced).
    #[default]
    Calculate,
    /// The line's `costUSD` when present, else calculated.
    Auto,
    /// Only the line's `costUSD`; $0 without one.
    Display,
}
