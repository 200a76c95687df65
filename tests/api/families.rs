//! Logout that really logs out (`TOKEN_FAMILIES=true`): refresh families with reuse detection,
//! access tokens that end with their family or the user's token epoch, the sessions API.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const FAMILIES: (&str, &str) = ("TOKEN_FAMILIES", "true");

async fn spawn_families_app(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![FAMILIES];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(&vars).await;
    app.seed_reference_users();
    app
}

fn revoked_access() -> serde_json::Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{
            "token_class": "AccessToken",
            "token_type": "access",
            "message": "Token is revoked",
        }],
    })
}

/// A rotation: the new (access, refresh).
async fn rotate(app: &TestApp, refresh: &str) -> (String, String) {
    let reply = app.refresh(refresh).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (
        reply.body["access"].as_str().unwrap().to_string(),
        reply.body["refresh"].as_str().unwrap().to_string(),
    )
}

fn blacklisted() -> serde_json::Value {
    json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
}

#[tokio::test]
async fn tokens_carry_their_family_and_rotation_keeps_it() {
    let app = spawn_families_app(&[]).await;
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let sid = claims(&refresh)["sid"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 32);
    assert_eq!(claims(&access)["sid"], sid.as_str());
    let keys: Vec<String> = claims(&refresh)
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id", "sid"]);
    let (access2, refresh2) = rotate(&app, &refresh).await;
    assert_eq!(claims(&refresh2)["sid"], sid.as_str());
    assert_eq!(claims(&access2)["sid"], sid.as_str());
    app.hello_with_token(&access2)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    // No grace: even the token rotated last, replayed at once, is reuse.
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let (first, access) = app.obtain("vitor", PASSWORD).await;
    let (access2, second) = rotate(&app, &first).await;
    // The thief replays the first token: refused, and the family ends.
    app.refresh(&first).await.assert_unauthorized(blacklisted());
    app.refresh(&second)
        .await
        .assert_unauthorized(blacklisted());
    for token in [&access, &access2] {
        app.hello_with_token(token)
            .await
            .assert_unauthorized(revoked_access());
    }
    let verify = app.verify(&second).await;
    assert_eq!(verify.status, 400, "{}", verify.text);
    // Another family of the same user is untouched.
    let (_, other) = app.obtain("vitor", PASSWORD).await;
    app.hello_with_token(&other)
        .await
        .assert_json(200, hello_world());
}

