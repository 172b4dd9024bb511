//! Writes sample `.ots` files for an independent check with the Python reference
//! implementation, and reads files that Python wrote. Not part of `cargo test`: see
//! `tests/python/crosscheck.py` for how to run it.
//!
//! `cargo run -p treaty-anchor --example ots_samples -- write <dir>` writes `*.ots` and
//! `expected.json` (every attestation's message, as this crate evaluates it);
//! `... -- check <dir>` parses every `py-*.ots` there, checks that it re-serializes to the
//! same bytes, and prints the attestations.

use std::error::Error;
use std::path::Path;
use treaty_anchor::node::{
    anchor_entry, anchor_leaf_hash, node_leaf_timestamp, node_pending_timestamp,
};
use treaty_anchor::ots::{Attestation, DetachedTimestampFile, Op, Timestamp};
use treaty_merkle::{MemoryHashStore, inclusion_proof, leaf_hash};
use treaty_note::{Checkpoint, Note};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("write"), Some(dir)) => write(Path::new(dir)),
        (Some("check"), Some(dir)) => check(Path::new(dir)),
        _ => Err("usage: ots_samples write|check <dir>".into()),
    }
}

fn node_note(origin: &str, tree: &MemoryHashStore, seed: u8) -> Result<String, Box<dyn Error>> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let checkpoint = Checkpoint::new(origin, tree.size(), tree.root())?;
    let mut note = Note::new(checkpoint.to_body())?;
    note.sign(origin, &key)?;
    Ok(note.to_string())
}

fn write(dir: &Path) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let root = [0x5au8; 32];
    let mut expected = serde_json::Map::new();
    let mut save = |name: &str, file: &DetachedTimestampFile| -> Result<(), Box<dyn Error>> {
        std::fs::write(dir.join(name), file.to_bytes()?)?;
        let found: Vec<serde_json::Value> = file
            .evaluate()?
            .into_iter()
            .map(|e| {
                serde_json::json!({
                    "message": hex::encode(&e.message),
                    "tag": hex::encode(e.attestation.tag()),
                })
            })
            .collect();
        expected.insert(name.to_owned(), serde_json::Value::Array(found));
        Ok(())
    };

    // 1. A Treaty node's pending answer, as a file for the root.
    let url_a = "http://node-a.example:8080";
    let pending = DetachedTimestampFile::sha256(root, node_pending_timestamp(&root, url_a)?);
    save("node-pending.ots", &pending)?;

    // 2. Upgraded: the node's ledger has 5 entries, the anchor at index 3.
    let origin = "node-a.example/ledger";
    let mut tree = MemoryHashStore::new();
    for i in 0..3u8 {
        tree.append(leaf_hash(&[i]));
    }
    tree.append(leaf_hash(&anchor_entry(&root)?));
    tree.append(leaf_hash(b"later"));
    let note = node_note(origin, &tree, 1)?;
    let leaf = anchor_leaf_hash(&root)?;
    let proof = inclusion_proof(3, 5, &tree)?;
    let answer = node_leaf_timestamp(&leaf, 3, 5, &proof, &note, origin)?;
    let mut completed = pending.clone();
    completed.upgrade(&leaf, url_a, &answer)?;
    save("node-completed.ots", &completed)?;

    // 3. Two nodes, one completed, one pending: two branches at the first node.
    let mut merged = completed.clone();
    merged.merge_answer(node_pending_timestamp(&root, "http://node-b.example:8080")?);
    save("two-nodes.ots", &merged)?;

    // 4. Many branches at one node, added out of order: the canonical order must be the
    // reference's (attestations first, by tag then content; ops by tag then argument).
    let mut t = Timestamp::new();
    t.add_op(
        Op::Append(vec![2]),
        Timestamp::with_attestation(Attestation::pending("https://b.example")?),
    );
    t.add_attestation(Attestation::pending("https://z.example")?);
    t.add_op(
        Op::Sha256,
        Timestamp::with_attestation(Attestation::Bitcoin { height: 358_391 }),
    );
    t.add_attestation(Attestation::Bitcoin { height: 7 });
    t.add_op(
        Op::Append(vec![1, 9]),
        Timestamp::with_attestation(Attestation::Unknown {
            tag: *b"\x01\x02\x03\x04\x05\x06\x07\x08",
            payload: b"opaque".to_vec(),
        }),
    );
    t.add_attestation(Attestation::pending("https://a.example")?);
    t.add_op(
        Op::Prepend(vec![0xff; 40]),
        Timestamp::chain(
            vec![Op::Hexlify, Op::Sha256, Op::Reverse],
            Timestamp::with_attestation(Attestation::Bitcoin { height: 1 << 40 }),
        ),
    );
    t.add_op(
        Op::Append(vec![1]),
        Timestamp::with_attestation(Attestation::pending("https://c.example")?),
    );
    save("many-branches.ots", &DetachedTimestampFile::sha256(root, t))?;

    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_vec_pretty(&serde_json::Value::Object(expected))?,
    )?;
    println!("wrote samples to {}", dir.display());
    Ok(())
}

fn check(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.starts_with("py-") && name.ends_with(".ots")) {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let file = DetachedTimestampFile::parse(&bytes)?;
        if file.to_bytes()? != bytes {
            return Err(format!("{name}: re-serialization differs").into());
        }
        for e in file.evaluate()? {
            println!(
                "{name}: {} on {}",
                hex::encode(e.attestation.tag()),
                hex::encode(&e.message)
            );
        }
        n += 1;
    }
    println!("{n} Python-written files parsed and re-serialized byte for byte");
    Ok(())
}
