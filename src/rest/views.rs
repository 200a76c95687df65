//! Provides `APIView` and its dispatcher: negotiate, authenticate, permit, throttle, handle.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use futures_util::future::LocalBoxFuture;

use crate::rest::authentication::Authentication;
use crate::rest::client::client_ip;
use crate::rest::exceptions::ApiError;
use crate::rest::metadata::{self, FieldInfo};
use crate::rest::negotiation::negotiate;
use crate::rest::permissions::{Denial, Permission};
use crate::rest::renderers::{Page, Renderer};
use crate::rest::request::{ObjectCheck, Request};
use crate::rest::response::{Response, render, render_error};
use crate::rest::serializers::Serializer;
use crate::rest::settings::ApiSettings;
use crate::rest::throttling::{Hit, Throttle};

pub type Handler =
    Arc<dyn Fn(Request) -> LocalBoxFuture<'static, Result<Response, ApiError>> + Send + Sync>;

/// DRF's `get_object` as OPTIONS tries it for PUT: the object of the URL (404 otherwise) and
/// its object permissions, for the method the request asks about.
pub type ObjectProbe =
    Arc<dyn for<'a> Fn(&'a Request) -> LocalBoxFuture<'a, Result<(), ApiError>> + Send + Sync>;

/// DRF's `permission_denied`: not authenticated (401 with a challenge, or 403) when the view
/// has authentication classes and nobody authenticated, else 403 with the denial's message.
fn permission_denied(has_authenticators: bool, request: &Request, denial: Denial) -> ApiError {
    if has_authenticators && !request.is_authenticated() {
        return ApiError::not_authenticated();
    }
    ApiError::permission_denied(denial.message)
}

/// One authentication class's answer, in the metrics: authenticated, not attempted (no
/// credentials of its kind), or failed with the error's code.
fn count_authentication<T>(class: &dyn Authentication, outcome: &Result<Option<T>, ApiError>) {
    let Some(metrics) = crate::metrics::recording() else {
        return;
    };
    let (outcome, code) = match outcome {
        Ok(Some(_)) => ("authenticated", ""),
        Ok(None) => ("not_attempted", ""),
        Err(error) => ("failed", error.code_label()),
    };
    metrics
        .authentication
        .with_label_values(&[class.name(), outcome, code])
        .inc();
}

/// DRF's `http_method_names` order, which is also the order of the `Allow` header.
const METHOD_ORDER: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// A view: per-method handlers plus optional overrides of the settings' class lists.
pub struct APIView {
    pub name: &'static str,
    pub description: &'static str,
    handlers: Vec<(Method, Handler)>,
    authentication_classes: Option<Vec<Arc<dyn Authentication>>>,
    permission_classes: Option<Vec<Arc<dyn Permission>>>,
    throttle_classes: Option<Vec<Arc<dyn Throttle>>>,
    throttle_scope: Option<String>,
    /// The POST fields OPTIONS describes (DRF's serializer fields).
    post_fields: Vec<FieldInfo>,
    /// The serializer whose fields OPTIONS describes for POST and PUT, when the view has one.
    serializer: Option<Serializer>,
    /// How OPTIONS tries the view's object for PUT (a detail view's `get_object`).
    object_probe: Option<ObjectProbe>,
    /// A fixed challenge, as simplejwt's token views have without any authentication class.
    www_authenticate: Option<String>,
    /// The `Allow` header, the same for every response: built on the first one.
    allow: OnceLock<Option<HeaderValue>>,
    /// The object permission check of the classes in force, built on the first request.
    object_check: OnceLock<ObjectCheck>,
}

/// The class lists in force for one view: its overrides, else the settings.
struct Policies<'a> {
    authentication: &'a [Arc<dyn Authentication>],
    permission: &'a [Arc<dyn Permission>],
    throttle: &'a [Arc<dyn Throttle>],
}

impl APIView {
    pub fn new(name: &'static str) -> APIView {
        APIView {
            name,
            description: "",
            handlers: Vec::new(),
            authentication_classes: None,
            permission_classes: None,
            throttle_classes: None,
            throttle_scope: None,
            post_fields: Vec::new(),
            serializer: None,
            object_probe: None,
            www_authenticate: None,
            allow: OnceLock::new(),
            object_check: OnceLock::new(),
        }
    }

