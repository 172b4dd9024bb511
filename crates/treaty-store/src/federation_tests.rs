use super::*;
use crate::{BatchCommit, Effect, PreparedEntry, StoredCheckpoint};
use serde_json::json;
use std::path::{Path, PathBuf};
use treaty_merkle::leaf_hash;
use treaty_types::{LedgerEntry, Operation};

fn db() -> (tempfile::TempDir, PathBuf, Writer) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fed.db");
    let w = Writer::open(&path).expect("open");
    (dir, path, w)
}

fn peer(id: &str, node_id: &str, created_ms: u64) -> PeerRow {
    PeerRow {
        id: id.into(),
        node_id: node_id.into(),
        name: format!("peer {id}"),
        base_url: format!("https://{node_id}.example"),
        card_url: format!("https://{node_id}.example/.well-known/treaty-card"),
        callback_url: format!("https://{node_id}.example/v1/federation/callback"),
        status: "pending".into(),
        status_reason: None,
        card: None,
        jwks: None,
        kid: None,
        spiffe_id: None,
        ca_fingerprint: None,
        verifier_key: None,
        license_id: None,
        created_ms,
        updated_ms: created_ms,
        last_verified_ms: None,
        last_synced_ms: None,
        hops: 1,
        via_peer: None,
        card_seq: 0,
        card_etag: None,
    }
}

/// `p` with the card sequence the store assigned it.
fn with_seq(p: &PeerRow, card_seq: u64) -> PeerRow {
    PeerRow {
        card_seq,
        ..p.clone()
    }
}

fn license(id: &str, hash: u8, created_ms: u64) -> LicenseRow {
    LicenseRow {
        id: id.into(),
        hash: [hash; 32],
        name: format!("license {id}"),
        tier: "standard".into(),
        max_records: 10_000,
        max_events_per_minute: 600,
        status: "issued".into(),
        peer_id: None,
        created_ms,
        updated_ms: created_ms,
    }
}

fn proposal(id: &str, peer_id: &str, created_ms: u64) -> ProposalRow {
    ProposalRow {
        id: id.into(),
        peer_id: peer_id.into(),
        direction: "outgoing".into(),
        status: "offered".into(),
        awaiting: Some("node-b".into()),
        round: 1,
        trust_level: 2,
        expires_at: 1_800_000_000,
        thread: json!([{"type": "offer", "round": 1}]),
        created_ms,
        updated_ms: created_ms,
    }
}

fn agreement(id: &str, proposal_id: &str, peer_id: &str, established_ms: u64) -> AgreementRow {
    AgreementRow {
        id: id.into(),
        proposal_id: proposal_id.into(),
        peer_id: peer_id.into(),
        trust_level: 2,
        terms: json!({"sync": true, "max_records": 100}),
        document: json!({"agreement_id": id, "signatures": ["a", "b"]}),
        hash: format!("sha256:{}", "ab".repeat(32)),
        status: "active".into(),
        established_ms,
        revocation: None,
        effective_ms: None,
    }
}

/// A record entry for key `key`, as the sequencer prepares it.
fn record_entry(key: &str, version: u64) -> PreparedEntry {
    let body = json!({"k": key, "v": version});
    let leaf = LedgerEntry::Record {
        collection: treaty_types::CollectionName::parse("receipt").expect("name"),
        key: treaty_types::RecordKey::parse(key).expect("key"),
        version,
        op: Operation::Put,
        body: Some(body.clone()),
        time_ms: 7,
    }
    .to_leaf_bytes()
    .expect("leaf");
    PreparedEntry {
        leaf_hash: leaf_hash(&leaf),
        leaf,
        collection: "receipt".into(),
        key: key.into(),
        version,
        op: Operation::Put,
        time_ms: 7,
        body: Some(body),
        effect: Effect::Record,
    }
}

/// A federation entry carrying `op`, as the sequencer prepares it.
fn fed_entry(document: serde_json::Value, op: FedOp) -> PreparedEntry {
    let leaf = LedgerEntry::FedTrustProposal {
        document,
        time_ms: 9,
    }
    .to_leaf_bytes()
    .expect("leaf");
    PreparedEntry {
        leaf_hash: leaf_hash(&leaf),
        leaf,
        collection: String::new(),
        key: String::new(),
        version: 0,
        op: Operation::Put,
        time_ms: 9,
        body: None,
        effect: Effect::Federation(Box::new(op)),
    }
}

