//! The HTTP API: shared state, the router built from [`endpoints`], extractors that turn
//! every malformed request into problem+json, and bearer-token authorization.

mod admin;
mod calendar;
mod card;
mod discovery;
pub mod endpoints;
mod federation;
mod log;
pub mod problem;
mod records;
mod sync;
mod trust;
mod witness;

use crate::clock::Clock;
use crate::sequencer::{HeadCell, LedgerHead, SequencerHandle};
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodFilter, on};
use endpoints::{Endpoint, Method};
use problem::Problem;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use treaty_store::{Reader, StoreError, TokenRow, Writer};
use treaty_types::{CollectionName, CollectionSchema};

/// A collection as held in memory.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    /// Operator's description.
    pub description: String,
    /// The schema writes must satisfy: the operator's, else the built-in one, else none.
    pub schema: Option<Arc<CollectionSchema>>,
    /// Whether `schema` is the built-in one.
    pub builtin_schema: bool,
}

/// A live (not revoked) token, as held in memory.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Token id.
    pub id: String,
    /// Collections it may write; `None` for the operator.
    pub collections: Option<Vec<String>>,
}

/// Live tokens by SHA-256 of the secret. Rebuilt from the database after each change.
#[derive(Debug, Default)]
pub struct TokenTable {
    by_hash: HashMap<[u8; 32], TokenGrant>,
}

impl TokenTable {
    /// Builds the table from stored rows, dropping revoked tokens.
    #[must_use]
    pub fn from_rows(rows: &[TokenRow]) -> Self {
        let by_hash = rows
            .iter()
            .filter(|t| t.revoked_ms.is_none())
            .map(|t| {
                (
                    t.hash,
                    TokenGrant {
                        id: t.id.clone(),
                        collections: t.collections.clone(),
                    },
                )
            })
            .collect();
        Self { by_hash }
    }
}

/// A pool of read-only connections, used from blocking tasks.
#[derive(Debug)]
pub struct ReadPool {
    conns: Vec<Mutex<Reader>>,
    next: std::sync::atomic::AtomicUsize,
}

/// Read connections per node: enough for both cores plus blocking headroom.
pub const READ_CONNECTIONS: usize = 8;

impl ReadPool {
    /// Opens `n` read connections.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &std::path::Path, n: usize) -> Result<Self, StoreError> {
        let conns = (0..n.max(1))
            .map(|_| Reader::open(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            conns,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn acquire(&self) -> MutexGuard<'_, Reader> {
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.conns.len() {
            if let Ok(g) = self.conns[(start + i) % self.conns.len()].try_lock() {
                return g;
            }
        }
        let m = &self.conns[start % self.conns.len()];
        // A poisoned reader only means a panic elsewhere mid-read; the connection is fine.
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with a read connection on this thread: for reads of a few rows by key,
    /// which never wait for a writer (WAL), where a trip to the blocking pool would cost
    /// more than the read.
    pub fn now<T>(&self, f: impl FnOnce(&Reader) -> T) -> T {
        f(&self.acquire())
    }

    /// Runs `f` with a read connection on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, or an internal problem if the task fails.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, Problem> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || f(&pool.acquire()))
            .await
            .map_err(Problem::internal)?
    }
}

/// Everything handlers share. Cloned per request by axum, so it is one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The members of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Node id (UUID).
    pub node_id: Arc<str>,
    /// Ledger origin.
    pub origin: Arc<str>,
    /// Public base URL.
    pub public_url: Arc<str>,
    /// C2SP verifier key text of the ledger key.
    pub verifier_key: Arc<str>,
    /// Newest checkpoint.
    pub head: HeadCell,
    /// Queue into the sequencer.
    pub sequencer: SequencerHandle,
    /// Read connections.
    pub readers: Arc<ReadPool>,
    /// Connection for operator actions (collections, tokens).
    pub admin: Arc<Mutex<Writer>>,
    /// Live tokens.
    pub tokens: Arc<RwLock<TokenTable>>,
    /// Known collections, built-in and operator-defined.
    pub collections: Arc<RwLock<BTreeMap<String, CollectionInfo>>>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The registry card and its keys.
    pub card: Arc<crate::card::CardService>,
    /// Rate limits per client identity.
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// Peers, their keys and agreements; calls to peers.
    pub federation: Arc<crate::federation::Federation>,
    /// Witnessing: the committer, cosigned checkpoints, settings.
    pub witness: Arc<crate::federation::witness::WitnessService>,
}

