//! Reads every setting once, from the environment and `.env`, into one typed `Config`.
//!
//! Values are parsed here, once: class names become enums, the permission setting an
//! expression, rates `Rate`s. An invalid value stops startup with an error naming the variable.
//! The settings are grouped by the part of the server they configure.

mod classes;
mod secret_key;
mod vars;

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::addresses::ClientBuckets;
use crate::authtoken::KeyMode;
use crate::db::DbSettings;
use crate::jwt::jwks::JwksClient;
use crate::jwt::keys::JwtKeys;
use crate::jwt::tokens::{SlidingSettings, TokenType, UserIdField};
use crate::jwt::{Audience, ClaimNames, JwtAlgorithm};
use crate::rest::hosts::AllowedHosts;
use crate::rest::permissions::expr::{self, PermissionExpr};
use crate::rest::request::BodyLimits;
use crate::rest::throttling::FailureMode;
use crate::rest::throttling::failures::LoginFailureRates;
use crate::rest::throttling::memory::DEFAULT_MAX_KEYS;
pub use classes::{AuthenticationClass, ThrottleClass};
pub use secret_key::{SecretKeySource, log_secret_key_source};
use vars::{Vars, invalid};

#[derive(Debug, Clone)]
pub struct Config {
    /// Signs tokens (HS*) and nothing else here; never logged.
    pub secret_key: String,
    pub secret_key_source: SecretKeySource,
    pub database: DbSettings,
    pub jwt: JwtSettings,
    pub pipeline: PipelineSettings,
    pub passwords: PasswordSettings,
    pub admin: AdminSettings,
    pub throttle_store: ThrottleStoreSettings,
    pub server: ServerSettings,
}

/// simplejwt's `SIMPLE_JWT` settings.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Seconds.
    pub access_token_lifetime: u64,
    /// Seconds.
    pub refresh_token_lifetime: u64,
    pub rotate_refresh_tokens: bool,
    pub blacklist_after_rotation: bool,
    pub algorithm: JwtAlgorithm,
    /// `JWT_SIGNING_KEY(_FILE)`: the HMAC secret or the PEM private key; for HS* it defaults
    /// to `SECRET_KEY`; `None` with a verifying key alone: a verify-only instance.
    pub signing_key: Option<Secret>,
    /// `JWT_VERIFYING_KEY(_FILE)`: a PEM public key (derived from the private key when unset).
    pub verifying_key: Option<String>,
    /// `JWT_JWK_URL`: tokens are verified with the issuer's key set, by `kid` (instead of the
    /// verifying key); the signing key, if any, still signs.
    pub jwk_url: Option<String>,
    /// `JWT_STRICT`: the strict token profile (no duplicate members, integer time claims).
    pub strict: bool,
    /// `JWT_TYP`: the `typ` of new access tokens, required on every access token.
    pub typ: Option<String>,
    /// `JWT_JWK_LIFESPAN`: seconds a fetched key set is used before it is fetched again.
    pub jwk_lifespan: Duration,
    /// `JWT_AUDIENCE` / `JWT_ISSUER`.
    pub audience: Audience,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Accepted `Authorization` schemes; the first is the challenge's.
    pub auth_header_types: Vec<String>,
    /// `AUTH_HEADER_NAME`: the header the token comes in, lowercase (`authorization`).
    pub auth_header_name: String,
    /// `CHECK_USER_IS_ACTIVE`: tokens of inactive users are refused (obtain always refuses
    /// them, as Django's `authenticate()` does).
    pub check_user_is_active: bool,
    /// `UPDATE_LAST_LOGIN`: obtain sets the user's `last_login`.
    pub update_last_login: bool,
    /// `CHECK_REVOKE_TOKEN`: new tokens carry `REVOKE_TOKEN_CLAIM` (a MAC of the password
    /// hash), and a token issued for another password than the user's current one is refused.
    pub check_revoke_token: bool,
    /// `REVOKE_TOKEN_CLAIM`.
    pub revoke_token_claim: String,
    /// `TOKEN_FAMILIES`: refresh families with reuse detection, access tokens that end with
    /// their family, the sessions API. Off: simplejwt's behaviour, to the letter.
    pub token_families: bool,
    /// `REFRESH_REUSE_GRACE_SECONDS`: a replay this soon after a rotation is not reuse.
    pub refresh_reuse_grace: u64,
    /// `REVOCATION_TTL_MS`: how stale this instance's set of revoked families may be.
    pub revocation_ttl: Duration,
    /// `KEY_RING_TTL_MS`: how soon an instance sees a change of the signing key ring.
    pub key_ring_ttl: Duration,
    /// `TOKEN_COOKIE`: browser mode, the refresh token in an `HttpOnly` cookie.
    pub token_cookie: bool,
    /// `USER_ID_FIELD`: the user claim holds the id (default) or the username.
    pub user_id_field: UserIdField,
    /// `TOKEN_TYPE_CLAIM`, `JTI_CLAIM`, `USER_ID_CLAIM`: the claims' names on the wire.
    pub claim_names: ClaimNames,
    /// `AUTH_TOKEN_CLASSES`: `access`, `sliding`, in the order tried.
    pub auth_token_classes: Vec<TokenType>,
    /// `SLIDING_TOKEN_LIFETIME`, `SLIDING_TOKEN_REFRESH_LIFETIME`,
    /// `SLIDING_TOKEN_REFRESH_EXP_CLAIM`.
    pub sliding: SlidingSettings,
}

