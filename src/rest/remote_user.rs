//! Provides DRF's `RemoteUserAuthentication`: a fronting proxy that authenticated the user
//! (SSO, mTLS, an auth gateway) names them in a header.
//!
//! The header is believed only from `REMOTE_USER_PROXIES` peers (anyone can send a header; a
//! proxy that forwards addresses may pass a client's header through, so `TRUSTED_PROXIES` is
//! not enough: the authenticating proxy must set or clear it); it
//! names an existing, active user by username. Unknown or inactive users are not
//! authenticated (the next class tries); users are never created from the header.

use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use serde_json::Value;

use crate::accounts::Accounts;
use crate::db;
use crate::models::users::{self, User};
use crate::rest::authentication::{Authentication, header_value};
use crate::rest::{ApiError, Request};

pub struct RemoteUserAuthentication {
    pub accounts: Arc<Accounts>,
    /// `REMOTE_USER_HEADER`, lowercase.
    pub header: String,
    /// `REMOTE_USER_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
}

#[async_trait(?Send)]
impl Authentication for RemoteUserAuthentication {
    async fn authenticate(
        &self,
        request: &Request,
    ) -> Result<Option<(User, Option<Value>)>, ApiError> {
        if !crate::rest::client::peer_is_one_of(&request.http, &self.trusted_proxies) {
            return Ok(None);
        }
        let value = header_value(request, &self.header);
        let Ok(username) = std::str::from_utf8(&value) else {
            return Ok(None);
        };
        let username = username.trim().to_string();
        if username.is_empty() || username.contains('\0') {
            return Ok(None);
        }
        let id = db::run(self.accounts.pool(), move |conn| {
            users::id_by_username(conn, &username)
        })
        .await?;
        let user = match id {
            Some(id) => self.accounts.get_user(id).await?,
            None => None,
        };
        Ok(user.filter(|user| user.is_active).map(|user| (user, None)))
    }
}
