//! The sync worker: one background pull per peer.
//!
//! A *cycle* for a peer refreshes its card (`If-None-Match`, so an unchanged card costs a
//! 304), checks it for drift against the baseline recorded when the agreement was made,
//! pulls the registry cards it knows (one BFS hop per cycle, see [`super::cards`]) and then
//! its sync feed, page by page, until the local copy has caught up with the peer's newest
//! checkpoint. Every page is verified by [`treaty_federation::verify_page`] before anything
//! from it is applied, and is applied in one transaction together with the new verified
//! state ([`treaty_store::Writer::apply_sync`], a compare-and-set on the stored size), so a
//! restart resumes from the stored cursor with nothing lost and nothing applied twice.
//!
//! Scheduling: every eligible peer is pulled once per `federation.sync_interval_ms`
//! (default five minutes), at once when it notifies a new checkpoint
//! (`POST /v1/federation/notify`), and after a failure with exponential backoff
//! ([`treaty_federation::backoff`]). After
//! [`SYNC_FAILURES_INACTIVE`](treaty_federation::backoff::SYNC_FAILURES_INACTIVE)
//! consecutive failures the peer goes INACTIVE; the next successful cycle makes it ACTIVE
//! again. A page that contradicts the peer's own signed checkpoint is never applied: it is
//! recorded as a discrepancy with its evidence and the peer is SUSPENDED.
//!
//! Eligible peers: verified and dialed (ACTIVE, INACTIVE, DRIFT) with an agreement in
//! force that grants the feed (level 1 or higher). DISCOVERED registries are never dialed.

use super::client::CallError;
use super::{PeerEntry, PeerTable, note_failure};
use crate::api::AppState;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use treaty_federation::backoff::{SYNC_FAILURES_INACTIVE, next_pull_delay_ms};
use treaty_federation::sync::FEED_PAGE_BYTES_MAX;
use treaty_federation::{
    Action, Discrepancy, FeedEntry, FeedPage, PeerEvent, PeerLog, PeerStatus, TrustLevel,
    verify_page,
};
use treaty_store::{CacheChange, DiscrepancyRow, PeerLogRow, SyncBatch};
use treaty_types::LeafEntry;

/// Most pages one cycle pulls; a peer further ahead is caught up over the next cycles
/// (the next one starts at once), so one huge peer cannot hold a pull slot for ever.
pub const SYNC_PAGES_PER_CYCLE_MAX: u32 = 1_000;

/// In a cycle of many pages, the new cached rows are indexed for discovery after every
/// this many pages (and after the cycle): often enough that a discovery query, which
/// indexes what is waiting first, never waits for more than a few pages' worth; rarely
/// enough that indexing (which takes the store lock) stays off a short cycle's path.
pub const INDEX_DURING_CYCLE_PAGES: u32 = 4;

/// A message to the worker.
#[derive(Debug)]
pub enum SyncMsg {
    /// Pull this peer now (a notify arrived, or the operator asked).
    Wake(String),
    /// Pull every eligible peer now.
    WakeAll,
    /// A cycle ended.
    Done {
        /// The peer.
        peer_id: String,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// What one cycle did, for logs, the operator and tests.
#[derive(Debug, Default, Clone)]
pub struct CycleReport {
    /// Pages applied.
    pub pages: u32,
    /// Entries verified.
    pub entries: u64,
    /// Records cached or updated.
    pub puts: u64,
    /// Records removed by tombstones.
    pub deletes: u64,
    /// The peer's tree size now held.
    pub size: u64,
    /// Registry cards learned or updated.
    pub cards: u32,
}

/// Why a cycle failed.
#[derive(Debug)]
pub enum CycleError {
    /// The peer could not be reached or answered something unusable: counts towards
    /// INACTIVE.
    Call(CallError),
    /// The peer served data that contradicts its own signed checkpoint: recorded, peer
    /// suspended.
    Discrepancy(Box<Discrepancy>),
    /// This node's own problem (storage, state): logged, not held against the peer.
    Local(String),
}

impl std::fmt::Display for CycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CycleError::Call(e) => write!(f, "{}: {}", e.code, e.detail),
            CycleError::Discrepancy(d) => write!(f, "discrepancy {d}"),
            CycleError::Local(e) => write!(f, "local: {e}"),
        }
    }
}

