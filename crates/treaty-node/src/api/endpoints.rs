//! Every HTTP endpoint, defined once.
//!
//! The router mounts handlers on these definitions ([`super::Api::add`]), the OpenAPI
//! document is generated from them ([`openapi`]), and the CLI builds its request URLs from
//! them ([`Endpoint::url`]). A test checks that every definition is mounted.

use serde_json::{Map, Value, json};

/// HTTP methods used by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// PUT
    Put,
    /// POST
    Post,
    /// DELETE
    Delete,
}

impl Method {
    /// Lower-case name, as OpenAPI wants it.
    #[must_use]
    pub fn lower(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// A bearer token allowed to write the collection in the path.
    CollectionToken,
    /// The operator's token.
    Operator,
    /// An RFC 9421 signed request from a registered peer (PROTOCOL.md section 5), checked
    /// against the keys of the peer's verified card, its status, license and rate limit.
    Peer,
    /// The operator's token (the operator acts) or a signed request from a peer (the peer
    /// delivers its side of the same step).
    OperatorOrPeer,
    /// A signed request from a node that may not be registered yet: the key is taken from
    /// the card the request points to, once that card is fetched and verified.
    Registration,
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// A `{name}` path segment.
    Path,
    /// A query parameter.
    Query,
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Location.
    pub location: In,
    /// Whether it must be present.
    pub required: bool,
    /// JSON schema type: `string` or `integer`.
    pub kind: &'static str,
    /// What it means.
    pub description: &'static str,
}

/// One endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Stable operation id.
    pub id: &'static str,
    /// Method.
    pub method: Method,
    /// Path template with `{param}` segments (axum 0.8 syntax, same as OpenAPI).
    pub path: &'static str,
    /// Grouping tag.
    pub tag: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// Parameters.
    pub params: &'static [Param],
    /// Request body media type, if any.
    pub request: Option<&'static str>,
    /// Success status and media type.
    pub success: (u16, &'static str),
    /// Error statuses it can answer (all problem+json).
    pub errors: &'static [u16],
}

impl Endpoint {
    /// `base` joined with this path, each `{param}` replaced by the next value, percent-
    /// encoding anything outside the unreserved set.
    #[must_use]
    pub fn url(&self, base: &str, values: &[&str]) -> String {
        let mut out = base.trim_end_matches('/').to_owned();
        let mut values = values.iter();
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            if let Some(v) = values.next() {
                for b in v.bytes() {
                    if b.is_ascii_alphanumeric() || b"-._~:@+=".contains(&b) {
                        out.push(char::from(b));
                    } else {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        out
    }
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        required: true,
        kind: "string",
        description,
    }
}

const fn query(name: &'static str, kind: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        required: false,
        kind,
        description,
    }
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const COLLECTION: Param = path(
    "collection",
    "Collection name: agent-card, manifest, receipt or operator-defined.",
);
const KEY: Param = path(
    "key",
    "Record key (manifest keys are fingerprints such as sha256:<64 hex>).",
);

/// `PUT /v1/records/{collection}/{key}`.
pub const RECORD_PUT: Endpoint = Endpoint {
    id: "putRecord",
    method: Method::Put,
    path: "/v1/records/{collection}/{key}",
    tag: "records",
    summary: "Create or replace a record; answers once the write is durable and checkpointed, with its receipt.",
    auth: Auth::CollectionToken,
    params: &[COLLECTION, KEY],
    request: Some(JSON),
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 413, 422, 503],
};

/// `DELETE /v1/records/{collection}/{key}`.
pub const RECORD_DELETE: Endpoint = Endpoint {
    id: "deleteRecord",
    method: Method::Delete,
    path: "/v1/records/{collection}/{key}",
    tag: "records",
    summary: "Write a tombstone for a record.",
    auth: Auth::CollectionToken,
    params: &[COLLECTION, KEY],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 503],
};

/// `GET /v1/records/{collection}/{key}`.
pub const RECORD_GET: Endpoint = Endpoint {
    id: "getRecord",
    method: Method::Get,
    path: "/v1/records/{collection}/{key}",
    tag: "records",
    summary: "The current version of a record (410 for a tombstone).",
    auth: Auth::Public,
    params: &[COLLECTION, KEY],
    request: None,
    success: (200, JSON),
    errors: &[400, 404, 410],
};

/// `GET /v1/records/{collection}/{key}/receipt`.
pub const RECORD_RECEIPT: Endpoint = Endpoint {
    id: "getRecordReceipt",
    method: Method::Get,
    path: "/v1/records/{collection}/{key}/receipt",
    tag: "records",
    summary: "A c2sp.org/tlog-proof@v1 receipt for the record's current version against the newest checkpoint.",
    auth: Auth::Public,
    params: &[COLLECTION, KEY],
    request: None,
    success: (200, TEXT),
    errors: &[400, 404],
};

/// `GET /v1/records/{collection}`.
pub const RECORD_LIST: Endpoint = Endpoint {
    id: "listRecords",
    method: Method::Get,
    path: "/v1/records/{collection}",
    tag: "records",
    summary: "Records of a collection, tombstones included, in ledger order of their latest change.",
    auth: Auth::Public,
    params: &[
        COLLECTION,
        query(
            "cursor",
            "string",
            "Opaque cursor from a previous page's next_cursor.",
        ),
        query("limit", "integer", "Page size, 1-1000 (default 100)."),
        query(
            "updated_since",
            "integer",
            "Only records changed at or after this Unix time in milliseconds.",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 404],
};

/// `GET /v1/discover`.
pub const DISCOVER: Endpoint = Endpoint {
    id: "discover",
    method: Method::Get,
    path: "/v1/discover",
    tag: "discovery",
    summary: "Ranked full-text search over record names, descriptions, skills and tags, across local records and records cached from peers (those carry `federation_metadata.source_registry`), with filters and cursor pagination. Never calls a peer. Finds every record whose sync answered before the query started (records a sync cached that are not indexed yet are indexed first).",
    auth: Auth::Public,
    params: &[
        query(
            "query",
            "string",
            "Words to find (all must match); at most 256 bytes.",
        ),
        query("collection", "string", "Only this collection."),
        query(
            "skill",
            "string",
            "Only records with a skill whose id or name is this.",
        ),
        query("tag", "string", "Only records with this tag."),
        query(
            "source",
            "string",
            "Only records from this source: `local`, or a registry's node id (records cached from that peer).",
        ),
        query("limit", "integer", "Page size, 1-100 (default 20)."),
        query(
            "cursor",
            "string",
            "Opaque cursor from the previous page's next_cursor.",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 404],
};

/// `GET /v1/resolve/{collection}/{key}`.
pub const RESOLVE: Endpoint = Endpoint {
    id: "resolve",
    method: Method::Get,
    path: "/v1/resolve/{collection}/{key}",
    tag: "discovery",
    summary: "Exact lookup (e.g. a manifest by fingerprint): the record, its tlog-proof receipt and the checkpoint it is proven against. A miss looks in the peer cache, then cascades to ACTIVE peers (first verified answer wins; `served_by` names the registry).",
    auth: Auth::Public,
    params: &[
        COLLECTION,
        KEY,
        query(
            "cascade",
            "boolean",
            "false: answer from this node only (local records and the peer cache).",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 404, 410],
};

/// `GET /v1/collections`.
pub const COLLECTION_LIST: Endpoint = Endpoint {
    id: "listCollections",
    method: Method::Get,
    path: "/v1/collections",
    tag: "collections",
    summary: "Built-in and operator-defined collections.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[],
};

/// `PUT /v1/collections/{collection}`.
pub const COLLECTION_PUT: Endpoint = Endpoint {
    id: "createCollection",
    method: Method::Put,
    path: "/v1/collections/{collection}",
    tag: "collections",
    summary: "Define a collection (operator). Body: {\"description\": string}.",
    auth: Auth::Operator,
    params: &[COLLECTION],
    request: Some(JSON),
    success: (201, JSON),
    errors: &[400, 401, 403, 409, 422],
};

/// `PUT /v1/collections/{collection}/schema`.
pub const SCHEMA_PUT: Endpoint = Endpoint {
    id: "putCollectionSchema",
    method: Method::Put,
    path: "/v1/collections/{collection}/schema",
    tag: "collections",
    summary: "Set a collection's JSON Schema (operator). Body: {\"version\": string, \"schema\": object}. Later writes must satisfy it.",
    auth: Auth::Operator,
    params: &[COLLECTION],
    request: Some(JSON),
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 413, 422],
};

/// `GET /v1/collections/{collection}/schema`.
pub const SCHEMA_GET: Endpoint = Endpoint {
    id: "getCollectionSchema",
    method: Method::Get,
    path: "/v1/collections/{collection}/schema",
    tag: "collections",
    summary: "A collection's schema with its version and hash (sha256 over its JCS form).",
    auth: Auth::Public,
    params: &[COLLECTION],
    request: None,
    success: (200, JSON),
    errors: &[400, 404],
};

/// `DELETE /v1/collections/{collection}/schema`.
pub const SCHEMA_DELETE: Endpoint = Endpoint {
    id: "deleteCollectionSchema",
    method: Method::Delete,
    path: "/v1/collections/{collection}/schema",
    tag: "collections",
    summary: "Remove the operator's schema (operator); agent-card falls back to its built-in schema.",
    auth: Auth::Operator,
    params: &[COLLECTION],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `POST /v1/tokens`.
pub const TOKEN_ISSUE: Endpoint = Endpoint {
    id: "issueToken",
    method: Method::Post,
    path: "/v1/tokens",
    tag: "tokens",
    summary: "Issue a write token scoped to collections (operator). The secret is in this answer only.",
    auth: Auth::Operator,
    params: &[],
    request: Some(JSON),
    success: (201, JSON),
    errors: &[400, 401, 403, 404, 422],
};

/// `GET /v1/tokens`.
pub const TOKEN_LIST: Endpoint = Endpoint {
    id: "listTokens",
    method: Method::Get,
    path: "/v1/tokens",
    tag: "tokens",
    summary: "Issued tokens, without secrets (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `DELETE /v1/tokens/{id}`.
pub const TOKEN_REVOKE: Endpoint = Endpoint {
    id: "revokeToken",
    method: Method::Delete,
    path: "/v1/tokens/{id}",
    tag: "tokens",
    summary: "Revoke a token (operator).",
    auth: Auth::Operator,
    params: &[path("id", "Token id from issue or list.")],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `GET /checkpoint`.
pub const CHECKPOINT: Endpoint = Endpoint {
    id: "getCheckpoint",
    method: Method::Get,
    path: "/checkpoint",
    tag: "ledger",
    summary: "The newest signed checkpoint (C2SP tlog-checkpoint signed note).",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, TEXT),
    errors: &[],
};

/// `GET /v1/log/verifier-key`.
pub const VERIFIER_KEY: Endpoint = Endpoint {
    id: "getVerifierKey",
    method: Method::Get,
    path: "/v1/log/verifier-key",
    tag: "ledger",
    summary: "The ledger's C2SP verifier key text.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, TEXT),
    errors: &[],
};

/// `GET /v1/log/entries`.
pub const LOG_ENTRIES: Endpoint = Endpoint {
    id: "getLogEntries",
    method: Method::Get,
    path: "/v1/log/entries",
    tag: "ledger",
    summary: "Ledger entries from `start`: exact leaf bytes (base64), leaf hash and index.",
    auth: Auth::Public,
    params: &[
        query(
            "start",
            "integer",
            "First index (default 0); at most the tree size.",
        ),
        query(
            "limit",
            "integer",
            "Entries to return, 1-1000 (default 100).",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400],
};

/// `GET /v1/log/proof/inclusion`.
pub const PROOF_INCLUSION: Endpoint = Endpoint {
    id: "getInclusionProof",
    method: Method::Get,
    path: "/v1/log/proof/inclusion",
    tag: "ledger",
    summary: "RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries.",
    auth: Auth::Public,
    params: &[
        Param {
            name: "index",
            location: In::Query,
            required: true,
            kind: "integer",
            description: "Entry index.",
        },
        query(
            "tree_size",
            "integer",
            "Tree size (default: newest checkpoint); at most the newest checkpoint's size.",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400],
};

/// `GET /v1/log/proof/consistency`.
pub const PROOF_CONSISTENCY: Endpoint = Endpoint {
    id: "getConsistencyProof",
    method: Method::Get,
    path: "/v1/log/proof/consistency",
    tag: "ledger",
    summary: "RFC 9162 consistency proof between tree sizes `from` and `to`.",
    auth: Auth::Public,
    params: &[
        Param {
            name: "from",
            location: In::Query,
            required: true,
            kind: "integer",
            description: "Older tree size.",
        },
        query(
            "to",
            "integer",
            "Newer tree size (default: newest checkpoint).",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400],
};

/// `GET /.well-known/registry-card.json`.
pub const CARD: Endpoint = Endpoint {
    id: "getRegistryCard",
    method: Method::Get,
    path: "/.well-known/registry-card.json",
    tag: "identity",
    summary: "The signed registry card (detached EdDSA JWS over the JCS form of its signed core) plus an unsigned `volatile` block. Strong ETag; If-None-Match answers 304.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[],
};

/// `GET /.well-known/registry-jwks.json`.
pub const JWKS: Endpoint = Endpoint {
    id: "getRegistryJwks",
    method: Method::Get,
    path: "/.well-known/registry-jwks.json",
    tag: "identity",
    summary: "The card signing keys (RFC 7517 OKP Ed25519): the current key and retired keys with their validity windows.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[],
};

/// `POST /v1/keys/rotate`.
pub const KEY_ROTATE: Endpoint = Endpoint {
    id: "rotateCardKey",
    method: Method::Post,
    path: "/v1/keys/rotate",
    tag: "identity",
    summary: "Rotate the card signing key (operator): the old key is retired (kept in the JWKS) and the card re-signed. The ledger key never rotates.",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `POST /digest`.
pub const CALENDAR_DIGEST: Endpoint = Endpoint {
    id: "calendarDigest",
    method: Method::Post,
    path: "/digest",
    tag: "calendar",
    summary: "OpenTimestamps calendar: submit a raw digest (1-64 bytes); it becomes a ledger entry, and the answer (once durable) is a timestamp ending in a pending attestation naming this node.",
    auth: Auth::Public,
    params: &[],
    request: Some("application/octet-stream"),
    success: (200, "application/octet-stream"),
    errors: &[400, 413, 503],
};

/// `GET /timestamp/{commitment}`.
pub const CALENDAR_TIMESTAMP: Endpoint = Endpoint {
    id: "calendarTimestamp",
    method: Method::Get,
    path: "/timestamp/{commitment}",
    tag: "calendar",
    summary: "OpenTimestamps calendar: the completed timestamp for a pending attestation's commitment (the anchor entry's leaf hash): its inclusion path to a signed checkpoint, as a Treaty checkpoint attestation. 404 until a checkpoint covers it.",
    auth: Auth::Public,
    params: &[path(
        "commitment",
        "The leaf hash named by the pending attestation, hex.",
    )],
    request: None,
    success: (200, "application/octet-stream"),
    errors: &[400, 404],
};

const FED_ID: Param = path("id", "Peer id (or the peer's node id).");
const PROPOSAL_ID: Param = path("id", "Proposal id.");
const AGREEMENT_ID: Param = path("id", "Agreement id.");
const LICENSE_ID: Param = path("id", "License id.");

/// `POST /v1/federation/register`.
pub const FED_REGISTER: Endpoint = Endpoint {
    id: "federationRegister",
    method: Method::Post,
    path: "/v1/federation/register",
    tag: "federation",
    summary: "A node asks to be registered as a peer. Signed request; body {nodeId, federationDocumentUrl, callbackUrl, license?}. Answers 202 {peerId, status: \"pending_verification\"}; the node then fetches and verifies the caller's registry card (same origin, no redirects) and marks the peer ACTIVE or SUSPENDED.",
    auth: Auth::Registration,
    params: &[],
    request: Some(JSON),
    success: (202, JSON),
    errors: &[400, 401, 403, 413, 415],
};

/// `GET /v1/federation/peers`.
pub const PEER_LIST: Endpoint = Endpoint {
    id: "listPeers",
    method: Method::Get,
    path: "/v1/federation/peers",
    tag: "federation",
    summary: "Registered peers with status, trust level, key fingerprint, last verification and sync times and recent failures (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `POST /v1/federation/peers`.
pub const PEER_ADD: Endpoint = Endpoint {
    id: "addPeer",
    method: Method::Post,
    path: "/v1/federation/peers",
    tag: "federation",
    summary: "Register a peer in both directions (operator). Body {url, license?}: the node fetches and verifies the peer's card, then registers itself with the peer by a signed request.",
    auth: Auth::Operator,
    params: &[],
    request: Some(JSON),
    success: (201, JSON),
    errors: &[400, 401, 403, 409, 502],
};

/// `GET /v1/federation/peers/{id}`.
pub const PEER_GET: Endpoint = Endpoint {
    id: "getPeer",
    method: Method::Get,
    path: "/v1/federation/peers/{id}",
    tag: "federation",
    summary: "One peer, with its verified card (operator).",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `POST /v1/federation/peers/{id}/suspend`.
pub const PEER_SUSPEND: Endpoint = Endpoint {
    id: "suspendPeer",
    method: Method::Post,
    path: "/v1/federation/peers/{id}/suspend",
    tag: "federation",
    summary: "Suspend a peer (operator): its calls are refused with 403 until it is resumed. Body {reason?}.",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: Some(JSON),
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 409],
};

/// `POST /v1/federation/peers/{id}/resume`.
pub const PEER_RESUME: Endpoint = Endpoint {
    id: "resumePeer",
    method: Method::Post,
    path: "/v1/federation/peers/{id}/resume",
    tag: "federation",
    summary: "Re-verify a suspended peer's card now (operator): ACTIVE if it verifies, SUSPENDED with the reason otherwise.",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 409],
};

/// `DELETE /v1/federation/peers/{id}`.
pub const PEER_REMOVE: Endpoint = Endpoint {
    id: "removePeer",
    method: Method::Delete,
    path: "/v1/federation/peers/{id}",
    tag: "federation",
    summary: "Forget a peer (operator): its keys are dropped, so its calls fail as unknown_key. Proposals and agreements stay as history.",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `POST /v1/federation/proposals`.
pub const PROPOSAL_CREATE: Endpoint = Endpoint {
    id: "createProposal",
    method: Method::Post,
    path: "/v1/federation/proposals",
    tag: "trust",
    summary: "Propose a trust agreement. Operator: body {target, trust_level, terms, expires_in_seconds?}; the node signs the offer and delivers it. Peer (signed): body is the signed offer.",
    auth: Auth::OperatorOrPeer,
    params: &[],
    request: Some(JSON),
    success: (201, JSON),
    errors: &[400, 401, 403, 404, 409, 422, 502],
};

/// `GET /v1/federation/proposals`.
pub const PROPOSAL_LIST: Endpoint = Endpoint {
    id: "listProposals",
    method: Method::Get,
    path: "/v1/federation/proposals",
    tag: "trust",
    summary: "Proposals sent and received, newest first, with status and whose turn it is (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `GET /v1/federation/proposals/{id}`.
pub const PROPOSAL_GET: Endpoint = Endpoint {
    id: "getProposal",
    method: Method::Get,
    path: "/v1/federation/proposals/{id}",
    tag: "trust",
    summary: "One proposal with every signed offer, counter and rejection (operator).",
    auth: Auth::Operator,
    params: &[PROPOSAL_ID],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `PUT /v1/federation/proposals/{id}`.
pub const PROPOSAL_RESPOND: Endpoint = Endpoint {
    id: "respondToProposal",
    method: Method::Put,
    path: "/v1/federation/proposals/{id}",
    tag: "trust",
    summary: "Answer the latest offer. Operator: body {action: accept|reject|counter, reason?, trust_level?, terms?, expires_in_seconds?}. Peer (signed): {action, offer|rejection|agreement} with its signed document; an accepted agreement is countersigned and returned.",
    auth: Auth::OperatorOrPeer,
    params: &[PROPOSAL_ID],
    request: Some(JSON),
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 409, 422, 502],
};

/// `GET /v1/federation/agreements`.
pub const AGREEMENT_LIST: Endpoint = Endpoint {
    id: "listAgreements",
    method: Method::Get,
    path: "/v1/federation/agreements",
    tag: "trust",
    summary: "Trust agreements with their status (active, revoking, revoked) (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `GET /v1/federation/agreements/{id}`.
pub const AGREEMENT_GET: Endpoint = Endpoint {
    id: "getAgreement",
    method: Method::Get,
    path: "/v1/federation/agreements/{id}",
    tag: "trust",
    summary: "One agreement: the document signed by both parties, its hash and any revocation (operator).",
    auth: Auth::Operator,
    params: &[AGREEMENT_ID],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404],
};

/// `DELETE /v1/federation/agreements/{id}`.
pub const AGREEMENT_REVOKE: Endpoint = Endpoint {
    id: "revokeAgreement",
    method: Method::Delete,
    path: "/v1/federation/agreements/{id}",
    tag: "trust",
    summary: "Revoke an agreement after a notice period. Operator: query notice_seconds (default from config) and reason; the node signs the revocation and delivers it. Peer (signed): body is the signed revocation.",
    auth: Auth::OperatorOrPeer,
    params: &[
        AGREEMENT_ID,
        query(
            "notice_seconds",
            "integer",
            "Operator only: seconds until the revocation takes effect (default: federation.revocation_notice_seconds).",
        ),
        query(
            "reason",
            "string",
            "Operator only: why (at most 512 bytes).",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 409, 422],
};

/// `POST /v1/federation/licenses`.
pub const LICENSE_ISSUE: Endpoint = Endpoint {
    id: "issueLicense",
    method: Method::Post,
    path: "/v1/federation/licenses",
    tag: "federation",
    summary: "Issue an admission license (operator). Body {name?, max_records?, max_events_per_minute?, tier?}. The key is in this answer only; the node keeps its SHA-256.",
    auth: Auth::Operator,
    params: &[],
    request: Some(JSON),
    success: (201, JSON),
    errors: &[400, 401, 403, 422],
};

/// `GET /v1/federation/licenses`.
pub const LICENSE_LIST: Endpoint = Endpoint {
    id: "listLicenses",
    method: Method::Get,
    path: "/v1/federation/licenses",
    tag: "federation",
    summary: "Issued licenses, without keys (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `PUT /v1/federation/licenses/{id}`.
pub const LICENSE_UPDATE: Endpoint = Endpoint {
    id: "updateLicense",
    method: Method::Put,
    path: "/v1/federation/licenses/{id}",
    tag: "federation",
    summary: "Set a license's status (operator). Body {status: active|suspended|revoked}. Revoked is final and flips the bound peer to REVOKED.",
    auth: Auth::Operator,
    params: &[LICENSE_ID],
    request: Some(JSON),
    success: (200, JSON),
    errors: &[400, 401, 403, 404, 409, 422],
};

/// `GET /v1/federation/entries` (the card's `endpoints.sync`).
pub const FED_FEED: Endpoint = Endpoint {
    id: "syncEntries",
    method: Method::Get,
    path: "/v1/federation/entries",
    tag: "federation",
    summary: "The sync feed (trust level 1, observe): every ledger entry from `since` in order (leaf bytes for the collections the agreement shares, the leaf hash only for the rest), the newest signed checkpoint, and the consistency proof from the page's end to it.",
    auth: Auth::Peer,
    params: &[
        query(
            "since",
            "integer",
            "First ledger index (default 0); at most the checkpoint size.",
        ),
        query(
            "limit",
            "integer",
            "Entries per page, 1-10000 (default 1000).",
        ),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403],
};

/// `POST /v1/federation/notify`.
pub const FED_NOTIFY: Endpoint = Endpoint {
    id: "notifyCheckpoint",
    method: Method::Post,
    path: "/v1/federation/notify",
    tag: "federation",
    summary: "A peer announces a new signed checkpoint (trust level 1): if it verifies against the peer's ledger key and is ahead of the copy held here, a pull of that peer starts at once.",
    auth: Auth::Peer,
    params: &[],
    request: Some(JSON),
    success: (202, JSON),
    errors: &[400, 401, 403],
};

/// `GET /v1/federation/registry-cards`.
pub const FED_REGISTRY_CARDS: Endpoint = Endpoint {
    id: "registryCards",
    method: Method::Get,
    path: "/v1/federation/registry-cards",
    tag: "federation",
    summary: "The registry cards this node knows (trust level 1), in change order after `since`: first-hand peers (hops 1) and discovered registries with their hop count, each with the JWKS it verified against.",
    auth: Auth::Peer,
    params: &[query(
        "since",
        "integer",
        "Change sequence from the previous answer's `next` (default 0).",
    )],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 403],
};

/// `POST /v1/federation/peers/{id}/sync`.
pub const PEER_SYNC: Endpoint = Endpoint {
    id: "syncPeer",
    method: Method::Post,
    path: "/v1/federation/peers/{id}/sync",
    tag: "federation",
    summary: "Run one sync cycle with a peer now (operator): card refresh, drift check, registry cards and the feed until caught up; answers what it did.",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: None,
    success: (200, JSON),
    errors: &[401, 404, 409, 502],
};

/// `POST /v1/federation/peers/{id}/reset-sync`.
pub const PEER_RESET_SYNC: Endpoint = Endpoint {
    id: "resetPeerSync",
    method: Method::Post,
    path: "/v1/federation/peers/{id}/reset-sync",
    tag: "federation",
    summary: "Forget what was synced from a peer (operator): its verified state, proving checkpoints and cached records. The next cycle pulls its ledger from the start, verified again.",
    auth: Auth::Operator,
    params: &[FED_ID],
    request: None,
    success: (200, JSON),
    errors: &[401, 404],
};

/// `GET /v1/federation/discrepancies`.
pub const DISCREPANCY_LIST: Endpoint = Endpoint {
    id: "listDiscrepancies",
    method: Method::Get,
    path: "/v1/federation/discrepancies",
    tag: "federation",
    summary: "Discrepancies found in what peers served (operator), oldest first, each with its self-contained evidence.",
    auth: Auth::Operator,
    params: &[
        query("peer", "string", "Only this peer (id or node id)."),
        query(
            "since",
            "integer",
            "Only discrepancies with an id above this (default 0).",
        ),
        query("limit", "integer", "Page size, 1-1000 (default 100)."),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 401, 404],
};

/// `POST /v1/admin/federation/drift-scan`.
pub const DRIFT_SCAN: Endpoint = Endpoint {
    id: "driftScan",
    method: Method::Post,
    path: "/v1/admin/federation/drift-scan",
    tag: "federation",
    summary: "Scan every peer with an agreement for drift now (operator): policy and schema hashes against the agreement's baseline, and the cached copy against the peer's current checkpoint. Drifted peers become DRIFT.",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401],
};

/// `POST /witness/add-checkpoint`.
pub const WITNESS_ADD_CHECKPOINT: Endpoint = Endpoint {
    id: "witnessAddCheckpoint",
    method: Method::Post,
    path: "/witness/add-checkpoint",
    tag: "witness",
    summary: "C2SP tlog-witness add-checkpoint: `old <size>`, consistency proof lines, an empty line, then a checkpoint of a log this node witnesses (peers at trust level 2 or higher, and `witness.logs`). 200: cosignature line(s); 404 unknown origin; 403 no valid signature by the log's key; 400 old size above the checkpoint's; 409 old size is not the size last cosigned (body `<size>`, `text/x.tlog.size`); 422 the proof fails or the checkpoint forks the log (the fork is recorded with its evidence and the peer suspended).",
    auth: Auth::Public,
    params: &[],
    request: Some(TEXT),
    success: (200, TEXT),
    errors: &[400, 403, 404, 409, 413, 422, 503],
};

/// `GET /v1/witness/verifier-key`.
pub const WITNESS_KEY: Endpoint = Endpoint {
    id: "getWitnessKey",
    method: Method::Get,
    path: "/v1/witness/verifier-key",
    tag: "witness",
    summary: "This node's witness key (the ledger key under cosignature type 0x04, named after the origin), as C2SP verifier key text.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, TEXT),
    errors: &[],
};

/// `GET /v1/federation/witness-history`.
pub const WITNESS_HISTORY: Endpoint = Endpoint {
    id: "witnessHistory",
    method: Method::Get,
    path: "/v1/federation/witness-history",
    tag: "witness",
    summary: "The witness events in this ledger (cosignatures given to peers and received from witnesses), in ledger order after `since`, each with its ledger index and entry.",
    auth: Auth::Public,
    params: &[
        query(
            "peer",
            "string",
            "Only events about this peer (id or node id).",
        ),
        query(
            "since",
            "integer",
            "Only events with a ledger index above this.",
        ),
        query("limit", "integer", "Page size, 1-1000 (default 100)."),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 404],
};

/// `GET /v1/federation/views`.
pub const VIEWS: Endpoint = Endpoint {
    id: "listViews",
    method: Method::Get,
    path: "/v1/federation/views",
    tag: "witness",
    summary: "The latest verified checkpoint this node holds of each peer's log (as its witness or from sync), for peers (trust level 1) and the operator to compare views.",
    auth: Auth::OperatorOrPeer,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 403],
};

/// `POST /v1/admin/federation/compare-views`.
pub const COMPARE_VIEWS: Endpoint = Endpoint {
    id: "compareViews",
    method: Method::Post,
    path: "/v1/admin/federation/compare-views",
    tag: "witness",
    summary: "Compare this node's views of its peers' logs with every peer's views now (operator). A fork is recorded as a `fed_discrepancy` with its evidence and suspends the forked peer.",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401],
};

/// `POST /v1/admin/federation/cross-anchor`.
pub const CROSS_ANCHOR_NOW: Endpoint = Endpoint {
    id: "crossAnchorNow",
    method: Method::Post,
    path: "/v1/admin/federation/cross-anchor",
    tag: "witness",
    summary: "Anchor now the latest verified checkpoint of every peer at trust level 3 or higher that grew since its last anchor (operator).",
    auth: Auth::Operator,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[401, 503],
};

/// `GET /v1/federation/cross-anchors/{peer}`.
pub const CROSS_ANCHOR_GET: Endpoint = Endpoint {
    id: "getCrossAnchor",
    method: Method::Get,
    path: "/v1/federation/cross-anchors/{peer}",
    tag: "witness",
    summary: "Proof that a peer's checkpoint is anchored in this ledger: the newest `fed_cross_anchor` entry for the peer (or the one of tree size `size`), its ledger index, and a tlog-proof receipt under this node's cosigned checkpoint.",
    auth: Auth::Public,
    params: &[
        path("peer", "Peer id or node id."),
        query("size", "integer", "The anchored checkpoint's tree size."),
    ],
    request: None,
    success: (200, JSON),
    errors: &[400, 404, 503],
};

/// `GET /metrics`.
pub const METRICS: Endpoint = Endpoint {
    id: "metrics",
    method: Method::Get,
    path: "/metrics",
    tag: "node",
    summary: "Prometheus metrics: requests by endpoint and status, latency, ledger size, batch sizes and commit time.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, TEXT),
    errors: &[],
};

/// `GET /healthz`.
pub const HEALTH: Endpoint = Endpoint {
    id: "health",
    method: Method::Get,
    path: "/healthz",
    tag: "node",
    summary: "Liveness, with the node id, origin and tree size.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[],
};

/// `GET /openapi.json`.
pub const OPENAPI: Endpoint = Endpoint {
    id: "openapi",
    method: Method::Get,
    path: "/openapi.json",
    tag: "node",
    summary: "This OpenAPI 3.1 document.",
    auth: Auth::Public,
    params: &[],
    request: None,
    success: (200, JSON),
    errors: &[],
};

/// Every endpoint, in documentation order.
pub const ALL: &[&Endpoint] = &[
    &RECORD_PUT,
    &RECORD_GET,
    &RECORD_DELETE,
    &RECORD_RECEIPT,
    &RECORD_LIST,
    &DISCOVER,
    &RESOLVE,
    &COLLECTION_LIST,
    &COLLECTION_PUT,
    &SCHEMA_PUT,
    &SCHEMA_GET,
    &SCHEMA_DELETE,
    &TOKEN_ISSUE,
    &TOKEN_LIST,
    &TOKEN_REVOKE,
    &CHECKPOINT,
    &VERIFIER_KEY,
    &LOG_ENTRIES,
    &PROOF_INCLUSION,
    &PROOF_CONSISTENCY,
    &CARD,
    &JWKS,
    &KEY_ROTATE,
    &CALENDAR_DIGEST,
    &CALENDAR_TIMESTAMP,
    &FED_REGISTER,
    &PEER_LIST,
    &PEER_ADD,
    &PEER_GET,
    &PEER_SUSPEND,
    &PEER_RESUME,
    &PEER_REMOVE,
    &PROPOSAL_CREATE,
    &PROPOSAL_LIST,
    &PROPOSAL_GET,
    &PROPOSAL_RESPOND,
    &AGREEMENT_LIST,
    &AGREEMENT_GET,
    &AGREEMENT_REVOKE,
    &LICENSE_ISSUE,
    &LICENSE_LIST,
    &LICENSE_UPDATE,
    &FED_FEED,
    &FED_NOTIFY,
    &WITNESS_ADD_CHECKPOINT,
    &WITNESS_KEY,
    &WITNESS_HISTORY,
    &VIEWS,
    &COMPARE_VIEWS,
    &CROSS_ANCHOR_NOW,
    &CROSS_ANCHOR_GET,
    &FED_REGISTRY_CARDS,
    &PEER_SYNC,
    &PEER_RESET_SYNC,
    &DISCREPANCY_LIST,
    &DRIFT_SCAN,
    &METRICS,
    &HEALTH,
    &OPENAPI,
];

/// The endpoint a request for `method` (upper case, e.g. `GET`) and `path` reaches, if any.
/// Literal segments must match exactly; `{param}` segments match any one non-empty segment.
#[must_use]
pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    ALL.iter().copied().find(|ep| {
        ep.method.lower().eq_ignore_ascii_case(method) && {
            let mut want = ep.path.split('/');
            let mut got = path.split('/');
            loop {
                match (want.next(), got.next()) {
                    (None, None) => break true,
                    (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                    (Some(w), Some(g)) if w == g => {}
                    _ => break false,
                }
            }
        }
    })
}

/// Whether `id` is an endpoint's operation id.
#[must_use]
pub fn is_id(id: &str) -> bool {
    ALL.iter().any(|ep| ep.id == id)
}

/// The OpenAPI 3.1 document for `endpoints`, served at `/openapi.json`.
#[must_use]
pub fn openapi(endpoints: &[&Endpoint], server_url: &str) -> Value {
    let mut paths = Map::new();
    for ep in endpoints {
        let params: Vec<Value> = ep
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.location { In::Path => "path", In::Query => "query" },
                    "required": p.required,
                    "description": p.description,
                    "schema": {"type": p.kind},
                })
            })
            .collect();
        let mut responses = Map::new();
        responses.insert(
            ep.success.0.to_string(),
            json!({"description": "Success", "content": {ep.success.1: {}}}),
        );
        // Every endpoint sits behind the rate limiter and the overload guards.
        for status in ep.errors.iter().chain(&[429u16, 503]) {
            responses.insert(
                status.to_string(),
                json!({"$ref": "#/components/responses/Problem"}),
            );
        }
        let mut op = json!({
            "operationId": ep.id,
            "tags": [ep.tag],
            "summary": ep.summary,
            "parameters": params,
            "responses": responses,
        });
        if let Some(media) = ep.request {
            op["requestBody"] = json!({"required": true, "content": {media: {}}});
        }
        match ep.auth {
            Auth::Public => op["security"] = json!([]),
            Auth::CollectionToken | Auth::Operator => op["security"] = json!([{"bearer": []}]),
            Auth::Peer | Auth::Registration => {
                op["security"] = json!([{"httpSignature": []}]);
            }
            Auth::OperatorOrPeer => {
                op["security"] = json!([{"bearer": []}, {"httpSignature": []}]);
            }
        }
        if ep.auth == Auth::Operator {
            op["x-treaty-operator-only"] = json!(true);
        }
        let entry = paths.entry(ep.path.to_owned()).or_insert_with(|| json!({}));
        entry[ep.method.lower()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Treaty node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A sovereign registry's ledger, records and federation API. Every error is RFC 9457 problem+json with a stable `code`.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "httpSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Signature",
                    "description": "RFC 9421 HTTP Message Signature (Ed25519, label `treaty`, tag `treaty/v1`) with `Signature-Input` and an RFC 9530 `Content-Digest`, by a key in the caller's registry card JWKS. See PROTOCOL.md section 5.",
                },
            },
            "responses": {"Problem": {
                "description": "RFC 9457 problem details",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }},
            "schemas": {"Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail", "code"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string", "description": "Stable machine-readable error code."},
                },
            }},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_fill_and_escape_params() {
        assert_eq!(
            RECORD_PUT.url("http://h:1/", &["agent-card", "a b/c"]),
            "http://h:1/v1/records/agent-card/a%20b%2Fc"
        );
        assert_eq!(CHECKPOINT.url("http://h", &[]), "http://h/checkpoint");
    }

    #[test]
    fn ids_are_unique_and_paths_documented() {
        let mut ids: Vec<_> = ALL.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        let doc = openapi(ALL, "http://x");
        for ep in ALL {
            assert!(
                doc["paths"][ep.path][ep.method.lower()].is_object(),
                "{}",
                ep.id
            );
            for p in ep.params.iter().filter(|p| p.location == In::Path) {
                assert!(ep.path.contains(&format!("{{{}}}", p.name)), "{}", ep.id);
            }
        }
    }
}