impl JwtSettings {
    /// The longest any token lives (refresh, sliding refresh or access lifetime), with the
    /// leeway: how long a key that signed a token may still be needed to verify it.
    pub fn longest_token_lifetime(&self) -> i64 {
        let longest = self
            .refresh_token_lifetime
            .max(self.access_token_lifetime)
            .max(self.sliding.refresh_lifetime as u64)
            .max(self.sliding.lifetime as u64);
        (longest + self.leeway) as i64
    }
}

/// DRF's `REST_FRAMEWORK` settings: the default class lists and request limits.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub authentication_classes: Vec<AuthenticationClass>,
    /// A list of expressions; all must allow.
    pub default_permission_classes: Vec<PermissionExpr>,
    pub throttle_classes: Vec<ThrottleClass>,
    /// `MAX_BODY_SIZE` and `CLIENT_BODY_TIMEOUT_MS`, for API views and admin forms alike.
    pub body_limits: BodyLimits,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// `THROTTLE_IPV6_PREFIX`: IPv6 clients count by this prefix in every per-client limit.
    pub client_buckets: ClientBuckets,
    /// `REMOTE_USER_HEADER`, lowercase: where a trusted proxy names the user (`remote_user`).
    pub remote_user_header: String,
    /// `REMOTE_USER_PROXIES`: the peers whose `REMOTE_USER_HEADER` is believed. Its own
    /// setting, not `TRUSTED_PROXIES`: a proxy that forwards addresses is not therefore one
    /// that authenticates users (and may pass a client's header through).
    pub remote_user_proxies: Vec<IpNet>,
}

/// Password checks, hashing and the user lookup behind every request.
#[derive(Debug, Clone)]
pub struct PasswordSettings {
    /// `TOKEN_AUTH_KEYS` / `TOKEN_AUTH_MAX_PER_USER`: DRF's authtoken keys.
    pub auth_token_keys: KeyMode,
    /// Failed password checks allowed, on every path that checks one.
    pub login_failure_rates: LoginFailureRates,
    pub bcrypt_cost: u32,
    /// `PASSWORD_HASHERS`: the first hashes new passwords; each may check a stored hash.
    pub password_hashers: Vec<crate::hashers::Algorithm>,
    pub hasher_threads: usize,
    pub hasher_queue: usize,
    pub user_cache_ttl: Duration,
}

impl PasswordSettings {
    /// `PASSWORD_HASHERS` with the work new hashes get.
    pub fn hashers(&self) -> crate::hashers::Hashers {
        crate::hashers::Hashers::new(self.password_hashers.clone(), self.bcrypt_cost)
    }
}

