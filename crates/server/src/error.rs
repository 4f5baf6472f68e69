//! The REST API's error type: one enum, mapped to an HTTP status and a stable JSON shape in one
//! place.
//!
//! Shape: `{"error": {"code": "bad_parameter", "message": "…", "param": "since"}}`; a JSON body
//! that does not fit adds `"fields": [{"field": "limit_usd", "message": "…"}]`, one per bad
//! field, and its message joins theirs. Messages name the bad parameter and never contain secrets or database internals beyond the failing
//! operation.
//!
//! The use-cases' [`AppError`] is one variant of it (`?` converts), so the statuses of the
//! domain's failures are decided here, in [`ApiError::status`], and nowhere else.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokenwatch_app::AppError;

pub use tokenwatch_app::FieldProblem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure of a use-case, or of the request's own parameters (same kinds, same words).
    #[error(transparent)]
    App(#[from] AppError),
    /// The channel secret key cannot be read or created (a server-side problem).
    #[error("{0}")]
    Secrets(#[from] tokenwatch_app::secrets::SecretError),
}

impl From<tokenwatch_store::StoreError> for ApiError {
    fn from(e: tokenwatch_store::StoreError) -> Self {
        ApiError::App(AppError::Store(e))
    }
}

impl ApiError {
    /// A bad parameter (400), named in `param`.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::App(AppError::bad(param, message))
    }

    /// Nothing by that name (404); `what` names it.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::App(AppError::NotFound(what.into()))
    }

    /// `Ok` when `problems` is empty, else every problem with its field (400).
    pub fn check(problems: Vec<tokenwatch_core::suggest::Problem>) -> Result<(), ApiError> {
        Ok(AppError::check(problems)?)
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::App(AppError::BadInput { .. } | AppError::BadFields(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::App(AppError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::App(AppError::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
            ApiError::App(AppError::Forbidden(_)) => StatusCode::FORBIDDEN,
            ApiError::App(AppError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::App(AppError::Throttled { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::App(AppError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::App(AppError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Secrets(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::App(AppError::BadInput { .. } | AppError::BadFields(_)) => "bad_parameter",
            ApiError::App(AppError::NotFound(_)) => "not_found",
            ApiError::App(AppError::Unauthorized(_)) => "unauthorized",
            ApiError::App(AppError::Forbidden(_)) => "forbidden",
            ApiError::App(AppError::Conflict(_)) => "conflict",
            ApiError::App(AppError::Throttled { .. }) => "throttled",
            ApiError::App(AppError::Internal(_)) => "internal",
            ApiError::App(AppError::Store(_)) => "storage_unavailable",
            ApiError::Secrets(_) => "secrets_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::App(AppError::Store(err)) => {
                tracing::error!(error = %err, "API request failed in the store")
            }
            ApiError::Secrets(err) => {
                tracing::error!(error = %err, "API request failed on the channel secret key")
            }
            _ => {}
        }
        let param = match &self {
            ApiError::App(AppError::BadInput { field, .. }) => Some(*field),
            ApiError::App(AppError::BadFields(_)) => Some("body"),
            _ => None,
        };
        let mut error = serde_json::json!({
            "code": self.code(), "message": self.to_string(), "param": param
        });
        if let ApiError::App(AppError::BadFields(fields)) = &self {
            error["fields"] = serde_json::json!(fields);
        }
        let body = serde_json::json!({ "error": error });
        let mut response = (self.status(), Json(body)).into_response();
        match &self {
            ApiError::App(AppError::Throttled {
                retry_after_secs, ..
            }) => {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, (*retry_after_secs).into());
            }
            ApiError::App(AppError::Unauthorized(_)) => {
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer realm=\"tokenwatch\""),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;

    async fn shown(error: impl Into<ApiError>) -> (StatusCode, serde_json::Value) {
        let response = error.into().into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn use_case_errors_keep_their_status_code_and_words() {
        let (status, body) = shown(AppError::bad("since", "since: 'x' is not a time")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": {"code": "bad_parameter", "message": "since: 'x' is not a time", "param": "since"}})
        );

        let (status, body) = shown(AppError::NotFound("event e1".into())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "not_found", "message": "not found: event e1", "param": null}})
        );

        let fields = vec![
            FieldProblem {
                field: "limit_usd".into(),
                message: "`limit_usd` is required".into(),
            },
            FieldProblem {
                field: "period".into(),
                message: "`period` cannot be \"wek\"".into(),
            },
        ];
        let (status, body) = shown(AppError::BadFields(fields)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad_parameter");
        assert_eq!(body["error"]["param"], "body");
        assert_eq!(
            body["error"]["message"],
            "`limit_usd` is required; `period` cannot be \"wek\""
        );
        assert_eq!(body["error"]["fields"][1]["field"], "period");
    }
}
