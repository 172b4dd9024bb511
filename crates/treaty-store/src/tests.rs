use super::*;
use treaty_merkle::{leaf_hash, verify_consistency, verify_inclusion};

fn entry(i: u64, key: &str, version: u64) -> PreparedEntry {
    let leaf = format!("{{\"body\":{{\"n\":{i}}},\"kind\":\"record\"}}").into_bytes();
    PreparedEntry {
        leaf_hash: leaf_hash(&leaf),
        leaf,
        collection: "receipt".into(),
        key: key.into(),
        version,
        op: Operation::Put,
        time_ms: 1000 + i,
        body: None,
        effect: Effect::Record,
    }
}

/// Commits `n` entries as one batch, the way the sequencer does.
fn commit(w: &mut Writer, keys: &[(&str, u64)]) -> StoredCheckpoint {
    let size = w.ledger_size().expect("size");
    let mut range = w.compact_range(size).expect("range");
    let entries: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, (k, v))| entry(size + i as u64, k, *v))
        .collect();
    let mut hashes = Vec::new();
    for e in &entries {
        range.append(e.leaf_hash, |h| hashes.push(h));
    }
    let cp = StoredCheckpoint {
        size: range.size(),
        root: range.root(),
        note: format!("note {}", range.size()),
        signed_ms: 5,
    };
    w.commit_batch(&BatchCommit {
        first_index: size,
        entries: &entries,
        hashes: &hashes,
        checkpoint: &cp,
    })
    .expect("commit");
    cp
}

#[test]
fn batches_persist_and_prove() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t.db");
    let mut w = Writer::open(&path).expect("open");
    let cp1 = commit(&mut w, &[("a", 1), ("b", 1), ("c", 1)]);
    let cp2 = commit(&mut w, &[("a", 2), ("d", 1), ("e", 1), ("f", 1), ("g", 1)]);
    drop(w);

    // Reopen: everything is still there and self-consistent.
    let w = Writer::open(&path).expect("reopen");
    assert_eq!(w.ledger_size().expect("size"), 8);
    assert_eq!(w.latest_checkpoint().expect("cp"), Some(cp2.clone()));
    assert_eq!(w.root_at(3).expect("root"), cp1.root);
    assert_eq!(
        w.record_head("receipt", "a").expect("head"),
        Some((2, Operation::Put))
    );

    let r = Reader::open(&path).expect("reader");
    let proof = r.consistency_proof(3, 8).expect("proof");
    verify_consistency(3, 8, &proof, &cp1.root, &cp2.root).expect("consistent");
    let entries = r.entries(0, 100).expect("entries");
    assert_eq!(entries.len(), 8);
    for e in &entries {
        let proof = r.inclusion_proof(e.index, 8).expect("proof");
        verify_inclusion(e.index, 8, &e.leaf_hash, &proof, &cp2.root).expect("included");
    }
    let a = r.record("receipt", "a").expect("get").expect("exists");
    assert_eq!((a.version, a.ledger_index), (2, 3));
    assert_eq!(a.body, Some(serde_json::json!({"n": 3})));
    // Listing follows ledger order of the latest change.
    let keys: Vec<_> = r
        .list_records("receipt", None, None, 100)
        .expect("list")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["b", "c", "a", "d", "e", "f", "g"]);
    let page: Vec<_> = r
        .list_records("receipt", Some(3), None, 2)
        .expect("list")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(page, ["d", "e"]);
}

#[test]
fn a_batch_that_does_not_continue_the_ledger_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t.db");
    let mut w = Writer::open(&path).expect("open");
    commit(&mut w, &[("a", 1)]);
    let e = entry(5, "z", 1);
    let cp = StoredCheckpoint {
        size: 6,
        root: [0; 32],
        note: String::new(),
        signed_ms: 0,
    };
    let err = w
        .commit_batch(&BatchCommit {
            first_index: 5,
            entries: &[e],
            hashes: &[],
            checkpoint: &cp,
        })
        .expect_err("gap");
    assert!(matches!(err, StoreError::Corrupt(_)));
    assert_eq!(w.ledger_size().expect("size"), 1);
    assert_eq!(w.latest_checkpoint().expect("cp").map(|c| c.size), Some(1));
}

#[test]
fn tokens_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = Writer::open(&dir.path().join("t.db")).expect("open");
    let t = TokenRow {
        id: "tok1".into(),
        hash: [7; 32],
        name: "ci".into(),
        collections: Some(vec!["receipt".into()]),
        created_ms: 1,
        revoked_ms: None,
    };
    w.put_token(&t).expect("put");
    assert_eq!(w.tokens().expect("list"), vec![t.clone()]);
    assert!(w.revoke_token("tok1", 9).expect("revoke"));
    assert!(!w.revoke_token("tok1", 10).expect("again"));
    assert_eq!(w.tokens().expect("list")[0].revoked_ms, Some(9));
}
