//! What an attack pass on the first version found, each through the real server: superusers
//! protected from staff, stalled bodies cut off, blacklisted tokens kept through the leeway,
//! NUL bytes refused before the database, database errors that say what failed, and hygiene
//! (file modes, HEAD, no-store, forwarded ports, HTML errors on admin forms, a schema of the
//! other dialect).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::admin::{
    browser, dashboard_token, login_token, page_text, post_login, signed_in, staff,
};
use crate::helpers::*;

fn superuser() -> Flags {
    Flags {
        staff: true,
        superuser: true,
        ..Default::default()
    }
}

async fn post_user_action(
    app: &TestApp,
    client: &reqwest::Client,
    action: &str,
    user_id: i32,
) -> String {
    let token = dashboard_token(app, client).await;
    let response = client
        .post(app.url(&format!("/admin/users/{action}/")))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("user_id", user_id.to_string().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    response.headers()["location"].to_str().unwrap().to_string()
}

async fn is_active(app: &TestApp, username: &str) -> bool {
    app.obtain_status(username).await == 200
}

impl TestApp {
    async fn obtain_status(&self, username: &str) -> u16 {
        self.post_json(
            "/api/token/",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await
        .status()
        .as_u16()
    }
}

#[tokio::test]
async fn staff_cannot_deactivate_a_superuser_and_deactivation_can_be_undone() {
    let app = spawn_app().await;
    let root = app.create_user("root", PASSWORD, superuser());
    let member = app.create_user("member", PASSWORD, Default::default());
    app.create_user("helper", PASSWORD, staff());
    let helper = browser();
    assert_eq!(
        post_login(&app, &helper, "helper", PASSWORD, None)
            .await
            .status(),
        302
    );

    let refused = post_user_action(&app, &helper, "deactivate", root).await;
    assert_eq!(refused, "/admin/?done=superuser-only");
    assert!(is_active(&app, "root").await);
    let page = page_text(&app, &helper, "/admin/").await;
    assert!(
        !page.contains("Deactivate root"),
        "staff sees no button for a superuser"
    );

    assert_eq!(
        post_user_action(&app, &helper, "deactivate", member).await,
        "/admin/?done=deactivated"
    );
    assert!(!is_active(&app, "member").await);
    let page = page_text(&app, &helper, "/admin/").await;
    assert!(page.contains("Activate member"));
    assert_eq!(
        post_user_action(&app, &helper, "activate", member).await,
        "/admin/?done=activated"
    );
    assert!(is_active(&app, "member").await);

    // A superuser may change a superuser, never themselves.
    let root_browser = browser();
    assert_eq!(
        post_login(&app, &root_browser, "root", PASSWORD, None)
            .await
            .status(),
        302
    );
    let other_root = app.create_user("root2", PASSWORD, superuser());
    assert_eq!(
        post_user_action(&app, &root_browser, "deactivate", other_root).await,
        "/admin/?done=deactivated"
    );
    assert_eq!(
        post_user_action(&app, &root_browser, "deactivate", root).await,
        "/admin/?done=self"
    );
}

#[tokio::test]
async fn activate_and_deactivate_commands() {
    let app = spawn_app().await;
    app.create_user("member", PASSWORD, Default::default());
    let run = |command: &str, user: &str| {
        run_portcullis(
            std::env::temp_dir().as_path(),
            &[command, user],
            "",
            &[
                ("DATABASE_URL", app.database_url.as_str()),
                ("USER_CACHE_TTL_MS", "0"),
            ],
        )
    };
    assert!(run("deactivate", "member").status.success());
    assert!(!is_active(&app, "member").await);
    let activated = run("activate", "member");
    assert!(activated.status.success());
    assert!(String::from_utf8_lossy(&activated.stdout).contains("activated"));
    assert!(is_active(&app, "member").await);
    let unknown = run("activate", "ghost");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not exist"));
}

/// Sends the headers of a POST announcing 100 bytes, then a few bytes, then stalls; returns
/// the status line and how long the answer took.
fn stalled_post(port: u16, path: &str, content_type: &str) -> (String, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: 100\r\n\r\nusername="
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).unwrap_or(0);
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    (
        text.lines().next().unwrap_or("").to_string(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_off_with_408() {
    let app = spawn_app_with(&[("CLIENT_BODY_TIMEOUT_MS", "500")]).await;
    for (path, content_type) in [
        ("/api/token/", "application/json"),
        ("/admin/login/", "application/x-www-form-urlencoded"),
    ] {
        let port = app.port;
        let (status, took) =
            tokio::task::spawn_blocking(move || stalled_post(port, path, content_type))
                .await
                .unwrap();
        assert!(status.starts_with("HTTP/1.1 408"), "{path}: {status:?}");
        assert!(took < Duration::from_secs(5), "{path}: {took:?}");
    }
}

#[tokio::test]
async fn flushexpiredtokens_keeps_what_the_leeway_still_accepts() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_LIFETIME", "1"), ("JWT_LEEWAY", "60")]).await;
    app.seed_reference_users();
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let blacklisted = app
        .post_json("/api/token/blacklist/", &json!({"refresh": refresh}))
        .await;
    assert_eq!(blacklisted.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let flushed = run_portcullis(
        std::env::temp_dir().as_path(),
        &["flushexpiredtokens"],
        "",
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("JWT_LEEWAY", "60"),
        ],
    );
    assert!(flushed.status.success());
    // Past exp but within the leeway: still blacklisted, not refreshed.
    let (status, body) = json(
        app.post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["detail"], "Token is blacklisted");
}

#[tokio::test]
async fn nul_bytes_are_refused_before_the_database() {
    let app = spawn_seeded_app().await;
    // Basic: a failed check, not a 500.
    app.hello_with_basic("vitor\0", "x")
        .await
        .assert_unauthorized(json!({"detail": "Invalid username/password."}));
    // The admin login and the dashboard's forms: a 400 page.
    let client = browser();
    let token = login_token(&app, &client).await;
    let response = client
        .post(app.url("/admin/login/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", "root\0"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Bad Request (400)"));
    let (boss, _) = signed_in(&app, "boss").await;
    let token = dashboard_token(&app, &boss).await;
    let response = boss
        .post(app.url("/admin/tokens/blacklist/"))
        .form(&[("csrfmiddlewaretoken", token.as_str()), ("jti", "\0")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn admin_forms_answer_with_html_pages() {
    let app = spawn_app_with(&[("MAX_BODY_SIZE", "1000")]).await;
    // An empty logout post is no 415: without a session it just goes to the login page.
    let response = app
        .client
        .post(app.url("/admin/logout/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let oversized = app
        .client
        .post(app.url("/admin/login/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username={}", "a".repeat(5000)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    assert!(
        oversized.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // A multipart form is read like a url-encoded one (here: refused by CSRF, with its page).
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nboss\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--XyZ--\r\n";
    let response = browser()
        .post(app.url("/admin/login/"))
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("CSRF"));
}

#[tokio::test]
async fn head_answers_like_get() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/admin/login/"] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = spawn_seeded_app().await;
    let response = app
        .post_json(
            "/api/token/",
            &json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
}

#[tokio::test]
async fn forwarded_addresses_with_a_port_are_their_own_clients() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("THROTTLE_RATES", "anon=2/min,user=100/min"),
    ])
    .await;
    let status = |forwarded: &'static str| {
        let app = &app;
        async move {
            // An empty body is a 400 after the throttles ran.
            app.client
                .post(app.url("/api/token/"))
                .header("X-Forwarded-For", forwarded)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..2 {
        assert_eq!(status("198.51.100.1:1000").await, 400);
    }
    assert_eq!(
        status("198.51.100.1:2000").await,
        429,
        "same address, other port"
    );
    assert_eq!(status("[2001:db8::1]:443").await, 400, "another client");
    assert_eq!(status("198.51.100.2:1000").await, 400, "another client");
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_seeded_app().await;
    if is_postgres_url(&app.database_url) {
        return;
    }
    app.obtain("vitor", PASSWORD).await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.database_url);
        if let Ok(metadata) = std::fs::metadata(&path) {
            assert_eq!(metadata.permissions().mode() & 0o077, 0, "{path}");
        }
    }
}

fn is_postgres_url(url: &str) -> bool {
    portcullis::db::is_postgres_url(url)
}

/// `portcullis migrate` with only these variables; its stderr and how long it took.
fn migrate_with(vars: &[(&str, &str)]) -> (bool, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn database_errors_say_what_failed_without_the_password() {
    let key = ("SECRET_KEY", SECRET_KEY);
    let (ok, err, _) = migrate_with(&[key, ("DATABASE_URL", "/no/such/dir/db.sqlite3")]);
    assert!(
        !ok && err.contains("directory /no/such/dir does not exist"),
        "{err}"
    );
    let (ok, err, _) = migrate_with(&[
        key,
        ("DATABASE_URL", "postgres://postgres:hunter2@127.0.0.1:1/x"),
    ]);
    assert!(!ok && err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains("multiconnection"), "{err}");
    let (ok, err, _) = migrate_with(&[
        key,
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/no_such_database_here",
        ),
    ]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    // A listener that accepts and never answers: bounded by DB_CONNECT_TIMEOUT_MS.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://postgres@{}/x", silent.local_addr().unwrap());
    let (ok, err, took) = migrate_with(&[
        key,
        ("DATABASE_URL", &url),
        ("DB_CONNECT_TIMEOUT_MS", "2000"),
    ]);
    assert!(!ok, "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn postgres_needs_an_explicit_secret_key() {
    let (ok, err, _) = migrate_with(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")]);
    assert!(!ok);
    assert!(
        err.contains("SECRET_KEY") && err.contains("PostgreSQL"),
        "{err}"
    );
}

#[test]
fn a_sqlite_file_with_the_postgres_schema_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        use diesel::connection::SimpleConnection;
        let mut conn = portcullis::db::connect(path.to_str().unwrap()).unwrap();
        conn.batch_execute("CREATE TABLE users (id SERIAL PRIMARY KEY, username TEXT)")
            .unwrap();
    }
    let (ok, err, _) = migrate_with(&[
        ("SECRET_KEY", SECRET_KEY),
        ("DATABASE_URL", path.to_str().unwrap()),
    ]);
    assert!(!ok);
    assert!(err.contains("PostgreSQL migrations"), "{err}");
}

/// A server that completes PostgreSQL's start-up handshake (trust authentication), then never
/// answers a query: libpq's connect_timeout does not cover what diesel sends next.
fn stalling_postgres() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let mut held = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            let mut length = [0u8; 4];
            if stream.read_exact(&mut length).is_err() {
                continue;
            }
            let mut startup = vec![0u8; u32::from_be_bytes(length) as usize - 4];
            let _ = stream.read_exact(&mut startup);
            // AuthenticationOk, a server_version, ReadyForQuery; then silence.
            let mut reply = vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0];
            let parameter = b"server_version\x0016.0\x00";
            reply.push(b'S');
            reply.extend_from_slice(&((parameter.len() + 4) as u32).to_be_bytes());
            reply.extend_from_slice(parameter);
            reply.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
            let _ = stream.write_all(&reply);
            held.push(stream);
        }
    });
    (address, handle)
}

#[test]
fn a_database_that_stalls_after_the_handshake_does_not_hang_migrate() {
    let (address, _server) = stalling_postgres();
    let url = format!("postgres://postgres@{address}/x");
    let (ok, err, took) = migrate_with(&[
        ("SECRET_KEY", SECRET_KEY),
        ("DATABASE_URL", &url),
        ("DB_CONNECT_TIMEOUT_MS", "1000"),
    ]);
    assert!(!ok, "{err}");
    assert!(err.contains("did not answer"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn passwords_stay_out_of_database_errors_whatever_the_url_shape() {
    for url in [
        "postgres://postgres:pa/ss-Secret1@127.0.0.1:1/x",
        "postgres://postgres:Pa%zzSecret1@127.0.0.1:1/x",
        "postgres://postgres@127.0.0.1:1/x?password=Secret1x",
        "POSTGRES://postgres:Secret1x@127.0.0.1:1/x",
        "host=127.0.0.1 port=1 password=Secret1x dbname=x",
    ] {
        let (ok, err, _) = migrate_with(&[("SECRET_KEY", SECRET_KEY), ("DATABASE_URL", url)]);
        assert!(!ok, "{url}: {err}");
        assert!(!err.contains("Secret1"), "{url}: {err}");
    }
}

/// Django's `ALLOWED_HOSTS`: by default the loopback names are served and any other `Host` gets
/// Django's 400 page before anything reads it (Host-header poisoning, DNS rebinding: before,
/// every `Host` was served and the same-origin checks compared `Origin` with it); the probes
/// answer whatever the `Host`.
#[tokio::test]
async fn a_host_not_allowed_gets_djangos_400() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let with_host = |host: &str, path: &str| {
        app.client
            .get(app.url(path))
            .header("Host", host)
            .bearer_auth(&access)
            .send()
    };
    for host in [
        "localhost:8000",
        "app.localhost",
        "[::1]",
        "127.0.0.1",
        "LocalHost:8000",
        "App.LOCALHOST.",
    ] {
        let response = with_host(host, "/hello/").await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    for host in [
        "evil.test",
        "127.0.0.1.evil.test",
        "bad host",
        "localhost:x",
    ] {
        let response = with_host(host, "/hello/").await.unwrap();
        assert_eq!(response.status(), 400, "{host}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let page = response.text().await.unwrap();
        assert_eq!(page, portcullis::rest::hosts::BAD_REQUEST_PAGE);
    }
    // A page of the rebinding site cannot sign in with the browser's session either.
    let login = app
        .client
        .post(app.url("/admin/login/"))
        .header("Host", "evil.test")
        .header("Origin", "http://evil.test")
        .form(&[("username", "vitor"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 400);
    for probe in ["/healthz", "/readyz"] {
        let response = with_host("10.0.0.5:8000", probe).await.unwrap();
        assert_eq!(response.status(), 200, "{probe}");
    }
    // HTTP/1.0 without a Host: refused as Django does.
    let answer = app.raw_http(b"GET /hello/ HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
}

/// `ALLOWED_HOSTS` names the site: its names and subdomains are served, others refused; an
/// invalid list stops startup naming the variable.
#[tokio::test]
async fn allowed_hosts_lists_the_sites_names() {
    let app = spawn_app_with(&[("ALLOWED_HOSTS", "api.example.com, .example.org")]).await;
    let status = |host: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/token/verify/"))
                .header("Host", host)
                .json(&json!({"token": "x"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("api.example.com:443").await, 401);
    assert_eq!(status("a.example.org").await, 401);
    assert_eq!(status("127.0.0.1").await, 400);
    assert_eq!(status("example.com").await, 400);
    let vars = [("SECRET_KEY", SECRET_KEY), ("ALLOWED_HOSTS", "bad host")];
    let error = portcullis::config::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap_err();
    assert!(error.to_string().contains("ALLOWED_HOSTS"), "{error}");
}