    pub fn on<F, Fut>(mut self, method: Method, handler: F) -> APIView
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response, ApiError>> + 'static,
    {
        let handler: Handler = Arc::new(move |request| Box::pin(handler(request)));
        self.handlers.retain(|(m, _)| *m != method);
        self.handlers.push((method, handler));
        self.allow = OnceLock::new();
        self
    }

    pub fn get<F, Fut>(self, handler: F) -> APIView
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response, ApiError>> + 'static,
    {
        self.on(Method::GET, handler)
    }

    pub fn post<F, Fut>(self, handler: F) -> APIView
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response, ApiError>> + 'static,
    {
        self.on(Method::POST, handler)
    }

    pub fn description(mut self, description: &'static str) -> APIView {
        self.description = description;
        self
    }

    pub fn authentication_classes(mut self, classes: Vec<Arc<dyn Authentication>>) -> APIView {
        self.authentication_classes = Some(classes);
        self
    }

    pub fn permission_classes(mut self, classes: Vec<Arc<dyn Permission>>) -> APIView {
        self.permission_classes = Some(classes);
        self
    }

    pub fn throttle_classes(mut self, classes: Vec<Arc<dyn Throttle>>) -> APIView {
        self.throttle_classes = Some(classes);
        self
    }

    /// Describes the fields of POST in the OPTIONS answer, as DRF's metadata does from a serializer.
    /// The serializer of the view's POST and PUT: OPTIONS describes its fields, as DRF's
    /// `SimpleMetadata` does (`actions.POST`, `actions.PUT`).
    pub fn serializer(mut self, serializer: Serializer) -> APIView {
        self.serializer = Some(serializer);
        self
    }

    /// How OPTIONS fetches the view's object before describing PUT (DRF's `get_object`).
    pub fn object_probe(mut self, probe: ObjectProbe) -> APIView {
        self.object_probe = Some(probe);
        self
    }

    pub fn post_fields(mut self, fields: &[FieldInfo]) -> APIView {
        self.post_fields = fields.to_vec();
        self
    }

    pub fn throttle_scope(mut self, scope: &str) -> APIView {
        self.throttle_scope = Some(scope.to_string());
        self
    }

    pub fn www_authenticate(mut self, challenge: String) -> APIView {
        self.www_authenticate = Some(challenge);
        self
    }

    /// Mounts the view at `path` with the settings' class lists; every method reaches the
    /// dispatcher. The settings travel with the view, so a mounted view always has them.
    pub fn resource(self, path: &str, settings: Arc<ApiSettings>) -> Resource {
        let view = Arc::new(self);
        web::resource(path).route(web::route().to(
            move |http: HttpRequest, payload: web::Payload| {
                let view = Arc::clone(&view);
                let settings = Arc::clone(&settings);
                async move { view.dispatch(&settings, http, payload.into_inner()).await }
            },
        ))
    }

    fn policies<'a>(&'a self, settings: &'a ApiSettings) -> Policies<'a> {
        Policies {
            authentication: self
                .authentication_classes
                .as_deref()
                .unwrap_or(&settings.authentication_classes),
            permission: self
                .permission_classes
                .as_deref()
                .unwrap_or(&settings.permission_classes),
            throttle: self
                .throttle_classes
                .as_deref()
                .unwrap_or(&settings.throttle_classes),
        }
    }

    /// DRF's `APIView.dispatch`: run the pipeline, then turn its outcome into a response.
    pub async fn dispatch(
        &self,
        settings: &ApiSettings,
        http: HttpRequest,
        payload: actix_web::dev::Payload,
    ) -> HttpResponse {
        let policies = self.policies(settings);
        let client = client_ip(&http, &settings.trusted_proxies);
        // A second handle on the request (a reference count) for the browsable page.
        let http_for_page = http.clone();
        let mut request = Request::new(http, payload, client, settings.body_limits);
        request.client_bucket = client.map(|ip| settings.client_buckets.bucket(ip));
        let negotiated = negotiate(request.header("accept"));
        let renderer = negotiated.as_ref().copied().unwrap_or_default();
        let (outcome, added_headers) = self.run(&policies, negotiated, request).await;
        let page = Page {
            name: self.name,
            description: self.description,
            method: http_for_page.method().as_str(),
            path: http_for_page.path(),
            allow: self
                .allow_header()
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        };
        let mut response = match outcome {
            Ok(response) => {
                let mut rendered = render(response.status, &response.data, renderer, &page);
                for (name, value) in response.headers {
                    rendered.headers_mut().insert(name, value);
                }
                rendered
            }
            Err(error) => {
                let error = self.handle_exception(error, &policies);
                render_error(&error, renderer, &page)
            }
        };
        self.finalize(added_headers, &mut response);
        if response.status() == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come: the connection cannot be reused.
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        response
    }

