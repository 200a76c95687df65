//! Provides `ApiError`, the one error type views return, with DRF's status codes and bodies.
//!
//! # Where an error goes
//!
//! Each layer returns its own error type, and only this module turns them into HTTP:
//!
//! | layer | returns | becomes |
//! |---|---|---|
//! | `db` (`db::run`) | `DbError`: `Unavailable` (pool timeout, lost connection) or `Query` | 503, or 500 logged at error (`From<DbError>` below) |
//! | `hashers` | `HasherError`: `Busy` (queue full), `TooLong`/`Blank` (new passwords), `Failed` | 503 for `Busy`, else 500 |
//! | `accounts` | `AccountsError`, wrapping the two above | as they do |
//! | `jwt::tokens`, `jwt::backends` | `TokenError` (simplejwt's messages) | 401 `token_not_valid` via `TokenError::into_api_error` |
//! | `rest::throttling` stores | `StoreError` | the failure mode: allowed, or 503 (`Counter`) |
//! | views, authentication, permission and throttle classes | `ApiError` | rendered by the dispatcher |
//!
//! The dispatcher (`views.rs`) is the one place an `ApiError` becomes a response for an API
//! view: `handle_exception` settles 401-with-challenge against 403, then `render_error`
//! renders the body with the negotiated renderer. The admin pages return `ApiError` too for
//! what they cannot show as a page (a database outage); actix renders those as JSON through
//! `ResponseError` below. Start-up returns `StartupError` (`state.rs`), the commands
//! `CommandError` (`commands/mod.rs`), settings `ConfigError` (`config/`): `main` prints them
//! and exits non-zero.

use actix_web::http::StatusCode;
use serde_json::{Map, Value, json};

