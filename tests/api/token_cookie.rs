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

/// This site's own origin, as a browser sends it on every POST.
fn own_origin(app: &TestApp) -> String {
    format!("http://127.0.0.1:{}", app.port)
}

async fn obtain_cookie(app: &TestApp) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/token/"))
        .header("Origin", own_origin(app))
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
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
        .client
        .post(secure.url("/api/token/"))
        .header("Origin", own_origin(&secure))
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Secure-refresh_token=") && cookie.contains("Secure"));
}

#[tokio::test]
async fn refresh_reads_the_cookie_behind_a_csrf_proof() {
    let app = spawn_cookie_app().await;
    let (set_cookie, _) = obtain_cookie(&app).await;
    let cookie = format!("refresh_token={}", cookie_value(&set_cookie));
    // No page at all (no Origin, no CSRF header): an API client, whose cookies are not read.
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
        (status, body),
        (400, json!({"refresh": ["This field is required."]}))
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
    let origin = own_origin(&app);
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
        .header("Origin", own_origin(&app))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cleared = refresh_cookie(&response).expect("a clearing cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let hello = app.hello_with_token(&access).await;
    assert_eq!(hello.status, 401);
    // A second logout with the dead token (a stale tab): 401 as simplejwt answers, and the
    // cookie is cleared all the same, so the browser is logged out either way.
    for cookie in [cookie_value(&set_cookie).to_string(), "garbage".to_string()] {
        let again = app
            .client
            .post(app.url("/api/token/blacklist/"))
            .header("Cookie", format!("refresh_token={cookie}"))
            .header("Origin", own_origin(&app))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 401);
        assert!(again.headers().contains_key("www-authenticate"));
        let cleared = refresh_cookie(&again).expect("a clearing cookie on 401");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }
}

#[tokio::test]
async fn api_clients_are_unaffected_by_browser_mode() {
    let app = spawn_cookie_app().await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body["refresh"].is_string(), "{}", reply.text);
    assert!(reply.header("set-cookie").is_none());
}

/// Another site's page cannot sign a visitor in as someone else (login CSRF) or out.
#[tokio::test]
async fn another_sites_page_cannot_set_or_clear_the_cookie() {
    let app = spawn_cookie_app().await;
    for (path, body) in [
        (
            "/api/token/",
            json!({"username": "vitor", "password": PASSWORD}),
        ),
        ("/api/token/refresh/", json!({"refresh": "x"})),
        ("/api/token/blacklist/", json!({})),
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("Origin", "http://evil.test")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(refresh_cookie(&response).is_none(), "{path}");
    }
    // Two refresh cookies (one planted from a sibling domain) are refused, not guessed at.
    let (set_cookie, _) = obtain_cookie(&app).await;
    let value = cookie_value(&set_cookie);
    let response = app
        .client
        .post(app.url("/api/token/refresh/"))
        .header(
            "Cookie",
            format!("refresh_token={value}; refresh_token=planted"),
        )
        .header("Origin", own_origin(&app))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
