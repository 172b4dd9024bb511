//! Witnessing: the witness side's record of what it cosigned, the log side's collected
//! cosignatures and per-witness progress, the durable queue of ledger events waiting for
//! the sequencer, and the index of federation evidence entries in the ledger.
//!
//! # Witness state (c2sp.org/tlog-witness)
//!
//! `witness_state` holds, per log origin, the latest checkpoint this node cosigned. The
//! spec requires checking the request's old size against it and storing the new checkpoint
//! atomically; the node does both in one committer thread, and [`Writer::commit_witness`]
//! additionally refuses (whole) an update whose expected previous size is not the stored
//! one, so even a second writer could never roll the state back.
//!
//! # Pending events
//!
//! A cosignature given or received becomes a `fed_witness_event` ledger entry. Waiting for
//! the sequencer (which batches for up to its batch window) inside a witness request would
//! cap the witness at a few hundred requests per second, so the event is queued in
//! `pending_events` in the same transaction as the state it describes, and the sequencer
//! commits the entry later in the transaction that deletes the queue row
//! ([`crate::Effect::Event`]). A crash in between leaves the row queued; it is never lost
//! and never written twice.

use crate::cache::{rows, stored_int};
use crate::{Reader, StoreError, Writer, i64_of, u64_of};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use treaty_merkle::Hash;

/// Migration 8: witness state, cosignatures, witness progress, pending ledger events and
/// the federation evidence index.
pub(crate) const MIGRATION: &str = "
     -- Witness side: the latest checkpoint cosigned for each log origin.
     CREATE TABLE witness_state (
        origin     TEXT PRIMARY KEY,
        peer_id    TEXT,
        size       INTEGER NOT NULL,
        root       BLOB NOT NULL,
        note       TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     -- Log side: cosignatures collected on this node's own checkpoints.
     CREATE TABLE cosignatures (
        size        INTEGER NOT NULL,
        witness     TEXT NOT NULL,
        line        TEXT NOT NULL,
        cosigned_at INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (size, witness)
     ) WITHOUT ROWID;
     -- Log side: the size each witness last cosigned (the old size of the next request).
     CREATE TABLE witness_progress (
        witness    TEXT PRIMARY KEY,
        peer_id    TEXT,
        size       INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     -- Ledger events waiting for the sequencer; deleted in the transaction that commits
     -- their entry.
     CREATE TABLE pending_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL,
        peer_id    TEXT,
        size       INTEGER,
        document   TEXT NOT NULL,
        created_ms INTEGER NOT NULL
     );
     -- Federation evidence entries of the ledger (witness events, cross-anchors,
     -- discrepancies), by kind and peer, for history reads.
     CREATE TABLE fed_events (
        ledger_index INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        peer_id      TEXT,
        size         INTEGER,
        time_ms      INTEGER NOT NULL
     );
     CREATE INDEX fed_events_by_kind ON fed_events(kind, peer_id, ledger_index);
";

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessStateRow {
    /// The log's origin.
    pub origin: String,
    /// The peer the log belongs to (`None` for a log configured by key only).
    pub peer_id: Option<String>,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The checkpoint note as submitted (with the log's signatures).
    pub note: String,
    /// When it was stored, Unix milliseconds.
    pub updated_ms: u64,
}

/// A ledger event to queue for the sequencer.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// Queue id (assigned on insert; ignored when queueing).
    pub id: i64,
    /// Entry kind (`fed_witness_event`, ...).
    pub kind: String,
    /// The peer it concerns.
    pub peer_id: Option<String>,
    /// The tree size it concerns (for history filters).
    pub size: Option<u64>,
    /// The entry's document, a JSON object.
    pub document: Value,
    /// When it was queued, Unix milliseconds.
    pub created_ms: u64,
}

/// One witness-state change with the event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessUpdate {
    /// The stored size this update was decided against (`None`: nothing was stored).
    pub expected_size: Option<u64>,
    /// The new state.
    pub state: WitnessStateRow,
    /// The `fed_witness_event` to queue.
    pub event: PendingEvent,
}

