//! Durable storage for a Treaty node, in SQLite.
//!
//! One file holds the ledger (entries and every stored subtree hash), the signed
//! checkpoints, the current head of every record, collections and access tokens. The
//! database runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
//! crash or power loss, and readers never block the single writer.
//!
//! The durability rule the node relies on: a batch of entries, their tree hashes, the state
//! they move (record heads and the discovery index, calendar rows, federation proposals and
//! agreements; see [`Effect`]) and the checkpoint that covers them are written in **one**
//! transaction ([`Writer::commit_batch`]). A checkpoint therefore never exists without its
//! entries, entries never exist without the checkpoint that covers them, and state never
//! disagrees with the ledger entries that describe it.

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;
use treaty_merkle::{CompactRange, Hash, HashReader, MerkleError, stored_hash_count};
use treaty_types::Operation;

pub mod cache;
pub mod federation;
mod schema;
pub mod search;
pub mod witness;

pub use cache::{
    BaselineRow, CacheChange, CachePut, CachedRecordRow, DiscrepancyRow, INDEX_STEP_ROWS,
    IndexStep, MERGE_STEP_PAGES, MERGE_STEPS_MAX, PeerLogRow, SyncBatch, SyncOutcome,
};
pub use federation::{
    AgreementRow, FedOp, LicenseRow, PEER_FAILURES_KEPT, PeerFailure, PeerRow, ProposalRow,
};
pub use search::{CACHE_ROWID_BASE, SearchError, SearchHit, SearchPage, SearchQuery, SourceFilter};
pub use witness::{CosignatureRow, FedEventRow, PendingEvent, WitnessStateRow, WitnessUpdate};

/// How long a connection waits for another writer before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored data contradicts itself.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// Tree math over stored hashes failed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A database written by a newer Treaty.
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// A value that must be unique is already taken by another row. Nothing was written.
    #[error("{what} {value:?} is already taken (by {holder:?})")]
    Conflict {
        /// Which value: `"peer node_id"`, `"license id"`, `"license hash"`.
        what: &'static str,
        /// The value (a hash as hex).
        value: String,
        /// Id of the row that has it.
        holder: String,
    },
    /// A compare-and-set found the stored state moved on (see
    /// [`Writer::commit_witness`]). Nothing was written.
    #[error("stale update: {0}")]
    Stale(String),
    /// A row the schema refuses (see [`FedOp::validate`]). Nothing was written.
    #[error("invalid row: {0}")]
    Invalid(String),
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it covers.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// The full signed note text.
    pub note: String,
    /// When it was signed, Unix milliseconds.
    pub signed_ms: u64,
}

/// What committing an entry does besides storing the entry itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A record mutation: moves the record's head and its discovery index row, from the
    /// entry's `collection`, `key`, `version`, `op`, `time_ms` and `body`.
    Record,
    /// A timestamp calendar submission: a `calendar_entries` row (leaf hash to ledger index,
    /// for `GET /timestamp/<leaf>`). The record fields of the entry are ignored.
    Calendar,
    /// A federation trust event: its proposal and agreement rows are upserted (by id) in the
    /// same transaction. No record head, no index row; the record fields are ignored. (Boxed:
    /// the rows are large and rare, record entries are small and many.)
    Federation(Box<FedOp>),
    /// A federation evidence entry (witness event, cross-anchor, discrepancy): indexed in
    /// `fed_events` by kind, peer and size; when it came from the pending queue, its queue
    /// row is deleted in the same transaction (so it is written exactly once). The record
    /// fields are ignored.
    Event {
        /// Entry kind (`fed_witness_event`, ...).
        kind: String,
        /// The peer it concerns.
        peer_id: Option<String>,
        /// The tree size it concerns.
        size: Option<u64>,
        /// The `pending_events` row it drains.
        pending_id: Option<i64>,
    },
}

