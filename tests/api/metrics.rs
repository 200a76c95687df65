//! The Prometheus endpoint (`METRICS_BIND`): real traffic, then the scrape's counters moved by
//! exactly what happened; the scrape passes `promtool check metrics`; never on the public port.

use std::collections::BTreeMap;

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

/// One scrape: every sample by metric name and its labels.
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value.parse().expect("a number")));
        }
        Scrape { text, samples }
    }

    /// The sum of `name`'s samples whose labels include `labels` (0 when none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let port = app.metrics_port.expect("METRICS_BIND is set");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Scrape::parse(response.text().await.unwrap())
}

/// `promtool check metrics` (Debian's `prometheus` package; `scripts/test` installs it).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test installs Debian's prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics refused the scrape:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

const WITH_METRICS: (&str, &str) = ("METRICS_BIND", "127.0.0.1:0");

#[tokio::test]
async fn the_scrape_counts_logins_reuse_a_lock_and_a_throttled_client() {
    let app = spawn_app_with(&[
        WITH_METRICS,
        ("TOKEN_FAMILIES", "true"),
        ("REFRESH_REUSE_GRACE_SECONDS", "0"),
        ("LOGIN_FAILURE_RATES", "pair=3/min"),
        ("THROTTLE_RATES", "anon=1000/min,user=10/min"),
    ])
    .await;
    app.seed_reference_users();
    let before = scrape(&app).await;

    // Two logins, one refresh with rotation, then the old refresh token again: reuse.
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    // The reuse below ends vitor's family, its access tokens too: /hello/ as admin.
    let (_, access) = app.obtain("admin", PASSWORD).await;
    let refreshed = app
        .post_json("/api/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(refreshed.status(), 200);
    let reused = app
        .post_json("/api/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(reused.status(), 401);

    // Three wrong passwords for one account, then the pair limit locks the fourth.
    for _ in 0..3 {
        let wrong = json!({ "username": "inactive-nobody", "password": "wrong" });
        assert_eq!(app.post_json("/api/token/", &wrong).await.status(), 401);
    }
    let locked = json!({ "username": "inactive-nobody", "password": "wrong" });
    assert_eq!(app.post_json("/api/token/", &locked).await.status(), 429);

    // /hello/: ten allowed for the user (user=10/min, the logins above counted under the
    // address), the eleventh throttled; one without credentials, one with a bad token.
    for _ in 0..10 {
        assert_eq!(app.get_with_token("/hello/", &access).await.status(), 200);
    }
    assert_eq!(app.get_with_token("/hello/", &access).await.status(), 429);
    let anonymous = app.client.get(app.url("/hello/")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = app.get_with_token("/hello/", "not.a.token").await;
    assert_eq!(forged.status(), 401);

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let events = "portcullis_token_events_total";
    assert_eq!(moved(events, &[("event", "obtained")]), 2.0);
    assert_eq!(moved(events, &[("event", "refreshed")]), 1.0);
    assert_eq!(moved(events, &[("event", "reuse_detected")]), 1.0);
    assert_eq!(moved(events, &[("event", "family_revoked")]), 1.0);
    assert_eq!(moved("portcullis_failed_password_checks_total", &[]), 3.0);
    assert_eq!(
        moved(
            "portcullis_login_limiter_refusals_total",
            &[("limit", "pair")]
        ),
        1.0
    );
    let requests = "portcullis_http_requests_total";
    let hello = [("view", "/hello/"), ("method", "GET")];
    assert_eq!(
        moved(requests, &[hello[0], hello[1], ("status", "200")]),
        10.0
    );
    assert_eq!(
        moved(requests, &[hello[0], hello[1], ("status", "429")]),
        1.0
    );
    assert_eq!(
        moved(requests, &[hello[0], hello[1], ("status", "401")]),
        2.0
    );
    assert_eq!(
        moved(
            requests,
            &[
                ("view", "/api/token/"),
                ("method", "POST"),
                ("status", "429")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "portcullis_http_request_duration_seconds_count",
            &[("view", "/hello/")]
        ),
        13.0
    );
    assert_eq!(
        moved(
            "portcullis_throttled_total",
            &[("class", "UserRateThrottle"), ("scope", "user")]
        ),
        1.0
    );
    let authentication = "portcullis_authentication_total";
    let jwt = ("class", "JWTAuthentication");
    assert_eq!(
        moved(authentication, &[jwt, ("outcome", "authenticated")]),
        11.0
    );
    assert_eq!(
        moved(
            authentication,
            &[jwt, ("outcome", "failed"), ("code", "token_not_valid")]
        ),
        1.0
    );
    assert_eq!(
        moved(authentication, &[jwt, ("outcome", "not_attempted")]),
        1.0
    );
    assert_eq!(
        moved(
            "portcullis_permission_denied_total",
            &[("class", "IsAuthenticated")]
        ),
        1.0
    );
    assert!(moved("portcullis_db_pool_wait_seconds_count", &[]) >= 4.0);
    assert!(
        after.value("portcullis_db_pool_connections", &[("state", "idle")])
            + after.value("portcullis_db_pool_connections", &[("state", "in_use")])
            >= 1.0
    );
    assert!(after.value("portcullis_revoked_families", &[]) >= 1.0);
    assert_eq!(
        after.value(
            "portcullis_build_info",
            &[("algorithm", "HS256"), ("throttle_store", "memory")]
        ),
        1.0
    );
    // No username, address or token reaches a label.
    for secret in ["vitor", "127.0.0.1", &access[..20]] {
        assert!(
            !after.text.contains(secret),
            "{secret} leaked into the scrape"
        );
    }
    promtool_accepts(&after.text);
}

#[tokio::test]
async fn metrics_stay_off_the_public_port_and_off_without_metrics_bind() {
    let app = spawn_app_with(&[WITH_METRICS]).await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    // An unknown route counts under one label, not its path.
    app.client
        .get(app.url("/no/such/path/12345/"))
        .send()
        .await
        .unwrap();
    let scraped = scrape(&app).await;
    assert!(!scraped.text.contains("12345"));
    assert!(
        scraped.value(
            "portcullis_http_requests_total",
            &[("view", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    // Only GET /metrics is served on the metrics listener.
    let port = app.metrics_port.unwrap();
    let other = reqwest::get(format!("http://127.0.0.1:{port}/hello/"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    let plain = spawn_app_with(&[]).await;
    assert_eq!(plain.metrics_port, None);
}

#[tokio::test]
async fn redis_round_trips_errors_and_the_fallback_are_counted() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[WITH_METRICS, ("REDIS_URL", &url)]).await;
    let before = scrape(&app).await;
    // The login failure limits hold with this instance's counts; the login is answered.
    let wrong = json!({ "username": "nobody", "password": "wrong" });
    assert_eq!(app.post_json("/api/token/", &wrong).await.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = scrape(&app).await;
    assert!(
        after.value("portcullis_redis_errors_total", &[])
            > before.value("portcullis_redis_errors_total", &[])
    );
    assert!(after.value("portcullis_redis_fallback_seconds_total", &[]) > 0.2);
    promtool_accepts(&after.text);

    let redis = std::env::var("REDIS_TEST_URL").unwrap_or("redis://127.0.0.1:6379".into());
    let app = spawn_app_with(&[WITH_METRICS, ("REDIS_URL", &redis)]).await;
    let before = scrape(&app).await;
    let username = format!("nobody-{}", uuid::Uuid::new_v4().simple());
    let wrong = json!({ "username": username, "password": "wrong" });
    for _ in 0..3 {
        assert_eq!(app.post_json("/api/token/", &wrong).await.status(), 401);
    }
    let after = scrape(&app).await;
    // Each login runs the throttles and the limiter in Redis: several trips each.
    assert!(
        after.value("portcullis_redis_round_trips_total", &[])
            - before.value("portcullis_redis_round_trips_total", &[])
            >= 3.0
    );
}

/// The names a PromQL expression reads (`portcullis_...`), and the labels of its `by (...)`.
fn names_and_groupings(expr: &str) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    for (start, _) in expr.match_indices("portcullis_") {
        let name: String = expr[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.push(name);
    }
    let mut labels = Vec::new();
    for (start, _) in expr.match_indices("by (") {
        let rest = &expr[start + 4..];
        let list = &rest[..rest.find(')').expect("by (...) closes")];
        labels.extend(list.split(',').map(|label| label.trim().to_string()));
    }
    (names, labels)
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_what_the_scrape_shows() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/portcullis.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    assert_eq!(dashboard["uid"], "portcullis");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["query"] == "prometheus")
    );
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut ids = std::collections::HashSet::new();
    let mut queries = Vec::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().expect("a numeric id")));
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(["timeseries", "table"].contains(&panel["type"].as_str().unwrap()));
        for field in ["h", "w", "x", "y"] {
            assert!(panel["gridPos"][field].is_u64(), "{}", panel["title"]);
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty());
        for target in targets {
            queries.push(target["expr"].as_str().expect("an expr").to_string());
        }
    }

    // Traffic that makes every series appear: a login, a failed one, a user throttled, an
    // anonymous refusal.
    let app = spawn_app_with(&[WITH_METRICS, ("THROTTLE_RATES", "anon=1000/min,user=3/min")]).await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let wrong = json!({ "username": "vitor", "password": "wrong" });
    assert_eq!(app.post_json("/api/token/", &wrong).await.status(), 401);
    for _ in 0..4 {
        app.get_with_token("/hello/", &access).await;
    }
    app.client.get(app.url("/hello/")).send().await.unwrap();
    let scraped = scrape(&app).await;

    let mut read = std::collections::BTreeSet::new();
    for expr in &queries {
        let (names, groupings) = names_and_groupings(expr);
        assert!(!names.is_empty(), "{expr} reads no portcullis metric");
        for name in names {
            let samples: Vec<_> = scraped
                .samples
                .iter()
                .filter(|(n, ..)| *n == name)
                .collect();
            assert!(
                !samples.is_empty(),
                "{name} (in {expr}) is not in the scrape"
            );
            for label in &groupings {
                assert!(
                    samples
                        .iter()
                        .any(|(_, labels, _)| labels.contains_key(label)),
                    "{name} has no label {label} (in {expr})"
                );
            }
            read.insert(name);
        }
    }
    // Every family of the scrape is on the dashboard (histograms by their buckets).
    for line in scraped.text.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            let (name, kind) = family.split_once(' ').unwrap();
            let shown = if kind == "histogram" {
                format!("{name}_bucket")
            } else {
                name.to_string()
            };
            assert!(read.contains(&shown), "{shown} is not on the dashboard");
        }
    }

    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus.yml");
    let checked = std::process::Command::new("promtool")
        .args(["check", "config", config])
        .output()
        .expect("promtool is installed");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

#[tokio::test]
async fn hashing_refusals_are_counted_once_each_and_the_queue_gauges_return_to_zero() {
    // One hashing thread, a queue of four (a client's share: one check).
    let app = spawn_app_with(&[
        WITH_METRICS,
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("HASHER_THREADS", "1"),
        ("HASHER_QUEUE", "4"),
        ("BCRYPT_COST", "10"),
    ])
    .await;
    app.seed_reference_users();
    let before = scrape(&app).await;
    // Twelve addresses, two checks each at once: a second check of one address is over its
    // share, and past four queued the queue is full.
    let attempts = (0..24).map(|i| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/token/"))
                .header("X-Forwarded-For", format!("203.0.113.{}", i / 2))
                .json(&json!({ "username": "vitor", "password": "wrong" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let busy = statuses.iter().filter(|s| **s == 503).count() as f64;
    assert!(busy > 0.0, "the queue never refused: {statuses:?}");
    let after = scrape(&app).await;
    let refusals = "portcullis_hasher_refusals_total";
    let fair_share = after.value(refusals, &[("reason", "fair_share")])
        - before.value(refusals, &[("reason", "fair_share")]);
    let queue_full = after.value(refusals, &[("reason", "queue_full")])
        - before.value(refusals, &[("reason", "queue_full")]);
    assert_eq!(fair_share + queue_full, busy, "{statuses:?}");
    assert_eq!(after.value("portcullis_hasher_queue_depth", &[]), 0.0);
    assert_eq!(after.value("portcullis_hasher_in_flight", &[]), 0.0);
    let checked = statuses.iter().filter(|s| **s == 401).count() as f64;
    assert_eq!(
        after.value("portcullis_failed_password_checks_total", &[])
            - before.value("portcullis_failed_password_checks_total", &[]),
        checked
    );
}
