//! Provides DRF's `ModelViewSet` and `ReadOnlyModelViewSet`: list, create, retrieve, update,
//! partial update and destroy over a project's own rows, answering as DRF's generic views do.
//!
//! The project says how to reach its rows (`ModelResource`: DRF's `get_queryset`,
//! `perform_create`, ... written as diesel queries); the viewset does the rest, in DRF's
//! order: authentication, permissions and throttles (the dispatcher), the object (404 first),
//! its object permissions, then the body's validation, and the answer (201, 200, 204).

use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::rest::exceptions::ApiError;
use crate::rest::filters::{Direction, OrderingFilter, SearchFilter};
use crate::rest::pagination::{PageNumberPagination, Window};
use crate::rest::permissions::Permission;
use crate::rest::request::Request;
use crate::rest::response::Response;
use crate::rest::serializers::{Partial, Serializer};
use crate::rest::views::APIView;

/// What a list request asks for beyond its page: the search terms and the ordering.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Every term must match one of the resource's search fields (case-insensitive contains;
    /// `filters::like_pattern`).
    pub search: Vec<String>,
    /// Fields among the viewset's `ordering_fields`, else its default ordering.
    pub ordering: Vec<(&'static str, Direction)>,
}

/// A project's rows, as a viewset reaches them.
#[async_trait(?Send)]
pub trait ModelResource: Send + Sync + 'static {
    /// One row.
    type Object: 'static;

    /// The model's name in DRF's messages: "No Snippet matches the given query.".
    fn name(&self) -> &'static str;

    /// The fields a body may set, and the description OPTIONS gives.
    fn serializer(&self) -> Serializer;

    /// The row as the API shows it (DRF's `to_representation`).
    fn represent(&self, request: &Request, object: &Self::Object) -> Value;

    /// How many rows match `query`, and those of `window` (DRF's filtered queryset, sliced).
    async fn list(
        &self,
        request: &Request,
        query: &ListQuery,
        window: Window,
    ) -> Result<(i64, Vec<Self::Object>), ApiError>;

    /// The row with this primary key, if any.
    async fn get(&self, request: &Request, pk: i64) -> Result<Option<Self::Object>, ApiError>;

    /// Creates a row from validated values (DRF's `perform_create`: set the owner here).
    async fn create(
        &self,
        request: &Request,
        values: Map<String, Value>,
    ) -> Result<Self::Object, ApiError> {
        let _ = (request, values);
        Err(ApiError::method_not_allowed("POST"))
    }

    /// Changes a row with validated values (all of them, or those a PATCH sent).
    async fn update(
        &self,
        request: &Request,
        object: Self::Object,
        values: Map<String, Value>,
    ) -> Result<Self::Object, ApiError> {
        let _ = (request, object, values);
        Err(ApiError::method_not_allowed("PUT"))
    }

    /// Deletes a row.
    async fn destroy(&self, request: &Request, object: Self::Object) -> Result<(), ApiError> {
        let _ = (request, object);
        Err(ApiError::method_not_allowed("DELETE"))
    }
}

/// A count no list reaches, to read the page a request asks for before the real count is known.
const UNCOUNTED: i64 = i64::MAX / 4;

/// DRF's `ModelViewSet` (or `ReadOnlyModelViewSet`) over one resource.
pub struct ModelViewSet<R: ModelResource> {
    resource: Arc<R>,
    description: &'static str,
    writable: bool,
    permission_classes: Option<Vec<Arc<dyn Permission>>>,
    pagination: Option<PageNumberPagination>,
    search: bool,
    ordering_fields: &'static [&'static str],
    default_ordering: &'static [&'static str],
}

impl<R: ModelResource> ModelViewSet<R> {
    /// List, create, retrieve, update, partial update, destroy.
    pub fn new(resource: R) -> ModelViewSet<R> {
        ModelViewSet {
            resource: Arc::new(resource),
            description: "",
            writable: true,
            permission_classes: None,
            pagination: None,
            search: false,
            ordering_fields: &[],
            default_ordering: &[],
        }
    }

