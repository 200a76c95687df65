//! deploy/nginx.conf, run for real in front of two `portcullis serve` processes.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use super::instances::{Instance, Nginx, signal, static_dir};
use super::{SharedDatabase, redis_url, unique_prefix};
use crate::helpers::PASSWORD;

const DEPLOY_UPSTREAMS: &str = "    server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;\n    server 127.0.0.1:8002 max_fails=1 fail_timeout=5s;\n";

/// deploy/nginx.conf with loopback ports and this checkout's static/, inside a main config that
/// keeps every file nginx writes (pid, logs, temp bodies) in `dir`.
pub fn loopback_config(dir: &Path, port: u16, upstream_ports: &[u16]) -> String {
    let site =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"))
            .unwrap();
    for expected in [DEPLOY_UPSTREAMS, "listen 80;", "/srv/portcullis/static/"] {
        assert!(
            site.contains(expected),
            "deploy/nginx.conf no longer has {expected:?}"
        );
    }
    let upstreams: String = upstream_ports
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
        .collect();
    let site = site
        .replace(DEPLOY_UPSTREAMS, &upstreams)
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "/srv/portcullis/static/",
            &format!("{}/", static_dir().display()),
        );
    let d = dir.display();
    let mime_types = if Path::new("/etc/nginx/mime.types").is_file() {
        "include /etc/nginx/mime.types;"
    } else {
        ""
    };
    // As root, nginx would switch its workers to `nobody`, who cannot write the private temp dir.
    let user = if is_root() { "user root;" } else { "" };
    format!(
        "daemon off;\n{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n{mime_types}\ndefault_type application/octet-stream;\naccess_log {d}/access.log;\n\
         client_body_temp_path {d}/client_body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    )
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A file of the project's static/: portcullis.css, or whatever the admin pages ship there
/// (admin.css); portcullis.css is created only when static/ has no file at all.
fn static_file() -> (String, String) {
    let dir = static_dir();
    let preferred = dir.join("portcullis.css");
    let path = if preferred.is_file() {
        preferred
    } else {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.into_iter().next().unwrap_or_else(|| {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                &preferred,
                "/* portcullis */\nbody { font-family: sans-serif; }\n",
            )
            .unwrap();
            preferred
        })
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (
        format!("/static/{name}"),
        std::fs::read_to_string(&path).unwrap(),
    )
}

/// A client on its own loopback address: nginx is on 127.0.0.1, the trusted proxy, so a client
/// there would itself count as a trusted hop.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_two_instances_serves_tokens_static_files_and_survives_sigterm() {
    let db = SharedDatabase::fresh();
    db.migrate();
    db.create_user("vitor");
    let prefix = unique_prefix();
    let redis = redis_url();
    let vars = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("THROTTLE_RATES", "anon=5/min,user=100000/min"),
        ("SHUTDOWN_TIMEOUT", "10"),
    ];
    let mut first = Instance::start(&vars);
    let second = Instance::start(&vars);
    let nginx = Nginx::start(&[first.port, second.port]);
    let client = client_from("127.0.0.2");

    // A token through nginx (anonymous: the first of the client's 5 anon requests).
    let response = client
        .post(nginx.url("/api/token/"))
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    let tokens: serde_json::Value = response.json().await.unwrap();
    let access = tokens["access"].as_str().unwrap().to_string();

    // /hello/ through nginx.
    let hello = client
        .get(nginx.url("/hello/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), 200);
    assert_eq!(
        hello.json::<serde_json::Value>().await.unwrap(),
        crate::helpers::hello_world()
    );

    // A static file straight from disk: no application header on it.
    let (path, contents) = static_file();
    let css = client.get(nginx.url(&path)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers().get("x-frame-options").is_none(),
        "served by the app"
    );
    assert_eq!(css.text().await.unwrap(), contents);

    // A new X-Forwarded-For per request does not buy a new anon bucket: 4 left, then 429.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = client
            .post(nginx.url("/api/token/verify/"))
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    // ...while another client address has its own bucket.
    let other = client_from("127.0.0.3")
        .post(nginx.url("/api/token/verify/"))
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);

    // SIGTERM to one instance in the middle of a burst: no request fails at the client.
    let done = Arc::new(AtomicUsize::new(0));
    let pid = first.pid();
    let results: Vec<Result<u16, String>> = futures_util::stream::iter(0..400)
        .map(|_| {
            let (client, url, access, done) = (
                client.clone(),
                nginx.url("/hello/"),
                access.clone(),
                Arc::clone(&done),
            );
            async move {
                let result = client
                    .get(url)
                    .bearer_auth(access)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string());
                if done.fetch_add(1, Ordering::SeqCst) == 100 {
                    assert!(signal(pid, "TERM"));
                }
                result
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let failures: Vec<_> = results.iter().filter(|r| *r != &Ok(200)).collect();
    assert!(
        failures.is_empty(),
        "{} of 400 failed: {:?}\nnginx:\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        nginx.error_log()
    );
    let status = first.wait_exit(Duration::from_secs(20));
    let log = first.log();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(
        log.matches("GET /hello/").count() > 1,
        "the instance served part of the burst"
    );
    assert!(status.success(), "{status}:\n{}", first.log());

    // The remaining instance carries on alone.
    for _ in 0..5 {
        let response = client
            .get(nginx.url("/hello/"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    drop(second);
}
