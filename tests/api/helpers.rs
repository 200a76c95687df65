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
use serde_json::Value;

pub const PASSWORD: &str = "Jwt-Ref-Passw0rd!2024";
pub const SECRET_KEY: &str = "test-secret-key-that-is-long-enough-for-hs256";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub database_url: String,
    pub config: Config,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// Settings every test app starts from; tests override any of them.
fn base_vars(dir: &std::path::Path) -> HashMap<String, String> {
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
        "anon=100000/min,user=100000/min,login=1000/min",
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
    set(
        &mut vars,
        "DATABASE_URL",
        dir.join("db.sqlite3").to_str().unwrap(),
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

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = base_vars(dir.path());
    let (database_url, postgres) = fresh_database(dir.path());
    vars.insert("DATABASE_URL".into(), database_url.clone());
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test config");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = portcullis::startup::Application::with_listener(config.clone(), listener)
        .expect("the application starts");
    let port = app.port;
    tokio::spawn(app.server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url,
        config,
        client: client(),
        _dir: dir,
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
        if let Some((server_url, name)) = self.postgres.take() {
            if let Ok(mut conn) = db::connect(&server_url) {
                use diesel::connection::SimpleConnection;
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
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
        let mut conn = db::connect(&self.database_url).unwrap();
        users::create(
            &mut conn,
            &NewUser {
                username: username.into(),
                email: String::new(),
                password_hash: hash_password(password, 4).unwrap(),
                is_active: !flags.inactive,
                is_staff: flags.staff,
                is_superuser: flags.superuser,
            },
        )
        .unwrap()
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

    /// Signs arbitrary claims with the app's key (tokens the server never issued).
    pub fn sign(&self, claims: Value) -> String {
        portcullis::jwt::TokenBackend::new(
            self.config.secret_key.as_bytes(),
            self.config.jwt_algorithm,
            0,
        )
        .encode(claims.as_object().unwrap())
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
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
