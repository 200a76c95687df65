//! Provides simplejwt's token views: obtain, refresh, verify and blacklist.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use serde_json::Value;

use crate::jwt::cookie::{Mode, TokenCookie};
use crate::jwt::families::Device;
use crate::jwt::serializers::TokenService;
use crate::rest::metadata::FieldInfo;
use crate::rest::{APIView, ApiError, Response};

/// What a token view does with the posted data (simplejwt's serializer of that view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    ObtainPair,
    Refresh,
    Verify,
    Blacklist,
    ObtainSliding,
    RefreshSliding,
}

impl Action {
    async fn run(
        self,
        service: &TokenService,
        data: Value,
        device: &Device,
    ) -> Result<Value, ApiError> {
        match self {
            Action::ObtainPair => service.obtain_pair(data, device).await,
            Action::Refresh => service.refresh(data, device.ip).await,
            Action::Verify => service.verify(data).await,
            Action::Blacklist => service.blacklist(data, device.ip).await,
            Action::ObtainSliding => service.obtain_sliding(data, device).await,
            Action::RefreshSliding => service.refresh_sliding(data).await,
        }
    }
}

impl Action {
    /// Browser mode: a new refresh token moves from the body into the cookie; a blacklisted
    /// one's cookie is cleared.
    fn cookie_update(self, cookie: &TokenCookie, body: &mut Value) -> Option<HeaderValue> {
        match self {
            Action::ObtainPair | Action::Refresh => body
                .as_object_mut()?
                .remove("refresh")
                .and_then(|refresh| refresh.as_str().map(|token| cookie.set(token))),
            Action::Blacklist => Some(cookie.clear()),
            Action::Verify | Action::ObtainSliding | Action::RefreshSliding => None,
        }
    }
}

/// One token view as simplejwt declares it: path, name, docstring and serializer fields.
struct TokenView {
    path: &'static str,
    name: &'static str,
    description: &'static str,
    fields: &'static [FieldInfo],
    action: Action,
}

const TOKEN_VIEWS: [TokenView; 6] = [
    TokenView {
        path: "/api/token/",
        name: "Token Obtain Pair",
        description: "Takes a set of user credentials and returns an access and refresh JSON web\n\
                      token pair to prove the authentication of those credentials.",
        fields: &[
            FieldInfo::input("username", "Username"),
            FieldInfo::input("password", "Password"),
        ],
        action: Action::ObtainPair,
    },
    TokenView {
        path: "/api/token/refresh/",
        name: "Token Refresh",
        description: "Takes a refresh type JSON web token and returns an access type JSON web\n\
                      token if the refresh token is valid.",
        fields: &[
            FieldInfo::input("refresh", "Refresh"),
            FieldInfo::output("access", "Access"),
        ],
        action: Action::Refresh,
    },
    TokenView {
        path: "/api/token/verify/",
        name: "Token Verify",
        description: "Takes a token and indicates if it is valid.  This view provides no\n\
                      information about a token's fitness for a particular use.",
        fields: &[FieldInfo::input("token", "Token")],
        action: Action::Verify,
    },
    TokenView {
        path: "/api/token/blacklist/",
        name: "Token Blacklist",
        description: "Takes a token and blacklists it. Must be used with the\n\
                      `rest_framework_simplejwt.token_blacklist` app installed.",
        fields: &[FieldInfo::input("refresh", "Refresh")],
        action: Action::Blacklist,
    },
    TokenView {
        path: "/api/token/sliding/",
        name: "Token Obtain Sliding",
        description: "Takes a set of user credentials and returns a sliding JSON web token to\n\
                      prove the authentication of those credentials.",
        fields: &[
            FieldInfo::input("username", "Username"),
            FieldInfo::input("password", "Password"),
        ],
        action: Action::ObtainSliding,
    },
    TokenView {
        path: "/api/token/sliding/refresh/",
        name: "Token Refresh Sliding",
        description: "Takes a sliding JSON web token and returns a new, refreshed version if the\n\
                      token's refresh period has not expired.",
        fields: &[FieldInfo::input("token", "Token")],
        action: Action::RefreshSliding,
    },
];

/// The four views with their paths: no authentication, no permission, the default throttles,
/// and a Bearer challenge on their 401s (simplejwt's `TokenViewBase.get_authenticate_header`).
/// With `cookie` (browser mode), the refresh token travels in it (see `cookie.rs`).
pub fn token_views(
    service: Arc<TokenService>,
    challenge: &str,
    cookie: Option<Arc<TokenCookie>>,
) -> Vec<(&'static str, APIView)> {
    TOKEN_VIEWS
        .iter()
        .map(|view| {
            let service = Arc::clone(&service);
            let cookie = cookie.clone();
            let action = view.action;
            let api_view = APIView::new(view.name)
                .description(view.description)
                .post_fields(view.fields)
                .authentication_classes(Vec::new())
                .permission_classes(Vec::new())
                .www_authenticate(challenge.to_string())
                .post(move |mut request| {
                    let service = Arc::clone(&service);
                    let cookie = cookie.clone();
                    async move {
                        let mut data = request.data().await?;
                        // Browser mode only for a page of this site; API clients unchanged.
                        let uses_cookie = matches!(
                            action,
                            Action::ObtainPair | Action::Refresh | Action::Blacklist
                        );
                        let browser = match cookie.as_deref().filter(|_| uses_cookie) {
                            Some(cookie) if cookie.mode(&request)? == Mode::Browser => Some(cookie),
                            _ => None,
                        };
                        if let Some(cookie) = browser.filter(|_| action != Action::ObtainPair) {
                            cookie.fill_from_cookie(&request, &mut data)?;
                        }
                        let device = Device {
                            ip: request.client_ip,
                            user_agent: request
                                .header("user-agent")
                                .map(|ua| String::from_utf8_lossy(ua).into_owned())
                                .unwrap_or_default(),
                        };
                        let mut body = match action.run(&service, data, &device).await {
                            Ok(body) => body,
                            // A logout whose token is dead already (blacklisted, expired,
                            // invalid) still logs the browser out: the cookie goes.
                            Err(mut error)
                                if action == Action::Blacklist
                                    && error.status
                                        == actix_web::http::StatusCode::UNAUTHORIZED =>
                            {
                                error.set_cookie = browser.map(|cookie| Box::new(cookie.clear()));
                                return Err(error);
                            }
                            Err(error) => return Err(error),
                        };
                        let set_cookie =
                            browser.and_then(|cookie| action.cookie_update(cookie, &mut body));
                        let mut response = Response::ok(body);
                        // RFC 6749 §5.1: tokens are never stored by a cache on the way.
                        response.headers.extend([
                            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                            (header::PRAGMA, HeaderValue::from_static("no-cache")),
                        ]);
                        response
                            .headers
                            .extend(set_cookie.map(|value| (header::SET_COOKIE, value)));
                        Ok(response)
                    }
                });
            (view.path, api_view)
        })
        .collect()
}
