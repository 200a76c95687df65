//! Provides the server-side sessions, stored by the SHA-256 of their id (never the id itself).

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::clock::now_seconds;
use crate::db::DbConnection;
use crate::db::schema::sessions;

/// What a valid session tells about its request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SessionRecord {
    pub user_id: i32,
    /// Django's `CSRF_USE_SESSIONS`: the CSRF secret lives with the session, not in a cookie.
    pub csrf_secret: String,
    pub expires_at: i64,
}

/// The stored form of a session id: a leaked table does not give anyone a usable cookie.
pub fn hash_key(session_key: &str) -> String {
    hex::encode(Sha256::digest(session_key.as_bytes()))
}

pub fn create(
    conn: &mut DbConnection,
    session_key: &str,
    user_id: i32,
    csrf_secret: &str,
    expires_at: i64,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(hash_key(session_key)),
            sessions::user_id.eq(user_id),
            sessions::csrf_secret.eq(csrf_secret),
            sessions::created_at.eq(now_seconds()),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The session with that id, unless it is unknown or expired.
pub fn find_active(
    conn: &mut DbConnection,
    session_key: &str,
) -> QueryResult<Option<SessionRecord>> {
    sessions::table
        .filter(sessions::key_hash.eq(hash_key(session_key)))
        .filter(sessions::expires_at.gt(now_seconds()))
        .select((
            sessions::user_id,
            sessions::csrf_secret,
            sessions::expires_at,
        ))
        .first(conn)
        .optional()
}

/// Ends one session; returns whether it existed.
pub fn delete(conn: &mut DbConnection, session_key: &str) -> QueryResult<bool> {
    let deleted =
        diesel::delete(sessions::table.filter(sessions::key_hash.eq(hash_key(session_key))))
            .execute(conn)?;
    Ok(deleted > 0)
}

/// Ends every session of a user (deactivation); returns how many there were.
pub fn delete_for_user(conn: &mut DbConnection, user_id: i32) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Django's `clearsessions`: deletes the expired sessions and returns how many.
pub fn clear_expired(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(now_seconds()))).execute(conn)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    sessions::table.count().get_result(conn)
}