/// One entry of a batch about to be committed.
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    /// Canonical leaf bytes.
    pub leaf: Vec<u8>,
    /// `SHA-256(0x00 || leaf)`.
    pub leaf_hash: Hash,
    /// Collection of the record it mutates ([`Effect::Record`] only).
    pub collection: String,
    /// Key of the record it mutates ([`Effect::Record`] only).
    pub key: String,
    /// Version after the mutation ([`Effect::Record`] only).
    pub version: u64,
    /// Put or delete ([`Effect::Record`] only).
    pub op: Operation,
    /// Sequencing time, Unix milliseconds.
    pub time_ms: u64,
    /// The record body after the mutation (`None` for tombstones), for the discovery index
    /// ([`Effect::Record`] only).
    pub body: Option<serde_json::Value>,
    /// What else committing the entry writes.
    pub effect: Effect,
}

/// Everything one sequencer batch writes, atomically.
#[derive(Debug)]
pub struct BatchCommit<'a> {
    /// Ledger index of `entries[0]`; must equal the current ledger size.
    pub first_index: u64,
    /// The entries, in ledger order.
    pub entries: &'a [PreparedEntry],
    /// Stored tree hashes the entries add, starting at `stored_hash_count(first_index)`.
    pub hashes: &'a [Hash],
    /// The checkpoint covering the new size.
    pub checkpoint: &'a StoredCheckpoint,
}

/// The current state of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// Current version.
    pub version: u64,
    /// Whether the current version is a put or a tombstone.
    pub op: Operation,
    /// Body of the current version (absent for tombstones).
    pub body: Option<serde_json::Value>,
    /// Ledger index of the entry that made this version.
    pub ledger_index: u64,
    /// Leaf hash of that entry.
    pub leaf_hash: Hash,
    /// When that entry was sequenced, Unix milliseconds.
    pub updated_ms: u64,
}

/// A ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Ledger index.
    pub index: u64,
    /// Exact leaf bytes.
    pub leaf: Vec<u8>,
    /// Leaf hash.
    pub leaf_hash: Hash,
}

/// An operator-defined or built-in collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRow {
    /// Name.
    pub name: String,
    /// Free text from the operator.
    pub description: String,
    /// Created, Unix milliseconds.
    pub created_ms: u64,
}

/// An operator-set collection schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRow {
    /// Collection.
    pub collection: String,
    /// Operator's version string.
    pub version: String,
    /// The JSON Schema.
    pub schema: serde_json::Value,
    /// When it was set, Unix milliseconds.
    pub set_ms: u64,
}

/// A registry card signing key (public half; the seed lives in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Created, Unix milliseconds.
    pub created_ms: u64,
    /// Retired, Unix milliseconds (None for the current key).
    pub retired_ms: Option<u64>,
}

/// An access token, stored only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Public identifier (not secret), used to revoke.
    pub id: String,
    /// SHA-256 of the secret token.
    pub hash: Hash,
    /// Human label.
    pub name: String,
    /// Collections it may write; `None` means every collection and operator actions.
    pub collections: Option<Vec<String>>,
    /// Issued, Unix milliseconds.
    pub created_ms: u64,
    /// Revoked, Unix milliseconds, if revoked.
    pub revoked_ms: Option<u64>,
}

/// Page cache of a writing connection, KiB (see [`Writer::open`]).
const WRITER_CACHE_KIB: i64 = 32 * 1024;

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    // WAL: readers never block the writer; FULL: a commit is on disk when it returns.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    // Every stored quantity (indexes, sizes, milliseconds) is far below 2^63.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn hash_of(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes".into()))
}

fn op_of(s: &str) -> Result<Operation, StoreError> {
    match s {
        "put" => Ok(Operation::Put),
        "delete" => Ok(Operation::Delete),
        other => Err(StoreError::Corrupt(format!("unknown operation {other:?}"))),
    }
}

/// The read-write connection. The node's sequencer owns one; operator actions use another
/// (SQLite serializes them).
#[derive(Debug)]
pub struct Writer {
    conn: Connection,
}

