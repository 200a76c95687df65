//! Provides `Response`, what a handler returns, and the JSON rendering of responses and errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde_json::Value;

use crate::rest::exceptions::ApiError;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub data: Value,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Response {
    pub fn ok(data: Value) -> Response {
        Response::with_status(StatusCode::OK, data)
    }

    pub fn with_status(status: StatusCode, data: Value) -> Response {
        Response {
            status,
            data,
            headers: Vec::new(),
        }
    }
}

/// Serialises compactly, or with `indent` spaces when the client asked (`Accept: ...; indent=4`).
pub fn to_json(data: &Value, indent: Option<usize>) -> Vec<u8> {
    match indent {
        None => serde_json::to_vec(data).unwrap_or_default(),
        Some(width) => {
            let spaces = vec![b' '; width.min(16)];
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            let _ = serde::Serialize::serialize(data, &mut serializer);
            out
        }
    }
}

pub fn render(status: StatusCode, data: &Value, indent: Option<usize>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(to_json(data, indent))
}

/// Renders an error; `www_authenticate` is the challenge of the view's first authentication class.
pub fn render_error(
    error: &ApiError,
    www_authenticate: Option<&str>,
    indent: Option<usize>,
) -> HttpResponse {
    let mut status = error.status;
    let mut response = HttpResponse::build(status);
    if error.is_auth_failure() {
        match www_authenticate {
            Some(challenge) => {
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            None => status = StatusCode::FORBIDDEN,
        }
        response.status(status);
    }
    if let Some(wait) = error.retry_after {
        response.insert_header((header::RETRY_AFTER, wait.to_string()));
    }
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(to_json(&error.body, indent))
}
