//! What RFC 9110/9112 ask of every request before a route sees it: an HTTP/1.1 request has
//! exactly one `Host` header (RFC 9112 3.2: a missing or doubled one is a 400), and OPTIONS
//! answers the same way on every path this server has (200 and `Allow`, nothing done).

use axum::extract::Request;
use axum::http::{Method, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::api::{
    COUNT_ROUTE, COUNTS_ROUTE, HEALTH_PATH, INCREMENT_ROUTE, INFO_PATH, OPENAPI_PATH, SWAGGER_PATH,
    codes,
};

pub async fn check(request: Request, next: Next) -> Response {
    if request.version() == Version::HTTP_11 {
        let hosts = request.headers().get_all(header::HOST).iter().count();
        if hosts != 1 {
            let why = match hosts {
                0 => "an HTTP/1.1 request needs a Host header (RFC 9112, 3.2)",
                _ => "an HTTP/1.1 request has one Host header, not several (RFC 9112, 3.2)",
            };
            return ApiError::bad_request(codes::INVALID_HOST, why).into_response();
        }
    }
    if request.method() == Method::OPTIONS
        && let Some(allow) = allowed(request.uri().path())
    {
        return (StatusCode::OK, [(header::ALLOW, allow)]).into_response();
    }
    next.run(request).await
}

/// The verbs a path of this server takes; None for a path it does not have.
fn allowed(path: &str) -> Option<&'static str> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let under = |route: &str| {
        let prefix = route.split("/{").next().unwrap_or(route);
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains('/'))
    };
    if under(INCREMENT_ROUTE) {
        Some("GET, POST, OPTIONS")
    } else if path == COUNTS_ROUTE || under(COUNT_ROUTE) {
        Some("GET, DELETE, OPTIONS")
    } else if [INFO_PATH, HEALTH_PATH, OPENAPI_PATH, "/"].contains(&path)
        || path.starts_with(SWAGGER_PATH)
    {
        Some("GET, OPTIONS")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn every_path_of_the_server_has_its_verbs_and_no_other_path_has_any() {
        let cases = [
            ("/api/v1/endpoint/counter/3/", Some("GET, POST, OPTIONS")),
            (
                "/api/v1/endpoint/counter/row-lock",
                Some("GET, POST, OPTIONS"),
            ),
            ("/api/v1/endpoint/count/", Some("GET, DELETE, OPTIONS")),
            ("/api/v1/endpoint/count/7", Some("GET, DELETE, OPTIONS")),
            ("/api/v1/info", Some("GET, OPTIONS")),
            ("/health", Some("GET, OPTIONS")),
            ("/", Some("GET, OPTIONS")),
            ("/api/v1/swagger/index.html", Some("GET, OPTIONS")),
            ("/api/v1/endpoint/counter/", None),
            ("/api/v1/endpoint/counter/3/extra", None),
            ("/nowhere", None),
        ];
        for (path, expected) in cases {
            assert_eq!(allowed(path), expected, "{path}");
        }
    }
}
