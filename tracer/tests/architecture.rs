//! The module layout is the data path (see DESIGN.md), and these tests keep it so, by reading
//! the sources (no root, no kernel): no import cycles between the top-level modules of
//! `tracer/src`, aya only in `probe` (the kernel boundary), clap only in `cmd` (the command
//! line). A cycle or a stray import fails with the modules and the file that made it.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Top-level module name -> its source files (`x.rs`, or `x/**/*.rs` with `x.rs` if any).
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let files = modules.entry(name).or_default();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code of a file without its comments (`//` to the end of the line), so that prose
/// naming a module is not an import.
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `text` uses: `crate::name` paths, also inside `use crate::{...}`.
fn used_modules(text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e::f}`: the names at the group's top level.
            let mut depth = 0;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    c if depth == 0 && (c.is_alphanumeric() || c == '_') => name.push(c),
                    ',' if depth == 0 => {
                        used.insert(std::mem::take(&mut name));
                    }
                    ':' if depth == 0 && !name.is_empty() => {
                        used.insert(std::mem::take(&mut name));
                    }
                    _ => {}
                }
            }
            used.insert(name);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used.retain(|name| known.contains(name));
    used
}

/// Module -> the modules it uses, with a file that uses each.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (name, files) in &modules {
        let edges: &mut BTreeMap<String, PathBuf> = graph.entry(name.clone()).or_default();
        for file in files {
            for used in used_modules(&code(file), &known) {
                if &used != name {
                    edges.entry(used).or_insert_with(|| file.clone());
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, as the list of modules on it, if there is one.
fn cycle_from(
    graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
    start: &str,
) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flat_map(BTreeMap::keys) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    visit(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    let graph = graph();
    assert!(
        graph.len() > 5,
        "the scan finds the modules: {:?}",
        graph.keys()
    );
    assert!(
        graph["cmd"].contains_key("collect"),
        "the scan finds imports: {graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            let hops: Vec<String> = cycle
                .iter()
                .zip(cycle.iter().cycle().skip(1))
                .map(|(from, to)| format!("{from} -> {to} ({})", graph[from][to].display()))
                .collect();
            panic!("import cycle: {}", hops.join(", "));
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let edge = |to: &str| BTreeMap::from([(to.to_owned(), PathBuf::from("x.rs"))]);
    let graph = BTreeMap::from([
        ("a".to_owned(), edge("b")),
        ("b".to_owned(), edge("c")),
        ("c".to_owned(), edge("a")),
        ("d".to_owned(), edge("a")),
    ]);
    assert_eq!(cycle_from(&graph, "a").unwrap(), ["a", "b", "c"]);
    assert_eq!(cycle_from(&graph, "d"), None);
    let known: BTreeSet<String> = ["probe", "run", "collect"].map(String::from).into();
    assert_eq!(
        used_modules(
            "use crate::{probe::{A, B}, run::{self, Run}};\nlet x = crate::collect::f();",
            &known
        ),
        known
    );
}

/// Files outside `allowed` whose code names `crate_name` (`use x`, `x::`).
fn users_outside(crate_name: &str, allowed: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for (name, files) in modules() {
        if name == allowed {
            continue;
        }
        for file in files {
            let text = code(&file);
            if text.contains(&format!("{crate_name}::"))
                || text.contains(&format!("use {crate_name}"))
            {
                found.push(file);
            }
        }
    }
    found
}

#[test]
fn only_probe_uses_aya() {
    assert_eq!(users_outside("aya", "probe"), Vec::<PathBuf>::new());
}

#[test]
fn only_cmd_uses_clap() {
    assert_eq!(users_outside("clap", "cmd"), Vec::<PathBuf>::new());
}
