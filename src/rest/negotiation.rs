//! Provides content negotiation: JSON is the one renderer, so an `Accept` header either allows it or not.

use crate::rest::exceptions::ApiError;

/// What the client accepted: JSON, optionally indented (`application/json; indent=4`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    pub indent: Option<usize>,
}

/// Chooses the JSON renderer, or 406 when no media range of the header allows it.
pub fn negotiate(accept: Option<&[u8]>) -> Result<Accepted, ApiError> {
    let Some(accept) = accept else {
        return Ok(Accepted::default());
    };
    let accept = String::from_utf8_lossy(accept);
    if accept.trim().is_empty() {
        return Ok(Accepted::default());
    }
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut quality = 1.0f32;
        let mut indent = None;
        for param in parts {
            match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("q", q)) => quality = q.parse().unwrap_or(0.0),
                Some(("indent", n)) => indent = n.parse().ok(),
                _ => {}
            }
        }
        let json_matches = matches!(
            media_type.as_str(),
            "*/*" | "*" | "application/*" | "application/json"
        );
        if json_matches && quality > 0.0 {
            let indent = if media_type == "application/json" {
                indent
            } else {
                None
            };
            return Ok(Accepted { indent });
        }
    }
    Err(ApiError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(header: &str) -> bool {
        negotiate(Some(header.as_bytes())).is_ok()
    }

    #[test]
    fn json_compatible_ranges_are_accepted() {
        for header in [
            "*/*",
            "application/json",
            "application/*",
            "text/html;q=0.1, application/json",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "",
        ] {
            assert!(accepts(header), "{header}");
        }
        assert!(negotiate(None).is_ok());
    }

    #[test]
    fn other_types_are_not_acceptable() {
        for header in [
            "application/xml",
            "text/html",
            "application/json;q=0",
            "image/*",
        ] {
            assert!(!accepts(header), "{header}");
        }
    }

    #[test]
    fn indent_parameter_is_read() {
        let accepted = negotiate(Some(b"application/json; indent=4")).unwrap();
        assert_eq!(accepted.indent, Some(4));
    }
}
