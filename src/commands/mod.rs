//! Runs the command-line commands.

pub mod django_import;
pub mod keys;
pub mod serve;
pub mod sessions;
pub mod users;

use crate::cli::Command;
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::state::StartupError;

/// Why a command failed; printed as `portcullis: <message>` with exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The server or the database could not be started or opened.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The input was refused (Django's `CommandError`): the message says what to change.
    #[error("Error: {0}")]
    Refused(String),
    /// A query failed; the message says what was being done.
    #[error("Error: could not {doing}: {source}")]
    Database {
        doing: &'static str,
        source: diesel::result::Error,
    },
}

/// A transaction's own failure (begin, commit); the queries inside name what they were doing.
impl From<diesel::result::Error> for CommandError {
    fn from(source: diesel::result::Error) -> CommandError {
        CommandError::Database {
            doing: "complete the transaction",
            source,
        }
    }
}

impl CommandError {
    pub fn refused(message: impl Into<String>) -> CommandError {
        CommandError::Refused(message.into())
    }

    /// A closure for `map_err` that names what the query was doing.
    pub fn database(doing: &'static str) -> impl Fn(diesel::result::Error) -> CommandError {
        move |source| CommandError::Database { doing, source }
    }
}

/// A project built on portcullis as a library: its own views, served beside portcullis' own
/// by `serve`, and its own migrations, applied after portcullis' by `migrate` and `serve`
/// (see `examples/snippets`).
#[derive(Clone, Default)]
pub struct Project {
    pub views: Option<crate::startup::Views>,
    pub migrations: Option<Migrations>,
}

/// A project's migrations: applies the pending ones, returns their versions.
pub type Migrations = fn(&mut DbConnection) -> Result<Vec<String>, String>;

/// Runs a command of the `portcullis` binary.
pub fn run(command: Command, config: Config) -> Result<(), CommandError> {
    run_project(command, config, Project::default())
}

/// Runs a command for a project with views and migrations of its own.
pub fn run_project(command: Command, config: Config, project: Project) -> Result<(), CommandError> {
    match command {
        Command::Serve { bind, workers } => {
            project_migrate(&config, &project)?;
            serve::serve(config, bind, workers, project.views)
        }
        Command::Migrate => {
            let mut applied = crate::startup::migrate(&config)?;
            applied.extend(project_migrate(&config, &project)?);
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
        Command::DrfCreateToken {
            username,
            regenerate,
        } => users::drf_create_token(&config, &username, regenerate),
        Command::Activate { username } => users::set_active(&config, &username, true),
        Command::Deactivate { username } => users::set_active(&config, &username, false),
        Command::Flushexpiredtokens => users::flushexpiredtokens(&config),
        Command::Clearsessions => sessions::clearsessions(&config),
        Command::Keys { action } => keys::run(&config, action),
        Command::ImportDjangoUsers { from } => django_import::import_django_users(&config, &from),
    }
}

/// Applies the project's migrations, if it has any.
fn project_migrate(config: &Config, project: &Project) -> Result<Vec<String>, CommandError> {
    let Some(migrations) = project.migrations else {
        return Ok(Vec::new());
    };
    let mut conn = db::connect_within(&config.database.url, config.database.connect_timeout)
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let applied = migrations(&mut conn).map_err(StartupError::Migration)?;
    for version in &applied {
        log::info!("applied migration {version}");
    }
    Ok(applied)
}

/// A connection for a maintenance command, with the migrations applied.
fn open(config: &Config) -> Result<DbConnection, CommandError> {
    let mut conn = db::connect_within(&config.database.url, config.database.connect_timeout)
        .map_err(|e| StartupError::Database(e.to_string()))?;
    db::run_migrations(&mut conn).map_err(StartupError::Migration)?;
    Ok(conn)
}
