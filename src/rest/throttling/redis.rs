//! Provides the Redis throttle store, so that several instances share one exact limit.
//!
//! Semantics are the in-process store's (memory.rs), moved into two Lua scripts that Redis runs
//! atomically: rates up to `EXACT_LIMIT` keep DRF's exact history (a sorted set of request
//! times, bounded by the rate), larger rates a two-window counter (one small hash per key).
//!
//! Busy keys of the large rates admit most requests on local leases (lease.rs), one round trip
//! per lease instead of per request, exactly all the same.
//!
//! Every Redis round trip is bounded by `timeout`, and after a failed connection attempt no new
//! one is tried for `RECONNECT_DELAY`, so a Redis that is down or unreachable costs a request at
//! most one timeout and usually nothing; the caller (`Counter`) then applies the failure mode.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Script};

use super::lease::{LEASE_GRACE, LEASE_TTL, Leases, Local, Settlement};
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
    leases: Arc<Leases>,
    round_trips: Arc<AtomicU64>,
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
            leases: Arc::default(),
            round_trips: Arc::default(),
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
        self.round_trips.fetch_add(1, Ordering::Relaxed);
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
        let key = self.full_key(key, rate);
        if kind(rate) == "win" {
            return self.apply_windows(key, rate, now, record).await;
        }
        // `{}` prints the shortest string that reads back as the same double: exact in Lua.
        let args = [
            rate.num_requests.to_string(),
            rate.duration.to_string(),
            now.to_string(),
            if record { "1" } else { "0" }.to_string(),
            self.unique_member(now),
        ];
        let reply = self.eval(&self.log_script, key, &args).await?;
        match reply.as_slice() {
            [allowed] if allowed == "1" => Ok(Hit::Allowed),
            [refused, wait] if refused == "0" => parse_wait(wait, &reply),
            _ => Err(unexpected(&reply)),
        }
    }

    /// The two-window counter: on this key's lease when it holds one, else one round trip that
    /// may lease slots (when the key is busy) and settles the lease that ended.
    async fn apply_windows(
        &self,
        key: String,
        rate: Rate,
        now: f64,
        record: bool,
    ) -> Result<Hit, StoreError> {
        let (want, mut settle) = if record {
            match self.take_local(&key, now).await {
                Some(ask) => ask,
                None => return Ok(Hit::Allowed),
            }
        } else {
            (1, None)
        };
        // Until the answer is recorded, this request is the key's one asking for a lease; if it
        // ends any other way (an error, an odd reply, the client gone and the future dropped),
        // the guard lets the next request ask instead of every one waiting for this one.
        let mut asking = (want > 1).then(|| AskingGuard {
            leases: &self.leases,
            key: &key,
        });
        let started = Instant::now();
        let mut attempt_at = now;
        loop {
            let call = WindowsCall {
                key: &key,
                rate,
                now: attempt_at,
                record,
                want,
                settle: settle.take(),
            };
            let reply = self.eval_windows(call).await?;
            match reply.as_slice() {
                [allowed] if allowed == "1" && !record => return Ok(Hit::Allowed),
                [allowed, granted, window, until] if allowed == "1" => {
                    if let Some(guard) = asking.take() {
                        let granted = granted.parse().map_err(|_| unexpected(&reply))?;
                        let until: f64 = until.parse().map_err(|_| unexpected(&reply))?;
                        // `granted` records the answer and wakes the waiters itself, after the
                        // lease is in place (the guard would wake them before).
                        std::mem::forget(guard);
                        if let Some(id) = self.leases.granted(&key, granted, window, until) {
                            self.settle_when_ended(
                                key.clone(),
                                rate,
                                id,
                                until,
                                until - attempt_at,
                            );
                        }
                    }
                    return Ok(Hit::Allowed);
                }
                [refused, wait] if refused == "0" => return parse_wait(wait, &reply),
                [pending, wait] if pending == "2" => {
                    // Leases are out (on other instances): only their settlement tells.
                    let wait: f64 = wait.parse().map_err(|_| unexpected(&reply))?;
                    tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.001, 1.0))).await;
                    attempt_at = now + started.elapsed().as_secs_f64();
                }
                _ => return Err(unexpected(&reply)),
            }
        }
    }

    /// This key's lease: `None` when it admitted the request, else what to ask Redis.
    /// While another request is asking for the key's next lease, waits for its answer (at most
    /// the Redis timeout) and takes again, once.
    async fn take_local(&self, key: &str, now: f64) -> Option<(u64, Option<Settlement>)> {
        let mut may_wait = true;
        loop {
            match self.leases.take(key, now, may_wait) {
                Local::Admitted => return None,
                Local::Ask { want, settle } => return Some((want, settle)),
                Local::Wait(mut answered) => {
                    let _ = tokio::time::timeout(self.timeout, answered.changed()).await;
                    may_wait = false;
                }
            }
        }
    }

    async fn eval_windows(&self, call: WindowsCall<'_>) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection().await?;
        let invocation = call.invocation(&self.windows_script);
        self.bounded("call", invocation.invoke_async(&mut conn))
            .await
    }

    /// Settles lease `id` when it ends, unless a request on its key did already: its unused
    /// slots must be back before a refusal elsewhere waits for them (LEASE_GRACE).
    fn settle_when_ended(&self, key: String, rate: Rate, id: u64, until: f64, after: f64) {
        let leases = Arc::clone(&self.leases);
        let round_trips = Arc::clone(&self.round_trips);
        let script = self.windows_script.clone();
        let timeout = self.timeout;
        let Ok(Some(mut conn)) = self
            .connections
            .lock()
            .map(|c| c.get(&std::thread::current().id()).cloned())
        else {
            return;
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(after.clamp(0.0, LEASE_TTL))).await;
            let Some(settle) = leases.take_ended(&key, id) else {
                return;
            };
            // As of the lease's end: a late timer must not move the windows on by itself.
            let call = WindowsCall {
                key: &key,
                rate,
                now: until,
                record: false,
                want: 1,
                settle: Some(settle),
            };
            let invocation = call.invocation(&script);
            round_trips.fetch_add(1, Ordering::Relaxed);
            // A failed settlement leaves the slots counted until the window moves on: safe.
            let answer =
                tokio::time::timeout(timeout, invocation.invoke_async::<Vec<String>>(&mut conn))
                    .await;
            if let Some(metrics) = crate::metrics::recording() {
                metrics.redis_round_trip(matches!(answer, Ok(Ok(_))));
            }
        });
    }

    /// Round trips made to Redis so far (leases make them fewer than requests).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
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

