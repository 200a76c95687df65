//! Provides DRF's `TokenAuthentication`: `Authorization: Token <key>`, with DRF's messages.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::authtoken::AuthTokens;
use crate::models::users::User;
use crate::rest::authentication::{Authentication, authorization_header, split_parts};
use crate::rest::{ApiError, Request};

pub struct TokenAuthentication {
    pub tokens: Arc<AuthTokens>,
}

/// DRF's `TokenAuthentication.keyword`, also its challenge.
const KEYWORD: &str = "Token";

#[async_trait(?Send)]
impl Authentication for TokenAuthentication {
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<Value>)>, ApiError> {
        let header = authorization_header(request);
        let parts = split_parts(&header);
        if parts
            .first()
            .is_none_or(|scheme| !scheme.eq_ignore_ascii_case(KEYWORD.as_bytes()))
        {
            return Ok(None);
        }
        let key = match parts.len() {
            1 => {
                return Err(ApiError::authentication_failed(
                    "Invalid token header. No credentials provided.",
                ));
            }
            2 => std::str::from_utf8(parts[1]).map_err(|_| {
                ApiError::authentication_failed(
                    "Invalid token header. Token string should not contain invalid characters.",
                )
            })?,
            _ => {
                return Err(ApiError::authentication_failed(
                    "Invalid token header. Token string should not contain spaces.",
                ));
            }
        };
        match self.tokens.user_of(key).await? {
            Some(user) if user.is_active => Ok(Some((user, None))),
            Some(_) => Err(ApiError::authentication_failed("User inactive or deleted.")),
            // A deleted user's keys are deleted with it (DRF's cascade): an unknown key.
            None => Err(ApiError::authentication_failed("Invalid token.")),
        }
    }

    fn authenticate_header(&self) -> Option<String> {
        Some(KEYWORD.to_string())
    }
}
