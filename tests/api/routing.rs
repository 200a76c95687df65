//! Routing, methods and negotiation: CONTRACT.md sections 2, 3 and 10.
use serde_json::json;

use crate::helpers::*;

const TOKEN_PATHS: [&str; 4] = [
    "/api/token/",
    "/api/token/refresh/",
    "/api/token/verify/",
    "/api/token/blacklist/",
];

#[tokio::test]
async fn a_missing_trailing_slash_is_a_301_keeping_the_query() {
    let app = spawn_app().await;
    for (path, location) in [
        ("/hello", "/hello/"),
        ("/hello?x=1&y=2", "/hello/?x=1&y=2"),
        ("/api/token", "/api/token/"),
    ] {
        let reply = app.send(app.request("GET", path)).await;
        assert_eq!(reply.status, 301, "{path}");
        assert_eq!(reply.header("location"), Some(location));
    }
}

#[tokio::test]
async fn a_post_without_trailing_slash_is_redirected_not_served() {
    let app = spawn_app().await;
    app.seed_reference_users();
    for path in TOKEN_PATHS {
        let unslashed = path.trim_end_matches('/');
        let reply = app
            .send(
                app.request("POST", unslashed)
                    .header("Authorization", "Bearer garbage")
                    .json(&json!({"username": "vitor", "password": PASSWORD})),
            )
            .await;
        assert_eq!(reply.status, 301, "{unslashed}");
        assert_eq!(reply.header("location"), Some(path));
        assert_eq!(reply.body, serde_json::Value::Null);
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/nope/",
        "/nope",
        "/HELLO/",
        "/hello/x",
        "/hello//",
        "/api/",
        "/api/token/x/",
    ] {
        let reply = app.send(app.request("GET", path)).await;
        assert_eq!(reply.status, 404, "{path}");
    }
}

#[tokio::test]
async fn token_endpoints_refuse_other_methods_with_405_and_allow() {
    let app = spawn_app().await;
    for path in TOKEN_PATHS {
        for method in ["GET", "PUT", "PATCH", "DELETE"] {
            let reply = app.send(app.request(method, path)).await;
            reply.assert_error_without_challenge(
                405,
                json!({"detail": format!("Method \"{method}\" not allowed.")}),
            );
            assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
        }
        let head = app.send(app.request("HEAD", path)).await;
        assert_eq!(head.status, 405, "HEAD {path}");
        assert_eq!(head.text, "");
        assert_eq!(head.header("allow"), Some("POST, OPTIONS"));
    }
}

#[tokio::test]
async fn token_endpoints_answer_options_with_200_and_allow() {
    let app = spawn_app().await;
    let names = [
        "Token Obtain Pair",
        "Token Refresh",
        "Token Verify",
        "Token Blacklist",
    ];
    for (path, name) in TOKEN_PATHS.into_iter().zip(names) {
        let reply = app.send(app.request("OPTIONS", path)).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
        assert_eq!(reply.body["name"], name);
    }
}

#[tokio::test]
async fn every_api_response_carries_allow() {
    let app = spawn_app().await;
    let hello = app.send(app.request("GET", "/hello/")).await;
    assert_eq!(hello.header("allow"), Some("GET, HEAD, OPTIONS"));
    let obtain = app.post("/api/token/", json!({})).await;
    assert_eq!(obtain.header("allow"), Some("POST, OPTIONS"));
}

#[tokio::test]
async fn an_unsatisfiable_accept_is_406_on_every_view() {
    let app = spawn_app().await;
    for path in ["/hello/"].into_iter().chain(TOKEN_PATHS) {
        let reply = app
            .send(
                app.request("POST", path)
                    .header("Accept", "application/xml")
                    .json(&json!({})),
            )
            .await;
        reply.assert_error_without_challenge(
            406,
            json!({"detail": "Could not satisfy the request Accept header."}),
        );
    }
}

#[tokio::test]
async fn json_compatible_accept_headers_get_json() {
    let app = spawn_app().await;
    for accept in [
        "*/*",
        "application/json",
        "application/*",
        "text/html;q=0.1, application/json",
    ] {
        let reply = app
            .send(app.request("GET", "/hello/").header("Accept", accept))
            .await;
        reply.assert_unauthorized(not_provided());
    }
}

#[tokio::test]
async fn unsupported_media_types_are_415_on_every_token_endpoint() {
    let app = spawn_app().await;
    for path in TOKEN_PATHS {
        for content_type in ["text/plain", "application/xml"] {
            app.post_raw(path, content_type, "x")
                .await
                .assert_error_without_challenge(
                    415,
                    json!({"detail": format!("Unsupported media type \"{content_type}\" in request.")}),
                );
        }
    }
}

