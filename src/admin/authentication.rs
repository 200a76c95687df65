//! Provides DRF's `SessionAuthentication`: the admin session cookie authenticates API calls.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use async_trait::async_trait;
use ipnet::IpNet;

use crate::accounts::Accounts;
use crate::admin::session::{self, SessionStore};
use crate::models::users::User;
use crate::rest::authentication::Authentication;
use crate::rest::csrf::{self, RequestOrigin, TokenSource};
use crate::rest::exceptions::ApiError;
use crate::rest::request::Request;

pub struct SessionAuthentication {
    pub sessions: Arc<SessionStore>,
    pub accounts: Arc<Accounts>,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
}

#[async_trait(?Send)]
impl Authentication for SessionAuthentication {
    /// The session's active user; `None` without a usable session (an unknown or expired
    /// cookie is also cleared); 403 when an unsafe method lacks a valid CSRF token.
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<serde_json::Value>)>, ApiError> {
        // Django's SessionMiddleware: whoever reads the session makes the answer vary on it.
        request.add_response_header(header::VARY, HeaderValue::from_static("Cookie"));
        let Some(key) = SessionStore::presented_key(&request.http) else {
            return Ok(None);
        };
        let Some(found) = self.sessions.load(&key).await? else {
            request.add_response_header(header::SET_COOKIE, session::clear_cookie_header());
            return Ok(None);
        };
        let user = self.accounts.get_user(found.record.user_id).await?;
        let Some(user) = user.filter(|user| user.is_active) else {
            return Ok(None);
        };
        self.enforce_csrf(request, &found.record.csrf_secret)?;
        Ok(Some((user, None)))
    }
}

impl SessionAuthentication {
    /// DRF's `enforce_csrf`: Django's check, with the reason in a 403 `detail`. API calls send
    /// the token in `X-CSRFToken` (the body is not read during authentication).
    fn enforce_csrf(&self, request: &Request, secret: &str) -> Result<(), ApiError> {
        if csrf::is_safe(request.method()) {
            return Ok(());
        }
        let origin = RequestOrigin::of(&request.http, &self.trusted_proxies);
        let token = request
            .header(csrf::HEADER_NAME)
            .and_then(|value| std::str::from_utf8(value).ok());
        csrf::check_origin(&origin, &self.trusted_origins)
            .and_then(|()| csrf::check_token(Some(secret), token.map(|t| (t, TokenSource::Header))))
            .map_err(|reason| ApiError::permission_denied(format!("CSRF Failed: {reason}")))
    }
}
