//! Starts a real portcullis on 127.0.0.1:0 with its own database, and talks HTTP to it.
//!
//! `TEST_DATABASE_URL` unset: a fresh SQLite file per app. Set to a PostgreSQL URL
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`): a fresh database per app on that server,
//! dropped when the app is dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;

use portcullis::config::Config;
use portcullis::db;
use portcullis::hashers::hash_password;
use portcullis::models::users::{self, NewUser};
use portcullis::rest::APIView;
use portcullis::state::AppState;
use serde_json::Value;

pub const PASSWORD: &str = "Jwt-Ref-Passw0rd!2024";
pub const SECRET_KEY: &str = "test-secret-key-that-is-long-enough-for-hs256";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub database_url: String,
    pub config: Config,
    pub client: reqwest::Client,
    /// The metrics listener's port, with `METRICS_BIND`.
    pub metrics_port: Option<u16>,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// Settings every test app starts from; tests override any of them.
fn base_vars() -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let set = |vars: &mut HashMap<String, String>, k: &str, v: &str| {
        vars.insert(k.to_string(), v.to_string());
    };
    set(&mut vars, "SECRET_KEY", SECRET_KEY);
    set(&mut vars, "BIND", "127.0.0.1:0");
    set(&mut vars, "WORKERS", "2");
    set(&mut vars, "BCRYPT_COST", "4");
    set(&mut vars, "RUST_LOG", "warn");
    set(
        &mut vars,
        "THROTTLE_RATES",
        "anon=100000/min,user=100000/min",
    );
    set(
        &mut vars,
        "LOGIN_FAILURE_RATES",
        "pair=100000/min,ip=100000/min,user=100000/min",
    );
    set(
        &mut vars,
        "STATIC_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/static"),
    );
    set(
        &mut vars,
        "TEMPLATES_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
    );
    vars
}

/// A fresh database for one app: a SQLite file, or a new PostgreSQL database.
fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => (dir.join("db.sqlite3").to_str().unwrap().to_string(), None),
        Some(server_url) => {
            let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = db::connect(&server_url)
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL={server_url} is unreachable: {e}"));
            use diesel::connection::SimpleConnection;
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create the test database");
            let (base, _) = server_url
                .rsplit_once('/')
                .expect("URL with a database name");
            (format!("{base}/{name}"), Some((server_url.clone(), name)))
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// An app with the reference's users (`seed_reference_users`).
pub async fn spawn_seeded_app() -> TestApp {
    let app = spawn_app().await;
    app.seed_reference_users();
    app
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_with_views(overrides, |_| Vec::new()).await
}

/// An app that also serves the test's own views, as a project built on portcullis would.
pub async fn spawn_app_with_views(
    overrides: &[(&str, &str)],
    views: impl Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync + 'static,
) -> TestApp {
    spawn_app_with_extensions(overrides, views, None).await
}

/// An app with the test's views and its own token claims.
pub async fn spawn_app_with_extensions(
    overrides: &[(&str, &str)],
    views: impl Fn(&AppState) -> Vec<(&'static str, APIView)> + Send + Sync + 'static,
    token_claims: Option<portcullis::jwt::serializers::TokenClaims>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = base_vars();
    let (database_url, postgres) = fresh_database(dir.path());
    vars.insert("DATABASE_URL".into(), database_url.clone());
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test config");
    // `BIND=[::]:0` gives a dual-stack listener: IPv4 clients then arrive as `::ffff:127.0.0.1`.
    let listener = TcpListener::bind(vars["BIND"].as_str()).unwrap();
    let app = portcullis::startup::Application::with_extensions(
        config.clone(),
        listener,
        views,
        token_claims,
    )
    .expect("the application starts");
    let port = app.port;
    let metrics_port = app.metrics_port;
    tokio::spawn(app.server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url,
        config,
        client: client(),
        metrics_port,
        dir,
        postgres,
    }
}

/// A client that does not follow redirects, so 301/302 can be asserted.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((server_url, name)) = self.postgres.take()
            && let Ok(mut conn) = db::connect(&server_url)
        {
            use diesel::connection::SimpleConnection;
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub inactive: bool,
    pub staff: bool,
    pub superuser: bool,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a user straight in the database; returns its id.
    pub fn create_user(&self, username: &str, password: &str, flags: Flags) -> i32 {
        self.create_user_with_hash(username, &hash_password(password, 4).unwrap(), flags)
    }

    /// Creates a user whose stored password hash is `hash` (e.g. one Django made).
    pub fn create_user_with_hash(&self, username: &str, hash: &str, flags: Flags) -> i32 {
        let mut conn = db::connect(&self.database_url).unwrap();
        users::create(
            &mut conn,
            &NewUser {
                username: username.into(),
                email: String::new(),
                password_hash: hash.into(),
                is_active: !flags.inactive,
                is_staff: flags.staff,
                is_superuser: flags.superuser,
            },
        )
        .unwrap()
    }

    /// The password hash stored for `username` now.
    pub fn stored_hash(&self, username: &str) -> String {
        let mut conn = db::connect(&self.database_url).unwrap();
        users::find_with_password(&mut conn, username)
            .unwrap()
            .expect("the user exists")
            .password
    }

    /// The reference's users: `vitor` (1), `inactive` (2), `admin` (3).
    pub fn seed_reference_users(&self) {
        self.create_user("vitor", PASSWORD, Flags::default());
        self.create_user(
            "inactive",
            PASSWORD,
            Flags {
                inactive: true,
                ..Default::default()
            },
        );
        self.create_user(
            "admin",
            PASSWORD,
            Flags {
                staff: true,
                superuser: true,
                ..Default::default()
            },
        );
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, access: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("Authorization", format!("Bearer {access}"))
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/token/`; returns (refresh, access).
    pub async fn obtain(&self, username: &str, password: &str) -> (String, String) {
        let response = self
            .post_json(
                "/api/token/",
                &serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "obtain failed for {username}");
        let body: Value = response.json().await.unwrap();
        (
            body["refresh"].as_str().unwrap().to_string(),
            body["access"].as_str().unwrap().to_string(),
        )
    }

    /// Signs arbitrary claims with the app's signing key (tokens the server never issued),
    /// without the `aud`/`iss` it would add.
    pub fn sign(&self, claims: Value) -> String {
        let jwt = &self.config.jwt;
        let keys = portcullis::jwt::keys::JwtKeys::load(
            jwt.algorithm,
            jwt.signing_key.as_ref().map(|key| key.expose()),
            jwt.verifying_key.as_deref(),
            false,
        )
        .unwrap();
        portcullis::jwt::TokenBackend::with_keys(keys, jwt.algorithm, 0, Default::default())
            .encode(claims.as_object().unwrap())
            .unwrap()
    }
}

