//! Federation state: peers and their recent failures, admission licenses, trust proposals
//! and trust agreements.
//!
//! Peers, failures and licenses are operator and background state, written through the
//! [`Writer`] methods below. Proposals and agreements change with ledger events: the
//! sequencer upserts them in the transaction that commits the entry describing the change
//! ([`crate::Effect::Federation`] in [`Writer::commit_batch`]), so the ledger and the state
//! it describes never disagree. [`Writer::apply_fed_op`] writes the same rows without an
//! entry, for transitions that are not ledger events (an expiry, a revocation taking effect).
//!
//! Proposals and agreements are history: deleting a peer keeps them.

use crate::{Reader, StoreError, Writer, hash_of, i64_of, u64_of};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;

/// How many failures are kept per peer; older ones are dropped as new ones arrive.
pub const PEER_FAILURES_KEPT: usize = 20;
/// A failure's `code` is cut to this many bytes when stored.
pub const PEER_FAILURE_CODE_BYTES_MAX: usize = 64;
/// A failure's `detail` is cut to this many bytes when stored.
pub const PEER_FAILURE_DETAIL_BYTES_MAX: usize = 1024;

/// Deepest nesting of arrays and objects accepted in a stored JSON column. A value nested
/// deeper than `serde_json` reads back (128) could be written but never listed again, which
/// would break every listing of its table; this keeps well clear of that.
pub const STORED_JSON_DEPTH_MAX: usize = 64;

/// Proposal directions ([`ProposalRow::direction`]).
pub const PROPOSAL_DIRECTIONS: &[&str] = &["outgoing", "incoming"];
/// Agreement states ([`AgreementRow::status`]).
pub const AGREEMENT_STATUSES: &[&str] = &["active", "revoking", "revoked"];

/// Migration 6: the federation tables.
pub(crate) const MIGRATION: &str = "
     -- Federation peers. node_id is the peer's own node id (from its card).
     CREATE TABLE peers (
        id               TEXT PRIMARY KEY,
        node_id          TEXT NOT NULL UNIQUE,
        name             TEXT NOT NULL,
        base_url         TEXT NOT NULL,
        card_url         TEXT NOT NULL,
        callback_url     TEXT NOT NULL,
        status           TEXT NOT NULL,
        status_reason    TEXT,
        card             TEXT,
        jwks             TEXT,
        kid              TEXT,
        spiffe_id        TEXT,
        ca_fingerprint   TEXT,
        verifier_key     TEXT,
        license_id       TEXT,
        created_ms       INTEGER NOT NULL,
        updated_ms       INTEGER NOT NULL,
        last_verified_ms INTEGER,
        last_synced_ms   INTEGER
     ) WITHOUT ROWID;
     CREATE INDEX peers_by_created ON peers(created_ms, id);
     -- The newest failures of each peer (at most PEER_FAILURES_KEPT); id orders them.
     CREATE TABLE peer_failures (
        id      INTEGER PRIMARY KEY,
        peer_id TEXT NOT NULL REFERENCES peers(id) ON DELETE CASCADE,
        at_ms   INTEGER NOT NULL,
        code    TEXT NOT NULL,
        detail  TEXT NOT NULL
     );
     CREATE INDEX peer_failures_by_peer ON peer_failures(peer_id, id);
     -- Admission licenses, stored only as the SHA-256 of the secret.
     CREATE TABLE licenses (
        id                    TEXT PRIMARY KEY,
        hash                  BLOB NOT NULL UNIQUE,
        name                  TEXT NOT NULL,
        tier                  TEXT NOT NULL,
        max_records           INTEGER NOT NULL,
        max_events_per_minute INTEGER NOT NULL,
        status                TEXT NOT NULL,
        peer_id               TEXT,
        created_ms            INTEGER NOT NULL,
        updated_ms            INTEGER NOT NULL
     ) WITHOUT ROWID;
     -- Trust proposals (written with the ledger entry of each step; kept as history).
     CREATE TABLE trust_proposals (
        id          TEXT PRIMARY KEY,
        peer_id     TEXT NOT NULL,
        direction   TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
        status      TEXT NOT NULL,
        awaiting    TEXT,
        round       INTEGER NOT NULL,
        trust_level INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        thread      TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX trust_proposals_by_created ON trust_proposals(created_ms, id);
     -- Trust agreements (written with their fed_trust_established / fed_trust_revoked entry).
     CREATE TABLE trust_agreements (
        id             TEXT PRIMARY KEY,
        proposal_id    TEXT NOT NULL,
        peer_id        TEXT NOT NULL,
        trust_level    INTEGER NOT NULL,
        terms          TEXT NOT NULL,
        document       TEXT NOT NULL,
        hash           TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('active', 'revoking', 'revoked')),
        established_ms INTEGER NOT NULL,
        revocation     TEXT,
        effective_ms   INTEGER
     ) WITHOUT ROWID;
     CREATE INDEX trust_agreements_by_established ON trust_agreements(established_ms, id);
     CREATE INDEX trust_agreements_by_peer ON trust_agreements(peer_id, established_ms);
     CREATE INDEX trust_agreements_by_proposal ON trust_agreements(proposal_id);";

