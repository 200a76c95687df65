//! Provides what every admin page response shares: rendering, headers, redirects, `next`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use minijinja::Value;

use crate::admin::Admin;
use crate::rest::ApiError;

/// The pages need nothing but their own stylesheet and forms: anything else is refused.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A response builder with the headers of every admin page: never cached (Django's
/// `never_cache`), and a strict Content-Security-Policy.
pub fn builder(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((
            header::CACHE_CONTROL,
            "max-age=0, no-cache, no-store, must-revalidate, private",
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    builder
}

/// Renders a template into an HTML body; a template error is a logged 500.
pub fn render(admin: &Admin, name: &str, context: Value) -> Result<String, ApiError> {
    admin
        .templates
        .render(name, context)
        .map_err(|e| ApiError::internal(format!("template {name}: {e:#}")))
}

pub fn html(builder: &mut HttpResponseBuilder, body: String) -> HttpResponse {
    builder.content_type("text/html; charset=utf-8").body(body)
}

/// A 302 to a path of this site.
pub fn redirect(location: &str) -> HttpResponseBuilder {
    let mut builder = builder(StatusCode::FOUND);
    builder.insert_header((header::LOCATION, location.to_string()));
    builder
}

/// Django's CSRF failure page (403), with the reason it gives.
pub fn csrf_failure(admin: &Admin, reason: &str) -> Result<HttpResponse, ApiError> {
    log::warn!("Forbidden (CSRF): {reason}");
    let body = render(
        admin,
        "403_csrf.html",
        minijinja::context! { reason => reason },
    )?;
    Ok(html(&mut builder(StatusCode::FORBIDDEN), body))
}

/// The `next` target when it is a path of this site, else `None` (no open redirect): it must
/// start with one `/` (`//host` and `/\host` are other sites to a browser) and hold no
/// backslash, whitespace or control character.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then(|| next.to_string())
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC` (Howard Hinnant's civil-from-days).
pub fn format_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/admin/")), Some("/admin/".into()));
        assert_eq!(safe_next(Some("/hello/?x=1")), Some("/hello/?x=1".into()));
        for bad in [
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test",
            "\\\\evil.test",
            "/ /evil",
            "/\tx",
            "javascript:alert(1)",
            "",
            "admin/",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_795_622_400), "2026-11-25 16:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00 UTC");
    }
}
