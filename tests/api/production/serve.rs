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
