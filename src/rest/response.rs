//! Provides `Response`, what a handler returns, and the rendering of responses and errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde_json::Value;

use crate::rest::exceptions::ApiError;
use crate::rest::renderers::{Page, Renderer};

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

/// Renders a handler's data with the negotiated renderer.
pub fn render(
    status: StatusCode,
    data: &Value,
    renderer: Renderer,
    page: &Page<'_>,
) -> HttpResponse {
    // DRF renders no data as no body, and then sends no Content-Type (a 204).
    if data.is_null() && status == StatusCode::NO_CONTENT {
        return HttpResponse::build(status).finish();
    }
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, renderer.content_type()))
        .body(renderer.render(data, status, page))
}

/// Renders an error after `handle_exception` settled its status and challenge.
pub fn render_error(error: &ApiError, renderer: Renderer, page: &Page<'_>) -> HttpResponse {
    let mut response = HttpResponse::build(error.status);
    if let Some(challenge) = &error.www_authenticate {
        response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
    }
    if let Some(wait) = error.retry_after {
        response.insert_header((header::RETRY_AFTER, wait.to_string()));
    }
    if let Some(cookie) = &error.set_cookie {
        response.insert_header((header::SET_COOKIE, (**cookie).clone()));
    }
    response
        .insert_header((header::CONTENT_TYPE, renderer.content_type()))
        .body(renderer.render(&error.body, error.status, page))
}
