//! Two instances sharing one Redis and one database; Redis down in either failure mode.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{SharedDatabase, redis_url, unique_prefix};
use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

/// Two in-process servers on their own ports, sharing `db` and one Redis key space.
async fn two_instances(db: &SharedDatabase, rates: &str) -> (TestApp, TestApp) {
    let prefix = unique_prefix();
    let redis = redis_url();
    let vars = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("THROTTLE_RATES", rates),
    ];
    let first = spawn_app_with(&vars).await;
    let second = spawn_app_with(&vars).await;
    assert_ne!(first.port, second.port);
    (first, second)
}

#[tokio::test]
async fn redis_shared_limit_is_exact_across_two_instances() {
    let db = SharedDatabase::fresh();
    let (first, second) = two_instances(&db, "anon=10/min,user=100000/min").await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = if i % 2 == 0 { &first } else { &second }.url("/api/token/verify/");
        let client = first.client.clone();
        requests.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"token": "not-a-token"}))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = requests.join_next().await {
        statuses.push(status.unwrap());
    }
    let served = statuses.iter().filter(|&&s| s == 401).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((served, throttled), (10, 40), "{statuses:?}");
}

/// A large rate (the two-window counter, served on leases): still exactly the limit across
/// two instances, with requests racing on both.
#[tokio::test]
async fn redis_shared_large_rate_is_exact_across_two_instances_on_leases() {
    let db = SharedDatabase::fresh();
    let (first, second) = two_instances(&db, "anon=1500/day,user=100000/min").await;
    let mut requests = tokio::task::JoinSet::new();
    for lane in 0..16 {
        let url = if lane % 2 == 0 { &first } else { &second }.url("/api/token/verify/");
        let client = first.client.clone();
        requests.spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..125 {
                let response = client
                    .post(&url)
                    .json(&json!({"token": "not-a-token"}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        });
    }
    let mut statuses = Vec::new();
    while let Some(lane) = requests.join_next().await {
        statuses.extend(lane.unwrap());
    }
    let served = statuses.iter().filter(|&&s| s == 401).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((served, throttled), (1500, 500));
}

#[tokio::test]
async fn redis_instances_share_the_blacklist_through_the_database() {
    let db = SharedDatabase::fresh();
    let (first, second) = two_instances(&db, "anon=100000/min,user=100000/min").await;
    db.create_user("vitor");
    let (refresh, _) = first.obtain("vitor", PASSWORD).await;
    let blacklisted = first
        .post_json("/api/token/blacklist/", &json!({"refresh": refresh}))
        .await;
    assert_eq!(blacklisted.status(), 200);
    let (status, body) = crate::helpers::json(
        second
            .post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["detail"], "Token is blacklisted");
}

async fn app_with_redis_down(mode: &str, redis: &str) -> TestApp {
    spawn_app_with(&[
        ("REDIS_URL", redis),
        ("REDIS_TIMEOUT_MS", "300"),
        ("THROTTLE_FAILURE_MODE", mode),
        ("THROTTLE_RATES", "anon=1/min,user=1/min"),
    ])
    .await
}

/// Sends a throttled request; returns its status and how long it took.
async fn timed_verify(app: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let response = app
        .post_json("/api/token/verify/", &json!({"token": "x"}))
        .await;
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn redis_down_fails_open_without_hanging() {
    let app = app_with_redis_down("open", "redis://127.0.0.1:1").await;
    // anon=1/min, yet every request passes the throttle: the limit is off while Redis is down.
    for _ in 0..3 {
        let (status, took) = timed_verify(&app).await;
        assert_eq!(status, 401);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}

#[tokio::test]
async fn redis_down_fails_closed_with_503_without_hanging() {
    let app = app_with_redis_down("closed", "redis://127.0.0.1:1").await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = app
            .post_json("/api/token/verify/", &json!({"token": "x"}))
            .await;
        let (status, body) = crate::helpers::json(response).await;
        assert_eq!(status, 503);
        assert_eq!(body, json!({"detail": "Service temporarily unavailable."}));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn redis_hung_fails_closed_within_the_timeout() {
    let silent = super::proxy::SilentServer::start().await;
    let app = app_with_redis_down("closed", &format!("redis://127.0.0.1:{}", silent.port)).await;
    let (status, took) = timed_verify(&app).await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn redis_down_makes_readyz_503_while_healthz_stays_200_and_neither_is_throttled() {
    let app = app_with_redis_down("closed", "redis://127.0.0.1:1").await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
        let (status, body) = crate::helpers::json(app.get("/readyz").await).await;
        assert_eq!(status, 503);
        assert_eq!(body, json!({"database": true, "throttle_store": false}));
    }
}

#[tokio::test]
async fn redis_up_makes_readyz_200_and_probes_are_not_throttled() {
    let prefix = unique_prefix();
    let app = spawn_app_with(&[
        ("REDIS_URL", redis_url().as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("THROTTLE_RATES", "anon=1/min,user=1/min"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
        let (status, body) = crate::helpers::json(app.get("/readyz").await).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"database": true, "throttle_store": true}));
    }
}

/// `host:port` of a `redis://host:port` URL.
fn redis_address(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let host_port = url.trim_start_matches("redis://").trim_end_matches('/');
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

/// An app whose Redis is reached through a proxy the test can take down; its key prefix.
async fn behind_a_redis_proxy(vars: &[(&str, &str)]) -> (super::proxy::Proxy, TestApp, String) {
    let proxy = super::proxy::Proxy::start(redis_address(&redis_url())).await;
    let prefix = unique_prefix();
    let redis = format!("redis://127.0.0.1:{}", proxy.port);
    let mut all = vec![
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("REDIS_TIMEOUT_MS", "300"),
    ];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    (proxy, app, prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_survived_and_throttling_resumes_with_its_counts() {
    let (mut proxy, app, _) = behind_a_redis_proxy(&[
        ("THROTTLE_FAILURE_MODE", "closed"),
        ("THROTTLE_RATES", "anon=3/min,user=100000/min"),
    ])
    .await;
    assert_eq!(timed_verify(&app).await.0, 401);

    proxy.down();
    for _ in 0..3 {
        let (status, took) = timed_verify(&app).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    assert_eq!(app.get("/readyz").await.status(), 503);

    proxy.up().await;
    // Within the reconnect delay the store may still refuse to try; then it reconnects by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = timed_verify(&app).await.0;
    while status == 503 {
        assert!(
            Instant::now() < deadline,
            "Redis is back but requests still get 503"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = timed_verify(&app).await.0;
    }
    // The count kept in Redis survived: 1 before the outage, 2 now, then the limit.
    assert_eq!(status, 401);
    assert_eq!(timed_verify(&app).await.0, 401);
    assert_eq!(timed_verify(&app).await.0, 429);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

/// `POST /api/token/` for `vitor` with `password`; the status.
async fn login(app: &TestApp, password: &str) -> u16 {
    app.post_json(
        "/api/token/",
        &json!({"username": "vitor", "password": password}),
    )
    .await
    .status()
    .as_u16()
}

/// A Redis outage, or a Redis that comes back empty (no persistence), gives a password guesser
/// no fresh budget: the instance keeps its own count of the failures it saw and refuses when
/// either count does (before: the in-process fallback started empty, so each outage gave every
/// instance a whole new `pair` budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_or_an_emptied_redis_resets_no_login_budget() {
    let (mut proxy, app, prefix) = behind_a_redis_proxy(&[
        ("THROTTLE_FAILURE_MODE", "open"),
        ("LOGIN_FAILURE_RATES", "pair=3/min,ip=100/min,user=100/min"),
    ])
    .await;
    app.seed_reference_users();
    assert_eq!(login(&app, "wrong").await, 401);
    assert_eq!(login(&app, "wrong").await, 401);
    proxy.down();
    // Two counted while Redis answered; one more is left, not a new budget of three.
    assert_eq!(login(&app, "wrong").await, 401);
    assert_eq!(login(&app, "wrong").await, 429);
    assert_eq!(login(&app, PASSWORD).await, 429);

    // Redis comes back empty, as one without persistence restarts.
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    proxy.up().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(login(&app, "wrong").await, 429);
    assert_eq!(login(&app, PASSWORD).await, 429);
}
