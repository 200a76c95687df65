//! Runs the command-line commands.

pub mod serve;
pub mod sessions;
pub mod users;

use crate::cli::Command;
use crate::config::Config;
use crate::db::{self, DbConnection};

pub fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve { bind, workers } => serve::serve(config, bind, workers),
        Command::Migrate => {
            let applied = crate::startup::migrate(&config)?;
            if applied.is_empty() {
                println!("No migrations to apply.");
            }
            Ok(())
        }
        Command::Createsuperuser {
            username,
            email,
            no_input,
        } => users::createsuperuser(&config, username, email, no_input),
        Command::Createuser {
            username,
            email,
            staff,
            superuser,
            inactive,
        } => users::createuser(&config, username, email, staff, superuser, inactive),
        Command::Changepassword { username } => users::changepassword(&config, &username),
        Command::Flushexpiredtokens => users::flushexpiredtokens(&config),
        Command::Clearsessions => sessions::clearsessions(&config),
    }
}

/// A connection for a maintenance command, with the migrations applied.
fn open(config: &Config) -> Result<DbConnection, String> {
    let mut conn =
        db::connect(&config.database_url).map_err(|e| format!("cannot open DATABASE_URL: {e}"))?;
    db::run_migrations(&mut conn).map_err(|e| format!("migration failed: {e}"))?;
    Ok(conn)
}