/// A federation peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRow {
    /// Local identifier (a UUID).
    pub id: String,
    /// The peer's node id, from its card; unique among peers.
    pub node_id: String,
    /// Human label.
    pub name: String,
    /// The peer's public base URL.
    pub base_url: String,
    /// Where its registry card is fetched.
    pub card_url: String,
    /// Where it receives federation callbacks.
    pub callback_url: String,
    /// Peer status (the federation crate names the states).
    pub status: String,
    /// Why it is in that status, when that needs saying.
    pub status_reason: Option<String>,
    /// The last verified card document.
    pub card: Option<Value>,
    /// The JWKS the card verified against.
    pub jwks: Option<Value>,
    /// The card's signing key id.
    pub kid: Option<String>,
    /// The peer's SPIFFE id (from its client certificate).
    pub spiffe_id: Option<String>,
    /// Fingerprint of the CA that issued its client certificate.
    pub ca_fingerprint: Option<String>,
    /// The ledger verifier key published in its card.
    pub verifier_key: Option<String>,
    /// The admission license it was admitted with.
    pub license_id: Option<String>,
    /// Created, Unix milliseconds.
    pub created_ms: u64,
    /// Last changed, Unix milliseconds.
    pub updated_ms: u64,
    /// When its card last verified, Unix milliseconds.
    pub last_verified_ms: Option<u64>,
    /// When it was last synced, Unix milliseconds.
    pub last_synced_ms: Option<u64>,
    /// How far away it is: 1 for a first-hand peer (one this node was introduced to or
    /// admitted), `n > 1` for a registry discovered through `n - 1` peers in between. Never
    /// 0 ([`Writer::upsert_peer`] refuses it).
    pub hops: u32,
    /// For a discovered registry (`hops > 1`), the id of the peer it was learned from.
    pub via_peer: Option<String>,
    /// Change sequence of the row's card, for `GET /v1/federation/registry-cards?since=`
    /// ([`Writer::cards_since`]). Read-only: assigned by [`Writer::upsert_peer`], ignored
    /// when written.
    pub card_seq: u64,
    /// The ETag of the last direct fetch of its card (sent as `If-None-Match`).
    pub card_etag: Option<String>,
}

/// One failed interaction with a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFailure {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// Stable machine-readable code (cut to [`PEER_FAILURE_CODE_BYTES_MAX`] bytes).
    pub code: String,
    /// Human-readable detail (cut to [`PEER_FAILURE_DETAIL_BYTES_MAX`] bytes).
    pub detail: String,
}

/// An admission license, stored only as the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    /// Public identifier.
    pub id: String,
    /// SHA-256 of the secret; unique.
    pub hash: [u8; 32],
    /// Human label.
    pub name: String,
    /// Tier name.
    pub tier: String,
    /// Most records the licensee may hold here.
    pub max_records: u64,
    /// Most events per minute the licensee may send.
    pub max_events_per_minute: u32,
    /// License status.
    pub status: String,
    /// The peer admitted with it, once used.
    pub peer_id: Option<String>,
    /// Created, Unix milliseconds.
    pub created_ms: u64,
    /// Last changed, Unix milliseconds.
    pub updated_ms: u64,
}

/// A trust proposal thread (offer, counter-offers, outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalRow {
    /// The proposal id.
    pub id: String,
    /// The peer it is with.
    pub peer_id: String,
    /// `"outgoing"` (we offered) or `"incoming"` ([`PROPOSAL_DIRECTIONS`]).
    pub direction: String,
    /// Proposal status (the federation crate names the states).
    pub status: String,
    /// The node id whose move it is, while open.
    pub awaiting: Option<String>,
    /// Negotiation round.
    pub round: u32,
    /// The trust level on the table.
    pub trust_level: u8,
    /// When the proposal lapses, Unix seconds.
    pub expires_at: u64,
    /// The signed documents exchanged so far.
    pub thread: Value,
    /// Created, Unix milliseconds.
    pub created_ms: u64,
    /// Last changed, Unix milliseconds.
    pub updated_ms: u64,
}

