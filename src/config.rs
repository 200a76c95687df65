//! Reads every setting once, from the environment and `.env`, into one typed `Config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::rest::throttling::Rate;

/// Signing algorithms simplejwt offers for a shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

/// What throttling does when its shared store (Redis) cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    Open,
    Closed,
}

/// Where the JWT signing key came from, so `serve` can say so in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub secret_key: String,
    pub secret_key_source: SecretKeySource,
    pub bind: String,
    pub workers: usize,
    pub access_token_lifetime: u64,
    pub refresh_token_lifetime: u64,
    pub rotate_refresh_tokens: bool,
    pub blacklist_after_rotation: bool,
    pub jwt_algorithm: JwtAlgorithm,
    pub jwt_leeway: u64,
    pub auth_header_types: Vec<String>,
    pub authentication_classes: Vec<String>,
    pub default_permission_classes: String,
    pub throttle_classes: Vec<String>,
    pub throttle_rates: HashMap<String, Rate>,
    pub max_body_size: usize,
    pub user_cache_ttl: Duration,
    pub bcrypt_cost: u32,
    pub hasher_threads: usize,
    pub hasher_queue: usize,
    pub session_cookie_age: u64,
    pub session_cookie_secure: bool,
    pub csrf_trusted_origins: Vec<String>,
    pub redis_url: Option<String>,
    /// Prepended to every Redis key, so deployments can share one Redis.
    pub redis_key_prefix: String,
    /// Bound on every Redis round trip (connect, script, ping).
    pub redis_timeout: Duration,
    pub throttle_failure_mode: FailureMode,
    pub trusted_proxies: Vec<IpNet>,
    pub db_pool_size: u32,
    pub db_connect_timeout: Duration,
    pub db_statement_timeout: Duration,
    pub keep_alive: Duration,
    pub client_request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub static_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub rust_log: String,
    /// Serve the benchmark-only views (`/bench/ping/`); off in production.
    pub bench_endpoints: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        message: message.into(),
    }
}

pub const AUTHENTICATION_CLASS_NAMES: &[&str] = &["jwt", "session", "basic"];
pub const THROTTLE_CLASS_NAMES: &[&str] = &["anon", "user", "scoped"];
const MIN_SECRET_KEY_BYTES: usize = 32;

