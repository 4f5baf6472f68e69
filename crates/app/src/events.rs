//! Querying recorded events: the filter every list takes ([`EventsQuery`]), a page of events
//! newest first (or sorted by cost, tokens or duration) with its cursor, and one event with its
//! cost broken down at today's prices.
//!
//! [`EventView`] is THE public shape of an event: the API, the live feed, `tokenwatch events
//! --json` and the exports all use it, so a field means the same everywhere.

use serde::{Deserialize, Serialize};
use tokenwatch_core::event::USAGE_UNKNOWN;
use tokenwatch_core::pricing::{CostOptions, PriceTable};
use tokenwatch_core::time::rfc3339_ms;
use tokenwatch_core::{Nanos, Usage, UsageEvent};
use tokenwatch_store::{EventFilter, EventSort, Page, Store, TenantScope};

use crate::error::AppError;
use crate::params::{parse_local_time, parse_tag, parse_tz, parse_usd};

/// Largest page a list returns.
pub const MAX_LIMIT: u32 = 1000;

/// An event as the API and exports show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventView {
    pub id: String,
    /// RFC 3339, UTC, millisecond precision.
    pub ts: String,
    pub ts_ms: i64,
    pub source: String,
    pub provider: String,
    pub model: String,
    pub endpoint: String,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    /// The client's key as a stable, non-reversible id: `k_` and the first 12 hex digits of the
    /// key's SHA-256 (proxied events that carried a key).
    #[serde(default)]
    pub api_key_id: Option<String>,
    #[serde(flatten)]
    pub usage: Usage,
    pub total_tokens: i64,
    /// Exact decimal USD string (six to nine decimals); `null` when unpriced.
    pub cost_usd: Option<String>,
    /// Exact cost in nano-USD.
    pub cost_nanos: Option<i64>,
    /// `cost_nanos` rounded half-up to micro-USD, for older clients.
    pub cost_micros: Option<i64>,
    /// Tokens were used but the model has no price: the cost is unknown, not zero.
    pub unpriced: bool,
    /// The response ended without a usage report (a stream without its usage chunk): tokens
    /// and cost are unknown (`cost_usd` is null), not zero.
    #[serde(default)]
    pub usage_unknown: bool,
    pub price_version: Option<String>,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub status: String,
    pub http_status: Option<i64>,
    pub stop_reason: Option<String>,
    pub streamed: bool,
    pub batch: bool,
    pub request_bytes: i64,
    pub response_bytes: i64,
    pub messages_system: i64,
    pub messages_user: i64,
    pub messages_assistant: i64,
    pub messages_tool: i64,
    pub tools_offered: i64,
    pub tools_used: Vec<String>,
    pub system_chars: i64,
    pub tools_chars: i64,
    pub history_chars: i64,
    pub new_input_chars: i64,
    pub error_type: Option<String>,
    pub upstream_request_id: Option<String>,
    pub requests: i64,
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub client_version: Option<String>,
    pub ratelimit_remaining_requests: Option<i64>,
    pub ratelimit_remaining_tokens: Option<i64>,
    /// `key=value` strings.
    pub tags: Vec<String>,
}

impl From<&UsageEvent> for EventView {
    fn from(e: &UsageEvent) -> Self {
        Self {
            id: e.id.clone(),
            ts: rfc3339_ms(e.ts_ms),
            ts_ms: e.ts_ms,
            source: e.source.as_str().to_owned(),
            provider: e.provider.clone(),
            model: e.model.clone(),
            endpoint: e.endpoint.clone(),
            project: e.project.clone(),
            agent: e.agent.clone(),
            session_id: e.session_id.clone(),
            api_key_id: e.api_key_id.clone(),
            usage: e.usage,
            total_tokens: e.usage.total_tokens(),
            cost_usd: e.cost_nanos.map(|n| Nanos(n).to_decimal_string()),
            cost_nanos: e.cost_nanos,
            cost_micros: e.cost_nanos.map(|n| Nanos(n).to_micros().0),
            unpriced: e.cost_nanos.is_none(),
            usage_unknown: e.error_type.as_deref() == Some(USAGE_UNKNOWN),
            price_version: e.price_version.clone(),
            duration_ms: e.duration_ms,
            ttft_ms: e.ttft_ms,
            status: e.status.as_str().to_owned(),
            http_status: e.http_status,
            stop_reason: e.stop_reason.clone(),
            streamed: e.streamed,
            batch: e.batch,
            request_bytes: e.request_bytes,
            response_bytes: e.response_bytes,
            messages_system: e.shape.messages_system,
            messages_user: e.shape.messages_user,
            messages_assistant: e.shape.messages_assistant,
            messages_tool: e.shape.messages_tool,
            tools_offered: e.shape.tools_offered,
            tools_used: e.tools_used.clone(),
            system_chars: e.shape.system_chars,
            tools_chars: e.shape.tools_chars,
            history_chars: e.shape.history_chars,
            new_input_chars: e.shape.new_input_chars,
            error_type: e.error_type.clone(),
            upstream_request_id: e.upstream_request_id.clone(),
            requests: e.requests,
            cwd: e.cwd.clone(),
            git_branch: e.git_branch.clone(),
            client_version: e.client_version.clone(),
            ratelimit_remaining_requests: e.ratelimit_remaining_requests,
            ratelimit_remaining_tokens: e.ratelimit_remaining_tokens,
            tags: e.tags.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        }
    }
}

