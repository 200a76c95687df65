//! Provides the Redis throttle store, so that several instances share one exact limit.
//!
//! Semantics are the in-process store's (memory.rs), moved into two Lua scripts that Redis runs
//! atomically: rates up to `EXACT_LIMIT` keep DRF's exact history (a sorted set of request
//! times, bounded by the rate), larger rates a two-window counter (one small hash per key).
//!
//! Every Redis round trip is bounded by `timeout`, and after a failed connection attempt no new
//! one is tried for `RECONNECT_DELAY`, so a Redis that is down or unreachable costs a request at
//! most one timeout and usually nothing; the caller (`Counter`) then applies the failure mode.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Script};

use super::memory::EXACT_LIMIT;
use super::{Hit, Rate, StoreError, ThrottleStore};

/// How long a failed connection attempt keeps the store from trying again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

pub struct RedisStore {
    client: Client,
    prefix: String,
    timeout: Duration,
    /// One multiplexed connection per worker thread: each actix worker runs its own
    /// single-threaded runtime, and a connection's driver task lives on the runtime that opened
    /// it, so sharing one across workers would tie them all to one worker's lifetime.
    connections: Mutex<HashMap<ThreadId, MultiplexedConnection>>,
    down_until: Mutex<Option<Instant>>,
    /// Makes sorted-set members unique across requests and instances.
    member_prefix: String,
    sequence: AtomicU64,
    log_script: Script,
    windows_script: Script,
    release_script: Script,
}

impl RedisStore {
    /// Parses the URL only: the store connects on first use, so the server starts while Redis is down.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisStore, String> {
        let client = Client::open(url).map_err(|e| e.to_string())?;
        Ok(RedisStore {
            client,
            prefix: prefix.to_string(),
            timeout,
            connections: Mutex::new(HashMap::new()),
            down_until: Mutex::new(None),
            member_prefix: uuid::Uuid::new_v4().simple().to_string(),
            sequence: AtomicU64::new(0),
            log_script: Script::new(include_str!("lua/log.lua")),
            windows_script: Script::new(include_str!("lua/windows.lua")),
            release_script: Script::new(include_str!("lua/release.lua")),
        })
    }

    /// This thread's connection, opened if needed (within the timeout, unless recently failed).
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        let thread = std::thread::current().id();
        if let Some(conn) = self.connections.lock().map_err(poisoned)?.get(&thread) {
            return Ok(conn.clone());
        }
        if let Some(until) = *self.down_until.lock().map_err(poisoned)?
            && Instant::now() < until
        {
            return Err(StoreError(
                "Redis was unreachable moments ago; not retrying yet".into(),
            ));
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let opened = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match opened {
            Ok(Ok(conn)) => {
                *self.down_until.lock().map_err(poisoned)? = None;
                self.connections
                    .lock()
                    .map_err(poisoned)?
                    .insert(thread, conn.clone());
                Ok(conn)
            }
            failed => {
                if let Some(metrics) = crate::metrics::recording() {
                    metrics.redis_reachable(false);
                }
                *self.down_until.lock().map_err(poisoned)? = Some(Instant::now() + RECONNECT_DELAY);
                Err(match failed {
                    Ok(Err(e)) => StoreError(format!("cannot connect to Redis: {e}")),
                    _ => StoreError("cannot connect to Redis: timed out".into()),
                })
            }
        }
    }

    /// Runs one script call within the timeout.
    async fn eval(
        &self,
        script: &Script,
        key: String,
        args: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        invocation.key(key);
        for arg in args {
            invocation.arg(arg);
        }
        self.bounded("call", invocation.invoke_async(&mut conn))
            .await
    }

    /// Awaits one Redis round trip within the timeout; a broken or silent connection is dropped
    /// to be reopened.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let answer = tokio::time::timeout(self.timeout, call).await;
        if let Some(metrics) = crate::metrics::recording() {
            metrics.redis_round_trip(matches!(answer, Ok(Ok(_))));
        }
        match answer {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.forget_connection();
                }
                Err(StoreError(format!("Redis {what} failed: {e}")))
            }
            Err(_) => {
                self.forget_connection();
                Err(StoreError(format!("Redis {what} timed out")))
            }
        }
    }

    fn forget_connection(&self) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.remove(&std::thread::current().id());
        }
    }

    /// Runs the script for the rate's kind; it counts the request only when `record`.
    async fn apply(
        &self,
        key: &str,
        rate: Rate,
        now: f64,
        record: bool,
    ) -> Result<Hit, StoreError> {
        // `{}` prints the shortest string that reads back as the same double: exact in Lua.
        let mut args = vec![
            rate.num_requests.to_string(),
            rate.duration.to_string(),
            now.to_string(),
            if record { "1" } else { "0" }.to_string(),
        ];
        let key = self.full_key(key, rate);
        let script = if kind(rate) == "log" {
            args.push(self.unique_member(now));
            &self.log_script
        } else {
            &self.windows_script
        };
        let reply = self.eval(script, key, &args).await?;
        match reply.as_slice() {
            [allowed] if allowed == "1" => Ok(Hit::Allowed),
            [refused, wait] if refused == "0" => wait
                .parse()
                .map(|wait| Hit::Refused { wait })
                .map_err(|_| StoreError(format!("unexpected script reply {reply:?}"))),
            _ => Err(StoreError(format!("unexpected script reply {reply:?}"))),
        }
    }

    /// Separate key spaces per kind, so a rate changed across EXACT_LIMIT never meets a key
    /// of the other Redis type.
    fn full_key(&self, key: &str, rate: Rate) -> String {
        format!("{}{}:{key}", self.prefix, kind(rate))
    }

    fn unique_member(&self, now: f64) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{now}-{}-{n}", self.member_prefix)
    }
}

#[async_trait]
impl ThrottleStore for RedisStore {
    async fn hit(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError> {
        self.apply(key, rate, now, true).await
    }

    async fn peek(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError> {
        self.apply(key, rate, now, false).await
    }

    async fn release(&self, key: &str, rate: Rate, at: f64) -> Result<(), StoreError> {
        let args = [
            kind(rate).to_string(),
            at.to_string(),
            rate.duration.to_string(),
        ];
        self.eval(&self.release_script, self.full_key(key, rate), &args)
            .await
            .map(|_| ())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        self.bounded("PING", redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map(|_| ())
    }
}

/// The exact log (`log`) or the two-window counter (`win`).
fn kind(rate: Rate) -> &'static str {
    if rate.num_requests <= EXACT_LIMIT {
        "log"
    } else {
        "win"
    }
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() || e.is_timeout()
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError("Redis store lock poisoned".into())
}