impl Config {
    /// Loads `.env` (when present) and reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a Config from any source of variables: the environment, or a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(&lookup);
        let database_url = vars.string("DATABASE_URL", "db.sqlite3");
        let (secret_key, secret_key_source) = match vars.get("SECRET_KEY") {
            Some(key) => (key, SecretKeySource::Environment),
            None => load_or_generate_secret_key(&secret_key_path(&database_url))?,
        };
        if secret_key.len() < MIN_SECRET_KEY_BYTES {
            return Err(invalid(
                "SECRET_KEY",
                format!("must be at least {MIN_SECRET_KEY_BYTES} bytes long for HMAC signing"),
            ));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = Config {
            secret_key,
            secret_key_source,
            bind: vars.string("BIND", "127.0.0.1:8000"),
            workers: vars.parse("WORKERS", cores)?,
            access_token_lifetime: vars.parse("ACCESS_TOKEN_LIFETIME", 300)?,
            refresh_token_lifetime: vars.parse("REFRESH_TOKEN_LIFETIME", 86_400)?,
            rotate_refresh_tokens: vars.boolean("ROTATE_REFRESH_TOKENS", true)?,
            blacklist_after_rotation: vars.boolean("BLACKLIST_AFTER_ROTATION", true)?,
            jwt_algorithm: parse_algorithm(&vars.string("JWT_ALGORITHM", "HS256"))?,
            jwt_leeway: vars.parse("JWT_LEEWAY", 0)?,
            auth_header_types: vars.list("AUTH_HEADER_TYPES", "Bearer"),
            authentication_classes: names_from(
                "AUTHENTICATION_CLASSES",
                vars.list("AUTHENTICATION_CLASSES", "jwt,session,basic"),
                AUTHENTICATION_CLASS_NAMES,
            )?,
            default_permission_classes: vars.string("DEFAULT_PERMISSION_CLASSES", "AllowAny"),
            throttle_classes: names_from(
                "THROTTLE_CLASSES",
                vars.list("THROTTLE_CLASSES", "anon,user"),
                THROTTLE_CLASS_NAMES,
            )?,
            throttle_rates: parse_rates(
                &vars.string("THROTTLE_RATES", "anon=100/min,user=1000/min,login=5/min"),
            )?,
            max_body_size: vars.parse("MAX_BODY_SIZE", 2_621_440)?,
            user_cache_ttl: Duration::from_millis(vars.parse("USER_CACHE_TTL_MS", 1000)?),
            bcrypt_cost: vars.parse("BCRYPT_COST", 12)?,
            hasher_threads: vars.parse("HASHER_THREADS", cores.saturating_sub(1).max(1))?,
            hasher_queue: vars.parse("HASHER_QUEUE", 32)?,
            session_cookie_age: vars.parse("SESSION_COOKIE_AGE", 1_209_600)?,
            session_cookie_secure: vars.boolean("SESSION_COOKIE_SECURE", false)?,
            csrf_trusted_origins: vars.list("CSRF_TRUSTED_ORIGINS", ""),
            redis_url: vars.get("REDIS_URL").filter(|url| !url.is_empty()),
            redis_key_prefix: vars.string("REDIS_KEY_PREFIX", "portcullis:"),
            redis_timeout: Duration::from_millis(vars.parse("REDIS_TIMEOUT_MS", 250)?),
            throttle_failure_mode: match vars.string("THROTTLE_FAILURE_MODE", "open").as_str() {
                "open" => FailureMode::Open,
                "closed" => FailureMode::Closed,
                other => {
                    return Err(invalid(
                        "THROTTLE_FAILURE_MODE",
                        format!("expected open or closed, got {other:?}"),
                    ));
                }
            },
            trusted_proxies: vars
                .list("TRUSTED_PROXIES", "")
                .iter()
                .map(|cidr| parse_cidr(cidr))
                .collect::<Result<_, _>>()?,
            db_pool_size: vars.parse("DB_POOL_SIZE", 8)?,
            db_connect_timeout: Duration::from_millis(vars.parse("DB_CONNECT_TIMEOUT_MS", 2000)?),
            db_statement_timeout: Duration::from_millis(
                vars.parse("DB_STATEMENT_TIMEOUT_MS", 5000)?,
            ),
            keep_alive: Duration::from_secs(vars.parse("KEEP_ALIVE", 5)?),
            client_request_timeout: Duration::from_millis(
                vars.parse("CLIENT_REQUEST_TIMEOUT_MS", 5000)?,
            ),
            shutdown_timeout: Duration::from_secs(vars.parse("SHUTDOWN_TIMEOUT", 30)?),
            static_dir: PathBuf::from(vars.string("STATIC_DIR", "static")),
            templates_dir: PathBuf::from(vars.string("TEMPLATES_DIR", "templates")),
            rust_log: vars.string("RUST_LOG", "info"),
            bench_endpoints: vars.boolean("BENCH_ENDPOINTS", false)?,
            database_url,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.workers == 0 {
            return Err(invalid("WORKERS", "must be at least 1"));
        }
        if self.auth_header_types.is_empty() {
            return Err(invalid("AUTH_HEADER_TYPES", "needs at least one type"));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(invalid("BCRYPT_COST", "must be between 4 and 31"));
        }
        if self.hasher_threads == 0 || self.hasher_queue == 0 {
            return Err(invalid(
                "HASHER_THREADS",
                "threads and queue must be at least 1",
            ));
        }
        if self.db_pool_size == 0 {
            return Err(invalid("DB_POOL_SIZE", "must be at least 1"));
        }
        crate::rest::permissions::parse_permission_classes(&self.default_permission_classes)
            .map_err(|e| invalid("DEFAULT_PERMISSION_CLASSES", e))?;
        for class in &self.throttle_classes {
            if class != "scoped" && !self.throttle_rates.contains_key(class) {
                return Err(invalid(
                    "THROTTLE_RATES",
                    format!("no rate for the {class:?} throttle class"),
                ));
            }
        }
        Ok(())
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.string(name, default)
            .split(',')
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect()
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|e| invalid(name, format!("{value:?}: {e}"))),
        }
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(name, format!("expected true or false, got {v:?}"))),
        }
    }
}

