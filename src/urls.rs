//! The route table, and Django's answers for the paths it does not hold (301 to a slash, 404).

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::hello::hello_view;
use crate::jwt::views::token_views;
use crate::rest::{APIView, ApiSettings};
use crate::state::AppState;
use crate::{health, well_known};

const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";

/// Every API view with its path.
pub fn api_views(state: &AppState) -> Vec<(&'static str, APIView)> {
    let mut views = vec![("/hello/", hello_view())];
    views.extend(token_views(
        Arc::clone(&state.tokens),
        &state.bearer_challenge(),
        state.token_cookie(),
    ));
    views.push((
        "/api/auth-token/",
        crate::authtoken::views::obtain_auth_token_view(
            Arc::clone(&state.auth_tokens),
            Arc::clone(&state.login_failures),
        ),
    ));
    if state.config.jwt.token_families {
        views.extend(crate::jwt::sessions::session_views(Arc::clone(
            &state.tokens,
        )));
    }
    if state.config.server.bench_endpoints {
        views.extend(crate::bench::bench_views());
    }
    views
}

/// Mounts every view (portcullis' own, then `extra`), the admin pages and the health checks.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    state: &AppState,
    settings: &Arc<ApiSettings>,
    extra: Vec<(&'static str, APIView)>,
) {
    let mut paths: HashSet<String> = HashSet::new();
    for (path, view) in api_views(state).into_iter().chain(extra) {
        paths.insert(path.to_string());
        cfg.service(view.resource(path, Arc::clone(settings)));
    }
    crate::admin::configure(
        cfg,
        Arc::clone(&state.admin),
        &state.config.admin.static_dir,
        &mut paths,
    );
    // HEAD answers as GET does, without the body (actix leaves it out).
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(health::healthz))
            .route(web::head().to(health::healthz)),
    );
    cfg.service(
        web::resource("/.well-known/jwks.json")
            .route(web::get().to(well_known::jwks))
            .route(web::head().to(well_known::jwks)),
    );
    cfg.service(
        web::resource("/readyz")
            .route(web::get().to(health::readyz))
            .route(web::head().to(health::readyz)),
    );
    let paths = Arc::new(paths);
    cfg.default_service(web::to(move |request: HttpRequest| {
        let paths = Arc::clone(&paths);
        async move { append_slash_or_not_found(&request, &paths) }
    }));
}

/// Django's `APPEND_SLASH`: a path that exists with a trailing slash is redirected there.
fn append_slash_or_not_found(request: &HttpRequest, paths: &HashSet<String>) -> HttpResponse {
    let path = request.path();
    if !path.ends_with('/') && paths.contains(&format!("{path}/")) {
        let query = request.query_string();
        let location = if query.is_empty() {
            format!("{path}/")
        } else {
            format!("{path}/?{query}")
        };
        return HttpResponse::MovedPermanently()
            .insert_header((header::LOCATION, location))
            .content_type("text/html; charset=utf-8")
            .finish();
    }
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(NOT_FOUND_PAGE)
}

/// The client address the access log shows: the same identity the throttles use.
pub fn log_client(request: &ServiceRequest, trusted: &[ipnet::IpNet]) -> String {
    crate::rest::client::client_ip(request.request(), trusted)
        .map_or_else(|| "-".to_string(), |ip| ip.to_string())
}
