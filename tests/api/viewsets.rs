//! DRF's generic views through a real server and a real table (both backends): a
//! `ModelViewSet` of notes with owner permissions, pages, search and ordering, a
//! `ReadOnlyModelViewSet` of users, and `DefaultRouter`'s root.

use std::sync::Arc;

use async_trait::async_trait;
use diesel::prelude::*;
use portcullis::rest::filters::{Direction, like_pattern};
use portcullis::rest::pagination::{PageNumberPagination, Window};
use portcullis::rest::permissions::IsAuthenticatedOrReadOnly;
use portcullis::rest::serializers::{Field, Serializer};
use portcullis::rest::viewsets::{DefaultRouter, ListQuery, ModelResource, ModelViewSet};
use portcullis::rest::{ApiError, Request};
use serde_json::{Map, Value, json};

use crate::helpers::*;

diesel::table! {
    notes (id) {
        id -> Integer,
        title -> Text,
        body -> Text,
        owner_id -> Integer,
    }
}

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Queryable)]
struct Note {
    id: i32,
    title: String,
    body: String,
    owner_id: i32,
}

fn pool(request: &Request) -> portcullis::db::DbPool {
    request
        .http
        .app_data::<actix_web::web::Data<portcullis::state::AppState>>()
        .unwrap()
        .pool
        .clone()
}

struct Notes;

#[async_trait(?Send)]
impl ModelResource for Notes {
    type Object = Note;

    fn name(&self) -> &'static str {
        "Note"
    }

    fn serializer(&self) -> Serializer {
        Serializer::new(vec![
            Field::integer("id").label("ID").read_only(),
            Field::char("title").max_length(20),
            Field::char("body").allow_blank().default(""),
            Field::read_only_field("owner"),
        ])
    }

    fn represent(&self, _request: &Request, note: &Note) -> Value {
        json!({"id": note.id, "title": note.title, "body": note.body, "owner": note.owner_id})
    }

    async fn list(
        &self,
        request: &Request,
        query: &ListQuery,
        window: Window,
    ) -> Result<(i64, Vec<Note>), ApiError> {
        let query = query.clone();
        Ok(portcullis::db::run(&pool(request), move |conn| {
            let filtered = || {
                let mut rows = notes::table.into_boxed();
                for term in &query.search {
                    let pattern = like_pattern(term);
                    rows = rows.filter(
                        lower(notes::title)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(notes::body).like(pattern).escape('\\')),
                    );
                }
                rows
            };
            let count: i64 = filtered().count().get_result(conn)?;
            let mut rows = filtered();
            for (field, direction) in &query.ordering {
                rows = match (*field, direction) {
                    ("title", Direction::Ascending) => rows.then_order_by(notes::title.asc()),
                    ("title", Direction::Descending) => rows.then_order_by(notes::title.desc()),
                    (_, Direction::Ascending) => rows.then_order_by(notes::id.asc()),
                    (_, Direction::Descending) => rows.then_order_by(notes::id.desc()),
                };
            }
            let rows = rows
                .offset(window.offset)
                .limit(window.limit)
                .load::<Note>(conn)?;
            Ok((count, rows))
        })
        .await?)
    }

    async fn get(&self, request: &Request, pk: i64) -> Result<Option<Note>, ApiError> {
        let Ok(pk) = i32::try_from(pk) else {
            return Ok(None);
        };
        Ok(portcullis::db::run(&pool(request), move |conn| {
            notes::table.find(pk).first::<Note>(conn).optional()
        })
        .await?)
    }

    async fn create(
        &self,
        request: &Request,
        values: Map<String, Value>,
    ) -> Result<Note, ApiError> {
        let owner = request.user.as_ref().map(|user| user.id).unwrap_or(0);
        let (title, body) = (text(&values, "title"), text(&values, "body"));
        Ok(portcullis::db::run(&pool(request), move |conn| {
            conn.transaction(|conn| {
                diesel::insert_into(notes::table)
                    .values((
                        notes::title.eq(&title),
                        notes::body.eq(&body),
                        notes::owner_id.eq(owner),
                    ))
                    .execute(conn)?;
                notes::table
                    .filter(notes::owner_id.eq(owner))
                    .order(notes::id.desc())
                    .first::<Note>(conn)
            })
        })
        .await?)
    }

    async fn update(
        &self,
        request: &Request,
        note: Note,
        values: Map<String, Value>,
    ) -> Result<Note, ApiError> {
        let title = values
            .get("title")
            .map_or(note.title.clone(), |_| text(&values, "title"));
        let body = values
            .get("body")
            .map_or(note.body.clone(), |_| text(&values, "body"));
        let id = note.id;
        Ok(portcullis::db::run(&pool(request), move |conn| {
            diesel::update(notes::table.find(id))
                .set((notes::title.eq(&title), notes::body.eq(&body)))
                .execute(conn)?;
            notes::table.find(id).first::<Note>(conn)
        })
        .await?)
    }

    async fn destroy(&self, request: &Request, note: Note) -> Result<(), ApiError> {
        portcullis::db::run(&pool(request), move |conn| {
            diesel::delete(notes::table.find(note.id)).execute(conn)
        })
        .await?;
        Ok(())
    }
}

