//! Provides `JWTAuthentication`: a Bearer access token in the `Authorization` header.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::accounts::{Accounts, AccountsError};
use crate::clock::now;
use crate::db;
use crate::jwt::backends::TokenBackend;
use crate::jwt::exceptions::TokenError;
use crate::jwt::revocations::RevokedFamilies;
use crate::jwt::revoke::PasswordClaim;
use crate::jwt::tokens::{Token, TokenType, UserIdField};
use crate::models::tokens;
use crate::models::users::User;
use crate::rest::ApiError;
use crate::rest::authentication::{Authentication, header_value, split_parts};
use crate::rest::request::Request;

pub struct JWTAuthentication {
    pub backend: Arc<TokenBackend>,
    pub accounts: Arc<Accounts>,
    pub header_types: Vec<String>,
    /// simplejwt's `AUTH_HEADER_NAME`, lowercase (`authorization` by default).
    pub header_name: String,
    /// simplejwt's `CHECK_USER_IS_ACTIVE`: an inactive user's token is refused.
    pub check_user_is_active: bool,
    pub www_authenticate_realm: String,
    /// With `TOKEN_FAMILIES`: access tokens of a revoked family are refused.
    pub revoked: Option<Arc<RevokedFamilies>>,
    /// simplejwt's `JWTStatelessUserAuthentication`: the user is the token's (`TokenUser`),
    /// never read from the database; for a service that has no users table of its own.
    pub stateless: bool,
    /// simplejwt's `AUTH_TOKEN_CLASSES`: the token types accepted, tried in order.
    pub token_types: Vec<TokenType>,
    /// simplejwt's `USER_ID_FIELD`: what the user claim names.
    pub user_id_field: UserIdField,
    /// simplejwt's `CHECK_REVOKE_TOKEN`: a token issued for another password is refused.
    pub password_claim: Option<Arc<PasswordClaim>>,
}

/// The user a token's user claim names (by id or by username), `None` when there is none.
pub async fn user_of(
    accounts: &Accounts,
    token: &Token,
    field: UserIdField,
) -> Result<Option<User>, AccountsError> {
    match field {
        UserIdField::Id => match token.user_id() {
            Some(id) => accounts.get_user(id).await,
            None => Ok(None),
        },
        UserIdField::Username => match token.user_name() {
            Some(name) => accounts.get_user_by_username(&name).await,
            None => Ok(None),
        },
    }
}

impl JWTAuthentication {
    /// The raw token, `None` when the header is absent or of another scheme.
    fn raw_token<'a>(&self, parts: &[&'a [u8]]) -> Result<Option<&'a [u8]>, ApiError> {
        let Some(scheme) = parts.first() else {
            return Ok(None);
        };
        if !self.header_types.iter().any(|t| t.as_bytes() == *scheme) {
            return Ok(None);
        }
        if parts.len() != 2 {
            return Err(ApiError::authentication_failed_with(json!({
                "detail": "Authorization header must contain two space-delimited values",
                "code": "bad_authorization_header",
            })));
        }
        Ok(Some(parts[1]))
    }

    /// simplejwt's `get_validated_token`: the first token class that accepts the token; when
    /// none does, every class's reason.
    async fn validated_token(&self, raw: &[u8]) -> Result<Token, ApiError> {
        let raw = std::str::from_utf8(raw).unwrap_or("");
        self.backend.prepare(raw).await;
        let mut messages = Vec::new();
        for &kind in &self.token_types {
            let checked = match Token::parse(raw, &self.backend, Some(kind), now()) {
                Ok(token) if kind == TokenType::Sliding => self.not_blacklisted(token).await?,
                other => other,
            };
            match checked {
                Ok(token) => return Ok(token),
                Err(error) => messages.push((kind, error.to_string())),
            }
        }
        Err(not_valid_as(&messages))
    }

    /// A sliding token is blacklisted as a refresh token is (simplejwt's `BlacklistMixin`).
    async fn not_blacklisted(&self, token: Token) -> Result<Result<Token, TokenError>, ApiError> {
        let jti = token.jti().to_string();
        let blacklisted = db::run(self.accounts.pool(), move |conn| {
            tokens::is_blacklisted(conn, &jti)
        })
        .await?;
        Ok(if blacklisted {
            Err(TokenError::Blacklisted)
        } else {
            Ok(token)
        })
    }

    /// Refuses a token of a revoked family or, for a token of no family, one issued before
    /// the user's token epoch (password change, deactivation, logout everywhere).
    ///
    /// Every move of the epoch revokes the user's families in the same transaction, so a
    /// family's revocation says exactly which tokens ended; the epoch counts whole seconds and
    /// would also refuse a pair obtained in the same second, just after.
    async fn check_revocation(&self, token: &Token, user: &User) -> Result<(), ApiError> {
        let revoked = match (&self.revoked, token.family()) {
            (Some(revoked), Some(sid)) => revoked.is_revoked(sid).await?,
            _ => user.issued_before_epoch(token.issued_at()),
        };
        if revoked {
            return Err(not_valid(REVOKED));
        }
        Ok(())
    }

    async fn get_user(&self, token: &Token) -> Result<User, ApiError> {
        if !token.has_user_id() {
            return Err(failure(
                "Token contained no recognizable user identification",
                "token_not_valid",
            ));
        }
        if self.stateless {
            return token_user(token);
        }
        let user = user_of(&self.accounts, token, self.user_id_field).await?;
        match user {
            None => Err(failure("User not found", "user_not_found")),
            Some(user) if self.check_user_is_active && !user.is_active => {
                Err(failure("User is inactive", "user_inactive"))
            }
            Some(user) => {
                if let Some(claim) = &self.password_claim {
                    claim.check(token, &user)?;
                }
                Ok(user)
            }
        }
    }
}

