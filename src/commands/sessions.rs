//! Django's `clearsessions`: deletes the expired sessions (run it from cron).

use crate::commands::{CommandError, open};
use crate::config::Config;
use crate::models::sessions;

pub fn clearsessions(config: &Config) -> Result<(), CommandError> {
    let mut conn = open(config)?;
    let deleted = sessions::clear_expired(&mut conn)
        .map_err(CommandError::database("delete the expired sessions"))?;
    println!("Deleted {deleted} expired sessions.");
    Ok(())
}
