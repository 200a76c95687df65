//! Prometheus metrics for every stage of the pipeline, in one registry per process.
//!
//! Nothing is recorded until `enable` was called, which start-up does when `METRICS_BIND` is
//! set: every recording site asks `recording()` (one atomic load) first. Labels have bounded values only: route patterns,
//! class names, codes and event names of this crate, never a path, an address, a username or a
//! token.

use std::sync::LazyLock;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request and database wait buckets, in seconds: a request here takes tens of microseconds,
/// a password check hundreds of milliseconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts recording the per-request metrics.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether the per-request metrics are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The metrics when they are recorded (`METRICS_BIND` set), else `None`: with metrics off,
/// recording anything costs one atomic load.
pub fn recording() -> Option<&'static Metrics> {
    enabled().then(metrics)
}

/// This process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Every metric portcullis exports.
pub struct Metrics {
    registry: Registry,
    /// `view` (route pattern), `method`, `status`.
    pub requests: IntCounterVec,
    /// `view`.
    pub request_duration: HistogramVec,
    /// `class`, `outcome` (`authenticated`, `failed`, `not_attempted`), `code` (of a failure).
    pub authentication: IntCounterVec,
    /// `class`.
    pub permission_denied: IntCounterVec,
    /// `class`, `scope`.
    pub throttled: IntCounterVec,
    /// `limit` (`pair`, `ip`, `user`).
    pub login_limiter_refusals: IntCounterVec,
    pub failed_password_checks: IntCounter,
    pub hasher_queue_depth: IntGauge,
    pub hasher_in_flight: IntGauge,
    /// `reason` (`fair_share`, `queue_full`).
    pub hasher_refusals: IntCounterVec,
    /// `event` (`obtained`, `refreshed`, `blacklisted`, `reuse_detected`, `family_revoked`,
    /// `logout_everywhere`).
    pub token_events: IntCounterVec,
    /// `event`: every security event of `events`.
    pub security_events: IntCounterVec,
    /// `state` (`in_use`, `idle`), sampled when scraped.
    pub db_pool_connections: IntGaugeVec,
    pub db_pool_wait: Histogram,
    pub db_errors: IntCounter,
    pub redis_round_trips: IntCounter,
    pub redis_errors: IntCounter,
    pub redis_fallback_seconds: Counter,
    /// `store` (`throttles`, `login_limiter`), sampled when scraped.
    pub throttle_store_keys: IntGaugeVec,
    pub throttle_store_evictions: IntCounter,
    pub revoked_families: IntGauge,
    pub cached_users: IntGauge,
    /// `version`, `algorithm`, `database`, `throttle_store`.
    pub build_info: IntGaugeVec,
    /// Since when Redis has been failing (the in-process fallback in force), and the time
    /// already counted into `redis_fallback_seconds`.
    fallback: Mutex<Fallback>,
    /// `fallback.since.is_some()`, readable without the lock.
    on_fallback: AtomicBool,
}

