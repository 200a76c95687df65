//! Django's `clearsessions`: deletes the expired sessions (run it from cron).

use crate::config::Config;
use crate::db;
use crate::models::sessions;

pub fn clearsessions(config: &Config) -> Result<(), String> {
    let mut conn =
        db::connect(&config.database_url).map_err(|e| format!("cannot open DATABASE_URL: {e}"))?;
    db::run_migrations(&mut conn).map_err(|e| format!("migration failed: {e}"))?;
    let deleted = sessions::clear_expired(&mut conn).map_err(|e| format!("Error: {e}"))?;
    println!("Deleted {deleted} expired sessions.");
    Ok(())
}
