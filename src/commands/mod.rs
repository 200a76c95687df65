//! Runs the command-line commands.

pub mod serve;
pub mod sessions;
pub mod users;

use crate::cli::Command;
use crate::config::Config;

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
