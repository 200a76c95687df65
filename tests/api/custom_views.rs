//! A project's own views on portcullis: settings give the defaults, a view overrides them.

use std::sync::Arc;

use portcullis::rest::permissions::IsAdminUser;
use portcullis::rest::{APIView, Response};
use serde_json::json;

use crate::helpers::*;

fn ok_view(name: &'static str) -> APIView {
    APIView::new(name).get(|_request| async { Ok(Response::ok(json!({"ok": true}))) })
}

/// `/uploads/` has the scope `uploads`; `/plain/` has none.
fn scoped_views() -> Vec<(&'static str, APIView)> {
    vec![
        ("/uploads/", ok_view("Uploads").throttle_scope("uploads")),
        ("/plain/", ok_view("Plain")),
    ]
}

#[tokio::test]
async fn a_view_uses_the_default_permission_classes_of_the_settings() {
    let app = spawn_app_with_views(&[("DEFAULT_PERMISSION_CLASSES", "IsAuthenticated")], |_| {
        vec![("/mine/", ok_view("Mine"))]
    })
    .await;
    app.create_user("vitor", PASSWORD, Flags::default());
    let anonymous = app.send(app.request("GET", "/mine/")).await;
    anonymous.assert_unauthorized(not_provided());
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(app.request("GET", "/mine/").bearer_auth(&access))
        .await;
    reply.assert_json(200, json!({"ok": true}));
}

#[tokio::test]
async fn a_view_overrides_the_permission_classes_and_keeps_drf_messages() {
    let app = spawn_app_with_views(&[], |_| {
        vec![(
            "/staff-only/",
            ok_view("Staff only").permission_classes(vec![Arc::new(IsAdminUser)]),
        )]
    })
    .await;
    app.create_user("vitor", PASSWORD, Flags::default());
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let reply = app
        .send(app.request("GET", "/staff-only/").bearer_auth(&access))
        .await;
    reply.assert_error_without_challenge(
        403,
        json!({"detail": "You do not have permission to perform this action."}),
    );
    let anonymous = app.send(app.request("GET", "/staff-only/")).await;
    anonymous.assert_unauthorized(not_provided());
}

#[tokio::test]
async fn a_view_without_authentication_classes_answers_403_not_401() {
    let app = spawn_app_with_views(&[], |_| {
        vec![(
            "/closed/",
            ok_view("Closed")
                .authentication_classes(Vec::new())
                .permission_classes(vec![Arc::new(IsAdminUser)]),
        )]
    })
    .await;
    let reply = app.send(app.request("GET", "/closed/")).await;
    reply.assert_error_without_challenge(
        403,
        json!({"detail": "You do not have permission to perform this action."}),
    );
}

#[tokio::test]
async fn the_scoped_throttle_limits_only_views_with_a_scope() {
    let app = spawn_app_with_views(
        &[
            ("THROTTLE_CLASSES", "scoped"),
            ("THROTTLE_RATES", "uploads=2/min"),
        ],
        |_| scoped_views(),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(app.send(app.request("GET", "/uploads/")).await.status, 200);
    }
    let refused = app.send(app.request("GET", "/uploads/")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("60"));
    for _ in 0..5 {
        assert_eq!(app.send(app.request("GET", "/plain/")).await.status, 200);
    }
}

#[tokio::test]
async fn the_scoped_throttle_counts_each_user_apart_from_the_address() {
    let app = spawn_app_with_views(
        &[
            ("THROTTLE_CLASSES", "scoped"),
            ("THROTTLE_RATES", "uploads=1/min"),
        ],
        |_| scoped_views(),
    )
    .await;
    app.create_user("vitor", PASSWORD, Flags::default());
    app.create_user("ana", PASSWORD, Flags::default());
    assert_eq!(app.send(app.request("GET", "/uploads/")).await.status, 200);
    assert_eq!(app.send(app.request("GET", "/uploads/")).await.status, 429);
    for user in ["vitor", "ana"] {
        let (_, access) = app.obtain(user, PASSWORD).await;
        let first = app
            .send(app.request("GET", "/uploads/").bearer_auth(&access))
            .await;
        assert_eq!(first.status, 200, "{user}");
        let second = app
            .send(app.request("GET", "/uploads/").bearer_auth(&access))
            .await;
        assert_eq!(second.status, 429, "{user}");
    }
}

