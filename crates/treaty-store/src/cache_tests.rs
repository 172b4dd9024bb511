//! Tests of the peer record cache (`cache.rs`): sync state, cached records, their place in
//! the discovery index, discrepancies, baselines and migration 7.

use crate::federation::STORED_JSON_DEPTH_MAX;
use crate::*;
use rusqlite::Connection;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use treaty_merkle::leaf_hash;

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    w: Writer,
    /// Local record versions, by key.
    versions: std::collections::HashMap<String, u64>,
}

impl Db {
    /// A database with peers `p-a` (node `node-a`) and `p-b` (node `node-b`).
    fn new() -> Db {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("cache.db");
        let mut w = Writer::open(&path).expect("open");
        for (id, node) in [("p-a", "node-a"), ("p-b", "node-b")] {
            w.upsert_peer(&peer(id, node)).expect("peer");
        }
        Db {
            _dir: dir,
            path,
            w,
            versions: Default::default(),
        }
    }

    fn reader(&self) -> Reader {
        Reader::open(&self.path).expect("reader")
    }

    /// Commits local `agent-card` records (`None` bodies are tombstones) in one batch.
    fn local(&mut self, ops: &[(&str, Option<Value>)]) {
        let size = self.w.ledger_size().expect("size");
        let mut range = self.w.compact_range(size).expect("range");
        let entries: Vec<PreparedEntry> = ops
            .iter()
            .map(|(key, body)| {
                let v = self.versions.entry((*key).to_owned()).or_insert(0);
                *v += 1;
                let leaf =
                    serde_json::to_vec(&json!({"body": body, "key": key, "v": *v})).expect("leaf");
                PreparedEntry {
                    leaf_hash: leaf_hash(&leaf),
                    leaf,
                    collection: "agent-card".into(),
                    key: (*key).to_owned(),
                    version: *v,
                    op: if body.is_some() {
                        treaty_types::Operation::Put
                    } else {
                        treaty_types::Operation::Delete
                    },
                    time_ms: 1,
                    body: body.clone(),
                    effect: Effect::Record,
                }
            })
            .collect();
        let mut hashes = Vec::new();
        for e in &entries {
            range.append(e.leaf_hash, |h| hashes.push(h));
        }
        let cp = StoredCheckpoint {
            size: range.size(),
            root: range.root(),
            note: String::new(),
            signed_ms: 0,
        };
        self.w
            .commit_batch(&BatchCommit {
                first_index: size,
                entries: &entries,
                hashes: &hashes,
                checkpoint: &cp,
            })
            .expect("commit");
    }

    /// Applies `changes` as the peer's entries `from..to`, proven by a checkpoint of `to`,
    /// then indexes the new cached rows for discovery, as the node does after a page.
    fn sync(
        &mut self,
        peer_id: &str,
        from: u64,
        to: u64,
        changes: &[CacheChange],
        now_ms: u64,
    ) -> Result<SyncOutcome, StoreError> {
        let outcome = self.apply(peer_id, from, to, changes, now_ms)?;
        self.index_all();
        Ok(outcome)
    }

    /// Indexes every cached row waiting for discovery; answers how many.
    fn index_all(&mut self) -> u64 {
        let mut indexed = 0;
        loop {
            let step = self.w.index_cached(INDEX_STEP_ROWS).expect("index");
            indexed += step.indexed;
            if !step.more {
                assert!(!self.w.cache_unindexed().expect("unindexed"));
                return indexed;
            }
        }
    }

    /// Applies `changes` as the peer's entries `from..to` (see `sync`), and nothing else.
    fn apply(
        &mut self,
        peer_id: &str,
        from: u64,
        to: u64,
        changes: &[CacheChange],
        now_ms: u64,
    ) -> Result<SyncOutcome, StoreError> {
        let node = node_of(peer_id);
        self.w.apply_sync(&SyncBatch {
            peer_id,
            source_registry: &node,
            from_size: from,
            log: &log(peer_id, to),
            changes,
            checkpoint_size: to,
            checkpoint: &note(peer_id, to),
            now_ms,
        })
    }

    fn count(&self, table: &str) -> i64 {
        count_rows(&self.path, table)
    }

    /// The number of segments in the discovery index (FTS5's `_idx` table has rows for
    /// every segment's leaves).
    fn segments(&self) -> i64 {
        let conn = Connection::open(&self.path).expect("conn");
        conn.query_row("SELECT count(DISTINCT segid) FROM discovery_idx", [], |r| {
            r.get(0)
        })
        .expect("segments")
    }

    /// Fails unless FTS5 finds the discovery index consistent.
    fn integrity_check(&self) {
        self.w
            .conn
            .execute(
                "INSERT INTO discovery(discovery, rank) VALUES ('integrity-check', 0)",
                [],
            )
            .expect("integrity");
    }

    /// The number of rows in the discovery index (every row has the token `0`).
    fn indexed(&self) -> i64 {
        let conn = Connection::open(&self.path).expect("conn");
        conn.query_row(
            "SELECT count(*) FROM discovery WHERE discovery MATCH '\"0\"'",
            [],
            |r| r.get(0),
        )
        .expect("count")
    }
}

fn count_rows(path: &Path, table: &str) -> i64 {
    let conn = Connection::open(path).expect("conn");
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

fn node_of(peer_id: &str) -> String {
    peer_id.replace("p-", "node-")
}

fn note(peer_id: &str, size: u64) -> String {
    format!("{} checkpoint {size}\n", node_of(peer_id))
}

fn peer(id: &str, node_id: &str) -> PeerRow {
    PeerRow {
        id: id.into(),
        node_id: node_id.into(),
        name: id.into(),
        base_url: format!("https://{node_id}.example"),
        card_url: format!("https://{node_id}.example/card"),
        callback_url: format!("https://{node_id}.example/cb"),
        status: "active".into(),
        status_reason: None,
        card: None,
        jwks: None,
        kid: None,
        spiffe_id: None,
        ca_fingerprint: None,
        verifier_key: None,
        license_id: None,
        created_ms: 1,
        updated_ms: 1,
        last_verified_ms: None,
        last_synced_ms: None,
        hops: 1,
        via_peer: None,
        card_seq: 0,
        card_etag: None,
    }
}

/// A log state of `size` entries (the hashes are placeholders: the store keeps them as is).
fn log(peer_id: &str, size: u64) -> PeerLogRow {
    PeerLogRow {
        peer_id: peer_id.into(),
        size,
        range: (0..size.count_ones()).map(|i| [i as u8 + 1; 32]).collect(),
        checkpoint: Some(note(peer_id, size)),
        checkpoint_size: size,
        updated_ms: 0,
    }
}

fn card(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description})
}

/// The leaf of a peer's `agent-card` put.
fn put_leaf(index: u64, key: &str, version: u64, body: Value) -> Vec<u8> {
    treaty_types::LedgerEntry::Record {
        collection: treaty_types::CollectionName::parse("agent-card").expect("name"),
        key: treaty_types::RecordKey::parse(key).expect("key"),
        version,
        op: treaty_types::Operation::Put,
        body: Some(body),
        time_ms: 1000 + index,
    }
    .to_leaf_bytes()
    .expect("leaf")
}

/// The change of a peer's `agent-card` put, as a sync makes it from the verified leaf.
fn put(index: u64, key: &str, version: u64, body: Value) -> CacheChange {
    let leaf = put_leaf(index, key, version, body);
    let treaty_types::LeafEntry::Record(r) =
        treaty_types::LedgerEntry::read_leaf(&leaf).expect("read")
    else {
        panic!("not a record");
    };
    CacheChange::of_record(index, r, leaf)
}

