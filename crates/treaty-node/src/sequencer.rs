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
//! Federation trust events ([`Change::Federation`]) are ledger entries too; the proposal and
//! agreement rows they move are written in the transaction that commits the entry (see
//! [`treaty_store::Effect::Federation`]), so the ledger and the federation state never
//! disagree. Each federation entry is committed on its own, after the record and calendar
//! entries of its batch, with its own checkpoint: federation events are rare, and this way a
//! federation write that cannot be stored fails alone instead of failing every record write
//! that happened to share its batch (see [`SequencerHandle::federation`]).
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
use treaty_store::{BatchCommit, Effect, FedOp, PreparedEntry, StoredCheckpoint, Writer};
use treaty_types::{CollectionName, EntryKind, LedgerEntry, Operation, RecordError, RecordKey};

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
    /// The size of the newest checkpoint whose batch held anything but witness events
    /// (the tree size at start). Witnesses are sent a checkpoint only when this moved past
    /// what they cosigned: a cosignature becomes a witness event entry, and sending the
    /// checkpoints those entries make would have two nodes that witness each other
    /// cosign each other's witness events forever.
    pub substantive_size: u64,
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
    /// A federation trust event: a signed document for the ledger, and the proposal and
    /// agreement rows it moves, stored in the same transaction.
    Federation {
        /// Which kind of entry the document becomes.
        kind: FedKind,
        /// The signed document (a JSON object), stored verbatim in the entry.
        document: Value,
        /// The rows to upsert with the entry (boxed: queued commands stay small).
        op: Box<FedOp>,
    },
    /// A federation evidence entry: a witness event, a cross-anchor or a discrepancy.
    Event(Box<EventChange>),
}

/// A federation evidence entry to sequence (see [`Change::Event`]).
#[derive(Debug, Clone)]
pub struct EventChange {
    /// `FedWitnessEvent`, `FedCrossAnchor` or `FedDiscrepancy`.
    pub kind: EntryKind,
    /// The entry's document, a JSON object.
    pub document: Value,
    /// The peer it concerns (indexed for history reads).
    pub peer_id: Option<String>,
    /// The tree size it concerns (indexed).
    pub size: Option<u64>,
    /// The `pending_events` row it drains, deleted in the commit's transaction.
    pub pending_id: Option<i64>,
}

impl EventChange {
    /// The entry sequenced at `time_ms`; `None` for a kind that is not an evidence entry.
    fn entry(&self, time_ms: u64) -> Option<LedgerEntry> {
        let document = self.document.clone();
        match self.kind {
            EntryKind::FedWitnessEvent => Some(LedgerEntry::FedWitnessEvent { document, time_ms }),
            EntryKind::FedCrossAnchor => Some(LedgerEntry::FedCrossAnchor { document, time_ms }),
            EntryKind::FedDiscrepancy => Some(LedgerEntry::FedDiscrepancy { document, time_ms }),
            _ => None,
        }
    }
}

/// The kinds of federation trust entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FedKind {
    /// A signed offer, counter-offer or rejection (`fed_trust_proposal`).
    Proposal,
    /// The agreement signed by both parties (`fed_trust_established`).
    Established,
    /// A signed revocation (`fed_trust_revoked`).
    Revoked,
}

impl FedKind {
    /// The ledger entry of `document` sequenced at `time_ms`.
    #[must_use]
    pub fn entry(self, document: Value, time_ms: u64) -> LedgerEntry {
        match self {
            FedKind::Proposal => LedgerEntry::FedTrustProposal { document, time_ms },
            FedKind::Established => LedgerEntry::FedTrustEstablished { document, time_ms },
            FedKind::Revoked => LedgerEntry::FedTrustRevoked { document, time_ms },
        }
    }
}

/// Where a write's outcome goes.
type Reply = oneshot::Sender<Result<WriteAck, WriteError>>;

