//! The production stack: PostgreSQL, Redis-shared throttling, several instances behind nginx.
//!
//! These tests talk to the real services `scripts/test` checks for: PostgreSQL
//! (`TEST_DATABASE_URL` when it is PostgreSQL, else `TEST_POSTGRES_URL`, else
//! postgres://postgres@127.0.0.1:5432/test), Redis (`REDIS_TEST_URL`, default
//! redis://127.0.0.1:6379) and nginx (/usr/sbin/nginx). A missing service fails the test.

mod families;
mod instances;
mod key_ring;
mod nginx;
mod one_binary;
mod postgres;
mod proxy;
mod redis_store;
mod serve;
mod shared_throttling;

use diesel::connection::SimpleConnection;
use portcullis::db;
use portcullis::db::is_postgres_url;

pub fn redis_url() -> String {
    std::env::var("REDIS_TEST_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses, so tests sharing one Redis never see each other's counters.
pub fn unique_prefix() -> String {
    format!("portcullis-test:{}:", uuid::Uuid::new_v4().simple())
}

/// The PostgreSQL server the PostgreSQL-only tests use, whichever backend the suite runs on.
pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| is_postgres_url(url))
        .or_else(|| std::env::var("TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One database several instances share: the suite's backend (`TEST_DATABASE_URL`), fresh.
pub struct SharedDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl SharedDatabase {
    /// A fresh database on the backend the suite runs on.
    pub fn fresh() -> SharedDatabase {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| is_postgres_url(url))
        {
            Some(server) => SharedDatabase::postgres(&server),
            None => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("db.sqlite3").to_str().unwrap().to_string();
                SharedDatabase {
                    url,
                    postgres: None,
                    _dir: dir,
                }
            }
        }
    }

    /// A fresh database on the given PostgreSQL server, dropped with this value.
    pub fn postgres(server_url: &str) -> SharedDatabase {
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = db::connect(server_url)
            .unwrap_or_else(|e| panic!("PostgreSQL at {server_url} is unreachable: {e}"));
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let (base, _) = server_url.rsplit_once('/').expect("URL with a database");
        SharedDatabase {
            url: format!("{base}/{name}"),
            postgres: Some((server_url.to_string(), name)),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The database name, for URLs that reach the same server another way (a proxy).
    pub fn name(&self) -> &str {
        self.postgres.as_ref().map_or("", |(_, name)| name)
    }

    pub fn migrate(&self) {
        let mut conn = db::connect(&self.url).unwrap();
        db::run_migrations(&mut conn).unwrap();
    }

    /// Creates an active user with the reference password; returns its id.
    pub fn create_user(&self, username: &str) -> i32 {
        use portcullis::models::users::{self, NewUser};
        let mut conn = db::connect(&self.url).unwrap();
        users::create(
            &mut conn,
            &NewUser {
                username: username.into(),
                email: String::new(),
                password_hash: portcullis::hashers::hash_password(crate::helpers::PASSWORD, 4)
                    .unwrap(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
            },
        )
        .unwrap()
    }
}

impl Drop for SharedDatabase {
    fn drop(&mut self) {
        if let Some((server_url, name)) = self.postgres.take()
            && let Ok(mut conn) = db::connect(&server_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
