//! Provides the dashboard (`/admin/`) and its two actions: blacklist a token, deactivate a user.

use std::collections::HashMap;
use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::Connection;
use minijinja::{Value, context};

use crate::admin::Admin;
use crate::admin::forms::AdminForm;
use crate::admin::pages::{builder, csrf_failure, format_time, html, redirect, render};
use crate::clock::now_seconds;
use crate::db;
use crate::events::SecurityEvent;
use crate::models::users::User;
use crate::models::{auth_tokens, families, tokens, users};
use crate::rest::ApiError;
use crate::rest::csrf;

/// Rows shown at most: the page stays small; `flushexpiredtokens` keeps the table short.
const MAX_TOKENS: i64 = 200;

/// Where a visitor without a staff session is sent (Django's `redirect_to_login`).
const LOGIN_REDIRECT: &str = "/admin/login/?next=/admin/";

/// Outcomes of the actions, told by a fixed code in the redirect (no text from the request
/// is ever reflected onto the page).
const MESSAGES: &[(&str, &str, bool)] = &[
    ("blacklisted", "The token was blacklisted.", false),
    ("already", "That token was already blacklisted.", true),
    ("unknown-token", "No outstanding token has that id.", true),
    (
        "deactivated",
        "The user was deactivated and signed out everywhere.",
        false,
    ),
    ("activated", "The user was activated.", false),
    ("key-revoked", "The auth token key was revoked.", false),
    ("unknown-key", "No auth token key has that id.", true),
    (
        "logged-out",
        "The user's sessions and tokens were ended everywhere.",
        false,
    ),
    ("unknown-user", "No user has that id.", true),
    (
        "self",
        "You cannot change your own account's active status.",
        true,
    ),
    (
        "superuser-only",
        "Only a superuser may change a superuser or their credentials.",
        true,
    ),
];

/// `GET /admin/`: who is signed in, the users and the outstanding refresh tokens.
pub async fn index(
    http: HttpRequest,
    admin: web::Data<Admin>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let Some((session, user)) = admin.staff_session(&http).await? else {
        return Ok(redirect(LOGIN_REDIRECT).finish());
    };
    let now = now_seconds();
    let (user_list, token_list, live, key_list) = db::run(admin.accounts.pool(), move |conn| {
        Ok((
            users::list(conn)?,
            tokens::list_outstanding(conn, MAX_TOKENS)?,
            families::live_counts(conn, now)?,
            auth_tokens::list(conn, MAX_TOKENS)?,
        ))
    })
    .await?;
    let keys: Vec<Value> = key_list
        .into_iter()
        .map(|k| {
            context! {
                id => k.id,
                username => k.username,
                // A prefix of the digest tells keys apart; the key itself is not stored.
                digest => k.digest.get(..12).unwrap_or_default().to_string(),
                created_at => format_time(k.created_at),
            }
        })
        .collect();
    let live: HashMap<i32, i64> = live.into_iter().collect();
    let users: Vec<Value> = user_list
        .into_iter()
        .map(|u| {
            context! {
                id => u.id,
                username => u.username,
                email => u.email,
                is_active => u.is_active,
                is_staff => u.is_staff,
                is_superuser => u.is_superuser,
                last_login => u.last_login.map_or_else(|| "never".to_string(), format_time),
                sessions => live.get(&u.id).copied().unwrap_or(0),
            }
        })
        .collect();
    let tokens: Vec<Value> = token_list
        .into_iter()
        .map(|t| {
            context! {
                jti => t.jti,
                username => t.username,
                created_at => format_time(t.created_at),
                expires_at => format_time(t.expires_at),
            }
        })
        .collect();
    let message = query
        .get("done")
        .and_then(|code| MESSAGES.iter().find(|(c, _, _)| c == code));
    let body = render(
        &admin,
        "index.html",
        context! {
            user => context! {
                id => user.id,
                username => user.username,
                is_superuser => user.is_superuser,
            },
            csrf_token => csrf::mask(&session.record.csrf_secret),
            users => users,
            tokens => tokens,
            keys => keys,
            message => message.map(|(_, text, _)| *text),
            message_is_error => message.is_some_and(|(_, _, error)| *error),
        },
    )?;
    Ok(html(&mut builder(StatusCode::OK), body))
}

