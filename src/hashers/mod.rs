//! Provides password hashing and checking (bcrypt, and Django's hashers: `algorithms`) on a
//! bounded pool of dedicated threads.
//!
//! bcrypt costs a quarter of a second of CPU at cost 12. Running it on actix's blocking pool
//! lets a login flood occupy every core; here it runs on `HASHER_THREADS` threads behind a
//! queue of `HASHER_QUEUE` jobs, and a full queue is refused at once (`HasherError::Busy`).
//!
//! The queue is shared fairly: one client (an address, as `addresses` groups them) may have at most
//! `per_client_limit(queue)` credential checks queued or running; past that its own checks are
//! refused, so a flood from one address cannot fill the queue that everybody else's logins
//! wait in. The count is kept only for clients with a check in flight, so the map holds at
//! most `queue + threads` entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

pub mod algorithms;

pub use algorithms::{Algorithm, Hashers};

/// bcrypt reads 72 bytes including a terminating NUL, so 71 bytes of password are significant;
/// longer passwords are refused rather than silently cut.
pub const MAX_PASSWORD_BYTES: usize = 71;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HasherError {
    #[error("the password hashing queue is full")]
    Busy,
    #[error("this client holds its whole share of the password hashing queue")]
    ClientBusy,
    #[error("This password is too long: at most {0} bytes are allowed.")]
    TooLong(usize),
    #[error("The password may not be blank.")]
    Blank,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    hashers: Arc<Hashers>,
    /// Checked against when the user is unknown, so that costs the same time as a wrong password.
    dummy_hash: Arc<String>,
    /// Credential checks queued or running, per client with at least one.
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_client: usize,
}

/// A client's share of the queue: a quarter, at least one job.
pub fn per_client_limit(queue: usize) -> usize {
    (queue / 4).max(1)
}

/// Holds one of a client's places in the queue; gives it back when dropped (job done, or the
/// request went away).
struct ClientSlot {
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.in_flight.lock()
            && let Some(count) = in_flight.get_mut(&self.client)
        {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.client);
            }
        }
    }
}

impl PasswordHasher {
    pub fn new(threads: usize, queue: usize, hashers: Hashers) -> PasswordHasher {
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("hasher-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match receiver.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawning a hasher thread");
        }
        let dummy_hash = Arc::new(
            hashers
                .make_password("portcullis-timing-equaliser")
                .unwrap_or_default(),
        );
        PasswordHasher {
            jobs,
            hashers: Arc::new(hashers),
            dummy_hash,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            per_client: per_client_limit(queue),
        }
    }

    /// Takes one of `client`'s places in the queue, or `Busy` when it holds its share.
    fn client_slot(&self, client: IpAddr) -> Result<ClientSlot, HasherError> {
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| HasherError::Failed("hasher accounting lock poisoned".into()))?;
        let count = in_flight.entry(client).or_insert(0);
        if *count >= self.per_client {
            if let Some(metrics) = crate::metrics::recording() {
                metrics
                    .hasher_refusals
                    .with_label_values(&["fair_share"])
                    .inc();
            }
            return Err(HasherError::ClientBusy);
        }
        *count += 1;
        Ok(ClientSlot {
            in_flight: Arc::clone(&self.in_flight),
            client,
        })
    }

    /// Runs `work` on the pool; `Busy` when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HasherError> {
        let (done, result) = tokio::sync::oneshot::channel();
        // Counted before it is sent, so a thread that takes it at once never counts it below 0;
        // a job refused or dropped unrun uncounts itself.
        let queued = Queued::count();
        let job: Job = Box::new(move || {
            let running = queued.start();
            let outcome = work();
            // Uncounted before the answer leaves: a scrape after the response sees it done.
            drop(running);
            let _ = done.send(outcome);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if let Some(metrics) = crate::metrics::recording() {
                    metrics
                        .hasher_refusals
                        .with_label_values(&["queue_full"])
                        .inc();
                }
                return Err(HasherError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(HasherError::Failed("hasher threads stopped".into()));
            }
        }
        result
            .await
            .map_err(|_| HasherError::Failed("hasher job dropped".into()))
    }

    /// Whether `password` matches `hash`, and, when `may_rehash`, the new hash to store when it
    /// matched a hash the preferred hasher would not write now (Django's `must_update`; made in
    /// the same job, so only when the caller will store it: an inactive user's, or a second
    /// check's, would be a bcrypt's worth of work thrown away).
    /// With no hash (unknown user), or one no listed hasher reads, it still spends the time of
    /// one check, and does not match. `client`'s checks (the address that stands for the
    /// client, `addresses::ClientBuckets`) take at most its share of the queue.
    pub async fn check_password(
        &self,
        password: String,
        hash: Option<String>,
        client: Option<IpAddr>,
        may_rehash: bool,
    ) -> Result<Checked, HasherError> {
        let slot = client.map(|client| self.client_slot(client)).transpose()?;
        let dummy = Arc::clone(&self.dummy_hash);
        let hashers = Arc::clone(&self.hashers);
        let checked = self
            .run(move || {
                let hash = hash.filter(|hash| hashers.is_usable(hash));
                let known = hash.is_some();
                let verified = hashers.verify(&password, hash.as_deref().unwrap_or(&dummy));
                let matches = known && verified.matches;
                // A failed re-hash leaves the old hash in place: the login still succeeds.
                let rehash = (may_rehash && matches && verified.must_update)
                    .then(|| hashers.rehash(&password).ok())
                    .flatten();
                Checked { matches, rehash }
            })
            .await;
        drop(slot);
        checked
    }

    /// The configured hashers (`PASSWORD_HASHERS`).
    pub fn hashers(&self) -> &Hashers {
        &self.hashers
    }

    /// Hashes a new password off the async executor.
    pub async fn make_password(&self, password: String) -> Result<String, HasherError> {
        let hashers = Arc::clone(&self.hashers);
        self.run(move || hashers.make_password(&password)).await?
    }
}