pub(super) fn call(code: &'static str, detail: impl Into<String>) -> CycleError {
    CycleError::Call(CallError {
        code,
        detail: detail.into(),
    })
}

pub(super) fn local(e: impl std::fmt::Display) -> CycleError {
    CycleError::Local(e.to_string())
}

/// Whether the worker pulls `peer` at `now_ms`.
#[must_use]
pub fn eligible(table: &PeerTable, peer: &PeerEntry, now_ms: u64) -> bool {
    matches!(
        peer.status,
        PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift
    ) && table
        .level(&peer.row.id, now_ms)
        .is_some_and(|l| l >= Action::ReadFeed.required_level())
}

/// Per-peer schedule, in memory (the durable part, the cursor, is in the store).
#[derive(Debug)]
struct Schedule {
    due: Instant,
    running: bool,
    again: bool,
    failures: u32,
}

/// Runs the worker until the channel closes (the node is stopping).
pub async fn run(state: AppState, mut rx: mpsc::UnboundedReceiver<SyncMsg>) {
    let tx = state.federation.sync_sender();
    let interval = state.federation.settings.sync_interval_ms;
    let mut peers: HashMap<String, Schedule> = HashMap::new();
    // Cycles run in a set owned by this task, so aborting the worker aborts them too (and
    // drops the node state they hold).
    let mut cycles = tokio::task::JoinSet::new();
    loop {
        let now = Instant::now();
        let now_ms = state.clock.now_ms();
        let table = state.federation.table();
        let live: Vec<String> = table
            .all()
            .iter()
            .filter(|p| eligible(&table, p, now_ms))
            .map(|p| p.row.id.clone())
            .collect();
        peers.retain(|id, s| s.running || live.contains(id));
        for id in &live {
            let s = peers.entry(id.clone()).or_insert(Schedule {
                due: now,
                running: false,
                again: false,
                failures: 0,
            });
            if !s.running && s.due <= now {
                s.running = true;
                let (state, tx, id) = (state.clone(), tx.clone(), id.clone());
                cycles.spawn(async move {
                    let ok = cycle_recorded(&state, &id).await.is_ok();
                    let _ = tx.send(SyncMsg::Done { peer_id: id, ok });
                });
            }
        }
        let next = peers
            .values()
            .filter(|s| !s.running)
            .map(|s| s.due)
            .min()
            .unwrap_or(now + Duration::from_millis(interval));
        let msg = tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => Some(m),
                None => return,
            },
            () = tokio::time::sleep_until(next) => None,
            // A peer or agreement changed: look again at who is eligible.
            () = state.federation.table_changed.notified() => None,
            // Reap finished cycles (their outcome arrives as a Done message).
            Some(_) = cycles.join_next(), if !cycles.is_empty() => None,
        };
        let now = Instant::now();
        match msg {
            Some(SyncMsg::Wake(id)) => {
                if let Some(s) = peers.get_mut(&id) {
                    if s.running {
                        s.again = true;
                    } else {
                        s.due = now;
                    }
                }
            }
            Some(SyncMsg::WakeAll) => {
                for s in peers.values_mut() {
                    if s.running {
                        s.again = true;
                    } else {
                        s.due = now;
                    }
                }
            }
            Some(SyncMsg::Done { peer_id, ok }) => {
                if let Some(s) = peers.get_mut(&peer_id) {
                    s.running = false;
                    s.failures = if ok { 0 } else { s.failures.saturating_add(1) };
                    let jitter = u16::try_from(rand_permille()).unwrap_or(0);
                    let delay = next_pull_delay_ms(s.failures, interval, jitter);
                    s.due = if std::mem::take(&mut s.again) && ok {
                        now
                    } else {
                        now + Duration::from_millis(delay)
                    };
                    if !ok {
                        on_failure_count(&state, &peer_id, s.failures);
                    }
                }
            }
            None => {}
        }
    }
}

/// 0..=999 from the OS random source; 0 if it fails (jitter is only a courtesy).
fn rand_permille() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0;
    }
    u32::from_le_bytes(b) % 1000
}