impl Writer {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// SQLite errors, or [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A write transaction whose dirty pages outgrow the page cache (SQLite's default is
        // 2 MiB) spills them to the WAL before the commit, and pages modified again after a
        // spill are written twice: a sync page of 5,000 cached records dirties about 8 MiB.
        // The cache only grows as far as it is used.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        schema::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// A value from the node's metadata table.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta(&self.conn, key)
    }

    /// Sets a metadata value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Number of entries in the ledger.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn ledger_size(&self) -> Result<u64, StoreError> {
        ledger_size(&self.conn)
    }

    /// The right edge of the stored tree of `size` leaves.
    ///
    /// # Errors
    /// SQLite errors, or missing hashes.
    pub fn compact_range(&self, size: u64) -> Result<CompactRange, StoreError> {
        Ok(CompactRange::from_reader(size, &ConnHashes(&self.conn))?)
    }

    /// Root of the stored tree at `size`, read from stored hashes.
    ///
    /// # Errors
    /// SQLite errors, or missing hashes.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        Ok(treaty_merkle::root_at(size, &ConnHashes(&self.conn))?)
    }

    /// The newest checkpoint.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        latest_checkpoint(&self.conn)
    }

    /// Current version and operation of a record, if it exists (tombstones included).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_head(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<(u64, Operation)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT version, op FROM records WHERE collection = ?1 AND key = ?2")?;
        let row = stmt
            .query_row(params![collection, key], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        row.map(|(v, op)| Ok((u64_of(v), op_of(&op)?))).transpose()
    }

    /// Writes a whole batch in one transaction: the entries, their tree hashes, what each
    /// entry's [`Effect`] moves (record heads and discovery index rows, calendar rows,
    /// federation proposals and agreements) and the checkpoint.
    ///
    /// The transaction takes the write lock when it starts (`BEGIN IMMEDIATE`), so another
    /// connection's write (operator actions) makes it wait rather than fail.
    ///
    /// # Errors
    /// SQLite errors; [`StoreError::Corrupt`] when the batch does not start at the current
    /// ledger size or its hashes or checkpoint do not match it; [`StoreError::Invalid`] for a
    /// federation operation [`FedOp::validate`] refuses. Nothing is written on any error.
    pub fn commit_batch(&mut self, batch: &BatchCommit<'_>) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let size = ledger_size(&tx)?;
        if size != batch.first_index {
            return Err(StoreError::Corrupt(format!(
                "batch starts at {} but the ledger holds {size} entries",
                batch.first_index
            )));
        }
        let new_size = batch.first_index + batch.entries.len() as u64;
        if batch.checkpoint.size != new_size {
            return Err(StoreError::Corrupt(format!(
                "checkpoint covers {} entries, batch ends at {new_size}",
                batch.checkpoint.size
            )));
        }
        let expected_hashes = stored_hash_count(new_size) - stored_hash_count(size);
        if batch.hashes.len() as u64 != expected_hashes {
            return Err(StoreError::Corrupt(format!(
                "batch carries {} tree hashes, expected {expected_hashes}",
                batch.hashes.len()
            )));
        }
        {
            let mut put_entry =
                tx.prepare_cached("INSERT INTO entries(idx, leaf, leaf_hash) VALUES (?1, ?2, ?3)")?;
            let mut put_record = tx.prepare_cached(
                "INSERT INTO records(collection, key, version, op, ledger_index, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(collection, key) DO UPDATE SET version = excluded.version,
                   op = excluded.op, ledger_index = excluded.ledger_index,
                   updated_ms = excluded.updated_ms",
            )?;
            let mut put_calendar =
                tx.prepare_cached("INSERT INTO calendar_entries(leaf_hash, idx) VALUES (?1, ?2)")?;
            for (i, e) in batch.entries.iter().enumerate() {
                let idx = i64_of(batch.first_index + i as u64);
                put_entry.execute(params![idx, e.leaf, &e.leaf_hash[..]])?;
                match &e.effect {
                    Effect::Record => {
                        put_record.execute(params![
                            e.collection,
                            e.key,
                            i64_of(e.version),
                            e.op.as_str(),
                            idx,
                            i64_of(e.time_ms)
                        ])?;
                        search::index_record(&tx, &e.collection, &e.key, e.body.as_ref())?;
                    }
                    Effect::Calendar => {
                        put_calendar.execute(params![&e.leaf_hash[..], idx])?;
                    }
                    Effect::Federation(op) => federation::apply(&tx, op)?,
                    Effect::Event {
                        kind,
                        peer_id,
                        size,
                        pending_id,
                    } => witness::apply_event(
                        &tx,
                        idx,
                        kind,
                        peer_id.as_deref(),
                        *size,
                        *pending_id,
                        e.time_ms,
                    )?,
                }
            }
            let mut put_hash =
                tx.prepare_cached("INSERT INTO tree_hashes(idx, hash) VALUES (?1, ?2)")?;
            let first_hash = stored_hash_count(size);
            for (i, h) in batch.hashes.iter().enumerate() {
                put_hash.execute(params![i64_of(first_hash + i as u64), &h[..]])?;
            }
            tx.prepare_cached(
                "INSERT INTO checkpoints(size, root, note, signed_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(size) DO NOTHING",
            )?
            .execute(params![
                i64_of(batch.checkpoint.size),
                &batch.checkpoint.root[..],
                batch.checkpoint.note,
                i64_of(batch.checkpoint.signed_ms)
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores a checkpoint on its own (the first, empty checkpoint of a new ledger).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO checkpoints(size, root, note, signed_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(size) DO NOTHING",
            params![i64_of(cp.size), &cp.root[..], cp.note, i64_of(cp.signed_ms)],
        )?;
        Ok(())
    }

    /// Creates an operator-defined collection. Returns false when it already existed.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn create_collection(
        &self,
        name: &str,
        description: &str,
        created_ms: u64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO collections(name, description, created_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO NOTHING",
            params![name, description, i64_of(created_ms)],
        )?;
        Ok(n == 1)
    }

    /// Sets (or replaces) a collection's schema.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_schema(&self, row: &SchemaRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO collection_schemas(collection, version, schema, set_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(collection) DO UPDATE SET version = excluded.version,
               schema = excluded.schema, set_ms = excluded.set_ms",
            params![row.collection, row.version, row.schema.to_string(), i64_of(row.set_ms)],
        )?;
        Ok(())
    }

    /// Removes a collection's schema. Returns false when it had none.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn delete_schema(&self, collection: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM collection_schemas WHERE collection = ?1",
            [collection],
        )?;
        Ok(n == 1)
    }

    /// Every operator-set schema.
    ///
    /// # Errors
    /// SQLite errors, or a stored schema that is not JSON.
    pub fn schemas(&self) -> Result<Vec<SchemaRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT collection, version, schema, set_ms FROM collection_schemas ORDER BY collection",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(collection, version, schema, set)| {
                Ok(SchemaRow {
                    schema: serde_json::from_str(&schema)
                        .map_err(|e| StoreError::Corrupt(format!("schema of {collection}: {e}")))?,
                    collection,
                    version,
                    set_ms: u64_of(set),
                })
            })
            .collect()
    }

    /// The ledger index of a calendar entry, by leaf hash.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn calendar_entry(&self, leaf_hash: &Hash) -> Result<Option<u64>, StoreError> {
        calendar_entry(&self.conn, leaf_hash)
    }

    /// All card keys, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn card_keys(&self) -> Result<Vec<CardKeyRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kid, public_key, created_ms, retired_ms FROM card_keys ORDER BY created_ms, kid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(kid, pk, created, retired)| {
                Ok(CardKeyRow {
                    kid,
                    public_key: hash_of(pk)?,
                    created_ms: u64_of(created),
                    retired_ms: retired.map(u64_of),
                })
            })
            .collect()
    }

    /// Makes `new` the current card key, retiring the current one at `new.created_ms`, in one
    /// transaction.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn rotate_card_key(&mut self, new: &CardKeyRow) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE card_keys SET retired_ms = ?1 WHERE retired_ms IS NULL",
            [i64_of(new.created_ms)],
        )?;
        tx.execute(
            "INSERT INTO card_keys(kid, public_key, created_ms, retired_ms) VALUES (?1, ?2, ?3, NULL)",
            params![new.kid, &new.public_key[..], i64_of(new.created_ms)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The stored signed card: (etag, document, signed_ms).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn card_state(&self) -> Result<Option<(String, Vec<u8>, u64)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT etag, document, signed_ms FROM card_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, u64_of(r.get(2)?))),
            )
            .optional()?)
    }

    /// Stores the signed card.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_card_state(
        &self,
        etag: &str,
        document: &[u8],
        signed_ms: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO card_state(id, etag, document, signed_ms) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET etag = excluded.etag, document = excluded.document,
               signed_ms = excluded.signed_ms",
            params![etag, document, i64_of(signed_ms)],
        )?;
        Ok(())
    }

    /// Stores a token (by hash).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        let scope = t
            .collections
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default());
        self.conn.execute(
            "INSERT INTO tokens(id, hash, name, collections, created_ms, revoked_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET hash = excluded.hash, name = excluded.name,
               collections = excluded.collections, revoked_ms = excluded.revoked_ms",
            params![
                t.id,
                &t.hash[..],
                t.name,
                scope,
                i64_of(t.created_ms),
                t.revoked_ms.map(i64_of)
            ],
        )?;
        Ok(())
    }

    /// Marks a token revoked. Returns false when no such live token exists.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn revoke_token(&self, id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            params![id, i64_of(now_ms)],
        )?;
        Ok(n == 1)
    }

    /// All tokens.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        tokens(&self.conn)
    }

    /// All collections.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn collections(&self) -> Result<Vec<CollectionRow>, StoreError> {
        collections(&self.conn)
    }
}

