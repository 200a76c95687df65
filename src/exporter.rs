//! The Prometheus endpoint: `GET /metrics` on `METRICS_BIND`, a listener of its own served by
//! one thread, so the metrics are never reachable through the public port (nor its
//! `ALLOWED_HOSTS`, throttles or access log) and a slow scrape never holds a request worker.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::metrics::{self, metrics};
use crate::state::{AppState, StartupError};

/// The exposition format Prometheus reads.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `bind` (at start-up, so a taken port stops the server), turns the per-request metrics
/// on, and serves the scrapes on a thread of its own; returns the port bound.
pub fn start(bind: &str, state: web::Data<AppState>) -> Result<u16, StartupError> {
    let listener = TcpListener::bind(bind).map_err(|source| StartupError::MetricsBind {
        bind: bind.to_string(),
        source,
    })?;
    let address = listener.local_addr()?;
    if address.ip().is_loopback() {
        log::info!("metrics on http://{address}/metrics");
    } else {
        log::warn!(
            "metrics on http://{address}/metrics: not a loopback address, keep it off the \
             public network (a firewall, or METRICS_BIND=127.0.0.1:PORT)"
        );
    }
    let port = address.port();
    record_build_info(&state);
    metrics::enable();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            let served = system.block_on(async move {
                HttpServer::new(move || {
                    App::new().app_data(state.clone()).service(
                        web::resource("/metrics")
                            .route(web::get().to(scrape))
                            .route(web::head().to(scrape)),
                    )
                })
                .workers(1)
                // Prometheus and an operator's curl: a few connections, never thousands; one
                // that sends nothing is dropped soon, so idle connections cannot keep a scrape
                // out for long.
                .max_connections(64)
                .client_request_timeout(std::time::Duration::from_secs(1))
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            });
            if let Err(error) = served {
                log::error!("the metrics listener stopped: {error}");
            }
        })?;
    Ok(port)
}

fn record_build_info(state: &AppState) {
    let config = &state.config;
    let database = if config.database.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    let throttle_store = if config.throttle_store.redis_url.is_some() {
        "redis"
    } else {
        "memory"
    };
    metrics()
        .build_info
        .with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            config.jwt.algorithm.name(),
            database,
            throttle_store,
        ])
        .set(1);
}

/// Samples what is read rather than counted (the pool, the stores, the caches), then renders.
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let metrics = metrics();
    let pool = state.pool.state();
    let idle = i64::from(pool.idle_connections);
    let connections = i64::from(pool.connections);
    metrics
        .db_pool_connections
        .with_label_values(&["idle"])
        .set(idle);
    metrics
        .db_pool_connections
        .with_label_values(&["in_use"])
        .set(connections - idle);
    if let Some(keys) = state.counter.store().keys_held() {
        metrics
            .throttle_store_keys
            .with_label_values(&["throttles"])
            .set(keys as i64);
    }
    metrics
        .throttle_store_keys
        .with_label_values(&["login_limiter"])
        .set(state.login_failures.local_keys() as i64);
    metrics.revoked_families.set(state.revoked.held() as i64);
    metrics
        .cached_users
        .set(state.accounts.cached_users() as i64);
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// Counts one answered request under its view (route pattern, `unmatched` when no route
/// matched), method and status, with its duration since `started`.
pub fn record_request<B: MessageBody>(
    response: &Result<ServiceResponse<B>, actix_web::Error>,
    method: &str,
    started: Instant,
) {
    let (view, status) = match response {
        Ok(response) => (response.request().match_pattern(), response.status()),
        Err(error) => (None, error.as_response_error().status_code()),
    };
    record(
        view.as_deref().unwrap_or("unmatched"),
        method,
        status,
        started,
    );
}

/// Counts one request under `view`.
pub fn record(view: &str, method: &str, status: StatusCode, started: Instant) {
    let metrics = metrics();
    metrics
        .requests
        .with_label_values(&[view, metrics::method_label(method), status.as_str()])
        .inc();
    metrics
        .request_duration
        .with_label_values(&[view])
        .observe(started.elapsed().as_secs_f64());
}
