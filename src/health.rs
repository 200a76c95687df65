//! Provides `/healthz` (the process answers) and `/readyz` (its database and Redis answer).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = crate::db::run(&state.pool, |conn| {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SELECT 1")
    })
    .await
    .is_ok();
    let throttle_store = state.counter.store().ping().await.is_ok();
    let body = json!({"database": database, "throttle_store": throttle_store});
    if database && throttle_store {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
