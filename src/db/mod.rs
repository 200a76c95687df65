//! Provides the connection type shared by SQLite and PostgreSQL, the pool and the migrations.

pub mod schema;
mod socket;
mod watchdog;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One connection type over both backends; the variant is chosen from the URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager>;

/// A pooled connection: the diesel connection, and for PostgreSQL its socket and deadlines, so a
/// server that stops answering costs a bounded wait (see `watchdog`).
pub struct WatchedConnection {
    // Dropped first: libpq ends the session and closes its descriptor, then ours closes.
    conn: DbConnection,
    /// Our own descriptor of the PostgreSQL connection's socket, when it was found.
    socket: Option<std::os::fd::OwnedFd>,
    /// How long one call (a query, or a transaction of several) may wait for the server; none
    /// when `DB_STATEMENT_TIMEOUT_MS` is 0 (no timeout, as PostgreSQL reads it).
    call_deadline: Option<Duration>,
    /// How long the check-out ping may wait.
    ping_deadline: Duration,
    /// Set when a deadline cut the socket: the pool drops the connection.
    cut: bool,
    /// The pool's count of cut pings when this connection was opened.
    cuts_when_opened: u64,
}

impl std::ops::Deref for WatchedConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WatchedConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl WatchedConnection {
    /// Runs `call` on the connection; past `within`, the socket is cut, the connection will
    /// be dropped, and the call fails as unavailable (unless it had just succeeded: a
    /// committed write is not reported as lost).
    fn within<T>(
        &mut self,
        within: Option<Duration>,
        call: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> Result<T, DbError> {
        let (Some(socket), Some(within)) = (&self.socket, within) else {
            return call(&mut self.conn).map_err(lost_connection_is_unavailable);
        };
        let guard = watchdog::arm(watchdog::Target::Socket(socket::raw(socket)), within);
        let result = call(&mut self.conn);
        if !guard.fired() {
            return result.map_err(lost_connection_is_unavailable);
        }
        self.cut = true;
        result.map_err(|_| {
            DbError::Unavailable(format!(
                "the database did not answer within {} ms",
                within.as_millis()
            ))
        })
    }
}

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

/// Each pooled SQLite connection's page cache, in KiB. SQLite's default is 2,000 KiB per
/// connection, which the caches fill as the token tables grow (their random-key indexes touch
/// pages everywhere): up to 16 MB of resident memory with the 8 default connections, more with
/// more. The operating system caches the file anyway.
const SQLITE_CACHE_KIB: u32 = 512;

/// Per-connection settings: SQLite waits for locks instead of failing, PostgreSQL bounds queries.
#[derive(Debug)]
struct ConnectionSetup {
    statement_timeout_ms: u128,
}

impl CustomizeConnection<WatchedConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut WatchedConnection) -> Result<(), diesel::r2d2::Error> {
        let setup = match &conn.conn {
            // busy_timeout first: switching to WAL takes a lock that a burst of new
            // connections would otherwise fail on ("database is locked").
            DbConnection::Sqlite(_) => format!(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -{SQLITE_CACHE_KIB};"
            ),
            DbConnection::Postgresql(_) => {
                format!("SET statement_timeout = {}", self.statement_timeout_ms)
            }
        };
        let deadline = conn.call_deadline;
        conn.within(deadline, |conn| conn.batch_execute(&setup))
            .map_err(|e| {
                diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection(e.to_string()))
            })
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

/// `postgres://` or `postgresql://`, in any case (URL schemes are case-insensitive).
pub fn is_postgres_url(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
}

/// Builds the pool without connecting: the server starts even while the database is down.
pub fn build_pool(settings: &DbSettings) -> DbPool {
    let manager = ConnectionManager {
        url: settings.url.clone(),
        connect_timeout: settings.connect_timeout,
        call_deadline: call_deadline(settings.statement_timeout),
        ping_deadline: settings.connect_timeout.min(MAX_PING_DEADLINE),
        cuts: Arc::default(),
    };
    Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout)
        .connection_customizer(Box::new(ConnectionSetup {
            statement_timeout_ms: settings.statement_timeout.as_millis(),
        }))
        .build_unchecked(manager)
}

