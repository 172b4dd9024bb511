//! Witnessing: this node as a C2SP witness of its peers' logs, and as a log collecting
//! cosignatures from its peers.
//!
//! # Witness side (c2sp.org/tlog-witness)
//!
//! `POST /witness/add-checkpoint` accepts checkpoints of the logs this node witnesses: its
//! peers with an agreement of trust level 2 or higher in force (not SUSPENDED), and logs
//! configured by key (`witness.logs`). The handler parses the request, finds the log by the
//! checkpoint's origin (404), checks the log's signature (403), and hands the request to
//! the **committer**: one thread with its own SQLite connection that decides each request
//! against the stored state (`treaty_federation::witness::decide`), signs the cosignature
//! and commits the new state with its `fed_witness_event` in one transaction before any
//! answer leaves. One thread makes the spec's check-and-store atomic; taking every queued
//! request into one transaction (group commit) is what lets it answer thousands of
//! requests per second with one fsync each round rather than one per request.
//!
//! The witness key is the ledger's Ed25519 key under signature type `0x04`, named after the
//! ledger origin: peers already hold the ledger key from the verified registry card, so
//! they know the witness key without another exchange, and the cosignature message's
//! `cosignature/v1` header separates the two uses (a log signature is over a checkpoint
//! body, whose second line is a decimal size, never `time <n>`).
//!
//! # Log side
//!
//! After each new checkpoint the pusher sends it to every witness in parallel (timeout
//! `witness.timeout_ms`), with a consistency proof from the size that witness last
//! cosigned; a 409 moves that size to the witness's and retries once. Cosignatures are
//! verified, stored with a `fed_witness_event` per witness, and `/checkpoint` and receipts
//! carry them (see [`WitnessService::served`]). Checkpoints whose batch held only witness
//! events are not pushed on their own (see `LedgerHead::substantive_size`).

use super::sync::transition;
use super::{PeerEntry, PeerTable};
use crate::api::AppState;
use crate::config::WitnessSettings;
use crate::sequencer::{EventChange, LedgerHead};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use treaty_federation::witness::{
    AddCheckpoint, Verdict, Witnessed, decide, discrepancy_report, witness_event,
};
use treaty_federation::{ForkEvidence, PeerEvent, PeerStatus, TrustLevel};
use treaty_note::{
    Checkpoint, KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, MAX_SIGNATURES, VerifierKey,
};
use treaty_store::{
    CosignatureRow, DiscrepancyRow, PendingEvent, StoreError, WitnessStateRow, WitnessUpdate,
    Writer,
};
use treaty_types::EntryKind;

/// Requests waiting for the committer; beyond this the witness answers 503.
pub const WITNESS_QUEUE_MAX: usize = 4_096;
/// Most requests the committer decides and commits in one transaction.
pub const WITNESS_GROUP_MAX: usize = 512;
/// Largest witness answer a log reads (a few cosignature lines).
pub const WITNESS_ANSWER_BYTES_MAX: usize = 16 * 1024;
/// How many of the newest cosigned checkpoints are searched for one meeting the quorum.
pub const COSIGNED_SEARCH_MAX: u32 = 64;
/// Queued events handed to the sequencer at once.
pub const EVENT_FLUSH_BATCH: u32 = 256;
/// How long the log of a known-log index stays fresh (agreements expire with time).
const KNOWN_LOGS_TTL_MS: u64 = 1_000;

/// A log this node witnesses.
#[derive(Debug, Clone)]
pub struct KnownLog {
    /// Its origin (the key name).
    pub origin: String,
    /// Its checkpoint key (type 0x01).
    pub key: VerifierKey,
    /// The peer it belongs to (`None` for a log configured by key).
    pub peer_id: Option<String>,
}

/// What the committer answers for one request.
#[derive(Debug)]
pub enum Answer {
    /// Cosigned: the signature line (without newline).
    Cosigned(String),
    /// 400: the old size is larger than the checkpoint's.
    OldSizeTooLarge,
    /// 409: the old size is not the size last cosigned, which is this.
    Conflict(u64),
    /// 422: the proof is malformed or does not verify, without proving a fork.
    BadProof(String),
    /// 422: a fork, with its evidence.
    Fork(Box<ForkEvidence>),
}

