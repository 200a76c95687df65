//! Provides the login failure limiter: one limit on failed password checks, shared by every
//! path that checks a password (`/api/token/`, Basic authentication on any view, the admin
//! login), so no path is an unthrottled password oracle.
//!
//! Three counts, each a throttle key in the same store as the throttles (memory or Redis):
//! - `pair`: the username from one client address (default 5/min): guessing one account's
//!   password from one place;
//! - `ip`: the client address, whatever the usernames (30/min): one place guessing many
//!   accounts;
//! - `user`: the username from anywhere (100/hour): a botnet guessing one account.
//!
//! The real owner is not locked out by someone else: `pair` locks the attacker's address only,
//! and `user` is set far above what `pair` lets one address spend, so an attacker must spread
//! over many addresses, for an hour, to lock an account everywhere.
//!
//! Every attempt is counted on the three keys *before* the password is hashed, in one atomic
//! store operation per key, and given back when the check succeeds: so only failures count,
//! concurrent attempts cannot all pass a limit that is almost reached, and no hash is computed
//! while locked, for unknown usernames as for known ones (the right password is refused too:
//! no oracle).
//!
//! The counts live in a store of their own, never in the throttles' (a flood of cheap requests
//! must not push a lock out): in this process, a partition that keeps every lock (full of live
//! locks, it refuses new password checks rather than forget one), and one for the marks of
//! addresses that signed in. With Redis, the keys live there too, and this instance keeps its
//! own counts in process all the same: an attempt is refused when either refuses, and while
//! Redis cannot be reached the in-process counts go on alone. So an outage, or a Redis that
//! restarts empty, gives nobody a fresh budget on this instance.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::in_flight::InFlight;
use super::memory::MemoryStore;
use super::{Hit, Rate, StoreError, ThrottleStore};
use crate::accounts::Accounts;
use crate::addresses::ClientBuckets;
use crate::clock::now;
use crate::events::SecurityEvent;
use crate::logging::OncePerMinute;
use crate::models::users::User;
use crate::rest::client::ident;
use crate::rest::exceptions::ApiError;

/// `LOGIN_FAILURE_RATES`: `pair=5/min,ip=30/min,user=100/hour`; a missing one keeps its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginFailureRates {
    pub pair: Rate,
    pub ip: Rate,
    pub user: Rate,
}

impl Default for LoginFailureRates {
    fn default() -> LoginFailureRates {
        LoginFailureRates {
            pair: Rate {
                num_requests: 5,
                duration: 60.0,
            },
            ip: Rate {
                num_requests: 30,
                duration: 60.0,
            },
            user: Rate {
                num_requests: 100,
                duration: 3600.0,
            },
        }
    }
}

impl FromStr for LoginFailureRates {
    type Err = String;

    fn from_str(value: &str) -> Result<LoginFailureRates, String> {
        let mut rates = LoginFailureRates::default();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, rate) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not name=rate"))?;
            let rate = rate
                .trim()
                .parse::<Rate>()
                .map_err(|e| format!("{item:?}: {e}"))?;
            match name.trim() {
                "pair" => rates.pair = rate,
                "ip" => rates.ip = rate,
                "user" => rates.user = rate,
                other => return Err(format!("unknown limit {other:?} (known: pair, ip, user)")),
            }
        }
        Ok(rates)
    }
}

/// The outcome of a password check behind the limiter.
#[derive(Debug)]
pub enum LoginCheck {
    /// The credentials are right and the caller accepted the user.
    Passed(User),
    /// Wrong credentials, an inactive user, or a user the caller refuses: counted.
    Failed,
    /// Over a limit: nothing was checked; retry after `wait` seconds.
    Locked { wait: u64 },
}

/// Where the limiter keeps its keys: the failure counts (and so the locks), and the marks of
/// addresses that signed in.
pub struct LimiterStores {
    counts: Arc<dyn ThrottleStore>,
    marks: Arc<dyn ThrottleStore>,
}

impl LimiterStores {
    /// In this process: two partitions of their own, of at most `max_keys` each; the counts
    /// keep every lock.
    pub fn in_process(max_keys: usize) -> LimiterStores {
        LimiterStores {
            counts: Arc::new(MemoryStore::new(max_keys).keeping_every_lock()),
            marks: Arc::new(MemoryStore::new(max_keys)),
        }
    }