/// The parts of a batch under construction that calendar submissions touch.
struct CalendarBatch<'a> {
    /// Leaf hashes of digests already in this batch, with their positions.
    pending_anchors: &'a mut HashMap<Hash, usize>,
    /// Callers of a digest already in this batch, answered with that entry's outcome.
    followers: &'a mut Vec<(usize, Reply)>,
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
    /// The record's new version (0 for calendar and federation entries).
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
    /// The entry cannot be built (too large, not canonicalizable, a federation document
    /// that is not an object).
    #[error(transparent)]
    Entry(#[from] RecordError),
    /// The federation rows of a write are refused ([`FedOp::validate`]): a bug in the
    /// caller, answered before the write joins a batch.
    #[error("invalid federation state: {0}")]
    InvalidState(String),
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

    /// Queues a federation trust event and waits until its entry, the rows of `op` and the
    /// checkpoint covering the entry are committed together. The sequencer stamps the entry's
    /// `time_ms`; the ack carries version 0.
    ///
    /// Failure handling:
    /// - a document that is not a canonical JSON object, or an entry over the size limit, is
    ///   [`WriteError::Entry`], and `op` refused by [`FedOp::validate`] is
    ///   [`WriteError::InvalidState`]: both are answered before the write joins a batch, so
    ///   they affect no other write;
    /// - the entry is committed in a transaction of its own (after the record and calendar
    ///   entries of its batch), so a storage failure while writing it fails only this write,
    ///   as [`WriteError::Storage`]; the ledger, the rows and the published checkpoint are
    ///   then unchanged;
    /// - the sequencer never retries: the write is answered once and forgotten. A caller that
    ///   retries should bound its attempts (the same `op` fails the same way).
    ///
    /// # Errors
    /// [`WriteError`]; on every error nothing was written.
    pub async fn federation(
        &self,
        kind: FedKind,
        document: Value,
        op: FedOp,
    ) -> Result<WriteAck, WriteError> {
        self.submit(Change::Federation {
            kind,
            document,
            op: Box::new(op),
        })
        .await
    }

    /// Queues federation evidence entries and waits until they are durable and
    /// checkpointed. They commit together in a group of their own (after the records of
    /// their batch), so a bad one fails the group and no record write.
    ///
    /// # Errors
    /// [`WriteError`]; on every error nothing was written.
    pub async fn events(&self, events: Vec<EventChange>) -> Result<Vec<WriteAck>, WriteError> {
        let mut waits = Vec::with_capacity(events.len());
        for e in events {
            waits.push(self.enqueue(Change::Event(Box::new(e)))?);
        }
        let mut acks = Vec::with_capacity(waits.len());
        for rx in waits {
            acks.push(rx.await.unwrap_or(Err(WriteError::Stopped))?);
        }
        Ok(acks)
    }

    async fn submit(&self, change: Change) -> Result<WriteAck, WriteError> {
        self.enqueue(change)?
            .await
            .unwrap_or(Err(WriteError::Stopped))
    }

    /// Queues a change without waiting; the receiver gets its outcome.
    fn enqueue(
        &self,
        change: Change,
    ) -> Result<oneshot::Receiver<Result<WriteAck, WriteError>>, WriteError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(WriteCommand { change, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(WriteError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Stopped),
        }
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
    /// Signalled after each new checkpoint (peers are told about it, witnesses asked to
    /// cosign it).
    changed: Vec<Arc<tokio::sync::Notify>>,
    /// See [`LedgerHead::substantive_size`].
    substantive_size: u64,
}

impl Sequencer {
    /// Signals `changed` after each new checkpoint (in addition to earlier ones).
    #[must_use]
    pub fn with_notify(mut self, changed: Arc<tokio::sync::Notify>) -> Self {
        self.changed.push(changed);
        self
    }

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
            substantive_size: cp.size,
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
                changed: Vec::new(),
                substantive_size: cp.size,
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
        let mut prepared: Vec<PreparedEntry> = Vec::with_capacity(batch.len());
        let mut accepted: Vec<Reply> = Vec::with_capacity(batch.len());
        // Versions handed out earlier in this batch, which the database does not have yet.
        let mut pending: HashMap<(String, String), (u64, Operation)> = HashMap::new();

        // Calendar digests already taken in this batch.
        let mut pending_anchors: HashMap<Hash, usize> = HashMap::new();
        let mut followers: Vec<(usize, Reply)> = Vec::new();
        // Federation entries, each committed on its own after the rest of the batch.
        let mut federation: Vec<(PreparedEntry, Reply)> = Vec::new();
        // Evidence entries, committed together after the rest of the batch.
        let mut events: Vec<PreparedEntry> = Vec::new();
        let mut event_replies: Vec<Reply> = Vec::new();
        let mut only_witness_events = true;

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
                            prepared: &mut prepared,
                            accepted: &mut accepted,
                        },
                    );
                    continue;
                }
                Change::Federation { kind, document, op } => {
                    match prepare_federation(kind, document, op, now) {
                        Ok(entry) => federation.push((entry, cmd.reply)),
                        Err(e) => {
                            let _ = cmd.reply.send(Err(e));
                        }
                    }
                    continue;
                }
                Change::Event(e) => {
                    match prepare_event(&e, now) {
                        Ok(entry) => {
                            only_witness_events &= e.kind == EntryKind::FedWitnessEvent;
                            events.push(entry);
                            event_replies.push(cmd.reply);
                        }
                        Err(err) => {
                            let _ = cmd.reply.send(Err(err));
                        }
                    }
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
                effect: Effect::Record,
            });
            accepted.push(cmd.reply);
        }
        // Followers only exist alongside a prepared entry, so an empty group has none.
        if !prepared.is_empty() {
            self.commit_group(prepared, accepted, followers, now, true);
        }
        for (entry, reply) in federation {
            self.commit_group(vec![entry], vec![reply], Vec::new(), now, true);
        }
        if !events.is_empty() {
            self.commit_group(events, event_replies, Vec::new(), now, !only_witness_events);
        }
    }

    /// Commits one group of prepared entries with its own checkpoint, then publishes the
    /// head and answers every write of the group (or fails them all, changing nothing).
    fn commit_group(
        &mut self,
        prepared: Vec<PreparedEntry>,
        accepted: Vec<Reply>,
        followers: Vec<(usize, Reply)>,
        now: u64,
        substantive: bool,
    ) {
        let first_index = self.range.size();
        let mut range = self.range.clone();
        let mut hashes = Vec::with_capacity(prepared.len() * 2);
        for e in &prepared {
            range.append(e.leaf_hash, |h| hashes.push(h));
        }
        let started = std::time::Instant::now();
        let result = self.commit(first_index, &prepared, &hashes, &range, now, substantive);
        metrics::histogram!(crate::telemetry::BATCH_SECONDS)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok((head, proofs)) => {
                metrics::histogram!(crate::telemetry::BATCH_ENTRIES).record(prepared.len() as f64);
                metrics::gauge!(crate::telemetry::LEDGER_SIZE).set(head.size as f64);
                self.range = range;
                self.last_time_ms = now;
                self.substantive_size = head.substantive_size;
                if let Ok(mut cell) = self.head.write() {
                    *cell = head.clone();
                }
                for changed in &self.changed {
                    // One stored permit at most: a notifier still busy with the previous
                    // checkpoint sends the newest one next, so bursts coalesce.
                    changed.notify_one();
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
            effect: Effect::Calendar,
        });
        accepted.push(reply);
    }

    /// Signs, proves and commits; returns the new head and each entry's proof.
    fn commit(
        &mut self,
        first_index: u64,
        prepared: &[PreparedEntry],
        hashes: &[Hash],
        range: &CompactRange,
        now: u64,
        substantive: bool,
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
            .commit_batch(&BatchCommit {
                first_index,
                entries: prepared,
                hashes,
                checkpoint: &checkpoint,
            })
            .map_err(|e| e.to_string())?;
        Ok((
            Arc::new(LedgerHead {
                size,
                root,
                note: checkpoint.note,
                signed_ms: now,
                substantive_size: if substantive {
                    size
                } else {
                    self.substantive_size
                },
            }),
            proofs,
        ))
    }
}