/// A call may wait this much longer than `statement_timeout`: the server cancels a slow
/// query itself and says so; only a server that never answers meets the watchdog.
const CALL_DEADLINE_MARGIN: Duration = Duration::from_secs(1);
/// The check-out ping is one round trip: a silent connection left from before an outage is cut
/// quickly, so the pool serves again soon after the database answers again.
const MAX_PING_DEADLINE: Duration = Duration::from_secs(1);

/// How long one call may wait for a server that has `statement_timeout` set: none without one.
fn call_deadline(statement_timeout: Duration) -> Option<Duration> {
    (!statement_timeout.is_zero()).then(|| statement_timeout + CALL_DEADLINE_MARGIN)
}

/// Opens the pool's connections: the backend the URL names, within the connect timeout.
#[derive(Debug)]
pub struct ConnectionManager {
    url: String,
    connect_timeout: Duration,
    call_deadline: Option<Duration>,
    ping_deadline: Duration,
    /// How many check-out pings a deadline has cut so far.
    cuts: Arc<AtomicU64>,
}

impl ManageConnection for ConnectionManager {
    type Connection = WatchedConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<WatchedConnection, diesel::r2d2::Error> {
        let (conn, socket) = establish_watched(&self.url, self.connect_timeout)
            .map_err(diesel::r2d2::Error::ConnectionError)?;
        if socket.is_none() && matches!(conn, DbConnection::Postgresql(_)) {
            log::debug!("the new PostgreSQL connection's socket was not found: not watched");
        }
        Ok(WatchedConnection {
            conn,
            socket,
            call_deadline: self.call_deadline,
            ping_deadline: self.ping_deadline,
            cut: false,
            cuts_when_opened: self.cuts.load(Ordering::Relaxed),
        })
    }

    /// r2d2 tries every idle connection in turn before it opens a new one. A cut ping means
    /// the server stopped answering (a slow call need not): each idle connection from before
    /// it would cost a ping deadline, so they are dropped unpinged.
    fn is_valid(&self, conn: &mut WatchedConnection) -> Result<(), diesel::r2d2::Error> {
        if conn.cuts_when_opened < self.cuts.load(Ordering::Relaxed) {
            conn.cut = true;
            return Err(diesel::r2d2::Error::ConnectionError(
                ConnectionError::BadConnection(
                    "opened before the database stopped answering".into(),
                ),
            ));
        }
        let deadline = Some(conn.ping_deadline);
        let pinged = conn.within(deadline, |conn| conn.ping());
        if conn.cut {
            self.cuts.fetch_add(1, Ordering::Relaxed);
        }
        pinged.map_err(|e| {
            diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection(e.to_string()))
        })
    }

    fn has_broken(&self, conn: &mut WatchedConnection) -> bool {
        std::thread::panicking()
            || conn.cut
            || conn.cuts_when_opened < self.cuts.load(Ordering::Relaxed)
            || conn.conn.is_broken()
    }
}

/// How long a command-line connection waits for the database, unless told otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens one connection, for the command-line tools and the tests.
pub fn connect(database_url: &str) -> Result<DbConnection, ConnectionError> {
    connect_within(database_url, DEFAULT_CONNECT_TIMEOUT)
}

/// Opens one connection within `timeout` (start-up migrations, maintenance commands).
pub fn connect_within(
    database_url: &str,
    timeout: Duration,
) -> Result<DbConnection, ConnectionError> {
    let mut conn = establish(database_url, timeout)?;
    if let DbConnection::Sqlite(_) = conn {
        let _ = conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    }
    Ok(conn)
}

