//! Every rule id the crate cites exists in `spec/rules.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PREFIXES: [&str; 5] = ["CORE-", "HTTP-", "WS-", "LIFE-", "EXT-"];

/// Every `PREFIX-NNN` (three digits) in `text`.
fn rule_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for prefix in PREFIXES {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let boundary_before = rest[..at]
                .chars()
                .next_back()
                .map_or(true, |c| !c.is_ascii_alphanumeric());
            if digits.len() == 3 && boundary_before {
                ids.insert(format!("{prefix}{digits}"));
            }
            rest = &rest[at + prefix.len()..];
        }
    }
    ids
}

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

#[test]
fn every_cited_rule_is_in_the_spec() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("../spec/rules.md")).unwrap();
    let defined: BTreeSet<String> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .filter(|id| rule_ids(id).contains(id))
        .collect();
    assert!(
        defined.len() > 50,
        "spec/rules.md parsed to {} ids",
        defined.len()
    );
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let mut cited = BTreeSet::new();
    let mut missing = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for id in rule_ids(&text) {
            if !defined.contains(&id) {
                missing.push(format!("{id} in {}", file.display()));
            }
            cited.insert(id);
        }
    }
    assert!(
        cited.len() > 40,
        "only {} rule ids found in the sources",
        cited.len()
    );
    assert!(
        missing.is_empty(),
        "rule ids cited but not in spec/rules.md: {missing:?}"
    );
}

#[test]
fn the_scanner_finds_ids() {
    assert_eq!(
        rule_ids("see HTTP-020 and (CORE-004), not XHTTP-020 nor HTTP-20"),
        ["CORE-004", "HTTP-020"].map(String::from).into()
    );
}
