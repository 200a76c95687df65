//! The login failure limiter and the hashing queue's fair share, attacked through the real
//! server: Basic on any view, `/api/token/` and the admin login share one limit on failures,
//! decided before any hash, atomic under parallel attempts; one address cannot starve the
//! hashing pool for everybody else.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;

use crate::admin::{browser, login_token, staff};
use crate::helpers::*;

/// Clients behind a trusted proxy on loopback, told apart by `X-Forwarded-For`.
const PROXIED: (&str, &str) = ("TRUSTED_PROXIES", "127.0.0.1/32");

fn basic(username: &str, password: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {credentials}")
}

/// `GET /hello/` with Basic credentials from `client`; the status.
async fn hello_basic(app: &TestApp, client: &str, username: &str, password: &str) -> u16 {
    app.client
        .get(app.url("/hello/"))
        .header("Authorization", basic(username, password))
        .header("X-Forwarded-For", client)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `POST /api/token/` from `client`; the response.
async fn obtain_from(
    app: &TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/token/"))
        .header("X-Forwarded-For", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn basic_failures_are_limited_per_pair_and_shared_with_the_token_endpoint() {
    let app = spawn_app_with(&[PROXIED, ("LOGIN_FAILURE_RATES", "pair=3/min")]).await;
    app.seed_reference_users();
    let attacker = "203.0.113.9";
    for _ in 0..3 {
        assert_eq!(hello_basic(&app, attacker, "vitor", "wrong").await, 401);
    }
    let locked = app
        .client
        .get(app.url("/hello/"))
        .header("Authorization", basic("vitor", "wrong"))
        .header("X-Forwarded-For", attacker)
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
    assert!((1..=60).contains(&retry_after(&locked)));
    // No oracle: the right password is refused too while locked, on every path.
    assert_eq!(hello_basic(&app, attacker, "vitor", PASSWORD).await, 429);
    let (status, body) = json(obtain_from(&app, attacker, "vitor", PASSWORD).await).await;
    assert_eq!(status, 429, "{body}");
    // The owner elsewhere is not locked out, nor another username from the attacker.
    assert_eq!(
        hello_basic(&app, "198.51.100.7", "vitor", PASSWORD).await,
        200
    );
    assert_eq!(hello_basic(&app, attacker, "admin", PASSWORD).await, 200);
}

#[tokio::test]
async fn unknown_usernames_lock_the_same_way() {
    let app = spawn_app_with(&[PROXIED, ("LOGIN_FAILURE_RATES", "pair=2/min")]).await;
    for _ in 0..2 {
        let response = obtain_from(&app, "203.0.113.9", "nobody", "wrong").await;
        assert_eq!(response.status(), 401);
    }
    let response = obtain_from(&app, "203.0.113.9", "nobody", "wrong").await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn one_address_guessing_many_usernames_hits_the_ip_limit() {
    let app = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=100/min,ip=4/min,user=100/min"),
    ])
    .await;
    app.seed_reference_users();
    for i in 0..4 {
        let status = hello_basic(&app, "203.0.113.9", &format!("user{i}"), "x").await;
        assert_eq!(status, 401);
    }
    assert_eq!(hello_basic(&app, "203.0.113.9", "user9", "x").await, 429);
    // Another address of the same IPv6 /64 is the same client; another /64 is not.
    let app6 = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=100/min,ip=2/min,user=100/min"),
    ])
    .await;
    app6.seed_reference_users();
    assert_eq!(hello_basic(&app6, "2001:db8::1", "a", "x").await, 401);
    assert_eq!(hello_basic(&app6, "2001:db8::2", "b", "x").await, 401);
    assert_eq!(hello_basic(&app6, "2001:db8::3", "c", "x").await, 429);
    assert_eq!(
        hello_basic(&app6, "2001:db8:0:1::3", "vitor", PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn one_username_guessed_from_many_addresses_hits_the_user_limit() {
    let app = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=100/min,ip=100/min,user=3/hour"),
    ])
    .await;
    app.seed_reference_users();
    // The owner signed in from home earlier: that address is known for the account.
    assert_eq!(
        hello_basic(&app, "198.51.100.50", "vitor", PASSWORD).await,
        200
    );
    for i in 1..=3 {
        let status = hello_basic(&app, &format!("203.0.113.{i}"), "vitor", "x").await;
        assert_eq!(status, 401);
    }
    assert_eq!(hello_basic(&app, "203.0.113.77", "vitor", "x").await, 429);
    assert_eq!(
        hello_basic(&app, "203.0.113.78", "vitor", PASSWORD).await,
        429
    );
    // The lock on the account does not lock its owner out of the address they use.
    assert_eq!(
        hello_basic(&app, "198.51.100.50", "vitor", PASSWORD).await,
        200
    );
    // A wrong password from home still fails as usual.
    assert_eq!(hello_basic(&app, "198.51.100.50", "vitor", "x").await, 401);
}

#[tokio::test]
async fn successes_do_not_count() {
    let app = spawn_app_with(&[PROXIED, ("LOGIN_FAILURE_RATES", "pair=2/min,ip=2/min")]).await;
    app.seed_reference_users();
    for _ in 0..6 {
        assert_eq!(
            hello_basic(&app, "203.0.113.9", "vitor", PASSWORD).await,
            200
        );
    }
    assert_eq!(hello_basic(&app, "203.0.113.9", "vitor", "x").await, 401);
}

/// 30 attempts at once from one address (one right), with `pair=5/min`: at most 5 wrong
/// passwords are checked, whatever the interleaving (the right one is not a failure).
async fn parallel_attempts_check_at_most_the_limit(app: &TestApp) {
    app.seed_reference_users();
    let attempts = (0..30).map(|i| {
        let password = if i == 17 { PASSWORD } else { "wrong" };
        obtain_from(app, "203.0.113.9", "vitor", password)
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let wrong_checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        wrong_checked <= 5,
        "{wrong_checked} wrong passwords checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn parallel_attempts_cannot_walk_through_the_limit() {
    let app = spawn_app_with(&[PROXIED, ("LOGIN_FAILURE_RATES", "pair=5/min")]).await;
    parallel_attempts_check_at_most_the_limit(&app).await;
}

#[tokio::test]
async fn parallel_attempts_cannot_walk_through_the_limit_in_redis() {
    let redis = std::env::var("REDIS_TEST_URL").unwrap_or("redis://127.0.0.1:6379".into());
    let prefix = format!("portcullis-test-{}:", uuid::Uuid::new_v4().simple());
    let app = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=5/min"),
        ("REDIS_URL", &redis),
        ("REDIS_KEY_PREFIX", &prefix),
    ])
    .await;
    parallel_attempts_check_at_most_the_limit(&app).await;
}

#[tokio::test]
async fn parallel_admin_logins_cannot_walk_through_the_lockout() {
    let app = spawn_app_with(&[("LOGIN_FAILURE_RATES", "pair=5/min")]).await;
    app.create_user("boss", PASSWORD, staff());
    let client = browser();
    let token = login_token(&app, &client).await;
    let attempts = (0..30).map(|i| {
        let password = if i == 29 { PASSWORD } else { "wrong" };
        client
            .post(app.url("/admin/login/"))
            .form(&[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", "boss"),
                ("password", password),
            ])
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let wrong_checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        wrong_checked <= 5,
        "{wrong_checked} wrong passwords checked: {statuses:?}"
    );
}

#[tokio::test]
async fn the_limits_stay_on_when_redis_is_down_and_throttling_fails_open() {
    let app = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=2/min"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("THROTTLE_FAILURE_MODE", "open"),
    ])
    .await;
    app.seed_reference_users();
    for _ in 0..2 {
        assert_eq!(hello_basic(&app, "203.0.113.9", "vitor", "x").await, 401);
    }
    assert_eq!(hello_basic(&app, "203.0.113.9", "vitor", "x").await, 429);
}

