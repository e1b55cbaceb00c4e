//! Request handlers. Path segments are taken as text and parsed here, so that every bad input
//! gets our JSON error instead of the framework's plain-text rejection.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::error::ApiError;
use super::state::AppState;
use crate::api::{
    CountRow, Deleted, ErrorBody, Health, IncrementResponse, Info, MethodInfo, Unavailable, codes,
};
use crate::model::method::known_methods;
use crate::model::{DbInterval, ErrorClass, MethodId};

fn path_text(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(text)| text).map_err(|rejection| {
        ApiError::bad_request(
            codes::INVALID_PATH,
            format!("the path segment is not valid: {}", rejection.body_text()),
        )
    })
}

/// A method segment: a registered number or slug. A well-formed number or name that is not
/// registered is a 404 (no such method); a negative or overflowing number is a 400.
fn parse_method(text: &str) -> Result<MethodId, ApiError> {
    // The segment as sent: `3%20` is no more method 3 than it is id 3.
    let as_sent = !text.chars().any(char::is_whitespace);
    if let Some(method) = text.parse::<MethodId>().ok().filter(|_| as_sent) {
        return Ok(method);
    }
    let numeric = text.strip_prefix('-').unwrap_or(text);
    let is_number = !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit());
    if is_number && text.parse::<u64>().is_err() {
        return Err(ApiError::bad_request(
            codes::OUT_OF_RANGE,
            format!(
                "method number out of range; known methods: {}",
                known_methods()
            ),
        ));
    }
    Err(ApiError::not_found(
        codes::UNKNOWN_METHOD,
        format!("unknown method; known methods: {}", known_methods()),
    ))
}

/// A row id: a positive 64-bit integer.
fn parse_id(text: &str) -> Result<i64, ApiError> {
    let numeric = text.strip_prefix('-').unwrap_or(text);
    if numeric.is_empty() || !numeric.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            codes::INVALID_ID,
            "the id must be a positive integer",
        ));
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(
            codes::OUT_OF_RANGE,
            format!("the id must be between 1 and {}", i64::MAX),
        )),
    }
}

/// Increment the counter of method `n` with method `n`.
#[utoipa::path(
    method(post, get),
    path = "/api/v1/endpoint/counter/{n}/",
    description = "GET increments too, as the original's endpoint does (HEAD is refused).",
    params(("n" = String, Path, pattern = r"^([1-9][0-9]{0,8}|[a-z][a-z-]{0,39})$",
        description = "Method number (1, 2, 3, ...) or slug (table-lock, row-lock, atomic-update, ...)")),
    responses(
        (status = 200, description = "Applied", body = IncrementResponse),
        (status = 404, description = "Unknown method", body = ErrorBody),
        (status = 400, description = "Malformed method", body = ErrorBody),
        (status = 405, description = "Another HTTP method", body = ErrorBody),
        (status = 408, description = "The request's body stalled; nothing was done", body = ErrorBody),
        (status = 409, description = "Rejected by the database (SQLSTATE in the body), or a method this server cannot run (not_applicable); not applied", body = ErrorBody),
        (status = 413, description = "A body over 64 KiB; nothing was done", body = ErrorBody),
        (status = 500, description = "The server failed (the cause is in its log)", body = ErrorBody),
        (status = 503, description = "Database unavailable (outcome unknown; applied: false when nothing was sent), or overloaded (not started)", body = ErrorBody),
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
            codes::OVERLOADED,
            "too many increments in progress; this one was not started",
        ));
    };
    let (backend, policy) = (state.backend.clone(), state.retry);
    let row = state.rows_in_flight.enter(method.row_id());
    // The transaction runs in its own task: if the client disconnects, axum drops this
    // handler, but the task still commits or rolls back, and its connection returns clean.
    // The task holds the in-flight permit and count until the database work is really over.
    let task = tokio::spawn(async move {
        let attempted = backend.increment(method, policy).await;
        drop((permit, row));
        attempted
    });
    let attempted = task.await.map_err(|err| ApiError::internal(&err))?;
    let attempts = attempted.attempts;
    let count = attempted
        .result
        .map_err(|err| ApiError::from_increment(&err).with_attempts(attempts))?;
    // An acknowledged increment reached the database, so its interval is there.
    let interval = attempted.interval.unwrap_or(DbInterval {
        started_us: 0,
        finished_us: 0,
    });
    Ok(Json(IncrementResponse {
        id: method.row_id(),
        count,
        count_is: method.count_is().map(str::to_string),
        method: method.number(),
        method_slug: method.slug().to_string(),
        attempts,
        db_started_us: interval.started_us,
        db_finished_us: interval.finished_us,
    }))
}

/// All counters.
#[utoipa::path(get, path = "/api/v1/endpoint/count/",
    responses((status = 200, body = [CountRow]), (status = 400, description = "A malformed request (an HTTP/1.1 request without exactly one Host header)", body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody), (status = 500, description = "The server failed", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), tag = "counter")]
pub async fn list_counts(State(state): State<AppState>) -> Result<Json<Vec<CountRow>>, ApiError> {
    let rows = state
        .backend
        .list_counts()
        .await
        .map_err(|err| ApiError::from_side(&err))?;
    Ok(Json(rows.into_iter().map(count_row).collect()))
}