    /// Runs the phases in DRF's order; also returns the headers the phases asked to add.
    async fn run(
        &self,
        policies: &Policies<'_>,
        negotiated: Result<Renderer, ApiError>,
        mut request: Request,
    ) -> (Result<Response, ApiError>, Vec<(HeaderName, HeaderValue)>) {
        let handler = self.initial(policies, negotiated, &mut request).await;
        let added_headers = request.take_response_headers();
        request.object_check = Some(Arc::clone(self.object_check(policies)));
        let asks_what_it_may_do = *request.method() == Method::OPTIONS
            && self.serializer.is_some()
            && !self.handlers.iter().any(|(m, _)| *m == Method::OPTIONS);
        let outcome = match handler {
            // Boxed: the rare OPTIONS path must not grow every request's future.
            Ok(_) if asks_what_it_may_do => {
                Ok(Box::pin(self.options(policies, &mut request)).await)
            }
            Ok(handler) => handler(request).await,
            Err(error) => Err(error),
        };
        (outcome, added_headers)
    }

    /// DRF's `SimpleMetadata` for a view with a serializer: `actions` for the PUT and POST the
    /// caller may do (their permissions, and for PUT the object and its permissions, asked as
    /// if the request were that method); none when it may do neither.
    async fn options(&self, policies: &Policies<'_>, request: &mut Request) -> Response {
        let mut metadata =
            metadata::simple_metadata(self.name, self.description, &self.post_fields);
        let Some(serializer) = &self.serializer else {
            return Response::ok(metadata);
        };
        let mut actions = serde_json::Map::new();
        for method in [Method::PUT, Method::POST] {
            if !self.handlers.iter().any(|(m, _)| *m == method) {
                continue;
            }
            request.method_asked = Some(method.clone());
            let mut allowed = self.check_permissions(policies, request).is_ok();
            if allowed
                && method == Method::PUT
                && let Some(probe) = &self.object_probe
            {
                allowed = probe(request).await.is_ok();
            }
            if allowed {
                actions.insert(method.to_string(), serializer.metadata());
            }
        }
        request.method_asked = None;
        if !actions.is_empty() {
            metadata["actions"] = serde_json::Value::Object(actions);
        }
        Response::ok(metadata)
    }

    /// DRF's `APIView.initial()` followed by the handler lookup.
    async fn initial(
        &self,
        policies: &Policies<'_>,
        negotiated: Result<Renderer, ApiError>,
        request: &mut Request,
    ) -> Result<Handler, ApiError> {
        negotiated?;
        self.perform_authentication(policies, request).await?;
        self.check_permissions(policies, request)?;
        self.check_throttles(policies, request).await?;
        self.handler_for(request.method())
    }

    /// The first class that answers wins; the first that fails ends the request.
    async fn perform_authentication(
        &self,
        policies: &Policies<'_>,
        request: &mut Request,
    ) -> Result<(), ApiError> {
        for class in policies.authentication {
            let outcome = class.authenticate(request).await;
            count_authentication(class.as_ref(), &outcome);
            if let Some((user, auth)) = outcome? {
                request.user = Some(user);
                request.auth = auth;
                return Ok(());
            }
        }
        Ok(())
    }

    fn check_permissions(
        &self,
        policies: &Policies<'_>,
        request: &Request,
    ) -> Result<(), ApiError> {
        for permission in policies.permission {
            if let Err(denial) = permission.check(request) {
                if let Some(metrics) = crate::metrics::recording() {
                    metrics
                        .permission_denied
                        .with_label_values(&[denial.class])
                        .inc();
                }
                return Err(permission_denied(
                    !policies.authentication.is_empty(),
                    request,
                    denial,
                ));
            }
        }
        Ok(())
    }

