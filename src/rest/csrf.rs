//! Provides Django's CSRF protection: masked tokens, the Origin/Referer checks and the reasons.
//!
//! As with Django's `CSRF_USE_SESSIONS`, a signed-in user's secret lives in the session row;
//! before sign-in (the login form) it lives in the `csrftoken` cookie. Tokens put in pages are
//! masked afresh each time (BREACH), exactly as Django does, so Django's tokens and ours
//! have one format: 64 characters, a random mask followed by the secret shifted by it.

use actix_web::HttpRequest;
use actix_web::http::Method;
use ipnet::IpNet;
use subtle::ConstantTimeEq;

/// Name of the anonymous CSRF cookie (Django's `CSRF_COOKIE_NAME`).
pub const COOKIE_NAME: &str = "csrftoken";
/// Name of the form field carrying the token (Django's).
pub const FORM_FIELD: &str = "csrfmiddlewaretoken";
/// Name of the header carrying the token (Django's `CSRF_HEADER_NAME`).
pub const HEADER_NAME: &str = "x-csrftoken";

const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_LENGTH: usize = 32;
const TOKEN_LENGTH: usize = 2 * SECRET_LENGTH;

pub const REASON_NO_CSRF_COOKIE: &str = "CSRF cookie not set.";
pub const REASON_CSRF_TOKEN_MISSING: &str = "CSRF token missing.";
const REASON_NO_REFERER: &str = "Referer checking failed - no Referer.";
const REASON_MALFORMED_REFERER: &str = "Referer checking failed - Referer is malformed.";
const REASON_INSECURE_REFERER: &str =
    "Referer checking failed - Referer is insecure while host is secure.";

