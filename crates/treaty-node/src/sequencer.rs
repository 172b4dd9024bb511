//! The sequencer: the only writer of the ledger.
//!
//! Writes queue here. The sequencer closes a batch when it holds `batch_max_entries`
//! entries or when `batch_max_wait_ms` have passed since its first entry, then:
//! 1. assigns each write its record version and ledger index and builds its entry bytes;
//! 2. extends the tree in memory (from the compact range, no reads) and signs a checkpoint;
//! 3. computes every entry's inclusion proof from the batch's own hashes;
//! 4. commits entries, tree hashes, record heads and the checkpoint in ONE SQLite
//!    transaction (WAL, `synchronous=FULL`);
//! 5. only then publishes the checkpoint and acknowledges the writes.
//!
//! So a checkpoint never covers an entry that is not durable, and an acknowledged write is
//! always on disk. A crash before step 4 completes loses only unacknowledged writes and a
//! checkpoint nobody has seen; the next start continues from the last committed tree, so
//! every checkpoint ever published is a prefix of every later one.
//!
//! It runs on its own OS thread because SQLite calls block.

use crate::clock::Clock;
use crate::ledger;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use treaty_merkle::{
    CompactRange, Hash, HashReader, MerkleError, stored_hash_count, stored_hash_index,
};
use treaty_note::SignerKey;
use treaty_store::{BatchCommit, PreparedEntry, StoredCheckpoint, Writer};
use treaty_types::{CollectionName, LedgerEntry, Operation, RecordError, RecordKey};

/// The newest published checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerHead {
    /// Tree size.
    pub size: u64,
    /// Root at that size.
    pub root: Hash,
    /// The signed note.
    pub note: String,
    /// When it was signed, Unix milliseconds.
    pub signed_ms: u64,
}

/// Shared handle to the newest checkpoint; replaced whole after each commit.
pub type HeadCell = Arc<RwLock<Arc<LedgerHead>>>;

/// What a write changes.
#[derive(Debug)]
pub enum Change {
    /// A record mutation.
    Record {
        /// Collection (already validated to exist).
        collection: CollectionName,
        /// Key (already validated).
        key: RecordKey,
        /// Put or delete.
        op: Operation,
        /// Body for puts (already validated).
        body: Option<Value>,
    },
    /// A digest submitted to the timestamp calendar. Submitting the same digest again adds
    /// nothing: the answer names the existing entry.
    Anchor {
        /// The digest, 1-64 bytes.
        digest: Vec<u8>,
    },
}

/// Where a write's outcome goes.
type Reply = oneshot::Sender<Result<WriteAck, WriteError>>;

/// The parts of a batch under construction that calendar submissions touch.
struct CalendarBatch<'a> {
    /// Leaf hashes of digests already in this batch, with their positions.
    pending_anchors: &'a mut HashMap<Hash, usize>,
    /// Callers of a digest already in this batch, answered with that entry's outcome.
    followers: &'a mut Vec<(usize, Reply)>,
    /// Positions of calendar entries in `prepared`.
    calendar: &'a mut Vec<usize>,
    /// The batch's entries.
    prepared: &'a mut Vec<PreparedEntry>,
    /// One reply per entry in `prepared`.
    accepted: &'a mut Vec<Reply>,
}

/// One write waiting to be sequenced.
#[derive(Debug)]
pub struct WriteCommand {
    /// The change.
    pub change: Change,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<WriteAck, WriteError>>,
}

/// A durable, checkpointed write.
#[derive(Debug, Clone)]
pub struct WriteAck {
    /// The record's new version.
    pub version: u64,
    /// The entry's ledger index.
    pub index: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// The checkpoint that first covers the entry.
    pub checkpoint: Arc<LedgerHead>,
    /// The entry's inclusion proof in that checkpoint.
    pub proof: Vec<Hash>,
}

/// Why a write was not sequenced. Nothing was written in every case.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Delete of a record that does not exist or is already deleted.
    #[error("no live record {collection}/{key}")]
    NotFound {
        /// Collection.
        collection: String,
        /// Key.
        key: String,
    },
    /// The entry cannot be built (too large, not canonicalizable).
    #[error(transparent)]
    Entry(#[from] RecordError),
    /// The batch could not be made durable.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The sequencer queue is full (back-pressure).
    #[error("the write queue is full")]
    Busy,
    /// The sequencer has stopped.
    #[error("the node is shutting down")]
    Stopped,
}

/// Batch closing rules.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Close a batch at this many entries.
    pub max_entries: usize,
    /// Close a batch this long after its first entry arrived.
    pub max_wait: Duration,
}