/// Every status an API view produces, with `Content-Type: application/json` exactly and a
/// challenge on the 401s only.
#[tokio::test]
async fn every_api_response_is_json_and_only_401s_carry_a_challenge() {
    let app = spawn_app().await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let mut replies = vec![
        app.send(app.request("GET", "/hello/").bearer_auth(&access))
            .await,
        app.send(app.request("GET", "/hello/")).await,
        app.send(app.request("POST", "/hello/").bearer_auth(&access))
            .await,
        app.send(
            app.request("GET", "/hello/")
                .header("Accept", "application/xml"),
        )
        .await,
        app.post_raw("/api/token/", "text/plain", "x").await,
        app.post("/api/token/", json!({})).await,
        app.post("/api/token/", json!({"username": "x", "password": "y"}))
            .await,
        app.send(app.request("OPTIONS", "/api/token/")).await,
    ];
    let throttled = spawn_app_with(&[("THROTTLE_RATES", "anon=1/min,user=1000/min")]).await;
    throttled.verify("x").await;
    replies.push(throttled.verify("x").await);
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 405, 406, 415, 400, 401, 200, 429]);
    for reply in &replies {
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{}",
            reply.status
        );
        let challenge = reply.header("www-authenticate");
        if reply.status == 401 {
            assert_eq!(challenge, Some(BEARER_CHALLENGE));
        } else {
            assert_eq!(challenge, None, "{}", reply.status);
        }
    }
}

// --- [D] rows: Django's pages and DRF's headers --------------------------------------------

#[tokio::test]
async fn redirects_and_404s_are_django_html_pages() {
    let app = spawn_app().await;
    let redirect = app.send(app.request("GET", "/hello")).await;
    assert_eq!(redirect.text, "");
    assert_eq!(
        redirect.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let missing = app.send(app.request("GET", "/nope/")).await;
    assert_eq!(
        missing.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        missing.text.contains(
            "<h1>Not Found</h1><p>The requested resource was not found on this server.</p>"
        )
    );
}

#[tokio::test]
async fn api_responses_carry_vary_and_the_security_headers() {
    let app = spawn_app().await;
    let reply = app.post("/api/token/verify/", json!({"token": "x"})).await;
    assert!(reply.header("vary").unwrap().starts_with("Accept"));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(reply.header(name), Some(value), "{name}");
    }
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn json_is_compact_unless_an_indent_is_asked_for() {
    let app = spawn_app().await;
    let compact = app.post("/api/token/verify/", json!({})).await;
    assert_eq!(compact.text, r#"{"token":["This field is required."]}"#);
    let pretty = app
        .send(
            app.request("POST", "/api/token/verify/")
                .header("Accept", "application/json; indent=4")
                .json(&json!({})),
        )
        .await;
    assert_eq!(
        pretty.text,
        "{\n    \"token\": [\n        \"This field is required.\"\n    ]\n}"
    );
}

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn a_browser_gets_the_browsable_api_page() {
    let app = spawn_seeded_app().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(
            app.request("GET", "/hello/")
                .header("Accept", BROWSER_ACCEPT)
                .header("Authorization", format!("Bearer {access}")),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert!(reply.header("vary").unwrap().starts_with("Accept"));
    assert!(reply.text.contains("<h1>Hello</h1>"), "{}", reply.text);
    assert!(reply.text.contains("HTTP 200 OK"));
    assert!(
        reply
            .text
            .contains("&quot;message&quot;: &quot;Hello, World!&quot;")
    );
}

#[tokio::test]
async fn the_browsable_api_keeps_error_statuses_and_challenges() {
    let app = spawn_app().await;
    let reply = app
        .send(app.request("GET", "/hello/").header("Accept", "text/html"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        reply
            .text
            .contains("Authentication credentials were not provided.")
    );
    let reply = app
        .send(
            app.request("GET", "/api/token/")
                .header("Accept", "text/html"),
        )
        .await;
    assert_eq!(reply.status, 405);
    assert!(reply.text.contains("HTTP 405 Method Not Allowed"));
}

#[tokio::test]
async fn token_endpoint_options_describe_their_fields_as_drf_does() {
    let app = spawn_app().await;
    let reply = app.send(app.request("OPTIONS", "/api/token/")).await;
    // The reference's body, byte for byte once parsed (simplejwt 5.5.1, DRF 3.18.3).
    let expected = json!({
        "name": "Token Obtain Pair",
        "description": "Takes a set of user credentials and returns an access and refresh JSON web\ntoken pair to prove the authentication of those credentials.",
        "renders": ["application/json", "text/html"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        "actions": {"POST": {
            "username": {"type": "string", "required": true, "read_only": false, "label": "Username"},
            "password": {"type": "string", "required": true, "read_only": false, "label": "Password"},
        }},
    });
    reply.assert_json(200, expected);
    let refresh = app
        .send(app.request("OPTIONS", "/api/token/refresh/"))
        .await;
    assert_eq!(
        refresh.body["actions"]["POST"]["access"],
        json!({"type": "string", "required": false, "read_only": true, "label": "Access"})
    );
}

/// The tutorial's API lives in the `snippets` example: the `portcullis` binary's own routes
/// leave `/api/` and `/api/snippets/` unanswered.
#[tokio::test]
async fn the_portcullis_binary_keeps_api_a_404() {
    let app = crate::helpers::spawn_app().await;
    for path in ["/api/", "/api/snippets/", "/api/users/"] {
        assert_eq!(app.get(path).await.status().as_u16(), 404, "{path}");
    }
}
