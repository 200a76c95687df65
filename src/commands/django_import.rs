//! `portcullis import-django-users --from <SQLite path or postgres:// URL>`: copies a Django
//! deployment's users and simplejwt's blacklist into portcullis's database, so the switch logs
//! nobody out.
//!
//! - `auth_user` → `users`: id (kept, so tokens naming `user_id` go on naming the same user),
//!   username, email, the password hash as Django stored it (checked natively by
//!   `hashers::algorithms` and re-hashed on the next login), the flags, `date_joined` and
//!   `last_login`. On PostgreSQL the id sequence is moved past the imported ids.
//! - `token_blacklist_outstandingtoken` / `_blacklistedtoken` → `outstanding_tokens` /
//!   `blacklisted_tokens`, those not yet expired: a refresh token a user logged out of (or
//!   that rotation blacklisted) stays dead here.
//!
//! All or nothing: one transaction, refused before it writes anything when a user's id or
//! username is already taken in the target database.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};

use super::{CommandError, open};
use crate::clock::now_seconds;
use crate::config::Config;
use crate::db::{self, DbConnection, schema};

/// Ids and usernames per conflict query: under SQLite's bound on parameters (32,766).
const BATCH: usize = 500;

#[derive(Debug, QueryableByName)]
struct DjangoUser {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Bool)]
    is_staff: bool,
    #[diesel(sql_type = Bool)]
    is_superuser: bool,
    #[diesel(sql_type = BigInt)]
    date_joined: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_login: Option<i64>,
}

#[derive(Debug, QueryableByName)]
struct DjangoToken {
    #[diesel(sql_type = Text)]
    jti: String,
    #[diesel(sql_type = Nullable<Integer>)]
    user_id: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_at: Option<i64>,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    blacklisted_at: Option<i64>,
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// What was read from the Django database.
struct Export {
    users: Vec<DjangoUser>,
    /// Those not yet expired; `None` when simplejwt's blacklist app was not installed.
    tokens: Option<Vec<DjangoToken>>,
    /// Expired records left out (they can refresh nothing).
    expired_tokens: i64,
}

pub fn import_django_users(config: &Config, from: &str) -> Result<(), CommandError> {
    let now = now_seconds();
    let export = read_django(from, now)?;
    let mut conn = open(config)?;
    let live = export.tokens.unwrap_or_default();
    let blacklisted = live.iter().filter(|t| t.blacklisted_at.is_some()).count();
    conn.transaction(|conn| {
        refuse_conflicts(conn, &export.users)?;
        insert_users(conn, &export.users)?;
        insert_tokens(conn, &live, now)?;
        if let DbConnection::Postgresql(_) = conn {
            diesel::sql_query(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                 GREATEST((SELECT MAX(id) FROM users), 1))",
            )
            .execute(conn)
            .map_err(CommandError::database("move the users id sequence"))?;
        }
        Ok::<_, CommandError>(())
    })?;
    let ids = match (export.users.first(), export.users.last()) {
        (Some(first), Some(last)) => format!(" (ids {} to {})", first.id, last.id),
        _ => String::new(),
    };
    println!(
        "Imported {} users{ids}, {} outstanding tokens of which {blacklisted} blacklisted \
         ({} expired ones left out).",
        export.users.len(),
        live.len(),
        export.expired_tokens,
    );
    Ok(())
}

/// Reads `auth_user` and simplejwt's tables (the token records not expired at `now`: those
/// tables often hold millions of old rows); datetimes become Unix seconds (Django stores UTC
/// with `USE_TZ = True`, its default).
fn read_django(from: &str, now: i64) -> Result<Export, CommandError> {
    if !db::is_postgres_url(from) && !std::path::Path::new(from).is_file() {
        return Err(CommandError::refused(format!(
            "--from {from}: no such SQLite file (or give a postgres:// URL)"
        )));
    }
    // The connection error names the database without its password (`db::connect` redacts).
    let mut source = db::connect(from)
        .map_err(|e| CommandError::refused(format!("cannot open the Django database: {e}")))?;
    let postgres = matches!(source, DbConnection::Postgresql(_));
    let epoch = |column: &str| {
        if postgres {
            format!("CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)")
        } else {
            format!("CAST(strftime('%s', {column}) AS BIGINT)")
        }
    };
    if !table_exists(&mut source, "auth_user")? {
        return Err(CommandError::refused(format!(
            "{from} has no auth_user table: is it a Django database?"
        )));
    }
    let users = diesel::sql_query(format!(
        "SELECT id, username, email, password, is_active, is_staff, is_superuser, \
         {} AS date_joined, {} AS last_login FROM auth_user ORDER BY id",
        epoch("date_joined"),
        epoch("last_login"),
    ))
    .load::<DjangoUser>(&mut source)
    .map_err(CommandError::database("read auth_user"))?;
    if !table_exists(&mut source, "token_blacklist_outstandingtoken")? {
        return Ok(Export {
            users,
            tokens: None,
            expired_tokens: 0,
        });
    }
    let placeholder = if postgres { "$1" } else { "?" };
    let tokens = diesel::sql_query(format!(
        "SELECT o.jti AS jti, o.user_id AS user_id, {} AS created_at, \
         {} AS expires_at, {} AS blacklisted_at \
         FROM token_blacklist_outstandingtoken o \
         LEFT JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id \
         WHERE {} > {placeholder} ORDER BY o.id",
        epoch("o.created_at"),
        epoch("o.expires_at"),
        epoch("b.blacklisted_at"),
        epoch("o.expires_at"),
    ))
    .bind::<BigInt, _>(now)
    .load::<DjangoToken>(&mut source)
    .map_err(CommandError::database("read simplejwt's token tables"))?;
    let expired = diesel::sql_query(format!(
        "SELECT COUNT(*) AS count FROM token_blacklist_outstandingtoken o WHERE {} <= {placeholder}",
        epoch("o.expires_at"),
    ))
    .bind::<BigInt, _>(now)
    .get_result::<Count>(&mut source)
    .map_err(CommandError::database("count simplejwt's expired token records"))?;
    Ok(Export {
        users,
        tokens: Some(tokens),
        expired_tokens: expired.count,
    })
}

