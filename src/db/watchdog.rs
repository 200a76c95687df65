//! Cuts a PostgreSQL connection whose server stopped answering.
//!
//! libpq waits on its socket with no client-side limit. `statement_timeout` is enforced by a
//! server that may never see the query, and TCP keepalives or `tcp_user_timeout` only notice a
//! host that stops acknowledging, not one that acknowledges and stays silent (a hung server, a
//! stalled proxy). So each database call runs under a deadline: past it, one watchdog thread
//! shuts the connection's socket down, libpq's read fails at once, the caller answers 503 and
//! the pool drops the connection.

use std::collections::{HashMap, HashSet};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::socket::{ServerPort, Socket};

/// What to cut when a deadline passes.
pub enum Target {
    /// An open connection's socket, by a descriptor its owner keeps open while armed.
    Socket(RawFd),
    /// A connection being opened: every socket to the server opened since `before` (they are
    /// opened one at a time, so these are this attempt's). Cut again every `RECUT` until
    /// disarmed: libpq moves on to the server's next address with a new socket.
    OpenedSince(HashSet<Socket>, ServerPort),
}

/// How often a connection being opened is cut again, past its deadline.
const RECUT: Duration = Duration::from_millis(100);

struct Armed {
    deadline: Instant,
    target: Target,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct Watched {
    armed: HashMap<u64, Armed>,
    next_id: u64,
    /// When the watchdog thread wakes next; a new deadline before it wakes the thread.
    wakes_at: Option<Instant>,
}

struct Watchdog {
    watched: Mutex<Watched>,
    changed: Condvar,
}

/// Disarms its deadline when dropped, whether or not it fired.
pub struct Guard {
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Guard {
    /// True when the deadline passed and the target was cut.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Under the lock, so the watchdog never cuts a socket after its owner moved on.
        lock(&watchdog().watched).armed.remove(&self.id);
    }
}

/// Cuts `target` unless the returned guard is dropped within `within`.
pub fn arm(target: Target, within: Duration) -> Guard {
    let dog = watchdog();
    let deadline = Instant::now() + within;
    let fired = Arc::new(AtomicBool::new(false));
    let mut watched = lock(&dog.watched);
    let id = watched.next_id;
    watched.next_id += 1;
    watched.armed.insert(
        id,
        Armed {
            deadline,
            target,
            fired: fired.clone(),
        },
    );
    // Deadlines are "now + a constant", so this is rare: the thread is idle or wakes earlier.
    if watched.wakes_at.is_none_or(|wakes| deadline < wakes) {
        dog.changed.notify_one();
    }
    Guard { id, fired }
}

fn lock(watched: &Mutex<Watched>) -> std::sync::MutexGuard<'_, Watched> {
    // The lock guards no invariant a panic could break half-way; keep watching.
    watched
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            watched: Mutex::new(Watched::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("db-watchdog".into())
            .spawn(move || watch(dog))
            .expect("cannot start the database watchdog thread");
        dog
    })
}

fn watch(dog: &'static Watchdog) {
    let mut watched = lock(&dog.watched);
    loop {
        let now = Instant::now();
        for armed in watched.armed.values_mut() {
            if armed.deadline > now {
                continue;
            }
            let first = !armed.fired.swap(true, Ordering::AcqRel);
            if let Target::OpenedSince(..) = armed.target {
                armed.deadline = now + RECUT;
            } else if !first {
                continue;
            }
            cut(&armed.target);
        }
        let next = watched
            .armed
            .values()
            .filter(|armed| {
                !armed.fired.load(Ordering::Acquire)
                    || matches!(armed.target, Target::OpenedSince(..))
            })
            .map(|armed| armed.deadline)
            .min();
        watched.wakes_at = next;
        watched = match next {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                dog.changed
                    .wait_timeout(watched, wait)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
            None => dog
                .changed
                .wait(watched)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
    }
}

fn cut(target: &Target) {
    match target {
        Target::Socket(fd) => super::socket::shut_down(*fd),
        Target::OpenedSince(before, port) => {
            for socket in Socket::opened_since(before, *port) {
                socket.shut_down_if_open();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_read_past_its_deadline_is_cut_and_one_within_it_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = ServerPort(listener.local_addr().unwrap().port());
        let before = Socket::all();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_silent_server, _) = listener.accept().unwrap();
        let socket = Socket::opened_since(&before, port)[0].duplicate().unwrap();
        let fd = crate::db::socket::raw(&socket);

        let kept = arm(Target::Socket(fd), Duration::from_secs(60));
        assert!(!kept.fired());
        drop(kept);

        let started = Instant::now();
        let guard = arm(Target::Socket(fd), Duration::from_millis(200));
        let mut buffer = [0u8; 1];
        assert_eq!(client.read(&mut buffer).unwrap(), 0);
        assert!(guard.fired());
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
