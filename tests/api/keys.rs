//! simplejwt's `ALGORITHM`, `SIGNING_KEY`, `VERIFYING_KEY`, `AUDIENCE` and `ISSUER`: key pairs
//! generated here, written to files or given inline, through the real server.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use serde_json::json;

use crate::helpers::*;

fn pem(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

/// (private PKCS#8 PEM, public SPKI PEM) of a new RSA 2048 key.
fn rsa_pair() -> (String, String) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let private: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
    let public: aws_lc_rs::encoding::PublicKeyX509Der = pair.public_key().as_der().unwrap();
    (
        pem("PRIVATE KEY", private.as_ref()),
        pem("PUBLIC KEY", public.as_ref()),
    )
}

fn ed25519_private() -> String {
    let pair = Ed25519KeyPair::generate().unwrap();
    let private: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
    pem("PRIVATE KEY", private.as_ref())
}

/// A P-256 key in SEC1 form (`EC PRIVATE KEY`), as `openssl ecparam -genkey` writes it.
fn ec_sec1_private() -> String {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let sec1: aws_lc_rs::encoding::EcPrivateKeyRfc5915Der = pair.private_key().as_der().unwrap();
    pem("EC PRIVATE KEY", sec1.as_ref())
}

/// The token's claim names, in order.
fn claim_names(token: &str) -> Vec<String> {
    claims(token).as_object().unwrap().keys().cloned().collect()
}

async fn obtains_and_says_hello(app: &TestApp, alg: &str) -> String {
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(header(&access), json!({"alg": alg, "typ": "JWT"}));
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    access
}

