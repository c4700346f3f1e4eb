//! ARCHITECTURE "Layers": arrows point down, never in a circle. This reads every `crate::…` path
//! between top-level modules of `src/` (test modules excluded) and fails on an arrow against the
//! declared order — a foundation module reaching up, a domain using one to its right, anything
//! using the top — naming the file and line. The order is total, so a circle is always such an
//! arrow. A workflow over several domains belongs in a use case; a piece two domains share moves
//! down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. Within the foundation modules use each other freely; domains are ordered (a
/// domain may use a domain to its left); use cases compose domains; the top wires everything.
const FOUNDATION: &[&str] = &[
    "schema",
    "error",
    "clock",
    "config",
    "money",
    "phone",
    "metrics",
    "logging",
    "http",
    "db",
    "events",
    "audit",
    "files",
    "lifecycle",
    "progress",
    "state",
];
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
const USE_CASES: &[&str] = &["customer_flows", "sales"];
const TOP: &[&str] = &["jobs", "import", "openapi", "ops", "server", "demo", "app", "api_routes", "openapi_document", "Runtime"];
/// Items of the crate root every layer may name: the shared state handlers receive.
const SHARED: &[&str] = &[];

fn level(module: &str) -> Option<usize> {
    if FOUNDATION.contains(&module) {
        return Some(0);
    }
    if let Some(i) = DOMAINS.iter().position(|d| *d == module) {
        return Some(1 + i);
    }
    if USE_CASES.contains(&module) {
        return Some(100);
    }
    TOP.contains(&module).then_some(200)
}

fn allowed(from: &str, to: &str) -> bool {
    match (level(from), level(to)) {
        (Some(0), Some(0)) | (Some(200), Some(200)) => true,
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

/// The top-level module a file of `src/` belongs to (`None`: the crate root and the binary).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (!["lib", "main"].contains(&name.as_str())).then_some(name)
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

/// `(line, module)` for each top-level module a line names: `crate::x::…` and `crate::{x::…, y}`.
fn references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for part in inner.split(',') {
                    let name = part.trim().split("::").next().unwrap_or_default();
                    if !name.is_empty() {
                        found.push((n, name.to_string()));
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push((n, name));
            }
        }
    }
    found
}

#[test]
fn arrows_between_modules_point_down_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();

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
        for (line, to) in references(&text) {
            if to == from || to == "self" || to == "super" || SHARED.contains(&to.as_str()) {
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
                let x = crate::money::round(y);\n#[cfg(test)]\nmod tests { use crate::jobs; }\n";
    let names: Vec<(usize, String)> = references(text);
    assert_eq!(
        names,
        [(1, "http".to_string()), (2, "db".to_string()), (2, "events".to_string()), (4, "money".to_string())]
    );
    assert!(allowed("orders", "coupons") && !allowed("coupons", "orders"));
    assert!(allowed("sales", "orders") && !allowed("orders", "sales"));
    assert!(allowed("http", "db") && !allowed("http", "customers"));
}
