//! DRF's authtoken: `/api/auth-token/` and `Authorization: Token <key>` through the `token`
//! class, with DRF's messages, in both key modes; keys stored as digests only.

use serde_json::json;

use crate::helpers::*;

async fn spawn_token_app(mode: &str) -> TestApp {
    let app = spawn_app_with(&[
        ("AUTHENTICATION_CLASSES", "token,jwt"),
        ("TOKEN_AUTH_KEYS", mode),
        ("TOKEN_AUTH_MAX_PER_USER", "2"),
    ])
    .await;
    app.seed_reference_users();
    app
}

async fn obtain_key(app: &TestApp, username: &str, password: &str) -> Reply {
    app.post(
        "/api/auth-token/",
        json!({"username": username, "password": password}),
    )
    .await
}

async fn hello_with(app: &TestApp, authorization: &str) -> Reply {
    app.hello_with_authorization(authorization).await
}

fn key_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let key = reply.body["token"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 40);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    key
}

#[tokio::test]
async fn a_key_authenticates_and_bad_headers_get_drfs_messages() {
    let app = spawn_token_app("multiple").await;
    let key = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    hello_with(&app, &format!("Token {key}"))
        .await
        .assert_json(200, hello_world());
    let failed = |detail: &str| json!({ "detail": detail });
    for (header, detail) in [
        (
            "Token".to_string(),
            "Invalid token header. No credentials provided.",
        ),
        // A huge key costs one digest and one lookup, like any other.
        (format!("Token {}", "a".repeat(60_000)), "Invalid token."),
        (
            format!("Token {key} extra"),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (format!("Token {}", "0".repeat(40)), "Invalid token."),
    ] {
        let reply = hello_with(&app, &header).await;
        assert_eq!(reply.status, 401, "{header}");
        assert_eq!(reply.body, failed(detail));
        assert_eq!(reply.header("www-authenticate"), Some("Token"));
    }
    let latin1 = app
        .send(app.request("GET", "/hello/").header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Token \xff\xfe").unwrap(),
        ))
        .await;
    assert_eq!(
        latin1.body,
        failed("Invalid token header. Token string should not contain invalid characters.")
    );
    // The key is never stored: only its digest.
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let stored = portcullis::models::auth_tokens::list(&mut conn, 10).unwrap();
    assert!(
        stored
            .iter()
            .all(|k| k.digest != key && k.digest.len() == 64)
    );
}

#[tokio::test]
async fn obtain_answers_as_drfs_obtain_auth_token() {
    let app = spawn_token_app("multiple").await;
    let wrong = obtain_key(&app, "vitor", "wrong").await;
    wrong.assert_json(
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    );
    let inactive = obtain_key(&app, "inactive", PASSWORD).await;
    assert_eq!(inactive.status, 400);
    app.post("/api/auth-token/", json!({})).await.assert_json(
        400,
        json!({"username": ["This field is required."], "password": ["This field is required."]}),
    );
    // Multiple mode: a new key each time, the newest two kept.
    let first = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    let second = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    let third = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    assert!(first != second && second != third);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        hello_with(&app, &format!("Token {first}")).await.status,
        401
    );
    assert_eq!(
        hello_with(&app, &format!("Token {third}")).await.status,
        200
    );
}

#[tokio::test]
async fn single_mode_hands_out_the_same_key_and_the_command_regenerates_it() {
    let app = spawn_token_app("single").await;
    let first = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    let again = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    assert_eq!(first, again);
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("TOKEN_AUTH_KEYS", "single"),
    ];
    let same = run_portcullis(
        std::env::temp_dir().as_path(),
        &["drf_create_token", "vitor"],
        "",
        &env,
    );
    assert!(same.status.success());
    assert_eq!(
        String::from_utf8_lossy(&same.stdout).trim(),
        format!("Generated token {first} for user vitor")
    );
    let fresh = run_portcullis(
        std::env::temp_dir().as_path(),
        &["drf_create_token", "-r", "vitor"],
        "",
        &env,
    );
    let text = String::from_utf8_lossy(&fresh.stdout).to_string();
    assert!(!text.contains(&first), "{text}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        hello_with(&app, &format!("Token {first}")).await.status,
        401
    );
    // An inactive user's key: DRF's message.
    let inactive = run_portcullis(
        std::env::temp_dir().as_path(),
        &["drf_create_token", "inactive"],
        "",
        &env,
    );
    let line = String::from_utf8_lossy(&inactive.stdout).to_string();
    let key = line.split_whitespace().nth(2).unwrap();
    let reply = hello_with(&app, &format!("Token {key}")).await;
    assert_eq!(reply.body, json!({"detail": "User inactive or deleted."}));
}

#[tokio::test]
async fn obtaining_a_key_is_behind_the_login_failure_limits() {
    let app = spawn_app_with(&[("LOGIN_FAILURE_RATES", "pair=2/min")]).await;
    app.seed_reference_users();
    for _ in 0..2 {
        assert_eq!(obtain_key(&app, "vitor", "wrong").await.status, 400);
    }
    let locked = obtain_key(&app, "vitor", PASSWORD).await;
    assert_eq!(locked.status, 429);
}

#[tokio::test]
async fn the_dashboard_lists_keys_by_digest_and_revokes_them() {
    use crate::admin::{dashboard_token, page_text, signed_in};
    let app = spawn_token_app("multiple").await;
    let key = key_of(&obtain_key(&app, "vitor", PASSWORD).await);
    let (boss, _) = signed_in(&app, "boss").await;
    let page = page_text(&app, &boss, "/admin/").await;
    assert!(page.contains("Auth token keys"));
    assert!(!page.contains(&key), "the key itself is never shown");
    let id = page
        .split("name=\"key_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let token = dashboard_token(&app, &boss).await;
    let response = boss
        .post(app.url("/admin/authtoken/revoke/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("key_id", id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/admin/?done=key-revoked");
    assert_eq!(hello_with(&app, &format!("Token {key}")).await.status, 401);
}

/// Single mode under parallel obtains: one key for the user, handed to every request.
#[tokio::test]
async fn parallel_obtains_in_single_mode_share_one_key() {
    let app = spawn_app_with(&[
        ("TOKEN_AUTH_KEYS", "single"),
        ("HASHER_QUEUE", "64"),
        ("HASHER_THREADS", "4"),
    ])
    .await;
    app.seed_reference_users();
    let replies =
        futures_util::future::join_all((0..12).map(|_| obtain_key(&app, "vitor", PASSWORD))).await;
    let keys: std::collections::HashSet<String> = replies.iter().map(key_of).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    assert_eq!(
        portcullis::models::auth_tokens::list(&mut conn, 100)
            .unwrap()
            .len(),
        1
    );
}

/// DRF authenticates before the view: with `token` among the classes, a bad
/// `Authorization: Token` header on the obtain view is 401 "Invalid token." with its
/// challenge, as DRF answers (before: 200 with a key).
#[tokio::test]
async fn a_bad_token_header_on_the_obtain_view_is_401_as_drf_answers() {
    let app = spawn_token_app("multiple").await;
    let reply = app
        .send(
            app.request("POST", "/api/auth-token/")
                .header(
                    "Authorization",
                    "Token 0123456789abcdef0123456789abcdef01234567",
                )
                .json(&serde_json::json!({"username": "vitor", "password": PASSWORD})),
        )
        .await;
    reply.assert_json(401, serde_json::json!({"detail": "Invalid token."}));
    assert_eq!(reply.header("www-authenticate"), Some("Token"));
}
