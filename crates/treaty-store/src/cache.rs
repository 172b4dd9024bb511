//! Verified incremental sync from peers: per-peer sync state, the local cache of peers'
//! records, the checkpoints that prove them, discrepancies and drift baselines.
//!
//! # Sync state and the cache move together
//!
//! A sync page, once verified against the peer's signed checkpoint
//! (`treaty_federation::sync::verify_page`), is applied by [`Writer::apply_sync`] in one
//! transaction: the record changes it brings, the new [`PeerLogRow`] and the checkpoint that
//! proves the changes. The stored log size is compare-and-set ([`SyncBatch::from_size`]): a
//! sync that restarts half-way (a crash, a second puller, a retried page) can never apply a
//! page twice or skip one, because a batch verified from another size than the stored one
//! is refused whole.
//!
//! # Cached records
//!
//! `peer_records` holds the current version of each `(peer, collection, key)`: a put newer
//! than the cached version replaces it (as a new row, with a new id), a tombstone newer than
//! it removes it, and anything not newer is skipped, so applying the same changes again
//! changes nothing. Cached rows are in the discovery index next to local records (see
//! [`crate::search`]'s "Cached peer records"): a row's FTS5 rowid is
//! [`crate::search::CACHE_ROWID_BASE`]` - id`, which is why a replaced version gets a new
//! id: the newest cached versions come first among cached hits, as the newest local
//! versions do among local ones.
//!
//! # Cached records enter discovery after their sync commits
//!
//! [`Writer::apply_sync`] does not index the rows it caches; [`Writer::index_cached`] does,
//! in its own transactions, oldest id first, and keeps a watermark in `meta`
//! (`cache_indexed_id`): every cached row with an id up to it is in the index, none above
//! it is. Ids only grow (AUTOINCREMENT), so the rows waiting are exactly those above the
//! watermark ([`Reader::cache_unindexed`]). Rows leave the index in the transaction that
//! removes them (a replaced version, a tombstone, a reset peer), and only if they are below
//! the watermark, so a query never finds a record that is gone and FTS5 never deletes a
//! row it does not hold.
//!
//! Why: building discovery tokens and writing FTS5 postings is about two thirds of
//! applying a page (1,000 agent-card changes: 21 ms in the sync transaction against 6.6 ms
//! without; see BENCHMARKS.md). Taking it out of the transaction halves an incremental
//! sync, and costs nothing in what queries see when the caller, as the node does, indexes
//! what is waiting before each discovery query: a record a sync committed is found by
//! every query that starts after the commit. A crash between the commit and the indexing
//! leaves the rows above the watermark, where the next indexing finds them.
//!
//! # History
//!
//! Discrepancies are evidence that a peer contradicted its own signed checkpoints; they are
//! kept when the peer is deleted or its sync is reset. Everything else here belongs to the
//! peer and goes with it (`Writer::delete_peer`).

use crate::federation::{STORED_JSON_DEPTH_MAX, check_depth, text_nests_too_deep};
use crate::search::{cached_rowid, cached_tokens_json};
use crate::{Reader, StoreError, Writer, i64_of, u64_of};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use std::collections::HashMap;
use treaty_types::{LeafEntry, LedgerEntry, Operation, RecordLeaf};

/// Migration 7: peer sync state, cached peer records, their checkpoints, discrepancies,
/// drift baselines, and registry-card propagation columns on `peers`.
pub(crate) const MIGRATION: &str = "
     -- 1 = first-hand peer; n > 1 = a registry discovered n hops away.
     ALTER TABLE peers ADD COLUMN hops INTEGER NOT NULL DEFAULT 1;
     -- The peer id a discovered registry was learned from (discovered ones only).
     ALTER TABLE peers ADD COLUMN via_peer TEXT;
     -- Change sequence for GET /v1/federation/registry-cards?since= (the highest ever
     -- issued is also kept in meta once one is, so deleting a peer never lets a sequence
     -- be reused; see federation.rs).
     ALTER TABLE peers ADD COLUMN card_seq INTEGER NOT NULL DEFAULT 0;
     -- ETag of the last direct card fetch (If-None-Match).
     ALTER TABLE peers ADD COLUMN card_etag TEXT;
     -- Peers that already hold a card get sequences 1..n (oldest first), so that a reader
     -- starting from 0 sees them: sequence 0 is never above any `since`.
     UPDATE peers SET card_seq = (
        SELECT COUNT(*) FROM peers AS p WHERE p.card IS NOT NULL
          AND (p.created_ms < peers.created_ms
               OR (p.created_ms = peers.created_ms AND p.id <= peers.id)))
     WHERE card IS NOT NULL;
     CREATE INDEX peers_by_card_seq ON peers(card_seq);
     -- Per-peer sync state (treaty_federation::sync::PeerLog). `records` counts the peer's
     -- peer_records rows, kept by apply_sync, so that reporting it never scans the cache.
     CREATE TABLE peer_logs (
        peer_id         TEXT PRIMARY KEY,
        size            INTEGER NOT NULL,
        range           BLOB NOT NULL, -- concatenated 32-byte hashes, leftmost first
        checkpoint      TEXT,
        checkpoint_size INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        records         INTEGER NOT NULL DEFAULT 0
     ) WITHOUT ROWID;
     -- Checkpoints of peers that prove cached records (peer_records.checkpoint_size).
     -- `records` counts the rows each proves, kept by apply_sync, so that a checkpoint
     -- proving none is dropped (rather than one piling up per sync) without an index on
     -- peer_records to find out.
     CREATE TABLE peer_checkpoints (
        peer_id TEXT NOT NULL,
        size    INTEGER NOT NULL,
        note    TEXT NOT NULL,
        records INTEGER NOT NULL,
        PRIMARY KEY (peer_id, size)
     ) WITHOUT ROWID;
     -- Cached peer records: the current version per (peer, collection, key); tombstones
     -- delete the row. AUTOINCREMENT: ids are never reused, because the discovery index
     -- orders cached rows by id (rowid = 2^62 - id), newest first.
     CREATE TABLE peer_records (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        peer_id         TEXT NOT NULL,
        source_registry TEXT NOT NULL,
        collection      TEXT NOT NULL,
        key             TEXT NOT NULL,
        version         INTEGER NOT NULL,
        source_index    INTEGER NOT NULL,
        checkpoint_size INTEGER NOT NULL,
        leaf            BLOB NOT NULL,
        body            TEXT NOT NULL,
        time_ms         INTEGER NOT NULL,
        synced_ms       INTEGER NOT NULL,
        UNIQUE (peer_id, collection, key)
     );
     CREATE INDEX peer_records_by_key ON peer_records(collection, key);
     -- Evidence that a peer contradicted its signed checkpoints (kept as history).
     CREATE TABLE discrepancies (
        id          INTEGER PRIMARY KEY,
        peer_id     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        detail      TEXT NOT NULL,
        evidence    TEXT NOT NULL,
        detected_ms INTEGER NOT NULL
     );
     CREATE INDEX discrepancies_by_peer ON discrepancies(peer_id, id);
     -- The policy and schemas a peer had when trust was established, to detect drift.
     CREATE TABLE peer_baselines (
        peer_id     TEXT PRIMARY KEY,
        policy_hash TEXT NOT NULL,
        schemas     TEXT NOT NULL,
        recorded_ms INTEGER NOT NULL
     ) WITHOUT ROWID;";

