//! Throttling: CONTRACT.md section 9, on servers started with low rates.
use serde_json::json;

use crate::helpers::*;

/// anon 3/min, user 6/min, as the contract's observations.
async fn low_rates() -> TestApp {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=3/min,user=6/min")]).await;
    app.seed_reference_users();
    app
}

/// An anonymous request the throttles count: a token verification that fails (401).
async fn anonymous_request(app: &TestApp) -> Reply {
    app.verify("garbage").await
}

/// Asserts DRF's 429: body and `Retry-After` agree; returns the wait in seconds.
fn assert_throttled(reply: &Reply) -> u64 {
    assert_eq!(reply.status, 429, "{}", reply.text);
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    let unit = if wait == 1 { "second" } else { "seconds" };
    reply.assert_error_without_challenge(
        429,
        json!({"detail": format!("Request was throttled. Expected available in {wait} {unit}.")}),
    );
    wait
}

#[tokio::test]
async fn exactly_n_anonymous_requests_are_served_then_429_with_retry_after() {
    let app = low_rates().await;
    for _ in 0..3 {
        anonymous_request(&app)
            .await
            .assert_unauthorized(token_not_valid("Token is invalid"));
    }
    let wait = assert_throttled(&anonymous_request(&app).await);
    assert_eq!(wait, 60);
}

#[tokio::test]
async fn retry_after_counts_down_from_the_oldest_counted_request() {
    let app = low_rates().await;
    for _ in 0..3 {
        anonymous_request(&app).await;
    }
    assert_eq!(assert_throttled(&anonymous_request(&app).await), 60);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(assert_throttled(&anonymous_request(&app).await), 59);
}

#[tokio::test]
async fn a_one_second_wait_says_second_in_the_singular() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=1/s,user=1000/min")]).await;
    anonymous_request(&app).await;
    let reply = anonymous_request(&app).await;
    assert_eq!(assert_throttled(&reply), 1);
    assert!(reply.text.contains("in 1 second."), "{}", reply.text);
}

#[tokio::test]
async fn refused_requests_do_not_extend_the_window() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=1/2s,user=1000/min")]).await;
    assert_eq!(anonymous_request(&app).await.status, 401);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_throttled(&anonymous_request(&app).await);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(anonymous_request(&app).await.status, 401);
}

#[tokio::test]
async fn authenticated_requests_are_not_counted_by_the_anon_throttle() {
    let app = low_rates().await;
    for _ in 0..3 {
        anonymous_request(&app).await;
    }
    assert_throttled(&anonymous_request(&app).await);
    app.hello_with_basic("vitor", PASSWORD)
        .await
        .assert_json(200, hello_world());
    app.hello_with_token(&app.forge("access", "3"))
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn authenticated_requests_are_limited_per_user_not_per_address() {
    let app = low_rates().await;
    let vitor = app.forge("access", "1");
    for _ in 0..6 {
        app.hello_with_token(&vitor)
            .await
            .assert_json(200, hello_world());
    }
    assert_eq!(assert_throttled(&app.hello_with_token(&vitor).await), 60);
    // Basic and JWT share the user's bucket.
    assert_throttled(&app.hello_with_basic("vitor", PASSWORD).await);
    // Another user from the same address has a bucket of its own.
    app.hello_with_token(&app.forge("access", "3"))
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn anonymous_requests_also_count_against_the_user_rate_by_address() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=5/min,user=2/min")]).await;
    for _ in 0..2 {
        assert_eq!(anonymous_request(&app).await.status, 401);
    }
    assert_throttled(&anonymous_request(&app).await);
}

#[tokio::test]
async fn every_status_counts_and_all_token_endpoints_share_the_anon_bucket() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=4/min,user=1000/min")]).await;
    app.seed_reference_users();
    let wrong = json!({"username": "vitor", "password": "wrong"});
    assert_eq!(app.post("/api/token/", wrong).await.status, 401);
    let bad_json = app
        .post_raw("/api/token/refresh/", "application/json", "{")
        .await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(
        app.send(app.request("GET", "/api/token/verify/"))
            .await
            .status,
        405
    );
    assert_eq!(
        app.post("/api/token/blacklist/", json!({})).await.status,
        400
    );
    let good = json!({"username": "vitor", "password": PASSWORD});
    assert_throttled(&app.post("/api/token/", good).await);
}

#[tokio::test]
async fn throttling_wins_over_405_400_and_the_credential_check() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=1/min,user=1000/min")]).await;
    app.seed_reference_users();
    anonymous_request(&app).await;
    assert_throttled(&app.send(app.request("GET", "/api/token/")).await);
    let head = app.send(app.request("HEAD", "/api/token/")).await;
    assert_eq!((head.status, head.header("retry-after")), (429, Some("60")));
    assert_throttled(&app.post_raw("/api/token/", "application/json", "{").await);
    assert_throttled(&app.post_raw("/api/token/", "text/plain", "x").await);
    assert_throttled(&app.post("/api/token/", json!({})).await);
    let good = json!({"username": "vitor", "password": PASSWORD});
    assert_throttled(&app.post("/api/token/", good).await);
}

#[tokio::test]
async fn an_authenticated_throttled_post_to_hello_is_429_not_405() {
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=1000/min,user=1/min")]).await;
    app.seed_reference_users();
    let access = app.forge("access", "1");
    app.hello_with_token(&access).await;
    let reply = app
        .send(app.request("POST", "/hello/").bearer_auth(&access))
        .await;
    assert_throttled(&reply);
}

#[tokio::test]
async fn negotiation_and_bad_credentials_win_over_throttling() {
    let app = low_rates().await;
    for _ in 0..3 {
        anonymous_request(&app).await;
    }
    assert_throttled(&anonymous_request(&app).await);
    let xml = app
        .send(
            app.request("POST", "/api/token/")
                .header("Accept", "application/xml"),
        )
        .await;
    assert_eq!(xml.status, 406);
    app.hello_with_token("garbage")
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
    app.hello_with_basic("vitor", "wrong")
        .await
        .assert_unauthorized(json!({"detail": "Invalid username/password."}));
}

#[tokio::test]
async fn unauthenticated_hello_is_always_401_and_never_counted() {
    let app = low_rates().await;
    for _ in 0..10 {
        app.send(app.request("GET", "/hello/"))
            .await
            .assert_unauthorized(not_provided());
    }
    for _ in 0..3 {
        assert_eq!(anonymous_request(&app).await.status, 401);
    }
    assert_throttled(&anonymous_request(&app).await);
    app.send(app.request("GET", "/hello/"))
        .await
        .assert_unauthorized(not_provided());
}

#[tokio::test]
async fn concurrent_anonymous_requests_get_exactly_n_through() {
    // Only the anon rate can refuse here: with both classes low, DRF's rule (every throttle
    // counts what it allows) lets the two classes' first few differ under concurrency, so
    // fewer than the anon rate could pass.
    let app = spawn_app_with(&[("THROTTLE_RATES", "anon=3/min,user=100000/min")]).await;
    let replies = futures_util::future::join_all((0..30).map(|_| anonymous_request(&app))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        27,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn concurrent_authenticated_requests_get_exactly_n_through() {
    let app = low_rates().await;
    let access = app.forge("access", "1");
    let replies =
        futures_util::future::join_all((0..30).map(|_| app.hello_with_token(&access))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        24,
        "{statuses:?}"
    );
}
