//! Provides the in-process throttle store: one for the whole server, shared by every worker.
//!
//! DRF keeps, per key, the timestamps of the requests counted in the window. That is exact and
//! gives `Retry-After` = time until the oldest leaves the window, but it grows with the rate.
//! So: rates of up to `EXACT_LIMIT` requests keep that exact log (bounded by the rate itself,
//! since refused requests are not recorded); larger rates, where one request more or less is
//! noise, use a sliding-window counter of two fixed windows, constant size per key.
//!
//! # A hard bound on keys
//!
//! Every client address is a key, so a flood of distinct addresses (a botnet, or one IPv6
//! client behind a trusted proxy) would grow the store without end. It holds at most
//! `THROTTLE_MAX_KEYS` keys (default 100,000: about 31 MB; `scripts/bench --address-flood`
//! measured ~310 bytes of resident memory a key, half of them IPv6). When a new key finds its
//! shard full, the shard first drops what has expired; if it is still full, it evicts the
//! eighth of its keys that hold the *least limit still in force*: a key's count over its
//! limit, times the part of its window still to run. A key with one request (what a flood of
//! distinct addresses leaves behind) goes first. A key over its limit (a throttled client, a
//! lock) is never evicted while a key under its limit remains; and a refused request does not
//! extend a key's life, so a flood's keys age as a lock does. What happens when a shard holds
//! only keys over their limit depends on the store's use (`WhenFull`): the throttles' store
//! evicts the oldest of them (refusing every new client instead would hand a flood a denial of
//! service), the login failure limiter's own store keeps them all and refuses the new key (a
//! lock is never forgotten). While the store is saturated it says so in the log, once a
//! minute.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Hit, Rate, StoreError, ThrottleStore};
use crate::logging::OncePerMinute;

pub const EXACT_LIMIT: u64 = 1000;
const SHARDS: usize = 16;
/// Every this many hits a shard drops the keys whose window has passed.
const SWEEP_EVERY: u64 = 4096;

#[derive(Debug)]
enum History {
    Log(VecDeque<f64>),
    Windows {
        start: f64,
        current: u64,
        previous: u64,
    },
}

#[derive(Debug)]
struct Entry {
    history: History,
    expires: f64,
    /// The rate of the last request, for the eviction order.
    rate: Rate,
}

impl Entry {
    /// Whether the next request would be refused: a throttled client, a lock.
    fn is_over_limit(&self, now: f64) -> bool {
        let rate = self.rate;
        match &self.history {
            History::Log(log) => {
                log.iter().filter(|&&t| t > now - rate.duration).count() as u64 >= rate.num_requests
            }
            History::Windows {
                start,
                current,
                previous,
            } => {
                let (start, current, previous) =
                    rolled(*start, *current, *previous, rate.duration, now);
                windows_estimate(start, current, previous, rate.duration, now)
                    >= rate.num_requests as f64
            }
        }
    }

    /// How much of its limit is still in force: the share of the limit counted, times the share
    /// of its lifetime still to run. Keys with the least are evicted first.
    fn limit_in_force(&self, now: f64) -> f64 {
        let counted = match &self.history {
            History::Log(log) => log.len() as f64,
            History::Windows {
                current, previous, ..
            } => (*current + *previous) as f64,
        };
        let used = (counted / self.rate.num_requests as f64).min(1.0);
        let remaining = ((self.expires - now) / (2.0 * self.rate.duration)).clamp(0.0, 1.0);
        used * remaining
    }
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    hits: u64,
}

/// What a full store does when every key of a shard is over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Evict the keys over their limit whose window ends soonest (the throttles).
    EvictOverLimit,
    /// Keep them and refuse the new key until one expires (the login failure limiter).
    RefuseNewKeys,
}

/// The outcome of making room for a new key.
enum Room {
    /// There was room, or expired keys made it.
    Free,
    /// Keys were evicted.
    Evicted,
    /// Every key is over its limit and kept: the new key may retry after `wait` seconds.
    Refused { wait: f64 },
}

