//! Provides local allowances leased from the Redis throttle store, so that a busy key costs a
//! Redis round trip per lease instead of per request.
//!
//! Only rates above `EXACT_LIMIT` (the two-window counter) lease. When a key had a request on
//! this instance within `LEASE_TTL`, the next request that must go to Redis asks for `want`
//! slots; the script counts them in the current window at once, as if they were requests, and
//! the instance admits that many requests locally until the lease ends (`LEASE_TTL`, never past
//! the window). A lease that ends with slots unused is settled: the script takes them out of the
//! window they were counted in. A lease that was used up is settled on the next request (or by
//! its timer) so the store stops counting it as out.
//!
//! Why the limit stays exact, across any number of instances:
//! - Never more: every slot is counted in Redis before the request it admits, in the same
//!   window, so the counter never holds fewer requests than were admitted.
//! - Never fewer: the script grants leases only while the estimate stays at half the limit at
//!   most, and it refuses only when no lease is out (`leased` is 0). With leases out, a request
//!   that would be refused is told to wait until they end (at most `LEASE_TTL` + `LEASE_GRACE`)
//!   and to ask again; their holders settle them by then. So when a refusal is given, the
//!   counter holds exactly the admitted requests, as the in-process store's would.
//! - A holder that stops without settling (a crash) leaves its unused slots counted until the
//!   window moves on: that errs on the safe side, and after `LEASE_GRACE` the store stops
//!   waiting for it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// How long a lease lasts: what a refusal may wait for leases out on other instances.
pub const LEASE_TTL: f64 = 0.2;
/// How late a holder's settlement may be (clock skew, a busy worker) before the store gives up
/// on it.
pub const LEASE_GRACE: f64 = 0.1;
/// The first lease of a busy key, and the bounds of later ones (twice what the last one used).
const FIRST_WANT: u64 = 16;
const MAX_WANT: u64 = 4096;
/// Keys tracked at once; a key beyond them goes to Redis for every request (exact, slower).
const MAX_KEYS: usize = 10_000;

/// Slots the script counted for this instance, some still unused.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub id: u64,
    /// The window start the script counted the slots in, exactly as it wrote it.
    pub window: String,
    pub until: f64,
    pub granted: u64,
    pub used: u64,
}

/// A lease given back to the script: `unused` of its `granted` slots leave `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub window: String,
    pub unused: u64,
    pub granted: u64,
}

impl Lease {
    fn settlement(&self) -> Settlement {
        Settlement {
            window: self.window.clone(),
            unused: self.granted - self.used,
            granted: self.granted,
        }
    }
}

/// What a request does with a key: admitted on a lease, or a round trip to Redis.
#[derive(Debug)]
pub enum Local {
    Admitted,
    Ask {
        /// Slots to ask for: 1 for this request alone.
        want: u64,
        /// A lease that ended, to settle in the same round trip.
        settle: Option<Settlement>,
    },
    /// Another request is asking for this key's next lease: wait for its answer (a change
    /// here), then take again. Without this, every request arriving during that round trip
    /// went to Redis by itself (at 50,000 requests a second, most of them).
    Wait(watch::Receiver<u64>),
}

struct Entry {
    last_seen: f64,
    lease: Option<Lease>,
    /// A lease request is on its way: other requests meanwhile wait for it.
    asking: bool,
    next_want: u64,
    /// Bumped when a lease request ends, for the requests waiting on it.
    answered: Option<watch::Sender<u64>>,
}

#[derive(Default)]
pub struct Leases {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    next_sweep: f64,
    next_id: u64,
}

