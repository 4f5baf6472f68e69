//! tokenwatch-mock: a mock LLM upstream for tests and benchmarks.
//!
//! It speaks the providers' exact wire formats — Anthropic Messages (and count_tokens), OpenAI
//! Chat Completions, Responses and Embeddings, Gemini generateContent / streamGenerateContent /
//! countTokens — on any path prefix, with deterministic usage ([`usage`]: defaults, or exact
//! figures from an `x-mock-usage` header), misbehaviour chosen per request by `x-mock-scenario`
//! ([`request::Scenario`]), and streams written at awkward byte splits ([`stream`]). Every
//! response carries `request-id`/`x-request-id` (`req_mock_NNNNNN`, counting from 0) and the
//! provider's rate-limit headers ([`respond::ANTHROPIC_LIMITS`], [`respond::OPENAI_LIMITS`]).
//! `GET /__mock/requests` lists what it received ([`record`]); `DELETE` clears it.
//!
//! `GET …/v1/models` answers the model list in Anthropic's format (when the request carries
//! `x-api-key` or `anthropic-version`) or OpenAI's.
//!
//! The mock is also a provider organisation ([`org`]): the usage it serves goes into a ledger
//! that Anthropic's Usage and Cost Admin API and OpenAI's Usage and Costs APIs report
//! (`GET …/v1/organizations/usage_report/messages`, `…/cost_report`,
//! `…/usage_report/claude_code`, `…/v1/organization/usage/completions`, `…/usage/embeddings`,
//! `…/v1/organization/costs`), and `/__mock/org/…` lets a test add usage, revise it, and make
//! admin requests fail.
//!
//! Per-request headers: `x-mock-usage`, `x-mock-scenario`, `x-mock-split-bytes`,
//! `x-mock-chunk-gap-ms`, `x-mock-head-gap-ms`. An unknown scenario or malformed `x-mock-*` header is a 400 naming it;
//! an unknown path is a 404 in OpenAI's error shape; a non-POST to an API path (a non-GET to an
//! admin report) is a 405.

pub mod formats;
pub mod org;
pub mod record;
pub mod request;
pub mod respond;
pub mod stream;
pub mod tls;
pub mod usage;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use record::{RequestLog, Seen};
use request::{Ask, Endpoint, Provider};
use respond::Text;

/// How the mock behaves for every request (headers override some of it per request).
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Delay before the response headers.
    pub latency_ms: u64,
    /// Content deltas in a stream.
    pub chunks: usize,
    /// Delay before each content delta of a stream.
    pub chunk_gap_ms: u64,
    /// Delay between a JSON response's headers and its body.
    pub head_gap_ms: u64,
    /// Minimum size of the response text in bytes.
    pub body_bytes: usize,
    /// Network write size for streams; 0 writes one event per write.
    pub split_bytes: usize,
    /// Keep a ring of received requests for `/__mock/requests`, and put the usage of answered
    /// requests in the organisation's ledger ([`org`]).
    pub record: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            chunks: 5,
            chunk_gap_ms: 0,
            head_gap_ms: 0,
            body_bytes: 0,
            split_bytes: 7,
            record: true,
        }
    }
}

/// The largest request body the mock reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

struct Mock {
    cfg: MockConfig,
    text: Text,
    log: Option<RequestLog>,
    counter: AtomicU64,
    org: org::Org,
}

impl Mock {
    /// Keeps a received request for `/__mock/requests` (when recording is on).
    fn record(
        &self,
        parts: axum::http::request::Parts,
        body: bytes::Bytes,
        request_id: String,
        ask: Option<Ask>,
        usage: Option<usage::MockUsage>,
    ) {
        if let Some(log) = &self.log {
            log.push(Seen {
                request_id,
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
                ask,
                usage,
            });
        }
    }
}

/// The mock's router (every route is handled by one fallback that dispatches on the path).
pub fn router(cfg: MockConfig) -> Router {
    let whole = formats::text(cfg.body_bytes);
    let deltas = formats::pieces(&whole, cfg.chunks);
    let state = Arc::new(Mock {
        log: cfg.record.then(RequestLog::default),
        text: Text { whole, deltas },
        cfg,
        counter: AtomicU64::new(0),
        org: org::Org::default(),
    });
    Router::new().fallback(handle).with_state(state)
}

/// Serves the mock on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, cfg: MockConfig) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // As a provider's front end does: each write leaves at once, not when the last is ACKed.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(cfg)).await?;
    Ok(())
}

