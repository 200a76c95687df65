//! Sets up the log (env_logger, filtered by `RUST_LOG`), with one correction: actix logs a
//! malformed request from a client (`stream error: Request parse error ...`) at ERROR, so any
//! client could fill the error log. Those records are passed on at DEBUG instead.

use std::sync::atomic::{AtomicU64, Ordering};

use log::{Level, Log, Metadata, Record};

/// Where actix's HTTP/1 connection handling logs; its ERROR records are about one client's
/// connection, not about the server.
const CLIENT_STREAM_TARGET: &str = "actix_http::h1";

struct DemoteClientErrors(env_logger::Logger);

impl DemoteClientErrors {
    fn is_client_stream_error(metadata: &Metadata<'_>) -> bool {
        metadata.level() == Level::Error && metadata.target().starts_with(CLIENT_STREAM_TARGET)
    }
}

impl Log for DemoteClientErrors {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if Self::is_client_stream_error(metadata) {
            let demoted = Metadata::builder()
                .level(Level::Debug)
                .target(metadata.target())
                .build();
            return self.0.enabled(&demoted);
        }
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if Self::is_client_stream_error(record.metadata()) {
            self.0.log(
                &Record::builder()
                    .args(*record.args())
                    .level(Level::Debug)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
            return;
        }
        self.0.log(record);
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger; `filters` is `RUST_LOG`'s syntax.
pub fn init(filters: &str) {
    let logger = env_logger::Builder::new().parse_filters(filters).build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(DemoteClientErrors(logger))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// Lets a message through at most once a minute: what a flood or an outage repeats on every
/// request must not become as many log lines.
#[derive(Debug, Default)]
pub struct OncePerMinute {
    last: AtomicU64,
}

impl OncePerMinute {
    pub const fn new() -> OncePerMinute {
        OncePerMinute {
            last: AtomicU64::new(0),
        }
    }

    /// True for the first call in each minute (`now`: Unix seconds).
    pub fn due(&self, now: u64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        now >= last + 60
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