    /// Both in one shared store (Redis).
    pub fn shared(store: Arc<dyn ThrottleStore>) -> LimiterStores {
        LimiterStores {
            counts: Arc::clone(&store),
            marks: store,
        }
    }
}

pub struct LoginFailureLimiter {
    /// This instance's counts, always; the only ones without a shared store.
    local: LimiterStores,
    /// The counts every instance shares (Redis), when configured.
    shared: Option<LimiterStores>,
    rates: LoginFailureRates,
    buckets: ClientBuckets,
    /// Checks counted and still running here, which a refusal waits for.
    in_flight: InFlight,
    failure_log: OncePerMinute,
}

/// How long an attempt that meets a limit reached only by checks still running waits for them
/// to settle, at most: a few rounds of bcrypt at cost 12 on a busy hashing pool.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A limit that refused: after how many seconds, and under which key.
struct Refusal {
    wait: u64,
    key: String,
    /// Which limit refused (`LIMIT_NAMES`).
    limit: &'static str,
}

/// The names of `Keys::limits`, in their order: the metrics' `limit` label.
const LIMIT_NAMES: [&str; 3] = ["ip", "pair", "user"];

/// The keys of one attempt: the three limits, and the mark of an address that signed in.
struct Keys {
    limits: [(String, Rate); 3],
    known: String,
}

/// How long an address that signed in to an account stays known for it: a week.
const KNOWN_ADDRESS: Rate = Rate {
    num_requests: 1,
    duration: 7.0 * 86_400.0,
};

/// Whether the address signed in to the username within `KNOWN_ADDRESS`: its mark is there
/// (a store at its limit of one).
async fn is_known(store: &dyn ThrottleStore, known: &str, at: f64) -> Result<bool, StoreError> {
    Ok(matches!(
        store.peek(known, KNOWN_ADDRESS, at).await?,
        Hit::Refused { .. }
    ))
}

async fn release_all(store: &dyn ThrottleStore, counted: &[(String, Rate)], at: f64) {
    for (key, rate) in counted {
        let _ = store.release(key, *rate, at).await;
    }
}

/// One counted attempt: the keys it was counted under, here and in the shared store (none
/// when that could not be reached).
struct Attempt {
    local: Vec<(String, Rate)>,
    shared: Option<Vec<(String, Rate)>>,
    at: f64,
    /// The mark a success leaves for this address and username.
    known: String,
}

impl LoginFailureLimiter {
    /// `local` holds this instance's counts; `shared` (Redis) every instance's, when set.
    pub fn new(
        local: LimiterStores,
        shared: Option<LimiterStores>,
        rates: LoginFailureRates,
        buckets: ClientBuckets,
    ) -> LoginFailureLimiter {
        LoginFailureLimiter {
            local,
            shared,
            rates,
            buckets,
            in_flight: InFlight::default(),
            failure_log: OncePerMinute::new(),
        }
    }

    /// Keys held in this process (the counts and the marks), for the metrics.
    pub fn local_keys(&self) -> usize {
        let counts = self.local.counts.keys_held().unwrap_or(0);
        counts + self.local.marks.keys_held().unwrap_or(0)
    }

    /// Checks `username`/`password` from `client` unless a limit is reached; `accept` may still
    /// refuse a user whose password is right (the admin takes staff only), which counts as a
    /// failure.
    pub async fn check(
        &self,
        accounts: &Accounts,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
        accept: impl FnOnce(&User) -> bool,
    ) -> Result<LoginCheck, ApiError> {
        let client = client.map(|ip| self.buckets.bucket(ip));
        let attempt = match self.reserve_when_settled(username, client).await? {
            Ok(attempt) => attempt,
            Err((wait, limit)) => {
                if let Some(metrics) = crate::metrics::recording() {
                    metrics
                        .login_limiter_refusals
                        .with_label_values(&[limit])
                        .inc();
                }
                SecurityEvent::new("login_throttled")
                    .client(client)
                    .with("username_hash", username_hash(username))
                    .emit();
                return Ok(LoginCheck::Locked { wait });
            }
        };
        // Ends when this function returns, after the counts were given back: an attempt woken
        // by its end sees the room.
        let _running = self
            .in_flight
            .enter(attempt.local.iter().map(|(key, _)| key.clone()).collect());
        let checked = accounts.authenticate(username, password, client).await;
        match checked {
            Ok(Ok(user)) if accept(&user) => {
                self.give_back(attempt, true).await;
                Ok(LoginCheck::Passed(user))
            }
            Ok(refused) => {
                // The account's id when the username names one, so an operator sees which
                // account is under attack; the username's hash otherwise.
                let account = match refused {
                    Ok(user) => Some(user.id),
                    Err(account) => account,
                };
                if let Some(metrics) = crate::metrics::recording() {
                    metrics.failed_password_checks.inc();
                }
                let event = SecurityEvent::new("login_failed").client(client);
                match account {
                    Some(id) => event.user(Some(id)),
                    None => event.with("username_hash", username_hash(username)),
                }
                .emit();
                Ok(LoginCheck::Failed)
            }
            // Not a failed guess (the queue was full, the database down): give it back.
            Err(error) => {
                self.give_back(attempt, false).await;
                Err(error.into())
            }
        }
    }