async fn handle(State(mock): State<Arc<Mock>>, request: Request) -> Response {
    let arrived_ms = unix_ms();
    let (parts, body) = request.into_parts();
    if parts.uri.path() == "/__mock/requests" {
        return introspect(&mock, &parts.method);
    }
    let endpoint = Endpoint::from_path(parts.uri.path());
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return error(Provider::OpenAi, StatusCode::BAD_REQUEST, "unreadable body");
    };
    if parts.uri.path().starts_with("/__mock/org/") {
        return mock.org.control(&parts.method, parts.uri.path(), &body);
    }
    let n = mock.counter.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("req_mock_{n:06}");
    if let Some(admin) = org::Admin::from_path(parts.uri.path()) {
        return admin_report(&mock, admin, parts, body, request_id, arrived_ms);
    }
    if parts.method == Method::GET && parts.uri.path().ends_with("/v1/models") {
        return models(&mock, parts, body, request_id);
    }
    let parsed = match endpoint {
        None => Err(error(
            Provider::OpenAi,
            StatusCode::NOT_FOUND,
            "mock: no such endpoint",
        )),
        Some(e) if parts.method != Method::POST => Err(error(
            e.provider(),
            StatusCode::METHOD_NOT_ALLOWED,
            "mock: use POST",
        )),
        Some(e) => Ask::parse(&mock.cfg, e, &parts, &body)
            .map_err(|m| error(e.provider(), StatusCode::BAD_REQUEST, &m)),
    };
    let (mut response, ask, usage) = match parsed {
        Ok(ask) => {
            let mut reply = respond::reply(&mock.text, &ask, &request_id, n);
            if !ask.stream && !ask.head_gap.is_zero() {
                reply.response = reply
                    .response
                    .map(|body| respond::after(ask.head_gap, body));
            }
            (reply.response, Some(ask), reply.usage)
        }
        Err(response) => (response, None, None),
    };
    if let Some(ask) = ask.as_ref().filter(|_| mock.cfg.record) {
        mock.org.served(ask, &parts.headers, arrived_ms);
    }
    if ask.is_none() {
        let provider = endpoint.map_or(Provider::OpenAi, Endpoint::provider);
        respond::provider_headers(response.headers_mut(), provider, &request_id, false);
    }
    mock.record(parts, body, request_id, ask, usage);
    if mock.cfg.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(mock.cfg.latency_ms)).await;
    }
    response
}

/// Now, in Unix milliseconds.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An admin usage or cost request: answered from the organisation, carrying request ids like
/// every response, and recorded with its credential replaced by the derived key id.
fn admin_report(
    mock: &Mock,
    admin: org::Admin,
    mut parts: axum::http::request::Parts,
    body: bytes::Bytes,
    request_id: String,
    arrived_ms: i64,
) -> Response {
    let mut response = mock.org.admin(admin, &parts, arrived_ms.div_euclid(1000));
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v.clone());
        response.headers_mut().insert("x-request-id", v);
    }
    org::redact(admin.vendor(), &mut parts.headers);
    mock.record(parts, body, request_id, None, None);
    response
}

/// `GET …/v1/models`: Anthropic's list when the request carries Anthropic's headers
/// (`x-api-key` or `anthropic-version`), else OpenAI's; recorded like every request.
fn models(
    mock: &Mock,
    parts: axum::http::request::Parts,
    body: bytes::Bytes,
    request_id: String,
) -> Response {
    let anthropic =
        parts.headers.contains_key("x-api-key") || parts.headers.contains_key("anthropic-version");
    let (provider, list) = if anthropic {
        (Provider::Anthropic, formats::anthropic::models())
    } else {
        (Provider::OpenAi, formats::openai::models())
    };
    let mut response = respond::json_response(StatusCode::OK, &list, false);
    respond::provider_headers(response.headers_mut(), provider, &request_id, false);
    mock.record(parts, body, request_id, None, None);
    response
}

fn error(provider: Provider, status: StatusCode, message: &str) -> Response {
    let kind = if status == StatusCode::NOT_FOUND {
        "not_found_error"
    } else {
        "invalid_request_error"
    };
    let body = formats::error_body_with(provider, status.as_u16(), kind, message);
    respond::json_response(status, &body, false)
}

fn introspect(mock: &Mock, method: &Method) -> Response {
    let Some(log) = &mock.log else {
        return (StatusCode::NOT_FOUND, "recording is off (--no-record)").into_response();
    };
    match *method {
        Method::GET => axum::Json(log.to_json()).into_response(),
        Method::DELETE => {
            log.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
