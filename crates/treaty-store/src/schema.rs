//! Schema migrations, tracked with `PRAGMA user_version`.

use crate::StoreError;
use rusqlite::Connection;

/// Each step moves the schema from version `i` to `i + 1`. Never edit a released step.
const MIGRATIONS: &[&str] = &[
    // 1: the ledger, records, collections, tokens.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
     ) WITHOUT ROWID;
     -- Every ledger entry: exact leaf bytes and leaf hash, by index.
     CREATE TABLE entries (
        idx       INTEGER PRIMARY KEY,
        leaf      BLOB NOT NULL,
        leaf_hash BLOB NOT NULL
     );
     -- Every complete subtree hash, in treaty_merkle::stored_hash_index order.
     CREATE TABLE tree_hashes (
        idx  INTEGER PRIMARY KEY,
        hash BLOB NOT NULL
     );
     -- Every checkpoint the node signed, by tree size.
     CREATE TABLE checkpoints (
        size      INTEGER PRIMARY KEY,
        root      BLOB NOT NULL,
        note      TEXT NOT NULL,
        signed_ms INTEGER NOT NULL
     );
     -- The head of every record: which entry holds its current version.
     CREATE TABLE records (
        collection   TEXT NOT NULL,
        key          TEXT NOT NULL,
        version      INTEGER NOT NULL,
        op           TEXT NOT NULL CHECK (op IN ('put', 'delete')),
        ledger_index INTEGER NOT NULL UNIQUE REFERENCES entries(idx),
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (collection, key)
     ) WITHOUT ROWID;
     CREATE INDEX records_by_ledger_index ON records(collection, ledger_index);
     CREATE TABLE collections (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE tokens (
        id          TEXT PRIMARY KEY,
        hash        BLOB NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        collections TEXT,
        created_ms  INTEGER NOT NULL,
        revoked_ms  INTEGER
     ) WITHOUT ROWID;",
    // 2: the discovery index.
    crate::search::MIGRATION,
    // 3: operator-set collection schemas (built-in and operator-defined collections).
    "CREATE TABLE collection_schemas (
        collection TEXT PRIMARY KEY,
        version    TEXT NOT NULL,
        schema     TEXT NOT NULL,
        set_ms     INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 4: registry card signing keys (public halves; seeds live in files) and the signed card.
    "CREATE TABLE card_keys (
        kid        TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        retired_ms INTEGER
     ) WITHOUT ROWID;
     -- The signed card, kept so that restarts serve byte-identical bytes under the same ETag.
     CREATE TABLE card_state (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        etag      TEXT NOT NULL,
        document  BLOB NOT NULL,
        signed_ms INTEGER NOT NULL
     );",
    // 5: the timestamp calendar: which ledger entry holds a submitted digest, by leaf hash.
    "CREATE TABLE calendar_entries (
        leaf_hash BLOB PRIMARY KEY,
        idx       INTEGER NOT NULL UNIQUE REFERENCES entries(idx)
     ) WITHOUT ROWID;",
    // 6: federation: peers and their recent failures, admission licenses, trust proposals
    // and trust agreements.
    crate::federation::MIGRATION,
    // 7: verified sync from peers: per-peer sync state, cached peer records (in the
    // discovery index too), their checkpoints, discrepancies, drift baselines, and the
    // registry-card propagation columns of peers.
    crate::cache::MIGRATION,
    // 8: witnessing: witness state, cosignatures, witness progress, pending ledger events,
    // the federation evidence index.
    crate::witness::MIGRATION,
    // 9: cached peer records without a body column (read from the leaf) and with one
    // unique index on (collection, key, peer_id).
    crate::cache::MIGRATION_LEAN_RECORDS,
    // 10: the discovery index's watermark over cached peer records (new cached rows are
    // indexed after their sync commits).
    crate::cache::MIGRATION_INDEX_WATERMARK,
];

/// The schema version this binary writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database has not seen, each in its own transaction.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Applies the migrations the database has not seen, up to schema version `target`.
pub(crate) fn migrate_to(conn: &Connection, target: i64) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = SCHEMA_VERSION;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
        .take_while(|(i, _)| (*i as i64) < target)
    {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A database at `path` as release `version` left it (migrated that far and no further),
/// for migration tests.
#[cfg(test)]
pub(crate) fn open_at_version(path: &std::path::Path, version: i64) -> Connection {
    let conn = crate::open(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE,
    )
    .expect("open");
    migrate_to(&conn, version).expect("migrate");
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(found, version);
    conn
}
