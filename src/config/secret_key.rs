//! `SECRET_KEY`: from the environment, or generated once and kept in a private file.

use std::path::{Path, PathBuf};

use super::ConfigError;
use super::vars::invalid;
use crate::db::is_postgres_url;

/// Where the JWT signing key came from, so `serve` can say so in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

const MIN_SECRET_KEY_BYTES: usize = 32;

/// The key and where it came from; a key shorter than HMAC needs is refused.
pub(super) fn secret_key(
    from_env: Option<String>,
    database_url: &str,
) -> Result<(String, SecretKeySource), ConfigError> {
    let (key, source) = match from_env {
        Some(key) => (key, SecretKeySource::Environment),
        // Instances sharing PostgreSQL must sign with one key; a key generated per working
        // directory would make each refuse the others' tokens.
        None if is_postgres_url(database_url) => {
            return Err(invalid(
                "SECRET_KEY",
                "must be set with PostgreSQL: every instance must sign with the same key \
                 (generate one with `openssl rand -hex 48`)",
            ));
        }
        None => load_or_generate(&secret_key_path(database_url))?,
    };
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(invalid(
            "SECRET_KEY",
            format!("must be at least {MIN_SECRET_KEY_BYTES} bytes long for HMAC signing"),
        ));
    }
    Ok((key, source))
}

/// The generated key lives beside the SQLite file.
fn secret_key_path(database_url: &str) -> PathBuf {
    let file_name = ".portcullis_secret_key";
    let db_path = Path::new(database_url.trim_start_matches("sqlite://"));
    match db_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file_name),
        _ => PathBuf::from(file_name),
    }
}

fn load_or_generate(path: &Path) -> Result<(String, SecretKeySource), ConfigError> {
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

/// Says where the signing key came from; a generated key deserves a warning.
pub fn log_secret_key_source(source: &SecretKeySource) {
    match source {
        SecretKeySource::Generated(path) => log::warn!(
            "SECRET_KEY is not set: generated a random key and stored it in {} (mode 0600); \
             set SECRET_KEY to share one key between instances",
            path.display()
        ),
        SecretKeySource::File(path) => log::debug!("SECRET_KEY read from {}", path.display()),
        SecretKeySource::Environment => {}
    }
}