    /// The keys of an attempt, the address's own first: an address over its limit is refused
    /// before any key of a new username is made (a flood of made-up usernames from one address
    /// leaves nothing behind). `client` is already the client's bucket.
    fn keys(&self, username: &str, client: Option<IpAddr>) -> Keys {
        let user = username_hash(username);
        let address = ident(client);
        Keys {
            limits: [
                (format!("login_ip_{address}"), self.rates.ip),
                (format!("login_pair_{address}_{user}"), self.rates.pair),
                (format!("login_user_{user}"), self.rates.user),
            ],
            known: format!("login_known_{address}_{user}"),
        }
    }

    /// `reserve`, waiting (at most `SETTLE_WAIT`) while the limit that refuses is reached only
    /// with checks still running here: they may be right passwords, given back in a moment.
    async fn reserve_when_settled(
        &self,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<Result<Attempt, (u64, &'static str)>, ApiError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let settled = self.in_flight.settled();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            let refusal = match self.reserve(username, client).await? {
                Ok(attempt) => return Ok(Ok(attempt)),
                Err(refusal) => refusal,
            };
            if !self.in_flight.holds(&refusal.key) || tokio::time::Instant::now() >= deadline {
                return Ok(Err((refusal.wait, refusal.limit)));
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Ok(Err((refusal.wait, refusal.limit)));
            }
        }
    }

    /// Counts the attempt under every key, or none of them and the refusal when one is
    /// exhausted: here, then in the shared store.
    async fn reserve(
        &self,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<Result<Attempt, Refusal>, ApiError> {
        let keys = self.keys(username, client);
        let at = now();
        let local = match self
            .reserve_in(&self.local, &keys, at)
            .await
            .map_err(ApiError::internal)?
        {
            Ok(counted) => counted,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let shared = match &self.shared {
            None => None,
            Some(shared) => match self.reserve_in(shared, &keys, at).await {
                Ok(Ok(counted)) => Some(counted),
                Ok(Err(refusal)) => {
                    release_all(&*self.local.counts, &local, at).await;
                    return Ok(Err(refusal));
                }
                Err(error) => {
                    self.log_failure(&error);
                    None
                }
            },
        };
        Ok(Ok(Attempt {
            local,
            shared,
            at,
            known: keys.known,
        }))
    }

    /// Counts under each limit in turn and stops at the first that refuses (giving back what
    /// it counted). An account locked by its `user` limit stays open to an address that
    /// signed in to it recently (`known`): the owner keeps access from where they use it.
    async fn reserve_in(
        &self,
        stores: &LimiterStores,
        keys: &Keys,
        at: f64,
    ) -> Result<Result<Vec<(String, Rate)>, Refusal>, StoreError> {
        let store = &*stores.counts;
        let mut counted = Vec::new();
        let mut refused = None;
        for (index, (key, rate)) in keys.limits.iter().enumerate() {
            let hit = match store.hit(key, *rate, at).await {
                Ok(hit) => hit,
                Err(error) => {
                    release_all(store, &counted, at).await;
                    return Err(error);
                }
            };
            match hit {
                Hit::Allowed => counted.push((key.clone(), *rate)),
                Hit::Refused { wait } => {
                    let is_user_limit = index == keys.limits.len() - 1;
                    if is_user_limit && is_known(&*stores.marks, &keys.known, at).await? {
                        continue;
                    }
                    refused = Some(Refusal {
                        wait: wait.max(1.0).ceil() as u64,
                        key: key.clone(),
                        limit: LIMIT_NAMES[index],
                    });
                    break;
                }
            }
        }
        if let Some(refusal) = refused {
            release_all(store, &counted, at).await;
            return Ok(Err(refusal));
        }
        Ok(Ok(counted))
    }

    /// The attempt was not a failed guess: its counts are given back and, when it signed in,
    /// its address is now known for this username.
    async fn give_back(&self, attempt: Attempt, signed_in: bool) {
        let mut counted = vec![(&self.local, &attempt.local)];
        if let (Some(shared), Some(keys)) = (&self.shared, &attempt.shared) {
            counted.push((shared, keys));
        }
        for (stores, keys) in counted {
            for (key, rate) in keys {
                if let Err(error) = stores.counts.release(key, *rate, attempt.at).await {
                    self.log_failure(&error);
                }
            }
            if signed_in
                && let Err(error) = stores
                    .marks
                    .hit(&attempt.known, KNOWN_ADDRESS, attempt.at)
                    .await
            {
                self.log_failure(&error);
            }
        }
    }

    fn log_failure(&self, error: &StoreError) {
        if self.failure_log.due(now() as u64) {
            log::error!(
                "{error}; the login failure limits hold with this instance's own counts meanwhile"
            );
        }
    }
}

/// A username as keys and logs hold it: hashed, so of bounded length whatever was typed, and
/// never a password typed into the wrong field.
fn username_hash(username: &str) -> String {
    hex::encode(&Sha256::digest(username.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_up_usernames_from_a_refused_address_leave_no_keys() {
        let store = Arc::new(MemoryStore::default().keeping_every_lock());
        let limiter = LoginFailureLimiter::new(
            LimiterStores {
                counts: Arc::clone(&store) as Arc<dyn ThrottleStore>,
                marks: Arc::new(MemoryStore::default()),
            },
            None,
            "pair=100/min,ip=2/min,user=100/min".parse().unwrap(),
            ClientBuckets::default(),
        );
        let client = Some("192.0.2.1".parse().unwrap());
        for i in 0..2 {
            assert!(
                limiter
                    .reserve(&format!("u{i}"), client)
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let held = store.len();
        for i in 0..1000 {
            assert!(
                limiter
                    .reserve(&format!("new{i}"), client)
                    .await
                    .unwrap()
                    .is_err()
            );
        }
        assert_eq!(store.len(), held);
    }

    #[test]
    fn rates_parse_with_defaults_for_the_missing_ones() {
        let rates: LoginFailureRates = "pair=3/min, user=10/day".parse().unwrap();
        assert_eq!(rates.pair.num_requests, 3);
        assert_eq!(rates.ip, LoginFailureRates::default().ip);
        assert_eq!(rates.user.duration, 86_400.0);
        assert!("pear=3/min".parse::<LoginFailureRates>().is_err());
        assert!("pair=lots".parse::<LoginFailureRates>().is_err());
    }

    #[tokio::test]
    async fn a_refused_key_leaves_the_others_uncounted() {
        let limiter = LoginFailureLimiter::new(
            LimiterStores::in_process(1000),
            None,
            "pair=100/min,ip=1/min,user=100/min".parse().unwrap(),
            ClientBuckets::default(),
        );
        let client = Some("192.0.2.1".parse().unwrap());
        assert!(limiter.reserve("alice", client).await.unwrap().is_ok());
        for _ in 0..3 {
            assert!(limiter.reserve("alice", client).await.unwrap().is_err());
        }
        // Only the first attempt was counted under `pair` and `user`.
        let other = Some("192.0.2.2".parse().unwrap());
        let store = &limiter.local.counts;
        let [_, (pair, _), (user, _)] = limiter.keys("alice", client).limits;
        let one = Rate {
            num_requests: 2,
            duration: 60.0,
        };
        assert_eq!(store.peek(&pair, one, now()).await.unwrap(), Hit::Allowed);
        assert_eq!(store.peek(&user, one, now()).await.unwrap(), Hit::Allowed);
        assert!(limiter.reserve("alice", other).await.unwrap().is_ok());
    }
}
