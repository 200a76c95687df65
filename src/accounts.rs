//! Provides Django's `authenticate()` and the user lookup behind every authenticated request.
//!
//! Looking the user up for each request costs a pooled query on the blocking pool, several
//! times the rest of the pipeline. Users are therefore cached in process for at most
//! `USER_CACHE_TTL_MS` (default 1 s): a user deactivated or given a new password elsewhere
//! is refused at most that long afterwards, and at once on the instance that made the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::{self, DbError, DbPool};
use crate::hashers::{HasherError, PasswordHasher};
use crate::models::users::{self, User};

/// Entries beyond this are dropped wholesale; the cache only saves work, it holds no state.
const MAX_CACHED_USERS: usize = 100_000;

/// Why a lookup or credential check could not be answered (not: the credentials were wrong).
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hasher(#[from] HasherError),
}

pub struct Accounts {
    pool: DbPool,
    hasher: Arc<PasswordHasher>,
    cache: Mutex<HashMap<i32, (User, Instant)>>,
    ttl: Duration,
}

impl Accounts {
    pub fn new(pool: DbPool, hasher: Arc<PasswordHasher>, ttl: Duration) -> Accounts {
        Accounts {
            pool,
            hasher,
            cache: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The user with that id, at most `ttl` old; `None` when there is no such user.
    pub async fn get_user(&self, id: i32) -> Result<Option<User>, AccountsError> {
        if let Some(user) = self.cached(id) {
            return Ok(Some(user));
        }
        let user = db::run(&self.pool, move |conn| users::find_by_id(conn, id)).await?;
        if let Some(user) = &user {
            self.remember(user.clone());
        }
        Ok(user)
    }

    fn cached(&self, id: i32) -> Option<User> {
        let cache = self.cache.lock().ok()?;
        let (user, fetched) = cache.get(&id)?;
        (fetched.elapsed() < self.ttl).then(|| user.clone())
    }

    fn remember(&self, user: User) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED_USERS {
                cache.clear();
            }
            cache.insert(user.id, (user, Instant::now()));
        }
    }

    /// Forgets a user at once, after this instance changed it.
    pub fn invalidate(&self, id: i32) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
    }

    /// The active user with these credentials. Unknown users cost a hash check too, so that
    /// response time does not tell which usernames exist.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountsError> {
        let name = username.to_string();
        let found = db::run(&self.pool, move |conn| {
            users::find_with_password(conn, &name)
        })
        .await?;
        let (user, hash) = match found {
            Some(found) => (Some(found.user), Some(found.password)),
            None => (None, None),
        };
        let matches = self
            .hasher
            .check_password(password.to_string(), hash)
            .await?;
        Ok(user.filter(|user| matches && user.is_active))
    }
}
