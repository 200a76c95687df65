//! Provides what simplejwt's serializers do: obtain, refresh, verify and blacklist tokens.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::accounts::Accounts;
use crate::clock::{now, now_seconds};
use crate::db;
use crate::jwt::backends::TokenBackend;
use crate::jwt::exceptions::TokenError;
use crate::jwt::tokens::{Lifetimes, Token, TokenType};
use crate::models::tokens::{self, Blacklisting};
use crate::rest::ApiError;
use crate::rest::fields::{char_fields, expect_object};
use crate::rest::throttling::failures::{LoginCheck, LoginFailureLimiter};

pub struct TokenService {
    pub backend: Arc<TokenBackend>,
    pub accounts: Arc<Accounts>,
    pub login_failures: Arc<LoginFailureLimiter>,
    pub lifetimes: Lifetimes,
    pub rotate_refresh_tokens: bool,
    pub blacklist_after_rotation: bool,
}

impl TokenService {
    /// `TokenObtainPairSerializer`: credentials in, `{"refresh", "access"}` out; behind the
    /// login failure limits of `client`.
    pub async fn obtain_pair(
        &self,
        data: Value,
        client: Option<IpAddr>,
    ) -> Result<Value, ApiError> {
        let [username, password] = char_fields(&expect_object(data)?, ["username", "password"])?;
        let checked = self
            .login_failures
            .check(&self.accounts, &username, &password, client, |_| true)
            .await?;
        let user = match checked {
            LoginCheck::Passed(user) => user,
            LoginCheck::Failed => {
                return Err(ApiError::authentication_failed(
                    "No active account found with the given credentials",
                ));
            }
            LoginCheck::Locked { wait } => return Err(ApiError::throttled(wait)),
        };
        let issued_at = now_seconds();
        let refresh = Token::refresh_for_user(user.id, self.lifetimes, issued_at);
        let access = refresh.access_token(self.lifetimes, issued_at, now_seconds());
        let record = refresh.record(issued_at);
        db::run(self.accounts.pool(), move |conn| {
            tokens::record_outstanding(conn, &record)
        })
        .await?;
        Ok(json!({
            "refresh": refresh.encode(&self.backend),
            "access": access.encode(&self.backend),
        }))
    }

    /// `TokenRefreshSerializer`: a new access token and, with rotation, a new refresh token;
    /// the old one is blacklisted atomically, so of two concurrent refreshes one succeeds.
    pub async fn refresh(&self, data: Value) -> Result<Value, ApiError> {
        let refreshed_at = now_seconds();
        let refresh = self.refresh_token(data, "refresh").await?;
        if refresh.names_a_user() {
            let user = match refresh.user_id() {
                Some(id) => self.accounts.get_user(id).await?,
                None => None,
            };
            if !user.is_some_and(|user| user.is_active) {
                return Err(ApiError::authentication_failed(
                    "No active account found for the given token.",
                ));
            }
        }
        let access = refresh.access_token(self.lifetimes, refreshed_at, now_seconds());
        let mut response = Map::new();
        response.insert("access".into(), access.encode(&self.backend).into());
        if !self.rotate_refresh_tokens {
            return Ok(Value::Object(response));
        }
        let rotated = refresh.rotated(self.lifetimes, refreshed_at);
        let old = refresh.record(refreshed_at);
        let new = rotated.record(refreshed_at);
        let blacklist_old = self.blacklist_after_rotation;
        let outcome = db::run(self.accounts.pool(), move |conn| {
            if blacklist_old {
                tokens::rotate(conn, &old, Some(&new))
            } else {
                tokens::record_outstanding(conn, &new).map(|_| Blacklisting::Done)
            }
        })
        .await?;
        if outcome == Blacklisting::AlreadyBlacklisted {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        response.insert("refresh".into(), rotated.encode(&self.backend).into());
        Ok(Value::Object(response))
    }

    /// `TokenVerifySerializer`: any valid token, unless it is blacklisted (then a 400).
    pub async fn verify(&self, data: Value) -> Result<Value, ApiError> {
        let [raw] = char_fields(&expect_object(data)?, ["token"])?;
        let token =
            Token::parse(&raw, &self.backend, None, now()).map_err(TokenError::into_api_error)?;
        if self.is_blacklisted(&token).await? {
            return Err(ApiError::non_field_error(
                TokenError::Blacklisted.to_string(),
            ));
        }
        Ok(json!({}))
    }

    /// `TokenBlacklistSerializer`: blacklists a valid refresh token.
    pub async fn blacklist(&self, data: Value) -> Result<Value, ApiError> {
        let refresh = self.refresh_token(data, "refresh").await?;
        let record = refresh.record(now_seconds());
        let outcome = db::run(self.accounts.pool(), move |conn| {
            tokens::blacklist(conn, &record)
        })
        .await?;
        if outcome == Blacklisting::AlreadyBlacklisted {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        Ok(json!({}))
    }

    /// The valid, not blacklisted refresh token in `field`.
    async fn refresh_token(&self, data: Value, field: &str) -> Result<Token, ApiError> {
        let [raw] = char_fields(&expect_object(data)?, [field])?;
        let token = Token::parse(&raw, &self.backend, Some(TokenType::Refresh), now())
            .map_err(TokenError::into_api_error)?;
        if self.is_blacklisted(&token).await? {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        Ok(token)
    }

    async fn is_blacklisted(&self, token: &Token) -> Result<bool, ApiError> {
        let jti = token.jti().to_string();
        Ok(db::run(self.accounts.pool(), move |conn| {
            tokens::is_blacklisted(conn, &jti)
        })
        .await?)
    }
}
