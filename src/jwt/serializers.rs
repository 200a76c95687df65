//! Provides what simplejwt's serializers do: obtain, refresh, verify and blacklist tokens.

use std::net::IpAddr;
use std::sync::Arc;

use diesel::Connection;
use serde_json::{Map, Value, json};

use crate::accounts::Accounts;
use crate::clock::{now, now_seconds};
use crate::db;
use crate::jwt::authentication::user_of;
use crate::jwt::backends::TokenBackend;
use crate::jwt::exceptions::TokenError;
use crate::jwt::families::{self, Device, Families, Rotation};
use crate::jwt::revoke::PasswordClaim;
use crate::jwt::tokens::{Lifetimes, SlidingSettings, Token, TokenType, UserIdField};
use crate::models::tokens::TokenRecord;
use crate::models::tokens::{self, Blacklisting};
use crate::models::users::{self, User};
use crate::rest::ApiError;
use crate::rest::fields::{char_fields, expect_object};
use crate::rest::throttling::failures::{LoginCheck, LoginFailureLimiter};

/// A project's own claims for a user, added to every new refresh token (and so to the access
/// tokens made from it), as overriding simplejwt's `get_token` does. Claims portcullis writes
/// itself (`token_type`, `exp`, `iat`, `jti`, `user_id`, `sid`) cannot be replaced.
pub type TokenClaims = Arc<dyn Fn(&User) -> Map<String, Value> + Send + Sync>;

/// The claims a project's hook cannot set.
const RESERVED_CLAIMS: [&str; 8] = [
    "token_type",
    "exp",
    "iat",
    "jti",
    "user_id",
    "sid",
    "aud",
    "iss",
];

pub struct TokenService {
    pub backend: Arc<TokenBackend>,
    pub accounts: Arc<Accounts>,
    pub login_failures: Arc<LoginFailureLimiter>,
    pub lifetimes: Lifetimes,
    pub rotate_refresh_tokens: bool,
    pub blacklist_after_rotation: bool,
    /// simplejwt's `CHECK_USER_IS_ACTIVE` (refresh of an inactive user's token).
    pub check_user_is_active: bool,
    /// simplejwt's `UPDATE_LAST_LOGIN`.
    pub update_last_login: bool,
    /// Sliding tokens' lifetimes and refresh claim.
    pub sliding: SlidingSettings,
    /// simplejwt's `USER_ID_FIELD`.
    pub user_id_field: UserIdField,
    /// With `TOKEN_FAMILIES`: refresh families, reuse detection, sessions that end.
    pub families: Option<Families>,
    pub token_claims: Option<TokenClaims>,
    /// simplejwt's `CHECK_REVOKE_TOKEN`: new tokens carry the password claim; a refresh token
    /// issued for another password than the user's current one is refused.
    pub password_claim: Option<Arc<PasswordClaim>>,
}

impl TokenService {
    /// `TokenObtainSerializer.validate`: the active user the posted credentials name, behind
    /// the login failure limits of the device's address.
    async fn credentials_user(&self, data: Value, device: &Device) -> Result<User, ApiError> {
        let [username, password] = char_fields(&expect_object(data)?, ["username", "password"])?;
        let checked = self
            .login_failures
            .check(&self.accounts, &username, &password, device.ip, |_| true)
            .await?;
        match checked {
            LoginCheck::Passed(user) => Ok(user),
            LoginCheck::Failed => Err(no_active_account()),
            LoginCheck::Locked { wait } => Err(ApiError::throttled(wait)),
        }
    }

    /// The project's own claims (`TokenClaims`), never over one portcullis writes.
    fn add_custom_claims(&self, token: &mut Token, user: &User) {
        let Some(hook) = &self.token_claims else {
            return;
        };
        for (name, value) in hook(user) {
            let reserved = RESERVED_CLAIMS.contains(&name.as_str())
                || name == self.sliding.refresh_exp_claim
                || self
                    .password_claim
                    .as_ref()
                    .is_some_and(|claim| claim.name == name);
            if !reserved {
                token.claims.insert(name, value);
            }
        }
    }

    /// The claims of a new refresh or sliding token besides portcullis's own: the project's,
    /// then the password claim.
    fn add_user_claims(&self, token: &mut Token, user: &User) {
        self.name_user(token, user);
        self.add_custom_claims(token, user);
        if let Some(claim) = &self.password_claim {
            claim.add(token, user);
        }
    }

