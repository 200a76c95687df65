//! Provides Django admin's login and logout views.

use std::collections::HashMap;

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use crate::admin::Admin;
use crate::admin::forms::AdminForm;
use crate::admin::pages::{self, builder, csrf_failure, html, redirect, render, safe_next};
use crate::admin::session::{self, SessionStore};
use crate::rest::ApiError;
use crate::rest::client::client_ip;
use crate::rest::csrf;
use crate::rest::throttling::failures::LoginCheck;

/// Django's message for every failed sign-in: it does not say which part was wrong.
const LOGIN_FAILED: &str = "Please enter the correct username and password for a staff \
     account. Note that both fields may be case-sensitive.";
/// Django's `CSRF_COOKIE_AGE`: one year.
const CSRF_COOKIE_AGE: i64 = 31_449_600;

/// The login form's CSRF secret: the visitor's valid `csrftoken` cookie, or a new one to set.
fn login_secret(http: &HttpRequest) -> (String, bool) {
    match http.cookie(csrf::COOKIE_NAME) {
        Some(cookie) if csrf::is_valid_secret(cookie.value()) => {
            (cookie.value().to_string(), false)
        }
        _ => (csrf::new_secret(), true),
    }
}

fn csrf_cookie(secret: &str, secure: bool) -> Cookie<'static> {
    // HttpOnly: the pages use no JavaScript, so no script needs to read the secret.
    session::protected_cookie(
        csrf::COOKIE_NAME,
        secret.to_string(),
        CSRF_COOKIE_AGE,
        secure,
    )
}

/// The login page with the given status and error; sets the CSRF cookie when it is new.
fn login_form(
    admin: &Admin,
    http: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
    next: &str,
) -> Result<HttpResponse, ApiError> {
    let (secret, is_new) = login_secret(http);
    let body = render(
        admin,
        "login.html",
        context! {
            csrf_token => csrf::mask(&secret),
            error => error,
            username => username,
            next => next,
        },
    )?;
    let mut response = builder(status);
    if is_new {
        response.cookie(csrf_cookie(&secret, admin.sessions.secure()));
    }
    Ok(html(&mut response, body))
}

/// `GET /admin/login/`: the form, or straight on when already signed in as staff.
pub async fn login_page(
    http: HttpRequest,
    admin: web::Data<Admin>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let next = safe_next(query.get("next").map(String::as_str));
    if admin.staff_session(&http).await?.is_some() {
        return Ok(redirect(next.as_deref().unwrap_or("/admin/")).finish());
    }
    login_form(
        &admin,
        &http,
        StatusCode::OK,
        None,
        "",
        next.as_deref().unwrap_or(""),
    )
}

/// `POST /admin/login/`: CSRF check, brute-force throttle, then the credentials of an active
/// staff user. Every refusal gets the same page, status and (hashing) time.
pub async fn login(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    // Without a cookie Django says so; a malformed one stands for a fresh secret no token matches.
    let (secret, _) = login_secret(&http);
    let cookie_secret = http
        .cookie(csrf::COOKIE_NAME)
        .is_some()
        .then_some(secret.as_str());
    let token = form.get(csrf::FORM_FIELD).map(String::as_str);
    if let Err(reason) = admin.check_csrf(&http, cookie_secret, token) {
        return csrf_failure(&admin, &reason);
    }
    // Django's UsernameField strips whitespace; passwords are taken as typed.
    let username = form.get("username").map_or("", |u| u.trim());
    let password = form.get("password").map_or("", String::as_str);
    let next = safe_next(form.get("next").map(String::as_str));
    let next_field = next.as_deref().unwrap_or("");

    let client = client_ip(&http, &admin.trusted_proxies);
    let checked = if username.is_empty() || password.is_empty() {
        // Django's form refuses blank fields before authenticating: nothing is counted.
        LoginCheck::Failed
    } else {
        admin
            .login_failures
            .check(&admin.accounts, username, password, client, |user| {
                user.is_staff
            })
            .await?
    };
    let refused = || {
        login_form(
            &admin,
            &http,
            StatusCode::OK,
            Some(LOGIN_FAILED),
            username,
            next_field,
        )
    };
    let user = match checked {
        LoginCheck::Passed(user) => user,
        LoginCheck::Failed => return refused(),
        LoginCheck::Locked { wait } => {
            let message = format!(
                "Too many failed login attempts. Try again in {wait} second{}.",
                if wait == 1 { "" } else { "s" }
            );
            let mut response = login_form(
                &admin,
                &http,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&message),
                username,
                next_field,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
            return Ok(response);
        }
    };
    // A new session id whatever the browser presented: no session fixation.
    let previous = SessionStore::presented_key(&http);
    let Some(new_session) = admin.sessions.start(&user, previous).await? else {
        // The password changed (or sessions ended) after it was checked.
        return refused();
    };
    admin.accounts.invalidate(user.id);
    log::info!("admin login: user {} signed in", user.id);
    let mut response = redirect(next.as_deref().unwrap_or("/admin/"));
    response.cookie(admin.sessions.cookie(&new_session));
    // The anonymous secret is done with: the session now carries its own (Django rotates it).
    let mut expired = csrf_cookie("", admin.sessions.secure());
    expired.make_removal();
    response.cookie(expired);
    Ok(response.finish())
}

/// `POST /admin/logout/`: ends the session server-side, clears the cookie, back to the login.
pub async fn logout(
    http: HttpRequest,
    admin: web::Data<Admin>,
    form: AdminForm,
) -> Result<HttpResponse, ApiError> {
    if let Some(key) = SessionStore::presented_key(&http)
        && let Some(found) = admin.sessions.load(&key).await?
    {
        let token = form.get(csrf::FORM_FIELD).map(String::as_str);
        if let Err(reason) = admin.check_csrf(&http, Some(&found.record.csrf_secret), token) {
            return csrf_failure(&admin, &reason);
        }
        admin.sessions.end(&key).await?;
        log::info!("admin logout: user {} signed out", found.record.user_id);
    }
    Ok(pages::redirect("/admin/login/")
        .insert_header((header::SET_COOKIE, session::clear_cookie_header()))
        .finish())
}
