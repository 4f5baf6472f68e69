//! The transparent proxy: route a request to its provider, forward it untouched, stream the
//! response back untouched, and record the exchange on the side.
//!
//! Routing: `/<provider>/<rest>` goes to that provider's `base_url` + `<rest>`; the drop-in bare
//! paths `/v1/messages…` go to `anthropic`, `/v1/chat/completions`, `/v1/completions`,
//! `/v1/responses`, `/v1/embeddings` to `openai`, `/v1beta/…` to `gemini`, and `/v1/models…`
//! to `anthropic` when the request carries Anthropic's headers, else to `openai`.
//!
//! The hot path does: check the `Host` (see [`crate::doors`]), route, read the request body (billable endpoints only), a cheap parse for
//! model and stream flag, forward. Everything else (request shape, pricing, storage) happens
//! after, off the request's path. The only bodies tokenwatch writes itself are its own errors.

pub mod background;
pub mod call;
pub mod decode;
pub mod errors;
mod guard;
pub mod headers;
mod keys;
pub mod tee;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, StatusCode, Uri, header};
use tokenwatch_core::EventStatus;
use tokenwatch_core::providers::{Endpoint, Provider, ProviderKind, QuickFacts, openai};

use crate::app::AppState;
use crate::recording::{Captured, Exchange, Finished};
use call::{Call, Sent};
use errors::provider_error;
use headers::ResponseHeaderFacts;
use keys::KeyUse;
use tokenwatch_app::attribution::RequestMeta;
use tokenwatch_app::config::ProviderConfig;

/// The pooled HTTP(S) client used for every upstream (see [`tokenwatch_app::client`]).
pub type HttpClient = tokenwatch_app::client::HttpsClient<Body>;

/// One configured provider, ready to forward to.
pub struct Upstream {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    pub adapter: &'static dyn Provider,
    scheme: Scheme,
    authority: Authority,
    /// The base URL's path without a trailing slash ("" for a bare host).
    base_path: String,
    /// Credential injected when the client sends none. Marked sensitive.
    api_key: Option<HeaderValue>,
    pub timeout: Duration,
    inject_stream_usage: bool,
}

impl Upstream {
    /// Validated config in, ready upstream out. (`Config::validate` has checked the URL.)
    pub fn new(name: &str, cfg: &ProviderConfig) -> Option<Self> {
        let uri: Uri = cfg.base_url.parse().ok()?;
        let api_key = cfg
            .api_key
            .as_deref()
            .and_then(|key| credential_header(cfg.kind, key));
        Some(Self {
            name: Arc::from(name),
            kind: cfg.kind,
            adapter: cfg.kind.adapter(),
            scheme: uri.scheme().cloned().unwrap_or(Scheme::HTTPS),
            authority: uri.authority()?.clone(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            api_key,
            timeout: Duration::from_secs(cfg.timeout_secs),
            inject_stream_usage: cfg.inject_stream_usage && cfg.kind == ProviderKind::Openai,
        })
    }

    /// `scheme://host:port` of the base URL, for messages (never its path or credentials).
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            self.scheme,
            self.authority.as_str().rsplit('@').next().unwrap_or("")
        )
    }

    fn uri(&self, rest: &str, query: Option<&str>) -> Option<Uri> {
        let mut pq = String::with_capacity(
            self.base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.base_path);
        pq.push_str(rest);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(PathAndQuery::try_from(pq).ok()?)
            .build()
            .ok()
    }

    /// The header value that carries `secret` to this provider.
    fn credential_value(&self, secret: &str) -> Option<HeaderValue> {
        credential_header(self.kind, secret)
    }

    /// The provider's configured `api_key`, as its header value.
    fn configured_key(&self) -> Option<&HeaderValue> {
        self.api_key.as_ref()
    }

    fn auth_header(&self) -> &'static str {
        match self.kind {
            ProviderKind::Anthropic => "x-api-key",
            ProviderKind::Openai => "authorization",
            ProviderKind::Gemini => "x-goog-api-key",
        }
    }
}

/// The sensitive header value that carries a provider key: `Bearer <key>` for OpenAI, the key
/// itself for the others.
fn credential_header(kind: ProviderKind, key: &str) -> Option<HeaderValue> {
    match kind {
        ProviderKind::Openai => keys::sensitive(&format!("Bearer {key}")),
        ProviderKind::Anthropic | ProviderKind::Gemini => keys::sensitive(key),
    }
}

/// Every upstream by mount name. Cloning shares the upstreams.
#[derive(Clone)]
pub struct Routes {
    by_name: HashMap<String, Arc<Upstream>>,
}