fn names_from(
    name: &'static str,
    values: Vec<String>,
    known: &[&str],
) -> Result<Vec<String>, ConfigError> {
    for value in &values {
        if !known.contains(&value.as_str()) {
            return Err(invalid(
                name,
                format!("unknown class {value:?} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(values)
}

fn parse_algorithm(value: &str) -> Result<JwtAlgorithm, ConfigError> {
    match value {
        "HS256" => Ok(JwtAlgorithm::HS256),
        "HS384" => Ok(JwtAlgorithm::HS384),
        "HS512" => Ok(JwtAlgorithm::HS512),
        other => Err(invalid(
            "JWT_ALGORITHM",
            format!("{other:?} is not one of HS256, HS384, HS512"),
        )),
    }
}

fn parse_rates(value: &str) -> Result<HashMap<String, Rate>, ConfigError> {
    let mut rates = HashMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scope, rate) = item
            .split_once('=')
            .ok_or_else(|| invalid("THROTTLE_RATES", format!("{item:?} is not scope=rate")))?;
        let rate = rate
            .trim()
            .parse::<Rate>()
            .map_err(|e| invalid("THROTTLE_RATES", format!("{item:?}: {e}")))?;
        rates.insert(scope.trim().to_string(), rate);
    }
    Ok(rates)
}

fn parse_cidr(value: &str) -> Result<IpNet, ConfigError> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid(
                "TRUSTED_PROXIES",
                format!("{value:?} is not a CIDR or address"),
            )
        })
}

/// The generated key lives beside the SQLite file, or in the working directory for PostgreSQL.
fn secret_key_path(database_url: &str) -> PathBuf {
    let file_name = ".portcullis_secret_key";
    if is_postgres_url(database_url) {
        return PathBuf::from(file_name);
    }
    let db_path = Path::new(database_url.trim_start_matches("sqlite://"));
    match db_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file_name),
        _ => PathBuf::from(file_name),
    }
}

fn load_or_generate_secret_key(path: &Path) -> Result<(String, SecretKeySource), ConfigError> {
    if let Ok(key) = std::fs::read_to_string(path) {
        return Ok((
            key.trim().to_string(),
            SecretKeySource::File(path.to_path_buf()),
        ));
    }
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| invalid("SECRET_KEY", e.to_string()))?;
    let key = hex::encode(bytes);
    write_private_file(path, &key).map_err(|e| {
        invalid(
            "SECRET_KEY",
            format!(
                "unset, and could not store a generated key in {}: {e}",
                path.display()
            ),
        )
    })?;
    Ok((key, SecretKeySource::Generated(path.to_path_buf())))
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut map = map;
        map.entry("SECRET_KEY".into())
            .or_insert_with(|| "k".repeat(40));
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_simplejwt() {
        let config = config_with(&[]).unwrap();
        assert_eq!(config.access_token_lifetime, 300);
        assert_eq!(config.refresh_token_lifetime, 86_400);
        assert_eq!(config.authentication_classes, ["jwt", "session", "basic"]);
        assert_eq!(config.jwt_algorithm, JwtAlgorithm::HS256);
        assert_eq!(config.default_permission_classes, "AllowAny");
    }

    #[test]
    fn short_secret_key_is_refused() {
        let err = config_with(&[("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
    }

    #[test]
    fn unknown_authentication_class_names_the_variable() {
        let err = config_with(&[("AUTHENTICATION_CLASSES", "jwt,oauth")]).unwrap_err();
        assert_eq!(err.name, "AUTHENTICATION_CLASSES");
        assert!(err.message.contains("oauth"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WORKERS", "many"),
            ("JWT_ALGORITHM", "none"),
            ("THROTTLE_RATES", "anon=lots"),
            ("ROTATE_REFRESH_TOKENS", "maybe"),
            ("DEFAULT_PERMISSION_CLASSES", "IsSomething"),
            ("TRUSTED_PROXIES", "not-a-net"),
        ] {
            let err = config_with(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}");
        }
    }

    #[test]
    fn throttle_class_without_rate_is_refused() {
        let err = config_with(&[("THROTTLE_RATES", "anon=1/s")]).unwrap_err();
        assert_eq!(err.name, "THROTTLE_RATES");
    }

    #[test]
    fn generated_secret_key_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite3");
        let url = db.to_str().unwrap().to_string();
        let lookup = |name: &str| (name == "DATABASE_URL").then(|| url.clone());
        let first = Config::from_lookup(lookup).unwrap();
        let path = dir.path().join(".portcullis_secret_key");
        assert_eq!(
            first.secret_key_source,
            SecretKeySource::Generated(path.clone())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = Config::from_lookup(lookup).unwrap();
        assert_eq!(second.secret_key, first.secret_key);
        assert_eq!(second.secret_key_source, SecretKeySource::File(path));
    }
}
