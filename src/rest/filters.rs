//! Provides DRF's `SearchFilter` and `OrderingFilter` for a project's list views: what a
//! request asks for (`?search=`, `?ordering=`), read as DRF reads it, and the `LIKE` patterns a
//! diesel query applies.
//!
//! ```ignore
//! let mut query = snippets::table.into_boxed();
//! for term in SearchFilter::terms(&request)? {
//!     let pattern = like_pattern(&term);
//!     // every term must match, in any of the search fields (case-insensitive contains)
//!     query = query.filter(lower(snippets::title).like(pattern.clone()).escape('\\')
//!         .or(lower(snippets::code).like(pattern).escape('\\')));
//! }
//! for (field, direction) in OrderingFilter::terms(&request, &["id", "title"], &["id"]) { ... }
//! ```

use crate::rest::exceptions::ApiError;
use crate::rest::pagination::query_param;
use crate::rest::request::Request;

/// DRF's `SearchFilter` (`?search=`).
pub struct SearchFilter;

impl SearchFilter {
    /// The terms of `?search=`, every one of which must match: split on whitespace and
    /// commas, a quoted phrase kept whole (DRF's `search_smart_split`). A NUL is DRF's 400.
    pub fn terms(request: &Request) -> Result<Vec<String>, ApiError> {
        let value = query_param(request, "search").unwrap_or_default();
        if value.contains('\0') {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                serde_json::json!(["Null characters are not allowed."]),
            ));
        }
        Ok(search_smart_split(&value))
    }
}

/// Which way a field orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// DRF's `OrderingFilter` (`?ordering=title,-id`).
pub struct OrderingFilter;

impl OrderingFilter {
    /// The fields `?ordering=` names among `allowed` (`-` for descending; others dropped, as
    /// DRF's `remove_invalid_fields`), else `default`.
    pub fn terms<'a>(
        request: &Request,
        allowed: &[&'a str],
        default: &[&'a str],
    ) -> Vec<(&'a str, Direction)> {
        let parse = |term: &str| -> Option<(&'a str, Direction)> {
            let (name, direction) = match term.strip_prefix('-') {
                Some(name) => (name, Direction::Descending),
                None => (term, Direction::Ascending),
            };
            allowed
                .iter()
                .find(|field| **field == name)
                .map(|field| (*field, direction))
        };
        let requested: Vec<(&'a str, Direction)> = query_param(request, "ordering")
            .filter(|value| !value.is_empty())
            .map(|value| value.split(',').filter_map(|t| parse(t.trim())).collect())
            .unwrap_or_default();
        if requested.is_empty() {
            default.iter().filter_map(|term| parse(term)).collect()
        } else {
            requested
        }
    }
}

/// A `LIKE` pattern for "contains `term`" with `\` as the escape character: `%`, `_` and `\`
/// in the term match themselves (Django's `icontains`). Compare it with the lowercased column
/// (`lower(column) LIKE pattern ESCAPE '\'`); the pattern is lowercased already.
pub fn like_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// DRF's `search_smart_split`: Django's `smart_split`, then quoted phrases unquoted whole and
/// the other tokens split on commas.
fn search_smart_split(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for token in smart_split(text) {
        let token = token.trim_matches(',');
        let mut chars = token.chars();
        let first = chars.next();
        let quoted = matches!(first, Some('"' | '\'')) && token.ends_with(first.unwrap_or(' '));
        if quoted {
            terms.push(unescape_string_literal(token));
        } else {
            terms.extend(
                token
                    .split(',')
                    .filter(|part| !part.is_empty())
                    .map(|part| part.trim().to_string()),
            );
        }
    }
    terms
}

/// Django's `unescape_string_literal` for a token that starts and ends with its quote.
fn unescape_string_literal(token: &str) -> String {
    let quote = &token[..1];
    let inner = if token.len() >= 2 {
        &token[1..token.len() - 1]
    } else {
        ""
    };
    inner
        .replace(&format!("\\{quote}"), quote)
        .replace("\\\\", "\\")
}

/// Django's `smart_split`: whitespace-separated tokens, where a token with quoted sections
/// (`"..."` or `'...'`, backslash escapes inside) keeps their whitespace.
fn smart_split(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |index: usize| chars.get(index).map_or(text.len(), |(at, _)| *at);
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].1.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // The first form: plain characters around at least one closed quoted section.
        let plain = |mut j: usize| {
            while j < chars.len()
                && !chars[j].1.is_whitespace()
                && !matches!(chars[j].1, '"' | '\'')
            {
                j += 1;
            }
            j
        };
        let mut j = plain(i);
        let mut sections = 0;
        while j < chars.len() && matches!(chars[j].1, '"' | '\'') {
            let quote = chars[j].1;
            let mut k = j + 1;
            let mut closed = None;
            while k < chars.len() {
                match chars[k].1 {
                    '\\' => k += 2,
                    c if c == quote => {
                        closed = Some(k);
                        break;
                    }
                    _ => k += 1,
                }
            }
            let Some(close) = closed else { break };
            sections += 1;
            j = plain(close + 1);
        }
        let end = if sections > 0 {
            j
        } else {
            // The second form: any run of non-whitespace.
            let mut k = i;
            while k < chars.len() && !chars[k].1.is_whitespace() {
                k += 1;
            }
            k
        };
        tokens.push(&text[end_of(start)..end_of(end)]);
        i = end;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_split_as_drf() {
        for (text, terms) in [
            ("", vec![]),
            ("  hello   world ", vec!["hello", "world"]),
            ("a,b, c", vec!["a", "b", "c"]),
            (r#""quoted phrase" other"#, vec!["quoted phrase", "other"]),
            (r#"'single, quoted' x"#, vec!["single, quoted", "x"]),
            (r#""escaped \" quote""#, vec![r#"escaped " quote"#]),
            (
                r#"unclosed "quote here"#,
                vec!["unclosed", "\"quote", "here"],
            ),
            (r#"a"b c"d e"#, vec![r#"a"b c"d"#, "e"]),
            (",lead,", vec!["lead"]),
            ("50%_off", vec!["50%_off"]),
        ] {
            let expected: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
            assert_eq!(search_smart_split(text), expected, "{text:?}");
        }
    }

    #[test]
    fn like_patterns_match_percent_and_underscore_literally() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("É"), "%é%");
    }
}
