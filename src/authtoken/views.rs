//! Provides DRF's `obtain_auth_token` view: `{"username", "password"}` in, `{"token"}` out,
//! behind the login failure limits like every password check.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use serde_json::{Map, Value, json};

use crate::authtoken::AuthTokens;
use crate::rest::fields::expect_object;
use crate::rest::metadata::FieldInfo;
use crate::rest::throttling::failures::{LoginCheck, LoginFailureLimiter};
use crate::rest::{APIView, ApiError, Response};

/// DRF's `ObtainAuthToken`: the default authentication classes (DRF authenticates first, so a
/// bad `Authorization: Token` header is 401 "Invalid token." before any password check), no
/// permission, the default throttles.
pub fn obtain_auth_token_view(
    tokens: Arc<AuthTokens>,
    login_failures: Arc<LoginFailureLimiter>,
) -> APIView {
    APIView::new("Obtain Auth Token")
        .post_fields(&[
            FieldInfo::input("username", "Username"),
            FieldInfo::input("password", "Password"),
            FieldInfo::output("token", "Token"),
        ])
        .permission_classes(Vec::new())
        .post(move |mut request| {
            let (tokens, login_failures) = (Arc::clone(&tokens), Arc::clone(&login_failures));
            async move {
                let data = expect_object(request.data().await?)?;
                let (username, password) = credentials(&data)?;
                let checked = login_failures
                    .check(
                        &tokens.accounts,
                        &username,
                        &password,
                        request.client_ip,
                        |_| true,
                    )
                    .await?;
                let user = match checked {
                    LoginCheck::Passed(user) => user,
                    LoginCheck::Failed => {
                        return Err(ApiError::non_field_error(
                            "Unable to log in with provided credentials.",
                        ));
                    }
                    LoginCheck::Locked { wait } => return Err(ApiError::throttled(wait)),
                };
                let Some(key) = tokens.key_for(&user).await? else {
                    // The password changed (or sessions ended) after it was checked.
                    return Err(ApiError::non_field_error(
                        "Unable to log in with provided credentials.",
                    ));
                };
                let mut response = Response::ok(json!({ "token": key }));
                // A credential: no cache on the way keeps it (RFC 6749 §5.1's rule).
                response.headers.extend([
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (header::PRAGMA, HeaderValue::from_static("no-cache")),
                ]);
                Ok(response)
            }
        })
}

/// `AuthTokenSerializer`'s fields: a username (trimmed) and a password (as typed); both
/// required strings; a blank one is DRF's "Must include" error.
fn credentials(data: &Map<String, Value>) -> Result<(String, String), ApiError> {
    let mut errors = Map::new();
    let mut field = |name: &str, trim: bool| match data.get(name) {
        None => {
            errors.insert(name.into(), json!(["This field is required."]));
            None
        }
        Some(Value::Null) => {
            errors.insert(name.into(), json!(["This field may not be null."]));
            None
        }
        Some(Value::String(text)) if text.contains('\0') => {
            errors.insert(name.into(), json!(["Null characters are not allowed."]));
            None
        }
        Some(Value::String(text)) => Some(if trim {
            text.trim().to_string()
        } else {
            text.clone()
        }),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.insert(name.into(), json!(["Not a valid string."]));
            None
        }
    };
    let username = field("username", true);
    let password = field("password", false);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    if username.is_empty() || password.is_empty() {
        let mut errors = Map::new();
        for (name, value) in [("username", &username), ("password", &password)] {
            if value.is_empty() {
                errors.insert(name.into(), json!(["This field may not be blank."]));
            }
        }
        return Err(ApiError::validation(errors));
    }
    Ok((username, password))
}
