//! Errors as JSON answers: a stable `error` code, a human `message`, and the database's code
//! when it refused the work. A user's mistake is a 4xx; a 5xx never reveals internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::{ErrorBody, codes};
use crate::model::{DbFailure, ErrorClass, IncrementError, Refusal};

/// The refusals with a code of their own in error bodies: the same on every engine.
fn named(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Serialization => codes::SERIALIZATION_FAILURE,
        Refusal::Deadlock => codes::DEADLOCK_DETECTED,
        Refusal::Duplicate => codes::UNIQUE_VIOLATION,
        Refusal::LockTimeout => codes::LOCK_TIMEOUT,
        Refusal::StatementTimeout => codes::STATEMENT_TIMEOUT,
        Refusal::Busy | Refusal::Other => codes::ROLLED_BACK,
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.to_string(),
                message: message.into(),
                sqlstate: None,
                code: None,
                attempts: None,
                applied: None,
            },
        }
    }

    pub fn bad_request(error: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    pub fn not_found(error: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, message)
    }

    /// The one place where a 500 is made: the cause is logged once, the client learns nothing
    /// about internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "the server failed to handle the request; the cause is in its log",
        )
    }

    /// The database's SQLSTATE and the engine's own code, as the failure kept them.
    fn with_codes(mut self, failure: &DbFailure) -> Self {
        self.body.sqlstate = failure.sqlstate.clone();
        self.body.code = failure.code.clone();
        self
    }

    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.body.attempts = Some(attempts);
        self
    }

    /// Maps an increment's failure: the database's (see [`ApiError::from_db`]), or one of the
    /// methods' own refusals (409), or a method this server cannot run (409 too).
    pub fn from_increment(err: &IncrementError) -> Self {
        match err {
            IncrementError::Database(failure) => Self::from_db(failure),
            IncrementError::CasExhausted(_) => {
                Self::new(StatusCode::CONFLICT, codes::CAS_EXHAUSTED, err.to_string())
            }
            IncrementError::LockTimeout(_) => {
                Self::new(StatusCode::CONFLICT, codes::LOCK_TIMEOUT, err.to_string())
            }
            IncrementError::RowGone(_) => {
                Self::new(StatusCode::CONFLICT, codes::ROW_GONE, err.to_string())
            }
            IncrementError::ScriptRefused { .. } => Self::new(
                StatusCode::CONFLICT,
                codes::REFUSED_BY_SCRIPT,
                err.to_string(),
            ),
            IncrementError::ScriptFailed { failure, .. } => {
                let answer = Self::new(StatusCode::CONFLICT, codes::SCRIPT_FAILED, err.to_string());
                match failure {
                    Some(failure) => answer.with_codes(failure),
                    None => answer,
                }
            }
            IncrementError::DeadlineExceeded { .. } => Self::new(
                StatusCode::CONFLICT,
                codes::DEADLINE_EXCEEDED,
                err.to_string(),
            ),
            // Not a refusal: part of it may have been applied. (An application's error is the
            // application explorer's; counter's own server never answers it.)
            IncrementError::ScriptPartlyApplied { .. }
            | IncrementError::ApplicationError { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::OUTCOME_UNKNOWN,
                err.to_string(),
            ),
            // The request is well formed; this server's engine or configuration cannot run
            // it: a conflict with the server's state (400 would call a valid request bad).
            IncrementError::NotApplicable(reason) => {
                Self::new(StatusCode::CONFLICT, codes::NOT_APPLICABLE, reason.clone())
            }
        }
    }

    /// Maps the failure of a read, a reset or a health check: unlike an increment's, a
    /// refusal there (a lock wait or a statement cancelled after the timeout, a deadlock with
    /// a script's lock) says the database cannot serve the request now, not that the request
    /// conflicts with anything: 503.
    pub fn from_side(failure: &DbFailure) -> Self {
        match &failure.class {
            ErrorClass::Rejected { .. } => {
                let answer = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::DATABASE_UNAVAILABLE,
                    format!(
                        "the database could not serve the request now: {}",
                        failure.message
                    ),
                );
                answer.with_codes(failure)
            }
            _ => Self::from_db(failure),
        }
    }

    /// Maps a database failure to a rejection (409), an unknown outcome or unavailability
    /// (503), or a 500.
    pub fn from_db(failure: &DbFailure) -> Self {
        match &failure.class {
            ErrorClass::Rejected { refusal, .. } => {
                let answer = Self::new(
                    StatusCode::CONFLICT,
                    named(*refusal),
                    failure.message.clone(),
                );
                answer.with_codes(failure)
            }
            ErrorClass::Ambiguous => {
                let answer = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::OUTCOME_UNKNOWN,
                    "the database cannot say whether the increment was applied",
                );
                answer.with_codes(failure)
            }
            ErrorClass::Unavailable => {
                tracing::warn!(cause = %failure.detail, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::DATABASE_UNAVAILABLE,
                    "the database is unreachable or busy; whether the increment was applied is unknown",
                )
            }
            ErrorClass::NotSent => {
                tracing::warn!(cause = %failure.detail, "no database connection");
                let mut answer = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::DATABASE_UNAVAILABLE,
                    "no database connection could be had in time; nothing was sent, the \
                     increment was not applied",
                );
                answer.body.applied = Some(false);
                answer
            }
            ErrorClass::Internal => Self::internal(&failure.detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
