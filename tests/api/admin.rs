//! The administrators' HTML pages: login, dashboard, logout, CSRF, throttling, redirects.

use reqwest::header::{LOCATION, SET_COOKIE};

use crate::helpers::*;

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first hidden `csrfmiddlewaretoken` field of a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the page") + marker.len();
    html[start..start + 64].to_string()
}

/// The `Set-Cookie` lines of a response that set `name`.
pub fn set_cookies(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .collect()
}

/// The session id a response sets, if any.
pub fn session_id(response: &reqwest::Response) -> Option<String> {
    set_cookies(response, "sessionid")
        .first()
        .and_then(|c| c.split(';').next())
        .map(|pair| pair.trim_start_matches("sessionid=").to_string())
        .filter(|id| !id.is_empty() && id != "\"\"")
}

/// Fetches the login page with `client` and posts the credentials; returns the POST's response.
/// The text of a page, as `client` (with its cookies) sees it.
pub async fn page_text(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The login form's CSRF token for `client` (its cookie is then set).
pub async fn login_token(app: &TestApp, client: &reqwest::Client) -> String {
    csrf_token(&page_text(app, client, "/admin/login/").await)
}

pub async fn post_login(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    next: Option<&str>,
) -> reqwest::Response {
    let token = login_token(app, client).await;
    let mut form = vec![
        ("csrfmiddlewaretoken", token.as_str()),
        ("username", username),
        ("password", password),
    ];
    if let Some(next) = next {
        form.push(("next", next));
    }
    client
        .post(app.url("/admin/login/"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub fn staff() -> Flags {
    Flags {
        staff: true,
        ..Default::default()
    }
}

/// A signed-in staff browser and its session id.
pub async fn signed_in(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    app.create_user(username, PASSWORD, staff());
    let client = browser();
    let response = post_login(app, &client, username, PASSWORD, None).await;
    assert_eq!(response.status(), 302);
    let id = session_id(&response).expect("a session cookie");
    (client, id)
}

/// The dashboard's CSRF token for a signed-in browser.
pub async fn dashboard_token(app: &TestApp, client: &reqwest::Client) -> String {
    let page = client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    csrf_token(&page.text().await.unwrap())
}

pub fn location(response: &reqwest::Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn anonymous_dashboard_redirects_to_the_login_page() {
    let app = spawn_app().await;
    let response = app.get("/admin/").await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/admin/login/?next=/admin/");
}

#[tokio::test]
async fn admin_paths_without_slash_get_301() {
    let app = spawn_app().await;
    for (path, target) in [("/admin", "/admin/"), ("/admin/login", "/admin/login/")] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 301, "{path}");
        assert_eq!(location(&response), target);
    }
}

#[tokio::test]
async fn login_page_has_a_csrf_field_and_a_protected_cookie() {
    let app = spawn_app().await;
    let response = app.get("/admin/login/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let cookie = set_cookies(&response, "csrftoken")
        .pop()
        .expect("csrftoken");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let html = response.text().await.unwrap();
    assert_eq!(csrf_token(&html).len(), 64);
    assert!(html.contains("/static/admin.css"));
}

#[tokio::test]
async fn stylesheet_is_served_under_static() {
    let app = spawn_app().await;
    let response = app.get("/static/admin.css").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn staff_login_sets_a_protected_session_cookie_and_updates_last_login() {
    let app = spawn_app().await;
    let id = app.create_user("boss", PASSWORD, staff());
    let client = browser();
    let response = post_login(&app, &client, "boss", PASSWORD, None).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/admin/");
    let cookie = set_cookies(&response, "sessionid").pop().unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"] {
        assert!(cookie.contains(flag), "{flag} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"));
    let page = client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("boss"));
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let users = portcullis::models::users::list(&mut conn).unwrap();
    let me = users.iter().find(|u| u.id == id).unwrap();
    assert!(me.last_login.is_some_and(|t| (t - now()).abs() < 60));
}

#[tokio::test]
async fn session_cookie_is_secure_when_configured() {
    let app = spawn_app_with(&[("SESSION_COOKIE_SECURE", "true")]).await;
    app.create_user("boss", PASSWORD, staff());
    let response = post_login(&app, &browser(), "boss", PASSWORD, None).await;
    let cookie = set_cookies(&response, "sessionid").pop().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn every_refused_login_gets_the_same_page_and_status() {
    let app = spawn_app().await;
    app.create_user("boss", PASSWORD, staff());
    app.create_user("plain", PASSWORD, Flags::default());
    app.create_user(
        "gone",
        PASSWORD,
        Flags {
            inactive: true,
            staff: true,
            ..Default::default()
        },
    );
    let cases = [
        ("boss", "wrong"),
        ("nobody", PASSWORD),
        ("plain", PASSWORD),
        ("gone", PASSWORD),
        ("BOSS", PASSWORD),
        ("boss", ""),
    ];
    let mut pages = Vec::new();
    for (username, password) in cases {
        let response = post_login(&app, &browser(), username, password, None).await;
        assert_eq!(response.status(), 200, "{username}");
        assert!(session_id(&response).is_none(), "{username}");
        let html = response.text().await.unwrap();
        // Only the freshly masked token and the echoed username may differ.
        let token = csrf_token(&html);
        pages.push(
            html.replace(&token, "TOKEN")
                .replace(&format!("value=\"{username}\""), "value=\"USER\""),
        );
    }
    assert!(pages[0].contains("Please enter the correct username and password"));
    assert!(pages.iter().all(|p| *p == pages[0]));
}

#[tokio::test]
async fn login_without_a_valid_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    app.create_user("boss", PASSWORD, staff());
    let form = [("username", "boss"), ("password", PASSWORD)];
    // No cookie at all.
    let response = app
        .client
        .post(app.url("/admin/login/"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "CSRF cookie not set.").await;
    // Cookie, but no token, then a wrong token.
    let client = browser();
    client.get(app.url("/admin/login/")).send().await.unwrap();
    let response = client
        .post(app.url("/admin/login/"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "CSRF token missing.").await;
    let wrong = [
        ("csrfmiddlewaretoken", "a".repeat(64)),
        ("username", "boss".into()),
        ("password", PASSWORD.into()),
    ];
    let response = client
        .post(app.url("/admin/login/"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "CSRF token from POST incorrect.").await;
}

/// A 403 page that gives Django's CSRF `reason`.
async fn assert_csrf_refused(response: reqwest::Response, reason: &str) {
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains(reason), "{reason:?} not in {page}");
}

/// A browser whose cookie jar the test can plant cookies in, as an attacker would.
fn browser_with_jar() -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

#[tokio::test]
async fn login_issues_a_new_session_id_and_ends_a_planted_one() {
    let app = spawn_app().await;
    app.create_user("victim", PASSWORD, staff());
    // The attacker's own valid session, and an id never issued.
    let (_, attackers) = signed_in(&app, "attacker").await;
    let url: reqwest::Url = app.address.parse().unwrap();
    for planted in [attackers.clone(), "ab".repeat(32)] {
        let (client, jar) = browser_with_jar();
        let page = client.get(app.url("/admin/login/")).send().await.unwrap();
        let token = csrf_token(&page.text().await.unwrap());
        jar.add_cookie_str(&format!("sessionid={planted}; Path=/"), &url);
        let response = client
            .post(app.url("/admin/login/"))
            .form(&[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", "victim"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let fresh = session_id(&response).unwrap();
        assert_ne!(fresh, planted);
        assert_eq!(fresh.len(), 64);
    }
    // The planted live session was ended by the sign-in over it.
    let replay = app.get_with_session("/admin/", &attackers).await;
    assert_eq!(replay.status(), 302);
}

#[tokio::test]
async fn logout_ends_the_session_server_side() {
    let app = spawn_app().await;
    let (client, id) = signed_in(&app, "boss").await;
    let token = dashboard_token(&app, &client).await;
    let response = client
        .post(app.url("/admin/logout/"))
        .form(&[("csrfmiddlewaretoken", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/admin/login/");
    // The old cookie, replayed by anyone, no longer works.
    let replay = app.get_with_session("/admin/", &id).await;
    assert_eq!(replay.status(), 302);
    let hello = app.get_with_session("/hello/", &id).await;
    assert_eq!(hello.status(), 401);
}

#[tokio::test]
async fn logout_needs_post_and_a_csrf_token() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let response = client.get(app.url("/admin/logout/")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let response = client
        .post(app.url("/admin/logout/"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Still signed in.
    assert_eq!(
        client
            .get(app.url("/admin/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn next_is_followed_only_to_paths_of_this_site() {
    let app = spawn_app().await;
    app.create_user("boss", PASSWORD, staff());
    for (next, expected) in [
        ("/hello/", "/hello/"),
        ("https://evil.test/", "/admin/"),
        ("//evil.test/", "/admin/"),
        ("/\\evil.test", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ] {
        let response = post_login(&app, &browser(), "boss", PASSWORD, Some(next)).await;
        assert_eq!(response.status(), 302, "{next}");
        assert_eq!(location(&response), expected, "{next}");
    }
    let page = app
        .get("/admin/login/?next=//evil.test/")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("evil.test"));
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_and_username() {
    let app = spawn_app_with(&[("LOGIN_FAILURE_RATES", "pair=2/min")]).await;
    app.create_user("boss", PASSWORD, staff());
    for username in ["boss", "nobody"] {
        for _ in 0..2 {
            let response = post_login(&app, &browser(), username, "wrong", None).await;
            assert_eq!(response.status(), 200);
        }
        let response = post_login(&app, &browser(), username, "wrong", None).await;
        assert_eq!(response.status(), 429, "{username}");
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait));
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Too many failed login attempts")
        );
    }
    // Even the right password is refused during the lockout.
    let response = post_login(&app, &browser(), "boss", PASSWORD, None).await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn successful_logins_do_not_count_towards_the_lockout() {
    let app = spawn_app_with(&[("LOGIN_FAILURE_RATES", "pair=2/min")]).await;
    app.create_user("boss", PASSWORD, staff());
    for attempt in 0..4 {
        let response = post_login(&app, &browser(), "boss", PASSWORD, None).await;
        assert_eq!(response.status(), 302, "sign-in {attempt}");
    }
    let response = post_login(&app, &browser(), "boss", "wrong", None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn dashboard_lists_users_and_blacklists_a_token() {
    let app = spawn_app().await;
    app.seed_reference_users();
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let jti = claims(&refresh)["jti"].as_str().unwrap().to_string();
    let (client, _) = signed_in(&app, "boss").await;
    let page = client
        .get(app.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in ["vitor", "inactive", "admin", "boss", jti.as_str()] {
        assert!(page.contains(name), "{name} missing");
    }
    let token = csrf_token(&page);
    let response = client
        .post(app.url("/admin/tokens/blacklist/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("jti", jti.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/admin/?done=blacklisted");
    let (status, body) = json(
        app.post_json(
            "/api/token/refresh/",
            &serde_json::json!({"refresh": refresh}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Token is blacklisted");
    let page = client
        .get(app.url("/admin/?done=blacklisted"))
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("The token was blacklisted."));
    assert!(!page.contains(&jti));
}

#[tokio::test]
async fn dashboard_deactivates_a_user_and_ends_their_sessions() {
    let app = spawn_app().await;
    let (boss, _) = signed_in(&app, "boss").await;
    let (other, _) = signed_in(&app, "other").await;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let other_id = portcullis::models::users::list(&mut conn)
        .unwrap()
        .into_iter()
        .find(|u| u.username == "other")
        .unwrap()
        .id;
    let token = dashboard_token(&app, &boss).await;
    let response = boss
        .post(app.url("/admin/users/deactivate/"))
        .form(&[
            ("csrfmiddlewaretoken", token.clone()),
            ("user_id", other_id.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/admin/?done=deactivated");
    assert_eq!(
        other.get(app.url("/admin/")).send().await.unwrap().status(),
        302
    );
    let (status, _) = json(
        app.post_json(
            "/api/token/",
            &serde_json::json!({"username": "other", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn dashboard_actions_need_a_csrf_token() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let response = client
        .post(app.url("/admin/users/deactivate/"))
        .form(&[("user_id", "1")])
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "CSRF token missing.").await;
}

#[tokio::test]
async fn non_staff_sessions_do_not_open_the_dashboard() {
    let app = spawn_app().await;
    let (client, _) = signed_in(&app, "boss").await;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    use diesel::prelude::*;
    use portcullis::db::schema::users;
    diesel::update(users::table.filter(users::username.eq("boss")))
        .set(users::is_staff.eq(false))
        .execute(&mut conn)
        .unwrap();
    // The user cache keeps a user at most USER_CACHE_TTL_MS (1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/admin/login/?next=/admin/");
}

/// Posts one dashboard action as `client`; the outcome code in the redirect.
async fn dashboard_action(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    field: (&str, &str),
) -> String {
    let token = dashboard_token(app, client).await;
    let response = client
        .post(app.url(path))
        .form(&[("csrfmiddlewaretoken", token.as_str()), field])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    location(&response)
        .strip_prefix("/admin/?done=")
        .unwrap()
        .to_string()
}

/// A staff member who is not a superuser cannot reach a superuser's credentials: neither
/// blacklist their refresh token nor revoke their authtoken key (before: both worked); a
/// superuser can.
#[tokio::test]
async fn only_a_superuser_acts_on_a_superusers_credentials() {
    let app = spawn_app_with(&[("AUTHENTICATION_CLASSES", "jwt,session,basic,token")]).await;
    app.create_user(
        "root",
        PASSWORD,
        Flags {
            staff: true,
            superuser: true,
            ..Default::default()
        },
    );
    let (refresh, _) = app.obtain("root", PASSWORD).await;
    let jti = claims(&refresh)["jti"].as_str().unwrap().to_string();
    let key = app
        .post(
            "/api/auth-token/",
            serde_json::json!({"username": "root", "password": PASSWORD}),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let key_id: i32 = {
        use diesel::prelude::*;
        use portcullis::db::schema::auth_tokens;
        auth_tokens::table
            .select(auth_tokens::id)
            .first(&mut conn)
            .unwrap()
    };
    let key_id = key_id.to_string();

    let (staff_member, _) = signed_in(&app, "boss").await;
    let blacklist = ("jti", jti.as_str());
    let revoke = ("key_id", key_id.as_str());
    for (path, field) in [
        ("/admin/tokens/blacklist/", blacklist),
        ("/admin/authtoken/revoke/", revoke),
    ] {
        let outcome = dashboard_action(&app, &staff_member, path, field).await;
        assert_eq!(outcome, "superuser-only", "{path}");
    }
    assert_eq!(app.refresh(&refresh).await.status, 200);
    let with_key = app.hello_with_authorization(format!("Token {key}")).await;
    assert_eq!(with_key.status, 200, "{}", with_key.text);

    let superuser = browser();
    let response = post_login(&app, &superuser, "root", PASSWORD, None).await;
    assert_eq!(response.status(), 302);
    let outcome = dashboard_action(&app, &superuser, "/admin/authtoken/revoke/", revoke).await;
    assert_eq!(outcome, "key-revoked");
    let with_key = app.hello_with_authorization(format!("Token {key}")).await;
    assert_eq!(with_key.status, 401, "{}", with_key.text);
}

/// The dashboard's "Blacklist" ends the token's family as `/api/token/blacklist/` does: its
/// access tokens stop at once (before: they kept working until they expired).
#[tokio::test]
async fn blacklisting_from_the_dashboard_ends_the_family() {
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "true")]).await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let (_, other_session) = app.obtain("vitor", PASSWORD).await;
    let jti = claims(&refresh)["jti"].as_str().unwrap().to_string();
    let (client, _) = signed_in(&app, "boss").await;
    let outcome = dashboard_action(
        &app,
        &client,
        "/admin/tokens/blacklist/",
        ("jti", jti.as_str()),
    )
    .await;
    assert_eq!(outcome, "blacklisted");
    let reply = app.hello_with_token(&access).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(
        reply.body["messages"][0]["message"], "Token is revoked",
        "{}",
        reply.text
    );
    assert_eq!(app.refresh(&refresh).await.status, 401);
    // The user's other session goes on.
    app.hello_with_token(&other_session)
        .await
        .assert_json(200, hello_world());
}
