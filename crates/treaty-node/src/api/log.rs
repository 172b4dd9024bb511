//! The ledger's read API: checkpoint, verifier key, entries and proofs.

use super::problem::Problem;
use super::{AppState, Q, b64};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use treaty_types::limits::{LOG_ENTRIES_PAGE_DEFAULT, LOG_ENTRIES_PAGE_MAX};

const TEXT: &str = "text/plain; charset=utf-8";

/// `GET /checkpoint`.
pub(super) async fn checkpoint(State(s): State<AppState>) -> Response {
    let head = s.head();
    let (_, note) = s.witness.served(&head);
    (
        [
            (header::CONTENT_TYPE, TEXT),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response()
}

/// `GET /v1/log/verifier-key`.
pub(super) async fn verifier_key(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", s.verifier_key),
    )
        .into_response()
}

/// Checks that `size` is within the newest checkpoint.
fn within_head(name: &str, size: u64, head: u64) -> Result<(), Problem> {
    if size > head {
        return Err(Problem::bad_request(
            "tree_size_beyond_checkpoint",
            format!("{name} {size} is beyond the newest checkpoint's size {head}"),
        )
        .with("checkpoint_size", head));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntriesQuery {
    start: Option<u64>,
    limit: Option<u32>,
}

/// `GET /v1/log/entries`.
pub(super) async fn entries(
    State(s): State<AppState>,
    Q(q): Q<EntriesQuery>,
) -> Result<Response, Problem> {
    let head = s.head();
    let start = q.start.unwrap_or(0);
    within_head("start", start, head.size)?;
    let limit = q.limit.unwrap_or(LOG_ENTRIES_PAGE_DEFAULT);
    if !(1..=LOG_ENTRIES_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit_out_of_range",
            format!("limit must be within 1..={LOG_ENTRIES_PAGE_MAX}"),
        ));
    }
    // Never serve past the published checkpoint, so every entry served is provable.
    let limit = limit.min(u32::try_from(head.size - start).unwrap_or(u32::MAX));
    let rows = if limit == 0 {
        Vec::new()
    } else {
        s.readers.run(move |r| Ok(r.entries(start, limit)?)).await?
    };
    Ok(Json(json!({
        "tree_size": head.size,
        "entries": rows.iter().map(|e| json!({
            "index": e.index,
            "leaf": b64(&e.leaf),
            "leaf_hash": b64(&e.leaf_hash),
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    index: u64,
    tree_size: Option<u64>,
}

/// `GET /v1/log/proof/inclusion`.
pub(super) async fn inclusion(
    State(s): State<AppState>,
    Q(q): Q<InclusionQuery>,
) -> Result<Response, Problem> {
    let head = s.head();
    let size = q.tree_size.unwrap_or(head.size);
    within_head("tree_size", size, head.size)?;
    if q.index >= size {
        return Err(Problem::bad_request(
            "index_out_of_range",
            format!("index {} is not below tree_size {size}", q.index),
        ));
    }
    let index = q.index;
    let (leaf_hash, proof) = s
        .readers
        .run(move |r| {
            let leaf = r.entries(index, 1)?;
            let leaf = leaf
                .first()
                .map(|e| e.leaf_hash)
                .ok_or_else(|| Problem::internal("entry missing below the checkpoint"))?;
            Ok((leaf, r.inclusion_proof(index, size)?))
        })
        .await?;
    Ok(Json(json!({
        "index": index,
        "tree_size": size,
        "leaf_hash": b64(&leaf_hash),
        "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/log/proof/consistency`.
pub(super) async fn consistency(
    State(s): State<AppState>,
    Q(q): Q<ConsistencyQuery>,
) -> Result<Response, Problem> {
    let head = s.head();
    let to = q.to.unwrap_or(head.size);
    within_head("to", to, head.size)?;
    if q.from > to {
        return Err(Problem::bad_request(
            "sizes_out_of_order",
            format!("from {} is larger than to {to}", q.from),
        ));
    }
    let from = q.from;
    let proof = s
        .readers
        .run(move |r| Ok(r.consistency_proof(from, to)?))
        .await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}
