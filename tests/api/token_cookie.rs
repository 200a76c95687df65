//! Browser mode (`TOKEN_COOKIE=true`): the refresh token in an HttpOnly, SameSite=Strict cookie
//! on `/api/token/`, read by refresh and blacklist behind a CSRF proof.

use reqwest::header::SET_COOKIE;
use serde_json::json;

use crate::helpers::*;

async fn spawn_cookie_app() -> TestApp {
    let app = spawn_app_with(&[("TOKEN_COOKIE", "true"), ("TOKEN_FAMILIES", "true")]).await;
    app.seed_reference_users();
    app
}

fn refresh_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("refresh_token="))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("refresh_token=")
}

async fn obtain_cookie(app: &TestApp) -> (String, String) {
    let response = app
        .post_json(
            "/api/token/",
            &json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let set_cookie = refresh_cookie(&response).expect("a refresh cookie");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["access"]
    );
    (set_cookie, body["access"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn obtain_sets_a_protected_cookie_and_answers_only_access() {
    let app = spawn_cookie_app().await;
    let (set_cookie, _) = obtain_cookie(&app).await;
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/token/",
        "Max-Age=86400",
    ] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"));
    let secure =
        spawn_app_with(&[("TOKEN_COOKIE", "true"), ("SESSION_COOKIE_SECURE", "true")]).await;
    secure.seed_reference_users();
    let response = secure
        .post_json(
            "/api/token/",
            &json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Secure-refresh_token=") && cookie.contains("Secure"));
}

#[tokio::test]
async fn refresh_reads_the_cookie_behind_a_csrf_proof() {
    let app = spawn_cookie_app().await;
    let (set_cookie, _) = obtain_cookie(&app).await;
    let cookie = format!("refresh_token={}", cookie_value(&set_cookie));
    // No proof: refused with DRF's CSRF message.
    let (status, body) = json(
        app.client
            .post(app.url("/api/token/refresh/"))
            .header("Cookie", &cookie)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (403, json!("CSRF Failed: CSRF cookie not set."))
    );
    // Another site's Origin: refused.
    let foreign = app
        .client
        .post(app.url("/api/token/refresh/"))
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.test")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // The double-submit header matching the csrftoken cookie.
    let secret = "a".repeat(32);
    let response = app
        .client
        .post(app.url("/api/token/refresh/"))
        .header("Cookie", format!("{cookie}; csrftoken={secret}"))
        .header("X-CSRFToken", &secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated = refresh_cookie(&response).expect("the rotated refresh token in the cookie");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["access"]
    );
    // Same-origin Origin, with the rotated cookie.
    let origin = format!("http://127.0.0.1:{}", app.port);
    let response = app
        .client
        .post(app.url("/api/token/refresh/"))
        .header(
            "Cookie",
            format!("refresh_token={}", cookie_value(&rotated)),
        )
        .header("Origin", &origin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The first cookie was rotated: using it again is reuse.
    let reused = app
        .client
        .post(app.url("/api/token/refresh/"))
        .header("Cookie", &cookie)
        .header("Origin", &origin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 401);
}

#[tokio::test]
async fn blacklist_by_cookie_ends_the_session_and_clears_the_cookie() {
    let app = spawn_cookie_app().await;
    let (set_cookie, access) = obtain_cookie(&app).await;
    let response = app
        .client
        .post(app.url("/api/token/blacklist/"))
        .header(
            "Cookie",
            format!("refresh_token={}", cookie_value(&set_cookie)),
        )
        .header("Origin", format!("http://127.0.0.1:{}", app.port))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cleared = refresh_cookie(&response).expect("a clearing cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let hello = app.hello_with_token(&access).await;
    assert_eq!(hello.status, 401);
}

#[tokio::test]
async fn a_token_in_the_body_still_works_in_browser_mode() {
    let app = spawn_cookie_app().await;
    let (set_cookie, _) = obtain_cookie(&app).await;
    let reply = app.refresh(cookie_value(&set_cookie)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body.get("refresh").is_none());
}