/// One counter.
#[utoipa::path(get, path = "/api/v1/endpoint/count/{id}/",
    params(("id" = i64, Path, minimum = 1, description = "Row id (the method number)")),
    responses((status = 200, body = CountRow), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody), (status = 500, description = "The server failed", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)),
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
        .map_err(|err| ApiError::from_side(&err))?;
    row.map(|row| Json(count_row(row)))
        .ok_or_else(|| ApiError::not_found(codes::NOT_FOUND, format!("no counter with id {id}")))
}

fn count_row((id, count): (i64, i64)) -> CountRow {
    CountRow { id, count }
}

/// Delete every counter (reset).
#[utoipa::path(delete, path = "/api/v1/endpoint/count/",
    responses((status = 200, body = Deleted), (status = 400, description = "A malformed request (an HTTP/1.1 request without exactly one Host header)", body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody), (status = 500, description = "The server failed", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), tag = "counter")]
pub async fn delete_counts(State(state): State<AppState>) -> Result<Json<Deleted>, ApiError> {
    delete(&state, None).await
}

/// Delete one counter (reset); deleting an absent counter deletes 0 rows.
#[utoipa::path(delete, path = "/api/v1/endpoint/count/{id}/",
    params(("id" = i64, Path, minimum = 1, description = "Row id (the method number)")),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody), (status = 500, description = "The server failed", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), tag = "counter")]
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
    let deleted = done.map_err(|err| ApiError::from_side(&err))?;
    Ok(Json(Deleted { deleted }))
}

/// The server run's settings: isolation (requested and effective), database version, methods.
#[utoipa::path(get, path = "/api/v1/info", responses((status = 200, body = Info), (status = 400, description = "A malformed request (an HTTP/1.1 request without exactly one Host header)", body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody)), tag = "meta")]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    let backend = &state.backend;
    let about = backend.describe();
    let mut methods = Vec::new();
    let mut unavailable = Vec::new();
    for method in backend.methods() {
        match backend.not_applicable(method) {
            Some(reason) => unavailable.push(Unavailable {
                number: method.number(),
                reason,
            }),
            None => methods.push(MethodInfo {
                number: method.number(),
                slug: method.slug().to_string(),
                name: method.name().to_string(),
                summary: backend.summary(method).to_string(),
                statements: backend
                    .key_statements(method)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            }),
        }
    }
    Json(Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        engine: about.engine.name().to_string(),
        engine_product: about.engine.product().to_string(),
        isolation: about.isolation,
        effective_isolation: about.effective_isolation,
        isolation_scope: Some(about.scope),
        settings: about.settings,
        server_version: about.server_version,
        pool_size: about.pool_size,
        retry: state.retry.retries,
        think_ms: u64::try_from(backend.think().as_millis()).unwrap_or(u64::MAX),
        methods,
        unavailable,
        in_flight: state.rows_in_flight.snapshot(),
        answer_within_ms: backend
            .answer_within()
            .map(|within| u64::try_from(within.as_millis()).unwrap_or(u64::MAX)),
    })
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health",
    responses((status = 200, body = Health), (status = 400, description = "A malformed request (an HTTP/1.1 request without exactly one Host header)", body = ErrorBody), (status = 405, description = "Another HTTP method", body = ErrorBody), (status = 408, description = "The request's body stalled", body = ErrorBody), (status = 413, description = "A body over 64 KiB", body = ErrorBody), (status = 500, description = "The server failed", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), tag = "meta")]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let checked = tokio::time::timeout(HEALTH_DEADLINE, async {
        state
            .backend
            .ping()
            .await
            .map_err(|err| ApiError::from_side(&err))?;
        let tables = state.backend.tables_readable().await;
        tables.map_err(|err| match err.class {
            ErrorClass::Internal => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::TABLES_MISSING,
                format!(
                    "the database answers, but the counter tables cannot be read: {}",
                    err.message
                ),
            ),
            _ => ApiError::from_side(&err),
        })
    })
    .await;
    match checked {
        Ok(answered) => answered?,
        // A lock held on the tables (a script's LOCK TABLE) blocks the read: unhealthy now.
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::DATABASE_UNAVAILABLE,
                format!(
                    "the database did not answer within {} s (a lock held on the counter \
                     tables?)",
                    HEALTH_DEADLINE.as_secs()
                ),
            ));
        }
    }
    Ok(Json(Health {
        status: "ok".to_string(),
    }))
}

/// How long `/health` waits for the database before it says it is unavailable.
pub const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

pub async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::not_found(codes::NOT_FOUND, format!("no route for {path}"))
}

/// The verbs the increment path takes.
const INCREMENT_ALLOW: &str = "GET, POST, OPTIONS";

/// HEAD on the increment path: refused, because GET there increments and HEAD must change
/// nothing (the original answers 405 too).
pub async fn increment_head() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, INCREMENT_ALLOW)],
    )
}

/// OPTIONS on the increment path: which verbs it takes.
pub async fn increment_options() -> impl IntoResponse {
    (StatusCode::OK, [(header::ALLOW, INCREMENT_ALLOW)])
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this path does not accept that HTTP method; see /api/v1/swagger",
    )
}

/// The root page: live counters, the run's isolation level and methods, links to the API.
/// Embedded in the binary; its script only talks to this server.
pub async fn index() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("assets/index.html"))
}