impl Routes {
    pub fn new(upstreams: impl IntoIterator<Item = Upstream>) -> Self {
        Self {
            by_name: upstreams
                .into_iter()
                .map(|u| (u.name.to_string(), Arc::new(u)))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Finds the upstream for a request path and the path to forward. The bare `/v1/models…`
    /// (an SDK's model list on the bare base URL) goes to Anthropic when the request carries
    /// Anthropic's headers (`x-api-key` or `anthropic-version`), else to OpenAI.
    pub fn resolve<'p>(
        &self,
        path: &'p str,
        headers: &http::HeaderMap,
    ) -> Option<(&Arc<Upstream>, &'p str)> {
        let trimmed = path.strip_prefix('/')?;
        let (first, rest) = match trimmed.find('/') {
            Some(i) => (&trimmed[..i], &trimmed[i..]),
            None => (trimmed, "/"),
        };
        if let Some(upstream) = self.by_name.get(first) {
            return Some((upstream, rest));
        }
        let models = rest == "/models" || rest.starts_with("/models/");
        let drop_in = match first {
            "v1" if rest.starts_with("/messages") => "anthropic",
            "v1" if models
                && (headers.contains_key("x-api-key")
                    || headers.contains_key("anthropic-version")) =>
            {
                "anthropic"
            }
            "v1" if models => "openai",
            "v1" if [
                "/chat/completions",
                "/completions",
                "/responses",
                "/embeddings",
            ]
            .iter()
            .any(|p| rest.starts_with(p)) =>
            {
                "openai"
            }
            "v1beta" => "gemini",
            _ => return None,
        };
        self.by_name.get(drop_in).map(|u| (u, path))
    }
}

/// The proxy handler: everything that is not one of tokenwatch's own routes lands here.
pub async fn handle(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let ts_ms = tokenwatch_core::time::now_ms();
    let resolved = app.routes.resolve(request.uri().path(), request.headers());
    let door = app
        .hosts
        .check_host(request.headers(), request.uri())
        .and_then(|()| {
            app.hosts
                .check_proxy_origin(request.method(), request.headers())
        });
    if let Err(refusal) = door {
        return match resolved {
            Some((upstream, _)) => provider_error(upstream.kind, refusal.status, &refusal.message),
            None => refusal.into_response(),
        };
    }
    let Some((upstream, rest)) = resolved else {
        return not_routed(&app, request.uri().path());
    };
    let upstream = Arc::clone(upstream);
    let rest = rest.to_owned();
    let (mut parts, body) = request.into_parts();
    let key_use = match keys::check(&app, &upstream, &parts.headers).await {
        Ok(k) => k,
        Err(refusal) => return refusal,
    };
    let query = parts.uri.query().map(str::to_owned);
    let endpoint = upstream.adapter.endpoint(parts.method.as_str(), &rest);
    let record = endpoint.is_billable();

    // Billable POSTs are read whole (to learn model and stream flag); everything else streams.
    let mut request_body: Option<Bytes> = None;
    let mut quick = Default::default();
    let mut rewritten = false;
    let upstream_body = if record && parts.method == Method::POST {
        let bytes = match axum::body::to_bytes(body, app.config.server.max_request_bytes).await {
            Ok(b) => b,
            Err(_) => {
                return provider_error(
                    upstream.kind,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "tokenwatch: request body could not be read (larger than server.max_request_bytes = {} bytes, or the client stopped sending)",
                        app.config.server.max_request_bytes
                    ),
                );
            }
        };
        quick = upstream
            .adapter
            .quick_request_facts(endpoint, &rest, &bytes);
        let to_send = if upstream.inject_stream_usage
            && endpoint == Endpoint::ChatCompletions
            && quick.stream
            && !quick.include_usage
        {
            openai::inject_include_usage(&bytes).map(Bytes::from)
        } else {
            None
        };
        request_body = Some(bytes.clone());
        match to_send {
            Some(new_body) => {
                rewritten = true;
                Body::from(new_body)
            }
            None => Body::from(bytes),
        }
    } else {
        body
    };
    let request_bytes = request_body.as_ref().map_or(0, |b| b.len() as i64);