/// After the failure threshold, the peer goes INACTIVE.
fn on_failure_count(state: &AppState, peer_id: &str, failures: u32) {
    if failures >= SYNC_FAILURES_INACTIVE {
        transition(
            state,
            peer_id,
            PeerEvent::SyncFailed,
            Some(format!(
                "sync_failed: {failures} consecutive pulls failed (threshold {SYNC_FAILURES_INACTIVE})"
            )),
        );
    }
}

/// Applies a status event to a peer, if it changes the status.
pub fn transition(state: &AppState, peer_id: &str, event: PeerEvent, reason: Option<String>) {
    let Ok(mut w) = state.admin.lock() else {
        return;
    };
    let result = (|| -> Result<(), treaty_store::StoreError> {
        let Some(mut row) = w.peer(peer_id)? else {
            return Ok(());
        };
        let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::Suspended);
        let next = status.on(event).unwrap_or(status);
        if next != status {
            row.status = next.as_str().to_owned();
            row.status_reason = reason;
            row.updated_ms = state.clock.now_ms();
            w.upsert_peer(&row)?;
            tracing::info!(peer = %peer_id, from = %status.as_str(), to = %next.as_str(), event = event.name(), "peer status changed");
        }
        state.federation.reload(&w)
    })();
    if let Err(e) = result {
        tracing::error!(error = %e, peer = %peer_id, "peer status not recorded");
    }
}

/// One cycle, with its outcome recorded on the peer: success makes an INACTIVE peer
/// ACTIVE, a failed call is noted, a discrepancy is stored and suspends the peer. Used by
/// the worker and by the operator's `sync now` alike.
///
/// # Errors
/// The cycle's [`CycleError`], after it was recorded.
pub async fn cycle_recorded(state: &AppState, peer_id: &str) -> Result<CycleReport, CycleError> {
    let mut report = CycleReport::default();
    let result = cycle(state, peer_id, &mut report).await;
    // After the outcome is recorded (which takes the store lock), not before: indexing
    // and merging take it too.
    let upkeep = report.pages > 0;
    let result = result.map(|()| report);
    match &result {
        Ok(report) => {
            tracing::debug!(peer = %peer_id, pages = report.pages, entries = report.entries, puts = report.puts, deletes = report.deletes, size = report.size, cards = report.cards, "sync cycle done");
            transition(state, peer_id, PeerEvent::SyncSucceeded, None);
        }
        Err(CycleError::Call(e)) => {
            tracing::warn!(peer = %peer_id, code = e.code, detail = %e.detail, "sync cycle failed");
            note_failure(state, peer_id, e.code, &e.detail);
        }
        Err(CycleError::Discrepancy(d)) => record_discrepancy(state, peer_id, d),
        Err(CycleError::Local(e)) => {
            tracing::error!(peer = %peer_id, error = %e, "sync cycle failed on this node");
        }
    }
    if upkeep {
        upkeep_later(state);
    }
    result
}

/// Records a discrepancy with its evidence, and (when it is the peer's fault) suspends
/// the peer so that nothing more is pulled from it or cascaded to it.
pub fn record_discrepancy(state: &AppState, peer_id: &str, d: &Discrepancy) {
    if !d.kind.is_peer_fault() {
        tracing::error!(peer = %peer_id, kind = %d.kind, detail = %d.detail, "sync state of this node is invalid");
        return;
    }
    store_discrepancy(state, peer_id, d);
    transition(
        state,
        peer_id,
        PeerEvent::DiscrepancyFound,
        Some(format!("sync_discrepancy: {}: {}", d.kind, d.detail)),
    );
    // A served checkpoint the held one contradicts may be a fork anyone can check: two
    // signed checkpoints of one size with different roots, or two sizes the peer's own
    // consistency proof does not connect (the proof is asked for, as when comparing views).
    if let Some((held, served)) = checkpoints_of(d) {
        let (state, peer_id) = (state.clone(), peer_id.to_owned());
        tokio::spawn(async move {
            super::views::fork_between(&state, &peer_id, &held, &served, "sync").await;
        });
    }
}