/// A cosignature on one of this node's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureRow {
    /// Checkpoint size.
    pub size: u64,
    /// The witness's verifier key text.
    pub witness: String,
    /// The note signature line, without its newline.
    pub line: String,
    /// The cosignature's timestamp, POSIX seconds.
    pub cosigned_at: u64,
    /// When it was received, Unix milliseconds.
    pub received_ms: u64,
}

/// An indexed federation evidence entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FedEventRow {
    /// Its ledger index.
    pub ledger_index: u64,
    /// Entry kind.
    pub kind: String,
    /// The peer it concerns.
    pub peer_id: Option<String>,
    /// The tree size it concerns.
    pub size: Option<u64>,
    /// The entry's time, Unix milliseconds.
    pub time_ms: u64,
}

fn root_of(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(bytes).map_err(|_| StoreError::Corrupt("stored root is not 32 bytes".into()))
}

fn insert_pending(conn: &Connection, e: &PendingEvent) -> Result<(), StoreError> {
    if !e.document.is_object() {
        return Err(StoreError::Invalid(
            "a pending event is a JSON object".into(),
        ));
    }
    let size = e.size.map(|s| stored_int(s, "size")).transpose()?;
    conn.prepare_cached(
        "INSERT INTO pending_events(kind, peer_id, size, document, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        e.kind,
        e.peer_id,
        size,
        e.document.to_string(),
        stored_int(e.created_ms, "created_ms")?
    ])?;
    Ok(())
}

