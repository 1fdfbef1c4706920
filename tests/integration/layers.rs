//! The import graph of `src/` follows the data flow that `src/lib.rs`
//! describes, read from the code's own paths (`use crate::…`,
//! `crate::…::f()`, `super::…`), so a change that imports upwards or
//! closes a cycle fails here, with the file and the path that does it:
//!
//! * every top-level module imports only from the layers below its own
//!   ([`LAYERS`]);
//! * inside a module, its submodules import each other without a cycle
//!   (a module and its own parent or children are one unit: `mod.rs`
//!   declaring and re-exporting its children is not a cycle).
//!
//! Test code (`#[cfg(test)]` modules at the end of a file) may import from
//! anywhere and is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first. A module may import from
/// modules in lower layers only; modules in one layer do not import each
/// other.
const LAYERS: &[&[&str]] = &[
    // Imports nothing from the crate.
    &["time_format", "metrics", "expiring", "signature"],
    &["parse"],
    &["config", "logfiles", "store", "example"],
    &["auth", "index"],
    &["ingest"],
    &["bucket", "watch"],
    &["service"],
    &["web"],
    &["api"],
    &["daemon"],
];

type Module = Vec<String>;

/// Every module of `src/` (the crate root and `main.rs` aside), by path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let Ok(rel) = path.strip_prefix(src) else {
                continue;
            };
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] || parts.is_empty() {
                continue;
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The file without its test modules and comments.
fn product_code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Paths that start at `crate::` or `super::`, as segment lists (`super`
/// kept), with `{a, b::c}` groups expanded one level.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let head = start.trim_end_matches("::").to_owned();
            let rest = &code[from..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let mut p = vec![head.clone()];
                    p.extend(segments(item.trim()));
                    out.push(p);
                }
            } else {
                let mut p = vec![head];
                p.extend(segments(rest));
                out.push(p);
            }
        }
    }
    out
}

/// The leading `a::b::c` of `text`, with `super` segments kept.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) if r.starts_with(is_ident) => rest = r,
            _ => break,
        }
    }
    out
}

/// The module a path names: the longest known module it starts with.
fn resolve(from: &Module, path: &[String], known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let mut base: Module = Vec::new();
    let mut rest = path;
    if path.first().is_some_and(|h| h == "super") {
        base = from.clone();
        while rest.first().is_some_and(|h| h == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
    } else {
        rest = &rest[1..];
    }
    let mut full = base;
    full.extend(rest.iter().cloned());
    (1..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| known.contains_key(m))
}

/// `a` and `b` lifted to the children of their lowest common ancestor:
/// the two units an import between them joins. `None` when one contains
/// the other.
fn lift(a: &Module, b: &Module) -> Option<(Module, Module)> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if common == a.len() || common == b.len() {
        return None;
    }
    Some((a[..=common].to_vec(), b[..=common].to_vec()))
}

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// Every import between units: (from, to) → the files and paths making it.
fn imports(src: &Path) -> BTreeMap<(Module, Module), Vec<String>> {
    let known = modules(src);
    let mut edges: BTreeMap<(Module, Module), Vec<String>> = BTreeMap::new();
    for (module, file) in &known {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for path in paths(&product_code(&text)) {
            let Some(target) = resolve(module, &path, &known) else {
                continue;
            };
            if let Some(edge) = lift(module, &target) {
                let shown = path.join("::");
                let rel = file.strip_prefix(src).unwrap_or(file).display().to_string();
                edges
                    .entry(edge)
                    .or_default()
                    .push(format!("src/{rel}: {shown}"));
            }
        }
    }
    edges
}

/// The units of each cycle among the edges (strongly connected components
/// of more than one unit).
fn cycles(edges: &BTreeMap<(Module, Module), Vec<String>>) -> Vec<BTreeSet<Module>> {
    let nodes: BTreeSet<&Module> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges.keys() {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Module, BTreeSet<Module>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<Module>> = Vec::new();
    for n in &nodes {
        let component: BTreeSet<Module> = nodes
            .iter()
            .filter(|m| reachable[*n].contains(**m) && reachable[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if component.len() > 1 && !out.contains(&component) {
            out.push(component);
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_imports_only_from_the_layers_below_it() {
    let known = modules(&src());
    let tops: BTreeSet<&str> = known.keys().map(|m| m[0].as_str()).collect();
    let unplaced: Vec<&&str> = tops.iter().filter(|t| layer(t).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer of LAYERS: {unplaced:?}"
    );
    let mut upward = Vec::new();
    for ((from, to), places) in imports(&src()) {
        if from.len() != 1 {
            continue;
        }
        if layer(&from[0]) <= layer(&to[0]) {
            upward.push(format!(
                "{} imports {}: {}",
                from[0],
                to[0],
                places.join(", ")
            ));
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the data flow:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_imports_in_a_cycle() {
    let found: Vec<String> = cycles(&imports(&src()))
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {found:?}");
}

#[test]
fn the_checker_sees_upward_imports_and_cycles() -> std::io::Result<()> {
    // A crate of its own with both faults, so that the checks above cannot
    // pass by reading nothing.
    let dir = tempfile::tempdir()?;
    let src = dir.path();
    std::fs::create_dir_all(src.join("index"))?;
    std::fs::write(src.join("lib.rs"), "pub mod metrics;\npub mod index;\n")?;
    std::fs::write(src.join("metrics.rs"), "use crate::index::Snapshot;\n")?;
    std::fs::write(
        src.join("index/mod.rs"),
        "mod block;\nmod search;\nfn f() { crate::metrics::committed(); }\n",
    )?;
    std::fs::write(
        src.join("index/block.rs"),
        "use super::search::IndexedLine;\n",
    )?;
    std::fs::write(
        src.join("index/search.rs"),
        "use super::{block::LineRef, Result};\n#[cfg(test)]\nmod tests {\n    use crate::metrics::X;\n}\n",
    )?;
    let edges = imports(src);
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
    assert!(edges.contains_key(&(m("metrics"), m("index"))));
    assert!(edges.contains_key(&(m("index"), m("metrics"))));
    assert!(
        !edges.contains_key(&(m("index::search"), m("metrics"))),
        "test code is not read"
    );
    let found = cycles(&edges);
    assert!(found.contains(&BTreeSet::from([m("metrics"), m("index")])));
    assert!(found.contains(&BTreeSet::from([m("index::block"), m("index::search")])));
    Ok(())
}
