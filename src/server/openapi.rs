//! The OpenAPI document and Swagger UI, both served from the binary (the UI's assets are
//! vendored at build time, so it renders without internet).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::error::ErrorBody;
use super::handlers;
use crate::methods::MethodInfo;

pub const SWAGGER_PATH: &str = "/api/v1/swagger";
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "counter",
        description = "Concurrent increments of one row under a chosen locking method and isolation level."
    ),
    paths(
        handlers::increment,
        handlers::list_counts,
        handlers::get_count,
        handlers::delete_counts,
        handlers::delete_count,
        handlers::info,
        handlers::health,
    ),
    components(schemas(
        ErrorBody,
        MethodInfo,
        handlers::IncrementResponse,
        crate::engine::CountRow,
        handlers::Unavailable,
        handlers::Deleted,
        handlers::Info,
        handlers::Health,
    ))
)]
pub struct ApiDoc;

pub fn swagger_ui() -> Router {
    SwaggerUi::new(SWAGGER_PATH)
        .url(OPENAPI_PATH, ApiDoc::openapi())
        .into()
}
