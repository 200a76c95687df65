//! The command line, run as a real process against a real SQLite file.

use std::process::{Command, Output};

use crate::helpers::run_portcullis;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn database(&self) -> String {
        self.dir
            .path()
            .join("db.sqlite3")
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Runs a command on this directory's database; `env` overrides any variable.
    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let database = self.database();
        let mut vars = vec![("DATABASE_URL", database.as_str())];
        vars.extend_from_slice(env);
        run_portcullis(self.dir.path(), args, stdin, &vars)
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with(args, stdin, &[])
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A failure is one line on stderr, a non-zero exit, and never a panic.
fn assert_clean_failure(output: &Output, expected: &str) {
    assert!(!output.status.success(), "succeeded: {output:?}");
    let text = stderr(output);
    assert!(
        text.contains(expected),
        "stderr {text:?} lacks {expected:?}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text:?}");
}

#[test]
fn createuser_then_duplicate_is_a_one_line_error() {
    let cli = Cli::new();
    let created = cli.run(&["createuser", "alice"], "s3cret-pass\n");
    assert!(created.status.success(), "{}", stderr(&created));
    let duplicate = cli.run(&["createuser", "alice"], "other-pass\n");
    assert_clean_failure(&duplicate, "already taken");
}

#[test]
fn empty_or_too_long_passwords_are_refused() {
    let cli = Cli::new();
    assert_clean_failure(&cli.run(&["createuser", "bob"], "\n"), "blank");
    let long = format!("{}\n", "x".repeat(72));
    assert_clean_failure(&cli.run(&["createuser", "bob"], &long), "too long");
}

#[test]
fn bad_database_url_is_a_one_line_error() {
    let cli = Cli::new();
    let output = cli.run_with(
        &["migrate"],
        "",
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nothing")],
    );
    assert_clean_failure(&output, "DATABASE_URL");
}

#[test]
fn invalid_setting_names_the_variable() {
    let cli = Cli::new();
    let output = cli.run_with(&["migrate"], "", &[("THROTTLE_RATES", "anon=fast")]);
    assert_clean_failure(&output, "THROTTLE_RATES");
    let output = cli.run_with(&["migrate"], "", &[("SECRET_KEY", "short")]);
    assert_clean_failure(&output, "SECRET_KEY");
}

#[test]
fn changepassword_of_unknown_user_fails_and_of_known_user_works() {
    let cli = Cli::new();
    assert_clean_failure(
        &cli.run(&["changepassword", "ghost"], "pw-12345\n"),
        "does not exist",
    );
    assert!(
        cli.run(&["createuser", "carol"], "first-pass\n")
            .status
            .success()
    );
    let changed = cli.run(&["changepassword", "carol"], "second-pass\n");
    assert!(changed.status.success(), "{}", stderr(&changed));
}

#[test]
fn createsuperuser_without_input_reads_stdin_and_needs_a_username() {
    let cli = Cli::new();
    let created = cli.run(
        &[
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "r@example.com",
            "--no-input",
        ],
        "admin-pass\n",
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert_clean_failure(
        &cli.run(&["createsuperuser", "--no-input"], "pw\n"),
        "--username",
    );
}

#[test]
fn migrate_is_idempotent_and_flushexpiredtokens_runs() {
    let cli = Cli::new();
    assert!(cli.run(&["migrate"], "").status.success());
    let again = cli.run(&["migrate"], "");
    assert!(String::from_utf8_lossy(&again.stdout).contains("No migrations to apply"));
    let flushed = cli.run(&["flushexpiredtokens"], "");
    assert!(String::from_utf8_lossy(&flushed.stdout).contains("Deleted 0 expired"));
}

#[test]
fn every_command_has_help() {
    let cli = Cli::new();
    for command in [
        "serve",
        "migrate",
        "createsuperuser",
        "createuser",
        "changepassword",
        "flushexpiredtokens",
    ] {
        let output = cli.run(&[command, "--help"], "");
        assert!(output.status.success(), "{command}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{command}"
        );
    }
}

#[test]
fn first_run_without_secret_key_generates_a_private_one() {
    let cli = Cli::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    let output = command
        .arg("migrate")
        .current_dir(cli.dir.path())
        .env_clear()
        .env("DATABASE_URL", cli.database())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let key = std::fs::read_to_string(cli.dir.path().join(".portcullis_secret_key")).unwrap();
    assert!(key.trim().len() >= 64);
}
