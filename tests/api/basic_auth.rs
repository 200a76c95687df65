//! Basic authentication on `/hello/`: CONTRACT.md section 8.3.
use base64::Engine;
use serde_json::json;

use crate::helpers::*;

fn encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn valid_basic_credentials_get_hello_world() {
    let app = spawn_seeded_app().await;
    app.hello_with_basic("vitor", PASSWORD)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn the_basic_scheme_is_case_insensitive() {
    let app = spawn_seeded_app().await;
    let credentials = encode(&format!("vitor:{PASSWORD}"));
    for scheme in ["basic", "BASIC", "bAsIc"] {
        app.hello_with_authorization(format!("{scheme} {credentials}"))
            .await
            .assert_json(200, hello_world());
    }
}

#[tokio::test]
async fn a_password_containing_colons_is_split_at_the_first_colon() {
    let app = spawn_seeded_app().await;
    app.create_user("colon", "pa:ss:word", Flags::default());
    app.hello_with_basic("colon", "pa:ss:word")
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn wrong_password_unknown_or_inactive_user_is_401_invalid_username_password() {
    let app = spawn_seeded_app().await;
    for (username, password) in [
        ("vitor", "wrong"),
        ("nobody", PASSWORD),
        ("inactive", PASSWORD),
    ] {
        app.hello_with_basic(username, password)
            .await
            .assert_unauthorized(json!({"detail": "Invalid username/password."}));
    }
}

#[tokio::test]
async fn malformed_basic_headers_get_drf_messages_and_the_bearer_challenge() {
    let app = spawn_seeded_app().await;
    let no_colon = format!("Basic {}", encode("vitor"));
    for (header, detail) in [
        (
            "Basic".to_string(),
            "Invalid basic header. No credentials provided.",
        ),
        (
            "Basic a b".to_string(),
            "Invalid basic header. Credentials string should not contain spaces.",
        ),
        (
            "Basic !!!not-base64".to_string(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        (
            no_colon,
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
    ] {
        app.hello_with_authorization(&header)
            .await
            .assert_unauthorized(json!({"detail": detail}));
    }
}

#[tokio::test]
async fn a_bearer_header_never_falls_back_to_basic() {
    let app = spawn_seeded_app().await;
    let reply = app.hello_with_authorization("Bearer garbage").await;
    reply.assert_unauthorized(access_token_not_valid("Token is invalid"));
}

/// `remote_user` (DRF's RemoteUserAuthentication): the header names the user only when a
/// trusted proxy sends it.
#[tokio::test]
async fn a_trusted_proxy_names_the_user_in_a_header() {
    async fn hello_as(app: &TestApp, user: &str) -> Reply {
        app.send(app.request("GET", "/hello/").header("X-Remote-User", user))
            .await
    }
    let trusted = spawn_app_with(&[
        ("AUTHENTICATION_CLASSES", "remote_user,jwt"),
        ("REMOTE_USER_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    trusted.seed_reference_users();
    hello_as(&trusted, "vitor")
        .await
        .assert_json(200, hello_world());
    for refused in ["inactive", "nobody", "", "VITOR"] {
        assert_eq!(hello_as(&trusted, refused).await.status, 403, "{refused:?}");
    }
    // The same header from a peer that is only a TRUSTED_PROXIES proxy (it forwards
    // addresses, it does not authenticate) is ignored.
    let untrusted = spawn_app_with(&[
        ("AUTHENTICATION_CLASSES", "remote_user,jwt"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    untrusted.seed_reference_users();
    assert_eq!(hello_as(&untrusted, "vitor").await.status, 403);
}
