//! Provides `AppState`, what every worker shares, built once from the `Config`; and the
//! settings' class lists turned into the trait objects the dispatcher runs.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::admin::Admin;
use crate::admin::authentication::SessionAuthentication;
use crate::admin::session::SessionStore;
use crate::admin::templates::Templates;
use crate::authtoken::AuthTokens;
use crate::authtoken::authentication::TokenAuthentication;
use crate::config::{AuthenticationClass, Config, Secret, ThrottleClass};
use crate::db::{self, DbPool};
use crate::hashers::PasswordHasher;
use crate::jwt::TokenBackend;
use crate::jwt::authentication::JWTAuthentication;
use crate::jwt::backends::StrictProfile;
use crate::jwt::cookie::TokenCookie;
use crate::jwt::families::Families;
use crate::jwt::jwks::JwksClient;
use crate::jwt::keys::JwtKeys;
use crate::jwt::revocations::RevokedFamilies;
use crate::jwt::revoke::PasswordClaim;
use crate::jwt::ring::KeyRing;
use crate::jwt::serializers::{TokenClaims, TokenService};
use crate::jwt::tokens::Lifetimes;
use crate::rest::ApiSettings;
use crate::rest::authentication::{Authentication, BasicAuthentication};
use crate::rest::remote_user::RemoteUserAuthentication;
use crate::rest::throttling::failures::{LimiterStores, LoginFailureLimiter};
use crate::rest::throttling::memory::MemoryStore;
use crate::rest::throttling::redis::RedisStore;
use crate::rest::throttling::{
    AnonRateThrottle, Counter, ScopedRateThrottle, Throttle, ThrottleStore, UserRateThrottle,
};

/// The realm of every challenge, as in the reference (`WWW-Authenticate: Bearer realm="api"`).
pub const REALM: &str = "api";

/// Why the application could not start; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind BIND={bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("cannot bind METRICS_BIND={bind}: {source}")]
    MetricsBind {
        bind: String,
        source: std::io::Error,
    },
    #[error("cannot open DATABASE_URL: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("cannot load the templates: {0}")]
    Templates(String),
    #[error("invalid setting REDIS_URL: {0}")]
    Redis(String),
    #[error("the JWT keys: {0}")]
    Keys(String),
    #[error("cannot start the HTTP server: {0}")]
    Server(#[from] std::io::Error),
}

/// What every worker shares.
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub accounts: Arc<Accounts>,
    pub backend: Arc<TokenBackend>,
    pub tokens: Arc<TokenService>,
    pub counter: Arc<Counter>,
    pub login_failures: Arc<LoginFailureLimiter>,
    /// Revoked refresh families (used with `TOKEN_FAMILIES`).
    pub revoked: Arc<RevokedFamilies>,
    /// DRF's authtoken keys.
    pub auth_tokens: Arc<AuthTokens>,
    pub sessions: Arc<SessionStore>,
    pub admin: Arc<Admin>,
    /// The signing key ring (published at `/.well-known/jwks.json`).
    pub key_ring: Arc<KeyRing>,
}