/// Stores a hash made at `cost` for an existing user (the helper's users are at cost 4).
fn set_hash(app: &TestApp, username: &str, hash: &str) {
    use diesel::prelude::*;
    use portcullis::db::schema::users;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    diesel::update(users::table.filter(users::username.eq(username)))
        .set(users::password.eq(hash))
        .execute(&mut conn)
        .unwrap();
}

#[tokio::test]
async fn a_flood_from_one_address_does_not_stop_logins_from_another() {
    // One hashing thread and a small queue; the limiter out of the way, so the queue's fair
    // share alone is what is tested.
    let app = spawn_app_with(&[
        PROXIED,
        ("HASHER_THREADS", "1"),
        ("HASHER_QUEUE", "8"),
        ("BCRYPT_COST", "8"),
    ])
    .await;
    app.seed_reference_users();
    app.create_user("victim", PASSWORD, Default::default());
    set_hash(
        &app,
        "vitor",
        &portcullis::hashers::hash_password("x", 8).unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(3);
    let flood = (0..40).map(|_| {
        let app = &app;
        async move {
            let mut busy = 0;
            while Instant::now() < until {
                if hello_basic(app, "203.0.113.9", "vitor", "wrong").await == 503 {
                    busy += 1;
                }
            }
            busy
        }
    });
    let victim = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(
                obtain_from(&app, "198.51.100.7", "victim", PASSWORD)
                    .await
                    .status(),
            );
        }
        statuses
    };
    let (busy, statuses) = tokio::join!(futures_util::future::join_all(flood), victim);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        busy.iter().sum::<u32>() > 0,
        "the flood never filled its share"
    );
}

