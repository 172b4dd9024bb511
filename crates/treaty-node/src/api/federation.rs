//! Peering endpoints: registration, the operator's peer and license management, and the
//! sync feed (PROTOCOL.md section 8).

use super::problem::Problem;
use super::{AppState, P, Q, endpoints, read_json_request};
use crate::federation::client::{CARD_PATH, card_url_for, origin_of, parse_peer_url};
use crate::federation::{
    CapturedRequest, Claim, PEER_FAILURES_SHOWN, PEERS_MAX, authenticate_peer, peer_json, rfc3339,
    signature_problem, verify_peer,
};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use treaty_federation::{
    Action, LicenseLimits, LicenseStatus, PeerEvent, PeerStatus, Tier, gate, license_from_random,
    node_id_is_valid, parse_license_key,
};
use treaty_store::{LicenseRow, PeerRow};

/// How the reason of an operator's suspension starts.
const OPERATOR_REASON_PREFIX: &str = "operator: ";
/// Longest license name or suspension reason, in bytes.
const LABEL_BYTES_MAX: usize = 512;

/// A federation rule's error as a problem with `status`.
pub(super) fn problem_of(e: &treaty_federation::FedError, status: StatusCode) -> Problem {
    Problem::new(status, e.code(), e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(rename = "nodeId")]
    node_id: String,
    #[serde(rename = "federationDocumentUrl")]
    federation_document_url: String,
    #[serde(rename = "callbackUrl")]
    callback_url: String,
    #[serde(default)]
    license: Option<String>,
}

