//! The Redis throttle store against a real Redis: the in-process store's answers, atomically.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::rest::throttling::memory::MemoryStore;
use portcullis::rest::throttling::redis::RedisStore;
use portcullis::rest::throttling::{Hit, Rate, ThrottleStore};

use super::{redis_url, unique_prefix};

fn store(prefix: &str) -> RedisStore {
    RedisStore::new(&redis_url(), prefix, Duration::from_millis(500)).unwrap()
}

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at REDIS_TEST_URL is reachable")
}

/// Replays one sequence of (key, rate, time) on both stores and compares every answer.
/// A peek before every hit must agree too, and must not change what the hit answers.
async fn assert_same_answers(requests: &[(&str, &str, f64)]) {
    let memory = MemoryStore::default();
    let redis = store(&unique_prefix());
    for (i, &(key, r, now)) in requests.iter().enumerate() {
        let expected_peek = memory.peek(key, rate(r), now).await.unwrap();
        let peeked = redis.peek(key, rate(r), now).await.unwrap();
        assert_eq!(peeked, expected_peek, "peek {i}: {key} {r} at {now}");
        let expected = memory.hit(key, rate(r), now).await.unwrap();
        let got = redis.hit(key, rate(r), now).await.unwrap();
        assert_eq!(got, expected, "request {i}: {key} {r} at {now}");
        assert_eq!(expected, expected_peek, "a peek predicts the hit");
    }
}

#[tokio::test]
async fn redis_store_answers_like_the_memory_store_for_exact_rates() {
    let mut requests = Vec::new();
    // A burst, refusals with their waits, a slot reopening, a second key in between.
    for i in 0..8 {
        requests.push(("a", "3/min", 1_700_000_000.0 + i as f64 * 0.37));
        requests.push(("b", "2/s", 1_700_000_000.0 + i as f64 * 0.37));
    }
    for t in [59.9, 60.0, 60.5, 61.0, 61.2, 130.0, 130.1] {
        requests.push(("a", "3/min", 1_700_000_000.0 + t));
    }
    assert_same_answers(&requests).await;
}

#[tokio::test]
async fn redis_store_answers_like_the_memory_store_for_large_rates() {
    // Above EXACT_LIMIT both stores switch to the two-window counter.
    let mut requests = Vec::new();
    let start = 1_700_000_000.0;
    for i in 0..2600 {
        requests.push(("big", "2000/min", start + i as f64 * 0.01));
    }
    for i in 0..1500 {
        requests.push(("big", "2000/min", start + 61.0 + i as f64 * 0.02));
    }
    assert_same_answers(&requests).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_counts_exactly_under_concurrency() {
    let redis = Arc::new(store(&unique_prefix()));
    let now = portcullis::clock::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let redis = Arc::clone(&redis);
        tasks.spawn(async move { redis.hit("k", rate("10/min"), now + i as f64 * 1e-4).await });
    }
    let mut allowed = 0;
    while let Some(hit) = tasks.join_next().await {
        if hit.unwrap().unwrap() == Hit::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn redis_store_keys_expire_with_their_window() {
    let prefix = unique_prefix();
    let redis = store(&prefix);
    let now = portcullis::clock::now();
    redis.hit("small", rate("5/min"), now).await.unwrap();
    redis.hit("large", rate("5000/h"), now).await.unwrap();
    let mut conn = redis_connection().await;
    let small: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}log:small"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let large: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}win:large"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((50_000..=60_000).contains(&small), "{small}");
    assert!((7_000_000..=7_200_000).contains(&large), "{large}");
}

#[tokio::test]
async fn redis_store_pings_a_live_redis() {
    store(&unique_prefix()).ping().await.unwrap();
}

#[tokio::test]
async fn redis_unreachable_fails_fast_instead_of_hanging() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let redis = RedisStore::new("redis://127.0.0.1:1", "x:", Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    assert!(redis.hit("k", rate("1/s"), 0.0).await.is_err());
    assert!(redis.ping().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redis_that_never_answers_is_cut_off_by_the_timeout() {
    // A hung Redis.
    let silent = super::proxy::SilentServer::start().await;
    let redis = RedisStore::new(
        &format!("redis://127.0.0.1:{}", silent.port),
        "x:",
        Duration::from_millis(300),
    )
    .unwrap();
    let started = Instant::now();
    assert!(redis.hit("k", rate("1/s"), 0.0).await.is_err());
    // Right after a failure the store does not even try: no second wait.
    assert!(redis.hit("k", rate("1/s"), 0.0).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}
