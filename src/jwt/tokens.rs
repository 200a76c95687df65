//! Provides simplejwt's tokens: creating refresh/access claims and validating a presented token.

use serde_json::Value;

use crate::jwt::backends::{Claims, TokenBackend, claim};
use crate::jwt::exceptions::TokenError;
use crate::models::tokens::TokenRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Access,
    Refresh,
    /// simplejwt's `SlidingToken`: authenticates like an access token, and is refreshed (a new
    /// `exp`) until its `refresh_exp`.
    Sliding,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
            TokenType::Sliding => "sliding",
        }
    }

    /// simplejwt's class name, in the error that lists every class a token was tried as.
    pub fn class_name(self) -> &'static str {
        match self {
            TokenType::Access => "AccessToken",
            TokenType::Refresh => "RefreshToken",
            TokenType::Sliding => "SlidingToken",
        }
    }
}

impl std::str::FromStr for TokenType {
    type Err = String;

    /// `AUTH_TOKEN_CLASSES` names: `access` and `sliding`.
    fn from_str(name: &str) -> Result<TokenType, String> {
        match name {
            "access" => Ok(TokenType::Access),
            "sliding" => Ok(TokenType::Sliding),
            other => Err(format!(
                "unknown token class {other:?} (known: access, sliding)"
            )),
        }
    }
}

/// simplejwt's `USER_ID_FIELD`: what the user claim holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdField {
    /// The primary key, as a string (`"1"`).
    Id,
    /// The username.
    Username,
}

impl std::str::FromStr for UserIdField {
    type Err = String;

    fn from_str(value: &str) -> Result<UserIdField, String> {
        match value {
            "id" => Ok(UserIdField::Id),
            "username" => Ok(UserIdField::Username),
            other => Err(format!("{other:?} is not id or username")),
        }
    }
}

/// simplejwt's `SLIDING_TOKEN_LIFETIME`, `SLIDING_TOKEN_REFRESH_LIFETIME` and
/// `SLIDING_TOKEN_REFRESH_EXP_CLAIM`.
#[derive(Debug, Clone)]
pub struct SlidingSettings {
    pub lifetime: i64,
    pub refresh_lifetime: i64,
    pub refresh_exp_claim: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: i64,
    pub refresh: i64,
}

/// A validated token's claims.
#[derive(Debug, Clone)]
pub struct Token {
    pub claims: Claims,
}

