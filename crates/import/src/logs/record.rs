//! What a format's parser hands over (the records and bad lines of one file), and how a record
//! is priced and turned into an event once duplicates are merged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokenwatch_core::pricing::{CostOptions, ModelPrice, PriceTable};
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};

use super::CostMode;
use crate::new_id;

/// What one file contributed to a pass.
#[derive(Debug, Default)]
pub struct FileOut {
    pub records: Vec<Record>,
    pub malformed: Vec<Malformed>,
    /// Events whose model was not in the log and was assumed (Codex before any `turn_context`).
    pub fallback_models: u64,
}

/// A line that could not be read; it is skipped and the import goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub path: PathBuf,
    /// 1-based.
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

/// Context a parser needs for one file.
pub struct FileCtx<'a> {
    pub path: &'a Path,
    /// Project name derived from the path (Claude Code: the directory under `projects/`).
    pub project: Option<Arc<str>>,
}

/// One usage found in a log line: compact (strings shared within a file), priced only after
/// duplicates are merged. Turned into a [`UsageEvent`] by [`Pricer::event`].
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Box<str>,
    pub ts_ms: i64,
    pub source: Source,
    pub provider: &'static str,
    pub endpoint: &'static str,
    pub model: Arc<str>,
    pub usage: Usage,
    /// What the line itself said the call cost (Claude Code's `costUSD`).
    pub line_cost_usd: Option<f64>,
    /// Claude Code's own error line: recorded at $0 as an upstream error.
    pub synthetic: bool,
    pub project: Option<Arc<str>>,
    pub session: Option<Arc<str>>,
    pub agent: Option<Arc<str>>,
    pub cwd: Option<Arc<str>>,
    pub git_branch: Option<Arc<str>>,
    pub client_version: Option<Arc<str>>,
    pub request_id: Option<Box<str>>,
    pub stop_reason: Option<Arc<str>>,
    pub tools: Box<[Arc<str>]>,
    pub tags: Box<[(&'static str, Arc<str>)]>,
}

/// Shares repeated strings (model, session, cwd, …) of one file.
#[derive(Default)]
pub struct Interner(HashMap<Box<str>, Arc<str>>);

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Box::from(s), Arc::clone(&a));
        a
    }
}

/// Prices records, looking each model up once.
pub struct Pricer<'a> {
    prices: &'a PriceTable,
    cost_mode: CostMode,
    cache: HashMap<(&'static str, Arc<str>), Option<&'a ModelPrice>>,
}

impl<'a> Pricer<'a> {
    pub fn new(prices: &'a PriceTable, cost_mode: CostMode) -> Self {
        Pricer {
            prices,
            cost_mode,
            cache: HashMap::new(),
        }
    }

    /// `(cost_nanos, price_version)` of a record under the cost mode.
    pub fn cost(&mut self, r: &Record) -> (Option<i64>, Option<String>) {
        if r.synthetic {
            return (Some(0), None);
        }
        let from_line = |usd: f64| {
            // The line's own figure is a float of dollars; one rounding to nano-dollars.
            #[expect(
                clippy::cast_possible_truncation,
                reason = "a log's cost in nano-USD fits i64 by orders of magnitude"
            )]
            let nanos = (usd * 1_000_000_000.0).round() as i64;
            (Some(nanos), Some("log:costUSD".to_owned()))
        };
        match (self.cost_mode, r.line_cost_usd) {
            (CostMode::Auto | CostMode::Display, Some(usd)) => from_line(usd),
            (CostMode::Display, None) => (Some(0), None),
            (CostMode::Calculate, _) | (CostMode::Auto, None) => {
                if r.usage.is_empty() {
                    return (Some(0), None);
                }
                let prices = self.prices;
                let price = *self
                    .cache
                    .entry((r.provider, Arc::clone(&r.model)))
                    .or_insert_with(|| prices.lookup(r.provider, &r.model));
                prices.price_at(price, &r.usage, CostOptions::default())
            }
        }
    }

    /// The event of a record, with a fresh id.
    pub fn event(&mut self, r: &Record) -> UsageEvent {
        let own = |a: &Option<Arc<str>>| a.as_deref().map(str::to_owned);
        let mut e = UsageEvent::blank(
            new_id(),
            r.ts_ms,
            r.source,
            r.provider,
            &r.model,
            r.endpoint,
            r.key.to_string(),
        );
        e.usage = r.usage;
        (e.cost_nanos, e.price_version) = self.cost(r);
        if r.synthetic {
            e.status = EventStatus::UpstreamError;
            e.error_type = Some("api_error_message".to_owned());
        }
        e.project = own(&r.project);
        e.session_id = own(&r.session);
        e.agent = own(&r.agent);
        e.cwd = own(&r.cwd);
        e.git_branch = own(&r.git_branch);
        e.client_version = own(&r.client_version);
        e.upstream_request_id = r.request_id.as_deref().map(str::to_owned);
        e.stop_reason = own(&r.stop_reason);
        e.tools_used = r.tools.iter().map(|t| t.to_string()).collect();
        e.tags = r
            .tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_string()))
            .collect();
        e
    }
}
