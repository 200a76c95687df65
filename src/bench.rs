//! Provides the benchmark-only views: the pipeline's ceiling, served only when `BENCH_ENDPOINTS` is set.
//!
//! `GET /bench/ping/` goes through the same dispatcher as every API view (negotiation,
//! rendering, `Allow`/`Vary`), but with no authentication, `AllowAny` and no throttles. It is
//! the in-process ceiling that `scripts/bench` compares `/hello/` with, so what the ratio
//! measures is the cost of JWT + user check + throttles alone. It answers nothing private,
//! yet it is off by default so production exposes no route it does not need.

use std::sync::Arc;

use serde_json::json;

use crate::rest::permissions::AllowAny;
use crate::rest::{APIView, Response};

pub fn bench_views() -> Vec<(&'static str, APIView)> {
    let ping = APIView::new("Bench Ping")
        .authentication_classes(vec![])
        .permission_classes(vec![Arc::new(AllowAny)])
        .throttle_classes(vec![])
        .get(|_request| async { Ok(Response::ok(json!({"message": "pong"}))) });
    vec![("/bench/ping/", ping)]
}
