//! ARCHITECTURE "Layers": arrows point down, never in a circle. This reads every `crate::…` path
//! between modules of `src/` (test modules excluded) and fails on an arrow against the declared
//! order — a foundation module reaching up, a domain using one to its right, anything using the
//! top — naming the file and line. Every layer is ordered, the foundation included (so `db` and
//! `http` cannot lean on each other), the order is total, so a circle is always such an arrow, and
//! there are no exceptions: an item of the crate root (`crate::app`, `crate::Runtime`) is the top.
//! A workflow over several domains belongs in a use case; a piece two domains share moves down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Folder modules of the foundation whose files are nodes of their own (`http::auth`), so that a
/// circle between their files is caught too: `http::auth` reads `AppState`, `http/mod.rs` is below it.
const SPLIT: &[&str] = &["http"];

/// Bottom to top, one by one: a module may use only modules below it. `http` is `http/mod.rs`
/// (and what it re-exports); `http::x` is `http/x.rs`.
const FOUNDATION: &[&str] = &[
    "schema",
    "vocabulary",
    "ids",
    "clock",
    "money",
    "phone",
    "files",
    "progress",
    "lifecycle",
    "metrics",
    "error",
    "proxies",
    "config",
    "db",
    "logging",
    "http",
    "http::json",
    "http::pagination",
    "http::patch",
    "http::secrets",
    "limits",
    "tokens",
    "state",
    "http::auth",
    "http::idempotency",
    "http::middleware",
    "events",
    "audit",
];
/// A domain may use a domain to its left.
const DOMAINS: &[&str] = &[
    "stores",
    "staff",
    "auth_clients",
    "customers",
    "memberships",
    "loyalty",
    "segments",
    "coupons",
    "reservations",
    "orders",
    "leads",
    "tickets",
    "campaigns",
    "webhooks",
    "analytics",
];
/// Use cases compose domains; they do not call each other (a shared piece moves down).
const USE_CASES: &[&str] = &["customer_flows", "sales"];
/// The top wires everything; `lib` is the crate root's own items.
const TOP: &[&str] = &["jobs", "import", "openapi", "ops", "server", "demo", "lib"];

fn level(module: &str) -> Option<usize> {
    if let Some(i) = FOUNDATION.iter().position(|m| *m == module) {
        return Some(i);
    }
    if let Some(i) = DOMAINS.iter().position(|d| *d == module) {
        return Some(100 + i);
    }
    if USE_CASES.contains(&module) {
        return Some(200);
    }
    TOP.contains(&module).then_some(300)
}

fn allowed(from: &str, to: &str) -> bool {
    match (level(from), level(to)) {
        (Some(300), Some(300)) => true,
        // Use cases do not call each other either: a shared piece moves down.
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The node a file of `src/` belongs to: its top-level module, or `http::x` for `src/http/x.rs`
/// (`None`: the binary, `main.rs`; the crate root `lib.rs` is `lib`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string());
    let first = parts.next()?;
    if first == "main" {
        return None;
    }
    match parts.next() {
        Some(second) if SPLIT.contains(&first.as_str()) && second != "mod" => Some(format!("{first}::{second}")),
        _ => Some(first),
    }
}

/// The node a path names, given the module names of `src/`: `crate::http::auth::Auth` is
/// `http::auth`, `crate::http::Json` is `http`, `crate::db::run` is `db`, `crate::app` is `lib`.
fn node(path: &str, modules: &BTreeSet<String>) -> String {
    let mut segments = path.split("::").map(str::trim);
    let first = segments.next().unwrap_or_default().to_string();
    if !modules.contains(&first) {
        return "lib".to_string();
    }
    if SPLIT.contains(&first.as_str()) {
        if let Some(second) = segments.next().filter(|s| modules.contains(&format!("{first}::{s}"))) {
            return format!("{first}::{second}");
        }
    }
    first
}

/// `(line number, line)` of a file's code: not its comments, nor its unit tests, which may reach
/// anything and sit at the end of their file.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| !line.trim_start().starts_with("#[cfg(test)]"))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line))
}

/// `(line, path)` for each path a line names after `crate::` (and after `super::` in a file of a
/// split module, where `super` is that module), groups expanded: `crate::x::{a::b, c}` names
/// `x::a::b` and `x::c`.
fn references(text: &str, super_is: Option<&str>) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code_lines(text) {
        let mut rest = line;
        loop {
            let crate_at = rest.find("crate::").map(|at| (at + "crate::".len(), String::new()));
            let super_at =
                super_is.and_then(|m| rest.find("super::").map(|at| (at + "super::".len(), format!("{m}::"))));
            let Some((at, prefix)) = [crate_at, super_at].into_iter().flatten().min_by_key(|(at, _)| *at) else {
                break;
            };
            rest = &rest[at..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let path = format!("{prefix}{path}");
            match rest[path.len() - prefix.len()..].strip_prefix('{') {
                Some(group) => {
                    for part in group.split('}').next().unwrap_or_default().split(',').map(str::trim) {
                        if !part.is_empty() {
                            found.push((n, format!("{path}{part}")));
                        }
                    }
                }
                None => found.push((n, path.trim_end_matches(':').to_string())),
            }
        }
    }
    found
}

