//! simplejwt's sliding tokens: `/api/token/sliding/`, `/api/token/sliding/refresh/` and
//! `AUTH_TOKEN_CLASSES=access,sliding`.

use serde_json::json;

use crate::helpers::*;

async fn obtain_sliding(app: &TestApp) -> String {
    let reply = app
        .post(
            "/api/token/sliding/",
            json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["token"]
    );
    reply.body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sliding_token_authenticates_when_its_class_is_accepted() {
    let app = spawn_app_with(&[("AUTH_TOKEN_CLASSES", "access,sliding")]).await;
    app.seed_reference_users();
    let token = obtain_sliding(&app).await;
    let original = claims(&token);
    let keys: Vec<&str> = original
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["token_type", "exp", "iat", "jti", "refresh_exp", "user_id"]
    );
    assert_eq!(original["token_type"], "sliding");
    assert_eq!(
        original["exp"].as_i64().unwrap() - original["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        original["refresh_exp"].as_i64().unwrap() - original["iat"].as_i64().unwrap(),
        86_400
    );
    app.hello_with_token(&token)
        .await
        .assert_json(200, hello_world());
    // Refreshed: a new exp and iat, the same jti.
    let reply = app
        .post("/api/token/sliding/refresh/", json!({"token": token}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let slid = reply.body["token"].as_str().unwrap();
    assert_eq!(claims(slid)["jti"], original["jti"]);
    app.hello_with_token(slid)
        .await
        .assert_json(200, hello_world());
    // The blacklist view takes refresh tokens only.
    let reply = app
        .post("/api/token/blacklist/", json!({"refresh": token}))
        .await;
    reply.assert_unauthorized(token_not_valid("Token has wrong type"));
    // Blacklisted (from the dashboard, by jti): refused as simplejwt's BlacklistMixin does.
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let record =
        portcullis::models::tokens::find_outstanding(&mut conn, original["jti"].as_str().unwrap())
            .unwrap()
            .expect("sliding tokens are outstanding tokens");
    portcullis::models::tokens::blacklist(&mut conn, &record).unwrap();
    let reply = app.hello_with_token(slid).await;
    assert_eq!(
        reply.body["messages"],
        json!([
            {"token_class": "AccessToken", "token_type": "access", "message": "Token has wrong type"},
            {"token_class": "SlidingToken", "token_type": "sliding", "message": "Token is blacklisted"},
        ])
    );
    let reply = app
        .post("/api/token/sliding/refresh/", json!({"token": slid}))
        .await;
    reply.assert_unauthorized(token_not_valid("Token is blacklisted"));
}

#[tokio::test]
async fn only_the_configured_token_classes_authenticate() {
    let app = spawn_seeded_app().await;
    let token = obtain_sliding(&app).await;
    app.hello_with_token(&token)
        .await
        .assert_unauthorized(access_token_not_valid("Token has wrong type"));
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .post("/api/token/sliding/refresh/", json!({"token": access}))
        .await;
    reply.assert_unauthorized(token_not_valid("Token has wrong type"));
}

#[tokio::test]
async fn a_sliding_token_past_its_refresh_period_is_not_refreshed() {
    let app = spawn_app_with(&[
        ("SLIDING_TOKEN_REFRESH_LIFETIME", "1"),
        ("SLIDING_TOKEN_REFRESH_EXP_CLAIM", "slide_until"),
    ])
    .await;
    app.seed_reference_users();
    let token = obtain_sliding(&app).await;
    assert!(claims(&token).get("slide_until").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply = app
        .post("/api/token/sliding/refresh/", json!({"token": token}))
        .await;
    reply.assert_unauthorized(token_not_valid("Token 'slide_until' claim has expired"));
}