/// One answer of a committer round: where it goes, what it is, and whether it is a
/// cosignature (withheld if the round's commit fails).
type Reply = (
    oneshot::Sender<Result<Answer, String>>,
    Result<Answer, String>,
    bool,
);

struct Job {
    log: KnownLog,
    req: AddCheckpoint,
    checkpoint: Checkpoint,
    reply: oneshot::Sender<Result<Answer, String>>,
}

/// A checkpoint of this node with the cosignatures collected on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// The note with the log signature and the cosignature lines.
    pub note: String,
    /// Distinct witnesses that cosigned.
    pub witnesses: usize,
}

#[derive(Debug, Default)]
struct Cosigned {
    /// The newest checkpoint with any cosignature.
    latest: Option<Arc<CosignedCheckpoint>>,
    /// The newest checkpoint whose cosignatures satisfy the policy.
    quorum: Option<Arc<CosignedCheckpoint>>,
}

#[derive(Debug, Default)]
struct KnownLogs {
    /// The peer table it was built from, held (not just its address): a freed table's
    /// address can be reused by a newer one, which would make a stale cache look current.
    table: Option<Arc<PeerTable>>,
    built_ms: u64,
    by_origin: HashMap<String, KnownLog>,
}

/// The node's witnessing state.
#[derive(Debug)]
pub struct WitnessService {
    /// Settings.
    pub settings: WitnessSettings,
    /// The witness key (ledger key, type 0x04, named after the origin).
    pub key: VerifierKey,
    jobs: SyncSender<Job>,
    /// Signalled by the sequencer after each checkpoint.
    pub head_changed: Arc<Notify>,
    /// Signalled when a ledger event is queued.
    pub events_queued: Notify,
    cosigned: RwLock<Cosigned>,
    known: RwLock<KnownLogs>,
}

