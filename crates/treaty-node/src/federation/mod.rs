//! Peering: who the node's peers are, how their calls are authenticated, and how a peer's
//! registry card is fetched and verified (PROTOCOL.md section 8).
//!
//! The protocol rules themselves (trust levels, signed trust documents, the proposal state
//! machine, peer status transitions, license keys) live in the pure `treaty-federation`
//! crate; this module does the I/O around them: the peer table held in memory, the
//! registration and verification flow, and the checks on every signed request.

pub mod cards;
pub mod cascade;
pub mod client;
pub mod drift;
pub mod mtls;
pub mod sync;
pub mod views;
pub mod witness;

use crate::api::AppState;
use crate::api::problem::Problem;
use crate::config::FederationSettings;
use crate::tls::PeerCertificate;
use axum::http::StatusCode;
use axum::http::request::Parts;
use client::{FetchedCard, PeerClient};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use treaty_card::{Jwks, KeyStatus, Mtls, verify_card};
use treaty_federation::{LicenseStatus, PeerEvent, PeerStatus, TrustLevel};
use treaty_httpsig::{
    HttpSigError, ReplayCache, RequestView, TargetUri, Verifier, VerifierConfig, VerifyingKey,
};
use treaty_store::{AgreementRow, LicenseRow, PeerFailure, PeerRow, StoreError, Writer};

/// Nonces remembered per node (across all peers); beyond this the node refuses signed
/// requests (`replay_cache_full`) rather than forget a live nonce.
pub const REPLAY_CACHE_CAPACITY: usize = 100_000;
/// Registered peers per node.
pub const PEERS_MAX: usize = 10_000;
/// Failures shown per peer.
pub const PEER_FAILURES_SHOWN: usize = 10;

/// One peer as the node holds it in memory.
#[derive(Debug)]
pub struct PeerEntry {
    /// The stored row.
    pub row: PeerRow,
    /// Parsed status.
    pub status: PeerStatus,
    /// The card keys from the verified JWKS.
    pub jwks: Option<Jwks>,
    /// The mTLS identity the verified card declares.
    pub mtls: Option<Mtls>,
    /// The license bound to the peer, if any.
    pub license: Option<LicenseRow>,
}

/// Every peer, indexed by id, node id and card key id; and the agreements that can be in
/// force. Rebuilt whole after each change (peers change rarely; requests read it often).
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: Vec<Arc<PeerEntry>>,
    by_id: HashMap<String, usize>,
    by_node: HashMap<String, usize>,
    by_kid: HashMap<String, usize>,
    agreements: Vec<AgreementRow>,
}

