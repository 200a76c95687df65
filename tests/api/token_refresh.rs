//! `POST /api/token/refresh/`: CONTRACT.md section 5 and the atomic-rotation rule.
use serde_json::{Value, json};

use crate::helpers::*;

fn keys(body: &Value) -> Vec<&str> {
    body.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// The (access, refresh) of a successful refresh, asserting the exact body shape.
fn refreshed(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(keys(&reply.body), ["access", "refresh"]);
    (
        reply.body["access"].as_str().unwrap().to_string(),
        reply.body["refresh"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn valid_refresh_token_gets_a_new_access_and_rotated_refresh() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let before = now();
    let (access, rotated) = refreshed(&app.refresh(&refresh).await);
    let after = now();
    let (a, r) = (claims(&access), claims(&rotated));
    // simplejwt's order, then the family (CONTRACT.md §4's one extension), kept by rotation.
    let order = ["token_type", "exp", "iat", "jti", "user_id", "sid"];
    assert_eq!(keys(&a), order);
    assert_eq!(keys(&r), order);
    assert_eq!(r["sid"], claims(&refresh)["sid"]);
    assert_eq!(r["token_type"], "refresh");
    assert_eq!(a["token_type"], "access");
    let at = r["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&at));
    assert_eq!(r["exp"].as_i64().unwrap(), at + 86_400);
    assert_eq!(a["exp"].as_i64().unwrap(), at + 300);
    let access_iat = a["iat"].as_i64().unwrap();
    assert!(access_iat == at || access_iat == at + 1);
    assert_eq!((&a["user_id"], &r["user_id"]), (&json!("1"), &json!("1")));
    let old_jti = claims(&refresh)["jti"].clone();
    assert_ne!(r["jti"], old_jti);
    assert_ne!(a["jti"], old_jti);
    assert_ne!(a["jti"], r["jti"]);
    assert_eq!(r["jti"].as_str().unwrap().len(), 32);
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn rotation_restarts_the_refresh_lifetime() {
    let app = spawn_seeded_app().await;
    let old = with_claim(valid_claims("refresh", "1"), "iat", json!(now() - 80_000));
    let old = with_claim(old, "exp", json!(now() + 6_400));
    let (_, rotated) = refreshed(&app.refresh(&app.sign(old)).await);
    let r = claims(&rotated);
    assert_eq!(
        r["exp"].as_i64().unwrap(),
        r["iat"].as_i64().unwrap() + 86_400
    );
    assert!(r["iat"].as_i64().unwrap() >= now() - 2);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_is_401_blacklisted() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let (access, successor) = refreshed(&app.refresh(&refresh).await);
    app.assert_blacklisted(&refresh).await;
    // As with simplejwt, the replay right after the rotation leaves the successor working
    // (with the default families: within the reuse grace, the family is kept).
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    refreshed(&app.refresh(&successor).await);
}

#[tokio::test]
async fn the_rotated_refresh_token_can_be_refreshed_again() {
    let app = spawn_seeded_app().await;
    let (mut refresh, _) = app.obtain("vitor", PASSWORD).await;
    for _ in 0..3 {
        let (_, next) = refreshed(&app.refresh(&refresh).await);
        refresh = next;
    }
}

#[tokio::test]
async fn access_tokens_issued_before_a_rotation_stay_valid() {
    let app = spawn_seeded_app().await;
    let (refresh, first_access) = app.obtain("vitor", PASSWORD).await;
    let (second_access, _) = refreshed(&app.refresh(&refresh).await);
    for access in [&first_access, &second_access] {
        app.hello_with_token(access)
            .await
            .assert_json(200, hello_world());
    }
}

#[tokio::test]
async fn an_access_token_is_401_wrong_type() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    app.refresh(&access)
        .await
        .assert_unauthorized(token_not_valid("Token has wrong type"));
}

#[tokio::test]
async fn garbage_bad_signatures_other_algorithms_and_none_are_401_invalid() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let claims_json = valid_claims("refresh", "1").to_string();
    let payload = claims_json.as_bytes();
    let key = SECRET_KEY.as_bytes();
    let mut tampered = refresh.clone();
    tampered.pop();
    tampered.push(if refresh.ends_with('A') { 'B' } else { 'A' });
    let none = {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(payload)
        )
    };
    let tokens = [
        "garbage".to_string(),
        "a.b.c".to_string(),
        tampered,
        sign_with_key(
            &valid_claims("refresh", "1"),
            b"another-key-that-is-long-enough-32b",
        ),
        sign_raw(br#"{"alg":"HS512","typ":"JWT"}"#, payload, key, "HS512"),
        none,
    ];
    for token in tokens {
        app.refresh(&token)
            .await
            .assert_unauthorized(token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn an_expired_refresh_token_is_401_expired() {
    let app = spawn_seeded_app().await;
    let expired = with_claim(valid_claims("refresh", "1"), "exp", json!(now() - 1));
    app.refresh(&app.sign(expired))
        .await
        .assert_unauthorized(token_not_valid("Token is expired"));
}

#[tokio::test]
async fn missing_exp_or_token_type_claims_are_401_with_their_message() {
    let app = spawn_seeded_app().await;
    let no_exp = with_claim(valid_claims("refresh", "1"), "exp", Value::Null);
    app.refresh(&app.sign(no_exp))
        .await
        .assert_unauthorized(token_not_valid("Token has no 'exp' claim"));
    let no_type = with_claim(valid_claims("refresh", "1"), "token_type", Value::Null);
    app.refresh(&app.sign(no_type))
        .await
        .assert_unauthorized(token_not_valid("Token has no type"));
}

#[tokio::test]
async fn a_refresh_token_of_an_inactive_user_is_401_without_code() {
    let app = spawn_seeded_app().await;
    app.refresh(&app.forge("refresh", "2"))
        .await
        .assert_unauthorized(json!({"detail": "No active account found for the given token."}));
}

#[tokio::test]
async fn missing_or_blank_refresh_field_is_400() {
    let app = spawn_seeded_app().await;
    app.post("/api/token/refresh/", json!({}))
        .await
        .assert_error_without_challenge(400, json!({"refresh": ["This field is required."]}));
    app.refresh("")
        .await
        .assert_error_without_challenge(400, json!({"refresh": ["This field may not be blank."]}));
}

#[tokio::test]
async fn form_urlencoded_refresh_is_accepted() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .post_raw(
            "/api/token/refresh/",
            "application/x-www-form-urlencoded",
            format!("refresh={refresh}"),
        )
        .await;
    refreshed(&reply);
}

#[tokio::test]
async fn a_validly_signed_refresh_token_never_issued_is_accepted() {
    let app = spawn_seeded_app().await;
    let forged = app.forge("refresh", "1");
    let (access, rotated) = refreshed(&app.refresh(&forged).await);
    assert_eq!(claims(&access)["user_id"], "1");
    assert_eq!(claims(&rotated)["user_id"], "1");
    app.refresh(&forged)
        .await
        .assert_unauthorized(token_not_valid("Token is blacklisted"));
}

#[tokio::test]
async fn a_refresh_token_without_user_id_gets_tokens_without_user_id() {
    let app = spawn_seeded_app().await;
    let anonymous = with_claim(valid_claims("refresh", "1"), "user_id", Value::Null);
    let (access, rotated) = refreshed(&app.refresh(&app.sign(anonymous)).await);
    assert!(claims(&access).get("user_id").is_none());
    assert!(claims(&rotated).get("user_id").is_none());
}

#[tokio::test]
async fn the_authorization_header_is_ignored_on_refresh() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(
            app.request("POST", "/api/token/refresh/")
                .header("Authorization", "Bearer garbage")
                .json(&json!({"refresh": refresh})),
        )
        .await;
    refreshed(&reply);
}

// --- Section 11: the reference's 500s get 401s here ---------------------------------------

#[tokio::test]
async fn a_refresh_token_for_a_missing_or_non_integer_user_is_401_no_active_account() {
    let app = spawn_seeded_app().await;
    for user_id in ["999999999", "abc"] {
        app.refresh(&app.forge("refresh", user_id))
            .await
            .assert_unauthorized(json!({"detail": "No active account found for the given token."}));
    }
}

#[tokio::test]
async fn a_refresh_token_without_jti_is_401_no_id() {
    let app = spawn_seeded_app().await;
    let no_jti = with_claim(valid_claims("refresh", "1"), "jti", Value::Null);
    app.refresh(&app.sign(no_jti))
        .await
        .assert_unauthorized(token_not_valid("Token has no id"));
}

// --- Concurrency ---------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_refreshes_of_one_token_give_exactly_one_success() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let replies = futures_util::future::join_all((0..10).map(|_| app.refresh(&refresh))).await;
    let successes = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        successes,
        1,
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_unauthorized(token_not_valid("Token is blacklisted"));
    }
}

#[tokio::test]
async fn a_falsy_user_id_skips_the_user_check_as_simplejwt_does() {
    let app = spawn_seeded_app().await;
    for user_id in [json!(null), json!(0), json!(false)] {
        let claims = with_claim(valid_claims("refresh", "1"), "user_id", user_id.clone());
        let (access, _) = refreshed(&app.refresh(&app.sign(claims)).await);
        assert_eq!(crate::helpers::claims(&access)["user_id"], user_id);
    }
}

#[tokio::test]
async fn an_integral_float_user_id_names_the_user() {
    let app = spawn_seeded_app().await;
    let inactive = with_claim(valid_claims("refresh", "1"), "user_id", json!(2.0));
    app.refresh(&app.sign(inactive))
        .await
        .assert_unauthorized(json!({"detail": "No active account found for the given token."}));
}
