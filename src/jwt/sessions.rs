//! Provides the sessions API (with `TOKEN_FAMILIES`): a user's live refresh families, as
//! devices they are signed in on, and logout from one or from all of them.
//!
//! - `GET /api/sessions/`: the caller's live families (`current`: the one the request's token
//!   belongs to);
//! - `DELETE /api/sessions/<id>/`: ends one (204; 404 for an id that is not the caller's live
//!   family, whether it exists or not);
//! - `DELETE /api/sessions/`: logout everywhere (the token epoch moves on; 204).

use std::sync::Arc;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::clock::now_seconds;
use crate::db;
use crate::events::SecurityEvent;
use crate::jwt::serializers::TokenService;
use crate::models::{families, users};
use crate::rest::permissions::IsAuthenticated;
use crate::rest::{APIView, ApiError, Request, Response};

pub fn session_views(service: Arc<TokenService>) -> Vec<(&'static str, APIView)> {
    let list = {
        let (service, everywhere) = (Arc::clone(&service), Arc::clone(&service));
        APIView::new("Sessions")
            .description("The devices you are signed in on; DELETE signs you out of all of them.")
            .permission_classes(vec![Arc::new(IsAuthenticated)])
            .get(move |request| list_sessions(Arc::clone(&service), request))
            .on(actix_web::http::Method::DELETE, move |request| {
                log_out_everywhere(Arc::clone(&everywhere), request)
            })
    };
    let one = APIView::new("Session")
        .description("DELETE signs this device out.")
        .permission_classes(vec![Arc::new(IsAuthenticated)])
        .on(actix_web::http::Method::DELETE, move |request| {
            end_session(Arc::clone(&service), request)
        });
    vec![("/api/sessions/", list), ("/api/sessions/{id}/", one)]
}

/// The family of the token that authenticated the request, if any.
fn current_family(request: &Request) -> Option<&str> {
    request.auth.as_ref()?.get("sid")?.as_str()
}

fn user_id(request: &Request) -> Result<i32, ApiError> {
    request
        .user
        .as_ref()
        .map(|user| user.id)
        .ok_or_else(ApiError::not_authenticated)
}

async fn list_sessions(service: Arc<TokenService>, request: Request) -> Result<Response, ApiError> {
    let id = user_id(&request)?;
    let now = now_seconds();
    let live = db::run(service.accounts.pool(), move |conn| {
        families::list_live(conn, id, now)
    })
    .await?;
    let current = current_family(&request);
    let sessions: Vec<Value> = live
        .into_iter()
        .map(|family| {
            json!({
                "id": family.sid,
                "created": family.created_at,
                "last_refreshed": family.last_refreshed,
                "ip": family.ip,
                "user_agent": family.user_agent,
                "current": current == Some(family.sid.as_str()),
            })
        })
        .collect();
    Ok(Response::ok(Value::Array(sessions)))
}

async fn end_session(service: Arc<TokenService>, request: Request) -> Result<Response, ApiError> {
    let id = user_id(&request)?;
    let sid = request
        .http
        .match_info()
        .get("id")
        .unwrap_or("")
        .to_string();
    // No family id holds a NUL (PostgreSQL would refuse the query): not found.
    if sid.contains('\0') {
        return Err(ApiError::not_found());
    }
    let families = service.families.as_ref().ok_or_else(ApiError::not_found)?;
    let ended = families
        .revoke(&sid, Some(id), "session_ended", Some(id), request.client_ip)
        .await?;
    if !ended {
        return Err(ApiError::not_found());
    }
    Ok(Response::with_status(StatusCode::NO_CONTENT, Value::Null))
}

async fn log_out_everywhere(
    service: Arc<TokenService>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = user_id(&request)?;
    let ended = db::run(service.accounts.pool(), move |conn| {
        users::end_all_sessions(conn, id)
    })
    .await?;
    service.accounts.invalidate(id);
    // The epoch counts whole seconds: tokens of this very second end with their family.
    if let Some(families) = &service.families {
        for (sid, expires_at) in &ended {
            families.revoked.add(sid, *expires_at);
        }
    }
    SecurityEvent::new("logout_everywhere")
        .user(Some(id))
        .client(request.client_ip)
        .family(current_family(&request))
        .with("by", "user")
        .emit();
    Ok(Response::with_status(StatusCode::NO_CONTENT, Value::Null))
}
