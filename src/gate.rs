//! The outermost layer of every request: Django's `ALLOWED_HOSTS` check, before anything reads
//! the `Host`; Django's security headers on every response; and the request metrics when they
//! are on. One middleware of its own rather than `from_fn` (which boxes a future per request:
//! about 2,000 instructions, 2.5 % of `/hello/`) and `DefaultHeaders` (a layer more).

use std::cell::RefCell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpResponse};

use crate::rest::hosts::{AllowedHosts, BAD_REQUEST_PAGE};

/// Django's security middleware headers, on every response that does not set its own.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
];

fn add_security_headers(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
}

/// Django's 400 page for a `Host` not in `ALLOWED_HOSTS`. `/healthz` and `/readyz` answer
/// whatever the `Host`: load balancers and orchestrators probe an instance by its address.
pub struct Gate {
    allowed: Arc<AllowedHosts>,
}

impl Gate {
    pub fn new(allowed: Arc<AllowedHosts>) -> Gate {
        Gate { allowed }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Gate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<GateService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService {
            service,
            allowed: Arc::clone(&self.allowed),
            last_allowed: RefCell::new(None),
        }))
    }
}

pub struct GateService<S> {
    service: S,
    allowed: Arc<AllowedHosts>,
    /// The last `Host` header this worker allowed, byte for byte: the next request of a client
    /// sends the same one, and comparing bytes costs less than parsing it again (~700
    /// instructions). Only an allowed value is kept, and the answer for those exact bytes
    /// cannot change.
    last_allowed: RefCell<Option<HeaderValue>>,
}

impl<S> GateService<S> {
    fn allows(&self, request: &ServiceRequest) -> bool {
        let Some(value) = request.headers().get(header::HOST) else {
            return self.allowed.allows(host(request));
        };
        if self.last_allowed.borrow().as_ref() == Some(value) {
            return true;
        }
        let allowed = self.allowed.allows(value.to_str().unwrap_or(""));
        if allowed {
            *self.last_allowed.borrow_mut() = Some(value.clone());
        }
        allowed
    }
}

/// The `Host` header, else the request target's authority (an absolute-form request).
fn host(request: &ServiceRequest) -> &str {
    match request.headers().get(header::HOST) {
        Some(value) => value.to_str().unwrap_or(""),
        None => request
            .uri()
            .authority()
            .map_or("", |authority| authority.as_str()),
    }
}

impl<S, B> Service<ServiceRequest> for GateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = GateFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let metered = crate::metrics::enabled().then(|| (Instant::now(), request.method().clone()));
        let probe = matches!(request.path(), "/healthz" | "/readyz");
        if probe || self.allows(&request) {
            return GateFuture::Passed {
                inner: self.service.call(request),
                metered,
            };
        }
        log::debug!("refused a request for a host not in ALLOWED_HOSTS");
        if let Some((started, method)) = metered {
            crate::exporter::record(
                "disallowed_host",
                method.as_str(),
                actix_web::http::StatusCode::BAD_REQUEST,
                started,
            );
        }
        let mut page = HttpResponse::BadRequest()
            .content_type("text/html; charset=utf-8")
            .body(BAD_REQUEST_PAGE);
        add_security_headers(page.headers_mut());
        GateFuture::Refused {
            response: Some(request.into_response(page).map_into_right_body()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer (counted when the metrics are on), or the refusal.
    #[project = GateProjection]
    pub enum GateFuture<F, B> {
        Passed { #[pin] inner: F, metered: Option<(Instant, Method)> },
        Refused { response: Option<ServiceResponse<EitherBody<B>>> },
    }
}

impl<F, B> Future for GateFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GateProjection::Passed { inner, metered } => {
                let mut response = std::task::ready!(inner.poll(cx));
                if let Ok(response) = &mut response {
                    add_security_headers(response.headers_mut());
                }
                if let Some((started, method)) = metered.take() {
                    crate::exporter::record_request(&response, method.as_str(), started);
                }
                Poll::Ready(response.map(ServiceResponse::map_into_left_body))
            }
            GateProjection::Refused { response } => Poll::Ready(response.take().ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("the host refusal was polled again")
            })),
        }
    }
}