/// Commits `entries` as one batch continuing the ledger; `checkpoint_size` overrides the size
/// the checkpoint claims (to make the batch inconsistent).
fn commit(
    w: &mut Writer,
    entries: &[PreparedEntry],
    checkpoint_size: Option<u64>,
) -> Result<(), StoreError> {
    let size = w.ledger_size().expect("size");
    let mut range = w.compact_range(size).expect("range");
    let mut hashes = Vec::new();
    for e in entries {
        range.append(e.leaf_hash, |h| hashes.push(h));
    }
    let cp = StoredCheckpoint {
        size: checkpoint_size.unwrap_or(range.size()),
        root: range.root(),
        note: format!("note {}", range.size()),
        signed_ms: 9,
    };
    w.commit_batch(&BatchCommit {
        first_index: size,
        entries,
        hashes: &hashes,
        checkpoint: &cp,
    })
}

fn count_rows(path: &Path, table: &str) -> i64 {
    let conn = Connection::open(path).expect("conn");
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[test]
fn peers_upsert_list_and_find() {
    let (_dir, path, mut w) = db();
    assert_eq!(w.peers().expect("peers"), vec![]);
    let b = peer("p-b", "node-b", 20);
    let a = peer("p-a", "node-a", 10);
    let c = peer("p-c", "node-c", 20);
    for p in [&b, &a, &c] {
        w.upsert_peer(p).expect("insert");
    }
    // New rows get card sequences in write order; the value written is ignored.
    let (b, a, c) = (with_seq(&b, 1), with_seq(&a, 2), with_seq(&c, 3));
    // Oldest first; ties by id.
    assert_eq!(
        w.peers().expect("peers"),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(w.peer_count().expect("count"), 3);
    assert_eq!(w.peer("p-b").expect("peer"), Some(b.clone()));
    assert_eq!(w.peer("nope").expect("peer"), None);
    assert_eq!(w.peer_by_node_id("node-c").expect("peer"), Some(c.clone()));
    assert_eq!(w.peer_by_node_id("node-x").expect("peer"), None);

    // Upsert by id replaces every column, documents included; node_id may change too.
    let mut b2 = b.clone();
    b2.node_id = "node-b2".into();
    b2.status = "active".into();
    b2.status_reason = Some("card verified".into());
    b2.card = Some(json!({"node_id": "node-b2", "keys": [{"kid": "k1"}]}));
    b2.jwks = Some(json!({"keys": []}));
    b2.kid = Some("k1".into());
    b2.spiffe_id = Some("spiffe://b.example/treaty".into());
    b2.ca_fingerprint = Some("sha256:00".into());
    b2.verifier_key = Some("b.example+01234567+AQ==".into());
    b2.license_id = Some("lic-1".into());
    b2.updated_ms = 30;
    b2.last_verified_ms = Some(30);
    b2.last_synced_ms = Some(31);
    b2.hops = 2;
    b2.via_peer = Some("p-a".into());
    b2.card_etag = Some("\"etag-1\"".into());
    b2.card_seq = 99;
    w.upsert_peer(&b2).expect("replace");
    // Card, status and hops changed: the next sequence, not the one written.
    let b2 = with_seq(&b2, 4);
    assert_eq!(w.peer("p-b").expect("peer"), Some(b2.clone()));
    assert_eq!(w.peer_by_node_id("node-b").expect("peer"), None);
    assert_eq!(
        w.peer_by_node_id("node-b2").expect("peer"),
        Some(b2.clone())
    );
    assert_eq!(w.peer_count().expect("count"), 3);
    // And back to no documents.
    w.upsert_peer(&b).expect("replace again");
    let b = with_seq(&b, 5);
    assert_eq!(w.peer("p-b").expect("peer"), Some(b.clone()));

    // The read pool sees the same.
    let r = Reader::open(&path).expect("reader");
    assert_eq!(r.peers().expect("peers"), vec![a, b.clone(), c]);
    assert_eq!(r.peer("p-b").expect("peer"), Some(b.clone()));
    assert_eq!(r.peer_by_node_id("node-b").expect("peer"), Some(b));
    assert_eq!(r.peer_count().expect("count"), 3);
}

#[test]
fn a_node_id_belongs_to_one_peer() {
    let (_dir, _path, mut w) = db();
    let a = peer("p-a", "node-a", 10);
    w.upsert_peer(&a).expect("insert");
    let a = with_seq(&a, 1);
    w.upsert_peer(&peer("p-b", "node-b", 11)).expect("insert");
    // A new peer with a taken node id.
    let err = w
        .upsert_peer(&peer("p-c", "node-a", 12))
        .expect_err("taken");
    assert!(
        matches!(&err, StoreError::Conflict { what: "peer node_id", value, holder }
            if value == "node-a" && holder == "p-a"),
        "{err}"
    );
    // A card nested too deep to be read back: refused.
    let mut deep = json!({});
    for _ in 0..=STORED_JSON_DEPTH_MAX {
        deep = json!({"d": deep});
    }
    let mut c = peer("p-c", "node-c", 12);
    c.card = Some(deep.clone());
    assert!(matches!(w.upsert_peer(&c), Err(StoreError::Invalid(_))));
    c.card = None;
    c.jwks = Some(deep);
    assert!(matches!(w.upsert_peer(&c), Err(StoreError::Invalid(_))));
    // Hops 0 is no distance at all: refused.
    c.jwks = None;
    c.hops = 0;
    assert!(matches!(w.upsert_peer(&c), Err(StoreError::Invalid(_))));
    // An existing peer moving to a taken node id.
    let err = w
        .upsert_peer(&peer("p-b", "node-a", 11))
        .expect_err("taken");
    assert!(matches!(err, StoreError::Conflict { .. }));
    // Nothing changed.
    assert_eq!(w.peer_count().expect("count"), 2);
    assert_eq!(
        w.peer("p-b").expect("peer").map(|p| p.node_id),
        Some("node-b".into())
    );
    assert_eq!(w.peer_by_node_id("node-a").expect("peer"), Some(a));
}

#[test]
fn failures_keep_the_newest_per_peer() {
    let (_dir, path, mut w) = db();
    w.upsert_peer(&peer("p-a", "node-a", 1)).expect("a");
    w.upsert_peer(&peer("p-b", "node-b", 2)).expect("b");
    let failure = |i: u64| PeerFailure {
        at_ms: 1000 + i,
        code: format!("code_{i}"),
        detail: format!("failure {i}"),
    };
    for i in 0..(PEER_FAILURES_KEPT as u64 + 7) {
        assert!(w.add_peer_failure("p-a", &failure(i)).expect("add"));
    }
    assert!(w.add_peer_failure("p-b", &failure(0)).expect("add"));
    let kept = w.peer_failures("p-a", 100).expect("failures");
    assert_eq!(kept.len(), PEER_FAILURES_KEPT);
    // Newest first: 26 down to 7.
    let expected: Vec<_> = (7..(PEER_FAILURES_KEPT as u64 + 7))
        .rev()
        .map(failure)
        .collect();
    assert_eq!(kept, expected);
    assert_eq!(
        w.peer_failures("p-a", 3).expect("failures"),
        expected[..3].to_vec()
    );
    assert_eq!(w.peer_failures("p-a", 0).expect("failures"), vec![]);
    // The other peer's failures are its own.
    assert_eq!(
        w.peer_failures("p-b", 100).expect("failures"),
        vec![failure(0)]
    );
    assert_eq!(
        count_rows(&path, "peer_failures"),
        PEER_FAILURES_KEPT as i64 + 1
    );
    // Unknown peers get none.
    assert!(!w.add_peer_failure("nope", &failure(1)).expect("add"));
    assert_eq!(w.peer_failures("nope", 100).expect("failures"), vec![]);
    // Overlong texts are cut at a character boundary.
    let long = PeerFailure {
        at_ms: 5,
        code: "c".repeat(500),
        detail: "é".repeat(PEER_FAILURE_DETAIL_BYTES_MAX),
    };
    assert!(w.add_peer_failure("p-b", &long).expect("add"));
    let newest = &w.peer_failures("p-b", 1).expect("failures")[0];
    assert_eq!(newest.code.len(), PEER_FAILURE_CODE_BYTES_MAX);
    assert_eq!(newest.detail.len(), PEER_FAILURE_DETAIL_BYTES_MAX);
    assert!(newest.detail.chars().all(|c| c == 'é'));
    let r = Reader::open(&path).expect("reader");
    assert_eq!(
        r.peer_failures("p-a", 2).expect("failures"),
        expected[..2].to_vec()
    );
}

#[test]
fn card_sequences_move_with_card_status_and_hops_only() {
    let (_dir, path, mut w) = db();
    let seqs = |w: &Writer, since: u64, limit: u32| -> Vec<(String, u64)> {
        w.cards_since(since, limit)
            .expect("cards")
            .into_iter()
            .map(|p| (p.id, p.card_seq))
            .collect()
    };
    let pair = |id: &str, seq: u64| (id.to_owned(), seq);
    let mut a = peer("p-a", "node-a", 1);
    let mut b = peer("p-b", "node-b", 2);
    b.card = Some(json!({"node_id": "node-b", "v": 1}));
    let mut c = peer("p-c", "node-c", 3);
    c.card = Some(json!({"node_id": "node-c"}));
    for p in [&a, &b, &c] {
        w.upsert_peer(p).expect("insert");
    }
    // Only peers with a card are listed, in sequence order.
    assert_eq!(seqs(&w, 0, 10), [pair("p-b", 2), pair("p-c", 3)]);
    assert_eq!(seqs(&w, 0, 1), [pair("p-b", 2)]);
    assert_eq!(seqs(&w, 2, 10), [pair("p-c", 3)]);
    assert_eq!(seqs(&w, 3, 10), []);
    // Everything else may change without a new sequence (the card compares by value, not
    // by member order).
    b.name = "renamed".into();
    b.updated_ms = 50;
    b.last_verified_ms = Some(50);
    b.last_synced_ms = Some(51);
    b.card_etag = Some("\"e2\"".into());
    b.via_peer = Some("p-c".into());
    b.status_reason = Some("why not".into());
    b.card = serde_json::from_str(r#"{"v": 1, "node_id": "node-b"}"#).expect("json");
    w.upsert_peer(&b).expect("update");
    assert_eq!(w.peer("p-b").expect("peer").map(|p| p.card_seq), Some(2));
    assert_eq!(seqs(&w, 3, 10), []);
    // A new card, a new status, a new distance: each a new sequence.
    b.card = Some(json!({"node_id": "node-b", "v": 2}));
    w.upsert_peer(&b).expect("card");
    assert_eq!(seqs(&w, 3, 10), [pair("p-b", 4)]);
    c.status = "active".into();
    w.upsert_peer(&c).expect("status");
    c.hops = 3;
    w.upsert_peer(&c).expect("hops");
    assert_eq!(seqs(&w, 3, 10), [pair("p-b", 4), pair("p-c", 6)]);
    // A peer gaining its first card appears after everything seen so far.
    a.card = Some(json!({"node_id": "node-a"}));
    w.upsert_peer(&a).expect("card");
    assert_eq!(seqs(&w, 6, 10), [pair("p-a", 7)]);
    // Deleting the peer with the highest sequence never lets the sequence be reused: a
    // reader that saw 7 still sees the next change.
    assert!(w.delete_peer("p-a").expect("delete"));
    b.card = Some(json!({"node_id": "node-b", "v": 3}));
    w.upsert_peer(&b).expect("card");
    assert_eq!(seqs(&w, 7, 10), [pair("p-b", 8)]);
    // Also after a reopen, and on the read pool.
    drop(w);
    let mut w = Writer::open(&path).expect("reopen");
    w.upsert_peer(&peer("p-d", "node-d", 4)).expect("insert");
    assert_eq!(w.peer("p-d").expect("peer").map(|p| p.card_seq), Some(9));
    let r = Reader::open(&path).expect("reader");
    assert_eq!(
        r.cards_since(0, 10)
            .expect("cards")
            .into_iter()
            .map(|p| (p.id, p.card_seq))
            .collect::<Vec<_>>(),
        [pair("p-c", 6), pair("p-b", 8)]
    );
}

#[test]
fn deleting_a_peer_drops_its_failures_and_keeps_history() {
    let (_dir, path, mut w) = db();
    w.upsert_peer(&peer("p-a", "node-a", 1)).expect("a");
    w.upsert_peer(&peer("p-b", "node-b", 2)).expect("b");
    for peer_id in ["p-a", "p-b"] {
        let f = PeerFailure {
            at_ms: 1,
            code: "timeout".into(),
            detail: String::new(),
        };
        assert!(w.add_peer_failure(peer_id, &f).expect("add"));
    }
    let op = FedOp {
        proposal: Some(proposal("prop-1", "p-a", 5)),
        agreement: Some(agreement("agr-1", "prop-1", "p-a", 6)),
    };
    commit(&mut w, &[fed_entry(json!({"id": "prop-1"}), op)], None).expect("commit");

    assert!(w.delete_peer("p-a").expect("delete"));
    assert!(!w.delete_peer("p-a").expect("again"));
    assert_eq!(w.peer("p-a").expect("peer"), None);
    assert_eq!(w.peer_failures("p-a", 100).expect("failures"), vec![]);
    assert_eq!(count_rows(&path, "peer_failures"), 1);
    assert_eq!(w.peer_failures("p-b", 100).expect("failures").len(), 1);
    // History stays.
    assert!(w.proposal("prop-1").expect("proposal").is_some());
    assert_eq!(w.agreements_for_peer("p-a").expect("agreements").len(), 1);
    // The node id is free again.
    w.upsert_peer(&peer("p-c", "node-a", 3))
        .expect("reuse node id");
}

#[test]
fn licenses_insert_find_and_update() {
    let (_dir, path, mut w) = db();
    let l2 = license("lic-2", 2, 20);
    let l1 = license("lic-1", 1, 10);
    w.insert_license(&l2).expect("insert");
    w.insert_license(&l1).expect("insert");
    assert_eq!(w.licenses().expect("list"), vec![l1.clone(), l2.clone()]);
    assert_eq!(w.license_count().expect("count"), 2);
    assert_eq!(w.license("lic-2").expect("get"), Some(l2.clone()));
    assert_eq!(w.license("nope").expect("get"), None);
    assert_eq!(
        w.license_by_hash(&[1; 32]).expect("by hash"),
        Some(l1.clone())
    );
    assert_eq!(w.license_by_hash(&[3; 32]).expect("by hash"), None);

    // Same id or same hash: refused, nothing written.
    let mut same_id = license("lic-1", 9, 30);
    same_id.name = "other".into();
    assert!(matches!(
        w.insert_license(&same_id),
        Err(StoreError::Conflict {
            what: "license id",
            ..
        })
    ));
    let err = w
        .insert_license(&license("lic-3", 2, 30))
        .expect_err("hash taken");
    assert!(
        matches!(&err, StoreError::Conflict { what: "license hash", value, holder }
            if *value == "02".repeat(32) && holder == "lic-2"),
        "{err}"
    );
    assert_eq!(w.license_count().expect("count"), 2);

    // Update by id replaces every column.
    let mut used = l1.clone();
    used.status = "used".into();
    used.peer_id = Some("p-a".into());
    used.max_records = 5;
    used.max_events_per_minute = u32::MAX;
    used.tier = "gold".into();
    used.updated_ms = 40;
    assert!(w.update_license(&used).expect("update"));
    assert_eq!(w.license("lic-1").expect("get"), Some(used.clone()));
    assert!(!w.update_license(&license("nope", 7, 1)).expect("unknown"));
    assert_eq!(w.license_by_hash(&[7; 32]).expect("by hash"), None);
    // Moving to another license's hash is refused.
    let mut stolen = used.clone();
    stolen.hash = [2; 32];
    assert!(matches!(
        w.update_license(&stolen),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(w.license("lic-1").expect("get"), Some(used.clone()));
    // A new hash of its own is fine.
    let mut rehashed = used.clone();
    rehashed.hash = [8; 32];
    assert!(w.update_license(&rehashed).expect("update"));
    assert_eq!(
        w.license_by_hash(&[8; 32]).expect("by hash"),
        Some(rehashed.clone())
    );
    assert_eq!(w.license_by_hash(&[1; 32]).expect("by hash"), None);

    let r = Reader::open(&path).expect("reader");
    assert_eq!(r.licenses().expect("list"), vec![rehashed.clone(), l2]);
    assert_eq!(r.license("lic-1").expect("get"), Some(rehashed.clone()));
    assert_eq!(r.license_by_hash(&[8; 32]).expect("get"), Some(rehashed));
    assert_eq!(r.license_count().expect("count"), 2);
}

#[test]
fn federation_entries_move_proposals_and_agreements() {
    let (_dir, path, mut w) = db();
    let p1 = proposal("prop-1", "p-a", 10);
    let p2 = proposal("prop-2", "p-b", 20);
    // One batch: a record, a proposal event, another proposal event.
    commit(
        &mut w,
        &[
            record_entry("r1", 1),
            fed_entry(
                json!({"id": "prop-1"}),
                FedOp {
                    proposal: Some(p1.clone()),
                    agreement: None,
                },
            ),
            fed_entry(
                json!({"id": "prop-2"}),
                FedOp {
                    proposal: Some(p2.clone()),
                    agreement: None,
                },
            ),
        ],
        None,
    )
    .expect("commit");
    assert_eq!(w.ledger_size().expect("size"), 3);
    // Federation entries have no record head and no index row.
    assert_eq!(count_rows(&path, "records"), 1);
    let hits = Reader::open(&path)
        .expect("reader")
        .search(&crate::SearchQuery {
            limit: 100,
            ..Default::default()
        })
        .expect("search")
        .expect("query");
    let keys: Vec<_> = hits.hits.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, ["r1"]);
    // Newest first.
    assert_eq!(w.proposals().expect("list"), vec![p2.clone(), p1.clone()]);
    assert_eq!(w.proposal("prop-1").expect("get"), Some(p1.clone()));
    assert_eq!(w.proposal("nope").expect("get"), None);
    assert_eq!(w.agreements().expect("list"), vec![]);

    // The next step: the proposal is accepted and the agreement established, in one entry.
    let mut p1_done = p1.clone();
    p1_done.status = "accepted".into();
    p1_done.awaiting = None;
    p1_done.round = 3;
    p1_done.direction = "incoming".into();
    p1_done.thread = json!([{"type": "offer"}, {"type": "counter"}, {"type": "accept"}]);
    p1_done.updated_ms = 50;
    let a1 = agreement("agr-1", "prop-1", "p-a", 50);
    commit(
        &mut w,
        &[fed_entry(
            json!({"agreement": "agr-1"}),
            FedOp {
                proposal: Some(p1_done.clone()),
                agreement: Some(a1.clone()),
            },
        )],
        None,
    )
    .expect("commit");
    assert_eq!(w.proposal("prop-1").expect("get"), Some(p1_done.clone()));
    assert_eq!(w.proposals().expect("list").len(), 2);
    assert_eq!(w.agreement("agr-1").expect("get"), Some(a1.clone()));

    // Revocation: the agreement row is replaced; a second agreement with another peer.
    let mut a1_revoking = a1.clone();
    a1_revoking.status = "revoking".into();
    a1_revoking.revocation = Some(json!({"reason": "done", "sig": "x"}));
    a1_revoking.effective_ms = Some(90);
    let a2 = agreement("agr-2", "prop-2", "p-b", 60);
    commit(
        &mut w,
        &[
            fed_entry(
                json!({"revoke": "agr-1"}),
                FedOp {
                    proposal: None,
                    agreement: Some(a1_revoking.clone()),
                },
            ),
            fed_entry(
                json!({"agreement": "agr-2"}),
                FedOp {
                    proposal: None,
                    agreement: Some(a2.clone()),
                },
            ),
        ],
        None,
    )
    .expect("commit");
    assert_eq!(
        w.agreements().expect("list"),
        vec![a2.clone(), a1_revoking.clone()]
    );
    assert_eq!(
        w.agreements_for_peer("p-a").expect("list"),
        vec![a1_revoking.clone()]
    );
    assert_eq!(w.agreements_for_peer("p-x").expect("list"), vec![]);

    // A transition that is not a ledger event.
    let mut a1_revoked = a1_revoking.clone();
    a1_revoked.status = "revoked".into();
    w.apply_fed_op(&FedOp {
        proposal: None,
        agreement: Some(a1_revoked.clone()),
    })
    .expect("apply");
    assert_eq!(w.ledger_size().expect("size"), 6);
    assert_eq!(w.agreement("agr-1").expect("get"), Some(a1_revoked.clone()));

    let r = Reader::open(&path).expect("reader");
    assert_eq!(r.proposals().expect("list"), vec![p2, p1_done.clone()]);
    assert_eq!(r.proposal("prop-1").expect("get"), Some(p1_done));
    assert_eq!(r.agreements().expect("list"), vec![a2, a1_revoked.clone()]);
    assert_eq!(r.agreement("agr-1").expect("get"), Some(a1_revoked.clone()));
    assert_eq!(
        r.agreements_for_peer("p-a").expect("list"),
        vec![a1_revoked]
    );
}

#[test]
fn a_federation_entry_and_its_rows_commit_together_or_not_at_all() {
    let (_dir, path, mut w) = db();
    commit(&mut w, &[record_entry("r0", 1)], None).expect("first");
    let op = FedOp {
        proposal: Some(proposal("prop-1", "p-a", 10)),
        agreement: Some(agreement("agr-1", "prop-1", "p-a", 10)),
    };
    let batch = [
        record_entry("r1", 1),
        fed_entry(json!({"id": "prop-1"}), op.clone()),
    ];
    // A checkpoint that does not cover the batch: nothing is written.
    let err = commit(&mut w, &batch, Some(7)).expect_err("inconsistent");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    // A federation operation the schema refuses, after a record entry in the same batch:
    // nothing is written either (the record entry before it is rolled back).
    let mut bad = op.clone();
    if let Some(p) = bad.proposal.as_mut() {
        p.direction = "sideways".into();
    }
    let err = commit(
        &mut w,
        &[
            record_entry("r1", 1),
            fed_entry(json!({"id": "prop-1"}), bad),
        ],
        None,
    )
    .expect_err("invalid");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let mut bad_status = op.clone();
    if let Some(a) = bad_status.agreement.as_mut() {
        a.status = "paused".into();
    }
    assert!(matches!(
        w.apply_fed_op(&bad_status),
        Err(StoreError::Invalid(_))
    ));

    // Nothing of either batch is there.
    assert_eq!(w.ledger_size().expect("size"), 1);
    assert_eq!(w.latest_checkpoint().expect("cp").map(|c| c.size), Some(1));
    assert_eq!(w.record_head("receipt", "r1").expect("head"), None);
    assert_eq!(w.proposals().expect("proposals"), vec![]);
    assert_eq!(w.agreements().expect("agreements"), vec![]);
    assert_eq!(count_rows(&path, "trust_proposals"), 0);

    // The same batch, consistent: everything at once.
    commit(&mut w, &batch, None).expect("commit");
    assert_eq!(w.ledger_size().expect("size"), 3);
    assert_eq!(
        w.record_head("receipt", "r1").expect("head"),
        Some((1, Operation::Put))
    );
    assert_eq!(w.proposal("prop-1").expect("get"), op.proposal);
    assert_eq!(w.agreement("agr-1").expect("get"), op.agreement);
}

#[test]
fn fed_ops_are_validated() {
    assert!(FedOp::default().validate().is_ok());
    let good = FedOp {
        proposal: Some(proposal("prop-1", "p-a", 1)),
        agreement: Some(agreement("agr-1", "prop-1", "p-a", 1)),
    };
    assert!(good.validate().is_ok());
    for direction in PROPOSAL_DIRECTIONS {
        let mut op = good.clone();
        if let Some(p) = op.proposal.as_mut() {
            p.direction = (*direction).into();
        }
        assert!(op.validate().is_ok());
    }
    for status in AGREEMENT_STATUSES {
        let mut op = good.clone();
        if let Some(a) = op.agreement.as_mut() {
            a.status = (*status).into();
        }
        assert!(op.validate().is_ok());
    }
    let broken: [fn(&mut FedOp); 6] = [
        |op| op.proposal.as_mut().expect("p").id.clear(),
        |op| op.proposal.as_mut().expect("p").peer_id.clear(),
        |op| op.proposal.as_mut().expect("p").direction = "Outgoing".into(),
        |op| op.agreement.as_mut().expect("a").proposal_id.clear(),
        |op| op.agreement.as_mut().expect("a").id.clear(),
        |op| op.agreement.as_mut().expect("a").status = String::new(),
    ];
    // JSON columns nest at most STORED_JSON_DEPTH_MAX deep.
    let mut at_limit = json!(1);
    for _ in 0..STORED_JSON_DEPTH_MAX {
        at_limit = json!([at_limit]);
    }
    let too_deep = json!({"x": at_limit.clone()});
    let mut op = good.clone();
    if let (Some(p), Some(a)) = (op.proposal.as_mut(), op.agreement.as_mut()) {
        p.thread = at_limit.clone();
        a.terms = at_limit.clone();
        a.document = at_limit.clone();
        a.revocation = Some(at_limit.clone());
    }
    assert!(op.validate().is_ok());
    let deep: [fn(&mut FedOp, &serde_json::Value); 4] = [
        |op, v| op.proposal.as_mut().expect("p").thread = v.clone(),
        |op, v| op.agreement.as_mut().expect("a").terms = v.clone(),
        |op, v| op.agreement.as_mut().expect("a").document = v.clone(),
        |op, v| op.agreement.as_mut().expect("a").revocation = Some(v.clone()),
    ];
    for (i, breaks) in deep.iter().enumerate() {
        let mut op = good.clone();
        breaks(&mut op, &too_deep);
        assert!(
            matches!(op.validate(), Err(StoreError::Invalid(_))),
            "deep case {i}"
        );
    }
    for (i, breaks) in broken.iter().enumerate() {
        let mut op = good.clone();
        breaks(&mut op);
        assert!(
            matches!(op.validate(), Err(StoreError::Invalid(_))),
            "case {i}"
        );
    }
}

#[test]
fn a_version_5_database_migrates() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v5.db");
    {
        // A database as the previous release left it.
        let conn = crate::schema::open_at_version(&path, 5);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'peers'",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(tables, 0);
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('origin', 'a.example')",
            [],
        )
        .expect("meta");
        conn.execute(
            "INSERT INTO tokens(id, hash, name, collections, created_ms) VALUES ('t', zeroblob(32), 'op', NULL, 1)",
            [],
        )
        .expect("token");
    }
    // Opening it migrates it, keeping what it held.
    let mut w = Writer::open(&path).expect("migrate");
    let version: i64 = w
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, crate::schema::SCHEMA_VERSION);
    assert_eq!(version, 10);
    assert_eq!(w.meta("origin").expect("meta"), Some("a.example".into()));
    assert_eq!(w.tokens().expect("tokens").len(), 1);
    assert_eq!(w.peers().expect("peers"), vec![]);
    assert_eq!(w.licenses().expect("licenses"), vec![]);
    assert_eq!(w.proposals().expect("proposals"), vec![]);
    assert_eq!(w.agreements().expect("agreements"), vec![]);
    w.upsert_peer(&peer("p-a", "node-a", 1)).expect("peer");
    commit(
        &mut w,
        &[fed_entry(
            json!({"id": "prop-1"}),
            FedOp {
                proposal: Some(proposal("prop-1", "p-a", 1)),
                agreement: None,
            },
        )],
        None,
    )
    .expect("commit");
    drop(w);
    // Opening again runs nothing twice.
    let w = Writer::open(&path).expect("reopen");
    assert_eq!(w.peers().expect("peers").len(), 1);
    assert_eq!(w.proposals().expect("proposals").len(), 1);
}
