//! Comparing views and cross-anchoring.
//!
//! # Views
//!
//! Each node serves the latest verified checkpoint it holds of each peer's log
//! (`GET /v1/federation/views`): the one it cosigned as a witness or the one its sync
//! verified, whichever is larger. [`compare`] asks every other peer for its views and
//! checks what they saw of each log against what this node holds: two checkpoints of one
//! size with different roots, or two sizes the log's own consistency proof does not connect,
//! are a fork ([`super::witness::record_fork`]). A view that does not verify under the
//! log's key says nothing about the log and is ignored.
//!
//! # Cross-anchors
//!
//! [`anchor_round`] appends the latest verified checkpoint of every peer with an agreement
//! of trust level 3 or higher in force to this node's ledger (a `fed_cross_anchor` entry),
//! when it grew since the last anchor. The entry's inclusion proof under this node's
//! cosigned checkpoint then proves "checkpoint C of peer X is anchored in my ledger at
//! index i" (`GET /v1/federation/cross-anchors/{peer}`).

use super::witness::record_fork;
use super::{PeerEntry, PeerTable};
use crate::api::AppState;
use crate::sequencer::EventChange;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use treaty_federation::ForkEvidence;
use treaty_federation::witness::cross_anchor;
use treaty_federation::{PeerStatus, TrustLevel};
use treaty_note::{Checkpoint, VerifierKey};
use treaty_store::Reader;
use treaty_types::EntryKind;

/// Most views one peer's answer may list.
pub const VIEWS_MAX: usize = 10_000;

/// A verified checkpoint this node holds of a peer's log.
#[derive(Debug, Clone)]
pub struct View {
    /// The peer.
    pub peer_id: String,
    /// Its node id.
    pub node_id: String,
    /// The log's origin.
    pub origin: String,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note, verbatim.
    pub note: String,
    /// Where it was verified: `witness` or `sync`.
    pub source: &'static str,
}

/// The peer's ledger key, if verified.
fn log_key(peer: &PeerEntry) -> Option<VerifierKey> {
    VerifierKey::parse(peer.row.verifier_key.as_deref()?).ok()
}

