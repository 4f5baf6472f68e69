//! Recording: turns a finished proxied exchange into priced `UsageEvent`s, off the hot path.
//!
//! The tee hands a [`Finished`] record to the [`EventSink`], which queues it for the recording
//! thread (parse the request shape, parse a captured body, price the usage) and never blocks:
//! when the queue is full (or past a sixteenth of its byte budget), the record is enriched on
//! the caller's task instead of being dropped.
//! A queued record owns its bytes: the request and response bodies it keeps are copied into
//! buffers of their exact size, never slices that would pin a connection's read buffer, and
//! the queue is bounded by the bytes its records retain (`recording.queue_bytes`, shared with
//! the writer's queue), not only by their count.
//! Exchanges a budget counted are priced on the caller's task at once, for exact budgets. The
//! resulting events go to the store's `Recorder`, which batches them to the database and spills
//! to a file when it cannot keep up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokenwatch_app::pipeline::Pipeline;
use tokenwatch_core::event::RequestShape;
use tokenwatch_core::event::USAGE_UNKNOWN;
use tokenwatch_core::pricing::{CostOptions, PriceTable};
use tokenwatch_core::providers::{Endpoint, ProviderKind, QuickFacts, ResponseFacts};
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};
use tokenwatch_store::QueueBudget;
use tokenwatch_store::yielding::Promoter;

use crate::proxy::decode::decode_all;
use crate::proxy::headers::ResponseHeaderFacts;
use tokenwatch_app::attribution::RequestMeta;

/// What the proxy knew about a request when it sent it.
pub struct Exchange {
    pub ts_ms: i64,
    pub provider: Arc<str>,
    pub kind: ProviderKind,
    pub endpoint: Endpoint,
    /// Path relative to the provider base (no query: it may hold `key=`).
    pub path: String,
    pub quick: QuickFacts,
    /// The request body, kept to compute its shape later (copied before it is queued).
    pub request_body: Option<Bytes>,
    pub request_bytes: i64,
    pub meta: RequestMeta,
    pub http_status: Option<u16>,
    pub response_headers: ResponseHeaderFacts,
    pub streamed: bool,
}

/// What the side copy of the response yielded.
pub enum Captured {
    /// Parsed incrementally while streaming.
    Facts(ResponseFacts),
    /// Kept whole, to parse now.
    Body {
        parts: Vec<Bytes>,
        encoding: Option<String>,
    },
    /// Larger than the capture limit: forwarded, but its usage is unknown.
    TooLarge,
    /// Unsupported or corrupt content encoding.
    Unreadable,
    /// No response body at all (upstream unreachable, timeout before headers).
    Nothing,
}

/// A response that has ended, however it ended.
pub struct Finished {
    pub exchange: Exchange,
    pub status: EventStatus,
    pub captured: Captured,
    pub ttft_ms: Option<i64>,
    pub duration_ms: i64,
    pub response_bytes: i64,
}

impl Finished {
    /// Makes the record own what it keeps: the request body and a captured response body are
    /// copied into buffers of exactly their size (the response's parts into one). Until then
    /// they may be slices of a connection's read buffer, which they would keep alive whole.
    pub fn detach(&mut self) {
        if let Some(body) = &mut self.exchange.request_body {
            *body = Bytes::copy_from_slice(body);
        }
        if let Captured::Body { parts, .. } = &mut self.captured {
            let mut whole = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for part in parts.iter() {
                whole.extend_from_slice(part);
            }
            *parts = vec![Bytes::from(whole)];
        }
    }

    /// Bytes this record holds in memory once [`detach`](Self::detach)ed: its own size, its
    /// bodies, and the request facts it carries.
    pub fn retained_bytes(&self) -> usize {
        let ex = &self.exchange;
        let body = match &self.captured {
            Captured::Body { parts, encoding } => {
                parts.iter().map(Bytes::len).sum::<usize>()
                    + std::mem::size_of::<Bytes>()
                    + encoding.as_ref().map_or(0, String::len)
            }
            _ => 0,
        };
        let tags: usize = ex.meta.tags.iter().map(|(k, v)| k.len() + v.len()).sum();
        std::mem::size_of::<Self>()
            + ex.request_body.as_ref().map_or(0, Bytes::len)
            + ex.path.len()
            + ex.quick.model.as_ref().map_or(0, String::len)
            + tags
            + body
    }
}

