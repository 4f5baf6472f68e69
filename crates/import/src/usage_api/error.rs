//! What can go wrong reading an admin API, and the providers' error bodies.
//!
//! A non-2xx answer becomes a [`ProviderError`] read from the provider's error shape —
//! Anthropic `{"type": "error", "error": {"type", "message"}}`, OpenAI `{"error": {"message",
//! "type", "code"}}` — and classified ([`ErrorKind`]) so the user is told what to do: a bad
//! key, a key without admin permission, rate limiting, or the provider failing. A body in
//! neither shape (an HTML page from a proxy) keeps its status and a short excerpt.

use super::{Endpoint, Provider};

/// Why a sync of an admin API stopped.
#[derive(Debug, thiserror::Error)]
pub enum UsageApiError {
    /// The provider answered with an error status.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A page could not be read: the endpoint, the JSON path of the bad value (empty for the
    /// whole body) and why.
    #[error("{endpoint} page is malformed at {}: {why}", if path.is_empty() { "the body" } else { path.as_str() })]
    Malformed {
        endpoint: Endpoint,
        path: String,
        why: String,
    },
    /// A page pointed back to a cursor already followed: the pages would never end.
    #[error("{endpoint} pages loop: the cursor {cursor:?} came back")]
    PageLoop { endpoint: Endpoint, cursor: String },
    /// More pages than the caller allows for one request.
    #[error("{endpoint} gave more than {max_pages} pages for one window")]
    TooManyPages {
        endpoint: Endpoint,
        max_pages: usize,
    },
    /// The window cannot be asked for.
    #[error("bad report window: {0}")]
    BadWindow(String),
    /// The transport failed (connection, timeout, TLS…).
    #[error("transport: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// What an error status means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401, `authentication_error`, `invalid_api_key`: the key is wrong or revoked.
    BadKey,
    /// 403, `permission_error`: the key works but may not read usage (not an admin key).
    NoPermission,
    /// 429, `rate_limit_error`: wait (`retry_after_s` when given) and ask again.
    RateLimited,
    /// 5xx, `api_error`, `overloaded_error`: the provider failed; ask again later.
    ProviderFailure,
    /// Anything else (400 invalid request, 404): the request itself is wrong.
    BadRequest,
}

/// An error answer of a provider's admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ProviderError {
    pub provider: Provider,
    pub status: u16,
    pub kind: ErrorKind,
    /// The provider's error `type` (`authentication_error`, `invalid_request_error`, …).
    pub error_type: Option<String>,
    /// OpenAI's error `code` (`invalid_api_key`, `rate_limit_exceeded`, …).
    pub code: Option<String>,
    /// The provider's message, or an excerpt of a body in no known shape.
    pub message: String,
    /// The `retry-after` the answer carried, in seconds.
    pub retry_after_s: Option<u64>,
}

/// Shows at most this many characters of a body in no known error shape.
const EXCERPT_CHARS: usize = 200;

impl ProviderError {
    /// Reads an error answer: `status`, `retry-after` in seconds, and the body.
    pub fn from_reply(
        provider: Provider,
        status: u16,
        retry_after_s: Option<u64>,
        body: &str,
    ) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let text = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let error_type = text("type");
        let code = text("code");
        let message = text("message").unwrap_or_else(|| {
            let trimmed = body.trim();
            match trimmed.char_indices().nth(EXCERPT_CHARS) {
                Some((cut, _)) => format!("{}…", &trimmed[..cut]),
                None if trimmed.is_empty() => "(no body)".to_owned(),
                None => trimmed.to_owned(),
            }
        });
        ProviderError {
            provider,
            status,
            kind: classify(status, error_type.as_deref(), code.as_deref()),
            error_type,
            code,
            message,
            retry_after_s,
        }
    }

    /// The error for a user: what it means, then what the provider said.
    pub fn describe(&self) -> String {
        let who = match self.provider {
            Provider::Anthropic => "Anthropic",
            Provider::OpenAi => "OpenAI",
        };
        let meaning = match self.kind {
            ErrorKind::BadKey => format!("bad key: {who} does not accept the admin key"),
            ErrorKind::NoPermission => format!(
                "no permission: the key may not read {who}'s usage (an admin key is needed)"
            ),
            ErrorKind::RateLimited => match self.retry_after_s {
                Some(s) => format!("rate limited by {who}: retry after {s} s"),
                None => format!("rate limited by {who}"),
            },
            ErrorKind::ProviderFailure => format!("provider error: {who} failed to answer"),
            ErrorKind::BadRequest => format!("{who} refused the request"),
        };
        let kind = [self.error_type.as_deref(), self.code.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        if kind.is_empty() {
            format!("{meaning} (HTTP {}: {})", self.status, self.message)
        } else {
            format!("{meaning} (HTTP {} {kind}: {})", self.status, self.message)
        }
    }
}

