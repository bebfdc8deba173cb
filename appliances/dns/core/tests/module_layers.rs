//! The crate's layering rules, checked on its source (see the module list in
//! `src/lib.rs`): no cycles among the modules' `crate::` imports, the feature modules
//! imported by `server` alone, and `impl Server` only in `server.rs`.
//!
//! The checker reads `src/**/*.rs`, folds submodules (`zone/master.rs`) into their
//! top-level module, and takes every `crate::name` path outside comments as an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that only the dispatcher may import: each is one feature of the server.
const FEATURES: &[&str] = &["update", "xfr", "notify", "secondary"];
/// The one module allowed to import them and to hold `impl Server`.
const TOP: &str = "server";

type Graph = BTreeMap<String, BTreeSet<String>>;

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

/// The top-level module a source file belongs to (`zone/master.rs` → `zone`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The text without `//` comments (doc comments name modules in prose and links).
fn code(text: &str) -> String {
    text.lines().map(|l| l.split_once("//").map_or(l, |(c, _)| c)).collect::<Vec<_>>().join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules that `text` names after `crate::`, including each member of
/// a `crate::{a, b::c}` group.
fn imports(text: &str) -> BTreeSet<String> {
    let code = code(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(ident_at(&group[j..]).to_string());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest).to_string());
        }
    }
    out.remove("");
    out
}

/// A cycle in `graph`, as the modules along it (first repeated at the end).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    // Depth-first search; a back edge to a module on the current path closes a cycle.
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

/// Everything wrong with a crate given as (module, source text) pairs.
fn violations(sources: &[(String, String)]) -> Vec<String> {
    let mut graph = Graph::new();
    let mut problems = Vec::new();
    for (module, text) in sources {
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(imports(text).into_iter().filter(|d| d != module));
        let impls_server = code(text).lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("impl") && (l.contains(" Server {") || l.contains(" for Server"))
        });
        if impls_server && module != TOP {
            problems.push(format!("`impl Server` in module `{module}`: it belongs in {TOP}.rs"));
        }
    }
    for (module, deps) in &graph {
        for d in deps.iter().filter(|d| FEATURES.contains(&d.as_str())) {
            if module != TOP {
                problems.push(format!("module `{module}` imports feature module `{d}`: only `{TOP}` may"));
            }
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        problems.push(format!("module cycle: {}", cycle.join(" -> ")));
    }
    problems
}

#[test]
fn dns_core_is_layered() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let sources: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    assert!(sources.iter().any(|(m, _)| m == TOP), "no {TOP}.rs under {}", src.display());
    let problems = violations(&sources);
    assert!(problems.is_empty(), "layering broken:\n  {}", problems.join("\n  "));
}

fn crate_of(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect()
}

#[test]
fn checker_names_a_cycle() {
    let c = crate_of(&[
        ("zone", "use crate::section::Section;\nfn f() { crate::query::covered_ttl(); }"),
        ("query", "use crate::{section, zone::{Node, Zone}};"),
        ("section", "// use crate::zone; (a comment is not an import)\n"),
    ]);
    assert_eq!(violations(&c), ["module cycle: query -> zone -> query"]);
}

#[test]
fn checker_finds_misplaced_impl_and_feature_imports() {
    let c = crate_of(&[
        ("server", "use crate::update;\nimpl Server {}"),
        ("update", "use crate::handled::Pending;\nimpl Server {\n}"),
        ("secondary", "use crate::xfr::TransferIn;"),
        ("xfr", "impl fmt::Debug for Server {}"),
    ]);
    let got = violations(&c);
    assert_eq!(
        got,
        [
            "`impl Server` in module `update`: it belongs in server.rs",
            "`impl Server` in module `xfr`: it belongs in server.rs",
            "module `secondary` imports feature module `xfr`: only `server` may",
        ]
    );
}
