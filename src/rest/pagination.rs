//! Provides DRF's `PageNumberPagination` and `LimitOffsetPagination`: which slice of a list a
//! request asks for, and the `{"count", "next", "previous", "results"}` body with DRF's links.
//!
//! A view counts its rows, asks the paginator for the window, loads those rows only, and hands
//! them back to be wrapped:
//!
//! ```ignore
//! let pagination = PageNumberPagination { page_size: 10 };
//! let window = pagination.window(&request, count)?;          // 404 "Invalid page."
//! let rows = load(window.offset, window.limit).await?;
//! Ok(Response::ok(pagination.response(&request, count, &window, rows)))
//! ```
//!
//! Links are absolute (`Request::build_absolute_uri`), their query keys sorted and
//! form-encoded as Python's `urlencode` writes them, and the link back to page 1 drops `page`:
//! byte for byte DRF's `replace_query_param` / `remove_query_param`.

use serde_json::{Map, Value};

use crate::rest::exceptions::ApiError;
use crate::rest::parsers::form_urlencoded_pairs;
use crate::rest::request::Request;

/// The rows a request asks for: `limit` rows from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: i64,
    pub limit: i64,
    /// The page number, for page-number pagination.
    pub page: Option<i64>,
}

/// DRF's `PageNumberPagination` (`?page=`).
#[derive(Debug, Clone, Copy)]
pub struct PageNumberPagination {
    /// `PAGE_SIZE`.
    pub page_size: i64,
}

impl PageNumberPagination {
    /// The page the request asks for (`?page=N`, or `last`; page 1 without it), or DRF's 404
    /// `{"detail": "Invalid page."}` for a page that is not a whole number or does not exist.
    pub fn window(&self, request: &Request, count: i64) -> Result<Window, ApiError> {
        let page_size = self.page_size.max(1);
        // Django's Paginator: an empty list still has its first page.
        let pages = ((count + page_size - 1) / page_size).max(1);
        let page = match query_param(request, "page").as_deref() {
            None => 1,
            Some("last") => pages,
            Some(number) => match number.trim().parse::<i64>() {
                Ok(page) if (1..=pages).contains(&page) => page,
                _ => return Err(invalid_page()),
            },
        };
        Ok(Window {
            offset: (page - 1) * page_size,
            limit: page_size,
            page: Some(page),
        })
    }

    /// `{"count", "next", "previous", "results"}`.
    pub fn response(
        &self,
        request: &Request,
        count: i64,
        window: &Window,
        results: Vec<Value>,
    ) -> Value {
        let page = window.page.unwrap_or(1);
        let url = request.build_absolute_uri();
        let next = (window.offset + window.limit < count)
            .then(|| replace_query_param(&url, "page", &(page + 1).to_string()));
        let previous = (page > 1).then(|| match page - 1 {
            1 => remove_query_param(&url, "page"),
            previous => replace_query_param(&url, "page", &previous.to_string()),
        });
        paginated(count, next, previous, results)
    }
}

/// DRF's `LimitOffsetPagination` (`?limit=&offset=`).
#[derive(Debug, Clone, Copy)]
pub struct LimitOffsetPagination {
    /// The limit without `?limit=` (`PAGE_SIZE`).
    pub default_limit: i64,
    /// The most rows one request gets, when set.
    pub max_limit: Option<i64>,
}

impl LimitOffsetPagination {
    /// DRF's rules: a `limit` that is not a positive whole number is the default one (capped by
    /// `max_limit`), an `offset` that is not a whole number ≥ 0 is 0. Never an error.
    pub fn window(&self, request: &Request) -> Window {
        let limit = query_param(request, "limit")
            .and_then(|limit| limit.trim().parse::<i64>().ok())
            .filter(|limit| *limit > 0)
            .map_or(self.default_limit, |limit| {
                self.max_limit.map_or(limit, |max| limit.min(max))
            });
        let offset = query_param(request, "offset")
            .and_then(|offset| offset.trim().parse::<i64>().ok())
            .filter(|offset| *offset >= 0)
            .unwrap_or(0);
        Window {
            offset,
            limit,
            page: None,
        }
    }

