//! `/v1/records`: writes through the sequencer, reads from the read pool.

use super::problem::Problem;
use super::{AppState, P, Q, b64, json_body};
use crate::ledger;
use crate::sequencer::{WriteAck, WriteError};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use treaty_store::RecordRow;
use treaty_types::limits::{LIST_PAGE_DEFAULT, LIST_PAGE_MAX};
use treaty_types::{Operation, RecordKey, validate_body};

/// `PUT /v1/records/{collection}/{key}`.
pub(super) async fn put(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), Some(&collection))?;
    let (collection, info) = s.collection_info(&collection)?;
    let key = RecordKey::parse_for(&collection, &key)?;
    let body = json_body(req).await?;
    // Shape, schema and canonicalizability are checked here; the entry's exact canonical
    // size (at most ENTRY_BYTES_MAX) is checked by the sequencer, which refuses it alone.
    validate_body(&body, info.schema.as_deref())?;
    let ack = s
        .sequencer
        .write(collection.clone(), key.clone(), Operation::Put, Some(body))
        .await
        .map_err(write_problem)?;
    let status = if ack.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ack_json(
            &s,
            collection.as_str(),
            key.as_str(),
            Operation::Put,
            &ack,
        )),
    )
        .into_response())
}

/// `DELETE /v1/records/{collection}/{key}`.
pub(super) async fn delete(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), Some(&collection))?;
    let collection = s.collection(&collection)?;
    let key = RecordKey::parse_for(&collection, &key)?;
    let ack = s
        .sequencer
        .write(collection.clone(), key.clone(), Operation::Delete, None)
        .await
        .map_err(write_problem)?;
    Ok(Json(ack_json(
        &s,
        collection.as_str(),
        key.as_str(),
        Operation::Delete,
        &ack,
    ))
    .into_response())
}

pub(super) fn write_problem(e: WriteError) -> Problem {
    match e {
        WriteError::NotFound { collection, key } => Problem::not_found(
            "record_not_found",
            format!("no live record {collection}/{key} to delete"),
        ),
        WriteError::Entry(e) => e.into(),
        WriteError::Busy => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "write_queue_full",
            "the write queue is full; retry shortly",
        )
        .with_header(header::RETRY_AFTER, "1"),
        WriteError::Stopped => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        ),
        other => Problem::internal(other),
    }
}

/// The answer to a write (serialized directly: this is the hottest response).
#[derive(Debug, Serialize)]
pub(super) struct WriteAnswer<'a> {
    collection: &'a str,
    key: &'a str,
    version: u64,
    op: &'static str,
    ledger_index: u64,
    leaf_hash: String,
    checkpoint: CheckpointRef,
    receipt: String,
    origin: &'a str,
}

#[derive(Debug, Serialize)]
struct CheckpointRef {
    size: u64,
    root: String,
}

fn ack_json<'a>(
    s: &'a AppState,
    collection: &'a str,
    key: &'a str,
    op: Operation,
    ack: &WriteAck,
) -> WriteAnswer<'a> {
    WriteAnswer {
        collection,
        key,
        version: ack.version,
        op: op.as_str(),
        ledger_index: ack.index,
        leaf_hash: b64(&ack.leaf_hash),
        checkpoint: CheckpointRef {
            size: ack.checkpoint.size,
            root: b64(&ack.checkpoint.root),
        },
        receipt: ledger::receipt_text(ack.index, &ack.proof, &ack.checkpoint.note),
        origin: &s.origin,
    }
}

/// The JSON form of a record. Its members are exactly what rebuilds the ledger entry
/// (`collection`, `key`, `version`, `op`, `body`, `time_ms`), so a client can verify it
/// against a receipt offline.
pub(super) fn record_json(r: &RecordRow) -> Value {
    let mut v = json!({
        "collection": r.collection,
        "key": r.key,
        "version": r.version,
        "op": r.op.as_str(),
        "time_ms": r.updated_ms,
        "ledger_index": r.ledger_index,
        "leaf_hash": b64(&r.leaf_hash),
    });
    if let Some(body) = &r.body {
        v["body"] = body.clone();
    }
    v
}

async fn load(s: &AppState, collection: &str, key: &str) -> Result<RecordRow, Problem> {
    let c = s.collection(collection)?;
    let k = RecordKey::parse_for(&c, key)?;
    let (cs, ks) = (c.to_string(), k.to_string());
    s.readers
        .run(move |r| Ok(r.record(&cs, &ks)?))
        .await?
        .ok_or_else(|| Problem::not_found("record_not_found", format!("no record {c}/{k}")))
}

/// `GET /v1/records/{collection}/{key}`.
pub(super) async fn get(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
) -> Result<Response, Problem> {
    let r = load(&s, &collection, &key).await?;
    if r.op == Operation::Delete {
        return Err(Problem::new(
            StatusCode::GONE,
            "record_deleted",
            format!("{collection}/{key} was deleted at version {}", r.version),
        )
        .with("record", record_json(&r)));
    }
    Ok(Json(record_json(&r)).into_response())
}

/// `GET /v1/records/{collection}/{key}/receipt`.
pub(super) async fn receipt(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
) -> Result<Response, Problem> {
    let r = load(&s, &collection, &key).await?;
    let head = s.head();
    // The record is durable, but the published head may trail the commit by a moment.
    if r.ledger_index >= head.size {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_yet_checkpointed",
            "the record's checkpoint is being published; retry",
        )
        .with_header(header::RETRY_AFTER, "1"));
    }
    // The newest checkpoint with cosignatures (meeting the quorum policy, if one is set)
    // that covers the entry, so the receipt verifies offline against witnesses too.
    let index = r.ledger_index;
    let (size, note) = s
        .witness
        .cosigned_covering(index)
        .unwrap_or_else(|| (head.size, head.note.clone()));
    let proof = s
        .readers
        .run(move |rd| Ok(rd.inclusion_proof(index, size)?))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        ledger::receipt_text(index, &proof, &note),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
    updated_since: Option<u64>,
}

/// `GET /v1/records/{collection}`.
pub(super) async fn list(
    State(s): State<AppState>,
    P(collection): P<String>,
    Q(q): Q<ListQuery>,
) -> Result<Response, Problem> {
    let c = s.collection(&collection)?;
    let limit = q.limit.unwrap_or(LIST_PAGE_DEFAULT);
    if !(1..=LIST_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit_out_of_range",
            format!("limit must be within 1..={LIST_PAGE_MAX}"),
        ));
    }
    // The cursor is the ledger index of the last record returned, prefixed so clients treat
    // it as opaque.
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(cur) => Some(
            cur.strip_prefix("i")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::bad_request("invalid_cursor", "cursor is not one this node issued")
                })?,
        ),
    };
    let name = c.to_string();
    let since = q.updated_since;
    let rows = s
        .readers
        .run(move |r| Ok(r.list_records(&name, after, since, limit)?))
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("i{}", r.ledger_index)))
        .flatten();
    Ok(Json(json!({
        "collection": c.as_str(),
        "records": rows.iter().map(record_json).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
    .into_response())
}