fn text(values: &Map<String, Value>, name: &str) -> String {
    values[name].as_str().unwrap_or_default().to_string()
}

/// Users, read-only: `{"id", "username"}`.
struct People;

#[async_trait(?Send)]
impl ModelResource for People {
    type Object = (i32, String);

    fn name(&self) -> &'static str {
        "User"
    }

    fn serializer(&self) -> Serializer {
        Serializer::new(vec![
            Field::integer("id").label("ID").read_only(),
            Field::read_only_field("username"),
        ])
    }

    fn represent(&self, _request: &Request, user: &(i32, String)) -> Value {
        json!({"id": user.0, "username": user.1})
    }

    async fn list(
        &self,
        request: &Request,
        _query: &ListQuery,
        window: Window,
    ) -> Result<(i64, Vec<(i32, String)>), ApiError> {
        use portcullis::db::schema::users;
        Ok(portcullis::db::run(&pool(request), move |conn| {
            let count = users::table.count().get_result(conn)?;
            let rows = users::table
                .select((users::id, users::username))
                .order(users::id)
                .offset(window.offset)
                .limit(window.limit)
                .load(conn)?;
            Ok((count, rows))
        })
        .await?)
    }

    async fn get(&self, request: &Request, pk: i64) -> Result<Option<(i32, String)>, ApiError> {
        use portcullis::db::schema::users;
        let Ok(pk) = i32::try_from(pk) else {
            return Ok(None);
        };
        Ok(portcullis::db::run(&pool(request), move |conn| {
            users::table
                .find(pk)
                .select((users::id, users::username))
                .first(conn)
                .optional()
        })
        .await?)
    }
}

async fn spawn_api() -> TestApp {
    let app = spawn_app_with_views(&[], |_| {
        DefaultRouter::new("/api/")
            .register(
                "notes",
                ModelViewSet::new(Notes)
                    .permission_classes(vec![
                        Arc::new(IsAuthenticatedOrReadOnly),
                        Arc::new(IsOwnerOrReadOnly(|note: &Note| note.owner_id)),
                    ])
                    .pagination(PageNumberPagination { page_size: 2 })
                    .search()
                    .ordering(&["id", "title"], &["id"]),
            )
            .register("users", ModelViewSet::read_only(People))
            .views()
    })
    .await;
    let mut conn = portcullis::db::connect(&app.database_url).unwrap();
    let id = if portcullis::db::is_postgres_url(&app.database_url) {
        "SERIAL PRIMARY KEY"
    } else {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    };
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!(
        "CREATE TABLE notes (id {id}, title TEXT NOT NULL, body TEXT NOT NULL, \
         owner_id INTEGER NOT NULL)"
    ))
    .unwrap();
    app.seed_reference_users();
    app
}