/// A record waiting for the recording thread, and the bytes it took from the budget.
struct Queued {
    finished: Finished,
    bytes: usize,
}

/// Builds events from finished exchanges and hands them to the pipeline (tag rules, budget
/// spend, alerts, the live feed, the batch writer).
pub struct Enricher {
    pub pipeline: Arc<Pipeline>,
}

impl Enricher {
    pub fn process(&self, finished: Finished) {
        let ex = &finished.exchange;
        let policy = self.pipeline.policy();
        let mut ctx = policy.context(&ex.path, &ex.meta, ex.request_body.as_ref());
        let now_ms = tokenwatch_core::time::now_ms();
        // The request body is parsed once, for its shape and (a conversation's) prompt text.
        let request = ex
            .request_body
            .as_ref()
            .and_then(|b| tokenwatch_core::providers::parse_request(b));
        let text = request.as_ref().and_then(|req| conversation_text(ex, req));
        for mut event in build_events(self.pipeline.prices(), finished, request.as_ref()) {
            if let Some(text) = &text {
                self.pipeline.analyse(&mut event, text);
            }
            self.pipeline.proxied(event, &mut ctx, now_ms);
        }
        policy.settle(&mut ctx);
    }
}

/// The input texts of a conversation request (messages, chat, responses, generate), parsed as
/// `req`, for the session and prompt analysis; none for other endpoints.
fn conversation_text(
    ex: &Exchange,
    req: &serde_json::Value,
) -> Option<tokenwatch_core::prompt::PromptText> {
    let conversation = matches!(
        ex.endpoint,
        Endpoint::Messages
            | Endpoint::ChatCompletions
            | Endpoint::Responses
            | Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
    );
    conversation.then(|| ex.kind.adapter().prompt_text(ex.endpoint, req))
}

/// How long the recording thread lets finished exchanges gather before it prices them. One
/// wake-up per window instead of one per request; short enough that the live feed and the
/// writer's own flush window hide it.
const GATHER_WINDOW: Duration = Duration::from_millis(2);

/// The proxy's handle to recording. Cloning is cheap.
///
/// Exchanges that a budget counted are priced at once, on the request's own task, before its
/// last bytes are handed to the client: the next request then sees their spend, so a hard
/// budget is overshot by no more than the requests truly in flight. Every other exchange goes
/// to the recording thread, which runs at a lower scheduling priority and takes what gathered
/// in a short window at each wake-up: pricing and storing yield the CPU to requests still
/// being served instead of competing with them. Nothing here blocks and nothing is dropped: a
/// full queue means pricing on the caller's task instead.
#[derive(Clone)]
pub struct EventSink {
    /// Boxed: a bounded std channel allocates every slot up front, and a `Finished` is large.
    tx: std::sync::mpsc::SyncSender<Box<Queued>>,
    enricher: Arc<Enricher>,
    /// What queued records may retain, together with the writer's queue.
    budget: QueueBudget,
}

/// The recording thread; [`RecordingThread::join`] waits until it has priced everything queued.
pub struct RecordingThread {
    done: tokio::sync::oneshot::Receiver<()>,
}

impl RecordingThread {
    /// Resolves once every sink clone is dropped and the queue is empty (false on timeout or if
    /// the thread died).
    pub async fn join(self, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, self.done).await, Ok(Ok(())))
    }
}

