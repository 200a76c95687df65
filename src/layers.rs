//! The layer order of `src/`, checked against the code: a test reads every module's
//! `crate::` paths and fails on an arrow from a lower layer to a higher one (which is also
//! how a cycle would show). `docs/architecture.md` draws the same stack.

/// Top-level modules, lowest first. A module may use only modules listed before it.
const LAYERS: &[&str] = &[
    "clock",
    "sealing",
    "logging",
    "metrics",
    "events",
    "addresses",
    "db",
    "models",
    "hashers",
    "accounts",
    "rest",
    "authtoken",
    "jwt",
    "admin",
    "hello",
    "bench",
    "config",
    "state",
    "health",
    "exporter",
    "well_known",
    "urls",
    "gate",
    "startup",
    "cli",
    "commands",
];

/// Inside `rest/`, the same rule: the request and its policies below the dispatcher.
const REST_LAYERS: &[&str] = &[
    "exceptions",
    "hosts",
    "fields",
    "client",
    "csrf",
    "parsers",
    "renderers",
    "negotiation",
    "metadata",
    "request",
    "response",
    "pagination",
    "filters",
    "serializers",
    "throttling",
    "authentication",
    "remote_user",
    "permissions",
    "settings",
    "views",
    "viewsets",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The modules named right after `prefix` (e.g. `crate::`) in the code, comments left out.
    fn used_after(source: &str, prefix: &str) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices(prefix) {
                let after = &code[at + prefix.len()..];
                // `prefix{a, b::c}` names several: the first identifier of each group member.
                let names = match after.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![after],
                };
                for name in names {
                    let name: String = name
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        used.insert(name);
                    }
                }
            }
        }
        used
    }

    /// `crate::a::b` inside `src/<dir>/x.rs` is `a`, relative to the layer list of that level.
    fn violations(
        root: &Path,
        layers: &[&str],
        prefix: &str,
        module_of: impl Fn(&Path) -> Option<String>,
    ) -> Vec<String> {
        let mut files = Vec::new();
        rust_files(root, &mut files);
        let rank = |name: &str| layers.iter().position(|l| *l == name);
        let mut found = Vec::new();
        for file in files {
            let Some(module) = module_of(&file) else {
                continue;
            };
            let Some(own) = rank(&module) else {
                found.push(format!(
                    "{}: module {module:?} is in no layer",
                    file.display()
                ));
                continue;
            };
            let source = std::fs::read_to_string(&file).unwrap();
            for used in used_after(&source, prefix) {
                if let Some(other) = rank(&used)
                    && other > own
                {
                    found.push(format!(
                        "{}: {module} (layer {own}) uses {used} (layer {other})",
                        file.display()
                    ));
                }
            }
        }
        found
    }

    #[test]
    fn top_level_modules_only_use_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let module_of = |file: &Path| {
            let relative = file.strip_prefix(&src).unwrap();
            let first = relative.components().next()?.as_os_str().to_str()?;
            let name = first.trim_end_matches(".rs");
            (!["lib", "main", "layers"].contains(&name)).then(|| name.to_string())
        };
        let found = violations(&src, LAYERS, "crate::", module_of);
        assert!(found.is_empty(), "{}", found.join("\n"));
        // The binary is above everything: it may use any module, and none may use it.
    }

    #[test]
    fn rest_modules_only_use_lower_layers() {
        let rest = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rest");
        let module_of = |file: &Path| {
            let relative = file.strip_prefix(&rest).unwrap();
            let first = relative.components().next()?.as_os_str().to_str()?;
            let name = first.trim_end_matches(".rs");
            (name != "mod").then(|| name.to_string())
        };
        let found = violations(&rest, REST_LAYERS, "crate::rest::", module_of);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    #[test]
    fn the_check_sees_an_upward_arrow() {
        let used = used_after("use crate::startup::AppState; // crate::urls", "crate::");
        assert_eq!(used.into_iter().collect::<Vec<_>>(), ["startup"]);
        let grouped = used_after(
            "use crate::rest::{client, parsers::parse};",
            "crate::rest::",
        );
        assert_eq!(
            grouped.into_iter().collect::<Vec<_>>(),
            ["client", "parsers"]
        );
    }
}