/// Builds the entry of a federation event, or says why it cannot be written (before it joins
/// a batch, so a bad one affects no other write).
fn prepare_federation(
    kind: FedKind,
    document: Value,
    op: Box<FedOp>,
    now: u64,
) -> Result<PreparedEntry, WriteError> {
    op.validate()
        .map_err(|e| WriteError::InvalidState(e.to_string()))?;
    let leaf = kind.entry(document, now).to_leaf_bytes()?;
    Ok(PreparedEntry {
        leaf_hash: treaty_merkle::leaf_hash(&leaf),
        leaf,
        collection: String::new(),
        key: String::new(),
        version: 0,
        op: Operation::Put,
        time_ms: now,
        body: None,
        effect: Effect::Federation(op),
    })
}

/// Builds an evidence entry, or says why it cannot be written (before it joins a batch).
fn prepare_event(e: &EventChange, now: u64) -> Result<PreparedEntry, WriteError> {
    let entry = e.entry(now).ok_or_else(|| {
        WriteError::InvalidState(format!("{} is not an evidence entry", e.kind.as_str()))
    })?;
    let leaf = entry.to_leaf_bytes()?;
    Ok(PreparedEntry {
        leaf_hash: treaty_merkle::leaf_hash(&leaf),
        leaf,
        collection: String::new(),
        key: String::new(),
        version: 0,
        op: Operation::Put,
        time_ms: now,
        body: None,
        effect: Effect::Event {
            kind: e.kind.as_str().to_owned(),
            peer_id: e.peer_id.clone(),
            size: e.size,
            pending_id: e.pending_id,
        },
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use treaty_store::{AgreementRow, ProposalRow, Reader};

    const ORIGIN: &str = "seq.example";
    const NOW_MS: u64 = 1_700_000_000_000;

    #[derive(Debug)]
    struct FixedClock;

    impl Clock for FixedClock {
        fn now_ms(&self) -> u64 {
            NOW_MS
        }
    }

    struct Node {
        path: std::path::PathBuf,
        handle: SequencerHandle,
        head: HeadCell,
        _dir: tempfile::TempDir,
    }

    /// A fresh ledger (empty checkpoint stored) with a running sequencer.
    fn start() -> Node {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("treaty.db");
        let key = SignerKey::new(
            ORIGIN,
            treaty_note::KEY_TYPE_ED25519,
            ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        )
        .expect("key");
        let writer = Writer::open(&path).expect("open");
        let empty = treaty_merkle::empty_root();
        writer
            .put_checkpoint(&StoredCheckpoint {
                size: 0,
                root: empty,
                note: ledger::sign_checkpoint(&key, ORIGIN, 0, &empty).expect("sign"),
                signed_ms: 0,
            })
            .expect("checkpoint");
        let (seq, head) = Sequencer::new(
            writer,
            key,
            ORIGIN.into(),
            Arc::new(FixedClock),
            BatchSettings {
                max_entries: 16,
                max_wait: Duration::from_millis(50),
            },
        )
        .expect("sequencer");
        let (handle, _join) = seq.spawn(64).expect("spawn");
        Node {
            path,
            handle,
            head,
            _dir: dir,
        }
    }

    fn proposal(id: &str, status: &str) -> ProposalRow {
        ProposalRow {
            id: id.into(),
            peer_id: "peer-1".into(),
            direction: "outgoing".into(),
            status: status.into(),
            awaiting: Some("node-b".into()),
            round: 1,
            trust_level: 2,
            expires_at: 1_800_000_000,
            thread: json!([{"type": "offer"}]),
            created_ms: 1,
            updated_ms: 1,
        }
    }

    fn agreement(status: &str) -> AgreementRow {
        AgreementRow {
            id: "agr-1".into(),
            proposal_id: "prop-1".into(),
            peer_id: "peer-1".into(),
            trust_level: 2,
            terms: json!({"sync": true}),
            document: json!({"agreement_id": "agr-1"}),
            hash: "sha256:00".into(),
            status: status.into(),
            established_ms: 5,
            revocation: None,
            effective_ms: None,
        }
    }

    /// The entry at `index`, checked against the ack's checkpoint and proof.
    fn entry_at(path: &std::path::Path, ack: &WriteAck) -> LedgerEntry {
        let r = Reader::open(path).expect("reader");
        let e = r.entries(ack.index, 1).expect("entries").remove(0);
        assert_eq!(e.leaf_hash, ack.leaf_hash);
        treaty_merkle::verify_inclusion(
            ack.index,
            ack.checkpoint.size,
            &ack.leaf_hash,
            &ack.proof,
            &ack.checkpoint.root,
        )
        .expect("included");
        LedgerEntry::from_leaf_bytes(&e.leaf).expect("entry")
    }

    #[tokio::test]
    async fn federation_changes_are_acked_with_their_rows() {
        let node = start();
        let document = json!({"proposal_id": "prop-1", "signature": "sig"});
        // A record write and a federation event in the same batch.
        let (record, fed) = tokio::join!(
            node.handle.write(
                CollectionName::parse("receipt").expect("name"),
                RecordKey::parse("k1").expect("key"),
                Operation::Put,
                Some(json!({"n": 1})),
            ),
            node.handle.federation(
                FedKind::Proposal,
                document.clone(),
                FedOp {
                    proposal: Some(proposal("prop-1", "offered")),
                    agreement: None,
                },
            ),
        );
        let record = record.expect("record acked");
        let fed = fed.expect("federation acked");
        assert_eq!(record.version, 1);
        assert_eq!(fed.version, 0);
        assert_ne!(record.index, fed.index);
        // The federation entry has its own checkpoint, covering it.
        assert_eq!(fed.checkpoint.size, fed.index + 1);
        assert!(record.checkpoint.size <= fed.checkpoint.size);
        assert_eq!(
            node.head.read().expect("head").size,
            record.checkpoint.size.max(fed.checkpoint.size)
        );
        assert_eq!(
            entry_at(&node.path, &fed),
            LedgerEntry::FedTrustProposal {
                document,
                time_ms: NOW_MS
            }
        );
        let r = Reader::open(&node.path).expect("reader");
        assert_eq!(
            r.proposal("prop-1").expect("read"),
            Some(proposal("prop-1", "offered"))
        );
        // No record head for the federation entry: only the record is listed.
        assert_eq!(
            r.list_records("receipt", None, None, 10)
                .expect("list")
                .len(),
            1
        );

        // Establishment and revocation, each with its rows.
        let established = node
            .handle
            .federation(
                FedKind::Established,
                json!({"agreement_id": "agr-1"}),
                FedOp {
                    proposal: Some(proposal("prop-1", "accepted")),
                    agreement: Some(agreement("active")),
                },
            )
            .await
            .expect("established");
        assert_eq!(established.index, 2);
        assert!(matches!(
            entry_at(&node.path, &established),
            LedgerEntry::FedTrustEstablished {
                time_ms: NOW_MS,
                ..
            }
        ));
        let revoked = node
            .handle
            .federation(
                FedKind::Revoked,
                json!({"revokes": "agr-1"}),
                FedOp {
                    proposal: None,
                    agreement: Some(agreement("revoking")),
                },
            )
            .await
            .expect("revoked");
        assert!(matches!(
            entry_at(&node.path, &revoked),
            LedgerEntry::FedTrustRevoked { .. }
        ));
        let r = Reader::open(&node.path).expect("reader");
        assert_eq!(
            r.proposal("prop-1").expect("read").map(|p| p.status),
            Some("accepted".into())
        );
        assert_eq!(
            r.agreements_for_peer("peer-1").expect("read"),
            vec![agreement("revoking")]
        );
    }

    #[tokio::test]
    async fn a_bad_federation_write_fails_alone() {
        let node = start();
        let mut bad = proposal("prop-1", "offered");
        bad.direction = "sideways".into();
        let (record, invalid, not_object) = tokio::join!(
            node.handle.write(
                CollectionName::parse("receipt").expect("name"),
                RecordKey::parse("k1").expect("key"),
                Operation::Put,
                Some(json!({"n": 1})),
            ),
            node.handle.federation(
                FedKind::Proposal,
                json!({"proposal_id": "prop-1"}),
                FedOp {
                    proposal: Some(bad),
                    agreement: None,
                },
            ),
            node.handle.federation(
                FedKind::Revoked,
                json!(["not", "an", "object"]),
                FedOp::default(),
            ),
        );
        assert!(
            matches!(invalid, Err(WriteError::InvalidState(_))),
            "{invalid:?}"
        );
        assert!(
            matches!(
                not_object,
                Err(WriteError::Entry(RecordError::BodyNotObject))
            ),
            "{not_object:?}"
        );
        // The record write that shared the batch is unaffected.
        let record = record.expect("record acked");
        assert_eq!((record.index, record.checkpoint.size), (0, 1));
        let r = Reader::open(&node.path).expect("reader");
        assert_eq!(r.entries(0, 10).expect("entries").len(), 1);
        assert_eq!(r.proposals().expect("proposals"), vec![]);
        // And the sequencer goes on.
        let ok = node
            .handle
            .federation(
                FedKind::Proposal,
                json!({"proposal_id": "prop-1"}),
                FedOp {
                    proposal: Some(proposal("prop-1", "offered")),
                    agreement: None,
                },
            )
            .await
            .expect("acked");
        assert_eq!(ok.index, 1);
    }

    #[tokio::test]
    async fn federation_entries_commit_apart_from_the_rest_of_their_batch() {
        let node = start();
        let op = |id: &str| FedOp {
            proposal: Some(proposal(id, "offered")),
            agreement: None,
        };
        let (record, anchor, fed1, fed2) = tokio::join!(
            node.handle.write(
                CollectionName::parse("receipt").expect("name"),
                RecordKey::parse("k1").expect("key"),
                Operation::Put,
                Some(json!({"n": 1})),
            ),
            node.handle.anchor(vec![0xab; 32]),
            node.handle.federation(
                FedKind::Proposal,
                json!({"proposal_id": "prop-1"}),
                op("prop-1")
            ),
            node.handle.federation(
                FedKind::Proposal,
                json!({"proposal_id": "prop-2"}),
                op("prop-2")
            ),
        );
        let (record, anchor) = (record.expect("record"), anchor.expect("anchor"));
        let (fed1, fed2) = (fed1.expect("fed1"), fed2.expect("fed2"));
        // Record and calendar entries share one commit; each federation entry has its own
        // (so a storage failure of one fails only that write), in arrival order after them.
        assert_eq!((record.index, anchor.index), (0, 1));
        assert_eq!((record.checkpoint.size, anchor.checkpoint.size), (2, 2));
        assert_eq!((fed1.index, fed1.checkpoint.size), (2, 3));
        assert_eq!((fed2.index, fed2.checkpoint.size), (3, 4));
        for ack in [&record, &anchor, &fed1, &fed2] {
            entry_at(&node.path, ack);
        }
        let r = Reader::open(&node.path).expect("reader");
        let ids: Vec<_> = r
            .proposals()
            .expect("proposals")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["prop-2", "prop-1"]);
        assert_eq!(r.latest_checkpoint().expect("cp").map(|c| c.size), Some(4));
    }
}
