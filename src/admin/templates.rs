//! Provides the HTML templates: minijinja with autoescaping and strict undefined variables.
//!
//! The templates in `templates/` are compiled into the binary, so it serves its pages from any
//! working directory; a file of the same name in `TEMPLATES_DIR` replaces the built-in one
//! (Django's template override, without a restart of the build).

use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// Every template the admin pages use, with its built-in text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("index.html", include_str!("../../templates/index.html")),
    (
        "403_csrf.html",
        include_str!("../../templates/403_csrf.html"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template (a syntax error stops the start-up, not a later request).
    pub fn load(dir: &Path) -> Result<Templates, String> {
        let mut env = Environment::new();
        // Every page is HTML: escape all of it, whatever the name.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // A misspelt variable is an error, never an empty string on a page.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, built_in) in BUILT_IN {
            let source = match std::fs::read_to_string(dir.join(name)) {
                Ok(source) => source,
                Err(_) => built_in.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(Templates { env })
    }

    /// Renders a template; a failure is logged and becomes a 500, never a half page.
    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    fn templates() -> Templates {
        Templates::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))).unwrap()
    }

    /// A context for each page, with hostile text where the request or the database speaks.
    fn sample(name: &str) -> Value {
        let evil = "<script>alert(1)</script>";
        match name {
            "base.html" => context! {},
            "login.html" => context! {
                csrf_token => "t".repeat(64), error => evil, username => evil, next => evil,
            },
            "index.html" => context! {
                user => context! { id => 1, username => evil, is_superuser => false },
                csrf_token => "t".repeat(64),
                users => vec![context! {
                    id => 2, username => evil, email => evil, is_active => true,
                    is_staff => false, is_superuser => false, last_login => "never",
                    sessions => 1,
                }],
                tokens => vec![context! {
                    jti => evil, username => evil, created_at => "x", expires_at => "y",
                }],
                keys => vec![context! {
                    id => 1, username => evil, digest => evil, created_at => "x",
                }],
                message => evil,
                message_is_error => true,
            },
            "403_csrf.html" => context! { reason => evil },
            other => panic!("no sample context for {other}: add one"),
        }
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let templates = templates();
        for (name, _) in BUILT_IN {
            let html = templates
                .render(name, sample(name))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(html.contains("<!doctype html>"), "{name}");
            assert!(!html.contains("<script>"), "{name} did not escape");
        }
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let err = templates()
            .render("403_csrf.html", context! {})
            .unwrap_err();
        assert_eq!(err.kind(), minijinja::ErrorKind::UndefinedError);
    }

    #[test]
    fn a_file_in_templates_dir_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("403_csrf.html"), "custom {{ reason }}").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let html = templates
            .render("403_csrf.html", context! { reason => "<b>" })
            .unwrap();
        assert_eq!(html, "custom &lt;b&gt;");
    }
}
