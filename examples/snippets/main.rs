//! DRF's tutorial API on portcullis: the `portcullis` binary's commands, with `/api/` (the API
//! root), `/api/snippets/` and `/api/users/` served beside the built-in views, and the
//! `snippets` table's own migration. Its twin is the reference's `snippets` app
//! (`SNIPPETS_API=1`); `tests/reference.rs` runs both side by side.
//!
//! `cargo run --release --example snippets -- serve`

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use clap::Parser;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use serde_json::{Map, Value, json};

use portcullis::cli::Cli;
use portcullis::commands::Project;
use portcullis::config::Config;
use portcullis::db::{self, DbConnection, DbPool};
use portcullis::rest::filters::{Direction, like_pattern};
use portcullis::rest::pagination::{PageNumberPagination, Window};
use portcullis::rest::permissions::{IsAuthenticatedOrReadOnly, Permission, is_safe};
use portcullis::rest::serializers::{Field, Serializer};
use portcullis::rest::viewsets::{DefaultRouter, ListQuery, ModelResource, ModelViewSet};
use portcullis::rest::{ApiError, Request};
use portcullis::state::AppState;

const SQLITE: EmbeddedMigrations = embed_migrations!("examples/snippets/migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("examples/snippets/migrations/postgres");

diesel::table! {
    snippets (id) {
        id -> Integer,
        created -> BigInt,
        title -> Text,
        code -> Text,
        linenos -> Bool,
        language -> Text,
        style -> Text,
        owner_id -> Integer,
    }
}

// portcullis' users table, the columns this API shows (declared here: diesel joins only
// tables of one crate).
diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
    }
}

diesel::joinable!(snippets -> users (owner_id));
diesel::allow_tables_to_appear_in_same_query!(snippets, users);
diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// A snippet, with its owner's username (DRF's `ReadOnlyField(source="owner.username")`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = snippets)]
struct Snippet {
    id: i32,
    title: String,
    code: String,
    linenos: bool,
    language: String,
    style: String,
    owner_id: i32,
    #[diesel(select_expression = users::username)]
    owner: String,
}

/// DRF's `ModelSerializer` of the tutorial: the fields with a model default are optional (left
/// out when missing: an update keeps the row's value, a creation gets the model's default).
fn snippet_serializer() -> Serializer {
    Serializer::new(vec![
        Field::integer("id").label("ID").read_only(),
        Field::char("title")
            .max_length(100)
            .allow_blank()
            .optional(),
        Field::char("code"),
        Field::boolean("linenos").optional(),
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
        .optional(),
        Field::choice(
            "style",
            &[
                ("friendly", "friendly"),
                ("monokai", "monokai"),
                ("solarized", "solarized"),
            ],
        )
        .optional(),
        Field::read_only_field("owner"),
    ])
}

/// The tutorial's part 4 permission: anyone reads, only the owner changes a snippet.
struct IsOwnerOrReadOnly;

impl Permission for IsOwnerOrReadOnly {
    fn has_permission(&self, _request: &Request) -> bool {
        true
    }

    fn has_object_permission(&self, request: &Request, object: &dyn Any) -> bool {
        is_safe(request.method())
            || object.downcast_ref::<Snippet>().is_some_and(|snippet| {
                request.user.as_ref().map(|user| user.id) == Some(snippet.owner_id)
            })
    }
}

fn pool(request: &Request) -> Result<DbPool, ApiError> {
    request
        .http
        .app_data::<actix_web::web::Data<AppState>>()
        .map(|state| state.pool.clone())
        .ok_or_else(|| ApiError::internal("no application state"))
}

fn text(values: &Map<String, Value>, name: &str) -> Option<String> {
    values.get(name).and_then(Value::as_str).map(str::to_string)
}

struct Snippets;

#[async_trait(?Send)]
impl ModelResource for Snippets {
    type Object = Snippet;

