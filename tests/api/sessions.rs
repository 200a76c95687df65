//! SessionAuthentication on the API (CONTRACT.md 8.4): sessions, CSRF, cookie clearing, Vary.

use serde_json::json;

use crate::admin::{dashboard_token, signed_in};
use crate::helpers::*;

const CLEAR_COOKIE: &str =
    "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax";

/// `POST /hello/` from a signed-in browser with a CSRF token in `X-CSRFToken`.
fn post_hello(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::RequestBuilder {
    client.post(app.url("/hello/")).header("X-CSRFToken", token)
}

#[tokio::test]
async fn a_session_authenticates_get_and_varies_on_cookie() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let response = client.get(app.url("/hello/")).send().await.unwrap();
    assert_eq!(response.headers()["vary"], "Accept, Cookie");
    let reply = reply(response).await;
    reply.assert_json(200, hello_world());
}

#[tokio::test]
async fn unsafe_method_without_csrf_token_is_403_before_405() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let reply = reply(client.post(app.url("/hello/")).send().await.unwrap()).await;
    reply
        .assert_error_without_challenge(403, json!({"detail": "CSRF Failed: CSRF token missing."}));
}

#[tokio::test]
async fn wrong_csrf_token_gets_djangos_reason() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    for (token, reason) in [
        (
            "a".repeat(64),
            "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
        ),
        (
            "short".to_string(),
            "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.",
        ),
    ] {
        let reply = reply(
            client
                .delete(app.url("/hello/"))
                .header("X-CSRFToken", token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        reply.assert_error_without_challenge(
            403,
            json!({"detail": format!("CSRF Failed: {reason}")}),
        );
    }
}

#[tokio::test]
async fn right_csrf_token_reaches_the_method_check() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let token = dashboard_token(&app, &client).await;
    let reply = app
        .send(post_hello(&app, &client, &token).header("Referer", app.url("/admin/")))
        .await;
    reply.assert_json(405, json!({"detail": "Method \"POST\" not allowed."}));
}

#[tokio::test]
async fn foreign_origin_is_refused_even_with_the_right_token() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let token = dashboard_token(&app, &client).await;
    let reply = app
        .send(post_hello(&app, &client, &token).header("Origin", "http://evil.test"))
        .await;
    reply.assert_error_without_challenge(
        403,
        json!({"detail": "CSRF Failed: Origin checking failed - http://evil.test does not match any trusted origins."}),
    );
}

#[tokio::test]
async fn over_https_the_referer_must_be_this_site() {
    // Behind a trusted proxy that says the client used HTTPS.
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let (client, _) = signed_in(&app, "boss").await;
    let token = dashboard_token(&app, &client).await;
    let host = format!("127.0.0.1:{}", app.port);
    let post = |referer: Option<String>| {
        let mut request = post_hello(&app, &client, &token).header("X-Forwarded-Proto", "https");
        if let Some(referer) = referer {
            request = request.header("Referer", referer);
        }
        request.send()
    };
    let reply_none = reply(post(None).await.unwrap()).await;
    reply_none.assert_error_without_challenge(
        403,
        json!({"detail": "CSRF Failed: Referer checking failed - no Referer."}),
    );
    let insecure = reply(post(Some(format!("http://{host}/admin/"))).await.unwrap()).await;
    assert_eq!(
        insecure.body["detail"],
        "CSRF Failed: Referer checking failed - Referer is insecure while host is secure."
    );
    let good = reply(post(Some(format!("https://{host}/admin/"))).await.unwrap()).await;
    assert_eq!(good.status, 405);
}

#[tokio::test]
async fn jwt_and_basic_need_no_csrf_token() {
    let app = spawn_app().await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let response = app
        .client
        .post(app.url("/hello/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["vary"], "Accept");
    let response = app
        .client
        .post(app.url("/hello/"))
        .basic_auth("vitor", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn jwt_is_checked_before_the_session() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let reply = reply(
        client
            .get(app.url("/hello/"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["code"], "token_not_valid");
}

#[tokio::test]
async fn unknown_session_is_anonymous_and_cleared() {
    let app = spawn_app().await;
    for value in ["ab".repeat(32), "not-a-session".to_string()] {
        let response = app.get_with_session("/hello/", &value).await;
        let set_cookie: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(set_cookie, [CLEAR_COOKIE]);
        assert_eq!(response.headers()["vary"], "Accept, Cookie");
        let reply = reply(response).await;
        reply.assert_unauthorized(
            json!({"detail": "Authentication credentials were not provided."}),
        );
    }
}

#[tokio::test]
async fn anonymous_hello_varies_on_cookie_without_clearing_anything() {
    let app = spawn_app().await;
    let response = app.get("/hello/").await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["vary"], "Accept, Cookie");
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn expired_sessions_are_anonymous_and_clearsessions_deletes_them() {
    let app = spawn_app_with(&[("SESSION_COOKIE_AGE", "1")]).await;
    let (_, id) = signed_in(&app, "boss").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.get_with_session("/hello/", &id).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["set-cookie"], CLEAR_COOKIE);
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    assert_eq!(portcullis::models::sessions::count(&mut conn).unwrap(), 1);
    let output = app.run_command(&["clearsessions"], "");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "Deleted 1 expired sessions."
    );
    assert_eq!(portcullis::models::sessions::count(&mut conn).unwrap(), 0);
}

#[tokio::test]
async fn only_a_hash_of_the_session_id_is_stored() {
    let app = spawn_app().await;
    let (_, id) = signed_in(&app, "boss").await;
    use diesel::prelude::*;
    use portcullis::db::schema::sessions;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let stored: Vec<String> = sessions::table
        .select(sessions::key_hash)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored, [portcullis::models::sessions::hash_key(&id)]);
    assert_ne!(stored[0], id);
}

#[tokio::test]
async fn changing_the_password_ends_the_users_sessions() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let changed = app.run_command(&["changepassword", "boss"], "a-new-password\n");
    assert!(changed.status.success(), "{changed:?}");
    let reply = reply(client.get(app.url("/hello/")).send().await.unwrap()).await;
    assert_eq!(reply.status, 401);
}