#[tokio::test]
async fn a_stored_hash_that_is_not_bcrypt_costs_a_full_check() {
    let app = spawn_app_with(&[("BCRYPT_COST", "8"), ("HASHER_THREADS", "1")]).await;
    app.create_user("bcrypt", PASSWORD, Default::default());
    app.create_user("django", PASSWORD, Default::default());
    set_hash(
        &app,
        "bcrypt",
        &portcullis::hashers::hash_password(PASSWORD, 8).unwrap(),
    );
    set_hash(&app, "django", "pbkdf2_sha256$870000$c2FsdA$aGFzaA==");
    // Interleaved, so a busy machine slows both alike; medians of 7.
    let mut samples = [Vec::new(), Vec::new()];
    for _ in 0..7 {
        for (i, username) in ["bcrypt", "django"].into_iter().enumerate() {
            let started = Instant::now();
            let response = obtain_from(&app, "127.0.0.1", username, "wrong").await;
            assert_eq!(response.status(), 401);
            samples[i].push(started.elapsed());
        }
    }
    let [bcrypt, django] = samples.map(|mut s| {
        s.sort();
        s[3]
    });
    // Answering without a check takes a few ms, against tens for a check at cost 8.
    assert!(
        django * 4 >= bcrypt,
        "a non-bcrypt hash answered in {django:?}, a wrong bcrypt password in {bcrypt:?}"
    );
    // The right password does not match a hash we cannot check.
    assert_eq!(
        obtain_from(&app, "127.0.0.1", "django", PASSWORD)
            .await
            .status(),
        401
    );
}

/// A listener on `[::]` behind an IPv4 proxy sees the proxy as `::ffff:127.0.0.1`; it is still
/// the trusted `127.0.0.1`, so clients stay apart by `X-Forwarded-For` (before: every client
/// was the proxy, and one guesser locked everyone out).
#[tokio::test]
async fn a_dual_stack_listener_trusts_its_ipv4_mapped_proxy() {
    let app = spawn_app_with(&[
        PROXIED,
        ("BIND", "[::]:0"),
        ("LOGIN_FAILURE_RATES", "pair=3/min,ip=100/min,user=100/min"),
        ("THROTTLE_RATES", "anon=2/min,user=100000/min"),
    ])
    .await;
    app.seed_reference_users();
    let attacker = "203.0.113.9";
    for _ in 0..3 {
        assert_eq!(hello_basic(&app, attacker, "vitor", "wrong").await, 401);
    }
    assert_eq!(hello_basic(&app, attacker, "vitor", "wrong").await, 429);
    // Another client behind the same proxy still signs in.
    let response = obtain_from(&app, "198.51.100.7", "vitor", PASSWORD).await;
    assert_eq!(response.status(), 200);
    // The anonymous throttle counts per client, not per proxy.
    let anonymous = |client: &'static str| {
        app.client
            .post(app.url("/api/token/verify/"))
            .header("X-Forwarded-For", client)
            .json(&json!({"token": "garbage"}))
            .send()
    };
    for _ in 0..2 {
        assert_ne!(anonymous("192.0.2.1").await.unwrap().status(), 429);
    }
    assert_eq!(anonymous("192.0.2.1").await.unwrap().status(), 429);
    assert_ne!(anonymous("192.0.2.2").await.unwrap().status(), 429);
}