impl AppState {
    /// The newest published checkpoint.
    #[must_use]
    pub fn head(&self) -> Arc<LedgerHead> {
        self.head
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Resolves a collection name that must exist.
    ///
    /// # Errors
    /// 400 for a malformed name, 404 for an unknown one.
    pub fn collection(&self, name: &str) -> Result<CollectionName, Problem> {
        self.collection_info(name).map(|(c, _)| c)
    }

    /// Resolves a collection that must exist, with what the node knows about it.
    ///
    /// # Errors
    /// 400 for a malformed name, 404 for an unknown one.
    pub fn collection_info(&self, name: &str) -> Result<(CollectionName, CollectionInfo), Problem> {
        let parsed = CollectionName::parse(name)?;
        let info = self
            .collections
            .read()
            .ok()
            .and_then(|c| c.get(name).cloned());
        if let Some(info) = info {
            Ok((parsed, info))
        } else {
            Err(Problem::not_found(
                "unknown_collection",
                format!("no collection named {name:?}; GET /v1/collections lists them"),
            ))
        }
    }

    /// Checks the bearer token: it must be live, and allowed to write `collection` (or, with
    /// `None`, be the operator's).
    ///
    /// # Errors
    /// 401 for a missing or unknown token, 403 for one without the needed scope.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        collection: Option<&str>,
    ) -> Result<TokenGrant, Problem> {
        let unauthorized = |code, detail: &str| {
            Problem::new(StatusCode::UNAUTHORIZED, code, detail)
                .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"treaty\"")
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "token_missing",
                "this action needs `Authorization: Bearer <token>`",
            ));
        };
        let token = bearer(value).ok_or_else(|| {
            unauthorized("token_malformed", "use `Authorization: Bearer <token>`")
        })?;
        let grant = self
            .grant_for(token)
            .ok_or_else(|| unauthorized("token_invalid", "the token is unknown or revoked"))?;
        match (&grant.collections, collection) {
            (None, _) => Ok(grant),
            (Some(allowed), Some(c)) if allowed.iter().any(|a| a == c) => Ok(grant),
            (Some(_), Some(c)) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "token_scope",
                format!("this token may not write collection {c:?}"),
            )),
            (Some(_), None) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "operator_only",
                "this action needs the operator's token",
            )),
        }
    }

    /// The live token a request presents, if any, without checking its scope (for rate
    /// limiting; [`AppState::authorize`] decides what it may do).
    #[must_use]
    pub fn token_grant(&self, headers: &HeaderMap) -> Option<TokenGrant> {
        headers
            .get(header::AUTHORIZATION)
            .and_then(bearer)
            .and_then(|token| self.grant_for(token))
    }

    fn grant_for(&self, token: &str) -> Option<TokenGrant> {
        let hash = crate::identity::token_hash(token);
        self.tokens
            .read()
            .ok()
            .and_then(|t| t.by_hash.get(&hash).cloned())
    }

    /// The operator-action connection (collections, tokens, peers, licenses).
    ///
    /// # Errors
    /// 500 if a panic poisoned it.
    pub fn writer(&self) -> Result<MutexGuard<'_, Writer>, Problem> {
        self.admin
            .lock()
            .map_err(|_| Problem::internal("admin connection poisoned"))
    }

    /// Marks the registry card stale after an operator edit (collections, schemas, keys).
    pub fn card_changed(&self) {
        let collections = self
            .collections
            .read()
            .map(|c| crate::card::card_collections(&c))
            .unwrap_or_default();
        let now = self.clock.now_ms();
        let result = match self.admin.lock() {
            Ok(w) => self.card.refresh(&w, &collections, now),
            Err(_) => return,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "registry card not refreshed");
        }
    }

    /// Replaces the in-memory token table after a change, from rows just read back.
    pub fn reload_tokens(&self, rows: &[TokenRow]) {
        if let Ok(mut t) = self.tokens.write() {
            *t = TokenTable::from_rows(rows);
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer(value: &axum::http::HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Router under construction, remembering which endpoints it mounted.
#[derive(Debug)]
pub struct Api {
    router: Router<AppState>,
    mounted: Vec<&'static Endpoint>,
}

impl Api {
    fn new() -> Self {
        Self {
            router: Router::new(),
            mounted: Vec::new(),
        }
    }

    /// Mounts `handler` on `ep`.
    fn add<H, T>(mut self, ep: &'static Endpoint, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match ep.method {
            Method::Get => MethodFilter::GET,
            Method::Put => MethodFilter::PUT,
            Method::Post => MethodFilter::POST,
            Method::Delete => MethodFilter::DELETE,
        };
        self.router = self.router.route(ep.path, on(filter, handler));
        self.mounted.push(ep);
        self
    }
}

/// Builds the router with every endpoint, fallbacks and limits.
pub fn router(state: AppState) -> Router {
    let limiter_state = state.clone();
    let api = Api::new()
        .add(&endpoints::RECORD_PUT, records::put)
        .add(&endpoints::RECORD_GET, records::get)
        .add(&endpoints::RECORD_DELETE, records::delete)
        .add(&endpoints::RECORD_RECEIPT, records::receipt)
        .add(&endpoints::RECORD_LIST, records::list)
        .add(&endpoints::DISCOVER, discovery::discover)
        .add(&endpoints::RESOLVE, discovery::resolve)
        .add(&endpoints::COLLECTION_LIST, admin::list_collections)
        .add(&endpoints::COLLECTION_PUT, admin::put_collection)
        .add(&endpoints::SCHEMA_PUT, admin::put_schema)
        .add(&endpoints::SCHEMA_GET, admin::get_schema)
        .add(&endpoints::SCHEMA_DELETE, admin::delete_schema)
        .add(&endpoints::TOKEN_ISSUE, admin::issue_token)
        .add(&endpoints::TOKEN_LIST, admin::list_tokens)
        .add(&endpoints::TOKEN_REVOKE, admin::revoke_token)
        .add(&endpoints::CHECKPOINT, log::checkpoint)
        .add(&endpoints::VERIFIER_KEY, log::verifier_key)
        .add(&endpoints::LOG_ENTRIES, log::entries)
        .add(&endpoints::PROOF_INCLUSION, log::inclusion)
        .add(&endpoints::PROOF_CONSISTENCY, log::consistency)
        .add(&endpoints::CARD, card::card)
        .add(&endpoints::JWKS, card::jwks)
        .add(&endpoints::KEY_ROTATE, card::rotate)
        .add(&endpoints::CALENDAR_DIGEST, calendar::digest)
        .add(&endpoints::CALENDAR_TIMESTAMP, calendar::timestamp)
        .add(&endpoints::FED_REGISTER, federation::register)
        .add(&endpoints::PEER_LIST, federation::list_peers)
        .add(&endpoints::PEER_ADD, federation::add_peer)
        .add(&endpoints::PEER_GET, federation::get_peer)
        .add(&endpoints::PEER_SUSPEND, federation::suspend_peer)
        .add(&endpoints::PEER_RESUME, federation::resume_peer)
        .add(&endpoints::PEER_REMOVE, federation::remove_peer)
        .add(&endpoints::PROPOSAL_CREATE, trust::create_proposal)
        .add(&endpoints::PROPOSAL_LIST, trust::list_proposals)
        .add(&endpoints::PROPOSAL_GET, trust::get_proposal)
        .add(&endpoints::PROPOSAL_RESPOND, trust::respond)
        .add(&endpoints::AGREEMENT_LIST, trust::list_agreements)
        .add(&endpoints::AGREEMENT_GET, trust::get_agreement)
        .add(&endpoints::AGREEMENT_REVOKE, trust::revoke_agreement)
        .add(&endpoints::LICENSE_ISSUE, federation::issue_license)
        .add(&endpoints::LICENSE_LIST, federation::list_licenses)
        .add(&endpoints::LICENSE_UPDATE, federation::update_license)
        .add(&endpoints::FED_FEED, federation::entries)
        .add(&endpoints::FED_NOTIFY, sync::notify)
        .add(&endpoints::FED_REGISTRY_CARDS, sync::registry_cards)
        .add(&endpoints::PEER_SYNC, sync::sync_peer)
        .add(&endpoints::PEER_RESET_SYNC, sync::reset_sync)
        .add(&endpoints::DISCREPANCY_LIST, sync::discrepancies)
        .add(&endpoints::DRIFT_SCAN, sync::drift_scan)
        .add(&endpoints::WITNESS_ADD_CHECKPOINT, witness::add_checkpoint)
        .add(&endpoints::WITNESS_KEY, witness::witness_key)
        .add(&endpoints::WITNESS_HISTORY, witness::witness_history)
        .add(&endpoints::VIEWS, witness::list_views)
        .add(&endpoints::COMPARE_VIEWS, witness::compare_views)
        .add(&endpoints::CROSS_ANCHOR_NOW, witness::cross_anchor_now)
        .add(&endpoints::CROSS_ANCHOR_GET, witness::cross_anchor_get)
        .add(&endpoints::METRICS, admin::metrics)
        .add(&endpoints::HEALTH, admin::health)
        .add(&endpoints::OPENAPI, admin::openapi);
    debug_assert_eq!(
        api.mounted.len(),
        endpoints::ALL.len(),
        "every endpoint is mounted"
    );
    api.router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(
            treaty_types::limits::REQUEST_BODY_BYTES_MAX,
        ))
        .with_state(state)
        // Outermost: bound how long and how many requests the node works on at once, and
        // answer problem+json when either bound is hit.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(treaty_types::limits::REQUESTS_IN_FLIGHT_MAX)
                .timeout(std::time::Duration::from_millis(
                    treaty_types::limits::REQUEST_TIMEOUT_MS,
                )),
        )
        // Outside the concurrency and time bounds: a refused request costs a hash and a map
        // lookup, never takes one of the in-flight slots, and one client's flood is turned
        // away before it can make the node shed other clients' requests. It also records the
        // request metrics, as the one layer every answer passes.
        .layer(axum::middleware::from_fn_with_state(
            limiter_state,
            crate::ratelimit::middleware,
        ))
}

