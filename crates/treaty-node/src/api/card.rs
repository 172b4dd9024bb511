//! `/.well-known/registry-card.json`, `/.well-known/registry-jwks.json` and key rotation.

use super::AppState;
use super::problem::Problem;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Whether an `If-None-Match` header matches `etag` (RFC 9110 13.1.2: weak comparison, a
/// list of entity tags, or `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = opaque(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == want)
}

fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// `GET /.well-known/registry-card.json`.
pub(super) async fn card(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let snap = s.card.snapshot();
    // The cheap path: a precomputed ETag, no signing, no ledger read.
    if none_match(&headers, &snap.etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_header(&snap.etag)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
        )
            .into_response();
    }
    let head = s.head();
    let mut doc = snap.document.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "volatile".into(),
            s.card.volatile(head.size, &head.root, 0).to_value(),
        );
    }
    (
        [
            (header::ETAG, etag_header(&snap.etag)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Json(doc),
    )
        .into_response()
}

/// `GET /.well-known/registry-jwks.json`.
pub(super) async fn jwks(State(s): State<AppState>) -> Response {
    let snap = s.card.snapshot();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        snap.jwks.clone(),
    )
        .into_response()
}

/// `POST /v1/keys/rotate`.
pub(super) async fn rotate(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let collections = s
        .collections
        .read()
        .map(|c| crate::card::card_collections(&c))
        .unwrap_or_default();
    let now = s.clock.now_ms();
    let kid = {
        let mut w = s.writer()?;
        s.card
            .rotate(&mut w, &collections, now)
            .map_err(Problem::internal)?
    };
    let snap = s.card.snapshot();
    tracing::info!(%kid, etag = %snap.etag, "card key rotated");
    // Peers know this node's keys from the card they verified; register again so each one
    // re-fetches the card and learns the new key (the JWKS keeps the retired one, which is
    // what proves the new card is this node's).
    let peers: Vec<_> = s
        .federation
        .table()
        .all()
        .iter()
        .filter(|p| p.status.accepts_calls().is_ok())
        .cloned()
        .collect();
    let notified = peers.len();
    for peer in peers {
        let state = s.clone();
        tokio::spawn(async move {
            let outcome = crate::federation::register_with(&state, &peer, None).await;
            tracing::info!(peer = %peer.row.id, %outcome, "re-registered after key rotation");
        });
    }
    Ok(Json(json!({"kid": kid, "etag": snap.etag, "peers_notified": notified})).into_response())
}