/// Status and JSON body of a response.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The payload of a JWT, decoded without verification.
pub fn claims(token: &str) -> Value {
    token_part(token, 1)
}

/// The JOSE header of a JWT.
pub fn header(token: &str) -> Value {
    token_part(token, 0)
}

fn token_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests and replies used across the API tests.

/// A response read in full: status, headers, raw body and the body as JSON (`Null` if not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the exact JSON body, with `Content-Type: application/json`.
    pub fn assert_json(&self, status: u16, body: Value) {
        assert_eq!(
            (self.status, &self.body),
            (status, &body),
            "unexpected reply: {}",
            self.text
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
    }

    /// A 401 with the given body and the Bearer challenge.
    pub fn assert_unauthorized(&self, body: Value) {
        self.assert_json(401, body);
        assert_eq!(self.header("www-authenticate"), Some(BEARER_CHALLENGE));
    }

    /// A non-401 error: the given status and body, and no challenge.
    pub fn assert_error_without_challenge(&self, status: u16, body: Value) {
        self.assert_json(status, body);
        assert_eq!(self.header("www-authenticate"), None);
    }
}

pub const BEARER_CHALLENGE: &str = "Bearer realm=\"api\"";

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        body,
    }
}

/// simplejwt's shape-2 body: `{"detail", "code": "token_not_valid"}`.
pub fn token_not_valid(detail: &str) -> Value {
    serde_json::json!({"detail": detail, "code": "token_not_valid"})
}

/// The shape-3 body `/hello/` gives for an access token that does not validate.
pub fn access_token_not_valid(message: &str) -> Value {
    serde_json::json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

/// What `/hello/` answers an authenticated request.
pub fn hello_world() -> Value {
    serde_json::json!({"message": "Hello, World!"})
}

pub fn not_provided() -> Value {
    serde_json::json!({"detail": "Authentication credentials were not provided."})
}

/// Claims of a valid token of `token_type` for `user_id`, as the server would issue them now.
pub fn valid_claims(token_type: &str, user_id: &str) -> Value {
    let lifetime = if token_type == "refresh" { 86_400 } else { 300 };
    serde_json::json!({
        "token_type": token_type,
        "exp": now() + lifetime,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "user_id": user_id,
    })
}

/// `claims` with `key` set to `value`, or removed when `value` is `Null`.
pub fn with_claim(mut claims: Value, key: &str, value: Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), value);
    }
    claims
}

/// A compact JWS with any header and payload bytes, HMAC-signed with `key` under `algorithm`.
pub fn sign_raw(header: &[u8], payload: &[u8], key: &[u8], algorithm: &str) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!("{}.{}", b64(header), b64(payload));
    let algorithm = algorithm.parse::<jsonwebtoken::Algorithm>().unwrap();
    let key = jsonwebtoken::EncodingKey::from_secret(key);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, algorithm).unwrap();
    format!("{message}.{signature}")
}