impl WitnessService {
    /// Starts the committer on its own connection to `db`.
    ///
    /// # Errors
    /// Storage errors, a bad key, or the thread could not start.
    pub fn start(
        settings: WitnessSettings,
        db: &std::path::Path,
        origin: &str,
        signer: SigningKey,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<(Self, std::thread::JoinHandle<()>), String> {
        let key = VerifierKey::new(
            origin,
            KEY_TYPE_COSIGNATURE_V1,
            signer.verifying_key().as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let writer = Writer::open(db).map_err(|e| e.to_string())?;
        let (tx, rx) = std::sync::mpsc::sync_channel(WITNESS_QUEUE_MAX);
        let name = origin.to_owned();
        let join = std::thread::Builder::new()
            .name("treaty-witness".into())
            .spawn(move || commit_loop(writer, &rx, &signer, &name, clock.as_ref()))
            .map_err(|e| e.to_string())?;
        Ok((
            Self {
                settings,
                key,
                jobs: tx,
                head_changed: Arc::new(Notify::new()),
                events_queued: Notify::new(),
                cosigned: RwLock::new(Cosigned::default()),
                known: RwLock::new(KnownLogs::default()),
            },
            join,
        ))
    }

    /// The log this node witnesses under `origin`, if any.
    #[must_use]
    pub fn known_log(&self, table: &Arc<PeerTable>, origin: &str, now_ms: u64) -> Option<KnownLog> {
        {
            let k = self
                .known
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if k.table.as_ref().is_some_and(|t| Arc::ptr_eq(t, table))
                && now_ms.saturating_sub(k.built_ms) < KNOWN_LOGS_TTL_MS
            {
                return k.by_origin.get(origin).cloned();
            }
        }
        let mut by_origin = HashMap::new();
        for key in &self.settings.logs {
            by_origin.insert(
                key.name().to_owned(),
                KnownLog {
                    origin: key.name().to_owned(),
                    key: key.clone(),
                    peer_id: None,
                },
            );
        }
        for peer in table.all() {
            if let Some(log) = witnessed_peer(table, peer, now_ms) {
                by_origin.insert(log.origin.clone(), log);
            }
        }
        let found = by_origin.get(origin).cloned();
        let mut k = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *k = KnownLogs {
            table: Some(table.clone()),
            built_ms: now_ms,
            by_origin,
        };
        found
    }

    /// Decides and (when cosigned) durably stores one add-checkpoint request.
    ///
    /// # Errors
    /// `Err("busy")` when the queue is full; a storage failure as text.
    pub async fn submit(
        &self,
        log: KnownLog,
        req: AddCheckpoint,
        checkpoint: Checkpoint,
    ) -> Result<Answer, String> {
        let (reply, rx) = oneshot::channel();
        match self.jobs.try_send(Job {
            log,
            req,
            checkpoint,
            reply,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err("busy".into()),
            Err(TrySendError::Disconnected(_)) => return Err("the witness has stopped".into()),
        }
        rx.await
            .unwrap_or_else(|_| Err("the witness has stopped".into()))
    }

    /// The checkpoint `/checkpoint` serves: the newest checkpoint whose cosignatures
    /// satisfy the quorum policy (without a policy: the newest with any cosignature), and
    /// the head until there is one. It may trail the head: checkpoints whose batch held
    /// only witness events are not sent to witnesses (see `LedgerHead::substantive_size`),
    /// and C2SP lets a log serve a checkpoint that is not its newest.
    #[must_use]
    pub fn served(&self, head: &LedgerHead) -> (u64, String) {
        let c = self
            .cosigned
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pick = if self.settings.policy.is_some() {
            c.quorum.as_ref()
        } else {
            c.latest.as_ref()
        };
        match pick {
            Some(p) if p.size <= head.size => (p.size, p.note.clone()),
            _ => (head.size, head.note.clone()),
        }
    }

    /// The newest checkpoint with cosignatures that covers ledger index `index`, if any:
    /// receipts use it so that they carry cosignatures.
    #[must_use]
    pub fn cosigned_covering(&self, index: u64) -> Option<(u64, String)> {
        let c = self
            .cosigned
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pick = if self.settings.policy.is_some() {
            c.quorum.as_ref()
        } else {
            c.latest.as_ref()
        };
        pick.filter(|p| p.size > index)
            .map(|p| (p.size, p.note.clone()))
    }
}

/// The log a peer is, if this node witnesses it: a verified ledger key, trust level 2 or
/// higher in force, and not SUSPENDED.
fn witnessed_peer(table: &PeerTable, peer: &PeerEntry, now_ms: u64) -> Option<KnownLog> {
    if matches!(peer.status, PeerStatus::Suspended) {
        return None;
    }
    if table.level(&peer.row.id, now_ms)? < TrustLevel::Verify {
        return None;
    }
    let key = VerifierKey::parse(peer.row.verifier_key.as_deref()?).ok()?;
    if key.key_type() != KEY_TYPE_ED25519 {
        return None;
    }
    Some(KnownLog {
        origin: key.name().to_owned(),
        key,
        peer_id: Some(peer.row.id.clone()),
    })
}

/// The committer: decides queued requests in order against the stored state and commits
/// each round's new states and events in one transaction before answering.
fn commit_loop(
    mut writer: Writer,
    rx: &Receiver<Job>,
    signer: &SigningKey,
    name: &str,
    clock: &dyn crate::clock::Clock,
) {
    // What is stored, per origin, as of the last commit (None: nothing stored).
    let mut cache: HashMap<String, Option<Witnessed>> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < WITNESS_GROUP_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now_ms = clock.now_ms();
        let now_s = now_ms / 1000;
        // Decisions of this round see the round's earlier decisions.
        let mut round: HashMap<String, Option<Witnessed>> = HashMap::new();
        let mut updates: Vec<WitnessUpdate> = Vec::new();
        let mut answers: Vec<Reply> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let origin = job.log.origin.clone();
            let stored = match round.get(&origin).or_else(|| cache.get(&origin)) {
                Some(s) => s.clone(),
                None => match writer.witness_state(&origin) {
                    Ok(row) => row.map(|r| Witnessed {
                        size: r.size,
                        root: r.root,
                        note: r.note,
                    }),
                    Err(e) => {
                        answers.push((job.reply, Err(e.to_string()), false));
                        continue;
                    }
                },
            };
            match decide(stored.as_ref(), &job.req, &job.checkpoint, &job.log.key) {
                Verdict::Cosign { method } => {
                    let body = job.checkpoint.to_body();
                    let line = match treaty_note::cosign(&body, name, signer, now_s) {
                        Ok(sig) => sig.to_line(),
                        Err(e) => {
                            answers.push((job.reply, Err(e.to_string()), false));
                            continue;
                        }
                    };
                    let document = witness_event(
                        "given",
                        name,
                        &origin,
                        job.checkpoint.size(),
                        job.checkpoint.root(),
                        job.req.old_size,
                        method,
                        &line,
                        now_s,
                        Vec::new(),
                    );
                    updates.push(WitnessUpdate {
                        expected_size: stored.as_ref().map(|s| s.size),
                        state: WitnessStateRow {
                            origin: origin.clone(),
                            peer_id: job.log.peer_id.clone(),
                            size: job.checkpoint.size(),
                            root: *job.checkpoint.root(),
                            note: job.req.note.clone(),
                            updated_ms: now_ms,
                        },
                        event: PendingEvent {
                            id: 0,
                            kind: EntryKind::FedWitnessEvent.as_str().to_owned(),
                            peer_id: job.log.peer_id.clone(),
                            size: Some(job.checkpoint.size()),
                            document,
                            created_ms: now_ms,
                        },
                    });
                    round.insert(
                        origin,
                        Some(Witnessed {
                            size: job.checkpoint.size(),
                            root: *job.checkpoint.root(),
                            note: job.req.note.clone(),
                        }),
                    );
                    answers.push((job.reply, Ok(Answer::Cosigned(line)), true));
                }
                Verdict::OldSizeTooLarge => {
                    answers.push((job.reply, Ok(Answer::OldSizeTooLarge), false));
                }
                Verdict::Conflict { size } => {
                    answers.push((job.reply, Ok(Answer::Conflict(size)), false));
                }
                Verdict::BadProof { reason } => {
                    answers.push((job.reply, Ok(Answer::BadProof(reason)), false));
                }
                Verdict::Fork(evidence) => {
                    answers.push((job.reply, Ok(Answer::Fork(Box::new(evidence))), false));
                }
            }
        }
        let committed = if updates.is_empty() {
            Ok(())
        } else {
            writer.commit_witness(&updates)
        };
        match committed {
            Ok(()) => cache.extend(round),
            Err(e) => {
                tracing::error!(error = %e, "witness state not stored; cosignatures withheld");
                // Forget what this thread believed: the next round reads the stored state.
                cache.clear();
                let message = e.to_string();
                for a in &mut answers {
                    if a.2 {
                        a.1 = Err(message.clone());
                    }
                }
            }
        }
        for (reply, answer, _) in answers {
            let _ = reply.send(answer);
        }
    }
}

/// A witness this node asks for cosignatures.
#[derive(Debug, Clone)]
struct Target {
    peer_id: String,
    key: VerifierKey,
    url: String,
}

/// This node's witnesses: its peers at trust level 2 or higher (not SUSPENDED) whose
/// ledger key is known; each witnesses with that key under type 0x04.
fn targets(state: &AppState) -> Vec<Target> {
    let now = state.clock.now_ms();
    let table = state.federation.table();
    table
        .all()
        .iter()
        .filter_map(|peer| {
            let log = witnessed_peer(&table, peer, now)?;
            let key = VerifierKey::new(
                log.key.name(),
                KEY_TYPE_COSIGNATURE_V1,
                log.key.public_key(),
            )
            .ok()?;
            Some(Target {
                peer_id: peer.row.id.clone(),
                key,
                url: format!(
                    "{}/witness/add-checkpoint",
                    peer.row.base_url.trim_end_matches('/')
                ),
            })
        })
        .collect()
}

/// After each new checkpoint, asks every witness to cosign it, all at once.
pub async fn push_loop(state: AppState) {
    let changed = state.witness.head_changed.clone();
    if let Err(e) = refresh_cosigned(&state).await {
        tracing::error!(error = %e, "cosigned checkpoints not loaded");
    }
    loop {
        push_round(&state).await;
        changed.notified().await;
    }
}

/// One round: every witness that has not cosigned the newest substantive checkpoint is sent
/// the newest checkpoint. Returns how many witnesses cosigned.
pub async fn push_round(state: &AppState) -> usize {
    let head = state.head();
    let mut tasks = tokio::task::JoinSet::new();
    for t in targets(state) {
        let (state, head) = (state.clone(), head.clone());
        tasks.spawn(async move {
            let peer = t.peer_id.clone();
            (peer, push_one(&state, &t, &head).await)
        });
    }
    let mut cosigned = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((_, Ok(true))) => cosigned += 1,
            Ok((_, Ok(false))) => {}
            Ok((peer, Err((code, detail)))) => {
                tracing::warn!(%peer, code, %detail, "witness did not cosign");
                super::note_failure(state, &peer, code, &detail);
            }
            Err(_) => {}
        }
    }
    if cosigned > 0
        && let Err(e) = refresh_cosigned(state).await
    {
        tracing::error!(error = %e, "cosigned checkpoint not refreshed");
    }
    cosigned
}

