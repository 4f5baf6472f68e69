//! The mock organisation: the providers' admin usage and cost APIs, answered from an in-memory
//! usage ledger per provider ([`ledger`]), so tokenwatch's sync can be tested against the exact
//! shapes it will read from Anthropic and OpenAI.
//!
//! **What feeds the ledger.** Every Messages, Chat Completions, Responses or Embeddings request
//! the mock answers successfully (scenarios `normal`, `slow-stream`, `gzip`) adds the usage its
//! response reports (a stream without `include_usage` still counts: the provider bills it) at
//! the request's arrival time, under the model as requested, the api key id derived from the
//! credential sent (`apikey_`/`key_` + 12 hex of the SHA-256 of `x-api-key`/the Bearer token;
//! no credential, no id), the workspace (Anthropic) or project (OpenAI) named by the
//! `x-mock-workspace` header (else null), service tier `standard`, context window `0-200k`.
//! `--no-record` turns this off (the benchmarks' hot path stays as it was). Tests add usage that
//! bypassed the proxy with `POST /__mock/org/usage`:
//! `{"provider": "anthropic"|"openai", "records": [{"ts_ms", "model", "api_key_id",
//! "workspace_id" (or "project_id"), "input_tokens", "output_tokens", "cache_read_input_tokens",
//! "cache_creation_5m", "cache_creation_1h", "web_search_requests", "cost_cents": "12.345"|null,
//! …}]}` — the fields are [`ledger::Record`]'s; OpenAI's `input_tokens` include the cached
//! ones, Anthropic's exclude cache reads and writes. A record without `cost_cents` is priced
//! from the mock's fixed table ([`price`]). `GET /__mock/org/usage` lists every record with the
//! cost the reports use (`priced_cost_cents`) and the Claude Code records; `DELETE` clears both.
//!
//! **Control.** `POST /__mock/org/revise` `{"provider", "bucket_width": "1d"|"1h"|"1m",
//! "scale": 1.5, "add": {"output_tokens": 10, …}}` revises the most recent bucket (the one
//! holding the latest record), as providers revise recent figures: `scale` multiplies its token
//! figures and given costs, `add` adds one more record like its latest. `POST /__mock/org/fail`
//! `{"path_prefix": "/v1/organizations/usage_report", "status": 429|500|503, "times": N,
//! "retry_after_s": S}` fails the next N admin requests whose path (or the path after any mount
//! prefix) starts with the prefix, in the provider's error shape, a 429 with `retry-after: S`
//! (default 1); `DELETE` drops pending failures. `POST /__mock/org/claude_code`
//! `{"records": [...]}` adds Claude Code records ([`claude_code`]).
//!
//! **Admin endpoints** (GET, on any path prefix): Anthropic's messages usage report, cost
//! report and Claude Code report ([`anthropic`], [`claude_code`]); OpenAI's completions and
//! embeddings usage and costs ([`openai`]). Auth is checked first (a 401/403 consumes no
//! injected failure), then injected failures, then the query; every refusal is in the
//! provider's error shape, a 400 naming the parameter. Admin requests appear in
//! `/__mock/requests` with `x-api-key`/`authorization` replaced by the derived key id: no
//! response of the mock ever shows a raw admin key.

pub mod anthropic;
pub mod claude_code;
pub mod ledger;
pub mod openai;
pub mod price;
pub mod query;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::formats;
use crate::request::{Ask, Endpoint, Provider, Scenario};
use crate::respond::json_response;
use ledger::{Kind, Ledger, Record, Revision, Vendor, key_id};
use query::{BadParam, Page, Window};

/// A report's group key: the grouped fields' values in the report's fixed order, `None` where
/// not grouped by.
pub type Key = Vec<Option<String>>;

/// Per bucket index, per group key, a report's sums.
pub type Tally<S> = BTreeMap<i64, BTreeMap<Key, S>>;