#[derive(Default)]
struct Fallback {
    since: Option<Instant>,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("a valid metric")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

fn histogram_opts(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(BUCKETS.to_vec())
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::new_custom(Some("portcullis".into()), None)
                .expect("a valid prefix"),
            requests: counter_vec(
                "http_requests_total",
                "HTTP requests answered, by view (route pattern), method and status.",
                &["view", "method", "status"],
            ),
            request_duration: HistogramVec::new(
                histogram_opts(
                    "http_request_duration_seconds",
                    "Time from the request's head to its response, by view.",
                ),
                &["view"],
            )
            .expect("a valid metric"),
            authentication: counter_vec(
                "authentication_total",
                "Authentication by class: authenticated, failed (with its code) or not attempted \
                 (no credentials of that kind).",
                &["class", "outcome", "code"],
            ),
            permission_denied: counter_vec(
                "permission_denied_total",
                "Requests refused by a permission class.",
                &["class"],
            ),
            throttled: counter_vec(
                "throttled_total",
                "Requests refused by a throttle class (429).",
                &["class", "scope"],
            ),
            login_limiter_refusals: counter_vec(
                "login_limiter_refusals_total",
                "Logins refused by the login failure limiter, by the limit reached.",
                &["limit"],
            ),
            failed_password_checks: counter(
                "failed_password_checks_total",
                "Logins whose password check failed (or whose user was refused).",
            ),
            hasher_queue_depth: gauge(
                "hasher_queue_depth",
                "Password hashing jobs waiting for a hashing thread.",
            ),
            hasher_in_flight: gauge(
                "hasher_in_flight",
                "Password hashing jobs running on a hashing thread.",
            ),
            hasher_refusals: counter_vec(
                "hasher_refusals_total",
                "Password checks refused at once: the client held its fair share of the queue, \
                 or the queue was full.",
                &["reason"],
            ),
            token_events: counter_vec(
                "token_events_total",
                "Token events: pairs obtained, refreshes, blacklisted (logout), reuse detected, \
                 families revoked, logouts everywhere.",
                &["event"],
            ),
            security_events: counter_vec(
                "security_events_total",
                "Events written to the security log, by event.",
                &["event"],
            ),
            db_pool_connections: gauge_vec(
                "db_pool_connections",
                "Database pool connections, in use or idle.",
                &["state"],
            ),
            db_pool_wait: Histogram::with_opts(histogram_opts(
                "db_pool_wait_seconds",
                "Time a database call waited for a pooled connection.",
            ))
            .expect("a valid metric"),
            db_errors: counter(
                "db_errors_total",
                "Database calls that failed: no connection in time, or the query failed.",
            ),
            redis_round_trips: counter("redis_round_trips_total", "Redis round trips."),
            redis_errors: counter(
                "redis_errors_total",
                "Redis round trips or connections that failed or timed out.",
            ),
            redis_fallback_seconds: Counter::new(
                "redis_fallback_seconds_total",
                "Seconds Redis was failing: throttles applied THROTTLE_FAILURE_MODE, the login \
                 failure limits held with this instance's own counts.",
            )
            .expect("a valid metric"),
            throttle_store_keys: gauge_vec(
                "throttle_store_keys",
                "Keys held in this process's throttle stores.",
                &["store"],
            ),
            throttle_store_evictions: counter(
                "throttle_store_evictions_total",
                "Keys evicted from a full in-process throttle store.",
            ),
            revoked_families: gauge(
                "revoked_families",
                "Refresh families in this instance's revoked set.",
            ),
            cached_users: gauge("cached_users", "Users in this instance's user cache."),
            build_info: gauge_vec(
                "build_info",
                "Always 1: the version, the token algorithm and the backends in use.",
                &["version", "algorithm", "database", "throttle_store"],
            ),
            fallback: Mutex::new(Fallback::default()),
            on_fallback: AtomicBool::new(false),
        };
        metrics.register_all();
        metrics.initialise_known_labels();
        metrics
    }

    /// Series whose label values are all known start at 0, so a rate over them is defined
    /// before the first event (Prometheus' advice for counters with labels).
    fn initialise_known_labels(&self) {
        for limit in ["ip", "pair", "user"] {
            self.login_limiter_refusals.with_label_values(&[limit]);
        }
        for reason in ["fair_share", "queue_full"] {
            self.hasher_refusals.with_label_values(&[reason]);
        }
        for event in [
            "obtained",
            "refreshed",
            "blacklisted",
            "reuse_detected",
            "family_revoked",
            "logout_everywhere",
        ] {
            self.token_events.with_label_values(&[event]);
        }
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.requests.clone()),
            Box::new(self.request_duration.clone()),
            Box::new(self.authentication.clone()),
            Box::new(self.permission_denied.clone()),
            Box::new(self.throttled.clone()),
            Box::new(self.login_limiter_refusals.clone()),
            Box::new(self.failed_password_checks.clone()),
            Box::new(self.hasher_queue_depth.clone()),
            Box::new(self.hasher_in_flight.clone()),
            Box::new(self.hasher_refusals.clone()),
            Box::new(self.token_events.clone()),
            Box::new(self.security_events.clone()),
            Box::new(self.db_pool_connections.clone()),
            Box::new(self.db_pool_wait.clone()),
            Box::new(self.db_errors.clone()),
            Box::new(self.redis_round_trips.clone()),
            Box::new(self.redis_errors.clone()),
            Box::new(self.redis_fallback_seconds.clone()),
            Box::new(self.throttle_store_keys.clone()),
            Box::new(self.throttle_store_evictions.clone()),
            Box::new(self.revoked_families.clone()),
            Box::new(self.cached_users.clone()),
            Box::new(self.build_info.clone()),
        ];
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("each metric registered once");
        }
    }

    /// One Redis round trip and whether it succeeded; a failure starts (a success ends) the
    /// time on the fallback.
    pub fn redis_round_trip(&self, succeeded: bool) {
        self.redis_round_trips.inc();
        self.redis_reachable(succeeded);
    }

    /// Whether Redis answered (a connection attempt counts, a round trip too).
    pub fn redis_reachable(&self, reachable: bool) {
        if !reachable {
            self.redis_errors.inc();
        } else if !self.on_fallback.load(Ordering::Relaxed) {
            // The common case, a round trip while Redis is up: no lock.
            return;
        }
        let Ok(mut fallback) = self.fallback.lock() else {
            return;
        };
        match (reachable, fallback.since) {
            (false, None) => {
                fallback.since = Some(Instant::now());
                self.on_fallback.store(true, Ordering::Relaxed);
            }
            (true, Some(since)) => {
                self.redis_fallback_seconds
                    .inc_by(since.elapsed().as_secs_f64());
                fallback.since = None;
                self.on_fallback.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The exposition text (Prometheus text format 0.0.4), the fallback still running counted
    /// up to now.
    pub fn render(&self) -> String {
        if let Ok(mut fallback) = self.fallback.lock()
            && let Some(since) = fallback.since
        {
            let now = Instant::now();
            self.redis_fallback_seconds
                .inc_by(now.duration_since(since).as_secs_f64());
            fallback.since = Some(now);
        }
        let mut text = Vec::new();
        // Encoding into memory fails only on invalid names, which `new` would have refused.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

/// A request method as a label: the standard ones by name, anything else `other` (methods are
/// client-chosen strings).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

/// The last segment of a type's path (`JWTAuthentication` for
/// `portcullis::jwt::authentication::JWTAuthentication`): the class name of a policy object.
pub fn class_name(type_name: &'static str) -> &'static str {
    // Char patterns (memchr), not `rsplit("::")`: this runs for every class on every request,
    // and a string pattern's searcher cost ~650 instructions each time.
    let path = type_name
        .find('<')
        .map_or(type_name, |end| &type_name[..end]);
    path.rfind(':').map_or(path, |colon| &path[colon + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_the_last_path_segment() {
        assert_eq!(class_name("a::b::JWTAuthentication"), "JWTAuthentication");
        assert_eq!(class_name("a::Wrapper<b::C>"), "Wrapper");
        assert_eq!(class_name("Plain"), "Plain");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }

    #[test]
    fn the_exposition_names_every_family_with_the_prefix() {
        let metrics = metrics();
        metrics.failed_password_checks.inc();
        let text = metrics.render();
        assert!(text.contains("# TYPE portcullis_failed_password_checks_total counter"));
        assert!(text.contains("portcullis_failed_password_checks_total "));
    }
}
