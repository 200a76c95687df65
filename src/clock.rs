//! Provides the one wall clock every layer reads: seconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now in whole seconds, the unit of every timestamp column and JWT time claim we write.
pub fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Now with sub-second precision, for throttle windows and PyJWT's float time checks.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