    /// `USER_ID_FIELD = "username"`: the user claim holds the username instead of the id.
    fn name_user(&self, token: &mut Token, user: &User) {
        if self.user_id_field == UserIdField::Username {
            token
                .claims
                .insert("user_id".into(), user.username.clone().into());
        }
    }

    /// The token's bookkeeping row; with usernames in tokens, the user's id is the one known
    /// here (a username that looks like a number must not name another user's id).
    fn record(&self, token: &Token, at: i64, user: Option<&User>) -> TokenRecord {
        let record = token.record(at);
        match self.user_id_field {
            UserIdField::Id => record,
            UserIdField::Username => TokenRecord {
                user_id: user.map(|user| user.id),
                ..record
            },
        }
    }

    /// Signs a new token (every caller checked `require_signing` before changing anything).
    fn sign(&self, token: &Token) -> Result<String, ApiError> {
        token
            .encode(&self.backend)
            .ok_or_else(|| ApiError::internal("a token could not be signed"))
    }

    /// A verify-only instance (a public key, no private key) issues no tokens: 503, saying so.
    fn require_signing(&self) -> Result<(), ApiError> {
        if self.backend.can_sign() {
            return Ok(());
        }
        Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": "This server only verifies tokens (it has no JWT_SIGNING_KEY); \
                    obtain and refresh them from the service that issues them."}),
        ))
    }

    /// `TokenObtainPairSerializer`: credentials in, `{"refresh", "access"}` out; behind the
    /// login failure limits of the device's address. With families, the pair starts one.
    pub async fn obtain_pair(&self, data: Value, device: &Device) -> Result<Value, ApiError> {
        self.require_signing()?;
        let user = self.credentials_user(data, device).await?;
        let issued_at = now_seconds();
        let mut refresh = Token::refresh_for_user(user.id, self.lifetimes, issued_at);
        self.add_user_claims(&mut refresh, &user);
        let family = match &self.families {
            Some(families) => {
                let (with_family, family) = families.start(refresh, user.id, device);
                refresh = with_family;
                Some(family)
            }
            None => None,
        };
        let access = refresh.access_token(self.lifetimes, issued_at, now_seconds());
        let record = self.record(&refresh, issued_at, Some(&user));
        let touch = self.update_last_login.then_some(user.id);
        let (id, checked_epoch) = (user.id, user.tokens_valid_after);
        let recorded = db::run(self.accounts.pool(), move |conn| {
            conn.transaction(|conn| {
                if !users::epoch_holds(conn, id, checked_epoch)? {
                    return Ok(false);
                }
                match &family {
                    Some(family) => families::record_start(conn, &record, family)?,
                    None => tokens::record_outstanding(conn, &record)?,
                }
                if let Some(id) = touch {
                    users::touch_last_login(conn, id)?;
                }
                Ok(true)
            })
        })
        .await?;
        if !recorded {
            return Err(no_active_account());
        }
        let pair = json!({
            "refresh": self.sign(&refresh)?,
            "access": self.sign(&access)?,
        });
        count_token_event("obtained");
        Ok(pair)
    }

    /// `TokenRefreshSerializer`: a new access token and, with rotation, a new refresh token;
    /// the old one is blacklisted atomically, so of two concurrent refreshes one succeeds.
    pub async fn refresh(&self, data: Value, client: Option<IpAddr>) -> Result<Value, ApiError> {
        self.require_signing()?;
        let refreshed_at = now_seconds();
        let refresh = self
            .refresh_token(data, "refresh", client, Presented::ForRefresh)
            .await?;
        let mut known_user = None;
        if refresh.names_a_user() {
            // Read afresh, not from the user cache: a refresh must see a password change or a
            // logout made a moment ago on any instance (it reads the database anyway).
            let user = match user_of(&self.accounts, &refresh, self.user_id_field).await? {
                Some(user) => self.accounts.refetch(user.id).await?,
                None => None,
            };
            let check_active = self.check_user_is_active;
            let Some(user) = user.filter(|user| user.is_active || !check_active) else {
                return Err(ApiError::authentication_failed(
                    "No active account found for the given token.",
                ));
            };
            // Checked here too, unlike simplejwt 5.5 (whose refresh view mints new tokens from
            // a refresh token of an old password, which then fail on every view).
            if let Some(claim) = &self.password_claim {
                claim.check(&refresh, &user)?;
            }
            if self.ended_by_logout(&refresh, &user).await? {
                return Err(TokenError::Blacklisted.into_api_error());
            }
            known_user = Some(user);
        }
        let access = refresh.access_token(self.lifetimes, refreshed_at, now_seconds());
        let mut response = Map::new();
        response.insert("access".into(), self.sign(&access)?.into());
        if !self.rotate_refresh_tokens {
            count_token_event("refreshed");
            return Ok(Value::Object(response));
        }
        let rotated = refresh.rotated(self.lifetimes, refreshed_at);
        let old = self.record(&refresh, refreshed_at, known_user.as_ref());
        let new = self.record(&rotated, refreshed_at, known_user.as_ref());
        let blacklist_old = self.blacklist_after_rotation;
        if let (Some(families), Some(sid)) = (&self.families, refresh.family()) {
            if families.rotate(sid, old, new, blacklist_old).await? == Rotation::Refused {
                families.presented_again(&refresh, client).await?;
                return Err(TokenError::Blacklisted.into_api_error());
            }
            response.insert("refresh".into(), self.sign(&rotated)?.into());
            count_token_event("refreshed");
            return Ok(Value::Object(response));
        }
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
        response.insert("refresh".into(), self.sign(&rotated)?.into());
        count_token_event("refreshed");
        Ok(Value::Object(response))
    }

    /// `TokenObtainSlidingSerializer`: credentials in, `{"token"}` (a sliding token) out.
    pub async fn obtain_sliding(&self, data: Value, device: &Device) -> Result<Value, ApiError> {
        self.require_signing()?;
        let user = self.credentials_user(data, device).await?;
        let issued_at = now_seconds();
        let mut token = Token::sliding_for_user(user.id, &self.sliding, issued_at);
        self.add_user_claims(&mut token, &user);
        // Recorded as simplejwt's blacklist app records it (its `exp`), so it can be blacklisted.
        let record = self.record(&token, issued_at, Some(&user));
        let touch = self.update_last_login.then_some(user.id);
        let (id, checked_epoch) = (user.id, user.tokens_valid_after);
        let recorded = db::run(self.accounts.pool(), move |conn| {
            conn.transaction(|conn| {
                if !users::epoch_holds(conn, id, checked_epoch)? {
                    return Ok(false);
                }
                tokens::record_outstanding(conn, &record)?;
                if let Some(id) = touch {
                    users::touch_last_login(conn, id)?;
                }
                Ok(true)
            })
        })
        .await?;
        if !recorded {
            return Err(no_active_account());
        }
        let token = json!({ "token": self.sign(&token)? });
        count_token_event("obtained");
        Ok(token)
    }

    /// `TokenRefreshSlidingSerializer`: a valid, not blacklisted sliding token whose refresh
    /// period has not passed comes back with a new `exp` and `iat`, the same `jti`.
    pub async fn refresh_sliding(&self, data: Value) -> Result<Value, ApiError> {
        self.require_signing()?;
        let [raw] = char_fields(&expect_object(data)?, ["token"])?;
        self.backend.prepare(&raw).await;
        let token = Token::parse(&raw, &self.backend, Some(TokenType::Sliding), now())
            .map_err(TokenError::into_api_error)?;
        if self.is_blacklisted(&token).await? {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        let claim = &self.sliding.refresh_exp_claim;
        let not_valid = |detail: String| {
            ApiError::authentication_failed_with(
                json!({"detail": detail, "code": "token_not_valid"}),
            )
        };
        let refresh_exp = token
            .claims
            .get(claim)
            .ok_or_else(|| not_valid(format!("Token has no '{claim}' claim")))?
            .as_f64()
            .ok_or_else(|| not_valid(TokenError::Invalid.to_string()))?;
        if refresh_exp <= now() {
            return Err(not_valid(format!("Token '{claim}' claim has expired")));
        }
        // The user's token epoch holds for sliding tokens too (their `iat` moves on).
        let user = match user_of(&self.accounts, &token, self.user_id_field).await? {
            Some(user) => self.accounts.refetch(user.id).await?,
            None => None,
        };
        if let Some(user) = user {
            if let Some(claim) = &self.password_claim {
                claim.check(&token, &user)?;
            }
            if user.issued_before_epoch(token.issued_at()) {
                return Err(TokenError::Blacklisted.into_api_error());
            }
        }
        let slid = token.slid(&self.sliding, now_seconds());
        let token = json!({ "token": self.sign(&slid)? });
        count_token_event("refreshed");
        Ok(token)
    }

    /// `TokenVerifySerializer`: any valid token, unless it is blacklisted (then a 400).
    pub async fn verify(&self, data: Value) -> Result<Value, ApiError> {
        let [raw] = char_fields(&expect_object(data)?, ["token"])?;
        self.backend.prepare(&raw).await;
        let token =
            Token::parse(&raw, &self.backend, None, now()).map_err(TokenError::into_api_error)?;
        if self.is_blacklisted(&token).await? || self.family_revoked(&token).await? {
            return Err(ApiError::non_field_error(
                TokenError::Blacklisted.to_string(),
            ));
        }
        Ok(json!({}))
    }

    /// `TokenBlacklistSerializer`: blacklists a valid refresh token; with families, its
    /// family ends too (the access tokens included): logout.
    pub async fn blacklist(&self, data: Value, client: Option<IpAddr>) -> Result<Value, ApiError> {
        let refresh = self
            .refresh_token(data, "refresh", client, Presented::ForLogout)
            .await?;
        let record = self.record(&refresh, now_seconds(), None);
        let outcome = db::run(self.accounts.pool(), move |conn| {
            tokens::blacklist(conn, &record)
        })
        .await?;
        if outcome == Blacklisting::AlreadyBlacklisted {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        count_token_event("blacklisted");
        if let (Some(families), Some(sid)) = (&self.families, refresh.family()) {
            let user = refresh.user_id();
            families.revoke(sid, None, "logout", user, client).await?;
        }
        Ok(json!({}))
    }

    /// The valid refresh token in `field`, neither blacklisted nor of a revoked family; one
    /// that was rotated already is reuse (see `Families::presented_again`).
    async fn refresh_token(
        &self,
        data: Value,
        field: &str,
        client: Option<IpAddr>,
        presented: Presented,
    ) -> Result<Token, ApiError> {
        let [raw] = char_fields(&expect_object(data)?, [field])?;
        self.backend.prepare(&raw).await;
        let token = Token::parse(&raw, &self.backend, Some(TokenType::Refresh), now())
            .map_err(TokenError::into_api_error)?;
        if self.is_blacklisted(&token).await? {
            match (&self.families, token.family(), presented) {
                // A logout with a token rotated already (a stale tab, or the owner after a
                // thief rotated first): whoever asks, the session ends; the answer stays
                // simplejwt's.
                (Some(families), Some(sid), Presented::ForLogout) => {
                    families
                        .revoke(sid, None, "logout", token.user_id(), client)
                        .await?;
                }
                (Some(families), _, Presented::ForRefresh) => {
                    families.presented_again(&token, client).await?;
                }
                _ => {}
            }
            return Err(TokenError::Blacklisted.into_api_error());
        }
        if self.family_revoked(&token).await? {
            return Err(TokenError::Blacklisted.into_api_error());
        }
        Ok(token)
    }

    /// Ended by a password change, a deactivation or a logout everywhere: its family was
    /// revoked (read afresh, not from the revoked-families set: another instance may have
    /// revoked it a moment ago); a token of no family known here, issued before the user's
    /// token epoch (whole seconds: a pair of the epoch's own second ends too).
    async fn ended_by_logout(&self, token: &Token, user: &User) -> Result<bool, ApiError> {
        if let (Some(families), Some(sid)) = (&self.families, token.family())
            && let Some(ended) = families.has_ended(sid).await?
        {
            return Ok(ended);
        }
        Ok(user.issued_before_epoch(token.issued_at()))
    }

    async fn family_revoked(&self, token: &Token) -> Result<bool, ApiError> {
        match (&self.families, token.family()) {
            (Some(families), Some(sid)) => Ok(families.revoked.is_revoked(sid).await?),
            _ => Ok(false),
        }
    }

    async fn is_blacklisted(&self, token: &Token) -> Result<bool, ApiError> {
        let jti = token.jti().to_string();
        Ok(db::run(self.accounts.pool(), move |conn| {
            tokens::is_blacklisted(conn, &jti)
        })
        .await?)
    }
}

/// What a refresh token is presented for: a replay means reuse (or a race) for a refresh, and
/// the end of the session for a logout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    ForRefresh,
    ForLogout,
}

/// simplejwt's answer to credentials that do not sign in; also to a check that passed with a
/// password (or sessions) that changed before its pair was recorded: a credential of the old
/// password is never handed out after the change.
fn no_active_account() -> ApiError {
    ApiError::authentication_failed("No active account found with the given credentials")
}

/// A token event in the metrics (`obtained`, `refreshed`, `blacklisted`).
fn count_token_event(event: &'static str) {
    if let Some(metrics) = crate::metrics::recording() {
        metrics.token_events.with_label_values(&[event]).inc();
    }
}
