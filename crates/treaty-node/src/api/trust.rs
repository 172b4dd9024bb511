//! Trust agreements (seed 003; PROTOCOL.md section 8.4): proposals, counters, rejections,
//! agreements signed by both parties, and revocation with notice.
//!
//! Each step is taken by one operator and delivered to the other node as a signed request
//! carrying the signed document; each node checks the step against the same state machine
//! (`treaty_federation::Thread`) and writes it to its own ledger together with the state it
//! changes (one sequencer batch), so both ledgers hold every step. A step the other node
//! refuses is recorded nowhere.

use super::admin::admin;
use super::federation::{find_peer, problem_of};
use super::problem::Problem;
use super::records::write_problem;
use super::{AppState, P, Q, endpoints, read_json_request};
use crate::federation::{
    CapturedRequest, PeerCaller, PeerEntry, agreement_status, authenticate_peer, note_failure,
    rfc3339,
};
use crate::sequencer::FedKind;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use treaty_federation::{
    Agreement, Document, FedError, Offer, PartyKey, Rejection, Revocation, Signed, SignedAgreement,
    Terms, Thread, TrustLevel,
};
use treaty_httpsig::{SigningKey, VerifyingKey};
use treaty_store::{AgreementRow, FedOp, ProposalRow};

/// Longest reason, in bytes (as the documents allow).
const REASON_BYTES_MAX: usize = treaty_federation::limits::REASON_BYTES_MAX;

fn fed_problem(e: &FedError) -> Problem {
    let status = match e.code() {
        "not_your_turn" | "proposal_closed" | "proposal_expired" | "round_mismatch"
        | "rounds_exhausted" | "offer_chain_broken" | "proposal_mismatch" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    problem_of(e, status)
}

/// This node's signing key, `kid` and public key.
fn own_key(s: &AppState) -> Result<(String, SigningKey), Problem> {
    s.card
        .signing_key()
        .ok_or_else(|| Problem::internal("no current card key"))
}

/// The key of `caller` named `kid`, for checking a document it signed.
fn caller_key(s: &AppState, caller: &PeerCaller, kid: &str) -> Result<VerifyingKey, Problem> {
    let now_s = s.clock.now_ms() / 1000;
    match s.federation.table().key(kid, now_s) {
        Some((peer, key)) if peer.row.id == caller.peer.row.id => Ok(key),
        _ => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_document_key",
            format!(
                "the document is signed by key {kid:?}, which is not a valid key of the calling peer"
            ),
        )),
    }
}

/// Parses a signed document the calling peer delivered and checks its signature with the
/// caller's own key.
fn signed_by_caller<T: Document>(
    s: &AppState,
    caller: &PeerCaller,
    doc: &Value,
) -> Result<Signed<T>, Problem> {
    let signed = Signed::<T>::from_value(doc).map_err(|e| fed_problem(&e))?;
    let key = caller_key(s, caller, &signed.signature.kid)?;
    signed.verify(&key).map_err(|e| fed_problem(&e))?;
    Ok(signed)
}

/// The peer must be able to take part (ACTIVE, INACTIVE or DRIFT).
fn usable_peer(peer: &PeerEntry) -> Result<(), Problem> {
    peer.status.accepts_calls().map_err(|e| {
        Problem::new(
            StatusCode::CONFLICT,
            "peer_not_active",
            format!("peer {} is {}: {e}", peer.row.id, peer.status.as_str()),
        )
    })
}