impl AppState {
    /// `token_claims`: the project's claims for every new token, if any.
    pub fn build(
        config: Config,
        token_claims: Option<TokenClaims>,
    ) -> Result<AppState, StartupError> {
        let config = Arc::new(config);
        let pool = db::build_pool(&config.database);
        let passwords = &config.passwords;
        let hasher = Arc::new(PasswordHasher::new(
            passwords.hasher_threads,
            passwords.hasher_queue,
            passwords.hashers(),
        ));
        let accounts = Arc::new(Accounts::new(
            pool.clone(),
            hasher,
            passwords.user_cache_ttl,
        ));
        let jwt = &config.jwt;
        // Checked when the settings were read; a failure here is a bug, reported as such.
        let keys = JwtKeys::load(
            jwt.algorithm,
            jwt.signing_key.as_ref().map(Secret::expose),
            jwt.verifying_key.as_deref(),
            jwt.jwk_url.is_some(),
        )
        .map_err(StartupError::Keys)?;
        let mut backend =
            TokenBackend::with_keys(keys, jwt.algorithm, jwt.leeway, jwt.audience.clone())
                .with_claim_names(jwt.claim_names.clone());
        if jwt.strict || jwt.typ.is_some() {
            backend = backend.with_strict_profile(StrictProfile {
                rules: jwt.strict,
                access_typ: jwt.typ.clone(),
            });
        }
        if let Some(url) = &jwt.jwk_url {
            let key_set = JwksClient::new(url, jwt.algorithm, jwt.jwk_lifespan)
                .map_err(StartupError::Keys)?;
            backend = backend.with_key_set(Arc::new(key_set));
        }
        let ring = Arc::new(
            KeyRing::load(
                pool.clone(),
                &config.secret_key,
                jwt.longest_token_lifetime(),
            )
            .map_err(StartupError::Keys)?,
        );
        KeyRing::watch(&ring, jwt.key_ring_ttl.max(Duration::from_millis(100)));
        let backend = Arc::new(backend.with_key_ring(Arc::clone(&ring)));
        let store = throttle_store(&config)?;
        // Never in the throttles' own store: a flood of throttle keys cannot push a lock out.
        let login_failures = Arc::new(LoginFailureLimiter::new(
            LimiterStores::in_process(config.throttle_store.max_keys),
            config
                .throttle_store
                .redis_url
                .is_some()
                .then(|| LimiterStores::shared(Arc::clone(&store))),
            passwords.login_failure_rates,
            config.pipeline.client_buckets,
        ));
        let revoked = Arc::new(RevokedFamilies::new(
            pool.clone(),
            jwt.revocation_ttl,
            (jwt.access_token_lifetime + jwt.leeway) as i64,
        ));
        let families = jwt.token_families.then(|| Families {
            pool: pool.clone(),
            revoked: Arc::clone(&revoked),
            reuse_grace: jwt.refresh_reuse_grace as i64,
            refresh_lifetime: (jwt.refresh_token_lifetime + jwt.leeway) as i64,
        });
        let password_claim = jwt
            .check_revoke_token
            .then(|| PasswordClaim::new(jwt.revoke_token_claim.clone(), &config.secret_key))
            .transpose()
            .map_err(StartupError::Keys)?
            .map(Arc::new);
        let tokens = Arc::new(TokenService {
            families,
            password_claim,
            token_claims,
            backend: Arc::clone(&backend),
            accounts: Arc::clone(&accounts),
            login_failures: Arc::clone(&login_failures),
            lifetimes: Lifetimes {
                access: jwt.access_token_lifetime as i64,
                refresh: jwt.refresh_token_lifetime as i64,
            },
            rotate_refresh_tokens: jwt.rotate_refresh_tokens,
            check_user_is_active: jwt.check_user_is_active,
            update_last_login: jwt.update_last_login,
            sliding: jwt.sliding.clone(),
            user_id_field: jwt.user_id_field,
            blacklist_after_rotation: jwt.blacklist_after_rotation,
        });
        let counter = Arc::new(Counter::new(store, config.throttle_store.failure_mode));
        let auth_tokens = Arc::new(
            AuthTokens::new(
                Arc::clone(&accounts),
                passwords.auth_token_keys,
                &config.secret_key,
                passwords.user_cache_ttl,
            )
            .map_err(StartupError::Keys)?,
        );
        let admin_settings = &config.admin;
        let sessions = Arc::new(SessionStore::new(
            pool.clone(),
            admin_settings.session_cookie_age,
            admin_settings.session_cookie_secure,
        ));
        let admin = Arc::new(Admin {
            templates: Templates::load(&admin_settings.templates_dir)
                .map_err(StartupError::Templates)?,
            sessions: Arc::clone(&sessions),
            accounts: Arc::clone(&accounts),
            login_failures: Arc::clone(&login_failures),
            revoked: Arc::clone(&revoked),
            auth_tokens: Arc::clone(&auth_tokens),
            trusted_origins: admin_settings.csrf_trusted_origins.clone(),
            trusted_proxies: config.pipeline.trusted_proxies.clone(),
            body_limits: config.pipeline.body_limits,
        });
        Ok(AppState {
            admin,
            sessions,
            config,
            pool,
            accounts,
            backend,
            tokens,
            counter,
            login_failures,
            revoked,
            auth_tokens,
            key_ring: ring,
        })
    }

    /// The JWT class's challenge, which simplejwt's token views also send on their 401s.
    pub fn bearer_challenge(&self) -> String {
        self.jwt_authentication()
            .authenticate_header()
            .unwrap_or_default()
    }