/// Schema migration 9: `peer_records` rebuilt leaner. The body column goes (a body is the
/// text at a known place in the stored leaf, and storing it twice made every cached row
/// twice as large to write), and the two indexes on `(peer_id, collection, key)` and
/// `(collection, key)` become one unique index on `(collection, key, peer_id)`, which
/// serves both lookups. Ids are kept, and so is the AUTOINCREMENT high-water mark (the
/// discovery index orders cached rows by id, so an id is never reused).
pub(crate) const MIGRATION_LEAN_RECORDS: &str = "
     CREATE TABLE peer_records_lean (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        peer_id         TEXT NOT NULL,
        source_registry TEXT NOT NULL,
        collection      TEXT NOT NULL,
        key             TEXT NOT NULL,
        version         INTEGER NOT NULL,
        source_index    INTEGER NOT NULL,
        checkpoint_size INTEGER NOT NULL,
        leaf            BLOB NOT NULL,
        time_ms         INTEGER NOT NULL,
        synced_ms       INTEGER NOT NULL,
        UNIQUE (collection, key, peer_id)
     );
     INSERT INTO peer_records_lean(id, peer_id, source_registry, collection, key, version,
        source_index, checkpoint_size, leaf, time_ms, synced_ms)
     SELECT id, peer_id, source_registry, collection, key, version, source_index,
        checkpoint_size, leaf, time_ms, synced_ms FROM peer_records ORDER BY id;
     DELETE FROM sqlite_sequence WHERE name = 'peer_records_lean';
     INSERT INTO sqlite_sequence(name, seq)
        SELECT 'peer_records_lean', seq FROM sqlite_sequence WHERE name = 'peer_records';
     DROP TABLE peer_records;
     ALTER TABLE peer_records_lean RENAME TO peer_records;";

/// Schema migration 10: the discovery index's watermark over cached records (see "Cached
/// records enter discovery after their sync commits" above). Every row a version-9
/// database holds is already indexed, so the watermark starts at the highest id ever
/// issued (0 when none was).
pub(crate) const MIGRATION_INDEX_WATERMARK: &str = "
     INSERT INTO meta(key, value)
        SELECT 'cache_indexed_id', CAST(COALESCE(MAX(seq), 0) AS TEXT)
        FROM sqlite_sequence WHERE name = 'peer_records';";

/// The `meta` key of the highest cached-record id the discovery index holds every row
/// up to (migration 10).
const INDEXED_THROUGH_KEY: &str = "cache_indexed_id";

/// Cached rows [`Writer::index_cached`] indexes per call (one transaction): bounded so
/// that a sync page or an operator write waiting for the store lock waits at most about
/// one step (5,000 agent cards: about 60 ms on a 2-vCPU machine).
pub const INDEX_STEP_ROWS: u32 = 5_000;

/// What one [`Writer::index_cached`] step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStep {
    /// Cached rows it added to the discovery index.
    pub indexed: u64,
    /// Whether rows may be left (call again until there are none).
    pub more: bool,
}

/// The stored verified state of one peer's log (`treaty_federation::sync::PeerLog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLogRow {
    /// The peer's id.
    pub peer_id: String,
    /// How many of the peer's ledger entries are verified and applied.
    pub size: u64,
    /// The compact range hashes of the peer's tree at `size`: one per set bit of `size`,
    /// leftmost first.
    pub range: Vec<[u8; 32]>,
    /// The held checkpoint note of the peer, `None` before the first page.
    pub checkpoint: Option<String>,
    /// The held checkpoint's size; 0 when none is held.
    pub checkpoint_size: u64,
    /// When it was stored, Unix milliseconds (set by [`Writer::apply_sync`]).
    pub updated_ms: u64,
}

/// A record version a peer's ledger puts.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePut {
    /// The entry's index in the peer's ledger.
    pub source_index: u64,
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// The version the entry makes.
    pub version: u64,
    /// The entry's exact leaf bytes (what the peer's tree commits to).
    pub leaf: Vec<u8>,
    /// Where the record body's JSON text is in `leaf` (`leaf[body]`, canonical). The body
    /// is not stored apart from the leaf, and not built as a `Value`: a sync applies
    /// thousands per page, and building, serializing and storing each body a second time
    /// cost more than the rest of applying it. Readers take it from the leaf.
    pub body: std::ops::Range<usize>,
    /// When the peer sequenced it, Unix milliseconds.
    pub time_ms: u64,
}

impl CachePut {
    /// The body's JSON text (`leaf[body]`), if the range is in the leaf and is UTF-8.
    #[must_use]
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(self.leaf.get(self.body.clone())?).ok()
    }
}

impl CacheChange {
    /// The change a verified record entry makes: a put, with the entry's `leaf` bytes and
    /// its body's place in them, or a tombstone (which drops `leaf`). A put without a body
    /// caches `null`.
    #[must_use]
    pub fn of_record(source_index: u64, r: RecordLeaf, leaf: Vec<u8>) -> CacheChange {
        match r.op {
            Operation::Put => CacheChange::Put(CachePut {
                source_index,
                collection: r.collection.to_string(),
                key: r.key.to_string(),
                version: r.version,
                leaf,
                body: r.body.unwrap_or(0..0),
                time_ms: r.time_ms,
            }),
            Operation::Delete => CacheChange::Delete {
                source_index,
                collection: r.collection.to_string(),
                key: r.key.to_string(),
                version: r.version,
            },
        }
    }
}