/// `POST /v1/federation/register`.
pub(super) async fn register(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let (bytes, value) = read_json_request(&parts, body).await?;
    let now_ms = s.clock.now_ms();
    let now_s = now_ms / 1000;
    if !CapturedRequest::is_signed(&parts) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "missing_signature_input",
            "registration is a signed request (RFC 9421, PROTOCOL.md section 5)",
        ));
    }
    // Every check that needs no key runs now; a key this node already trusts verifies now
    // too. An unknown key is expected (the caller is new): its check waits for the card.
    let captured = CapturedRequest::new(&s, &parts, &bytes, now_s);
    let table = s.federation.table();
    let (signed_by, deferred) = match captured.authenticate_with_table(&table, now_s) {
        Ok((peer, auth)) => {
            s.federation
                .admit_nonce(auth, now_s)
                .map_err(|e| signature_problem(&e))?;
            (Some(peer), None)
        }
        Err(treaty_httpsig::HttpSigError::UnknownKey { .. }) => (None, Some(captured)),
        Err(e) => return Err(signature_problem(&e)),
    };
    let body: RegisterBody = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_registration", e.to_string()))?;
    if !node_id_is_valid(&body.node_id) {
        return Err(Problem::bad_request(
            "invalid_node_id",
            "nodeId must be a UUID in lower-case text form",
        ));
    }
    if body.node_id == *s.node_id {
        return Err(Problem::bad_request(
            "cannot_peer_with_self",
            "nodeId is this node's own id",
        ));
    }
    let card_url = parse_peer_url(&body.federation_document_url)
        .map_err(|e| Problem::bad_request(e.code, e.detail))?;
    if card_url.path() != CARD_PATH {
        return Err(Problem::bad_request(
            "invalid_peer_url",
            format!("federationDocumentUrl must end in {CARD_PATH}"),
        ));
    }
    let callback =
        parse_peer_url(&body.callback_url).map_err(|e| Problem::bad_request(e.code, e.detail))?;
    if origin_of(&callback) != origin_of(&card_url) {
        return Err(Problem::bad_request(
            "callback_url_mismatch",
            "callbackUrl must be on the same origin as federationDocumentUrl",
        ));
    }
    if let Some(peer) = &signed_by {
        if peer.row.node_id != body.node_id {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "key_node_mismatch",
                "the signing key belongs to another node",
            ));
        }
    }
    let existing = table.find(&body.node_id);
    if existing
        .as_ref()
        .is_some_and(|p| p.status == PeerStatus::Revoked)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "peer_revoked",
            "this node's admission license is revoked",
        ));
    }
    // An operator's suspension is lifted by the operator only, not by the peer registering.
    if let Some(p) = existing.as_ref().filter(|p| {
        p.status == PeerStatus::Suspended
            && p.row
                .status_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(OPERATOR_REASON_PREFIX))
    }) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "peer_suspended",
            format!(
                "this node's operator suspended the peer ({}); only the operator can resume it",
                p.row.status_reason.as_deref().unwrap_or_default()
            ),
        ));
    }
    let license = check_presented_license(&s, body.license.as_deref(), existing.as_deref())?;
    let peer_id = {
        let mut w = s.writer()?;
        match &existing {
            Some(p) => p.row.id.clone(),
            None => {
                if table.all().len() >= PEERS_MAX {
                    return Err(Problem::new(
                        StatusCode::CONFLICT,
                        "peers_full",
                        format!("this node holds its limit of {PEERS_MAX} peers"),
                    ));
                }
                let id = crate::identity::new_uuid().map_err(Problem::internal)?;
                w.upsert_peer(&PeerRow {
                    id: id.clone(),
                    node_id: body.node_id.clone(),
                    name: body.node_id.clone(),
                    base_url: origin_of(&card_url),
                    card_url: card_url.to_string(),
                    callback_url: callback.to_string(),
                    status: PeerStatus::PendingVerification.as_str().to_owned(),
                    status_reason: None,
                    card: None,
                    jwks: None,
                    kid: None,
                    spiffe_id: None,
                    ca_fingerprint: None,
                    verifier_key: None,
                    license_id: None,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                    last_verified_ms: None,
                    last_synced_ms: None,
                    hops: 1,
                    via_peer: None,
                    card_seq: 0,
                    card_etag: None,
                })?;
                s.federation.reload(&w)?;
                id
            }
        }
    };
    let claim = Claim {
        node_id: Some(body.node_id.clone()),
        card_url,
        callback_url: Some(body.callback_url.clone()),
    };
    let authenticated = signed_by.is_some();
    let task_state = s.clone();
    let task_peer = peer_id.clone();
    tokio::spawn(async move {
        if let Err(e) = verify_peer(
            &task_state,
            &task_peer,
            &claim,
            deferred.as_ref(),
            authenticated,
            license.map(|l| l.id),
        )
        .await
        {
            tracing::error!(peer = %task_peer, error = ?e, "registration not recorded");
        }
    });
    tracing::info!(peer = %peer_id, node = %body.node_id, "registration accepted for verification");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"peerId": peer_id, "status": "pending_verification"})),
    )
        .into_response())
}

/// Checks a license presented at registration: it must exist, be active, and be bound to no
/// other peer. Without one, registration passes only when licenses are not required or
/// the peer already holds one.
fn check_presented_license(
    s: &AppState,
    key: Option<&str>,
    existing: Option<&crate::federation::PeerEntry>,
) -> Result<Option<LicenseRow>, Problem> {
    let forbidden = |code, detail: &str| Problem::new(StatusCode::FORBIDDEN, code, detail);
    let Some(key) = key else {
        if s.federation.settings.require_license && existing.is_none_or(|p| p.license.is_none()) {
            return Err(forbidden(
                "license_required",
                "this node admits peers with an admission license only",
            ));
        }
        return Ok(None);
    };
    let hash = parse_license_key(key).map_err(|e| problem_of(&e, StatusCode::FORBIDDEN))?;
    let lic = {
        let w = s.writer()?;
        w.license_by_hash(&hash)?
    };
    let Some(lic) = lic else {
        return Err(forbidden("license_invalid", "no such admission license"));
    };
    match LicenseStatus::parse(&lic.status) {
        Ok(LicenseStatus::Active) => {}
        Ok(LicenseStatus::Suspended) => {
            return Err(forbidden("license_suspended", "the license is suspended"));
        }
        _ => return Err(forbidden("license_revoked", "the license is revoked")),
    }
    if let Some(bound) = &lic.peer_id {
        if existing.is_none_or(|p| &p.row.id != bound) {
            return Err(forbidden(
                "license_in_use",
                "the license admits another peer",
            ));
        }
    }
    Ok(Some(lic))
}