fn table_exists(conn: &mut DbConnection, name: &str) -> Result<bool, CommandError> {
    let query = match conn {
        DbConnection::Postgresql(_) => {
            "SELECT COUNT(*) AS count FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        DbConnection::Sqlite(_) => {
            "SELECT COUNT(*) AS count FROM sqlite_master WHERE type = 'table' AND name = ?"
        }
    };
    let found = diesel::sql_query(query)
        .bind::<Text, _>(name)
        .get_result::<Count>(conn)
        .map_err(CommandError::database("list the Django database's tables"))?;
    Ok(found.count > 0)
}

/// Refuses when an imported id or username is taken (a second run, or users made here first).
fn refuse_conflicts(conn: &mut DbConnection, users: &[DjangoUser]) -> Result<(), CommandError> {
    use schema::users::dsl;
    let mut taken = Vec::new();
    for batch in users.chunks(BATCH) {
        let ids: Vec<i32> = batch.iter().map(|user| user.id).collect();
        let names: Vec<&str> = batch.iter().map(|user| user.username.as_str()).collect();
        taken.extend(
            dsl::users
                .filter(dsl::id.eq_any(&ids).or(dsl::username.eq_any(&names)))
                .select((dsl::id, dsl::username))
                .load::<(i32, String)>(conn)
                .map_err(CommandError::database("look for users already here"))?,
        );
    }
    if taken.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = taken
        .iter()
        .take(5)
        .map(|(id, name)| format!("{name} (id {id})"))
        .collect();
    Err(CommandError::refused(format!(
        "{} of the Django users' ids or usernames are taken here already, e.g. {}; \
         nothing was imported (import into a fresh database)",
        taken.len(),
        shown.join(", ")
    )))
}

/// One INSERT per row (diesel's multi-backend connection has no batch insert); inside the one
/// transaction that is quick enough for a one-off copy.
fn insert_users(conn: &mut DbConnection, users: &[DjangoUser]) -> Result<(), CommandError> {
    use schema::users::dsl;
    for user in users {
        diesel::insert_into(dsl::users)
            .values((
                dsl::id.eq(user.id),
                dsl::username.eq(&user.username),
                dsl::email.eq(&user.email),
                dsl::password.eq(&user.password),
                dsl::is_active.eq(user.is_active),
                dsl::is_staff.eq(user.is_staff),
                dsl::is_superuser.eq(user.is_superuser),
                dsl::date_joined.eq(user.date_joined),
                dsl::last_login.eq(user.last_login),
                dsl::tokens_valid_after.eq(0),
            ))
            .execute(conn)
            .map_err(CommandError::database("insert the users"))?;
    }
    Ok(())
}

/// simplejwt's `created_at` may be NULL (tokens outstanding before the app recorded it): those
/// get the import's time.
fn insert_tokens(
    conn: &mut DbConnection,
    tokens: &[DjangoToken],
    now: i64,
) -> Result<(), CommandError> {
    use schema::{blacklisted_tokens as black, outstanding_tokens as out};
    for token in tokens {
        diesel::insert_into(out::table)
            .values((
                out::jti.eq(&token.jti),
                out::user_id.eq(token.user_id),
                out::created_at.eq(token.created_at.unwrap_or(now)),
                out::expires_at.eq(token.expires_at),
            ))
            .execute(conn)
            .map_err(CommandError::database("insert the outstanding tokens"))?;
        if let Some(at) = token.blacklisted_at {
            diesel::insert_into(black::table)
                .values((
                    black::jti.eq(&token.jti),
                    black::user_id.eq(token.user_id),
                    black::expires_at.eq(token.expires_at),
                    black::blacklisted_at.eq(at),
                ))
                .execute(conn)
                .map_err(CommandError::database("insert the blacklisted tokens"))?;
        }
    }
    Ok(())
}