#[tokio::test]
async fn a_replay_within_the_grace_window_is_refused_without_revoking() {
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "30")]).await;
    let (first, _) = app.obtain("vitor", PASSWORD).await;
    let (access2, second) = rotate(&app, &first).await;
    app.refresh(&first).await.assert_unauthorized(blacklisted());
    app.hello_with_token(&access2)
        .await
        .assert_json(200, hello_world());
    rotate(&app, &second).await;
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "30")]).await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let replies = futures_util::future::join_all((0..10).map(|_| app.refresh(&refresh))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn blacklisting_a_refresh_token_ends_its_access_tokens() {
    let app = spawn_families_app(&[]).await;
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .post("/api/token/blacklist/", json!({"refresh": refresh}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(revoked_access());
}

#[tokio::test]
async fn the_sessions_api_lists_and_ends_sessions() {
    let app = spawn_families_app(&[]).await;
    let (_, phone) = app.obtain("vitor", PASSWORD).await;
    let laptop = app
        .client
        .post(app.url("/api/token/"))
        .header("User-Agent", "Laptop/1.0")
        .json(&json!({"username": "vitor", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let laptop: serde_json::Value = laptop.json().await.unwrap();
    let laptop_access = laptop["access"].as_str().unwrap().to_string();
    let list = app
        .send(app.request("GET", "/api/sessions/").bearer_auth(&phone))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "Laptop/1.0")
        .unwrap();
    assert_eq!(laptop_session["ip"], "127.0.0.1");
    let id = laptop_session["id"].as_str().unwrap();
    // Another user cannot end it, nor learn that it exists.
    let (_, admin) = app.obtain("admin", PASSWORD).await;
    let other = app
        .send(
            app.request("DELETE", &format!("/api/sessions/{id}/"))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(other.status, 404);
    let missing = app
        .send(
            app.request("DELETE", "/api/sessions/nonexistent/")
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body.clone()),
        (404, other.body.clone())
    );
    // The owner ends it: its access token stops at once.
    let ended = app
        .send(
            app.request("DELETE", &format!("/api/sessions/{id}/"))
                .bearer_auth(&phone),
        )
        .await;
    assert_eq!(ended.status, 204);
    assert!(ended.text.is_empty());
    app.hello_with_token(&laptop_access)
        .await
        .assert_unauthorized(revoked_access());
    app.hello_with_token(&phone)
        .await
        .assert_json(200, hello_world());
    // Anonymous: 401.
    let anonymous = app.send(app.request("GET", "/api/sessions/")).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn logout_everywhere_ends_every_token_of_the_user() {
    let app = spawn_families_app(&[]).await;
    let (refresh_a, access_a) = app.obtain("vitor", PASSWORD).await;
    let (_, access_b) = app.obtain("vitor", PASSWORD).await;
    let (_, other_user) = app.obtain("admin", PASSWORD).await;
    let reply = app
        .send(
            app.request("DELETE", "/api/sessions/")
                .bearer_auth(&access_b),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    for access in [&access_a, &access_b] {
        app.hello_with_token(access)
            .await
            .assert_unauthorized(revoked_access());
    }
    app.refresh(&refresh_a)
        .await
        .assert_unauthorized(blacklisted());
    app.hello_with_token(&other_user)
        .await
        .assert_json(200, hello_world());
    // Signing in again works at once, in the same second too.
    let (fresh_refresh, fresh) = app.obtain("vitor", PASSWORD).await;
    app.hello_with_token(&fresh)
        .await
        .assert_json(200, hello_world());
    rotate(&app, &fresh_refresh).await;
}

/// A pair obtained right after the user's sessions ended (password change, deactivation and
/// reactivation, from the command line) works, and every token issued before stays dead
/// (before: the new pair was 401 "Token is revoked" and "Token is blacklisted" for good when
/// it came in the epoch's second, the epoch being compared in whole seconds).
#[tokio::test]
async fn signing_in_right_after_sessions_end_gives_a_live_pair() {
    let app = spawn_families_app(&[]).await;
    let changed = "New-Passw0rd!2026";
    let steps: [(&[&[&str]], &str, &str); 3] = [
        (&[&["changepassword", "vitor"]], changed, PASSWORD),
        (
            &[&["deactivate", "vitor"], &["activate", "vitor"]],
            "",
            changed,
        ),
        (&[&["changepassword", "vitor"]], PASSWORD, changed),
    ];
    for (commands, new_password, password) in steps {
        let (old_refresh, old_access) = app.obtain("vitor", password).await;
        for args in commands {
            let output = app.run_command(args, &format!("{new_password}\n"));
            assert!(output.status.success(), "{output:?}");
        }
        let now_password = if new_password.is_empty() {
            password
        } else {
            new_password
        };
        let (refresh, access) = app.obtain("vitor", now_password).await;
        // Within the revoked-families set's staleness bound (REVOCATION_TTL_MS, 1 s): the
        // commands ran in another process.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        app.hello_with_token(&access)
            .await
            .assert_json(200, hello_world());
        let (next_access, _) = rotate(&app, &refresh).await;
        app.hello_with_token(&next_access)
            .await
            .assert_json(200, hello_world());
        app.hello_with_token(&old_access)
            .await
            .assert_unauthorized(revoked_access());
        app.refresh(&old_refresh)
            .await
            .assert_unauthorized(blacklisted());
    }
}

/// The grace is for the token rotated last: after R1 -> R2 -> R3 within one second, a replay
/// of R1 is reuse and ends the family (before: whole-second times made R1 look like the token
/// rotated last, and the family survived).
#[tokio::test]
async fn an_older_token_is_reuse_even_within_the_grace_window() {
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "10")]).await;
    let (first, _) = app.obtain("vitor", PASSWORD).await;
    let (_, second) = rotate(&app, &first).await;
    let (third_access, third) = rotate(&app, &second).await;
    app.refresh(&first).await.assert_unauthorized(blacklisted());
    app.refresh(&third).await.assert_unauthorized(blacklisted());
    app.hello_with_token(&third_access)
        .await
        .assert_unauthorized(revoked_access());
}

/// Two tabs (or a retrying app) refreshing one token at once, with the default settings: one
/// wins, the others get 401, and the winner's pair keeps working (before: the losers counted as
/// reuse and ended the family, the winner's new pair included).
#[tokio::test]
async fn parallel_refreshes_of_one_token_keep_the_session() {
    let app = spawn_families_app(&[]).await;
    let (refresh, _) = app.obtain("vitor", PASSWORD).await;
    let replies = futures_util::future::join_all((0..20).map(|_| app.refresh(&refresh))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        19,
        "{statuses:?}"
    );
    let access = winners[0].body["access"].as_str().unwrap();
    app.hello_with_token(access)
        .await
        .assert_json(200, hello_world());
    let next = winners[0].body["refresh"].as_str().unwrap();
    let (next_access, _) = rotate(&app, next).await;
    app.hello_with_token(&next_access)
        .await
        .assert_json(200, hello_world());
}

/// After the grace window, a replay of the token rotated last is reuse again.
#[tokio::test]
async fn a_replay_after_the_grace_window_is_reuse() {
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "1")]).await;
    let (first, _) = app.obtain("vitor", PASSWORD).await;
    let (access, second) = rotate(&app, &first).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.refresh(&first).await.assert_unauthorized(blacklisted());
    app.refresh(&second)
        .await
        .assert_unauthorized(blacklisted());
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(revoked_access());
}

#[tokio::test]
async fn a_password_change_ends_old_tokens_even_without_families() {
    // The token epoch holds without families too.
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "false")]).await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let changed = run_portcullis(
        std::env::temp_dir().as_path(),
        &["changepassword", "vitor"],
        "New-Passw0rd!2026\n",
        &[("DATABASE_URL", app.database_url.as_str())],
    );
    assert!(changed.status.success());
    // Within the user cache's staleness bound (1 s).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(revoked_access());
    app.refresh(&refresh)
        .await
        .assert_unauthorized(blacklisted());
}