/// Connects to the backend the URL names, and says what failed in words an operator can act
/// on (the host refused, the role or database does not exist, the directory is missing),
/// never with the password. Diesel's multi-backend `establish` would try each backend and
/// report only "Invalid connection url for multiconnection".
fn establish(database_url: &str, timeout: Duration) -> Result<DbConnection, ConnectionError> {
    establish_watched(database_url, timeout).map(|(conn, _)| conn)
}

/// `establish`, with our own descriptor of a PostgreSQL connection's socket when it was found.
fn establish_watched(
    database_url: &str,
    timeout: Duration,
) -> Result<(DbConnection, Option<std::os::fd::OwnedFd>), ConnectionError> {
    if is_postgres_url(database_url) {
        return establish_postgres(database_url, timeout);
    }
    if looks_like_conninfo(database_url) {
        return Err(ConnectionError::BadConnection(
            "DATABASE_URL looks like a libpq key/value string; write it as \
             postgres://user:password@host:port/database"
                .into(),
        ));
    }
    let path = std::path::Path::new(database_url.trim_start_matches("sqlite://"));
    let failed = |what: String| {
        ConnectionError::BadConnection(redact(
            &format!("SQLite database {}: {what}", path.display()),
            database_url,
        ))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(failed(format!(
            "the directory {} does not exist",
            dir.display()
        )));
    }
    create_private_file(path).map_err(|e| failed(e.to_string()))?;
    diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map(|conn| (DbConnection::Sqlite(conn), None))
        .map_err(|e| failed(e.to_string()))
}

/// PostgreSQL connection attempts abandoned after their timeout whose thread still waits.
static ABANDONED_CONNECTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Past this many, new attempts fail at once instead of adding waiting threads.
const MAX_ABANDONED_CONNECTS: usize = 8;

/// Connections are opened one at a time, so the one new socket to the server is the new
/// connection's (see `socket`).
static CONNECTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Who owns a connection attempt's outcome: the caller while it waits, the attempt's thread
/// once the caller gave up (it then does the `ABANDONED_CONNECTS` bookkeeping).
const WAITING: u8 = 0;
const DELIVERED: u8 = 1;
const ABANDONED: u8 = 2;