/// One record change of a verified sync page.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheChange {
    /// A put: caches this version unless a version at least as new is cached.
    Put(CachePut),
    /// A tombstone: removes the cached record if its version is older than `version`.
    Delete {
        /// The entry's index in the peer's ledger.
        source_index: u64,
        /// Collection.
        collection: String,
        /// Key.
        key: String,
        /// The tombstone's version.
        version: u64,
    },
}

impl CacheChange {
    fn source_index(&self) -> u64 {
        match self {
            CacheChange::Put(p) => p.source_index,
            CacheChange::Delete { source_index, .. } => *source_index,
        }
    }
}

/// A verified sync page, applied by [`Writer::apply_sync`] all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct SyncBatch<'a> {
    /// The peer's id.
    pub peer_id: &'a str,
    /// The node id of the registry the records come from (the peer's node id), for
    /// [`crate::SourceFilter::Registry`].
    pub source_registry: &'a str,
    /// The stored log size this batch was verified from; it must still be the stored size
    /// (compare-and-set), or nothing is applied.
    pub from_size: u64,
    /// The state after the batch, stored as is (`updated_ms` is set to `now_ms`).
    pub log: &'a PeerLogRow,
    /// The record changes of the entries `from_size..log.size`, in ledger order.
    pub changes: &'a [CacheChange],
    /// Size of the checkpoint that proves these changes.
    pub checkpoint_size: u64,
    /// That checkpoint's note text (stored once per size).
    pub checkpoint: &'a str,
    /// Now, Unix milliseconds.
    pub now_ms: u64,
}

/// What [`Writer::apply_sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    /// Puts that cached a new version (puts of versions not newer are skipped).
    pub puts: u64,
    /// Tombstones that removed a cached record.
    pub deletes: u64,
    /// Cached records of the peer after the batch.
    pub cached: u64,
}

/// A cached peer record.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedRecordRow {
    /// Row id; also names the row in discovery hits ([`crate::SearchHit::cached`]). A new
    /// version gets a new id.
    pub id: i64,
    /// The peer it was synced from.
    pub peer_id: String,
    /// The node id of the registry it comes from.
    pub source_registry: String,
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// Version.
    pub version: u64,
    /// Index of its entry in the source's ledger.
    pub source_index: u64,
    /// Size of the peer checkpoint that proved it ([`Reader::peer_checkpoint`]).
    pub checkpoint_size: u64,
    /// Its entry's exact leaf bytes.
    pub leaf: Vec<u8>,
    /// The record body.
    pub body: Value,
    /// When the source sequenced it, Unix milliseconds.
    pub time_ms: u64,
    /// When it was cached here, Unix milliseconds.
    pub synced_ms: u64,
}

/// A discrepancy: evidence that a peer served data its signed checkpoints contradict.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscrepancyRow {
    /// Row id, ascending with time (ignored by [`Writer::add_discrepancy`], which assigns
    /// it).
    pub id: i64,
    /// The peer.
    pub peer_id: String,
    /// Machine-readable kind (`treaty_federation::sync::DiscrepancyKind`).
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
    /// Everything a third party needs to redo the check.
    pub evidence: Value,
    /// When it was detected, Unix milliseconds.
    pub detected_ms: u64,
}

/// The policy and schemas a peer had when recorded, to detect drift from them.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRow {
    /// The peer.
    pub peer_id: String,
    /// Hash of its policy.
    pub policy_hash: String,
    /// Its collection schemas.
    pub schemas: Value,
    /// When recorded, Unix milliseconds.
    pub recorded_ms: u64,
}

/// `v` as a stored integer, refusing values SQLite cannot hold.
pub(crate) fn stored_int(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is out of range")))
}

/// Checks everything about a batch that does not need the database, so that a bad batch
/// is refused before it takes the write lock.
fn validate(b: &SyncBatch<'_>) -> Result<(), StoreError> {
    let invalid = |m: String| {
        Err(StoreError::Invalid(format!(
            "sync of peer {}: {m}",
            b.peer_id
        )))
    };
    if b.log.peer_id != b.peer_id {
        return invalid(format!("log is of peer {:?}", b.log.peer_id));
    }
    for (what, v) in [
        ("from_size", b.from_size),
        ("log size", b.log.size),
        ("log checkpoint_size", b.log.checkpoint_size),
        ("checkpoint_size", b.checkpoint_size),
        ("now_ms", b.now_ms),
    ] {
        stored_int(v, what)?;
    }
    if b.log.range.len() != b.log.size.count_ones() as usize {
        return invalid(format!(
            "range has {} hashes, a tree of {} leaves has {}",
            b.log.range.len(),
            b.log.size,
            b.log.size.count_ones()
        ));
    }
    // A log only grows (reset_peer_log starts over), and both checkpoints cover it.
    if b.log.size < b.from_size {
        return invalid(format!(
            "log size {} is below from_size {}",
            b.log.size, b.from_size
        ));
    }
    if b.checkpoint_size < b.log.size {
        return invalid(format!(
            "checkpoint of size {} does not cover the log's {} entries",
            b.checkpoint_size, b.log.size
        ));
    }
    // Changes are of the entries from_size..log.size, one per entry, in ledger order.
    let mut next = b.from_size;
    for c in b.changes {
        let index = c.source_index();
        if index < next || index >= b.log.size {
            return invalid(format!(
                "change of entry {index} is out of order or outside entries {}..{}",
                b.from_size, b.log.size
            ));
        }
        next = index + 1;
        if let CacheChange::Put(p) = c {
            stored_int(p.version, "version")?;
            stored_int(p.time_ms, "time_ms")?;
            let Some(body) = p.body_text() else {
                return invalid(format!(
                    "body of entry {index} is not UTF-8 text within its leaf"
                ));
            };
            if text_nests_too_deep(body) {
                return invalid(format!(
                    "body of entry {index} nests deeper than {STORED_JSON_DEPTH_MAX} levels"
                ));
            }
        } else if let CacheChange::Delete { version, .. } = c {
            stored_int(*version, "version")?;
        }
    }
    Ok(())
}

/// Rows from which [`Writer::index_cached`] builds discovery tokens on a second thread.
const TOKENS_PARALLEL_MIN: usize = 256;
/// Rows per unit of token work.
const TOKENS_CHUNK: usize = 64;

/// A cached row waiting for the discovery index.
struct Unindexed {
    id: i64,
    source_registry: String,
    collection: String,
    leaf: Vec<u8>,
    /// Where the body's JSON text is in `leaf` (`None`: no body).
    body: Option<std::ops::Range<usize>>,
}