impl Shard {
    /// Makes room for one new key: drops what expired, then evicts the eighth of the keys with
    /// the least limit in force, never a key over its limit while another remains.
    fn make_room(&mut self, capacity: usize, now: f64, when_full: WhenFull) -> Room {
        self.entries.retain(|_, entry| entry.expires > now);
        if self.entries.len() < capacity {
            return Room::Free;
        }
        // (over its limit, limit in force, expiry, key): under-limit keys go first.
        let mut ranked: Vec<(bool, f64, f64, &String)> = self
            .entries
            .iter()
            .map(|(key, entry)| {
                let over = entry.is_over_limit(now);
                (over, entry.limit_in_force(now), entry.expires, key)
            })
            .collect();
        let under_limit = ranked.iter().filter(|(over, ..)| !over).count();
        let wanted = (capacity / 8).max(1).min(ranked.len());
        let evict = match when_full {
            WhenFull::EvictOverLimit => wanted,
            WhenFull::RefuseNewKeys => wanted.min(under_limit),
        };
        if evict == 0 {
            let soonest = ranked.iter().map(|(_, _, expires, _)| *expires);
            let wait = soonest.fold(f64::INFINITY, f64::min) - now;
            return Room::Refused {
                wait: wait.max(1.0),
            };
        }
        let order = |a: &(bool, f64, f64, &String), b: &(bool, f64, f64, &String)| {
            a.0.cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
        };
        ranked.select_nth_unstable_by(evict - 1, order);
        let victims: Vec<String> = ranked[..evict]
            .iter()
            .map(|(_, _, _, key)| (*key).clone())
            .collect();
        for key in victims {
            self.entries.remove(&key);
        }
        if let Some(metrics) = crate::metrics::recording() {
            metrics.throttle_store_evictions.inc_by(evict as u64);
        }
        Room::Evicted
    }
}

/// `THROTTLE_MAX_KEYS` when unset.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    /// Keys one shard may hold.
    shard_capacity: usize,
    when_full: WhenFull,
    /// Says the store is saturated at most once a minute.
    saturation_log: OncePerMinute,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(DEFAULT_MAX_KEYS)
    }
}

