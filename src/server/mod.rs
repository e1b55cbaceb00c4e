//! The HTTP API: router, a handle to run it in-process (the matrix and the tests do), and the
//! `serve` command with its graceful shutdown.

mod body;
pub mod command;
mod error;
mod handlers;
mod listen;
mod openapi;
mod rfc;
mod state;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::api::{COUNT_ROUTE, COUNTS_ROUTE, HEALTH_PATH, INCREMENT_ROUTE, INFO_PATH};
pub use error::ApiError;
pub use listen::ServerHandle;
pub use state::{AppState, DEFAULT_MAX_IN_FLIGHT};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Every route, with and without the trailing slash (the original had it; clients differ).
pub fn router(state: AppState) -> Router {
    // GET increments too: the original's client sends GETs. HEAD must never change anything,
    // so it is refused (axum would otherwise run GET's handler for it).
    let counter = get(handlers::increment)
        .post(handlers::increment)
        .head(handlers::increment_head)
        .options(handlers::increment_options);
    let counts = get(handlers::list_counts).delete(handlers::delete_counts);
    let count = get(handlers::get_count).delete(handlers::delete_count);
    let slashed = |route: &str| format!("{route}/");
    let api = Router::new()
        .route(INCREMENT_ROUTE, counter.clone())
        .route(&slashed(INCREMENT_ROUTE), counter)
        .route(COUNTS_ROUTE, counts.clone())
        .route(&slashed(COUNTS_ROUTE), counts)
        .route(COUNT_ROUTE, count.clone())
        .route(&slashed(COUNT_ROUTE), count)
        .route(INFO_PATH, get(handlers::info))
        .route(HEALTH_PATH, get(handlers::health))
        .route("/", get(handlers::index))
        .with_state(state);
    api.merge(openapi::swagger_ui())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::middleware::from_fn(body::limit_body))
        .layer(axum::middleware::from_fn(rfc::check))
}

/// Serves `state` on `listener` in a background task.
pub fn spawn(listener: TcpListener, state: AppState) -> std::io::Result<ServerHandle> {
    listen::serve(listener, router(state))
}
