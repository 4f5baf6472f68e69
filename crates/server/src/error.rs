//! The REST API's error type: one enum, mapped to an HTTP status and a stable JSON shape in one
//! place.
//!
//! Shape: `{"error": {"code": "bad_parameter", "message": "…", "param": "since"}}`; a JSON body
//! that does not fit adds `"fields": [{"field": "limit_usd", "message": "…"}]`, one per bad
//! field, and its message joins theirs. Messages name the bad parameter and never contain secrets or database internals beyond the failing
//! operation.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadParameter {
        param: &'static str,
        message: String,
    },
    /// A JSON body that does not fit its spec: every bad field found, in words.
    #[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    BadFields(Vec<FieldProblem>),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("storage error: {0}")]
    Store(#[from] tokenwatch_store::StoreError),
    /// The channel secret key cannot be read or created (a server-side problem).
    #[error("{0}")]
    Secrets(#[from] crate::secrets::SecretError),
}

/// One bad field of a JSON body: its path (`limit_usd`, `thresholds[1]`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            param,
            message: message.into(),
        }
    }

    /// `Ok` when `problems` is empty, else every problem with its field (400).
    pub fn check(problems: Vec<tokenwatch_core::suggest::Problem>) -> Result<(), ApiError> {
        if problems.is_empty() {
            return Ok(());
        }
        Err(ApiError::BadFields(
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: p.field.to_owned(),
                    message: p.message,
                })
                .collect(),
        ))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadFields(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Secrets(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadFields(_) => "bad_parameter",
            ApiError::NotFound(_) => "not_found",
            ApiError::Store(_) => "storage_unavailable",
            ApiError::Secrets(_) => "secrets_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Store(err) => {
                tracing::error!(error = %err, "API request failed in the store")
            }
            ApiError::Secrets(err) => {
                tracing::error!(error = %err, "API request failed on the channel secret key")
            }
            _ => {}
        }
        let param = match &self {
            ApiError::BadParameter { param, .. } => Some(*param),
            ApiError::BadFields(_) => Some("body"),
            _ => None,
        };
        let mut error = serde_json::json!({
            "code": self.code(), "message": self.to_string(), "param": param
        });
        if let ApiError::BadFields(fields) = &self {
            error["fields"] = serde_json::json!(fields);
        }
        let body = serde_json::json!({ "error": error });
        (self.status(), Json(body)).into_response()
    }
}
