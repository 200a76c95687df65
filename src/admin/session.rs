//! Provides the server-side session store and the `sessionid` cookie (Django's names and flags).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::HeaderValue;
use diesel::Connection;

use crate::clock::now_seconds;
use crate::db::{self, DbPool};
use crate::models::sessions::{self, SessionRecord};
use crate::models::users::{self, User};
use crate::rest::ApiError;

/// Django's `SESSION_COOKIE_NAME`.
pub const COOKIE_NAME: &str = "sessionid";
/// Random bytes in a session id: 256 bits, hex-encoded in the cookie.
const KEY_BYTES: usize = 32;

/// What Django sends to delete the session cookie (`response.delete_cookie`), byte for byte.
pub const CLEAR_COOKIE: &str =
    "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax";

pub fn clear_cookie_header() -> HeaderValue {
    HeaderValue::from_static(CLEAR_COOKIE)
}

/// A cookie no script can read and other sites do not send on subrequests: HttpOnly,
/// SameSite=Lax, Path=/, and Secure when the site is served over HTTPS.
pub fn protected_cookie(
    name: &'static str,
    value: String,
    max_age_seconds: i64,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(max_age_seconds))
        .finish()
}

/// A signed-in session: its id (only ever in the cookie) and its row.
#[derive(Debug, Clone)]
pub struct Session {
    pub key: String,
    pub record: SessionRecord,
}

/// Sessions in the database, expiring `cookie_age` seconds after sign-in.
pub struct SessionStore {
    pool: DbPool,
    cookie_age: u64,
    secure: bool,
}

impl SessionStore {
    pub fn new(pool: DbPool, cookie_age: u64, secure: bool) -> SessionStore {
        SessionStore {
            pool,
            cookie_age,
            secure,
        }
    }

    /// The session id the request presents, if any (`load` checks its shape).
    pub fn presented_key(http: &HttpRequest) -> Option<String> {
        let cookie = http.cookie(COOKIE_NAME)?;
        Some(cookie.value().to_string())
    }

    /// The live session for that id; `None` when unknown, expired or malformed.
    pub async fn load(&self, key: &str) -> Result<Option<Session>, ApiError> {
        // A value that is not 64 hex digits was never issued: no need to ask the database.
        if key.len() != 2 * KEY_BYTES || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let owned = key.to_string();
        let record = db::run(&self.pool, move |conn| sessions::find_active(conn, &owned)).await?;
        Ok(record.map(|record| Session {
            key: key.to_string(),
            record,
        }))
    }

    /// Starts a session for the user, with a new id and a new CSRF secret (never a reused one:
    /// no session fixation), ends `previous` if given, and records the sign-in time. `None`
    /// when the user's sessions ended since the password check read `user` (a password change,
    /// a logout everywhere): no session of the old password is started after the change.
    pub async fn start(
        &self,
        user: &User,
        previous: Option<String>,
    ) -> Result<Option<Session>, ApiError> {
        let (user_id, checked_epoch) = (user.id, user.tokens_valid_after);
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
        let key = hex::encode(bytes);
        let csrf_secret = crate::rest::csrf::new_secret();
        let expires_at = now_seconds() + self.cookie_age as i64;
        let (k, s) = (key.clone(), csrf_secret.clone());
        let started = db::run(&self.pool, move |conn| {
            conn.transaction(|conn| {
                if !users::epoch_holds(conn, user_id, checked_epoch)? {
                    return Ok(false);
                }
                if let Some(previous) = previous {
                    sessions::delete(conn, &previous)?;
                }
                sessions::create(conn, &k, user_id, &s, expires_at)?;
                users::touch_last_login(conn, user_id)?;
                Ok(true)
            })
        })
        .await?;
        if !started {
            return Ok(None);
        }
        Ok(Some(Session {
            key,
            record: SessionRecord {
                user_id,
                csrf_secret,
                expires_at,
            },
        }))
    }

    /// Ends the session server-side: its cookie no longer works anywhere.
    pub async fn end(&self, key: &str) -> Result<(), ApiError> {
        let key = key.to_string();
        db::run(&self.pool, move |conn| sessions::delete(conn, &key)).await?;
        Ok(())
    }

    /// The cookie that carries a new session.
    pub fn cookie(&self, session: &Session) -> Cookie<'static> {
        protected_cookie(
            COOKIE_NAME,
            session.key.clone(),
            self.cookie_age as i64,
            self.secure,
        )
    }

    pub fn secure(&self) -> bool {
        self.secure
    }
}
