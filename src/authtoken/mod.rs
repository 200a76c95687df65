//! DRF's `rest_framework.authtoken`: an opaque key per sign-in (`Authorization: Token <key>`),
//! obtained at `/api/auth-token/`.
//!
//! Keys are 40 hex characters (20 random bytes), as DRF's. Only their SHA-256 is stored for the
//! lookup, so a leaked table signs nobody in. `TOKEN_AUTH_KEYS=multiple` (the default, like
//! django-rest-knox) issues a new key at every obtain and keeps the user's newest
//! `TOKEN_AUTH_MAX_PER_USER`; `single` is DRF's model, one key per user handed out again at
//! every obtain, which needs the key itself: it is kept sealed (AES-256-GCM) with a key derived
//! from `SECRET_KEY`.

pub mod authentication;
pub mod keys;
pub mod views;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::accounts::Accounts;
use crate::clock::now_seconds;
use diesel::Connection;

use crate::db::{self, DbConnection};
use crate::models::auth_tokens;
use crate::models::users::{self, User};
use crate::rest::ApiError;
use crate::sealing::Sealer;
use keys::{digest, new_key};

/// `TOKEN_AUTH_KEYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// One key per user, the same at every obtain (DRF).
    Single,
    /// A new key at every obtain, the newest `max_per_user` kept.
    Multiple { max_per_user: usize },
}

/// Keys looked up are cached this many at most (then the cache starts over).
const MAX_CACHED_KEYS: usize = 100_000;

pub struct AuthTokens {
    pub accounts: Arc<Accounts>,
    pub mode: KeyMode,
    sealer: Arc<Sealer>,
    /// digest -> (user id, when read, and in Unix seconds): a key revoked elsewhere works at
    /// most `ttl` longer.
    cache: Mutex<HashMap<String, (i32, Instant, i64)>>,
    ttl: Duration,
}

impl AuthTokens {
    pub fn new(
        accounts: Arc<Accounts>,
        mode: KeyMode,
        secret_key: &str,
        ttl: Duration,
    ) -> Result<AuthTokens, String> {
        Ok(AuthTokens {
            accounts,
            mode,
            sealer: Arc::new(keys::sealer(secret_key)?),
            cache: Mutex::new(HashMap::new()),
            ttl,
        })
    }

    /// The key to hand to `user` at obtain, as its password check read it; `None` when the
    /// user's sessions ended since (a password change, a logout everywhere): no key of the old
    /// password is handed out after the change.
    pub async fn key_for(&self, user: &User) -> Result<Option<String>, ApiError> {
        let (sealer, mode) = (Arc::clone(&self.sealer), self.mode);
        let (user_id, epoch) = (user.id, user.tokens_valid_after);
        let issued = db::run(self.accounts.pool(), move |conn| {
            Ok(issue_key(conn, &sealer, mode, user_id, false, Some(epoch)))
        })
        .await?;
        match issued {
            Ok(key) => Ok(Some(key)),
            Err(IssueError::SessionsEnded) => Ok(None),
            Err(IssueError::Db(e)) => Err(ApiError::internal(e)),
            Err(IssueError::Key(e)) => Err(ApiError::internal(e)),
        }
    }

    /// The user a presented key belongs to, at most `ttl` stale; never a key read before the
    /// user's sessions ended (logout everywhere, password change, deactivation delete the
    /// user's keys and move the token epoch): on the instance that ended them at once, as it
    /// forgets the cached user, elsewhere within the user cache's bound.
    pub async fn user_of(&self, key: &str) -> Result<Option<User>, ApiError> {
        let digest = digest(key);
        let cached = self.cache.lock().ok().and_then(|cache| {
            let (user, read, read_at) = cache.get(&digest)?;
            (read.elapsed() < self.ttl).then_some((*user, *read_at))
        });
        if let Some((id, read_at)) = cached {
            let user = self.accounts.get_user(id).await?;
            // Whole seconds: a key read in the epoch's own second is read again.
            if user
                .as_ref()
                .is_none_or(|user| user.tokens_valid_after < read_at)
            {
                return Ok(user);
            }
        }
        let (lookup, read_at) = (digest.clone(), now_seconds());
        let id = db::run(self.accounts.pool(), move |conn| {
            auth_tokens::user_of(conn, &lookup)
        })
        .await?;
        let Some(id) = id else {
            if let Ok(mut cache) = self.cache.lock() {
                cache.remove(&digest);
            }
            return Ok(None);
        };
        if let Ok(mut cache) = self.cache.lock()
            && !self.ttl.is_zero()
        {
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
            cache.insert(digest, (id, Instant::now(), read_at));
        }
        Ok(self.accounts.get_user(id).await?)
    }

    /// Forgets every cached key at once, after this instance revoked one.
    pub fn forget_cached(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}

/// Why no key could be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    Key(String),
    #[error("the user's sessions ended since the password was checked")]
    SessionsEnded,
}

/// The key to hand out, in one transaction: DRF's `get_or_create` in single mode (the same key
/// again, unless it cannot be unsealed), a new key in multiple mode (the newest
/// `max_per_user` kept). `regenerate` (`drf_create_token -r`) replaces every key of the user.
/// `checked_epoch`: the user's token epoch as a password check read it; a key is issued only
/// while it still holds (see `users::epoch_holds`).
pub fn issue_key(
    conn: &mut DbConnection,
    sealer: &Sealer,
    mode: KeyMode,
    user_id: i32,
    regenerate: bool,
    checked_epoch: Option<i64>,
) -> Result<String, IssueError> {
    // Parallel obtains race: in single mode the unique index lets one key in, and the others
    // then read it by trying again.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match issue_key_once(conn, sealer, mode, user_id, regenerate, checked_epoch) {
            Err(IssueError::Db(e)) if attempt < 3 && is_contention(&e) => continue,
            outcome => return outcome,
        }
    }
}

fn is_contention(error: &diesel::result::Error) -> bool {
    db::is_unique_violation(error)
}

fn issue_key_once(
    conn: &mut DbConnection,
    sealer: &Sealer,
    mode: KeyMode,
    user_id: i32,
    regenerate: bool,
    checked_epoch: Option<i64>,
) -> Result<String, IssueError> {
    conn.transaction(|conn| {
        auth_tokens::begin_as_writer(conn)?;
        if let Some(epoch) = checked_epoch
            && !users::epoch_holds(conn, user_id, epoch)?
        {
            return Err(IssueError::SessionsEnded);
        }
        if regenerate {
            auth_tokens::delete_for_user(conn, user_id)?;
        }
        if mode == KeyMode::Single
            && let Some((digest, sealed)) = auth_tokens::first_of_user(conn, user_id)?
        {
            if let Some(key) = sealed.and_then(|sealed| sealer.open(&sealed, &digest)) {
                return Ok(key);
            }
            // Sealed under another SECRET_KEY: it cannot be handed out again; a new one is.
            log::warn!(
                "user {user_id}: an auth token key could not be unsealed; issuing a new one"
            );
            auth_tokens::delete_for_user(conn, user_id)?;
        }
        let key = new_key().map_err(IssueError::Key)?;
        let digest = digest(&key);
        let now = now_seconds();
        match mode {
            KeyMode::Single => {
                let sealed = sealer.seal(&key, &digest).map_err(IssueError::Key)?;
                auth_tokens::create(conn, &digest, Some(&sealed), user_id, now)?;
            }
            KeyMode::Multiple { max_per_user } => {
                auth_tokens::create(conn, &digest, None, user_id, now)?;
                auth_tokens::keep_newest(conn, user_id, max_per_user)?;
            }
        }
        Ok(key)
    })
}