impl EventSink {
    /// Starts the recording thread. It ends when every sink clone is dropped and the queue is
    /// empty. Must be called inside the tokio runtime: the thread enters it, for the channels
    /// and tasks that pricing feeds (alerts, the live feed, the writer).
    /// At most `capacity` records are queued, retaining at most what `budget` allows.
    pub fn spawn(
        enricher: Enricher,
        capacity: usize,
        budget: QueueBudget,
    ) -> std::io::Result<(Self, RecordingThread)> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Box<Queued>>(capacity.max(1));
        let enricher = Arc::new(enricher);
        let worker = Arc::clone(&enricher);
        let released = budget.clone();
        let watched = budget.clone();
        let take = move |queued: Box<Queued>| {
            let Queued { finished, bytes } = *queued;
            worker.process(finished);
            released.release(bytes);
        };
        let runtime = tokio::runtime::Handle::current();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let watch = Arc::new(Watch::default());
        let progress = Arc::clone(&watch);
        std::thread::Builder::new()
            .name("tw-recording".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                let mut pace = Pace::start(&progress.promoter);
                while let Ok(first) = rx.recv() {
                    take(first);
                    progress.taken.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(GATHER_WINDOW);
                    // Checked per record: a starved idle thread learns it is behind as soon as
                    // it gets the CPU, not after working off the whole backlog.
                    for queued in rx.try_iter() {
                        pace.keep_up(&watched);
                        take(queued);
                        progress.taken.fetch_add(1, Ordering::Relaxed);
                    }
                    pace.keep_up(&watched);
                    pace.caught_up();
                }
                progress.promoter.unregister();
                progress.ended.store(true, Ordering::Release);
                let _ = done_tx.send(());
            })?;
        tokio::spawn(watch_recording(watch, budget.clone()));
        Ok((
            Self {
                tx,
                enricher,
                budget,
            },
            RecordingThread { done },
        ))
    }

    /// Never blocks and never drops: a full queue (in records or in bytes) means enriching on
    /// this task instead. So does a backlog past 1/16 of the byte budget (4 MiB by default):
    /// the recording thread may be getting no CPU at all (a saturated machine, while it is
    /// still `SCHED_IDLE`), and the queue is not left to grow to the whole budget meanwhile.
    pub fn finish(&self, mut finished: Finished) {
        if !finished.exchange.meta.admitted_budgets.is_empty()
            || self.budget.used_bytes() > self.budget.limit_bytes() / 16
        {
            return self.enricher.process(finished);
        }
        let bytes = finished.retained_bytes();
        if !self.budget.try_reserve(bytes) {
            return self.enricher.process(finished);
        }
        finished.detach();
        match self.tx.try_send(Box::new(Queued { finished, bytes })) {
            Ok(()) => {}
            Err(
                std::sync::mpsc::TrySendError::Full(q)
                | std::sync::mpsc::TrySendError::Disconnected(q),
            ) => {
                self.budget.release(bytes);
                self.enricher.process(q.finished);
            }
        }
    }
}

/// What the recording thread's watchdog sees of it.
#[derive(Default)]
struct Watch {
    /// Records taken off the queue so far.
    taken: AtomicU64,
    ended: AtomicBool,
    promoter: Promoter,
}

/// How often the watchdog looks at the recording thread. A record waits at most about twice
/// this on a machine with no idle core before the thread is promoted.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Promotes the recording thread when records were waiting and it took none for a whole
/// [`WATCH_EVERY`]: `SCHED_IDLE` gets well under 1% of a core while other programs keep the
/// machine busy, and a backlog too small to trip [`Pace`]'s limits would wait as long as they
/// run. (Bytes in `budget` may also be the writer's, which only makes a promotion early.)
async fn watch_recording(watch: Arc<Watch>, budget: QueueBudget) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = 0;
    while !watch.ended.load(Ordering::Acquire) {
        tick.tick().await;
        let taken = watch.taken.load(Ordering::Relaxed);
        if taken == last && budget.used_bytes() > 0 && watch.promoter.promote() {
            tracing::debug!(
                "the recording thread was starved of CPU; it runs at normal priority until it has caught up"
            );
        }
        last = taken;
    }
}

/// The recording thread's priority, by how far behind it is.
///
/// Keeping up, it runs as `SCHED_IDLE` ([`tokenwatch_store::yielding`]): a lane woken by a
/// socket preempts it at once, where a niced thread would first finish its slice (a
/// millisecond or more in the proxy's p99 at one connection). Once the queues it feeds hold
/// more than 1/64 of their byte budget (1 MiB by default: a saturated machine leaves an idle
/// thread no time at all), it runs at nice 10 instead, request handling still first, until
/// they are down to 1/256. Either change is one system call, made only on the change. A
/// thread the watchdog promoted ([`watch_recording`]) runs at nice 10 until its queue is
/// empty, then idles again.
struct Pace {
    idle: bool,
    /// False once the system refused `SCHED_IDLE`: not asked again.
    can_idle: bool,
    promoter: Promoter,
}

