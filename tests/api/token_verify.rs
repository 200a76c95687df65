//! `POST /api/token/verify/`: CONTRACT.md section 6.
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn valid_access_and_refresh_tokens_verify_as_empty_object() {
    let app = spawn_seeded_app().await;
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    for token in [&refresh, &access] {
        app.verify(token).await.assert_json(200, json!({}));
    }
}

#[tokio::test]
async fn verification_ignores_type_and_user() {
    let app = spawn_seeded_app().await;
    let tokens = [
        with_claim(valid_claims("access", "1"), "token_type", Value::Null),
        with_claim(valid_claims("access", "1"), "user_id", Value::Null),
        valid_claims("access", "999999999"),
        valid_claims("refresh", "2"),
    ];
    for claims in tokens {
        app.verify(&app.sign(claims))
            .await
            .assert_json(200, json!({}));
    }
}

#[tokio::test]
async fn garbage_bad_signatures_and_other_keys_are_401_invalid() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let (head, rest) = access.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(valid_claims("access", "3").to_string())
    };
    for token in [
        "garbage".to_string(),
        format!("{head}.{other_payload}.{signature}"),
        sign_with_key(
            &valid_claims("access", "1"),
            b"another-key-that-is-long-enough-32b",
        ),
    ] {
        app.verify(&token)
            .await
            .assert_unauthorized(token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn an_expired_token_is_401_expired() {
    let app = spawn_seeded_app().await;
    let expired = with_claim(valid_claims("access", "1"), "exp", json!(now() - 10));
    app.verify(&app.sign(expired))
        .await
        .assert_unauthorized(token_not_valid("Token is expired"));
}

#[tokio::test]
async fn tokens_without_exp_or_jti_are_401_with_their_message() {
    let app = spawn_seeded_app().await;
    let no_exp = with_claim(valid_claims("access", "1"), "exp", Value::Null);
    app.verify(&app.sign(no_exp))
        .await
        .assert_unauthorized(token_not_valid("Token has no 'exp' claim"));
    let no_jti = with_claim(valid_claims("access", "1"), "jti", Value::Null);
    app.verify(&app.sign(no_jti))
        .await
        .assert_unauthorized(token_not_valid("Token has no id"));
}

#[tokio::test]
async fn a_blacklisted_refresh_token_is_400_without_challenge() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    app.blacklist(&refresh).await.assert_json(200, json!({}));
    app.verify(&refresh)
        .await
        .assert_error_without_challenge(400, json!({"non_field_errors": ["Token is blacklisted"]}));
}

#[tokio::test]
async fn missing_token_field_is_400() {
    let app = spawn_seeded_app().await;
    app.post("/api/token/verify/", json!({"refresh": "x"}))
        .await
        .assert_error_without_challenge(400, json!({"token": ["This field is required."]}));
}

#[tokio::test]
async fn a_jti_or_sub_that_is_not_a_string_is_invalid_as_pyjwt_says() {
    let app = spawn_seeded_app().await;
    for (claim, value) in [("jti", json!(7)), ("jti", json!([1])), ("sub", json!(1))] {
        let token = app.sign(with_claim(
            valid_claims("refresh", "1"),
            claim,
            value.clone(),
        ));
        let expected = token_not_valid("Token is invalid");
        app.verify(&token)
            .await
            .assert_unauthorized(expected.clone());
        app.refresh(&token)
            .await
            .assert_unauthorized(expected.clone());
        app.blacklist(&token).await.assert_unauthorized(expected);
    }
}

#[tokio::test]
async fn a_null_jti_is_invalid_not_missing() {
    let app = spawn_seeded_app().await;
    let mut claims = valid_claims("refresh", "1");
    claims["jti"] = Value::Null;
    app.verify(&app.sign(claims))
        .await
        .assert_unauthorized(token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn critical_header_extensions_are_invalid() {
    let app = spawn_seeded_app().await;
    let payload = valid_claims("access", "1").to_string();
    for header in [
        r#"{"alg":"HS256","typ":"JWT","crit":[]}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","typ":"JWT","b64":false}"#,
    ] {
        let token = sign_raw(
            header.as_bytes(),
            payload.as_bytes(),
            SECRET_KEY.as_bytes(),
            "HS256",
        );
        app.verify(&token)
            .await
            .assert_unauthorized(token_not_valid("Token is invalid"));
    }
}

/// simplejwt's reading (`JWT_STRICT=false`); the strict profile refuses all three as invalid.
#[tokio::test]
async fn time_claims_are_read_like_python_int() {
    let app = spawn_app_with(&[("JWT_STRICT", "false")]).await;
    app.seed_reference_users();
    let expired = with_claim(valid_claims("access", "1"), "exp", json!(true));
    app.verify(&app.sign(expired))
        .await
        .assert_unauthorized(token_not_valid("Token is expired"));
    let text_iat = with_claim(valid_claims("access", "1"), "iat", json!(now().to_string()));
    app.verify(&app.sign(text_iat))
        .await
        .assert_json(200, json!({}));
    let future_nbf = with_claim(
        valid_claims("access", "1"),
        "nbf",
        json!((now() + 60).to_string()),
    );
    app.verify(&app.sign(future_nbf))
        .await
        .assert_unauthorized(token_not_valid("Token is invalid"));
}
