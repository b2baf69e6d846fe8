//! Error answers: the `{error, status}` body every refusal carries, and the error type handlers
//! return where only an `actix_web::Error` fits.

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::HttpResponse;

use crate::model::ErrorBody;

/// An error raised where only an `actix_web::Error` can be returned, answered as [`ErrorBody`].
#[derive(Debug)]
pub(super) struct JsonError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl JsonError {
    pub(super) fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl actix_web::ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        error(self.status, self.message.clone())
    }
}

pub fn error(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: message,
        status: status.as_u16(),
    })
}

pub(super) fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

pub(super) fn invalid_id() -> JsonError {
    JsonError::new(
        StatusCode::BAD_REQUEST,
        "invalid container id or name: it must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$".into(),
    )
}

pub(super) fn no_such_node(node: &str) -> JsonError {
    JsonError::new(StatusCode::NOT_FOUND, format!("no such node: {node}"))
}
