//! Per-client state stays bounded under a flood of distinct client addresses, and the limits
//! of real clients stay exact meanwhile (the in-process store's eviction policy).

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::*;
use portcullis::rest::{APIView, Response};

/// An app behind a trusted proxy whose extra view reports how many keys the store holds.
async fn spawn_bounded_app(max_keys: &str) -> TestApp {
    spawn_app_with_views(
        &[
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
            ("THROTTLE_RATES", "anon=100/min,user=100000/min"),
            ("THROTTLE_MAX_KEYS", max_keys),
        ],
        |state| {
            let counter = std::sync::Arc::clone(&state.counter);
            let view = APIView::new("Keys")
                .authentication_classes(vec![])
                .permission_classes(vec![])
                .throttle_classes(vec![])
                .get(move |_| {
                    let keys = counter.store().keys_held();
                    async move { Ok(Response::ok(json!({ "keys": keys }))) }
                });
            vec![("/test/keys/", view)]
        },
    )
    .await
}

/// `POST /api/token/` with `{}` from `client`: 400 once the throttles let it through, 429 after.
async fn anonymous_post(app: &TestApp, client: &str) -> u16 {
    app.client
        .post(app.url("/api/token/"))
        .header("X-Forwarded-For", client)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn keys_held(app: &TestApp) -> u64 {
    let (_, body) = json(app.get("/test/keys/").await).await;
    body["keys"].as_u64().unwrap()
}

#[tokio::test]
async fn a_flood_of_distinct_addresses_stays_bounded_and_real_clients_stay_exact() {
    let app = spawn_bounded_app("512").await;
    // A client that used its whole minute before the flood.
    for _ in 0..100 {
        assert_eq!(anonymous_post(&app, "198.51.100.1").await, 400);
    }
    assert_eq!(anonymous_post(&app, "198.51.100.1").await, 429);
    // 4,000 distinct IPv4 addresses and 4,000 distinct /64s, 16 at a time; a second real
    // client starts in the middle of it.
    let flood = futures_util::stream::iter(0..8000u32)
        .map(|i| {
            let app = &app;
            async move {
                let client = if i % 2 == 0 {
                    format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)
                } else {
                    format!("2001:db8:{:x}:{:x}::1", i >> 8, i & 255)
                };
                anonymous_post(app, &client).await
            }
        })
        .buffer_unordered(16);
    let statuses: Vec<u16> = flood.collect().await;
    assert!(
        statuses.iter().all(|s| *s == 400),
        "flood clients were throttled"
    );
    assert!(
        keys_held(&app).await <= 512,
        "{} keys",
        keys_held(&app).await
    );
    // The first client is still refused: the flood did not evict its count.
    assert_eq!(anonymous_post(&app, "198.51.100.1").await, 429);
    // A client arriving now gets exactly its limit.
    for _ in 0..100 {
        assert_eq!(anonymous_post(&app, "198.51.100.2").await, 400);
    }
    assert_eq!(anonymous_post(&app, "198.51.100.2").await, 429);
}

#[tokio::test]
async fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
    let app = spawn_bounded_app("100000").await;
    for i in 0..100 {
        let client = format!("2001:db8:1:2:{i:x}::1");
        assert_eq!(anonymous_post(&app, &client).await, 400);
    }
    assert_eq!(anonymous_post(&app, "2001:db8:1:2:ffff::9").await, 429);
    assert_eq!(anonymous_post(&app, "2001:db8:1:3::1").await, 400);
    for _ in 0..100 {
        assert_eq!(anonymous_post(&app, "::ffff:192.0.2.9").await, 400);
    }
    assert_eq!(anonymous_post(&app, "192.0.2.9").await, 429);
}