/// Delivers a step to the peer: `method` to `path` under its federation endpoint, signed.
/// Anything but `want` is the peer refusing, returned as 502 with the peer's problem.
async fn deliver(
    s: &AppState,
    peer: &PeerEntry,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    want: StatusCode,
) -> Result<Value, Problem> {
    let (kid, key) = own_key(s)?;
    let url = format!("{}{path}", peer.row.callback_url.trim_end_matches('/'));
    let now_s = s.clock.now_ms() / 1000;
    let answer = s
        .federation
        .client
        .signed(
            &key,
            &kid,
            now_s,
            method,
            &url,
            Some(body.to_string().into_bytes()),
        )
        .await;
    match answer {
        Ok(a) if a.status == want => Ok(a.body),
        Ok(a) => {
            let code = a.body["code"].as_str().unwrap_or("unknown").to_owned();
            note_failure(
                s,
                &peer.row.id,
                "peer_refused",
                &format!("{url} answered {}: {code}", a.status),
            );
            Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "peer_refused",
                format!("the peer refused the step ({}: {code})", a.status),
            )
            .with("peer_status", a.status.as_u16())
            .with("peer_problem", a.body))
        }
        Err(e) => {
            note_failure(s, &peer.row.id, e.code, &e.detail);
            Err(Problem::new(StatusCode::BAD_GATEWAY, e.code, e.detail))
        }
    }
}

fn proposal_row(
    thread: &Thread,
    peer_id: &str,
    direction: &str,
    created_ms: u64,
    now_ms: u64,
) -> ProposalRow {
    let latest = thread.latest();
    ProposalRow {
        id: thread.proposal_id.clone(),
        peer_id: peer_id.to_owned(),
        direction: direction.to_owned(),
        status: thread.status(now_ms / 1000).as_str().to_owned(),
        awaiting: thread.awaiting().map(str::to_owned),
        round: latest.map_or(0, |o| o.body.round),
        trust_level: latest.map_or(0, |o| o.body.trust_level.as_u8()),
        expires_at: latest.map_or(0, |o| o.body.expires_at),
        thread: thread.to_value(),
        created_ms,
        updated_ms: now_ms,
    }
}

fn proposal_json(row: &ProposalRow, now_ms: u64, full: bool) -> Value {
    let thread = Thread::from_value(&row.thread).ok();
    let status = thread
        .as_ref()
        .map_or(row.status.as_str(), |t| t.status(now_ms / 1000).as_str());
    let latest = thread
        .as_ref()
        .and_then(|t| t.latest().map(|o| o.body.clone()));
    let mut v = json!({
        "id": row.id,
        "peer_id": row.peer_id,
        "direction": row.direction,
        "status": status,
        "awaiting": if status == "open" { row.awaiting.clone() } else { None },
        "round": row.round,
        "trust_level": row.trust_level,
        "terms": latest.map(|o| o.terms.to_value()),
        "expires_at": rfc3339(row.expires_at.saturating_mul(1000)),
        "created_at": rfc3339(row.created_ms),
        "updated_at": rfc3339(row.updated_ms),
        "agreement_id": thread.as_ref().and_then(|t| t.agreement.as_ref()).map(|a| a.agreement.agreement_id.clone()),
    });
    if full {
        v["thread"] = row.thread.clone();
    }
    v
}

fn agreement_json(row: &AgreementRow, now_ms: u64, full: bool) -> Value {
    let mut v = json!({
        "id": row.id,
        "proposal_id": row.proposal_id,
        "peer_id": row.peer_id,
        "trust_level": row.trust_level,
        "trust_level_name": TrustLevel::from_u8(row.trust_level).map(TrustLevel::name).unwrap_or("unknown"),
        "terms": row.terms,
        "agreement_hash": row.hash,
        "status": agreement_status(row, now_ms),
        "established_at": rfc3339(row.established_ms),
        "effective_at": row.effective_ms.map(rfc3339),
    });
    if full {
        v["document"] = row.document.clone();
        v["revocation"] = row.revocation.clone().unwrap_or(Value::Null);
    }
    v
}

/// Writes a step to the ledger with its state; answers the ledger index.
async fn record(s: &AppState, kind: FedKind, document: Value, op: FedOp) -> Result<u64, Problem> {
    s.sequencer
        .federation(kind, document, op)
        .await
        .map(|ack| ack.index)
        .map_err(write_problem)
}

