//! simplejwt's `JWK_URL`: an instance that verifies tokens with the issuer's key set, chosen by
//! `kid`, fetched from a real HTTP server started here (whose answers the tests control).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the key set server answers.
#[derive(Clone)]
enum Answer {
    Document(String),
    /// Accepts the connection, reads the request, never answers.
    Silent,
    /// The document, after a while.
    Slow(Duration, String),
    /// A redirect to this URL.
    Redirect(String),
}

/// A tiny HTTP server for the key set: every request gets the current answer; `hits` counts
/// the requests.
struct KeySetServer {
    url: String,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
}

impl KeySetServer {
    async fn start(answer: Answer) -> KeySetServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let answer = Arc::new(Mutex::new(answer));
        let hits = Arc::new(AtomicUsize::new(0));
        let (shared, counted) = (Arc::clone(&answer), Arc::clone(&hits));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (answer, hits) = (Arc::clone(&shared), Arc::clone(&counted));
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let answer = answer.lock().unwrap().clone();
                    match answer {
                        Answer::Document(body) => send_json(&mut stream, &body).await,
                        Answer::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
                        Answer::Slow(delay, body) => {
                            tokio::time::sleep(delay).await;
                            send_json(&mut stream, &body).await;
                        }
                        Answer::Redirect(to) => {
                            let head = format!(
                                "HTTP/1.1 302 Found\r\nLocation: {to}\r\n\
                                 Content-Length: 0\r\nConnection: close\r\n\r\n"
                            );
                            let _ = stream.write_all(head.as_bytes()).await;
                        }
                    }
                });
            }
        });
        KeySetServer { url, answer, hits }
    }

    fn serve(&self, keys: &[&Value]) {
        self.answer(Answer::Document(json!({ "keys": keys }).to_string()));
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An Ed25519 key of the issuer, with its `kid`.
struct IssuerKey {
    kid: String,
    pair: Ed25519KeyPair,
}

impl IssuerKey {
    fn new(kid: &str) -> IssuerKey {
        IssuerKey {
            kid: kid.into(),
            pair: Ed25519KeyPair::generate().unwrap(),
        }
    }

    /// The key's public JWK, as an issuer publishes it.
    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(self.pair.public_key().as_ref()),
            "kid": self.kid, "use": "sig", "alg": "EdDSA",
        })
    }

    /// An access token for vitor signed with this key, under the header given.
    fn sign_with_header(&self, header: Value) -> String {
        let claims = valid_claims("access", "1");
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.pair.sign(message.as_bytes());
        format!("{message}.{}", b64(signature.as_ref()))
    }

    /// An access token for vitor naming `kid` in its header.
    fn sign_as(&self, kid: &str) -> String {
        self.sign_with_header(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}))
    }

    fn sign(&self) -> String {
        self.sign_as(&self.kid)
    }
}

async fn verifier(key_set: &KeySetServer) -> TestApp {
    verifier_with(key_set, &[]).await
}

async fn verifier_with(key_set: &KeySetServer, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("JWT_ALGORITHM", "EdDSA"), ("JWT_JWK_URL", &key_set.url)];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    app.seed_reference_users();
    app
}