    let Some(uri) = upstream.uri(&rest, query.as_deref()) else {
        return provider_error(
            upstream.kind,
            StatusCode::BAD_REQUEST,
            "tokenwatch: the request path cannot be forwarded",
        );
    };
    if let Some(key) = key_use.key()
        && record
        && let Err(message) = keys::check_model(key, quick.model.as_deref())
    {
        return provider_error(upstream.kind, StatusCode::FORBIDDEN, &message);
    }
    let mut meta = if record {
        let mut meta = RequestMeta::from_headers(&parts.headers);
        match key_use.key() {
            Some(key) => {
                meta.api_key_id = Some(key.id.clone());
                meta.tenant = Some(key.tenant.clone());
                if meta.project.is_none() {
                    meta.project.clone_from(&key.project);
                }
                if meta.agent.is_none() {
                    meta.agent.clone_from(&key.agent);
                }
            }
            None => meta.api_key_id = headers::key_id(&parts.headers, query.as_deref()),
        }
        meta
    } else {
        RequestMeta::default()
    };
    // What a refusal by tokenwatch itself records (the guard's or a budget's).
    let refused = Refused {
        upstream: &upstream,
        endpoint,
        path: &rest,
        quick: &quick,
        request_bytes,
        ts_ms,
        started,
    };
    // The session guard: one atomic load unless a session is blocked or an agent paused.
    if record && app.guard.active() {
        let refusal = guard::check(
            &app,
            &upstream,
            endpoint,
            request_body.as_ref(),
            &mut meta,
            ts_ms,
        );
        if let Some(message) = refusal {
            refused.record(&app, meta, 403);
            return provider_error(upstream.kind, StatusCode::FORBIDDEN, &message);
        }
    }
    // Budgets: in-memory counters only, no I/O. A refusal is the provider's 429 shape.
    if record
        && let Err(refusal) = app.policy.admit(
            &upstream.name,
            quick.model.as_deref(),
            &rest,
            &parts.headers,
            &mut meta,
            ts_ms,
        )
    {
        metrics::counter!("tokenwatch_budget_refusals_total").increment(1);
        // Recorded (status `refused`, no cost, 0 requests) so refusals show in history.
        meta.tags
            .push(("budget".to_owned(), refusal.budget.clone()));
        refused.record(&app, meta, 429);
        let mut response = provider_error(
            upstream.kind,
            StatusCode::TOO_MANY_REQUESTS,
            &refusal.message,
        );
        if let Ok(v) = HeaderValue::from_str(&refusal.budget) {
            response.headers_mut().insert("x-tokenwatch-budget", v);
        }
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, refusal.retry_after_secs.into());
        return response;
    }
    let mut out_headers = std::mem::take(&mut parts.headers);
    headers::strip_request_headers(&mut out_headers, rewritten);
    if let KeyUse::Instead(key) = &key_use {
        if let Err(refusal) = keys::inject_credential(&app, &upstream, key, &mut out_headers).await
        {
            return refusal;
        }
    } else if let Some(key) = &upstream.api_key
        && !headers::has_credentials(&out_headers, query.as_deref())
    {
        out_headers.insert(upstream.auth_header(), key.clone());
    }
    let mut upstream_request = http::Request::new(upstream_body);
    *upstream_request.method_mut() = parts.method.clone();
    *upstream_request.uri_mut() = uri;
    *upstream_request.headers_mut() = out_headers;

    let sent = Sent {
        app: Arc::clone(&app),
        exchange: Exchange {
            ts_ms,
            provider: Arc::clone(&upstream.name),
            kind: upstream.kind,
            endpoint,
            path: rest,
            quick,
            request_body,
            request_bytes,
            meta,
            http_status: None,
            response_headers: ResponseHeaderFacts::default(),
            streamed: false,
        },
        upstream,
        record,
        rewritten,
        started,
    };
    // From here the request may reach the upstream: if the client leaves, `Call` finishes the
    // exchange in the background so it is still recorded.
    let (answer, sent) = Call::new(app.client.request(upstream_request), sent).await;
    sent.respond(answer)
}

/// A request tokenwatch refused itself (a budget, the guard), before it reached the upstream.
struct Refused<'a> {
    upstream: &'a Upstream,
    endpoint: Endpoint,
    path: &'a str,
    quick: &'a QuickFacts,
    request_bytes: i64,
    ts_ms: i64,
    started: Instant,
}

impl Refused<'_> {
    /// Records it (status `refused`, no cost, 0 requests) so refusals show in history.
    fn record(&self, app: &AppState, meta: RequestMeta, http_status: u16) {
        let exchange = Exchange {
            ts_ms: self.ts_ms,
            provider: Arc::clone(&self.upstream.name),
            kind: self.upstream.kind,
            endpoint: self.endpoint,
            path: self.path.to_owned(),
            quick: self.quick.clone(),
            request_body: None,
            request_bytes: self.request_bytes,
            meta,
            http_status: Some(http_status),
            response_headers: ResponseHeaderFacts::default(),
            streamed: false,
        };
        app.sink
            .finish(finished(exchange, EventStatus::Refused, self.started));
    }
}

fn finished(exchange: Exchange, status: EventStatus, started: Instant) -> Finished {
    Finished {
        exchange,
        status,
        captured: Captured::Nothing,
        ttft_ms: None,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        response_bytes: 0,
    }
}

fn header_str(headers: &http::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn not_routed(app: &AppState, path: &str) -> Response {
    let mut names: Vec<&str> = app.routes.names().collect();
    names.sort_unstable();
    let shown: String = path.chars().take(200).collect();
    let body = serde_json::json!({
        "error": {
            "type": "not_found",
            "message": format!(
                "tokenwatch: no route for '{shown}'. Provider routes are /<provider>/… with providers: {}; drop-in paths are /v1/messages (Anthropic), /v1/chat/completions, /v1/responses, /v1/embeddings (OpenAI), /v1/models (either, by its headers) and /v1beta/… (Gemini).",
                names.join(", ")
            ),
        }
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests;