/// A trust agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementRow {
    /// Agreement id.
    pub id: String,
    /// The proposal it concluded.
    pub proposal_id: String,
    /// The peer it is with.
    pub peer_id: String,
    /// Agreed trust level.
    pub trust_level: u8,
    /// Agreed terms.
    pub terms: Value,
    /// The agreement as signed by both parties.
    pub document: Value,
    /// Hash of the agreement document.
    pub hash: String,
    /// `"active"`, `"revoking"` or `"revoked"` ([`AGREEMENT_STATUSES`]).
    pub status: String,
    /// When it was established, Unix milliseconds.
    pub established_ms: u64,
    /// The signed revocation, once revoked.
    pub revocation: Option<Value>,
    /// When a revocation takes effect, Unix milliseconds.
    pub effective_ms: Option<u64>,
}

/// The federation state rows a ledger entry moves, upserted by id in the transaction that
/// commits the entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FedOp {
    /// The proposal as it is after the event.
    pub proposal: Option<ProposalRow>,
    /// The agreement as it is after the event.
    pub agreement: Option<AgreementRow>,
}

impl FedOp {
    /// Checks everything the schema would refuse, so that a bad operation is turned away on
    /// its own before it joins a batch (where it would fail every write in the batch).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming the problem.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |m: String| Err(StoreError::Invalid(m));
        if let Some(p) = &self.proposal {
            if p.id.is_empty() || p.peer_id.is_empty() {
                return invalid("a proposal needs an id and a peer id".into());
            }
            if !PROPOSAL_DIRECTIONS.contains(&p.direction.as_str()) {
                return invalid(format!(
                    "proposal {}: direction {:?} is not one of {PROPOSAL_DIRECTIONS:?}",
                    p.id, p.direction
                ));
            }
            check_depth(&p.thread, "thread of proposal", &p.id)?;
        }
        if let Some(a) = &self.agreement {
            if a.id.is_empty() || a.peer_id.is_empty() || a.proposal_id.is_empty() {
                return invalid("an agreement needs an id, a proposal id and a peer id".into());
            }
            if !AGREEMENT_STATUSES.contains(&a.status.as_str()) {
                return invalid(format!(
                    "agreement {}: status {:?} is not one of {AGREEMENT_STATUSES:?}",
                    a.id, a.status
                ));
            }
            check_depth(&a.terms, "terms of agreement", &a.id)?;
            check_depth(&a.document, "document of agreement", &a.id)?;
            if let Some(r) = &a.revocation {
                check_depth(r, "revocation of agreement", &a.id)?;
            }
        }
        Ok(())
    }
}

/// Whether a JSON value nests deeper than [`STORED_JSON_DEPTH_MAX`].
pub(crate) fn nests_too_deep(v: &Value) -> bool {
    // Recursion is bounded by `left`, not by the value.
    fn too_deep(v: &Value, left: usize) -> bool {
        match v {
            Value::Array(a) => left == 0 || a.iter().any(|c| too_deep(c, left - 1)),
            Value::Object(m) => left == 0 || m.values().any(|c| too_deep(c, left - 1)),
            _ => false,
        }
    }
    too_deep(v, STORED_JSON_DEPTH_MAX)
}

