//! tokenwatch's own errors on proxy routes, shaped like the provider's error format so that SDKs
//! raise them as ordinary API errors with a readable message.
//!
//! Only tokenwatch's failures use these (no route, bad config, body too large, upstream
//! unreachable, budget refusal). Upstream errors are never rewritten: they pass through verbatim.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokenwatch_core::providers::ProviderKind;

/// Builds an error response in `kind`'s wire format. `message` must never contain a secret.
pub fn provider_error(kind: ProviderKind, status: StatusCode, message: &str) -> Response {
    let body = match kind {
        ProviderKind::Anthropic => serde_json::json!({
            "type": "error",
            "error": { "type": anthropic_type(status), "message": message },
        }),
        ProviderKind::Openai => serde_json::json!({
            "error": {
                "message": message,
                "type": openai_type(status),
                "param": null,
                "code": openai_type(status),
            },
        }),
        ProviderKind::Gemini => serde_json::json!({
            "error": { "code": status.as_u16(), "message": message, "status": gemini_status(status) },
        }),
    };
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("x-tokenwatch-error", HeaderValue::from_static("1"));
    response
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        // OpenAI answers a request it will not serve (a region, a model the key may not use)
        // with 403 and an invalid-request type: not a server fault, nothing to retry.
        400 | 403 | 404 | 413 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_exceeded",
        504 => "timeout",
        _ => "server_error",
    }
}

fn gemini_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNAVAILABLE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(r: Response) -> serde_json::Value {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn shapes_match_each_provider() {
        let a = body_json(provider_error(
            ProviderKind::Anthropic,
            StatusCode::BAD_GATEWAY,
            "m",
        ))
        .await;
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "api_error");
        assert_eq!(a["error"]["message"], "m");
        let o = body_json(provider_error(
            ProviderKind::Openai,
            StatusCode::TOO_MANY_REQUESTS,
            "m",
        ))
        .await;
        assert_eq!(o["error"]["type"], "rate_limit_exceeded");
        let g = body_json(provider_error(
            ProviderKind::Gemini,
            StatusCode::NOT_FOUND,
            "m",
        ))
        .await;
        assert_eq!(g["error"]["code"], 404);
        assert_eq!(g["error"]["status"], "NOT_FOUND");
        // A refusal by tokenwatch itself (a paused agent, a model the key may not call) is a
        // permission problem in every shape, never a retryable server fault.
        let forbidden = |kind| provider_error(kind, StatusCode::FORBIDDEN, "m");
        let a = body_json(forbidden(ProviderKind::Anthropic)).await;
        assert_eq!(a["error"]["type"], "permission_error");
        let o = body_json(forbidden(ProviderKind::Openai)).await;
        assert_eq!(o["error"]["type"], "invalid_request_error");
        let g = body_json(forbidden(ProviderKind::Gemini)).await;
        assert_eq!(g["error"]["status"], "PERMISSION_DENIED");
    }
}
