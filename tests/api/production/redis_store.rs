//! The Redis throttle store against a real Redis: the in-process store's answers, atomically.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
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

/// The start of an hour-long window a little ahead, so that a test's requests share one window.
fn inside_one_hour_window() -> f64 {
    (portcullis::clock::now() / 3600.0).floor() * 3600.0 + 3600.0 + 10.0
}

#[tokio::test]
async fn a_busy_key_is_served_on_leases_with_few_round_trips_and_counted_exactly() {
    let prefix = unique_prefix();
    let redis = store(&prefix);
    let start = inside_one_hour_window();
    for i in 0..1000 {
        let hit = redis
            .hit("busy", rate("100000/h"), start + i as f64 * 1e-4)
            .await;
        assert_eq!(hit.unwrap(), Hit::Allowed);
    }
    let trips = redis.round_trips();
    assert!(trips < 30, "{trips} round trips for 1000 requests");
    // Once the lease has ended and been settled, Redis holds exactly the 1000 requests.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut conn = redis_connection().await;
    let (current, leased): (u64, u64) = redis::cmd("HMGET")
        .arg(format!("{prefix}win:busy"))
        .arg("current")
        .arg("leased")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((current, leased), (1000, 0));
}

/// Two instances (two stores, one Redis) and one busy key of a large rate: exactly the limit
/// is admitted, although leases were out on both when the limit came near.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_on_two_instances_admit_exactly_the_limit() {
    let prefix = unique_prefix();
    let instances = [Arc::new(store(&prefix)), Arc::new(store(&prefix))];
    let start = inside_one_hour_window();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, redis) in instances.iter().enumerate() {
        let redis = Arc::clone(redis);
        tasks.spawn(async move {
            let mut allowed = 0;
            for i in 0..1500 {
                let now = start + (2 * i + n) as f64 * 1e-5;
                if redis.hit("k", rate("2000/h"), now).await.unwrap() == Hit::Allowed {
                    allowed += 1;
                }
            }
            allowed
        });
    }
    let mut allowed = 0;
    while let Some(count) = tasks.join_next().await {
        allowed += count.unwrap();
    }
    assert_eq!(allowed, 2000);
    let trips: u64 = instances.iter().map(|r| r.round_trips()).sum();
    // Leases serve the first half of the limit; the second half and every refusal go to Redis
    // one by one (3000 round trips without leases).
    assert!(trips < 2100, "{trips} round trips: no lease was used");
}

/// A lease out on one instance holds a refusal on another back until it is settled: the
/// second instance gets the slots the first did not use.
#[tokio::test]
async fn a_refusal_waits_for_the_leases_out_elsewhere() {
    let prefix = unique_prefix();
    let (holder, other) = (store(&prefix), store(&prefix));
    let start = inside_one_hour_window();
    // The holder takes a lease at the start, uses two slots, and goes quiet.
    for i in 0..3 {
        holder
            .hit("k", rate("2000/h"), start + i as f64 * 1e-3)
            .await
            .unwrap();
    }
    // The other instance fills the limit one request at a time.
    let mut allowed = 3;
    for i in 0..2100 {
        let now = start + 0.01 + i as f64 * 1e-6;
        if other.hit("k", rate("2000/h"), now).await.unwrap() == Hit::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 2000);
}

/// A request asking for a key's lease whose client goes away (its future dropped before Redis
/// answers) must not leave the key's other requests waiting for an answer that never comes.
#[tokio::test]
async fn a_lease_request_dropped_midway_does_not_hold_up_the_key() {
    let redis = RedisStore::new(&redis_url(), &unique_prefix(), Duration::from_secs(2)).unwrap();
    let start = inside_one_hour_window();
    // The first request goes alone (and opens the connection); the second asks for a lease.
    redis.hit("k", rate("100000/h"), start).await.unwrap();
    // Polled exactly once, then dropped: on this single-threaded runtime Redis's answer cannot
    // arrive before the test yields (a zero timeout was not deterministic: its timer may not
    // fire before the answer does).
    let mut asking = Box::pin(redis.hit("k", rate("100000/h"), start + 0.001));
    let polled = std::future::poll_fn(|cx| Poll::Ready(asking.as_mut().poll(cx))).await;
    assert!(
        polled.is_pending(),
        "the lease request was answered without waiting"
    );
    drop(asking);
    let started = Instant::now();
    let hit = redis
        .hit("k", rate("100000/h"), start + 0.002)
        .await
        .unwrap();
    assert_eq!(hit, Hit::Allowed);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "waited {:?} for a lease request that was dropped",
        started.elapsed()
    );
}