impl Writer {
    /// Stores witness-state updates and queues their events, all in one transaction. An
    /// update whose `expected_size` is not the stored size (or that expects a row that is
    /// not there, or none where one is) refuses the whole call with
    /// [`StoreError::Stale`]: state never moves from a size it was not decided against.
    ///
    /// # Errors
    /// [`StoreError::Stale`], [`StoreError::Invalid`] for sizes beyond 2^63 - 1 or an
    /// event that is not an object; SQLite errors. Nothing is written on any error.
    pub fn commit_witness(&mut self, updates: &[WitnessUpdate]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for u in updates {
            let s = &u.state;
            let current: Option<i64> = tx
                .prepare_cached("SELECT size FROM witness_state WHERE origin = ?1")?
                .query_row([&s.origin], |r| r.get(0))
                .optional()?;
            if current.map(u64_of) != u.expected_size {
                return Err(StoreError::Stale(format!(
                    "witness state of {} is at {current:?}, the update expected {:?}",
                    s.origin, u.expected_size
                )));
            }
            tx.prepare_cached(
                "INSERT INTO witness_state(origin, peer_id, size, root, note, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(origin) DO UPDATE SET peer_id = excluded.peer_id,
                   size = excluded.size, root = excluded.root, note = excluded.note,
                   updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                s.origin,
                s.peer_id,
                stored_int(s.size, "size")?,
                &s.root[..],
                s.note,
                stored_int(s.updated_ms, "updated_ms")?
            ])?;
            insert_pending(&tx, &u.event)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores cosignatures a witness returned on checkpoint `size`, moves the witness's
    /// progress to `size`, and queues `events`, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for integers beyond 2^63 - 1; SQLite errors.
    pub fn add_cosignatures(
        &mut self,
        witness: &str,
        peer_id: Option<&str>,
        size: u64,
        cosignatures: &[CosignatureRow],
        events: &[PendingEvent],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for c in cosignatures {
            tx.prepare_cached(
                "INSERT INTO cosignatures(size, witness, line, cosigned_at, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(size, witness) DO UPDATE SET line = excluded.line,
                   cosigned_at = excluded.cosigned_at, received_ms = excluded.received_ms",
            )?
            .execute(params![
                stored_int(c.size, "size")?,
                c.witness,
                c.line,
                stored_int(c.cosigned_at, "cosigned_at")?,
                stored_int(c.received_ms, "received_ms")?
            ])?;
        }
        set_progress(&tx, witness, peer_id, size, now_ms)?;
        for e in events {
            insert_pending(&tx, e)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets the size a witness last cosigned (from its 409 answer).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for integers beyond 2^63 - 1; SQLite errors.
    pub fn set_witness_progress(
        &mut self,
        witness: &str,
        peer_id: Option<&str>,
        size: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        set_progress(&self.conn, witness, peer_id, size, now_ms)
    }
}

fn set_progress(
    conn: &Connection,
    witness: &str,
    peer_id: Option<&str>,
    size: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO witness_progress(witness, peer_id, size, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(witness) DO UPDATE SET peer_id = excluded.peer_id, size = excluded.size,
           updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        witness,
        peer_id,
        stored_int(size, "size")?,
        stored_int(now_ms, "updated_ms")?
    ])?;
    Ok(())
}

/// Inside [`Writer::commit_batch`]: indexes an evidence entry and dequeues its pending row.
pub(crate) fn apply_event(
    conn: &Connection,
    index: i64,
    kind: &str,
    peer_id: Option<&str>,
    size: Option<u64>,
    pending_id: Option<i64>,
    time_ms: u64,
) -> Result<(), StoreError> {
    let size = size.map(|s| stored_int(s, "size")).transpose()?;
    conn.prepare_cached(
        "INSERT INTO fed_events(ledger_index, kind, peer_id, size, time_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![index, kind, peer_id, size, i64_of(time_ms)])?;
    if let Some(id) = pending_id {
        let gone = conn
            .prepare_cached("DELETE FROM pending_events WHERE id = ?1")?
            .execute([id])?;
        if gone != 1 {
            // The queue row was already committed by someone else: writing its entry
            // again would duplicate it, so the whole batch is refused.
            return Err(StoreError::Stale(format!(
                "pending event {id} is no longer queued"
            )));
        }
    }
    Ok(())
}

fn witness_state_of(r: &Row<'_>) -> Result<WitnessStateRow, StoreError> {
    Ok(WitnessStateRow {
        origin: r.get(0)?,
        peer_id: r.get(1)?,
        size: u64_of(r.get(2)?),
        root: root_of(&r.get::<_, Vec<u8>>(3)?)?,
        note: r.get(4)?,
        updated_ms: u64_of(r.get(5)?),
    })
}

fn pending_of(r: &Row<'_>) -> Result<PendingEvent, StoreError> {
    let id: i64 = r.get(0)?;
    let text: String = r.get(4)?;
    Ok(PendingEvent {
        id,
        kind: r.get(1)?,
        peer_id: r.get(2)?,
        size: r.get::<_, Option<i64>>(3)?.map(u64_of),
        document: serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("pending event {id}: {e}")))?,
        created_ms: u64_of(r.get(5)?),
    })
}

fn cosignature_of(r: &Row<'_>) -> Result<CosignatureRow, StoreError> {
    Ok(CosignatureRow {
        size: u64_of(r.get(0)?),
        witness: r.get(1)?,
        line: r.get(2)?,
        cosigned_at: u64_of(r.get(3)?),
        received_ms: u64_of(r.get(4)?),
    })
}

fn fed_event_of(r: &Row<'_>) -> Result<FedEventRow, StoreError> {
    Ok(FedEventRow {
        ledger_index: u64_of(r.get(0)?),
        kind: r.get(1)?,
        peer_id: r.get(2)?,
        size: r.get::<_, Option<i64>>(3)?.map(u64_of),
        time_ms: u64_of(r.get(4)?),
    })
}

const STATE_COLUMNS: &str = "origin, peer_id, size, root, note, updated_ms";
const COSIGNATURE_COLUMNS: &str = "size, witness, line, cosigned_at, received_ms";
const EVENT_COLUMNS: &str = "ledger_index, kind, peer_id, size, time_ms";

/// The same read methods on [`Writer`] and [`Reader`].
macro_rules! witness_reads {
    ($t:ty) => {
        impl $t {
            /// This node's own checkpoint note of tree size `size`, if it signed one.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn checkpoint_note(&self, size: u64) -> Result<Option<String>, StoreError> {
                Ok(self
                    .conn
                    .prepare_cached("SELECT note FROM checkpoints WHERE size = ?1")?
                    .query_row([i64_of(size)], |r| r.get(0))
                    .optional()?)
            }

            /// The latest checkpoint this node cosigned for `origin`.
            ///
            /// # Errors
            /// SQLite errors, or a stored root that is not 32 bytes.
            pub fn witness_state(
                &self,
                origin: &str,
            ) -> Result<Option<WitnessStateRow>, StoreError> {
                Ok(rows(
                    &self.conn,
                    &format!("SELECT {STATE_COLUMNS} FROM witness_state WHERE origin = ?1"),
                    [origin],
                    witness_state_of,
                )?
                .pop())
            }

            /// Every log this node witnesses, by origin.
            ///
            /// # Errors
            /// SQLite errors, or a stored root that is not 32 bytes.
            pub fn witness_states(&self) -> Result<Vec<WitnessStateRow>, StoreError> {
                rows(
                    &self.conn,
                    &format!("SELECT {STATE_COLUMNS} FROM witness_state ORDER BY origin"),
                    [],
                    witness_state_of,
                )
            }

            /// The size `witness` (verifier key text) last cosigned, 0 if never.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn witness_progress(&self, witness: &str) -> Result<u64, StoreError> {
                let n: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT size FROM witness_progress WHERE witness = ?1")?
                    .query_row([witness], |r| r.get(0))
                    .optional()?;
                Ok(n.map_or(0, u64_of))
            }

            /// The cosignatures collected on checkpoint `size`.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRow>, StoreError> {
                rows(
                    &self.conn,
                    &format!(
                        "SELECT {COSIGNATURE_COLUMNS} FROM cosignatures WHERE size = ?1
                         ORDER BY witness"
                    ),
                    [i64_of(size)],
                    cosignature_of,
                )
            }