/// The held and the served checkpoint notes of a discrepancy that compares them.
fn checkpoints_of(d: &Discrepancy) -> Option<(String, String)> {
    if !matches!(
        d.kind,
        treaty_federation::DiscrepancyKind::RootMismatch
            | treaty_federation::DiscrepancyKind::InconsistentProof
            | treaty_federation::DiscrepancyKind::Rollback
    ) {
        return None;
    }
    let served = d.evidence.get("checkpoint")?.as_str()?;
    let held = d.evidence.get("held_checkpoint")?.as_str()?;
    Some((held.to_owned(), served.to_owned()))
}

/// Stores a discrepancy with its evidence (and counts it), leaving the peer's status alone.
pub fn store_discrepancy(state: &AppState, peer_id: &str, d: &Discrepancy) {
    let now = state.clock.now_ms();
    tracing::warn!(peer = %peer_id, kind = %d.kind, detail = %d.detail, "peer served data its checkpoint contradicts");
    if let Ok(mut w) = state.admin.lock() {
        let row = DiscrepancyRow {
            id: 0,
            peer_id: peer_id.to_owned(),
            kind: d.kind.as_str().to_owned(),
            detail: d.detail.clone(),
            evidence: d.evidence.clone(),
            detected_ms: now,
        };
        if let Err(e) = w.add_discrepancy(&row) {
            tracing::error!(error = %e, "discrepancy not recorded");
        }
    }
    metrics::counter!(crate::telemetry::SYNC_DISCREPANCIES, "kind" => d.kind.as_str()).increment(1);
    note_failure(state, peer_id, d.kind.as_str(), &d.detail);
}

/// One cycle: card refresh and drift check, registry cards, then the feed. `report` says
/// what was applied, also when the cycle fails part-way.
///
/// # Errors
/// [`CycleError`].
async fn cycle(
    state: &AppState,
    peer_id: &str,
    report: &mut CycleReport,
) -> Result<(), CycleError> {
    // One cycle per peer at a time: the worker's and an operator's would otherwise race to
    // apply the same page (the store would refuse the second, but as an error).
    let lock = state.federation.sync_lock(peer_id);
    let _guard = lock.lock().await;
    super::cards::refresh_card(state, peer_id).await?;
    super::drift::check_peer(state, peer_id).map_err(local)?;
    // Registry cards and the feed are independent: both round trips at once. (The card
    // refresh above comes first: it may bring the key the feed's checkpoints verify under.)
    let (cards, pulled) = tokio::join!(
        super::cards::pull_cards(state, peer_id),
        pull_feed(state, peer_id, report)
    );
    metrics::counter!(crate::telemetry::SYNC_ENTRIES).increment(report.entries);
    pulled?;
    report.cards = cards?;
    Ok(())
}

/// Store upkeep after a cycle that applied pages, which `apply_sync` leaves to its caller:
/// indexes the new cached rows for discovery, merges the discovery index's new segments,
/// then checkpoints the WAL. On the blocking pool and not awaited, so that the cycle's
/// caller is answered first; the pages are durable without it, and a discovery query
/// indexes whatever is still waiting before it reads ([`index_before_query`]).
fn upkeep_later(state: &AppState) {
    let st = state.clone();
    drop(tokio::task::spawn_blocking(move || {
        if let Err(e) = index_pending(&st) {
            tracing::warn!(error = %e, "indexing synced records for discovery failed");
        }
        // Merging and the WAL checkpoint are worth less than a sync page: they stop when
        // one waits for the store (the next cycle's upkeep does the rest).
        let page_waits = || st.federation.pages_waiting.load(Ordering::SeqCst) > 0;
        for _ in 0..treaty_store::MERGE_STEPS_MAX {
            if page_waits() {
                return;
            }
            let Ok(mut w) = st.admin.lock() else {
                return;
            };
            match w.merge_discovery(treaty_store::MERGE_STEP_PAGES) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "discovery index merge after a sync cycle failed");
                    break;
                }
            }
        }
        if page_waits() {
            return;
        }
        let Ok(mut w) = st.admin.lock() else {
            return;
        };
        if let Err(e) = w.checkpoint_wal() {
            tracing::warn!(error = %e, "WAL checkpoint after a sync cycle failed");
        }
    }));
}

