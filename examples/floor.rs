//! The floor `scripts/bench` compares portcullis with: a bare actix-web server, not part of the
//! product. `GET /json/` answers the JSON `/hello/` answers; `GET /verify/` first verifies the
//! Bearer HS256 token with the same jsonwebtoken calls portcullis makes (signature, `exp`
//! required, no leeway), then answers the same JSON, or 401.
//!
//! BIND (default 127.0.0.1:8099), WORKERS (default 1) and SECRET_KEY (the HMAC key, as
//! portcullis uses it) configure it.

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

async fn hello_json() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": "Hello, World!" }))
}

async fn verify_then_json(request: HttpRequest, verifier: web::Data<Verifier>) -> HttpResponse {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let verified = token.is_some_and(|token| {
        jsonwebtoken::decode::<Map<String, Value>>(token, &verifier.key, &verifier.validation)
            .is_ok()
    });
    if !verified {
        return HttpResponse::Unauthorized().finish();
    }
    hello_json().await
}

fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8099".into());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let secret = std::env::var("SECRET_KEY").expect("SECRET_KEY: the HMAC key of the tokens");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let verifier = web::Data::new(Verifier {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
    });
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(verifier.clone())
                .route("/json/", web::get().to(hello_json))
                .route("/verify/", web::get().to(verify_then_json))
        })
        .workers(workers)
        .bind(&bind)?;
        eprintln!("floor listening on {bind} with {workers} workers");
        server.run().await
    })
}
