//! A request's body, read whole before any route runs: a request acts only once it has fully
//! arrived, and a large, short or stalled body is refused with nothing done.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::api::codes;

/// The largest request body the server accepts. No route reads a body; a large one is
/// refused before anything runs, instead of being drained.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// How long a request's body may take to arrive once its headers have.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the whole body before the route runs, so that a request acts only once it has fully
/// arrived: one larger than [`MAX_BODY_BYTES`] is a 413 however it is framed (a
/// `Content-Length` is refused before reading, a chunked body once it passes the limit), one
/// cut short is a 400 and one that stalls a 408, all with nothing done.
pub async fn limit_body(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes; nothing was done"),
        )
        .into_response()
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let limited = Limited::new(body, MAX_BODY_BYTES as usize).collect();
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, limited).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => {
            return ApiError::bad_request(
                codes::INCOMPLETE_BODY,
                "the request's body ended before it was complete; nothing was done",
            )
            .into_response();
        }
        Err(_) => {
            let seconds = BODY_READ_TIMEOUT.as_secs();
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                codes::INCOMPLETE_BODY,
                format!("the request's body did not arrive within {seconds} s; nothing was done"),
            )
            .into_response();
        }
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(body));
    next.run(request).await
}