impl Leases {
    /// Admits the request on this key's lease, or says what to ask Redis for.
    /// `may_wait`: false when this request waited once already (it then asks for itself).
    pub fn take(&self, key: &str, now: f64, may_wait: bool) -> Local {
        let Ok(mut entries) = self.entries.lock() else {
            return Local::Ask {
                want: 1,
                settle: None,
            };
        };
        entries.sweep(now);
        let full = entries.by_key.len() >= MAX_KEYS;
        let Some(entry) = entries.by_key.get_mut(key) else {
            if !full {
                entries.by_key.insert(
                    key.to_string(),
                    Entry {
                        last_seen: now,
                        lease: None,
                        asking: false,
                        next_want: FIRST_WANT,
                        answered: None,
                    },
                );
            }
            return Local::Ask {
                want: 1,
                settle: None,
            };
        };
        let busy = now - entry.last_seen < LEASE_TTL;
        entry.last_seen = now;
        let mut settle = None;
        if let Some(lease) = &mut entry.lease {
            if now < lease.until && lease.used < lease.granted {
                lease.used += 1;
                return Local::Admitted;
            }
            settle = Some(lease.settlement());
            entry.next_want = (2 * lease.used).clamp(2, MAX_WANT);
            entry.lease = None;
        }
        if entry.asking && may_wait && settle.is_none() {
            let answered = entry.answered.get_or_insert_with(|| watch::channel(0).0);
            return Local::Wait(answered.subscribe());
        }
        let want = if busy && !entry.asking {
            entry.asking = true;
            entry.next_want
        } else {
            1
        };
        Local::Ask { want, settle }
    }

    /// Records the script's answer to a request that asked for `want` > 1: `granted` slots
    /// counted in `window` until `until`, one of them used by the request itself. Returns the
    /// lease's id when one was made (for its settlement timer).
    pub fn granted(&self, key: &str, granted: u64, window: &str, until: f64) -> Option<u64> {
        let mut entries = self.entries.lock().ok()?;
        let id = entries.next_id;
        entries.next_id += 1;
        let entry = entries.by_key.get_mut(key)?;
        entry.asking = false;
        if granted >= 2 {
            entry.lease = Some(Lease {
                id,
                window: window.to_string(),
                until,
                granted,
                used: 1,
            });
        }
        entry.wake_waiters();
        (granted >= 2).then_some(id)
    }

    /// A lease request that failed: the next request may ask again.
    pub fn not_granted(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.by_key.get_mut(key)
        {
            entry.asking = false;
            entry.wake_waiters();
        }
    }

    /// The lease `id` of `key` when it is still held (its timer fired): taken out, to settle.
    pub fn take_ended(&self, key: &str, id: u64) -> Option<Settlement> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.by_key.get_mut(key)?;
        if entry.lease.as_ref().is_none_or(|lease| lease.id != id) {
            return None;
        }
        let lease = entry.lease.take()?;
        entry.next_want = (2 * lease.used).clamp(2, MAX_WANT);
        Some(lease.settlement())
    }

    pub fn keys_tracked(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.by_key.len())
    }
}

impl Entry {
    fn wake_waiters(&self) {
        if let Some(answered) = &self.answered {
            answered.send_modify(|n| *n += 1);
        }
    }
}