/// Hands each record that falls in the page's buckets to `add` with its bucket's groups.
pub fn tally<'r, S>(
    records: impl IntoIterator<Item = &'r Record>,
    window: &Window,
    page: &Page,
    mut add: impl FnMut(&'r Record, &mut BTreeMap<Key, S>),
) -> Tally<S> {
    let mut out = Tally::new();
    let on_page = page.first..page.first + page.len;
    for r in records {
        if let Some(i) = window.index_of(r.ts_ms).filter(|i| on_page.contains(i)) {
            add(r, out.entry(i).or_default());
        }
    }
    out
}

/// An admin request refused, written in the provider's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    /// The error's `type` (both providers name it so).
    pub kind: &'static str,
    pub message: String,
    /// OpenAI's `error.param`: the parameter at fault.
    pub param: Option<String>,
    /// OpenAI's `error.code`.
    pub code: Option<&'static str>,
    /// Sent as `retry-after` (seconds).
    pub retry_after_s: Option<u64>,
}

impl Refusal {
    /// A refusal with no parameter, code or `retry-after`.
    pub fn new(status: StatusCode, kind: &'static str, message: &str) -> Self {
        Refusal {
            status,
            kind,
            message: message.to_owned(),
            param: None,
            code: None,
            retry_after_s: None,
        }
    }

    fn response(&self, vendor: Vendor, gzip: bool) -> Response {
        let body = match vendor {
            Vendor::Anthropic => formats::error_body_with(
                Provider::Anthropic,
                self.status.as_u16(),
                self.kind,
                &self.message,
            ),
            Vendor::OpenAi => json!({
                "error": {
                    "message": self.message,
                    "type": self.kind,
                    "param": self.param,
                    "code": self.code,
                }
            }),
        };
        let mut response = json_response(self.status, &body, gzip);
        if let Some(s) = self
            .retry_after_s
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, s);
        }
        response
    }
}

impl From<BadParam> for Refusal {
    fn from(bad: BadParam) -> Self {
        Refusal {
            param: Some(bad.param),
            ..Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &bad.message,
            )
        }
    }
}

/// An admin endpoint of the mock organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    MessagesUsage,
    ClaudeCodeUsage,
    CostReport,
    CompletionsUsage,
    EmbeddingsUsage,
    Costs,
}

impl Admin {
    /// Matched on the path's ending, so any prefix works (`/anthropic/v1/organizations/…`).
    pub fn from_path(path: &str) -> Option<Self> {
        [
            (
                "/v1/organizations/usage_report/messages",
                Admin::MessagesUsage,
            ),
            (
                "/v1/organizations/usage_report/claude_code",
                Admin::ClaudeCodeUsage,
            ),
            ("/v1/organizations/cost_report", Admin::CostReport),
            (
                "/v1/organization/usage/completions",
                Admin::CompletionsUsage,
            ),
            ("/v1/organization/usage/embeddings", Admin::EmbeddingsUsage),
            ("/v1/organization/costs", Admin::Costs),
        ]
        .into_iter()
        .find_map(|(suffix, a)| path.ends_with(suffix).then_some(a))
    }

    /// The provider whose API this endpoint belongs to.
    pub fn vendor(self) -> Vendor {
        match self {
            Admin::MessagesUsage | Admin::ClaudeCodeUsage | Admin::CostReport => Vendor::Anthropic,
            Admin::CompletionsUsage | Admin::EmbeddingsUsage | Admin::Costs => Vendor::OpenAi,
        }
    }
}

/// Failures to inject into admin requests (`POST /__mock/org/fail`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Failure {
    path_prefix: String,
    status: u16,
    times: u32,
    #[serde(default = "one_second")]
    retry_after_s: u64,
}

fn one_second() -> u64 {
    1
}

impl Failure {
    /// Whether the prefix starts `path`, or starts it after a mount prefix.
    fn matches(&self, path: &str) -> bool {
        path.match_indices('/')
            .any(|(i, _)| path[i..].starts_with(&self.path_prefix))
    }

