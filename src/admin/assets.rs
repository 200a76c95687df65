//! The static assets compiled into the binary (the admin's stylesheet, the browser demo), so
//! the binary started anywhere serves them; a file of the same path in `STATIC_DIR` overrides
//! the built-in one, as a template in `TEMPLATES_DIR` does.

use std::sync::LazyLock;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// (path under `/static/`, content, `Content-Type`).
const BUILT_IN: &[(&str, &[u8], &str)] = &[
    (
        "admin.css",
        include_bytes!("../../static/admin.css"),
        "text/css; charset=utf-8",
    ),
    (
        "demo/index.html",
        include_bytes!("../../static/demo/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "demo/app.js",
        include_bytes!("../../static/demo/app.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "demo/demo.css",
        include_bytes!("../../static/demo/demo.css"),
        "text/css; charset=utf-8",
    ),
];

/// Built-in assets may change with every release: a cache keeps them but asks again each time
/// (a 304 when the `ETag` still matches).
const CACHE_CONTROL: &str = "no-cache";

struct Asset {
    path: &'static str,
    content: &'static [u8],
    content_type: &'static str,
    /// A strong validator: the content's SHA-256, cut to 128 bits.
    etag: HeaderValue,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(path, content, content_type)| {
            let digest = Sha256::digest(content);
            let etag = format!("\"{}\"", hex::encode(&digest[..16]));
            Asset {
                path,
                content,
                content_type,
                etag: HeaderValue::from_str(&etag).expect("hex is a valid header"),
            }
        })
        .collect()
});

/// The fallback of `STATIC_DIR`'s file service: the built-in asset of the path, or 404.
pub async fn built_in(request: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    let (request, _) = request.into_parts();
    let response = respond(&request);
    Ok(ServiceResponse::new(request, response))
}

/// The built-in asset of the path, or 404 (`/static/` when `STATIC_DIR` does not exist).
pub async fn serve(request: HttpRequest) -> HttpResponse {
    respond(&request)
}

fn respond(request: &HttpRequest) -> HttpResponse {
    let path = request.path().strip_prefix("/static/").and_then(decoded);
    let Some(asset) = path.and_then(|path| ASSETS.iter().find(|asset| asset.path == path)) else {
        return HttpResponse::NotFound().finish();
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish();
    }
    let not_modified = revalidated(request, &asset.etag);
    let status = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::ETAG, asset.etag.clone()))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    if not_modified {
        return response.finish();
    }
    // For HEAD, actix sends the length of this body and not the body.
    response
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.content)
}

/// The path percent-decoded, as actix-files decodes it (so both ways of serving `/static/`
/// answer alike); an encoded `/` or NUL, or a bad escape, names no asset.
fn decoded(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut path = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'%' {
            path.push(bytes[at]);
            at += 1;
            continue;
        }
        let hex = bytes.get(at + 1..at + 3)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let byte = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if byte == b'/' || byte == 0 {
            return None;
        }
        path.push(byte);
        at += 3;
    }
    String::from_utf8(path).ok()
}

/// `If-None-Match` names the current `ETag` (or `*`).
fn revalidated(request: &HttpRequest, etag: &HeaderValue) -> bool {
    let Some(etag) = etag.to_str().ok() else {
        return false;
    };
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_as_actix_files_decodes_them() {
        assert_eq!(decoded("admin%2ecss").as_deref(), Some("admin.css"));
        assert_eq!(decoded("demo/%61pp.js").as_deref(), Some("demo/app.js"));
        for refused in ["demo%2fapp.js", "a%00", "a%2", "a%zz", "a%+1", "%ff"] {
            assert_eq!(decoded(refused), None, "{refused}");
        }
    }

    #[test]
    fn every_asset_of_the_checkout_is_built_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static");
        let mut on_disk = Vec::new();
        let mut pending = vec![std::path::PathBuf::from(dir)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative =
                        path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/static/"));
                    on_disk.push(relative.unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut built_in: Vec<String> = BUILT_IN.iter().map(|(p, ..)| p.to_string()).collect();
        built_in.sort();
        assert_eq!(
            on_disk, built_in,
            "static/ and BUILT_IN list the same files"
        );
    }
}
