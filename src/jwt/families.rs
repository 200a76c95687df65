//! Provides refresh families (`TOKEN_FAMILIES`): every obtain starts one, a rotated refresh
//! token stays in its family, and presenting a token that was already rotated is reuse (RFC
//! 9700 §4.14): the whole family is revoked, its newest refresh token and every access token
//! included.
//!
//! Tokens carry the family id in `sid` (CONTRACT.md §4's one allowed extension). Tokens
//! without it, or with a family this server never started (a simplejwt deployment sharing the
//! key), rotate as simplejwt's do.

use std::net::IpAddr;
use std::sync::Arc;

use diesel::Connection;

use crate::clock::now_seconds;
use crate::db::{self, DbConnection, DbPool, is_unique_violation};
use crate::events::SecurityEvent;
use crate::jwt::revocations::RevokedFamilies;
use crate::jwt::tokens::{Token, new_jti};
use crate::models::families::{self, NewFamily};
use crate::models::tokens::{self, TokenRecord};
use crate::rest::ApiError;

/// Where a family was obtained: shown in the sessions list.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
}

/// What `User-Agent` the sessions list keeps, at most.
const USER_AGENT_CHARS: usize = 200;

/// The outcome of a rotation inside a family.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The presented token was blacklisted, rotated already, or its family revoked.
    Refused,
}

/// Why a rotation transaction rolled back.
enum Abort {
    Db(diesel::result::Error),
    Refused,
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Abort {
        Abort::Db(error)
    }
}

pub struct Families {
    pub pool: DbPool,
    pub revoked: Arc<RevokedFamilies>,
    /// `REFRESH_REUSE_GRACE_SECONDS`: the token rotated last, presented again this soon after
    /// its rotation, is taken for a race or a lost response (refused, the family kept).
    pub reuse_grace: i64,
    /// A family's refresh token expires at most this long after its last rotation.
    pub refresh_lifetime: i64,
}

impl Families {
    /// A new family for a refresh token just issued to `user_id`; the token now carries it.
    pub fn start(&self, refresh: Token, user_id: i32, device: &Device) -> (Token, NewFamily) {
        let sid = new_jti();
        let refresh = refresh.with_family(&sid);
        let family = NewFamily {
            sid,
            user_id,
            current_jti: refresh.jti().to_string(),
            created_at: now_seconds(),
            expires_at: refresh.exp(),
            ip: device.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            user_agent: device.user_agent.chars().take(USER_AGENT_CHARS).collect(),
        };
        (refresh, family)
    }

    /// Rotates `old` (blacklisted when `blacklist_old`) to `new` within its family, in one
    /// transaction whose conditional update moves the family only from its current token.
    pub async fn rotate(
        &self,
        sid: &str,
        old: TokenRecord,
        new: TokenRecord,
        blacklist_old: bool,
    ) -> Result<Rotation, ApiError> {
        let sid = sid.to_string();
        let outcome = db::run(&self.pool, move |conn| {
            let result = conn.transaction(|conn| rotate_in(conn, &sid, &old, &new, blacklist_old));
            match result {
                Ok(()) => Ok(Rotation::Rotated),
                Err(Abort::Refused) => Ok(Rotation::Refused),
                Err(Abort::Db(e)) if is_unique_violation(&e) => Ok(Rotation::Refused),
                Err(Abort::Db(e)) => Err(e),
            }
        })
        .await?;
        Ok(outcome)
    }

    /// A refresh token was presented that cannot be used (blacklisted, or rotated already).
    /// When it was rotated and its family is live, that is reuse: the family is revoked.
    pub async fn presented_again(
        &self,
        token: &Token,
        client: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let Some(sid) = token.family().map(str::to_string) else {
            return Ok(());
        };
        let jti = token.jti().to_string();
        let lookup = sid.clone();
        let state = db::run(&self.pool, move |conn| families::find(conn, &lookup)).await?;
        let Some(state) = state else {
            return Ok(());
        };
        if state.revoked_at.is_some() || state.current_jti == jti {
            return Ok(());
        }
        // Two tabs refreshing at once, or a response lost on the way: the token rotated last,
        // presented again soon after its rotation. An older token (a thief rotating on
        // meanwhile) is reuse whatever the window. Told apart by the token itself: rotations
        // within one second have the same whole-second time.
        let lost_response = self.reuse_grace > 0
            && state.previous_jti.as_deref() == Some(jti.as_str())
            && now_seconds() - state.last_refreshed <= self.reuse_grace;
        if lost_response {
            SecurityEvent::new("refresh_replay_within_grace")
                .user(Some(state.user_id))
                .client(client)
                .family(Some(&sid))
                .emit();
            return Ok(());
        }
        SecurityEvent::new("refresh_reuse_detected")
            .user(Some(state.user_id))
            .client(client)
            .family(Some(&sid))
            .emit();
        self.revoke(&sid, None, "reuse", Some(state.user_id), client)
            .await
            .map(|_| ())
    }

    /// Whether the family `sid` has ended (revoked), read from the database: `None` for a
    /// family this server never started. Refreshes read it afresh, as they read the user.
    pub async fn has_ended(&self, sid: &str) -> Result<Option<bool>, ApiError> {
        let lookup = sid.to_string();
        let state = db::run(&self.pool, move |conn| families::find(conn, &lookup)).await?;
        Ok(state.map(|state| state.revoked_at.is_some()))
    }

    /// Revokes one family (of `owner`, when given: nobody ends another user's session);
    /// `false` when there was no such live family.
    pub async fn revoke(
        &self,
        sid: &str,
        owner: Option<i32>,
        reason: &'static str,
        user: Option<i32>,
        client: Option<IpAddr>,
    ) -> Result<bool, ApiError> {
        let now = now_seconds();
        let target = sid.to_string();
        let revoked = db::run(&self.pool, move |conn| {
            families::revoke(conn, &target, owner, now)
        })
        .await?;
        if revoked {
            // Its tokens can be valid for at most one more refresh lifetime: kept that long.
            self.revoked.add(sid, now + self.refresh_lifetime);
            SecurityEvent::new("family_revoked")
                .user(user.or(owner))
                .client(client)
                .family(Some(sid))
                .with("reason", reason)
                .emit();
        }
        Ok(revoked)
    }
}

fn rotate_in(
    conn: &mut DbConnection,
    sid: &str,
    old: &TokenRecord,
    new: &TokenRecord,
    blacklist_old: bool,
) -> Result<(), Abort> {
    if blacklist_old {
        tokens::insert_blacklisted(conn, old)?;
    }
    tokens::record_outstanding(conn, new)?;
    if families::advance(conn, sid, &old.jti, &new.jti, now_seconds(), new.expires_at)? {
        return Ok(());
    }
    match families::find(conn, sid)? {
        // A family this server never started: rotate as simplejwt does.
        None => Ok(()),
        Some(_) => Err(Abort::Refused),
    }
}

/// Records a new family with its first refresh token.
pub fn record_start(
    conn: &mut DbConnection,
    record: &TokenRecord,
    family: &NewFamily,
) -> diesel::QueryResult<()> {
    conn.transaction(|conn| {
        tokens::record_outstanding(conn, record)?;
        families::create(conn, family)
    })
}
