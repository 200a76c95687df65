//! `GET /hello/`: CONTRACT.md sections 3 and 8 (8.1 header parsing, 8.2 token validation).
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn anonymous_hello_gets_401_with_bearer_challenge() {
    let app = spawn_seeded_app().await;
    app.send(app.request("GET", "/hello/"))
        .await
        .assert_unauthorized(not_provided());
}

#[tokio::test]
async fn a_valid_access_token_gets_hello_world() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app.hello_with_token(&access).await;
    reply.assert_json(200, hello_world());
    assert_eq!(reply.text, r#"{"message":"Hello, World!"}"#);
}

#[tokio::test]
async fn query_strings_are_ignored() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(
            app.request("GET", "/hello/?format=xml&x=1")
                .bearer_auth(&access),
        )
        .await;
    reply.assert_json(200, hello_world());
}

#[tokio::test]
async fn head_follows_get_with_an_empty_body() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let ok = app
        .send(app.request("HEAD", "/hello/").bearer_auth(&access))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text, "");
    assert_eq!(ok.header("content-type"), Some("application/json"));

    let anonymous = app.send(app.request("HEAD", "/hello/")).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.text, "");
    assert_eq!(anonymous.header("www-authenticate"), Some(BEARER_CHALLENGE));
}

#[tokio::test]
async fn authenticated_options_gets_200_with_allow() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(app.request("OPTIONS", "/hello/").bearer_auth(&access))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.body.is_object(), "{}", reply.text);
    assert_eq!(reply.body["name"], "Hello");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn anonymous_requests_get_401_whatever_the_method() {
    let app = spawn_seeded_app().await;
    for method in ["OPTIONS", "POST", "PUT", "PATCH", "DELETE"] {
        let reply = app.send(app.request(method, "/hello/")).await;
        reply.assert_unauthorized(not_provided());
    }
}

#[tokio::test]
async fn authenticated_unsafe_methods_get_405_with_allow() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let reply = app
            .send(app.request(method, "/hello/").bearer_auth(&access))
            .await;
        reply.assert_error_without_challenge(
            405,
            json!({"detail": format!("Method \"{method}\" not allowed.")}),
        );
        assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[tokio::test]
async fn unacceptable_accept_gets_406_before_authentication() {
    let app = spawn_seeded_app().await;
    let reply = app
        .send(
            app.request("GET", "/hello/")
                .header("Accept", "application/xml"),
        )
        .await;
    reply.assert_error_without_challenge(
        406,
        json!({"detail": "Could not satisfy the request Accept header."}),
    );
}

// --- 8.1 Authorization header parsing -------------------------------------------------------

#[tokio::test]
async fn an_empty_authorization_header_is_not_provided() {
    let app = spawn_seeded_app().await;
    app.hello_with_authorization("")
        .await
        .assert_unauthorized(not_provided());
}

#[tokio::test]
async fn other_schemes_than_exactly_bearer_are_not_provided() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    for scheme in ["bearer", "BEARER", "Token", "JWT"] {
        app.hello_with_authorization(format!("{scheme} {access}"))
            .await
            .assert_unauthorized(not_provided());
    }
    app.hello_with_authorization(format!("Bearer{access}"))
        .await
        .assert_unauthorized(not_provided());
}

#[tokio::test]
async fn bearer_with_one_token_tolerates_extra_whitespace() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    for header in [
        format!("Bearer  {access}"),
        format!("Bearer\t{access}"),
        format!("Bearer {access} "),
        format!(" Bearer {access}"),
    ] {
        app.hello_with_authorization(&header)
            .await
            .assert_json(200, hello_world());
    }
}

#[tokio::test]
async fn bearer_without_exactly_one_token_is_a_bad_authorization_header() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let expected = json!({
        "detail": "Authorization header must contain two space-delimited values",
        "code": "bad_authorization_header",
    });
    for header in [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearer a b".to_string(),
        format!("Bearer {access} extra"),
    ] {
        app.hello_with_authorization(&header)
            .await
            .assert_unauthorized(expected.clone());
    }
}

// --- 8.2 Access-token validation, in order ---------------------------------------------------

