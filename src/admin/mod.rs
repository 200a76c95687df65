//! The administrators' side: HTML login/logout/dashboard, server-side sessions and CSRF.

pub mod assets;
pub mod authentication;
pub mod dashboard;
pub mod forms;
pub mod login;
pub mod pages;
pub mod session;
pub mod templates;

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use ipnet::IpNet;

use crate::accounts::Accounts;
use crate::authtoken::AuthTokens;
use crate::jwt::revocations::RevokedFamilies;
use crate::models::users::User;
use crate::rest::ApiError;
use crate::rest::csrf;
use crate::rest::request::BodyLimits;
use crate::rest::throttling::failures::LoginFailureLimiter;
use session::{Session, SessionStore};
use templates::Templates;

/// What the admin pages share.
pub struct Admin {
    pub templates: Templates,
    pub sessions: Arc<SessionStore>,
    pub accounts: Arc<Accounts>,
    pub login_failures: Arc<LoginFailureLimiter>,
    /// Families ended from the dashboard are refused here at once.
    pub revoked: Arc<RevokedFamilies>,
    /// Keys revoked from the dashboard are refused here at once.
    pub auth_tokens: Arc<AuthTokens>,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// How much form a post may send, and how fast.
    pub body_limits: BodyLimits,
}

impl Admin {
    /// The request's session and its user, when that user is active staff (Django's
    /// `AdminSite.has_permission`).
    pub async fn staff_session(
        &self,
        http: &HttpRequest,
    ) -> Result<Option<(Session, User)>, ApiError> {
        let Some(key) = SessionStore::presented_key(http) else {
            return Ok(None);
        };
        let Some(session) = self.sessions.load(&key).await? else {
            return Ok(None);
        };
        let user = self.accounts.get_user(session.record.user_id).await?;
        Ok(user
            .filter(|user| user.is_active && user.is_staff)
            .map(|user| (session, user)))
    }

    /// Django's CSRF check for a form post: Origin/Referer, then the token against `secret`.
    pub fn check_csrf(
        &self,
        http: &HttpRequest,
        secret: Option<&str>,
        form_token: Option<&str>,
    ) -> Result<(), String> {
        let origin = csrf::RequestOrigin::of(http, &self.trusted_proxies);
        csrf::check_origin(&origin, &self.trusted_origins)?;
        let header = http
            .headers()
            .get(csrf::HEADER_NAME)
            .and_then(|v| v.to_str().ok());
        let token = match (form_token, header) {
            (Some(token), _) if !token.is_empty() => Some((token, csrf::TokenSource::Post)),
            (_, Some(token)) => Some((token, csrf::TokenSource::Header)),
            _ => None,
        };
        csrf::check_token(secret, token)
    }
}

/// Mounts the admin pages and `/static/`; adds the admin paths to `paths` for `APPEND_SLASH`.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    admin: Arc<Admin>,
    static_dir: &std::path::Path,
    paths: &mut HashSet<String>,
) {
    // Every page answers the methods it does not route with a 405, and gets `APPEND_SLASH`.
    let mut page = |path: &str| {
        paths.insert(path.to_string());
        web::resource(path).default_service(web::to(method_not_allowed))
    };
    // Without the directory (the binary started elsewhere), the built-in assets alone.
    if static_dir.is_dir() {
        cfg.service(
            actix_files::Files::new("/static", static_dir)
                .default_handler(actix_web::dev::fn_service(assets::built_in)),
        );
    } else {
        cfg.route("/static/{path:.*}", web::route().to(assets::serve));
    }
    cfg.app_data(web::Data::from(admin))
        .service(
            page("/admin/")
                .route(web::get().to(dashboard::index))
                .route(web::head().to(dashboard::index)),
        )
        .service(
            page("/admin/login/")
                .route(web::get().to(login::login_page))
                .route(web::head().to(login::login_page))
                .route(web::post().to(login::login)),
        )
        .service(page("/admin/logout/").route(web::post().to(login::logout)))
        .service(page("/admin/tokens/blacklist/").route(web::post().to(dashboard::blacklist_token)))
        .service(page("/admin/users/deactivate/").route(web::post().to(dashboard::deactivate_user)))
        .service(page("/admin/users/activate/").route(web::post().to(dashboard::activate_user)))
        .service(page("/admin/users/logout/").route(web::post().to(dashboard::end_user_sessions)))
        .service(
            page("/admin/authtoken/revoke/").route(web::post().to(dashboard::revoke_auth_token)),
        );
}

/// Django's `HttpResponseNotAllowed` for the admin views (`require_POST` and friends).
async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .content_type("text/html; charset=utf-8")
        .finish()
}