            /// The sizes of the newest checkpoints that have cosignatures, newest first, at
            /// most `limit`.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn cosigned_sizes(&self, limit: u32) -> Result<Vec<u64>, StoreError> {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT DISTINCT size FROM cosignatures ORDER BY size DESC LIMIT ?1",
                )?;
                let sizes = stmt
                    .query_map([limit], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(sizes.into_iter().map(u64_of).collect())
            }

            /// Queued ledger events, oldest first, at most `limit`.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
                rows(
                    &self.conn,
                    "SELECT id, kind, peer_id, size, document, created_ms FROM pending_events
                     ORDER BY id LIMIT ?1",
                    [limit],
                    pending_of,
                )
            }

            /// Indexed evidence entries of `kind`, of one peer or all, with ledger index
            /// above `after` (`None`: from the start), ascending, at most `limit`.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn fed_events(
                &self,
                kind: &str,
                peer_id: Option<&str>,
                after: Option<u64>,
                limit: u32,
            ) -> Result<Vec<FedEventRow>, StoreError> {
                let after = after.map_or(-1, i64_of);
                match peer_id {
                    Some(p) => rows(
                        &self.conn,
                        &format!(
                            "SELECT {EVENT_COLUMNS} FROM fed_events
                             WHERE kind = ?1 AND peer_id = ?2 AND ledger_index > ?3
                             ORDER BY ledger_index LIMIT ?4"
                        ),
                        params![kind, p, after, limit],
                        fed_event_of,
                    ),
                    None => rows(
                        &self.conn,
                        &format!(
                            "SELECT {EVENT_COLUMNS} FROM fed_events
                             WHERE kind = ?1 AND ledger_index > ?2
                             ORDER BY ledger_index LIMIT ?3"
                        ),
                        params![kind, after, limit],
                        fed_event_of,
                    ),
                }
            }

            /// The newest indexed evidence entry of `kind` for `peer_id`.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn latest_fed_event(
                &self,
                kind: &str,
                peer_id: &str,
            ) -> Result<Option<FedEventRow>, StoreError> {
                Ok(rows(
                    &self.conn,
                    &format!(
                        "SELECT {EVENT_COLUMNS} FROM fed_events WHERE kind = ?1 AND peer_id = ?2
                         ORDER BY ledger_index DESC LIMIT 1"
                    ),
                    params![kind, peer_id],
                    fed_event_of,
                )?
                .pop())
            }
        }
    };
}

