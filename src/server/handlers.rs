//! Request handlers. Path segments are taken as text and parsed here, so that every bad input
//! gets our JSON error instead of the framework's plain-text rejection.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::engine::CountRow;
use crate::methods::{self, MethodId, MethodInfo};

/// The answer to an increment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncrementResponse {
    /// Row id (equal to the method number).
    pub id: i64,
    /// The count this request wrote.
    pub count: i64,
    /// Method number.
    pub method: u32,
    pub method_slug: &'static str,
    /// How many times the transaction ran (more than 1 only with retries).
    pub attempts: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// How many rows were deleted.
    pub deleted: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Info {
    pub version: &'static str,
    /// `postgresql` or `sqlite`.
    pub engine: &'static str,
    /// The isolation level requested for this server run.
    pub isolation: String,
    /// What `SHOW transaction_isolation` answered on a pooled connection.
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
    /// Extra attempts on serialization failures (`--retry`).
    pub retry: u32,
    /// Pause between read and write of the read-then-write methods (`--think-ms`).
    pub think_ms: u64,
    /// The methods this engine runs.
    pub methods: Vec<MethodInfo>,
    /// The methods this engine cannot express, and why.
    pub unavailable: Vec<Unavailable>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unavailable {
    pub number: u32,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

fn path_text(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(text)| text).map_err(|rejection| {
        ApiError::bad_request(
            "invalid_path",
            format!("the path segment is not valid: {}", rejection.body_text()),
        )
    })
}

/// A method segment: a registered number or slug. A well-formed number or name that is not
/// registered is a 404 (no such method); a negative or overflowing number is a 400.
fn parse_method(text: &str) -> Result<MethodId, ApiError> {
    if let Ok(method) = text.parse::<MethodId>() {
        return Ok(method);
    }
    let numeric = text.strip_prefix('-').unwrap_or(text);
    let is_number = !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit());
    if is_number && text.parse::<u64>().is_err() {
        return Err(ApiError::bad_request(
            "out_of_range",
            format!(
                "method number out of range; known methods: {}",
                methods::known_methods()
            ),
        ));
    }
    Err(ApiError::not_found(
        "unknown_method",
        format!(
            "unknown method; known methods: {}",
            methods::known_methods()
        ),
    ))
}

/// A row id: a positive 64-bit integer.
fn parse_id(text: &str) -> Result<i64, ApiError> {
    let numeric = text.strip_prefix('-').unwrap_or(text);
    if numeric.is_empty() || !numeric.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_id",
            "the id must be a positive integer",
        ));
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(
            "out_of_range",
            format!("the id must be between 1 and {}", i64::MAX),
        )),
    }
}

/// Increment the counter of method `n` with method `n`.
#[utoipa::path(
    post,
    path = "/api/v1/endpoint/counter/{n}/",
    params(("n" = String, Path, description = "Method number (1, 2, 3, ...) or slug (table-lock, row-lock, atomic-update, ...)")),
    responses(
        (status = 200, description = "Applied", body = IncrementResponse),
        (status = 404, description = "Unknown method", body = ErrorBody),
        (status = 400, description = "Malformed method", body = ErrorBody),
        (status = 409, description = "Rejected by the database (SQLSTATE in the body); not applied", body = ErrorBody),
        (status = 503, description = "Database unavailable (outcome unknown), or overloaded (not started)", body = ErrorBody),
    ),
    tag = "counter"
)]
pub async fn increment(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<IncrementResponse>, ApiError> {
    let method = parse_method(&path_text(path)?)?;
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many increments in progress; this one was not started",
        ));
    };
    let (backend, policy) = (state.backend.clone(), state.retry);
    // The transaction runs in its own task: if the client disconnects, axum drops this
    // handler, but the task still commits or rolls back, and its connection returns clean.
    // The task holds the in-flight permit until the database work is really over.
    let task = tokio::spawn(async move {
        let attempted = backend.increment(method, policy).await;
        drop(permit);
        attempted
    });
    let attempted = task.await.map_err(|err| ApiError::internal(&err))?;
    let attempts = attempted.attempts;
    let count = attempted
        .result
        .map_err(|err| ApiError::from_method(&err).with_attempts(attempts))?;
    Ok(Json(IncrementResponse {
        id: method.row_id(),
        count,
        method: method.number(),
        method_slug: method.slug(),
        attempts,
    }))
}