/// libpq's `connect_timeout` covers the TCP connection and the authentication only; the
/// queries diesel sends right after (`SET TIME ZONE`, ...) have none. A server that accepts
/// and then never answers would hold the caller (a pool connector thread, or `serve` at
/// start-up) forever. So the whole attempt runs on its own thread, the caller waits at most
/// `timeout`, and the watchdog cuts the attempt's sockets from then on, which ends the thread.
fn establish_postgres(
    database_url: &str,
    timeout: Duration,
) -> Result<(DbConnection, Option<std::os::fd::OwnedFd>), ConnectionError> {
    use std::sync::atomic::AtomicU8;
    let describe = |what: String| {
        ConnectionError::BadConnection(redact(
            &format!("PostgreSQL at {}: {what}", without_password(database_url)),
            database_url,
        ))
    };
    if ABANDONED_CONNECTS.load(Ordering::Relaxed) >= MAX_ABANDONED_CONNECTS {
        return Err(describe(
            "earlier connection attempts are still waiting for an answer".into(),
        ));
    }
    let waited = timeout.max(Duration::from_secs(2)) + Duration::from_millis(500);
    let url = with_client_timeouts(database_url, timeout, UNACKNOWLEDGED_DATA_TIMEOUT);
    let port = socket::server_port(database_url);
    let state = Arc::new(AtomicU8::new(WAITING));
    let (sender, receiver) = std::sync::mpsc::channel();
    let attempt = Arc::clone(&state);
    let started = std::time::Instant::now();
    let spawned = std::thread::Builder::new()
        .name("pg-connect".into())
        .spawn(move || {
            let one_at_a_time = CONNECTING
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let result = match waited.checked_sub(started.elapsed()) {
                // Waiting for the lock took the caller's whole wait: nobody wants it now.
                None => Err(ConnectionError::BadConnection("abandoned".into())),
                Some(left) if attempt.load(Ordering::Acquire) == ABANDONED || left.is_zero() => {
                    Err(ConnectionError::BadConnection("abandoned".into()))
                }
                Some(left) => open_watched(&url, port, left),
            };
            drop(one_at_a_time);
            let delivered = attempt
                .compare_exchange(WAITING, DELIVERED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if delivered {
                let _ = sender.send(result);
            } else {
                ABANDONED_CONNECTS.fetch_sub(1, Ordering::Relaxed);
            }
        });
    if let Err(e) = spawned {
        return Err(describe(format!("cannot start a connection thread: {e}")));
    }
    let outcome = match receiver.recv_timeout(waited) {
        Ok(outcome) => outcome,
        Err(_) => {
            // Counted before the attempt can see it abandoned, so the count never goes below 0.
            ABANDONED_CONNECTS.fetch_add(1, Ordering::Relaxed);
            let abandoned = state
                .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if abandoned {
                return Err(describe(format!(
                    "the server did not answer within {} ms",
                    waited.as_millis()
                )));
            }
            // The attempt delivered meanwhile: its outcome is in the channel.
            ABANDONED_CONNECTS.fetch_sub(1, Ordering::Relaxed);
            receiver.recv().unwrap_or_else(|_| {
                Err(ConnectionError::BadConnection(
                    "the connection thread ended".into(),
                ))
            })
        }
    };
    match outcome {
        Ok((conn, socket)) => Ok((DbConnection::Postgresql(conn), socket)),
        Err(e) => Err(describe(e.to_string().trim().replace('\n', " "))),
    }
}

/// Opens one PostgreSQL connection (the `CONNECTING` lock held), cut if it takes longer than
/// `within`; with our own descriptor of its socket when exactly one new socket to the server
/// appeared.
fn open_watched(
    url: &str,
    port: socket::ServerPort,
    within: Duration,
) -> Result<(diesel::PgConnection, Option<std::os::fd::OwnedFd>), ConnectionError> {
    let before = socket::Socket::all();
    let guard = watchdog::arm(watchdog::Target::OpenedSince(before.clone(), port), within);
    let established = diesel::PgConnection::establish(url);
    if guard.fired() {
        // Cut: whatever libpq says of its shut-down socket, the server did not answer.
        return Err(ConnectionError::BadConnection(format!(
            "the server did not answer within {} ms",
            within.as_millis()
        )));
    }
    let conn = established?;
    let found = socket::Socket::opened_since(&before, port);
    let socket = match found.as_slice() {
        [only] => only.duplicate(),
        _ => None,
    };
    Ok((conn, socket))
}

/// A libpq key/value connection string (`host=db password=... dbname=app`), which would
/// otherwise be taken for a SQLite file name.
fn looks_like_conninfo(url: &str) -> bool {
    url.split_whitespace().any(|part| {
        part.split_once('=').is_some_and(|(key, _)| {
            [
                "host", "hostaddr", "port", "dbname", "user", "password", "sslmode",
            ]
            .contains(&key)
        })
    })
}

/// `message` with every form of the URL's password (raw, percent-decoded, and any
/// `password=` query value) replaced by `***`: libpq quotes the parts of a URL it cannot parse.
fn redact(message: &str, url: &str) -> String {
    let mut secrets = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        // The password is everything between the first `:` of the userinfo and its last `@`.
        if let Some(at) = rest.rfind('@') {
            let userinfo = &rest[..at];
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_string());
                secrets.push(percent_decoded(password));
            }
        }
        if let Some((_, query)) = rest.split_once('?') {
            for pair in query.split('&') {
                if let Some((key, value)) = pair.split_once('=')
                    && key.to_ascii_lowercase().contains("password")
                {
                    secrets.push(value.to_string());
                    secrets.push(percent_decoded(value));
                }
            }
        }
    }
    let mut redacted = message.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 2) {
        redacted = redacted.replace(secret.as_str(), "***");
    }
    redacted
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a new SQLite file readable by its owner only (it holds password hashes); SQLite
/// gives its `-wal` and `-shm` files the same mode. An existing file is left as it is.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The URL with its password, if any, replaced by `***`: for messages and logs.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// How long the kernel keeps sending data the database host never acknowledges (libpq's
/// `tcp_user_timeout`): a host that died. Request deadlines are the watchdog's; this only
/// frees the connection, so it need not be short, and must not cut healthy connections on a
/// few seconds of packet loss.
const UNACKNOWLEDGED_DATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds libpq's own connect, so a database host that drops packets does not keep the pool's
/// connector threads stuck past the pool's timeout (libpq counts whole seconds, at least 2),
/// and lets the kernel notice a database host that went away silently: TCP keepalives on idle
/// connections, and `tcp_user_timeout` (milliseconds) for data the host never acknowledges.
/// A parameter the URL already sets is kept.
fn with_client_timeouts(url: &str, connect: Duration, unacknowledged: Duration) -> String {
    if !is_postgres_url(url) {
        return url.to_string();
    }
    let seconds = connect.as_secs_f64().ceil().max(2.0) as u64;
    let mut url = url.to_string();
    for (key, value) in [
        ("connect_timeout", seconds.to_string()),
        ("keepalives", "1".into()),
        ("keepalives_idle", "10".into()),
        ("keepalives_interval", "5".into()),
        ("keepalives_count", "3".into()),
        ("tcp_user_timeout", unacknowledged.as_millis().to_string()),
    ] {
        let query = url.split_once('?').map_or("", |(_, query)| query);
        if query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(key))
        {
            continue;
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        url = format!("{url}{separator}{key}={value}");
    }
    url
}

