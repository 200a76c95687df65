//! Provides content negotiation: DRF's choice between the JSON renderer and the browsable API.

use crate::rest::exceptions::ApiError;
use crate::rest::renderers::Renderer;

/// One media range of an `Accept` header.
struct MediaRange {
    media_type: String,
    has_params: bool,
    indent: Option<usize>,
}

impl MediaRange {
    /// DRF's precedence: `type/subtype;param` over `type/subtype` over `type/*` over `*/*`.
    fn precedence(&self) -> u8 {
        match self.media_type.as_str() {
            "*/*" | "*" => 0,
            t if t.ends_with("/*") => 1,
            _ if self.has_params => 3,
            _ => 2,
        }
    }

    fn matches(&self, renderer_type: &str) -> bool {
        let (main, _) = renderer_type.split_once('/').unwrap_or((renderer_type, ""));
        match self.media_type.as_str() {
            "*/*" | "*" => true,
            t => t == renderer_type || t.strip_suffix("/*") == Some(main),
        }
    }
}

/// Parses the header; ranges with `q=0` are left out (the client refuses them outright).
fn media_ranges(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or("").to_ascii_lowercase();
            let (mut has_params, mut quality, mut indent) = (false, 1.0f32, None);
            for param in parts {
                match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("q", q)) => quality = q.parse().unwrap_or(0.0),
                    Some(("indent", n)) => {
                        indent = n.parse().ok();
                        has_params = true;
                    }
                    _ => has_params = true,
                }
            }
            (!media_type.is_empty() && quality > 0.0).then_some(MediaRange {
                media_type,
                has_params,
                indent,
            })
        })
        .collect()
}

/// Chooses the renderer as DRF does: the most specific ranges first and, among ranges of
/// equal precedence, the first renderer (JSON) that one of them accepts; 406 when none does.
/// Like DRF, q-values do not order the choice (only `q=0` refuses a range).
pub fn negotiate(accept: Option<&[u8]>) -> Result<Renderer, ApiError> {
    let accept = accept.map(String::from_utf8_lossy).unwrap_or_default();
    if accept.trim().is_empty() {
        return Ok(Renderer::default());
    }
    let ranges = media_ranges(&accept);
    for precedence in (0..=3).rev() {
        let level = || ranges.iter().filter(move |r| r.precedence() == precedence);
        if let Some(range) = level().find(|r| r.matches("application/json")) {
            let indent = (range.media_type == "application/json")
                .then_some(range.indent)
                .flatten();
            return Ok(Renderer::Json { indent });
        }
        if level().any(|r| r.matches("text/html")) {
            return Ok(Renderer::BrowsableApi);
        }
    }
    Err(ApiError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(header: &str) -> Option<Renderer> {
        negotiate(Some(header.as_bytes())).ok()
    }

    const JSON: Option<Renderer> = Some(Renderer::Json { indent: None });

    #[test]
    fn json_compatible_ranges_get_json() {
        for header in [
            "*/*",
            "application/json",
            "application/*",
            "text/html;q=0.1, application/json",
            "",
        ] {
            assert_eq!(chosen(header), JSON, "{header}");
        }
        assert_eq!(negotiate(None).ok(), JSON);
    }

    #[test]
    fn html_asked_for_gets_the_browsable_api() {
        for header in [
            "text/html",
            "text/*",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ] {
            assert_eq!(chosen(header), Some(Renderer::BrowsableApi), "{header}");
        }
    }

    #[test]
    fn other_types_are_not_acceptable() {
        for header in ["application/xml", "application/json;q=0", "image/*"] {
            assert_eq!(chosen(header), None, "{header}");
        }
    }

    #[test]
    fn indent_parameter_is_read() {
        assert_eq!(
            chosen("application/json; indent=4"),
            Some(Renderer::Json { indent: Some(4) })
        );
    }
}