/// A verify-only instance: tokens verified with the key their `kid` names, the set fetched
/// once and again for a new `kid` (a rotation), at most once a minute for made-up ones; no
/// `kid`, another key's signature, or an unknown `kid` is simplejwt's "Token is invalid".
#[tokio::test]
async fn a_verify_only_instance_verifies_with_the_issuers_key_set() {
    let (first, second) = (IssuerKey::new("key-1"), IssuerKey::new("key-2"));
    let key_set = KeySetServer::start(Answer::Document(String::new())).await;
    key_set.serve(&[&first.jwk()]);
    let app = verifier(&key_set).await;
    assert_eq!(key_set.hits(), 0, "fetched when a token needs it");
    for _ in 0..3 {
        app.hello_with_token(&first.sign())
            .await
            .assert_json(200, hello_world());
    }
    assert_eq!(key_set.hits(), 1);
    assert_eq!(app.verify(&first.sign()).await.status, 200);

    // The issuer rotates: its new key verifies as soon as a token names it.
    key_set.serve(&[&first.jwk(), &second.jwk()]);
    app.hello_with_token(&second.sign())
        .await
        .assert_json(200, hello_world());
    assert_eq!(key_set.hits(), 2);
    app.hello_with_token(&first.sign())
        .await
        .assert_json(200, hello_world());

    let invalid = access_token_not_valid("Token is invalid");
    let stranger = IssuerKey::new("key-9");
    let refused = [
        // Made-up `kid`s, one a path: no more fetches within the minute.
        stranger.sign(),
        stranger.sign_as("../../../etc/passwd"),
        first.sign_as("key-1\u{0}"),
        first.sign_as(&"k".repeat(100_000)),
        // A known `kid`, another key's signature.
        stranger.sign_as("key-1"),
        // No `kid` at all, or one that is no string.
        first.sign_with_header(json!({"alg": "EdDSA", "typ": "JWT"})),
        first.sign_with_header(json!({"alg": "EdDSA", "typ": "JWT", "kid": 1})),
        // The algorithm is pinned: the header cannot pick another.
        first.sign_with_header(json!({"alg": "HS256", "typ": "JWT", "kid": "key-1"})),
    ];
    for token in &refused {
        app.hello_with_token(token)
            .await
            .assert_unauthorized(invalid.clone());
    }
    // A flood of made-up `kid`s at once: each waits for at most one fetch, none is made.
    let flood = (0..30).map(|i| {
        let token = stranger.sign_as(&format!("made-up-{i}"));
        let app = &app;
        async move { app.hello_with_token(&token).await.status }
    });
    let statuses = futures_util::future::join_all(flood).await;
    assert!(statuses.iter().all(|status| *status == 401), "{statuses:?}");
    assert_eq!(key_set.hits(), 2, "the rotation's fetch was the minute's");

    // A verify-only instance issues nothing.
    let obtain = app
        .post(
            "/api/token/",
            json!({"username": "vitor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(obtain.status, 503, "{}", obtain.text);
}

/// Keys the configured algorithm cannot use are left out of the set: another type, another
/// use, another `alg`, no `kid`.
#[tokio::test]
async fn keys_of_another_kind_are_left_out_of_the_set() {
    let usable = IssuerKey::new("usable");
    let for_encryption = IssuerKey::new("encryption");
    let other_alg = IssuerKey::new("other-alg");
    let no_kid = IssuerKey::new("no-kid");
    let mut encryption = for_encryption.jwk();
    encryption["use"] = json!("enc");
    let mut declared_rs256 = other_alg.jwk();
    declared_rs256["alg"] = json!("RS256");
    let mut without_kid = no_kid.jwk();
    without_kid.as_object_mut().unwrap().remove("kid");
    let hmac = json!({"kty": "oct", "k": b64(SECRET_KEY.as_bytes()), "kid": "hmac"});
    let garbage = json!({"kty": "RSA", "kid": "garbage", "n": "!!", "e": 5});
    let key_set = KeySetServer::start(Answer::Document(String::new())).await;
    key_set.serve(&[
        &encryption,
        &declared_rs256,
        &without_kid,
        &hmac,
        &garbage,
        &usable.jwk(),
    ]);
    let app = verifier(&key_set).await;
    app.hello_with_token(&usable.sign())
        .await
        .assert_json(200, hello_world());
    let hmac_token = sign_raw(
        br#"{"alg":"HS256","typ":"JWT","kid":"hmac"}"#,
        valid_claims("access", "1").to_string().as_bytes(),
        SECRET_KEY.as_bytes(),
        "HS256",
    );
    for token in [
        for_encryption.sign(),
        other_alg.sign(),
        no_kid.sign(),
        hmac_token,
    ] {
        assert_eq!(app.hello_with_token(&token).await.status, 401);
    }
}

/// An issuer that never answers, answers with garbage or too much, or is not there: its tokens
/// are 401 within the fetch's bound (5 s), never a hang, and the instance keeps serving.
#[tokio::test]
async fn a_silent_or_broken_key_set_costs_a_401_not_a_hang() {
    let key = IssuerKey::new("key-1");
    let silent = KeySetServer::start(Answer::Silent).await;
    let app = verifier(&silent).await;
    let started = Instant::now();
    let waits = (0..4).map(|_| {
        let (app, token) = (&app, key.sign());
        async move { app.hello_with_token(&token).await.status }
    });
    let statuses = futures_util::future::join_all(waits).await;
    assert_eq!(statuses, [401; 4]);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(silent.hits(), 1, "one fetch for all the waiting requests");
    app.assert_still_serving().await;

    let broken = KeySetServer::start(Answer::Document("not json".into())).await;
    let app = verifier(&broken).await;
    assert_eq!(app.hello_with_token(&key.sign()).await.status, 401);
    // Larger than the 512 KiB a key set may be: not read, the token refused.
    let padding = "x".repeat(600 * 1024);
    broken.serve(&[&key.jwk(), &json!({"kty": "OKP", "padding": padding})]);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(app.hello_with_token(&key.sign()).await.status, 401);
    assert_eq!(broken.hits(), 2);

    // Nobody listening there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = spawn_app_with(&[
        ("JWT_ALGORITHM", "EdDSA"),
        (
            "JWT_JWK_URL",
            &format!("http://127.0.0.1:{closed}/jwks.json"),
        ),
    ])
    .await;
    app.seed_reference_users();
    assert_eq!(app.hello_with_token(&key.sign()).await.status, 401);
}

/// A cold set fetched slowly: every request waits for that one fetch, none for two, and a
/// made-up `kid` among them does not make it fetch again. A stale set is fetched again in the
/// background: a token whose `kid` it has is answered at once, even while the issuer is silent.
/// A `kid` given twice names the first key with it.
#[tokio::test]
async fn nobody_waits_for_two_fetches_nor_for_a_stale_sets_refresh() {
    let (key, impostor) = (IssuerKey::new("key-1"), IssuerKey::new("key-1"));
    let document = json!({ "keys": [key.jwk(), impostor.jwk()] }).to_string();
    let key_set = KeySetServer::start(Answer::Slow(Duration::from_millis(1500), document)).await;
    let app = verifier_with(&key_set, &[("JWT_JWK_LIFESPAN", "1")]).await;
    let started = Instant::now();
    let tokens: Vec<String> = std::iter::once(key.sign())
        .chain((0..10).map(|i| key.sign_as(&format!("made-up-{i}"))))
        .collect();
    let replies = tokens.iter().map(|token| {
        let app = &app;
        async move { app.hello_with_token(token).await.status }
    });
    let statuses = futures_util::future::join_all(replies).await;
    let waited = started.elapsed();
    assert_eq!(statuses[0], 200);
    assert!(
        statuses[1..].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(waited < Duration::from_millis(2800), "{waited:?}");
    assert_eq!(key_set.hits(), 1);
    assert_eq!(app.hello_with_token(&impostor.sign()).await.status, 401);

    // Stale (the lifespan is 1 s), and the issuer goes silent.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    key_set.answer(Answer::Silent);
    for _ in 0..3 {
        let started = Instant::now();
        app.hello_with_token(&key.sign())
            .await
            .assert_json(200, hello_world());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(key_set.hits(), 2, "one refresh in the background");
}

/// A redirect is followed (the issuer moved its key set), a loop is not followed for ever.
#[tokio::test]
async fn redirects_are_followed_a_few_times() {
    let key = IssuerKey::new("key-1");
    let target = KeySetServer::start(Answer::Document(String::new())).await;
    target.serve(&[&key.jwk()]);
    let moved = KeySetServer::start(Answer::Redirect(target.url.clone())).await;
    let app = verifier(&moved).await;
    app.hello_with_token(&key.sign())
        .await
        .assert_json(200, hello_world());
    let looping = KeySetServer::start(Answer::Document(String::new())).await;
    looping.answer(Answer::Redirect(looping.url.clone()));
    let app = verifier(&looping).await;
    assert_eq!(app.hello_with_token(&key.sign()).await.status, 401);
    assert_eq!(looping.hits(), 4, "the first request and 3 redirects");
}

/// A 200 with `body` as JSON, then the connection closes.
async fn send_json(stream: &mut tokio::net::TcpStream, body: &str) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
}
