//! Provides the outstanding and blacklisted refresh tokens, stored by `jti` (never the raw token).

use diesel::prelude::*;

use crate::clock::now_seconds;
use crate::db::schema::{blacklisted_tokens, outstanding_tokens, users};
use crate::db::{DbConnection, is_unique_violation};

/// A refresh token's bookkeeping: what is known without storing the token itself.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub jti: String,
    pub user_id: Option<i32>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An outstanding, not yet blacklisted token, as the administrators' page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct OutstandingToken {
    pub jti: String,
    pub username: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What happened to a blacklisting request.
#[derive(Debug, PartialEq, Eq)]
pub enum Blacklisting {
    Done,
    AlreadyBlacklisted,
}

pub fn record_outstanding(conn: &mut DbConnection, token: &TokenRecord) -> QueryResult<()> {
    diesel::insert_into(outstanding_tokens::table)
        .values((
            outstanding_tokens::jti.eq(&token.jti),
            outstanding_tokens::user_id.eq(token.user_id),
            outstanding_tokens::created_at.eq(token.created_at),
            outstanding_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn is_blacklisted(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        blacklisted_tokens::table.filter(blacklisted_tokens::jti.eq(jti)),
    ))
    .get_result(conn)
}

/// Blacklists by inserting under a unique `jti`: of two concurrent calls exactly one is `Done`.
pub fn blacklist(conn: &mut DbConnection, token: &TokenRecord) -> QueryResult<Blacklisting> {
    as_blacklisting(insert_blacklisted(conn, token))
}

/// Blacklists `old` and records `new` in one transaction: a lost race records nothing.
pub fn rotate(
    conn: &mut DbConnection,
    old: &TokenRecord,
    new: Option<&TokenRecord>,
) -> QueryResult<Blacklisting> {
    as_blacklisting(conn.transaction(|conn| {
        insert_blacklisted(conn, old)?;
        if let Some(new) = new {
            record_outstanding(conn, new)?;
        }
        Ok(())
    }))
}

/// Inserts the blacklist row; a duplicate `jti` is a unique violation.
pub fn insert_blacklisted(conn: &mut DbConnection, token: &TokenRecord) -> QueryResult<()> {
    diesel::insert_into(blacklisted_tokens::table)
        .values((
            blacklisted_tokens::jti.eq(&token.jti),
            blacklisted_tokens::user_id.eq(token.user_id),
            blacklisted_tokens::expires_at.eq(token.expires_at),
            blacklisted_tokens::blacklisted_at.eq(now_seconds()),
        ))
        .execute(conn)
        .map(|_| ())
}

fn as_blacklisting(inserted: QueryResult<()>) -> QueryResult<Blacklisting> {
    match inserted {
        Ok(()) => Ok(Blacklisting::Done),
        Err(e) if is_unique_violation(&e) => Ok(Blacklisting::AlreadyBlacklisted),
        Err(e) => Err(e),
    }
}

pub fn list_outstanding(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<OutstandingToken>> {
    let now = now_seconds();
    outstanding_tokens::table
        .left_join(users::table)
        .filter(outstanding_tokens::expires_at.gt(now))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            blacklisted_tokens::table.filter(blacklisted_tokens::jti.eq(outstanding_tokens::jti)),
        )))
        .order(outstanding_tokens::created_at.desc())
        .limit(limit)
        .select((
            outstanding_tokens::jti,
            users::username.nullable(),
            outstanding_tokens::created_at,
            outstanding_tokens::expires_at,
        ))
        .load(conn)
}

pub fn find_outstanding(conn: &mut DbConnection, jti: &str) -> QueryResult<Option<TokenRecord>> {
    outstanding_tokens::table
        .filter(outstanding_tokens::jti.eq(jti))
        .select((
            outstanding_tokens::jti,
            outstanding_tokens::user_id,
            outstanding_tokens::created_at,
            outstanding_tokens::expires_at,
        ))
        .first::<(String, Option<i32>, i64, i64)>(conn)
        .optional()
        .map(|row| {
            row.map(|(jti, user_id, created_at, expires_at)| TokenRecord {
                jti,
                user_id,
                created_at,
                expires_at,
            })
        })
}

/// Deletes the bookkeeping of tokens that can no longer validate: expired for more than
/// `leeway` seconds (within it a token still passes its `exp` check, so a blacklisted one must
/// stay blacklisted). Returns the (outstanding, blacklisted) counts.
pub fn flush_expired(conn: &mut DbConnection, leeway: u64) -> QueryResult<(usize, usize)> {
    let now = now_seconds().saturating_sub(i64::try_from(leeway).unwrap_or(i64::MAX));
    conn.transaction(|conn| {
        let blacklisted = diesel::delete(
            blacklisted_tokens::table.filter(blacklisted_tokens::expires_at.le(now)),
        )
        .execute(conn)?;
        let outstanding = diesel::delete(
            outstanding_tokens::table.filter(outstanding_tokens::expires_at.le(now)),
        )
        .execute(conn)?;
        Ok((outstanding, blacklisted))
    })
}
