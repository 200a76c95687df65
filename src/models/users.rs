//! Provides the user records and the queries on them.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use sha2::{Digest, Sha256};

use crate::clock::now_seconds;
use crate::db::DbConnection;
use crate::db::schema::users;
use crate::models::{auth_tokens, families, sessions};

/// The part of a user the request pipeline needs; never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// The token epoch: tokens issued before it (their `iat`) are refused.
    pub tokens_valid_after: i64,
    /// simplejwt's `TokenUser` (`jwt_stateless`): the id a token names when it is not a row's
    /// number (a service such as `"svc-billing"`); `id` is then 0. Never set for a row.
    #[diesel(select_expression = diesel::dsl::sql::<Nullable<Text>>("NULL"))]
    #[diesel(select_expression_type = diesel::expression::SqlLiteral<Nullable<Text>>)]
    pub token_id: Option<String>,
    /// A digest of the stored password hash (`CHECK_REVOKE_TOKEN` compares a keyed MAC of it):
    /// it changes with the password, wherever the password was changed.
    #[diesel(column_name = password, deserialize_as = String)]
    pub password_tag: PasswordTag,
}

/// SHA-256 of a user's stored password hash: changes whenever the password does (a new salt
/// each time), and gives nothing of the hash away. All zeros for a user no row stands behind
/// (a stateless token's user).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordTag(pub [u8; 32]);

impl From<String> for PasswordTag {
    fn from(hash: String) -> PasswordTag {
        PasswordTag(Sha256::digest(hash.as_bytes()).into())
    }
}

impl std::fmt::Debug for PasswordTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordTag(..)")
    }
}

impl User {
    /// DRF's `user.pk`: the row's id, or the id a stateless token named.
    pub fn pk(&self) -> String {
        let mut pk = String::new();
        self.write_pk(&mut pk);
        pk
    }

    /// `pk` appended to `out` (a throttle key is built in one String).
    pub fn write_pk(&self, out: &mut String) {
        match &self.token_id {
            Some(named) => out.push_str(named),
            None => {
                use std::fmt::Write;
                let _ = write!(out, "{}", self.id);
            }
        }
    }

    /// Whether a token issued at `iat` (whole seconds) predates the user's token epoch. A
    /// token of the epoch's own second is refused too: the epoch counts whole seconds, and a
    /// token refreshed in that second must not outlive the change. Only for tokens of no
    /// family: a family is revoked with the move of the epoch, which says exactly which ended.
    pub fn issued_before_epoch(&self, iat: i64) -> bool {
        self.tokens_valid_after > 0 && iat <= self.tokens_valid_after
    }
}

/// A user together with the stored password hash, for credential checks only.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserWithPassword {
    #[diesel(embed)]
    pub user: User,
    pub password: String,
}

/// A row of the administrators' user list.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserSummary {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub last_login: Option<i64>,
    pub date_joined: i64,
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

pub fn find_by_id(conn: &mut DbConnection, id: i32) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find_with_password(
    conn: &mut DbConnection,
    username: &str,
) -> QueryResult<Option<UserWithPassword>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserWithPassword::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<UserSummary>> {
    users::table
        .order(users::id)
        .select(UserSummary::as_select())
        .load(conn)
}

/// Inserts the user and returns its id; a duplicate username is a unique violation.
pub fn create(conn: &mut DbConnection, new: &NewUser) -> QueryResult<i32> {
    conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(&new.username),
                users::email.eq(&new.email),
                users::password.eq(&new.password_hash),
                users::is_active.eq(new.is_active),
                users::is_staff.eq(new.is_staff),
                users::is_superuser.eq(new.is_superuser),
                users::date_joined.eq(now_seconds()),
            ))
            .execute(conn)?;
        users::table
            .filter(users::username.eq(&new.username))
            .select(users::id)
            .first(conn)
    })
}

pub fn id_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<i32>> {
    users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .first::<i32>(conn)
        .optional()
}

/// Sets the hash and returns the user's id; `None` when no user has that name.
pub fn set_password(
    conn: &mut DbConnection,
    username: &str,
    hash: &str,
) -> QueryResult<Option<i32>> {
    let Some(id) = id_by_username(conn, username)? else {
        return Ok(None);
    };
    diesel::update(users::table.find(id))
        .set(users::password.eq(hash))
        .execute(conn)?;
    Ok(Some(id))
}

/// Replaces the stored hash only if it is still `old` (a re-hash on login): true when it was.
pub fn replace_password(
    conn: &mut DbConnection,
    id: i32,
    old: &str,
    new: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::password.eq(old)),
    )
    .set(users::password.eq(new))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn set_active(conn: &mut DbConnection, id: i32, active: bool) -> QueryResult<bool> {
    let updated = diesel::update(users::table.find(id))
        .set(users::is_active.eq(active))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Logs the user out everywhere, in one transaction: the token epoch moves to now, or a second
/// past where it was (every token issued before stops working), every refresh family, admin session and authtoken key
/// ends.
/// Returns the families ended (id, expiry), for the caller's revocation cache.
pub fn end_all_sessions(conn: &mut DbConnection, id: i32) -> QueryResult<Vec<(String, i64)>> {
    let now = now_seconds();
    conn.transaction(|conn| {
        // The epoch only ever moves forward, by a second at least: it is also the version a
        // sign-in in flight compares (`epoch_holds`), so two changes within one second must
        // differ. (Two updates, no read: a read-then-write transaction fails on SQLite.)
        diesel::update(
            users::table
                .find(id)
                .filter(users::tokens_valid_after.ge(now)),
        )
        .set(users::tokens_valid_after.eq(users::tokens_valid_after + 1))
        .execute(conn)?;
        diesel::update(
            users::table
                .find(id)
                .filter(users::tokens_valid_after.lt(now)),
        )
        .set(users::tokens_valid_after.eq(now))
        .execute(conn)?;
        let ended = families::revoke_all(conn, id, now)?;
        sessions::delete_for_user(conn, id)?;
        // DRF authtoken keys are sessions too: they end with the others.
        auth_tokens::delete_for_user(conn, id)?;
        Ok(ended)
    })
}

/// Whether the user's token epoch is still `checked` (what a password check read), holding it
/// until the transaction ends, so a credential recorded in the same transaction is either seen
/// (and ended) by a logout everywhere that follows, or refused by one that came first: `FOR
/// UPDATE` on PostgreSQL; on SQLite the transaction takes the write lock first (a no-op
/// update), which serializes it with every other writer.
pub fn epoch_holds(conn: &mut DbConnection, id: i32, checked: i64) -> QueryResult<bool> {
    let query = users::table.find(id).select(users::tokens_valid_after);
    let epoch: Option<i64> = match conn {
        DbConnection::Postgresql(pg) => query.for_update().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => {
            diesel::sql_query("UPDATE users SET id = id WHERE 1 = 0").execute(sqlite)?;
            query.first(sqlite).optional()?
        }
    };
    Ok(epoch == Some(checked))
}

pub fn touch_last_login(conn: &mut DbConnection, id: i32) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::last_login.eq(Some(now_seconds())))
        .execute(conn)
        .map(|_| ())
}
