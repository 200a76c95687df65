//! Provides `HelloView`, the seeds' protected endpoint: an example of declaring a view.

use std::sync::Arc;

use serde_json::json;

use crate::rest::permissions::IsAuthenticated;
use crate::rest::{APIView, Response};

pub fn hello_view() -> APIView {
    APIView::new("Hello")
        .permission_classes(vec![Arc::new(IsAuthenticated)])
        .get(|_request| async { Ok(Response::ok(json!({"message": "Hello, World!"}))) })
}