async fn overloaded(err: tower::BoxError) -> Problem {
    if err.is::<tower::timeout::error::Elapsed>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request took longer than {} ms",
                treaty_types::limits::REQUEST_TIMEOUT_MS
            ),
        )
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the node is at its limit of requests in flight; retry shortly",
        )
        .with_header(header::RETRY_AFTER, "1")
    } else {
        Problem::internal(err)
    }
}

async fn fallback(req: Request) -> Problem {
    Problem::not_found(
        "no_such_endpoint",
        format!("no endpoint at {}; see /openapi.json", req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// Query-string extractor whose failures are problem+json.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query)
            .map(Q)
            .map_err(|e| Problem::bad_request("invalid_query", format!("query string: {e}")))
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(q: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| e.to_string())?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| e.body_text())
}

/// Path extractor whose failures are problem+json.
#[derive(Debug)]
pub struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| P(v))
            .map_err(|e| Problem::bad_request("invalid_path", e.body_text()))
    }
}

/// Reads a JSON request body with the node's limits; every failure is problem+json.
///
/// # Errors
/// 413 past the body limit, 415 for another media type, 400 for malformed JSON.
pub async fn json_body(req: Request) -> Result<serde_json::Value, Problem> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            let media = v.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let bytes = read_body_limited(req.into_body()).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request("invalid_json", format!("body is not valid JSON: {e}")))
}