fn del(index: u64, key: &str, version: u64) -> CacheChange {
    CacheChange::Delete {
        source_index: index,
        collection: "agent-card".into(),
        key: key.into(),
        version,
    }
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        limit: 50,
        ..SearchQuery::default()
    }
}

fn filtered(text: &str, source: SourceFilter) -> SearchQuery {
    SearchQuery {
        source: Some(source),
        ..query(text)
    }
}

fn search(r: &Reader, q: &SearchQuery) -> Result<SearchPage, SearchError> {
    r.search(q).expect("sqlite")
}

/// Hits as `key` for local records and `key@node` for cached ones.
fn names(r: &Reader, hits: &[SearchHit]) -> Vec<String> {
    hits.iter()
        .map(|h| match h.cached {
            None => h.key.clone(),
            Some(id) => {
                let row = r
                    .cached_record_by_id(id)
                    .expect("read")
                    .expect("cached row");
                assert_eq!((&row.collection, &row.key), (&h.collection, &h.key));
                format!("{}@{}", h.key, row.source_registry)
            }
        })
        .collect()
}

fn found(r: &Reader, q: &SearchQuery) -> Vec<String> {
    let page = search(r, q).expect("query");
    names(r, &page.hits)
}

/// Every hit, following cursors with pages of `limit`.
fn paged(r: &Reader, q: &SearchQuery, limit: u32) -> Vec<SearchHit> {
    let mut q = SearchQuery {
        limit,
        cursor: None,
        ..q.clone()
    };
    let mut out = Vec::new();
    loop {
        let page = search(r, &q).expect("page");
        assert!(page.hits.len() <= limit as usize);
        out.extend(page.hits);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

#[test]
fn a_sync_caches_puts_and_stores_its_state() {
    let mut db = Db::new();
    assert_eq!(db.w.peer_log("p-a").expect("log"), None);
    let changes = [
        put(0, "alpha", 1, card("Alpha", "first")),
        put(2, "beta", 1, card("Beta", "second")),
        put(3, "alpha", 2, card("Alpha", "again")),
        del(4, "gamma", 1),
    ];
    let out = db.sync("p-a", 0, 5, &changes, 77).expect("sync");
    // The second alpha replaced the first; the tombstone found nothing to remove.
    assert_eq!(
        out,
        SyncOutcome {
            puts: 3,
            deletes: 0,
            cached: 2
        }
    );
    let mut expected_log = log("p-a", 5);
    expected_log.updated_ms = 77;
    let r = db.reader();
    assert_eq!(r.peer_log("p-a").expect("log"), Some(expected_log.clone()));
    assert_eq!(db.w.peer_log("p-a").expect("log"), Some(expected_log));
    assert_eq!(r.peer_log("p-b").expect("log"), None);
    assert_eq!(
        r.peer_checkpoint("p-a", 5).expect("cp"),
        Some(note("p-a", 5))
    );
    assert_eq!(r.peer_checkpoint("p-a", 4).expect("cp"), None);
    assert_eq!(
        r.peer("p-a").expect("peer").and_then(|p| p.last_synced_ms),
        Some(77)
    );
    assert_eq!(r.cached_count("p-a").expect("count"), 2);
    assert_eq!(r.cached_count("p-b").expect("count"), 0);
    assert_eq!(r.cached_total().expect("total"), 2);

    let alpha = r.cached_records("agent-card", "alpha").expect("alpha");
    assert_eq!(alpha.len(), 1);
    let a = &alpha[0];
    assert_eq!(
        (a.peer_id.as_str(), a.source_registry.as_str(), a.version),
        ("p-a", "node-a", 2)
    );
    assert_eq!((a.source_index, a.checkpoint_size), (3, 5));
    assert_eq!(a.leaf, put_leaf(3, "alpha", 2, card("Alpha", "again")));
    assert_eq!(a.body, card("Alpha", "again"));
    assert_eq!((a.time_ms, a.synced_ms), (1003, 77));
    assert_eq!(
        r.cached_record_by_id(a.id).expect("by id").as_ref(),
        Some(a)
    );
    assert_eq!(r.cached_record_by_id(a.id + 100).expect("by id"), None);
    assert_eq!(
        r.cached_records("agent-card", "gamma").expect("gamma"),
        vec![]
    );
    assert_eq!(r.cached_records("other", "alpha").expect("other"), vec![]);

    // The same record from another peer: both copies, most recently synced first.
    db.sync("p-b", 0, 1, &[put(0, "alpha", 9, card("Alpha B", "b"))], 80)
        .expect("sync b");
    let copies = db.w.cached_records("agent-card", "alpha").expect("alpha");
    let sources: Vec<_> = copies.iter().map(|c| c.source_registry.as_str()).collect();
    assert_eq!(sources, ["node-b", "node-a"]);
    assert_eq!(db.w.cached_total().expect("total"), 3);
    assert_eq!(db.count("peer_records"), 3);

    // A page without record changes still moves the log (and the checkpoint is not kept:
    // it proves nothing cached).
    let out = db.sync("p-a", 5, 9, &[], 90).expect("empty page");
    assert_eq!(
        out,
        SyncOutcome {
            puts: 0,
            deletes: 0,
            cached: 2
        }
    );
    assert_eq!(db.w.peer_log("p-a").expect("log").map(|l| l.size), Some(9));
    assert_eq!(db.w.peer_checkpoint("p-a", 9).expect("cp"), None);
    assert_eq!(
        db.w.peer_checkpoint("p-a", 5).expect("cp"),
        Some(note("p-a", 5))
    );
}

#[test]
fn a_wrong_from_size_is_a_conflict_and_changes_nothing() {
    let mut db = Db::new();
    db.sync("p-a", 0, 2, &[put(0, "k", 1, card("Kite", "x"))], 10)
        .expect("sync");
    let before_log = db.w.peer_log("p-a").expect("log");
    let before_rows = db.w.cached_records("agent-card", "k").expect("rows");
    // A restarted sync verified from 0 again, and one from a size never reached.
    for from in [0, 1, 3] {
        let err = db
            .sync("p-a", from, 4, &[put(3, "k", 2, card("Kestrel", "y"))], 20)
            .expect_err("conflict");
        assert!(
            matches!(
                &err,
                StoreError::Conflict {
                    what: "peer log size",
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(db.w.peer_log("p-a").expect("log"), before_log);
    assert_eq!(
        db.w.cached_records("agent-card", "k").expect("rows"),
        before_rows
    );
    assert_eq!(
        db.w.peer("p-a")
            .expect("peer")
            .and_then(|p| p.last_synced_ms),
        Some(10)
    );
    let r = db.reader();
    assert_eq!(found(&r, &query("kite")), ["k@node-a"]);
    assert!(found(&r, &query("kestrel")).is_empty());
    assert_eq!(db.count("discovery_pending"), 0);
    // From the stored size it applies.
    db.sync("p-a", 2, 4, &[put(3, "k", 2, card("Kestrel", "y"))], 30)
        .expect("sync");
    assert_eq!(found(&r, &query("kestrel")), ["k@node-a"]);
}

#[test]
fn stale_versions_are_skipped_so_reapplying_changes_nothing() {
    let mut db = Db::new();
    let history = [
        put(0, "a", 1, card("Avocet", "one")),
        put(1, "b", 1, card("Bittern", "one")),
        put(2, "a", 2, card("Auk", "two")),
        del(3, "b", 2),
        put(4, "c", 3, card("Coot", "three")),
    ];
    let out = db.sync("p-a", 0, 5, &history, 10).expect("sync");
    assert_eq!(
        out,
        SyncOutcome {
            puts: 4,
            deletes: 1,
            cached: 2
        }
    );
    let snapshot = |db: &Db| {
        let mut rows = Vec::new();
        for k in ["a", "b", "c"] {
            rows.extend(db.w.cached_records("agent-card", k).expect("rows"));
        }
        rows
    };
    let before = snapshot(&db);
    // A later page carrying versions not newer than the cached ones: all skipped.
    let stale = [
        put(5, "a", 2, card("Auk again", "same version")),
        put(6, "a", 1, card("Avocet", "older")),
        del(7, "c", 3),
        del(8, "c", 1),
    ];
    let out = db.sync("p-a", 5, 9, &stale, 20).expect("sync");
    assert_eq!(
        out,
        SyncOutcome {
            puts: 0,
            deletes: 0,
            cached: 2
        }
    );
    assert_eq!(snapshot(&db), before);
    // Starting over re-applies the whole history to the same cache (new row ids).
    db.w.reset_peer_log("p-a").expect("reset");
    assert_eq!(db.w.peer_log("p-a").expect("log"), None);
    assert_eq!(db.w.cached_count("p-a").expect("count"), 0);
    assert_eq!(db.indexed(), 0);
    db.sync("p-a", 0, 5, &history, 30).expect("sync again");
    let strip = |rows: Vec<CachedRecordRow>| -> Vec<_> {
        rows.into_iter()
            .map(|r| (r.key, r.version, r.body, r.source_index, r.leaf))
            .collect()
    };
    assert_eq!(strip(snapshot(&db)), strip(before));
    let r = db.reader();
    assert_eq!(found(&r, &query("")), ["c@node-a", "a@node-a"]);
    assert_eq!(db.indexed(), 2);
}

#[test]
fn invalid_batches_are_refused_whole() {
    let mut db = Db::new();
    let invalid = |r: Result<SyncOutcome, StoreError>| {
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    };
    // Unknown peer.
    invalid(db.sync("p-x", 0, 1, &[put(0, "k", 1, card("K", "k"))], 1));
    let node = "node-a".to_owned();
    let good_log = log("p-a", 3);
    let changes = [put(1, "k", 1, card("K", "k"))];
    let base = SyncBatch {
        peer_id: "p-a",
        source_registry: &node,
        from_size: 0,
        log: &good_log,
        changes: &changes,
        checkpoint_size: 3,
        checkpoint: "note",
        now_ms: 5,
    };
    // The range must have one hash per set bit of the size.
    let mut short = log("p-a", 3);
    short.range.pop();
    invalid(db.w.apply_sync(&SyncBatch {
        log: &short,
        ..base
    }));
    let mut long = log("p-a", 3);
    long.range.push([0; 32]);
    invalid(db.w.apply_sync(&SyncBatch { log: &long, ..base }));
    // Another peer's log.
    let other = log("p-b", 3);
    invalid(db.w.apply_sync(&SyncBatch {
        log: &other,
        ..base
    }));
    // A checkpoint that does not cover the log; a log that shrinks.
    invalid(db.w.apply_sync(&SyncBatch {
        checkpoint_size: 2,
        ..base
    }));
    let empty = log("p-a", 0);
    invalid(db.w.apply_sync(&SyncBatch {
        log: &empty,
        from_size: 1,
        ..base
    }));
    // Changes outside from_size..log.size or out of order.
    for bad in [
        vec![put(3, "k", 1, card("K", "k"))],
        vec![
            put(2, "k", 1, card("K", "k")),
            put(1, "j", 1, card("J", "j")),
        ],
        vec![put(1, "k", 1, card("K", "k")), del(1, "k", 2)],
    ] {
        invalid(db.w.apply_sync(&SyncBatch {
            changes: &bad,
            ..base
        }));
    }
    let late = [put(0, "k", 1, card("K", "k"))];
    let from_one = SyncBatch {
        from_size: 1,
        changes: &late,
        ..base
    };
    invalid(db.w.apply_sync(&from_one));
    // Values SQLite cannot hold.
    let mut huge = [put(1, "k", 1, card("K", "k"))];
    if let CacheChange::Put(p) = &mut huge[0] {
        p.version = u64::MAX;
    }
    invalid(db.w.apply_sync(&SyncBatch {
        changes: &huge,
        ..base
    }));
    let huge_del = [del(1, "k", 1 << 63)];
    invalid(db.w.apply_sync(&SyncBatch {
        changes: &huge_del,
        ..base
    }));
    invalid(db.w.apply_sync(&SyncBatch {
        now_ms: u64::MAX,
        ..base
    }));
    let mut huge_log = log("p-a", 1 << 63);
    huge_log.checkpoint_size = 1 << 63;
    invalid(db.w.apply_sync(&SyncBatch {
        log: &huge_log,
        changes: &[],
        checkpoint_size: 1 << 63,
        ..base
    }));
    // A body too deep to be read back, at the end of an otherwise good batch.
    let mut deep = json!({});
    for _ in 0..=STORED_JSON_DEPTH_MAX {
        deep = json!({"d": deep});
    }
    // (No ledger entry nests so deep, so the leaf is made up: the store checks the text.)
    let text = deep.to_string();
    let deep_put = CacheChange::Put(CachePut {
        source_index: 2,
        collection: "agent-card".into(),
        key: "d".into(),
        version: 1,
        leaf: format!("{{\"body\":{text}}}").into_bytes(),
        body: 8..8 + text.len(),
        time_ms: 1,
    });
    let deep_changes = [put(0, "k", 1, card("K", "k")), deep_put];
    invalid(db.w.apply_sync(&SyncBatch {
        changes: &deep_changes,
        ..base
    }));
    // A body range outside its leaf, or not on character boundaries.
    let (start, end) = (3, 2);
    for range in [0..10_000, start..end] {
        let mut outside = [put(0, "k", 1, card("K", "k"))];
        if let CacheChange::Put(p) = &mut outside[0] {
            p.body = range;
        }
        invalid(db.w.apply_sync(&SyncBatch {
            changes: &outside,
            ..base
        }));
    }
    let mut split = [put(0, "k", 1, card("K\u{e9}", "k"))];
    if let CacheChange::Put(p) = &mut split[0] {
        let at = p.leaf.iter().position(|&b| b >= 0x80).expect("non-ASCII");
        p.body = 0..at + 1;
    }
    invalid(db.w.apply_sync(&SyncBatch {
        changes: &split,
        ..base
    }));
    // Nothing of any of them was written.
    assert_eq!(db.w.peer_log("p-a").expect("log"), None);
    assert_eq!(db.count("peer_records"), 0);
    assert_eq!(db.count("peer_checkpoints"), 0);
    assert_eq!(db.indexed(), 0);
    assert_eq!(
        db.w.peer("p-a")
            .expect("peer")
            .and_then(|p| p.last_synced_ms),
        None
    );
    // And the good batch applies.
    db.w.apply_sync(&base).expect("good");
    assert_eq!(db.w.cached_count("p-a").expect("count"), 1);
}

#[test]
fn cached_records_are_searched_with_local_ones_local_first() {
    let mut db = Db::new();
    db.local(&[("l1", Some(card("Falcon one", "local")))]);
    db.local(&[("l2", Some(card("Falcon two", "local")))]);
    // Cached rows: ids 1 and 2 from node-a, 3 from node-b, then an update of c1 (id 4).
    db.sync(
        "p-a",
        0,
        2,
        &[
            put(0, "c1", 1, card("Falcon", "cached")),
            put(1, "c2", 1, card("Falcon", "cached")),
        ],
        10,
    )
    .expect("a");
    db.sync(
        "p-b",
        0,
        1,
        &[put(0, "c3", 1, card("Falcon", "cached"))],
        11,
    )
    .expect("b");
    db.sync(
        "p-a",
        2,
        3,
        &[put(2, "c1", 2, card("Falcon", "updated"))],
        12,
    )
    .expect("a again");
    // The same key locally and at a peer: two hits.
    db.local(&[("c2", Some(card("Heron", "local copy")))]);
    db.sync(
        "p-b",
        1,
        2,
        &[put(1, "c2", 1, card("Heron", "cached copy"))],
        13,
    )
    .expect("b again");
    let r = db.reader();
    // Same score: local records newest first, then cached ones most recently cached first.
    assert_eq!(
        found(&r, &query("falcon")),
        ["l2", "l1", "c1@node-a", "c3@node-b", "c2@node-a"]
    );
    // Scores still come first: a cached name match outranks a local description match.
    db.local(&[("l3", Some(card("Owl", "falcon watcher")))]);
    let page = search(&r, &query("falcon")).expect("page");
    assert_eq!(
        names(&r, &page.hits),
        ["l2", "l1", "c1@node-a", "c3@node-b", "c2@node-a", "l3"]
    );
    assert_eq!(page.hits[0].cached, None);
    assert!(page.hits[2].cached.is_some());
    assert_eq!(found(&r, &query("heron")), ["c2", "c2@node-b"]);
    // An update replaced the indexed version.
    assert_eq!(found(&r, &query("updated")), ["c1@node-a"]);
    assert!(
        found(&r, &query("falcon cached"))
            .iter()
            .all(|k| k != "c1@node-a")
    );
    // Filters and facets apply to cached records too.
    let mut tagged = query("falcon");
    tagged.collection = Some("agent-card".into());
    assert_eq!(found(&r, &tagged).len(), 6);
    tagged.collection = Some("other".into());
    assert!(found(&r, &tagged).is_empty());
    // Several words, rare: scored exactly across both.
    assert_eq!(found(&r, &query("falcon local")), ["l2", "l1"]);
    assert_eq!(
        found(&r, &query("falcon cached")),
        ["c3@node-b", "c2@node-a"]
    );
}

#[test]
fn the_source_filter_selects_local_or_one_registry() {
    let mut db = Db::new();
    db.local(&[
        ("l1", Some(card("Plover", "shore"))),
        ("l2", Some(card("Plover", "shore"))),
    ]);
    db.sync(
        "p-a",
        0,
        2,
        &[
            put(0, "a1", 1, card("Plover", "shore")),
            put(1, "a2", 1, card("Sandpiper", "shore")),
        ],
        1,
    )
    .expect("a");
    db.sync("p-b", 0, 1, &[put(0, "b1", 1, card("Plover", "shore"))], 2)
        .expect("b");
    let r = db.reader();
    let local = SourceFilter::Local;
    let a = SourceFilter::Registry("node-a".into());
    let b = SourceFilter::Registry("node-b".into());
    for text in ["", "plover", "plover shore"] {
        assert_eq!(
            found(&r, &filtered(text, local.clone())),
            ["l2", "l1"],
            "{text}"
        );
        assert_eq!(
            found(&r, &filtered(text, b.clone())),
            ["b1@node-b"],
            "{text}"
        );
    }
    assert_eq!(
        found(&r, &filtered("", a.clone())),
        ["a2@node-a", "a1@node-a"]
    );
    assert_eq!(found(&r, &filtered("plover", a.clone())), ["a1@node-a"]);
    assert_eq!(found(&r, &filtered("sandpiper", a.clone())), ["a2@node-a"]);
    assert!(found(&r, &filtered("sandpiper", local.clone())).is_empty());
    assert!(found(&r, &filtered("sandpiper", b.clone())).is_empty());
    // Node ids are exact; unknown ones match nothing.
    assert!(found(&r, &filtered("", SourceFilter::Registry("NODE-A".into()))).is_empty());
    assert!(found(&r, &filtered("", SourceFilter::Registry("node-x".into()))).is_empty());
    // Unfiltered: the union.
    assert_eq!(found(&r, &query("")).len(), 5);
    // Bad registry values.
    for bad in [String::new(), "n".repeat(search::FACET_BYTES_MAX + 1)] {
        match search(&r, &filtered("", SourceFilter::Registry(bad))) {
            Err(SearchError::InvalidQuery(msg)) => assert!(msg.contains("registry"), "{msg}"),
            other => panic!("expected InvalidQuery, got {other:?}"),
        }
    }
    // Cursors are bound to the source filter.
    let mut first = query("plover");
    first.limit = 1;
    let cursor = search(&r, &first)
        .expect("page")
        .next_cursor
        .expect("cursor");
    for source in [local.clone(), a.clone()] {
        let mut next = filtered("plover", source);
        next.cursor = Some(cursor.clone());
        assert_eq!(search(&r, &next), Err(SearchError::InvalidCursor));
    }
    let mut next = first.clone();
    next.cursor = Some(cursor);
    assert!(search(&r, &next).is_ok());
}

#[test]
fn pages_cross_from_local_to_cached_records_without_gaps() {
    let mut db = Db::new();
    for i in 0..7 {
        let body = card("Grebe", if i % 2 == 0 { "diving bird" } else { "diving" });
        db.local(&[(format!("l{i}").as_str(), Some(body))]);
    }
    let changes: Vec<CacheChange> = (0..9)
        .map(|i| {
            let body = if i % 3 == 0 {
                json!({"name": "Diver", "description": "grebe bird"})
            } else {
                card("Grebe", "diving bird")
            };
            put(i, &format!("c{i}"), 1, body)
        })
        .collect();
    db.sync("p-a", 0, 9, &changes, 1).expect("a");
    db.sync("p-b", 0, 4, &changes[..4], 2).expect("b");
    let r = db.reader();
    let queries = [
        query(""),
        query("grebe"),
        query("grebe bird"),
        query("diving grebe bird"),
        filtered("grebe", SourceFilter::Local),
        filtered("grebe", SourceFilter::Registry("node-a".into())),
        filtered("grebe bird", SourceFilter::Registry("node-b".into())),
        filtered("", SourceFilter::Registry("node-a".into())),
    ];
    for q in &queries {
        let all = search(
            &r,
            &SearchQuery {
                limit: 100,
                ..q.clone()
            },
        )
        .expect("all")
        .hits;
        assert!(!all.is_empty(), "{q:?}");
        // Result order: score, then local before cached, newest first within each.
        for pair in all.windows(2) {
            let (x, y) = (&pair[0], &pair[1]);
            let ordered = x.score > y.score
                || (x.score == y.score
                    && match (x.cached, y.cached) {
                        (None, Some(_)) => true,
                        (Some(_), None) => false,
                        (Some(i), Some(j)) => i > j,
                        (None, None) => true,
                    });
            assert!(ordered, "{q:?}: {x:?} before {y:?}");
        }
        for limit in [1, 2, 3, 5] {
            let pages = paged(&r, q, limit);
            assert_eq!(pages, all, "{q:?} in pages of {limit}");
        }
        let unique: HashSet<_> = all.iter().map(|h| (h.key.clone(), h.cached)).collect();
        assert_eq!(unique.len(), all.len());
    }
    // The unfiltered listing is every local and every cached record.
    assert_eq!(paged(&r, &query(""), 4).len(), 7 + 9 + 4);
}

#[test]
fn tombstones_and_updates_move_cached_rows_in_the_index() {
    let mut db = Db::new();
    db.sync(
        "p-a",
        0,
        3,
        &[
            put(0, "a", 1, card("Merlin", "fast")),
            put(1, "b", 1, card("Merlin", "slow")),
            put(2, "c", 1, card("Kite", "slow")),
        ],
        1,
    )
    .expect("sync");
    let r = db.reader();
    assert_eq!(found(&r, &query("merlin")), ["b@node-a", "a@node-a"]);
    // Update a (old words gone, moves to the front as the newest cached row), tombstone b.
    db.sync(
        "p-a",
        3,
        5,
        &[put(3, "a", 2, card("Merlin", "swift")), del(4, "b", 2)],
        2,
    )
    .expect("sync");
    assert_eq!(found(&r, &query("merlin")), ["a@node-a"]);
    assert!(found(&r, &query("fast")).is_empty());
    assert_eq!(found(&r, &query("swift")), ["a@node-a"]);
    assert_eq!(found(&r, &query("slow")), ["c@node-a"]);
    assert_eq!(found(&r, &query("")), ["a@node-a", "c@node-a"]);
    // Several changes of one record in one batch: only the last counts, and nothing staged
    // for a row replaced within the batch reaches the index.
    let out = db
        .sync(
            "p-a",
            5,
            10,
            &[
                put(5, "c", 2, card("Kite", "wading")),
                put(6, "c", 3, card("Kite", "probing")),
                del(7, "c", 4),
                put(8, "d", 1, card("Ibis", "wading")),
                put(9, "d", 2, card("Ibis", "probing")),
            ],
            3,
        )
        .expect("sync");
    assert_eq!(
        out,
        SyncOutcome {
            puts: 4,
            deletes: 1,
            cached: 2
        }
    );
    assert!(found(&r, &query("kite")).is_empty());
    assert!(found(&r, &query("wading")).is_empty());
    assert_eq!(found(&r, &query("probing")), ["d@node-a"]);
    assert_eq!(found(&r, &query("")), ["d@node-a", "a@node-a"]);
    // Exactly one index row per cached row, nothing left staged.
    assert_eq!(db.indexed(), 2);
    assert_eq!(db.count("discovery_pending"), 0);
    assert_eq!(db.count("peer_records"), 2);
    // Checkpoints that prove no cached record any more are dropped.
    let kept: Vec<u64> = (0..=10)
        .filter(|&s| db.w.peer_checkpoint("p-a", s).expect("cp").is_some())
        .collect();
    assert_eq!(kept, [5, 10]);
}

#[test]
fn deleting_a_peer_removes_what_was_synced_from_it() {
    let mut db = Db::new();
    db.local(&[("l", Some(card("Swift", "local")))]);
    db.sync(
        "p-a",
        0,
        2,
        &[
            put(0, "a", 1, card("Swift", "a")),
            put(1, "x", 1, card("X", "x")),
        ],
        1,
    )
    .expect("a");
    db.sync("p-b", 0, 1, &[put(0, "b", 1, card("Swift", "b"))], 2)
        .expect("b");
    let evidence = json!({"note": "n", "sizes": [1, 2]});
    let d = DiscrepancyRow {
        id: 0,
        peer_id: "p-a".into(),
        kind: "fork".into(),
        detail: "two roots".into(),
        evidence: evidence.clone(),
        detected_ms: 5,
    };
    let id = db.w.add_discrepancy(&d).expect("discrepancy");
    db.w.put_baseline(&BaselineRow {
        peer_id: "p-a".into(),
        policy_hash: "h".into(),
        schemas: json!({}),
        recorded_ms: 1,
    })
    .expect("baseline");
    assert!(db.w.delete_peer("p-a").expect("delete"));
    let r = db.reader();
    assert_eq!(found(&r, &query("swift")), ["l", "b@node-b"]);
    assert_eq!(r.peer_log("p-a").expect("log"), None);
    assert_eq!(r.peer_checkpoint("p-a", 2).expect("cp"), None);
    assert_eq!(r.baseline("p-a").expect("baseline"), None);
    assert_eq!(r.cached_count("p-a").expect("count"), 0);
    assert_eq!(r.cached_total().expect("total"), 1);
    assert_eq!(db.count("peer_records"), 1);
    assert_eq!(db.indexed(), 2);
    // The other peer's state is untouched; discrepancies stay as history.
    assert_eq!(r.peer_log("p-b").expect("log").map(|l| l.size), Some(1));
    assert_eq!(
        r.discrepancies(Some("p-a"), 0, 10).expect("history"),
        vec![DiscrepancyRow { id, ..d }]
    );
}

#[test]
fn discrepancies_page_in_order_and_baselines_replace() {
    let mut db = Db::new();
    let row = |peer_id: &str, i: u64| DiscrepancyRow {
        id: 0,
        peer_id: peer_id.into(),
        kind: "root_mismatch".into(),
        detail: format!("detail {i}"),
        evidence: json!({"i": i}),
        detected_ms: 100 + i,
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            db.w.add_discrepancy(&row(if i % 2 == 0 { "p-a" } else { "p-b" }, i))
                .expect("add"),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // A peer that is gone (or never was) can still have history.
    db.w.add_discrepancy(&row("p-gone", 9)).expect("add");
    let r = db.reader();
    let all = r.discrepancies(None, 0, 100).expect("all");
    assert_eq!(all.len(), 6);
    assert_eq!(
        all[1],
        DiscrepancyRow {
            id: ids[1],
            ..row("p-b", 1)
        }
    );
    let of_a: Vec<u64> = r
        .discrepancies(Some("p-a"), 0, 100)
        .expect("a")
        .iter()
        .map(|d| d.detected_ms)
        .collect();
    assert_eq!(of_a, [100, 102, 104]);
    // Paging by the last id seen.
    let first = r.discrepancies(Some("p-a"), 0, 2).expect("page");
    assert_eq!(first.len(), 2);
    let rest = r.discrepancies(Some("p-a"), first[1].id, 2).expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].detected_ms, 104);
    assert_eq!(r.discrepancies(None, ids[4], 100).expect("after").len(), 1);
    assert_eq!(r.discrepancies(None, 0, 0).expect("none"), vec![]);
    // Evidence too deep to read back is refused.
    let mut deep = json!([]);
    for _ in 0..=STORED_JSON_DEPTH_MAX {
        deep = json!([deep]);
    }
    let mut bad = row("p-a", 7);
    bad.evidence = deep.clone();
    assert!(matches!(
        db.w.add_discrepancy(&bad),
        Err(StoreError::Invalid(_))
    ));

    // Baselines: one per peer, replaced.
    assert_eq!(r.baseline("p-a").expect("none"), None);
    let mut b = BaselineRow {
        peer_id: "p-a".into(),
        policy_hash: "sha256:aa".into(),
        schemas: json!({"agent-card": {"version": "1"}}),
        recorded_ms: 10,
    };
    db.w.put_baseline(&b).expect("put");
    assert_eq!(r.baseline("p-a").expect("get"), Some(b.clone()));
    b.policy_hash = "sha256:bb".into();
    b.recorded_ms = 20;
    db.w.put_baseline(&b).expect("replace");
    assert_eq!(db.w.baseline("p-a").expect("get"), Some(b.clone()));
    assert_eq!(r.baseline("p-b").expect("none"), None);
    b.schemas = deep;
    assert!(matches!(db.w.put_baseline(&b), Err(StoreError::Invalid(_))));
}

#[test]
fn ten_thousand_puts_in_one_batch() {
    const N: u64 = 10_000;
    let mut db = Db::new();
    db.local(&[
        ("l1", Some(card("Weather station", "forecast"))),
        ("l2", Some(card("Tide table", "forecast"))),
    ]);
    let changes: Vec<CacheChange> = (0..N)
        .map(|i| {
            let body = json!({
                "name": format!("Agent {i}"),
                "description": "weather forecast for travellers",
                "url": "https://x.example",
                "skills": [{"id": format!("skill-{}", i % 10), "name": "Forecast",
                            "tags": ["weather", format!("t{}", i % 7)]}],
            });
            put(i, &format!("k{i}"), 1, body)
        })
        .collect();
    let started = std::time::Instant::now();
    let out = db.sync("p-a", 0, N, &changes, 1).expect("sync");
    eprintln!("apply_sync of {N} puts: {:?}", started.elapsed());
    assert_eq!(
        out,
        SyncOutcome {
            puts: N,
            deletes: 0,
            cached: N
        }
    );
    assert_eq!(db.w.cached_total().expect("total"), N);
    assert_eq!(db.count("peer_records"), N as i64);
    assert_eq!(db.indexed(), N as i64 + 2);
    assert_eq!(db.count("discovery_pending"), 0);
    let r = db.reader();
    let k = r.cached_records("agent-card", "k1234").expect("row");
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].body["name"], "Agent 1234");
    // Common words in more than CANDIDATES_MAX records: the streamed plans, across local
    // and cached rows, in pages.
    let a = SourceFilter::Registry("node-a".into());
    for (q, expected) in [
        (query("weather"), N + 1),
        (query("weather forecast"), N + 1),
        (filtered("forecast", SourceFilter::Local), 2),
        (filtered("forecast", a.clone()), N),
        (
            SearchQuery {
                tag: Some("t3".into()),
                ..filtered("", a.clone())
            },
            N / 7 + u64::from(N % 7 > 3),
        ),
    ] {
        let hits = paged(&r, &q, search::SEARCH_LIMIT_MAX);
        assert_eq!(hits.len() as u64, expected, "{q:?}");
        let unique: HashSet<_> = hits.iter().map(|h| (h.key.clone(), h.cached)).collect();
        assert_eq!(unique.len(), hits.len(), "{q:?}");
    }
    let first = search(&r, &query("weather")).expect("page");
    assert_eq!(first.hits[0].key, "l1");
    assert_eq!(first.hits[1].key, format!("k{}", N - 1));
    assert_eq!(found(&r, &query("agent 4321")), ["k4321@node-a"]);

    // Every record updated in one batch: the old rows leave the index.
    let updates: Vec<CacheChange> = (0..N)
        .map(|i| {
            put(
                N + i,
                &format!("k{i}"),
                2,
                card(&format!("Agent {i}"), "renamed"),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let out = db.sync("p-a", N, 2 * N, &updates, 2).expect("update");
    eprintln!("apply_sync of {N} replacing puts: {:?}", started.elapsed());
    assert_eq!(
        out,
        SyncOutcome {
            puts: N,
            deletes: 0,
            cached: N
        }
    );
    assert_eq!(db.indexed(), N as i64 + 2);
    assert_eq!(paged(&r, &filtered("weather", a.clone()), 100).len(), 0);
    assert_eq!(paged(&r, &query("renamed"), 100).len() as u64, N);
    // Only the checkpoint proving the current rows is kept.
    assert_eq!(db.count("peer_checkpoints"), 1);
    assert!(r.peer_checkpoint("p-a", 2 * N).expect("cp").is_some());
}

#[test]
fn tokens_built_on_the_helper_thread_index_the_right_rows() {
    let mut db = Db::new();
    // More puts than TOKENS_PARALLEL_MIN, with puts replaced and removed within the batch.
    let mut changes = Vec::new();
    for i in 0..300u64 {
        changes.push(put(
            i,
            &format!("k{i}"),
            1,
            card(&format!("zq{i} first"), "x"),
        ));
    }
    for i in 0..100u64 {
        changes.push(put(
            300 + i,
            &format!("k{i}"),
            2,
            card(&format!("zr{i} second"), "x"),
        ));
    }
    for i in 100..150u64 {
        changes.push(del(300 + i, &format!("k{i}"), 2));
    }
    let out = db.sync("p-a", 0, 450, &changes, 1).expect("sync");
    assert_eq!(
        out,
        SyncOutcome {
            puts: 400,
            deletes: 50,
            cached: 250
        }
    );
    assert_eq!(db.indexed(), 250);
    let r = db.reader();
    for i in 0..300u64 {
        let expected: Vec<String> = if i < 150 {
            Vec::new()
        } else {
            vec![format!("k{i}@node-a")]
        };
        assert_eq!(found(&r, &query(&format!("zq{i}"))), expected, "zq{i}");
    }
    for i in 0..100u64 {
        assert_eq!(
            found(&r, &query(&format!("zr{i}"))),
            [format!("k{i}@node-a")]
        );
    }
    // A second batch over cached rows (the lookup path).
    let changes: Vec<CacheChange> = (150..450u64)
        .map(|i| {
            put(
                300 + i,
                &format!("k{i}"),
                3,
                card(&format!("zs{i} third"), "x"),
            )
        })
        .collect();
    db.sync("p-a", 450, 750, &changes, 2).expect("second sync");
    assert_eq!(db.indexed(), 100 + 300);
    for i in 150..300u64 {
        assert!(found(&r, &query(&format!("zq{i}"))).is_empty(), "zq{i}");
    }
    for i in 150..450u64 {
        assert_eq!(
            found(&r, &query(&format!("zs{i}"))),
            [format!("k{i}@node-a")]
        );
    }
}

#[test]
fn a_sync_leaves_the_wal_checkpoint_to_the_caller() {
    let mut db = Db::new();
    let autocheckpoint = |w: &Writer| -> i64 {
        w.conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma")
    };
    let before = autocheckpoint(&db.w);
    assert!(before > 0);
    // Enough rows to pass the auto-checkpoint threshold in one commit.
    let changes: Vec<CacheChange> = (0..3_000u64)
        .map(|i| {
            put(
                i,
                &format!("k{i}"),
                1,
                card(&format!("agent {i}"), &"d".repeat(1_000)),
            )
        })
        .collect();
    db.sync("p-a", 0, 3_000, &changes, 1).expect("sync");
    assert_eq!(autocheckpoint(&db.w), before, "setting restored");
    let pending = |path: &Path| -> (i64, i64) {
        let conn = Connection::open(path).expect("conn");
        // (log frames, frames checkpointed) after a no-op passive checkpoint attempt.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
        .expect("checkpoint")
    };
    let wal = db.path.with_extension("db-wal");
    assert!(std::fs::metadata(&wal).expect("wal").len() > 4 * 1024 * 1024);
    db.w.checkpoint_wal().expect("checkpoint");
    let (log, done) = pending(&db.path);
    assert_eq!(log, done);
    assert_eq!(
        db.reader()
            .cached_records("agent-card", "k42")
            .expect("row")
            .len(),
        1
    );
}

#[test]
fn a_version_6_database_migrates() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v6.db");
    {
        let conn = crate::schema::open_at_version(&path, 6);
        // Peers as release 6 stored them: two with a card, one without.
        for (id, created, card) in [
            ("p-z", 1, Some("{\"node_id\":\"z\"}")),
            ("p-y", 2, None),
            ("p-x", 3, Some("{\"node_id\":\"x\"}")),
        ] {
            conn.execute(
                "INSERT INTO peers(id, node_id, name, base_url, card_url, callback_url, status,
                   card, created_ms, updated_ms)
                 VALUES (?1, ?1, ?1, 'https://b', 'https://c', 'https://cb', 'active', ?2, ?3, ?3)",
                rusqlite::params![id, card, created],
            )
            .expect("peer");
        }
    }
    let mut w = Writer::open(&path).expect("migrate");
    let version: i64 = w
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, crate::schema::SCHEMA_VERSION);
    let peers = w.peers().expect("peers");
    assert_eq!(peers.len(), 3);
    for p in &peers {
        assert_eq!(
            (p.hops, p.via_peer.as_deref(), p.card_etag.as_deref()),
            (1, None, None)
        );
    }
    // Peers with a card got sequences (oldest first), so a reader from 0 sees them.
    let seqs: Vec<(String, u64)> = w
        .cards_since(0, 10)
        .expect("cards")
        .into_iter()
        .map(|p| (p.id, p.card_seq))
        .collect();
    assert_eq!(seqs, [("p-z".to_owned(), 1), ("p-x".to_owned(), 2)]);
    assert_eq!(w.peer("p-y").expect("peer").map(|p| p.card_seq), Some(0));
    // New changes continue the sequence; the new tables work.
    let mut y = w.peer("p-y").expect("peer").expect("y");
    y.card = Some(json!({"node_id": "y"}));
    w.upsert_peer(&y).expect("card");
    assert_eq!(w.peer("p-y").expect("peer").map(|p| p.card_seq), Some(3));
    assert_eq!(w.peer_log("p-y").expect("log"), None);
    assert_eq!(w.cached_total().expect("total"), 0);
    w.apply_sync(&SyncBatch {
        peer_id: "p-y",
        source_registry: "p-y",
        from_size: 0,
        log: &log("p-y", 1),
        changes: &[put(0, "k", 1, card("Wren", "w"))],
        checkpoint_size: 1,
        checkpoint: "cp",
        now_ms: 1,
    })
    .expect("sync");
    drop(w);
    // Opening again runs nothing twice.
    let w = Writer::open(&path).expect("reopen");
    assert_eq!(w.cached_count("p-y").expect("count"), 1);
    assert_eq!(w.peers().expect("peers").len(), 3);
}

#[test]
fn a_version_8_cache_migrates_to_lean_rows_keeping_ids_and_bodies() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v8.db");
    let leaf = put_leaf(7, "alpha", 3, card("Alpha", "kept"));
    {
        let conn = crate::schema::open_at_version(&path, 8);
        conn.execute(
            "INSERT INTO peers(id, node_id, name, base_url, card_url, callback_url, status,
               created_ms, updated_ms)
             VALUES ('p-a', 'node-a', 'a', 'https://b', 'https://c', 'https://cb', 'active', 1, 1)",
            [],
        )
        .expect("peer");
        // Rows as release 8 stored them (body column included); ids 1..=3 were issued and
        // the newest two deleted, so the high-water mark (3) is above the highest id (1).
        for id in 1..=3 {
            conn.execute(
                "INSERT INTO peer_records(id, peer_id, source_registry, collection, key, version,
                   source_index, checkpoint_size, leaf, body, time_ms, synced_ms)
                 VALUES (?1, 'p-a', 'node-a', 'agent-card', ?2, 3, 7, 9, ?3, 'ignored', 1007, 5)",
                rusqlite::params![id, format!("k{id}"), leaf],
            )
            .expect("row");
        }
        conn.execute("DELETE FROM peer_records WHERE id > 1", [])
            .expect("delete");
    }
    let mut db = Db {
        w: Writer::open(&path).expect("migrate"),
        path,
        _dir: dir,
        versions: Default::default(),
    };
    let version: i64 =
        db.w.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
    assert_eq!(version, crate::schema::SCHEMA_VERSION);
    // The row keeps its id; its body now comes from its leaf.
    let row = db.w.cached_record_by_id(1).expect("read").expect("row 1");
    assert_eq!((row.key.as_str(), row.version), ("k1", 3));
    assert_eq!(row.body, card("Alpha", "kept"));
    assert_eq!(row.leaf, leaf);
    // No id is reused: the next row is above the old high-water mark.
    db.w.upsert_peer(&peer("p-b", "node-b")).expect("peer");
    db.sync("p-b", 0, 1, &[put(0, "k9", 1, card("K", "k"))], 1)
        .expect("sync");
    let ids: Vec<i64> =
        db.w.conn
            .prepare("SELECT id FROM peer_records ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("ids");
    assert_eq!(ids, vec![1, 4]);
    // One unique index serves both lookups.
    let indexes: Vec<String> =
        db.w.conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'peer_records'",
            )
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("names");
    assert_eq!(indexes.len(), 1, "{indexes:?}");
}

