//! Browser mode (`TOKEN_COOKIE=true`): the refresh token travels in a cookie no script can
//! read, instead of in the JSON body, so an XSS on the page cannot steal it.
//!
//! A request to obtain, refresh or blacklist is in browser mode when it shows where the page
//! is from, as Django's CSRF check asks: a same-origin (or `CSRF_TRUSTED_ORIGINS`) `Origin`
//! header, which browsers send on every POST, or an `X-CSRFToken` header that matches the
//! `csrftoken` cookie. Then obtain and refresh set the cookie (`HttpOnly`, `SameSite=Strict`,
//! `Path=/api/token/`, and `Secure` with the `__Secure-` name prefix when
//! `SESSION_COOKIE_SECURE`) and answer `{"access"}` only; refresh and blacklist read it when
//! the body names no token; blacklist clears it. Another site's `Origin` (or a wrong token) is
//! refused, 403 `CSRF Failed: ...`: no page elsewhere can sign a visitor in as someone else
//! (login CSRF) or out. A request with neither is an API client: it gets the JSON body exactly
//! as without browser mode, and its cookies are not read.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::HeaderValue;
use ipnet::IpNet;
use serde_json::Value;

use crate::rest::csrf::{self, RequestOrigin, TokenSource};
use crate::rest::{ApiError, Request};

/// How a request to a token endpoint takes part in browser mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A page of this site: the refresh token travels in the cookie.
    Browser,
    /// No page at all (curl, a mobile app): the token endpoints as simplejwt's.
    Api,
}

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

    /// Browser mode for a page of this site, API mode for a client that is no page; another
    /// site's page is refused.
    pub fn mode(&self, request: &Request) -> Result<Mode, ApiError> {
        let refused =
            |reason: String| ApiError::permission_denied(format!("CSRF Failed: {reason}"));
        let origin = RequestOrigin::of(&request.http, &self.trusted_proxies);
        if origin.origin.is_some() {
            csrf::check_origin(&origin, &self.trusted_origins).map_err(refused)?;
            return Ok(Mode::Browser);
        }
        if request.header(csrf::HEADER_NAME).is_some() {
            self.check_token(request).map_err(refused)?;
            return Ok(Mode::Browser);
        }
        Ok(Mode::Api)
    }

    /// Puts the cookie's refresh token into `data` when the body names none (browser mode);
    /// leaves `data` alone otherwise (the serializer then reports what is missing). Two
    /// cookies of that name (one planted from a sibling domain) are refused, not guessed at.
    pub fn fill_from_cookie(&self, request: &Request, data: &mut Value) -> Result<(), ApiError> {
        let Some(fields) = data.as_object_mut() else {
            return Ok(());
        };
        if fields.contains_key("refresh") {
            return Ok(());
        }
        let cookies = request
            .http
            .cookies()
            .map_err(|_| ApiError::parse_error("The Cookie header could not be read."))?;
        let mut ours = cookies.iter().filter(|cookie| cookie.name() == self.name());
        let Some(cookie) = ours.next() else {
            return Ok(());
        };
        if ours.next().is_some() {
            return Err(ApiError::permission_denied(
                "CSRF Failed: more than one refresh token cookie.",
            ));
        }
        fields.insert("refresh".into(), cookie.value().into());
        Ok(())
    }

    /// The double-submit proof: `X-CSRFToken` matches the `csrftoken` cookie.
    fn check_token(&self, request: &Request) -> Result<(), String> {
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