/// All counters.
#[utoipa::path(get, path = "/api/v1/endpoint/count/",
    responses((status = 200, body = [CountRow]), (status = 503, body = ErrorBody)), tag = "counter")]
pub async fn list_counts(State(state): State<AppState>) -> Result<Json<Vec<CountRow>>, ApiError> {
    let rows = state
        .backend
        .list_counts()
        .await
        .map_err(|err| ApiError::from_db(&err))?;
    Ok(Json(rows))
}

/// One counter.
#[utoipa::path(get, path = "/api/v1/endpoint/count/{id}/",
    params(("id" = i64, Path, description = "Row id (the method number)")),
    responses((status = 200, body = CountRow), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)),
    tag = "counter")]
pub async fn get_count(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<CountRow>, ApiError> {
    let id = parse_id(&path_text(path)?)?;
    let row = state
        .backend
        .get_count(id)
        .await
        .map_err(|err| ApiError::from_db(&err))?;
    row.map(Json)
        .ok_or_else(|| ApiError::not_found("not_found", format!("no counter with id {id}")))
}

/// Delete every counter (reset).
#[utoipa::path(delete, path = "/api/v1/endpoint/count/",
    responses((status = 200, body = Deleted)), tag = "counter")]
pub async fn delete_counts(State(state): State<AppState>) -> Result<Json<Deleted>, ApiError> {
    delete(&state, None).await
}

/// Delete one counter (reset); deleting an absent counter deletes 0 rows.
#[utoipa::path(delete, path = "/api/v1/endpoint/count/{id}/",
    params(("id" = i64, Path, description = "Row id (the method number)")),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody)), tag = "counter")]
pub async fn delete_count(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Deleted>, ApiError> {
    let id = parse_id(&path_text(path)?)?;
    delete(&state, Some(id)).await
}

/// Deletes one row, or all of them, in its own task (a reset must not be half-cancelled).
async fn delete(state: &AppState, id: Option<i64>) -> Result<Json<Deleted>, ApiError> {
    let backend = state.backend.clone();
    let task = tokio::spawn(async move { backend.delete(id).await });
    let done = task.await.map_err(|err| ApiError::internal(&err))?;
    let deleted = done.map_err(|err| ApiError::from_db(&err))?;
    Ok(Json(Deleted { deleted }))
}

/// The server run's settings: isolation (requested and effective), database version, methods.
#[utoipa::path(get, path = "/api/v1/info", responses((status = 200, body = Info)), tag = "meta")]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    let backend = &state.backend;
    let about = backend.describe();
    let (methods, unavailable) = methods::REGISTRY.iter().fold(
        (Vec::new(), Vec::new()),
        |(mut available, mut unavailable), &method| {
            match backend.not_applicable(method) {
                Some(reason) => unavailable.push(Unavailable {
                    number: method.number(),
                    reason,
                }),
                None => available.push(about.engine.method_info(method)),
            }
            (available, unavailable)
        },
    );
    Json(Info {
        version: env!("CARGO_PKG_VERSION"),
        engine: about.engine.name(),
        isolation: about.isolation,
        effective_isolation: about.effective_isolation,
        server_version: about.server_version,
        pool_size: about.pool_size,
        retry: state.retry.retries,
        think_ms: u64::try_from(backend.think().as_millis()).unwrap_or(u64::MAX),
        methods,
        unavailable,
    })
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)), tag = "meta")]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .backend
        .ping()
        .await
        .map_err(|err| ApiError::from_db(&err))?;
    Ok(Json(Health { status: "ok" }))
}

pub async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::not_found("not_found", format!("no route for {path}"))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that HTTP method; see /api/v1/swagger",
    )
}

/// The root page: live counters, the run's isolation level and methods, links to the API.
/// Embedded in the binary; its script only talks to this server.
pub async fn index() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("assets/index.html"))
}