/// Any number, as long as every instance uses the same: it names the migration lock in
/// PostgreSQL's advisory-lock space.
const MIGRATION_LOCK_ID: i64 = 0x706f_7274_6375_6c6c; // "portcull"

/// Applies pending migrations and returns the versions it applied.
///
/// Instances starting together would race to apply the same migration; on PostgreSQL a
/// session advisory lock lets one apply them while the others wait, then find nothing to do.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    if let DbConnection::Sqlite(c) = conn {
        refuse_postgres_schema(c)?;
    }
    run_embedded_migrations(conn, SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS)
}

/// Applies pending migrations of the connection's backend (a project's own, after
/// portcullis'), one instance at a time as `run_migrations` does; returns the versions applied.
pub fn run_embedded_migrations(
    conn: &mut DbConnection,
    sqlite: EmbeddedMigrations,
    postgres: EmbeddedMigrations,
) -> Result<Vec<String>, String> {
    let versions = |applied: Vec<diesel::migration::MigrationVersion<'_>>| {
        applied.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    match conn {
        // SQLite has no advisory locks: one exclusive transaction (each migration a savepoint in
        // it) makes a second process wait on busy_timeout, then find nothing to do.
        DbConnection::Sqlite(c) => c
            .exclusive_transaction(|c| c.run_pending_migrations(sqlite).map(versions))
            .map_err(|e: Box<dyn std::error::Error + Send + Sync>| e.to_string()),
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                .map_err(|e| format!("cannot take the migration lock: {e}"))?;
            let applied = c
                .run_pending_migrations(postgres)
                .map(versions)
                .map_err(|e| e.to_string());
            // Closing the connection would release it too; unlock for callers that keep it.
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"));
            applied
        }
    }
}

/// A SQLite file migrated with the PostgreSQL migrations (`diesel migration run --config-file
/// diesel.postgres.toml` accepts it) has `SERIAL` id columns that never number a row: say so
/// instead of failing later with "Unexpected null".
fn refuse_postgres_schema(conn: &mut diesel::SqliteConnection) -> Result<(), String> {
    #[derive(QueryableByName)]
    struct ColumnType {
        #[diesel(sql_type = diesel::sql_types::Text)]
        r#type: String,
    }
    let id_type =
        diesel::sql_query("SELECT type FROM pragma_table_info('users') WHERE name = 'id'")
            .load::<ColumnType>(conn)
            .map_err(|e| e.to_string())?;
    if id_type
        .first()
        .is_some_and(|column| column.r#type.eq_ignore_ascii_case("SERIAL"))
    {
        return Err(
            "this SQLite database was migrated with the PostgreSQL migrations \
             (users.id is SERIAL, so new rows get no id); delete it and run `portcullis migrate`, \
             or use `diesel migration run` with diesel.toml (migrations/sqlite)"
                .into(),
        );
    }
    Ok(())
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
    actix_web::web::block(move || run_blocking(&pool, query))
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))?
}