impl Pace {
    fn start(promoter: &Promoter) -> Self {
        let mut pace = Self {
            idle: false,
            can_idle: true,
            promoter: promoter.clone(),
        };
        pace.go_idle();
        if !pace.idle {
            nice_10();
        }
        pace
    }

    fn go_idle(&mut self) {
        self.idle = tokenwatch_store::yielding::idle_this_thread();
        self.can_idle = self.idle;
        if self.idle {
            self.promoter.register_this_thread(RECORDING_NICE);
        }
    }

    fn keep_up(&mut self, budget: &QueueBudget) {
        if !self.can_idle {
            return;
        }
        match idle_next(self.idle, budget.used_bytes(), budget.limit_bytes()) {
            Some(false) => {
                self.promoter.unregister();
                tokenwatch_store::yielding::normal_this_thread();
                nice_10();
                self.idle = false;
            }
            Some(true) => self.go_idle(),
            None => {}
        }
    }

    /// The queue is empty: a thread the watchdog promoted idles again.
    fn caught_up(&mut self) {
        if self.promoter.take_promoted() && self.idle {
            self.go_idle();
        }
    }
}

/// The recording thread's niceness when it does not idle.
const RECORDING_NICE: i32 = 10;

/// Whether the recording thread should change to idle (`Some(true)`) or to niced normal
/// priority (`Some(false)`), given the queues' bytes `used` of `limit`; `None`: stay.
fn idle_next(idle: bool, used: usize, limit: usize) -> Option<bool> {
    if idle && used > limit / 64 {
        Some(false)
    } else if !idle && used < limit / 256 {
        Some(true)
    } else {
        None
    }
}

/// Nice 10 for the calling thread (Linux sets niceness per thread). Elsewhere, or if refused,
/// the thread keeps the default priority.
fn nice_10() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(None, RECORDING_NICE) {
        tracing::debug!(%error, "the recording thread keeps the default priority");
    }
}

/// Turns one finished exchange into its events: usually one; one per result line for
/// batch results; none for a batch-results download that yielded no results. `request` is the
/// request body parsed once by the caller ([`tokenwatch_core::providers::parse_request`]).
pub fn build_events(
    prices: &PriceTable,
    finished: Finished,
    request: Option<&serde_json::Value>,
) -> Vec<UsageEvent> {
    let Finished {
        exchange,
        status,
        captured,
        ttft_ms,
        duration_ms,
        response_bytes,
    } = finished;
    let adapter = exchange.kind.adapter();
    let facts = match captured {
        Captured::Facts(f) => Some(f),
        Captured::Body { parts, encoding } => decode_all(encoding.as_deref(), &parts)
            .map(|body| adapter.response_facts(exchange.endpoint, &body)),
        Captured::TooLarge | Captured::Unreadable | Captured::Nothing => None,
    };
    let unreadable = facts.is_none() && status == EventStatus::Ok && exchange.http_status.is_some();
    let facts = facts.unwrap_or_default();
    let status = refine_status(status, exchange.http_status, &facts);
    let shape = request
        .map(|req| adapter.request_shape(exchange.endpoint, req))
        .unwrap_or_default();

    if exchange.endpoint == Endpoint::BatchResults {
        return batch_events(prices, &exchange, &facts);
    }

    let model = facts
        .model
        .clone()
        .or_else(|| exchange.quick.model.clone())
        .unwrap_or_else(|| "unknown".to_owned());
    let mut usage = facts.usage;
    let (cost_nanos, price_version) = if exchange.endpoint == Endpoint::CountTokens {
        // Token counting is free; its count is not usage.
        usage = Usage::default();
        (Some(0), None)
    } else {
        price(
            prices,
            &exchange.provider,
            &model,
            &usage,
            facts.usage_seen,
            false,
        )
    };
    // A stream the upstream answered that ended without a usage report (an OpenAI-compatible
    // stream without `stream_options.include_usage`, injection off): tokens were spent but
    // their number is unknown, so the cost is unknown too, never a priced $0.
    let usage_unknown = exchange.streamed
        && exchange
            .http_status
            .is_some_and(|s| (200..300).contains(&s))
        && !facts.usage_seen
        && exchange.endpoint != Endpoint::CountTokens;
    let (cost_nanos, price_version) = if usage_unknown {
        (None, None)
    } else {
        (cost_nanos, price_version)
    };
    let error_type = facts
        .error_type
        .clone()
        .or_else(|| unreadable.then(|| "usage_unreadable".to_owned()))
        .or_else(|| usage_unknown.then(|| USAGE_UNKNOWN.to_owned()));
    let mut event = base_event(&exchange, model, usage, shape);
    event.cost_nanos = cost_nanos;
    event.price_version = price_version;
    event.duration_ms = Some(duration_ms);
    event.ttft_ms = ttft_ms;
    event.status = status;
    event.stop_reason = facts.stop_reason;
    event.response_bytes = response_bytes;
    event.tools_used = facts.tools_used;
    event.error_type = error_type;
    event.upstream_request_id = exchange
        .response_headers
        .request_id
        .clone()
        .or(facts.response_id);
    if status == EventStatus::Refused {
        // Not sent upstream: no usage, and not a request anyone is billed for.
        event.requests = 0;
        event.error_type = Some(
            exchange
                .meta
                .refused_by
                .unwrap_or("budget_exceeded")
                .to_owned(),
        );
    }
    vec![event]
}