/// `n` characters drawn uniformly from Django's alphabet (rejection sampling: no modulo bias).
fn random_chars(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).expect("the operating system's random source works");
        for &byte in &buf {
            // 248 = 4 * 62: bytes above would favour the first characters.
            if byte < 248 && out.len() < n {
                out.push(CHARS[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

/// A fresh secret (Django's `_get_new_csrf_string`).
pub fn new_secret() -> String {
    random_chars(SECRET_LENGTH)
}

fn index(c: u8) -> usize {
    CHARS.iter().position(|&x| x == c).unwrap_or(0)
}

/// The secret masked with a fresh random mask, for one page (Django's `_mask_cipher_secret`).
pub fn mask(secret: &str) -> String {
    let mask = random_chars(SECRET_LENGTH);
    let cipher: String = secret
        .bytes()
        .zip(mask.bytes())
        .map(|(s, m)| CHARS[(index(s) + index(m)) % CHARS.len()] as char)
        .collect();
    mask + &cipher
}

fn unmask(token: &str) -> String {
    let (mask, cipher) = token.split_at(SECRET_LENGTH);
    cipher
        .bytes()
        .zip(mask.bytes())
        .map(|(c, m)| CHARS[(index(c) + CHARS.len() - index(m)) % CHARS.len()] as char)
        .collect()
}

/// Whether a cookie value can be a secret at all (a tampered cookie is replaced, not trusted).
pub fn is_valid_secret(value: &str) -> bool {
    value.len() == SECRET_LENGTH && value.bytes().all(|b| CHARS.contains(&b))
}

/// Where the request's token came from; Django names it in its rejection reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Post,
    Header,
}

impl TokenSource {
    fn describe(self) -> &'static str {
        match self {
            TokenSource::Post => "POST",
            TokenSource::Header => "the 'X-Csrftoken' HTTP header",
        }
    }
}

/// Django's `_check_token`: the token must be well formed and match the secret.
pub fn check_token(secret: Option<&str>, token: Option<(&str, TokenSource)>) -> Result<(), String> {
    let secret = secret.ok_or(REASON_NO_CSRF_COOKIE)?;
    let (token, source) = match token {
        Some((token, source)) if !token.is_empty() => (token, source),
        _ => return Err(REASON_CSRF_TOKEN_MISSING.to_string()),
    };
    let bad = |reason: &str| format!("CSRF token from {} {reason}.", source.describe());
    if token.len() != SECRET_LENGTH && token.len() != TOKEN_LENGTH {
        return Err(bad("has incorrect length"));
    }
    if !token.bytes().all(|b| CHARS.contains(&b)) {
        return Err(bad("has invalid characters"));
    }
    // Django also accepts the unmasked secret itself.
    let candidate = if token.len() == TOKEN_LENGTH {
        unmask(token)
    } else {
        token.to_string()
    };
    if bool::from(candidate.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(bad("incorrect"))
    }
}

/// What the Origin/Referer checks need to know about a request.
/// Django's `request.is_secure()`: HTTPS here, or said by a trusted proxy's
/// `X-Forwarded-Proto` (Django's `SECURE_PROXY_SSL_HEADER`, made safe by default).
pub fn is_secure(http: &HttpRequest, trusted_proxies: &[IpNet]) -> bool {
    http.app_config().secure()
        || (crate::rest::client::peer_is_one_of(http, trusted_proxies)
            && http
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

pub struct RequestOrigin<'a> {
    pub origin: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub secure: bool,
    pub host: &'a str,
}

impl<'a> RequestOrigin<'a> {
    /// Reads them from the request. HTTPS is believed from `X-Forwarded-Proto` only when the
    /// peer is a trusted proxy (Django's `SECURE_PROXY_SSL_HEADER`, made safe by default).
    pub fn of(http: &'a HttpRequest, trusted_proxies: &[IpNet]) -> RequestOrigin<'a> {
        let header = |name: &str| http.headers().get(name).and_then(|v| v.to_str().ok());
        RequestOrigin {
            origin: header("origin"),
            referer: header("referer"),
            secure: is_secure(http, trusted_proxies),
            host: header("host").unwrap_or(""),
        }
    }
}

/// The scheme and host of a URL, or `None` when it has neither (Python's `urlparse`, enough of it).
fn scheme_and_netloc(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!scheme.is_empty() && !netloc.is_empty()).then_some((scheme, netloc))
}

/// Django's `is_same_domain`: exact match, or `.example.com` matching any subdomain.
fn is_same_domain(host: &str, pattern: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix('.') {
        Some(domain) => host.ends_with(&pattern) || host == domain,
        None => host == pattern,
    }
}

/// Whether `origin` (scheme://host[:port]) is listed in `CSRF_TRUSTED_ORIGINS`, where
/// `https://*.example.com` trusts every subdomain.
fn is_trusted_origin(origin: &str, trusted: &[String]) -> bool {
    let Some((scheme, netloc)) = scheme_and_netloc(origin) else {
        return false;
    };
    trusted.iter().any(|entry| {
        if entry.eq_ignore_ascii_case(origin) {
            return true;
        }
        match scheme_and_netloc(entry) {
            Some((s, n)) if s.eq_ignore_ascii_case(scheme) && n.starts_with("*.") => {
                is_same_domain(netloc, &n[1..])
            }
            _ => false,
        }
    })
}

/// Django's origin and referer checks (`CsrfViewMiddleware.process_view`): an `Origin` header
/// must name this site or a trusted origin; over HTTPS without one, so must the `Referer`.
pub fn check_origin(request: &RequestOrigin<'_>, trusted: &[String]) -> Result<(), String> {
    if let Some(origin) = request.origin {
        let scheme = if request.secure { "https" } else { "http" };
        let own = format!("{scheme}://{}", request.host);
        if origin == own || is_trusted_origin(origin, trusted) {
            return Ok(());
        }
        return Err(format!(
            "Origin checking failed - {origin} does not match any trusted origins."
        ));
    }
    if !request.secure {
        return Ok(());
    }
    let referer = request.referer.ok_or(REASON_NO_REFERER)?;
    let (scheme, netloc) = scheme_and_netloc(referer).ok_or(REASON_MALFORMED_REFERER)?;
    if scheme != "https" {
        return Err(REASON_INSECURE_REFERER.to_string());
    }
    let trusted_host = trusted
        .iter()
        .filter_map(|entry| scheme_and_netloc(entry))
        .any(|(_, host)| match host.strip_prefix('*') {
            Some(domain) => is_same_domain(netloc, domain),
            None => is_same_domain(netloc, host),
        });
    if trusted_host || is_same_domain(netloc, request.host) {
        return Ok(());
    }
    Err(format!(
        "Referer checking failed - {referer} does not match any trusted origins."
    ))
}

/// Methods RFC 9110 calls safe need no token.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_but_unmask_to_the_secret() {
        let secret = new_secret();
        let (a, b) = (mask(&secret), mask(&secret));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(unmask(&a), secret);
        assert!(check_token(Some(&secret), Some((&b, TokenSource::Header))).is_ok());
        assert!(check_token(Some(&secret), Some((&secret, TokenSource::Post))).is_ok());
    }

    #[test]
    fn reasons_are_djangos() {
        let secret = new_secret();
        assert_eq!(
            check_token(Some(&secret), None).unwrap_err(),
            "CSRF token missing."
        );
        assert_eq!(
            check_token(None, Some(("x", TokenSource::Post))).unwrap_err(),
            "CSRF cookie not set."
        );
        assert_eq!(
            check_token(Some(&secret), Some(("abc", TokenSource::Header))).unwrap_err(),
            "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."
        );
        let other = mask(&new_secret());
        assert_eq!(
            check_token(Some(&secret), Some((&other, TokenSource::Post))).unwrap_err(),
            "CSRF token from POST incorrect."
        );
        let bad = "!".repeat(32);
        assert!(
            check_token(Some(&secret), Some((&bad, TokenSource::Post)))
                .unwrap_err()
                .ends_with("has invalid characters.")
        );
    }

    fn origin<'a>(
        origin: Option<&'a str>,
        referer: Option<&'a str>,
        secure: bool,
    ) -> RequestOrigin<'a> {
        RequestOrigin {
            origin,
            referer,
            secure,
            host: "example.com",
        }
    }

    #[test]
    fn origin_must_be_this_site_or_trusted() {
        let trusted = vec!["https://*.corp.test".to_string()];
        assert!(check_origin(&origin(Some("https://example.com"), None, true), &[]).is_ok());
        assert!(check_origin(&origin(Some("http://example.com"), None, false), &[]).is_ok());
        assert!(check_origin(&origin(Some("https://a.corp.test"), None, true), &trusted).is_ok());
        assert_eq!(
            check_origin(&origin(Some("https://evil.test"), None, true), &trusted).unwrap_err(),
            "Origin checking failed - https://evil.test does not match any trusted origins."
        );
        assert!(check_origin(&origin(Some("http://example.com"), None, true), &[]).is_err());
    }

    #[test]
    fn referer_is_required_over_https_only() {
        assert!(check_origin(&origin(None, None, false), &[]).is_ok());
        assert_eq!(
            check_origin(&origin(None, None, true), &[]).unwrap_err(),
            "Referer checking failed - no Referer."
        );
        assert!(check_origin(&origin(None, Some("https://example.com/admin/"), true), &[]).is_ok());
        assert_eq!(
            check_origin(&origin(None, Some("http://example.com/"), true), &[]).unwrap_err(),
            "Referer checking failed - Referer is insecure while host is secure."
        );
        assert!(
            check_origin(&origin(None, Some("https://evil.test/"), true), &[])
                .unwrap_err()
                .contains("does not match")
        );
        assert!(
            check_origin(&origin(None, Some("nonsense"), true), &[])
                .unwrap_err()
                .contains("malformed")
        );
    }
}
