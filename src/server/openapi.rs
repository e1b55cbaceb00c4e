//! The OpenAPI document and Swagger UI, both served from the binary (the UI's assets are
//! vendored at build time, so it renders without internet).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::handlers;
use crate::api::{
    CountRow, Deleted, ErrorBody, Health, IncrementResponse, Info, MethodInfo, OPENAPI_PATH,
    SWAGGER_PATH, Unavailable,
};

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
        IncrementResponse,
        CountRow,
        Unavailable,
        Deleted,
        Info,
        Health,
    ))
)]
pub struct ApiDoc;

pub fn swagger_ui() -> Router {
    SwaggerUi::new(SWAGGER_PATH)
        .url(OPENAPI_PATH, ApiDoc::openapi())
        .into()
}