/// What `check_password` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub matches: bool,
    /// The password re-hashed by the preferred hasher, to replace the stored hash.
    pub rehash: Option<String>,
}

/// A job in the queue, in the metrics' depth gauge until it starts or is dropped unrun.
struct Queued(Option<&'static crate::metrics::Metrics>);

/// A job on a hashing thread, in the in-flight gauge until it ends (also by a panic).
struct Running(Option<&'static crate::metrics::Metrics>);

impl Queued {
    fn count() -> Queued {
        let metrics = crate::metrics::recording();
        if let Some(metrics) = metrics {
            metrics.hasher_queue_depth.inc();
        }
        Queued(metrics)
    }

    fn start(self) -> Running {
        if let Some(metrics) = self.0 {
            metrics.hasher_in_flight.inc();
        }
        Running(self.0)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(metrics) = self.0 {
            metrics.hasher_queue_depth.dec();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(metrics) = self.0 {
            metrics.hasher_in_flight.dec();
        }
    }
}

/// The nice value of the hashing threads. Where they share a core with the request workers
/// (one core, or more hashing threads than spare cores), the scheduler then gives the workers
/// almost all of it (weights 1024 against 15), and a waking worker preempts a hash at once: a
/// login flood makes logins wait in their queue instead of slowing every other request (with
/// nice 10, weight 110, `/hello/`'s p99 under a flood was 3.5x its p99 alone; with 19, 2.3x).
/// An otherwise idle core still goes to hashing entirely, so logins are not slower on a quiet
/// server.
const HASHER_NICE: i32 = 19;

/// Lowers the calling thread's priority to `HASHER_NICE` (never raises it: a server started
/// under `nice` stays at least that low); Linux keeps the nice value per thread.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, getpriority and setpriority only read and set the calling thread's
        // own scheduling attributes.
        let result = unsafe {
            let tid = libc::gettid() as libc::id_t;
            if libc::getpriority(libc::PRIO_PROCESS, tid) >= HASHER_NICE {
                return;
            }
            libc::setpriority(libc::PRIO_PROCESS, tid, HASHER_NICE)
        };
        if result != 0 {
            log::warn!(
                "could not lower the hashing threads' priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Hashes a new password with portcullis's own bcrypt, synchronously (tests and tools that
/// have no settings at hand).
pub fn hash_password(password: &str, cost: u32) -> Result<String, HasherError> {
    Hashers::new(vec![Algorithm::Bcrypt], cost).make_password(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashers() -> Hashers {
        Hashers::new(Hashers::default_order(), 4)
    }

    #[test]
    fn long_password_never_matches_on_its_first_72_bytes() {
        let base = "a".repeat(MAX_PASSWORD_BYTES);
        let hash = hash_password(&base, 4).unwrap();
        assert!(hashers().verify(&base, &hash).matches);
        assert!(!hashers().verify(&format!("{base}b"), &hash).matches);
    }

    #[test]
    fn new_passwords_are_validated() {
        assert_eq!(hash_password("", 4), Err(HasherError::Blank));
        assert_eq!(
            hash_password(&"x".repeat(72), 4),
            Err(HasherError::TooLong(71))
        );
        let truncated_twin = bcrypt::hash("y".repeat(72), 4).unwrap();
        assert!(!hashers().verify(&"y".repeat(73), &truncated_twin).matches);
        assert!(
            hashers()
                .verify("secret", &hash_password("secret", 4).unwrap())
                .matches
        );
    }

    #[tokio::test]
    async fn full_queue_answers_busy() {
        let hasher = PasswordHasher::new(1, 1, hashers());
        let (started, has_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let mut blocker = Box::pin(hasher.run(move || {
            started.send(()).unwrap();
            released.recv().ok()
        }));
        assert!(futures_util::poll!(&mut blocker).is_pending());
        has_started.recv().unwrap();
        let mut queued = Box::pin(hasher.run(|| ()));
        assert!(futures_util::poll!(&mut queued).is_pending());
        assert_eq!(hasher.run(|| ()).await, Err(HasherError::Busy));
        release.send(()).unwrap();
        assert!(blocker.await.is_ok());
        assert!(queued.await.is_ok());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_request_workers_priority() {
        let hasher = PasswordHasher::new(1, 1, hashers());
        // SAFETY: reads the calling (hasher) thread's own nice value.
        let nice = hasher
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) })
            .await
            .unwrap();
        // SAFETY: as above, for the test's own thread.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert!(nice >= HASHER_NICE, "{nice}");
        assert!(
            nice > own || own >= HASHER_NICE,
            "hasher {nice}, caller {own}"
        );
    }

    #[tokio::test]
    async fn a_client_holds_at_most_its_share_of_the_queue() {
        let hasher = PasswordHasher::new(1, 8, hashers());
        let flooder: IpAddr = "2001:db8::".parse().unwrap();
        let share = per_client_limit(8);
        let slots: Vec<_> = (0..share)
            .map(|_| hasher.client_slot(flooder).unwrap())
            .collect();
        assert_eq!(
            hasher.client_slot(flooder).err(),
            Some(HasherError::ClientBusy)
        );
        assert!(hasher.client_slot("192.0.2.1".parse().unwrap()).is_ok());
        drop(slots);
        assert!(hasher.client_slot(flooder).is_ok());
        assert!(hasher.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_hash_no_listed_hasher_reads_never_matches_yet_costs_a_check() {
        let only_bcrypt = PasswordHasher::new(1, 4, Hashers::new(vec![Algorithm::Bcrypt], 4));
        let django = Hashers::new(vec![Algorithm::Pbkdf2Sha1], 4)
            .make_password("pw")
            .unwrap();
        let checked = only_bcrypt
            .check_password("pw".into(), Some(django.clone()), None, true)
            .await
            .unwrap();
        assert_eq!(
            checked,
            Checked {
                matches: false,
                rehash: None
            }
        );
        // Listed, it matches, and comes back re-hashed by the preferred hasher.
        let all = PasswordHasher::new(1, 4, hashers());
        let checked = all
            .check_password("pw".into(), Some(django), None, true)
            .await
            .unwrap();
        assert!(checked.matches);
        let rehash = checked.rehash.unwrap();
        assert!(rehash.starts_with("$2b$04$"), "{rehash}");
    }

    #[tokio::test]
    async fn unknown_user_never_matches() {
        let hasher = PasswordHasher::new(1, 4, hashers());
        let hash = hash_password("pw", 4).unwrap();
        let checked = hasher
            .check_password("pw".into(), Some(hash), None, true)
            .await
            .unwrap();
        assert_eq!(
            checked,
            Checked {
                matches: true,
                rehash: None
            }
        );
        assert!(
            !hasher
                .check_password("portcullis-timing-equaliser".into(), None, None, true)
                .await
                .unwrap()
                .matches
        );
    }
}