/// The administrators' pages: sessions, CSRF, templates.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Seconds.
    pub session_cookie_age: u64,
    pub session_cookie_secure: bool,
    pub csrf_trusted_origins: Vec<String>,
    pub templates_dir: PathBuf,
    pub static_dir: PathBuf,
}

/// Where throttle counters live: in process, or Redis shared by every instance.
#[derive(Debug, Clone)]
pub struct ThrottleStoreSettings {
    pub redis_url: Option<String>,
    /// Prepended to every Redis key, so deployments can share one Redis.
    pub redis_key_prefix: String,
    /// Bound on every Redis round trip (connect, script, ping).
    pub redis_timeout: Duration,
    pub failure_mode: FailureMode,
    /// Keys the in-process store holds at most (`THROTTLE_MAX_KEYS`).
    pub max_keys: usize,
}

/// The HTTP server and the process.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: String,
    pub workers: usize,
    pub keep_alive: Duration,
    pub client_request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub rust_log: String,
    /// Serve the benchmark-only views (`/bench/ping/`); off in production.
    pub bench_endpoints: bool,
    /// `ALLOWED_HOSTS`: the `Host` names served (Django's syntax); others get Django's 400.
    pub allowed_hosts: AllowedHosts,
    /// `METRICS_BIND`: where Prometheus scrapes `/metrics` (a listener of its own); none, off.
    pub metrics_bind: Option<String>,
}