/// Whether a failure concerns credentials: DRF turns those into 401 or 403 depending on the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotAuthenticated,
    AuthenticationFailed,
    Other,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub kind: ErrorKind,
    /// Seconds (u32: 136 years is enough, and keeps the error small enough to return by value).
    pub retry_after: Option<u32>,
    /// The challenge of a 401, set by the dispatcher's `handle_exception`.
    pub www_authenticate: Option<String>,
    /// A cookie the error response sets all the same (a browser's logout whose token was
    /// already dead still clears its refresh cookie).
    pub set_cookie: Option<Box<actix_web::http::header::HeaderValue>>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> ApiError {
        ApiError {
            status,
            body,
            kind: ErrorKind::Other,
            retry_after: None,
            www_authenticate: None,
            set_cookie: None,
        }
    }

    fn detail(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError::new(status, json!({ "detail": detail.into() }))
    }

    /// No credentials: 401 with a challenge when the first authentication class has one, else 403.
    pub fn not_authenticated() -> ApiError {
        ApiError {
            kind: ErrorKind::NotAuthenticated,
            ..ApiError::detail(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            )
        }
    }

    /// Bad credentials, `{"detail"}` only.
    pub fn authentication_failed(detail: impl Into<String>) -> ApiError {
        ApiError::authentication_failed_with(json!({ "detail": detail.into() }))
    }

    /// Bad credentials with a body of the caller's shape (simplejwt adds `code`, `messages`).
    pub fn authentication_failed_with(body: Value) -> ApiError {
        ApiError {
            kind: ErrorKind::AuthenticationFailed,
            ..ApiError::new(StatusCode::UNAUTHORIZED, body)
        }
    }

    pub fn permission_denied(detail: impl Into<String>) -> ApiError {
        ApiError::detail(StatusCode::FORBIDDEN, detail)
    }

    pub fn throttled(wait_seconds: u64) -> ApiError {
        let unit = if wait_seconds == 1 {
            "second"
        } else {
            "seconds"
        };
        ApiError {
            retry_after: Some(u32::try_from(wait_seconds).unwrap_or(u32::MAX)),
            ..ApiError::detail(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Request was throttled. Expected available in {wait_seconds} {unit}."),
            )
        }
    }

    /// The error's code for a metric label: the body's `code` when it is one of this crate's
    /// short snake_case codes (`token_not_valid`, `user_inactive`, ...), else one from its kind
    /// or status. Never client-chosen text.
    pub fn code_label(&self) -> &'static str {
        const CODES: &[&str] = &[
            "token_not_valid",
            "user_not_found",
            "user_inactive",
            "password_changed",
            "bad_authorization_header",
            "authentication_failed",
            "not_authenticated",
        ];
        let code = self.body.get("code").and_then(Value::as_str);
        if let Some(known) = code.and_then(|code| CODES.iter().find(|known| **known == code)) {
            return known;
        }
        match (self.kind, self.status.as_u16()) {
            (ErrorKind::AuthenticationFailed, _) => "authentication_failed",
            (ErrorKind::NotAuthenticated, _) => "not_authenticated",
            (_, 429) => "throttled",
            (_, 503) => "service_unavailable",
            (_, 403) => "permission_denied",
            (_, 400) => "bad_request",
            _ => "error",
        }
    }

    /// DRF's `NotFound`.
    pub fn not_found() -> ApiError {
        ApiError::detail(StatusCode::NOT_FOUND, "Not found.")
    }

    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::detail(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed."),
        )
    }

    pub fn not_acceptable() -> ApiError {
        ApiError::detail(
            StatusCode::NOT_ACCEPTABLE,
            "Could not satisfy the request Accept header.",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{content_type}\" in request."),
        )
    }

    pub fn parse_error(detail: impl Into<String>) -> ApiError {
        ApiError::detail(StatusCode::BAD_REQUEST, detail)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes."),
        )
    }

    /// The body did not arrive within `CLIENT_BODY_TIMEOUT_MS`.
    pub fn request_timeout() -> ApiError {
        ApiError::detail(
            StatusCode::REQUEST_TIMEOUT,
            "The request body was not received in time.",
        )
    }

    /// Validation errors: `{"field": ["message", ...]}`.
    pub fn validation(errors: Map<String, Value>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Value::Object(errors))
    }

    pub fn non_field_error(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            json!({ "non_field_errors": [message.into()] }),
        )
    }

    pub fn service_unavailable() -> ApiError {
        ApiError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable.",
        )
    }

    /// Logs the cause; the client only learns that something went wrong on our side.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        log::error!("internal error: {cause}");
        ApiError::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A server error occurred.",
        )
    }

    pub fn is_auth_failure(&self) -> bool {
        self.kind != ErrorKind::Other
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> ApiError {
        match error {
            crate::db::DbError::Unavailable(cause) => {
                log::warn!("database unavailable: {cause}");
                ApiError::service_unavailable()
            }
            crate::db::DbError::Query(cause) => ApiError::internal(cause),
        }
    }
}

impl From<crate::accounts::AccountsError> for ApiError {
    fn from(error: crate::accounts::AccountsError) -> ApiError {
        match error {
            crate::accounts::AccountsError::Db(error) => error.into(),
            crate::accounts::AccountsError::Hasher(error) => error.into(),
        }
    }
}

impl From<crate::hashers::HasherError> for ApiError {
    fn from(error: crate::hashers::HasherError) -> ApiError {
        use crate::hashers::HasherError;
        match error {
            // Said once a minute: a flood must not turn into as many log lines.
            HasherError::Busy | HasherError::ClientBusy => {
                static BUSY_LOG: crate::logging::OncePerMinute =
                    crate::logging::OncePerMinute::new();
                if BUSY_LOG.due(crate::clock::now_seconds() as u64) {
                    log::warn!("refusing credential checks: {error} (said at most once a minute)");
                }
                ApiError::service_unavailable()
            }
            other => ApiError::internal(other),
        }
    }
}

/// Errors of the views outside the dispatcher (the admin pages, health): the same JSON body.
impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut response = actix_web::HttpResponse::build(self.status);
        if let Some(wait) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, wait.to_string()));
        }
        response.json(&self.body)
    }
}
