//! Provides `/.well-known/jwks.json`: the public keys of the signing key ring (RFC 7517), for
//! the services that verify this one's tokens (`JWT_JWK_URL` there, PyJWKClient, any JOSE
//! library).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// Every key not retired, asymmetric ones only, public members only (the rows hold nothing
/// else); cached by clients no longer than an instance takes to see a change of the ring.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let ring = state.key_ring.state();
    let max_age = state.config.jwt.key_ring_ttl.as_secs();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .body(json!({ "keys": ring.published }).to_string())
}
