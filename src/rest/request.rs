//! Provides `Request`: the HTTP request plus what the pipeline learnt (user, client address).

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;

use crate::models::users::User;
use crate::rest::exceptions::ApiError;
use crate::rest::{client, parsers};

pub struct Request {
    pub http: HttpRequest,
    payload: Option<Payload>,
    /// The authenticated user; `None` is DRF's `AnonymousUser`.
    pub user: Option<User>,
    /// DRF's `request.auth`: what the credentials carried (a JWT's claims), when they did.
    pub auth: Option<Value>,
    pub client_ip: Option<IpAddr>,
    /// The address that stands for the client in per-client counts (an IPv6 prefix).
    pub client_bucket: Option<IpAddr>,
    body_limits: BodyLimits,
    /// Headers the pipeline adds to whatever response the request gets (e.g. clearing a cookie).
    response_headers: RefCell<Vec<(HeaderName, HeaderValue)>>,
    /// The view's object permission check, set by the dispatcher before the handler runs.
    pub(crate) object_check: Option<ObjectCheck>,
    /// The method OPTIONS asks the permissions about (see `method`).
    pub(crate) method_asked: Option<Method>,
}

/// A view's object permission check: its permission classes' `has_object_permission`, with the
/// dispatcher's rule for the error (401 when nobody is authenticated, else 403).
pub type ObjectCheck =
    std::sync::Arc<dyn Fn(&Request, &dyn std::any::Any) -> Result<(), ApiError> + Send + Sync>;

impl Request {
    pub fn new(
        http: HttpRequest,
        payload: Payload,
        client_ip: Option<IpAddr>,
        body_limits: BodyLimits,
    ) -> Request {
        Request {
            http,
            payload: Some(payload),
            user: None,
            auth: None,
            client_ip,
            client_bucket: client_ip,
            body_limits,
            response_headers: RefCell::new(Vec::new()),
            object_check: None,
            method_asked: None,
        }
    }

    /// Django's `is_secure()`: HTTPS here, or at a `TRUSTED_PROXIES` proxy (read only when a
    /// view asks: no cost on requests that do not).
    pub fn is_secure(&self) -> bool {
        let trusted = self
            .http
            .app_data::<actix_web::web::Data<client::TrustedProxies>>()
            .map_or(&[][..], |proxies| proxies.0.as_slice());
        crate::rest::csrf::is_secure(&self.http, trusted)
    }

    /// Django's `build_absolute_uri()`: the scheme, the `Host` the client sent (checked against
    /// `ALLOWED_HOSTS` before any view runs), the path and the query string.
    pub fn build_absolute_uri(&self) -> String {
        let scheme = if self.is_secure() { "https" } else { "http" };
        let host = self
            .http
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let path_and_query = self
            .http
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str());
        format!("{scheme}://{host}{path_and_query}")
    }

    /// DRF's `check_object_permissions`: whether this request may act on `object`, the one the
    /// handler fetched (call it after a missing object's 404, before validating a body, as
    /// DRF's `get_object` does). Outside the dispatcher (no view), every object is allowed.
    pub fn check_object_permissions(&self, object: &dyn std::any::Any) -> Result<(), ApiError> {
        match &self.object_check {
            Some(check) => check(self, object),
            None => Ok(()),
        }
    }

    /// The request's method; for OPTIONS asking what the caller may do, the method asked about
    /// (DRF's `clone_request`).
    pub fn method(&self) -> &Method {
        self.method_asked
            .as_ref()
            .unwrap_or_else(|| self.http.method())
    }

    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// The raw value of a request header, as bytes (it need not be valid UTF-8).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.http.headers().get(name).map(HeaderValue::as_bytes)
    }

    /// The client as a throttle key (DRF's `get_ident`): its bucket's address.
    pub fn ident(&self) -> String {
        client::ident(self.client_bucket)
    }

    pub fn add_response_header(&self, name: HeaderName, value: HeaderValue) {
        self.response_headers.borrow_mut().push((name, value));
    }

    pub fn take_response_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        std::mem::take(&mut self.response_headers.borrow_mut())
    }

    /// Reads and parses the body once (DRF's `request.data`); later calls see an empty object.
    pub async fn data(&mut self) -> Result<Value, ApiError> {
        let content_type = self
            .header("content-type")
            .map(|ct| String::from_utf8_lossy(ct).into_owned())
            .unwrap_or_default();
        let body = self.body().await?;
        parsers::parse(&content_type, body).await
    }

    async fn body(&mut self) -> Result<Bytes, ApiError> {
        let limits = self.body_limits;
        let Some(payload) = self.payload.take() else {
            return Ok(Bytes::new());
        };
        read_body(&self.http, payload, limits)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => ApiError::payload_too_large(limits.max_size),
                BodyError::TimedOut => ApiError::request_timeout(),
                BodyError::Broken(e) => {
                    ApiError::parse_error(format!("Could not read the request body - {e}"))
                }
            })
    }
}

/// How much body a request may send, and how long it may take to send it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_size: usize,
    /// From the first byte read to the last; a client that stalls mid-body is cut off.
    pub timeout: Duration,
}

impl BodyLimits {
    /// `MAX_BODY_SIZE` and `CLIENT_BODY_TIMEOUT_MS` defaults.
    pub const DEFAULT: BodyLimits = BodyLimits {
        max_size: 2_621_440,
        timeout: Duration::from_secs(10),
    };
}

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    TimedOut,
    Broken(String),
}

/// Reads a whole request body within `limits`: a declared `Content-Length` over the size is
/// refused before reading, a body that grows past it as soon as it does.
pub async fn read_body(
    http: &HttpRequest,
    mut payload: Payload,
    limits: BodyLimits,
) -> Result<Bytes, BodyError> {
    let declared = http
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > limits.max_size) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
            if body.len() + chunk.len() > limits.max_size {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(limits.timeout, read)
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}