impl PeerTable {
    /// Loads the table from the database.
    ///
    /// # Errors
    /// Storage errors.
    pub fn load(w: &Writer) -> Result<Self, StoreError> {
        let licenses: HashMap<String, LicenseRow> = w
            .licenses()?
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
        let mut table = Self {
            agreements: w
                .agreements()?
                .into_iter()
                .filter(|a| a.status != "revoked")
                .collect(),
            ..Self::default()
        };
        for row in w.peers()? {
            let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::Suspended);
            let jwks = row.jwks.as_ref().and_then(|j| Jwks::from_value(j).ok());
            let mtls = row.spiffe_id.clone().map(|spiffe_id| Mtls {
                spiffe_id,
                ca_fingerprint: row.ca_fingerprint.clone(),
            });
            let license = row
                .license_id
                .as_ref()
                .and_then(|id| licenses.get(id).cloned());
            let i = table.peers.len();
            table.by_id.insert(row.id.clone(), i);
            table.by_node.insert(row.node_id.clone(), i);
            if let Some(jwks) = &jwks {
                for k in jwks.keys() {
                    table.by_kid.insert(k.kid().to_owned(), i);
                }
            }
            table.peers.push(Arc::new(PeerEntry {
                row,
                status,
                jwks,
                mtls,
                license,
            }));
        }
        Ok(table)
    }

    /// Every peer.
    #[must_use]
    pub fn all(&self) -> &[Arc<PeerEntry>] {
        &self.peers
    }

    /// A peer by id or node id.
    #[must_use]
    pub fn find(&self, id: &str) -> Option<Arc<PeerEntry>> {
        self.by_id
            .get(id)
            .or_else(|| self.by_node.get(id))
            .and_then(|&i| self.peers.get(i).cloned())
    }

    /// The peer owning card key `kid` and the key, if the key is valid at `now_s`: current,
    /// or retired but still inside its validity window.
    #[must_use]
    pub fn key(&self, kid: &str, now_s: u64) -> Option<(Arc<PeerEntry>, VerifyingKey)> {
        let peer = self.by_kid.get(kid).and_then(|&i| self.peers.get(i))?;
        let jwk = peer.jwks.as_ref()?.get(kid)?;
        usable(jwk, now_s).then(|| (peer.clone(), *jwk.public_key()))
    }

    /// The collections shared with `peer_id` by the agreements in force at `now_ms`.
    #[must_use]
    pub fn shared_collections(&self, peer_id: &str, now_ms: u64) -> Vec<String> {
        let mut out: Vec<String> = self
            .agreements
            .iter()
            .filter(|a| a.peer_id == peer_id && in_force(a, now_ms))
            .filter_map(|a| a.terms.get("collections").and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The highest trust level of the agreements with `peer_id` in force at `now_ms`: active
    /// ones, and revoked ones whose notice has not run out.
    #[must_use]
    pub fn level(&self, peer_id: &str, now_ms: u64) -> Option<TrustLevel> {
        self.agreements
            .iter()
            .filter(|a| a.peer_id == peer_id && in_force(a, now_ms))
            .filter_map(|a| TrustLevel::from_u8(a.trust_level).ok())
            .max()
    }
}

/// Whether an agreement counts at `now_ms`.
#[must_use]
pub fn in_force(a: &AgreementRow, now_ms: u64) -> bool {
    match a.status.as_str() {
        "active" => true,
        "revoking" => a.effective_ms.is_some_and(|t| now_ms < t),
        _ => false,
    }
}

/// The status an agreement shows at `now_ms` (a revocation whose notice ran out shows as
/// `revoked` even before the row is rewritten).
#[must_use]
pub fn agreement_status(a: &AgreementRow, now_ms: u64) -> &'static str {
    match a.status.as_str() {
        "active" => "active",
        "revoking" if in_force(a, now_ms) => "revoking",
        _ => "revoked",
    }
}

fn usable(jwk: &treaty_card::Jwk, now_s: u64) -> bool {
    match jwk.status() {
        KeyStatus::Current => jwk.valid_from() <= now_s.saturating_add(300),
        KeyStatus::Retired => jwk.valid_until().is_some_and(|u| now_s < u),
    }
}

