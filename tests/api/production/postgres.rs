//! Databases: migrations (same names on both backends, concurrent runs) and a PostgreSQL outage.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use super::proxy::Proxy;
use super::{SharedDatabase, postgres_server_url};
use crate::helpers::{PASSWORD, spawn_app_with};

fn migration_names(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            for file in ["up.sql", "down.sql"] {
                assert!(
                    entry.path().join(file).is_file(),
                    "{:?} lacks {file}",
                    entry.path()
                );
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn postgres_and_sqlite_migrations_have_the_same_names() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(migration_names("postgres"), sqlite);
}

/// Four processes' worth of migrators on one fresh database: each migration applied exactly once.
fn concurrent_migrations_apply_each_once(url: &str, backend: &str) {
    let runs: Vec<Result<Vec<String>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut conn = portcullis::db::connect(url).map_err(|e| e.to_string())?;
                    portcullis::db::run_migrations(&mut conn)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut applied: Vec<String> = runs
        .into_iter()
        .flat_map(|run| run.expect("every concurrent run succeeds"))
        .collect();
    applied.sort();
    let expected = migration_names(backend).len();
    assert_eq!(applied.len(), expected, "{applied:?}");
    applied.dedup();
    assert_eq!(applied.len(), expected);
}

#[test]
fn postgres_migrations_run_concurrently_apply_each_migration_once() {
    let db = SharedDatabase::postgres(&postgres_server_url());
    concurrent_migrations_apply_each_once(&db.url, "postgres");
}

#[test]
fn sqlite_migrations_run_concurrently_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db.sqlite3").to_str().unwrap().to_string();
    concurrent_migrations_apply_each_once(&url, "sqlite");
}

/// The URL of `db` on `server`, reached through `proxy`.
fn through(proxy: &Proxy, server: &str, db: &SharedDatabase) -> String {
    let user = server
        .split_once("://")
        .unwrap()
        .1
        .rsplit_once('@')
        .map_or("postgres", |(user, _)| user);
    format!("postgres://{user}@127.0.0.1:{}/{}", proxy.port, db.name())
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn server_address(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split(['/', '?']).next().unwrap();
    let with_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    with_port.to_socket_addrs().unwrap().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_quick_503_and_the_server_recovers_by_itself() {
    let server = postgres_server_url();
    let db = SharedDatabase::postgres(&server);
    db.migrate();
    db.create_user("vitor");
    let mut proxy = Proxy::start(server_address(&server)).await;
    let through_proxy = through(&proxy, &server, &db);
    let app = spawn_app_with(&[
        ("DATABASE_URL", through_proxy.as_str()),
        ("DB_CONNECT_TIMEOUT_MS", "500"),
        ("USER_CACHE_TTL_MS", "0"),
    ])
    .await;
    let credentials = json!({"username": "vitor", "password": PASSWORD});
    assert_eq!(
        app.post_json("/api/token/", &credentials).await.status(),
        200
    );

    proxy.down();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) =
            crate::helpers::json(app.post_json("/api/token/", &credentials).await).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body, json!({"detail": "Service temporarily unavailable."}));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    let (status, body) = crate::helpers::json(app.get("/readyz").await).await;
    assert_eq!((status, &body["database"]), (503, &json!(false)));

    proxy.up().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.post_json("/api/token/", &credentials).await.status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}

/// One request with a client-side limit far above the server's bound, so a hang fails the test
/// instead of stalling the suite: its status and how long it took.
async fn timed(request: reqwest::RequestBuilder) -> (u16, Duration) {
    let started = Instant::now();
    let status = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_or(0, |response| response.status().as_u16());
    (status, started.elapsed())
}

/// A PostgreSQL that stops answering without closing anything (a hung server, a stalled proxy):
/// logins, refreshes and `/readyz` answer 503 within the deadlines instead of waiting for
/// minutes; once new connections are answered again while the old ones stay silent, the pool
/// serves within a second or two. (Before: logins hung ~2 minutes, `/readyz` ~1 minute, and
/// the pool kept handing out the silent connections.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_postgres_gives_503_within_the_deadline_and_the_pool_recovers() {
    let server = postgres_server_url();
    let db = SharedDatabase::postgres(&server);
    db.migrate();
    db.create_user("vitor");
    let proxy = Proxy::start(server_address(&server)).await;
    let through_proxy = through(&proxy, &server, &db);
    let app = spawn_app_with(&[
        ("DATABASE_URL", through_proxy.as_str()),
        ("DB_CONNECT_TIMEOUT_MS", "1000"),
        ("DB_STATEMENT_TIMEOUT_MS", "1000"),
        ("USER_CACHE_TTL_MS", "0"),
        ("TOKEN_FAMILIES", "true"),
    ])
    .await;
    let credentials = json!({"username": "vitor", "password": PASSWORD});
    let login = || app.client.post(app.url("/api/token/")).json(&credentials);
    // Several pooled connections, all open when the database goes silent.
    let warm = futures_util::future::join_all((0..6).map(|_| timed(login()))).await;
    assert!(warm.iter().all(|(status, _)| *status == 200), "{warm:?}");
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;

    proxy.stall();
    let refresh_body = json!({"refresh": refresh});
    let mut stalled = Vec::new();
    for round in 0..2 {
        let logins = futures_util::future::join_all((0..4).map(|_| timed(login())));
        let refreshes = futures_util::future::join_all((0..2).map(|_| {
            timed(
                app.client
                    .post(app.url("/api/token/refresh/"))
                    .json(&refresh_body),
            )
        }));
        let ready = timed(app.client.get(app.url("/readyz")));
        let (logins, refreshes, ready) = tokio::join!(logins, refreshes, ready);
        stalled.extend(logins.into_iter().map(|r| (round, "login", r)));
        stalled.extend(refreshes.into_iter().map(|r| (round, "refresh", r)));
        stalled.push((round, "readyz", ready));
    }
    for (round, what, (status, took)) in &stalled {
        assert_eq!(*status, 503, "{what} in round {round}: {stalled:?}");
        assert!(*took < Duration::from_secs(6), "{what}: {stalled:?}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);

    proxy.answer_new_connections_only();
    let back = Instant::now();
    loop {
        let (status, _) = timed(login()).await;
        if status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "still {status} {:?} after new connections were answered again",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No silent connection is left to hand out: every request is served.
    let after = futures_util::future::join_all((0..6).map(|_| timed(login()))).await;
    assert!(after.iter().all(|(status, _)| *status == 200), "{after:?}");
    let (status, _) = timed(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, 200);
}