/// Whether JSON text nests arrays and objects deeper than [`STORED_JSON_DEPTH_MAX`]: a byte
/// scan that skips strings (for text stored as is, without being parsed here).
pub(crate) fn text_nests_too_deep(text: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &c in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > STORED_JSON_DEPTH_MAX {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Refuses a JSON value nested deeper than [`STORED_JSON_DEPTH_MAX`].
pub(crate) fn check_depth(v: &Value, what: &str, id: &str) -> Result<(), StoreError> {
    if nests_too_deep(v) {
        return Err(StoreError::Invalid(format!(
            "{what} {id} nests deeper than {STORED_JSON_DEPTH_MAX} levels"
        )));
    }
    Ok(())
}

/// Upserts the rows of `op` (validated first) through `conn`, inside the caller's transaction.
pub(crate) fn apply(conn: &Connection, op: &FedOp) -> Result<(), StoreError> {
    op.validate()?;
    if let Some(p) = &op.proposal {
        conn.prepare_cached(
            "INSERT INTO trust_proposals(id, peer_id, direction, status, awaiting, round,
               trust_level, expires_at, thread, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(id) DO UPDATE SET peer_id = excluded.peer_id,
               direction = excluded.direction, status = excluded.status,
               awaiting = excluded.awaiting, round = excluded.round,
               trust_level = excluded.trust_level, expires_at = excluded.expires_at,
               thread = excluded.thread, created_ms = excluded.created_ms,
               updated_ms = excluded.updated_ms",
        )?
        .execute(params![
            p.id,
            p.peer_id,
            p.direction,
            p.status,
            p.awaiting,
            p.round,
            p.trust_level,
            i64_of(p.expires_at),
            p.thread.to_string(),
            i64_of(p.created_ms),
            i64_of(p.updated_ms)
        ])?;
    }
    if let Some(a) = &op.agreement {
        conn.prepare_cached(
            "INSERT INTO trust_agreements(id, proposal_id, peer_id, trust_level, terms, document,
               hash, status, established_ms, revocation, effective_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(id) DO UPDATE SET proposal_id = excluded.proposal_id,
               peer_id = excluded.peer_id, trust_level = excluded.trust_level,
               terms = excluded.terms, document = excluded.document, hash = excluded.hash,
               status = excluded.status, established_ms = excluded.established_ms,
               revocation = excluded.revocation, effective_ms = excluded.effective_ms",
        )?
        .execute(params![
            a.id,
            a.proposal_id,
            a.peer_id,
            a.trust_level,
            a.terms.to_string(),
            a.document.to_string(),
            a.hash,
            a.status,
            i64_of(a.established_ms),
            a.revocation.as_ref().map(Value::to_string),
            a.effective_ms.map(i64_of)
        ])?;
    }
    Ok(())
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `meta` key of the highest card sequence ever assigned. `MAX(card_seq)` over the
/// peers alone would go back down when the peer holding it is deleted, and a reader that had
/// seen that sequence would then miss the next change given the same number.
const CARD_SEQ_META_KEY: &str = "peers_card_seq";

/// The next card sequence: above every one ever assigned (see [`CARD_SEQ_META_KEY`]).
fn next_card_seq(conn: &Connection) -> Result<i64, StoreError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [CARD_SEQ_META_KEY],
            |r| r.get(0),
        )
        .optional()?;
    let issued = match stored {
        None => 0,
        Some(v) => v.parse::<i64>().map_err(|_| {
            StoreError::Corrupt(format!("meta {CARD_SEQ_META_KEY} is not a number: {v:?}"))
        })?,
    };
    let max: i64 = conn.query_row("SELECT COALESCE(MAX(card_seq), 0) FROM peers", [], |r| {
        r.get(0)
    })?;
    let next = issued.max(max).saturating_add(1);
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![CARD_SEQ_META_KEY, next.to_string()],
    )?;
    Ok(next)
}

/// Whether a stored card (text) is the card `card`. Compared as JSON values, not text:
/// objects keep their member order (serde_json's `preserve_order`), so the same card fetched
/// again with members in another order is different text but not a different card. A stored
/// card that does not parse counts as different (the upsert then replaces it).
fn same_card(stored: Option<&str>, card: Option<&Value>) -> bool {
    match (stored, card) {
        (None, None) => true,
        (Some(text), Some(card)) => {
            serde_json::from_str::<Value>(text).is_ok_and(|stored| stored == *card)
        }
        _ => false,
    }
}

