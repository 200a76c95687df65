//! Users carried over from Django log in with the passwords they had: every hasher of Django's
//! `PASSWORD_HASHERS`, checked on hashes Django itself made (tests/fixtures/django_hashes.json),
//! re-hashed by the preferred hasher on their first login (Django's `must_update`).

use crate::helpers::{Flags, spawn_app_with};
use serde_json::{Value, json};

struct DjangoHash {
    algorithm: String,
    password: String,
    encoded: String,
}

fn django_hashes() -> Vec<DjangoHash> {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/django_hashes.json")).unwrap();
    fixture["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hash| {
            let label = hash["password"].as_str().unwrap();
            DjangoHash {
                algorithm: hash["algorithm"].as_str().unwrap().into(),
                password: fixture["passwords"][label].as_str().unwrap().into(),
                encoded: hash["encoded"].as_str().unwrap().into(),
            }
        })
        .collect()
}

async fn login(app: &crate::helpers::TestApp, username: &str, password: &str) -> (u16, Value) {
    let response = app
        .post_json(
            "/api/token/",
            &json!({"username": username, "password": password}),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_django_hasher_logs_in_and_is_rehashed_by_the_preferred_one() {
    let app = spawn_app_with(&[]).await;
    let hashes = django_hashes();
    assert_eq!(hashes.len(), 11, "the fixture covers every hasher");
    for (index, hash) in hashes.iter().enumerate() {
        let username = format!("{}-{index}", hash.algorithm);
        app.create_user_with_hash(&username, &hash.encoded, Flags::default());
        let (wrong, _) = login(&app, &username, &format!("{}!", hash.password)).await;
        assert_eq!(wrong, 401, "{username}: a wrong password");
        assert_eq!(
            app.stored_hash(&username),
            hash.encoded,
            "{username}: untouched"
        );

        let (status, pair) = login(&app, &username, &hash.password).await;
        assert_eq!(status, 200, "{username}: {pair}");
        let access = pair["access"].as_str().unwrap();
        assert_eq!(app.hello_with_token(access).await.status, 200);
        let stored = app.stored_hash(&username);
        // bcrypt at BCRYPT_COST (4 in tests); over 71 bytes, bcrypt_sha256 (next listed).
        let expected = if hash.password.len() > 71 {
            "bcrypt_sha256$$2b$04$"
        } else {
            "$2b$04$"
        };
        assert!(stored.starts_with(expected), "{username}: {stored}");
        let (again, _) = login(&app, &username, &hash.password).await;
        assert_eq!(again, 200, "{username}: logs in on the new hash");
        assert_eq!(
            app.stored_hash(&username),
            stored,
            "{username}: re-hashed once"
        );
    }
}

#[tokio::test]
async fn a_hasher_left_out_of_password_hashers_verifies_nothing() {
    let app = spawn_app_with(&[("PASSWORD_HASHERS", "bcrypt,pbkdf2_sha1")]).await;
    let hashes = django_hashes();
    let pbkdf2 = hashes
        .iter()
        .find(|h| h.algorithm == "pbkdf2_sha256")
        .unwrap();
    app.create_user_with_hash("django", &pbkdf2.encoded, Flags::default());
    let (status, body) = login(&app, "django", &pbkdf2.password).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        json!({"detail": "No active account found with the given credentials"})
    );
    assert_eq!(app.stored_hash("django"), pbkdf2.encoded);
}

#[tokio::test]
async fn django_class_paths_pick_the_preferred_hasher() {
    let app = spawn_app_with(&[(
        "PASSWORD_HASHERS",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher,\
         django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    )])
    .await;
    let hashes = django_hashes();
    let bcrypt_sha256 = hashes
        .iter()
        .find(|h| h.algorithm == "bcrypt_sha256")
        .unwrap();
    app.create_user_with_hash("django", &bcrypt_sha256.encoded, Flags::default());
    let (status, body) = login(&app, "django", &bcrypt_sha256.password).await;
    assert_eq!(status, 200, "{body}");
    let stored = app.stored_hash("django");
    assert!(stored.starts_with("pbkdf2_sha256$1000000$"), "{stored}");
}

/// Many first logins at once: one re-hash is stored, and every token issued carries the claim
/// of the hash that is stored (`CHECK_REVOKE_TOKEN`), so none is refused afterwards.
#[tokio::test]
async fn parallel_first_logins_store_one_rehash_and_every_token_stays_valid() {
    let app = spawn_app_with(&[("CHECK_REVOKE_TOKEN", "true"), ("HASHER_THREADS", "2")]).await;
    let hashes = django_hashes();
    let sha1 = hashes
        .iter()
        .find(|h| h.algorithm == "pbkdf2_sha1" && h.password.len() < 72)
        .unwrap();
    app.create_user_with_hash("racer", &sha1.encoded, Flags::default());
    let logins = (0..6).map(|_| login(&app, "racer", &sha1.password));
    let answers = futures_util::future::join_all(logins).await;
    let stored = app.stored_hash("racer");
    assert!(stored.starts_with("$2b$04$"), "{stored}");
    for (status, pair) in answers {
        assert_eq!(status, 200, "{pair}");
        let access = pair["access"].as_str().unwrap();
        let reply = app.hello_with_token(access).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

/// An inactive user's correct password is refused, and their Django hash is left as it is (no
/// re-hash is made for a login that gets nothing).
#[tokio::test]
async fn an_inactive_users_hash_is_not_rehashed() {
    let app = spawn_app_with(&[]).await;
    let hashes = django_hashes();
    let sha1 = hashes
        .iter()
        .find(|h| h.algorithm == "pbkdf2_sha1" && h.password.len() < 72)
        .unwrap();
    let flags = Flags {
        inactive: true,
        ..Default::default()
    };
    app.create_user_with_hash("dormant", &sha1.encoded, flags);
    let (status, body) = login(&app, "dormant", &sha1.password).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.stored_hash("dormant"), sha1.encoded);
}
