//! Provides Django's `authenticate()` and the user lookup behind every authenticated request.
//!
//! Looking the user up for each request costs a pooled query on the blocking pool, several
//! times the rest of the pipeline. Users are therefore cached in process for at most
//! `USER_CACHE_TTL_MS` (default 1 s): a user deactivated or given a new password elsewhere
//! is refused at most that long afterwards, and at once on the instance that made the change.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::{self, DbError, DbPool};
use crate::hashers::{HasherError, PasswordHasher, is_bcrypt};
use crate::models::users::{self, User};

/// Entries beyond this are dropped wholesale; the cache only saves work, it holds no state.
const MAX_CACHED_USERS: usize = 100_000;
/// Past this many users, unusable hashes are no longer logged (the log stays bounded).
const MAX_WARNED_HASHES: usize = 10_000;

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
    /// username -> (id, when read), for tokens that name users by username.
    ids_by_name: Mutex<HashMap<String, (i32, Instant)>>,
    ttl: Duration,
    /// Users whose unusable hash was already logged.
    warned_hashes: Mutex<HashSet<i32>>,
}

impl Accounts {
    pub fn new(pool: DbPool, hasher: Arc<PasswordHasher>, ttl: Duration) -> Accounts {
        Accounts {
            pool,
            hasher,
            cache: Mutex::new(HashMap::new()),
            ids_by_name: Mutex::new(HashMap::new()),
            ttl,
            warned_hashes: Mutex::new(HashSet::new()),
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

    /// The user with that username (simplejwt's `USER_ID_FIELD = "username"`), at most `ttl`
    /// old.
    pub async fn get_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<User>, AccountsError> {
        if username.contains('\0') {
            return Ok(None);
        }
        let known = self.ids_by_name.lock().ok().and_then(|names| {
            names
                .get(username)
                .filter(|(_, read)| read.elapsed() < self.ttl)
                .map(|(id, _)| *id)
        });
        let id = match known {
            Some(id) => id,
            None => {
                let name = username.to_string();
                let Some(id) =
                    db::run(&self.pool, move |conn| users::id_by_username(conn, &name)).await?
                else {
                    return Ok(None);
                };
                if let Ok(mut names) = self.ids_by_name.lock()
                    && !self.ttl.is_zero()
                {
                    if names.len() >= MAX_CACHED_USERS {
                        names.clear();
                    }
                    names.insert(username.to_string(), (id, Instant::now()));
                }
                id
            }
        };
        // A user renamed since: the name no longer names them.
        Ok(self
            .get_user(id)
            .await?
            .filter(|user| user.username == username))
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

    /// The user read from the database now (the cache refreshed with it).
    pub async fn refetch(&self, id: i32) -> Result<Option<User>, AccountsError> {
        self.invalidate(id);
        self.get_user(id).await
    }

    /// Users held in the cache (bounded by `MAX_CACHED_USERS`).
    pub fn cached_users(&self) -> usize {
        self.cache.lock().map_or(0, |cache| cache.len())
    }

    /// Forgets a user at once, after this instance changed it.
    pub fn invalidate(&self, id: i32) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
    }

    /// The active user with these credentials, else the id of the account the username names
    /// (for the security log: which account is under attack). Every failure costs one full
    /// hash check (an
    /// unknown user, a username no database can hold, a stored hash we cannot check), so that
    /// response time does not tell them apart. `client` is who asks: its checks take at most
    /// its share of the hashing queue.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Result<User, Option<i32>>, AccountsError> {
        // PostgreSQL refuses NUL in text (a 500); no user can have it in their name.
        let found = if username.contains('\0') {
            None
        } else {
            let name = username.to_string();
            db::run(&self.pool, move |conn| {
                users::find_with_password(conn, &name)
            })
            .await?
        };
        let (user, hash) = match found {
            Some(found) => {
                if !is_bcrypt(&found.password) {
                    self.warn_unusable_hash(found.user.id);
                }
                (Some(found.user), Some(found.password))
            }
            None => (None, None),
        };
        let matches = self
            .hasher
            .check_password(password.to_string(), hash, client)
            .await?;
        Ok(match user {
            Some(user) if matches && user.is_active => Ok(user),
            user => Err(user.map(|user| user.id)),
        })
    }

    /// Says once per user (and process) that their stored hash is in a format we cannot check,
    /// so they cannot sign in until an administrator sets a new password.
    fn warn_unusable_hash(&self, id: i32) {
        let Ok(mut warned) = self.warned_hashes.lock() else {
            return;
        };
        if warned.len() < MAX_WARNED_HASHES && warned.insert(id) {
            log::warn!(
                "user {id}: the stored password hash is not bcrypt, so no password matches it; \
                 set one with `portcullis changepassword`"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_cache_never_holds_more_than_its_bound() {
        let settings = crate::db::DbSettings {
            url: ":memory:".into(),
            pool_size: 1,
            connect_timeout: Duration::from_millis(100),
            statement_timeout: Duration::from_millis(100),
        };
        let accounts = Accounts::new(
            db::build_pool(&settings),
            Arc::new(PasswordHasher::new(1, 1, 4)),
            Duration::from_secs(60),
        );
        for id in 0..(MAX_CACHED_USERS as i32 + 10) {
            accounts.remember(User {
                id,
                username: format!("u{id}"),
                is_active: true,
                is_staff: false,
                is_superuser: false,
                tokens_valid_after: 0,
                token_id: None,
                password_tag: Default::default(),
            });
            assert!(accounts.cached_users() <= MAX_CACHED_USERS);
        }
    }
}
