//! Cascading resolution (seed 000): a resolve that misses local records and the peer
//! cache asks the ACTIVE peers in parallel; the first answer that verifies wins.
//!
//! A cascaded request carries three headers ([`treaty_federation::cascade`]): a request id
//! (each node answers an id it has seen recently with a miss, which ends loops in cyclic
//! federations), the hops it may still travel, and the time budget left. Each node caps
//! them with its own configuration, so a caller can only ask for less. A peer gets at most
//! `federation.cascade_peer_timeout_ms`; the whole cascade at most
//! `federation.cascade_deadline_ms` (or the budget the caller passed, if smaller).
//!
//! An answer is accepted only if its tlog-proof receipt verifies against the ledger key
//! of the registry that serves it (`served_by`), which this node must know from a
//! verified card: a first-hand peer, or a registry discovered through registry-card
//! propagation. The caller gets the record, the receipt and the checkpoint, so it can
//! verify the answer offline with `treaty verify` and the serving registry's key.

use crate::api::AppState;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use treaty_federation::PeerStatus;
use treaty_federation::cascade::{
    CASCADE_BUDGET_HEADER, CASCADE_HOPS_HEADER, CASCADE_ID_HEADER, CascadeRequest, verify_answer,
};
use treaty_note::VerifierKey;

/// The cascade parameters of an incoming resolve: from its headers when a peer cascades
/// it, or fresh (a new id, the node's hop limit and deadline) for a client's request.
///
/// # Errors
/// A malformed header, as the federation crate's error.
pub fn incoming(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<CascadeRequest, treaty_federation::FedError> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let settings = &state.federation.settings;
    let fresh = fresh_id();
    CascadeRequest::from_headers(
        h(CASCADE_ID_HEADER),
        h(CASCADE_HOPS_HEADER),
        h(CASCADE_BUDGET_HEADER),
        &fresh,
        settings.cascade_hops,
        settings.cascade_deadline_ms,
    )
}

/// 16 random bytes, base64url: a cascade request id.
fn fresh_id() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Never expected; a time-based id still breaks loops within one node's memory.
        b[..8].copy_from_slice(
            &std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                .to_le_bytes(),
        );
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Whether this node sees `req` for the first time (and remembers it). A repeat is a loop.
#[must_use]
pub fn first_time(state: &AppState, req: &CascadeRequest) -> bool {
    let now = state.clock.now_ms();
    state
        .federation
        .cascade_seen
        .lock()
        .map(|mut seen| seen.first_time(&req.id, now))
        .unwrap_or(false)
}

/// Asks the ACTIVE peers for `collection`/`key` in parallel and returns the first answer
/// that verifies, rewritten for this node's caller (the answer to give): `served_by` names the serving
/// registry as this node knows it. `Ok(None)`: no peer had it (or none could prove it)
/// within the deadline.
pub async fn ask_peers(
    state: &AppState,
    collection: &str,
    key: &str,
    req: &CascadeRequest,
) -> Option<Value> {
    let started = Instant::now();
    let settings = &state.federation.settings;
    let deadline_ms = req.budget_ms.min(settings.cascade_deadline_ms);
    let next = req.next_hop(0)?;
    let table = state.federation.table();
    let peers: Vec<_> = table
        .all()
        .iter()
        .filter(|p| p.status == PeerStatus::Active)
        .cloned()
        .collect();
    if peers.is_empty() {
        return None;
    }
    let per_peer = Duration::from_millis(settings.cascade_peer_timeout_ms.min(deadline_ms));
    let mut tasks = JoinSet::new();
    for peer in peers {
        let base = peer.row.base_url.trim_end_matches('/').to_owned();
        let url = crate::api::endpoints::RESOLVE.url(&base, &[collection, key]);
        let headers = vec![
            (CASCADE_ID_HEADER, next.id.clone()),
            (CASCADE_HOPS_HEADER, next.hops_left.to_string()),
            (
                CASCADE_BUDGET_HEADER,
                next.budget_ms.min(per_peer.as_millis() as u64).to_string(),
            ),
        ];
        let client = state.federation.client.clone();
        let peer_id = peer.row.id.clone();
        tasks.spawn(async move {
            let answer = client.get_json(&url, &headers, per_peer).await;
            (peer_id, answer)
        });
    }
    let deadline = started + Duration::from_millis(deadline_ms);
    loop {
        let joined = tokio::time::timeout_at(deadline, tasks.join_next()).await;
        let (asked, answer) = match joined {
            Err(_) => {
                tracing::debug!(%collection, %key, deadline_ms, "cascade deadline passed");
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Err(_))) => continue,
            Ok(Some(Ok(done))) => done,
        };
        let answer = match answer {
            Ok(a) if a.status == reqwest::StatusCode::OK => a.body,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(peer = %asked, code = e.code, detail = %e.detail, "cascaded resolve failed");
                continue;
            }
        };
        let table = state.federation.table();
        let own = state.node_id.to_string();
        let key_for = |node_id: &str| -> Option<VerifierKey> {
            if node_id == own {
                return None;
            }
            let entry = table.find(node_id)?;
            if matches!(entry.status, PeerStatus::Suspended | PeerStatus::Revoked) {
                return None;
            }
            VerifierKey::parse(entry.row.verifier_key.as_deref()?).ok()
        };
        match verify_answer(&answer, collection, key, key_for) {
            Ok(v) => {
                let server = table.find(&v.served_by);
                let mut record = v.record.clone();
                record["federation_metadata"] = json!({"source_registry": v.served_by});
                let hops = answer
                    .pointer("/served_by/hops")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    + 1;
                return Some(json!({
                        "record": record,
                        "receipt": answer["receipt"],
                        "checkpoint": answer["checkpoint"],
                        "served_by": {
                            "peer_id": server.as_ref().map(|p| p.row.id.clone()),
                            "node_id": v.served_by,
                            "name": server.as_ref().map(|p| p.row.name.clone()),
                            "verifier_key": server.as_ref().and_then(|p| p.row.verifier_key.clone()),
                            "hops": hops,
                        },
                        "via": asked,
                        "cascade": {"id": req.id, "elapsed_ms": started.elapsed().as_millis() as u64},
                }));
            }
            Err(e) => {
                tracing::warn!(peer = %asked, code = e.code(), error = %e, "cascaded answer did not verify");
                super::note_failure(state, &asked, e.code(), &e.to_string());
            }
        }
    }
}