/// Indexes every cached record waiting for discovery, in steps of
/// [`treaty_store::INDEX_STEP_ROWS`] that each take the store lock (a sync page or an
/// operator write waits at most one step). One indexer at a time
/// (`Federation::indexing`); a second caller waits for the first and then finds less or
/// nothing to do. Blocking; answers how many rows it indexed.
///
/// # Errors
/// Storage errors, or a poisoned lock.
pub(crate) fn index_pending(state: &AppState) -> Result<u64, String> {
    let _one = indexing(state)?;
    index_steps(state)
}

/// The indexer's turn (`Federation::indexing`).
fn indexing(state: &AppState) -> Result<std::sync::MutexGuard<'_, ()>, String> {
    state
        .federation
        .indexing
        .lock()
        .map_err(|_| "indexing lock poisoned".to_owned())
}

/// [`index_pending`]'s steps, for a caller that holds the indexer's turn.
fn index_steps(state: &AppState) -> Result<u64, String> {
    let mut indexed = 0;
    loop {
        let mut w = state
            .admin
            .lock()
            .map_err(|_| "store lock poisoned".to_owned())?;
        let step = w
            .index_cached(treaty_store::INDEX_STEP_ROWS)
            .map_err(|e| e.to_string())?;
        drop(w);
        indexed += step.indexed;
        if !step.more {
            return Ok(indexed);
        }
    }
}

/// Before a discovery query: records a sync committed are found by every query that
/// starts after it, so the rows the indexer has not reached are indexed first. Usually
/// there are none (a read on `r`, no lock); otherwise this waits for the indexer at work,
/// which is about to commit them, and indexes only what it left.
///
/// # Errors
/// Storage errors.
pub(crate) fn index_before_query(state: &AppState, r: &treaty_store::Reader) -> Result<(), String> {
    if !r.cache_unindexed().map_err(|e| e.to_string())? {
        return Ok(());
    }
    let _one = indexing(state)?;
    if r.cache_unindexed().map_err(|e| e.to_string())? {
        index_steps(state)?;
    }
    Ok(())
}

/// Indexes newly synced records for discovery when a long cycle asks
/// (`Federation::index_wanted`), and once at start, for rows a crash left waiting
/// between a sync commit and its indexing. Runs until the node stops.
pub async fn index_loop(state: AppState) {
    let wanted = state.federation.index_wanted.clone();
    wanted.notify_one();
    loop {
        wanted.notified().await;
        let st = state.clone();
        match tokio::task::spawn_blocking(move || index_pending(&st)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "indexing synced records for discovery failed");
            }
            Err(e) => tracing::warn!(error = %e, "the discovery indexing task failed"),
        }
    }
}

/// The peer's current entry, its ledger verifier key and origin.
fn peer_ledger(
    state: &AppState,
    peer_id: &str,
) -> Result<(Arc<PeerEntry>, String, String), CycleError> {
    let peer = state
        .federation
        .table()
        .find(peer_id)
        .ok_or_else(|| local(format!("peer {peer_id} is gone")))?;
    let key = peer
        .row
        .verifier_key
        .clone()
        .ok_or_else(|| local("peer has no verified ledger key"))?;
    let origin =
        super::drift::peer_origin(&peer).ok_or_else(|| local("peer card has no ledger origin"))?;
    Ok((peer, key, origin))
}

/// Loads the stored verified state of a peer's log.
fn load_log(state: &AppState, peer_id: &str) -> Result<PeerLog, CycleError> {
    let w = state
        .admin
        .lock()
        .map_err(|_| local("store lock poisoned"))?;
    Ok(w.peer_log(peer_id)
        .map_err(local)?
        .map_or_else(PeerLog::empty, peer_log_of))
}

/// The verifier's view of a stored sync state.
#[must_use]
pub fn peer_log_of(row: PeerLogRow) -> PeerLog {
    PeerLog {
        size: row.size,
        range: row.range,
        checkpoint: row.checkpoint,
        checkpoint_size: row.checkpoint_size,
    }
}

/// Fetches one feed page of `peer` from `since`.
pub(super) async fn fetch_page(
    state: &AppState,
    peer: &PeerEntry,
    since: u64,
    limit: u32,
) -> Result<FeedPage, CycleError> {
    let url = format!(
        "{}/entries?since={since}&limit={limit}",
        peer.row.callback_url.trim_end_matches('/')
    );
    let bytes = signed_get(state, &url, FEED_PAGE_BYTES_MAX, "sync_refused").await?;
    FeedPage::parse(&bytes).map_err(|e| call("sync_answer_invalid", format!("GET {url}: {e}")))
}

