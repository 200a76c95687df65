//! Builds the HTTP server from a `Config`: migrations, the shared state, the route table and
//! the middleware (shared by `serve` and the tests).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Condition, Logger};
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::db;
use crate::gate::Gate;
use crate::jwt::serializers::TokenClaims;
use crate::rest::APIView;
pub use crate::state::{AppState, StartupError};

/// Applies pending migrations and logs each one applied.
pub fn migrate(config: &Config) -> Result<Vec<String>, StartupError> {
    let mut conn = db::connect_within(&config.database.url, config.database.connect_timeout)
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let applied = db::run_migrations(&mut conn).map_err(StartupError::Migration)?;
    for version in &applied {
        log::info!("applied migration {version}");
    }
    Ok(applied)
}

/// A project's views, built per worker from the shared state.
pub type Views = Arc<dyn Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync>;

/// A bound, not yet running server; `port` is the one actually bound (tests bind port 0).
pub struct Application {
    pub port: u16,
    pub server: Server,
    /// The port of the metrics listener, when `METRICS_BIND` is set (it runs on its own thread).
    pub metrics_port: Option<u16>,
}

impl Application {
    pub fn build(config: Config) -> Result<Application, StartupError> {
        let bind = config.server.bind.clone();
        let listener =
            TcpListener::bind(&bind).map_err(|source| StartupError::Bind { bind, source })?;
        Application::with_listener(config, listener)
    }

    pub fn with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        Application::with_views(config, listener, |_| Vec::new())
    }

    /// Serves `views` (path, view) besides portcullis' own: how a project adds its endpoints.
    /// They are built per worker from the shared state, and run through the same pipeline.
    pub fn with_views(
        config: Config,
        listener: TcpListener,
        views: impl Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync + 'static,
    ) -> Result<Application, StartupError> {
        Application::with_extensions(config, listener, views, None)
    }

    /// `with_views`, plus the project's own claims in every new token (simplejwt's
    /// `TokenObtainPairSerializer.get_token` override).
    pub fn with_extensions(
        config: Config,
        listener: TcpListener,
        views: impl Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync + 'static,
        token_claims: Option<TokenClaims>,
    ) -> Result<Application, StartupError> {
        migrate(&config)?;
        let views = Arc::new(views);
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState::build(config, token_claims)?);
        let metrics_port = match &state.config.server.metrics_bind {
            Some(bind) => Some(crate::exporter::start(bind, state.clone())?),
            None => None,
        };
        let settings = Arc::new(state.api_settings());
        let server_settings = state.config.server.clone();
        let proxies = web::Data::new(crate::rest::client::TrustedProxies(
            state.config.pipeline.trusted_proxies.clone(),
        ));
        // The access log renders its fields as each request arrives (three strings), whether or
        // not the line is written: with the log off (RUST_LOG=warn) it is not mounted at all.
        let access_log =
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
        let blocking_threads = state.config.database.pool_size as usize;
        let server = HttpServer::new(move || {
            let trusted = state.config.pipeline.trusted_proxies.clone();
            let allowed_hosts = Arc::new(state.config.server.allowed_hosts.clone());
            App::new()
                .app_data(state.clone())
                .app_data(proxies.clone())
                .wrap(Gate::new(Arc::clone(&allowed_hosts)))
                .wrap(Condition::new(
                    access_log,
                    Logger::new("%{client}xi \"%{method}xi %{path}xi\" %s %b %Dms")
                        .custom_request_replace("client", move |req| {
                            crate::urls::log_client(req, &trusted)
                        })
                        .custom_request_replace("method", |req| req.method().to_string())
                        .custom_request_replace("path", |req| escape_for_log(req.path())),
                ))
                .configure(|cfg| crate::urls::configure(cfg, &state, &settings, views(&state)))
        })
        .workers(server_settings.workers)
        // The blocking pool runs the database calls (and STATIC_DIR's file reads), each holding
        // one of DB_POOL_SIZE connections: more threads would only wait for a connection, each
        // with its stack and malloc arena (a 256-connection soak grew to 150 threads and
        // +10 MB). Calls beyond it queue in order.
        .worker_max_blocking_threads(blocking_threads)
        .keep_alive(server_settings.keep_alive)
        .client_request_timeout(server_settings.client_request_timeout)
        .shutdown_timeout(server_settings.shutdown_timeout.as_secs())
        // `serve` handles SIGTERM and SIGINT itself (both graceful); in-process tests need none.
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            metrics_port,
        })
    }
}

/// The path as the access log quotes it: `"`, `\\` and control characters escaped, so a
/// client cannot end the quoted field or forge a line.
fn escape_for_log(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if c.is_control() => escaped.push_str(&c.escape_default().to_string()),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_logged_path_cannot_end_its_quotes() {
        assert_eq!(super::escape_for_log("/a\"b\\c\n"), "/a\\\"b\\\\c\\n");
    }
}
