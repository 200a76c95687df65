//! Two real processes: an issuer signing with its key ring and publishing it at
//! `/.well-known/jwks.json`, and a verify-only service (no users table rows of its own,
//! `jwt_stateless`) reading that key set through `JWT_JWK_URL`, across a rotation.

use std::time::Duration;

use serde_json::{Value, json};

use super::instances::Instance;
use crate::helpers::*;

fn keys(database_url: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    let output = run_portcullis(dir.path(), &all, "", &[("DATABASE_URL", database_url)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "keys {args:?}: {text}");
    text
}

async fn obtain_access(client: &reqwest::Client, port: u16) -> String {
    let reply: Value = client
        .post(format!("http://127.0.0.1:{port}/api/token/"))
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["access"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {reply}"))
        .to_string()
}

async fn hello(client: &reqwest::Client, port: u16, token: &str) -> (u16, String) {
    let response = client
        .get(format!("http://127.0.0.1:{port}/hello/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_verifier_follows_the_issuers_published_keys_across_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("issuer.sqlite3");
    let database_url = database.to_str().unwrap().to_string();
    keys(&database_url, &["rotate"]);
    let output = run_portcullis(
        dir.path(),
        &["createuser", "vitor"],
        &format!("{PASSWORD}\n"),
        &[("DATABASE_URL", &database_url)],
    );
    assert!(output.status.success(), "{output:?}");
    let issuer = Instance::start(&[("DATABASE_URL", &database_url), ("KEY_RING_TTL_MS", "100")]);
    let jwks_url = format!("http://127.0.0.1:{}/.well-known/jwks.json", issuer.port);
    let verifier = Instance::start(&[
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_JWK_URL", &jwks_url),
        ("AUTHENTICATION_CLASSES", "jwt_stateless"),
    ]);
    let client = reqwest::Client::new();

    let first = obtain_access(&client, issuer.port).await;
    let (status, body) = hello(&client, verifier.port, &first).await;
    assert_eq!(status, 200, "{body}\n{}", verifier.log());

    keys(&database_url, &["rotate"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = obtain_access(&client, issuer.port).await;
    assert_ne!(
        claims_header_kid(&first),
        claims_header_kid(&second),
        "the issuer signs with the new key"
    );
    for token in [&second, &first] {
        let (status, body) = hello(&client, verifier.port, token).await;
        assert_eq!(status, 200, "{body}\n{}", verifier.log());
    }
    // A token the issuer never signed, under its kid: refused by the verifier.
    let forged = {
        let parts: Vec<&str> = second.split('.').collect();
        let other = first.split('.').nth(2).unwrap();
        format!("{}.{}.{other}", parts[0], parts[1])
    };
    assert_eq!(hello(&client, verifier.port, &forged).await.0, 401);
}

fn claims_header_kid(token: &str) -> String {
    header(token)["kid"].as_str().unwrap().to_string()
}
