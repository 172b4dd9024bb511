//! Sync endpoints: checkpoint notifications, registry-card propagation, an operator's
//! sync now, discrepancies and the drift scan. The worker itself is
//! [`crate::federation::sync`].

use super::federation::{feed_gate, find_peer, operator, peer_view};
use super::problem::Problem;
use super::{AppState, Q, endpoints, read_json_request};
use crate::federation::authenticate_peer;
use crate::federation::sync::{CycleError, SyncMsg};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyBody {
    checkpoint: String,
}

/// `POST /v1/federation/notify`: a peer's new checkpoint. Verified against the peer's
/// ledger key before it can start anything; a checkpoint that does not verify is a
/// 400 (and starts nothing), one not ahead of the copy held here is acknowledged only.
pub(super) async fn notify(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let (bytes, value) = read_json_request(&parts, body).await?;
    let caller = authenticate_peer(&s, &parts, &bytes, endpoints::FED_NOTIFY.id)?;
    feed_gate(&caller)?;
    let body: NotifyBody = serde_json::from_value(value).map_err(|e| {
        Problem::bad_request(
            "invalid_body",
            format!("expected {{\"checkpoint\": \"<note>\"}}: {e}"),
        )
    })?;
    let peer = &caller.peer;
    let (Some(key), Some(origin)) = (
        peer.row.verifier_key.as_deref(),
        crate::federation::drift::peer_origin(peer),
    ) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "peer_not_verified",
            "this node holds no verified ledger key for the caller",
        ));
    };
    let checkpoint = treaty_federation::sync::checkpoint_of(&body.checkpoint, key, &origin)
        .map_err(|d| {
            Problem::bad_request("invalid_checkpoint", d.detail).with("kind", d.kind.as_str())
        })?;
    let peer_id = peer.row.id.clone();
    let held = s
        .readers
        .run(move |r| Ok(r.peer_log(&peer_id)?.map_or(0, |l| l.size)))
        .await?;
    let pull = checkpoint.size() > held;
    if pull {
        let _ = s
            .federation
            .sync_sender()
            .send(SyncMsg::Wake(peer.row.id.clone()));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": true, "pull": pull, "held_size": held, "size": checkpoint.size()})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CardsQuery {
    since: Option<u64>,
}

/// `GET /v1/federation/registry-cards?since=`.
pub(super) async fn registry_cards(
    State(s): State<AppState>,
    Q(q): Q<CardsQuery>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let bytes = super::read_body_limited(body).await?;
    let caller = authenticate_peer(&s, &parts, &bytes, endpoints::FED_REGISTRY_CARDS.id)?;
    feed_gate(&caller)?;
    let since = q.since.unwrap_or(0);
    if i64::try_from(since).is_err() {
        return Err(Problem::bad_request(
            "since_out_of_range",
            "since must be below 2^63",
        ));
    }
    let answer = crate::federation::cards::known_cards(&s, &caller.peer.row.id, since)?;
    Ok(Json(answer).into_response())
}

/// `POST /v1/federation/peers/{id}/sync`: one cycle now, answered with its report.
pub(super) async fn sync_peer(
    State(s): State<AppState>,
    super::P(id): super::P<String>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peer = find_peer(&s, &id)?;
    let now = s.clock.now_ms();
    let table = s.federation.table();
    if !crate::federation::sync::eligible(&table, &peer, now) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "peer_not_syncable",
            format!(
                "peer {} is {} {}; only verified, dialed peers with an agreement of level 1 or higher are pulled",
                peer.row.id,
                peer.status.as_str(),
                if table.level(&peer.row.id, now).is_some() {
                    "with an agreement"
                } else {
                    "without an agreement in force"
                }
            ),
        ));
    }
    // The outcome is recorded on the peer exactly as for the worker's pulls.
    let report = match crate::federation::sync::cycle_recorded(&s, &peer.row.id).await {
        Ok(r) => r,
        Err(CycleError::Call(e)) => {
            return Err(Problem::new(StatusCode::BAD_GATEWAY, e.code, e.detail));
        }
        Err(CycleError::Discrepancy(d)) => {
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "sync_discrepancy",
                format!("the peer served data its checkpoint contradicts: {d}"),
            )
            .with("kind", d.kind.as_str())
            .with("evidence", d.evidence.clone()));
        }
        Err(CycleError::Local(e)) => return Err(Problem::internal(e)),
    };
    let peer = find_peer(&s, &id)?;
    Ok(Json(json!({
        "pages": report.pages,
        "entries": report.entries,
        "puts": report.puts,
        "deletes": report.deletes,
        "size": report.size,
        "cards": report.cards,
        "peer": peer_view(&s, &peer)?,
    }))
    .into_response())
}

/// `POST /v1/federation/peers/{id}/reset-sync`: forgets what was synced from the peer,
/// under the peer's sync lock so no cycle is half applied around it.
pub(super) async fn reset_sync(
    State(s): State<AppState>,
    super::P(id): super::P<String>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peer = find_peer(&s, &id)?;
    let lock = s.federation.sync_lock(&peer.row.id);
    let _guard = lock.lock().await;
    {
        let mut w = s.writer()?;
        w.reset_peer_log(&peer.row.id)?;
    }
    tracing::info!(peer = %peer.row.id, "sync state reset by the operator");
    let peer = find_peer(&s, &id)?;
    Ok(Json(peer_view(&s, &peer)?).into_response())
}

/// Largest page of discrepancies.
const DISCREPANCY_PAGE_MAX: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscrepancyQuery {
    peer: Option<String>,
    since: Option<u64>,
    limit: Option<u32>,
}

/// `GET /v1/federation/discrepancies`.
pub(super) async fn discrepancies(
    State(s): State<AppState>,
    Q(q): Q<DiscrepancyQuery>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=DISCREPANCY_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit_out_of_range",
            format!("limit must be 1-{DISCREPANCY_PAGE_MAX}"),
        ));
    }
    let since = i64::try_from(q.since.unwrap_or(0))
        .map_err(|_| Problem::bad_request("since_out_of_range", "since must be below 2^63"))?;
    let peer = match &q.peer {
        Some(p) => Some(find_peer(&s, p)?.row.id.clone()),
        None => None,
    };
    let rows = {
        let w = s.writer()?;
        w.discrepancies(peer.as_deref(), since, limit)?
    };
    let next = rows.last().map(|r| r.id);
    let items: Vec<Value> = rows
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id,
                "peer_id": d.peer_id,
                "kind": d.kind,
                "detail": d.detail,
                "evidence": d.evidence,
                "detected_at": crate::federation::rfc3339(d.detected_ms),
            })
        })
        .collect();
    Ok(Json(json!({"discrepancies": items, "next": next})).into_response())
}

/// `POST /v1/admin/federation/drift-scan`.
pub(super) async fn drift_scan(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peers = crate::federation::drift::scan(&s).await;
    let drifted = peers
        .iter()
        .filter(|p| p["status"] == json!("DRIFT"))
        .count();
    Ok(Json(json!({"scanned": peers.len(), "drifted": drifted, "peers": peers})).into_response())
}
