//! The signing key ring through a real server, on both backends: `portcullis keys` on the
//! app's database, instances following within `KEY_RING_TTL_MS`, tokens chosen by `kid`,
//! `/.well-known/jwks.json`.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::*;

/// Runs `portcullis keys ARGS` on the app's database; (success, stdout + stderr).
pub fn keys(app: &TestApp, args: &[&str]) -> (bool, String) {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    let output = app.run_command(&all, "");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The kid `keys generate` / `keys rotate` printed.
fn kid_in(text: &str) -> String {
    text.split_whitespace()
        .skip_while(|word| *word != "key" && *word != "Key")
        .nth(1)
        .unwrap_or_else(|| panic!("no kid in {text:?}"))
        .to_string()
}

/// Long enough for every instance to have read the ring again (KEY_RING_TTL_MS=100).
async fn ring_reloaded() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, Value) {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

/// The kids the key set publishes, sorted.
fn published_kids(document: &Value) -> Vec<String> {
    let mut kids: Vec<String> = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

fn sorted(mut kids: Vec<&str>) -> Vec<&str> {
    kids.sort();
    kids
}

/// A rotation logs nobody out: tokens of the configured key keep working until they expire
/// (and none minted with it later does), new tokens are signed by the ring key and name it,
/// the key set publishes public members only, a key is retired only once its tokens can no
/// longer be valid (or with `--force`, which ends them at once).
#[tokio::test]
async fn a_rotation_logs_nobody_out_and_retiring_ends_the_keys_tokens() {
    let app = spawn_app_with(&[("KEY_RING_TTL_MS", "100")]).await;
    app.seed_reference_users();
    let (before_refresh, before_access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(
        header(&before_access),
        json!({"alg": "HS256", "typ": "JWT"})
    );
    let (_, empty) = jwks(&app).await;
    assert_eq!(empty, json!({"keys": []}));

    let (ok, out) = keys(&app, &["rotate"]);
    assert!(ok, "{out}");
    let first = kid_in(&out);
    ring_reloaded().await;
    let (first_refresh, first_access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(
        header(&first_access),
        json!({"alg": "EdDSA", "typ": "JWT", "kid": first})
    );
    for token in [&first_access, &before_access] {
        app.hello_with_token(token)
            .await
            .assert_json(200, hello_world());
    }
    // The old pair refreshes; what it gets is signed by the ring key.
    let refreshed = app.refresh(&before_refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let access = refreshed.body["access"].as_str().unwrap();
    assert_eq!(header(access)["kid"], first.as_str());

    let (headers, document) = jwks(&app).await;
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    assert_eq!(headers["cache-control"], "public, max-age=0");
    assert_eq!(published_kids(&document), [first.as_str()]);
    let jwk = &document["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(jwk.get(private).is_none(), "{jwk}");
    }

    // Tokens the configured key signs after the rotation, or that claim a kid it does not
    // have, or that pick another algorithm for the ring key's kid: refused.
    let invalid = access_token_not_valid("Token is invalid");
    let long_lived = with_claim(
        valid_claims("access", "1"),
        "exp",
        json!(now() + 10 * 86_400),
    );
    let short_lived = valid_claims("access", "1");
    app.hello_with_token(&app.sign(long_lived))
        .await
        .assert_unauthorized(invalid.clone());
    app.hello_with_token(&app.sign(short_lived.clone()))
        .await
        .assert_json(200, hello_world());
    for header in [
        json!({"alg": "HS256", "typ": "JWT", "kid": "unknown"}),
        json!({"alg": "HS256", "typ": "JWT", "kid": first}),
    ] {
        let token = sign_raw(
            header.to_string().as_bytes(),
            short_lived.to_string().as_bytes(),
            SECRET_KEY.as_bytes(),
            "HS256",
        );
        app.hello_with_token(&token)
            .await
            .assert_unauthorized(invalid.clone());
    }

    // Headers that name a key elsewhere (jku, x5u) or carry one (jwk) choose nothing: an
    // attacker's Ed25519 key, handed over in the header under the ring key's kid, is refused.
    {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let attacker = Ed25519KeyPair::generate().unwrap();
        let header = json!({
            "alg": "EdDSA", "typ": "JWT", "kid": first,
            "jku": "http://127.0.0.1:9/jwks.json", "x5u": "http://127.0.0.1:9/cert.pem",
            "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(attacker.public_key().as_ref())},
        });
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(short_lived.to_string().as_bytes())
        );
        let token = format!(
            "{message}.{}",
            b64(attacker.sign(message.as_bytes()).as_ref())
        );
        app.hello_with_token(&token)
            .await
            .assert_unauthorized(invalid.clone());
    }

    // A second rotation (ES256): the first key's tokens keep working.
    let (ok, out) = keys(&app, &["rotate", "--algorithm", "ES256"]);
    assert!(ok, "{out}");
    let second = kid_in(&out);
    ring_reloaded().await;
    let (_, second_access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(header(&second_access)["alg"], "ES256");
    app.hello_with_token(&first_access)
        .await
        .assert_json(200, hello_world());
    assert_eq!(app.refresh(&first_refresh).await.status, 200);
    let (_, document) = jwks(&app).await;
    assert_eq!(
        published_kids(&document),
        sorted(vec![first.as_str(), second.as_str()])
    );

    // Retiring: not the key that signs, not one whose tokens can still be valid, unless forced.
    let (ok, out) = keys(&app, &["retire", &second]);
    assert!(!ok && out.contains("signs"), "{out}");
    let (ok, out) = keys(&app, &["retire", &first]);
    assert!(!ok && out.contains("can be valid"), "{out}");
    let (ok, out) = keys(&app, &["retire", &first, "--force"]);
    assert!(ok, "{out}");
    ring_reloaded().await;
    app.hello_with_token(&first_access)
        .await
        .assert_unauthorized(invalid.clone());
    app.hello_with_token(&second_access)
        .await
        .assert_json(200, hello_world());
    let (_, document) = jwks(&app).await;
    assert_eq!(published_kids(&document), [second.as_str()]);
    let (ok, out) = keys(&app, &["list"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{first}\tEdDSA\tretired")), "{out}");
    assert!(out.contains(&format!("{second}\tES256\tactive")), "{out}");
    // Bad input: a clear error, nothing changed.
    for args in [
        &["rotate", "--algorithm", "none"][..],
        &["rotate", "--algorithm", "PS256"],
        &["activate", "no-such-kid"],
        &["activate", &first],
        &["retire", "no-such-kid"],
    ] {
        let (ok, out) = keys(&app, args);
        assert!(!ok && out.contains("Error"), "{args:?}: {out}");
    }
}

/// `keys generate` publishes a key before it signs (verifiers can fetch it ahead), and an HMAC
/// ring key is never published.
#[tokio::test]
async fn a_generated_key_is_published_before_it_signs() {
    let app = spawn_app_with(&[("KEY_RING_TTL_MS", "100")]).await;
    app.seed_reference_users();
    let (ok, out) = keys(&app, &["generate", "--algorithm", "RS256"]);
    assert!(ok, "{out}");
    let rsa = kid_in(&out);
    let (ok, out) = keys(&app, &["generate", "--algorithm", "HS256"]);
    assert!(ok, "{out}");
    let hmac = kid_in(&out);
    ring_reloaded().await;
    let (_, document) = jwks(&app).await;
    assert_eq!(published_kids(&document), [rsa.as_str()]);
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(header(&access), json!({"alg": "HS256", "typ": "JWT"}));
    let (ok, out) = keys(&app, &["activate", &hmac]);
    assert!(ok, "{out}");
    ring_reloaded().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(
        header(&access),
        json!({"alg": "HS256", "typ": "JWT", "kid": hmac})
    );
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let (_, document) = jwks(&app).await;
    assert_eq!(published_kids(&document), [rsa]);
}

/// Found by the attack pass: activating a key again does not reopen the window of tokens
/// without kid; the key that signs is never retired, even forced (an older key would sign
/// again, or none); a row that does not open (another row's sealed key copied in) is left out
/// while the ring keeps serving.
#[tokio::test]
async fn activating_again_reopens_nothing_and_a_damaged_row_is_left_out() {
    let lifetimes = [
        ("ACCESS_TOKEN_LIFETIME", "2"),
        ("REFRESH_TOKEN_LIFETIME", "2"),
        ("SLIDING_TOKEN_LIFETIME", "2"),
        ("SLIDING_TOKEN_REFRESH_LIFETIME", "2"),
        ("KEY_RING_TTL_MS", "100"),
    ];
    let app = spawn_app_with(&lifetimes).await;
    app.seed_reference_users();
    let (_, out) = keys(&app, &["rotate"]);
    let first = kid_in(&out);
    let (_, out) = keys(&app, &["rotate"]);
    let second = kid_in(&out);
    // Past the window of tokens without kid (first activation + 2 s).
    tokio::time::sleep(Duration::from_millis(3200)).await;
    // Both activated again: the latest activations are now, the first ones still 3 s ago.
    for kid in [&second, &first] {
        let (ok, out) = keys(&app, &["activate", kid]);
        assert!(ok, "{out}");
    }
    ring_reloaded().await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    assert_eq!(header(&access)["kid"], first.as_str());
    let without_kid = app.sign(valid_claims("access", "1"));
    app.hello_with_token(&without_kid)
        .await
        .assert_unauthorized(access_token_not_valid("Token is invalid"));
    let (ok, out) = keys(&app, &["retire", &first, "--force"]);
    assert!(!ok && out.contains("signs"), "{out}");
    let (ok, out) = keys(&app, &["retire", &second]);
    assert!(!ok && out.contains("can be valid"), "{out}");

    let (_, out) = keys(&app, &["generate"]);
    let damaged = kid_in(&out);
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    {
        use diesel::prelude::*;
        use portcullis::db::schema::signing_keys::dsl::*;
        let other: String = signing_keys
            .find(&second)
            .select(sealed_private_key)
            .first(&mut conn)
            .unwrap();
        diesel::update(signing_keys.find(&damaged))
            .set(sealed_private_key.eq(other))
            .execute(&mut conn)
            .unwrap();
    }
    ring_reloaded().await;
    app.hello_with_token(&access)
        .await
        .assert_json(200, hello_world());
    let (_, document) = jwks(&app).await;
    assert_eq!(
        published_kids(&document),
        sorted(vec![first.as_str(), second.as_str()])
    );
}
