//! Every SQL statement of portcullis: users, outstanding and blacklisted tokens, sessions.

pub mod auth_tokens;
pub mod families;
pub mod sessions;
pub mod signing_keys;
pub mod tokens;
pub mod users;
