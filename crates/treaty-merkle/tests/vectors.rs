//! The transparency-dev/merkle conformance vectors, read from `../shared/vectors`.
//!
//! Every file with `wantErr: false` must verify and every file with `wantErr: true` must
//! fail. Roots and hashes that are not 32 bytes cannot be represented as a [`Hash`]: they are
//! rejected at parse time, which STANDARDS.md calls correct. The only `wantErr: false` file
//! that is rejected that way is listed in `PARSE_REJECTED_BUT_VALID` (two equal 12-byte
//! "roots" of a size-1 tree): a 12-byte value is never a SHA-256 root, so we refuse it.

use base64::Engine as _;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use treaty_merkle::{Hash, verify_consistency, verify_inclusion};

const PARSE_REJECTED_BUT_VALID: &[&str] = &["sizes-are-equal-one-and-proof-is-empty.json"];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/transparency-dev-merkle/testdata")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn hash(b64: &str) -> Option<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()?
        .try_into()
        .ok()
}

fn hashes(list: &Option<Vec<String>>) -> Option<Vec<Hash>> {
    list.iter().flatten().map(|s| hash(s)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

/// Runs one kind of vector; returns how many files were checked.
fn run<T: for<'de> Deserialize<'de>>(
    kind: &str,
    want_err: fn(&T) -> bool,
    check: fn(&T) -> Option<bool>,
) -> usize {
    let mut files = Vec::new();
    json_files(&vectors_dir().join(kind), &mut files);
    assert!(files.len() > 50, "too few {kind} vectors: {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read vector");
        let v: T =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match check(&v) {
            // Parsed: the verdict must match.
            Some(ok) => {
                if ok == want_err(&v) {
                    failures.push(format!("{}: verified={ok}", path.display()));
                }
            }
            // Rejected at parse time: correct for error vectors and for the listed files.
            None => {
                if !want_err(&v) && !PARSE_REJECTED_BUT_VALID.contains(&name) {
                    failures.push(format!("{}: rejected at parse time", path.display()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    files.len()
}

#[test]
fn inclusion_vectors() {
    let n = run::<Inclusion>(
        "inclusion",
        |v| v.want_err,
        |v| {
            let root = hash(&v.root)?;
            let leaf = hash(&v.leaf_hash)?;
            let proof = hashes(&v.proof)?;
            Some(verify_inclusion(v.leaf_idx, v.tree_size, &leaf, &proof, &root).is_ok())
        },
    );
    eprintln!("checked {n} inclusion vectors");
}

#[test]
fn consistency_vectors() {
    let n = run::<Consistency>(
        "consistency",
        |v| v.want_err,
        |v| {
            let root1 = hash(&v.root1)?;
            let root2 = hash(&v.root2)?;
            let proof = hashes(&v.proof)?;
            Some(verify_consistency(v.size1, v.size2, &proof, &root1, &root2).is_ok())
        },
    );
    eprintln!("checked {n} consistency vectors");
}