impl Unindexed {
    fn tokens(&self) -> String {
        // Checked UTF-8 by `validate` when the row was cached; a body that is not (a
        // corrupted file) is indexed as a null body would be.
        let body = self
            .body
            .clone()
            .and_then(|r| std::str::from_utf8(self.leaf.get(r)?).ok())
            .unwrap_or("null");
        cached_tokens_json(&self.collection, body, &self.source_registry)
    }
}

/// The discovery tokens of a step's rows, built in chunks by whichever thread takes the
/// next one: the helper from the start, the writing thread too.
struct Tokens<'a> {
    rows: &'a [Unindexed],
    next: std::sync::atomic::AtomicUsize,
}

impl<'a> Tokens<'a> {
    fn new(rows: &'a [Unindexed]) -> Self {
        Tokens {
            rows,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Builds chunks until none is left; answers each with its first row's ordinal.
    fn work(&self) -> Vec<(usize, Vec<String>)> {
        let mut done = Vec::new();
        loop {
            let start = self
                .next
                .fetch_add(TOKENS_CHUNK, std::sync::atomic::Ordering::Relaxed);
            let Some(chunk) = self.rows.get(start..) else {
                return done;
            };
            let chunk = &chunk[..chunk.len().min(TOKENS_CHUNK)];
            if chunk.is_empty() {
                return done;
            }
            done.push((start, chunk.iter().map(Unindexed::tokens).collect()));
        }
    }

    /// Every row's tokens, by ordinal.
    fn collect(
        &self,
        mine: Vec<(usize, Vec<String>)>,
        theirs: Vec<(usize, Vec<String>)>,
    ) -> Vec<String> {
        let mut chunks: Vec<_> = mine.into_iter().chain(theirs).collect();
        chunks.sort_unstable_by_key(|(start, _)| *start);
        let all: Vec<String> = chunks.into_iter().flat_map(|(_, t)| t).collect();
        debug_assert_eq!(all.len(), self.rows.len());
        all
    }
}

/// The cached version of one record, as [`Writer::apply_sync`] tracks it.
#[derive(Debug, Clone, Copy)]
struct Current {
    id: i64,
    version: u64,
    checkpoint_size: i64,
}

/// The statements [`Writer::apply_sync`] runs per change.
struct Statements<'c> {
    find: rusqlite::CachedStatement<'c>,
    remove: rusqlite::CachedStatement<'c>,

    insert: rusqlite::CachedStatement<'c>,
}

/// What [`Writer::apply_sync`] knows and owes while it applies a batch.
#[derive(Debug)]
struct Batch<'b> {
    peer_id: &'b str,
    /// The peer's cached rows so far.
    records: i64,
    /// Whether records not changed by this batch may exist (and must be looked up).
    lookups: bool,
    /// The cached version of every record this batch changed (`None`: removed).
    current: HashMap<(&'b str, &'b str), Option<Current>>,
    /// The highest cached id the discovery index holds every row up to: rows above it
    /// (this batch's among them) are not in it yet.
    indexed_through: i64,
    /// Discovery rowids of indexed rows this batch removed or replaced.
    unindexed: Vec<i64>,
    /// Per checkpoint size, the change in how many cached rows it proves.
    proofs: HashMap<i64, i64>,
}

