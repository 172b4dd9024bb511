//! Collections, record keys and the ledger entry every mutation becomes.
//!
//! A mutation of a record is exactly one ledger entry: the RFC 8785 bytes of a
//! [`LedgerEntry::Record`], whose fields are documented in PROTOCOL.md ("Ledger entries").
//! Calendar submissions ([`LedgerEntry::Anchor`]) and federation trust events
//! ([`LedgerEntry::FedTrustProposal`], [`LedgerEntry::FedTrustEstablished`],
//! [`LedgerEntry::FedTrustRevoked`]) are further kinds of entry in the same ledger.

use crate::jcs::{JsonError, check_json};
use crate::leaf::{LeafEntry, RecordLeaf};
use crate::limits::{COLLECTION_NAME_BYTES_MAX, ENTRY_BYTES_MAX, RECORD_KEY_BYTES_MAX};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Collections every node has.
pub const BUILTIN_COLLECTIONS: &[&str] = &["agent-card", "manifest", "receipt"];

/// Why a record, key or collection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A collection name that is not `[a-z][a-z0-9-]*` of at most 64 bytes.
    #[error("invalid collection name {0:?}: use 1-64 of a-z, 0-9 and '-', starting with a letter")]
    InvalidCollection(String),
    /// A malformed record key.
    #[error("invalid record key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given (truncated for display).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record body (or a federation entry's document) that is not a JSON object.
    #[error("record body must be a JSON object")]
    BodyNotObject,
    /// A body that cannot be canonicalized.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A body that does not have the shape its collection requires.
    #[error("{path}: {reason}")]
    Shape {
        /// JSON pointer to the offending member.
        path: String,
        /// What was expected there.
        reason: String,
    },
    /// The canonical entry is larger than [`ENTRY_BYTES_MAX`].
    #[error("ledger entry is {size} bytes; the limit is {max}")]
    EntryTooLarge {
        /// Canonical size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes that are not a canonical ledger entry.
    #[error("not a canonical ledger entry: {0}")]
    NotCanonical(String),
}

impl RecordError {
    /// The stable machine-readable code for problem+json answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::InvalidCollection(_) => "invalid_collection",
            RecordError::InvalidKey { .. } => "invalid_key",
            RecordError::BodyNotObject => "body_not_object",
            RecordError::Json(e) => e.code(),
            RecordError::Shape { .. } => "schema_violation",
            RecordError::EntryTooLarge { .. } => "entry_too_large",
            RecordError::NotCanonical(_) => "entry_not_canonical",
        }
    }
}

/// A collection name: `[a-z][a-z0-9-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CollectionName(String);

