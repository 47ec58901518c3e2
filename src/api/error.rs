//! API errors: one enum, one HTTP status each, JSON bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("request body too large")]
    TooLarge,
    #[error("too large: {0}")]
    TooLargeFor(String),
    #[error("upstream failed: {0}")]
    BadGateway(String),
    #[error("{error}: {detail}")]
    Unprocessable { error: String, detail: String },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store error in API");
        ApiError::Internal("database error".into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, detail) = match &self {
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, "bad request", json!(d)),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "conflict", json!(d)),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                json!("missing or wrong bearer token"),
            ),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not found", json!(d)),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                serde_json::Value::Null,
            ),
            ApiError::TooLargeFor(d) => (StatusCode::PAYLOAD_TOO_LARGE, "too large", json!(d)),
            ApiError::BadGateway(d) => (StatusCode::BAD_GATEWAY, "upstream failed", json!(d)),
            ApiError::Unprocessable { error, detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                error.as_str(),
                json!(detail),
            ),
            ApiError::Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", json!(d)),
            ApiError::Internal(d) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                json!(d),
            ),
        };
        let mut resp = (status, Json(json!({"error": error, "detail": detail}))).into_response();
        if status == StatusCode::UNAUTHORIZED
            && let Ok(v) = "Bearer".parse()
        {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}
