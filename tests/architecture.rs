//! The source tree's dependencies point one way: no module of `src/` imports a module that
//! imports it back, directly or through others.
//!
//! A module is a file (`a/mod.rs` is `a`). It depends on another when its non-test code names
//! it: a `crate::x::y` path or a `use crate::{x, y::z}` group, a `super::sibling` path, or,
//! for a folder's `mod.rs`, a `child::` path. A folder's `mod.rs` re-exports its children, so
//! a child that named `crate::its_folder::X` would close a cycle: children name their
//! siblings through `super::`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `credential::policy` for `src/credential/policy.rs`, `daemon` for `src/daemon/mod.rs`.
fn module_name(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code without comments, string contents and the test module (`#[cfg(test)]` or
/// `#[cfg(all(test, ...))]`, then `mod`) at the end.
fn code_of(text: &str) -> String {
    let test_module = text.match_indices("\nmod ").find(|(at, _)| {
        let attribute = text[..*at].rsplit('\n').next().unwrap_or("");
        attribute.starts_with("#[cfg(") && attribute.contains("test")
    });
    let text = match test_module {
        Some((at, _)) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push('"');
            }
            c => out.push(c),
        }
    }
    out
}

/// The `a::b::c` paths that follow `prefix` in `code`.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found: Vec<Vec<&str>> = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let prefix: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        found.push(prefix.clone());
        if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').map_or(rest.len(), |c| end + c);
            for item in rest[end + 1..close].split(',') {
                let mut path = prefix.clone();
                path.extend(
                    item.trim()
                        .split("::")
                        .filter(|s| !s.is_empty() && *s != "self"),
                );
                found.push(path);
            }
        }
    }
    found
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .into_iter()
        .map(|f| (module_name(&src, &f), f))
        .filter(|(m, _)| m != "lib" && m != "main")
        .collect();
    // The longest module named by the start of `path`.
    let resolve = |path: &[&str]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut deps = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            deps.extend(resolve(&path));
        }
        let parent: Vec<&str> = module.split("::").collect();
        let parent = &parent[..parent.len() - 1];
        for path in paths_after(&code, "super::") {
            let full: Vec<&str> = parent.iter().copied().chain(path).collect();
            deps.extend(resolve(&full).or_else(|| (!parent.is_empty()).then(|| parent.join("::"))));
        }
        for child in modules.keys() {
            let Some(name) = child.strip_prefix(&format!("{module}::")) else {
                continue;
            };
            if !name.contains("::") && !paths_after(&code, &format!("{name}::")).is_empty() {
                deps.insert(child.clone());
            }
        }
        deps.remove(module);
        graph.insert(module.clone(), deps);
    }
    graph
}

/// Every cycle's modules, by depth-first search from each module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            found.push(stack[at..].to_vec());
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, found);
        }
        stack.pop();
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = dependencies();
    assert!(graph.len() > 30, "found too few modules: {graph:?}");
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles: {}",
        found
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn nothing_below_the_commands_imports_the_command_line() {
    for (module, deps) in dependencies() {
        if module == "cli" || module.starts_with("cli::") || module.starts_with("commands") {
            continue;
        }
        for dep in deps {
            assert!(
                !(dep == "cli" || dep.starts_with("cli::") || dep.starts_with("commands")),
                "{module} imports {dep}"
            );
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&graph), [["a", "b", "c"]]);
    let code =
        code_of("use crate::{config::Flags, token};\n// crate::daemon\nfn f() { super::x::y(); }");
    assert_eq!(
        paths_after(&code, "crate::"),
        [vec![], vec!["config", "Flags"], vec!["token"]]
    );
    assert_eq!(paths_after(&code, "super::"), [vec!["x", "y"]]);
}

#[test]
fn git_is_started_in_one_module_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let starters: Vec<String> = files
        .iter()
        .filter(|f| {
            let code = std::fs::read_to_string(f).unwrap();
            code.contains("Command::new(\"git\")")
        })
        .map(|f| module_name(&src, f))
        .collect();
    assert_eq!(starters, ["git::runner"]);
}
