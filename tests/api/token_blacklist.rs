//! `POST /api/token/blacklist/`: CONTRACT.md section 7.
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn blacklisting_a_refresh_token_ends_its_refresh_and_verify() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&refresh).await.assert_json(200, json!({}));
    app.assert_blacklisted(&refresh).await;
}

#[tokio::test]
async fn blacklisting_twice_is_401_blacklisted() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&refresh).await.assert_json(200, json!({}));
    app.blacklist(&refresh)
        .await
        .assert_unauthorized(token_not_valid("Token is blacklisted"));
}

#[tokio::test]
async fn an_access_token_is_401_wrong_type() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&access)
        .await
        .assert_unauthorized(token_not_valid("Token has wrong type"));
}

#[tokio::test]
async fn garbage_and_expired_tokens_are_401() {
    let app = spawn_seeded_app().await;
    app.blacklist("garbage")
        .await
        .assert_unauthorized(token_not_valid("Token is invalid"));
    let expired = with_claim(valid_claims("refresh", "1"), "exp", json!(now() - 1));
    app.blacklist(&app.sign(expired))
        .await
        .assert_unauthorized(token_not_valid("Token is expired"));
}

#[tokio::test]
async fn tokens_without_exp_type_or_jti_are_401_with_their_message() {
    let app = spawn_seeded_app().await;
    for (claim, message) in [
        ("exp", "Token has no 'exp' claim"),
        ("token_type", "Token has no type"),
        ("jti", "Token has no id"),
    ] {
        let claims = with_claim(valid_claims("refresh", "1"), claim, Value::Null);
        app.blacklist(&app.sign(claims))
            .await
            .assert_unauthorized(token_not_valid(message));
    }
}

#[tokio::test]
async fn a_validly_signed_never_issued_refresh_token_can_be_blacklisted() {
    let app = spawn_seeded_app().await;
    let forged = app.forge("refresh", "1");
    app.blacklist(&forged).await.assert_json(200, json!({}));
    app.refresh(&forged)
        .await
        .assert_unauthorized(token_not_valid("Token is blacklisted"));
}

#[tokio::test]
async fn blacklisting_does_not_check_that_the_user_is_active() {
    let app = spawn_seeded_app().await;
    app.blacklist(&app.forge("refresh", "2"))
        .await
        .assert_json(200, json!({}));
}

#[tokio::test]
async fn missing_refresh_field_is_400() {
    let app = spawn_seeded_app().await;
    app.post("/api/token/blacklist/", json!({"token": "x"}))
        .await
        .assert_error_without_challenge(400, json!({"refresh": ["This field is required."]}));
}

/// simplejwt's behaviour, for a pair without a family (`TOKEN_FAMILIES=false`, or minted by a
/// simplejwt deployment with the same key): its access token keeps working.
#[tokio::test]
async fn the_access_token_of_a_blacklisted_refresh_token_without_family_keeps_working() {
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "false")]).await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&refresh).await.assert_json(200, json!({}));
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let forged = app.forge("refresh", "1");
    app.blacklist(&forged).await.assert_json(200, json!({}));
}

/// CONTRACT.md §7's one departure, with the default families: logging out ends the pair's
/// access tokens too, with simplejwt's error shape.
#[tokio::test]
async fn blacklisting_a_refresh_token_of_a_family_ends_its_access_tokens() {
    let app = spawn_seeded_app().await;
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&refresh).await.assert_json(200, json!({}));
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(access_token_not_valid("Token is revoked"));
}