/// `run` on the calling thread, for threads of their own (never the async executor): the same
/// pool and deadline.
pub fn run_blocking<T>(
    pool: &DbPool,
    query: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> Result<T, DbError> {
    let metrics = crate::metrics::recording();
    let waiting = metrics.map(|_| std::time::Instant::now());
    let conn = pool.get();
    if let (Some(metrics), Some(waiting)) = (metrics, waiting) {
        metrics
            .db_pool_wait
            .observe(waiting.elapsed().as_secs_f64());
    }
    let result = conn.map_err(DbError::from).and_then(|mut conn| {
        let deadline = conn.call_deadline;
        conn.within(deadline, query)
    });
    // A row not found is an answer, not a failure.
    let failed =
        matches!(&result, Err(e) if !matches!(e, DbError::Query(diesel::result::Error::NotFound)));
    if let (Some(metrics), true) = (metrics, failed) {
        metrics.db_errors.inc();
    }
    result
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
    fn every_form_of_the_password_is_redacted() {
        for (url, message) in [
            (
                "postgres://u:pa/ss@h/db",
                "invalid URL postgres://u:pa/ss@h/db",
            ),
            (
                "postgres://u:Pa%zzW@h/db",
                "invalid percent-encoded token: \"Pa%zzW\"",
            ),
            ("postgres://u:p%40ss@h/db", "password for p@ss refused"),
            (
                "postgres://u@h/db?password=s3cret",
                "cannot use password=s3cret",
            ),
            ("postgres://u:p@ss@h/db", "host ss@h unknown"),
        ] {
            let redacted = redact(message, url);
            for secret in ["pa/ss", "Pa%zzW", "p@ss", "s3cret"] {
                assert!(!redacted.contains(secret), "{redacted}");
            }
        }
        assert!(is_postgres_url("POSTGRES://u@h/db"));
        assert!(looks_like_conninfo("host=db password=x dbname=app"));
        assert!(!looks_like_conninfo("/var/lib/app/db.sqlite3"));
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(
            without_password("postgres://app:s3cret@db.internal:5432/prod"),
            "postgres://app:***@db.internal:5432/prod"
        );
        assert_eq!(
            without_password("postgres://app@db/prod"),
            "postgres://app@db/prod"
        );
        assert_eq!(without_password("db.sqlite3"), "db.sqlite3");
    }

    #[test]
    fn postgres_urls_get_libpq_timeouts_and_keepalives_unless_they_set_them() {
        let ms = Duration::from_millis;
        let added = "keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3";
        assert_eq!(
            with_client_timeouts("postgres://u@h/db", ms(500), ms(2500)),
            format!("postgres://u@h/db?connect_timeout=2&{added}&tcp_user_timeout=2500")
        );
        assert_eq!(
            with_client_timeouts("postgresql://u@h/db?sslmode=require", ms(4500), ms(5000)),
            format!(
                "postgresql://u@h/db?sslmode=require&connect_timeout=5&{added}&tcp_user_timeout=5000"
            )
        );
        assert_eq!(
            with_client_timeouts(
                "postgres://u@h/db?connect_timeout=9&tcp_user_timeout=1",
                ms(500),
                ms(2500)
            ),
            format!("postgres://u@h/db?connect_timeout=9&tcp_user_timeout=1&{added}")
        );
        assert_eq!(
            with_client_timeouts("db.sqlite3", ms(500), ms(2500)),
            "db.sqlite3"
        );
    }
}
