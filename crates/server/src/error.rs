//! The REST API's error type: one enum, mapped to an HTTP status and a stable JSON shape in one
//! place.
//!
//! Shape: `{"error": {"code": "bad_parameter", "message": "…", "param": "since"}}`. Messages name
//! the bad parameter and never contain secrets or database internals beyond the failing
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
    #[error("not found: {0}")]
    NotFound(String),
    #[error("storage error: {0}")]
    Store(#[from] tokenwatch_store::StoreError),
}

impl ApiError {
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            param,
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadParameter { .. } => "bad_parameter",
            ApiError::NotFound(_) => "not_found",
            ApiError::Store(_) => "storage_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(err) = &self {
            tracing::error!(error = %err, "API request failed in the store");
        }
        let param = match &self {
            ApiError::BadParameter { param, .. } => Some(*param),
            _ => None,
        };
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string(), "param": param }
        });
        (self.status(), Json(body)).into_response()
    }
}