/// The event filter, page and order, as `GET /api/v1/events` takes them (the CLI's filter
/// flags fill the same fields).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub session: Option<String>,
    pub project: Option<String>,
    pub tag: Option<String>,
    pub min_cost_usd: Option<String>,
    pub max_cost_usd: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor` (newest-first order only).
    pub cursor: Option<String>,
    /// Case-insensitive text search over model, provider, project, session, agent, id and
    /// upstream request id.
    pub q: Option<String>,
    /// `time` (default), `cost`, `tokens`, `duration`.
    pub sort: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
    /// `json` (default) or `csv` (a download of the page's rows).
    pub format: Option<String>,
    /// IANA zone for `since`/`until` given as dates, `today` or `month` (local midnights).
    pub tz: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl EventsQuery {
    /// Turns the query into a store filter and page, naming any bad parameter.
    pub fn to_filter(
        &self,
        now_ms: i64,
        whose: &TenantScope,
    ) -> Result<(EventFilter, Page), AppError> {
        let mut filter = EventFilter {
            ..EventFilter::of(whose.clone())
        };
        let tz = match &self.tz {
            Some(name) => Some(parse_tz(Some(name))?.0),
            None => None,
        };
        if let Some(s) = &self.since {
            filter.since_ms = Some(parse_local_time("since", s, now_ms, tz.as_ref())?);
        }
        if let Some(s) = &self.until {
            filter.until_ms = Some(parse_local_time("until", s, now_ms, tz.as_ref())?);
        }
        filter.provider = self.provider.clone();
        filter.model = self.model.clone();
        if let Some(s) = &self.source {
            if tokenwatch_core::Source::parse(s).is_none() {
                return Err(AppError::bad(
                    "source",
                    format!(
                        "source: '{s}' is not one of proxy, claude_code, codex, csv, json, manual, provider_sync"
                    ),
                ));
            }
            filter.source = Some(s.clone());
        }
        if let Some(s) = &self.status {
            if tokenwatch_core::EventStatus::parse(s).is_none() {
                return Err(AppError::bad(
                    "status",
                    format!(
                        "status: '{s}' is not one of ok, upstream_error, stream_error, client_disconnected, upstream_reset, upstream_unreachable, timeout, refused"
                    ),
                ));
            }
            filter.status = Some(s.clone());
        }
        filter.session_id = self.session.clone();
        filter.project = self.project.clone();
        if let Some(t) = &self.tag {
            filter.tag = Some(parse_tag(t)?);
        }
        if let Some(s) = &self.min_cost_usd {
            filter.min_cost_nanos = Some(parse_usd("min_cost_usd", s)?.saturating_mul(1_000));
        }
        if let Some(s) = &self.max_cost_usd {
            filter.max_cost_nanos = Some(parse_usd("max_cost_usd", s)?.saturating_mul(1_000));
        }
        filter.search = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned);
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(AppError::bad(
                "limit",
                format!("limit: must be between 1 and {MAX_LIMIT}, got {limit}"),
            ));
        }
        let before = match &self.cursor {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let page = Page {
            limit,
            offset: self.offset.unwrap_or(0),
            before,
        };
        Ok((filter, page))
    }
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), AppError> {
    cursor
        .split_once('_')
        .and_then(|(ts, id)| Some((ts.parse().ok()?, id.to_owned())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| AppError::bad("cursor", "cursor: not a cursor returned by this API (use next_cursor from the previous page)"))
}

fn encode_cursor(event: &UsageEvent) -> String {
    format!("{}_{}", event.ts_ms, event.id)
}

impl EventsQuery {
    /// The sort key and whether it runs descending.
    pub fn sort_order(&self) -> Result<(EventSort, bool), AppError> {
        let sort = match self.sort.as_deref() {
            None | Some("time") => EventSort::Time,
            Some("cost") => EventSort::Cost,
            Some("tokens") => EventSort::Tokens,
            Some("duration") => EventSort::Duration,
            Some(other) => {
                return Err(AppError::bad(
                    "sort",
                    format!("sort: '{other}' is not one of time, cost, tokens, duration"),
                ));
            }
        };
        let descending = match self.order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(AppError::bad(
                    "order",
                    format!("order: '{other}' is not one of asc, desc"),
                ));
            }
        };
        Ok((sort, descending))
    }
}

/// A checked [`EventsQuery`]: what to fetch, in which order, and as which format.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsRequest {
    pub filter: EventFilter,
    pub page: Page,
    pub sort: EventSort,
    pub descending: bool,
    /// `format=csv`: a download of the page's rows rather than JSON.
    pub csv: bool,
}

impl EventsQuery {
    /// The request over the events of `tenant` (`None`: every tenant); checks every parameter,
    /// naming the first bad one.
    pub fn request(&self, now_ms: i64, whose: &TenantScope) -> Result<EventsRequest, AppError> {
        let (filter, page) = self.to_filter(now_ms, whose)?;
        let (sort, descending) = self.sort_order()?;
        if self.cursor.is_some() && !(sort == EventSort::Time && descending) {
            return Err(AppError::bad(
                "cursor",
                "cursor: only works newest first (sort=time, order=desc); use offset with other orders",
            ));
        }
        let csv = match self.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(other) => {
                return Err(AppError::bad(
                    "format",
                    format!("format: '{other}' is not one of json, csv"),
                ));
            }
        };
        Ok(EventsRequest {
            filter,
            page,
            sort,
            descending,
            csv,
        })
    }
}

/// One page of events, with the cursor of the next (older) page when the order allows one.
pub async fn list(store: &Store, request: &EventsRequest) -> Result<EventsPage, AppError> {
    let EventsRequest {
        filter,
        page,
        sort,
        descending,
        ..
    } = request;
    let events = store
        .list_events_sorted(filter, page, *sort, *descending)
        .await?;
    let next_cursor =
        (events.len() == page.limit as usize && *sort == EventSort::Time && *descending)
            .then(|| events.last().map(encode_cursor))
            .flatten();
    Ok(EventsPage {
        events: events.iter().map(EventView::from).collect(),
        next_cursor,
    })
}

/// One event with its cost broken down by token kind at today's prices.
#[derive(Debug, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    /// `null` when the model has no price.
    pub cost_breakdown: Option<CostBreakdown>,
    /// What the input was made of (proxied conversation requests; empty otherwise), in
    /// cache-prefix order, each part with its share of the input cost: the shares sum to the
    /// input side of the cost (`input_side_nanos`).
    pub prompt_parts: Vec<tokenwatch_core::prompt::PromptPart>,
    /// Uncached input, cache reads and cache writes, priced together and rounded once.
    pub input_side_nanos: Option<i64>,
}

/// Cost components in nano-USD, each rounded on its own (their sum may differ from `total` by
/// rounding), and each also rounded half-up to micro-USD for older clients; `matches_stored`
/// says whether today's price table gives the stored cost.
#[derive(Debug, Serialize)]
pub struct CostBreakdown {
    pub input_nanos: i64,
    pub output_nanos: i64,
    pub cache_read_nanos: i64,
    pub cache_write_5m_nanos: i64,
    pub cache_write_1h_nanos: i64,
    pub web_search_nanos: i64,
    pub total_nanos: i64,
    pub input_micros: i64,
    pub output_micros: i64,
    pub cache_read_micros: i64,
    pub cache_write_5m_micros: i64,
    pub cache_write_1h_micros: i64,
    pub web_search_micros: i64,
    pub total_micros: i64,
    pub price_version: String,
    /// The long-context threshold whose prices applied, if any.
    pub long_context_above_tokens: Option<i64>,
    pub matches_stored: bool,
}

/// One event of `tenant` (`None`: any tenant's) with its cost broken down by `prices` (today's
/// table); another tenant's event is "not found".
pub async fn detail(
    store: &Store,
    prices: &PriceTable,
    whose: &TenantScope,
    id: &str,
) -> Result<EventDetail, AppError> {
    let Some(event) = store.get_event(whose, id).await? else {
        return Err(AppError::NotFound(format!("event {id}")));
    };
    let options = CostOptions { batch: event.batch };
    let cost_breakdown = prices
        .cost(&event.provider, &event.model, &event.usage, options)
        .map(|c| CostBreakdown {
            input_nanos: c.input.0,
            output_nanos: c.output.0,
            cache_read_nanos: c.cache_read.0,
            cache_write_5m_nanos: c.cache_write_5m.0,
            cache_write_1h_nanos: c.cache_write_1h.0,
            web_search_nanos: c.web_search.0,
            total_nanos: c.total.0,
            input_micros: c.input.to_micros().0,
            output_micros: c.output.to_micros().0,
            cache_read_micros: c.cache_read.to_micros().0,
            cache_write_5m_micros: c.cache_write_5m.to_micros().0,
            cache_write_1h_micros: c.cache_write_1h.to_micros().0,
            web_search_micros: c.web_search.to_micros().0,
            total_micros: c.total.to_micros().0,
            matches_stored: event.cost_nanos == Some(c.total.0),
            price_version: c.price_version,
            long_context_above_tokens: c.tier,
        });
    let input_side_nanos = prices.lookup(&event.provider, &event.model).map(|p| {
        tokenwatch_core::prompt::attribution::input_cost_nanos(p, &event.usage, event.batch)
    });
    let prompt_parts = store
        .parts_of(whose, std::slice::from_ref(&event.id))
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    Ok(EventDetail {
        event: EventView::from(&event),
        cost_breakdown,
        prompt_parts,
        input_side_nanos,
    })
}
