//! The OpenTimestamps calendar API (`POST /digest`, `GET /timestamp/<hex>`): a Treaty node
//! timestamps digests by committing them into its ledger.
//!
//! A submitted digest `D` becomes the ledger entry `{"digest":"<hex D>","kind":"anchor"}`; the
//! answer, once the entry is durable, is a timestamp whose operations lead from `D` to the
//! entry's leaf hash and end in a pending attestation naming this node. Once a checkpoint
//! covers the entry, `GET /timestamp/<hex leaf hash>` answers the inclusion path from the leaf
//! to the checkpoint root, ending in a Treaty checkpoint attestation that carries the signed
//! checkpoint note (PROTOCOL.md, "Timestamp calendar"). Layouts live in `treaty_anchor::node`.

use super::problem::Problem;
use super::{AppState, P};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use treaty_anchor::node::{DIGEST_BYTES_MAX, node_leaf_timestamp, node_pending_timestamp};

/// The media type OpenTimestamps calendars answer with.
const OTS_MEDIA_TYPE: &str = "application/octet-stream";

fn ots_response(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OTS_MEDIA_TYPE),
        )],
        bytes,
    )
        .into_response()
}

/// `POST /digest`.
pub(super) async fn digest(State(s): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    if body.is_empty() || body.len() > DIGEST_BYTES_MAX {
        return Err(Problem::bad_request(
            "invalid_digest",
            format!("the body is the raw digest: 1-{DIGEST_BYTES_MAX} bytes"),
        ));
    }
    // Build the answer first: if the node's URL cannot name a pending attestation, nothing
    // is written.
    let answer = node_pending_timestamp(&body, &s.public_url)
        .map_err(Problem::internal)?
        .to_bytes()
        .map_err(Problem::internal)?;
    s.sequencer
        .anchor(body.to_vec())
        .await
        .map_err(super::records::write_problem)?;
    Ok(ots_response(answer))
}

/// `GET /timestamp/{commitment}`.
pub(super) async fn timestamp(
    State(s): State<AppState>,
    P(commitment): P<String>,
) -> Result<Response, Problem> {
    let leaf: [u8; 32] = hex::decode(&commitment)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid_commitment",
                "the commitment is the 32-byte leaf hash in hex, as named by the pending attestation",
            )
        })?;
    let head = s.head();
    let size = head.size;
    let found = s
        .readers
        .run(move |r| {
            let Some(index) = r.calendar_entry(&leaf)? else {
                return Ok(None);
            };
            if index >= size {
                return Ok(Some((index, None)));
            }
            Ok(Some((index, Some(r.inclusion_proof(index, size)?))))
        })
        .await?;
    match found {
        None => Err(Problem::not_found(
            "unknown_commitment",
            "this calendar holds no digest with that leaf hash",
        )),
        // OpenTimestamps clients read 404 as "not yet": retry later.
        Some((_, None)) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "pending_commitment",
            "the digest is not yet covered by a published checkpoint; retry shortly",
        )),
        Some((index, Some(proof))) => {
            let t = node_leaf_timestamp(&leaf, index, size, &proof, &head.note, &s.origin)
                .map_err(Problem::internal)?
                .to_bytes()
                .map_err(Problem::internal)?;
            Ok(ots_response(t))
        }
    }
}