/// A signed `GET url` to a peer, read up to `max` bytes; any answer but 200 is the call
/// error `refused` with the status and the peer's problem code.
pub(super) async fn signed_get(
    state: &AppState,
    url: &str,
    max: usize,
    refused: &'static str,
) -> Result<Vec<u8>, CycleError> {
    let Some((kid, key)) = state.card.signing_key() else {
        return Err(local("this node has no card signing key"));
    };
    let now_s = state.clock.now_ms() / 1000;
    let (status, bytes) = state
        .federation
        .client
        .signed_raw(&key, &kid, now_s, reqwest::Method::GET, url, None, max)
        .await
        .map_err(CycleError::Call)?;
    if status != reqwest::StatusCode::OK {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or("unknown");
        return Err(call(
            refused,
            format!("GET {url} answered {status}: {code}"),
        ));
    }
    Ok(bytes)
}

/// Pulls the feed until caught up (or the page budget of one cycle is spent). Pages go
/// through two stages on the blocking pool, verification and then application; while a
/// page is applied, the next one is already fetched and verified (from the state the
/// verified page leaves, so exactly as if it came after), and it is applied only once the
/// page before it is. A page that fails verification is never applied, and the pages
/// before it stay applied.
async fn pull_feed(
    state: &AppState,
    peer_id: &str,
    report: &mut CycleReport,
) -> Result<(), CycleError> {
    let (peer, key, origin) = peer_ledger(state, peer_id)?;
    let ledger = (key, origin);
    let max_records = peer.license.as_ref().map(|l| l.max_records);
    let page_entries = state.federation.settings.sync_page_entries;
    let log = load_log(state, peer_id)?;
    let page = fetch_page(state, &peer, log.size, page_entries).await?;
    let mut verified = verify_stage(&ledger, log, page).await?;
    for n in 1..=SYNC_PAGES_PER_CYCLE_MAX {
        let (from_size, size, checkpoint_size) = (
            verified.from.size,
            verified.applied.log.size,
            verified.applied.checkpoint.size(),
        );
        let more = n < SYNC_PAGES_PER_CYCLE_MAX && size > from_size && size < checkpoint_size;
        let next_log = more.then(|| verified.applied.log.clone());
        let applying = apply_stage(state, peer_id, &peer, verified, max_records);
        let ahead = async {
            let log = next_log?;
            Some(
                match fetch_page(state, &peer, log.size, page_entries).await {
                    Ok(page) => verify_stage(&ledger, log, page).await,
                    Err(e) => Err(e),
                },
            )
        };
        let (applied, next) = tokio::join!(applying, ahead);
        let outcome = applied?;
        report.pages += 1;
        if report.pages % INDEX_DURING_CYCLE_PAGES == 0 {
            // A long cycle (a peer's first sync) has its rows indexed as it goes, so that
            // a discovery query never has more than a few pages to index first.
            state.federation.index_wanted.notify_one();
        }
        report.entries += size - from_size;
        report.puts += outcome.puts;
        report.deletes += outcome.deletes;
        report.size = size;
        match next {
            Some(next) => verified = next?,
            // Caught up; or a page that brought nothing (a peer's answer should not make
            // this node pull again at once, only at the next interval).
            None if size >= checkpoint_size || size == from_size => return Ok(()),
            // The page budget is spent.
            None => break,
        }
    }
    // More to pull: ask for another cycle at once.
    let _ = state
        .federation
        .sync_sender()
        .send(SyncMsg::Wake(peer_id.to_owned()));
    Ok(())
}

/// A page verified against the state before it, ready to apply.
struct VerifiedPage {
    /// The state the page was verified from.
    from: PeerLog,
    applied: treaty_federation::Applied,
    page: FeedPage,
}

