//! The benchmark-only ceiling view: absent unless BENCH_ENDPOINTS is set.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn bench_ping_is_not_served_by_default() {
    let app = spawn_app().await;
    let response = app.get("/bench/ping/").await;
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn bench_ping_answers_anyone_through_the_dispatcher_when_enabled() {
    let app = spawn_app_with(&[("BENCH_ENDPOINTS", "true")]).await;
    let response = app.get("/bench/ping/").await;
    // The dispatcher's own headers show it went through the same pipeline as /hello/.
    assert_eq!(
        response.headers()["allow"].to_str().unwrap(),
        "GET, HEAD, OPTIONS"
    );
    assert_eq!(response.headers()["vary"].to_str().unwrap(), "Accept");
    let (status, body) = json(response).await;
    assert_eq!((status, body), (200, json!({"message": "pong"})));
}