type PushError = (&'static str, String);

/// Sends the head to one witness (and once more after a 409). `Ok(false)`: nothing to
/// send.
async fn push_one(state: &AppState, t: &Target, head: &LedgerHead) -> Result<bool, PushError> {
    let witness = t.key.to_string();
    let timeout = Duration::from_millis(state.witness.settings.timeout_ms);
    for _ in 0..2 {
        let w = witness.clone();
        let progress = state
            .readers
            .run(move |r| Ok(r.witness_progress(&w)?))
            .await
            .map_err(|p| ("local_error", p.to_string()))?;
        if progress > head.size {
            return Err((
                "witness_ahead",
                format!(
                    "the witness cosigned size {progress} of this log, which has only {} entries",
                    head.size
                ),
            ));
        }
        if progress >= head.substantive_size {
            return Ok(false);
        }
        let size = head.size;
        let proof = if progress == 0 || progress == size {
            Vec::new()
        } else {
            state
                .readers
                .run(move |r| Ok(r.consistency_proof(progress, size)?))
                .await
                .map_err(|p| ("local_error", p.to_string()))?
        };
        let body = AddCheckpoint {
            old_size: progress,
            proof,
            note: head.note.clone(),
        }
        .to_body();
        let (status, bytes) = state
            .federation
            .client
            .post_text(&t.url, body, timeout, WITNESS_ANSWER_BYTES_MAX)
            .await
            .map_err(|e| (e.code, e.detail))?;
        let text = String::from_utf8_lossy(&bytes);
        match status.as_u16() {
            200 => {
                store_cosignatures(state, t, head, progress, &text).await?;
                return Ok(true);
            }
            409 => {
                let Ok(size) = treaty_federation::witness::parse_size(&text) else {
                    return Err(("witness_answer_invalid", format!("409 with body {text:?}")));
                };
                if size > head.size {
                    return Err((
                        "witness_ahead",
                        format!(
                            "the witness holds size {size} of this log, which has only {}",
                            head.size
                        ),
                    ));
                }
                let (w, peer, now) = (witness.clone(), t.peer_id.clone(), state.clock.now_ms());
                run_admin(state, move |db| {
                    db.set_witness_progress(&w, Some(&peer), size, now)
                })
                .await?;
            }
            code => {
                return Err((
                    "witness_refused",
                    format!(
                        "{} answered {code}: {}",
                        t.url,
                        text.chars().take(300).collect::<String>()
                    ),
                ));
            }
        }
    }
    Err((
        "witness_conflict",
        "the witness answered 409 twice".to_owned(),
    ))
}

/// Verifies a witness's cosignatures on `head` and stores them with their events.
async fn store_cosignatures(
    state: &AppState,
    t: &Target,
    head: &LedgerHead,
    old_size: u64,
    text: &str,
) -> Result<(), PushError> {
    let lines = treaty_federation::witness::parse_cosignatures(text)
        .map_err(|e| ("witness_answer_invalid", e.to_string()))?;
    let body = Checkpoint::new(state.origin.to_string(), head.size, head.root)
        .map_err(|e| ("local_error", e.to_string()))?
        .to_body();
    let now = state.clock.now_ms();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    for sig in lines.iter().filter(|s| s.key_id() == t.key.key_id()) {
        let cosigned_at = treaty_note::verify_cosignature(&body, sig, &t.key)
            .map_err(|e| ("witness_cosignature_invalid", e.to_string()))?;
        let line = sig.to_line();
        let mut discrepancies = Vec::new();
        if let Some(w) = treaty_federation::witness::timestamp_drift(cosigned_at, now / 1000) {
            tracing::warn!(peer = %t.peer_id, cosigned_at, "witness clock drift");
            discrepancies.push(w);
        }
        events.push(PendingEvent {
            id: 0,
            kind: EntryKind::FedWitnessEvent.as_str().to_owned(),
            peer_id: Some(t.peer_id.clone()),
            size: Some(head.size),
            document: witness_event(
                "received",
                t.key.name(),
                &state.origin,
                head.size,
                &head.root,
                old_size,
                if old_size == 0 {
                    "first_checkpoint"
                } else if old_size == head.size {
                    "same_checkpoint"
                } else {
                    "consistency_proof"
                },
                &line,
                cosigned_at,
                discrepancies.clone(),
            ),
            created_ms: now,
        });
        rows.push(CosignatureRow {
            size: head.size,
            witness: t.key.to_string(),
            line,
            cosigned_at,
            received_ms: now,
        });
        for d in discrepancies {
            store_warning(state, &t.peer_id, "timestamp_drift", d);
        }
    }
    if rows.is_empty() {
        return Err((
            "witness_cosignature_missing",
            format!("{} answered 200 without a cosignature by {}", t.url, t.key),
        ));
    }
    let (witness, peer, size) = (t.key.to_string(), t.peer_id.clone(), head.size);
    run_admin(state, move |db| {
        db.add_cosignatures(&witness, Some(&peer), size, &rows, &events, now)
    })
    .await?;
    state.witness.events_queued.notify_one();
    Ok(())
}

/// Runs a write on the admin connection on the blocking pool.
async fn run_admin<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Writer) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PushError> {
    let admin = state.admin.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = admin
            .lock()
            .map_err(|_| ("local_error", "admin connection poisoned".to_owned()))?;
        f(&mut w).map_err(|e| ("local_error", e.to_string()))
    })
    .await
    .map_err(|e| ("local_error", e.to_string()))?
}

