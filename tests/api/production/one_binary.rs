//! One binary: started from an empty directory (no `static/`, no `templates/`), it still serves
//! the admin styled and the browser demo, from the assets compiled in; a file in `STATIC_DIR`
//! overrides the built-in one.

use super::instances::Instance;

async fn get(instance: &Instance, path: &str) -> reqwest::Response {
    reqwest::get(instance.url(path)).await.unwrap()
}

#[tokio::test]
async fn the_binary_serves_its_built_in_assets_from_an_empty_directory() {
    // Relative to the instance's own empty working directory: neither exists.
    let instance = Instance::start(&[("STATIC_DIR", "static"), ("TEMPLATES_DIR", "templates")]);

    let css = get(&instance, "/static/admin.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["cache-control"], "no-cache");
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let body = css.text().await.unwrap();
    assert_eq!(
        body,
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/admin.css"))
    );

    let client = reqwest::Client::new();
    let again = client
        .get(instance.url("/static/admin.css"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    let head = client
        .head(instance.url("/static/demo/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    let demo = get(&instance, "/static/demo/index.html").await;
    assert_eq!(demo.status(), 200);
    assert_eq!(demo.headers()["content-type"], "text/html; charset=utf-8");

    // The login page (a built-in template) links the stylesheet it can now load.
    let login = get(&instance, "/admin/login/").await;
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("/static/admin.css"));

    for missing in [
        "/static/nothing.css",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/admin.css%00.js",
    ] {
        let response = get(&instance, missing).await;
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn a_file_in_static_dir_overrides_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.css"), "body { color: red }").unwrap();
    let static_dir = dir.path().to_str().unwrap();
    let instance = Instance::start(&[("STATIC_DIR", static_dir)]);
    let css = get(&instance, "/static/admin.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.text().await.unwrap(), "body { color: red }");
    // What the directory lacks still comes from the binary.
    let demo = get(&instance, "/static/demo/app.js").await;
    assert_eq!(demo.status(), 200);
}
