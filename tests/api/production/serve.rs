//! `portcullis serve` as a real process: SIGTERM and SIGINT let an in-flight request finish.

use std::time::{Duration, Instant};

use serde_json::json;

use super::SharedDatabase;
use super::instances::{Instance, signal};
use crate::helpers::PASSWORD;

/// Sends a slow request (a bcrypt check at a high cost), signals mid-request, and expects the
/// request to complete and the process to exit cleanly.
async fn in_flight_request_survives(signal_name: &str) {
    let db = SharedDatabase::fresh();
    db.migrate();
    // A costly hash makes the credential check last long enough to be caught in flight.
    let hash = portcullis::hashers::hash_password(PASSWORD, 12).unwrap();
    let mut conn = portcullis::db::connect(&db.url).unwrap();
    portcullis::models::users::create(
        &mut conn,
        &portcullis::models::users::NewUser {
            username: "slow".into(),
            email: String::new(),
            password_hash: hash,
            is_active: true,
            is_staff: false,
            is_superuser: false,
        },
    )
    .unwrap();
    let mut instance = Instance::start(&[
        ("DATABASE_URL", db.url.as_str()),
        ("SHUTDOWN_TIMEOUT", "30"),
    ]);
    let url = format!("http://127.0.0.1:{}/api/token/", instance.port);
    let request = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({"username": "slow", "password": PASSWORD}))
            .send()
            .await;
        (response.map(|r| r.status().as_u16()), Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    assert!(signal(instance.pid(), signal_name));
    let (status, answered) = request.await.unwrap();
    assert!(
        answered > signalled,
        "the request finished before the signal"
    );
    assert_eq!(status.unwrap(), 200, "{}", instance.log());
    let exit = instance.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}:\n{}", instance.log());
    assert!(
        instance
            .log()
            .contains(&format!("SIG{signal_name} received"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_finishes_an_in_flight_request_on_sigterm() {
    in_flight_request_survives("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_finishes_an_in_flight_request_on_sigint() {
    in_flight_request_survives("INT").await;
}

/// A malformed request is the client's problem: it must not reach the error log (anyone could
/// fill it), and a `"` in a path must not break the access log's quoting.
#[tokio::test]
async fn client_garbage_stays_out_of_the_error_log() {
    use std::io::{Read, Write};
    let instance = Instance::start(&[("RUST_LOG", "info")]);
    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET /a\"b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\0: x\r\n\r\n",
    ] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", instance.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(garbage.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    let started = Instant::now();
    while !instance.log().contains("a\\\"b") && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = instance.log();
    assert!(log.contains("\"GET /a\\\"b\""), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

/// A failed login names the account under attack by its id when the username names one, and
/// only by a hash of the username otherwise (never the username as typed).
#[tokio::test]
async fn failed_logins_name_the_account_in_the_security_log() {
    let db = SharedDatabase::fresh();
    db.migrate();
    let id = db.create_user("vitor");
    let instance = Instance::start(&[("RUST_LOG", "info"), ("DATABASE_URL", db.url.as_str())]);
    let client = reqwest::Client::new();
    for username in ["vitor", "nobody-here"] {
        let status = client
            .post(format!("http://127.0.0.1:{}/api/token/", instance.port))
            .json(&serde_json::json!({"username": username, "password": "wrong"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let events = |log: String| -> Vec<serde_json::Value> {
        log.lines()
            .filter(|line| line.contains("\"event\":\"login_failed\""))
            .filter_map(|line| serde_json::from_str(&line[line.find('{')?..]).ok())
            .collect()
    };
    let started = Instant::now();
    while events(instance.log()).len() < 2 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = events(instance.log());
    assert_eq!(events.len(), 2, "{}", instance.log());
    assert_eq!(events[0]["user_id"], id, "{}", events[0]);
    assert!(events[0].get("username_hash").is_none(), "{}", events[0]);
    assert!(events[1].get("user_id").is_none(), "{}", events[1]);
    assert_eq!(events[1]["username_hash"].as_str().unwrap().len(), 32);
    assert!(!instance.log().contains("nobody-here"));
}
