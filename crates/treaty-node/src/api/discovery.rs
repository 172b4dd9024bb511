//! Discovery and exact resolution over the node's records.
//!
//! `GET /v1/discover` ranks records by full-text relevance (the store's FTS5 index), over
//! local records and the records cached from peers by sync alike; it never calls a peer.
//! Cached records carry `federation_metadata.source_registry` (the node id of the registry
//! whose signed checkpoint proves them); local records carry none.
//!
//! `GET /v1/resolve/{collection}/{key}` is an exact lookup that answers the record with its
//! receipt: from local records, else from the peer cache, else (unless `cascade=false`) by
//! cascading to the ACTIVE peers ([`crate::federation::cascade`]).

use super::problem::Problem;
use super::records::record_json;
use super::{AppState, P, Q, b64};
use crate::ledger;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use treaty_store::{CachedRecordRow, SearchError, SearchQuery, SourceFilter};
use treaty_types::limits::{DISCOVER_PAGE_DEFAULT, DISCOVER_PAGE_MAX, DISCOVER_QUERY_BYTES_MAX};
use treaty_types::{Operation, RecordKey};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscoverQuery {
    query: Option<String>,
    collection: Option<String>,
    skill: Option<String>,
    tag: Option<String>,
    source: Option<String>,
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
    for (name, value) in [
        ("query", &q.query),
        ("skill", &q.skill),
        ("tag", &q.tag),
        ("source", &q.source),
    ] {
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
        source: q.source.filter(|v| !v.is_empty()).map(|v| {
            if v == "local" {
                SourceFilter::Local
            } else {
                SourceFilter::Registry(v)
            }
        }),
        limit,
        cursor: q.cursor.filter(|c| !c.is_empty()),
    };
    let state = s.clone();
    let (page, records) = s
        .readers
        .run(move |r| {
            // Records synced before this query are found by it.
            crate::federation::sync::index_before_query(&state, r).map_err(Problem::internal)?;
            let page = r.search(&query)?.map_err(search_problem)?;
            let mut records = Vec::with_capacity(page.hits.len());
            for hit in &page.hits {
                records.push(match hit.cached {
                    None => r
                        .record(&hit.collection, &hit.key)?
                        .filter(|r| r.op == Operation::Put)
                        .map(|rec| record_json(&rec)),
                    Some(id) => r.cached_record_by_id(id)?.map(|c| cached_json(&c)),
                });
            }
            Ok((page, records))
        })
        .await?;
    let results: Vec<_> = page
        .hits
        .iter()
        .zip(records)
        .filter_map(|(hit, record)| {
            // A record leaves the index in the transaction that removes it, so a hit always
            // has a live record; skip defensively rather than answer a dangling hit.
            let record = record?;
            let mut item = json!({
                "collection": hit.collection,
                "key": hit.key,
                "score": hit.score,
                "record": record,
            });
            if let Some(meta) = item["record"].get("federation_metadata").cloned() {
                item["federation_metadata"] = meta;
            }
            Some(item)
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

/// A cached peer record in the JSON form of a record, plus where it comes from: the
/// registry whose signed checkpoint proves it, its index in that registry's ledger, and
/// the size of the checkpoint that proved it.
pub(super) fn cached_json(c: &CachedRecordRow) -> Value {
    let mut v = json!({
        "collection": c.collection,
        "key": c.key,
        "version": c.version,
        "op": "put",
        "time_ms": c.time_ms,
        "ledger_index": c.source_index,
        "leaf_hash": b64(&treaty_merkle::leaf_hash(&c.leaf)),
        "federation_metadata": {
            "source_registry": c.source_registry,
            "source_index": c.source_index,
            "checkpoint_size": c.checkpoint_size,
            "synced_at": crate::federation::rfc3339(c.synced_ms),
        },
    });
    if !c.body.is_null() {
        v["body"] = c.body.clone();
    }
    v
}

/// A tlog-proof receipt for a cached record: its inclusion proof in the tree the stored
/// proving checkpoint signs, fetched from the source registry (its public proof endpoint,
/// within the cascade's per-peer timeout) and checked here before it is passed on. `None`
/// when the source cannot be reached or its proof does not verify; the record is still
/// answered, proven by this node's verified sync.
async fn cached_receipt(
    s: &AppState,
    peer: &crate::federation::PeerEntry,
    c: &CachedRecordRow,
    note: &str,
) -> Option<String> {
    let base = peer.row.base_url.trim_end_matches('/');
    let url = format!(
        "{}?index={}&tree_size={}",
        super::endpoints::PROOF_INCLUSION.url(base, &[]),
        c.source_index,
        c.checkpoint_size
    );
    let timeout = std::time::Duration::from_millis(s.federation.settings.cascade_peer_timeout_ms);
    let answer = s
        .federation
        .client
        .get_json(&url, &[], timeout)
        .await
        .ok()
        .filter(|a| a.status == reqwest::StatusCode::OK)?;
    let proof = answer.body["proof"]
        .as_array()?
        .iter()
        .map(|h| {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.as_str()?)
                .ok()?;
            <[u8; 32]>::try_from(bytes).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let receipt = treaty_note::Receipt::new(c.source_index, proof, note).ok()?;
    let key = treaty_note::VerifierKey::parse(peer.row.verifier_key.as_deref()?).ok()?;
    receipt.verify_entry(&c.leaf, &key, &[], 0).ok()?;
    Some(receipt.to_text())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolveQuery {
    cascade: Option<bool>,
}

/// `GET /v1/resolve/{collection}/{key}`.
pub(super) async fn resolve(
    State(s): State<AppState>,
    P((collection, key)): P<(String, String)>,
    Q(q): Q<ResolveQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let c = s.collection(&collection)?;
    let k = RecordKey::parse_for(&c, &key)?;
    // Cascade parameters are checked first: a malformed header is the caller's error
    // whatever the outcome.
    let cascade = crate::federation::cascade::incoming(&s, &headers)
        .map_err(|e| Problem::bad_request("invalid_cascade_header", e.to_string()))?;
    let loop_seen = !crate::federation::cascade::first_time(&s, &cascade);
    if loop_seen {
        // This node already works on (or answered) this cascade: a cycle. Answer a miss so
        // the cycle ends here.
        return Err(Problem::not_found(
            "cascade_loop",
            format!("cascade {} already reached this node", cascade.id),
        ));
    }
    let head = s.head();
    let (cs, ks, size) = (c.to_string(), k.to_string(), head.size);
    let found = s
        .readers
        .run(move |r| {
            let Some(record) = r.record(&cs, &ks)? else {
                let cached = r.cached_records(&cs, &ks)?.into_iter().next();
                let note = match &cached {
                    Some(c) => r.peer_checkpoint(&c.peer_id, c.checkpoint_size)?,
                    None => None,
                };
                return Ok(Err(cached.map(|c| (c, note))));
            };
            // Prove against the published head; a record newer than it is not yet provable.
            let proof = if record.ledger_index < size {
                Some(r.inclusion_proof(record.ledger_index, size)?)
            } else {
                None
            };
            Ok(Ok((record, proof)))
        })
        .await?;
    let (record, proof) = match found {
        Ok(local) => local,
        Err(Some((cached, note))) => {
            let server = s.federation.table().find(&cached.peer_id);
            let receipt = match (&server, &note) {
                (Some(peer), Some(note)) => cached_receipt(&s, peer, &cached, note).await,
                _ => None,
            };
            return Ok(Json(json!({
                "record": cached_json(&cached),
                "receipt": receipt,
                "checkpoint": note,
                "served_by": {
                    "peer_id": cached.peer_id,
                    "node_id": cached.source_registry,
                    "name": server.as_ref().map(|p| p.row.name.clone()),
                    "verifier_key": server.as_ref().and_then(|p| p.row.verifier_key.clone()),
                    "hops": 1,
                },
                "source": "cache",
            }))
            .into_response());
        }
        Err(None) => {
            let enabled = s.federation.settings.cascade && q.cascade.unwrap_or(true);
            if enabled {
                if let Some(found) =
                    crate::federation::cascade::ask_peers(&s, c.as_str(), k.as_str(), &cascade)
                        .await
                {
                    return Ok(Json(found).into_response());
                }
            }
            return Err(
                Problem::not_found("record_not_found", format!("no record {c}/{k}"))
                    .with("cascaded", enabled && cascade.hops_left > 0),
            );
        }
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
    let card = s.card.snapshot();
    Ok(Json(json!({
        "record": record_json(&record),
        "receipt": receipt,
        "checkpoint": head.note,
        "served_by": {
            "node_id": &*s.node_id,
            "name": card.document.get("name"),
            "verifier_key": &*s.verifier_key,
            "hops": 0,
        },
        "source": "local",
    }))
    .into_response())
}