/// The macros a module exports (`#[macro_export]` puts them at the crate root, `crate::vocabulary!`),
/// by the module that declares them: using one is an arrow to that module.
fn exported_macros(src: &Path, files: &[PathBuf]) -> BTreeMap<String, String> {
    let mut macros = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line == "#[macro_export]" {
                let name = lines.next().and_then(|l| l.strip_prefix("macro_rules! ")).map(|l| l.trim_end_matches(" {"));
                if let Some(name) = name {
                    macros.insert(name.to_string(), module.clone());
                }
            }
        }
    }
    macros
}

/// Every node of `src/`: its top-level modules, and the files of the split ones.
fn modules(src: &Path, files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|f| module_of(src, f))
        .flat_map(|m| {
            let top = m.split("::").next().unwrap_or_default().to_string();
            [top, m]
        })
        .collect()
}

#[test]
fn arrows_between_modules_point_down_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules = modules(&src, &files);
    let macros = exported_macros(&src, &files);

    // Every arrow against the order, with the first place that draws it.
    let mut against: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut unknown_modules = BTreeSet::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else { continue };
        if level(&from).is_none() {
            unknown_modules.insert(from.clone());
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let split = SPLIT.iter().find(|m| from.starts_with(&format!("{m}::"))).copied();
        for (line, path) in references(&text, split) {
            let to = macros.get(&path).cloned().unwrap_or_else(|| node(&path, &modules));
            if to == from || path == "self" || path.starts_with("self::") {
                continue;
            }
            if level(&to).is_none() {
                unknown_modules.insert(to.clone());
                continue;
            }
            if !allowed(&from, &to) {
                let place = format!("{}:{line}", file.strip_prefix(&src).unwrap_or(file).display());
                against.entry((from.clone(), to)).or_insert(place);
            }
        }
    }
    assert!(
        unknown_modules.is_empty(),
        "modules without a place in the declared order (add them to a layer): {unknown_modules:?}"
    );

    let new: Vec<String> = against.iter().map(|((from, to), place)| format!("{from} -> {to} (src/{place})")).collect();
    assert!(
        new.is_empty(),
        "arrows against the declared order (a workflow over several domains is a use case):\n{}",
        new.join("\n")
    );
}

/// Issue 22: every file the service or the CLI writes goes through `src/files/` — CSV through its
/// neutralising writer (no cell a spreadsheet would run), files opened without following a link
/// planted where they go. Another way to write either would bring those holes back unnoticed.
#[test]
fn only_the_files_module_writes_csv_or_opens_files_for_writing() {
    const WAYS: &[&str] = &["csv::Writer", "WriterBuilder", "File::create", "OpenOptions", "fs::write(", "fs::copy("];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut elsewhere = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(src.join("files"))) {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in code_lines(&text) {
            if let Some(way) = WAYS.iter().find(|way| line.contains(*way)) {
                elsewhere.push(format!("src/{}:{n}: {way}", file.strip_prefix(&src).unwrap_or(file).display()));
            }
        }
    }
    assert!(elsewhere.is_empty(), "write through crate::files instead:\n{}", elsewhere.join("\n"));
}

#[test]
fn the_reader_sees_grouped_and_plain_paths_and_skips_unit_tests() {
    let text = "use crate::http::auth::Auth;\nuse crate::{db, events::emit};\n// crate::orders in a comment\n\
                let x = crate::money::round(y);\nuse crate::http::{auth::Principal, Json};\nlet s = crate::AppState;\n\
                #[cfg(test)]\nmod tests { use crate::jobs; }\n";
    let names: Vec<(usize, String)> = references(text, None);
    let expected = [
        (1, "http::auth::Auth"),
        (2, "db"),
        (2, "events::emit"),
        (4, "money::round"),
        (5, "http::auth::Principal"),
        (5, "http::Json"),
        (6, "AppState"),
    ];
    assert_eq!(names, expected.map(|(n, p)| (n, p.to_string())));
    assert_eq!(references("use super::middleware::X;", Some("http")), [(1, "http::middleware::X".to_string())]);

    let modules: BTreeSet<String> =
        ["http", "http::auth", "db", "events", "money"].into_iter().map(String::from).collect();
    let nodes: Vec<String> = names.iter().map(|(_, p)| node(p, &modules)).collect();
    assert_eq!(nodes, ["http::auth", "db", "events", "money", "http::auth", "http", "lib"]);

    assert!(allowed("orders", "coupons") && !allowed("coupons", "orders"));
    assert!(allowed("sales", "orders") && !allowed("orders", "sales"));
    assert!(allowed("http::idempotency", "db") && !allowed("db", "http::idempotency") && !allowed("db", "http"));
    assert!(allowed("http::auth", "state") && !allowed("state", "http::auth") && allowed("state", "tokens"));
    assert!(!allowed("http", "customers") && !allowed("state", "lib") && !allowed("customers", "lib"));
}
