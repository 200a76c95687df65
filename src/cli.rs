//! Provides the command line: `serve`, `migrate` and the user and token maintenance commands.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "DRF + simplejwt style API server on actix-web"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations and run the HTTP server.
    Serve {
        /// Address to listen on (overrides BIND).
        #[arg(long)]
        bind: Option<String>,
        /// Number of worker threads (overrides WORKERS).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Create a staff superuser (prompts, or --no-input with the password on stdin).
    Createsuperuser {
        #[arg(long)]
        username: Option<String>,
        #[arg(long, default_value = "")]
        email: String,
        /// Read the password from stdin instead of prompting.
        #[arg(long)]
        no_input: bool,
    },
    /// Create a user; the password is read from stdin.
    Createuser {
        username: String,
        #[arg(long, default_value = "")]
        email: String,
        /// May sign in to the administrators' pages.
        #[arg(long)]
        staff: bool,
        /// Has every permission (implies nothing else).
        #[arg(long)]
        superuser: bool,
        /// Create the account disabled.
        #[arg(long)]
        inactive: bool,
    },
    /// Set a user's password, read from stdin.
    Changepassword { username: String },
    /// Print an authtoken key for a user (DRF's drf_create_token); -r replaces their keys.
    #[command(name = "drf_create_token")]
    DrfCreateToken {
        username: String,
        /// Replace the user's keys with a new one.
        #[arg(short = 'r', long = "regenerate")]
        regenerate: bool,
    },
    /// Let a deactivated user sign in again.
    Activate { username: String },
    /// Stop a user from signing in, and end their sessions.
    Deactivate { username: String },
    /// Delete outstanding and blacklisted token records that have expired.
    Flushexpiredtokens,
    /// Delete expired administrator sessions (Django's clearsessions).
    Clearsessions,
    /// Copy a Django deployment's users (ids, password hashes, flags) and simplejwt's
    /// blacklist into this database, so its tokens and passwords keep working.
    ImportDjangoUsers {
        /// The Django database: a SQLite file's path or a postgres:// URL.
        #[arg(long)]
        from: String,
    },
    /// The signing key ring: generate, activate, rotate, retire and list keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// A new key, published but not yet signing.
    Generate {
        /// EdDSA, ES256, RS256 or HS256.
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
    },
    /// Make a key the one that signs (instances follow within KEY_RING_TTL_MS).
    Activate { kid: String },
    /// Generate a key and make it the one that signs, in one step.
    Rotate {
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
    },
    /// Stop a key verifying; refused while tokens it signed can still be valid.
    Retire {
        kid: String,
        /// Retire it even so (its tokens stop working at once).
        #[arg(long)]
        force: bool,
    },
    /// The keys: kid, algorithm, state, created, activated.
    List,
}