/// Rebuilds the cosigned-checkpoint view from the store.
///
/// # Errors
/// Storage errors, as text.
pub async fn refresh_cosigned(state: &AppState) -> Result<(), String> {
    let policy = state.witness.settings.policy.clone();
    let (latest, quorum) = state
        .readers
        .run(move |r| {
            let mut latest = None;
            let mut quorum = None;
            for size in r.cosigned_sizes(COSIGNED_SEARCH_MAX)? {
                let rows = r.cosignatures(size)?;
                let Some(note) = r.checkpoint_note(size)? else {
                    continue;
                };
                let cp = assemble(size, &note, &rows);
                let keys: Vec<VerifierKey> = rows
                    .iter()
                    .filter_map(|c| VerifierKey::parse(&c.witness).ok())
                    .collect();
                if latest.is_none() {
                    latest = Some(Arc::new(cp.clone()));
                }
                if policy.as_ref().is_some_and(|p| p.satisfied_by(&keys)) {
                    quorum = Some(Arc::new(cp));
                    break;
                }
                if policy.is_none() {
                    break;
                }
            }
            Ok((latest, quorum))
        })
        .await
        .map_err(|p| p.to_string())?;
    let mut c = state
        .witness
        .cosigned
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *c = Cosigned { latest, quorum };
    Ok(())
}