impl<'b> Batch<'b> {
    /// The cached version of a record.
    fn current(
        &self,
        st: &mut Statements<'_>,
        collection: &'b str,
        key: &'b str,
    ) -> Result<Option<Current>, StoreError> {
        if let Some(c) = self.current.get(&(collection, key)) {
            return Ok(*c);
        }
        if !self.lookups {
            return Ok(None);
        }
        Ok(st
            .find
            .query_row(params![self.peer_id, collection, key], |r| {
                Ok(Current {
                    id: r.get(0)?,
                    version: u64_of(r.get(1)?),
                    checkpoint_size: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Deletes a cached row, and notes its discovery row for deletion if it has one.
    fn remove(
        &mut self,
        st: &mut Statements<'_>,
        collection: &'b str,
        key: &'b str,
        c: Current,
    ) -> Result<(), StoreError> {
        st.remove.execute([c.id])?;
        if c.id <= self.indexed_through {
            self.unindexed.push(cached_rowid(c.id));
        }
        *self.proofs.entry(c.checkpoint_size).or_default() -= 1;
        self.current.insert((collection, key), None);
        self.records -= 1;
        Ok(())
    }

    /// Notes a row this batch cached.
    fn added(&mut self, collection: &'b str, key: &'b str, c: Current) {
        *self.proofs.entry(c.checkpoint_size).or_default() += 1;
        self.current.insert((collection, key), Some(c));
        self.records += 1;
    }
}

impl Writer {
    /// Applies a verified sync page in one transaction, all or nothing: the record changes
    /// (in order; see the module docs) with their discovery rows, the peer's new log state,
    /// the proving checkpoint and the peer's `last_synced_ms`.
    ///
    /// The proving checkpoint is stored (once per size) when the batch caches a record;
    /// [`Reader::peer_checkpoint`] then returns it for every record cached with it, until
    /// no cached record is proven by it any more and it is dropped. (The held checkpoint is
    /// part of the log state, [`PeerLogRow::checkpoint`].)
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the peer does not exist, the range does not have one
    /// hash per set bit of the log size, sizes or change indexes are inconsistent (changes
    /// must be of the entries `from_size..log.size`, in order), a body nests deeper than
    /// [`crate::federation::STORED_JSON_DEPTH_MAX`], or a value does not fit SQLite's
    /// integers; [`StoreError::Conflict`] when the stored log size is not `from_size`;
    /// SQLite errors. Nothing is written on any error.
    pub fn apply_sync(&mut self, b: &SyncBatch<'_>) -> Result<SyncOutcome, StoreError> {
        validate(b)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM peers WHERE id = ?1")?
            .query_row([b.peer_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Err(StoreError::Invalid(format!("no peer {:?}", b.peer_id)));
        }
        let stored: Option<(i64, i64)> = tx
            .prepare_cached("SELECT size, records FROM peer_logs WHERE peer_id = ?1")?
            .query_row([b.peer_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (stored_size, records_before) = stored.unwrap_or((0, 0));
        if u64_of(stored_size) != b.from_size {
            return Err(StoreError::Conflict {
                what: "peer log size",
                value: b.from_size.to_string(),
                holder: format!("{} (stored size {stored_size})", b.peer_id),
            });
        }
        let mut work = Batch {
            peer_id: b.peer_id,
            records: records_before,
            // The first sync of a peer (the largest, typically) looks nothing up.
            lookups: records_before > 0,
            current: HashMap::with_capacity(b.changes.len()),
            indexed_through: indexed_through(&tx)?,
            unindexed: Vec::new(),
            proofs: HashMap::new(),
        };
        let checkpoint_size = i64_of(b.checkpoint_size);
        let now = i64_of(b.now_ms);
        let mut out = SyncOutcome::default();
        let mut st = Statements {
            find: tx.prepare_cached(
                "SELECT id, version, checkpoint_size FROM peer_records
                 WHERE peer_id = ?1 AND collection = ?2 AND key = ?3",
            )?,
            remove: tx.prepare_cached("DELETE FROM peer_records WHERE id = ?1")?,
            insert: tx.prepare_cached(
                "INSERT INTO peer_records(peer_id, source_registry, collection, key,
                   version, source_index, checkpoint_size, leaf, time_ms, synced_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
        };
        for change in b.changes {
            match change {
                CacheChange::Put(p) => {
                    let cached = work.current(&mut st, &p.collection, &p.key)?;
                    if cached.is_some_and(|c| c.version >= p.version) {
                        continue;
                    }
                    if let Some(c) = cached {
                        work.remove(&mut st, &p.collection, &p.key, c)?;
                    }
                    st.insert.execute(params![
                        b.peer_id,
                        b.source_registry,
                        p.collection,
                        p.key,
                        i64_of(p.version),
                        i64_of(p.source_index),
                        checkpoint_size,
                        p.leaf,
                        i64_of(p.time_ms),
                        now
                    ])?;
                    let id = tx.last_insert_rowid();
                    // Ids below 2^62 keep cached rowids positive (see CACHE_ROWID_BASE);
                    // reaching it would take 2^62 inserts.
                    if id >= crate::search::CACHE_ROWID_BASE {
                        return Err(StoreError::Corrupt(format!(
                            "peer_records id {id} is beyond the discovery index's range"
                        )));
                    }
                    work.added(
                        &p.collection,
                        &p.key,
                        Current {
                            id,
                            version: p.version,
                            checkpoint_size,
                        },
                    );
                    out.puts += 1;
                }
                CacheChange::Delete {
                    collection,
                    key,
                    version,
                    ..
                } => {
                    let cached = work.current(&mut st, collection, key)?;
                    if let Some(c) = cached.filter(|c| c.version < *version) {
                        work.remove(&mut st, collection, key, c)?;
                        out.deletes += 1;
                    }
                }
            }
        }
        drop(st);
        // Removed rows leave the discovery index in this transaction, so a query never
        // finds a record that is gone; new rows enter it after the commit
        // (`Writer::index_cached`). One statement: FTS5 writes a segment (of tombstones
        // here) at every statement savepoint, and automerge is off for it (see
        // `merge_discovery`).
        if !work.unindexed.is_empty() {
            set_automerge(&tx, 0)?;
            let list = json_array(work.unindexed.iter().map(|rowid| rowid.to_string()));
            tx.prepare_cached(
                "DELETE FROM discovery WHERE rowid IN (SELECT value FROM json_each(?1))",
            )?
            .execute([list])?;
            set_automerge(&tx, crate::search::DISCOVERY_AUTOMERGE)?;
        }
        // Checkpoints: each counts the cached rows it proves, and goes when none is left.
        if out.puts > 0 {
            tx.prepare_cached(
                "INSERT INTO peer_checkpoints(peer_id, size, note, records) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT(peer_id, size) DO NOTHING",
            )?
            .execute(params![b.peer_id, checkpoint_size, b.checkpoint])?;
        }
        if !work.proofs.is_empty() {
            let mut adjust = tx.prepare_cached(
                "UPDATE peer_checkpoints SET records = records + ?3
                 WHERE peer_id = ?1 AND size = ?2",
            )?;
            for (size, delta) in &work.proofs {
                adjust.execute(params![b.peer_id, size, delta])?;
            }
            tx.prepare_cached("DELETE FROM peer_checkpoints WHERE peer_id = ?1 AND records <= 0")?
                .execute([b.peer_id])?;
        }
        let range: Vec<u8> = b.log.range.iter().flatten().copied().collect();
        tx.prepare_cached(
            "INSERT INTO peer_logs(peer_id, size, range, checkpoint, checkpoint_size,
               updated_ms, records)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(peer_id) DO UPDATE SET size = excluded.size, range = excluded.range,
               checkpoint = excluded.checkpoint, checkpoint_size = excluded.checkpoint_size,
               updated_ms = excluded.updated_ms, records = excluded.records",
        )?
        .execute(params![
            b.peer_id,
            i64_of(b.log.size),
            range,
            b.log.checkpoint,
            i64_of(b.log.checkpoint_size),
            now,
            work.records
        ])?;
        tx.prepare_cached("UPDATE peers SET last_synced_ms = ?2 WHERE id = ?1")?
            .execute(params![b.peer_id, now])?;
        let autocheckpoint = suspend_autocheckpoint(&tx)?;
        let committed = tx.commit();
        self.resume_autocheckpoint(autocheckpoint, committed)?;
        out.cached = u64_of(work.records);
        Ok(out)
    }

    /// Adds up to `rows` cached records that are not in the discovery index yet to it, in
    /// one transaction, oldest first, and moves the watermark past them. [`Writer::apply_sync`]
    /// leaves this to its caller, to run after the sync commit (see the module docs);
    /// answers how many it indexed and whether more may be left (call again until not).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a cached row whose leaf is not a record entry (nothing is
    /// indexed then); SQLite errors.
    pub fn index_cached(&mut self, rows: u32) -> Result<IndexStep, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let through = indexed_through(&tx)?;
        let mut pending = Vec::new();
        {
            let mut select = tx.prepare_cached(
                "SELECT id, source_registry, collection, leaf FROM peer_records
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let mut found = select.query(params![through, rows])?;
            while let Some(r) = found.next()? {
                let id: i64 = r.get(0)?;
                let leaf: Vec<u8> = r.get(3)?;
                let body = match LedgerEntry::read_leaf(&leaf) {
                    Ok(LeafEntry::Record(record)) => record.body,
                    Ok(LeafEntry::Other(_)) => {
                        return Err(StoreError::Corrupt(format!(
                            "leaf of cached record {id}: not a record entry"
                        )));
                    }
                    Err(e) => {
                        return Err(StoreError::Corrupt(format!(
                            "leaf of cached record {id}: {e}"
                        )));
                    }
                };
                pending.push(Unindexed {
                    id,
                    source_registry: r.get(1)?,
                    collection: r.get(2)?,
                    leaf,
                    body,
                });
            }
        }
        let Some(last) = pending.last().map(|u| u.id) else {
            return Ok(IndexStep::default());
        };
        // Tokens are built in Rust, the larger part of the work: for a large step, a
        // second thread builds them too (see `Tokens`).
        let work = Tokens::new(&pending);
        let tokens = std::thread::scope(|scope| -> Result<Vec<String>, StoreError> {
            let helper =
                (pending.len() >= TOKENS_PARALLEL_MIN).then(|| scope.spawn(|| work.work()));
            let mine = work.work();
            let theirs = match helper {
                Some(h) => h
                    .join()
                    .map_err(|_| StoreError::Invalid("discovery token thread panicked".into()))?,
                None => Vec::new(),
            };
            Ok(work.collect(mine, theirs))
        })?;
        // One FTS5 statement in ascending rowid order: FTS5 writes its buffered postings as
        // a segment at every statement savepoint and whenever rowids stop ascending. The
        // rows travel as one JSON array read by json_each. (Not staged through
        // discovery_pending as commit_batch does: a staging insert per row plus that
        // table's pages cost about 15% more, measured on 10,000 rows.) Automerge is off for
        // it: merging inside this transaction would hold the store lock for as long again;
        // `merge_discovery` does that work later. It is back on before anything else.
        let mut order: Vec<(i64, usize)> = pending
            .iter()
            .enumerate()
            .map(|(i, u)| (cached_rowid(u.id), i))
            .collect();
        order.sort_unstable_by_key(|(rowid, _)| *rowid);
        set_automerge(&tx, 0)?;
        tx.prepare_cached(
            "INSERT INTO discovery(rowid, tokens)
             SELECT value ->> 0, value ->> 1 FROM json_each(?1)",
        )?
        .execute([rows_json(&order, &tokens)])?;
        set_automerge(&tx, crate::search::DISCOVERY_AUTOMERGE)?;
        tx.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?
            .execute(params![INDEXED_THROUGH_KEY, last.to_string()])?;
        let autocheckpoint = suspend_autocheckpoint(&tx)?;
        let committed = tx.commit();
        self.resume_autocheckpoint(autocheckpoint, committed)?;
        Ok(IndexStep {
            indexed: pending.len() as u64,
            more: pending.len() >= usize::try_from(rows).unwrap_or(usize::MAX),
        })
    }

    /// Restores the WAL auto-checkpoint setting `suspend_autocheckpoint` answered (on the
    /// connection, whatever the commit did), then answers the commit's outcome.
    fn resume_autocheckpoint(
        &self,
        autocheckpoint: i64,
        committed: rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", autocheckpoint)?;
        committed?;
        Ok(())
    }

    /// Copies what the write-ahead log holds into the database file, as far as readers
    /// allow, without waiting for them (`PRAGMA wal_checkpoint(PASSIVE)`). [`Writer::apply_sync`]
    /// leaves this to its caller, to run once a sync cycle is over rather than inside
    /// every page's commit; otherwise the next commit on a connection that auto-checkpoints
    /// (the ledger's) does it.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn checkpoint_wal(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Does up to `pages` leaf pages of merge work on the discovery index (FTS5's `merge`
    /// command), on levels holding at least as many segments as automerge would wait for.
    /// [`Writer::apply_sync`] leaves merging to this, for its caller to run after a cycle;
    /// answers whether there was work (call again until there is none).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn merge_discovery(&mut self, pages: u32) -> Result<bool, StoreError> {
        let before = self.conn.total_changes();
        self.conn
            .prepare_cached("INSERT INTO discovery(discovery, rank) VALUES ('merge', ?1)")?
            .execute([pages])?;
        // FTS5 reports work done as two or more changes (its documented signal).
        Ok(self.conn.total_changes() - before >= 2)
    }

    /// Forgets everything synced from a peer: its log state, checkpoints and cached records
    /// (which leave the discovery index), so that the next sync starts from entry 0. Its
    /// discrepancies and baseline stay.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn reset_peer_log(&mut self, peer_id: &str) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        purge_peer(&tx, peer_id)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a discrepancy and returns its id. The peer need not exist (discrepancies are
    /// history and outlive their peer).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for evidence nested deeper than
    /// [`crate::federation::STORED_JSON_DEPTH_MAX`]; SQLite errors.
    pub fn add_discrepancy(&mut self, d: &DiscrepancyRow) -> Result<i64, StoreError> {
        check_depth(&d.evidence, "evidence of discrepancy of peer", &d.peer_id)?;
        let detected = stored_int(d.detected_ms, "detected_ms")?;
        self.conn
            .prepare_cached(
                "INSERT INTO discrepancies(peer_id, kind, detail, evidence, detected_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                d.peer_id,
                d.kind,
                d.detail,
                d.evidence.to_string(),
                detected
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores (or replaces) a peer's drift baseline.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for schemas nested deeper than
    /// [`crate::federation::STORED_JSON_DEPTH_MAX`]; SQLite errors.
    pub fn put_baseline(&mut self, b: &BaselineRow) -> Result<(), StoreError> {
        check_depth(&b.schemas, "schemas of baseline of peer", &b.peer_id)?;
        let recorded = stored_int(b.recorded_ms, "recorded_ms")?;
        self.conn
            .prepare_cached(
                "INSERT INTO peer_baselines(peer_id, policy_hash, schemas, recorded_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(peer_id) DO UPDATE SET policy_hash = excluded.policy_hash,
                   schemas = excluded.schemas, recorded_ms = excluded.recorded_ms",
            )?
            .execute(params![
                b.peer_id,
                b.policy_hash,
                b.schemas.to_string(),
                recorded
            ])?;
        Ok(())
    }
}

/// `[[rowid,"tokens"],...]` for the FTS5 insert, written directly: tokens are words and
/// facets, which need no JSON escaping (checked; anything else is escaped as JSON).
pub(crate) fn rows_json(rows: &[(i64, usize)], tokens: &[String]) -> String {
    use std::fmt::Write as _;
    let text_len: usize = tokens.iter().map(String::len).sum();
    let mut out = String::with_capacity(2 + text_len + rows.len() * 28);
    out.push('[');
    for (i, (rowid, put)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = tokens.get(*put).map_or("", String::as_str);
        // Writing to a String cannot fail.
        let _ = write!(out, "[{rowid},");
        if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            out.push_str(&Value::from(text).to_string());
        } else {
            out.push('"');
            out.push_str(text);
            out.push('"');
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// `[a,b,...]` from JSON texts.
fn json_array(items: impl Iterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// Deletes a peer's log state, checkpoints and cached records with their discovery rows,
/// inside the caller's transaction.
pub(crate) fn purge_peer(conn: &Connection, peer_id: &str) -> Result<(), StoreError> {
    // One FTS5 statement for all of the peer's rows (FTS5 handles `rowid IN` as rowid
    // lookups), before the rows that name them go.
    conn.prepare_cached(
        "DELETE FROM discovery WHERE rowid IN (
           SELECT ?2 - id FROM peer_records WHERE peer_id = ?1 AND id <= ?3)",
    )?
    .execute(params![
        peer_id,
        crate::search::CACHE_ROWID_BASE,
        indexed_through(conn)?
    ])?;
    conn.prepare_cached("DELETE FROM peer_records WHERE peer_id = ?1")?
        .execute([peer_id])?;
    conn.prepare_cached("DELETE FROM peer_checkpoints WHERE peer_id = ?1")?
        .execute([peer_id])?;
    conn.prepare_cached("DELETE FROM peer_logs WHERE peer_id = ?1")?
        .execute([peer_id])?;
    Ok(())
}

// --- reads, shared by Writer and Reader -------------------------------------------------

/// The highest cached-record id the discovery index holds every row up to.
fn indexed_through(conn: &Connection) -> Result<i64, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([INDEXED_THROUGH_KEY], |r| r.get(0))
        .optional()?;
    let text = text.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "meta holds no {INDEXED_THROUGH_KEY} (migration 10)"
        ))
    })?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("meta {INDEXED_THROUGH_KEY} is {text:?}")))
}

/// Whether cached rows above the discovery watermark exist (an index seek on the rowid).
fn unindexed_exist(conn: &Connection) -> Result<bool, StoreError> {
    let through = indexed_through(conn)?;
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM peer_records WHERE id > ?1)")?
        .query_row([through], |r| r.get(0))?)
}

const RECORD_COLUMNS: &str = "id, peer_id, source_registry, collection, key, version,
    source_index, checkpoint_size, leaf, time_ms, synced_ms";

const DISCREPANCY_COLUMNS: &str = "id, peer_id, kind, detail, evidence, detected_ms";

fn json_of(text: &str, what: &str, id: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} of {id}: {e}")))
}

fn peer_log_of(r: &Row<'_>) -> Result<PeerLogRow, StoreError> {
    let peer_id: String = r.get(0)?;
    let bytes: Vec<u8> = r.get(2)?;
    if bytes.len() % 32 != 0 {
        return Err(StoreError::Corrupt(format!(
            "range of peer log {peer_id} is {} bytes, not a multiple of 32",
            bytes.len()
        )));
    }
    let range = bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    Ok(PeerLogRow {
        size: u64_of(r.get(1)?),
        range,
        checkpoint: r.get(3)?,
        checkpoint_size: u64_of(r.get(4)?),
        updated_ms: u64_of(r.get(5)?),
        peer_id,
    })
}

fn cached_record_of(r: &Row<'_>) -> Result<CachedRecordRow, StoreError> {
    let id: i64 = r.get(0)?;
    let leaf: Vec<u8> = r.get(8)?;
    Ok(CachedRecordRow {
        peer_id: r.get(1)?,
        source_registry: r.get(2)?,
        collection: r.get(3)?,
        key: r.get(4)?,
        version: u64_of(r.get(5)?),
        source_index: u64_of(r.get(6)?),
        checkpoint_size: u64_of(r.get(7)?),
        body: body_of_leaf(&leaf, id)?,
        leaf,
        time_ms: u64_of(r.get(9)?),
        synced_ms: u64_of(r.get(10)?),
        id,
    })
}

/// The body of a cached record, read from its leaf (where it is stored; see [`CachePut`]).
fn body_of_leaf(leaf: &[u8], id: i64) -> Result<Value, StoreError> {
    let corrupt = |m: String| StoreError::Corrupt(format!("leaf of cached record {id}: {m}"));
    match LedgerEntry::read_leaf(leaf).map_err(|e| corrupt(e.to_string()))? {
        LeafEntry::Record(r) => match r.body_text(leaf) {
            Some(text) => json_of(text, "body", &format!("cached record {id}")),
            None => Ok(Value::Null),
        },
        LeafEntry::Other(_) => Err(corrupt("not a record entry".into())),
    }
}

fn discrepancy_of(r: &Row<'_>) -> Result<DiscrepancyRow, StoreError> {
    let id: i64 = r.get(0)?;
    Ok(DiscrepancyRow {
        peer_id: r.get(1)?,
        kind: r.get(2)?,
        detail: r.get(3)?,
        evidence: json_of(
            &r.get::<_, String>(4)?,
            "evidence",
            &format!("discrepancy {id}"),
        )?,
        detected_ms: u64_of(r.get(5)?),
        id,
    })
}

fn baseline_of(r: &Row<'_>) -> Result<BaselineRow, StoreError> {
    let peer_id: String = r.get(0)?;
    Ok(BaselineRow {
        policy_hash: r.get(1)?,
        schemas: json_of(&r.get::<_, String>(2)?, "schemas of baseline", &peer_id)?,
        recorded_ms: u64_of(r.get(3)?),
        peer_id,
    })
}

/// Every row `sql` selects with `args`, converted by `of`.
pub(crate) fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    of: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(args, |r| Ok(of(r)))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().collect()
}

/// The first row `sql` selects with `args`, converted by `of`.
fn one<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    of: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_row(args, |r| Ok(of(r))).optional()?.transpose()
}