/// The federation state of a node.
#[derive(Debug)]
pub struct Federation {
    /// Settings.
    pub settings: FederationSettings,
    /// Client for calls to peers.
    pub client: PeerClient,
    table: RwLock<Arc<PeerTable>>,
    replay: Mutex<ReplayCache>,
    /// When the replay cache started (Unix seconds): nonces seen before are forgotten.
    started_s: u64,
    cas: Vec<mtls::TrustedCa>,
    /// Wakes the sync worker; the receiver is taken when the worker starts.
    sync_tx: tokio::sync::mpsc::UnboundedSender<sync::SyncMsg>,
    sync_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<sync::SyncMsg>>>,
    /// Cascade request ids seen recently (loop breaking).
    pub cascade_seen: Mutex<treaty_federation::cascade::SeenRequests>,
    /// Signalled by the sequencer after each new checkpoint (peers are notified).
    pub head_changed: Arc<tokio::sync::Notify>,
    /// Signalled when the peer table is rebuilt.
    pub table_changed: tokio::sync::Notify,
    /// Asks `sync::index_loop` to index synced records for discovery (new cached rows
    /// enter the index after their sync commits).
    pub index_wanted: Arc<tokio::sync::Notify>,
    /// Held by whoever indexes synced records (`sync::index_pending`), so that a
    /// discovery query waits for the indexer at work rather than racing it.
    pub indexing: Mutex<()>,
    /// Sync pages waiting for the store lock: the store upkeep after a cycle (index
    /// merges, WAL checkpoint) stops when one is.
    pub pages_waiting: std::sync::atomic::AtomicUsize,
    /// One sync cycle per peer at a time (the worker's and an operator's `sync now`).
    sync_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Federation {
    /// Builds the federation state from the database and settings.
    ///
    /// # Errors
    /// Storage errors, or unusable TLS material for peer calls (as text).
    pub fn open(settings: FederationSettings, w: &Writer, now_ms: u64) -> Result<Self, String> {
        let client = PeerClient::new(&settings)?;
        let cas = match &settings.client_ca_bundle {
            Some(path) => mtls::load_cas(path)?,
            None => Vec::new(),
        };
        let table = PeerTable::load(w).map_err(|e| e.to_string())?;
        let (sync_tx, sync_rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Self {
            settings,
            client,
            table: RwLock::new(Arc::new(table)),
            replay: Mutex::new(ReplayCache::new(
                REPLAY_CACHE_CAPACITY,
                treaty_httpsig::limits::SIGNATURE_VALIDITY_SECONDS_DEFAULT
                    .max(treaty_httpsig::limits::CLOCK_SKEW_SECONDS_DEFAULT * 2),
            )),
            started_s: now_ms / 1000,
            cas,
            sync_tx,
            sync_rx: Mutex::new(Some(sync_rx)),
            cascade_seen: Mutex::new(treaty_federation::cascade::SeenRequests::new()),
            head_changed: Arc::new(tokio::sync::Notify::new()),
            index_wanted: Arc::new(tokio::sync::Notify::new()),
            indexing: Mutex::new(()),
            pages_waiting: std::sync::atomic::AtomicUsize::new(0),
            table_changed: tokio::sync::Notify::new(),
            sync_locks: Mutex::new(HashMap::new()),
        })
    }

    /// The lock that serializes sync cycles of `peer_id`.
    #[must_use]
    pub fn sync_lock(&self, peer_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .sync_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(peer_id.to_owned()).or_default().clone()
    }

    /// A sender that wakes the sync worker.
    #[must_use]
    pub fn sync_sender(&self) -> tokio::sync::mpsc::UnboundedSender<sync::SyncMsg> {
        self.sync_tx.clone()
    }

    /// Takes the sync worker's receiver (once: the worker that starts first owns it).
    pub fn take_sync_receiver(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<sync::SyncMsg>> {
        self.sync_rx.lock().ok().and_then(|mut r| r.take())
    }

    /// The current peer table.
    #[must_use]
    pub fn table(&self) -> Arc<PeerTable> {
        self.table
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Rebuilds the peer table after a change.
    ///
    /// # Errors
    /// Storage errors.
    pub fn reload(&self, w: &Writer) -> Result<(), StoreError> {
        let table = Arc::new(PeerTable::load(w)?);
        if let Ok(mut t) = self.table.write() {
            *t = table;
        }
        // The sync worker looks again at which peers to pull.
        self.table_changed.notify_one();
        Ok(())
    }

    /// Records a verified request's nonce (the replay check, the last step of verification).
    /// The cache lives in memory, so a request signed before this node started is refused
    /// (`signature_predates_start`): its nonce may have been seen by the previous process,
    /// and a restart must not reopen a window for replays.
    ///
    /// # Errors
    /// `nonce_replayed`, `replay_cache_full`, `replay_window_passed`,
    /// `signature_predates_start`.
    pub fn admit_nonce(
        &self,
        auth: treaty_httpsig::Authenticated,
        now_s: u64,
    ) -> Result<(), HttpSigError> {
        let mut cache = self
            .replay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let verified = cache.admit(auth, now_s)?;
        if verified.created() < self.started_s {
            return Err(HttpSigError::PredatesStart {
                created: verified.created(),
                start: self.started_s,
            });
        }
        Ok(())
    }
}

/// A signed request, copied out of the HTTP request so it can be verified later (during
/// registration the key is only known once the caller's card is fetched).
#[derive(Debug, Clone)]
pub struct CapturedRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    received_s: u64,
    cert: Option<PeerCertificate>,
}

impl CapturedRequest {
    /// Copies what verification needs. The target URI is rebuilt from the node's public
    /// URL (what the signer had to sign), never from the `Host` header.
    #[must_use]
    pub fn new(state: &AppState, parts: &Parts, body: &[u8], received_s: u64) -> Self {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        Self {
            method: parts.method.as_str().to_owned(),
            target: format!("{}{path}", state.public_url.trim_end_matches('/')),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body.to_vec(),
            received_s,
            cert: parts.extensions.get::<PeerCertificate>().cloned(),
        }
    }

    /// Steps 1 to 9 of signature verification with keys from `keys`.
    fn authenticate(
        &self,
        keys: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<treaty_httpsig::Authenticated, HttpSigError> {
        let target = TargetUri::parse(&self.target)?;
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let view = RequestView {
            method: &self.method,
            target: &target,
            headers: &headers,
            body: &self.body,
        };
        Verifier::new(VerifierConfig::treaty_v1(), keys).authenticate(&view, self.received_s)
    }

    /// Steps 1 to 9 with the keys of registered peers; the peer owning the key on success.
    ///
    /// # Errors
    /// The failed check.
    pub fn authenticate_with_table(
        &self,
        table: &PeerTable,
        now_s: u64,
    ) -> Result<(Arc<PeerEntry>, treaty_httpsig::Authenticated), HttpSigError> {
        let auth = self.authenticate(|kid| table.key(kid, now_s).map(|(_, k)| k))?;
        let peer = table
            .key(auth.keyid(), now_s)
            .map(|(p, _)| p)
            .ok_or_else(|| HttpSigError::UnknownKey {
                keyid: auth.keyid().to_owned(),
            })?;
        Ok((peer, auth))
    }

    /// Whether the request carries a signature at all.
    #[must_use]
    pub fn is_signed(parts: &Parts) -> bool {
        parts.headers.contains_key("signature-input") || parts.headers.contains_key("signature")
    }
}

/// The answer to a request whose signature failed: 401 with the check's own code
/// (`replay_cache_full` is the node's limit, so 503).
#[must_use]
pub fn signature_problem(e: &HttpSigError) -> Problem {
    let status = match e {
        HttpSigError::ReplayCacheFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    Problem::new(status, e.code(), format!("signed request refused: {e}"))
        .with_header(axum::http::header::WWW_AUTHENTICATE, "Signature")
}

/// A verified call from a registered peer.
#[derive(Debug)]
pub struct PeerCaller {
    /// The peer.
    pub peer: Arc<PeerEntry>,
    /// Its trust level in force.
    pub level: Option<TrustLevel>,
}

/// Authenticates a signed request from a registered peer: signature (keys from the peer's
/// verified JWKS), the peer's status and license, the mTLS binding, the nonce, then the
/// peer's rate limit. Every refusal before the nonce check leaves the node unchanged.
///
/// # Errors
/// 401 for signature failures, 403 for a peer that may not call, 429 over its rate.
pub fn authenticate_peer(
    state: &AppState,
    parts: &Parts,
    body: &[u8],
    endpoint: &'static str,
) -> Result<PeerCaller, Problem> {
    let now_ms = state.clock.now_ms();
    let now_s = now_ms / 1000;
    let fed = &state.federation;
    let table = fed.table();
    let captured = CapturedRequest::new(state, parts, body, now_s);
    let (peer, auth) = captured
        .authenticate_with_table(&table, now_s)
        .map_err(|e| signature_problem(&e))?;
    if let Err(e) = peer.status.accepts_calls() {
        return Err(Problem::new(StatusCode::FORBIDDEN, e.code(), e.to_string()));
    }
    check_license(&peer)?;
    if let Some(cert) = &captured.cert {
        let presented = mtls::identity(&cert.0, &fed.cas);
        if let Err((code, detail)) = mtls::check_binding(&presented, peer.mtls.as_ref()) {
            return Err(Problem::new(StatusCode::FORBIDDEN, code, detail));
        }
    }
    fed.admit_nonce(auth, now_s)
        .map_err(|e| signature_problem(&e))?;
    let caller = crate::ratelimit::Caller::Peer {
        id: peer.row.id.clone(),
        per_minute: peer.license.as_ref().map(|l| l.max_events_per_minute),
    };
    if let crate::ratelimit::Decision::Refuse(wait) = state.limiter.check(&caller, Some(endpoint)) {
        return Err(crate::ratelimit::refusal_problem(wait));
    }
    let level = table.level(&peer.row.id, now_ms);
    Ok(PeerCaller { peer, level })
}

/// A peer's license must be active when it has one.
fn check_license(peer: &PeerEntry) -> Result<(), Problem> {
    let Some(l) = &peer.license else {
        return Ok(());
    };
    match LicenseStatus::parse(&l.status) {
        Ok(LicenseStatus::Active) => Ok(()),
        Ok(LicenseStatus::Suspended) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "license_suspended",
            format!("the admission license {} of this peer is suspended", l.id),
        )),
        _ => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "peer_revoked",
            format!("the admission license {} of this peer is revoked", l.id),
        )),
    }
}

