//! Drift (seed 004): a peer whose policy hash or collection schemas moved away from what
//! this node recorded when their agreement took effect, or whose cached copy no longer
//! agrees with the peer's signed checkpoint, becomes DRIFT with the details.
//!
//! The baseline is the peer's card as verified at the first sync cycle after an agreement
//! is in force (moments after it is established): its `policy_hash` and the schema hash of
//! each collection it lists. Every cycle compares the current verified card with it; the
//! operator's scan (`POST /v1/admin/federation/drift-scan`) also checks the cache against
//! the peer's current checkpoint. Accepting a drift (`treaty peer resume`) records the
//! current card as the new baseline.

use super::PeerEntry;
use super::sync::{CycleError, transition};
use crate::api::AppState;
use serde_json::{Value, json};
use treaty_federation::drift::{Baseline, DriftFinding, compare};
use treaty_federation::{PeerEvent, PeerStatus, verify_page};
use treaty_store::BaselineRow;

/// Records the peer's current card as its drift baseline.
///
/// # Errors
/// The card does not yield a baseline, or storage errors.
pub fn record_baseline(state: &AppState, peer: &PeerEntry) -> Result<Baseline, String> {
    let card = peer
        .row
        .card
        .as_ref()
        .ok_or("the peer has no verified card")?;
    let baseline = Baseline::of_card(card).map_err(|e| e.to_string())?;
    let mut w = state.admin.lock().map_err(|_| "store lock poisoned")?;
    w.put_baseline(&BaselineRow {
        peer_id: peer.row.id.clone(),
        policy_hash: baseline.policy_hash.clone(),
        schemas: baseline.to_json()["schemas"].take(),
        recorded_ms: state.clock.now_ms(),
    })
    .map_err(|e| e.to_string())?;
    Ok(baseline)
}

/// Compares the peer's current card with its baseline (recording the baseline when there
/// is none yet) and makes the peer DRIFT when they differ. Returns the findings.
///
/// # Errors
/// Storage errors or an unreadable stored baseline.
pub fn check_peer(state: &AppState, peer_id: &str) -> Result<Vec<DriftFinding>, String> {
    let Some(peer) = state.federation.table().find(peer_id) else {
        return Ok(Vec::new());
    };
    let stored = {
        let w = state.admin.lock().map_err(|_| "store lock poisoned")?;
        w.baseline(peer_id).map_err(|e| e.to_string())?
    };
    let Some(stored) = stored else {
        record_baseline(state, &peer)?;
        return Ok(Vec::new());
    };
    let recorded = Baseline::from_json(&json!({
        "policy_hash": stored.policy_hash,
        "schemas": stored.schemas,
    }))
    .map_err(|e| format!("stored baseline: {e}"))?;
    let Some(card) = &peer.row.card else {
        return Ok(Vec::new());
    };
    let current = Baseline::of_card(card).map_err(|e| e.to_string())?;
    let shared = state
        .federation
        .table()
        .shared_collections(peer_id, state.clock.now_ms());
    let findings = compare(&recorded, &current, &shared);
    if !findings.is_empty() {
        let details: Vec<Value> = findings.iter().map(DriftFinding::to_json).collect();
        let text = Value::Array(details.clone()).to_string();
        tracing::warn!(peer = %peer_id, findings = %text, "peer drifted from the agreement's baseline");
        super::note_failure(state, peer_id, "drift_detected", &text);
        // A changed or missing schema is also a `schema_incompatible` warning (seed 003's
        // severity table), stored once when the peer enters DRIFT.
        let schemas: Vec<Value> = details
            .iter()
            .filter(|d| {
                d["field"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("schema:") || f.starts_with("collection:"))
            })
            .cloned()
            .collect();
        if !schemas.is_empty() && peer.status != treaty_federation::PeerStatus::Drift {
            super::witness::store_warning(
                state,
                peer_id,
                "schema_incompatible",
                json!({"type": "schema_incompatible", "severity": "warning", "findings": schemas}),
            );
        }
        transition(
            state,
            peer_id,
            PeerEvent::DriftDetected,
            Some(format!("drift: {text}")),
        );
    }
    Ok(findings)
}