    fn jwt_authentication(&self) -> JWTAuthentication {
        JWTAuthentication {
            backend: Arc::clone(&self.backend),
            accounts: Arc::clone(&self.accounts),
            header_types: self.config.jwt.auth_header_types.clone(),
            header_name: self.config.jwt.auth_header_name.clone(),
            check_user_is_active: self.config.jwt.check_user_is_active,
            www_authenticate_realm: REALM.to_string(),
            revoked: self
                .config
                .jwt
                .token_families
                .then(|| Arc::clone(&self.revoked)),
            stateless: false,
            token_types: self.config.jwt.auth_token_classes.clone(),
            user_id_field: self.config.jwt.user_id_field,
            password_claim: self.tokens.password_claim.clone(),
        }
    }

    /// Browser mode's refresh-token cookie, when `TOKEN_COOKIE` is on.
    pub fn token_cookie(&self) -> Option<Arc<TokenCookie>> {
        let config = &self.config;
        config.jwt.token_cookie.then(|| {
            Arc::new(TokenCookie {
                secure: config.admin.session_cookie_secure,
                max_age: config.jwt.refresh_token_lifetime as i64,
                trusted_origins: config.admin.csrf_trusted_origins.clone(),
                trusted_proxies: config.pipeline.trusted_proxies.clone(),
            })
        })
    }

    /// The settings' class lists as trait objects, in the configured order.
    pub fn api_settings(&self) -> ApiSettings {
        let pipeline = &self.config.pipeline;
        ApiSettings {
            authentication_classes: pipeline
                .authentication_classes
                .iter()
                .map(|class| self.authentication_class(*class))
                .collect(),
            permission_classes: pipeline
                .default_permission_classes
                .iter()
                .map(|expr| expr.build())
                .collect(),
            throttle_classes: pipeline
                .throttle_classes
                .iter()
                .map(|class| self.throttle_class(class))
                .collect(),
            trusted_proxies: pipeline.trusted_proxies.clone(),
            client_buckets: pipeline.client_buckets,
            body_limits: pipeline.body_limits,
        }
    }

    fn authentication_class(&self, class: AuthenticationClass) -> Arc<dyn Authentication> {
        match class {
            AuthenticationClass::Jwt => Arc::new(self.jwt_authentication()),
            AuthenticationClass::JwtStateless => Arc::new(JWTAuthentication {
                stateless: true,
                ..self.jwt_authentication()
            }),
            AuthenticationClass::Session => Arc::new(SessionAuthentication {
                sessions: Arc::clone(&self.sessions),
                accounts: Arc::clone(&self.accounts),
                trusted_origins: self.config.admin.csrf_trusted_origins.clone(),
                trusted_proxies: self.config.pipeline.trusted_proxies.clone(),
            }),
            AuthenticationClass::RemoteUser => Arc::new(RemoteUserAuthentication {
                accounts: Arc::clone(&self.accounts),
                header: self.config.pipeline.remote_user_header.clone(),
                trusted_proxies: self.config.pipeline.remote_user_proxies.clone(),
            }),
            AuthenticationClass::Token => Arc::new(TokenAuthentication {
                tokens: Arc::clone(&self.auth_tokens),
            }),
            AuthenticationClass::Basic => Arc::new(BasicAuthentication {
                accounts: Arc::clone(&self.accounts),
                login_failures: Arc::clone(&self.login_failures),
                www_authenticate_realm: REALM.to_string(),
            }),
        }
    }

    fn throttle_class(&self, class: &ThrottleClass) -> Arc<dyn Throttle> {
        let counter = Arc::clone(&self.counter);
        match class {
            ThrottleClass::Anon(rate) => Arc::new(AnonRateThrottle {
                rate: *rate,
                counter,
            }),
            ThrottleClass::User(rate) => Arc::new(UserRateThrottle {
                rate: *rate,
                counter,
            }),
            ThrottleClass::Scoped(rates) => Arc::new(ScopedRateThrottle {
                rates: rates.clone(),
                counter,
            }),
        }
    }
}

fn throttle_store(config: &Config) -> Result<Arc<dyn ThrottleStore>, StartupError> {
    let settings = &config.throttle_store;
    match &settings.redis_url {
        None => Ok(Arc::new(MemoryStore::new(settings.max_keys))),
        Some(url) => Ok(Arc::new(
            RedisStore::new(url, &settings.redis_key_prefix, settings.redis_timeout)
                .map_err(StartupError::Redis)?,
        )),
    }
}