    /// The classes in force, as the check a handler runs on the object it fetched.
    fn object_check(&self, policies: &Policies<'_>) -> &ObjectCheck {
        self.object_check.get_or_init(|| {
            let permissions = policies.permission.to_vec();
            let has_authenticators = !policies.authentication.is_empty();
            Arc::new(move |request: &Request, object: &dyn std::any::Any| {
                for permission in &permissions {
                    if let Err(denial) = permission.check_object(request, object) {
                        if let Some(metrics) = crate::metrics::recording() {
                            metrics
                                .permission_denied
                                .with_label_values(&[denial.class])
                                .inc();
                        }
                        return Err(permission_denied(has_authenticators, request, denial));
                    }
                }
                Ok(())
            })
        })
    }

    /// Every throttle sees the request (allowed ones record it); the longest wait is reported.
    async fn check_throttles(
        &self,
        policies: &Policies<'_>,
        request: &Request,
    ) -> Result<(), ApiError> {
        let mut longest_wait = None;
        for throttle in policies.throttle {
            let hit = throttle
                .allow_request(request, self.throttle_scope.as_deref())
                .await?;
            if let Hit::Refused { wait } = hit {
                let scope = throttle.scope_label(self.throttle_scope.as_deref());
                if let Some(metrics) = crate::metrics::recording() {
                    metrics
                        .throttled
                        .with_label_values(&[throttle.name(), scope])
                        .inc();
                }
                longest_wait = Some(longest_wait.map_or(wait, |longest: f64| longest.max(wait)));
            }
        }
        match longest_wait {
            None => Ok(()),
            Some(wait) => Err(ApiError::throttled(wait.max(0.0).ceil() as u64)),
        }
    }

    fn handler_for(&self, method: &Method) -> Result<Handler, ApiError> {
        let lookup = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        if let Some((_, handler)) = self.handlers.iter().find(|(m, _)| m == lookup) {
            return Ok(Arc::clone(handler));
        }
        if *method == Method::OPTIONS {
            let metadata =
                metadata::simple_metadata(self.name, self.description, &self.post_fields);
            return Ok(Arc::new(move |_| {
                let metadata = metadata.clone();
                Box::pin(async move { Ok(Response::ok(metadata)) })
            }));
        }
        Err(ApiError::method_not_allowed(method.as_str()))
    }

    /// DRF's `handle_exception`: a failed or missing authentication is a 401 with the
    /// challenge of the view's first authentication class, or a 403 when it has none.
    fn handle_exception(&self, mut error: ApiError, policies: &Policies<'_>) -> ApiError {
        if error.is_auth_failure() {
            match self.challenge(policies) {
                Some(challenge) => error.www_authenticate = Some(challenge),
                None => error.status = StatusCode::FORBIDDEN,
            }
        }
        error
    }

    fn challenge(&self, policies: &Policies<'_>) -> Option<String> {
        self.www_authenticate.clone().or_else(|| {
            policies
                .authentication
                .first()
                .and_then(|class| class.authenticate_header())
        })
    }

    fn allowed_methods(&self) -> String {
        METHOD_ORDER
            .iter()
            .filter(|m| {
                **m == Method::OPTIONS
                    || self.handlers.iter().any(|(h, _)| h == *m)
                    || (**m == Method::HEAD && self.handlers.iter().any(|(h, _)| h == Method::GET))
            })
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `Allow` header, built once per view.
    fn allow_header(&self) -> Option<&HeaderValue> {
        self.allow
            .get_or_init(|| HeaderValue::from_str(&self.allowed_methods()).ok())
            .as_ref()
    }

    /// Headers every API response carries: `Allow`, `Vary`, and what the pipeline added.
    fn finalize(&self, added_headers: Vec<(HeaderName, HeaderValue)>, response: &mut HttpResponse) {
        let headers = response.headers_mut();
        if let Some(allow) = self.allow_header() {
            headers.insert(header::ALLOW, allow.clone());
        }
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        for (name, value) in added_headers {
            // One `Vary: Accept, Cookie` line, as Django's middleware writes it.
            if name == header::VARY {
                let merged = headers
                    .get(header::VARY)
                    .and_then(|old| old.to_str().ok())
                    .zip(value.to_str().ok())
                    .and_then(|(old, new)| HeaderValue::from_str(&format!("{old}, {new}")).ok());
                if let Some(merged) = merged {
                    headers.insert(header::VARY, merged);
                    continue;
                }
            }
            headers.append(name, value);
        }
    }
}