fn peer_log(conn: &Connection, peer_id: &str) -> Result<Option<PeerLogRow>, StoreError> {
    one(
        conn,
        "SELECT peer_id, size, range, checkpoint, checkpoint_size, updated_ms
         FROM peer_logs WHERE peer_id = ?1",
        [peer_id],
        peer_log_of,
    )
}

fn peer_checkpoint(
    conn: &Connection,
    peer_id: &str,
    size: u64,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT note FROM peer_checkpoints WHERE peer_id = ?1 AND size = ?2")?
        .query_row(params![peer_id, i64_of(size)], |r| r.get(0))
        .optional()?)
}

fn cached_records(
    conn: &Connection,
    collection: &str,
    key: &str,
) -> Result<Vec<CachedRecordRow>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {RECORD_COLUMNS} FROM peer_records WHERE collection = ?1 AND key = ?2
             ORDER BY synced_ms DESC, id DESC"
        ),
        params![collection, key],
        cached_record_of,
    )
}

fn cached_record_by_id(conn: &Connection, id: i64) -> Result<Option<CachedRecordRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {RECORD_COLUMNS} FROM peer_records WHERE id = ?1"),
        [id],
        cached_record_of,
    )
}

fn cached_count(conn: &Connection, peer_id: &str) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT records FROM peer_logs WHERE peer_id = ?1")?
        .query_row([peer_id], |r| r.get(0))
        .optional()?;
    Ok(n.map_or(0, u64_of))
}