witness_reads!(Writer);
witness_reads!(Reader);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchCommit, Effect, PreparedEntry, StoredCheckpoint};
    use serde_json::json;
    use treaty_merkle::leaf_hash;

    fn db() -> (tempfile::TempDir, std::path::PathBuf, Writer) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w.db");
        let w = Writer::open(&path).expect("open");
        (dir, path, w)
    }

    fn update(origin: &str, expected: Option<u64>, size: u64) -> WitnessUpdate {
        WitnessUpdate {
            expected_size: expected,
            state: WitnessStateRow {
                origin: origin.into(),
                peer_id: Some("p-1".into()),
                size,
                root: [size as u8; 32],
                note: format!("note {size}"),
                updated_ms: size,
            },
            event: PendingEvent {
                id: 0,
                kind: "fed_witness_event".into(),
                peer_id: Some("p-1".into()),
                size: Some(size),
                document: json!({"size": size}),
                created_ms: size,
            },
        }
    }

    /// Commits `events` as one batch of evidence entries.
    fn commit_events(w: &mut Writer, events: &[PendingEvent]) -> Result<(), StoreError> {
        let size = w.ledger_size()?;
        let mut range = w.compact_range(size)?;
        let entries: Vec<PreparedEntry> = events
            .iter()
            .map(|e| {
                let leaf = e.document.to_string().into_bytes();
                PreparedEntry {
                    leaf_hash: leaf_hash(&leaf),
                    leaf,
                    collection: String::new(),
                    key: String::new(),
                    version: 0,
                    op: treaty_types::Operation::Put,
                    time_ms: 7,
                    body: None,
                    effect: Effect::Event {
                        kind: e.kind.clone(),
                        peer_id: e.peer_id.clone(),
                        size: e.size,
                        pending_id: Some(e.id),
                    },
                }
            })
            .collect();
        let mut hashes = Vec::new();
        for e in &entries {
            range.append(e.leaf_hash, |h| hashes.push(h));
        }
        w.commit_batch(&BatchCommit {
            first_index: size,
            entries: &entries,
            hashes: &hashes,
            checkpoint: &StoredCheckpoint {
                size: range.size(),
                root: range.root(),
                note: String::new(),
                signed_ms: 0,
            },
        })
    }

    #[test]
    fn witness_state_moves_only_from_the_size_it_was_decided_against() {
        let (_d, path, mut w) = db();
        w.commit_witness(&[
            update("log.example", None, 5),
            update("log.example", Some(5), 9),
        ])
        .expect("first and second in one round");
        assert_eq!(
            w.witness_state("log.example")
                .expect("read")
                .map(|s| s.size),
            Some(9)
        );
        // Decided against a stale size: refused whole, nothing written (not even the
        // valid update before it).
        let err = w
            .commit_witness(&[
                update("other.example", None, 1),
                update("log.example", Some(5), 12),
            ])
            .expect_err("stale");
        assert!(matches!(err, StoreError::Stale(_)), "{err}");
        assert!(w.witness_state("other.example").expect("read").is_none());
        // Expecting nothing where something is stored is stale too.
        assert!(
            w.commit_witness(&[update("log.example", None, 20)])
                .is_err()
        );
        let r = Reader::open(&path).expect("reader");
        assert_eq!(r.witness_states().expect("all").len(), 1);
        assert_eq!(r.pending_events(100).expect("pending").len(), 2);
    }

    #[test]
    fn pending_events_are_written_once_with_their_entries() {
        let (_d, path, mut w) = db();
        w.commit_witness(&[
            update("log.example", None, 3),
            update("log.example", Some(3), 4),
        ])
        .expect("commit");
        let pending = w.pending_events(10).expect("pending");
        assert_eq!(pending.len(), 2);
        commit_events(&mut w, &pending).expect("drained");
        assert!(w.pending_events(10).expect("pending").is_empty());
        let events = w
            .fed_events("fed_witness_event", Some("p-1"), None, 10)
            .expect("events");
        assert_eq!(
            events
                .iter()
                .map(|e| (e.ledger_index, e.size))
                .collect::<Vec<_>>(),
            [(0, Some(3)), (1, Some(4))]
        );
        // Writing the same queue rows again would duplicate them: refused, ledger unchanged.
        let err = commit_events(&mut w, &pending).expect_err("already drained");
        assert!(matches!(err, StoreError::Stale(_)), "{err}");
        assert_eq!(w.ledger_size().expect("size"), 2);
        let r = Reader::open(&path).expect("reader");
        assert_eq!(
            r.latest_fed_event("fed_witness_event", "p-1")
                .expect("latest")
                .map(|e| e.ledger_index),
            Some(1)
        );
        assert_eq!(
            r.fed_events("fed_witness_event", None, Some(0), 10)
                .expect("after")
                .len(),
            1
        );
        assert!(
            r.fed_events("fed_cross_anchor", None, None, 10)
                .expect("kind")
                .is_empty()
        );
    }

    #[test]
    fn cosignatures_and_progress_move_together() {
        let (_d, path, mut w) = db();
        let row = |size: u64, witness: &str| CosignatureRow {
            size,
            witness: witness.into(),
            line: format!("— {witness} sig{size}"),
            cosigned_at: 100 + size,
            received_ms: 1,
        };
        let event = PendingEvent {
            id: 0,
            kind: "fed_witness_event".into(),
            peer_id: Some("p-2".into()),
            size: Some(4),
            document: json!({"role": "received"}),
            created_ms: 1,
        };
        w.add_cosignatures(
            "w1",
            Some("p-2"),
            4,
            &[row(4, "w1")],
            std::slice::from_ref(&event),
            1,
        )
        .expect("w1");
        w.add_cosignatures("w2", Some("p-3"), 4, &[row(4, "w2")], &[], 1)
            .expect("w2");
        w.add_cosignatures("w1", Some("p-2"), 6, &[row(6, "w1")], &[], 2)
            .expect("w1 again");
        // The same line again replaces, never duplicates.
        w.add_cosignatures("w1", Some("p-2"), 6, &[row(6, "w1")], &[], 3)
            .expect("repeat");
        let r = Reader::open(&path).expect("reader");
        assert_eq!(r.cosigned_sizes(10).expect("sizes"), [6, 4]);
        assert_eq!(r.cosignatures(4).expect("at 4").len(), 2);
        assert_eq!(r.cosignatures(6).expect("at 6").len(), 1);
        assert_eq!(r.witness_progress("w1").expect("w1"), 6);
        assert_eq!(r.witness_progress("w2").expect("w2"), 4);
        assert_eq!(r.witness_progress("w9").expect("never"), 0);
        w.set_witness_progress("w2", None, 9, 4).expect("409");
        assert_eq!(r.witness_progress("w2").expect("w2"), 9);
        assert_eq!(r.pending_events(10).expect("pending").len(), 1);
        // Sizes beyond what SQLite holds are refused, not wrapped.
        assert!(matches!(
            w.set_witness_progress("w2", None, u64::MAX, 4),
            Err(StoreError::Invalid(_))
        ));
        // A non-object event is refused, with the rest of its transaction.
        let mut bad = event;
        bad.document = json!([1]);
        assert!(
            w.add_cosignatures("w3", None, 7, &[row(7, "w3")], &[bad], 5)
                .is_err()
        );
        assert_eq!(r.witness_progress("w3").expect("w3"), 0);
        assert!(r.cosignatures(7).expect("at 7").is_empty());
        assert!(w.checkpoint_note(0).expect("none").is_none());
    }
}