impl Entries {
    /// Forgets, at most every `LEASE_TTL`, the keys that are neither busy nor holding a lease.
    fn sweep(&mut self, now: f64) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + LEASE_TTL;
        self.by_key
            .retain(|_, e| e.lease.is_some() || e.asking || now - e.last_seen < LEASE_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(want: u64, settle: Option<Settlement>) -> String {
        format!("{:?}", Local::Ask { want, settle })
    }

    fn take(leases: &Leases, key: &str, now: f64) -> String {
        format!("{:?}", leases.take(key, now, true))
    }

    const ADMITTED: &str = "Admitted";

    #[test]
    fn a_key_leases_only_once_it_is_busy() {
        let leases = Leases::default();
        assert_eq!(take(&leases, "k", 10.0), ask(1, None));
        // Seen long ago: still one at a time.
        assert_eq!(take(&leases, "k", 11.0), ask(1, None));
        assert_eq!(take(&leases, "k", 11.05), ask(FIRST_WANT, None));
        // While that request is out, others ask for themselves only.
        assert!(matches!(leases.take("k", 11.06, true), Local::Wait(_)));
        // One that waited already asks for itself.
        assert_eq!(
            format!("{:?}", leases.take("k", 11.06, false)),
            ask(1, None)
        );
        let id = leases.granted("k", 3, "0", 11.25).unwrap();
        assert_eq!(take(&leases, "k", 11.07), ADMITTED);
        assert_eq!(take(&leases, "k", 11.08), ADMITTED);
        // Used up: settled on the next request, which asks again for twice what was used.
        let used_up = Settlement {
            window: "0".into(),
            unused: 0,
            granted: 3,
        };
        assert_eq!(take(&leases, "k", 11.09), ask(6, Some(used_up)));
        assert_eq!(leases.take_ended("k", id), None, "already settled");
    }

    #[test]
    fn the_requests_waiting_on_a_lease_request_are_woken_by_its_answer() {
        let leases = Leases::default();
        leases.take("k", 1.0, true);
        assert_eq!(take(&leases, "k", 1.01), ask(FIRST_WANT, None));
        let Local::Wait(granted) = leases.take("k", 1.02, true) else {
            panic!("did not wait for the lease request");
        };
        assert!(!granted.has_changed().unwrap());
        leases.granted("k", 8, "0", 1.2);
        assert!(granted.has_changed().unwrap());
        assert_eq!(take(&leases, "k", 1.03), ADMITTED);
        // A lease request that failed wakes them too.
        leases.take("j", 1.0, true);
        assert_eq!(take(&leases, "j", 1.01), ask(FIRST_WANT, None));
        let Local::Wait(failed) = leases.take("j", 1.02, true) else {
            panic!("did not wait for the lease request");
        };
        leases.not_granted("j");
        assert!(failed.has_changed().unwrap());
    }

    #[test]
    fn an_ended_lease_gives_back_its_unused_slots_once() {
        let leases = Leases::default();
        leases.take("k", 1.0, true);
        leases.take("k", 1.01, true);
        let id = leases.granted("k", 10, "0", 1.21).unwrap();
        assert_eq!(take(&leases, "k", 1.1), ADMITTED);
        let settlement = leases.take_ended("k", id).unwrap();
        assert_eq!(settlement.unused, 8);
        assert_eq!(leases.take_ended("k", id), None);
        // Past its end a lease admits nothing: the request settles it and goes to Redis.
        leases.take("k", 2.0, true);
        leases.take("k", 2.01, true);
        let late = leases.granted("k", 10, "0", 2.2).unwrap();
        let Local::Ask { settle, .. } = leases.take("k", 2.2, true) else {
            panic!("a lease admitted a request at its end");
        };
        assert_eq!(settle.unwrap().unused, 9);
        assert_eq!(leases.take_ended("k", late), None);
    }

    #[test]
    fn a_refused_lease_request_lets_the_next_one_ask() {
        let leases = Leases::default();
        leases.take("k", 1.0, true);
        assert_eq!(take(&leases, "k", 1.01), ask(FIRST_WANT, None));
        assert_eq!(leases.granted("k", 1, "0", 1.2), None);
        assert_eq!(take(&leases, "k", 1.02), ask(FIRST_WANT, None));
        leases.not_granted("k");
        assert_eq!(take(&leases, "k", 1.03), ask(FIRST_WANT, None));
    }

    #[test]
    fn quiet_keys_are_forgotten_and_the_table_is_bounded() {
        let leases = Leases::default();
        for i in 0..MAX_KEYS + 50 {
            leases.take(&format!("k{i}"), 5.0, true);
        }
        assert_eq!(leases.keys_tracked(), MAX_KEYS);
        leases.take("late", 5.0 + LEASE_TTL, true);
        assert_eq!(leases.keys_tracked(), 1);
    }
}