fn cached_total(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(records), 0) FROM peer_logs")?
        .query_row([], |r| r.get(0))?;
    Ok(u64_of(n))
}

fn discrepancies(
    conn: &Connection,
    peer_id: Option<&str>,
    after_id: i64,
    limit: u32,
) -> Result<Vec<DiscrepancyRow>, StoreError> {
    match peer_id {
        Some(peer_id) => rows(
            conn,
            &format!(
                "SELECT {DISCREPANCY_COLUMNS} FROM discrepancies
                 WHERE peer_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            params![peer_id, after_id, limit],
            discrepancy_of,
        ),
        None => rows(
            conn,
            &format!(
                "SELECT {DISCREPANCY_COLUMNS} FROM discrepancies
                 WHERE id > ?1 ORDER BY id LIMIT ?2"
            ),
            params![after_id, limit],
            discrepancy_of,
        ),
    }
}

fn baseline(conn: &Connection, peer_id: &str) -> Result<Option<BaselineRow>, StoreError> {
    one(
        conn,
        "SELECT peer_id, policy_hash, schemas, recorded_ms FROM peer_baselines
         WHERE peer_id = ?1",
        [peer_id],
        baseline_of,
    )
}

/// The same read methods on [`Writer`] and [`Reader`].
macro_rules! cache_reads {
    ($t:ty) => {
        impl $t {
            /// The stored sync state of a peer's log; `None` before its first sync (or after
            /// a reset), which is the empty log.
            ///
            /// # Errors
            /// SQLite errors, or a stored range that is not whole hashes.
            pub fn peer_log(&self, peer_id: &str) -> Result<Option<PeerLogRow>, StoreError> {
                peer_log(&self.conn, peer_id)
            }

            /// Whether cached records are waiting for the discovery index
            /// ([`Writer::index_cached`]).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn cache_unindexed(&self) -> Result<bool, StoreError> {
                unindexed_exist(&self.conn)
            }

            /// The note of a peer's checkpoint of `size` that proves cached records.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn peer_checkpoint(
                &self,
                peer_id: &str,
                size: u64,
            ) -> Result<Option<String>, StoreError> {
                peer_checkpoint(&self.conn, peer_id, size)
            }

            /// Every cached copy of a record (one per peer that has it), most recently
            /// synced first.
            ///
            /// # Errors
            /// SQLite errors, or a stored body that is not JSON.
            pub fn cached_records(
                &self,
                collection: &str,
                key: &str,
            ) -> Result<Vec<CachedRecordRow>, StoreError> {
                cached_records(&self.conn, collection, key)
            }

            /// A cached record by id (as [`crate::SearchHit::cached`] names it).
            ///
            /// # Errors
            /// SQLite errors, or a stored body that is not JSON.
            pub fn cached_record_by_id(
                &self,
                id: i64,
            ) -> Result<Option<CachedRecordRow>, StoreError> {
                cached_record_by_id(&self.conn, id)
            }

            /// Number of records cached from a peer (no scan: kept with its log state).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn cached_count(&self, peer_id: &str) -> Result<u64, StoreError> {
                cached_count(&self.conn, peer_id)
            }

            /// Number of cached records from every peer.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn cached_total(&self) -> Result<u64, StoreError> {
                cached_total(&self.conn)
            }

            /// Discrepancies with id above `after_id`, of one peer or (`None`) of all, in
            /// ascending id (detection) order, at most `limit`. Page by passing the last
            /// id as the next `after_id`.
            ///
            /// # Errors
            /// SQLite errors, or stored evidence that is not JSON.
            pub fn discrepancies(
                &self,
                peer_id: Option<&str>,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<DiscrepancyRow>, StoreError> {
                discrepancies(&self.conn, peer_id, after_id, limit)
            }

            /// A peer's drift baseline.
            ///
            /// # Errors
            /// SQLite errors, or stored schemas that are not JSON.
            pub fn baseline(&self, peer_id: &str) -> Result<Option<BaselineRow>, StoreError> {
                baseline(&self.conn, peer_id)
            }
        }
    };
}

