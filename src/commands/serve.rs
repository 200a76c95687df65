//! `portcullis serve`: migrations, then the HTTP server until SIGTERM or SIGINT.

use crate::config::Config;
use crate::startup::Application;

pub fn serve(
    mut config: Config,
    bind: Option<String>,
    workers: Option<usize>,
) -> Result<(), String> {
    if let Some(bind) = bind {
        config.bind = bind;
    }
    if let Some(workers) = workers {
        if workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        config.workers = workers;
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let bind = config.bind.clone();
        let workers = config.workers;
        let app = Application::build(config)?;
        log::info!(
            "portcullis listening on {bind} (port {}) with {workers} workers",
            app.port
        );
        // actix-web stops accepting on SIGTERM/SIGINT and lets in-flight requests finish
        // within SHUTDOWN_TIMEOUT.
        app.server.await.map_err(|e| e.to_string())
    })
}