/// Runs a dashboard action for a staff form post whose CSRF token is valid, then redirects to
/// the dashboard with the outcome code `action` returns; otherwise answers with the redirect to
/// the login page or the CSRF failure page.
async fn staff_action<F, Fut>(
    http: &HttpRequest,
    admin: &Admin,
    form: &HashMap<String, String>,
    action: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(User) -> Fut,
    Fut: Future<Output = Result<&'static str, ApiError>>,
{
    let Some((session, user)) = admin.staff_session(http).await? else {
        return Ok(redirect(LOGIN_REDIRECT).finish());
    };
    let token = form.get(csrf::FORM_FIELD).map(String::as_str);
    if let Err(reason) = admin.check_csrf(http, Some(&session.record.csrf_secret), token) {
        return csrf_failure(admin, &reason);
    }
    let code = action(user).await?;
    Ok(redirect(&format!("/admin/?done={code}")).finish())
}

/// `POST /admin/tokens/blacklist/` (field `jti`): blacklists an outstanding refresh token and,
/// as `/api/token/blacklist/` does, ends its family (its access tokens with it). A superuser's
/// token only by a superuser.
pub async fn blacklist_token(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    let (admin, form) = (&admin, &form);
    staff_action(&http, admin, form, move |user| async move {
        let jti = form.get("jti").cloned().unwrap_or_default();
        let acting_is_superuser = user.is_superuser;
        let now = now_seconds();
        let (outcome, family) = db::run(admin.accounts.pool(), move |conn| {
            conn.transaction(|conn| {
                let Some(record) = tokens::find_outstanding(conn, &jti)? else {
                    return Ok(("unknown-token", None));
                };
                if !acting_is_superuser && owned_by_superuser(conn, record.user_id)? {
                    return Ok(("superuser-only", None));
                }
                if tokens::blacklist(conn, &record)? == tokens::Blacklisting::AlreadyBlacklisted {
                    return Ok(("already", None));
                }
                let family = match record.user_id {
                    Some(owner) => families::live_of_token(conn, owner, &jti)?,
                    None => None,
                };
                if let Some((sid, _)) = &family {
                    families::revoke(conn, sid, None, now)?;
                }
                Ok(("blacklisted", family.map(|family| (family, record.user_id))))
            })
        })
        .await?;
        if let Some(((sid, expires_at), owner)) = family {
            admin.revoked.add(&sid, expires_at);
            SecurityEvent::new("family_revoked")
                .user(owner)
                .family(Some(&sid))
                .with("reason", "admin_blacklist")
                .with("by", format!("admin user {}", user.id))
                .emit();
        }
        if outcome == "blacklisted" {
            log::info!("admin: user {} blacklisted a refresh token", user.id);
        }
        Ok(outcome)
    })
    .await
}

/// Whether `user_id` names a superuser: what only a superuser may act on (Django's rule).
fn owned_by_superuser(
    conn: &mut db::DbConnection,
    user_id: Option<i32>,
) -> diesel::QueryResult<bool> {
    Ok(match user_id {
        Some(id) => users::find_by_id(conn, id)?.is_some_and(|owner| owner.is_superuser),
        None => false,
    })
}

/// A row id posted in `field`; `None` when missing or not a number.
fn form_id(form: &AdminForm, field: &str) -> Option<i32> {
    form.get(field).and_then(|id| id.trim().parse::<i32>().ok())
}

/// `POST /admin/authtoken/revoke/` (field `key_id`): deletes an authtoken key; it stops working
/// at once here, within `USER_CACHE_TTL_MS` on other instances.
pub async fn revoke_auth_token(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    let (admin, form) = (&admin, &form);
    staff_action(&http, admin, form, move |user| async move {
        let Some(id) = form_id(form, "key_id") else {
            return Ok("unknown-key");
        };
        let acting_is_superuser = user.is_superuser;
        let owner = db::run(admin.accounts.pool(), move |conn| {
            conn.transaction(|conn| {
                let owner = auth_tokens::owner(conn, id)?;
                if !acting_is_superuser && owned_by_superuser(conn, owner)? {
                    return Ok(Err("superuser-only"));
                }
                auth_tokens::delete(conn, id).map(Ok)
            })
        })
        .await?;
        let owner = match owner {
            Err(refused) => return Ok(refused),
            Ok(None) => return Ok("unknown-key"),
            Ok(Some(owner)) => owner,
        };
        admin.auth_tokens.forget_cached();
        log::info!(
            "admin: user {} revoked an auth token key of user {owner}",
            user.id
        );
        Ok("key-revoked")
    })
    .await
}

/// `POST /admin/users/deactivate/` (field `user_id`): deactivates a user and ends their
/// sessions; their access tokens stop working within `USER_CACHE_TTL_MS` (at once here).
pub async fn deactivate_user(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    set_user_active(&http, &admin, &form, false).await
}

/// `POST /admin/users/activate/` (field `user_id`): lets a deactivated user sign in again.
pub async fn activate_user(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    set_user_active(&http, &admin, &form, true).await
}

/// `POST /admin/users/logout/` (field `user_id`): ends every session and token of a user
/// (logout everywhere: the token epoch moves on, every refresh family and admin session ends).
pub async fn end_user_sessions(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    change_user(&http, &admin, &form, UserChange::EndSessions).await
}

/// What an administrator does to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserChange {
    Activate,
    Deactivate,
    EndSessions,
}