impl Writer {
    /// Inserts a peer, or replaces every column of the peer with the same `id`. Its failures
    /// are kept.
    ///
    /// `card_seq` is not written from `p`: a new row gets the next card sequence, and so does
    /// an existing row whose `card`, `hops` or `status` changes (what a registry-cards reader
    /// must see again); otherwise the stored sequence stays. Sequences only grow, even across
    /// deletions.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another peer (another `id`) has the same `node_id`,
    /// [`StoreError::Invalid`] for a card or JWKS nested deeper than
    /// [`STORED_JSON_DEPTH_MAX`] or for `hops` 0 (nothing is written then); SQLite errors.
    pub fn upsert_peer(&mut self, p: &PeerRow) -> Result<(), StoreError> {
        for (what, v) in [("card of peer", &p.card), ("jwks of peer", &p.jwks)] {
            if let Some(v) = v {
                check_depth(v, what, &p.id)?;
            }
        }
        if p.hops == 0 {
            return Err(StoreError::Invalid(format!(
                "peer {}: hops is 0 (1 is a first-hand peer)",
                p.id
            )));
        }
        let card = p.card.as_ref().map(Value::to_string);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holder: Option<String> = tx
            .query_row(
                "SELECT id FROM peers WHERE node_id = ?1 AND id <> ?2",
                params![p.node_id, p.id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(holder) = holder {
            return Err(StoreError::Conflict {
                what: "peer node_id",
                value: p.node_id.clone(),
                holder,
            });
        }
        let stored: Option<(Option<String>, i64, String, i64)> = tx
            .query_row(
                "SELECT card, hops, status, card_seq FROM peers WHERE id = ?1",
                [&p.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let card_seq = match stored {
            Some((stored_card, hops, status, seq))
                if hops == i64::from(p.hops)
                    && status == p.status
                    && same_card(stored_card.as_deref(), p.card.as_ref()) =>
            {
                seq
            }
            _ => next_card_seq(&tx)?,
        };
        tx.execute(
            "INSERT INTO peers(id, node_id, name, base_url, card_url, callback_url, status,
               status_reason, card, jwks, kid, spiffe_id, ca_fingerprint, verifier_key,
               license_id, created_ms, updated_ms, last_verified_ms, last_synced_ms, hops,
               via_peer, card_seq, card_etag)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
               ?17, ?18, ?19, ?20, ?21, ?22, ?23)
             ON CONFLICT(id) DO UPDATE SET node_id = excluded.node_id, name = excluded.name,
               base_url = excluded.base_url, card_url = excluded.card_url,
               callback_url = excluded.callback_url, status = excluded.status,
               status_reason = excluded.status_reason, card = excluded.card,
               jwks = excluded.jwks, kid = excluded.kid, spiffe_id = excluded.spiffe_id,
               ca_fingerprint = excluded.ca_fingerprint, verifier_key = excluded.verifier_key,
               license_id = excluded.license_id, created_ms = excluded.created_ms,
               updated_ms = excluded.updated_ms, last_verified_ms = excluded.last_verified_ms,
               last_synced_ms = excluded.last_synced_ms, hops = excluded.hops,
               via_peer = excluded.via_peer, card_seq = excluded.card_seq,
               card_etag = excluded.card_etag",
            params![
                p.id,
                p.node_id,
                p.name,
                p.base_url,
                p.card_url,
                p.callback_url,
                p.status,
                p.status_reason,
                card,
                p.jwks.as_ref().map(Value::to_string),
                p.kid,
                p.spiffe_id,
                p.ca_fingerprint,
                p.verifier_key,
                p.license_id,
                i64_of(p.created_ms),
                i64_of(p.updated_ms),
                p.last_verified_ms.map(i64_of),
                p.last_synced_ms.map(i64_of),
                p.hops,
                p.via_peer,
                card_seq,
                p.card_etag
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a peer, its failures and everything synced from it: its sync state and
    /// checkpoints, its drift baseline, and its cached records (which leave the discovery
    /// index), in one transaction. Its proposals, agreements and discrepancies stay
    /// (history). Returns false when there was no such peer.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn delete_peer(&mut self, id: &str) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM peer_failures WHERE peer_id = ?1", [id])?;
        crate::cache::purge_peer(&tx, id)?;
        tx.execute("DELETE FROM peer_baselines WHERE peer_id = ?1", [id])?;
        let n = tx.execute("DELETE FROM peers WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Records a failure of a peer, keeping only its newest [`PEER_FAILURES_KEPT`]. `code`
    /// and `detail` are cut to [`PEER_FAILURE_CODE_BYTES_MAX`] and
    /// [`PEER_FAILURE_DETAIL_BYTES_MAX`] bytes. Returns false (and stores nothing) when there
    /// is no such peer.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_peer_failure(&mut self, peer_id: &str, f: &PeerFailure) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row("SELECT 1 FROM peers WHERE id = ?1", [peer_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Ok(false);
        }
        tx.prepare_cached(
            "INSERT INTO peer_failures(peer_id, at_ms, code, detail) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            peer_id,
            i64_of(f.at_ms),
            cut(&f.code, PEER_FAILURE_CODE_BYTES_MAX),
            cut(&f.detail, PEER_FAILURE_DETAIL_BYTES_MAX)
        ])?;
        tx.prepare_cached(
            "DELETE FROM peer_failures WHERE peer_id = ?1 AND id <= (
               SELECT id FROM peer_failures WHERE peer_id = ?1 ORDER BY id DESC
               LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![peer_id, PEER_FAILURES_KEPT as i64])?;
        tx.commit()?;
        Ok(true)
    }

    /// Stores a new license.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a license with the same `id` or `hash` exists (nothing
    /// is written then); SQLite errors.
    pub fn insert_license(&mut self, l: &LicenseRow) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        license_conflict(&tx, l, true)?;
        tx.execute(
            "INSERT INTO licenses(id, hash, name, tier, max_records, max_events_per_minute,
               status, peer_id, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                l.id,
                &l.hash[..],
                l.name,
                l.tier,
                i64_of(l.max_records),
                l.max_events_per_minute,
                l.status,
                l.peer_id,
                i64_of(l.created_ms),
                i64_of(l.updated_ms)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces every column of the license with the same `id`. Returns false (and writes
    /// nothing) when there is no such license.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another license has the same `hash`; SQLite errors.
    pub fn update_license(&mut self, l: &LicenseRow) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        license_conflict(&tx, l, false)?;
        let n = tx.execute(
            "UPDATE licenses SET hash = ?2, name = ?3, tier = ?4, max_records = ?5,
               max_events_per_minute = ?6, status = ?7, peer_id = ?8, created_ms = ?9,
               updated_ms = ?10
             WHERE id = ?1",
            params![
                l.id,
                &l.hash[..],
                l.name,
                l.tier,
                i64_of(l.max_records),
                l.max_events_per_minute,
                l.status,
                l.peer_id,
                i64_of(l.created_ms),
                i64_of(l.updated_ms)
            ],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Upserts the proposal and agreement rows of `op` without a ledger entry, for state
    /// changes that are not ledger events (a proposal expiring, a revocation taking effect).
    /// Ledger events go through the sequencer ([`crate::Effect::Federation`]).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] (see [`FedOp::validate`]); SQLite errors. Nothing is written
    /// on error.
    pub fn apply_fed_op(&mut self, op: &FedOp) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        apply(&tx, op)?;
        tx.commit()?;
        Ok(())
    }
}

/// Refuses a license whose hash (or, for inserts, id) another license already has.
fn license_conflict(conn: &Connection, l: &LicenseRow, insert: bool) -> Result<(), StoreError> {
    if insert {
        let taken = conn
            .query_row("SELECT 1 FROM licenses WHERE id = ?1", [&l.id], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Err(StoreError::Conflict {
                what: "license id",
                value: l.id.clone(),
                holder: l.id.clone(),
            });
        }
    }
    let holder: Option<String> = conn
        .query_row(
            "SELECT id FROM licenses WHERE hash = ?1 AND id <> ?2",
            params![&l.hash[..], l.id],
            |r| r.get(0),
        )
        .optional()?;
    match holder {
        Some(holder) => Err(StoreError::Conflict {
            what: "license hash",
            value: hex_of(&l.hash),
            holder,
        }),
        None => Ok(()),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

// --- reads, shared by Writer and Reader -------------------------------------------------

const PEER_COLUMNS: &str = "id, node_id, name, base_url, card_url, callback_url, status,
    status_reason, card, jwks, kid, spiffe_id, ca_fingerprint, verifier_key, license_id,
    created_ms, updated_ms, last_verified_ms, last_synced_ms, hops, via_peer, card_seq,
    card_etag";

const LICENSE_COLUMNS: &str = "id, hash, name, tier, max_records, max_events_per_minute, status,
    peer_id, created_ms, updated_ms";

const PROPOSAL_COLUMNS: &str = "id, peer_id, direction, status, awaiting, round, trust_level,
    expires_at, thread, created_ms, updated_ms";

const AGREEMENT_COLUMNS: &str = "id, proposal_id, peer_id, trust_level, terms, document, hash,
    status, established_ms, revocation, effective_ms";

fn json_of(text: &str, what: &str, id: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} of {id}: {e}")))
}

fn json_opt(text: Option<String>, what: &str, id: &str) -> Result<Option<Value>, StoreError> {
    text.map(|t| json_of(&t, what, id)).transpose()
}

fn int_of<T: TryFrom<i64>>(v: i64, what: &str, id: &str) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} of {id} is out of range: {v}")))
}

fn peer_of(r: &Row<'_>) -> Result<PeerRow, StoreError> {
    let id: String = r.get(0)?;
    Ok(PeerRow {
        node_id: r.get(1)?,
        name: r.get(2)?,
        base_url: r.get(3)?,
        card_url: r.get(4)?,
        callback_url: r.get(5)?,
        status: r.get(6)?,
        status_reason: r.get(7)?,
        card: json_opt(r.get(8)?, "card", &id)?,
        jwks: json_opt(r.get(9)?, "jwks", &id)?,
        kid: r.get(10)?,
        spiffe_id: r.get(11)?,
        ca_fingerprint: r.get(12)?,
        verifier_key: r.get(13)?,
        license_id: r.get(14)?,
        created_ms: u64_of(r.get(15)?),
        updated_ms: u64_of(r.get(16)?),
        last_verified_ms: r.get::<_, Option<i64>>(17)?.map(u64_of),
        last_synced_ms: r.get::<_, Option<i64>>(18)?.map(u64_of),
        hops: int_of(r.get(19)?, "hops", &id)?,
        via_peer: r.get(20)?,
        card_seq: u64_of(r.get(21)?),
        card_etag: r.get(22)?,
        id,
    })
}

fn license_of(r: &Row<'_>) -> Result<LicenseRow, StoreError> {
    let id: String = r.get(0)?;
    Ok(LicenseRow {
        hash: hash_of(r.get(1)?)?,
        name: r.get(2)?,
        tier: r.get(3)?,
        max_records: u64_of(r.get(4)?),
        max_events_per_minute: int_of(r.get(5)?, "max_events_per_minute", &id)?,
        status: r.get(6)?,
        peer_id: r.get(7)?,
        created_ms: u64_of(r.get(8)?),
        updated_ms: u64_of(r.get(9)?),
        id,
    })
}

fn proposal_of(r: &Row<'_>) -> Result<ProposalRow, StoreError> {
    let id: String = r.get(0)?;
    Ok(ProposalRow {
        peer_id: r.get(1)?,
        direction: r.get(2)?,
        status: r.get(3)?,
        awaiting: r.get(4)?,
        round: int_of(r.get(5)?, "round", &id)?,
        trust_level: int_of(r.get(6)?, "trust_level", &id)?,
        expires_at: u64_of(r.get(7)?),
        thread: json_of(&r.get::<_, String>(8)?, "thread", &id)?,
        created_ms: u64_of(r.get(9)?),
        updated_ms: u64_of(r.get(10)?),
        id,
    })
}

fn agreement_of(r: &Row<'_>) -> Result<AgreementRow, StoreError> {
    let id: String = r.get(0)?;
    Ok(AgreementRow {
        proposal_id: r.get(1)?,
        peer_id: r.get(2)?,
        trust_level: int_of(r.get(3)?, "trust_level", &id)?,
        terms: json_of(&r.get::<_, String>(4)?, "terms", &id)?,
        document: json_of(&r.get::<_, String>(5)?, "document", &id)?,
        hash: r.get(6)?,
        status: r.get(7)?,
        established_ms: u64_of(r.get(8)?),
        revocation: json_opt(r.get(9)?, "revocation", &id)?,
        effective_ms: r.get::<_, Option<i64>>(10)?.map(u64_of),
        id,
    })
}

/// Every row `sql` selects with `args`, converted by `of`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    of: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(args, |r| Ok(of(r)))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().collect()
}

/// The first row `sql` selects with `args`, converted by `of`.
fn one<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    of: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_row(args, |r| Ok(of(r))).optional()?.transpose()
}

fn count(conn: &Connection, table: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(u64_of(n))
}

fn peers(conn: &Connection) -> Result<Vec<PeerRow>, StoreError> {
    rows(
        conn,
        &format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY created_ms, id"),
        [],
        peer_of,
    )
}

fn peer(conn: &Connection, id: &str) -> Result<Option<PeerRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {PEER_COLUMNS} FROM peers WHERE id = ?1"),
        [id],
        peer_of,
    )
}