#[tokio::test]
async fn badly_signed_or_malformed_access_tokens_are_invalid() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let claims = valid_claims("access", "1");
    let payload = claims.to_string();
    let key = SECRET_KEY.as_bytes();
    let (head, rest) = access.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered = {
        use base64::Engine;
        let admin = with_claim(crate::helpers::claims(&access), "user_id", json!("3"));
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(admin.to_string());
        format!("{head}.{payload}.{signature}")
    };
    let none = {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(payload.as_bytes())
        )
    };
    for token in [
        "garbage".to_string(),
        "x.y.z".to_string(),
        tampered,
        none,
        sign_with_key(&claims, b"another-key-that-is-long-enough-32b"),
        sign_raw(
            br#"{"alg":"HS512","typ":"JWT"}"#,
            payload.as_bytes(),
            key,
            "HS512",
        ),
        sign_raw(
            br#"{"alg":"HS384","typ":"JWT"}"#,
            payload.as_bytes(),
            key,
            "HS384",
        ),
    ] {
        app.hello_with_token(&token)
            .await
            .assert_unauthorized(access_token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn an_expired_access_token_is_expired_but_invalid_if_also_badly_signed() {
    let app = spawn_seeded_app().await;
    let expired = with_claim(valid_claims("access", "1"), "exp", json!(now() - 1));
    app.hello_with_token(&app.sign(expired.clone()))
        .await
        .assert_unauthorized(access_token_not_valid("Token is expired"));
    let exactly_now = with_claim(valid_claims("access", "1"), "exp", json!(now()));
    app.hello_with_token(&app.sign(exactly_now))
        .await
        .assert_unauthorized(access_token_not_valid("Token is expired"));
    let other_key = sign_with_key(&expired, b"another-key-that-is-long-enough-32b");
    app.hello_with_token(&other_key)
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn missing_claims_are_reported_in_simplejwt_order() {
    let app = spawn_seeded_app().await;
    let without = |claims: &[&str]| {
        claims.iter().fold(valid_claims("access", "1"), |c, k| {
            with_claim(c, k, Value::Null)
        })
    };
    for (claims, message) in [
        (
            without(&["exp", "jti", "token_type"]),
            "Token has no 'exp' claim",
        ),
        (without(&["jti", "token_type"]), "Token has no id"),
        (without(&["token_type"]), "Token has no type"),
        (valid_claims("refresh", "1"), "Token has wrong type"),
    ] {
        app.hello_with_token(&app.sign(claims))
            .await
            .assert_unauthorized(access_token_not_valid(message));
    }
}

#[tokio::test]
async fn a_refresh_token_used_as_access_token_is_wrong_type() {
    let app = spawn_seeded_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    app.hello_with_token(&refresh)
        .await
        .assert_unauthorized(access_token_not_valid("Token has wrong type"));
}

#[tokio::test]
async fn user_lookup_failures_have_their_own_codes() {
    let app = spawn_seeded_app().await;
    let failure = |detail: &str, code: &str| json!({"detail": detail, "code": code});
    let no_user = with_claim(valid_claims("access", "1"), "user_id", Value::Null);
    app.hello_with_token(&app.sign(no_user))
        .await
        .assert_unauthorized(failure(
            "Token contained no recognizable user identification",
            "token_not_valid",
        ));
    for user_id in ["999999999", "abc"] {
        app.hello_with_token(&app.forge("access", user_id))
            .await
            .assert_unauthorized(failure("User not found", "user_not_found"));
    }
    app.hello_with_token(&app.forge("access", "2"))
        .await
        .assert_unauthorized(failure("User is inactive", "user_inactive"));
}

#[tokio::test]
async fn a_numeric_user_id_is_accepted_like_a_string() {
    let app = spawn_seeded_app().await;
    let numeric = with_claim(valid_claims("access", "1"), "user_id", json!(1));
    app.hello_with_token(&app.sign(numeric))
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn any_validly_signed_access_token_for_an_active_user_is_accepted() {
    let app = spawn_seeded_app().await;
    app.hello_with_token(&app.forge("access", "3"))
        .await
        .assert_json(200, hello_world());
    let without_iat = with_claim(valid_claims("access", "1"), "iat", Value::Null);
    app.hello_with_token(&app.sign(without_iat))
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn a_user_deactivated_in_the_database_is_refused_at_once() {
    let app = spawn_app_with(&[("USER_CACHE_TTL_MS", "0")]).await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    set_active(&app, 1, false);
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(json!({"detail": "User is inactive", "code": "user_inactive"}));
}

fn set_active(app: &TestApp, id: i32, active: bool) {
    use diesel::connection::SimpleConnection;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let value = if active { "TRUE" } else { "FALSE" };
    conn.batch_execute(&format!(
        "UPDATE users SET is_active = {value} WHERE id = {id}"
    ))
    .unwrap();
}

#[tokio::test]
async fn integral_float_and_boolean_user_ids_name_users_as_in_django() {
    let app = spawn_seeded_app().await;
    for user_id in [json!(3.0), json!(true)] {
        let claims = with_claim(valid_claims("access", "1"), "user_id", user_id);
        app.hello_with_token(&app.sign(claims))
            .await
            .assert_json(200, hello_world());
    }
}

#[tokio::test]
async fn repeated_authorization_headers_are_joined_like_wsgi_does() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(
            app.request("GET", "/hello/")
                .header("Authorization", format!("Bearer {access}"))
                .header("Authorization", format!("Bearer {access}")),
        )
        .await;
    reply.assert_unauthorized(json!({
        "detail": "Authorization header must contain two space-delimited values",
        "code": "bad_authorization_header",
    }));
}
