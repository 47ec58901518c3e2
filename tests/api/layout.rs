//! The module layout promised in lib.rs and README: imports run one way,
//! from the leaf modules through sources, names, matcher and incidents to
//! store and sinks; no module imports one downstream of itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules, upstream first: each may import only those
/// before it.
const LAYERS: &[&str] = &[
    "model",
    "parallel",
    "config",
    "http",
    "retry",
    "json",
    "metrics",
    "domain",
    "source",
    "watchlist",
    "tenants",
    "matcher",
    "snapshot",
    "pipeline",
    "bus",
    "store",
    "sink",
    "enrich",
    "relay",
    "generate",
    "export",
    "api",
    "app",
];

/// `crate::<module>` references in a file, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if ["lib", "main", "cli"].contains(&top.as_str()) {
            continue; // the crate root and the binary see everything
        }
        let Some(layer) = LAYERS.iter().position(|l| *l == top) else {
            panic!("src/{top} is not in the layer list of this test");
        };
        for import in imports(&std::fs::read_to_string(file).unwrap()) {
            if import == top {
                continue;
            }
            let Some(to) = LAYERS.iter().position(|l| *l == import) else {
                continue; // `crate::Fqdn` and other re-exports of lib.rs
            };
            assert!(
                to < layer,
                "{} imports crate::{import}, which is downstream of it",
                rel.display()
            );
            graph.entry(LAYERS[layer]).or_default().insert(import);
        }
    }
    for layer in LAYERS {
        let deps: Vec<&str> = graph
            .get(layer)
            .map(|d| d.iter().map(String::as_str).collect())
            .unwrap_or_default();
        println!("{layer:>9} -> {}", deps.join(", "));
    }
}
