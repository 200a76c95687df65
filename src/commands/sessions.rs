//! Django's `clearsessions`: deletes the expired sessions (run it from cron).

use crate::commands::open;
use crate::config::Config;
use crate::models::sessions;

pub fn clearsessions(config: &Config) -> Result<(), String> {
    let mut conn = open(config)?;
    let deleted = sessions::clear_expired(&mut conn).map_err(|e| format!("Error: {e}"))?;
    println!("Deleted {deleted} expired sessions.");
    Ok(())
}