/// The note with its cosignature lines appended (as many as a note may carry).
fn assemble(size: u64, note: &str, rows: &[CosignatureRow]) -> CosignedCheckpoint {
    let mut out = note.to_owned();
    let room = MAX_SIGNATURES.saturating_sub(1);
    let mut n = 0;
    for c in rows.iter().take(room) {
        out.push_str(&c.line);
        out.push('\n');
        n += 1;
    }
    CosignedCheckpoint {
        size,
        note: out,
        witnesses: n,
    }
}

/// Writes queued ledger events in batches: at once when the log side queues some, and at
/// least every `witness.event_flush_ms`.
pub async fn flush_loop(state: AppState) {
    let wait = Duration::from_millis(state.witness.settings.event_flush_ms);
    loop {
        match flush_once(&state).await {
            Ok(0) => {
                // Woken when the log side queues an event; the committer thread (which
                // cannot reach the runtime) is covered by looking again every interval.
                let _ = tokio::time::timeout(wait, state.witness.events_queued.notified()).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "queued ledger events not written; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Writes one batch of queued events; returns how many.
///
/// # Errors
/// Storage or sequencer errors, as text (the events stay queued).
pub async fn flush_once(state: &AppState) -> Result<usize, String> {
    let pending = state
        .readers
        .run(|r| Ok(r.pending_events(EVENT_FLUSH_BATCH)?))
        .await
        .map_err(|p| p.to_string())?;
    if pending.is_empty() {
        return Ok(0);
    }
    let n = pending.len();
    let changes = pending
        .into_iter()
        .map(|p| EventChange {
            kind: if p.kind == EntryKind::FedCrossAnchor.as_str() {
                EntryKind::FedCrossAnchor
            } else if p.kind == EntryKind::FedDiscrepancy.as_str() {
                EntryKind::FedDiscrepancy
            } else {
                EntryKind::FedWitnessEvent
            },
            document: p.document,
            peer_id: p.peer_id,
            size: p.size,
            pending_id: Some(p.id),
        })
        .collect();
    state
        .sequencer
        .events(changes)
        .await
        .map_err(|e| e.to_string())?;
    Ok(n)
}

/// Records a fork: a `fed_discrepancy` ledger entry with the evidence (once per evidence),
/// a discrepancy row, and the peer SUSPENDED (which also stops cascades to it).
pub async fn record_fork(
    state: &AppState,
    peer_id: Option<&str>,
    detected_by: &str,
    evidence: &ForkEvidence,
) {
    let hash = evidence.hash();
    let table = state.federation.table();
    let peer = peer_id.and_then(|p| table.find(p));
    let subject = peer
        .as_ref()
        .map_or_else(|| evidence.origin.clone(), |p| p.row.id.clone());
    let node_id = peer
        .as_ref()
        .map_or_else(|| evidence.origin.clone(), |p| p.row.node_id.clone());
    let s = subject.clone();
    let known = state
        .readers
        .run(move |r| {
            let mut after = 0;
            loop {
                let page = r.discrepancies(Some(&s), after, 1000)?;
                let Some(last) = page.last() else {
                    return Ok(false);
                };
                after = last.id;
                if page.iter().any(|d| {
                    d.evidence.get("evidence_hash").and_then(|h| h.as_str()) == Some(&hash)
                }) {
                    return Ok(true);
                }
            }
        })
        .await
        .unwrap_or(false);
    let report = discrepancy_report(&node_id, &evidence.origin, "fork", detected_by, evidence);
    let detail = format!(
        "fork of {} detected by {detected_by}: {} checkpoints that cannot both be honest",
        evidence.origin,
        evidence.kind.as_str()
    );
    if !known {
        tracing::error!(peer = %subject, %detail, "fork detected");
        let size = ForkEvidence::verify(evidence).ok().map(|(a, _)| a.size());
        if let Err(e) = state
            .sequencer
            .events(vec![EventChange {
                kind: EntryKind::FedDiscrepancy,
                document: report.clone(),
                peer_id: Some(subject.clone()),
                size,
                pending_id: None,
            }])
            .await
        {
            tracing::error!(error = %e, "fork not written to the ledger");
        }
        let row = DiscrepancyRow {
            id: 0,
            peer_id: subject.clone(),
            kind: "fork".to_owned(),
            detail: detail.clone(),
            evidence: report,
            detected_ms: state.clock.now_ms(),
        };
        if let Err(e) = run_admin(state, move |db| db.add_discrepancy(&row)).await {
            tracing::error!(error = %e.1, "fork not recorded");
        }
        metrics::counter!(crate::telemetry::SYNC_DISCREPANCIES, "kind" => "fork").increment(1);
    }
    if peer.is_some() {
        transition(state, &subject, PeerEvent::DiscrepancyFound, Some(detail));
    }
}

/// Records a warning-severity discrepancy (timestamp drift, schema incompatibility): stored
/// and listed, the peer's status untouched.
pub fn store_warning(state: &AppState, peer_id: &str, kind: &str, evidence: serde_json::Value) {
    let row = DiscrepancyRow {
        id: 0,
        peer_id: peer_id.to_owned(),
        kind: kind.to_owned(),
        detail: format!("{kind} ({})", treaty_federation::witness::severity(kind)),
        evidence,
        detected_ms: state.clock.now_ms(),
    };
    if let Ok(mut w) = state.admin.lock()
        && let Err(e) = w.add_discrepancy(&row)
    {
        tracing::error!(error = %e, "warning not recorded");
    }
}
