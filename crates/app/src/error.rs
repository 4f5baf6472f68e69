//! The one error of the use-cases. Each variant says what kind of failure it is (the caller's
//! input, a missing thing, the store), not how a front door shows it: the server maps it to a
//! status and a JSON body (`ApiError`), the CLI to a message.
//!
//! Messages name the bad field or parameter and show an accepted form; they never contain
//! secrets or database internals beyond the failing operation.

use tokenwatch_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// One bad input value; `field` names the parameter or body field, as the API reports it.
    #[error("{message}")]
    BadInput {
        field: &'static str,
        message: String,
    },
    /// An input record that does not fit its spec: every bad field found, in words.
    #[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    BadFields(Vec<FieldProblem>),
    /// What was asked for does not exist; the text names it.
    #[error("not found: {0}")]
    NotFound(String),
    /// No credentials, or credentials that are unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(String),
    /// Known credentials without the role the action needs.
    #[error("{0}")]
    Forbidden(String),
    /// The name or value is taken.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts: wait `retry_after_secs`.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    /// A failure inside tokenwatch that is not the caller's doing (random source, hashing).
    #[error("{0}")]
    Internal(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

/// One bad field of an input record: its path (`limit_usd`, `thresholds[1]`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl AppError {
    /// A [`AppError::BadInput`].
    pub fn bad(field: &'static str, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field,
            message: message.into(),
        }
    }

    /// `Ok` when `problems` is empty, else every problem with its field.
    pub fn check(problems: Vec<tokenwatch_core::suggest::Problem>) -> Result<(), AppError> {
        if problems.is_empty() {
            return Ok(());
        }
        Err(AppError::BadFields(
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: p.field.to_owned(),
                    message: p.message,
                })
                .collect(),
        ))
    }
}