/// What a registration claims about the registering node.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Its node id, when the caller claims one (an operator adding a peer by URL does not).
    pub node_id: Option<String>,
    /// Where its card is.
    pub card_url: reqwest::Url,
    /// Its federation endpoint (must equal the card's `endpoints.federation`).
    pub callback_url: Option<String>,
}

/// A peer card that verified, with what the node keeps of it.
#[derive(Debug)]
struct Verified {
    node_id: String,
    card: Value,
    jwks: Value,
    kid: String,
    name: String,
    base_url: String,
    federation_url: String,
    mtls: Option<Mtls>,
    verifier_key: String,
}

type Failure = (&'static str, String);

/// Fetches and verifies a peer's card against `claim`, and the captured request's signature
/// against the card's keys (when the request could not be checked on arrival).
async fn check_card(
    state: &AppState,
    claim: &Claim,
    deferred: Option<&CapturedRequest>,
) -> Result<Verified, Failure> {
    let fetched = state
        .federation
        .client
        .fetch_card(&claim.card_url)
        .await
        .map_err(|e| (e.code, e.detail))?;
    check_fetched(state, claim, fetched, deferred)
}

/// [`check_card`] for card and JWKS bytes already fetched (a conditional refresh).
fn check_fetched(
    state: &AppState,
    claim: &Claim,
    fetched: FetchedCard,
    deferred: Option<&CapturedRequest>,
) -> Result<Verified, Failure> {
    let fed = &state.federation;
    let FetchedCard {
        card_url,
        card,
        jwks,
    } = fetched;
    let now_s = state.clock.now_ms() / 1000;
    let jwks = Jwks::parse(&jwks).map_err(|e| (e.code(), format!("JWKS: {e}")))?;
    let verified = verify_card(&card, Some(&card_url), &jwks, now_s)
        .map_err(|e| (e.code(), format!("registry card: {e}")))?;
    let core = &verified.core;
    if let Some(claimed) = &claim.node_id {
        if &core.node_id != claimed {
            return Err((
                "node_id_mismatch",
                format!(
                    "the card at {card_url} is for node {}, not {claimed}",
                    core.node_id
                ),
            ));
        }
    }
    if core.node_id == *state.node_id {
        return Err((
            "cannot_peer_with_self",
            "the card is this node's own".into(),
        ));
    }
    let known = fed.table().find(&core.node_id).and_then(|p| p.jwks.clone());
    if let Some(cb) = &claim.callback_url {
        if cb.trim_end_matches('/') != core.endpoints.federation.trim_end_matches('/') {
            return Err((
                "callback_url_mismatch",
                format!(
                    "callbackUrl {cb} is not the card's federation endpoint {}",
                    core.endpoints.federation
                ),
            ));
        }
    }
    if let Some(known) = &known {
        // Key continuity: a card for a node already known must carry a key the node already
        // trusts for it (a rotated card keeps its retired keys), or anyone could claim an
        // existing peer's node id with their own card.
        let continues = known.keys().iter().any(|k| {
            jwks.get(k.kid())
                .is_some_and(|n| n.public_key() == k.public_key())
        });
        if !continues {
            return Err((
                "key_continuity_broken",
                "the card's JWKS holds none of the keys already trusted for this node".into(),
            ));
        }
    }
    if let Some(req) = deferred {
        let auth = req
            .authenticate(|kid| {
                jwks.get(kid)
                    .filter(|k| usable(k, req.received_s))
                    .map(|k| *k.public_key())
            })
            .map_err(|e| (e.code(), format!("registration request: {e}")))?;
        fed.admit_nonce(auth, req.received_s)
            .map_err(|e| (e.code(), format!("registration request: {e}")))?;
    }
    if let Some(cert) = deferred.and_then(|r| r.cert.as_ref()) {
        let presented = mtls::identity(&cert.0, &fed.cas);
        mtls::check_binding(&presented, core.mtls.as_ref())?;
    }
    Ok(Verified {
        node_id: core.node_id.clone(),
        card: serde_json::from_slice(&card).unwrap_or(Value::Null),
        jwks: jwks.to_value(),
        kid: verified.kid.clone(),
        name: core.name.clone(),
        base_url: core.base_url.clone(),
        federation_url: core.endpoints.federation.clone(),
        mtls: core.mtls.clone(),
        verifier_key: core.ledger.verifier_key.clone(),
    })
}

/// Runs the verification of peer `peer_id` and records the outcome: ACTIVE with the card's
/// facts, or the failure (status per [`PeerStatus::on`]) with its reason. `authenticated`
/// says whether the attempt is known to come from the peer or the operator: a stranger's
/// failed attempt must not suspend a working peer.
///
/// # Errors
/// Storage errors only; a verification failure is an outcome, recorded on the peer.
pub async fn verify_peer(
    state: &AppState,
    peer_id: &str,
    claim: &Claim,
    deferred: Option<&CapturedRequest>,
    authenticated: bool,
    license_id: Option<String>,
) -> Result<Option<PeerRow>, Problem> {
    let outcome = check_card(state, claim, deferred).await;
    let now = state.clock.now_ms();
    let mut w = state.writer()?;
    let Some(mut row) = w.peer(peer_id)? else {
        // Removed while being verified: nothing to record.
        return Ok(None);
    };
    let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::Suspended);
    match outcome {
        Ok(v) if v.node_id != row.node_id => {
            // Cannot happen (the claim names the row's node), but never mix two nodes' facts.
            return Err(Problem::internal("verified card is for another node"));
        }
        Ok(v) => {
            apply_verified(&mut row, v, &claim.card_url, now);
            if license_id.is_some() {
                row.license_id = license_id;
            }
            w.upsert_peer(&row)?;
            if let Some(l) = &row.license_id {
                if let Some(mut lic) = w.license(l)? {
                    if lic.peer_id.as_deref() != Some(row.id.as_str()) {
                        lic.peer_id = Some(row.id.clone());
                        lic.updated_ms = now;
                        w.update_license(&lic)?;
                    }
                }
            }
            tracing::info!(peer = %row.id, node = %row.node_id, status = %row.status, "peer verified");
        }
        Err((code, detail)) => {
            let next = status
                .on(PeerEvent::VerificationFailed { authenticated })
                .unwrap_or(status);
            if next != status {
                row.status = next.as_str().to_owned();
                row.status_reason = Some(format!("{code}: {detail}"));
                row.updated_ms = now;
                w.upsert_peer(&row)?;
            }
            w.add_peer_failure(
                &row.id,
                &PeerFailure {
                    at_ms: now,
                    code: code.to_owned(),
                    detail: detail.clone(),
                },
            )?;
            tracing::warn!(peer = %row.id, node = %row.node_id, code, %detail, status = %row.status, "peer verification failed");
        }
    }
    state.federation.reload(&w)?;
    Ok(Some(row))
}