#[tokio::test]
async fn rs256_with_key_files_and_a_verify_only_instance() {
    let (private, public) = rsa_pair();
    let dir = tempfile::tempdir().unwrap();
    let private_path = dir.path().join("private.pem");
    let public_path = dir.path().join("public.pem");
    std::fs::write(&private_path, &private).unwrap();
    std::fs::write(&public_path, &public).unwrap();
    let issuer = spawn_app_with(&[
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_SIGNING_KEY_FILE", private_path.to_str().unwrap()),
    ])
    .await;
    let access = obtains_and_says_hello(&issuer, "RS256").await;
    // Another service with the public key only verifies, and issues nothing.
    let verifier = spawn_app_with(&[
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_VERIFYING_KEY_FILE", public_path.to_str().unwrap()),
    ])
    .await;
    verifier.seed_reference_users();
    verifier
        .hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let (status, body) = json(
        verifier
            .post_json(
                "/api/token/",
                &json!({"username": "vitor", "password": PASSWORD}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("only verifies"));
    // An HS256 token signed with the SECRET_KEY (or with the public key as an HMAC secret,
    // the classic confusion attack) is refused: the algorithm is pinned.
    let claims = json!({"token_type": "access", "exp": now() + 60, "jti": "x", "user_id": "1"});
    for secret in [SECRET_KEY.as_bytes(), public.as_bytes()] {
        let forged =
            portcullis::jwt::TokenBackend::new(secret, portcullis::jwt::JwtAlgorithm::HS256, 0)
                .encode(claims.as_object().unwrap())
                .unwrap();
        assert_eq!(issuer.hello_with_token(&forged).await.status, 401);
    }
    let signed = issuer.sign(claims.clone());
    issuer
        .hello_with_token(&signed)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn eddsa_with_an_inline_key() {
    let inline = ed25519_private().replace('\n', "\\n");
    let app = spawn_app_with(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEY", &inline)]).await;
    obtains_and_says_hello(&app, "EdDSA").await;
}

#[tokio::test]
async fn es256_with_a_sec1_key() {
    let app = spawn_app_with(&[
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SIGNING_KEY", &ec_sec1_private()),
    ])
    .await;
    obtains_and_says_hello(&app, "ES256").await;
}

#[test]
fn a_key_that_does_not_fit_stops_startup_naming_the_variable() {
    let (_, rsa_public) = rsa_pair();
    let other_private = ed25519_private();
    let config = |vars: &[(&str, &str)]| {
        let mut all = vec![("SECRET_KEY", SECRET_KEY), ("DATABASE_URL", ":memory:")];
        all.extend_from_slice(vars);
        portcullis::config::Config::from_lookup(|name| {
            all.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let err = config(&[
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_SIGNING_KEY", &other_private),
    ])
    .unwrap_err();
    assert_eq!(err.name, "JWT_SIGNING_KEY", "{err}");
    let (rsa_private, _) = rsa_pair();
    let err = config(&[
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_SIGNING_KEY", &rsa_private),
        ("JWT_VERIFYING_KEY", &rsa_public),
    ])
    .unwrap_err();
    assert!(err.message.contains("does not match"), "{err}");
    let err = config(&[("JWT_ALGORITHM", "RS256")]).unwrap_err();
    assert_eq!(err.name, "JWT_VERIFYING_KEY", "{err}");
    let err = config(&[("JWT_ALGORITHM", "HS999")]).unwrap_err();
    assert_eq!(err.name, "JWT_ALGORITHM");
}

#[tokio::test]
async fn audience_and_issuer_are_added_and_required() {
    let app = spawn_app_with(&[
        ("JWT_AUDIENCE", "orders"),
        ("JWT_ISSUER", "https://auth.example"),
    ])
    .await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let keys = claim_names(&access);
    assert_eq!(
        keys,
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "aud",
            "iss"
        ]
    );
    assert_eq!(claims(&refresh)["aud"], "orders");
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let base = json!({"token_type": "access", "exp": now() + 60, "jti": "j", "user_id": "1"});
    let with = |extra: serde_json::Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.sign(claims)
    };
    let invalid = access_token_not_valid("Token is invalid");
    for bad in [
        json!({"iss": "https://auth.example"}),
        json!({"aud": "billing", "iss": "https://auth.example"}),
        json!({"aud": "orders"}),
        json!({"aud": "orders", "iss": "https://evil.example"}),
        json!({"aud": [1, "orders"], "iss": "https://auth.example"}),
    ] {
        app.hello_with_token(&with(bad.clone()))
            .await
            .assert_unauthorized(invalid.clone());
    }
    let listed = with(json!({"aud": ["billing", "orders"], "iss": "https://auth.example"}));
    app.hello_with_token(&listed)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn the_token_header_name_and_the_active_check_follow_the_settings() {
    let app = spawn_app_with(&[
        ("AUTH_HEADER_NAME", "HTTP_X_ACCESS_TOKEN"),
        ("CHECK_USER_IS_ACTIVE", "false"),
        ("UPDATE_LAST_LOGIN", "true"),
    ])
    .await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let in_custom_header = app
        .send(
            app.request("GET", "/hello/")
                .header("X-Access-Token", format!("Bearer {access}")),
        )
        .await;
    in_custom_header.assert_json(200, hello_world());
    // `Authorization` is now another class's header (Basic, session): no JWT there.
    let in_authorization = app.hello_with_token(&access).await;
    assert_eq!(in_authorization.status, 401);
    // UPDATE_LAST_LOGIN: obtain stamped the user.
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let user = portcullis::models::users::list(&mut conn)
        .unwrap()
        .into_iter()
        .find(|u| u.username == "vitor")
        .unwrap();
    assert!(user.last_login.is_some());
    // CHECK_USER_IS_ACTIVE=false: a deactivated user's tokens keep working (as simplejwt).
    portcullis::models::users::set_active(&mut conn, user.id, false).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// `jwt_stateless`: a service with no users of its own trusts the token's user, with no
/// database read; `request.user` is the token's user.
#[tokio::test]
async fn a_stateless_service_takes_the_user_from_the_token() {
    use portcullis::rest::permissions::IsAdminUser;
    use portcullis::rest::{APIView, Response};
    use std::sync::Arc;
    let app = spawn_app_with_views(&[("AUTHENTICATION_CLASSES", "jwt_stateless")], |_| {
        let staff_only = APIView::new("Staff")
            .permission_classes(vec![Arc::new(IsAdminUser)])
            .get(|request| async move {
                let user = request.user.as_ref().unwrap();
                Ok(Response::ok(
                    json!({"id": user.id, "username": user.username}),
                ))
            });
        vec![("/staff/", staff_only)]
    })
    .await;
    // No user rows at all: user 42 exists only in the token.
    let claims = |extra: serde_json::Value| {
        let mut claims =
            json!({"token_type": "access", "exp": now() + 60, "jti": "j", "user_id": "42"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.sign(claims)
    };
    let member = claims(json!({"username": "ada"}));
    app.hello_with_token(&member)
        .await
        .assert_json(200, hello_world());
    let forbidden = app
        .send(app.request("GET", "/staff/").bearer_auth(&member))
        .await;
    assert_eq!(forbidden.status, 403);
    let staff = claims(json!({"username": "ada", "is_staff": true}));
    app.send(app.request("GET", "/staff/").bearer_auth(&staff))
        .await
        .assert_json(200, json!({"id": 42, "username": "ada"}));
    // simplejwt's TokenUser takes whatever the token names (checked with the reference): a
    // service name, null; only a token naming no user at all is refused.
    for named in [json!("svc-billing"), json!(null), json!([1])] {
        let reply = app
            .hello_with_token(&claims(json!({"user_id": named})))
            .await;
        assert_eq!(reply.status, 200, "{named}: {}", reply.text);
    }
    let mut nameless = json!({"token_type": "access", "exp": now() + 60, "jti": "j"});
    let reply = app.hello_with_token(&app.sign(nameless.take())).await;
    reply.assert_unauthorized(json!({
        "detail": "Token contained no recognizable user identification",
        "code": "token_not_valid",
    }));
}

/// Service tokens of a stateless instance are throttled per service, as DRF keys the user
/// throttle on `user.pk` (the name a `TokenUser` carries), not all as one user.
#[tokio::test]
async fn stateless_service_tokens_are_throttled_per_service() {
    let app = spawn_app_with(&[
        ("AUTHENTICATION_CLASSES", "jwt_stateless"),
        ("THROTTLE_RATES", "anon=100/min,user=2/min"),
    ])
    .await;
    let token = |service: &str| {
        app.sign(json!({"token_type": "access", "exp": now() + 60, "jti": "j", "user_id": service}))
    };
    let (billing, search) = (token("svc-billing"), token("svc-search"));
    for _ in 0..2 {
        assert_eq!(app.hello_with_token(&billing).await.status, 200);
    }
    assert_eq!(app.hello_with_token(&billing).await.status, 429);
    assert_eq!(app.hello_with_token(&search).await.status, 200);
}

#[tokio::test]
async fn claim_names_follow_the_settings() {
    let app = spawn_app_with(&[
        ("TOKEN_TYPE_CLAIM", "typ_"),
        ("JTI_CLAIM", "id"),
        ("USER_ID_CLAIM", "uid"),
    ])
    .await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let keys = claim_names(&access);
    assert_eq!(keys, ["typ_", "exp", "iat", "id", "uid", "sid"]);
    assert_eq!(claims(&access)["uid"], "1");
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // A token in the default names lacks the configured ones.
    let default_names =
        app.sign(json!({"token_type": "access", "exp": now() + 60, "jti": "j", "user_id": "1"}));
    let reply = app.hello_with_token(&default_names).await;
    reply.assert_unauthorized(access_token_not_valid("Token has no id"));
}

/// `USER_ID_FIELD=username`: tokens name their user by username, and a numeric username never
/// stands for another user's id.
#[tokio::test]
async fn tokens_can_name_their_user_by_username() {
    let app = spawn_app_with(&[("USER_ID_FIELD", "username")]).await;
    app.seed_reference_users();
    // User id 2 is `inactive`; this active user is called "2".
    app.create_user("2", PASSWORD, Default::default());
    let (refresh, access) = app.obtain("2", PASSWORD).await;
    assert_eq!(claims(&access)["user_id"], "2");
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (_, vitor) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(claims(&vitor)["user_id"], "vitor");
    app.hello_with_token(&vitor)
        .await
        .assert_json(200, hello_world());
    // A token naming the inactive user by name is refused as simplejwt refuses it.
    let inactive = app.sign(
        json!({"token_type": "access", "exp": now() + 60, "jti": "j", "user_id": "inactive"}),
    );
    let reply = app.hello_with_token(&inactive).await;
    assert_eq!(reply.body["code"], "user_inactive");
}

/// `CHECK_REVOKE_TOKEN`: new tokens carry the password claim (32 uppercase hex characters,
/// as simplejwt's, but a keyed MAC, not the MD5 of the hash); once the password changes, however
/// it changed (here straight in the table, as Django's admin would, with no token epoch moved),
/// every token issued for the old one is refused with simplejwt's `password_changed`: access,
/// refresh (which simplejwt 5.5 lets through) and sliding tokens alike.
#[tokio::test]
async fn check_revoke_token_refuses_the_tokens_of_an_old_password() {
    let app = spawn_app_with(&[
        ("CHECK_REVOKE_TOKEN", "true"),
        ("REVOKE_TOKEN_CLAIM", "pwd"),
        ("AUTH_TOKEN_CLASSES", "access,sliding"),
        ("USER_CACHE_TTL_MS", "0"),
    ])
    .await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let sliding = app
        .post(
            "/api/token/sliding/",
            json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(sliding.status, 200, "{}", sliding.text);
    let sliding = sliding.body["token"].as_str().unwrap().to_string();
    let tag = claims(&refresh)["pwd"].as_str().unwrap().to_string();
    assert_eq!(tag.len(), 32);
    assert!(
        tag.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    assert_eq!(claims(&access)["pwd"], tag.as_str());
    assert_eq!(claims(&sliding)["pwd"], tag.as_str());
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    app.hello_with_token(&sliding)
        .await
        .assert_json(200, hello_world());

    let changed = json!({
        "detail": "The user's password has been changed.",
        "code": "password_changed",
    });
    // A token with no claim (issued before the setting was on) or a wrong one.
    for forged in [
        app.forge("access", "1"),
        app.sign(with_claim(
            valid_claims("access", "1"),
            "pwd",
            json!(tag.to_lowercase()),
        )),
        app.sign(with_claim(valid_claims("access", "1"), "pwd", json!(null))),
        app.sign(with_claim(
            valid_claims("access", "1"),
            "pwd",
            json!(format!("{tag}\u{0}")),
        )),
        app.sign(with_claim(
            valid_claims("access", "1"),
            "pwd",
            json!(tag.repeat(100)),
        )),
        app.sign(with_claim(
            valid_claims("access", "1"),
            "pwd",
            json!([tag.clone()]),
        )),
    ] {
        app.hello_with_token(&forged)
            .await
            .assert_unauthorized(changed.clone());
    }

    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let new_hash = portcullis::hashers::hash_password("another-Passw0rd", 4).unwrap();
    portcullis::models::users::set_password(&mut conn, "vitor", &new_hash)
        .unwrap()
        .unwrap();
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(changed.clone());
    app.hello_with_token(&sliding)
        .await
        .assert_unauthorized(changed.clone());
    app.refresh(&refresh)
        .await
        .assert_unauthorized(changed.clone());
    app.post("/api/token/sliding/refresh/", json!({"token": sliding}))
        .await
        .assert_unauthorized(changed.clone());
    // The new password's tokens carry the new claim and work.
    let (refresh, access) = app.obtain("vitor", "another-Passw0rd").await;
    assert_ne!(claims(&access)["pwd"], tag.as_str());
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    assert_eq!(app.refresh(&refresh).await.status, 200);
}

/// The strict token profile, on by default, each rule beside what simplejwt (PyJWT) does with
/// the same token (`JWT_STRICT=false` keeps PyJWT's reading): a member named twice (the last
/// one would win: here the second `user_id` smuggles vitor past the inactive user the first
/// one names), time claims that are not integers within ±2^53, an `exp` past the year 9999.
#[tokio::test]
async fn the_strict_profile_refuses_what_pyjwt_would_read_leniently() {
    let strict = spawn_app().await;
    let lenient = spawn_app_with(&[("JWT_STRICT", "false")]).await;
    strict.seed_reference_users();
    lenient.seed_reference_users();
    let exp = now() + 300;
    let payload =
        |claims: &str| format!(r#"{{"token_type":"access","jti":"j","exp":{exp},{claims}}}"#);
    let header = br#"{"alg":"HS256","typ":"JWT"}"#;
    let sign = |header: &[u8], payload: String| {
        sign_raw(header, payload.as_bytes(), SECRET_KEY.as_bytes(), "HS256")
    };
    let duplicate_claim = sign(header, payload(r#""user_id":"2","user_id":"1""#));
    let duplicate_header = sign(
        br#"{"alg":"HS256","typ":"JWT","alg":"HS256"}"#,
        payload(r#""user_id":"1""#),
    );
    let cases = [
        (duplicate_claim, 200),
        // PyJWT would take it; jsonwebtoken already refuses a header field named twice.
        (duplicate_header, 401),
        (sign(header, payload(r#""user_id":"1","iat":"1000""#)), 200),
        (sign(header, payload(r#""user_id":"1","nbf":1000.5"#)), 200),
        (
            sign(
                header,
                format!(r#"{{"token_type":"access","jti":"j","exp":{exp}.5,"user_id":"1"}}"#),
            ),
            200,
        ),
        (
            sign(
                header,
                r#"{"token_type":"access","jti":"j","exp":1e300,"user_id":"1"}"#.to_string(),
            ),
            200,
        ),
        (
            sign(
                header,
                r#"{"token_type":"access","jti":"j","exp":253402300800,"user_id":"1"}"#.to_string(),
            ),
            200,
        ),
        (
            sign(header, payload(r#""user_id":"1","iat":9007199254740993"#)),
            401,
        ),
    ];
    for (token, simplejwt) in &cases {
        let reply = strict.hello_with_token(token).await;
        reply.assert_unauthorized(access_token_not_valid("Token is invalid"));
        let reply = lenient.hello_with_token(token).await;
        assert_eq!(reply.status, *simplejwt, "{token}: {}", reply.text);
    }
    // What portcullis issues passes its own profile.
    let (refresh, access) = strict.obtain("vitor", PASSWORD).await;
    strict
        .hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    assert_eq!(strict.refresh(&refresh).await.status, 200);
}

/// `JWT_TYP` (RFC 9068's `at+jwt`): new access tokens carry it, refresh tokens keep `JWT`, and
/// an access token without it is refused.
#[tokio::test]
async fn jwt_typ_types_access_tokens_and_requires_it() {
    let app = spawn_app_with(&[("JWT_TYP", "at+jwt")]).await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(header(&access), json!({"alg": "HS256", "typ": "at+jwt"}));
    assert_eq!(header(&refresh), json!({"alg": "HS256", "typ": "JWT"}));
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    app.hello_with_token(&app.forge("access", "1"))
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let access = refreshed.body["access"].as_str().unwrap();
    assert_eq!(header(access)["typ"], "at+jwt");
    app.hello_with_token(access)
        .await
        .assert_json(200, hello_world());
}