impl CollectionName {
    /// Validates a collection name.
    ///
    /// # Errors
    /// [`RecordError::InvalidCollection`].
    pub fn parse(name: &str) -> Result<Self, RecordError> {
        let ok = !name.is_empty()
            && name.len() <= COLLECTION_NAME_BYTES_MAX
            && name.as_bytes()[0].is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(RecordError::InvalidCollection(truncate(name)))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of [`BUILTIN_COLLECTIONS`].
    #[must_use]
    pub fn is_builtin(&self) -> bool {
        BUILTIN_COLLECTIONS.contains(&self.0.as_str())
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CollectionName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A record key: 1-256 bytes of `A-Z a-z 0-9 . _ ~ : @ + = -`, not `.` or `..`.
///
/// The alphabet is URL-path safe, so a key never needs escaping in
/// `/v1/records/{collection}/{key}`. Keys in the `manifest` collection must additionally be
/// content fingerprints (see [`RecordKey::parse_for`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RecordKey(String);

impl RecordKey {
    /// Validates a key in any collection.
    ///
    /// # Errors
    /// [`RecordError::InvalidKey`].
    pub fn parse(key: &str) -> Result<Self, RecordError> {
        let bad = |reason| {
            Err(RecordError::InvalidKey {
                key: truncate(key),
                reason,
            })
        };
        if key.is_empty() {
            return bad("empty");
        }
        if key.len() > RECORD_KEY_BYTES_MAX {
            return bad("longer than 256 bytes");
        }
        if key == "." || key == ".." {
            return bad("'.' and '..' are reserved");
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b".-_~:@+=".contains(&b);
        if !key.bytes().all(allowed) {
            return bad("allowed characters are A-Z a-z 0-9 . _ ~ : @ + = -");
        }
        Ok(Self(key.to_owned()))
    }

    /// Validates a key for `collection`: `manifest` keys must be fingerprints
    /// `sha256:<64 hex>`, `sha384:<96 hex>` or `sha512:<128 hex>`, lowercase.
    ///
    /// # Errors
    /// [`RecordError::InvalidKey`].
    pub fn parse_for(collection: &CollectionName, key: &str) -> Result<Self, RecordError> {
        let parsed = Self::parse(key)?;
        if collection.as_str() == "manifest" && !is_fingerprint(key) {
            return Err(RecordError::InvalidKey {
                key: truncate(key),
                reason: "manifest keys are fingerprints: sha256:<64 lowercase hex> (or sha384, sha512)",
            });
        }
        Ok(parsed)
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RecordKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn is_fingerprint(key: &str) -> bool {
    let Some((alg, digest)) = key.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    digest.len() == len
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// What a record mutation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Create or replace the record.
    Put,
    /// Write a tombstone.
    Delete,
}

impl Operation {
    /// `"put"` or `"delete"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::Delete => "delete",
        }
    }
}

/// The kinds of ledger entry. Later protocol events (trust agreements, witness receipts)
/// become further kinds; the `kind` member keeps the leaf bytes self-describing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A record mutation.
    Record,
    /// A digest submitted to the node's timestamp calendar.
    Anchor,
    /// A signed federation trust offer, counter-offer or rejection.
    FedTrustProposal,
    /// A federation trust agreement signed by both parties.
    FedTrustEstablished,
    /// A signed revocation of a federation trust agreement.
    FedTrustRevoked,
    /// A witness cosignature given to a peer or received from one.
    FedWitnessEvent,
    /// A peer's verified checkpoint anchored in this ledger.
    FedCrossAnchor,
    /// A discrepancy found in a peer's log (a fork, with its evidence).
    FedDiscrepancy,
}

impl EntryKind {
    /// The `kind` member of the entry: `"record"`, `"anchor"`, `"fed_trust_proposal"`, ...
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Record => "record",
            EntryKind::Anchor => "anchor",
            EntryKind::FedTrustProposal => "fed_trust_proposal",
            EntryKind::FedTrustEstablished => "fed_trust_established",
            EntryKind::FedTrustRevoked => "fed_trust_revoked",
            EntryKind::FedWitnessEvent => "fed_witness_event",
            EntryKind::FedCrossAnchor => "fed_cross_anchor",
            EntryKind::FedDiscrepancy => "fed_discrepancy",
        }
    }
}

/// One ledger entry. Its leaf bytes are the JCS form of this object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum LedgerEntry {
    /// A record mutation: `{"kind":"record","collection","key","version","op","body"?,"time_ms"}`.
    Record {
        /// The record's collection.
        collection: CollectionName,
        /// The record's key.
        key: RecordKey,
        /// The record's version after this mutation: 1 for the first write, +1 per mutation.
        version: u64,
        /// Put or delete.
        op: Operation,
        /// The new body, for puts; absent for tombstones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// When the sequencer accepted the mutation, Unix milliseconds.
        time_ms: u64,
    },
    /// A digest submitted to the node's OpenTimestamps calendar (`POST /digest`):
    /// `{"digest":"<lowercase hex>","kind":"anchor"}`. No time member: the same digest always
    /// gives the same leaf, which is what lets an OpenTimestamps path reach the leaf from the
    /// digest with fixed prepend/append operations.
    Anchor {
        /// The submitted digest (1-64 bytes), lowercase hex.
        digest: String,
    },
    /// A federation trust proposal (an offer, counter-offer or rejection), exactly as signed
    /// by its author: `{"document":{...},"kind":"fed_trust_proposal","time_ms"}`.
    FedTrustProposal {
        /// The signed document, a JSON object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
    /// A federation trust agreement signed by both parties:
    /// `{"document":{...},"kind":"fed_trust_established","time_ms"}`.
    FedTrustEstablished {
        /// The agreement, a JSON object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
    /// A signed revocation of a federation trust agreement:
    /// `{"document":{...},"kind":"fed_trust_revoked","time_ms"}`.
    FedTrustRevoked {
        /// The signed revocation, a JSON object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
    /// A witness cosignature this node gave to a peer's checkpoint, or received from a
    /// witness on its own: `{"document":{...},"kind":"fed_witness_event","time_ms"}`.
    FedWitnessEvent {
        /// The event (witnessed origin, size, root, method, result, cosignature), a JSON
        /// object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
    /// A peer's latest verified checkpoint, anchored in this ledger:
    /// `{"document":{...},"kind":"fed_cross_anchor","time_ms"}`.
    FedCrossAnchor {
        /// The anchored peer, its checkpoint note verbatim, size and root, a JSON object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
    /// A discrepancy found in a peer's log, with its evidence:
    /// `{"document":{...},"kind":"fed_discrepancy","time_ms"}`.
    FedDiscrepancy {
        /// The report (peer, type, severity, evidence), a JSON object.
        document: Value,
        /// When the sequencer accepted the entry, Unix milliseconds.
        time_ms: u64,
    },
}

impl LedgerEntry {
    /// Which kind of entry this is (its `kind` member).
    #[must_use]
    pub fn kind(&self) -> EntryKind {
        match self {
            LedgerEntry::Record { .. } => EntryKind::Record,
            LedgerEntry::Anchor { .. } => EntryKind::Anchor,
            LedgerEntry::FedTrustProposal { .. } => EntryKind::FedTrustProposal,
            LedgerEntry::FedTrustEstablished { .. } => EntryKind::FedTrustEstablished,
            LedgerEntry::FedTrustRevoked { .. } => EntryKind::FedTrustRevoked,
            LedgerEntry::FedWitnessEvent { .. } => EntryKind::FedWitnessEvent,
            LedgerEntry::FedCrossAnchor { .. } => EntryKind::FedCrossAnchor,
            LedgerEntry::FedDiscrepancy { .. } => EntryKind::FedDiscrepancy,
        }
    }

    /// The RFC 8785 bytes that go into the ledger.
    ///
    /// # Errors
    /// [`RecordError::Json`] for bodies or documents that cannot be canonicalized,
    /// [`RecordError::BodyNotObject`] for a federation document that is not a JSON object,
    /// [`RecordError::EntryTooLarge`] past [`ENTRY_BYTES_MAX`].
    pub fn to_leaf_bytes(&self) -> Result<Vec<u8>, RecordError> {
        match self {
            LedgerEntry::Record {
                body: Some(body), ..
            } => check_json(body)?,
            LedgerEntry::FedTrustProposal { document, .. }
            | LedgerEntry::FedTrustEstablished { document, .. }
            | LedgerEntry::FedTrustRevoked { document, .. }
            | LedgerEntry::FedWitnessEvent { document, .. }
            | LedgerEntry::FedCrossAnchor { document, .. }
            | LedgerEntry::FedDiscrepancy { document, .. } => {
                if !document.is_object() {
                    return Err(RecordError::BodyNotObject);
                }
                check_json(document)?;
            }
            LedgerEntry::Anchor { digest } => {
                let ok = !digest.is_empty()
                    && digest.len() <= 128
                    && digest.len() % 2 == 0
                    && digest
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !ok {
                    return Err(RecordError::NotCanonical(
                        "an anchor digest is 1-64 bytes as lowercase hex".into(),
                    ));
                }
            }
            LedgerEntry::Record { body: None, .. } => {}
        }
        // Serialize the entry straight to JCS (no intermediate Value: this is per write).
        let bytes = serde_json_canonicalizer::to_vec(self)
            .map_err(|e| RecordError::NotCanonical(e.to_string()))?;
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(RecordError::EntryTooLarge {
                size: bytes.len(),
                max: ENTRY_BYTES_MAX,
            });
        }
        Ok(bytes)
    }

    /// The [`LedgerEntry::Record`] a record's JSON form stands for: the inverse of the node's
    /// `record_json` (what `GET /v1/records/{collection}/{key}` and resolves answer), so a
    /// client can rebuild the exact leaf bytes ([`LedgerEntry::to_leaf_bytes`]) and check
    /// them against a receipt.
    ///
    /// Reads `collection` and `key` (checked with [`CollectionName::parse`] and
    /// [`RecordKey::parse`]), `version`, `op` (`"put"` or `"delete"`), `time_ms` (integers
    /// up to 2^53 - 1, the canonical JSON range) and `body` when present (a JSON object;
    /// the node writes no `body` member for a tombstone). Every other member
    /// (`ledger_index`, `leaf_hash`, `federation_metadata`, ...) is ignored: it is not part
    /// of the entry. Nothing here says the entry is in any ledger; only a receipt does.
    ///
    /// # Errors
    /// [`RecordError::Shape`] (code `schema_violation`) with the member's JSON pointer for a
    /// value that is not an object, a missing member or one of the wrong type or an unknown
    /// `op`; [`RecordError::InvalidCollection`], [`RecordError::InvalidKey`];
    /// [`RecordError::Json`] for an integer beyond 2^53 - 1;
    /// [`RecordError::BodyNotObject`].
    pub fn record_from_json(v: &Value) -> Result<LedgerEntry, RecordError> {
        let shape = |path: &str, reason: &str| RecordError::Shape {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let Value::Object(members) = v else {
            return Err(shape("", "a record is a JSON object"));
        };
        let member = |name: &str| {
            members
                .get(name)
                .ok_or_else(|| shape(&format!("/{name}"), "required member is missing"))
        };
        let text = |name: &str| {
            member(name)?
                .as_str()
                .ok_or_else(|| shape(&format!("/{name}"), "must be a string"))
        };
        let integer = |name: &str| {
            let path = format!("/{name}");
            let n = member(name)?
                .as_u64()
                .ok_or_else(|| shape(&path, "must be a non-negative integer"))?;
            if n > crate::limits::SAFE_INTEGER_MAX {
                return Err(RecordError::Json(JsonError::IntegerOutOfRange { path }));
            }
            Ok(n)
        };
        let collection = CollectionName::parse(text("collection")?)?;
        let key = RecordKey::parse(text("key")?)?;
        let op = match text("op")? {
            "put" => Operation::Put,
            "delete" => Operation::Delete,
            _ => return Err(shape("/op", "must be \"put\" or \"delete\"")),
        };
        let version = integer("version")?;
        let time_ms = integer("time_ms")?;
        let body = match members.get("body") {
            None => None,
            Some(body @ Value::Object(_)) => Some(body.clone()),
            Some(_) => return Err(RecordError::BodyNotObject),
        };
        Ok(LedgerEntry::Record {
            collection,
            key,
            version,
            op,
            body,
            time_ms,
        })
    }

    /// Parses leaf bytes, insisting that they are exactly the canonical form.
    ///
    /// Record entries in canonical form are read in one pass (`leaf.rs`); everything else,
    /// every error included, goes through the full parse and a comparison with the
    /// canonical serialization, so both paths accept and refuse exactly the same bytes.
    ///
    /// # Errors
    /// [`RecordError::NotCanonical`] for anything else.
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(RecordError::EntryTooLarge {
                size: bytes.len(),
                max: ENTRY_BYTES_MAX,
            });
        }
        if let Some(entry) = crate::leaf::record(bytes) {
            return Ok(entry);
        }
        Self::from_leaf_bytes_full(bytes)
    }

    /// [`LedgerEntry::from_leaf_bytes`] for a reader that stores record bodies as text: the
    /// same bytes are accepted and the same errors returned, but a record's body is not
    /// built, only its place in `bytes` returned ([`RecordLeaf::body`]).
    ///
    /// # Errors
    /// Exactly those of [`LedgerEntry::from_leaf_bytes`].
    pub fn read_leaf(bytes: &[u8]) -> Result<LeafEntry, RecordError> {
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(RecordError::EntryTooLarge {
                size: bytes.len(),
                max: ENTRY_BYTES_MAX,
            });
        }
        if let Some(leaf) = crate::leaf::record_leaf(bytes) {
            return Ok(LeafEntry::Record(leaf));
        }
        Ok(match Self::from_leaf_bytes_full(bytes)? {
            LedgerEntry::Record {
                collection,
                key,
                version,
                op,
                body,
                time_ms,
            } => {
                // The bytes are canonical, so they start with the body's canonical text when
                // there is one ("body" sorts before every other member).
                let body = match body {
                    Some(b) => {
                        let len = crate::jcs::canonicalize(&b)?.len();
                        let start = br#"{"body":"#.len();
                        Some(start..start + len)
                    }
                    None => None,
                };
                LeafEntry::Record(RecordLeaf {
                    collection,
                    key,
                    version,
                    op,
                    body,
                    time_ms,
                })
            }
            other => LeafEntry::Other(other),
        })
    }

    /// [`LedgerEntry::from_leaf_bytes`] without the one-pass reader: parse, serialize again,
    /// compare.
    pub(crate) fn from_leaf_bytes_full(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(RecordError::EntryTooLarge {
                size: bytes.len(),
                max: ENTRY_BYTES_MAX,
            });
        }
        let entry: LedgerEntry =
            serde_json::from_slice(bytes).map_err(|e| RecordError::NotCanonical(e.to_string()))?;
        if entry.to_leaf_bytes()? != bytes {
            return Err(RecordError::NotCanonical(
                "bytes are not in RFC 8785 form".into(),
            ));
        }
        Ok(entry)
    }
}

/// Checks a record body: a JSON object that canonicalizes and satisfies the collection's
/// schema, if it has one (`agent-card` always has at least the built-in one).
///
/// # Errors
/// The first problem found, with a JSON pointer to it.
pub fn validate_body(
    body: &Value,
    schema: Option<&crate::schema::CollectionSchema>,
) -> Result<(), RecordError> {
    if !body.is_object() {
        return Err(RecordError::BodyNotObject);
    }
    check_json(body)?;
    if let Some(schema) = schema {
        schema.validate(body)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent_card() -> Value {
        json!({
            "name": "Translator", "description": "EN-FR", "url": "https://a.example/agent",
            "version": "1.0.0",
            "skills": [{"id": "tr", "name": "Translate", "description": "text", "tags": ["fr"]}]
        })
    }

    #[test]
    fn collection_names() {
        for ok in ["agent-card", "a", "x1-y2"] {
            assert!(CollectionName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Agent", "1abc", "a_b", "a/b", &"a".repeat(65)] {
            assert!(CollectionName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn record_keys() {
        for ok in ["a", "sha256:00", "user@host", "A.b-c_d~e+f=g"] {
            assert!(RecordKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "a%20", "é", &"k".repeat(257)] {
            assert!(RecordKey::parse(bad).is_err(), "{bad}");
        }
        let manifest = CollectionName::parse("manifest").expect("name");
        let fp = format!("sha256:{}", "ab".repeat(32));
        assert!(RecordKey::parse_for(&manifest, &fp).is_ok());
        for bad in [
            "sha256:AB",
            "md5:00",
            &format!("sha256:{}", "ab".repeat(31)),
            &fp.to_uppercase(),
        ] {
            assert!(RecordKey::parse_for(&manifest, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entry_bytes_are_canonical_and_round_trip() {
        let entry = LedgerEntry::Record {
            collection: CollectionName::parse("receipt").expect("name"),
            key: RecordKey::parse("k1").expect("key"),
            version: 3,
            op: Operation::Put,
            body: Some(json!({"z": 1, "a": "x"})),
            time_ms: 1_700_000_000_000,
        };
        let bytes = entry.to_leaf_bytes().expect("bytes");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf8"),
            r#"{"body":{"a":"x","z":1},"collection":"receipt","key":"k1","kind":"record","op":"put","time_ms":1700000000000,"version":3}"#
        );
        assert_eq!(LedgerEntry::from_leaf_bytes(&bytes).expect("parse"), entry);
        // Same content, different bytes: refused.
        let spaced = String::from_utf8(bytes)
            .expect("utf8")
            .replace(":3}", ": 3}");
        assert!(LedgerEntry::from_leaf_bytes(spaced.as_bytes()).is_err());
        let tomb = LedgerEntry::Record {
            collection: CollectionName::parse("receipt").expect("name"),
            key: RecordKey::parse("k1").expect("key"),
            version: 4,
            op: Operation::Delete,
            body: None,
            time_ms: 1,
        };
        let bytes = tomb.to_leaf_bytes().expect("bytes");
        assert!(!std::str::from_utf8(&bytes).expect("utf8").contains("body"));
    }

    /// A record as the node's `record_json` writes it.
    fn record_json_of(entry_body: Option<Value>, op: &str) -> Value {
        let mut v = json!({
            "collection": "receipt",
            "key": "k1",
            "version": 3,
            "op": op,
            "time_ms": 1_700_000_000_000_u64,
            "ledger_index": 41,
            "leaf_hash": "AAAA",
            "federation_metadata": {"source_registry": "x"},
        });
        if let Some(body) = entry_body {
            v["body"] = body;
        }
        v
    }

    #[test]
    fn record_from_json_inverts_record_json() {
        let v = record_json_of(Some(json!({"z": 1, "a": "x"})), "put");
        let entry = LedgerEntry::record_from_json(&v).expect("record");
        assert_eq!(
            entry,
            LedgerEntry::Record {
                collection: CollectionName::parse("receipt").expect("name"),
                key: RecordKey::parse("k1").expect("key"),
                version: 3,
                op: Operation::Put,
                body: Some(json!({"z": 1, "a": "x"})),
                time_ms: 1_700_000_000_000,
            }
        );
        // The same leaf bytes as the entry the node wrote.
        assert_eq!(
            std::str::from_utf8(&entry.to_leaf_bytes().expect("bytes")).expect("utf8"),
            r#"{"body":{"a":"x","z":1},"collection":"receipt","key":"k1","kind":"record","op":"put","time_ms":1700000000000,"version":3}"#
        );
        // A tombstone has no body.
        let tomb = LedgerEntry::record_from_json(&record_json_of(None, "delete")).expect("tomb");
        assert!(matches!(
            tomb,
            LedgerEntry::Record {
                op: Operation::Delete,
                body: None,
                ..
            }
        ));
        // Round trip from any record entry through its JSON form.
        let mut as_json = serde_json::to_value(&entry).expect("json");
        as_json.as_object_mut().expect("object").remove("kind");
        assert_eq!(
            LedgerEntry::record_from_json(&as_json).expect("again"),
            entry
        );
    }

    #[test]
    fn record_from_json_refusals() {
        let good = record_json_of(Some(json!({"a": 1})), "put");
        let code = |v: &Value| {
            LedgerEntry::record_from_json(v)
                .expect_err("must be refused")
                .code()
        };
        for member in ["collection", "key", "version", "op", "time_ms"] {
            let mut v = good.clone();
            v.as_object_mut().expect("object").remove(member);
            let err = LedgerEntry::record_from_json(&v).expect_err(member);
            assert_eq!(err.code(), "schema_violation", "{member}");
            assert_eq!(
                err.to_string(),
                format!("/{member}: required member is missing")
            );
            let mut v = good.clone();
            v[member] = json!([member]);
            assert_eq!(code(&v), "schema_violation", "{member}");
        }
        let with = |member: &str, value: Value| {
            let mut v = good.clone();
            v[member] = value;
            v
        };
        assert_eq!(
            code(&with("collection", json!("Bad"))),
            "invalid_collection"
        );
        assert_eq!(code(&with("key", json!("a/b"))), "invalid_key");
        assert_eq!(code(&with("op", json!("upsert"))), "schema_violation");
        assert_eq!(code(&with("op", json!("PUT"))), "schema_violation");
        assert_eq!(code(&with("version", json!(-1))), "schema_violation");
        assert_eq!(code(&with("version", json!(1.5))), "schema_violation");
        assert_eq!(
            code(&with("time_ms", json!(1_u64 << 53))),
            "integer_out_of_range"
        );
        assert!(LedgerEntry::record_from_json(&with("time_ms", json!((1_u64 << 53) - 1))).is_ok());
        for body in [json!([1]), json!("x"), Value::Null, json!(1)] {
            assert_eq!(code(&with("body", body)), "body_not_object");
        }
        for not_object in [json!([good.clone()]), json!("record"), Value::Null] {
            assert_eq!(code(&not_object), "schema_violation");
        }
    }

    #[test]
    fn record_from_json_never_panics_on_mutations() {
        let good = record_json_of(Some(json!({"a": [1, {"b": null}]})), "put");
        let text = serde_json::to_vec(&good).expect("json");
        for i in 0..text.len() {
            for bit in [0x01_u8, 0x08, 0x20, 0x80] {
                let mut bytes = text.clone();
                bytes[i] ^= bit;
                if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                    if let Ok(entry) = LedgerEntry::record_from_json(&v) {
                        let _ = entry.to_leaf_bytes();
                    }
                }
            }
        }
    }

    #[test]
    fn anchor_entries_have_the_calendar_layout() {
        let e = LedgerEntry::Anchor {
            digest: "00ff".into(),
        };
        let bytes = e.to_leaf_bytes().expect("bytes");
        assert_eq!(bytes, br#"{"digest":"00ff","kind":"anchor"}"#);
        assert_eq!(LedgerEntry::from_leaf_bytes(&bytes).expect("parse"), e);
        assert!(
            LedgerEntry::Anchor {
                digest: "0F".into()
            }
            .to_leaf_bytes()
            .is_err()
        );
        assert!(
            LedgerEntry::Anchor {
                digest: String::new()
            }
            .to_leaf_bytes()
            .is_err()
        );
    }

    fn fed_entries(document: &Value, time_ms: u64) -> [LedgerEntry; 6] {
        [
            LedgerEntry::FedTrustProposal {
                document: document.clone(),
                time_ms,
            },
            LedgerEntry::FedTrustEstablished {
                document: document.clone(),
                time_ms,
            },
            LedgerEntry::FedTrustRevoked {
                document: document.clone(),
                time_ms,
            },
            LedgerEntry::FedWitnessEvent {
                document: document.clone(),
                time_ms,
            },
            LedgerEntry::FedCrossAnchor {
                document: document.clone(),
                time_ms,
            },
            LedgerEntry::FedDiscrepancy {
                document: document.clone(),
                time_ms,
            },
        ]
    }

    #[test]
    fn federation_entries_are_canonical_and_round_trip() {
        let document = json!({"z": [1, {"b": true, "a": null}], "proposal_id": "p-1"});
        let kinds = [
            ("fed_trust_proposal", EntryKind::FedTrustProposal),
            ("fed_trust_established", EntryKind::FedTrustEstablished),
            ("fed_trust_revoked", EntryKind::FedTrustRevoked),
            ("fed_witness_event", EntryKind::FedWitnessEvent),
            ("fed_cross_anchor", EntryKind::FedCrossAnchor),
            ("fed_discrepancy", EntryKind::FedDiscrepancy),
        ];
        for (entry, (name, kind)) in fed_entries(&document, 1_700_000_000_123)
            .into_iter()
            .zip(kinds)
        {
            assert_eq!(entry.kind(), kind);
            assert_eq!(kind.as_str(), name);
            assert_eq!(
                serde_json::to_value(kind).expect("kind"),
                Value::String(name.into())
            );
            let bytes = entry.to_leaf_bytes().expect("bytes");
            assert_eq!(
                std::str::from_utf8(&bytes).expect("utf8"),
                format!(
                    r#"{{"document":{{"proposal_id":"p-1","z":[1,{{"a":null,"b":true}}]}},"kind":"{name}","time_ms":1700000000123}}"#
                )
            );
            assert_eq!(LedgerEntry::from_leaf_bytes(&bytes).expect("parse"), entry);
            // The same entry with members out of order, or with whitespace: refused.
            let text = String::from_utf8(bytes).expect("utf8");
            let reordered = format!(
                r#"{{"kind":"{name}","document":{{"proposal_id":"p-1","z":[1,{{"a":null,"b":true}}]}},"time_ms":1700000000123}}"#
            );
            assert!(serde_json::from_str::<LedgerEntry>(&reordered).is_ok());
            assert!(matches!(
                LedgerEntry::from_leaf_bytes(reordered.as_bytes()),
                Err(RecordError::NotCanonical(_))
            ));
            let spaced = text.replacen("\"z\":[1,", "\"z\":[1, ", 1);
            assert!(LedgerEntry::from_leaf_bytes(spaced.as_bytes()).is_err());
            // Unknown members and a missing time are refused.
            let extra = text.replace(r#","time_ms""#, r#","extra":1,"time_ms""#);
            assert!(LedgerEntry::from_leaf_bytes(extra.as_bytes()).is_err());
            let untimed = text.replace(",\"time_ms\":1700000000123", "");
            assert!(LedgerEntry::from_leaf_bytes(untimed.as_bytes()).is_err());
        }
    }

    #[test]
    fn federation_documents_must_be_canonical_objects() {
        for bad in [json!([1, 2]), json!("text"), json!(3), Value::Null] {
            for entry in fed_entries(&bad, 1) {
                assert_eq!(entry.to_leaf_bytes(), Err(RecordError::BodyNotObject));
                // Leaf bytes that carry such a document do not parse either.
                let bytes = serde_json_canonicalizer::to_vec(&entry).expect("jcs");
                assert!(LedgerEntry::from_leaf_bytes(&bytes).is_err());
            }
        }
        for bad in [json!({"n": 1.5}), json!({"n": 9_007_199_254_740_992_u64})] {
            for entry in fed_entries(&bad, 1) {
                assert!(matches!(entry.to_leaf_bytes(), Err(RecordError::Json(_))));
            }
        }
        for entry in fed_entries(&json!({"blob": "x".repeat(ENTRY_BYTES_MAX)}), 1) {
            assert!(matches!(
                entry.to_leaf_bytes(),
                Err(RecordError::EntryTooLarge { .. })
            ));
        }
    }

    #[test]
    fn oversized_entries_are_refused() {
        let entry = LedgerEntry::Record {
            collection: CollectionName::parse("receipt").expect("name"),
            key: RecordKey::parse("k").expect("key"),
            version: 1,
            op: Operation::Put,
            body: Some(json!({"blob": "x".repeat(ENTRY_BYTES_MAX)})),
            time_ms: 0,
        };
        assert!(matches!(
            entry.to_leaf_bytes(),
            Err(RecordError::EntryTooLarge { .. })
        ));
    }

    #[test]
    fn bodies_must_be_objects_and_match_the_schema() {
        let schema = crate::CollectionSchema::agent_card().expect("schema");
        assert!(validate_body(&agent_card(), Some(&schema)).is_ok());
        let mut wrong = agent_card();
        wrong["name"] = json!(5);
        assert!(
            matches!(validate_body(&wrong, Some(&schema)), Err(RecordError::Shape { path, .. }) if path == "/name")
        );
        assert_eq!(
            validate_body(&json!([1]), None),
            Err(RecordError::BodyNotObject)
        );
        // Without a schema any object goes.
        assert!(validate_body(&json!({"anything": [1, "two"]}), None).is_ok());
        assert!(validate_body(&json!({"n": 1.5}), None).is_err());
    }
}
