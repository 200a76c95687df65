//! Builds the application from a `Config`: state, class lists and the HTTP server (shared by `serve` and the tests).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, Logger};
use actix_web::{App, HttpServer, web};

use crate::accounts::Accounts;
use crate::admin::Admin;
use crate::admin::authentication::SessionAuthentication;
use crate::admin::session::SessionStore;
use crate::config::{Config, SecretKeySource};

use crate::db::{self, DbPool};
use crate::hashers::PasswordHasher;
use crate::jwt::TokenBackend;
use crate::jwt::authentication::JWTAuthentication;
use crate::jwt::serializers::TokenService;
use crate::jwt::tokens::Lifetimes;
use crate::rest::authentication::{Authentication, BasicAuthentication};
use crate::rest::permissions::parse_permission_classes;
use crate::rest::throttling::memory::MemoryStore;
use crate::rest::throttling::redis::RedisStore;
use crate::rest::throttling::{
    AnonRateThrottle, Counter, ScopedRateThrottle, Throttle, ThrottleStore, UserRateThrottle,
};
use crate::rest::{APIView, ApiSettings};

/// The realm of every challenge, as in the reference (`WWW-Authenticate: Bearer realm="api"`).
pub const REALM: &str = "api";

/// What every worker shares.
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub accounts: Arc<Accounts>,
    pub backend: Arc<TokenBackend>,
    pub tokens: Arc<TokenService>,
    pub counter: Arc<Counter>,
    pub sessions: Arc<SessionStore>,
    pub admin: Arc<Admin>,
}