    /// `{"count", "next", "previous", "results"}`; no results past the end.
    pub fn response(
        &self,
        request: &Request,
        count: i64,
        window: &Window,
        results: Vec<Value>,
    ) -> Value {
        let (offset, limit) = (window.offset, window.limit);
        let url = request.build_absolute_uri();
        let with_limit = || replace_query_param(&url, "limit", &limit.to_string());
        let next = (offset + limit < count)
            .then(|| replace_query_param(&with_limit(), "offset", &(offset + limit).to_string()));
        let previous = (offset > 0).then(|| {
            if offset - limit <= 0 {
                remove_query_param(&with_limit(), "offset")
            } else {
                replace_query_param(&with_limit(), "offset", &(offset - limit).to_string())
            }
        });
        let results = if offset > count { Vec::new() } else { results };
        paginated(count, next, previous, results)
    }
}

fn paginated(
    count: i64,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Value>,
) -> Value {
    let mut body = Map::new();
    body.insert("count".into(), count.into());
    body.insert("next".into(), next.into());
    body.insert("previous".into(), previous.into());
    body.insert("results".into(), results.into());
    Value::Object(body)
}

/// DRF's `NotFound(invalid_page_message)`.
fn invalid_page() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        serde_json::json!({"detail": "Invalid page."}),
    )
}

/// The last value of a query parameter (Django's `QueryDict.get`).
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded_pairs(request.http.query_string().as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value)
        .last()
}

/// DRF's `replace_query_param`: `key` set to `value`, every key sorted, Python's encoding.
pub fn replace_query_param(url: &str, key: &str, value: &str) -> String {
    with_query(url, |pairs| {
        pairs.retain(|(k, _)| k != key);
        pairs.push((key.to_string(), value.to_string()));
    })
}

/// DRF's `remove_query_param`.
pub fn remove_query_param(url: &str, key: &str) -> String {
    with_query(url, |pairs| pairs.retain(|(k, _)| k != key))
}

/// Rewrites the query of `url` as Python's `urlencode(sorted(parse_qs(query).items()),
/// doseq=True)` does after `change`: keys sorted (stable, so a key's values keep their order).
fn with_query(url: &str, change: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded_pairs(query.as_bytes()).collect();
    change(&mut pairs);
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let query = pairs
        .iter()
        .map(|(key, value)| format!("{}={}", quote_plus(key), quote_plus(value)))
        .collect::<Vec<_>>()
        .join("&");
    let mut rebuilt = base.to_string();
    if !query.is_empty() {
        rebuilt.push('?');
        rebuilt.push_str(&query);
    }
    if let Some(fragment) = fragment {
        rebuilt.push('#');
        rebuilt.push_str(fragment);
    }
    rebuilt
}

/// Python's `quote_plus`: letters, digits and `_.-~` kept, a space as `+`, every other byte
/// of the UTF-8 as `%XX`.
fn quote_plus(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                quoted.push(byte as char)
            }
            b' ' => quoted.push('+'),
            other => quoted.push_str(&format!("%{other:02X}")),
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_rewritten_as_drf_writes_them() {
        let url = "http://testserver/api/snippets/?search=a+b&page=2&ordering=-title";
        assert_eq!(
            replace_query_param(url, "page", "3"),
            "http://testserver/api/snippets/?ordering=-title&page=3&search=a+b"
        );
        assert_eq!(
            remove_query_param(url, "page"),
            "http://testserver/api/snippets/?ordering=-title&search=a+b"
        );
        assert_eq!(
            remove_query_param("http://h/x/?page=2", "page"),
            "http://h/x/"
        );
        assert_eq!(
            replace_query_param("http://h/x/?q=%2F%C3%A9*~", "page", "2"),
            "http://h/x/?page=2&q=%2F%C3%A9%2A~"
        );
        assert_eq!(
            replace_query_param("http://h/x/?flag&b=1&a=2&b=0", "page", "2"),
            "http://h/x/?a=2&b=1&b=0&flag=&page=2"
        );
    }
}