/// Writes a proposal step (offer, counter-offer or rejection) with the proposal's new state.
async fn record_offer_step(
    s: &AppState,
    row: &ProposalRow,
    document: Value,
) -> Result<u64, Problem> {
    record(
        s,
        FedKind::Proposal,
        document,
        FedOp {
            proposal: Some(row.clone()),
            agreement: None,
        },
    )
    .await
}

/// The stored row of `row`'s proposal after its thread moved on.
fn advanced(thread: &Thread, row: &ProposalRow, now_ms: u64) -> ProposalRow {
    proposal_row(thread, &row.peer_id, &row.direction, row.created_ms, now_ms)
}

/// Whether a request is a peer's signed delivery rather than the operator acting.
fn from_peer(parts: &Parts) -> bool {
    CapturedRequest::is_signed(parts)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeBody {
    target: String,
    trust_level: u8,
    #[serde(default)]
    terms: Option<Value>,
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

fn expiry(s: &AppState, now_s: u64, requested: Option<u64>) -> Result<u64, Problem> {
    let ttl = requested.unwrap_or(s.federation.settings.offer_ttl_seconds);
    if ttl == 0 || ttl > treaty_federation::limits::OFFER_TTL_MAX_SECONDS {
        return Err(Problem::bad_request(
            "invalid_expiry",
            format!(
                "expires_in_seconds must be 1..={}",
                treaty_federation::limits::OFFER_TTL_MAX_SECONDS
            ),
        ));
    }
    Ok(now_s + ttl)
}

/// `POST /v1/federation/proposals`.
pub(super) async fn create_proposal(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let (bytes, value) = read_json_request(&parts, body).await?;
    if from_peer(&parts) {
        let caller = authenticate_peer(&s, &parts, &bytes, endpoints::PROPOSAL_CREATE.id)?;
        return receive_proposal(&s, &caller, &value).await;
    }
    s.authorize(&parts.headers, None)?;
    let body: ProposeBody = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    let peer = find_peer(&s, &body.target).or_else(|_| {
        let t = body.target.trim_end_matches('/');
        s.federation
            .table()
            .all()
            .iter()
            .find(|p| p.row.base_url.trim_end_matches('/') == t)
            .cloned()
            .ok_or_else(|| {
                Problem::not_found(
                    "unknown_peer",
                    format!("no peer {t:?} (give a peer id, node id or base URL)"),
                )
            })
    })?;
    usable_peer(&peer)?;
    let level = TrustLevel::from_u8(body.trust_level).map_err(|e| fed_problem(&e))?;
    let terms = match &body.terms {
        Some(t) => Terms::from_value(t).map_err(|e| fed_problem(&e))?,
        None => Terms::default(),
    };
    let now_ms = s.clock.now_ms();
    let now_s = now_ms / 1000;
    let (kid, key) = own_key(&s)?;
    let offer = Offer {
        proposal_id: crate::identity::new_uuid().map_err(Problem::internal)?,
        round: 1,
        proposer: s.node_id.to_string(),
        target: peer.row.node_id.clone(),
        from: s.node_id.to_string(),
        trust_level: level,
        terms,
        created_at: now_s,
        expires_at: expiry(&s, now_s, body.expires_in_seconds)?,
        previous: None,
    };
    let signed = Signed::sign(offer, &key, &kid).map_err(|e| fed_problem(&e))?;
    let thread = Thread::open(signed.clone()).map_err(|e| fed_problem(&e))?;
    deliver(
        &s,
        &peer,
        reqwest::Method::POST,
        "/proposals",
        &signed.to_value(),
        StatusCode::CREATED,
    )
    .await?;
    let row = proposal_row(&thread, &peer.row.id, "outgoing", now_ms, now_ms);
    let index = record_offer_step(&s, &row, signed.to_value()).await?;
    tracing::info!(proposal = %row.id, peer = %peer.row.id, level = level.as_u8(), "trust proposal sent");
    let mut out = proposal_json(&row, now_ms, false);
    out["ledger_index"] = json!(index);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// A peer delivers a first offer.
async fn receive_proposal(
    s: &AppState,
    caller: &PeerCaller,
    value: &Value,
) -> Result<Response, Problem> {
    let policy = s.card.trust_policy();
    if !policy.accepts_proposals {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "proposals_not_accepted",
            "this registry's trust policy accepts no proposals",
        ));
    }
    let signed: Signed<Offer> = signed_by_caller(s, caller, value)?;
    signed
        .body
        .check_timely(s.clock.now_ms() / 1000)
        .map_err(|e| fed_problem(&e))?;
    let o = &signed.body;
    if o.proposer != caller.peer.row.node_id || o.target != *s.node_id {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_party",
            "an offer must be proposed by the calling peer to this node",
        ));
    }
    if o.trust_level.as_u8() < policy.min_trust_level {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "trust_level_below_policy",
            format!(
                "this registry federates at trust level {} or above",
                policy.min_trust_level
            ),
        ));
    }
    let now_ms = s.clock.now_ms();
    let thread = Thread::open(signed.clone()).map_err(|e| fed_problem(&e))?;
    if thread.status(now_ms / 1000) != treaty_federation::ProposalStatus::Open {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "proposal_expired",
            "the offer has expired",
        ));
    }
    let id = thread.proposal_id.clone();
    if admin(s, |w| w.proposal(&id))?.is_some() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "proposal_exists",
            format!("proposal {id} is already known"),
        ));
    }
    let row = proposal_row(&thread, &caller.peer.row.id, "incoming", now_ms, now_ms);
    let index = record_offer_step(s, &row, signed.to_value()).await?;
    tracing::info!(proposal = %row.id, peer = %caller.peer.row.id, "trust proposal received");
    let mut out = proposal_json(&row, now_ms, false);
    out["ledger_index"] = json!(index);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /v1/federation/proposals`.
pub(super) async fn list_proposals(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let now = s.clock.now_ms();
    let rows = admin(&s, treaty_store::Writer::proposals)?;
    let list: Vec<Value> = rows.iter().map(|r| proposal_json(r, now, false)).collect();
    Ok(Json(json!({ "proposals": list })).into_response())
}

fn load_proposal(s: &AppState, id: &str) -> Result<(ProposalRow, Thread), Problem> {
    let id = id.to_owned();
    let row = admin(s, |w| w.proposal(&id))?
        .ok_or_else(|| Problem::not_found("unknown_proposal", format!("no proposal {id:?}")))?;
    let thread = Thread::from_value(&row.thread).map_err(Problem::internal)?;
    Ok((row, thread))
}

/// `GET /v1/federation/proposals/{id}`.
pub(super) async fn get_proposal(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let (row, _) = load_proposal(&s, &id)?;
    Ok(Json(proposal_json(&row, s.clock.now_ms(), true)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RespondBody {
    action: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    trust_level: Option<u8>,
    #[serde(default)]
    terms: Option<Value>,
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerStep {
    action: String,
    #[serde(default)]
    offer: Option<Value>,
    #[serde(default)]
    rejection: Option<Value>,
    #[serde(default)]
    agreement: Option<Value>,
}

/// `PUT /v1/federation/proposals/{id}`.
pub(super) async fn respond(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let (bytes, value) = read_json_request(&parts, body).await?;
    if from_peer(&parts) {
        let caller = authenticate_peer(&s, &parts, &bytes, endpoints::PROPOSAL_RESPOND.id)?;
        return receive_step(&s, &caller, &id, value).await;
    }
    s.authorize(&parts.headers, None)?;
    let body: RespondBody = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    let (row, mut thread) = load_proposal(&s, &id)?;
    let peer = find_peer(&s, &row.peer_id)?;
    usable_peer(&peer)?;
    let now_ms = s.clock.now_ms();
    let now_s = now_ms / 1000;
    if thread.awaiting() != Some(&*s.node_id)
        || thread.status(now_s) != treaty_federation::ProposalStatus::Open
    {
        let status = thread.status(now_s);
        return Err(Problem::new(
            StatusCode::CONFLICT,
            if status == treaty_federation::ProposalStatus::Open {
                "not_your_turn"
            } else {
                "proposal_closed"
            },
            format!(
                "proposal {id} is {}; awaiting {}",
                status.as_str(),
                thread.awaiting().unwrap_or("nobody")
            ),
        ));
    }
    let Some(latest) = thread.latest().cloned() else {
        return Err(Problem::internal("proposal without offers"));
    };
    let (kid, key) = own_key(&s)?;
    let path = format!("/proposals/{id}");
    match body.action.as_str() {
        "reject" => {
            let reason = body
                .reason
                .unwrap_or_else(|| "rejected by the operator".into());
            if reason.len() > REASON_BYTES_MAX {
                return Err(Problem::bad_request("invalid_reason", "reason is too long"));
            }
            let rejection = Rejection {
                proposal_id: id.clone(),
                round: latest.body.round,
                from: s.node_id.to_string(),
                reason,
                created_at: now_s,
            };
            let signed = Signed::sign(rejection, &key, &kid).map_err(|e| fed_problem(&e))?;
            thread
                .reject(signed.clone(), now_s)
                .map_err(|e| fed_problem(&e))?;
            deliver(
                &s,
                &peer,
                reqwest::Method::PUT,
                &path,
                &json!({"action": "reject", "rejection": signed.to_value()}),
                StatusCode::OK,
            )
            .await?;
            let new_row = advanced(&thread, &row, now_ms);
            record_offer_step(&s, &new_row, signed.to_value()).await?;
            Ok(Json(proposal_json(&new_row, now_ms, false)).into_response())
        }
        "counter" => {
            let level = match body.trust_level {
                Some(l) => TrustLevel::from_u8(l).map_err(|e| fed_problem(&e))?,
                None => latest.body.trust_level,
            };
            let terms = match &body.terms {
                Some(t) => Terms::from_value(t).map_err(|e| fed_problem(&e))?,
                None => latest.body.terms.clone(),
            };
            let offer = Offer {
                proposal_id: id.clone(),
                round: latest.body.round + 1,
                proposer: latest.body.proposer.clone(),
                target: latest.body.target.clone(),
                from: s.node_id.to_string(),
                trust_level: level,
                terms,
                created_at: now_s,
                expires_at: expiry(&s, now_s, body.expires_in_seconds)?,
                previous: Some(latest.hash()),
            };
            let signed = Signed::sign(offer, &key, &kid).map_err(|e| fed_problem(&e))?;
            thread
                .counter(signed.clone(), now_s)
                .map_err(|e| fed_problem(&e))?;
            deliver(
                &s,
                &peer,
                reqwest::Method::PUT,
                &path,
                &json!({"action": "counter", "offer": signed.to_value()}),
                StatusCode::OK,
            )
            .await?;
            let new_row = advanced(&thread, &row, now_ms);
            record_offer_step(&s, &new_row, signed.to_value()).await?;
            Ok(Json(proposal_json(&new_row, now_ms, false)).into_response())
        }
        "accept" => {
            let their_kid = peer
                .row
                .kid
                .clone()
                .ok_or_else(|| Problem::internal("verified peer without a key id"))?;
            let their_key = s
                .federation
                .table()
                .key(&their_kid, now_s)
                .map(|(_, k)| k)
                .ok_or_else(|| Problem::internal("peer key not usable"))?;
            let mut keys = BTreeMap::new();
            keys.insert(
                s.node_id.to_string(),
                PartyKey {
                    kid: kid.clone(),
                    x: key.verifying_key().to_bytes(),
                },
            );
            keys.insert(
                peer.row.node_id.clone(),
                PartyKey {
                    kid: their_kid,
                    x: their_key.to_bytes(),
                },
            );
            let agreement_id = crate::identity::new_uuid().map_err(Problem::internal)?;
            let agreement = Agreement::from_offer(&latest, &agreement_id, now_s, keys)
                .map_err(|e| fed_problem(&e))?;
            let mut signed = SignedAgreement {
                agreement,
                signatures: BTreeMap::new(),
            };
            signed
                .sign_as(&s.node_id, &key, now_s)
                .map_err(|e| fed_problem(&e))?;
            let answer = deliver(
                &s,
                &peer,
                reqwest::Method::PUT,
                &path,
                &json!({"action": "accept", "agreement": signed.to_value()}),
                StatusCode::OK,
            )
            .await?;
            let full = SignedAgreement::from_value(&answer["agreement"]).map_err(|e| {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "peer_answer_invalid",
                    format!("the countersigned agreement does not parse: {e}"),
                )
            })?;
            if full.agreement.hash() != signed.agreement.hash() {
                return Err(Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "peer_answer_invalid",
                    "the peer countersigned a different agreement",
                ));
            }
            thread.accept(full.clone(), now_s).map_err(|e| {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "peer_answer_invalid",
                    format!("the countersigned agreement does not check: {e}"),
                )
            })?;
            let (new_row, agreement_row) = established(&thread, &row, &full, now_ms);
            let index = record(
                &s,
                FedKind::Established,
                full.to_value(),
                FedOp {
                    proposal: Some(new_row.clone()),
                    agreement: Some(agreement_row.clone()),
                },
            )
            .await?;
            reload(&s)?;
            tracing::info!(agreement = %agreement_row.id, peer = %peer.row.id, "trust agreement established");
            let mut out = agreement_json(&agreement_row, now_ms, true);
            out["ledger_index"] = json!(index);
            Ok(Json(out).into_response())
        }
        other => Err(Problem::bad_request(
            "invalid_action",
            format!("action {other:?} is not accept, reject or counter"),
        )),
    }
}

fn reload(s: &AppState) -> Result<(), Problem> {
    let w = s.writer()?;
    s.federation.reload(&w)?;
    Ok(())
}

fn established(
    thread: &Thread,
    row: &ProposalRow,
    full: &SignedAgreement,
    now_ms: u64,
) -> (ProposalRow, AgreementRow) {
    let new_row = advanced(thread, row, now_ms);
    let a = &full.agreement;
    let agreement_row = AgreementRow {
        id: a.agreement_id.clone(),
        proposal_id: a.proposal_id.clone(),
        peer_id: row.peer_id.clone(),
        trust_level: a.trust_level.as_u8(),
        terms: a.terms.to_value(),
        document: full.to_value(),
        hash: a.hash(),
        status: "active".into(),
        established_ms: now_ms,
        revocation: None,
        effective_ms: None,
    };
    (new_row, agreement_row)
}

/// A peer delivers its answer to the latest offer.
async fn receive_step(
    s: &AppState,
    caller: &PeerCaller,
    id: &str,
    value: Value,
) -> Result<Response, Problem> {
    let step: PeerStep = serde_json::from_value(value)
        .map_err(|e| Problem::bad_request("invalid_body", e.to_string()))?;
    let (row, mut thread) = load_proposal(s, id)?;
    if row.peer_id != caller.peer.row.id {
        return Err(Problem::not_found(
            "unknown_proposal",
            format!("no proposal {id:?}"),
        ));
    }
    let now_ms = s.clock.now_ms();
    let now_s = now_ms / 1000;
    let caller_node = caller.peer.row.node_id.as_str();
    if thread.awaiting() != Some(caller_node) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "not_your_turn",
            format!("proposal {id} does not await the calling peer"),
        ));
    }
    let missing = |what: &str| Problem::bad_request("invalid_body", format!("{what} is missing"));
    match step.action.as_str() {
        "reject" => {
            let doc = step.rejection.ok_or_else(|| missing("rejection"))?;
            let signed: Signed<Rejection> = signed_by_caller(s, caller, &doc)?;
            if signed.body.from != caller_node {
                return Err(wrong_party());
            }
            thread
                .reject(signed.clone(), now_s)
                .map_err(|e| fed_problem(&e))?;
            let new_row = advanced(&thread, &row, now_ms);
            record_offer_step(s, &new_row, signed.to_value()).await?;
            Ok(Json(proposal_json(&new_row, now_ms, false)).into_response())
        }
        "counter" => {
            let doc = step.offer.ok_or_else(|| missing("offer"))?;
            let signed: Signed<Offer> = signed_by_caller(s, caller, &doc)?;
            if signed.body.from != caller_node {
                return Err(wrong_party());
            }
            thread
                .counter(signed.clone(), now_s)
                .map_err(|e| fed_problem(&e))?;
            let new_row = advanced(&thread, &row, now_ms);
            record_offer_step(s, &new_row, signed.to_value()).await?;
            Ok(Json(proposal_json(&new_row, now_ms, false)).into_response())
        }
        "accept" => {
            let doc = step.agreement.ok_or_else(|| missing("agreement"))?;
            let mut signed = SignedAgreement::from_value(&doc).map_err(|e| fed_problem(&e))?;
            // The acceptor's half: signed, by the key the agreement names for it, which must
            // be one of the caller's verified keys.
            signed
                .verify_party(caller_node)
                .map_err(|e| fed_problem(&e))?;
            let named = signed
                .agreement
                .keys
                .get(caller_node)
                .ok_or_else(wrong_party)?;
            let known = caller_key(s, caller, &named.kid)?;
            if known.to_bytes() != named.x {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "key_mismatch",
                    "the agreement names a key for the caller that its card does not publish",
                ));
            }
            let (_, key) = own_key(s)?;
            signed
                .sign_as(&s.node_id, &key, now_s)
                .map_err(|e| fed_problem(&e))?;
            thread
                .accept(signed.clone(), now_s)
                .map_err(|e| fed_problem(&e))?;
            let (new_row, agreement_row) = established(&thread, &row, &signed, now_ms);
            let index = record(
                s,
                FedKind::Established,
                signed.to_value(),
                FedOp {
                    proposal: Some(new_row),
                    agreement: Some(agreement_row.clone()),
                },
            )
            .await?;
            reload(s)?;
            tracing::info!(agreement = %agreement_row.id, peer = %caller.peer.row.id, "trust agreement established");
            Ok(Json(json!({
                "agreement": signed.to_value(),
                "agreement_hash": agreement_row.hash,
                "ledger_index": index,
            }))
            .into_response())
        }
        other => Err(Problem::bad_request(
            "invalid_action",
            format!("action {other:?} is not accept, reject or counter"),
        )),
    }
}

fn wrong_party() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_party",
        "the document is not the calling peer's",
    )
}

/// `GET /v1/federation/agreements`.
pub(super) async fn list_agreements(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let now = s.clock.now_ms();
    let rows = admin(&s, treaty_store::Writer::agreements)?;
    let list: Vec<Value> = rows.iter().map(|r| agreement_json(r, now, false)).collect();
    Ok(Json(json!({ "agreements": list })).into_response())
}

fn load_agreement(s: &AppState, id: &str) -> Result<AgreementRow, Problem> {
    let id = id.to_owned();
    admin(s, |w| w.agreement(&id))?
        .ok_or_else(|| Problem::not_found("unknown_agreement", format!("no agreement {id:?}")))
}

/// `GET /v1/federation/agreements/{id}`.
pub(super) async fn get_agreement(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let row = load_agreement(&s, &id)?;
    Ok(Json(agreement_json(&row, s.clock.now_ms(), true)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeQuery {
    notice_seconds: Option<u64>,
    reason: Option<String>,
}

/// `DELETE /v1/federation/agreements/{id}`.
pub(super) async fn revoke_agreement(
    State(s): State<AppState>,
    P(id): P<String>,
    Q(q): Q<RevokeQuery>,
    req: Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let (bytes, value) = read_json_request(&parts, body).await?;
    let row = if from_peer(&parts) {
        let caller = authenticate_peer(&s, &parts, &bytes, endpoints::AGREEMENT_REVOKE.id)?;
        let row = load_agreement(&s, &id)?;
        if row.peer_id != caller.peer.row.id {
            return Err(Problem::not_found(
                "unknown_agreement",
                format!("no agreement {id:?}"),
            ));
        }
        let signed: Signed<Revocation> = signed_by_caller(&s, &caller, &value)?;
        check_revocation(&row, &signed.body, &caller.peer.row.node_id)?;
        apply_revocation(&s, row, &signed).await?
    } else {
        s.authorize(&parts.headers, None)?;
        let row = load_agreement(&s, &id)?;
        let notice = q
            .notice_seconds
            .unwrap_or(s.federation.settings.revocation_notice_seconds);
        if notice > crate::config::REVOCATION_NOTICE_SECONDS_MAX {
            return Err(Problem::bad_request(
                "invalid_notice",
                format!(
                    "notice_seconds is at most {}",
                    crate::config::REVOCATION_NOTICE_SECONDS_MAX
                ),
            ));
        }
        let reason = q.reason.unwrap_or_else(|| "revoked by the operator".into());
        if reason.is_empty() || reason.len() > REASON_BYTES_MAX {
            return Err(Problem::bad_request(
                "invalid_reason",
                "reason is 1-512 bytes",
            ));
        }
        let now_s = s.clock.now_ms() / 1000;
        let revocation = Revocation {
            agreement_id: row.id.clone(),
            agreement_hash: row.hash.clone(),
            revoked_by: s.node_id.to_string(),
            reason,
            announced_at: now_s,
            effective_at: now_s + notice,
        };
        check_revocation(&row, &revocation, &s.node_id)?;
        let (kid, key) = own_key(&s)?;
        let signed = Signed::sign(revocation, &key, &kid).map_err(|e| fed_problem(&e))?;
        // Revocation is unilateral: it takes effect here even if the peer cannot be told.
        let delivered = match find_peer(&s, &row.peer_id) {
            Ok(peer) => deliver(
                &s,
                &peer,
                reqwest::Method::DELETE,
                &format!("/agreements/{}", row.id),
                &signed.to_value(),
                StatusCode::OK,
            )
            .await
            .map(|_| true)
            .unwrap_or_else(|p| {
                tracing::warn!(agreement = %row.id, code = p.code(), "revocation not delivered");
                false
            }),
            Err(_) => false,
        };
        let mut out = apply_revocation(&s, row, &signed).await?;
        out["delivered"] = json!(delivered);
        return Ok(Json(out).into_response());
    };
    Ok(Json(row).into_response())
}

fn check_revocation(row: &AgreementRow, r: &Revocation, by: &str) -> Result<(), Problem> {
    if row.status != "active" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "agreement_not_active",
            format!("agreement {} is already {}", row.id, row.status),
        ));
    }
    if r.agreement_id != row.id || r.agreement_hash != row.hash || r.revoked_by != by {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "revocation_mismatch",
            "the revocation names another agreement, hash or party",
        ));
    }
    Ok(())
}

async fn apply_revocation(
    s: &AppState,
    mut row: AgreementRow,
    signed: &Signed<Revocation>,
) -> Result<Value, Problem> {
    let now_ms = s.clock.now_ms();
    row.status = "revoking".into();
    row.revocation = Some(signed.to_value());
    row.effective_ms = Some(signed.body.effective_at.saturating_mul(1000));
    let index = record(
        s,
        FedKind::Revoked,
        signed.to_value(),
        FedOp {
            proposal: None,
            agreement: Some(row.clone()),
        },
    )
    .await?;
    reload(s)?;
    tracing::info!(agreement = %row.id, effective_at = signed.body.effective_at, "trust agreement revoked");
    let mut out = agreement_json(&row, now_ms, true);
    out["ledger_index"] = json!(index);
    Ok(out)
}