fn refine_status(
    status: EventStatus,
    http_status: Option<u16>,
    facts: &ResponseFacts,
) -> EventStatus {
    match (status, http_status) {
        (EventStatus::Ok, Some(code)) if code >= 400 => EventStatus::UpstreamError,
        (EventStatus::Ok, _) if facts.error_type.is_some() => EventStatus::StreamError,
        (other, _) => other,
    }
}

/// Cost of a usage by the one pricing rule ([`PriceTable::price`]); a response that reported no
/// usage (an error before any token) used nothing.
fn price(
    prices: &PriceTable,
    provider: &str,
    model: &str,
    usage: &Usage,
    usage_seen: bool,
    batch: bool,
) -> (Option<i64>, Option<String>) {
    if !usage_seen {
        return (Some(0), None);
    }
    prices.price(provider, model, usage, CostOptions { batch })
}

fn base_event(exchange: &Exchange, model: String, usage: Usage, shape: RequestShape) -> UsageEvent {
    let id = uuid::Uuid::now_v7().to_string();
    let dedup_key = format!("proxy:{id}");
    let mut e = UsageEvent::blank(
        id,
        exchange.ts_ms,
        Source::Proxy,
        &exchange.provider,
        &model,
        exchange.endpoint.as_str(),
        dedup_key,
    );
    let meta = &exchange.meta;
    e.api_key_id.clone_from(&meta.api_key_id);
    e.tenant.clone_from(&meta.tenant);
    e.project.clone_from(&meta.project);
    e.agent.clone_from(&meta.agent);
    e.session_id.clone_from(&meta.session);
    e.tags.clone_from(&meta.tags);
    e.usage = usage;
    e.shape = shape;
    e.http_status = exchange.http_status.map(i64::from);
    e.streamed = exchange.streamed;
    e.request_bytes = exchange.request_bytes;
    let headers = &exchange.response_headers;
    e.ratelimit_remaining_requests = headers.ratelimit_remaining_requests;
    e.ratelimit_remaining_tokens = headers.ratelimit_remaining_tokens;
    e
}

/// One event per batch result line, billed at the batch discount. The dedup key is the batch
/// and the result's custom id, so downloading the same results twice never double-counts.
fn batch_events(
    prices: &PriceTable,
    exchange: &Exchange,
    facts: &ResponseFacts,
) -> Vec<UsageEvent> {
    let batch_id = exchange
        .path
        .trim_end_matches('/')
        .trim_end_matches("/results")
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    facts
        .batch_items
        .iter()
        .map(|item| {
            let model = item.model.clone().unwrap_or_else(|| "unknown".to_owned());
            let (cost, version) =
                price(prices, &exchange.provider, &model, &item.usage, true, true);
            let mut event = base_event(exchange, model, item.usage, RequestShape::default());
            event.dedup_key = format!(
                "batch:{}:{}:{}",
                exchange.provider, batch_id, item.custom_id
            );
            event.cost_nanos = cost;
            event.price_version = version;
            event.batch = true;
            event.stop_reason = item.stop_reason.clone();
            event
        })
        .collect()
}

#[cfg(test)]
mod tests;