fn peer_by_node_id(conn: &Connection, node_id: &str) -> Result<Option<PeerRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {PEER_COLUMNS} FROM peers WHERE node_id = ?1"),
        [node_id],
        peer_of,
    )
}

fn cards_since(conn: &Connection, since: u64, limit: u32) -> Result<Vec<PeerRow>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {PEER_COLUMNS} FROM peers WHERE card IS NOT NULL AND card_seq > ?1
             ORDER BY card_seq LIMIT ?2"
        ),
        params![i64_of(since), limit],
        peer_of,
    )
}

fn peer_failures(
    conn: &Connection,
    peer_id: &str,
    limit: usize,
) -> Result<Vec<PeerFailure>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, code, detail FROM peer_failures WHERE peer_id = ?1
         ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![peer_id, limit], |r| {
            Ok(PeerFailure {
                at_ms: u64_of(r.get(0)?),
                code: r.get(1)?,
                detail: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn licenses(conn: &Connection) -> Result<Vec<LicenseRow>, StoreError> {
    rows(
        conn,
        &format!("SELECT {LICENSE_COLUMNS} FROM licenses ORDER BY created_ms, id"),
        [],
        license_of,
    )
}

fn license(conn: &Connection, id: &str) -> Result<Option<LicenseRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = ?1"),
        [id],
        license_of,
    )
}

fn license_by_hash(conn: &Connection, hash: &[u8; 32]) -> Result<Option<LicenseRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE hash = ?1"),
        [&hash[..]],
        license_of,
    )
}