/// Reads a request body that is JSON or empty, keeping the exact bytes (signed requests
/// need them): `Null` for an empty body. Duplicate member names are refused.
///
/// # Errors
/// 413 past the body limit, 415 for another media type, 400 for malformed JSON.
pub async fn read_json_request(
    parts: &Parts,
    body: axum::body::Body,
) -> Result<(Vec<u8>, serde_json::Value), Problem> {
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            let media = v.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        });
    let bytes = read_body_limited(body).await?;
    if bytes.is_empty() {
        return Ok((bytes, serde_json::Value::Null));
    }
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    // Strict: these bodies carry signed documents, where a parser that keeps one of two
    // equal member names could be made to check another document than it stores.
    let value = treaty_types::strict::parse_strict(&bytes).map_err(|e| {
        Problem::bad_request("invalid_json", format!("body is not valid JSON: {e}"))
    })?;
    Ok((bytes, value))
}

/// Reads a request body of at most `REQUEST_BODY_BYTES_MAX` bytes.
///
/// Past the limit it keeps reading, and discarding, up to `REQUEST_BODY_DRAIN_BYTES_MAX`
/// before answering 413: a server that answers and closes with unread request bytes makes
/// the kernel reset the connection, and the client may lose the answer. Beyond the drain
/// limit the connection is dropped.
pub(crate) async fn read_body_limited(mut body: axum::body::Body) -> Result<Vec<u8>, Problem> {
    use http_body_util::BodyExt as _;
    let limit = treaty_types::limits::REQUEST_BODY_BYTES_MAX;
    let drain_max = treaty_types::limits::REQUEST_BODY_DRAIN_BYTES_MAX;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Problem::bad_request("body_unreadable", e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > drain_max {
            return Err(too_large());
        }
        if seen <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(buf)
}

/// Encodes a hash for JSON answers: standard base64, as in checkpoints and proofs.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Builds the in-memory collection table: built-in collections (with the built-in
/// `agent-card` schema), operator-defined ones, and operator-set schemas over both.
///
/// # Errors
/// Storage errors, or a stored schema that no longer compiles.
pub fn load_collections(w: &Writer) -> Result<BTreeMap<String, CollectionInfo>, StoreError> {
    let compile = |version: &str, schema: serde_json::Value| {
        CollectionSchema::new(version, schema)
            .map(Arc::new)
            .map_err(|e| StoreError::Corrupt(format!("stored schema: {e}")))
    };
    let mut map = BTreeMap::new();
    for name in treaty_types::BUILTIN_COLLECTIONS {
        let schema = if *name == "agent-card" {
            Some(compile(
                treaty_types::schema::AGENT_CARD_SCHEMA_VERSION,
                treaty_types::schema::agent_card_schema(),
            )?)
        } else {
            None
        };
        map.insert(
            (*name).to_owned(),
            CollectionInfo {
                description: format!("built-in {name} collection"),
                builtin_schema: schema.is_some(),
                schema,
            },
        );
    }
    for c in w.collections()? {
        map.insert(
            c.name,
            CollectionInfo {
                description: c.description,
                schema: None,
                builtin_schema: false,
            },
        );
    }
    for row in w.schemas()? {
        if let Some(info) = map.get_mut(&row.collection) {
            info.schema = Some(compile(&row.version, row.schema)?);
            info.builtin_schema = false;
        }
    }
    Ok(map)
}
