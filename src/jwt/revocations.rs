//! Provides `RevokedFamilies`: which refresh families are revoked, held in memory so that
//! checking an access token costs no database read.
//!
//! The set is refreshed from the database at most `REVOCATION_TTL_MS` after it was last read
//! (incrementally: only families revoked since), so a family revoked on another instance is
//! refused there at most that long afterwards; the instance that revokes adds it at once. An
//! entry is kept only while tokens of its family can still be valid, so the set holds at most
//! the families revoked within one refresh lifetime.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::clock::now_seconds;
use crate::db::{self, DbError, DbPool};
use crate::models::families;

/// How far before the latest revocation seen each reload reads again. A revocation's time is
/// taken before its write commits: one that waited for a lock or a pool connection, or comes
/// from a host whose clock runs behind, can commit with a time older than one already read.
/// Re-reading two minutes' worth costs little (revocations are rare) and catches those.
const LATE_COMMIT_MARGIN: i64 = 120;

struct Revoked {
    /// sid -> until when its tokens can be valid (Unix seconds).
    families: HashMap<String, i64>,
    /// The latest `revoked_at` read; the next read starts one second before it.
    high_water: i64,
    loaded_at: Option<Instant>,
}

pub struct RevokedFamilies {
    pool: DbPool,
    ttl: Duration,
    /// How long after revocation an access token of the family can still be valid (its
    /// lifetime plus the leeway), beyond the family's refresh expiry.
    token_lifetime: i64,
    state: RwLock<Revoked>,
    /// One refresh at a time; meanwhile the others answer from the set they have (once there
    /// is one).
    refresh: tokio::sync::Mutex<()>,
}

impl RevokedFamilies {
    pub fn new(pool: DbPool, ttl: Duration, token_lifetime: i64) -> RevokedFamilies {
        RevokedFamilies {
            pool,
            ttl,
            token_lifetime,
            state: RwLock::new(Revoked {
                families: HashMap::new(),
                high_water: 0,
                loaded_at: None,
            }),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the family `sid` is revoked, as of at most `ttl` ago.
    pub async fn is_revoked(&self, sid: &str) -> Result<bool, DbError> {
        if self.is_stale() {
            self.reload().await?;
        }
        let state = self.state.read().map_err(|_| poisoned())?;
        Ok(state
            .families
            .get(sid)
            .is_some_and(|until| *until > now_seconds()))
    }

    /// How many families the set holds (for the metrics).
    pub fn held(&self) -> usize {
        self.state.read().map_or(0, |state| state.families.len())
    }

    /// Records a revocation made here, so this instance refuses the family at once.
    pub fn add(&self, sid: &str, expires_at: i64) {
        let until = self.until(expires_at, now_seconds());
        if let Ok(mut state) = self.state.write() {
            state.families.insert(sid.to_string(), until);
        }
    }

    fn until(&self, expires_at: i64, revoked_at: i64) -> i64 {
        expires_at.max(revoked_at.saturating_add(self.token_lifetime))
    }

    fn is_stale(&self) -> bool {
        self.state.read().map_or(true, |state| {
            state
                .loaded_at
                .is_none_or(|loaded| loaded.elapsed() >= self.ttl)
        })
    }

    async fn reload(&self) -> Result<(), DbError> {
        let loaded_once = self
            .state
            .read()
            .map_err(|_| poisoned())?
            .loaded_at
            .is_some();
        // Only the very first read makes requests wait: later, one request reloads while the
        // others answer from the set read at most a reload ago.
        let _one_at_a_time = if loaded_once {
            match self.refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(()),
            }
        } else {
            self.refresh.lock().await
        };
        if !self.is_stale() {
            return Ok(());
        }
        let since = self
            .state
            .read()
            .map_err(|_| poisoned())?
            .high_water
            .saturating_sub(LATE_COMMIT_MARGIN);
        let started = Instant::now();
        let oldest_valid = now_seconds().saturating_sub(self.token_lifetime);
        let revoked = db::run(&self.pool, move |conn| {
            families::revoked_since(conn, since, oldest_valid)
        })
        .await?;
        let now = now_seconds();
        let mut state = self.state.write().map_err(|_| poisoned())?;
        for (sid, expires_at, revoked_at) in revoked {
            state.high_water = state.high_water.max(revoked_at);
            let until = self.until(expires_at, revoked_at);
            state.families.insert(sid, until);
        }
        state.families.retain(|_, until| *until > now);
        state.loaded_at = Some(started);
        Ok(())
    }
}

fn poisoned() -> DbError {
    DbError::Unavailable("revocation cache lock poisoned".into())
}