impl AppState {
    pub fn build(config: Config) -> Result<AppState, String> {
        let config = Arc::new(config);
        let pool = db::build_pool(&config);
        let hasher = Arc::new(PasswordHasher::new(
            config.hasher_threads,
            config.hasher_queue,
            config.bcrypt_cost,
        ));
        let accounts = Arc::new(Accounts::new(pool.clone(), hasher, config.user_cache_ttl));
        let backend = Arc::new(TokenBackend::new(
            config.secret_key.as_bytes(),
            config.jwt_algorithm,
            config.jwt_leeway,
        ));
        let tokens = Arc::new(TokenService {
            backend: Arc::clone(&backend),
            accounts: Arc::clone(&accounts),
            lifetimes: Lifetimes {
                access: config.access_token_lifetime as i64,
                refresh: config.refresh_token_lifetime as i64,
            },
            rotate_refresh_tokens: config.rotate_refresh_tokens,
            blacklist_after_rotation: config.blacklist_after_rotation,
        });
        let store = throttle_store(&config)?;
        let counter = Arc::new(Counter::new(store, config.throttle_failure_mode));
        let sessions = Arc::new(SessionStore::new(
            pool.clone(),
            config.session_cookie_age,
            config.session_cookie_secure,
        ));
        let admin = Arc::new(Admin::new(
            &config,
            Arc::clone(&sessions),
            Arc::clone(&accounts),
            Arc::clone(&counter),
        )?);
        Ok(AppState {
            admin,
            sessions,
            config,
            pool,
            accounts,
            backend,
            tokens,
            counter,
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
            header_types: self.config.auth_header_types.clone(),
            www_authenticate_realm: REALM.to_string(),
        }
    }

    /// The settings' class lists as trait objects, in the configured order.
    pub fn api_settings(&self) -> Result<ApiSettings, String> {
        let authentication_classes = self
            .config
            .authentication_classes
            .iter()
            .map(|name| self.authentication_class(name))
            .collect::<Result<Vec<_>, _>>()?;
        let permission_classes = parse_permission_classes(&self.config.default_permission_classes)
            .map_err(|e| format!("invalid setting DEFAULT_PERMISSION_CLASSES: {e}"))?;
        let throttle_classes = self
            .config
            .throttle_classes
            .iter()
            .map(|name| self.throttle_class(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ApiSettings {
            authentication_classes,
            permission_classes,
            throttle_classes,
            trusted_proxies: self.config.trusted_proxies.clone(),
            max_body_size: self.config.max_body_size,
        })
    }

    fn authentication_class(&self, name: &str) -> Result<Arc<dyn Authentication>, String> {
        match name {
            "jwt" => Ok(Arc::new(self.jwt_authentication())),
            "session" => Ok(Arc::new(SessionAuthentication {
                sessions: Arc::clone(&self.sessions),
                accounts: Arc::clone(&self.accounts),
                trusted_origins: self.config.csrf_trusted_origins.clone(),
                trusted_proxies: self.config.trusted_proxies.clone(),
            })),
            "basic" => Ok(Arc::new(BasicAuthentication {
                accounts: Arc::clone(&self.accounts),
                www_authenticate_realm: REALM.to_string(),
            })),
            other => Err(format!(
                "invalid setting AUTHENTICATION_CLASSES: {other:?} is not available"
            )),
        }
    }

    fn throttle_class(&self, name: &str) -> Result<Arc<dyn Throttle>, String> {
        let rates = &self.config.throttle_rates;
        let counter = Arc::clone(&self.counter);
        let missing = || format!("invalid setting THROTTLE_RATES: no rate for {name:?}");
        Ok(match name {
            "anon" => Arc::new(AnonRateThrottle {
                rate: *rates.get("anon").ok_or_else(missing)?,
                counter,
            }),
            "user" => Arc::new(UserRateThrottle {
                rate: *rates.get("user").ok_or_else(missing)?,
                counter,
            }),
            "scoped" => Arc::new(ScopedRateThrottle {
                rates: rates.clone(),
                counter,
            }),
            other => {
                return Err(format!(
                    "invalid setting THROTTLE_CLASSES: unknown {other:?}"
                ));
            }
        })
    }
}

fn throttle_store(config: &Config) -> Result<Arc<dyn ThrottleStore>, String> {
    match &config.redis_url {
        None => Ok(Arc::new(MemoryStore::default())),
        Some(url) => Ok(Arc::new(RedisStore::new(
            url,
            &config.redis_key_prefix,
            config.redis_timeout,
        )?)),
    }
}

/// Applies pending migrations and logs each one applied.
pub fn migrate(config: &Config) -> Result<Vec<String>, String> {
    let mut conn =
        db::connect(&config.database_url).map_err(|e| format!("cannot open DATABASE_URL: {e}"))?;
    let applied = db::run_migrations(&mut conn).map_err(|e| format!("migration failed: {e}"))?;
    for version in &applied {
        log::info!("applied migration {version}");
    }
    Ok(applied)
}

/// A bound, not yet running server; `port` is the one actually bound (tests bind port 0).
pub struct Application {
    pub port: u16,
    pub server: Server,
}

impl Application {
    pub fn build(config: Config) -> Result<Application, String> {
        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| format!("cannot bind BIND={}: {e}", config.bind))?;
        Application::with_listener(config, listener)
    }

    pub fn with_listener(config: Config, listener: TcpListener) -> Result<Application, String> {
        Application::with_views(config, listener, |_| Vec::new())
    }

    /// Serves `views` (path, view) besides portcullis' own: how a project adds its endpoints.
    /// They are built per worker from the shared state, and run through the same pipeline.
    pub fn with_views(
        config: Config,
        listener: TcpListener,
        views: impl Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync + 'static,
    ) -> Result<Application, String> {
        migrate(&config)?;
        let views = Arc::new(views);
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = web::Data::new(AppState::build(config)?);
        let settings = web::Data::new(state.api_settings()?);
        let config = Arc::clone(&state.config);
        let server = HttpServer::new(move || {
            let trusted = state.config.trusted_proxies.clone();
            App::new()
                .app_data(state.clone())
                .app_data(settings.clone())
                .wrap(security_headers())
                .wrap(
                    Logger::new("%{client}xi \"%{method}xi %U\" %s %b %Dms")
                        .custom_request_replace("client", move |req| {
                            crate::urls::log_client(req, &trusted)
                        })
                        .custom_request_replace("method", |req| req.method().to_string()),
                )
                .configure(|cfg| crate::urls::configure(cfg, &state, views(&state)))
        })
        .workers(config.workers)
        .keep_alive(config.keep_alive)
        .client_request_timeout(config.client_request_timeout)
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        // `serve` handles SIGTERM and SIGINT itself (both graceful); in-process tests need none.
        .disable_signals()
        .listen(listener)
        .map_err(|e| e.to_string())?
        .run();
        Ok(Application { port, server })
    }
}

/// Django's security middleware headers.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}

/// Says where the signing key came from; a generated key deserves a warning.
pub fn log_secret_key_source(source: &SecretKeySource) {
    match source {
        SecretKeySource::Generated(path) => log::warn!(
            "SECRET_KEY is not set: generated a random key and stored it in {} (mode 0600); \
             set SECRET_KEY to share one key between instances",
            path.display()
        ),
        SecretKeySource::File(path) => log::debug!("SECRET_KEY read from {}", path.display()),
        SecretKeySource::Environment => {}
    }
}
