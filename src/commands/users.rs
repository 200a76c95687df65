//! The user and token maintenance commands (Django's `createsuperuser`, `changepassword`, ...).

use std::io::BufRead;

use crate::commands::{CommandError, open};
use crate::config::Config;
use crate::db::is_unique_violation;
use diesel::Connection;

use crate::authtoken::issue_key;
use crate::authtoken::keys;
use crate::clock::now_seconds;
use crate::events::SecurityEvent;
use crate::models::{families, tokens, users};

/// One line of stdin, without its line ending.
fn password_from_stdin() -> Result<String, CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CommandError::refused(format!("cannot read the password from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn prompt_password() -> Result<String, CommandError> {
    let first = rpassword::prompt_password("Password: ").map_err(terminal_error)?;
    let again = rpassword::prompt_password("Password (again): ").map_err(terminal_error)?;
    if first != again {
        return Err(CommandError::refused("Your passwords didn't match."));
    }
    Ok(first)
}

fn terminal_error(e: std::io::Error) -> CommandError {
    CommandError::refused(format!("cannot read from the terminal: {e}"))
}

fn prompt_line(label: &str) -> Result<String, CommandError> {
    use std::io::Write;
    print!("{label}");
    std::io::stdout().flush().map_err(terminal_error)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(terminal_error)?;
    Ok(line.trim().to_string())
}

fn insert(config: &Config, new: users::NewUser, password: &str) -> Result<i32, CommandError> {
    if new.username.trim().is_empty() {
        return Err(CommandError::refused("the username may not be blank."));
    }
    let hash = new_hash(config, password)?;
    let mut conn = open(config)?;
    users::create(
        &mut conn,
        &users::NewUser {
            password_hash: hash,
            ..new
        },
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            CommandError::refused("That username is already taken.")
        } else {
            CommandError::database("create the user")(e)
        }
    })
}

pub fn createsuperuser(
    config: &Config,
    username: Option<String>,
    email: String,
    no_input: bool,
) -> Result<(), CommandError> {
    let (username, password) = if no_input {
        let username = username
            .ok_or_else(|| CommandError::refused("--username is required with --no-input."))?;
        (username, password_from_stdin()?)
    } else {
        let username = match username {
            Some(name) => name,
            None => prompt_line("Username: ")?,
        };
        (username, prompt_password()?)
    };
    let new = users::NewUser {
        username,
        email,
        is_active: true,
        is_staff: true,
        is_superuser: true,
        ..Default::default()
    };
    insert(config, new, &password)?;
    println!("Superuser created successfully.");
    Ok(())
}

pub fn createuser(
    config: &Config,
    username: String,
    email: String,
    staff: bool,
    superuser: bool,
    inactive: bool,
) -> Result<(), CommandError> {
    let password = password_from_stdin()?;
    let new = users::NewUser {
        username,
        email,
        is_active: !inactive,
        is_staff: staff,
        is_superuser: superuser,
        ..Default::default()
    };
    let id = insert(config, new, &password)?;
    println!("User created successfully (id {id}).");
    Ok(())
}

/// The hash of a new password that meets the rules.
fn new_hash(config: &Config, password: &str) -> Result<String, CommandError> {
    config
        .passwords
        .hashers()
        .make_password(password)
        .map_err(|e| CommandError::refused(e.to_string()))
}

pub fn changepassword(config: &Config, username: &str) -> Result<(), CommandError> {
    let password = password_from_stdin()?;
    let hash = new_hash(config, &password)?;
    let mut conn = open(config)?;
    // Like Django's session auth hash: a new password ends the user's sessions.
    let changed = conn.transaction(|conn| {
        let Some(id) = users::set_password(conn, username, &hash)? else {
            return Ok(None);
        };
        // Every token issued with the old password ends too.
        users::end_all_sessions(conn, id)?;
        Ok::<_, diesel::result::Error>(Some(id))
    });
    match changed {
        Ok(Some(id)) => {
            SecurityEvent::new("password_changed")
                .user(Some(id))
                .with("by", "command")
                .emit();
            println!("Password changed successfully for user '{username}'");
            Ok(())
        }
        Ok(None) => Err(CommandError::refused(format!(
            "user '{username}' does not exist"
        ))),
        Err(e) => Err(CommandError::database("change the password")(e)),
    }
}

/// `activate` / `deactivate`: deactivating also ends the user's sessions; their access tokens
/// stop working within `USER_CACHE_TTL_MS` on every instance.
pub fn set_active(config: &Config, username: &str, active: bool) -> Result<(), CommandError> {
    let mut conn = open(config)?;
    let changed = conn.transaction(|conn| {
        let Some(id) = users::id_by_username(conn, username)? else {
            return Ok(false);
        };
        users::set_active(conn, id, active)?;
        if !active {
            users::end_all_sessions(conn, id)?;
            SecurityEvent::new("user_deactivated")
                .user(Some(id))
                .with("by", "command")
                .emit();
        }
        Ok::<_, diesel::result::Error>(true)
    });
    match changed {
        Ok(true) => {
            let done = if active { "activated" } else { "deactivated" };
            println!("User '{username}' {done}.");
            Ok(())
        }
        Ok(false) => Err(CommandError::refused(format!(
            "user '{username}' does not exist"
        ))),
        Err(e) => Err(CommandError::database("change the user")(e)),
    }
}

/// DRF's `drf_create_token`: the user's key (single mode: the same one again; multiple: a new
/// one), or with `regenerate` a new key replacing all of theirs.
pub fn drf_create_token(
    config: &Config,
    username: &str,
    regenerate: bool,
) -> Result<(), CommandError> {
    let mut conn = open(config)?;
    let id = users::id_by_username(&mut conn, username)
        .map_err(CommandError::database("find the user"))?
        .ok_or_else(|| CommandError::refused(format!("user '{username}' does not exist")))?;
    let sealer = keys::sealer(&config.secret_key).map_err(CommandError::refused)?;
    let key = issue_key(
        &mut conn,
        &sealer,
        config.passwords.auth_token_keys,
        id,
        regenerate,
        None,
    )
    .map_err(|e| CommandError::refused(format!("could not create the token: {e}")))?;
    println!("Generated token {key} for user {username}");
    Ok(())
}

pub fn flushexpiredtokens(config: &Config) -> Result<(), CommandError> {
    let mut conn = open(config)?;
    let (outstanding, blacklisted) = tokens::flush_expired(&mut conn, config.jwt.leeway)
        .map_err(CommandError::database("delete the expired tokens"))?;
    // A revoked family is remembered while any of its tokens, access tokens included, could
    // still pass their `exp` check.
    let jwt = &config.jwt;
    let horizon = (jwt.leeway + jwt.access_token_lifetime) as i64;
    let ended = families::flush_expired(&mut conn, now_seconds() - horizon)
        .map_err(CommandError::database("delete the expired token families"))?;
    println!(
        "Deleted {outstanding} expired outstanding and {blacklisted} expired blacklisted tokens, \
         and {ended} expired token families."
    );
    Ok(())
}