/// Checks the cached copy of a peer's ledger against the peer's current signed
/// checkpoint: fetches one page from the verified size and verifies it without applying
/// it. A cache the checkpoint contradicts makes the peer DRIFT and is recorded as a
/// discrepancy with the evidence. Returns what was found, as JSON.
///
/// # Errors
/// [`CycleError::Call`] when the peer cannot be reached.
pub async fn check_cache(state: &AppState, peer_id: &str) -> Result<Value, CycleError> {
    let Some(peer) = state.federation.table().find(peer_id) else {
        return Ok(json!({"ok": true, "detail": "peer is gone"}));
    };
    let stored = {
        let w = state
            .admin
            .lock()
            .map_err(|_| CycleError::Local("store lock poisoned".into()))?;
        w.peer_log(peer_id)
            .map_err(|e| CycleError::Local(e.to_string()))?
    };
    let Some(stored) = stored else {
        return Ok(json!({"ok": true, "detail": "nothing synced yet"}));
    };
    let log = super::sync::peer_log_of(stored);
    if let Err(e) = log.check() {
        return Ok(json!({"ok": false, "code": "invalid_local_state", "detail": e.to_string()}));
    }
    let (key, origin) = match (&peer.row.verifier_key, peer_origin(&peer)) {
        (Some(k), Some(o)) => (k.clone(), o),
        _ => return Ok(json!({"ok": false, "code": "no_verified_card"})),
    };
    let page = super::sync::fetch_page(state, &peer, log.size, 1).await?;
    match verify_page(&log, &page, &key, &origin) {
        Ok(applied) => Ok(json!({
            "ok": true,
            "verified_size": log.size,
            "peer_size": applied.checkpoint.size(),
        })),
        Err(d) if !d.kind.is_peer_fault() => Ok(json!({
            "ok": false, "code": d.kind.as_str(), "detail": d.detail,
        })),
        Err(d) => {
            super::sync::store_discrepancy(state, peer_id, &d);
            transition(
                state,
                peer_id,
                PeerEvent::DriftDetected,
                Some(format!("cache_drift: {}: {}", d.kind, d.detail)),
            );
            Ok(json!({
                "ok": false,
                "code": d.kind.as_str(),
                "detail": d.detail,
                "evidence": d.evidence,
            }))
        }
    }
}

/// The ledger origin of a peer, from its verified card.
#[must_use]
pub fn peer_origin(peer: &PeerEntry) -> Option<String> {
    peer.row
        .card
        .as_ref()
        .and_then(|c| c.pointer("/ledger/origin"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A scan of every verified, dialed peer with an agreement in force: card drift and cache
/// drift. Returns one report per peer.
pub async fn scan(state: &AppState) -> Vec<Value> {
    let now = state.clock.now_ms();
    let peers: Vec<_> = state
        .federation
        .table()
        .all()
        .iter()
        .filter(|p| {
            matches!(
                p.status,
                PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift
            ) && state.federation.table().level(&p.row.id, now).is_some()
        })
        .cloned()
        .collect();
    let mut out = Vec::with_capacity(peers.len());
    for peer in peers {
        let id = peer.row.id.clone();
        // Compare the card as the peer publishes it now, not as last fetched.
        if let Err(e) = super::cards::refresh_card(state, &id).await {
            tracing::warn!(peer = %id, error = %e, "card refresh before the drift scan failed");
        }
        let card = match check_peer(state, &id) {
            Ok(f) => {
                json!({"ok": f.is_empty(), "findings": f.iter().map(DriftFinding::to_json).collect::<Vec<_>>()})
            }
            Err(e) => json!({"ok": false, "code": "baseline_unreadable", "detail": e}),
        };
        let cache = match check_cache(state, &id).await {
            Ok(v) => v,
            Err(e) => json!({"ok": false, "code": "peer_unreachable", "detail": e.to_string()}),
        };
        let status = state
            .federation
            .table()
            .find(&id)
            .map(|p| p.status.as_str());
        out.push(json!({
            "peer_id": id,
            "name": peer.row.name,
            "node_id": peer.row.node_id,
            "status": status,
            "card": card,
            "cache": cache,
        }));
    }
    out
}