/// Writes a verified card's facts into a peer row and makes it ACTIVE (unless revoked).
fn apply_verified(row: &mut PeerRow, v: Verified, card_url: &reqwest::Url, now: u64) {
    let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::PendingVerification);
    let next = status.on(PeerEvent::Verified).unwrap_or(status);
    row.status = next.as_str().to_owned();
    if next == PeerStatus::Active {
        row.status_reason = None;
    }
    // A verified direct fetch makes the registry first-hand, whatever relayed it before.
    row.hops = 1;
    row.via_peer = None;
    apply_facts(row, v, card_url, now);
}

/// Writes a verified card's facts into a peer row, leaving its status alone.
fn apply_facts(row: &mut PeerRow, v: Verified, card_url: &reqwest::Url, now: u64) {
    row.card = Some(v.card);
    row.jwks = Some(v.jwks);
    row.kid = Some(v.kid);
    row.name = v.name;
    row.base_url = v.base_url;
    row.card_url = card_url.to_string();
    row.callback_url = v.federation_url;
    row.spiffe_id = v.mtls.as_ref().map(|m| m.spiffe_id.clone());
    row.ca_fingerprint = v.mtls.and_then(|m| m.ca_fingerprint);
    row.verifier_key = Some(v.verifier_key);
    row.last_verified_ms = Some(now);
    row.updated_ms = now;
}

