//! Provides DRF's authtoken keys (`auth_tokens`), found by the digest of the key.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{auth_tokens, users};

/// A key as the administrators' page lists it (never the key itself).
#[derive(Debug, Clone, Queryable)]
pub struct KeySummary {
    pub id: i32,
    pub username: String,
    pub digest: String,
    pub created_at: i64,
}

pub fn create(
    conn: &mut DbConnection,
    digest: &str,
    sealed_key: Option<&str>,
    user_id: i32,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(auth_tokens::table)
        .values((
            auth_tokens::digest.eq(digest),
            auth_tokens::sealed_key.eq(sealed_key),
            auth_tokens::user_id.eq(user_id),
            auth_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Starts a read-then-write transaction as a writer: on SQLite a transaction that reads first
/// and writes second fails at once ("database is locked") when another did the same, while a
/// write as its first statement waits its turn (`busy_timeout`). A no-op elsewhere.
pub fn begin_as_writer(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::sql_query("UPDATE auth_tokens SET user_id = user_id WHERE 1 = 0")
        .execute(conn)
        .map(|_| ())
}

/// The user a key digest belongs to.
pub fn user_of(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<i32>> {
    auth_tokens::table
        .filter(auth_tokens::digest.eq(digest))
        .select(auth_tokens::user_id)
        .first(conn)
        .optional()
}

/// The user's oldest key: (digest, sealed key).
pub fn first_of_user(
    conn: &mut DbConnection,
    user_id: i32,
) -> QueryResult<Option<(String, Option<String>)>> {
    auth_tokens::table
        .filter(auth_tokens::user_id.eq(user_id))
        .order((auth_tokens::created_at, auth_tokens::id))
        .select((auth_tokens::digest, auth_tokens::sealed_key))
        .first(conn)
        .optional()
}

/// Deletes the user's oldest keys until at most `keep` are left; returns how many went.
pub fn keep_newest(conn: &mut DbConnection, user_id: i32, keep: usize) -> QueryResult<usize> {
    let ids: Vec<i32> = auth_tokens::table
        .filter(auth_tokens::user_id.eq(user_id))
        .order((auth_tokens::created_at.desc(), auth_tokens::id.desc()))
        .select(auth_tokens::id)
        .load(conn)?;
    let old: Vec<i32> = ids.into_iter().skip(keep).collect();
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(auth_tokens::table.filter(auth_tokens::id.eq_any(old))).execute(conn)
}

pub fn delete_for_user(conn: &mut DbConnection, user_id: i32) -> QueryResult<usize> {
    diesel::delete(auth_tokens::table.filter(auth_tokens::user_id.eq(user_id))).execute(conn)
}

/// The user a key (by row id) belongs to.
pub fn owner(conn: &mut DbConnection, id: i32) -> QueryResult<Option<i32>> {
    auth_tokens::table
        .find(id)
        .select(auth_tokens::user_id)
        .first::<i32>(conn)
        .optional()
}

/// Deletes one key; `None` when there was none with that id, else its user's id.
pub fn delete(conn: &mut DbConnection, id: i32) -> QueryResult<Option<i32>> {
    let user = auth_tokens::table
        .find(id)
        .select(auth_tokens::user_id)
        .first::<i32>(conn)
        .optional()?;
    if user.is_some() {
        diesel::delete(auth_tokens::table.find(id)).execute(conn)?;
    }
    Ok(user)
}

pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<KeySummary>> {
    auth_tokens::table
        .inner_join(users::table)
        .order(auth_tokens::created_at.desc())
        .limit(limit)
        .select((
            auth_tokens::id,
            users::username,
            auth_tokens::digest,
            auth_tokens::created_at,
        ))
        .load(conn)
}
