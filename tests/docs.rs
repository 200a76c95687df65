//! The documentation cannot drift from the code: every setting `src/config/` reads is in
//! `.env.example` and documented once in `docs/settings.md` (and nowhere else as a table row);
//! every relative link of README.md and docs/ points to a file that exists; README stays a
//! newcomer's page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A setting's name: upper case, digits and `_`.
fn is_setting_name(name: &str) -> bool {
    name.len() >= 3
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables `.env.example` sets or shows commented out (`NAME=` or `# NAME=`).
fn env_example() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches('#').trim_start();
            let (name, _) = line.split_once('=')?;
            is_setting_name(name).then(|| name.to_string())
        })
        .collect()
}

/// The backticked setting names in a markdown table row's first cell.
fn first_cell_names(row: &str) -> Vec<String> {
    let Some(first) = row.split('|').nth(1) else {
        return Vec::new();
    };
    first
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| is_setting_name(name))
        .map(str::to_string)
        .collect()
}

/// Setting names with the number of table rows (first cells) naming them, in one document
/// (header rows, those followed by `|---`, are column names).
fn documented(text: &str) -> BTreeMap<String, usize> {
    let mut rows = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let header = lines
            .get(index + 1)
            .is_some_and(|next| next.starts_with("|---"));
        if !line.starts_with("| `") || header {
            continue;
        }
        for name in first_cell_names(line) {
            *rows.entry(name).or_insert(0) += 1;
        }
    }
    rows
}

/// The names `src/config/` reads: the first string literal of each `vars.<reader>("NAME"`.
fn read_by_config() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("src/config")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (start, _) in text.match_indices("vars.") {
            let call = &text[start..];
            let Some(open) = call.find("(\"") else {
                continue;
            };
            // Only `vars.reader("NAME"`: the literal directly after the method name.
            if !call[5..open]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
            {
                continue;
            }
            let literal = &call[open + 2..];
            let name = &literal[..literal.find('"').unwrap()];
            if is_setting_name(name) {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn every_setting_is_in_env_example_and_documented_once() {
    let example = env_example();
    let settings = documented(&read("docs/settings.md"));
    let in_docs: BTreeSet<String> = settings.keys().cloned().collect();
    assert_eq!(
        example.difference(&in_docs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in .env.example, not in docs/settings.md"
    );
    assert_eq!(
        in_docs.difference(&example).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in docs/settings.md, not in .env.example"
    );
    let twice: Vec<_> = settings.iter().filter(|(_, rows)| **rows > 1).collect();
    assert!(twice.is_empty(), "documented in several rows: {twice:?}");

    let read = read_by_config();
    assert!(
        read.len() > 40,
        "the reader of src/config/ found only {read:?}"
    );
    let missing: Vec<_> = read.difference(&example).collect();
    assert!(
        missing.is_empty(),
        "src/config/ reads these, .env.example does not show them: {missing:?}"
    );
}

fn documents() -> Vec<PathBuf> {
    let mut paths = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths
}

#[test]
fn no_other_page_documents_a_setting_in_a_table() {
    let settings: BTreeSet<String> = documented(&read("docs/settings.md")).into_keys().collect();
    for path in documents() {
        if path.ends_with("docs/settings.md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let again: Vec<_> = documented(&text)
            .into_keys()
            .filter(|name| settings.contains(name))
            .collect();
        assert!(
            again.is_empty(),
            "{} documents {again:?} again (link to docs/settings.md instead)",
            path.display()
        );
    }
}

#[test]
fn every_relative_link_points_to_a_file() {
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (start, _) in text.match_indices("](") {
            let target = &text[start + 2..];
            let target = &target[..target.find(')').unwrap_or(0)];
            if target.is_empty() || target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let resolved = path.parent().unwrap().join(file);
            assert!(
                resolved.exists(),
                "{}: the link {target} points to nothing",
                path.display()
            );
        }
    }
}

#[test]
fn the_readme_is_a_newcomers_page() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines");
    for must in [
        "## The two commands",
        "scripts/serve",
        "scripts/test",
        "## Walkthrough",
        "## Writing a view",
        "## Where to read next",
    ] {
        assert!(readme.contains(must), "README.md lacks {must}");
    }
}