/// The operator adds a peer by URL: its card is fetched and verified now, and the peer is
/// recorded ACTIVE (created, or updated when its node is already known). Returns the peer
/// id and whether it is new.
///
/// # Errors
/// 502 when the card cannot be fetched, 422 when it does not verify (each with the
/// check's own code), 403 for a revoked peer; nothing is recorded then.
pub async fn add_verified_peer(
    state: &AppState,
    card_url: &reqwest::Url,
) -> Result<(String, bool), Problem> {
    let claim = Claim {
        node_id: None,
        card_url: card_url.clone(),
        callback_url: None,
    };
    let v = check_card(state, &claim, None)
        .await
        .map_err(|(code, detail)| {
            let status = match code {
                "peer_unreachable" | "card_fetch_failed" | "card_too_large" => {
                    StatusCode::BAD_GATEWAY
                }
                "invalid_peer_url" | "cannot_peer_with_self" => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Problem::new(status, code, detail)
        })?;
    let now = state.clock.now_ms();
    let mut w = state.writer()?;
    let (mut row, created) = match w.peer_by_node_id(&v.node_id)? {
        Some(row) if row.status == PeerStatus::Revoked.as_str() => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "peer_revoked",
                "this peer's admission license is revoked",
            ));
        }
        Some(row) => (row, false),
        None => {
            if w.peer_count()? >= PEERS_MAX as u64 {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "peers_full",
                    format!("this node holds its limit of {PEERS_MAX} peers"),
                ));
            }
            let id = crate::identity::new_uuid().map_err(Problem::internal)?;
            (
                PeerRow {
                    id,
                    node_id: v.node_id.clone(),
                    name: String::new(),
                    base_url: String::new(),
                    card_url: String::new(),
                    callback_url: String::new(),
                    status: PeerStatus::PendingVerification.as_str().to_owned(),
                    status_reason: None,
                    card: None,
                    jwks: None,
                    kid: None,
                    spiffe_id: None,
                    ca_fingerprint: None,
                    verifier_key: None,
                    license_id: None,
                    created_ms: now,
                    updated_ms: now,
                    last_verified_ms: None,
                    last_synced_ms: None,
                    hops: 1,
                    via_peer: None,
                    card_seq: 0,
                    card_etag: None,
                },
                true,
            )
        }
    };
    apply_verified(&mut row, v, card_url, now);
    w.upsert_peer(&row)?;
    state.federation.reload(&w)?;
    tracing::info!(peer = %row.id, node = %row.node_id, "peer added by the operator");
    Ok((row.id, created))
}