/// A setting that must never reach a log: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl Config {
    /// Loads `.env` (when present) and reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a Config from any source of variables: the environment, or a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(&lookup);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let database = DbSettings {
            url: vars.string("DATABASE_URL", "db.sqlite3"),
            pool_size: vars.parse("DB_POOL_SIZE", 8)?,
            connect_timeout: vars.millis("DB_CONNECT_TIMEOUT_MS", 2000)?,
            statement_timeout: vars.millis("DB_STATEMENT_TIMEOUT_MS", 5000)?,
        };
        let (secret_key, secret_key_source) =
            secret_key::secret_key(vars.get("SECRET_KEY"), &database.url)?;
        let rates =
            classes::parse_rates(&vars.string("THROTTLE_RATES", "anon=100/min,user=1000/min"))
                .map_err(|e| invalid("THROTTLE_RATES", e))?;
        let algorithm = vars.parse("JWT_ALGORITHM", JwtAlgorithm::HS256)?;
        let signing_key = vars
            .text_or_file("JWT_SIGNING_KEY", "JWT_SIGNING_KEY_FILE")?
            .or_else(|| algorithm.is_hmac().then(|| secret_key.clone()));
        if algorithm.is_hmac() && signing_key.as_ref().is_some_and(|key| key.len() < 32) {
            return Err(invalid(
                "JWT_SIGNING_KEY",
                "an HMAC key must be at least 32 bytes long",
            ));
        }
        let verifying_key = vars.text_or_file("JWT_VERIFYING_KEY", "JWT_VERIFYING_KEY_FILE")?;
        let jwk_url = vars.get("JWT_JWK_URL").filter(|url| !url.is_empty());
        let jwk_lifespan = Duration::from_secs(vars.parse("JWT_JWK_LIFESPAN", 300)?);
        if let Some(url) = &jwk_url {
            JwksClient::check(url, algorithm).map_err(|e| invalid("JWT_JWK_URL", e))?;
            // Its tokens would carry no kid, which the key set needs (as PyJWKClient does).
            if signing_key.is_some() {
                return Err(invalid(
                    "JWT_JWK_URL",
                    "verifies by kid with the issuer's keys, so tokens this instance signed \
                     with JWT_SIGNING_KEY (no kid) would not verify: set one or the other (an \
                     instance that issues tokens and publishes its keys uses the key ring: \
                     portcullis keys rotate)",
                ));
            }
        }
        // Loaded once here so that a key that does not fit stops startup, naming the variable.
        JwtKeys::load(
            algorithm,
            signing_key.as_deref(),
            verifying_key.as_deref(),
            jwk_url.is_some(),
        )
        .map_err(|e| {
            let name = if signing_key.is_some() && !algorithm.is_hmac() {
                "JWT_SIGNING_KEY"
            } else {
                "JWT_VERIFYING_KEY"
            };
            invalid(name, e)
        })?;
        let config = Config {
            secret_key,
            secret_key_source,
            jwt: JwtSettings {
                access_token_lifetime: vars.parse("ACCESS_TOKEN_LIFETIME", 300)?,
                refresh_token_lifetime: vars.parse("REFRESH_TOKEN_LIFETIME", 86_400)?,
                rotate_refresh_tokens: vars.boolean("ROTATE_REFRESH_TOKENS", true)?,
                blacklist_after_rotation: vars.boolean("BLACKLIST_AFTER_ROTATION", true)?,
                algorithm,
                signing_key: signing_key.map(Secret),
                verifying_key,
                jwk_url,
                jwk_lifespan,
                strict: vars.boolean("JWT_STRICT", true)?,
                typ: vars.get("JWT_TYP").filter(|typ| !typ.is_empty()),
                audience: Audience {
                    audience: vars.get("JWT_AUDIENCE").filter(|v| !v.is_empty()),
                    issuer: vars.get("JWT_ISSUER").filter(|v| !v.is_empty()),
                },
                leeway: vars.parse("JWT_LEEWAY", 0)?,
                auth_header_types: vars.list("AUTH_HEADER_TYPES", "Bearer"),
                auth_header_name: header_name(&vars.string("AUTH_HEADER_NAME", "Authorization"))
                    .map_err(|e| invalid("AUTH_HEADER_NAME", e))?,
                check_user_is_active: vars.boolean("CHECK_USER_IS_ACTIVE", true)?,
                update_last_login: vars.boolean("UPDATE_LAST_LOGIN", false)?,
                check_revoke_token: vars.boolean("CHECK_REVOKE_TOKEN", false)?,
                revoke_token_claim: vars.string("REVOKE_TOKEN_CLAIM", "hash_password"),
                token_families: vars.boolean("TOKEN_FAMILIES", true)?,
                refresh_reuse_grace: vars.parse("REFRESH_REUSE_GRACE_SECONDS", 30)?,
                revocation_ttl: vars.millis("REVOCATION_TTL_MS", 1000)?,
                key_ring_ttl: vars.millis("KEY_RING_TTL_MS", 5000)?,
                token_cookie: vars.boolean("TOKEN_COOKIE", false)?,
                user_id_field: vars.parse("USER_ID_FIELD", UserIdField::Id)?,
                claim_names: ClaimNames {
                    token_type: vars.string("TOKEN_TYPE_CLAIM", "token_type"),
                    jti: vars.string("JTI_CLAIM", "jti"),
                    user_id: vars.string("USER_ID_CLAIM", "user_id"),
                },
                auth_token_classes: vars.parse_list("AUTH_TOKEN_CLASSES", "access")?,
                sliding: SlidingSettings {
                    lifetime: vars.parse("SLIDING_TOKEN_LIFETIME", 300)?,
                    refresh_lifetime: vars.parse("SLIDING_TOKEN_REFRESH_LIFETIME", 86_400)?,
                    refresh_exp_claim: vars
                        .string("SLIDING_TOKEN_REFRESH_EXP_CLAIM", "refresh_exp"),
                },
            },
            pipeline: PipelineSettings {
                authentication_classes: vars
                    .parse_list("AUTHENTICATION_CLASSES", "jwt,session,basic")?,
                default_permission_classes: expr::parse(
                    &vars.string("DEFAULT_PERMISSION_CLASSES", "AllowAny"),
                )
                .map_err(|e| invalid("DEFAULT_PERMISSION_CLASSES", e))?,
                throttle_classes: vars
                    .list("THROTTLE_CLASSES", "anon,user")
                    .iter()
                    .map(|name| ThrottleClass::from_name(name, &rates))
                    .collect::<Result<_, _>>()
                    .map_err(|e| invalid("THROTTLE_CLASSES", e))?,
                body_limits: BodyLimits {
                    max_size: vars.parse("MAX_BODY_SIZE", BodyLimits::DEFAULT.max_size)?,
                    timeout: vars.millis("CLIENT_BODY_TIMEOUT_MS", 10_000)?,
                },
                trusted_proxies: vars
                    .list("TRUSTED_PROXIES", "")
                    .iter()
                    .map(|cidr| parse_cidr(cidr))
                    .collect::<Result<_, _>>()?,
                client_buckets: vars.parse("THROTTLE_IPV6_PREFIX", ClientBuckets::default())?,
                remote_user_header: header_name(
                    &vars.string("REMOTE_USER_HEADER", "X-Remote-User"),
                )
                .map_err(|e| invalid("REMOTE_USER_HEADER", e))?,
                remote_user_proxies: vars
                    .list("REMOTE_USER_PROXIES", "")
                    .iter()
                    .map(|cidr| {
                        parse_cidr(cidr).map_err(|e| invalid("REMOTE_USER_PROXIES", e.message))
                    })
                    .collect::<Result<_, _>>()?,
            },
            passwords: PasswordSettings {
                auth_token_keys: match vars.string("TOKEN_AUTH_KEYS", "multiple").as_str() {
                    "single" => KeyMode::Single,
                    "multiple" => KeyMode::Multiple {
                        max_per_user: vars.parse("TOKEN_AUTH_MAX_PER_USER", 10)?,
                    },
                    other => {
                        return Err(invalid(
                            "TOKEN_AUTH_KEYS",
                            format!("expected single or multiple, got {other:?}"),
                        ));
                    }
                },
                login_failure_rates: vars
                    .parse("LOGIN_FAILURE_RATES", LoginFailureRates::default())?,
                bcrypt_cost: vars.parse("BCRYPT_COST", 12)?,
                password_hashers: vars.parse_list(
                    "PASSWORD_HASHERS",
                    &crate::hashers::Algorithm::ALL
                        .map(crate::hashers::Algorithm::name)
                        .join(","),
                )?,
                hasher_threads: vars.parse("HASHER_THREADS", cores.saturating_sub(1).max(1))?,
                hasher_queue: vars.parse("HASHER_QUEUE", 32)?,
                user_cache_ttl: vars.millis("USER_CACHE_TTL_MS", 1000)?,
            },
            admin: AdminSettings {
                session_cookie_age: vars.parse("SESSION_COOKIE_AGE", 1_209_600)?,
                session_cookie_secure: vars.boolean("SESSION_COOKIE_SECURE", false)?,
                csrf_trusted_origins: vars.list("CSRF_TRUSTED_ORIGINS", ""),
                templates_dir: PathBuf::from(vars.string("TEMPLATES_DIR", "templates")),
                static_dir: PathBuf::from(vars.string("STATIC_DIR", "static")),
            },
            throttle_store: ThrottleStoreSettings {
                redis_url: vars.get("REDIS_URL").filter(|url| !url.is_empty()),
                redis_key_prefix: vars.string("REDIS_KEY_PREFIX", "portcullis:"),
                redis_timeout: vars.millis("REDIS_TIMEOUT_MS", 250)?,
                max_keys: vars.parse("THROTTLE_MAX_KEYS", DEFAULT_MAX_KEYS)?,
                failure_mode: match vars.string("THROTTLE_FAILURE_MODE", "open").as_str() {
                    "open" => FailureMode::Open,
                    "closed" => FailureMode::Closed,
                    other => {
                        return Err(invalid(
                            "THROTTLE_FAILURE_MODE",
                            format!("expected open or closed, got {other:?}"),
                        ));
                    }
                },
            },
            server: ServerSettings {
                allowed_hosts: match vars.string("ALLOWED_HOSTS", "").trim() {
                    "" => AllowedHosts::local(&vars.string("BIND", "127.0.0.1:8000")),
                    list => AllowedHosts::parse(list).map_err(|e| invalid("ALLOWED_HOSTS", e))?,
                },
                bind: vars.string("BIND", "127.0.0.1:8000"),
                workers: vars.parse("WORKERS", cores)?,
                keep_alive: Duration::from_secs(vars.parse("KEEP_ALIVE", 5)?),
                client_request_timeout: vars.millis("CLIENT_REQUEST_TIMEOUT_MS", 5000)?,
                shutdown_timeout: Duration::from_secs(vars.parse("SHUTDOWN_TIMEOUT", 30)?),
                rust_log: vars.string("RUST_LOG", "info"),
                bench_endpoints: vars.boolean("BENCH_ENDPOINTS", false)?,
                metrics_bind: vars
                    .get("METRICS_BIND")
                    .filter(|bind| !bind.trim().is_empty()),
            },
            database,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let names = &self.jwt.claim_names;
        for (variable, name) in [
            ("TOKEN_TYPE_CLAIM", &names.token_type),
            ("JTI_CLAIM", &names.jti),
            ("USER_ID_CLAIM", &names.user_id),
        ] {
            let taken = [
                "exp",
                "iat",
                "nbf",
                "aud",
                "iss",
                "sid",
                &self.jwt.sliding.refresh_exp_claim,
            ];
            let others = [&names.token_type, &names.jti, &names.user_id]
                .into_iter()
                .filter(|other| *other == name)
                .count();
            if name.is_empty() || taken.contains(&name.as_str()) || others > 1 {
                return Err(invalid(
                    variable,
                    format!("{name:?} is empty or already names another claim"),
                ));
            }
        }
        // The password claim must not overwrite a claim tokens already carry.
        let revoke = self.jwt.revoke_token_claim.as_str();
        let carried = [
            "exp",
            "iat",
            "nbf",
            "aud",
            "iss",
            "sid",
            "jti",
            "token_type",
            "user_id",
            "username",
            &names.token_type,
            &names.jti,
            &names.user_id,
            &self.jwt.sliding.refresh_exp_claim,
        ];
        if self.jwt.check_revoke_token && (revoke.is_empty() || carried.contains(&revoke)) {
            return Err(invalid(
                "REVOKE_TOKEN_CLAIM",
                format!("{revoke:?} is empty or already names another claim"),
            ));
        }
        let claim = self.jwt.sliding.refresh_exp_claim.as_str();
        let registered = [
            "",
            "exp",
            "iat",
            "nbf",
            "jti",
            "token_type",
            "user_id",
            "sid",
            "aud",
            "iss",
        ];
        if registered.contains(&claim) {
            return Err(invalid(
                "SLIDING_TOKEN_REFRESH_EXP_CLAIM",
                format!("{claim:?} is empty or already names another claim"),
            ));
        }
        // A century: longer lifetimes would overflow the seconds of `exp`.
        const MAX_LIFETIME: i64 = 100 * 365 * 86_400;
        for (variable, seconds) in [
            (
                "ACCESS_TOKEN_LIFETIME",
                self.jwt.access_token_lifetime as i64,
            ),
            (
                "REFRESH_TOKEN_LIFETIME",
                self.jwt.refresh_token_lifetime as i64,
            ),
            ("SLIDING_TOKEN_LIFETIME", self.jwt.sliding.lifetime),
            (
                "SLIDING_TOKEN_REFRESH_LIFETIME",
                self.jwt.sliding.refresh_lifetime,
            ),
            ("JWT_LEEWAY", self.jwt.leeway as i64),
        ] {
            if !(0..=MAX_LIFETIME).contains(&seconds) {
                return Err(invalid(
                    variable,
                    "must be between 0 and 100 years in seconds",
                ));
            }
        }
        if self.jwt.auth_token_classes.is_empty() {
            return Err(invalid("AUTH_TOKEN_CLASSES", "needs at least one class"));
        }
        if self.server.workers == 0 {
            return Err(invalid("WORKERS", "must be at least 1"));
        }
        if self.jwt.auth_header_types.is_empty() {
            return Err(invalid("AUTH_HEADER_TYPES", "needs at least one type"));
        }
        let passwords = &self.passwords;
        if !(4..=31).contains(&passwords.bcrypt_cost) {
            return Err(invalid("BCRYPT_COST", "must be between 4 and 31"));
        }
        if passwords.password_hashers.is_empty() {
            return Err(invalid("PASSWORD_HASHERS", "must name at least one hasher"));
        }
        if passwords.hasher_threads == 0 || passwords.hasher_queue == 0 {
            return Err(invalid(
                "HASHER_THREADS",
                "threads and queue must be at least 1",
            ));
        }
        if self.passwords.auth_token_keys == (KeyMode::Multiple { max_per_user: 0 }) {
            return Err(invalid("TOKEN_AUTH_MAX_PER_USER", "must be at least 1"));
        }
        if self.throttle_store.max_keys == 0 {
            return Err(invalid("THROTTLE_MAX_KEYS", "must be at least 1"));
        }
        if self.database.pool_size == 0 {
            return Err(invalid("DB_POOL_SIZE", "must be at least 1"));
        }
        Ok(())
    }
}