/// The status decides when it is one of the meaningful ones (OpenAI answers a non-admin key
/// with 403 `invalid_request_error`); otherwise the error's type or code does.
fn classify(status: u16, error_type: Option<&str>, code: Option<&str>) -> ErrorKind {
    match status {
        401 => return ErrorKind::BadKey,
        403 => return ErrorKind::NoPermission,
        429 => return ErrorKind::RateLimited,
        500..=599 => return ErrorKind::ProviderFailure,
        _ => {}
    }
    match (error_type, code) {
        (Some("authentication_error"), _) | (_, Some("invalid_api_key")) => ErrorKind::BadKey,
        (Some("permission_error"), _) => ErrorKind::NoPermission,
        (Some("rate_limit_error"), _) | (_, Some("rate_limit_exceeded")) => ErrorKind::RateLimited,
        (Some("api_error" | "overloaded_error" | "server_error"), _) => ErrorKind::ProviderFailure,
        _ => ErrorKind::BadRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_errors_are_read_and_classified() {
        let body = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}"#;
        let e = ProviderError::from_reply(Provider::Anthropic, 401, None, body);
        assert_eq!(e.kind, ErrorKind::BadKey);
        assert_eq!(e.error_type.as_deref(), Some("authentication_error"));
        assert_eq!(e.message, "invalid x-api-key");
        assert_eq!(
            e.to_string(),
            "bad key: Anthropic does not accept the admin key \
             (HTTP 401 authentication_error: invalid x-api-key)"
        );
        let body = r#"{"type":"error","error":{"type":"permission_error","message":"needs an Admin API key"}}"#;
        let e = ProviderError::from_reply(Provider::Anthropic, 403, None, body);
        assert_eq!(e.kind, ErrorKind::NoPermission);
        assert_eq!(
            e.describe(),
            "no permission: the key may not read Anthropic's usage (an admin key is needed) \
             (HTTP 403 permission_error: needs an Admin API key)"
        );
        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = ProviderError::from_reply(Provider::Anthropic, 529, None, body);
        assert_eq!(e.kind, ErrorKind::ProviderFailure);
    }

    #[test]
    fn openai_errors_are_read_and_classified() {
        let body = r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let e = ProviderError::from_reply(Provider::OpenAi, 401, None, body);
        assert_eq!(e.kind, ErrorKind::BadKey);
        assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        assert_eq!(
            e.describe(),
            "bad key: OpenAI does not accept the admin key \
             (HTTP 401 invalid_request_error, invalid_api_key: Incorrect API key provided.)"
        );
        let body = r#"{"error":{"message":"You have insufficient permissions","type":"invalid_request_error","code":null}}"#;
        let e = ProviderError::from_reply(Provider::OpenAi, 403, None, body);
        assert_eq!(e.kind, ErrorKind::NoPermission);
        let body =
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#;
        let e = ProviderError::from_reply(Provider::OpenAi, 429, Some(7), body);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(
            e.describe(),
            "rate limited by OpenAI: retry after 7 s \
             (HTTP 429 requests, rate_limit_exceeded: slow down)"
        );
        let body = r#"{"error":{"message":"bad limit","type":"invalid_request_error","param":"limit","code":null}}"#;
        let e = ProviderError::from_reply(Provider::OpenAi, 400, None, body);
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.message, "bad limit");
    }

    #[test]
    fn types_decide_when_the_status_does_not() {
        assert_eq!(
            classify(400, Some("authentication_error"), None),
            ErrorKind::BadKey
        );
        assert_eq!(
            classify(400, Some("permission_error"), None),
            ErrorKind::NoPermission
        );
        assert_eq!(
            classify(400, None, Some("rate_limit_exceeded")),
            ErrorKind::RateLimited
        );
        assert_eq!(
            classify(418, Some("api_error"), None),
            ErrorKind::ProviderFailure
        );
        assert_eq!(
            classify(404, Some("not_found_error"), None),
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn bodies_in_no_known_shape_keep_an_excerpt() {
        let html = format!("<html>{}</html>", "x".repeat(300));
        let e = ProviderError::from_reply(Provider::OpenAi, 502, None, &html);
        assert_eq!(e.kind, ErrorKind::ProviderFailure);
        assert_eq!(e.error_type, None);
        assert_eq!(e.message.chars().count(), 201);
        assert!(e.message.starts_with("<html>xxx"));
        let e = ProviderError::from_reply(Provider::Anthropic, 503, None, "  ");
        assert_eq!(
            e.describe(),
            "provider error: Anthropic failed to answer (HTTP 503: (no body))"
        );
    }
}
