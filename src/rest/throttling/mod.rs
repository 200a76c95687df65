//! Provides the pluggable throttling policies (anon, user, scoped) over a shared counter store.

pub mod failures;
pub mod in_flight;
pub mod lease;
pub mod memory;
pub mod rate;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::now;
use crate::logging::OncePerMinute;
use crate::rest::exceptions::ApiError;
use crate::rest::request::Request;

pub use rate::Rate;

/// The store's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hit {
    /// Counted.
    Allowed,
    /// Not counted; the client may retry after this many seconds.
    Refused { wait: f64 },
}

#[derive(Debug, thiserror::Error)]
#[error("throttle store unavailable: {0}")]
pub struct StoreError(pub String);

/// Where request histories live: one store for the whole process, or Redis for many instances.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts a request under `key` if fewer than `rate.num_requests` were counted in the last
    /// `rate.duration` seconds before `now`; atomic, also under concurrent requests.
    async fn hit(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError>;

    /// What `hit` would answer now, without counting anything.
    async fn peek(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError>;

    /// Takes back one request that `hit` counted at `at` (a limit on failures counts every
    /// attempt up front, atomically, and gives back the ones that succeeded). Nothing happens
    /// when that request has already left the window.
    async fn release(&self, key: &str, rate: Rate, at: f64) -> Result<(), StoreError>;

    /// How many keys the store holds, when it keeps them in this process (for tests and the
    /// operator: the in-process store is bounded by `THROTTLE_MAX_KEYS`).
    fn keys_held(&self) -> Option<usize> {
        None
    }

    /// Whether the store can be reached (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait(?Send)]
pub trait Throttle: Send + Sync {
    /// `Allowed` (and records the request), or `Refused` with DRF's `wait()` in seconds (and
    /// records nothing).
    async fn allow_request(&self, request: &Request, scope: Option<&str>) -> Result<Hit, ApiError>;

    /// The class name the metrics report (the type's name unless overridden).
    fn name(&self) -> &'static str {
        crate::metrics::class_name(std::any::type_name::<Self>())
    }

    /// The scope the metrics report for a refusal under the view's `scope`.
    fn scope_label<'a>(&self, scope: Option<&'a str>) -> &'a str {
        scope.unwrap_or("")
    }
}

/// What throttling does when its shared store (Redis) cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    Open,
    Closed,
}

/// Applies the failure mode when the store cannot be reached, and logs that at most once a minute.
pub struct Counter {
    store: Arc<dyn ThrottleStore>,
    failure_mode: FailureMode,
    failure_log: OncePerMinute,
}

impl Counter {
    pub fn new(store: Arc<dyn ThrottleStore>, failure_mode: FailureMode) -> Counter {
        Counter {
            store,
            failure_mode,
            failure_log: OncePerMinute::new(),
        }
    }

    pub fn store(&self) -> &Arc<dyn ThrottleStore> {
        &self.store
    }

    /// Counts the request under `key` unless the rate is exhausted.
    pub async fn decide(&self, key: &str, rate: Rate) -> Result<Hit, ApiError> {
        let answer = self.store.hit(key, rate, now()).await;
        self.verdict(answer)
    }

    fn verdict(&self, answer: Result<Hit, StoreError>) -> Result<Hit, ApiError> {
        answer.or_else(|error| {
            self.log_failure(&error);
            match self.failure_mode {
                FailureMode::Open => Ok(Hit::Allowed),
                FailureMode::Closed => Err(ApiError::service_unavailable()),
            }
        })
    }

    fn log_failure(&self, error: &StoreError) {
        if self.failure_log.due(now() as u64) {
            log::error!("{error}; throttling fails {:?}", self.failure_mode);
        }
    }
}

/// Limits anonymous requests per client address (scope `anon`); authenticated requests pass.
pub struct AnonRateThrottle {
    pub rate: Rate,
    pub counter: Arc<Counter>,
}

#[async_trait(?Send)]
impl Throttle for AnonRateThrottle {
    fn scope_label<'a>(&self, _scope: Option<&'a str>) -> &'a str {
        "anon"
    }

    async fn allow_request(
        &self,
        request: &Request,
        _scope: Option<&str>,
    ) -> Result<Hit, ApiError> {
        if request.is_authenticated() {
            return Ok(Hit::Allowed);
        }
        let key = format!("throttle_anon_{}", request.ident());
        self.counter.decide(&key, self.rate).await
    }
}

/// `throttle_<scope>_<id>`: DRF's cache key, the user's pk when authenticated, else the client
/// address. Written into one String (a `format!` of `pk()` cost two allocations per class).
fn throttle_key(scope: &str, request: &Request) -> String {
    let mut key = String::with_capacity(40 + scope.len());
    key.push_str("throttle_");
    key.push_str(scope);
    key.push('_');
    match &request.user {
        Some(user) => user.write_pk(&mut key),
        None => key.push_str(&request.ident()),
    }
    key
}

/// Limits requests per user (scope `user`), anonymous ones per address.
pub struct UserRateThrottle {
    pub rate: Rate,
    pub counter: Arc<Counter>,
}

#[async_trait(?Send)]
impl Throttle for UserRateThrottle {
    fn scope_label<'a>(&self, _scope: Option<&'a str>) -> &'a str {
        "user"
    }

    async fn allow_request(
        &self,
        request: &Request,
        _scope: Option<&str>,
    ) -> Result<Hit, ApiError> {
        let key = throttle_key("user", request);
        self.counter.decide(&key, self.rate).await
    }
}

/// Limits requests per user or address under the view's own `throttle_scope`.
pub struct ScopedRateThrottle {
    pub rates: std::collections::HashMap<String, Rate>,
    pub counter: Arc<Counter>,
}

#[async_trait(?Send)]
impl Throttle for ScopedRateThrottle {
    async fn allow_request(&self, request: &Request, scope: Option<&str>) -> Result<Hit, ApiError> {
        let Some((scope, rate)) = scope.and_then(|s| self.rates.get(s).map(|r| (s, *r))) else {
            return Ok(Hit::Allowed);
        };
        let key = throttle_key(scope, request);
        self.counter.decide(&key, rate).await
    }
}
