//! Errors as JSON answers: a stable `error` code, a human `message`, and the SQLSTATE when the
//! database refused the work. A user's mistake is a 4xx; a 5xx never reveals internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::errors::{self, ErrorClass};
use crate::methods::MethodError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_method`, `serialization_failure`.
    pub error: &'static str,
    /// What happened, for humans.
    pub message: String,
    /// The database's SQLSTATE when it refused the transaction (40001, 40P01, 23505, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// How many times the transaction ran before this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error,
                message: message.into(),
                sqlstate: None,
                attempts: None,
            },
        }
    }

    pub fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    pub fn not_found(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, message)
    }

    /// The one place where a 500 is made: the cause is logged once, the client learns nothing
    /// about internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request; the cause is in its log",
        )
    }

    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.body.attempts = Some(attempts);
        self
    }

    /// Maps a method's failure: a database error, or an exhausted compare-and-swap (409).
    pub fn from_method(err: &MethodError) -> Self {
        match err {
            MethodError::Database(db) => Self::from_db(db),
            MethodError::CasExhausted(_) => {
                Self::new(StatusCode::CONFLICT, "cas_exhausted", err.to_string())
            }
            MethodError::LockTimeout => {
                Self::new(StatusCode::CONFLICT, "lock_timeout", err.to_string())
            }
            MethodError::NotApplicable(reason) => Self::bad_request(
                "not_applicable",
                format!("this engine cannot run the method: {reason}"),
            ),
        }
    }

    /// Maps a database error to a rejection (409), unavailability (503) or a 500.
    pub fn from_db(err: &sqlx::Error) -> Self {
        match errors::classify(err) {
            ErrorClass::Rejected { sqlstate } => {
                let code = match sqlstate.as_str() {
                    errors::SERIALIZATION_FAILURE => "serialization_failure",
                    errors::DEADLOCK_DETECTED => "deadlock_detected",
                    errors::UNIQUE_VIOLATION => "unique_violation",
                    _ => "transaction_rolled_back",
                };
                let message = match err {
                    sqlx::Error::Database(db) => db.message().to_string(),
                    _ => "the database rolled the transaction back".to_string(),
                };
                let mut error = Self::new(StatusCode::CONFLICT, code, message);
                error.body.sqlstate = Some(sqlstate);
                error
            }
            ErrorClass::Ambiguous { sqlstate } => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "outcome_unknown",
                    "the database cannot say whether the increment was applied",
                );
                error.body.sqlstate = Some(sqlstate);
                error
            }
            ErrorClass::Unavailable => {
                tracing::warn!(cause = %errors::describe(err), "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unreachable or busy; whether the increment was applied is unknown",
                )
            }
            ErrorClass::Internal => Self::internal(&errors::describe(err)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
