//! `portcullis serve`: migrations, then the HTTP server until SIGTERM or SIGINT.

use actix_web::dev::ServerHandle;
use tokio::signal::unix::{SignalKind, signal};

use crate::commands::CommandError;
use crate::config::Config;
use crate::startup::{Application, StartupError};

pub fn serve(
    mut config: Config,
    bind: Option<String>,
    workers: Option<usize>,
    views: Option<crate::startup::Views>,
) -> Result<(), CommandError> {
    if let Some(bind) = bind {
        config.server.bind = bind;
    }
    if let Some(workers) = workers {
        if workers == 0 {
            return Err(CommandError::refused("--workers must be at least 1"));
        }
        config.server.workers = workers;
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let bind = config.server.bind.clone();
        let workers = config.server.workers;
        let grace = config.server.shutdown_timeout;
        let app = match views {
            None => Application::build(config)?,
            Some(views) => {
                let bind = config.server.bind.clone();
                let listener = std::net::TcpListener::bind(&bind)
                    .map_err(|source| StartupError::Bind { bind, source })?;
                Application::with_views(config, listener, move |state| views(state))?
            }
        };
        log::info!(
            "portcullis listening on {bind} (port {}) with {workers} workers",
            app.port
        );
        let signals = Signals::install().map_err(StartupError::Server)?;
        actix_web::rt::spawn(signals.stop_gracefully(app.server.handle(), grace));
        app.server.await.map_err(StartupError::Server)?;
        Ok(())
    })
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Returns the name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    /// SIGTERM (systemd, nginx upstream rotation) and SIGINT (Ctrl-C) both stop accepting and
    /// let in-flight requests finish within SHUTDOWN_TIMEOUT; actix would treat SIGINT as a
    /// hard stop. A second signal stops at once.
    async fn stop_gracefully(mut self, server: ServerHandle, grace: std::time::Duration) {
        let first = self.next().await;
        log::info!(
            "{first} received; finishing in-flight requests (up to {}s)",
            grace.as_secs()
        );
        tokio::select! {
            _ = server.stop(true) => {}
            second = self.next() => {
                log::warn!("{second} received again; stopping now");
                server.stop(false).await;
            }
        }
    }
}