/// A read-only connection. WAL lets any number of these read while the writer commits.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens a read-only connection to an existing database.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(Self { conn })
    }

    /// The current state of a record (tombstones included).
    ///
    /// # Errors
    /// SQLite errors, or a stored entry that does not parse.
    pub fn record(&self, collection: &str, key: &str) -> Result<Option<RecordRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.collection, r.key, r.version, r.op, r.ledger_index, r.updated_ms,
                    e.leaf, e.leaf_hash
             FROM records r JOIN entries e ON e.idx = r.ledger_index
             WHERE r.collection = ?1 AND r.key = ?2",
        )?;
        let row = stmt
            .query_row(params![collection, key], raw_record)
            .optional()?;
        row.map(record_from_raw).transpose()
    }

    /// Records of a collection in ledger order of their latest mutation, after ledger index
    /// `after` (exclusive), changed at or after `updated_since_ms`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list_records(
        &self,
        collection: &str,
        after: Option<u64>,
        updated_since_ms: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.collection, r.key, r.version, r.op, r.ledger_index, r.updated_ms,
                    e.leaf, e.leaf_hash
             FROM records r JOIN entries e ON e.idx = r.ledger_index
             WHERE r.collection = ?1 AND r.ledger_index > ?2 AND r.updated_ms >= ?3
             ORDER BY r.ledger_index LIMIT ?4",
        )?;
        let after = after.map_or(-1, i64_of);
        let since = updated_since_ms.map_or(0, i64_of);
        let rows = stmt
            .query_map(params![collection, after, since, limit], raw_record)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(record_from_raw).collect()
    }

    /// Ledger entries `[start, start + limit)` that exist.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn entries(&self, start: u64, limit: u32) -> Result<Vec<EntryRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, leaf, leaf_hash FROM entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![i64_of(start), limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(i, leaf, h)| {
                Ok(EntryRow {
                    index: u64_of(i),
                    leaf,
                    leaf_hash: hash_of(h)?,
                })
            })
            .collect()
    }

    /// The newest checkpoint.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        latest_checkpoint(&self.conn)
    }

    /// Inclusion proof of `index` in the tree of `size` leaves.
    ///
    /// # Errors
    /// Out-of-range arguments or SQLite errors.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        Ok(treaty_merkle::inclusion_proof(
            index,
            size,
            &ConnHashes(&self.conn),
        )?)
    }

    /// Consistency proof between two tree sizes.
    ///
    /// # Errors
    /// Out-of-range arguments or SQLite errors.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        Ok(treaty_merkle::consistency_proof(
            first,
            second,
            &ConnHashes(&self.conn),
        )?)
    }

    /// All collections.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn collections(&self) -> Result<Vec<CollectionRow>, StoreError> {
        collections(&self.conn)
    }

    /// The ledger index of a calendar entry, by leaf hash.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn calendar_entry(&self, leaf_hash: &Hash) -> Result<Option<u64>, StoreError> {
        calendar_entry(&self.conn, leaf_hash)
    }

    /// Runs a discovery query over the full-text index.
    ///
    /// # Errors
    /// `Ok(Err(_))` for a query the index refuses; SQLite errors.
    pub fn search(&self, q: &SearchQuery) -> Result<Result<SearchPage, SearchError>, StoreError> {
        search::search(&self.conn, q)
    }
}