pub fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Token {
    /// simplejwt's `Token(raw)`: decode and verify, then require `exp`, `jti` and, when
    /// `expected` is given, that `token_type` (`UntypedToken` passes `None`).
    pub fn parse(
        raw: &str,
        backend: &TokenBackend,
        expected: Option<TokenType>,
        now: f64,
    ) -> Result<Token, TokenError> {
        let claims = backend.decode(raw, now)?;
        if claim(&claims, "exp").is_none() {
            return Err(TokenError::NoExp);
        }
        if claim(&claims, "jti").is_none() {
            return Err(TokenError::NoId);
        }
        if let Some(expected) = expected {
            match claim(&claims, "token_type") {
                None => return Err(TokenError::NoType),
                Some(kind) if kind.as_str() != Some(expected.as_str()) => {
                    return Err(TokenError::WrongType);
                }
                Some(_) => {}
            }
        }
        Ok(Token { claims })
    }

    /// A new refresh token for the user (`RefreshToken.for_user`).
    pub fn refresh_for_user(user_id: i32, lifetimes: Lifetimes, now: i64) -> Token {
        let mut claims = Claims::new();
        claims.insert("token_type".into(), "refresh".into());
        claims.insert("exp".into(), (now + lifetimes.refresh).into());
        claims.insert("iat".into(), now.into());
        claims.insert("jti".into(), new_jti().into());
        claims.insert("user_id".into(), user_id.to_string().into());
        Token { claims }
    }

    /// A new sliding token for the user (`SlidingToken.for_user`).
    pub fn sliding_for_user(user_id: i32, sliding: &SlidingSettings, now: i64) -> Token {
        let mut claims = Claims::new();
        claims.insert("token_type".into(), "sliding".into());
        claims.insert("exp".into(), (now + sliding.lifetime).into());
        claims.insert("iat".into(), now.into());
        claims.insert("jti".into(), new_jti().into());
        claims.insert(
            sliding.refresh_exp_claim.clone(),
            (now + sliding.refresh_lifetime).into(),
        );
        claims.insert("user_id".into(), user_id.to_string().into());
        Token { claims }
    }

    /// The same sliding token with a new `exp` and `iat` (same `jti`), as simplejwt's sliding
    /// refresh does.
    pub fn slid(&self, sliding: &SlidingSettings, now: i64) -> Token {
        let mut claims = self.claims.clone();
        claims.insert("exp".into(), (now + sliding.lifetime).into());
        claims.insert("iat".into(), now.into());
        Token { claims }
    }

    /// The access token of a refresh token: its claims, with type, times and id of its own.
    /// `exp` counts from `refreshed_at`, the refresh token's creation instant.
    pub fn access_token(&self, lifetimes: Lifetimes, refreshed_at: i64, now: i64) -> Token {
        let mut claims = Claims::new();
        claims.insert("token_type".into(), "access".into());
        claims.insert("exp".into(), (refreshed_at + lifetimes.access).into());
        claims.insert("iat".into(), now.into());
        claims.insert("jti".into(), new_jti().into());
        for (name, value) in &self.claims {
            if !["token_type", "exp", "iat", "jti"].contains(&name.as_str()) {
                claims.insert(name.clone(), value.clone());
            }
        }
        Token { claims }
    }

    /// The same refresh token with a new id and lifetime (rotation), claims in place.
    pub fn rotated(&self, lifetimes: Lifetimes, now: i64) -> Token {
        let mut claims = self.claims.clone();
        claims.insert("jti".into(), new_jti().into());
        claims.insert("exp".into(), (now + lifetimes.refresh).into());
        claims.insert("iat".into(), now.into());
        Token { claims }
    }

    /// A claim by name (`backends::claim`: no hashing for a token's few claims).
    pub fn claim(&self, name: &str) -> Option<&Value> {
        claim(&self.claims, name)
    }

    pub fn jti(&self) -> &str {
        self.claim("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn exp(&self) -> i64 {
        self.claim("exp")
            .and_then(Value::as_f64)
            .map_or(0, |exp| exp as i64)
    }

    /// The user claim as a username (`USER_ID_FIELD = "username"`): a string, or a number
    /// read as its text, as Django's lookup would.
    pub fn user_name(&self) -> Option<String> {
        match self.claim("user_id")? {
            Value::String(name) => Some(name.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `iat` in whole seconds (0 when absent: such a token predates every epoch but the first).
    pub fn issued_at(&self) -> i64 {
        self.claim("iat")
            .and_then(Value::as_f64)
            .map_or(0, |iat| iat as i64)
    }

    /// The refresh family (`sid`), when the token carries one.
    pub fn family(&self) -> Option<&str> {
        self.claim("sid").and_then(Value::as_str)
    }

    /// Starts a family: the refresh token (and the access tokens derived from it) carry `sid`.
    pub fn with_family(mut self, sid: &str) -> Token {
        self.claims.insert("sid".into(), sid.into());
        self
    }

    pub fn has_user_id(&self) -> bool {
        self.claim("user_id").is_some()
    }

    /// The `user_id` claim as a primary key, as Django's ORM reads it: `"1"`, `1`, `1.0` and
    /// `true` name user 1; anything else names no user.
    pub fn user_id(&self) -> Option<i32> {
        match self.claim("user_id")? {
            Value::String(s) => s.trim().parse().ok(),
            // Django's IntegerField lookup runs `int(value)`: 1.5 names user 1.
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .and_then(|n| i32::try_from(n).ok()),
            Value::Bool(flag) => Some(i32::from(*flag)),
            _ => None,
        }
    }

    /// Whether the `user_id` claim is present and truthy in Python's sense: simplejwt's refresh
    /// checks the user only then (`null`, `0`, `false`, `""` skip the check).
    pub fn names_a_user(&self) -> bool {
        match self.claim("user_id") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Object(map)) => !map.is_empty(),
            Some(Value::Bool(true)) => true,
        }
    }

    pub fn record(&self, created_at: i64) -> TokenRecord {
        TokenRecord {
            jti: self.jti().to_string(),
            // A falsy claim names no user (and was not checked), so it is not a foreign key.
            user_id: self.user_id().filter(|_| self.names_a_user()),
            created_at,
            expires_at: self.exp(),
        }
    }

    /// The signed token; `None` on a verify-only instance.
    pub fn encode(&self, backend: &TokenBackend) -> Option<String> {
        backend.encode(&self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::algorithms::JwtAlgorithm;

    const LIFETIMES: Lifetimes = Lifetimes {
        access: 300,
        refresh: 86_400,
    };

    #[test]
    fn refresh_and_access_claims_follow_simplejwt() {
        let refresh = Token::refresh_for_user(7, LIFETIMES, 1000);
        let keys: Vec<_> = refresh.claims.keys().map(String::as_str).collect();
        assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id"]);
        assert_eq!(refresh.claims["user_id"], "7");
        assert_eq!(refresh.jti().len(), 32);
        let access = refresh.access_token(LIFETIMES, 1000, 1001);
        assert_eq!(access.claims["exp"], 1300);
        assert_eq!(access.claims["iat"], 1001);
        assert_eq!(access.claims["token_type"], "access");
        assert_ne!(access.jti(), refresh.jti());
        let keys: Vec<_> = access.claims.keys().map(String::as_str).collect();
        assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id"]);
    }

    #[test]
    fn missing_claims_are_reported_in_order() {
        let backend = TokenBackend::new(&[1u8; 32], JwtAlgorithm::HS256, 0);
        let encode = |v: serde_json::Value| backend.encode(v.as_object().unwrap()).unwrap();
        let check =
            |raw: String| Token::parse(&raw, &backend, Some(TokenType::Access), 10.0).unwrap_err();
        assert_eq!(
            check(encode(serde_json::json!({"jti": "a"}))),
            TokenError::NoExp
        );
        assert_eq!(
            check(encode(serde_json::json!({"exp": 99}))),
            TokenError::NoId
        );
        assert_eq!(
            check(encode(serde_json::json!({"exp": 99, "jti": "a"}))),
            TokenError::NoType
        );
        assert_eq!(
            check(encode(
                serde_json::json!({"exp": 99, "jti": "a", "token_type": "refresh"})
            )),
            TokenError::WrongType
        );
    }

    #[test]
    fn user_id_accepts_strings_and_numbers_only() {
        let token = |v: serde_json::Value| Token {
            claims: serde_json::json!({"user_id": v})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(token("12".into()).user_id(), Some(12));
        assert_eq!(token(12.into()).user_id(), Some(12));
        assert_eq!(token(12.0.into()).user_id(), Some(12));
        assert_eq!(token(true.into()).user_id(), Some(1));
        assert_eq!(token(1.5.into()).user_id(), Some(1));
        assert_eq!(token(1e12.into()).user_id(), None);
        assert_eq!(token("abc".into()).user_id(), None);
        assert_eq!(token(serde_json::json!([1])).user_id(), None);
    }

    #[test]
    fn falsy_user_ids_name_no_user() {
        let token = |v: serde_json::Value| Token {
            claims: serde_json::json!({"user_id": v})
                .as_object()
                .unwrap()
                .clone(),
        };
        for falsy in [serde_json::json!(null), 0.into(), false.into(), "".into()] {
            assert!(!token(falsy.clone()).names_a_user(), "{falsy}");
        }
        for truthy in [serde_json::json!("0"), 1.into(), "abc".into(), true.into()] {
            assert!(token(truthy.clone()).names_a_user(), "{truthy}");
        }
    }
}