/// Handle for queueing writes.
#[derive(Debug, Clone)]
pub struct SequencerHandle {
    tx: SyncSender<WriteCommand>,
}

impl SequencerHandle {
    /// Queues a write and waits for it to be durable and checkpointed.
    ///
    /// # Errors
    /// [`WriteError`]; on every error nothing was written.
    pub async fn write(
        &self,
        collection: CollectionName,
        key: RecordKey,
        op: Operation,
        body: Option<Value>,
    ) -> Result<WriteAck, WriteError> {
        self.submit(Change::Record {
            collection,
            key,
            op,
            body,
        })
        .await
    }

    /// Queues a calendar digest and waits until its entry is durable and checkpointed (or
    /// answers at once with the existing entry for a digest submitted before).
    ///
    /// # Errors
    /// [`WriteError`]; on every error nothing was written.
    pub async fn anchor(&self, digest: Vec<u8>) -> Result<WriteAck, WriteError> {
        self.submit(Change::Anchor { digest }).await
    }

    async fn submit(&self, change: Change) -> Result<WriteAck, WriteError> {
        let (reply, rx) = oneshot::channel();
        let cmd = WriteCommand { change, reply };
        match self.tx.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(WriteError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(WriteError::Stopped),
        }
        rx.await.unwrap_or(Err(WriteError::Stopped))
    }
}

/// What the sequencer thread owns.
#[derive(Debug)]
pub struct Sequencer {
    writer: Writer,
    key: SignerKey,
    origin: String,
    clock: Arc<dyn Clock>,
    head: HeadCell,
    settings: BatchSettings,
    /// The right edge of the committed tree.
    range: CompactRange,
    /// Last time handed to an entry, to keep entry times monotonic.
    last_time_ms: u64,
}

impl Sequencer {
    /// Prepares a sequencer over `writer`'s ledger. Checks that the stored tree matches the
    /// newest stored checkpoint before accepting any write.
    ///
    /// # Errors
    /// Storage errors or an inconsistent store.
    pub fn new(
        writer: Writer,
        key: SignerKey,
        origin: String,
        clock: Arc<dyn Clock>,
        settings: BatchSettings,
    ) -> Result<(Self, HeadCell), treaty_store::StoreError> {
        let size = writer.ledger_size()?;
        let range = writer.compact_range(size)?;
        let Some(cp) = writer.latest_checkpoint()? else {
            return Err(treaty_store::StoreError::Corrupt(
                "ledger has no checkpoint; initialize the data directory".into(),
            ));
        };
        if cp.size != size || cp.root != range.root() {
            return Err(treaty_store::StoreError::Corrupt(format!(
                "newest checkpoint covers {} entries with root {}, but the stored tree has {size} entries with root {}",
                cp.size,
                hex::encode(cp.root),
                hex::encode(range.root())
            )));
        }
        let head = Arc::new(RwLock::new(Arc::new(LedgerHead {
            size: cp.size,
            root: cp.root,
            note: cp.note,
            signed_ms: cp.signed_ms,
        })));
        Ok((
            Self {
                writer,
                key,
                origin,
                clock,
                head: head.clone(),
                settings,
                range,
                last_time_ms: cp.signed_ms,
            },
            head,
        ))
    }

