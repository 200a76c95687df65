//! Criterion benchmarks of the per-request hot pieces, so a regression shows up in numbers.
//!
//! Run with `cargo bench --bench hot_paths` (add `-- --quick` for a fast pass). Each group is
//! one phase of the dispatcher: header parsing, token decode + validation, the JWT
//! authentication class with a cached user, throttle checks, permission evaluation; and one
//! check of a Django PBKDF2 password hash (not per request: the cost of a migrated login).
//! Nothing here asserts a timing; `scripts/bench` measures the whole server under load.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::test::TestRequest;
use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};

use portcullis::accounts::Accounts;
use portcullis::clock::now;
use portcullis::config::Config;
use portcullis::hashers::{Hashers, PasswordHasher, hash_password};
use portcullis::jwt::JwtAlgorithm;
use portcullis::jwt::TokenBackend;
use portcullis::jwt::authentication::JWTAuthentication;
use portcullis::jwt::keys::JwtKeys;
use portcullis::jwt::tokens::{Lifetimes, Token, TokenType};
use portcullis::models::users::{self, NewUser, User};
use portcullis::rest::Request;
use portcullis::rest::authentication::{
    Authentication, authorization_header, parse_basic_credentials, split_parts,
};
use portcullis::rest::negotiation::negotiate;
use portcullis::rest::permissions::parse_permission_classes;
use portcullis::rest::throttling::memory::MemoryStore;
use portcullis::rest::throttling::{
    AnonRateThrottle, Counter, FailureMode, Rate, Throttle, ThrottleStore, UserRateThrottle,
};

const SECRET: &[u8] = b"bench-secret-key-that-is-long-enough-for-hs256";
const LIFETIMES: Lifetimes = Lifetimes {
    access: 3600,
    refresh: 86_400,
};

/// Polls a future once. The pieces measured here never wait on a cache hit or with the
/// in-memory store, so one poll finishes them without a runtime's overhead in the figures.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future waited; it must be ready at once"),
    }
}

/// A pipeline `Request` as the dispatcher builds it, with the given headers.
fn request(headers: &[(&str, &str)], user: Option<User>) -> Request {
    let mut test = TestRequest::get()
        .uri("/hello/")
        .peer_addr("127.0.0.1:40000".parse().unwrap());
    for &(name, value) in headers {
        test = test.insert_header((name, value));
    }
    let (http, payload) = test.to_http_parts();
    let mut request = Request::new(
        http,
        payload,
        Some([127, 0, 0, 1].into()),
        portcullis::rest::request::BodyLimits::DEFAULT,
    );
    request.user = user;
    request
}

fn user() -> User {
    User {
        id: 1,
        username: "bench".into(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        tokens_valid_after: 0,
        token_id: None,
        password_tag: Default::default(),
    }
}

fn access_token(backend: &TokenBackend) -> String {
    let issued = now() as i64;
    Token::refresh_for_user(1, LIFETIMES, issued)
        .access_token(LIFETIMES, issued, issued)
        .encode(backend)
        .unwrap()
}

fn header_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("headers");
    let bearer = format!("Bearer {}", access_token(&backend()));
    let with_bearer = request(&[("authorization", &bearer)], None);
    group.bench_function("authorization_split_bearer", |b| {
        b.iter(|| {
            let header = authorization_header(black_box(&with_bearer));
            black_box(split_parts(&header)).len()
        })
    });
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bench:Jwt-Ref-Passw0rd!2024")
    );
    let with_basic = request(&[("authorization", &basic)], None);
    group.bench_function("basic_credentials", |b| {
        b.iter(|| {
            let header = authorization_header(black_box(&with_basic));
            parse_basic_credentials(&split_parts(&header)).map(|(user, _)| user.len())
        })
    });
    for (name, accept) in [
        ("accept_absent", None),
        ("accept_any", Some("*/*")),
        (
            "accept_browser",
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ),
        ("accept_json_indent", Some("application/json; indent=4")),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| negotiate(black_box(accept.map(str::as_bytes))).is_ok())
        });
    }
    group.finish();
}

/// (name, algorithm, PKCS#8 PEM private key) for RS256, ES256 and EdDSA, generated per run.
fn asymmetric_keys() -> Vec<(&'static str, JwtAlgorithm, String)> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    let pem = |der: &[u8]| pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()));
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa: Pkcs8V1Der = rsa.as_der().unwrap();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .unwrap();
    let ec = ec.to_pkcs8v1().unwrap();
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let ed: Pkcs8V1Der = ed.as_der().unwrap();
    vec![
        ("rs256", JwtAlgorithm::RS256, pem(rsa.as_ref())),
        ("es256", JwtAlgorithm::ES256, pem(ec.as_ref())),
        ("eddsa", JwtAlgorithm::EdDSA, pem(ed.as_ref())),
    ]
}

fn backend() -> TokenBackend {
    TokenBackend::new(SECRET, JwtAlgorithm::HS256, 0)
}

