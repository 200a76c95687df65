//! Provides the renderers: JSON, and DRF's browsable API (an HTML page around the same JSON).

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use serde_json::Value;

/// The media types the renderers produce, in DRF's order (JSON first: the default).
pub const RENDERED_MEDIA_TYPES: [&str; 2] = ["application/json", "text/html"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// Compact JSON, or indented when the client asked (`Accept: application/json; indent=4`).
    Json { indent: Option<usize> },
    /// The browsable API: what a browser asking for `text/html` gets.
    BrowsableApi,
}

impl Default for Renderer {
    fn default() -> Renderer {
        Renderer::Json { indent: None }
    }
}

/// What the browsable page shows besides the data: the view and the request.
pub struct Page<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub allow: &'a str,
}

impl Renderer {
    pub fn content_type(self) -> &'static str {
        match self {
            Renderer::Json { .. } => "application/json",
            Renderer::BrowsableApi => "text/html; charset=utf-8",
        }
    }

    pub fn render(self, data: &Value, status: StatusCode, page: &Page<'_>) -> Vec<u8> {
        match self {
            Renderer::Json { indent } => to_json(data, indent),
            Renderer::BrowsableApi => browsable_page(data, status, page),
        }
    }
}

/// Serialises compactly, or with `indent` spaces.
pub fn to_json(data: &Value, indent: Option<usize>) -> Vec<u8> {
    match indent {
        None => serde_json::to_vec(data).unwrap_or_default(),
        Some(width) => {
            let spaces = vec![b' '; width.min(16)];
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            let _ = serde::Serialize::serialize(data, &mut serializer);
            out
        }
    }
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("api.html", include_str!("../../templates/api.html"))
            .expect("templates/api.html compiles");
        env
    })
}

fn browsable_page(data: &Value, status: StatusCode, page: &Page<'_>) -> Vec<u8> {
    let content = String::from_utf8(to_json(data, Some(4))).unwrap_or_default();
    let headers = [
        ("Allow", page.allow.to_string()),
        ("Content-Type", "application/json".to_string()),
        ("Vary", "Accept".to_string()),
    ];
    let context = context! {
        name => page.name.to_string(),
        description => page.description.to_string(),
        method => page.method.to_string(),
        path => page.path.to_string(),
        status => status.as_u16(),
        reason => status.canonical_reason().unwrap_or(""),
        headers => headers,
        content => content.clone(),
    };
    let rendered = environment()
        .get_template("api.html")
        .and_then(|template| template.render(context));
    match rendered {
        Ok(html) => html.into_bytes(),
        Err(e) => {
            log::error!("browsable API page failed to render: {e}");
            content.into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> Page<'static> {
        Page {
            name: "Hello",
            description: "",
            method: "GET",
            path: "/hello/",
            allow: "GET, HEAD, OPTIONS",
        }
    }

    #[test]
    fn browsable_page_shows_status_headers_and_escaped_json() {
        let data = json!({"message": "<script>alert(1)</script>"});
        let html = String::from_utf8(Renderer::BrowsableApi.render(&data, StatusCode::OK, &page()))
            .unwrap();
        assert!(html.contains("<h1>Hello</h1>"));
        assert!(html.contains("HTTP 200 OK"));
        assert!(html.contains("GET, HEAD, OPTIONS"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn json_is_compact_unless_indented() {
        let data = json!({"a": [1]});
        assert_eq!(to_json(&data, None), br#"{"a":[1]}"#);
        assert_eq!(
            to_json(&data, Some(4)),
            b"{\n    \"a\": [\n        1\n    ]\n}"
        );
    }
}