/// An HTTP header name, or Django's WSGI form of one (`HTTP_X_ACCESS_TOKEN`), as the lowercase
/// name the request carries.
fn header_name(value: &str) -> Result<String, String> {
    let name = match value.strip_prefix("HTTP_") {
        Some(wsgi) => wsgi.replace('_', "-"),
        None => value.to_string(),
    }
    .to_ascii_lowercase();
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token_char) {
        return Err(format!("{value:?} is not a header name"));
    }
    Ok(name)
}

fn parse_cidr(value: &str) -> Result<IpNet, ConfigError> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid(
                "TRUSTED_PROXIES",
                format!("{value:?} is not a CIDR or address"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut map = map;
        map.entry("SECRET_KEY".into())
            .or_insert_with(|| "k".repeat(40));
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn password_hashers_default_to_every_hasher_and_refuse_unknown_or_none() {
        let config = config_with(&[]).unwrap();
        assert_eq!(
            config.passwords.password_hashers,
            crate::hashers::Hashers::default_order()
        );
        let err = config_with(&[("PASSWORD_HASHERS", "pbkdf2_sha256,md5")]).unwrap_err();
        assert_eq!(err.name, "PASSWORD_HASHERS");
        assert!(
            err.message.contains("unknown password hasher \"md5\""),
            "{err}"
        );
        let err = config_with(&[("PASSWORD_HASHERS", " , ")]).unwrap_err();
        assert_eq!(err.name, "PASSWORD_HASHERS");
    }

    #[test]
    fn defaults_match_simplejwt() {
        let config = config_with(&[]).unwrap();
        assert_eq!(config.jwt.access_token_lifetime, 300);
        assert_eq!(config.jwt.refresh_token_lifetime, 86_400);
        use AuthenticationClass::*;
        assert_eq!(
            config.pipeline.authentication_classes,
            [Jwt, Session, Basic]
        );
        assert_eq!(config.jwt.algorithm, JwtAlgorithm::HS256);
        assert_eq!(
            config.pipeline.default_permission_classes,
            expr::parse("AllowAny").unwrap()
        );
        assert_eq!(
            config.passwords.login_failure_rates,
            LoginFailureRates::default()
        );
    }

    #[test]
    fn short_secret_key_is_refused() {
        let err = config_with(&[("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
    }

    #[test]
    fn unknown_authentication_class_names_the_variable() {
        let err = config_with(&[("AUTHENTICATION_CLASSES", "jwt,oauth")]).unwrap_err();
        assert_eq!(err.name, "AUTHENTICATION_CLASSES");
        assert!(err.message.contains("oauth"));
    }

    #[test]
    fn a_key_set_url_needs_http_and_an_asymmetric_algorithm() {
        for (vars, message) in [
            (
                &[("JWT_JWK_URL", "https://issuer.example/jwks.json")][..],
                "HMAC",
            ),
            (
                &[
                    ("JWT_ALGORITHM", "EdDSA"),
                    ("JWT_JWK_URL", "file:///etc/passwd"),
                ][..],
                "http",
            ),
            (
                &[("JWT_ALGORITHM", "RS256"), ("JWT_JWK_URL", "not a url")][..],
                "not a URL",
            ),
        ] {
            let err = config_with(vars).unwrap_err();
            assert_eq!(err.name, "JWT_JWK_URL");
            assert!(err.message.contains(message), "{}", err.message);
        }
        let err = config_with(&[
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----"),
            ("JWT_JWK_URL", "https://issuer.example/jwks.json"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "JWT_JWK_URL");
        assert!(err.message.contains("one or the other"), "{}", err.message);
        // A verify-only instance: the key set is its only key.
        let config = config_with(&[
            ("JWT_ALGORITHM", "RS256"),
            (
                "JWT_JWK_URL",
                "https://issuer.example/.well-known/jwks.json",
            ),
        ])
        .unwrap();
        assert!(config.jwt.signing_key.is_none());
    }

    #[test]
    fn the_password_claim_cannot_take_another_claims_name() {
        for name in [
            "exp",
            "jti",
            "user_id",
            "token_type",
            "sid",
            "refresh_exp",
            "",
        ] {
            let err = config_with(&[("CHECK_REVOKE_TOKEN", "true"), ("REVOKE_TOKEN_CLAIM", name)])
                .unwrap_err();
            assert_eq!(err.name, "REVOKE_TOKEN_CLAIM", "{name}");
        }
        let err = config_with(&[
            ("CHECK_REVOKE_TOKEN", "true"),
            ("USER_ID_CLAIM", "uid"),
            ("REVOKE_TOKEN_CLAIM", "uid"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "REVOKE_TOKEN_CLAIM");
        assert!(
            config_with(&[
                ("CHECK_REVOKE_TOKEN", "true"),
                ("REVOKE_TOKEN_CLAIM", "pwd")
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WORKERS", "many"),
            ("JWT_ALGORITHM", "none"),
            ("THROTTLE_RATES", "anon=lots"),
            ("ROTATE_REFRESH_TOKENS", "maybe"),
            ("DEFAULT_PERMISSION_CLASSES", "IsSomething"),
            ("TRUSTED_PROXIES", "not-a-net"),
            ("LOGIN_FAILURE_RATES", "pair=5"),
            ("THROTTLE_IPV6_PREFIX", "0"),
            ("THROTTLE_MAX_KEYS", "0"),
            ("AUTH_HEADER_NAME", "X Token"),
            ("SLIDING_TOKEN_REFRESH_EXP_CLAIM", "exp"),
            ("REFRESH_TOKEN_LIFETIME", "9223372036854775807"),
        ] {
            let err = config_with(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}");
        }
    }

    #[test]
    fn throttle_class_without_rate_is_refused() {
        let err = config_with(&[("THROTTLE_RATES", "anon=1/s")]).unwrap_err();
        assert_eq!(err.name, "THROTTLE_CLASSES");
        assert!(err.message.contains("\"user\""), "{}", err.message);
    }

    #[test]
    fn generated_secret_key_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite3");
        let url = db.to_str().unwrap().to_string();
        let lookup = |name: &str| (name == "DATABASE_URL").then(|| url.clone());
        let first = Config::from_lookup(lookup).unwrap();
        let path = dir.path().join(".portcullis_secret_key");
        assert_eq!(
            first.secret_key_source,
            SecretKeySource::Generated(path.clone())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = Config::from_lookup(lookup).unwrap();
        assert_eq!(second.secret_key, first.secret_key);
        assert_eq!(second.secret_key_source, SecretKeySource::File(path));
    }
}
