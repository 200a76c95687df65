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
use crate::hashers::{HasherError, PasswordHasher};
use crate::models::users::{self, PasswordTag, User};

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
        // A second round only when a re-hash found the stored hash changed since it was read.
        let mut may_rehash = true;
        loop {
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
                    if !self.hasher.hashers().is_usable(&found.password) {
                        self.warn_unusable_hash(found.user.id);
                    }
                    (Some(found.user), Some(found.password))
                }
                None => (None, None),
            };
            let active = user.as_ref().is_some_and(|user| user.is_active);
            let checked = self
                .hasher
                .check_password(
                    password.to_string(),
                    hash.clone(),
                    client,
                    may_rehash && active,
                )
                .await?;
            let mut user = match user {
                Some(user) if checked.matches && user.is_active => user,
                user => return Ok(Err(user.map(|user| user.id))),
            };
            let (Some(new), Some(old)) = (checked.rehash, hash) else {
                return Ok(Ok(user));
            };
            let tag = PasswordTag::from(new.clone());
            if self.store_rehash(user.id, old, new).await? {
                user.password_tag = tag;
                return Ok(Ok(user));
            }
            // The stored hash changed since it was read: another login re-hashed it, or the
            // password changed. The password is checked again against what is stored now, so
            // a login with the old password gets nothing, and one that raced a re-hash answers
            // with the stored hash's user (its tokens carry that hash's revoke claim).
            may_rehash = false;
        }
    }

    /// Django's `must_update`: replaces the matched hash `old` with `new` (the preferred
    /// hasher's), only if the stored hash is still `old`. True when it was replaced.
    async fn store_rehash(&self, id: i32, old: String, new: String) -> Result<bool, AccountsError> {
        let replaced = db::run(&self.pool, move |conn| {
            users::replace_password(conn, id, &old, &new)
        })
        .await?;
        self.invalidate(id);
        if replaced {
            log::info!("user {id}: password re-hashed with the preferred hasher");
        }
        Ok(replaced)
    }

    /// Says once per user (and process) that their stored hash is in a format we cannot check,
    /// so they cannot sign in until an administrator sets a new password.
    fn warn_unusable_hash(&self, id: i32) {
        let Ok(mut warned) = self.warned_hashes.lock() else {
            return;
        };
        if warned.len() < MAX_WARNED_HASHES && warned.insert(id) {
            log::warn!(
                "user {id}: no hasher in PASSWORD_HASHERS reads the stored password hash (or \
                 it asks for more work than allowed), so no password matches it; set one with \
                 `portcullis changepassword`"
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
            Arc::new(PasswordHasher::new(
                1,
                1,
                crate::hashers::Hashers::new(vec![crate::hashers::Algorithm::Bcrypt], 4),
            )),
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
