//! The layering rule, checked by a test: no import cycle among the files of `src/`. At every level of
//! the module tree, each child (a file, or a directory counted with its `mod.rs` and files as one) is a
//! node, and a `crate::…`, `super::…` or `self::…` path in one child that names another is an edge.
//! Paths naming what a `mod.rs` (or `main.rs`) defines itself are the parent's, not a sibling's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path: `["source", "api"]` for `src/source/api.rs`, `["source"]` for its `mod.rs`.
type ModPath = Vec<String>;

/// Every `.rs` file under `dir` with its module path and whether it is a `mod.rs` (or the root).
fn files(dir: &Path, prefix: &ModPath, out: &mut Vec<(ModPath, bool, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src/ is readable").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut sub = prefix.clone();
            sub.push(name);
            files(&path, &sub, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            let (module, parent) = match stem {
                "mod" | "main" | "lib" => (prefix.clone(), true),
                _ => {
                    let mut module = prefix.clone();
                    module.push(stem.to_owned());
                    (module, false)
                }
            };
            out.push((module, parent, text));
        }
    }
}

/// The code without comments, strings and character literals.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !prev_is_ident(&chars, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The paths that start with `crate`, `super` or `self` in `code`, use-groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let starts = matches!(t, "crate" | "super" | "self")
            && tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts {
            let mut found = Vec::new();
            i = tree(&tokens, i, Vec::new(), &mut found);
            out.extend(found);
        } else {
            i += 1;
        }
    }
    out
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// Reads a path (or a use-tree) from token `i`; returns the index after it.
fn tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        None => return i,
                        _ => i = tree(tokens, i, prefix.clone(), out),
                    }
                }
            }
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(t.to_owned());
                i += 1;
                if tokens.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                    continue;
                }
                out.push(prefix);
                return i;
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
    }
}

/// The edges at each level: (level, from child, to child).
fn edges(src: &Path) -> BTreeSet<(ModPath, String, String)> {
    let mut list = Vec::new();
    files(src, &Vec::new(), &mut list);
    let modules: BTreeSet<ModPath> = list.iter().map(|(m, _, _)| m.clone()).collect();
    let mut edges = BTreeSet::new();
    for (module, is_parent, text) in &list {
        // Where `self` and `super` point from this file.
        let here: ModPath = module.clone();
        for path in paths(&code_only(text)) {
            let mut absolute: ModPath = match path[0].as_str() {
                "crate" => Vec::new(),
                "self" => here.clone(),
                _ => here.clone(),
            };
            let mut rest = &path[..];
            if rest[0] == "crate" || rest[0] == "self" {
                rest = &rest[1..];
            } else {
                while rest.first().map(String::as_str) == Some("super") {
                    absolute.pop();
                    rest = &rest[1..];
                }
            }
            absolute.extend(rest.iter().cloned());
            // The common level and the child on each side of it.
            let common = module.iter().zip(&absolute).take_while(|(a, b)| a == b).count();
            if *is_parent && common == module.len() {
                continue;
            }
            let (Some(from), Some(to)) = (module.get(common), absolute.get(common)) else { continue };
            let level: ModPath = module[..common].to_vec();
            let mut child = level.clone();
            child.push(to.clone());
            if modules.contains(&child) && from != to {
                edges.insert((level, from.clone(), to.clone()));
            }
        }
    }
    edges
}

/// A cycle among the edges of one level, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).expect("on the stack");
                    let mut found = stack[start..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                0 => {
                    if let Some(found) = visit(next, edges, state, stack) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(found) = visit(node, edges, &mut state, &mut stack) {
                return Some(found);
            }
        }
    }
    None
}

/// Every cycle found, one per level, as `level: a -> b -> a`.
pub fn cycles(src: &Path) -> Vec<String> {
    let mut levels: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (level, from, to) in edges(src) {
        levels.entry(level).or_default().entry(from).or_default().insert(to);
    }
    levels
        .iter()
        .filter_map(|(level, edges)| {
            cycle(edges).map(|found| {
                let at = if level.is_empty() { "crate".to_owned() } else { format!("crate::{}", level.join("::")) };
                format!("{at}: {}", found.join(" -> "))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_import_cycle_among_the_files_of_src() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let found = cycles(&src);
        assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
    }

    #[test]
    fn the_answer_stages_use_neither_config_nor_the_sources_nor_aws() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let bad: Vec<String> = edges(&src)
            .into_iter()
            .filter(|(level, from, to)| {
                level.is_empty() && from == "answers" && ["config", "source", "aws"].contains(&to.as_str())
            })
            .map(|(_, from, to)| format!("{from} -> {to}"))
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn paths_are_read_from_code_only() {
        let code =
            code_only("use crate::a::{b, c::{d, e}}; // crate::x::y\nlet s = \"crate::z::w\"; super::f(); '\"';");
        let found = paths(&code);
        let text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
        assert_eq!(text, ["crate::a::b", "crate::a::c::d", "crate::a::c::e", "super::f"]);
    }

    #[test]
    fn a_cycle_is_found_and_shown() {
        let mut edges = BTreeMap::new();
        edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
        edges.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
        edges.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
        assert_eq!(cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
        edges.remove("c");
        assert_eq!(cycle(&edges), None);
    }
}
