//! The house rules ARCHITECTURE.md states, checked on the source: the top-level modules import
//! only the layers below them, no module imports one that imports it back (at any depth:
//! `report/matrix.rs` and `report/proof.rs` once did), and no file is over 350 lines.
//!
//! Imports are read from the text: every `crate::`, `super::` and `self::` path outside
//! comments (with its `{...}` groups), resolved to the deepest module it names. A path to an
//! ancestor (a child using what its parent defines) or to a descendant (a parent re-exporting
//! its children) is not an import between siblings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, top to bottom: each may import only those after it.
const LAYERS: &[&str] = &[
    "cli",
    "proxy",
    "matrix",
    "schedules",
    "server",
    "hammer",
    "report",
    "engines",
    "methods",
    "api",
    "signals",
    "model",
];

const MAX_LINES: usize = 350;

type ModPath = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The module a file is: `engines/postgres/mod.rs` is `engines::postgres`, a `lex_tests.rs`
/// (included with `#[path]`) is `lex::tests`; None for the crate's roots.
fn module_of(relative: &Path) -> Option<ModPath> {
    let mut parts: ModPath = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop()?.trim_end_matches(".rs").to_string();
    if parts.is_empty() && (file == "lib" || file == "main") {
        return None;
    }
    match file.strip_suffix("_tests") {
        _ if file == "mod" => {}
        Some(tested) => parts.extend([tested.to_string(), "tests".to_string()]),
        None => parts.push(file),
    }
    Some(parts)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The text without comment lines (doc comments name modules they do not import).
fn code_of(text: &str) -> String {
    let lines = text.lines().filter(|l| !l.trim_start().starts_with("//"));
    lines.collect::<Vec<_>>().join("\n")
}

/// Every path the code names from `crate`, `super` or `self`, as (base, segments): base is
/// the module the path starts from, segments the identifiers after it (one path per item of
/// a `{...}` group, by its first identifier).
fn paths_in(code: &str, module: &ModPath) -> Vec<(ModPath, Vec<String>)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        let word: String = chars[i..].iter().take_while(|c| is_ident(**c)).collect();
        if !starts_word || word.is_empty() {
            i += 1;
            continue;
        }
        let after = i + word.len();
        let followed = chars[after..].starts_with(&[':', ':']);
        let mut base = match word.as_str() {
            "crate" if followed => ModPath::new(),
            "super" | "self" if followed => module.clone(),
            _ => {
                i = after;
                continue;
            }
        };
        if word == "super" {
            base.pop();
        }
        let mut j = after;
        let mut segments = Vec::new();
        while chars[j..].starts_with(&[':', ':']) {
            j += 2;
            let ident: String = chars[j..].iter().take_while(|c| is_ident(**c)).collect();
            if ident.is_empty() {
                break;
            }
            j += ident.len();
            match ident.as_str() {
                "super" if segments.is_empty() => {
                    base.pop();
                }
                _ => segments.push(ident),
            }
        }
        if chars.get(j) == Some(&'{') {
            for item in group_items(&chars[j + 1..]) {
                let mut with_item = segments.clone();
                with_item.push(item);
                found.push((base.clone(), with_item));
            }
        } else {
            found.push((base, segments));
        }
        i = j.max(i + 1);
    }
    found
}

/// The first identifier of each top-level item of a `{...}` group (`self` and `*` left out:
/// they name the group's own module).
fn group_items(rest: &[char]) -> Vec<String> {
    let (mut depth, mut items, mut current) = (0, Vec::new(), String::new());
    for &c in rest {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    items.push(current);
    let firsts = items.iter().map(|item| {
        let item = item.trim();
        item.chars()
            .take_while(|c| is_ident(*c))
            .collect::<String>()
    });
    firsts
        .filter(|first| !first.is_empty() && first != "self")
        .collect()
}

/// The deepest known module `base` + `segments` names.
fn resolve(base: ModPath, segments: &[String], modules: &BTreeSet<ModPath>) -> ModPath {
    let mut path = base;
    for segment in segments {
        path.push(segment.clone());
        if !modules.contains(&path) {
            path.pop();
            break;
        }
    }
    path
}

/// Under each parent module (the crate's root is `[]`), which child imports which sibling,
/// with a file that does.
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), String>>;

fn import_edges() -> Edges {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeSet::new();
    let mut parsed = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_path_buf();
        let Some(module) = module_of(&relative) else {
            continue;
        };
        for depth in 1..=module.len() {
            modules.insert(module[..depth].to_vec());
        }
        parsed.push((
            relative,
            module,
            code_of(&std::fs::read_to_string(&file).unwrap()),
        ));
    }
    let mut edges = Edges::new();
    for (relative, module, code) in &parsed {
        for (base, segments) in paths_in(code, module) {
            let target = resolve(base, &segments, &modules);
            let shared = module.iter().zip(&target).take_while(|(a, b)| a == b);
            let depth = shared.count();
            if depth == module.len() || depth == target.len() {
                continue;
            }
            let pair = (module[depth].clone(), target[depth].clone());
            let shown = relative.display().to_string();
            let group = edges.entry(module[..depth].to_vec()).or_default();
            group.entry(pair).or_insert(shown);
        }
    }
    edges
}

/// A cycle among `edges` (as the modules around it), if there is one.
fn find_cycle(edges: &BTreeMap<(String, String), String>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<(String, String), String>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for (from, to) in edges.keys() {
            if from == node
                && let Some(cycle) = visit(to, edges, stack, done)
            {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let (mut stack, mut done) = (Vec::new(), BTreeSet::new());
    let nodes: BTreeSet<&String> = edges.keys().map(|(from, _)| from).collect();
    nodes
        .into_iter()
        .find_map(|node| visit(node, edges, &mut stack, &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = import_edges();
    assert!(
        edges.get(&ModPath::new()).is_some_and(|top| top.len() > 10),
        "the reader found too few imports between top-level modules: {edges:?}"
    );
    let mut loops = Vec::new();
    for (parent, group) in &edges {
        if let Some(cycle) = find_cycle(group) {
            let prefix = match parent.is_empty() {
                true => "crate".to_string(),
                false => parent.join("::"),
            };
            let steps = cycle.windows(2).map(|pair| {
                let file = &group[&(pair[0].clone(), pair[1].clone())];
                format!("{} -> {} ({file})", pair[0], pair[1])
            });
            loops.push(format!(
                "in {prefix}: {}",
                steps.collect::<Vec<_>>().join(", ")
            ));
        }
    }
    assert!(loops.is_empty(), "import loops:\n{}", loops.join("\n"));
}

#[test]
fn top_level_modules_import_only_the_layers_below() {
    let edges = import_edges();
    let rank = |name: &str| LAYERS.iter().position(|layer| *layer == name);
    let mut upward = Vec::new();
    for ((from, to), file) in edges.get(&ModPath::new()).into_iter().flatten() {
        match (rank(from), rank(to)) {
            (Some(a), Some(b)) if a < b => {}
            (Some(_), Some(_)) => upward.push(format!("{from} imports {to} ({file})")),
            _ => upward.push(format!(
                "{from} -> {to} ({file}): a module missing from LAYERS (and ARCHITECTURE.md)"
            )),
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_file_is_over_350_lines() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().display().to_string();
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines > MAX_LINES {
            long.push(format!("{relative}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}
