//! Witness endpoints: C2SP `add-checkpoint`, the witness key, witness history, views,
//! cross-anchors. The logic is in [`crate::federation::witness`] and
//! [`crate::federation::views`].

use super::federation::{find_peer, operator};
use super::problem::Problem;
use super::{AppState, P, Q, b64, endpoints};
use crate::federation::views;
use crate::federation::witness::{Answer, record_fork};
use crate::federation::{CapturedRequest, authenticate_peer};
use crate::ledger;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use treaty_federation::witness::{ADD_CHECKPOINT_BODY_MAX, AddCheckpoint};
use treaty_types::EntryKind;

/// The C2SP content type of a 409 answer.
const TLOG_SIZE: &str = "text/x.tlog.size";
/// Most history events per page.
pub(super) const HISTORY_PAGE_MAX: u32 = 1_000;

/// `POST /witness/add-checkpoint` (c2sp.org/tlog-witness).
pub(super) async fn add_checkpoint(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    let bytes = super::read_body_limited(req.into_body()).await?;
    if bytes.len() > ADD_CHECKPOINT_BODY_MAX {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("add-checkpoint bodies are limited to {ADD_CHECKPOINT_BODY_MAX} bytes"),
        ));
    }
    let request =
        AddCheckpoint::parse(&bytes).map_err(|e| Problem::bad_request(e.code(), e.to_string()))?;
    let claimed = request
        .checkpoint()
        .map_err(|e| Problem::bad_request(e.code(), e.to_string()))?;
    let now = s.clock.now_ms();
    let table = s.federation.table();
    let Some(log) = s.witness.known_log(&table, claimed.origin(), now) else {
        return Err(Problem::not_found(
            "unknown_log",
            format!(
                "this node does not witness {:?} (only peers at trust level 2 or higher, and configured logs)",
                claimed.origin()
            ),
        ));
    };
    let opened = treaty_note::open_checkpoint(&request.note, &log.key, &[]).map_err(|e| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "no_trusted_signature",
            format!("the checkpoint has no valid signature by {}: {e}", log.key),
        )
    })?;
    let peer_id = log.peer_id.clone();
    let answer = s
        .witness
        .submit(log, request, opened.checkpoint)
        .await
        .map_err(|e| {
            if e == "busy" {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "witness_busy",
                    "the witness queue is full; retry shortly",
                )
                .with_header(header::RETRY_AFTER, "1")
            } else {
                Problem::internal(e)
            }
        })?;
    match answer {
        Answer::Cosigned(line) => {
            s.witness.events_queued.notify_one();
            Ok((
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{line}\n"),
            )
                .into_response())
        }
        Answer::Conflict(size) => Ok((
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, TLOG_SIZE)],
            format!("{size}\n"),
        )
            .into_response()),
        Answer::OldSizeTooLarge => Err(Problem::bad_request(
            "old_size_too_large",
            "the old size is larger than the checkpoint's size",
        )),
        Answer::BadProof(reason) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "inconsistent_proof",
            reason,
        )),
        Answer::Fork(evidence) => {
            // Recorded in the background: the answer does not wait for the ledger.
            let state = s.clone();
            let ev = evidence.clone();
            tokio::spawn(async move {
                record_fork(&state, peer_id.as_deref(), "witness", &ev).await;
            });
            Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "fork_detected",
                "this checkpoint and the one last cosigned cannot both be honest; both are kept as evidence",
            )
            .with("evidence", evidence.to_json()))
        }
    }
}

/// `GET /v1/witness/verifier-key`.
pub(super) async fn witness_key(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", s.witness.key),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    peer: Option<String>,
    since: Option<u64>,
    limit: Option<u32>,
}

/// `GET /v1/federation/witness-history`.
pub(super) async fn witness_history(
    State(s): State<AppState>,
    Q(q): Q<HistoryQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=HISTORY_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "invalid_limit",
            format!("limit must be 1..={HISTORY_PAGE_MAX}"),
        ));
    }
    if q.since.is_some_and(|v| i64::try_from(v).is_err()) {
        return Err(Problem::bad_request(
            "since_out_of_range",
            "since must be below 2^63",
        ));
    }
    let peer = match &q.peer {
        Some(p) => Some(find_peer(&s, p)?.row.id.clone()),
        None => None,
    };
    let since = q.since;
    let events = s
        .readers
        .run(move |r| {
            let rows = r.fed_events(
                EntryKind::FedWitnessEvent.as_str(),
                peer.as_deref(),
                since,
                limit,
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let entry = r
                    .entries(row.ledger_index, 1)?
                    .into_iter()
                    .next()
                    .and_then(|e| serde_json::from_slice::<Value>(&e.leaf).ok())
                    .unwrap_or(Value::Null);
                out.push(json!({
                    "ledger_index": row.ledger_index,
                    "peer_id": row.peer_id,
                    "size": row.size,
                    "time_ms": row.time_ms,
                    "event": entry.get("document").cloned().unwrap_or(Value::Null),
                }));
            }
            Ok(out)
        })
        .await?;
    let next = events
        .last()
        .and_then(|e| e.get("ledger_index").cloned())
        .unwrap_or(Value::Null);
    Ok(Json(json!({"events": events, "next_since": next})).into_response())
}