#[tokio::test]
async fn a_model_viewset_answers_as_drfs_generic_views() {
    let app = spawn_api().await;
    let base = app.url("");
    let (_, vitor) = app.obtain("vitor", PASSWORD).await;
    let (_, admin) = app.obtain("admin", PASSWORD).await;
    let send = |method: &str, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut request = app.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        app.send(request)
    };

    // The API root links every registered viewset.
    send("GET", "/api/", None, None).await.assert_json(
        200,
        json!({"notes": format!("{base}/api/notes/"), "users": format!("{base}/api/users/")}),
    );
    // Anonymous writes: 401 before the method or the body are looked at.
    let anonymous = send("POST", "/api/notes/", None, Some(json!({}))).await;
    assert_eq!(anonymous.status, 401);
    let anonymous_delete = send("DELETE", "/api/notes/", None, None).await;
    assert_eq!(anonymous_delete.status, 401);
    // Creation: 201 with the row; validation errors as DRF's.
    let created = send(
        "POST",
        "/api/notes/",
        Some(&vitor),
        Some(json!({"title": " First ", "owner": 99})),
    )
    .await;
    created.assert_json(
        201,
        json!({"id": 1, "title": "First", "body": "", "owner": 1}),
    );
    send(
        "POST",
        "/api/notes/",
        Some(&vitor),
        Some(json!({"title": "x".repeat(21)})),
    )
    .await
    .assert_error_without_challenge(
        400,
        json!({"title": ["Ensure this field has no more than 20 characters."]}),
    );
    for (title, body) in [
        ("Second", "50% off"),
        ("third", "b"),
        ("Fourth", "first_class"),
    ] {
        let reply = send(
            "POST",
            "/api/notes/",
            Some(&vitor),
            Some(json!({"title": title, "body": body})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    // Pages, search and ordering.
    let page = send("GET", "/api/notes/?page=2", None, None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["count"], 4);
    assert_eq!(page.body["previous"], format!("{base}/api/notes/"));
    assert_eq!(page.body["next"], json!(null));
    assert_eq!(page.body["results"][0]["id"], 3);
    let last = send("GET", "/api/notes/?page=last", None, None).await;
    assert_eq!(
        (
            last.body["results"][0]["id"].clone(),
            last.body["next"].clone()
        ),
        (json!(3), json!(null))
    );
    let bad_page = send("GET", "/api/notes/?page=3", None, None).await;

    bad_page.assert_error_without_challenge(404, json!({"detail": "Invalid page."}));
    let found = send("GET", "/api/notes/?search=FIRST", None, None).await;
    let ids: Vec<&Value> = found.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| &note["id"])
        .collect();
    assert_eq!(ids, [&json!(1), &json!(4)]);
    let percent = send("GET", "/api/notes/?search=%25", None, None).await;
    assert_eq!(percent.body["count"], 1);
    let ordered = send("GET", "/api/notes/?ordering=-id,bogus", None, None).await;
    assert_eq!(ordered.body["results"][0]["id"], 4);

    // Retrieve, another user's update (403 before its body), the owner's changes, delete.
    send("GET", "/api/notes/2/", None, None).await.assert_json(
        200,
        json!({"id": 2, "title": "Second", "body": "50% off", "owner": 1}),
    );
    let missing = send("GET", "/api/notes/99/", None, None).await;
    missing
        .assert_error_without_challenge(404, json!({"detail": "No Note matches the given query."}));
    let not_a_number = send("GET", "/api/notes/abc/", None, None).await;
    not_a_number.assert_error_without_challenge(404, json!({"detail": "Not found."}));
    let others = send(
        "PUT",
        "/api/notes/2/",
        Some(&admin),
        Some(json!({"title": ""})),
    )
    .await;
    others.assert_error_without_challenge(
        403,
        json!({"detail": "You do not have permission to perform this action."}),
    );
    send(
        "PUT",
        "/api/notes/2/",
        Some(&vitor),
        Some(json!({"body": "x"})),
    )
    .await
    .assert_error_without_challenge(400, json!({"title": ["This field is required."]}));
    send(
        "PATCH",
        "/api/notes/2/",
        Some(&vitor),
        Some(json!({"body": "patched"})),
    )
    .await
    .assert_json(
        200,
        json!({"id": 2, "title": "Second", "body": "patched", "owner": 1}),
    );
    let deleted = send("DELETE", "/api/notes/2/", Some(&vitor), None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    assert!(deleted.header("content-type").is_none());
    assert_eq!(send("GET", "/api/notes/2/", None, None).await.status, 404);

    // The read-only viewset: list and retrieve, 405 with Allow for writes.
    let users = send("GET", "/api/users/", None, None).await;
    assert_eq!(users.body[0], json!({"id": 1, "username": "vitor"}));
    let write = send("POST", "/api/users/", Some(&admin), Some(json!({}))).await;
    assert_eq!(write.status, 405);
    assert_eq!(write.header("allow"), Some("GET, HEAD, OPTIONS"));
    let detail_allow = send("OPTIONS", "/api/notes/1/", None, None).await;
    assert_eq!(
        detail_allow.header("allow"),
        Some("GET, PUT, PATCH, DELETE, HEAD, OPTIONS")
    );
    assert_eq!(detail_allow.body["name"], "Note Instance");
}
