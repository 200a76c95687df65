//! Browser mode (`TOKEN_COOKIE=true`): the refresh token travels in a cookie no script can
//! read, instead of in the JSON body, so an XSS on the page cannot steal it.
//!
//! obtain and refresh set it (`HttpOnly`, `SameSite=Strict`, `Path=/api/token/`, and `Secure`
//! with the `__Secure-` name prefix when `SESSION_COOKIE_SECURE`) and answer `{"access"}`
//! only; refresh and blacklist read it when the body names no token; blacklist clears it. A
//! request that uses the cookie must prove it comes from the site itself, as Django's CSRF
//! check asks: a same-origin (or trusted) `Origin` header, or an `X-CSRFToken` header that
//! matches the `csrftoken` cookie. Otherwise: 403 with DRF's `CSRF Failed: ...`.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::HeaderValue;
use ipnet::IpNet;
use serde_json::Value;

use crate::rest::csrf::{self, RequestOrigin, TokenSource};
use crate::rest::{ApiError, Request};

pub struct TokenCookie {
    pub secure: bool,
    /// Seconds: the refresh token's lifetime.
    pub max_age: i64,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
}

const PATH: &str = "/api/token/";

impl TokenCookie {
    pub fn name(&self) -> &'static str {
        if self.secure {
            "__Secure-refresh_token"
        } else {
            "refresh_token"
        }
    }

    fn cookie(&self, value: String, max_age: i64) -> HeaderValue {
        let cookie = Cookie::build(self.name(), value)
            .path(PATH)
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(CookieDuration::seconds(max_age))
            .finish();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` carrying a new refresh token.
    pub fn set(&self, refresh: &str) -> HeaderValue {
        self.cookie(refresh.to_string(), self.max_age)
    }

    /// `Set-Cookie` that deletes it.
    pub fn clear(&self) -> HeaderValue {
        self.cookie(String::new(), 0)
    }

    /// Puts the cookie's refresh token into `data` when the body names none, after the CSRF
    /// proof; leaves `data` alone otherwise (the serializer then reports what is missing).
    pub fn fill_from_cookie(&self, request: &Request, data: &mut Value) -> Result<(), ApiError> {
        let Some(fields) = data.as_object_mut() else {
            return Ok(());
        };
        if fields.contains_key("refresh") {
            return Ok(());
        }
        let Some(cookie) = request.http.cookie(self.name()) else {
            return Ok(());
        };
        self.check_csrf(request)
            .map_err(|reason| ApiError::permission_denied(format!("CSRF Failed: {reason}")))?;
        fields.insert("refresh".into(), cookie.value().into());
        Ok(())
    }

    fn check_csrf(&self, request: &Request) -> Result<(), String> {
        let origin = RequestOrigin::of(&request.http, &self.trusted_proxies);
        if origin.origin.is_some() {
            return csrf::check_origin(&origin, &self.trusted_origins);
        }
        let secret = request
            .http
            .cookie(csrf::COOKIE_NAME)
            .map(|cookie| cookie.value().to_string())
            .filter(|secret| csrf::is_valid_secret(secret));
        let token = request
            .header(csrf::HEADER_NAME)
            .and_then(|value| std::str::from_utf8(value).ok());
        csrf::check_token(secret.as_deref(), token.map(|t| (t, TokenSource::Header)))
    }
}