fn token_validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokens");
    let backend = backend();
    let raw = access_token(&backend);
    group.bench_function("parse_access_hs256", |b| {
        b.iter(|| {
            Token::parse(
                black_box(&raw),
                &backend,
                Some(TokenType::Access),
                black_box(now()),
            )
            .is_ok()
        })
    });
    // The strict token profile (on by default): the duplicate-member scan of both documents.
    let strict = self::backend().with_strict_profile(portcullis::jwt::backends::StrictProfile {
        rules: true,
        access_typ: None,
    });
    assert!(Token::parse(&raw, &strict, None, now()).is_ok());
    group.bench_function("parse_access_hs256_strict", |b| {
        b.iter(|| Token::parse(black_box(&raw), &strict, None, now()).is_ok())
    });
    let mut forged = raw.clone();
    forged.pop();
    forged.push(if raw.ends_with('A') { 'B' } else { 'A' });
    group.bench_function("parse_bad_signature", |b| {
        b.iter(|| Token::parse(black_box(&forged), &backend, None, now()).is_err())
    });
    group.bench_function("encode_access_hs256", |b| {
        b.iter(|| access_token(&backend).len())
    });
    // The asymmetric algorithms next to HS256: verifying is what every request pays.
    for (name, algorithm, private_key) in asymmetric_keys() {
        let keys = JwtKeys::load(algorithm, Some(&private_key), None, false).unwrap();
        let backend = TokenBackend::with_keys(keys, algorithm, 0, Default::default());
        let raw = access_token(&backend);
        group.bench_function(format!("parse_access_{name}"), |b| {
            b.iter(|| {
                Token::parse(black_box(&raw), &backend, Some(TokenType::Access), now()).is_ok()
            })
        });
    }
    group.finish();
}

/// `JWTAuthentication` over a real SQLite database, measured once the user is cached: the
/// path every authenticated request takes (header split, verify, cache lookup).
fn jwt_authentication(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = dir
        .path()
        .join("bench.sqlite3")
        .to_str()
        .unwrap()
        .to_string();
    let secret = String::from_utf8(SECRET.to_vec()).unwrap();
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "SECRET_KEY" => Some(secret.clone()),
        _ => None,
    })
    .unwrap();
    portcullis::startup::migrate(&config).unwrap();
    let mut conn = portcullis::db::connect(&config.database.url).unwrap();
    users::create(
        &mut conn,
        &NewUser {
            username: "bench".into(),
            email: String::new(),
            password_hash: hash_password("Jwt-Ref-Passw0rd!2024", 4).unwrap(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
        },
    )
    .unwrap();
    let accounts = Arc::new(Accounts::new(
        portcullis::db::build_pool(&config.database),
        Arc::new(PasswordHasher::new(
            1,
            1,
            Hashers::new(vec![portcullis::hashers::Algorithm::Bcrypt], 4),
        )),
        // Long enough that the whole measurement runs on the cache, as under load.
        Duration::from_secs(3600),
    ));
    let backend = Arc::new(backend());
    let authentication = JWTAuthentication {
        backend: Arc::clone(&backend),
        accounts,
        header_types: vec!["Bearer".into()],
        header_name: "authorization".into(),
        check_user_is_active: true,
        www_authenticate_realm: "api".into(),
        revoked: None,
        stateless: false,
        token_types: vec![TokenType::Access],
        user_id_field: portcullis::jwt::tokens::UserIdField::Id,
        password_claim: None,
    };
    let bearer = format!("Bearer {}", access_token(&backend));
    let request = request(&[("authorization", &bearer)], None);
    // The first lookup queries the database on actix's blocking pool, which needs its runtime.
    let first = actix_web::rt::System::new().block_on(authentication.authenticate(&request));
    assert!(matches!(first, Ok(Some(_))), "{first:?}");
    c.bench_function("jwt/authenticate_cached_user", |b| {
        b.iter(|| ready(authentication.authenticate(black_box(&request))).is_ok())
    });
}

fn throttle_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    let store = MemoryStore::default();
    // A rate that never trips, as in the load benchmark; above EXACT_LIMIT: sliding window.
    let huge: Rate = "100000000/min".parse().unwrap();
    group.bench_function("memory_hit_sliding_window", |b| {
        b.iter(|| ready(store.hit(black_box("throttle_user_1"), huge, now())).is_ok())
    });
    // An exact log at its size limit, refusing: DRF's list semantics for small rates.
    let small: Rate = "1000/hour".parse().unwrap();
    let t0 = now();
    for i in 0..1000 {
        ready(store.hit("throttle_user_2", small, t0 + i as f64 * 1e-3)).unwrap();
    }
    group.bench_function("memory_hit_exact_log_full", |b| {
        b.iter(|| ready(store.hit(black_box("throttle_user_2"), small, now())).is_ok())
    });
    let counter = Arc::new(Counter::new(
        Arc::new(MemoryStore::default()),
        FailureMode::Open,
    ));
    let throttles: Vec<Arc<dyn Throttle>> = vec![
        Arc::new(AnonRateThrottle {
            rate: huge,
            counter: Arc::clone(&counter),
        }),
        Arc::new(UserRateThrottle {
            rate: huge,
            counter,
        }),
    ];
    let authenticated = request(&[], Some(user()));
    group.bench_function("anon_and_user_classes_authenticated", |b| {
        b.iter(|| {
            for throttle in &throttles {
                black_box(ready(throttle.allow_request(&authenticated, None)).is_ok());
            }
        })
    });
    group.finish();
}