    fn refusal(&self, vendor: Vendor) -> Refusal {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = match (vendor, self.status) {
            (Vendor::Anthropic, 429) => ("rate_limit_error", "mock: rate limited"),
            (Vendor::Anthropic, 503) => ("overloaded_error", "mock: overloaded"),
            (Vendor::Anthropic, _) => ("api_error", "mock: internal error"),
            (Vendor::OpenAi, 429) => ("requests", "mock: rate limited"),
            (Vendor::OpenAi, _) => ("server_error", "mock: the server had an error"),
        };
        Refusal {
            code: (self.status == 429).then_some("rate_limit_exceeded"),
            retry_after_s: (self.status == 429).then_some(self.retry_after_s),
            ..Refusal::new(status, kind, message)
        }
    }
}

#[derive(Default)]
struct State {
    ledger: Ledger,
    claude_code: Vec<claude_code::Day>,
    failures: Vec<Failure>,
}

/// The mock organisation's state, shared by every request.
#[derive(Default)]
pub struct Org {
    state: Mutex<State>,
}

/// The credential a request to `vendor` carries: Anthropic's `x-api-key`, OpenAI's Bearer token.
fn credential(vendor: Vendor, headers: &HeaderMap) -> Option<&str> {
    match vendor {
        Vendor::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
        Vendor::OpenAi => openai::bearer(headers),
    }
}

/// Replaces the credential headers of an admin request with the derived key id, so the request
/// log keeps what was asked without the raw admin key.
pub fn redact(vendor: Vendor, headers: &mut HeaderMap) {
    let id = credential(vendor, headers).map(|k| key_id(vendor, k));
    for name in ["x-api-key", "authorization"] {
        if headers.contains_key(name) {
            let shown = id.as_deref().unwrap_or("redacted");
            if let Ok(v) = HeaderValue::from_str(&format!("[{shown}]")) {
                headers.insert(name, v);
            }
        }
    }
}