/// Lets the next request ask for a key's lease when this one's request ended without an answer.
struct AskingGuard<'a> {
    leases: &'a Leases,
    key: &'a str,
}

impl Drop for AskingGuard<'_> {
    fn drop(&mut self) {
        self.leases.not_granted(self.key);
    }
}

/// One call of windows.lua (its arguments are documented there).
struct WindowsCall<'a> {
    key: &'a str,
    rate: Rate,
    now: f64,
    record: bool,
    want: u64,
    settle: Option<Settlement>,
}

impl WindowsCall<'_> {
    fn invocation(self, script: &Script) -> redis::ScriptInvocation<'_> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key)
            .arg(self.rate.num_requests)
            .arg(self.rate.duration.to_string())
            .arg(self.now.to_string())
            .arg(if self.record { "1" } else { "0" })
            .arg(self.want)
            .arg(LEASE_TTL.to_string())
            .arg(LEASE_GRACE.to_string());
        match self.settle {
            Some(s) => invocation.arg(s.window).arg(s.unused).arg(s.granted),
            None => invocation.arg("").arg(0).arg(0),
        };
        invocation
    }
}

fn parse_wait(wait: &str, reply: &[String]) -> Result<Hit, StoreError> {
    wait.parse()
        .map(|wait| Hit::Refused { wait })
        .map_err(|_| unexpected(reply))
}

fn unexpected(reply: &[String]) -> StoreError {
    StoreError(format!("unexpected script reply {reply:?}"))
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() || e.is_timeout()
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError("Redis store lock poisoned".into())
}