fn permission_evaluation(c: &mut Criterion) {
    let mut group = c.benchmark_group("permissions");
    let anonymous = request(&[], None);
    let authenticated = request(&[], Some(user()));
    let simple = parse_permission_classes("IsAuthenticated").unwrap();
    let composite = parse_permission_classes(
        "IsAuthenticated, IsAdminUser | (IsAuthenticatedOrReadOnly & !IsAdminUser)",
    )
    .unwrap();
    for (name, classes, request) in [
        ("is_authenticated_allowed", &simple, &authenticated),
        ("is_authenticated_denied", &simple, &anonymous),
        ("composite_allowed", &composite, &authenticated),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                classes
                    .iter()
                    .all(|permission| permission.check(black_box(request)).is_ok())
            })
        });
    }
    group.bench_function("parse_composite_setting", |b| {
        b.iter(|| {
            parse_permission_classes(black_box(
                "IsAuthenticated, IsAdminUser | (IsAuthenticatedOrReadOnly & !IsAdminUser)",
            ))
            .map(|classes| classes.len())
        })
    });
    group.finish();
}

/// The signing key ring in the verify path: attached but empty (every server has one), and
/// in use, where the token's `kid` picks the key (a header decode and a map lookup more).
fn key_ring(c: &mut Criterion) {
    use portcullis::jwt::ring::{self, KeyRing};
    use portcullis::models::signing_keys;
    let dir = tempfile::tempdir().unwrap();
    let database_url = dir.path().join("ring.sqlite3");
    let database_url = database_url.to_str().unwrap().to_string();
    let secret = String::from_utf8(SECRET.to_vec()).unwrap();
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "SECRET_KEY" => Some(secret.clone()),
        _ => None,
    })
    .unwrap();
    portcullis::startup::migrate(&config).unwrap();
    let pool = portcullis::db::build_pool(&config.database);
    let mut group = c.benchmark_group("key_ring");
    let empty = Arc::new(KeyRing::load(pool.clone(), &secret, 86_400).unwrap());
    let with_empty_ring = backend().with_key_ring(empty);
    let raw = access_token(&with_empty_ring);
    assert!(Token::parse(&raw, &with_empty_ring, None, now()).is_ok());
    group.bench_function("parse_access_hs256_empty_ring", |b| {
        b.iter(|| Token::parse(black_box(&raw), &with_empty_ring, None, now()).is_ok())
    });
    let mut conn = portcullis::db::connect(&config.database.url).unwrap();
    let mut row = ring::generate(JwtAlgorithm::HS256, &secret, 1).unwrap();
    (row.activated_at, row.first_activated_at) = (Some(2), Some(2));
    signing_keys::insert(&mut conn, &row).unwrap();
    let in_use = Arc::new(KeyRing::load(pool, &secret, 86_400).unwrap());
    let with_ring = backend().with_key_ring(in_use);
    let raw = access_token(&with_ring);
    assert!(
        raw.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6"),
        "{raw}"
    );
    group.bench_function("parse_access_hs256_ring_kid", |b| {
        b.iter(|| Token::parse(black_box(&raw), &with_ring, None, now()).is_ok())
    });
    group.finish();
}

/// One check of a Django user's password: the fixture's `pbkdf2_sha256` hash, 1,000,000
/// iterations, Django 5.2's default (docs/performance.md compares it with Django's own check).
fn django_password_check(c: &mut Criterion) {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/django_hashes.json")).unwrap();
    let password = fixture["passwords"]["short"].as_str().unwrap().to_string();
    let encoded = fixture["hashes"][0]["encoded"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(encoded.starts_with("pbkdf2_sha256$1000000$"), "{encoded}");
    let hashers = Hashers::new(Hashers::default_order(), 12);
    assert!(hashers.verify(&password, &encoded).matches);
    let mut group = c.benchmark_group("django_password_check");
    group.sample_size(10);
    group.bench_function("pbkdf2_sha256_1000000", |b| {
        b.iter(|| hashers.verify(black_box(&password), &encoded).matches)
    });
    group.finish();
}

criterion_group!(
    benches,
    django_password_check,
    header_parsing,
    token_validation,
    key_ring,
    jwt_authentication,
    throttle_check,
    permission_evaluation
);
criterion_main!(benches);