    /// Starts the sequencer thread. It stops when every [`SequencerHandle`] is dropped,
    /// after finishing the batch in hand.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn(
        self,
        queue_max: usize,
    ) -> std::io::Result<(SequencerHandle, std::thread::JoinHandle<()>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(queue_max);
        let join = std::thread::Builder::new()
            .name("treaty-sequencer".into())
            .spawn(move || self.run(&rx))?;
        Ok((SequencerHandle { tx }, join))
    }

    fn run(mut self, rx: &Receiver<WriteCommand>) {
        let mut batch = Vec::with_capacity(self.settings.max_entries);
        while let Ok(first) = rx.recv() {
            batch.push(first);
            let deadline = Instant::now() + self.settings.max_wait;
            while batch.len() < self.settings.max_entries {
                let wait = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(cmd) => batch.push(cmd),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.process(&mut batch);
        }
        tracing::info!("sequencer stopped");
    }

    fn process(&mut self, batch: &mut Vec<WriteCommand>) {
        let now = self.clock.now_ms().max(self.last_time_ms);
        let first_index = self.range.size();
        let mut prepared: Vec<PreparedEntry> = Vec::with_capacity(batch.len());
        let mut accepted: Vec<oneshot::Sender<Result<WriteAck, WriteError>>> =
            Vec::with_capacity(batch.len());
        // Versions handed out earlier in this batch, which the database does not have yet.
        let mut pending: HashMap<(String, String), (u64, Operation)> = HashMap::new();

        // Calendar digests already taken in this batch, and the positions of calendar entries.
        let mut pending_anchors: HashMap<Hash, usize> = HashMap::new();
        let mut calendar: Vec<usize> = Vec::new();
        let mut followers: Vec<(usize, Reply)> = Vec::new();

        for cmd in batch.drain(..) {
            let (collection, key, op, body) = match cmd.change {
                Change::Record {
                    collection,
                    key,
                    op,
                    body,
                } => (collection, key, op, body),
                Change::Anchor { digest } => {
                    self.prepare_anchor(
                        &digest,
                        cmd.reply,
                        &mut CalendarBatch {
                            pending_anchors: &mut pending_anchors,
                            followers: &mut followers,
                            calendar: &mut calendar,
                            prepared: &mut prepared,
                            accepted: &mut accepted,
                        },
                    );
                    continue;
                }
            };
            let id = (collection.as_str().to_owned(), key.as_str().to_owned());
            let head = match pending.get(&id) {
                Some(h) => Ok(Some(*h)),
                None => self.writer.record_head(&id.0, &id.1),
            };
            let head = match head {
                Ok(h) => h,
                Err(e) => {
                    let _ = cmd.reply.send(Err(WriteError::Storage(e.to_string())));
                    continue;
                }
            };
            if op == Operation::Delete && !matches!(head, Some((_, Operation::Put))) {
                let _ = cmd.reply.send(Err(WriteError::NotFound {
                    collection: id.0,
                    key: id.1,
                }));
                continue;
            }
            let version = head.map_or(1, |(v, _)| v + 1);
            let entry = LedgerEntry::Record {
                collection,
                key,
                version,
                op,
                body,
                time_ms: now,
            };
            let leaf = match entry.to_leaf_bytes() {
                Ok(b) => b,
                Err(e) => {
                    let _ = cmd.reply.send(Err(WriteError::Entry(e)));
                    continue;
                }
            };
            pending.insert(id.clone(), (version, op));
            let body = match entry {
                LedgerEntry::Record { body, .. } => body,
                _ => None,
            };
            prepared.push(PreparedEntry {
                body,
                leaf_hash: treaty_merkle::leaf_hash(&leaf),
                leaf,
                collection: id.0,
                key: id.1,
                version,
                op,
                time_ms: now,
            });
            accepted.push(cmd.reply);
        }
        if prepared.is_empty() {
            // Nothing new to commit; followers only exist alongside a prepared entry.
            return;
        }

        let mut range = self.range.clone();
        let mut hashes = Vec::with_capacity(prepared.len() * 2);
        for e in &prepared {
            range.append(e.leaf_hash, |h| hashes.push(h));
        }
        let started = std::time::Instant::now();
        let result = self.commit(first_index, &prepared, &calendar, &hashes, &range, now);
        metrics::histogram!(crate::telemetry::BATCH_SECONDS)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok((head, proofs)) => {
                metrics::histogram!(crate::telemetry::BATCH_ENTRIES).record(prepared.len() as f64);
                metrics::gauge!(crate::telemetry::LEDGER_SIZE).set(head.size as f64);
                self.range = range;
                self.last_time_ms = now;
                if let Ok(mut cell) = self.head.write() {
                    *cell = head.clone();
                }
                let acks: Vec<WriteAck> = prepared
                    .iter()
                    .zip(proofs)
                    .enumerate()
                    .map(|(i, (e, proof))| WriteAck {
                        version: e.version,
                        index: first_index + i as u64,
                        leaf_hash: e.leaf_hash,
                        checkpoint: head.clone(),
                        proof,
                    })
                    .collect();
                for (position, reply) in followers {
                    if let Some(ack) = acks.get(position) {
                        let _ = reply.send(Ok(ack.clone()));
                    }
                }
                for (reply, ack) in accepted.into_iter().zip(acks) {
                    let _ = reply.send(Ok(ack));
                }
                tracing::debug!(
                    entries = prepared.len(),
                    size = head.size,
                    "batch committed"
                );
            }
            Err(message) => {
                metrics::counter!(crate::telemetry::BATCH_FAILURES).increment(1);
                tracing::error!(%message, entries = prepared.len(), "batch not committed");
                for reply in accepted
                    .into_iter()
                    .chain(followers.into_iter().map(|(_, r)| r))
                {
                    let _ = reply.send(Err(WriteError::Storage(message.clone())));
                }
            }
        }
    }

    /// Adds a calendar digest to the batch, or answers at once when it is already anchored.
    fn prepare_anchor(&self, digest: &[u8], reply: Reply, b: &mut CalendarBatch<'_>) {
        let CalendarBatch {
            pending_anchors,
            followers,
            calendar,
            prepared,
            accepted,
        } = b;
        let entry = LedgerEntry::Anchor {
            digest: hex::encode(digest),
        };
        let leaf = match entry.to_leaf_bytes() {
            Ok(b) => b,
            Err(e) => {
                let _ = reply.send(Err(WriteError::Entry(e)));
                return;
            }
        };
        let leaf_hash = treaty_merkle::leaf_hash(&leaf);
        let existing = match self.writer.calendar_entry(&leaf_hash) {
            Ok(i) => i,
            Err(e) => {
                let _ = reply.send(Err(WriteError::Storage(e.to_string())));
                return;
            }
        };
        if let Some(index) = existing {
            let head = self
                .head
                .read()
                .map(|h| h.clone())
                .unwrap_or_else(|e| e.into_inner().clone());
            let _ = reply.send(Ok(WriteAck {
                version: 0,
                index,
                leaf_hash,
                checkpoint: head,
                proof: Vec::new(),
            }));
            return;
        }
        if let Some(&position) = pending_anchors.get(&leaf_hash) {
            // The same digest twice in one batch: one entry; the second caller gets the
            // first's outcome.
            followers.push((position, reply));
            return;
        }
        calendar.push(prepared.len());
        pending_anchors.insert(leaf_hash, prepared.len());
        prepared.push(PreparedEntry {
            body: None,
            leaf_hash,
            leaf,
            collection: String::new(),
            key: String::new(),
            version: 0,
            op: Operation::Put,
            time_ms: 0,
        });
        accepted.push(reply);
    }

    /// Signs, proves and commits; returns the new head and each entry's proof.
    fn commit(
        &mut self,
        first_index: u64,
        prepared: &[PreparedEntry],
        calendar: &[usize],
        hashes: &[Hash],
        range: &CompactRange,
        now: u64,
    ) -> Result<(Arc<LedgerHead>, Vec<Vec<Hash>>), String> {
        let size = range.size();
        let root = range.root();
        let note = ledger::sign_checkpoint(&self.key, &self.origin, size, &root)
            .map_err(|e| format!("signing checkpoint: {e}"))?;
        let overlay = BatchHashes::new(&self.range, hashes, &self.writer);
        let proofs = (first_index..size)
            .map(|i| treaty_merkle::inclusion_proof(i, size, &overlay))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("proving batch: {e}"))?;
        let checkpoint = StoredCheckpoint {
            size,
            root,
            note,
            signed_ms: now,
        };
        self.writer
            .commit_batch_with_calendar(
                &BatchCommit {
                    first_index,
                    entries: prepared,
                    hashes,
                    checkpoint: &checkpoint,
                },
                calendar,
            )
            .map_err(|e| e.to_string())?;
        Ok((
            Arc::new(LedgerHead {
                size,
                root,
                note: checkpoint.note,
                signed_ms: now,
            }),
            proofs,
        ))
    }
}

