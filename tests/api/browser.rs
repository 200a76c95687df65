//! End to end in a real headless Chromium (WebDriver via chromedriver): sign in, look at the
//! dashboard, blacklist a token, log out. Fails, never skips, when the browser is missing.
//! Screenshots of the pages are kept under `target/screenshots/` for reviewers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process on a free loopback port, killed when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install the Debian packages chromium and chromium-driver \
                 (.ci/run does) - the browser tests must run, not be skipped"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_browser(driver: &Chromedriver, profile: &Path) -> Client {
    let args = [
        "--headless".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-quic".to_string(),
        "--no-first-run".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--window-size=1280,900".to_string(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
    });
    ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

async fn path_of(browser: &Client) -> String {
    browser.current_url().await.unwrap().path().to_string()
}

/// The text of the element `css` once `ready` accepts it. A click navigates asynchronously: the
/// old page's element may be found and then go stale, or show the old text, so this polls.
async fn text_when(browser: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if ready(&text) {
                return text;
            }
            last = Some(text);
        }
        if std::time::Instant::now() > deadline {
            panic!("{css}: not ready within 10 s (last text {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    text_when(browser, css, |_| true).await
}

/// Waits until `css` shows `expected`, and returns what it shows.
async fn text_equal(browser: &Client, css: &str, expected: &str) -> String {
    text_when(browser, css, |text| text == expected).await
}

#[tokio::test]
async fn staff_signs_in_blacklists_a_token_and_logs_out_in_chromium() {
    let app = spawn_app().await;
    app.seed_reference_users();
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let jti = claims(&refresh)["jti"].as_str().unwrap().to_string();

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&driver, profile.path()).await;
    let outcome = walk_through(&app, &browser, &jti).await;
    let _ = browser.close().await;
    outcome.unwrap();

    let (status, body) = json(
        app.post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await,
    )
    .await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Token is blacklisted"))
    );
}

/// The user's path through the pages; errors are returned so the browser is always closed.
async fn walk_through(app: &TestApp, browser: &Client, jti: &str) -> Result<(), String> {
    // An anonymous visit to the dashboard lands on the login page.
    browser
        .goto(&app.url("/admin/"))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(path_of(browser).await, "/admin/login/");
    assert_eq!(text_of(browser, "h1").await, "Log in");
    save_screenshot(browser, "login.png").await;

    // A wrong password first: the same page, with Django's message.
    let sign_in = |password: &'static str| async move {
        let form = browser.find(Locator::Id("login-form")).await.unwrap();
        let username = form.find(Locator::Id("id_username")).await.unwrap();
        username.clear().await.unwrap();
        username.send_keys("admin").await.unwrap();
        form.find(Locator::Id("id_password"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };
    sign_in("not-the-password").await;
    assert!(
        text_of(browser, ".errornote")
            .await
            .contains("Please enter the correct username and password")
    );
    save_screenshot(browser, "login-error.png").await;

    sign_in(PASSWORD).await;
    assert_eq!(text_of(browser, "#current-user").await, "admin");
    assert_eq!(path_of(browser).await, "/admin/");
    let tokens = text_of(browser, "#tokens").await;
    assert!(tokens.contains(jti), "the token is listed");
    let users = text_of(browser, "#users").await;
    for name in ["vitor", "inactive", "admin"] {
        assert!(users.contains(name), "{name} is listed");
    }
    save_screenshot(browser, "dashboard.png").await;

    // Blacklist the token with its button.
    browser
        .find(Locator::Css(&format!(
            "button[aria-label='Blacklist {jti}']"
        )))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        text_equal(browser, "#message", "The token was blacklisted.").await,
        "The token was blacklisted."
    );
    assert_eq!(
        text_equal(browser, "#no-tokens", "No outstanding refresh tokens.").await,
        "No outstanding refresh tokens."
    );
    save_screenshot(browser, "dashboard-after-blacklist.png").await;

    // Log out: back on the login page, and the dashboard is closed again.
    browser
        .find(Locator::Id("logout"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(text_equal(browser, "h1", "Log in").await, "Log in");
    assert_eq!(path_of(browser).await, "/admin/login/");
    browser
        .goto(&app.url("/admin/"))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(path_of(browser).await, "/admin/login/");
    Ok(())
}

/// Browser mode end to end: the example page signs in (refresh token in an HttpOnly cookie),
/// calls `/hello/`, refreshes on a 401, lists its session and logs out.
#[tokio::test]
async fn the_browser_mode_page_signs_in_refreshes_and_logs_out_in_chromium() {
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "true"), ("TOKEN_COOKIE", "true")]).await;
    app.seed_reference_users();
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&driver, profile.path()).await;
    let outcome = browser_mode_walk(&app, &browser).await;
    let _ = browser.close().await;
    outcome.unwrap();
}

async fn click(browser: &Client, css: &str) -> Result<(), String> {
    let element = browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    element.click().await.map_err(|e| format!("{css}: {e}"))
}

async fn browser_mode_walk(app: &TestApp, browser: &Client) -> Result<(), String> {
    browser
        .goto(&app.url("/static/demo/index.html"))
        .await
        .map_err(|e| e.to_string())?;
    text_equal(browser, "#status", "Not signed in.").await;
    for (css, value) in [("#username", "vitor"), ("#password", PASSWORD)] {
        browser
            .find(Locator::Css(css))
            .await
            .map_err(|e| e.to_string())?
            .send_keys(value)
            .await
            .map_err(|e| e.to_string())?;
    }
    click(browser, "#login").await?;
    text_equal(browser, "#status", "Signed in as vitor.").await;
    // The page cannot read the refresh token: no cookie is visible to script.
    let visible = browser
        .execute("return document.cookie", vec![])
        .await
        .map_err(|e| e.to_string())?;
    if visible
        .as_str()
        .is_some_and(|c| c.contains("refresh_token"))
    {
        return Err(format!(
            "the refresh cookie is readable by script: {visible}"
        ));
    }
    click(browser, "#hello").await?;
    text_equal(browser, "#output", "200 Hello, World!").await;
    save_screenshot(browser, "browser-mode-signed-in.png").await;

    // The access token expires (here: is thrown away): the next call refreshes with the cookie.
    browser
        .execute(
            "window.portcullisDemo.access = 'expired'; return null",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    click(browser, "#hello").await?;
    text_when(browser, "#log", |log| {
        log.contains("refreshed the access token")
    })
    .await;
    text_equal(browser, "#output", "200 Hello, World!").await;

    click(browser, "#sessions").await?;
    let sessions = text_when(browser, "#session-list", |list| {
        list.contains("(this device)")
    })
    .await;
    if !sessions.contains("127.0.0.1") {
        return Err(format!("session list without its address: {sessions}"));
    }
    save_screenshot(browser, "browser-mode-sessions.png").await;

    click(browser, "#logout").await?;
    text_equal(browser, "#status", "Signed out.").await;
    click(browser, "#hello").await?;
    // No access token, and the refresh cookie is gone: the call stays refused.
    text_when(browser, "#output", |text| text.starts_with("401")).await;
    text_when(browser, "#log", |log| log.contains("refresh refused")).await;
    save_screenshot(browser, "browser-mode-signed-out.png").await;
    Ok(())
}
