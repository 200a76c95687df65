use crate::helpers::*;

#[tokio::test]
async fn token_then_hello_walkthrough() {
    let app = spawn_seeded_app().await;
    let (_refresh, access) = app.obtain("vitor", PASSWORD).await;
    let (status, body) = json(app.get_with_token("/hello/", &access).await).await;
    assert_eq!(status, 200);
    assert_eq!(body, hello_world());
}