/// Stored hashes as they will be after the batch commits: the batch's new hashes from memory,
/// the old tree's right edge from memory, and (never needed in practice, but correct) any
/// other old hash from the database.
struct BatchHashes<'a> {
    first_new: u64,
    new: &'a [Hash],
    edge: HashMap<u64, Hash>,
    db: &'a Writer,
}

impl<'a> BatchHashes<'a> {
    fn new(old: &CompactRange, new: &'a [Hash], db: &'a Writer) -> Self {
        let mut edge = HashMap::new();
        let mut start = 0u64;
        let mut hashes = old.hashes().iter();
        for level in (0..64u32).rev() {
            if old.size() & (1u64 << level) != 0 {
                if let Some(h) = hashes.next() {
                    edge.insert(stored_hash_index(level, start >> level), *h);
                }
                start += 1u64 << level;
            }
        }
        Self {
            first_new: stored_hash_count(old.size()),
            new,
            edge,
            db,
        }
    }
}

impl HashReader for BatchHashes<'_> {
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        if index >= self.first_new {
            let i = usize::try_from(index - self.first_new).unwrap_or(usize::MAX);
            return self.new.get(i).copied().ok_or_else(|| MerkleError::Read {
                index,
                source: "beyond the batch".into(),
            });
        }
        match self.edge.get(&index) {
            Some(h) => Ok(*h),
            None => self.db.read_hash(index),
        }
    }
}
