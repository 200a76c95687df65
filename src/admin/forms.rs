//! Provides `AdminForm`: the fields of an admin form post, read within `MAX_BODY_SIZE` and
//! `CLIENT_BODY_TIMEOUT_MS`, answered with an HTML error page when it cannot be read.
//!
//! As Django's `request.POST`: url-encoded and multipart bodies are parsed, any other body
//! (or none) is an empty form, which the CSRF check then refuses with its page. A field
//! holding a NUL character is refused (400) before anything reaches the database.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use crate::admin::Admin;
use crate::admin::pages::builder;
use crate::rest::parsers;
use crate::rest::request::{BodyError, BodyLimits, read_body};

pub struct AdminForm(pub HashMap<String, String>);

impl std::ops::Deref for AdminForm {
    type Target = HashMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A form that could not be read: Django's plain error page for the status.
#[derive(Debug)]
pub struct FormError(StatusCode);

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "admin form refused: {}", self.0)
    }
}

impl ResponseError for FormError {
    fn status_code(&self) -> StatusCode {
        self.0
    }

    fn error_response(&self) -> HttpResponse {
        let title = format!(
            "{} ({})",
            self.0.canonical_reason().unwrap_or("Error"),
            self.0.as_u16()
        );
        let mut response = builder(self.0);
        if self.0 == StatusCode::REQUEST_TIMEOUT {
            response.force_close();
        }
        response
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>{title}</title>\n</head>\n\
             <body>\n  <h1>{title}</h1><p></p>\n</body>\n</html>\n"
            ))
    }
}

impl FromRequest for AdminForm {
    type Error = FormError;
    type Future = LocalBoxFuture<'static, Result<AdminForm, FormError>>;

    fn from_request(http: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = http
            .app_data::<web::Data<Admin>>()
            .map_or(BodyLimits::DEFAULT, |admin| admin.body_limits);
        let http = http.clone();
        let payload = payload.take();
        Box::pin(async move {
            let content_type = http
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = read_body(&http, payload, limits).await.map_err(|error| {
                FormError(match error {
                    BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
                    BodyError::Broken(_) => StatusCode::BAD_REQUEST,
                })
            })?;
            let media_type = content_type.split(';').next().unwrap_or("").trim();
            let is_form = media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
                || media_type.eq_ignore_ascii_case("multipart/form-data");
            if !is_form {
                return Ok(AdminForm(HashMap::new()));
            }
            let parsed = parsers::parse(&content_type, body)
                .await
                .map_err(|_| FormError(StatusCode::BAD_REQUEST))?;
            let Value::Object(fields) = parsed else {
                return Ok(AdminForm(HashMap::new()));
            };
            let mut form = HashMap::new();
            for (name, value) in fields {
                let Value::String(value) = value else {
                    continue;
                };
                if name.contains('\0') || value.contains('\0') {
                    return Err(FormError(StatusCode::BAD_REQUEST));
                }
                form.insert(name, value);
            }
            Ok(AdminForm(form))
        })
    }
}
