//! Two instances sharing one database: a session ended on one is refused on the other within
//! `REVOCATION_TTL_MS`, and logout everywhere within `USER_CACHE_TTL_MS`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::SharedDatabase;
use super::instances::Instance;
use crate::helpers::PASSWORD;

/// An instance of a deployment: the shared database, and Redis for the shared throttles.
fn start(db: &SharedDatabase, redis_prefix: &str) -> Instance {
    Instance::start(&[
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", &super::redis_url()),
        ("REDIS_KEY_PREFIX", redis_prefix),
        ("TOKEN_FAMILIES", "true"),
        ("REVOCATION_TTL_MS", "300"),
        ("USER_CACHE_TTL_MS", "300"),
    ])
}

fn url(instance: &Instance, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", instance.port)
}

async fn hello(client: &reqwest::Client, instance: &Instance, access: &str) -> u16 {
    client
        .get(url(instance, "/hello/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// How long until `instance` refuses `access` (at most `within`).
async fn refused_after(
    client: &reqwest::Client,
    instance: &Instance,
    access: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    while hello(client, instance, access).await == 200 {
        assert!(
            started.elapsed() < within,
            "still accepted after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_session_ended_on_one_instance_is_refused_on_the_other() {
    let db = SharedDatabase::fresh();
    db.migrate();
    db.create_user("vitor");
    let prefix = super::unique_prefix();
    let (a, b) = (start(&db, &prefix), start(&db, &prefix));
    let client = reqwest::Client::new();
    let pair: Value = client
        .post(url(&a, "/api/token/"))
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = pair["access"].as_str().unwrap().to_string();
    assert_eq!(hello(&client, &b, &access).await, 200);
    let sessions: Value = client
        .get(url(&b, "/api/sessions/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sessions[0]["id"].as_str().unwrap().to_string();
    let ended = client
        .delete(url(&a, &format!("/api/sessions/{id}/")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(
        hello(&client, &a, &access).await,
        401,
        "at once where it was ended"
    );
    let took = refused_after(&client, &b, &access, Duration::from_secs(3)).await;
    assert!(took <= Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn logout_everywhere_on_one_instance_reaches_the_other() {
    let db = SharedDatabase::fresh();
    db.migrate();
    db.create_user("vitor");
    let prefix = super::unique_prefix();
    let (a, b) = (start(&db, &prefix), start(&db, &prefix));
    let client = reqwest::Client::new();
    let obtain = |instance: &Instance| {
        client
            .post(url(instance, "/api/token/"))
            .json(&json!({"username": "vitor", "password": PASSWORD}))
            .send()
    };
    let on_b: Value = obtain(&b).await.unwrap().json().await.unwrap();
    let access_b = on_b["access"].as_str().unwrap().to_string();
    let on_a: Value = obtain(&a).await.unwrap().json().await.unwrap();
    let access_a = on_a["access"].as_str().unwrap().to_string();
    let reply = client
        .delete(url(&a, "/api/sessions/"))
        .bearer_auth(&access_a)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 204);
    let took = refused_after(&client, &b, &access_b, Duration::from_secs(3)).await;
    assert!(took <= Duration::from_millis(1500), "{took:?}");
}