/// `GET /v1/federation/views`.
pub(super) async fn list_views(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    if CapturedRequest::is_signed(&parts) {
        let bytes = super::read_body_limited(body).await?;
        let caller = authenticate_peer(&s, &parts, &bytes, endpoints::VIEWS.id)?;
        if caller.level.is_none() {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "no_agreement",
                "views are shared with peers that have an agreement in force",
            ));
        }
    } else {
        operator(&s, &parts)?;
    }
    let table = s.federation.table();
    let views = s
        .readers
        .run(move |r| Ok(views::held_views(r, &table)?))
        .await?;
    Ok(Json(json!({
        "origin": &*s.origin,
        "views": views.iter().map(views::view_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `POST /v1/admin/federation/compare-views`.
pub(super) async fn compare_views(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    Ok(Json(views::compare(&s).await).into_response())
}

/// `POST /v1/admin/federation/cross-anchor`.
pub(super) async fn cross_anchor_now(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let anchored = views::anchor_round(&s)
        .await
        .map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "cross_anchor_failed", e))?;
    Ok(Json(json!({"anchored": anchored})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnchorQuery {
    size: Option<u64>,
}

/// `GET /v1/federation/cross-anchors/{peer}`.
pub(super) async fn cross_anchor_get(
    State(s): State<AppState>,
    P(peer): P<String>,
    Q(q): Q<AnchorQuery>,
) -> Result<Response, Problem> {
    let peer = find_peer(&s, &peer)?;
    let peer_id = peer.row.id.clone();
    if q.size.is_some_and(|v| i64::try_from(v).is_err()) {
        return Err(Problem::bad_request(
            "size_out_of_range",
            "size must be below 2^63",
        ));
    }
    let want = q.size;
    let found = s
        .readers
        .run(move |r| {
            let kind = EntryKind::FedCrossAnchor.as_str();
            let row = match want {
                None => r.latest_fed_event(kind, &peer_id)?,
                Some(size) => {
                    let mut after = None;
                    loop {
                        let page = r.fed_events(kind, Some(&peer_id), after, 1000)?;
                        let Some(last) = page.last() else { break None };
                        after = Some(last.ledger_index);
                        if let Some(hit) = page.into_iter().find(|e| e.size == Some(size)) {
                            break Some(hit);
                        }
                    }
                }
            };
            let Some(row) = row else { return Ok(None) };
            let leaf = r
                .entries(row.ledger_index, 1)?
                .into_iter()
                .next()
                .map(|e| e.leaf);
            Ok(leaf.map(|l| (row, l)))
        })
        .await?;
    let Some((row, leaf)) = found else {
        return Err(Problem::not_found(
            "no_cross_anchor",
            format!("no cross-anchor of peer {} in this ledger", peer.row.id),
        ));
    };
    let index = row.ledger_index;
    let head = s.head();
    let (size, note) = s
        .witness
        .cosigned_covering(index)
        .unwrap_or_else(|| (head.size, head.note.clone()));
    if index >= size {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_yet_checkpointed",
            "the anchor's checkpoint is being published; retry",
        )
        .with_header(header::RETRY_AFTER, "1"));
    }
    let proof = s
        .readers
        .run(move |r| Ok(r.inclusion_proof(index, size)?))
        .await?;
    let entry: Value = serde_json::from_slice(&leaf).unwrap_or(Value::Null);
    Ok(Json(json!({
        "peer_id": peer.row.id,
        "node_id": peer.row.node_id,
        "ledger_index": index,
        "anchored_size": row.size,
        "entry": entry,
        "leaf": b64(&leaf),
        "receipt": ledger::receipt_text(index, &proof, &note),
        "verifier_key": &*s.verifier_key,
        "witness_key": s.witness.key.to_string(),
    }))
    .into_response())
}