/// A 400 of a control endpoint: `{"error": message}`.
fn refused(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Posted {
    provider: Vendor,
    records: Vec<Record>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedDays {
    records: Vec<claude_code::Day>,
}

impl Org {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step, so a panicked holder leaves
        // nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds the usage of a request the mock answered, arrived at `arrived_ms`.
    pub fn served(&self, ask: &Ask, headers: &HeaderMap, arrived_ms: i64) {
        let (vendor, kind) = match ask.endpoint {
            Endpoint::Messages => (Vendor::Anthropic, None),
            Endpoint::ChatCompletions | Endpoint::Responses => {
                (Vendor::OpenAi, Some(Kind::Completions))
            }
            Endpoint::Embeddings => (Vendor::OpenAi, Some(Kind::Embeddings)),
            _ => return,
        };
        if !matches!(
            ask.scenario,
            Scenario::Normal | Scenario::SlowStream | Scenario::Gzip
        ) {
            return;
        }
        let u = ask.usage.expressible(ask.endpoint);
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut r = Record::new(arrived_ms, kind, &ask.model);
        r.api_key_id = credential(vendor, headers).map(|k| key_id(vendor, k));
        r.workspace_id = headers
            .get("x-mock-workspace")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        r.output_tokens = n(u.output);
        r.cache_read_input_tokens = n(u.cache_read);
        match vendor {
            Vendor::Anthropic => {
                r.input_tokens = n(u.input);
                r.cache_creation_5m = n(u.cache_write_5m);
                r.cache_creation_1h = n(u.cache_write_1h);
            }
            Vendor::OpenAi => r.input_tokens = n(u.prompt_with_cache()),
        }
        self.lock().ledger.serve(vendor, r);
    }

    /// Answers an admin request at `now_s` (Unix seconds).
    pub fn admin(&self, endpoint: Admin, parts: &Parts, now_s: i64) -> Response {
        let vendor = endpoint.vendor();
        let gzip = parts
            .headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("gzip"));
        match self.answer(endpoint, parts, now_s) {
            Ok(body) => json_response(StatusCode::OK, &body, gzip),
            Err(refusal) => refusal.response(vendor, gzip),
        }
    }

    fn answer(&self, endpoint: Admin, parts: &Parts, now_s: i64) -> Result<Value, Refusal> {
        if parts.method != Method::GET {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "mock: admin reports are read with GET",
            ));
        }
        match endpoint.vendor() {
            Vendor::Anthropic => anthropic::authorize(&parts.headers)?,
            Vendor::OpenAi => openai::authorize(&parts.headers)?,
        }
        let mut state = self.lock();
        let path = parts.uri.path();
        if let Some(i) = state.failures.iter().position(|f| f.matches(path)) {
            let refusal = state.failures[i].refusal(endpoint.vendor());
            state.failures[i].times -= 1;
            if state.failures[i].times == 0 {
                state.failures.remove(i);
            }
            return Err(refusal);
        }
        let query = parts.uri.query();
        let ledger = &state.ledger;
        match endpoint {
            Admin::MessagesUsage => anthropic::usage_report(ledger, query, now_s),
            Admin::CostReport => anthropic::cost_report(ledger, query, now_s),
            Admin::ClaudeCodeUsage => claude_code::report(&state.claude_code, query),
            Admin::CompletionsUsage => openai::usage(ledger, Kind::Completions, query, now_s),
            Admin::EmbeddingsUsage => openai::usage(ledger, Kind::Embeddings, query, now_s),
            Admin::Costs => openai::costs(ledger, query, now_s),
        }
    }

    /// The `/__mock/org/…` control endpoints.
    pub fn control(&self, method: &Method, path: &str, body: &[u8]) -> Response {
        let mut state = self.lock();
        match (path, method.as_str()) {
            ("/__mock/org/usage", "GET") => {
                let mut all = state.ledger.to_json();
                all["claude_code"] = state
                    .claude_code
                    .iter()
                    .map(claude_code::Day::to_json)
                    .collect();
                axum::Json(all).into_response()
            }
            ("/__mock/org/usage", "POST") => match serde_json::from_slice::<Posted>(body) {
                Ok(p) => match state.ledger.append(p.provider, p.records) {
                    Ok(n) => axum::Json(json!({ "appended": n })).into_response(),
                    Err(e) => refused(&e),
                },
                Err(e) => refused(&e.to_string()),
            },
            ("/__mock/org/usage", "DELETE") => {
                state.ledger.clear();
                state.claude_code.clear();
                StatusCode::NO_CONTENT.into_response()
            }
            ("/__mock/org/revise", "POST") => {
                match serde_json::from_slice::<Revision>(body).map_err(|e| e.to_string()) {
                    Ok(r) => match state.ledger.revise(&r) {
                        Ok(done) => axum::Json(done).into_response(),
                        Err(e) => refused(&e),
                    },
                    Err(e) => refused(&e),
                }
            }
            ("/__mock/org/fail", "POST") => match serde_json::from_slice::<Failure>(body) {
                Ok(f) if ![429, 500, 503].contains(&f.status) => {
                    refused("status must be 429, 500 or 503")
                }
                Ok(f) if f.times == 0 || !f.path_prefix.starts_with('/') => {
                    refused("times must be 1 or more and path_prefix must start with /")
                }
                Ok(f) => {
                    state.failures.push(f);
                    axum::Json(json!({ "pending": state.failures.len() })).into_response()
                }
                Err(e) => refused(&e.to_string()),
            },
            ("/__mock/org/fail", "DELETE") => {
                state.failures.clear();
                StatusCode::NO_CONTENT.into_response()
            }
            ("/__mock/org/claude_code", "POST") => {
                match serde_json::from_slice::<PostedDays>(body).map_err(|e| e.to_string()) {
                    Ok(p) => match claude_code::validate(&p.records) {
                        Ok(()) => {
                            let n = p.records.len();
                            state.claude_code.extend(p.records);
                            axum::Json(json!({ "appended": n })).into_response()
                        }
                        Err(e) => refused(&e),
                    },
                    Err(e) => refused(&e),
                }
            }
            (
                "/__mock/org/usage"
                | "/__mock/org/revise"
                | "/__mock/org/fail"
                | "/__mock/org/claude_code",
                _,
            ) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
}