type RawRecord = (String, String, i64, String, i64, i64, Vec<u8>, Vec<u8>);

fn raw_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn record_from_raw(raw: RawRecord) -> Result<RecordRow, StoreError> {
    let (collection, key, version, op, idx, updated, leaf, leaf_hash) = raw;
    // The body lives once, inside the leaf bytes; records only point at their entry.
    let body = match serde_json::from_slice::<serde_json::Value>(&leaf) {
        Ok(serde_json::Value::Object(mut m)) => m.remove("body"),
        _ => {
            return Err(StoreError::Corrupt(format!(
                "entry {idx} is not a JSON object"
            )));
        }
    };
    Ok(RecordRow {
        collection,
        key,
        version: u64_of(version),
        op: op_of(&op)?,
        body,
        ledger_index: u64_of(idx),
        leaf_hash: hash_of(leaf_hash)?,
        updated_ms: u64_of(updated),
    })
}

fn calendar_entry(conn: &Connection, leaf_hash: &Hash) -> Result<Option<u64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT idx FROM calendar_entries WHERE leaf_hash = ?1")?;
    Ok(stmt
        .query_row([&leaf_hash[..]], |r| r.get::<_, i64>(0))
        .optional()?
        .map(u64_of))
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn ledger_size(conn: &Connection) -> Result<u64, StoreError> {
    let max: Option<i64> = conn.query_row("SELECT MAX(idx) FROM entries", [], |r| r.get(0))?;
    Ok(max.map_or(0, |m| u64_of(m) + 1))
}