/// simplejwt's `get_token` override: a project's own claims travel in every new token, into
/// the access tokens made from the refresh token, and reach its views as `request.auth`.
#[tokio::test]
async fn a_project_adds_its_own_claims_and_reads_them_in_a_view() {
    use portcullis::rest::permissions::IsAuthenticated;
    let hook: portcullis::jwt::serializers::TokenClaims = Arc::new(|user| {
        let mut claims = serde_json::Map::new();
        claims.insert("username".into(), user.username.clone().into());
        claims.insert("is_staff".into(), user.is_staff.into());
        // Reserved claims stay portcullis' own.
        claims.insert("user_id".into(), "999".into());
        claims
    });
    let app = spawn_app_with_extensions(
        &[],
        |_| {
            let whoami = APIView::new("Who Am I")
                .permission_classes(vec![Arc::new(IsAuthenticated)])
                .get(|request| async move {
                    let auth = request.auth.clone().unwrap_or_default();
                    let user = request.user.as_ref().map(|u| u.id);
                    Ok(Response::ok(
                        json!({"claimed": auth["username"], "id": user}),
                    ))
                });
            vec![("/whoami/", whoami)]
        },
        Some(hook),
    )
    .await;
    app.seed_reference_users();
    let (refresh, access) = app.obtain("vitor", PASSWORD).await;
    for token in [&refresh, &access] {
        let claims = claims(token);
        assert_eq!(claims["username"], "vitor");
        assert_eq!(claims["is_staff"], false);
        assert_eq!(claims["user_id"], "1");
    }
    let reply = app
        .send(app.request("GET", "/whoami/").bearer_auth(&access))
        .await;
    reply.assert_json(200, json!({"claimed": "vitor", "id": 1}));
    // Rotation keeps them, as simplejwt's refresh does.
    let refreshed = app.refresh(&refresh).await;
    let access = refreshed.body["access"].as_str().unwrap();
    assert_eq!(claims(access)["username"], "vitor");
}

/// A note owned by a user: anyone reads it, only its owner changes it (DRF tutorial part 4's
/// `IsOwnerOrReadOnly`, with `IsAuthenticatedOrReadOnly`).
struct Note {
    owner: i32,
    text: &'static str,
}

/// `GET`/`PUT /notes/<id>/` over two notes: 1 is vitor's (user 1), 2 is admin's (user 3).
fn notes_view() -> APIView {
    use portcullis::rest::permissions::IsAuthenticatedOrReadOnly;
    fn note(request: &portcullis::rest::Request) -> Result<Note, portcullis::rest::ApiError> {
        // DRF's get_object: a missing object is 404 before any object permission.
        match request.http.match_info().get("id") {
            Some("1") => Ok(Note {
                owner: 1,
                text: "vitor's",
            }),
            Some("2") => Ok(Note {
                owner: 3,
                text: "admin's",
            }),
            _ => Err(portcullis::rest::ApiError::not_found()),
        }
    }
    APIView::new("Note")
        .permission_classes(vec![
            Arc::new(IsAuthenticatedOrReadOnly),
            Arc::new(IsOwnerOrReadOnly(|note: &Note| note.owner)),
        ])
        .get(|request| async move {
            let note = note(&request)?;
            request.check_object_permissions(&note)?;
            Ok(Response::ok(json!({"text": note.text})))
        })
        .on(actix_web::http::Method::PUT, |mut request| async move {
            let note = note(&request)?;
            // Object permissions before the body is even read (DRF: 403 before 400).
            request.check_object_permissions(&note)?;
            let body = request.data().await?;
            Ok(Response::ok(json!({"text": body["text"]})))
        })
}

