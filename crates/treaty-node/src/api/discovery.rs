//! Discovery and exact resolution over the node's records.
//!
//! `GET /v1/discover` ranks records by full-text relevance (the store's FTS5 index);
//! `GET /v1/resolve/{collection}/{key}` is an exact lookup that answers the record with its
//! receipt. Records synced from peers (a later issue) will carry
//! `federation_metadata.source_registry`; local records carry none.

use super::problem::Problem;
use super::records::record_json;
use super::{AppState, P, Q};
use crate::ledger;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use treaty_store::{SearchError, SearchQuery};
use treaty_types::limits::{DISCOVER_PAGE_DEFAULT, DISCOVER_PAGE_MAX, DISCOVER_QUERY_BYTES_MAX};
use treaty_types::{Operation, RecordKey};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscoverQuery {
    query: Option<String>,
    collection: Option<String>,
    skill: Option<String>,
    tag: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/discover`.
pub(super) async fn discover(
    State(s): State<AppState>,
    Q(q): Q<DiscoverQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(DISCOVER_PAGE_DEFAULT);
    if !(1..=DISCOVER_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit_out_of_range",
            format!("limit must be within 1..={DISCOVER_PAGE_MAX}"),
        ));
    }
    for (name, value) in [("query", &q.query), ("skill", &q.skill), ("tag", &q.tag)] {
        if value
            .as_ref()
            .is_some_and(|v| v.len() > DISCOVER_QUERY_BYTES_MAX)
        {
            return Err(Problem::bad_request(
                "query_too_long",
                format!("{name} is limited to {DISCOVER_QUERY_BYTES_MAX} bytes"),
            ));
        }
    }
    if let Some(c) = &q.collection {
        s.collection(c)?;
    }
    let query = SearchQuery {
        text: q.query.unwrap_or_default(),
        collection: q.collection,
        skill: q.skill.filter(|v| !v.is_empty()),
        tag: q.tag.filter(|v| !v.is_empty()),
        limit,
        cursor: q.cursor.filter(|c| !c.is_empty()),
    };
    let (page, records) = s
        .readers
        .run(move |r| {
            let page = r.search(&query)?.map_err(search_problem)?;
            let mut records = Vec::with_capacity(page.hits.len());
            for hit in &page.hits {
                records.push(r.record(&hit.collection, &hit.key)?);
            }
            Ok((page, records))
        })
        .await?;
    let results: Vec<_> = page
        .hits
        .iter()
        .zip(records)
        .filter_map(|(hit, record)| {
            // The index and the records are written in one transaction, so a hit always has
            // a live record; skip defensively rather than answer a dangling hit.
            let record = record.filter(|r| r.op == Operation::Put)?;
            Some(json!({
                "collection": hit.collection,
                "key": hit.key,
                "score": hit.score,
                "record": record_json(&record),
            }))
        })
        .collect();
    Ok(Json(json!({"results": results, "next_cursor": page.next_cursor})).into_response())
}

fn search_problem(e: SearchError) -> Problem {
    match e {
        SearchError::InvalidCursor => Problem::bad_request(
            "invalid_cursor",
            "cursor is not one this node issued for this query",
        ),
        other => Problem::bad_request("invalid_query", other.to_string()),
    }
}

/// `GET /v1/resolve/{collection}/{key}`.
pub(super) async fn resolve(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
) -> Result<Response, Problem> {
    let c = s.collection(&collection)?;
    let k = RecordKey::parse_for(&c, &key)?;
    let head = s.head();
    let (cs, ks, size) = (c.to_string(), k.to_string(), head.size);
    let found = s
        .readers
        .run(move |r| {
            let Some(record) = r.record(&cs, &ks)? else {
                return Ok(None);
            };
            // Prove against the published head; a record newer than it is not yet provable.
            let proof = if record.ledger_index < size {
                Some(r.inclusion_proof(record.ledger_index, size)?)
            } else {
                None
            };
            Ok(Some((record, proof)))
        })
        .await?;
    let Some((record, proof)) = found else {
        return Err(Problem::not_found(
            "record_not_found",
            format!("no record {c}/{k}"),
        ));
    };
    if record.op == Operation::Delete {
        return Err(Problem::new(
            StatusCode::GONE,
            "record_deleted",
            format!("{c}/{k} was deleted at version {}", record.version),
        )
        .with("record", record_json(&record)));
    }
    let receipt = proof.map(|p| ledger::receipt_text(record.ledger_index, &p, &head.note));
    Ok(Json(json!({
        "record": record_json(&record),
        "receipt": receipt,
        "checkpoint": head.note,
    }))
    .into_response())
}