pub(super) fn operator(s: &AppState, parts: &axum::http::request::Parts) -> Result<(), Problem> {
    s.authorize(&parts.headers, None).map(|_| ())
}

pub(super) fn peer_view(
    s: &AppState,
    peer: &crate::federation::PeerEntry,
) -> Result<Value, Problem> {
    // Through a reader, not the writer: the store lock may be held for tens of
    // milliseconds by sync work (a page, indexing, merges) that a status read need not
    // wait for.
    let (failures, log, cached) = s.readers.now(|r| -> Result<_, Problem> {
        Ok((
            r.peer_failures(&peer.row.id, PEER_FAILURES_SHOWN)?,
            r.peer_log(&peer.row.id)?,
            r.cached_count(&peer.row.id)?,
        ))
    })?;
    let mut v = peer_json(s, peer, &failures);
    let level = s.federation.table().level(&peer.row.id, s.clock.now_ms());
    v["sync"] = crate::federation::sync::sync_json(log.as_ref(), cached, level);
    v["hops"] = json!(peer.row.hops);
    v["via_peer"] = json!(peer.row.via_peer);
    Ok(v)
}

/// `GET /v1/federation/peers`.
pub(super) async fn list_peers(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let table = s.federation.table();
    let peers = table
        .all()
        .iter()
        .map(|p| peer_view(&s, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "peers": peers })).into_response())
}

/// A peer by id or node id, or 404 `unknown_peer`.
pub(super) fn find_peer(
    s: &AppState,
    id: &str,
) -> Result<std::sync::Arc<crate::federation::PeerEntry>, Problem> {
    s.federation.table().find(id).ok_or_else(|| {
        Problem::not_found(
            "unknown_peer",
            format!("no peer {id:?}; GET /v1/federation/peers lists them"),
        )
    })
}