#[test]
fn sync_batches_leave_index_merges_to_merge_discovery() {
    let mut db = Db::new();
    // Eight batches, eight new segments: with FTS5's automerge (4) in force they would
    // have been merged inside the batches, and there would be nothing left to merge.
    const PER_BATCH: u64 = 200;
    for i in 0..8u64 {
        // Enough distinct words per batch that its segment spans many leaf pages (FTS5's
        // automerge only works once enough pages were written).
        let changes: Vec<CacheChange> = (0..PER_BATCH)
            .map(|j| {
                let n = i * PER_BATCH + j;
                let words: Vec<String> = (0..12).map(|w| format!("w{n}x{w} t{}", n % 97)).collect();
                put(n, &format!("k{n}"), 1, card("Same", &words.join(" ")))
            })
            .collect();
        db.sync("p-a", i * PER_BATCH, (i + 1) * PER_BATCH, &changes, 1)
            .expect("sync");
        // The setting is back to FTS5's default for every other writer.
        let automerge: i64 =
            db.w.conn
                .query_row(
                    "SELECT v FROM discovery_config WHERE k = 'automerge'",
                    [],
                    |r| r.get(0),
                )
                .expect("automerge");
        assert_eq!(automerge, 4);
    }
    // One segment per batch, unmerged.
    assert_eq!(db.segments(), 8);
    let r = db.reader();
    let before = found(&r, &query("t5"));
    assert!(before.len() >= 16, "{before:?}");
    assert!(
        db.w.merge_discovery(1_000).expect("merge"),
        "nothing to merge"
    );
    let mut steps = 1;
    while db.w.merge_discovery(1_000).expect("merge") {
        steps += 1;
        assert!(steps < 100, "merging never ends");
    }
    // Merged, the index answers the same.
    assert!(db.segments() < 8, "{} segments", db.segments());
    assert_eq!(found(&r, &query("t5")), before);
    assert_eq!(db.indexed(), 8 * 200);
    db.integrity_check();
}

