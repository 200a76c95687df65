//! `portcullis keys`: the signing key ring's maintenance (see docs/deployment.md "Signing keys and
//! rotation"). Every instance picks a change up within `KEY_RING_TTL_MS`.

use crate::cli::KeysAction;
use crate::clock::now_seconds;
use crate::commands::{CommandError, open};
use crate::config::Config;
use crate::db::DbConnection;
use crate::jwt::JwtAlgorithm;
use crate::jwt::ring::{self, RING_ALGORITHMS};
use crate::models::signing_keys::{self, SigningKeyRow};

pub fn run(config: &Config, action: KeysAction) -> Result<(), CommandError> {
    let mut conn = open(config)?;
    match action {
        KeysAction::Generate { algorithm } => {
            let row = generate(config, &mut conn, &algorithm)?;
            println!(
                "Generated key {} ({}), not yet signing.",
                row.kid, row.algorithm
            );
            Ok(())
        }
        KeysAction::Activate { kid } => activate(&mut conn, &kid),
        KeysAction::Rotate { algorithm } => {
            let row = generate(config, &mut conn, &algorithm)?;
            activate(&mut conn, &row.kid)
        }
        KeysAction::Retire { kid, force } => retire(config, &mut conn, &kid, force),
        KeysAction::List => list(&mut conn),
    }
}

fn generate(
    config: &Config,
    conn: &mut DbConnection,
    algorithm: &str,
) -> Result<SigningKeyRow, CommandError> {
    let algorithm: JwtAlgorithm = algorithm.parse().map_err(CommandError::refused)?;
    if !RING_ALGORITHMS.contains(&algorithm) {
        return Err(CommandError::refused(format!(
            "{algorithm:?}: a ring key is EdDSA, ES256, RS256 or HS256"
        )));
    }
    let row = ring::generate(algorithm, &config.secret_key, now_seconds())
        .map_err(CommandError::refused)?;
    signing_keys::insert(conn, &row).map_err(CommandError::database("store the new key"))?;
    Ok(row)
}

/// Activation instants only move forward (a second at least), so the latest activation is
/// one key even when two happen within a second.
fn activate(conn: &mut DbConnection, kid: &str) -> Result<(), CommandError> {
    let rows = signing_keys::all(conn).map_err(CommandError::database("read the keys"))?;
    let latest = rows.iter().filter_map(|row| row.activated_at).max();
    let at = latest.map_or(now_seconds(), |latest| now_seconds().max(latest + 1));
    let done = signing_keys::activate(conn, kid, at)
        .map_err(CommandError::database("activate the key"))?;
    if !done {
        return Err(CommandError::refused(format!(
            "no key {kid:?} that is not retired"
        )));
    }
    println!("Key {kid} signs from now on (every instance within KEY_RING_TTL_MS).");
    if rows
        .iter()
        .any(|row| row.kid == kid && row.public_jwk.is_empty())
    {
        println!(
            "Warning: an HMAC key is never published: services that verify through \
             JWT_JWK_URL cannot verify its tokens."
        );
    }
    Ok(())
}

/// Refused while the key signs, or signed tokens that can still be valid (it stopped signing
/// less than the longest token lifetime ago), unless `force`.
fn retire(
    config: &Config,
    conn: &mut DbConnection,
    kid: &str,
    force: bool,
) -> Result<(), CommandError> {
    let rows = signing_keys::all(conn).map_err(CommandError::database("read the keys"))?;
    let Some(row) = rows
        .iter()
        .find(|row| row.kid == kid && row.retired_at.is_none())
    else {
        return Err(CommandError::refused(format!(
            "no key {kid:?} that is not retired"
        )));
    };
    let now = now_seconds();
    // Never the key that signs, even forced: the ring would be left without one, or an older
    // key would sign again.
    if signing_keys::signing(&rows).is_some_and(|signing| signing.kid == kid) {
        return Err(CommandError::refused(format!(
            "key {kid} signs: activate another key first"
        )));
    }
    if let Some(activated) = row.activated_at
        && !force
    {
        // It signed until the next key was activated after it.
        let superseded = rows
            .iter()
            .filter_map(|other| other.activated_at)
            .filter(|at| *at > activated)
            .min()
            .unwrap_or(now);
        let valid_until = superseded + config.jwt.longest_token_lifetime();
        if now < valid_until {
            return Err(CommandError::refused(format!(
                "tokens signed by key {kid} can be valid for {} more seconds; retire it \
                 then, or now with --force (they stop working at once)",
                valid_until - now
            )));
        }
    }
    signing_keys::retire(conn, kid, now).map_err(CommandError::database("retire the key"))?;
    println!("Retired key {kid}: it no longer verifies, and is no longer published.");
    Ok(())
}

fn list(conn: &mut DbConnection) -> Result<(), CommandError> {
    let rows = signing_keys::all(conn).map_err(CommandError::database("read the keys"))?;
    let signing = signing_keys::signing(&rows).map(|row| row.kid.as_str());
    println!("kid\talgorithm\tstate\tcreated\tactivated");
    for row in &rows {
        let activated = row
            .activated_at
            .map_or_else(|| "-".to_string(), |at| at.to_string());
        println!(
            "{}\t{}\t{}\t{}\t{}",
            row.kid,
            row.algorithm,
            row.state(signing),
            row.created_at,
            activated
        );
    }
    Ok(())
}
