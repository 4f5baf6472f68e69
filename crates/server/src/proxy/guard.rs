//! The session guard on the proxy: a request of a blocked session or a paused agent is refused
//! before it reaches the upstream (see `tokenwatch_app::guard`).

use bytes::Bytes;
use tokenwatch_app::attribution::RequestMeta;
use tokenwatch_core::providers::Endpoint;
use tokenwatch_store::DEFAULT_TENANT;

use super::Upstream;
use crate::app::AppState;

/// Why the guard refuses this request, if it does. A request without `X-Tokenwatch-Session`
/// is matched to its derived session (its body's conversation) when its tenant has a blocked
/// session or it is refused; the refused event carries that session and the reason.
pub fn check(
    app: &AppState,
    upstream: &Upstream,
    endpoint: Endpoint,
    body: Option<&Bytes>,
    meta: &mut RequestMeta,
    ts_ms: i64,
) -> Option<String> {
    let tenant = meta.tenant.as_deref().unwrap_or(DEFAULT_TENANT).to_owned();
    // The request's derived session: needed to match a blocked session, and kept on a
    // refused event so it shows in its session's timeline.
    let derive = |meta: &RequestMeta| {
        body.and_then(|b| {
            let req = tokenwatch_core::providers::parse_request(b)?;
            let text = upstream.adapter.prompt_text(endpoint, &req);
            app.pipeline.analysis().peek_session(
                meta.tenant.as_deref(),
                meta.api_key_id.as_deref(),
                meta.agent.as_deref(),
                &text,
                ts_ms,
            )
        })
    };
    if meta.session.is_none() && app.guard.blocks_sessions_of(&tenant) {
        meta.session = derive(meta);
    }
    let refusal = app
        .guard
        .refusal(&tenant, meta.agent.as_deref(), meta.session.as_deref())?;
    if meta.session.is_none() {
        meta.session = derive(meta);
    }
    meta.refused_by = Some(refusal.kind);
    metrics::counter!("tokenwatch_guard_refusals_total", "kind" => refusal.kind).increment(1);
    Some(refusal.message)
}