/// `sign_raw` with the usual HS256 header and a JSON payload.
pub fn sign_with_key(claims: &Value, key: &[u8]) -> String {
    sign_raw(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        claims.to_string().as_bytes(),
        key,
        "HS256",
    )
}

impl TestApp {
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(method, self.url(path))
    }

    /// Sends `builder` and reads the reply.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        reply(builder.send().await.unwrap()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// `POST path` with a raw body of the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let builder = self
            .client
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body.into());
        self.send(builder).await
    }

    /// `GET /hello/` with this `Authorization` header value (raw bytes allowed).
    pub async fn hello_with_authorization(&self, authorization: impl AsRef<[u8]>) -> Reply {
        let value = reqwest::header::HeaderValue::from_bytes(authorization.as_ref()).unwrap();
        self.send(
            self.request("GET", "/hello/")
                .header("Authorization", value),
        )
        .await
    }

    /// `GET /hello/` with `Authorization: Bearer <token>`.
    pub async fn hello_with_token(&self, token: &str) -> Reply {
        self.hello_with_authorization(format!("Bearer {token}"))
            .await
    }

    /// `GET /hello/` with Basic credentials.
    pub async fn hello_with_basic(&self, username: &str, password: &str) -> Reply {
        use base64::Engine;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.hello_with_authorization(format!("Basic {credentials}"))
            .await
    }

    /// `POST /api/token/refresh/` with `{"refresh": token}`.
    pub async fn refresh(&self, refresh: &str) -> Reply {
        self.post(
            "/api/token/refresh/",
            serde_json::json!({"refresh": refresh}),
        )
        .await
    }

    /// `POST /api/token/verify/` with `{"token": token}`.
    pub async fn verify(&self, token: &str) -> Reply {
        self.post("/api/token/verify/", serde_json::json!({"token": token}))
            .await
    }

    /// `POST /api/token/blacklist/` with `{"refresh": token}`.
    pub async fn blacklist(&self, refresh: &str) -> Reply {
        self.post(
            "/api/token/blacklist/",
            serde_json::json!({"refresh": refresh}),
        )
        .await
    }

    /// A blacklisted refresh token: refresh refuses it with a 401, verify with a 400.
    pub async fn assert_blacklisted(&self, refresh: &str) {
        self.refresh(refresh)
            .await
            .assert_unauthorized(token_not_valid("Token is blacklisted"));
        self.verify(refresh).await.assert_error_without_challenge(
            400,
            serde_json::json!({"non_field_errors": ["Token is blacklisted"]}),
        );
    }

    /// `GET path` presenting only the session cookie `sessionid=<id>`, as a replay would.
    pub async fn get_with_session(&self, path: &str, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("Cookie", format!("sessionid={id}"))
            .send()
            .await
            .unwrap()
    }

    /// Runs the `portcullis` binary on this app's database (see `run_portcullis`).
    pub fn run_command(&self, args: &[&str], stdin: &str) -> std::process::Output {
        run_portcullis(
            self.dir.path(),
            args,
            stdin,
            &[("DATABASE_URL", &self.database_url)],
        )
    }

    /// Signs `valid_claims(token_type, user_id)` with the app's key.
    pub fn forge(&self, token_type: &str, user_id: &str) -> String {
        self.sign(valid_claims(token_type, user_id))
    }

    /// Sends raw bytes over a new TCP connection and returns what the server answered.
    pub async fn raw_http(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        );
        let _ = read.await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Whether the server still answers a normal request correctly.
    pub async fn assert_still_serving(&self) {
        let reply = self.send(self.request("GET", "/hello/")).await;
        reply.assert_unauthorized(not_provided());
    }
}

/// Runs the `portcullis` binary in `dir` with a clean environment (test key, cheap hashing,
/// quiet log) plus `env`, writes `stdin` to it, and returns its output.
pub fn run_portcullis(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("SECRET_KEY", SECRET_KEY)
        .env("BCRYPT_COST", "4")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(mut input) = child.stdin.take() {
        // A command that fails before reading stdin has closed it: the write then breaks the
        // pipe, and the test checks the exit status and output instead.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap()
}

/// DRF tutorial part 4's `IsOwnerOrReadOnly` for objects of type `T`, whose owner's user id
/// `owner` reads: anyone reads, only the owner writes.
pub struct IsOwnerOrReadOnly<T: 'static>(pub fn(&T) -> i32);

impl<T: 'static> portcullis::rest::permissions::Permission for IsOwnerOrReadOnly<T> {
    fn has_permission(&self, _request: &portcullis::rest::Request) -> bool {
        true
    }
    fn has_object_permission(
        &self,
        request: &portcullis::rest::Request,
        object: &dyn std::any::Any,
    ) -> bool {
        portcullis::rest::permissions::is_safe(request.method())
            || object.downcast_ref::<T>().is_some_and(|object| {
                request.user.as_ref().map(|user| user.id) == Some((self.0)(object))
            })
    }
}
