//! Provides `TokenError`, simplejwt's token failures with their exact messages.

use serde_json::json;

use crate::rest::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token is invalid")]
    Invalid,
    #[error("Token is expired")]
    Expired,
    #[error("Token has no 'exp' claim")]
    NoExp,
    #[error("Token has no id")]
    NoId,
    #[error("Token has no type")]
    NoType,
    #[error("Token has wrong type")]
    WrongType,
    #[error("Token is blacklisted")]
    Blacklisted,
}

impl TokenError {
    /// simplejwt's `InvalidToken` as the token views raise it: `{"detail", "code"}`.
    pub fn into_api_error(self) -> ApiError {
        ApiError::authentication_failed_with(json!({
            "detail": self.to_string(),
            "code": "token_not_valid",
        }))
    }
}