    /// List and retrieve only (DRF's `ReadOnlyModelViewSet`).
    pub fn read_only(resource: R) -> ModelViewSet<R> {
        ModelViewSet {
            writable: false,
            ..ModelViewSet::new(resource)
        }
    }

    /// The description the browsable page and OPTIONS show (DRF: the viewset's docstring).
    pub fn description(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn permission_classes(mut self, classes: Vec<Arc<dyn Permission>>) -> Self {
        self.permission_classes = Some(classes);
        self
    }

    /// Pages of the list (DRF's `PageNumberPagination`); without it, the whole list.
    pub fn pagination(mut self, pagination: PageNumberPagination) -> Self {
        self.pagination = Some(pagination);
        self
    }

    /// `?search=` terms reach `ModelResource::list` (its search fields are the resource's).
    pub fn search(mut self) -> Self {
        self.search = true;
        self
    }

    /// `?ordering=` among `fields`, else `default`.
    pub fn ordering(
        mut self,
        fields: &'static [&'static str],
        default: &'static [&'static str],
    ) -> Self {
        self.ordering_fields = fields;
        self.default_ordering = default;
        self
    }

    /// The list view (`Snippet List`) and the detail view (`Snippet Instance`).
    pub fn views(self) -> (APIView, APIView) {
        let name = self.resource.name();
        let this = Arc::new(self);
        let mut list = APIView::new(leak(format!("{name} List")))
            .description(this.description)
            .serializer(this.resource.serializer());
        let mut detail = APIView::new(leak(format!("{name} Instance")))
            .description(this.description)
            .serializer(this.resource.serializer());
        if let Some(classes) = &this.permission_classes {
            list = list.permission_classes(classes.clone());
            detail = detail.permission_classes(classes.clone());
        }
        let viewset = Arc::clone(&this);
        list = list.get(move |request| {
            let viewset = Arc::clone(&viewset);
            async move { viewset.list(request).await }
        });
        let viewset = Arc::clone(&this);
        detail = detail.object_probe(Arc::new(move |request| {
            let viewset = Arc::clone(&viewset);
            Box::pin(async move { viewset.object(request).await.map(|_| ()) })
        }));
        let viewset = Arc::clone(&this);
        detail = detail.get(move |request| {
            let viewset = Arc::clone(&viewset);
            async move { viewset.retrieve(request).await }
        });
        if this.writable {
            let viewset = Arc::clone(&this);
            list = list.post(move |request| {
                let viewset = Arc::clone(&viewset);
                async move { viewset.create(request).await }
            });
            for (method, partial) in [(Method::PUT, Partial::No), (Method::PATCH, Partial::Yes)] {
                let viewset = Arc::clone(&this);
                detail = detail.on(method, move |request| {
                    let viewset = Arc::clone(&viewset);
                    async move { viewset.update(request, partial).await }
                });
            }
            let viewset = Arc::clone(&this);
            detail = detail.on(Method::DELETE, move |request| {
                let viewset = Arc::clone(&viewset);
                async move { viewset.destroy(request).await }
            });
        }
        (list, detail)
    }

    async fn list(&self, request: Request) -> Result<Response, ApiError> {
        let query = ListQuery {
            search: if self.search {
                SearchFilter::terms(&request)?
            } else {
                Vec::new()
            },
            ordering: OrderingFilter::terms(&request, self.ordering_fields, self.default_ordering),
        };
        let Some(pagination) = self.pagination else {
            let everything = Window {
                offset: 0,
                limit: i64::MAX,
                page: None,
            };
            let (_, rows) = self.resource.list(&request, &query, everything).await?;
            return Ok(Response::ok(self.represent_all(&request, &rows).into()));
        };
        // One round trip for the page asked for, checked against the count it came with (a
        // page that is no number is refused before any query); only `last`, whose place needs
        // the count, reads a second time.
        let asked = pagination.window(&request, UNCOUNTED)?;
        let (count, mut rows) = self.resource.list(&request, &query, asked).await?;
        let window = pagination.window(&request, count)?;
        if window != asked {
            rows = self.resource.list(&request, &query, window).await?.1;
        }
        let results = self.represent_all(&request, &rows);
        Ok(Response::ok(
            pagination.response(&request, count, &window, results),
        ))
    }

    fn represent_all(&self, request: &Request, rows: &[R::Object]) -> Vec<Value> {
        rows.iter()
            .map(|row| self.resource.represent(request, row))
            .collect()
    }

    async fn create(&self, mut request: Request) -> Result<Response, ApiError> {
        let serializer = self.resource.serializer();
        let values = serializer
            .validate_request(&mut request, Partial::No)
            .await?;
        let created = self.resource.create(&request, values).await?;
        Ok(Response::with_status(
            StatusCode::CREATED,
            self.resource.represent(&request, &created),
        ))
    }

    /// DRF's `get_object`: the row of the URL's `pk` (404 otherwise), then its object
    /// permissions.
    async fn object(&self, request: &Request) -> Result<R::Object, ApiError> {
        let raw = request.http.match_info().get("pk").unwrap_or("");
        // A key that is no number cannot name a row: Django's lookup fails, plain 404.
        let Ok(pk) = raw.parse::<i64>() else {
            return Err(ApiError::not_found());
        };
        let object = self.resource.get(request, pk).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                json!({"detail": format!("No {} matches the given query.", self.resource.name())}),
            )
        })?;
        request.check_object_permissions(&object)?;
        Ok(object)
    }

    async fn retrieve(&self, request: Request) -> Result<Response, ApiError> {
        let object = self.object(&request).await?;
        Ok(Response::ok(self.resource.represent(&request, &object)))
    }

    async fn update(&self, mut request: Request, partial: Partial) -> Result<Response, ApiError> {
        let object = self.object(&request).await?;
        let values = self
            .resource
            .serializer()
            .validate_request(&mut request, partial)
            .await?;
        let updated = self.resource.update(&request, object, values).await?;
        Ok(Response::ok(self.resource.represent(&request, &updated)))
    }

    async fn destroy(&self, request: Request) -> Result<Response, ApiError> {
        let object = self.object(&request).await?;
        self.resource.destroy(&request, object).await?;
        Ok(Response::with_status(StatusCode::NO_CONTENT, Value::Null))
    }
}