#[tokio::test]
async fn the_sessions_api_is_not_mounted_without_families() {
    let app = spawn_app_with(&[("TOKEN_FAMILIES", "false")]).await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(app.request("GET", "/api/sessions/").bearer_auth(&access))
        .await;
    assert_eq!(reply.status, 404);
    assert!(claims(&access).get("sid").is_none());
}

#[tokio::test]
async fn the_dashboard_shows_live_sessions_and_ends_them() {
    use crate::admin::{dashboard_token, page_text, signed_in};
    let app = spawn_families_app(&[]).await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    app.obtain("vitor", PASSWORD).await;
    let (boss, _) = signed_in(&app, "boss").await;
    let page = page_text(&app, &boss, "/admin/").await;
    let row = page
        .split("<tr>")
        .find(|row| row.contains(">vitor<"))
        .unwrap();
    assert!(row.contains("<td>2</td>"), "{row}");
    let token = dashboard_token(&app, &boss).await;
    let response = boss
        .post(app.url("/admin/users/logout/"))
        .form(&[("csrfmiddlewaretoken", token.as_str()), ("user_id", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/admin/?done=logged-out");
    app.hello_with_token(&access)
        .await
        .assert_unauthorized(revoked_access());
    let page = page_text(&app, &boss, "/admin/").await;
    let row = page
        .split("<tr>")
        .find(|row| row.contains(">vitor<"))
        .unwrap();
    assert!(row.contains("<td>0</td>"), "{row}");
}

/// An attacker who keeps refreshing cannot outlive a password change: a token refreshed in
/// the very second of the change is refused too, and refresh reads the epoch afresh.
#[tokio::test]
async fn refreshing_through_a_password_change_does_not_keep_a_session_alive() {
    let app = spawn_seeded_app().await;
    let (mut refresh, _) = app.obtain("vitor", PASSWORD).await;
    let changed = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let output = run_portcullis(
            std::env::temp_dir().as_path(),
            &["changepassword", "vitor"],
            "New-Passw0rd!2026\n",
            &[("DATABASE_URL", app.database_url.as_str())],
        );
        assert!(output.status.success());
    };
    let attacker = async {
        let mut last_access = String::new();
        for _ in 0..20 {
            let reply = app.refresh(&refresh).await;
            if reply.status != 200 {
                break;
            }
            refresh = reply.body["refresh"].as_str().unwrap().to_string();
            last_access = reply.body["access"].as_str().unwrap().to_string();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last_access
    };
    let ((), last_access) = tokio::join!(changed, attacker);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.refresh(&refresh)
        .await
        .assert_unauthorized(blacklisted());
    assert_eq!(app.hello_with_token(&last_access).await.status, 401);
}

/// The grace window is for the token rotated last, replayed soon after its own rotation: a
/// thief who keeps rotating cannot make an older token's replay look like a lost response.
#[tokio::test]
async fn the_grace_window_does_not_hide_a_thief_who_keeps_rotating() {
    let app = spawn_families_app(&[("REFRESH_REUSE_GRACE_SECONDS", "5")]).await;
    let (stolen, _) = app.obtain("vitor", PASSWORD).await;
    let (_, mut thief) = rotate(&app, &stolen).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (thief_access, next) = rotate(&app, &thief).await;
    thief = next;
    // The owner replays the token rotated first, not the last one: reuse.
    app.refresh(&stolen)
        .await
        .assert_unauthorized(blacklisted());
    app.refresh(&thief).await.assert_unauthorized(blacklisted());
    app.hello_with_token(&thief_access)
        .await
        .assert_unauthorized(revoked_access());
}

/// A DRF authtoken key for `username`, used once so the instance caches it.
async fn cached_key(app: &TestApp, username: &str) -> String {
    let key = app
        .post(
            "/api/auth-token/",
            json!({"username": username, "password": PASSWORD}),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = app.hello_with_authorization(format!("Token {key}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    key
}

/// DRF authtoken keys end with every other session at once on the instance that ended them,
/// whichever way: logging out everywhere, the dashboard's "End sessions" and deactivation (before:
/// a cached key kept answering 200 for `USER_CACHE_TTL_MS`, 30 s here). A NUL in a session id is
/// not found.
#[tokio::test]
async fn logout_everywhere_ends_authtoken_keys_too() {
    let app = spawn_families_app(&[
        ("AUTHENTICATION_CLASSES", "token,jwt"),
        ("USER_CACHE_TTL_MS", "30000"),
    ])
    .await;
    let key = cached_key(&app, "vitor").await;
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let missing = app
        .send(
            app.request("DELETE", "/api/sessions/%00/")
                .bearer_auth(&access),
        )
        .await;
    assert_eq!(missing.status, 404);
    let reply = app
        .send(app.request("DELETE", "/api/sessions/").bearer_auth(&access))
        .await;
    assert_eq!(reply.status, 204);
    let with_key = app.hello_with_authorization(format!("Token {key}")).await;
    assert_eq!(with_key.status, 401, "{}", with_key.text);

    // The dashboard's "End sessions" and "Deactivate", by a staff member.
    let (boss, _) = crate::admin::signed_in(&app, "boss").await;
    for (action, done) in [("logout", "logged-out"), ("deactivate", "deactivated")] {
        let key = cached_key(&app, "vitor").await;
        let token = crate::admin::dashboard_token(&app, &boss).await;
        let response = boss
            .post(app.url(&format!("/admin/users/{action}/")))
            .form(&[("csrfmiddlewaretoken", token), ("user_id", "1".to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            crate::admin::location(&response),
            format!("/admin/?done={done}")
        );
        let with_key = app.hello_with_authorization(format!("Token {key}")).await;
        assert_eq!(with_key.status, 401, "{action}: {}", with_key.text);
    }
}

/// A sign-in whose password check is still running when the password changes (or the user's
/// sessions end) gets no credential: its pair, authtoken key or admin session would outlive the
/// change (before: every login checked against the old password and finished after the change
/// got a pair that worked, and a key that did).
#[tokio::test]
async fn a_login_in_flight_when_the_password_changes_gets_no_live_credential() {
    let app = spawn_app_with(&[
        ("HASHER_THREADS", "1"),
        ("AUTHENTICATION_CLASSES", "jwt,session,basic,token"),
    ])
    .await;
    let id = {
        let mut conn = portcullis::db::connect(&app.database_url).unwrap();
        portcullis::models::users::create(
            &mut conn,
            &portcullis::models::users::NewUser {
                username: "carol".into(),
                email: String::new(),
                // Slow enough that the logins queued behind the first are still waiting.
                password_hash: portcullis::hashers::hash_password(PASSWORD, 10).unwrap(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
            },
        )
        .unwrap()
    };
    let set_password = |password: &'static str, cost: u32| {
        let url = app.database_url.clone();
        tokio::task::spawn_blocking(move || {
            use diesel::Connection;
            let mut conn = portcullis::db::connect(&url).unwrap();
            let hash = portcullis::hashers::hash_password(password, cost).unwrap();
            // As `changepassword` does: the new hash and the end of every session, at once.
            conn.transaction(|conn| {
                portcullis::models::users::set_password(conn, "carol", &hash)?;
                portcullis::models::users::end_all_sessions(conn, id)
            })
            .unwrap();
        })
    };
    let credentials = json!({"username": "carol", "password": PASSWORD});
    for path in ["/api/token/", "/api/auth-token/"] {
        // Slow enough that the logins queued behind the first are still waiting.
        set_password(PASSWORD, 8).await.unwrap();
        let login = || {
            let request = app.client.post(app.url(path)).json(&credentials).send();
            tokio::spawn(request)
        };
        let first = login();
        // Queued behind the first: they read the user (old password, old epoch) already.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let rest: Vec<_> = (0..3).map(|_| login()).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let first = first.await.unwrap().unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let first: serde_json::Value = first.json().await.unwrap();
        // The password changes while the other three wait for their hash.
        set_password("Changed-Passw0rd!", 4).await.unwrap();
        let mut later = Vec::new();
        for login in rest {
            let response = login.await.unwrap().unwrap();
            let status = response.status().as_u16();
            later.push((status, response.json::<serde_json::Value>().await.unwrap()));
        }
        // Within the caches' bounds (1 s), every credential of the old password is dead.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut granted = vec![first];
        for (status, body) in later {
            match status {
                200 => granted.push(body),
                401 => assert_eq!(
                    body["detail"], "No active account found with the given credentials",
                    "{path}"
                ),
                400 => assert_eq!(
                    body["non_field_errors"][0], "Unable to log in with provided credentials.",
                    "{path}"
                ),
                other => panic!("{path}: {other} {body}"),
            }
        }
        for body in granted {
            let reply = match (body["access"].as_str(), body["token"].as_str()) {
                (Some(access), _) => {
                    let refreshed = app.refresh(body["refresh"].as_str().unwrap()).await;
                    assert_eq!(refreshed.status, 401, "{path}: {}", refreshed.text);
                    app.hello_with_token(access).await
                }
                (_, Some(key)) => app.hello_with_authorization(format!("Token {key}")).await,
                _ => panic!("{body}"),
            };
            assert_eq!(
                reply.status, 401,
                "{path}: a credential outlived the change"
            );
        }
    }
}

/// A logout with a token rotated already ends the session all the same, within the reuse
/// grace too: the owner of a stolen token whose thief rotated first logs the thief out (before:
/// 401 and nothing ended, the thief kept refreshing). The answer stays simplejwt's.
#[tokio::test]
async fn a_logout_with_a_rotated_token_ends_the_session() {
    let app = spawn_families_app(&[]).await;
    let (stolen, _) = app.obtain("vitor", PASSWORD).await;
    let (thief_access, thief_refresh) = rotate(&app, &stolen).await;
    // The owner's refresh is refused and the family kept (the grace: maybe a race)...
    app.refresh(&stolen)
        .await
        .assert_unauthorized(blacklisted());
    // ...but the owner's logout ends it.
    app.blacklist(&stolen)
        .await
        .assert_unauthorized(blacklisted());
    app.refresh(&thief_refresh)
        .await
        .assert_unauthorized(blacklisted());
    app.hello_with_token(&thief_access)
        .await
        .assert_unauthorized(revoked_access());
}