#[test]
fn new_cached_rows_enter_discovery_after_the_commit_and_removals_at_once() {
    let mut db = Db::new();
    db.local(&[("l", Some(card("Merlin", "local")))]);
    db.sync(
        "p-a",
        0,
        2,
        &[
            put(0, "a", 1, card("Merlin", "fast")),
            put(1, "b", 1, card("Merlin", "slow")),
        ],
        1,
    )
    .expect("sync");
    let r = db.reader();
    assert!(!r.cache_unindexed().expect("unindexed"));
    // Applied, not indexed yet: the rows are cached (key lookups see them), discovery does
    // not; the update of a and the tombstone of b take their old rows out of discovery at
    // once, so no query ever finds a version that is gone.
    let out = db
        .apply(
            "p-a",
            2,
            7,
            &[
                put(2, "a", 2, card("Merlin", "swift")),
                del(3, "b", 2),
                put(4, "c", 1, card("Kite", "new")),
                // Replaced before it was ever indexed: it never reaches the index.
                put(5, "d", 1, card("Ibis", "first")),
                put(6, "d", 2, card("Ibis", "second")),
            ],
            2,
        )
        .expect("apply");
    assert_eq!((out.puts, out.deletes, out.cached), (4, 1, 3));
    assert!(r.cache_unindexed().expect("unindexed"));
    assert!(db.w.cache_unindexed().expect("unindexed"));
    assert_eq!(
        db.w.cached_records("agent-card", "c").expect("rows").len(),
        1
    );
    assert_eq!(found(&r, &query("merlin")), ["l"]);
    assert!(found(&r, &query("kite")).is_empty());
    assert_eq!(db.indexed(), 1);
    // The watermark is durable: a restart finds the rows still waiting.
    let path = db.path.clone();
    db.w = Writer::open(&path).expect("reopen");
    assert!(db.w.cache_unindexed().expect("unindexed"));
    // Indexed in steps, oldest first, each its own transaction.
    let step = db.w.index_cached(2).expect("index");
    assert_eq!(
        step,
        IndexStep {
            indexed: 2,
            more: true
        }
    );
    assert_eq!(found(&r, &query("merlin")), ["l", "a@node-a"]);
    assert!(found(&r, &query("ibis")).is_empty());
    assert_eq!(db.index_all(), 1);
    assert_eq!(found(&r, &query("ibis")), ["d@node-a"]);
    assert!(found(&r, &query("first")).is_empty());
    assert_eq!(
        found(&r, &query("")),
        ["l", "d@node-a", "c@node-a", "a@node-a"]
    );
    // Exactly one index row per live row; nothing left; a step with nothing to do is a
    // no-op.
    assert_eq!(db.indexed(), 4);
    assert_eq!(db.w.index_cached(10).expect("index"), IndexStep::default());
    assert!(!r.cache_unindexed().expect("unindexed"));
}