fn proposals(conn: &Connection) -> Result<Vec<ProposalRow>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {PROPOSAL_COLUMNS} FROM trust_proposals ORDER BY created_ms DESC, id DESC"
        ),
        [],
        proposal_of,
    )
}

fn proposal(conn: &Connection, id: &str) -> Result<Option<ProposalRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {PROPOSAL_COLUMNS} FROM trust_proposals WHERE id = ?1"),
        [id],
        proposal_of,
    )
}

fn agreements(conn: &Connection) -> Result<Vec<AgreementRow>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {AGREEMENT_COLUMNS} FROM trust_agreements
             ORDER BY established_ms DESC, id DESC"
        ),
        [],
        agreement_of,
    )
}

fn agreement(conn: &Connection, id: &str) -> Result<Option<AgreementRow>, StoreError> {
    one(
        conn,
        &format!("SELECT {AGREEMENT_COLUMNS} FROM trust_agreements WHERE id = ?1"),
        [id],
        agreement_of,
    )
}

fn agreements_for_peer(conn: &Connection, peer_id: &str) -> Result<Vec<AgreementRow>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {AGREEMENT_COLUMNS} FROM trust_agreements WHERE peer_id = ?1
             ORDER BY established_ms DESC, id DESC"
        ),
        [peer_id],
        agreement_of,
    )
}

