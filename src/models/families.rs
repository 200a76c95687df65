//! Provides the refresh families (`token_families`): one per obtain, moved along by each
//! rotation, revoked by logout, reuse detection or "logout everywhere".

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::token_families;

/// A family as it starts, with the device it was obtained from.
#[derive(Debug, Clone)]
pub struct NewFamily {
    pub sid: String,
    pub user_id: i32,
    pub current_jti: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
}

/// A live family, as the sessions API lists it.
#[derive(Debug, Clone, Queryable)]
pub struct LiveFamily {
    pub sid: String,
    pub created_at: i64,
    pub last_refreshed: i64,
    pub ip: String,
    pub user_agent: String,
}

/// What rotation needs to know about a family.
#[derive(Debug, Clone, Queryable)]
pub struct FamilyState {
    pub user_id: i32,
    pub current_jti: String,
    /// The token it was rotated from last (none before its first rotation).
    pub previous_jti: Option<String>,
    pub last_refreshed: i64,
    pub revoked_at: Option<i64>,
}

pub fn create(conn: &mut DbConnection, family: &NewFamily) -> QueryResult<()> {
    diesel::insert_into(token_families::table)
        .values((
            token_families::sid.eq(&family.sid),
            token_families::user_id.eq(family.user_id),
            token_families::current_jti.eq(&family.current_jti),
            token_families::created_at.eq(family.created_at),
            token_families::last_refreshed.eq(family.created_at),
            token_families::expires_at.eq(family.expires_at),
            token_families::ip.eq(&family.ip),
            token_families::user_agent.eq(&family.user_agent),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, sid: &str) -> QueryResult<Option<FamilyState>> {
    token_families::table
        .filter(token_families::sid.eq(sid))
        .select((
            token_families::user_id,
            token_families::current_jti,
            token_families::previous_jti,
            token_families::last_refreshed,
            token_families::revoked_at,
        ))
        .first(conn)
        .optional()
}

/// Moves a live family from `old_jti` to `new_jti` in one conditional statement: `false` when
/// `old_jti` is not its current token (it was rotated already) or the family is revoked.
pub fn advance(
    conn: &mut DbConnection,
    sid: &str,
    old_jti: &str,
    new_jti: &str,
    now: i64,
    expires_at: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(
        token_families::table
            .filter(token_families::sid.eq(sid))
            .filter(token_families::current_jti.eq(old_jti))
            .filter(token_families::revoked_at.is_null()),
    )
    .set((
        token_families::current_jti.eq(new_jti),
        token_families::previous_jti.eq(Some(old_jti)),
        token_families::last_refreshed.eq(now),
        token_families::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The live family of `user_id` whose current token, or the token it was rotated from last, is
/// `jti`: (sid, expires_at).
pub fn live_of_token(
    conn: &mut DbConnection,
    user_id: i32,
    jti: &str,
) -> QueryResult<Option<(String, i64)>> {
    token_families::table
        .filter(token_families::user_id.eq(user_id))
        .filter(token_families::revoked_at.is_null())
        .filter(
            token_families::current_jti
                .eq(jti)
                .or(token_families::previous_jti.eq(jti)),
        )
        .select((token_families::sid, token_families::expires_at))
        .first(conn)
        .optional()
}

/// Revokes one family (of `owner`, when given); `false` when there was no such live family.
pub fn revoke(
    conn: &mut DbConnection,
    sid: &str,
    owner: Option<i32>,
    now: i64,
) -> QueryResult<bool> {
    let mut query = diesel::update(token_families::table)
        .filter(token_families::sid.eq(sid))
        .filter(token_families::revoked_at.is_null())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(token_families::user_id.eq(owner));
    }
    Ok(query
        .set(token_families::revoked_at.eq(now))
        .execute(conn)?
        == 1)
}

/// Revokes every live family of a user; returns their ids and expiries (call it inside a
/// transaction: the read and the update must see the same families).
pub fn revoke_all(
    conn: &mut DbConnection,
    user_id: i32,
    now: i64,
) -> QueryResult<Vec<(String, i64)>> {
    let live = token_families::table
        .filter(token_families::user_id.eq(user_id))
        .filter(token_families::revoked_at.is_null())
        .select((token_families::sid, token_families::expires_at))
        .load::<(String, i64)>(conn)?;
    diesel::update(
        token_families::table
            .filter(token_families::user_id.eq(user_id))
            .filter(token_families::revoked_at.is_null()),
    )
    .set(token_families::revoked_at.eq(now))
    .execute(conn)?;
    Ok(live)
}

/// The user's families that can still refresh, newest first.
pub fn list_live(conn: &mut DbConnection, user_id: i32, now: i64) -> QueryResult<Vec<LiveFamily>> {
    token_families::table
        .filter(token_families::user_id.eq(user_id))
        .filter(token_families::revoked_at.is_null())
        .filter(token_families::expires_at.gt(now))
        .order(token_families::last_refreshed.desc())
        .limit(1000)
        .select((
            token_families::sid,
            token_families::created_at,
            token_families::last_refreshed,
            token_families::ip,
            token_families::user_agent,
        ))
        .load(conn)
}

/// Live families per user (user id, count), for the administrators' user list.
pub fn live_counts(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<(i32, i64)>> {
    token_families::table
        .filter(token_families::revoked_at.is_null())
        .filter(token_families::expires_at.gt(now))
        .group_by(token_families::user_id)
        .select((token_families::user_id, diesel::dsl::count_star()))
        .load(conn)
}

/// Families revoked at or after `since` whose tokens can still be valid (`expires_at` after
/// `now` minus `leeway`): (sid, expires_at, revoked_at).
pub fn revoked_since(
    conn: &mut DbConnection,
    since: i64,
    not_expired_before: i64,
) -> QueryResult<Vec<(String, i64, i64)>> {
    token_families::table
        .filter(token_families::revoked_at.ge(since))
        .filter(token_families::expires_at.gt(not_expired_before))
        .select((
            token_families::sid,
            token_families::expires_at,
            token_families::revoked_at.assume_not_null(),
        ))
        .load(conn)
}

/// Deletes families whose tokens can no longer validate.
pub fn flush_expired(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(token_families::table.filter(token_families::expires_at.le(before)))
        .execute(conn)
}