fn latest_checkpoint(conn: &Connection) -> Result<Option<StoredCheckpoint>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT size, root, note, signed_ms FROM checkpoints ORDER BY size DESC LIMIT 1",
    )?;
    let row = stmt
        .query_row([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(size, root, note, signed)| {
        Ok(StoredCheckpoint {
            size: u64_of(size),
            root: hash_of(root)?,
            note,
            signed_ms: u64_of(signed),
        })
    })
    .transpose()
}

fn collections(conn: &Connection) -> Result<Vec<CollectionRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT name, description, created_ms FROM collections ORDER BY name")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(CollectionRow {
                name: r.get(0)?,
                description: r.get(1)?,
                created_ms: u64_of(r.get(2)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn tokens(conn: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, hash, name, collections, created_ms, revoked_ms FROM tokens ORDER BY created_ms, id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, hash, name, scope, created, revoked)| {
            let collections = scope
                .map(|s| {
                    serde_json::from_str(&s)
                        .map_err(|e| StoreError::Corrupt(format!("token {id} scope: {e}")))
                })
                .transpose()?;
            Ok(TokenRow {
                hash: hash_of(hash)?,
                id,
                name,
                collections,
                created_ms: u64_of(created),
                revoked_ms: revoked.map(u64_of),
            })
        })
        .collect()
}

/// Stored tree hashes read through one connection.
struct ConnHashes<'a>(&'a Connection);

impl HashReader for ConnHashes<'_> {
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        let read = || -> Result<Hash, Box<dyn std::error::Error + Send + Sync>> {
            let mut stmt = self
                .0
                .prepare_cached("SELECT hash FROM tree_hashes WHERE idx = ?1")?;
            let bytes: Vec<u8> = stmt.query_row([i64_of(index)], |r| r.get(0))?;
            Ok(bytes
                .try_into()
                .map_err(|_| "stored hash is not 32 bytes")?)
        };
        read().map_err(|source| MerkleError::Read { index, source })
    }
}

impl HashReader for Writer {
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        ConnHashes(&self.conn).read_hash(index)
    }
}

impl HashReader for Reader {
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        ConnHashes(&self.conn).read_hash(index)
    }
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