async fn set_user_active(
    http: &HttpRequest,
    admin: &Admin,
    form: &AdminForm,
    active: bool,
) -> Result<HttpResponse, ApiError> {
    let change = if active {
        UserChange::Activate
    } else {
        UserChange::Deactivate
    };
    change_user(http, admin, form, change).await
}

/// Django's rules: nobody changes their own active status, and only a superuser changes a
/// superuser (so a staff member cannot lock the superuser out).
async fn change_user(
    http: &HttpRequest,
    admin: &Admin,
    form: &AdminForm,
    change: UserChange,
) -> Result<HttpResponse, ApiError> {
    staff_action(http, admin, form, move |user| async move {
        let Some(target) = form_id(form, "user_id") else {
            return Ok("unknown-user");
        };
        if target == user.id && change != UserChange::EndSessions {
            return Ok("self");
        }
        let acting_is_superuser = user.is_superuser;
        let (outcome, ended) = db::run(admin.accounts.pool(), move |conn| {
            conn.transaction(|conn| {
                let Some(found) = users::find_by_id(conn, target)? else {
                    return Ok(("unknown-user", Vec::new()));
                };
                if found.is_superuser && !acting_is_superuser {
                    return Ok(("superuser-only", Vec::new()));
                }
                Ok(match change {
                    UserChange::Activate => {
                        users::set_active(conn, target, true)?;
                        ("activated", Vec::new())
                    }
                    UserChange::Deactivate => {
                        users::set_active(conn, target, false)?;
                        ("deactivated", users::end_all_sessions(conn, target)?)
                    }
                    UserChange::EndSessions => {
                        ("logged-out", users::end_all_sessions(conn, target)?)
                    }
                })
            })
        })
        .await?;
        // The epoch counts whole seconds: tokens of this very second end with their family.
        for (sid, expires_at) in &ended {
            admin.revoked.add(sid, *expires_at);
        }
        admin.accounts.invalidate(target);
        let event = match outcome {
            "deactivated" => Some("user_deactivated"),
            "logged-out" => Some("logout_everywhere"),
            _ => None,
        };
        if let Some(event) = event {
            SecurityEvent::new(event)
                .user(Some(target))
                .with("by", format!("admin user {}", user.id))
                .emit();
        }
        if ["activated", "deactivated", "logged-out"].contains(&outcome) {
            log::info!("admin: user {} {outcome} user {target}", user.id);
        }
        Ok(outcome)
    })
    .await
}