/// Registers this node with `peer` by a signed `POST .../register` (the other direction of
/// `treaty peer add`). Returns what happened, for the operator.
pub async fn register_with(state: &AppState, peer: &PeerEntry, license: Option<&str>) -> Value {
    let Some((kid, key)) = state.card.signing_key() else {
        return json!({"ok": false, "code": "no_signing_key"});
    };
    let url = format!("{}/register", peer.row.callback_url.trim_end_matches('/'));
    let base = state.public_url.trim_end_matches('/');
    let mut body = json!({
        "nodeId": &*state.node_id,
        "federationDocumentUrl": format!("{base}{}", client::CARD_PATH),
        "callbackUrl": format!("{base}/v1/federation"),
    });
    if let Some(l) = license {
        body["license"] = json!(l);
    }
    let bytes = body.to_string().into_bytes();
    let now_s = state.clock.now_ms() / 1000;
    match state
        .federation
        .client
        .signed(&key, &kid, now_s, reqwest::Method::POST, &url, Some(bytes))
        .await
    {
        Ok(ans) if ans.status == StatusCode::ACCEPTED => {
            json!({"ok": true, "status": ans.status.as_u16(), "answer": ans.body})
        }
        Ok(ans) => {
            let code = ans.body["code"].as_str().unwrap_or("registration_refused");
            note_failure(
                state,
                &peer.row.id,
                "registration_refused",
                &format!("{url} answered {}: {code}", ans.status),
            );
            json!({"ok": false, "status": ans.status.as_u16(), "answer": ans.body})
        }
        Err(e) => {
            note_failure(state, &peer.row.id, e.code, &e.detail);
            json!({"ok": false, "code": e.code, "detail": e.detail})
        }
    }
}

/// Starts the node's federation background work: the sync worker, the discovery indexer
/// of synced records, the notifier that tells peers about each new checkpoint, and the
/// witness and views loops. They end when the runtime stops.
///
/// The caller must abort and await the returned tasks when it stops serving: they hold the
/// node's state, and with it the sequencer's queue, which the sequencer drains and stops
/// on only once every handle is gone.
pub fn start_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    match state.federation.take_sync_receiver() {
        Some(rx) => vec![
            tokio::spawn(sync::run(state.clone(), rx)),
            tokio::spawn(sync::index_loop(state.clone())),
            tokio::spawn(notify_peers(state.clone())),
            tokio::spawn(witness::push_loop(state.clone())),
            tokio::spawn(witness::flush_loop(state.clone())),
            tokio::spawn(views::compare_loop(state.clone())),
            tokio::spawn(views::anchor_loop(state.clone())),
        ],
        None => Vec::new(),
    }
}