/// A flood of cheap requests from many new addresses fills the throttles' store; the login
/// failure limiter keeps its own, so no lock and no known-address mark is pushed out (before:
/// the flood's keys, each over its anonymous limit, evicted an account's lock: a wrong password
/// from a new address was checked again, the right one signed in).
#[tokio::test]
async fn a_flood_of_throttle_keys_erases_no_lock_and_no_known_address() {
    let app = spawn_app_with(&[
        PROXIED,
        ("THROTTLE_MAX_KEYS", "160"),
        ("THROTTLE_RATES", "anon=5/min,user=100000/min"),
        ("LOGIN_FAILURE_RATES", "pair=3/20s,ip=100/min,user=6/30s"),
    ])
    .await;
    app.seed_reference_users();
    let app = &app;
    let owner = "198.51.100.1";
    assert_eq!(
        obtain_from(app, owner, "vitor", PASSWORD).await.status(),
        200
    );
    // One address locked out of `admin` by `pair`; `vitor` locked for new addresses by `user`.
    for _ in 0..3 {
        let response = obtain_from(app, "203.0.113.1", "admin", "wrong").await;
        assert_eq!(response.status(), 401);
    }
    for attacker in ["203.0.113.2", "203.0.113.3"] {
        for _ in 0..3 {
            let response = obtain_from(app, attacker, "vitor", "wrong").await;
            assert_eq!(response.status(), 401);
        }
    }
    let assert_locks_hold = |when: &'static str| async move {
        let paired = obtain_from(app, "203.0.113.1", "admin", PASSWORD).await;
        assert_eq!(paired.status(), 429, "{when}: the pair lock");
        let guess = obtain_from(app, "203.0.113.4", "vitor", "wrong").await;
        assert_eq!(guess.status(), 429, "{when}: the account lock");
        let right = obtain_from(app, "203.0.113.5", "vitor", PASSWORD).await;
        assert_eq!(right.status(), 429, "{when}: the account lock");
        let known = obtain_from(app, owner, "vitor", PASSWORD).await;
        assert_eq!(known.status(), 200, "{when}: the owner's known address");
    };
    assert_locks_hold("before the flood").await;

    // The locks age a little (a lock evicted first was one with less of its window to run).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // 400 new addresses one after the other, each over its anonymous limit (6 requests for
    // 5) before the next arrives: 2.5 times the store's keys, each more in force than an aging
    // lock (the eviction order of a store shared with the throttles).
    let flood = |address: String| async move {
        for _ in 0..6 {
            let response = app
                .client
                .post(app.url("/api/token/verify/"))
                .header("X-Forwarded-For", address.as_str())
                .json(&json!({"token": "garbage"}))
                .send()
                .await
                .unwrap();
            assert!([401, 429].contains(&response.status().as_u16()));
        }
    };
    for i in 0..400 {
        flood(format!("10.0.{}.{}", i / 200, i % 200)).await;
    }
    assert_locks_hold("after the flood").await;
}

/// The limiter's login partition keeps every lock: full of live locks, it refuses a new
/// address/username pair's password check (429) instead of forgetting a lock to make room.
#[tokio::test]
async fn a_login_store_full_of_locks_refuses_new_checks_instead_of_forgetting_one() {
    let app = spawn_app_with(&[
        PROXIED,
        ("THROTTLE_MAX_KEYS", "16"),
        ("LOGIN_FAILURE_RATES", "pair=1/min,ip=1/min,user=100/hour"),
    ])
    .await;
    app.seed_reference_users();
    // Every address's `ip` and `pair` keys locked at once (1 failure each): the partition of 16
    // keys (one per shard) fills with locks.
    let mut refused = 0;
    for i in 0..64 {
        let status = obtain_from(&app, &format!("192.0.2.{i}"), "vitor", "wrong")
            .await
            .status();
        assert!([401, 429].contains(&status.as_u16()), "{status}");
        refused += usize::from(status == 429);
    }
    assert!(refused > 0, "a full partition refused nothing");
    // The locks that were made all hold.
    for i in 0..64 {
        let status = obtain_from(&app, &format!("192.0.2.{i}"), "vitor", PASSWORD)
            .await
            .status();
        assert_eq!(status, 429, "address {i}");
    }
}

/// Right passwords are not refused because of attempts still in flight: 30 simultaneous right
/// logins from one address, with the default limits, all sign in (before: 11 x 200 and
/// 19 x 429, the reservations of checks still running counted as failures), on `/api/token/`
/// and `/api/auth-token/`; and 16 clients behind one address signing in in a loop are all
/// served.
#[tokio::test]
async fn parallel_right_passwords_from_one_address_all_sign_in() {
    let app = spawn_app_with(&[
        PROXIED,
        ("LOGIN_FAILURE_RATES", "pair=5/min,ip=30/min,user=100/hour"),
        ("AUTHENTICATION_CLASSES", "jwt,session,basic,token"),
    ])
    .await;
    app.seed_reference_users();
    let nat = "203.0.113.50";
    for path in ["/api/token/", "/api/auth-token/"] {
        let logins = (0..30).map(|_| {
            app.client
                .post(app.url(path))
                .header("X-Forwarded-For", nat)
                .json(&json!({"username": "vitor", "password": PASSWORD}))
                .send()
        });
        let statuses: Vec<u16> = futures_util::future::join_all(logins)
            .await
            .into_iter()
            .map(|r| r.unwrap().status().as_u16())
            .collect();
        assert!(statuses.iter().all(|s| *s == 200), "{path}: {statuses:?}");
    }
    let client_loop = |_| async {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let response = obtain_from(&app, nat, "vitor", PASSWORD).await;
            statuses.push(response.status().as_u16());
        }
        statuses
    };
    let statuses: Vec<u16> = futures_util::future::join_all((0..16).map(client_loop))
        .await
        .concat();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Wrong passwords from there are still limited: 5 checked, then locked.
    for _ in 0..5 {
        assert_eq!(obtain_from(&app, nat, "vitor", "wrong").await.status(), 401);
    }
    assert_eq!(
        obtain_from(&app, nat, "vitor", PASSWORD).await.status(),
        429
    );
}