/// Object permissions through the dispatcher: anonymous reads, 401 on anonymous writes (with
/// the challenge), 403 on another user's object before its body is looked at, the owner's
/// write, and 404 for a missing object before any object rule.
#[tokio::test]
async fn object_permissions_guard_each_object() {
    let app = spawn_app_with_views(&[], |_| vec![("/notes/{id}/", notes_view())]).await;
    app.seed_reference_users();
    let read = app.send(app.request("GET", "/notes/2/")).await;
    read.assert_json(200, json!({"text": "admin's"}));
    let anonymous = app
        .send(app.request("PUT", "/notes/1/").json(&json!({"text": "x"})))
        .await;
    anonymous.assert_unauthorized(not_provided());
    let (_, vitor) = app.obtain("vitor", PASSWORD).await;
    let put = |id: &str, body: &'static str| {
        app.request("PUT", &format!("/notes/{id}/"))
            .bearer_auth(&vitor)
            .header("Content-Type", "application/json")
            .body(body)
    };
    let others = app.send(put("2", "not even json")).await;
    others.assert_error_without_challenge(
        403,
        json!({"detail": "You do not have permission to perform this action."}),
    );
    app.send(put("1", r#"{"text": "mine"}"#))
        .await
        .assert_json(200, json!({"text": "mine"}));
    let missing = app.send(put("9", r#"{"text": "x"}"#)).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
}

/// DRF's tutorial `SnippetSerializer`, declared with portcullis's serializer fields.
fn snippet_serializer() -> portcullis::rest::serializers::Serializer {
    use portcullis::rest::serializers::{Field, Serializer};
    Serializer::new(vec![
        Field::integer("id").label("ID").read_only(),
        Field::char("title")
            .max_length(100)
            .allow_blank()
            .default(""),
        Field::char("code"),
        Field::boolean("linenos").default(false),
        Field::choice(
            "language",
            &[
                ("javascript", "JavaScript"),
                ("python", "Python"),
                ("rust", "Rust"),
                ("sql", "SQL"),
                ("text", "Plain text"),
            ],
        )
        .default("python"),
        Field::choice(
            "style",
            &[
                ("friendly", "friendly"),
                ("monokai", "monokai"),
                ("solarized", "solarized"),
            ],
        )
        .default("friendly"),
        Field::read_only_field("owner"),
    ])
}

/// `POST /snippets/` creates (201, the values with an id and the owner), `PATCH` validates
/// only what it sends; errors come from the serializer.
fn snippet_views() -> Vec<(&'static str, APIView)> {
    use portcullis::rest::permissions::IsAuthenticatedOrReadOnly;
    use portcullis::rest::serializers::Partial;
    let created = |values: serde_json::Map<String, serde_json::Value>,
                   request: &portcullis::rest::Request| {
        let mut body = serde_json::Map::new();
        body.insert("id".into(), json!(1));
        body.extend(values);
        let owner = request.user.as_ref().map(|user| user.username.clone());
        body.insert("owner".into(), json!(owner));
        serde_json::Value::Object(body)
    };
    let list = APIView::new("Snippet List")
        .permission_classes(vec![Arc::new(IsAuthenticatedOrReadOnly)])
        .serializer(snippet_serializer())
        .post(move |mut request| async move {
            let values = snippet_serializer()
                .validate_request(&mut request, Partial::No)
                .await?;
            Ok(Response::with_status(
                actix_web::http::StatusCode::CREATED,
                created(values, &request),
            ))
        });
    let detail = APIView::new("Snippet Instance")
        .permission_classes(vec![Arc::new(IsAuthenticatedOrReadOnly)])
        .serializer(snippet_serializer())
        .on(actix_web::http::Method::PATCH, |mut request| async move {
            let values = snippet_serializer()
                .validate_request(&mut request, Partial::Yes)
                .await?;
            Ok(Response::ok(serde_json::Value::Object(values)))
        });
    vec![("/snippets/", list), ("/snippets/1/", detail)]
}

/// The serializer through a real server, with the bodies DRF's tutorial API answers (checked
/// side by side with the reference's `snippets` app): every failing field at once in field
/// order, defaults, read-only fields ignored, an HTML form's unchecked box, a partial update,
/// and OPTIONS describing the fields as DRF's `SimpleMetadata`.
#[tokio::test]
async fn a_serializer_validates_as_drf_and_options_describes_it() {
    let app = spawn_app_with_views(&[], |_| snippet_views()).await;
    app.seed_reference_users();
    let (_, access) = app.obtain("vitor", PASSWORD).await;
    let post = |body: serde_json::Value| {
        app.request("POST", "/snippets/")
            .bearer_auth(&access)
            .json(&body)
    };
    app.send(post(
        json!({"language": "cobol", "title": "x".repeat(101), "linenos": "maybe"}),
    ))
    .await
    .assert_error_without_challenge(
        400,
        json!({
            "title": ["Ensure this field has no more than 100 characters."],
            "code": ["This field is required."],
            "linenos": ["Must be a valid boolean."],
            "language": ["\"cobol\" is not a valid choice."],
        }),
    );
    app.send(post(json!({"code": "   ", "style": null, "language": ""})))
        .await
        .assert_error_without_challenge(
            400,
            json!({
                "code": ["This field may not be blank."],
                "language": ["\"\" is not a valid choice."],
                "style": ["This field may not be null."],
            }),
        );
    app.send(post(json!([])))
        .await
        .assert_error_without_challenge(
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        );
    app.send(post(
        json!({"code": " print(1) ", "id": 7, "owner": "mallory", "linenos": 1.0}),
    ))
    .await
    .assert_json(
        201,
        json!({"id": 1, "title": "", "code": "print(1)", "linenos": true, "language": "python",
               "style": "friendly", "owner": "vitor"}),
    );
    let form = app
        .send(
            app.request("POST", "/snippets/")
                .bearer_auth(&access)
                .form(&[("code", "x"), ("language", "rust")]),
        )
        .await;
    form.assert_json(
        201,
        json!({"id": 1, "title": "", "code": "x", "linenos": false, "language": "rust",
               "style": "friendly", "owner": "vitor"}),
    );
    let patch = app
        .send(
            app.request("PATCH", "/snippets/1/")
                .bearer_auth(&access)
                .json(&json!({"style": "monokai"})),
        )
        .await;
    patch.assert_json(200, json!({"style": "monokai"}));
    // Anonymous writes are refused before the body is read.
    let anonymous = app
        .send(app.request("POST", "/snippets/").json(&json!({})))
        .await;
    anonymous.assert_unauthorized(not_provided());

    // Anonymous: POST is not for it, so no actions (DRF's determine_actions).
    let anonymous = app.send(app.request("OPTIONS", "/snippets/")).await;
    assert_eq!(anonymous.status, 200);
    assert!(
        anonymous.body.get("actions").is_none(),
        "{}",
        anonymous.text
    );
    let options = app
        .send(app.request("OPTIONS", "/snippets/").bearer_auth(&access))
        .await;
    assert_eq!(options.status, 200);
    assert_eq!(
        options.body["actions"],
        json!({"POST": {
            "id": {"type": "integer", "required": false, "read_only": true, "label": "ID"},
            "title": {"type": "string", "required": false, "read_only": false,
                      "label": "Title", "max_length": 100},
            "code": {"type": "string", "required": true, "read_only": false, "label": "Code"},
            "linenos": {"type": "boolean", "required": false, "read_only": false,
                        "label": "Linenos"},
            "language": {"type": "choice", "required": false, "read_only": false,
                         "label": "Language", "choices": [
                {"value": "javascript", "display_name": "JavaScript"},
                {"value": "python", "display_name": "Python"},
                {"value": "rust", "display_name": "Rust"},
                {"value": "sql", "display_name": "SQL"},
                {"value": "text", "display_name": "Plain text"}]},
            "style": {"type": "choice", "required": false, "read_only": false,
                      "label": "Style", "choices": [
                {"value": "friendly", "display_name": "friendly"},
                {"value": "monokai", "display_name": "monokai"},
                {"value": "solarized", "display_name": "solarized"}]},
            "owner": {"type": "field", "required": false, "read_only": true, "label": "Owner"},
        }})
    );
    let detail = app.send(app.request("OPTIONS", "/snippets/1/")).await;
    assert!(detail.body["actions"]["POST"].is_null(), "{}", detail.text);
}

/// `/items/` (page numbers, 10 a page) and `/slice/` (limit/offset, 10 by default, 15 at most)
/// over 23 items.
fn paginated_views() -> Vec<(&'static str, APIView)> {
    use portcullis::rest::pagination::{LimitOffsetPagination, PageNumberPagination};
    use portcullis::rest::permissions::AllowAny;
    let items = |offset: i64, limit: i64| -> Vec<serde_json::Value> {
        (offset..(offset + limit).min(23))
            .map(|i| json!(i))
            .collect()
    };
    let pages = APIView::new("Items")
        .permission_classes(vec![Arc::new(AllowAny)])
        .get(move |request| async move {
            let pagination = PageNumberPagination { page_size: 10 };
            let window = pagination.window(&request, 23)?;
            let rows = items(window.offset, window.limit);
            Ok(Response::ok(
                pagination.response(&request, 23, &window, rows),
            ))
        });
    let slices = APIView::new("Slice")
        .permission_classes(vec![Arc::new(AllowAny)])
        .get(move |request| async move {
            let pagination = LimitOffsetPagination {
                default_limit: 10,
                max_limit: Some(15),
            };
            let window = pagination.window(&request);
            let rows = items(window.offset, window.limit);
            Ok(Response::ok(
                pagination.response(&request, 23, &window, rows),
            ))
        });
    vec![("/items/", pages), ("/slice/", slices)]
}

/// Pagination through a real server, with the links and errors DRF gives (checked against the
/// reference's snippets list): absolute links, query keys sorted and form-encoded, page 1's
/// link without `page`, `last`, and 404 "Invalid page." for a page that is not a whole number
/// or out of range.
#[tokio::test]
async fn pagination_answers_as_drf() {
    let app = spawn_app_with_views(&[], |_| paginated_views()).await;
    let app = &app;
    let base = app.url("");
    let get = |path: String| async move {
        let reply = app.send(app.request("GET", &path)).await;
        (reply.status, reply.body)
    };
    let (status, body) = get("/items/?page=2&search=t&ordering=-id".into()).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 23);
    assert_eq!(
        body["next"],
        format!("{base}/items/?ordering=-id&page=3&search=t")
    );
    assert_eq!(
        body["previous"],
        format!("{base}/items/?ordering=-id&search=t")
    );
    assert_eq!(body["results"][0], 10);
    for (query, next, previous, first) in [
        ("", Some("/items/?page=2"), None, 0),
        ("?page=3", None, Some("/items/?page=2"), 20),
        ("?page=last", None, Some("/items/?page=2"), 20),
        ("?page=+2", Some("/items/?page=3"), Some("/items/"), 10),
        (
            "?q=%2F%C3%A9*~&page=2",
            Some("/items/?page=3&q=%2F%C3%A9%2A~"),
            Some("/items/?q=%2F%C3%A9%2A~"),
            10,
        ),
    ] {
        let (status, body) = get(format!("/items/{query}")).await;
        assert_eq!(status, 200, "{query}");
        let link = |path: Option<&str>| path.map_or(json!(null), |p| json!(format!("{base}{p}")));
        assert_eq!(body["next"], link(next), "{query}");
        assert_eq!(body["previous"], link(previous), "{query}");
        assert_eq!(body["results"][0], first, "{query}");
    }
    for bad in ["0", "4", "x", "2.0", "-1"] {
        let (status, body) = get(format!("/items/?page={bad}")).await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Invalid page."})),
            "{bad}"
        );
    }

    let (_, body) = get("/slice/?offset=15".into()).await;
    assert_eq!(body["next"], json!(null));
    assert_eq!(body["previous"], format!("{base}/slice/?limit=10&offset=5"));
    assert_eq!(body["results"].as_array().unwrap().len(), 8);
    let (_, body) = get("/slice/?limit=5&offset=5".into()).await;
    assert_eq!(body["next"], format!("{base}/slice/?limit=5&offset=10"));
    assert_eq!(body["previous"], format!("{base}/slice/?limit=5"));
    let (_, body) = get("/slice/?limit=100&offset=-3".into()).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 15);
    assert_eq!(body["next"], format!("{base}/slice/?limit=15&offset=15"));
    let (_, body) = get("/slice/?limit=0&offset=99".into()).await;
    assert_eq!(
        (body["count"].clone(), body["results"].clone()),
        (json!(23), json!([]))
    );
}

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// `/people/`: the users, searched over username and email (every term must match, in either
/// field, case-insensitive contains) and ordered by `id` or `username` (default `id`), in one
/// diesel query on the suite's backend.
fn people_view() -> Vec<(&'static str, APIView)> {
    use portcullis::rest::filters::{Direction, OrderingFilter, SearchFilter, like_pattern};
    use portcullis::rest::permissions::AllowAny;
    let view = APIView::new("People")
        .permission_classes(vec![Arc::new(AllowAny)])
        .get(|request| async move {
            use diesel::prelude::*;
            use portcullis::db::schema::users;
            let terms = SearchFilter::terms(&request)?;
            let ordering = OrderingFilter::terms(&request, &["id", "username"], &["id"])
                .into_iter()
                .map(|(field, direction)| (field.to_string(), direction))
                .collect::<Vec<_>>();
            let pool = request
                .http
                .app_data::<actix_web::web::Data<portcullis::state::AppState>>()
                .unwrap()
                .pool
                .clone();
            let names = portcullis::db::run(&pool, move |conn| {
                let mut query = users::table.select(users::username).into_boxed();
                for term in &terms {
                    let pattern = like_pattern(term);
                    query = query.filter(
                        lower(users::username)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(users::email).like(pattern).escape('\\')),
                    );
                }
                for (field, direction) in &ordering {
                    query = match (field.as_str(), direction) {
                        ("id", Direction::Ascending) => query.then_order_by(users::id.asc()),
                        ("id", Direction::Descending) => query.then_order_by(users::id.desc()),
                        (_, Direction::Ascending) => query.then_order_by(users::username.asc()),
                        (_, Direction::Descending) => query.then_order_by(users::username.desc()),
                    };
                }
                query.load::<String>(conn)
            })
            .await?;
            Ok(Response::ok(json!(names)))
        });
    vec![("/people/", view)]
}