cache_reads!(Writer);
cache_reads!(Reader);

/// Leaf pages of discovery-index merge work per [`Writer::merge_discovery`] step after a
/// sync cycle (about 1 MB; a caller holding a lock around each step releases it between
/// steps, so that other writers wait at most one step).
pub const MERGE_STEP_PAGES: u32 = 1_000;
/// Most merge steps after one sync cycle; what is left waits for the next cycle (FTS5's
/// crisis merges bound the segments meanwhile).
pub const MERGE_STEPS_MAX: usize = 64;

/// Turns the WAL auto-checkpoint off for `tx`'s commit, which after thousands of rows
/// would copy all of them into the database file before the commit returns (the commit is
/// durable either way; the caller runs [`Writer::checkpoint_wal`] later). Answers the
/// setting for `Writer::resume_autocheckpoint` to restore once `tx` is committed.
fn suspend_autocheckpoint(tx: &rusqlite::Transaction<'_>) -> Result<i64, StoreError> {
    let autocheckpoint: i64 = tx.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
    tx.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(autocheckpoint)
}

/// Sets FTS5's automerge for the discovery index (persistent, and part of `tx`).
fn set_automerge(tx: &rusqlite::Transaction<'_>, segments: u32) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO discovery(discovery, rank) VALUES ('automerge', ?1)")?
        .execute([segments])?;
    Ok(())
}
