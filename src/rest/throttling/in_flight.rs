//! Provides `InFlight`: which login failure keys have a password check still running here.
//!
//! Every attempt is counted before its password is hashed and given back when it was right, so
//! for the time of a hash a right password looks like a failure. A limit reached only because
//! of such attempts is not a lock yet: the limiter waits (bounded) for them to settle before it
//! refuses, so many right passwords at once from one address (a NAT, a retrying client) are not
//! refused, while wrong ones still never get more checks than the limit.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
pub struct InFlight {
    /// key -> checks counted under it and still running.
    running: Mutex<HashMap<String, usize>>,
    settled: Notify,
}

/// One running check: its keys stop being in flight when it is dropped (whatever the outcome,
/// also when the request is abandoned mid-check).
pub struct Running<'a> {
    in_flight: &'a InFlight,
    keys: Vec<String>,
}

impl InFlight {
    /// Marks a check counted under `keys` as running.
    pub fn enter(&self, keys: Vec<String>) -> Running<'_> {
        if let Ok(mut running) = self.running.lock() {
            for key in &keys {
                *running.entry(key.clone()).or_default() += 1;
            }
        }
        Running {
            in_flight: self,
            keys,
        }
    }

    /// Whether a check counted under `key` is running here.
    pub fn holds(&self, key: &str) -> bool {
        self.running
            .lock()
            .is_ok_and(|running| running.contains_key(key))
    }

    /// Resolves when a running check settles; enable it before looking at the limits, so a
    /// check settling in between is not missed.
    pub fn settled(&self) -> tokio::sync::futures::Notified<'_> {
        self.settled.notified()
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.in_flight.running.lock() {
            for key in &self.keys {
                if let Some(count) = running.get_mut(key) {
                    *count -= 1;
                    if *count == 0 {
                        running.remove(key);
                    }
                }
            }
        }
        self.in_flight.settled.notify_waiters();
    }
}