/// Verifies one page against `log`, on the blocking pool (CPU work of up to tens of
/// milliseconds, kept off the async threads so requests keep being served).
async fn verify_stage(
    (key, origin): &(String, String),
    log: PeerLog,
    page: FeedPage,
) -> Result<VerifiedPage, CycleError> {
    let (key, origin) = (key.clone(), origin.clone());
    tokio::task::spawn_blocking(move || {
        let applied = verify_page(&log, &page, &key, &origin)
            .map_err(|d| CycleError::Discrepancy(Box::new(d)))?;
        Ok(VerifiedPage {
            from: log,
            applied,
            page,
        })
    })
    .await
    .map_err(local)?
}

/// Applies a verified page to the store, on the blocking pool. Answers what the store did.
async fn apply_stage(
    state: &AppState,
    peer_id: &str,
    peer: &PeerEntry,
    verified: VerifiedPage,
    max_records: Option<u64>,
) -> Result<treaty_store::SyncOutcome, CycleError> {
    let (st, id, node_id) = (state.clone(), peer_id.to_owned(), peer.row.node_id.clone());
    tokio::task::spawn_blocking(move || {
        let VerifiedPage {
            from,
            applied,
            page,
        } = verified;
        let checkpoint_size = applied.checkpoint.size();
        let new_log = PeerLogRow {
            peer_id: id.clone(),
            size: applied.log.size,
            range: applied.log.range.clone(),
            checkpoint: applied.log.checkpoint.clone(),
            checkpoint_size: applied.log.checkpoint_size,
            updated_ms: st.clock.now_ms(),
        };
        let FeedPage {
            since,
            entries: feed,
            checkpoint,
            ..
        } = page;
        let changes = changes_of(applied.entries, since, feed);
        st.federation.pages_waiting.fetch_add(1, Ordering::SeqCst);
        let w = st.admin.lock();
        st.federation.pages_waiting.fetch_sub(1, Ordering::SeqCst);
        let mut w = w.map_err(|_| local("store lock poisoned"))?;
        if let Some(max) = max_records {
            let puts = changes
                .iter()
                .filter(|c| matches!(c, CacheChange::Put(_)))
                .count() as u64;
            let cached = w.cached_count(&id).map_err(local)?;
            if cached + puts > max {
                return Err(call(
                    "license_max_records",
                    format!(
                        "the peer's license allows {max} cached records; {cached} are cached and the page brings up to {puts} more"
                    ),
                ));
            }
        }
        w.apply_sync(&SyncBatch {
            peer_id: &id,
            source_registry: &node_id,
            from_size: from.size,
            log: &new_log,
            changes: &changes,
            checkpoint_size,
            checkpoint: &checkpoint,
            now_ms: st.clock.now_ms(),
        })
        .map_err(local)
    })
    .await
    .map_err(local)?
}

/// The cache changes a verified page brings: record puts and tombstones, in order. The
/// leaf bytes are the page's own, already verified (they hash to the leaves the checkpoint
/// signs), moved out of the page rather than serialized again; `feed` holds the entries
/// from index `since` on.
fn changes_of(
    entries: Vec<(u64, LeafEntry)>,
    since: u64,
    mut feed: Vec<FeedEntry>,
) -> Vec<CacheChange> {
    entries
        .into_iter()
        .filter_map(|(index, entry)| {
            let LeafEntry::Record(r) = entry else {
                return None;
            };
            let slot = usize::try_from(index.checked_sub(since)?).ok()?;
            let leaf = match feed.get_mut(slot)? {
                FeedEntry::Full { leaf, .. } => std::mem::take(leaf),
                FeedEntry::Hash { .. } => return None,
            };
            Some(CacheChange::of_record(index, r, leaf))
        })
        .collect()
}

/// The sync state of a peer, for the operator's peer view.
#[must_use]
pub fn sync_json(log: Option<&PeerLogRow>, cached: u64, level: Option<TrustLevel>) -> Value {
    json!({
        "verified_size": log.map_or(0, |l| l.size),
        "checkpoint_size": log.map_or(0, |l| l.checkpoint_size),
        "root": log.and_then(|l| {
            treaty_merkle::CompactRange::from_parts(l.size, l.range.clone())
                .ok()
                .map(|r| base64::engine::general_purpose::STANDARD.encode(r.root()))
        }),
        "cached_records": cached,
        "feed_granted": level.is_some_and(|l| l >= Action::ReadFeed.required_level()),
    })
}