/// This node's view of `peer`'s log.
fn held(r: &Reader, peer: &PeerEntry) -> Result<Option<View>, treaty_store::StoreError> {
    let Some(key) = log_key(peer) else {
        return Ok(None);
    };
    let mut best: Option<(u64, String, &'static str)> = None;
    if let Some(ws) = r.witness_state(key.name())? {
        best = Some((ws.size, ws.note, "witness"));
    }
    if let Some(log) = r.peer_log(&peer.row.id)?
        && let Some(note) = log.checkpoint
        && best.as_ref().is_none_or(|b| log.checkpoint_size > b.0)
    {
        best = Some((log.checkpoint_size, note, "sync"));
    }
    Ok(best.and_then(|(_, note, source)| {
        let opened = treaty_note::open_checkpoint(&note, &key, &[]).ok()?;
        Some(View {
            peer_id: peer.row.id.clone(),
            node_id: peer.row.node_id.clone(),
            origin: key.name().to_owned(),
            checkpoint: opened.checkpoint,
            note,
            source,
        })
    }))
}

/// Every view this node holds, one per peer.
///
/// # Errors
/// Storage errors.
pub fn held_views(r: &Reader, table: &PeerTable) -> Result<Vec<View>, treaty_store::StoreError> {
    let mut out = Vec::new();
    for peer in table.all() {
        if let Some(v) = held(r, peer)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The JSON form of a view.
#[must_use]
pub fn view_json(v: &View) -> Value {
    json!({
        "peer_id": v.peer_id,
        "node_id": v.node_id,
        "origin": v.origin,
        "size": v.checkpoint.size(),
        "root": crate::api::b64(v.checkpoint.root()),
        "checkpoint": v.note,
        "source": v.source,
    })
}

/// Peers whose logs are compared: verified (a ledger key), not SUSPENDED or DISCOVERED.
fn comparable(peer: &PeerEntry) -> bool {
    !matches!(peer.status, PeerStatus::Suspended | PeerStatus::Discovered)
        && log_key(peer).is_some()
}

/// Peers asked for their views: comparable, with an agreement in force (the views
/// endpoint serves only those).
fn asked(table: &PeerTable, peer: &PeerEntry, now_ms: u64) -> bool {
    comparable(peer) && table.level(&peer.row.id, now_ms).is_some()
}

/// Compares this node's views with every other peer's. Returns a report per log compared.
pub async fn compare(state: &AppState) -> Value {
    let now = state.clock.now_ms();
    let table = state.federation.table();
    let peers: Vec<Arc<PeerEntry>> = table
        .all()
        .iter()
        .filter(|p| comparable(p))
        .cloned()
        .collect();
    let t = table.clone();
    let mine = state
        .readers
        .run(move |r| Ok(held_views(r, &t)?))
        .await
        .unwrap_or_default();
    let mut reports = Vec::new();
    let mut forks = 0usize;
    for q in peers.iter().filter(|q| asked(&table, q, now)) {
        let theirs = match fetch_views(state, q).await {
            Ok(v) => v,
            Err(e) => {
                reports.push(json!({"from": q.row.id, "error": e}));
                continue;
            }
        };
        for item in theirs {
            let Some(origin) = item.get("origin").and_then(Value::as_str) else {
                continue;
            };
            let Some(note) = item.get("checkpoint").and_then(Value::as_str) else {
                continue;
            };
            // About which of this node's peers (never the reporting peer itself)?
            let Some(p) = peers
                .iter()
                .find(|p| p.row.id != q.row.id && log_key(p).is_some_and(|k| k.name() == origin))
            else {
                continue;
            };
            let Some(key) = log_key(p) else { continue };
            let Ok(opened) = treaty_note::open_checkpoint(note, &key, &[]) else {
                reports
                    .push(json!({"from": q.row.id, "about": p.row.id, "result": "unverifiable"}));
                continue;
            };
            let theirs = opened.checkpoint;
            let mine = match mine.iter().find(|v| v.peer_id == p.row.id) {
                Some(v) => (v.checkpoint.clone(), v.note.clone()),
                None => match fetch_checkpoint(state, p, &key).await {
                    Ok(v) => v,
                    Err(e) => {
                        reports.push(json!({"from": q.row.id, "about": p.row.id, "result": "no_view", "error": e}));
                        continue;
                    }
                },
            };
            let outcome = check_pair(state, p, &key, (&mine.0, &mine.1), (&theirs, note)).await;
            let result = match outcome {
                Ok(None) => "consistent".to_owned(),
                Ok(Some(evidence)) => {
                    forks += 1;
                    record_fork(state, Some(&p.row.id), "views", &evidence).await;
                    "fork".to_owned()
                }
                Err(e) => format!("unchecked: {e}"),
            };
            reports.push(json!({
                "from": q.row.id,
                "about": p.row.id,
                "mine": mine.0.size(),
                "theirs": theirs.size(),
                "result": result,
            }));
        }
    }
    json!({"compared": reports, "forks": forks})
}

/// Checks two verified checkpoints of one log; `Some(evidence)` for a fork.
async fn check_pair(
    state: &AppState,
    peer: &PeerEntry,
    key: &VerifierKey,
    a: (&Checkpoint, &str),
    b: (&Checkpoint, &str),
) -> Result<Option<ForkEvidence>, String> {
    let (small, big) = if a.0.size() <= b.0.size() {
        (a, b)
    } else {
        (b, a)
    };
    if small.0.size() == big.0.size() {
        if small.0.root() == big.0.root() {
            return Ok(None);
        }
        return ForkEvidence::new(key, small.1, big.1, Vec::new())
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if small.0.size() == 0 {
        return Ok(None);
    }
    // Ask the log itself to connect them; a proof that fails is its own evidence.
    let url = format!(
        "{}/v1/log/proof/consistency?from={}&to={}",
        peer.row.base_url.trim_end_matches('/'),
        small.0.size(),
        big.0.size()
    );
    let answer = state
        .federation
        .client
        .get_json(
            &url,
            &[],
            Duration::from_millis(state.federation.settings.call_timeout_ms),
        )
        .await
        .map_err(|e| e.detail)?;
    if !answer.status.is_success() {
        return Err(format!("{url} answered {}", answer.status));
    }
    let proof: Vec<treaty_merkle::Hash> = answer
        .body
        .get("proof")
        .and_then(Value::as_array)
        .ok_or("no proof in the answer")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|t| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(t).ok()
                })
                .and_then(|b| treaty_merkle::Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| "a proof hash is not base64 of 32 bytes".to_owned())
        })
        .collect::<Result<_, _>>()?;
    if treaty_merkle::verify_consistency(
        small.0.size(),
        big.0.size(),
        &proof,
        small.0.root(),
        big.0.root(),
    )
    .is_ok()
    {
        return Ok(None);
    }
    ForkEvidence::new(key, small.1, big.1, proof)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A peer's views (signed call).
async fn fetch_views(state: &AppState, q: &PeerEntry) -> Result<Vec<Value>, String> {
    let Some((kid, key)) = state.card.signing_key() else {
        return Err("no card key".into());
    };
    let url = format!(
        "{}{}",
        q.row.base_url.trim_end_matches('/'),
        crate::api::endpoints::VIEWS.path
    );
    let answer = state
        .federation
        .client
        .signed(
            &key,
            &kid,
            state.clock.now_ms() / 1000,
            reqwest::Method::GET,
            &url,
            None,
        )
        .await
        .map_err(|e| e.detail)?;
    if !answer.status.is_success() {
        return Err(format!("{url} answered {}", answer.status));
    }
    let views = answer
        .body
        .get("views")
        .and_then(Value::as_array)
        .cloned()
        .ok_or("no views in the answer")?;
    if views.len() > VIEWS_MAX {
        return Err(format!("{} views, at most {VIEWS_MAX}", views.len()));
    }
    Ok(views)
}

/// A log's current checkpoint, fetched and verified.
async fn fetch_checkpoint(
    state: &AppState,
    peer: &PeerEntry,
    key: &VerifierKey,
) -> Result<(Checkpoint, String), String> {
    let url = format!("{}/checkpoint", peer.row.base_url.trim_end_matches('/'));
    let (status, bytes) = state
        .federation
        .client
        .get_text(
            &url,
            Duration::from_millis(state.federation.settings.call_timeout_ms),
        )
        .await
        .map_err(|e| e.detail)?;
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    let note = String::from_utf8(bytes).map_err(|e| e.to_string())?;
    let opened = treaty_note::open_checkpoint(&note, key, &[]).map_err(|e| e.to_string())?;
    Ok((opened.checkpoint, note))
}

/// Checks two notes of `peer_id`'s log (both must verify under its key) and records a
/// fork when they prove one. Used by sync when a served checkpoint contradicts the held
/// one.
pub async fn fork_between(state: &AppState, peer_id: &str, a: &str, b: &str, detected_by: &str) {
    let Some(peer) = state.federation.table().find(peer_id) else {
        return;
    };
    let Some(key) = log_key(&peer) else { return };
    let (Ok(oa), Ok(ob)) = (
        treaty_note::open_checkpoint(a, &key, &[]),
        treaty_note::open_checkpoint(b, &key, &[]),
    ) else {
        return;
    };
    match check_pair(state, &peer, &key, (&oa.checkpoint, a), (&ob.checkpoint, b)).await {
        Ok(Some(evidence)) => record_fork(state, Some(peer_id), detected_by, &evidence).await,
        Ok(None) => {}
        Err(e) => tracing::debug!(peer = %peer_id, error = %e, "no fork evidence"),
    }
}

/// Compares views every `witness.views_interval_ms`.
pub async fn compare_loop(state: AppState) {
    let every = Duration::from_millis(state.witness.settings.views_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        let report = compare(&state).await;
        tracing::debug!(forks = %report["forks"], "views compared");
    }
}

/// Anchors the latest verified checkpoint of each trust-level-3+ peer that grew since its
/// last anchor. Returns what was anchored.
pub async fn anchor_round(state: &AppState) -> Result<Vec<Value>, String> {
    let now = state.clock.now_ms();
    let table = state.federation.table();
    let peers: Vec<Arc<PeerEntry>> = table
        .all()
        .iter()
        .filter(|p| {
            !matches!(p.status, PeerStatus::Suspended | PeerStatus::Discovered)
                && table
                    .level(&p.row.id, now)
                    .is_some_and(|l| l >= TrustLevel::Attest)
        })
        .cloned()
        .collect();
    let candidates = state
        .readers
        .run(move |r| {
            let mut out = Vec::new();
            for p in &peers {
                let Some(v) = held(r, p)? else { continue };
                let last = r.latest_fed_event(EntryKind::FedCrossAnchor.as_str(), &p.row.id)?;
                if last
                    .and_then(|e| e.size)
                    .is_some_and(|s| s >= v.checkpoint.size())
                {
                    continue;
                }
                out.push(v);
            }
            Ok(out)
        })
        .await
        .map_err(|p| p.to_string())?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let changes: Vec<EventChange> = candidates
        .iter()
        .map(|v| EventChange {
            kind: EntryKind::FedCrossAnchor,
            document: cross_anchor(
                &v.node_id,
                &v.origin,
                &v.note,
                v.checkpoint.size(),
                v.checkpoint.root(),
            ),
            peer_id: Some(v.peer_id.clone()),
            size: Some(v.checkpoint.size()),
            pending_id: None,
        })
        .collect();
    let acks = state
        .sequencer
        .events(changes)
        .await
        .map_err(|e| e.to_string())?;
    Ok(candidates
        .iter()
        .zip(acks)
        .map(|(v, ack)| {
            json!({
                "peer_id": v.peer_id,
                "node_id": v.node_id,
                "size": v.checkpoint.size(),
                "ledger_index": ack.index,
            })
        })
        .collect())
}

/// Cross-anchors every `witness.cross_anchor_interval_ms`.
pub async fn anchor_loop(state: AppState) {
    let every = Duration::from_millis(state.witness.settings.cross_anchor_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        match anchor_round(&state).await {
            Ok(done) if !done.is_empty() => {
                tracing::info!(anchored = done.len(), "peer checkpoints cross-anchored");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cross-anchor failed"),
        }
    }
}