impl MemoryStore {
    /// A store of at most `max_keys` keys (rounded up to a multiple of its shard count), for
    /// the throttles.
    pub fn new(max_keys: usize) -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_capacity: max_keys.div_ceil(SHARDS).max(1),
            when_full: WhenFull::EvictOverLimit,
            saturation_log: OncePerMinute::new(),
        }
    }

    /// A store that never forgets a key over its limit: full of them, it refuses new keys.
    pub fn keeping_every_lock(mut self) -> MemoryStore {
        self.when_full = WhenFull::RefuseNewKeys;
        self
    }

    /// The most keys the store holds.
    pub fn max_keys(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    fn log_saturation(&self, now: f64, refusing: bool) {
        if !self.saturation_log.due(now as u64) {
            return;
        }
        if refusing {
            log::warn!(
                "the login failure limiter's store is full of live locks ({} keys, \
                 THROTTLE_MAX_KEYS): password checks of new address/username pairs are refused \
                 until locks expire; raise it if this is real traffic",
                self.max_keys()
            );
        } else {
            log::warn!(
                "the in-process throttle store is full ({} keys, THROTTLE_MAX_KEYS): evicting the \
                 keys with the least limit in force; raise it if this is real traffic",
                self.max_keys()
            );
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Number of keys held, for tests of the eviction.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn hit(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError> {
        self.apply(key, rate, now, true)
    }

    async fn peek(&self, key: &str, rate: Rate, now: f64) -> Result<Hit, StoreError> {
        self.apply(key, rate, now, false)
    }

    fn keys_held(&self) -> Option<usize> {
        Some(self.len())
    }

    async fn release(&self, key: &str, rate: Rate, at: f64) -> Result<(), StoreError> {
        let mut shard = self
            .shard(key)
            .lock()
            .map_err(|_| StoreError("throttle store lock poisoned".into()))?;
        if let Some(entry) = shard.entries.get_mut(key) {
            match &mut entry.history {
                History::Log(log) => {
                    if let Some(index) = log.iter().rposition(|&t| t == at) {
                        log.remove(index);
                    }
                }
                History::Windows {
                    start,
                    current,
                    previous,
                } => {
                    let d = rate.duration;
                    if at >= *start {
                        *current = current.saturating_sub(1);
                    } else if at >= *start - d {
                        *previous = previous.saturating_sub(1);
                    }
                }
            }
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Decides for one request under the shard's lock; counts it only when `record`.
    fn apply(&self, key: &str, rate: Rate, now: f64, record: bool) -> Result<Hit, StoreError> {
        let mut shard = self
            .shard(key)
            .lock()
            .map_err(|_| StoreError("throttle store lock poisoned".into()))?;
        shard.hits += 1;
        if shard.hits % SWEEP_EVERY == 0 {
            shard.entries.retain(|_, entry| entry.expires > now);
        }
        if !shard.entries.contains_key(key) {
            // A key that is not there is under its limit: looking costs no room.
            if !record {
                return Ok(if rate.num_requests == 0 {
                    Hit::Refused {
                        wait: rate.duration,
                    }
                } else {
                    Hit::Allowed
                });
            }
            if shard.entries.len() >= self.shard_capacity {
                match shard.make_room(self.shard_capacity, now, self.when_full) {
                    Room::Free => {}
                    Room::Evicted => self.log_saturation(now, false),
                    Room::Refused { wait } => {
                        self.log_saturation(now, true);
                        return Ok(Hit::Refused { wait });
                    }
                }
            }
        }
        let entry = shard
            .entries
            .entry(key.to_string())
            .or_insert_with(|| Entry {
                history: new_history(rate),
                expires: now,
                rate,
            });
        entry.rate = rate;
        let hit = match &mut entry.history {
            History::Log(log) => hit_log(log, rate, now, record),
            History::Windows {
                start,
                current,
                previous,
            } => hit_windows(start, current, previous, rate, now, record),
        };
        // Only a counted request extends the key's life: a refused one (a flood hammering
        // its limit) leaves it to age as the count it holds.
        if record && hit == Hit::Allowed {
            entry.expires = now + 2.0 * rate.duration;
        }
        Ok(hit)
    }
}

fn new_history(rate: Rate) -> History {
    if rate.num_requests <= EXACT_LIMIT {
        History::Log(VecDeque::new())
    } else {
        History::Windows {
            start: 0.0,
            current: 0,
            previous: 0,
        }
    }
}

/// DRF's `SimpleRateThrottle`: drop what left the window, refuse at `num_requests`.
fn hit_log(log: &mut VecDeque<f64>, rate: Rate, now: f64, record: bool) -> Hit {
    while log
        .front()
        .is_some_and(|&oldest| oldest <= now - rate.duration)
    {
        log.pop_front();
    }
    if log.len() as u64 >= rate.num_requests {
        let oldest = log.front().copied().unwrap_or(now);
        return Hit::Refused {
            wait: rate.duration - (now - oldest),
        };
    }
    if record {
        log.push_back(now);
    }
    Hit::Allowed
}

/// The two windows as of `now`: (start of the current window, its count, the previous
/// window's count), moved on when `now` is in a later window.
fn rolled(start: f64, current: u64, previous: u64, d: f64, now: f64) -> (f64, u64, u64) {
    let window = (now / d).floor() * d;
    if window > start {
        let previous = if window - start <= d { current } else { 0 };
        (window, 0, previous)
    } else {
        (start, current, previous)
    }
}

/// The requests counted over the sliding window ending `now`: the previous window in
/// proportion to its overlap, the current one whole.
fn windows_estimate(start: f64, current: u64, previous: u64, d: f64, now: f64) -> f64 {
    previous as f64 * (1.0 - (now - start) / d) + current as f64
}

/// Sliding-window counter: the previous window counts in proportion to its overlap.
fn hit_windows(
    start: &mut f64,
    current: &mut u64,
    previous: &mut u64,
    rate: Rate,
    now: f64,
    record: bool,
) -> Hit {
    let d = rate.duration;
    (*start, *current, *previous) = rolled(*start, *current, *previous, d, now);
    let limit = rate.num_requests as f64;
    let elapsed = now - *start;
    let estimate = windows_estimate(*start, *current, *previous, d, now);
    if estimate < limit {
        if record {
            *current += 1;
        }
        return Hit::Allowed;
    }
    let wait = if (*current as f64) < limit && *previous > 0 {
        d * (1.0 - (limit - *current as f64) / *previous as f64) - elapsed
    } else {
        (d - elapsed) + d * (1.0 - limit / (*current).max(1) as f64)
    };
    Hit::Refused {
        wait: wait.max(0.001),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn exactly_n_per_window_then_wait_for_the_oldest() {
        let store = MemoryStore::default();
        let r = rate("3/min");
        for t in [0.0, 1.0, 2.0] {
            assert_eq!(store.hit("k", r, 1000.0 + t).await.unwrap(), Hit::Allowed);
        }
        let Hit::Refused { wait } = store.hit("k", r, 1010.0).await.unwrap() else {
            panic!("fourth request allowed")
        };
        assert!((wait - 50.0).abs() < 1e-9);
        // Refused requests are not recorded: once the oldest leaves, one slot opens.
        assert_eq!(store.hit("k", r, 1060.5).await.unwrap(), Hit::Allowed);
        assert!(matches!(
            store.hit("k", r, 1060.6).await.unwrap(),
            Hit::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn peek_answers_like_hit_but_counts_nothing() {
        let store = MemoryStore::default();
        let r = rate("2/min");
        for _ in 0..5 {
            assert_eq!(store.peek("k", r, 10.0).await.unwrap(), Hit::Allowed);
        }
        store.hit("k", r, 10.0).await.unwrap();
        store.hit("k", r, 11.0).await.unwrap();
        let Hit::Refused { wait } = store.peek("k", r, 12.0).await.unwrap() else {
            panic!("peek allowed a full window")
        };
        assert!((wait - 58.0).abs() < 1e-9);
        let big = rate("5000/min");
        assert_eq!(store.peek("w", big, 10.0).await.unwrap(), Hit::Allowed);
        assert_eq!(store.hit("w", big, 10.0).await.unwrap(), Hit::Allowed);
    }

    #[tokio::test]
    async fn keys_are_independent() {
        let store = MemoryStore::default();
        let r = rate("1/min");
        assert_eq!(store.hit("a", r, 1.0).await.unwrap(), Hit::Allowed);
        assert_eq!(store.hit("b", r, 1.0).await.unwrap(), Hit::Allowed);
        assert!(matches!(
            store.hit("a", r, 2.0).await.unwrap(),
            Hit::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn large_rates_use_constant_memory_and_still_limit() {
        let store = MemoryStore::default();
        let r = rate("5000/min");
        let mut allowed = 0;
        for i in 0..6000 {
            if store.hit("k", r, 600.0 + i as f64 * 0.001).await.unwrap() == Hit::Allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5000);
        let shard = store.shard("k").lock().unwrap();
        assert!(matches!(
            shard.entries["k"].history,
            History::Windows { .. }
        ));
    }

    #[tokio::test]
    async fn a_flood_of_new_keys_never_passes_the_bound_nor_evicts_a_locked_client() {
        let store = MemoryStore::new(1600);
        let limit = rate("100/min");
        let login = rate("5/min");
        // A client at its limit, and one locked out of logins, before the flood.
        for i in 0..100 {
            store
                .hit("client", limit, 1000.0 + i as f64 * 0.01)
                .await
                .unwrap();
        }
        for _ in 0..5 {
            store.hit("lockout", login, 1000.0).await.unwrap();
        }
        for i in 0..200_000u32 {
            let now = 1001.0 + f64::from(i) * 0.0001;
            store.hit(&format!("flood{i}"), limit, now).await.unwrap();
            assert!(store.len() <= store.max_keys());
        }
        let now = 1030.0;
        assert!(matches!(
            store.hit("client", limit, now).await.unwrap(),
            Hit::Refused { .. }
        ));
        assert!(matches!(
            store.hit("lockout", login, now).await.unwrap(),
            Hit::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn expired_keys_are_swept() {
        let store = MemoryStore::default();
        let r = rate("1/s");
        for i in 0..(SWEEP_EVERY * SHARDS as u64 * 2) {
            store.hit(&format!("key{i}"), r, i as f64).await.unwrap();
        }
        assert!(
            store.len() < (SWEEP_EVERY as usize * SHARDS),
            "{}",
            store.len()
        );
    }
}
