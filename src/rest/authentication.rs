//! Provides the pluggable authentication policies: the trait and DRF's `BasicAuthentication`.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;

use crate::accounts::Accounts;
use crate::models::users::User;
use crate::rest::exceptions::ApiError;
use crate::rest::request::Request;
use crate::rest::throttling::failures::{LoginCheck, LoginFailureLimiter};

#[async_trait(?Send)]
pub trait Authentication: Send + Sync {
    /// `Ok(None)` when the request carries no credentials of this kind (the next class tries),
    /// `Ok(Some((user, auth)))` when they are valid (DRF's `request.user` and `request.auth`:
    /// the token's claims for JWT, nothing for a password or a session), `Err` (a 401/403)
    /// when they are present but bad.
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<Value>)>, ApiError>;

    /// The `WWW-Authenticate` challenge, when this scheme has one: it makes failures 401, not 403.
    fn authenticate_header(&self) -> Option<String> {
        None
    }

    /// The class name the metrics report (the type's name unless overridden).
    fn name(&self) -> &'static str {
        crate::metrics::class_name(std::any::type_name::<Self>())
    }
}

/// The raw `Authorization` header; repeated headers are joined with `,`, as the WSGI server
/// does before Django sees them.
pub fn authorization_header(request: &Request) -> Cow<'_, [u8]> {
    header_value(request, "authorization")
}

/// The raw value of a header (lowercase `name`), repeated headers joined with `,`.
pub fn header_value<'a>(request: &'a Request, name: &str) -> Cow<'a, [u8]> {
    let mut values = request.http.headers().get_all(name);
    let first = values.next().map_or(&b""[..], |v| v.as_bytes());
    match values.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut joined = [first, second.as_bytes()].join(&b","[..]);
            for value in values {
                joined.push(b',');
                joined.extend_from_slice(value.as_bytes());
            }
            Cow::Owned(joined)
        }
    }
}

/// A header value split on ASCII whitespace, as DRF's `get_authorization_header().split()`.
pub fn split_parts(header: &[u8]) -> Vec<&[u8]> {
    header
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty())
        .collect()
}

/// HTTP Basic authentication against the users table, behind the login failure limits.
pub struct BasicAuthentication {
    pub accounts: Arc<Accounts>,
    pub login_failures: Arc<LoginFailureLimiter>,
    pub www_authenticate_realm: String,
}

/// Decodes Basic credentials into (username, password), with DRF's error messages.
pub fn parse_basic_credentials(parts: &[&[u8]]) -> Result<(String, String), ApiError> {
    match parts.len() {
        1 => {
            return Err(ApiError::authentication_failed(
                "Invalid basic header. No credentials provided.",
            ));
        }
        2 => {}
        _ => {
            return Err(ApiError::authentication_failed(
                "Invalid basic header. Credentials string should not contain spaces.",
            ));
        }
    }
    let bad_encoding = || {
        ApiError::authentication_failed(
            "Invalid basic header. Credentials not correctly base64 encoded.",
        )
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(parts[1])
        .map_err(|_| bad_encoding())?;
    // DRF tries UTF-8, then Latin-1 (every byte is a Latin-1 character).
    let text = String::from_utf8(decoded.clone())
        .unwrap_or_else(|_| decoded.iter().map(|&b| b as char).collect());
    let (username, password) = text.split_once(':').ok_or_else(bad_encoding)?;
    Ok((username.to_string(), password.to_string()))
}

#[async_trait(?Send)]
impl Authentication for BasicAuthentication {
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<Value>)>, ApiError> {
        let header = authorization_header(request);
        let parts = split_parts(&header);
        if parts
            .first()
            .is_none_or(|scheme| !scheme.eq_ignore_ascii_case(b"basic"))
        {
            return Ok(None);
        }
        let (username, password) = parse_basic_credentials(&parts)?;
        let checked = self
            .login_failures
            .check(
                &self.accounts,
                &username,
                &password,
                request.client_ip,
                |_| true,
            )
            .await?;
        match checked {
            LoginCheck::Passed(user) => Ok(Some((user, None))),
            LoginCheck::Failed => Err(ApiError::authentication_failed(
                "Invalid username/password.",
            )),
            LoginCheck::Locked { wait } => Err(ApiError::throttled(wait)),
        }
    }

    fn authenticate_header(&self) -> Option<String> {
        Some(format!("Basic realm=\"{}\"", self.www_authenticate_realm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(err: ApiError) -> String {
        err.body["detail"].as_str().unwrap().to_string()
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        let parts: Vec<&[u8]> = vec![b"Basic", encoded.as_bytes()];
        let (user, password) = parse_basic_credentials(&parts).unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("alice", "pa:ss"));
    }

    #[test]
    fn malformed_basic_headers_get_drf_messages() {
        assert!(
            detail(parse_basic_credentials(&[b"Basic"]).unwrap_err()).contains("No credentials")
        );
        assert!(
            detail(parse_basic_credentials(&[b"Basic", b"a", b"b"]).unwrap_err())
                .contains("should not contain spaces")
        );
        assert!(
            detail(parse_basic_credentials(&[b"Basic", b"!!!"]).unwrap_err())
                .contains("not correctly base64")
        );
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert!(
            detail(parse_basic_credentials(&[b"Basic", no_colon.as_bytes()]).unwrap_err())
                .contains("not correctly base64")
        );
    }
}
