//! Provides simplejwt's token views: obtain, refresh, verify and blacklist.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::jwt::serializers::TokenService;
use crate::rest::views::FieldInfo;
use crate::rest::{APIView, ApiError, Response};

/// The token views: no authentication, no permission, the default throttles, and a Bearer
/// challenge on their 401s (simplejwt's `TokenViewBase.get_authenticate_header`).
fn token_view<F, Fut>(
    name: &'static str,
    challenge: &str,
    service: Arc<TokenService>,
    action: F,
) -> APIView
where
    F: Fn(Arc<TokenService>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + 'static,
{
    let action = Arc::new(action);
    APIView::new(name)
        .authentication_classes(Vec::new())
        .permission_classes(Vec::new())
        .www_authenticate(challenge.to_string())
        .post(move |mut request| {
            let service = Arc::clone(&service);
            let action = Arc::clone(&action);
            async move {
                let data = request.data().await?;
                Ok(Response::ok(action(service, data).await?))
            }
        })
}

/// The four views with their paths, names, descriptions and fields as simplejwt declares them.
pub fn token_views(service: Arc<TokenService>, challenge: &str) -> Vec<(&'static str, APIView)> {
    vec![
        (
            "/api/token/",
            token_view(
                "Token Obtain Pair",
                challenge,
                service.clone(),
                |s, data| async move { s.obtain_pair(data).await },
            )
            .description(
                "Takes a set of user credentials and returns an access and refresh JSON web\n\
                 token pair to prove the authentication of those credentials.",
            )
            .post_fields(&[
                FieldInfo::input("username", "Username"),
                FieldInfo::input("password", "Password"),
            ]),
        ),
        (
            "/api/token/refresh/",
            token_view(
                "Token Refresh",
                challenge,
                service.clone(),
                |s, data| async move { s.refresh(data).await },
            )
            .description(
                "Takes a refresh type JSON web token and returns an access type JSON web\n\
                 token if the refresh token is valid.",
            )
            .post_fields(&[
                FieldInfo::input("refresh", "Refresh"),
                FieldInfo::output("access", "Access"),
            ]),
        ),
        (
            "/api/token/verify/",
            token_view(
                "Token Verify",
                challenge,
                service.clone(),
                |s, data| async move { s.verify(data).await },
            )
            .description(
                "Takes a token and indicates if it is valid.  This view provides no\n\
                 information about a token's fitness for a particular use.",
            )
            .post_fields(&[FieldInfo::input("token", "Token")]),
        ),
        (
            "/api/token/blacklist/",
            token_view(
                "Token Blacklist",
                challenge,
                service,
                |s, data| async move { s.blacklist(data).await },
            )
            .description(
                "Takes a token and blacklists it. Must be used with the\n\
                 `rest_framework_simplejwt.token_blacklist` app installed.",
            )
            .post_fields(&[FieldInfo::input("refresh", "Refresh")]),
        ),
    ]
}