    fn name(&self) -> &'static str {
        "Snippet"
    }

    fn serializer(&self) -> Serializer {
        snippet_serializer()
    }

    fn represent(&self, _request: &Request, s: &Snippet) -> Value {
        json!({"id": s.id, "title": s.title, "code": s.code, "linenos": s.linenos,
               "language": s.language, "style": s.style, "owner": s.owner})
    }

    async fn list(
        &self,
        request: &Request,
        query: &ListQuery,
        window: Window,
    ) -> Result<(i64, Vec<Snippet>), ApiError> {
        let query = query.clone();
        Ok(db::run(&pool(request)?, move |conn| {
            // DRF's search: every term in the title or the code.
            let filtered = || {
                let mut rows = snippets::table
                    .inner_join(users::table.on(users::id.eq(snippets::owner_id)))
                    .into_boxed();
                for term in &query.search {
                    let pattern = like_pattern(term);
                    rows = rows.filter(
                        lower(snippets::title)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(snippets::code).like(pattern).escape('\\')),
                    );
                }
                rows
            };
            let count: i64 = filtered().count().get_result(conn)?;
            let mut rows = filtered();
            for (field, direction) in &query.ordering {
                rows = match (*field, *direction) {
                    ("title", Direction::Ascending) => rows.then_order_by(snippets::title.asc()),
                    ("title", Direction::Descending) => rows.then_order_by(snippets::title.desc()),
                    ("language", Direction::Ascending) => {
                        rows.then_order_by(snippets::language.asc())
                    }
                    ("language", Direction::Descending) => {
                        rows.then_order_by(snippets::language.desc())
                    }
                    (_, Direction::Ascending) => rows.then_order_by(snippets::id.asc()),
                    (_, Direction::Descending) => rows.then_order_by(snippets::id.desc()),
                };
            }
            // The model's own ordering after the requested one (Meta.ordering: created, id).
            let rows = rows
                .then_order_by(snippets::created.asc())
                .then_order_by(snippets::id.asc())
                .select(Snippet::as_select())
                .offset(window.offset)
                .limit(window.limit)
                .load::<Snippet>(conn)?;
            Ok((count, rows))
        })
        .await?)
    }

    async fn get(&self, request: &Request, pk: i64) -> Result<Option<Snippet>, ApiError> {
        let Ok(pk) = i32::try_from(pk) else {
            return Ok(None);
        };
        Ok(db::run(&pool(request)?, move |conn| find(conn, pk)).await?)
    }

    async fn create(
        &self,
        request: &Request,
        values: Map<String, Value>,
    ) -> Result<Snippet, ApiError> {
        // DRF's perform_create: the owner is who asks.
        let owner = request
            .user
            .as_ref()
            .map(|user| user.id)
            .ok_or_else(ApiError::not_authenticated)?;
        Ok(db::run(&pool(request)?, move |conn| {
            conn.transaction(|conn| {
                diesel::insert_into(snippets::table)
                    .values((
                        snippets::created.eq(now()),
                        // The model's defaults for what the body left out.
                        snippets::title.eq(text(&values, "title").unwrap_or_default()),
                        snippets::code.eq(text(&values, "code").unwrap_or_default()),
                        snippets::linenos.eq(values
                            .get("linenos")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)),
                        snippets::language
                            .eq(text(&values, "language").unwrap_or_else(|| "python".into())),
                        snippets::style
                            .eq(text(&values, "style").unwrap_or_else(|| "friendly".into())),
                        snippets::owner_id.eq(owner),
                    ))
                    .execute(conn)?;
                let id = snippets::table
                    .filter(snippets::owner_id.eq(owner))
                    .select(diesel::dsl::max(snippets::id))
                    .first::<Option<i32>>(conn)?
                    .ok_or(diesel::result::Error::NotFound)?;
                find(conn, id)?.ok_or(diesel::result::Error::NotFound)
            })
        })
        .await?)
    }

    async fn update(
        &self,
        request: &Request,
        snippet: Snippet,
        values: Map<String, Value>,
    ) -> Result<Snippet, ApiError> {
        let id = snippet.id;
        Ok(db::run(&pool(request)?, move |conn| {
            diesel::update(snippets::table.find(id))
                .set((
                    snippets::title.eq(text(&values, "title").unwrap_or(snippet.title)),
                    snippets::code.eq(text(&values, "code").unwrap_or(snippet.code)),
                    snippets::linenos.eq(values
                        .get("linenos")
                        .and_then(Value::as_bool)
                        .unwrap_or(snippet.linenos)),
                    snippets::language.eq(text(&values, "language").unwrap_or(snippet.language)),
                    snippets::style.eq(text(&values, "style").unwrap_or(snippet.style)),
                ))
                .execute(conn)?;
            find(conn, id)?.ok_or(diesel::result::Error::NotFound)
        })
        .await?)
    }

    async fn destroy(&self, request: &Request, snippet: Snippet) -> Result<(), ApiError> {
        db::run(&pool(request)?, move |conn| {
            diesel::delete(snippets::table.find(snippet.id)).execute(conn)
        })
        .await?;
        Ok(())
    }
}

fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<Snippet>> {
    snippets::table
        .inner_join(users::table.on(users::id.eq(snippets::owner_id)))
        .filter(snippets::id.eq(id))
        .select(Snippet::as_select())
        .first(conn)
        .optional()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// A user with the ids of their snippets.
struct Users;

#[async_trait(?Send)]
impl ModelResource for Users {
    type Object = (i32, String, Vec<i32>);

    fn name(&self) -> &'static str {
        "User"
    }

    fn serializer(&self) -> Serializer {
        Serializer::new(vec![
            Field::integer("id").label("ID").read_only(),
            Field::read_only_field("username"),
            Field::read_only_field("snippets"),
        ])
    }

    fn represent(&self, _request: &Request, user: &(i32, String, Vec<i32>)) -> Value {
        json!({"id": user.0, "username": user.1, "snippets": user.2})
    }

    async fn list(
        &self,
        request: &Request,
        _query: &ListQuery,
        window: Window,
    ) -> Result<(i64, Vec<(i32, String, Vec<i32>)>), ApiError> {
        Ok(db::run(&pool(request)?, move |conn| {
            let count = users::table.count().get_result(conn)?;
            let rows: Vec<(i32, String)> = users::table
                .select((users::id, users::username))
                .order(users::id)
                .offset(window.offset)
                .limit(window.limit)
                .load(conn)?;
            let ids: Vec<i32> = rows.iter().map(|(id, _)| *id).collect();
            let owned: Vec<(i32, i32)> = snippets::table
                .filter(snippets::owner_id.eq_any(&ids))
                .order((snippets::created, snippets::id))
                .select((snippets::owner_id, snippets::id))
                .load(conn)?;
            let users = rows
                .into_iter()
                .map(|(id, username)| {
                    let mine = owned
                        .iter()
                        .filter(|(owner, _)| *owner == id)
                        .map(|(_, snippet)| *snippet)
                        .collect();
                    (id, username, mine)
                })
                .collect();
            Ok((count, users))
        })
        .await?)
    }

    async fn get(
        &self,
        request: &Request,
        pk: i64,
    ) -> Result<Option<(i32, String, Vec<i32>)>, ApiError> {
        let Ok(pk) = i32::try_from(pk) else {
            return Ok(None);
        };
        Ok(db::run(&pool(request)?, move |conn| {
            let Some(username) = users::table
                .find(pk)
                .select(users::username)
                .first::<String>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let mine = snippets::table
                .filter(snippets::owner_id.eq(pk))
                .order((snippets::created, snippets::id))
                .select(snippets::id)
                .load(conn)?;
            Ok(Some((pk, username, mine)))
        })
        .await?)
    }
}

/// `PAGE_SIZE` (the reference's `SNIPPETS_PAGE_SIZE`), default 10.
fn page_size() -> i64 {
    std::env::var("PAGE_SIZE")
        .ok()
        .and_then(|size| size.parse().ok())
        .filter(|size| *size > 0)
        .unwrap_or(10)
}

fn views(_state: &AppState) -> Vec<(&'static str, portcullis::rest::APIView)> {
    let pagination = PageNumberPagination {
        page_size: page_size(),
    };
    DefaultRouter::new("/api/")
        .register(
            "snippets",
            ModelViewSet::new(Snippets)
                .description(
                    "Code snippets: anyone may read them, signed-in users create them, only \
                     the owner changes them.",
                )
                .permission_classes(vec![
                    Arc::new(IsAuthenticatedOrReadOnly),
                    Arc::new(IsOwnerOrReadOnly),
                ])
                .pagination(pagination)
                .search()
                .ordering(&["id", "title", "language"], &["id"]),
        )
        .register(
            "users",
            ModelViewSet::read_only(Users)
                .description("Users, each with the ids of their snippets.")
                .pagination(pagination),
        )
        .views()
}

fn migrations(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    db::run_embedded_migrations(conn, SQLITE, POSTGRES)
}

fn main() {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("snippets: {e}");
            std::process::exit(2);
        }
    };
    portcullis::logging::init(&config.server.rust_log);
    let project = Project {
        views: Some(Arc::new(views)),
        migrations: Some(migrations),
    };
    if let Err(e) = portcullis::commands::run_project(cli.command, config, project) {
        eprintln!("snippets: {e}");
        std::process::exit(1);
    }
}