#[test]
fn removing_a_peer_with_rows_not_yet_indexed_leaves_the_index_exact() {
    let mut db = Db::new();
    db.sync("p-a", 0, 1, &[put(0, "a", 1, card("Swift", "a"))], 1)
        .expect("a");
    db.sync("p-b", 0, 1, &[put(0, "b", 1, card("Swift", "b"))], 1)
        .expect("b");
    db.apply("p-a", 1, 2, &[put(1, "x", 1, card("Swift", "x"))], 2)
        .expect("x");
    assert_eq!(db.indexed(), 2);
    db.w.reset_peer_log("p-a").expect("reset");
    // Nothing is left waiting, and the other peer's row is still found.
    assert!(!db.w.cache_unindexed().expect("unindexed"));
    assert_eq!(db.index_all(), 0);
    assert_eq!(db.indexed(), 1);
    let r = db.reader();
    assert_eq!(found(&r, &query("swift")), ["b@node-b"]);
    db.integrity_check();
}

#[test]
fn a_version_9_database_starts_its_watermark_at_the_high_water_mark() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v9.db");
    let leaf = put_leaf(7, "alpha", 3, card("Alpha", "kept"));
    {
        let conn = crate::schema::open_at_version(&path, 9);
        conn.execute(
            "INSERT INTO peers(id, node_id, name, base_url, card_url, callback_url, status,
               created_ms, updated_ms)
             VALUES ('p-a', 'node-a', 'a', 'https://b', 'https://c', 'https://cb', 'active', 1, 1)",
            [],
        )
        .expect("peer");
        // Release 9 indexed rows in their sync transaction: rows 1..=3, the newest deleted.
        for id in 1..=3i64 {
            conn.execute(
                "INSERT INTO peer_records(id, peer_id, source_registry, collection, key, version,
                   source_index, checkpoint_size, leaf, time_ms, synced_ms)
                 VALUES (?1, 'p-a', 'node-a', 'agent-card', ?2, 3, 7, 9, ?3, 1007, 5)",
                rusqlite::params![id, format!("k{id}"), leaf],
            )
            .expect("row");
            conn.execute(
                "INSERT INTO discovery(rowid, tokens) VALUES (?1, '0')",
                [CACHE_ROWID_BASE - id],
            )
            .expect("index row");
        }
        conn.execute("DELETE FROM peer_records WHERE id = 3", [])
            .expect("delete");
        conn.execute(
            "DELETE FROM discovery WHERE rowid = ?1",
            [CACHE_ROWID_BASE - 3],
        )
        .expect("unindex");
    }
    let mut db = Db {
        w: Writer::open(&path).expect("migrate"),
        path,
        _dir: dir,
        versions: Default::default(),
    };
    assert_eq!(
        db.w.meta("cache_indexed_id").expect("meta"),
        Some("3".into())
    );
    assert!(!db.w.cache_unindexed().expect("unindexed"));
    assert_eq!(db.index_all(), 0);
    // The next synced row is above it, and indexed once.
    db.w.upsert_peer(&peer("p-b", "node-b")).expect("peer");
    db.sync("p-b", 0, 1, &[put(0, "k9", 1, card("K", "k"))], 1)
        .expect("sync");
    assert_eq!(db.indexed(), 3);
    // A fresh database starts at 0.
    assert_eq!(
        Db::new().w.meta("cache_indexed_id").expect("meta"),
        Some("0".into())
    );
}

#[test]
fn fts_rows_are_json_whatever_the_token_text() {
    let tokens = vec![
        "0 nalpha dbeta".to_owned(),
        "odd \"quoted\" back\\slash\ncontrol".to_owned(),
        String::new(),
    ];
    let rows = [(7, 1), (-3, 0), (9, 2)];
    let parsed: Value =
        serde_json::from_str(&crate::cache::rows_json(&rows, &tokens)).expect("JSON");
    assert_eq!(parsed, json!([[7, tokens[1]], [-3, tokens[0]], [9, ""]]));
}

#[test]
fn body_depth_is_counted_outside_strings_only() {
    use crate::federation::text_nests_too_deep;
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(!text_nests_too_deep(&nested(STORED_JSON_DEPTH_MAX)));
    assert!(text_nests_too_deep(&nested(STORED_JSON_DEPTH_MAX + 1)));
    // Brackets in strings, escaped quotes included, do not nest.
    let in_string = format!(
        "{{\"s\":\"\\\"{}\"}}",
        "[".repeat(STORED_JSON_DEPTH_MAX + 5)
    );
    assert!(!text_nests_too_deep(&in_string));
}