/// The same read methods on [`Writer`] and [`Reader`].
macro_rules! federation_reads {
    ($t:ty) => {
        impl $t {
            /// Every peer, oldest first (by `created_ms`, then `id`).
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn peers(&self) -> Result<Vec<PeerRow>, StoreError> {
                peers(&self.conn)
            }

            /// A peer by id.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn peer(&self, id: &str) -> Result<Option<PeerRow>, StoreError> {
                peer(&self.conn, id)
            }

            /// A peer by its node id.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn peer_by_node_id(&self, node_id: &str) -> Result<Option<PeerRow>, StoreError> {
                peer_by_node_id(&self.conn, node_id)
            }

            /// Peers with a card whose card sequence is above `since`, in sequence order, at
            /// most `limit`: the registry cards that changed since a reader last saw
            /// sequence `since` (`GET /v1/federation/registry-cards?since=`). A reader pages
            /// by passing the last row's `card_seq` as the next `since`.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn cards_since(&self, since: u64, limit: u32) -> Result<Vec<PeerRow>, StoreError> {
                cards_since(&self.conn, since, limit)
            }

            /// Number of peers (the node bounds it before adding one).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn peer_count(&self) -> Result<u64, StoreError> {
                count(&self.conn, "peers")
            }

            /// A peer's newest failures, newest first, at most `limit` (at most
            /// [`PEER_FAILURES_KEPT`] are kept).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn peer_failures(
                &self,
                peer_id: &str,
                limit: usize,
            ) -> Result<Vec<PeerFailure>, StoreError> {
                peer_failures(&self.conn, peer_id, limit)
            }

            /// Every license, oldest first (by `created_ms`, then `id`).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn licenses(&self) -> Result<Vec<LicenseRow>, StoreError> {
                licenses(&self.conn)
            }

            /// A license by id.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn license(&self, id: &str) -> Result<Option<LicenseRow>, StoreError> {
                license(&self.conn, id)
            }

            /// A license by the SHA-256 of its secret.
            ///
            /// # Errors
            /// SQLite errors.
            pub fn license_by_hash(
                &self,
                hash: &[u8; 32],
            ) -> Result<Option<LicenseRow>, StoreError> {
                license_by_hash(&self.conn, hash)
            }

            /// Number of licenses (the node bounds it before adding one).
            ///
            /// # Errors
            /// SQLite errors.
            pub fn license_count(&self) -> Result<u64, StoreError> {
                count(&self.conn, "licenses")
            }

            /// Every trust proposal, newest first (by `created_ms`, then `id`, descending).
            ///
            /// # Errors
            /// SQLite errors, or a stored thread that is not JSON.
            pub fn proposals(&self) -> Result<Vec<ProposalRow>, StoreError> {
                proposals(&self.conn)
            }

            /// A trust proposal by id.
            ///
            /// # Errors
            /// SQLite errors, or a stored thread that is not JSON.
            pub fn proposal(&self, id: &str) -> Result<Option<ProposalRow>, StoreError> {
                proposal(&self.conn, id)
            }

            /// Every trust agreement, newest first (by `established_ms`, then `id`,
            /// descending).
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn agreements(&self) -> Result<Vec<AgreementRow>, StoreError> {
                agreements(&self.conn)
            }

            /// A trust agreement by id.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn agreement(&self, id: &str) -> Result<Option<AgreementRow>, StoreError> {
                agreement(&self.conn, id)
            }

            /// A peer's trust agreements (revoked ones included), newest first.
            ///
            /// # Errors
            /// SQLite errors, or a stored document that is not JSON.
            pub fn agreements_for_peer(
                &self,
                peer_id: &str,
            ) -> Result<Vec<AgreementRow>, StoreError> {
                agreements_for_peer(&self.conn, peer_id)
            }
        }
    };
}

federation_reads!(Writer);
federation_reads!(Reader);

#[cfg(test)]
#[path = "federation_tests.rs"]
mod tests;