/// Aborts the background tasks and waits until they (and the state they hold) are gone.
pub async fn stop_background(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// After each new checkpoint, tells every peer that pulls from this node
/// (`POST .../notify {checkpoint}`), all at once; bursts of checkpoints coalesce into one
/// round with the newest.
async fn notify_peers(state: AppState) {
    let changed = state.federation.head_changed.clone();
    loop {
        changed.notified().await;
        let head = state.head();
        let Some((kid, key)) = state.card.signing_key() else {
            continue;
        };
        let now = state.clock.now_ms();
        let body = json!({"checkpoint": head.note}).to_string().into_bytes();
        let mut tasks = tokio::task::JoinSet::new();
        let table = state.federation.table();
        for peer in table.all() {
            if !sync::eligible(&table, peer, now) {
                continue;
            }
            let url = format!("{}/notify", peer.row.callback_url.trim_end_matches('/'));
            let (client, key, kid, body) = (
                state.federation.client.clone(),
                key.clone(),
                kid.clone(),
                body.clone(),
            );
            let peer_id = peer.row.id.clone();
            tasks.spawn(async move {
                let r = client
                    .signed(
                        &key,
                        &kid,
                        now / 1000,
                        reqwest::Method::POST,
                        &url,
                        Some(body),
                    )
                    .await;
                (peer_id, r)
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((_, Ok(ans))) if ans.status.is_success() => {}
                Ok((peer, Ok(ans))) => {
                    tracing::debug!(%peer, status = %ans.status, "checkpoint notification refused");
                }
                Ok((peer, Err(e))) => {
                    tracing::debug!(%peer, code = e.code, "checkpoint notification failed");
                }
                Err(_) => {}
            }
        }
    }
}

/// Records a failed call to a peer (shown in its recent failures).
pub fn note_failure(state: &AppState, peer_id: &str, code: &str, detail: &str) {
    let now = state.clock.now_ms();
    if let Ok(mut w) = state.admin.lock() {
        let failure = PeerFailure {
            at_ms: now,
            code: code.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(e) = w.add_peer_failure(peer_id, &failure) {
            tracing::error!(error = %e, "peer failure not recorded");
        }
    }
}

/// The operator's view of a peer.
#[must_use]
pub fn peer_json(state: &AppState, peer: &PeerEntry, failures: &[PeerFailure]) -> Value {
    let now = state.clock.now_ms();
    let table = state.federation.table();
    let r = &peer.row;
    json!({
        "id": r.id,
        "name": r.name,
        "node_id": r.node_id,
        "base_url": r.base_url,
        "card_url": r.card_url,
        "callback_url": r.callback_url,
        "key_fingerprint": r.kid,
        "spiffe_id": r.spiffe_id,
        "ca_fingerprint": r.ca_fingerprint,
        "ledger_verifier_key": r.verifier_key,
        "status": peer.status.as_str(),
        "status_reason": r.status_reason,
        "trust_level": table.level(&r.id, now).map(TrustLevel::as_u8),
        "license_id": r.license_id,
        "created_at": rfc3339(r.created_ms),
        "last_verified_at": r.last_verified_ms.map(rfc3339),
        "last_synced_at": r.last_synced_ms.map(rfc3339),
        "recent_failures": failures.iter().map(|f| json!({
            "at": rfc3339(f.at_ms),
            "code": f.code,
            "detail": f.detail,
        })).collect::<Vec<_>>(),
    })
}

/// RFC 3339 UTC time with milliseconds for Unix milliseconds.
#[must_use]
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_795_219_199_999), "2026-11-20T23:59:59.999Z");
    }

    fn agreement(status: &str, effective_ms: Option<u64>) -> AgreementRow {
        AgreementRow {
            id: "a".into(),
            proposal_id: "p".into(),
            peer_id: "peer".into(),
            trust_level: 2,
            terms: Value::Null,
            document: Value::Null,
            hash: String::new(),
            status: status.into(),
            established_ms: 0,
            revocation: None,
            effective_ms,
        }
    }

    #[test]
    fn revoked_agreements_count_until_their_notice_runs_out() {
        assert!(in_force(&agreement("active", None), 10));
        assert!(in_force(&agreement("revoking", Some(100)), 99));
        assert!(!in_force(&agreement("revoking", Some(100)), 100));
        assert_eq!(
            agreement_status(&agreement("revoking", Some(100)), 100),
            "revoked"
        );
        assert!(!in_force(&agreement("revoked", None), 0));
        let table = PeerTable {
            agreements: vec![
                agreement("revoking", Some(100)),
                AgreementRow {
                    trust_level: 1,
                    ..agreement("active", None)
                },
            ],
            ..PeerTable::default()
        };
        assert_eq!(table.level("peer", 50), Some(TrustLevel::Verify));
        assert_eq!(table.level("peer", 150), Some(TrustLevel::Observe));
        assert_eq!(table.level("other", 50), None);
    }
}