/// A view name lives as long as the server (views are built once, at start).
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// DRF's `DefaultRouter`: each viewset's list and detail routes under a prefix, and the API
/// root that links them.
pub struct DefaultRouter {
    prefix: &'static str,
    routes: Vec<(&'static str, APIView, APIView)>,
}

impl DefaultRouter {
    /// Routes under `prefix` (e.g. `/api/`).
    pub fn new(prefix: &'static str) -> DefaultRouter {
        DefaultRouter {
            prefix,
            routes: Vec::new(),
        }
    }

    /// `{prefix}{name}/` and `{prefix}{name}/{pk}/`.
    pub fn register<R: ModelResource>(
        mut self,
        name: &'static str,
        viewset: ModelViewSet<R>,
    ) -> DefaultRouter {
        let (list, detail) = viewset.views();
        self.routes.push((name, list, detail));
        self
    }

    /// The routes to mount (`Application::with_views`), the API root first.
    pub fn views(self) -> Vec<(&'static str, APIView)> {
        let names: Vec<&'static str> = self.routes.iter().map(|(name, ..)| *name).collect();
        let root = APIView::new("Api Root")
            .description("The default basic root view for DefaultRouter")
            .get(move |request| {
                let names = names.clone();
                async move {
                    let base = request.build_absolute_uri();
                    let base = base.split('?').next().unwrap_or("");
                    let links: Map<String, Value> = names
                        .iter()
                        .map(|name| (name.to_string(), format!("{base}{name}/").into()))
                        .collect();
                    Ok(Response::ok(Value::Object(links)))
                }
            });
        let mut views = vec![(self.prefix, root)];
        for (name, list, detail) in self.routes {
            views.push((leak(format!("{}{name}/", self.prefix)), list));
            views.push((leak(format!("{}{name}/{{pk}}/", self.prefix)), detail));
        }
        views
    }
}
