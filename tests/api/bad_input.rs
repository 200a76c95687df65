//! Bad input: a clear JSON error with the right status, no panic, and the server keeps serving.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_body_over_max_body_size_is_413_json() {
    let app = spawn_app_with(&[("MAX_BODY_SIZE", "1024")]).await;
    let big = json!({"username": "x".repeat(2000), "password": "y"});
    let reply = app.post("/api/token/", big).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply.body["detail"].as_str().unwrap().contains("1024"),
        "{}",
        reply.text
    );
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_chunked_body_over_max_body_size_is_413_json() {
    let app = spawn_app_with(&[("MAX_BODY_SIZE", "1024")]).await;
    let mut request = b"POST /api/token/refresh/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
        Connection: close\r\n\r\n"
        .to_vec();
    for _ in 0..8 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b' '; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = app.raw_http(&request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    assert!(answer.contains(r#"{"detail":"#), "{answer}");
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_body_at_the_limit_is_parsed() {
    let app = spawn_app_with(&[("MAX_BODY_SIZE", "64")]).await;
    let body = format!("{{\"token\":\"{}\"}}", "x".repeat(64 - 12));
    assert_eq!(body.len(), 64);
    app.post_raw("/api/token/verify/", "application/json", body)
        .await
        .assert_unauthorized(token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn non_utf8_json_and_deeply_nested_json_are_400_parse_errors() {
    let app = spawn_app().await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in [
        b"{\"username\": \"\xff\xfe\"}".to_vec(),
        nested.into_bytes(),
        b"\x00".to_vec(),
    ] {
        let reply = app.post_raw("/api/token/", "application/json", body).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn wrong_types_for_token_fields_are_400() {
    let app = spawn_app().await;
    for value in [json!(["a"]), json!({"a": 1}), json!(true)] {
        app.post("/api/token/refresh/", json!({"refresh": value}))
            .await
            .assert_error_without_challenge(400, json!({"refresh": ["Not a valid string."]}));
    }
    app.post("/api/token/verify/", json!({"token": null}))
        .await
        .assert_error_without_challenge(400, json!({"token": ["This field may not be null."]}));
    app.post("/api/token/verify/", json!({"token": 12345}))
        .await
        .assert_unauthorized(token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn broken_multipart_and_form_bodies_do_not_break_the_server() {
    let app = spawn_app().await;
    let reply = app
        .post_raw(
            "/api/token/",
            "multipart/form-data; boundary=zz",
            "--zz\r\ngarbage",
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(reply.body["detail"].is_string());
    let no_boundary = app
        .post_raw("/api/token/", "multipart/form-data", "x")
        .await;
    assert_eq!(no_boundary.status, 400, "{}", no_boundary.text);
    let form = app
        .post_raw(
            "/api/token/",
            "application/x-www-form-urlencoded",
            "%%%&=&username=%ff",
        )
        .await;
    form.assert_error_without_challenge(400, json!({"password": ["This field is required."]}));
    app.assert_still_serving().await;
}

#[tokio::test]
async fn non_utf8_authorization_headers_are_clear_401s() {
    let app = spawn_app().await;
    app.seed_reference_users();
    app.hello_with_authorization(b"Bearer \xff\xfe\xfd")
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
    app.hello_with_authorization(b"\xffBearer token")
        .await
        .assert_unauthorized(not_provided());
    app.hello_with_authorization(b"Basic \xe9\xe9")
        .await
        .assert_unauthorized(json!({
            "detail": "Invalid basic header. Credentials not correctly base64 encoded."
        }));
    app.assert_still_serving().await;
}

#[tokio::test]
async fn latin1_basic_credentials_are_decoded_without_error() {
    let app = spawn_app().await;
    use base64::Engine;
    let latin1 = base64::engine::general_purpose::STANDARD.encode(b"j\xf6rg:secret\xff");
    app.hello_with_authorization(format!("Basic {latin1}"))
        .await
        .assert_unauthorized(json!({"detail": "Invalid username/password."}));
}

#[tokio::test]
async fn non_utf8_accept_and_content_type_headers_get_json_errors() {
    let app = spawn_app().await;
    let accept = reqwest::header::HeaderValue::from_bytes(b"application/\xffjson").unwrap();
    let reply = app
        .send(app.request("GET", "/hello/").header("Accept", accept))
        .await;
    reply.assert_error_without_challenge(
        406,
        json!({"detail": "Could not satisfy the request Accept header."}),
    );
    let content_type = reqwest::header::HeaderValue::from_bytes(b"text/\xe9").unwrap();
    let reply = app
        .send(
            app.request("POST", "/api/token/")
                .header("Content-Type", content_type)
                .body("x"),
        )
        .await;
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert!(reply.body["detail"].is_string());
    app.assert_still_serving().await;
}

#[tokio::test]
async fn odd_token_encodings_are_token_is_invalid() {
    let app = spawn_app().await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let padded = {
        let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
        parts[1].push_str("==");
        parts.join(".")
    };
    let standard_alphabet = access.replace('-', "+").replace('_', "/");
    let odd = [
        padded,
        format!("{access}."),
        format!(".{access}"),
        access.replacen('.', "..", 1),
        "....".to_string(),
        "é.é.é".to_string(),
        "%7B%7D.e30.x".to_string(),
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln".to_string(),
        "x".repeat(6000),
        sign_raw(b"not json", b"{}", SECRET_KEY.as_bytes(), "HS256"),
        sign_raw(
            br#"{"alg":"HS256"}"#,
            b"[1,2]",
            SECRET_KEY.as_bytes(),
            "HS256",
        ),
        sign_raw(
            br#"{"alg":"HS256"}"#,
            b"\"str\"",
            SECRET_KEY.as_bytes(),
            "HS256",
        ),
        sign_raw(
            br#"{"alg":"HS256"}"#,
            b"\xff\xfe",
            SECRET_KEY.as_bytes(),
            "HS256",
        ),
    ];
    for token in odd.iter().chain(std::iter::once(&standard_alphabet)) {
        if token == &access {
            continue;
        }
        app.hello_with_token(token)
            .await
            .assert_unauthorized(access_token_not_valid("Token is invalid"));
        app.verify(token)
            .await
            .assert_unauthorized(token_not_valid("Token is invalid"));
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn non_numeric_or_huge_time_claims_are_invalid_not_errors() {
    let app = spawn_app().await;
    app.seed_reference_users();
    for (claim, value) in [
        ("exp", json!("tomorrow")),
        ("iat", json!("now")),
        ("nbf", json!([1])),
        ("iat", json!(now() + 3600)),
        ("nbf", json!(now() + 3600)),
    ] {
        let claims = with_claim(valid_claims("access", "1"), claim, value);
        app.hello_with_token(&app.sign(claims))
            .await
            .assert_unauthorized(access_token_not_valid("Token is invalid"));
    }
    // PyJWT takes it (simplejwt answers 200); the strict profile does not (keys.rs).
    let huge = with_claim(valid_claims("access", "1"), "exp", json!(1e300));
    app.hello_with_token(&app.sign(huge))
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
    let big_id = with_claim(
        valid_claims("access", "1"),
        "user_id",
        json!("99999999999999999999"),
    );
    app.hello_with_token(&app.sign(big_id))
        .await
        .assert_unauthorized(json!({"detail": "User not found", "code": "user_not_found"}));
}

#[tokio::test]
async fn huge_headers_are_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let huge = "a".repeat(300_000);
    let result = app
        .request("GET", "/hello/")
        .header("X-Huge", huge.as_str())
        .send()
        .await;
    if let Ok(response) = result {
        let status = response.status().as_u16();
        assert!(status == 431 || status == 400, "{status}");
    }
    let many = (0..200).fold(app.request("GET", "/hello/"), |b, i| {
        b.header(format!("x-h{i}"), "v")
    });
    if let Ok(response) = many.send().await {
        assert_ne!(response.status().as_u16(), 500);
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_stop_the_server() {
    let app = spawn_app().await;
    for request in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \xff\r\n\r\n",
        b"POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999999999999999\r\n\r\n",
        b"POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"a\"",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ] {
        let answer = app.raw_http(request).await;
        assert!(!answer.contains(" 500 "), "{answer}");
    }
    app.assert_still_serving().await;
}