/// `GET /v1/federation/peers/{id}`.
pub(super) async fn get_peer(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peer = find_peer(&s, &id)?;
    let mut view = peer_view(&s, &peer)?;
    view["card"] = peer.row.card.clone().unwrap_or(Value::Null);
    Ok(Json(view).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    url: String,
    #[serde(default)]
    license: Option<String>,
}

/// `POST /v1/federation/peers`.
pub(super) async fn add_peer(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    operator(&s, &parts)?;
    let (_, value) = read_json_request(&parts, body).await?;
    let body: AddBody = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    if let Some(l) = &body.license {
        parse_license_key(l).map_err(|e| problem_of(&e, StatusCode::BAD_REQUEST))?;
    }
    let card_url = card_url_for(&body.url).map_err(|e| Problem::bad_request(e.code, e.detail))?;
    let (peer_id, created) = crate::federation::add_verified_peer(&s, &card_url).await?;
    let peer = find_peer(&s, &peer_id)?;
    // The other direction: register this node with the peer, by a signed request.
    let registration = crate::federation::register_with(&s, &peer, body.license.as_deref()).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let peer = find_peer(&s, &peer_id)?;
    Ok((
        status,
        Json(json!({"peer": peer_view(&s, &peer)?, "registration": registration})),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /v1/federation/peers/{id}/suspend`.
pub(super) async fn suspend_peer(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    operator(&s, &parts)?;
    let (bytes, value) = read_json_request(&parts, body).await?;
    let body: SuspendBody = if bytes.is_empty() {
        SuspendBody::default()
    } else {
        serde_json::from_value(value)
            .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?
    };
    let reason = body
        .reason
        .unwrap_or_else(|| "suspended by the operator".into());
    if reason.len() > LABEL_BYTES_MAX || reason.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "invalid_reason",
            format!("a reason is at most {LABEL_BYTES_MAX} bytes without control characters"),
        ));
    }
    let peer = find_peer(&s, &id)?;
    let next = peer
        .status
        .on(PeerEvent::OperatorSuspend)
        .map_err(|e| problem_of(&e, StatusCode::CONFLICT))?;
    set_status(
        &s,
        &peer.row.id,
        next,
        Some(format!("{OPERATOR_REASON_PREFIX}{reason}")),
    )?;
    let peer = find_peer(&s, &id)?;
    Ok(Json(peer_view(&s, &peer)?).into_response())
}

fn set_status(
    s: &AppState,
    peer_id: &str,
    status: PeerStatus,
    reason: Option<String>,
) -> Result<(), Problem> {
    let mut w = s.writer()?;
    if let Some(mut row) = w.peer(peer_id)? {
        row.status = status.as_str().to_owned();
        row.status_reason = reason;
        row.updated_ms = s.clock.now_ms();
        w.upsert_peer(&row)?;
    }
    s.federation.reload(&w)?;
    Ok(())
}

/// `POST /v1/federation/peers/{id}/resume`.
pub(super) async fn resume_peer(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peer = find_peer(&s, &id)?;
    if peer.status == PeerStatus::Drift {
        // The operator accepts the drift: the peer's current card becomes the baseline.
        crate::federation::drift::record_baseline(&s, &peer)
            .map_err(|e| Problem::new(StatusCode::CONFLICT, "baseline_unavailable", e))?;
        set_status(&s, &peer.row.id, PeerStatus::Active, None)?;
        tracing::info!(peer = %peer.row.id, "drift accepted by the operator; new baseline recorded");
        let peer = find_peer(&s, &id)?;
        return Ok(Json(peer_view(&s, &peer)?).into_response());
    }
    let next = peer
        .status
        .on(PeerEvent::OperatorResume)
        .map_err(|e| problem_of(&e, StatusCode::CONFLICT))?;
    set_status(&s, &peer.row.id, next, None)?;
    let card_url =
        card_url_for(&peer.row.card_url).map_err(|e| Problem::bad_request(e.code, e.detail))?;
    let claim = Claim {
        node_id: Some(peer.row.node_id.clone()),
        card_url,
        callback_url: None,
    };
    verify_peer(&s, &peer.row.id, &claim, None, true, None).await?;
    let peer = find_peer(&s, &id)?;
    Ok(Json(peer_view(&s, &peer)?).into_response())
}

/// `DELETE /v1/federation/peers/{id}`.
pub(super) async fn remove_peer(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let peer = find_peer(&s, &id)?;
    let mut w = s.writer()?;
    w.delete_peer(&peer.row.id)?;
    s.federation.reload(&w)?;
    tracing::info!(peer = %peer.row.id, node = %peer.row.node_id, "peer removed");
    Ok(Json(json!({"removed": peer.row.id, "node_id": peer.row.node_id})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    max_records: Option<u64>,
    #[serde(default)]
    max_events_per_minute: Option<u32>,
    #[serde(default)]
    tier: Option<String>,
}

fn license_json(l: &LicenseRow) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "tier": l.tier,
        "max_records": l.max_records,
        "max_events_per_minute": l.max_events_per_minute,
        "status": l.status,
        "peer_id": l.peer_id,
        "created_at": rfc3339(l.created_ms),
        "updated_at": rfc3339(l.updated_ms),
    })
}

/// `POST /v1/federation/licenses`.
pub(super) async fn issue_license(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    operator(&s, &parts)?;
    let (_, value) = read_json_request(&parts, body).await?;
    let body: LicenseBody = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    let d = LicenseLimits::default();
    let tier = match body.tier.as_deref() {
        None => d.tier,
        Some(t) => Tier::parse(t).map_err(|e| problem_of(&e, StatusCode::UNPROCESSABLE_ENTITY))?,
    };
    let limits = LicenseLimits {
        max_records: body.max_records.unwrap_or(d.max_records),
        max_events_per_minute: body
            .max_events_per_minute
            .unwrap_or(d.max_events_per_minute),
        tier,
    };
    limits
        .validate()
        .map_err(|e| problem_of(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let name = body.name.unwrap_or_default();
    if name.len() > LABEL_BYTES_MAX || name.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "invalid_name",
            format!("a name is at most {LABEL_BYTES_MAX} bytes without control characters"),
        ));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(Problem::internal)?;
    let key = license_from_random(&random);
    let now = s.clock.now_ms();
    let row = LicenseRow {
        id: crate::identity::new_uuid().map_err(Problem::internal)?,
        hash: key.hash,
        name,
        tier: limits.tier.as_str().to_owned(),
        max_records: limits.max_records,
        max_events_per_minute: limits.max_events_per_minute,
        status: LicenseStatus::Active.as_str().to_owned(),
        peer_id: None,
        created_ms: now,
        updated_ms: now,
    };
    {
        let mut w = s.writer()?;
        w.insert_license(&row)?;
    }
    let mut out = license_json(&row);
    out["key"] = json!(key.key);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /v1/federation/licenses`.
pub(super) async fn list_licenses(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    operator(&s, &req.into_parts().0)?;
    let rows = {
        let w = s.writer()?;
        w.licenses()?
    };
    Ok(
        Json(json!({"licenses": rows.iter().map(license_json).collect::<Vec<_>>()}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseUpdate {
    status: String,
}

/// `PUT /v1/federation/licenses/{id}`.
pub(super) async fn update_license(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    operator(&s, &parts)?;
    let (_, value) = read_json_request(&parts, body).await?;
    let body: LicenseUpdate = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    let to = LicenseStatus::parse(&body.status)
        .map_err(|e| problem_of(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let now = s.clock.now_ms();
    let mut w = s.writer()?;
    let Some(mut lic) = w.license(&id)? else {
        return Err(Problem::not_found(
            "unknown_license",
            format!("no license {id:?}"),
        ));
    };
    let from = LicenseStatus::parse(&lic.status).unwrap_or(LicenseStatus::Revoked);
    let next = from
        .transition(to)
        .map_err(|e| problem_of(&e, StatusCode::CONFLICT))?;
    lic.status = next.as_str().to_owned();
    lic.updated_ms = now;
    w.update_license(&lic)?;
    // Revoking a license revokes the peer it admits: every call from it fails from now on.
    if next == LicenseStatus::Revoked {
        if let Some(peer_id) = &lic.peer_id {
            if let Some(mut row) = w.peer(peer_id)? {
                let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::Suspended);
                let revoked = status
                    .on(PeerEvent::LicenseRevoked)
                    .unwrap_or(PeerStatus::Revoked);
                row.status = revoked.as_str().to_owned();
                row.status_reason = Some(format!("license {} revoked", lic.id));
                row.updated_ms = now;
                w.upsert_peer(&row)?;
                tracing::warn!(peer = %row.id, license = %lic.id, "license revoked; peer revoked");
            }
        }
    }
    s.federation.reload(&w)?;
    Ok(Json(license_json(&lic)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedQuery {
    since: Option<u64>,
    limit: Option<u32>,
}

/// Entries per feed page by default, and at most.
const FEED_PAGE_DEFAULT: u32 = 1000;
/// Largest feed page.
const FEED_PAGE_MAX: u32 = 10_000;

/// Checks that the calling peer may read the sync feed (and what travels with it:
/// notifications, registry cards): trust level 1 or higher.
pub(super) fn feed_gate(caller: &crate::federation::PeerCaller) -> Result<(), Problem> {
    gate(caller.level, Action::ReadFeed).map_err(|e| {
        problem_of(&e, StatusCode::FORBIDDEN)
            .with("needed_level", Action::ReadFeed.required_level().as_u8())
    })
}

/// The feed's base64 (standard, padded), written into the answer in place.
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The two members of a ledger entry that decide whether the feed shares its leaf.
#[derive(Deserialize)]
struct LeafHead<'a> {
    kind: &'a str,
    #[serde(default)]
    collection: Option<&'a str>,
}

/// `GET /v1/federation/entries`: the sync feed, at trust level 1.
///
/// Every entry from `since` travels, in order, so the puller can extend its copy of this
/// node's tree: entries of shared collections with their leaf bytes, all others as their
/// leaf hash only. With the newest checkpoint comes the consistency proof from the page's
/// end to it, so each page verifies on its own.
pub(super) async fn entries(
    State(s): State<AppState>,
    Q(q): Q<FeedQuery>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let bytes = super::read_body_limited(body).await?;
    let caller = authenticate_peer(&s, &parts, &bytes, endpoints::FED_FEED.id)?;
    feed_gate(&caller)?;
    let limit = q.limit.unwrap_or(FEED_PAGE_DEFAULT);
    if !(1..=FEED_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit_out_of_range",
            format!("limit must be 1-{FEED_PAGE_MAX}"),
        ));
    }
    let head = s.head();
    let since = q.since.unwrap_or(0);
    if since > head.size {
        return Err(Problem::bad_request(
            "index_out_of_range",
            format!(
                "since {since} is beyond the newest checkpoint's size {}",
                head.size
            ),
        )
        .with("checkpoint_size", head.size));
    }
    let shared = s
        .federation
        .table()
        .shared_collections(&caller.peer.row.id, s.clock.now_ms());
    let size = head.size;
    let (rows, proof) = s
        .readers
        .run(move |r| {
            // The page ends at the checkpoint and, so that a page always fits the answer
            // size a puller reads, once its leaf bytes pass the budget (one entry always
            // travels: a single leaf is far smaller than the budget).
            let mut leaf_bytes = 0usize;
            let rows: Vec<_> = r
                .entries(since, limit)?
                .into_iter()
                .filter(|e| e.index < size)
                .take_while(|e| {
                    let first = leaf_bytes == 0;
                    leaf_bytes += e.leaf.len();
                    first || leaf_bytes <= treaty_federation::sync::FEED_PAGE_LEAF_BYTES_MAX
                })
                .collect();
            let next = since + rows.len() as u64;
            let proof = if next == 0 || next == size {
                Vec::new()
            } else {
                r.consistency_proof(next, size)?
            };
            Ok((rows, proof))
        })
        .await?;
    let next = since + rows.len() as u64;
    // Written straight into the answer rather than through a `Value` per entry: a page of
    // 5,000 entries is megabytes of base64, and building and serializing the values cost
    // as much as reading the rows.
    let leaf_bytes: usize = rows.iter().map(|r| r.leaf.len()).sum();
    let mut out = String::with_capacity(1024 + leaf_bytes * 4 / 3 + rows.len() * 64);
    out.push_str("{\"checkpoint\":");
    out.push_str(&Value::from(head.note.as_str()).to_string());
    let _ = write!(
        out,
        ",\"tree_size\":{size},\"since\":{since},\"next\":{next},\"collections\":"
    );
    out.push_str(&Value::from(shared.clone()).to_string());
    out.push_str(",\"entries\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Only the kind and collection decide; the leaf is this node's own canonical
        // entry, so a light parse of two members is enough (a full canonical parse per
        // entry cost more than half of serving a page).
        let shared_record = serde_json::from_slice::<LeafHead>(&r.leaf).is_ok_and(|h| {
            h.kind == "record"
                && h.collection
                    .is_some_and(|c| shared.iter().any(|s| s.as_str() == c))
        });
        // Base64 needs no JSON escaping.
        // Writing to a String cannot fail.
        let _ = write!(out, "{{\"index\":{},", r.index);
        if shared_record {
            out.push_str("\"leaf\":\"");
            B64.encode_string(&r.leaf, &mut out);
        } else {
            out.push_str("\"leaf_hash\":\"");
            B64.encode_string(r.leaf_hash, &mut out);
        }
        out.push_str("\"}");
    }
    out.push_str("],\"consistency\":[");
    for (i, h) in proof.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        B64.encode_string(h, &mut out);
        out.push('"');
    }
    out.push_str("]}");
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}