/// Search and ordering through a real server and a real database: terms split as DRF splits
/// them, all must match, `%` and `_` literal, case-insensitive; unknown ordering fields dropped,
/// the default ordering otherwise.
#[tokio::test]
async fn search_and_ordering_filter_a_diesel_query_as_drf() {
    let app = spawn_app_with_views(&[], |_| people_view()).await;
    for name in ["Alice_Smith", "alice", "bob%jones", "Carol Alice", "dave"] {
        app.create_user(name, PASSWORD, Flags::default());
    }
    let app = &app;
    let people = |query: &'static str| async move {
        let reply = app
            .send(app.request("GET", &format!("/people/{query}")))
            .await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        reply.body
    };
    assert_eq!(
        people("").await,
        json!(["Alice_Smith", "alice", "bob%jones", "Carol Alice", "dave"])
    );
    assert_eq!(
        people("?search=ALICE").await,
        json!(["Alice_Smith", "alice", "Carol Alice"])
    );
    assert_eq!(people("?search=alice,carol").await, json!(["Carol Alice"]));
    assert_eq!(
        people("?search=%22carol%20alice%22").await,
        json!(["Carol Alice"])
    );
    assert_eq!(people("?search=_").await, json!(["Alice_Smith"]));
    assert_eq!(people("?search=%25").await, json!(["bob%jones"]));
    // The database's collation decides the order of names; descending is its reverse.
    let ascending = people("?ordering=username").await;
    let mut reversed = ascending.as_array().unwrap().clone();
    reversed.reverse();
    assert_eq!(people("?ordering=-username").await, json!(reversed));
    assert_eq!(
        people("?ordering=-nonexistent,-id").await,
        json!(["dave", "Carol Alice", "bob%jones", "alice", "Alice_Smith"])
    );
    assert_eq!(
        people("?ordering=password").await,
        json!(["Alice_Smith", "alice", "bob%jones", "Carol Alice", "dave"])
    );
    let nul = app.send(app.request("GET", "/people/?search=a%00b")).await;
    assert_eq!(
        (nul.status, nul.body),
        (400, json!(["Null characters are not allowed."]))
    );
}

/// Links are `https` only when the client came over HTTPS: said by a `TRUSTED_PROXIES` proxy's
/// `X-Forwarded-Proto`, never by anyone else's.
#[tokio::test]
async fn pagination_links_take_https_only_from_a_trusted_proxy() {
    let proxied = spawn_app_with_views(&[("TRUSTED_PROXIES", "127.0.0.1/32")], |_| {
        paginated_views()
    })
    .await;
    let direct = spawn_app_with_views(&[], |_| paginated_views()).await;
    for (app, scheme) in [(&proxied, "https"), (&direct, "http")] {
        let reply = app
            .send(
                app.request("GET", "/items/")
                    .header("X-Forwarded-Proto", "https"),
            )
            .await;
        let next = reply.body["next"].as_str().unwrap().to_string();
        assert!(next.starts_with(&format!("{scheme}://")), "{next}");
    }
}
