//! Provides the connection type shared by SQLite and PostgreSQL, the pool and the migrations.

pub mod schema;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use std::time::Duration;

/// One connection type over both backends; the variant is chosen from the URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager<DbConnection>>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// Per-connection settings: SQLite waits for locks instead of failing, PostgreSQL bounds queries.
#[derive(Debug)]
struct ConnectionSetup {
    statement_timeout_ms: u128,
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        let setup = match conn {
            DbConnection::Sqlite(_) => "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
                .to_string(),
            DbConnection::Postgresql(_) => {
                format!("SET statement_timeout = {}", self.statement_timeout_ms)
            }
        };
        conn.batch_execute(&setup)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The database settings: where it is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// A SQLite file path (optionally `sqlite://`) or a `postgres://` URL.
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl DbSettings {
    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.url)
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Builds the pool without connecting: the server starts even while the database is down.
pub fn build_pool(settings: &DbSettings) -> DbPool {
    let url = with_connect_timeout(&connection_url(&settings.url), settings.connect_timeout);
    let manager = ConnectionManager::<DbConnection>::new(url);
    Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout)
        .connection_customizer(Box::new(ConnectionSetup {
            statement_timeout_ms: settings.statement_timeout.as_millis(),
        }))
        .build_unchecked(manager)
}

/// Opens one connection, for the command-line tools.
pub fn connect(database_url: &str) -> Result<DbConnection, ConnectionError> {
    let mut conn = DbConnection::establish(&connection_url(database_url))?;
    if let DbConnection::Sqlite(_) = conn {
        let _ = conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    }
    Ok(conn)
}

fn connection_url(database_url: &str) -> String {
    database_url.trim_start_matches("sqlite://").to_string()
}

/// Bounds libpq's own connect, so a database host that drops packets does not keep the pool's
/// connector threads stuck past the pool's timeout (libpq counts whole seconds, at least 2).
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if !is_postgres_url(url) || url.contains("connect_timeout=") {
        return url.to_string();
    }
    let seconds = timeout.as_secs_f64().ceil().max(2.0) as u64;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// Any number, as long as every instance uses the same: it names the migration lock in
/// PostgreSQL's advisory-lock space.
const MIGRATION_LOCK_ID: i64 = 0x706f_7274_6375_6c6c; // "portcull"

/// Applies pending migrations and returns the versions it applied.
///
/// Instances starting together would race to apply the same migration; on PostgreSQL a
/// session advisory lock lets one apply them while the others wait, then find nothing to do.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    let versions = |applied: Vec<diesel::migration::MigrationVersion<'_>>| {
        applied.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    match conn {
        // SQLite has no advisory locks: one exclusive transaction (each migration a savepoint in
        // it) makes a second process wait on busy_timeout, then find nothing to do.
        DbConnection::Sqlite(c) => c
            .exclusive_transaction(|c| c.run_pending_migrations(SQLITE_MIGRATIONS).map(versions))
            .map_err(|e: Box<dyn std::error::Error + Send + Sync>| e.to_string()),
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                .map_err(|e| format!("cannot take the migration lock: {e}"))?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(versions)
                .map_err(|e| e.to_string());
            // Closing the connection would release it too; unlock for callers that keep it.
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"));
            applied
        }
    }
}

/// True when the error is a unique-constraint violation (the database refused a duplicate).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Runs `query` with a pooled connection on the blocking pool, never on the async executor.
pub async fn run<T, F>(pool: &DbPool, query: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        query(&mut conn).map_err(lost_connection_is_unavailable)
    })
    .await
    .map_err(|e| DbError::Unavailable(e.to_string()))?
}

/// A connection that broke under a query (the database went away) is an outage, not a bug: 503.
fn lost_connection_is_unavailable(error: diesel::result::Error) -> DbError {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            kind @ (DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand),
            info,
        ) => DbError::Unavailable(format!("{kind:?}: {}", info.message())),
        other => DbError::Query(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_a_libpq_connect_timeout_of_at_least_two_seconds() {
        let ms = Duration::from_millis;
        assert_eq!(
            with_connect_timeout("postgres://u@h/db", ms(500)),
            "postgres://u@h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgresql://u@h/db?sslmode=require", ms(4500)),
            "postgresql://u@h/db?sslmode=require&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=9", ms(500)),
            "postgres://u@h/db?connect_timeout=9"
        );
        assert_eq!(with_connect_timeout("db.sqlite3", ms(500)), "db.sqlite3");
    }
}
