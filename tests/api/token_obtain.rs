//! `POST /api/token/`: CONTRACT.md section 4.
use serde_json::{Value, json};

use crate::helpers::*;

const OBTAIN: &str = "/api/token/";

/// Asserts a 200 whose body is exactly `{"refresh", "access"}`, in that order.
fn assert_pair(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let keys: Vec<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["refresh", "access"]);
}

fn credentials() -> Value {
    json!({"username": "vitor", "password": PASSWORD})
}

#[tokio::test]
async fn valid_json_credentials_get_a_refresh_and_access_pair() {
    let app = spawn_seeded_app().await;
    let reply = app.post(OBTAIN, credentials()).await;
    assert_pair(&reply);
    let access = reply.body["access"].as_str().unwrap();
    app.hello_with_token(access)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn form_urlencoded_and_multipart_credentials_are_accepted() {
    let app = spawn_seeded_app().await;
    let form = format!("username=vitor&password={}", PASSWORD.replace('!', "%21"));
    assert_pair(
        &app.post_raw(OBTAIN, "application/x-www-form-urlencoded", form)
            .await,
    );

    let boundary = "XyZboundary42";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nvitor\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{PASSWORD}\r\n\
         --{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    assert_pair(&app.post_raw(OBTAIN, &content_type, multipart).await);
}

#[tokio::test]
async fn json_with_a_charset_parameter_is_accepted() {
    let app = spawn_seeded_app().await;
    let body = credentials().to_string();
    let reply = app
        .post_raw(OBTAIN, "application/json; charset=utf-8", body)
        .await;
    assert_pair(&reply);
}

#[tokio::test]
async fn unknown_extra_fields_are_ignored() {
    let app = spawn_seeded_app().await;
    let reply = app
        .post(
            OBTAIN,
            json!({"username": "vitor", "password": PASSWORD, "remember": true, "x": [1]}),
        )
        .await;
    assert_pair(&reply);
}

#[tokio::test]
async fn any_authorization_header_is_ignored_by_the_token_endpoint() {
    let app = spawn_seeded_app().await;
    for authorization in [
        "Bearer not-a-token",
        "Bearer",
        "Basic !!!",
        "Basic Zm9vOmJhcg==",
    ] {
        let reply = app
            .send(
                app.request("POST", OBTAIN)
                    .header("Authorization", authorization)
                    .json(&credentials()),
            )
            .await;
        assert_pair(&reply);
    }
}

#[tokio::test]
async fn bad_credentials_get_401_no_active_account() {
    let app = spawn_seeded_app().await;
    let expected = json!({"detail": "No active account found with the given credentials"});
    for (username, password) in [
        ("vitor", "wrong-password"),
        ("nobody", PASSWORD),
        ("inactive", PASSWORD),
        ("VITOR", PASSWORD),
        ("Vitor", PASSWORD),
    ] {
        let reply = app
            .post(OBTAIN, json!({"username": username, "password": password}))
            .await;
        reply.assert_unauthorized(expected.clone());
    }
}

#[tokio::test]
async fn empty_object_or_empty_body_requires_both_fields() {
    let app = spawn_seeded_app().await;
    let expected = json!({
        "username": ["This field is required."],
        "password": ["This field is required."],
    });
    app.post(OBTAIN, json!({}))
        .await
        .assert_error_without_challenge(400, expected.clone());
    app.post_raw(OBTAIN, "application/json", "")
        .await
        .assert_error_without_challenge(400, expected.clone());
    let no_content_type = app.send(app.request("POST", OBTAIN)).await;
    no_content_type.assert_error_without_challenge(400, expected);
}

#[tokio::test]
async fn one_missing_field_is_the_only_error() {
    let app = spawn_seeded_app().await;
    app.post(OBTAIN, json!({"username": "vitor"}))
        .await
        .assert_error_without_challenge(400, json!({"password": ["This field is required."]}));
    app.post(OBTAIN, json!({"password": PASSWORD}))
        .await
        .assert_error_without_challenge(400, json!({"username": ["This field is required."]}));
}

#[tokio::test]
async fn blank_null_and_non_string_values_get_per_field_errors() {
    let app = spawn_seeded_app().await;
    for (value, message) in [
        (json!(""), "This field may not be blank."),
        (json!(null), "This field may not be null."),
        (json!(["vitor"]), "Not a valid string."),
        (json!({"a": 1}), "Not a valid string."),
    ] {
        let reply = app
            .post(OBTAIN, json!({"username": value, "password": value}))
            .await;
        reply.assert_error_without_challenge(
            400,
            json!({"username": [message], "password": [message]}),
        );
    }
}

#[tokio::test]
async fn non_object_bodies_get_non_field_errors() {
    let app = spawn_seeded_app().await;
    for (body, message) in [
        ("[]", "Invalid data. Expected a dictionary, but got list."),
        ("null", "No data provided"),
    ] {
        app.post_raw(OBTAIN, "application/json", body)
            .await
            .assert_error_without_challenge(400, json!({"non_field_errors": [message]}));
    }
}

#[tokio::test]
async fn malformed_json_gets_a_single_parse_error_detail() {
    let app = spawn_seeded_app().await;
    for body in ["{", "{\"username\": ", "not json", "{\"a\":1}}"] {
        let reply = app.post_raw(OBTAIN, "application/json", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.header("www-authenticate"), None);
        let object = reply.body.as_object().unwrap();
        assert_eq!(object.len(), 1, "{}", reply.text);
        let detail = object["detail"].as_str().unwrap();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }
}

#[tokio::test]
async fn text_plain_gets_415_unsupported_media_type() {
    let app = spawn_seeded_app().await;
    app.post_raw(OBTAIN, "text/plain", "username=vitor")
        .await
        .assert_error_without_challenge(
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."}),
        );
}

// --- Issued tokens --------------------------------------------------------------------------

fn jose_header(token: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap()
}

fn keys(claims: &Value) -> Vec<&str> {
    claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn is_uuid_hex(jti: &Value) -> bool {
    jti.as_str()
        .is_some_and(|j| j.len() == 32 && j.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Asserts the exact claim set of a freshly issued pair for `user_id`, created within
/// `[before, after]`; returns (refresh claims, access claims).
pub fn assert_issued_pair(
    refresh: &str,
    access: &str,
    user_id: &str,
    before: i64,
    after: i64,
) -> (Value, Value) {
    for token in [refresh, access] {
        assert_eq!(jose_header(token), br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='), "base64url without padding: {token}");
        assert!(!token.contains('+') && !token.contains('/'));
    }
    let (r, a) = (claims(refresh), claims(access));
    // simplejwt's order; with a refresh family, its `sid` last in both (CONTRACT.md §4).
    let mut order = vec!["token_type", "exp", "iat", "jti", "user_id"];
    if r.get("sid").is_some() {
        order.push("sid");
        assert!(is_uuid_hex(&r["sid"]), "{r}");
        assert_eq!(r["sid"], a["sid"]);
    }
    assert_eq!(keys(&r), order);
    assert_eq!(keys(&a), order);
    assert_eq!(r["token_type"], "refresh");
    assert_eq!(a["token_type"], "access");
    let t = r["iat"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&t),
        "iat {t} outside {before}..={after}"
    );
    assert_eq!(r["exp"].as_i64().unwrap(), t + 86_400);
    assert_eq!(a["exp"].as_i64().unwrap(), t + 300);
    let access_iat = a["iat"].as_i64().unwrap();
    assert!(
        access_iat == t || access_iat == t + 1,
        "access iat {access_iat}, T {t}"
    );
    assert!(is_uuid_hex(&r["jti"]) && is_uuid_hex(&a["jti"]), "{r} {a}");
    assert_ne!(r["jti"], a["jti"]);
    assert_eq!(r["user_id"], json!(user_id));
    assert_eq!(a["user_id"], json!(user_id));
    (r, a)
}

#[tokio::test]
async fn issued_tokens_have_the_exact_simplejwt_header_and_claims() {
    // Without families: byte for byte simplejwt's claims.
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "false")]).await;
    app.seed_reference_users();
    let before = now();
    let (refresh, access) = app.obtain("admin", PASSWORD).await;
    let after = now();
    let (r, _) = assert_issued_pair(&refresh, &access, "3", before, after);
    assert!(r.get("sid").is_none(), "{r}");
}

#[tokio::test]
async fn issued_tokens_carry_their_family_last_by_default() {
    let app = spawn_seeded_app().await;
    let before = now();
    let (refresh, access) = app.obtain("admin", PASSWORD).await;
    let after = now();
    let (r, _) = assert_issued_pair(&refresh, &access, "3", before, after);
    assert!(r.get("sid").is_some(), "{r}");
}

#[tokio::test]
async fn issued_tokens_are_hs256_signed_with_the_signing_key() {
    let app = spawn_seeded_app().await;
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    for token in [&refresh, &access] {
        let resigned = sign_raw(
            &jose_header(token),
            &serde_json::to_vec(&claims(token)).unwrap(),
            SECRET_KEY.as_bytes(),
            "HS256",
        );
        assert_eq!(&resigned, token);
    }
}

#[tokio::test]
async fn every_obtain_issues_new_distinct_jtis() {
    let app = spawn_seeded_app().await;
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..3 {
        let (refresh, access) = app.obtain("vitor", PASSWORD).await;
        assert!(jtis.insert(claims(&refresh)["jti"].clone()));
        assert!(jtis.insert(claims(&access)["jti"].clone()));
    }
    assert_eq!(jtis.len(), 6);
}

// --- [D] rows: DRF's CharField and serializer details -------------------------------------

#[tokio::test]
async fn surrounding_whitespace_in_credentials_is_trimmed() {
    let app = spawn_seeded_app().await;
    let reply = app
        .post(
            OBTAIN,
            json!({"username": "  vitor ", "password": format!(" {PASSWORD}  ")}),
        )
        .await;
    assert_pair(&reply);
}

#[tokio::test]
async fn numbers_are_coerced_to_strings_but_booleans_are_not() {
    let app = spawn_seeded_app().await;
    app.post(OBTAIN, json!({"username": 123, "password": PASSWORD}))
        .await
        .assert_unauthorized(
            json!({"detail": "No active account found with the given credentials"}),
        );
    app.post(OBTAIN, json!({"username": true, "password": PASSWORD}))
        .await
        .assert_error_without_challenge(400, json!({"username": ["Not a valid string."]}));
}

#[tokio::test]
async fn scalar_bodies_name_the_python_type() {
    let app = spawn_seeded_app().await;
    for (body, name) in [("\"x\"", "str"), ("1", "int"), ("true", "bool")] {
        let message = format!("Invalid data. Expected a dictionary, but got {name}.");
        app.post_raw(OBTAIN, "application/json", body)
            .await
            .assert_error_without_challenge(400, json!({"non_field_errors": [message]}));
    }
}

#[tokio::test]
async fn null_characters_in_credentials_are_refused() {
    let app = spawn_seeded_app().await;
    app.post(
        OBTAIN,
        json!({"username": "vi\u{0}tor", "password": PASSWORD}),
    )
    .await
    .assert_error_without_challenge(
        400,
        json!({"username": ["Null characters are not allowed."]}),
    );
}