/// simplejwt's `TokenUser`: the user the token describes (`username`, `is_staff`,
/// `is_superuser` from its claims when present), always active. Its id is whatever the token
/// names, as simplejwt takes it: a number is the user's `id`; anything else (a service name
/// such as `"svc-billing"`) is kept as `token_id`, the id 0 (`User::pk` gives it back).
fn token_user(token: &Token) -> Result<User, ApiError> {
    let claim = |name: &str| token.claim(name);
    let (id, token_id) = match (token.user_id(), claim("user_id")) {
        (Some(id), _) => (id, None),
        (None, Some(Value::String(named))) => (0, Some(named.clone())),
        (None, Some(other)) => (0, Some(other.to_string())),
        (None, None) => {
            return Err(failure(
                "Token contained no recognizable user identification",
                "token_not_valid",
            ));
        }
    };
    Ok(User {
        id,
        username: claim("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        is_active: true,
        is_staff: claim("is_staff").and_then(Value::as_bool).unwrap_or(false),
        is_superuser: claim("is_superuser")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tokens_valid_after: 0,
        token_id,
        password_tag: Default::default(),
    })
}

/// What an access token of an ended session is told.
const REVOKED: &str = "Token is revoked";

/// simplejwt's answer for an access token that does not validate.
fn not_valid(message: &str) -> ApiError {
    not_valid_as(&[(TokenType::Access, message.to_string())])
}

/// simplejwt's `InvalidToken` listing why each token class refused the token.
fn not_valid_as(messages: &[(TokenType, String)]) -> ApiError {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(kind, message)| {
            json!({
                "token_class": kind.class_name(),
                "token_type": kind.as_str(),
                "message": message,
            })
        })
        .collect();
    ApiError::authentication_failed_with(json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": messages,
    }))
}

fn failure(detail: &str, code: &str) -> ApiError {
    ApiError::authentication_failed_with(json!({ "detail": detail, "code": code }))
}

#[async_trait(?Send)]
impl Authentication for JWTAuthentication {
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<Value>)>, ApiError> {
        let header = header_value(request, &self.header_name);
        let parts = split_parts(&header);
        let Some(raw) = self.raw_token(&parts)? else {
            return Ok(None);
        };
        let token = self.validated_token(raw).await?;
        let user = self.get_user(&token).await?;
        // A token user has no epoch to compare with; its family can still be revoked.
        self.check_revocation(&token, &user).await?;
        Ok(Some((user, Some(Value::Object(token.claims)))))
    }

    fn authenticate_header(&self) -> Option<String> {
        Some(format!(
            "{} realm=\"{}\"",
            self.header_types[0], self.www_authenticate_realm
        ))
    }
}
