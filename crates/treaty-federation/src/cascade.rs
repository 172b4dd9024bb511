//! Cascading resolution, the pure parts: the request's hop and time budget, the set of
//! requests a node has already seen, and checking a peer's answer.
//!
//! A resolve that misses locally may be asked of the node's peers, which may ask theirs,
//! and so on. Three headers travel with each hop:
//!
//! | header | value |
//! |---|---|
//! | [`CASCADE_ID_HEADER`] | the request's ID: [`CASCADE_ID_BYTES_MIN`] to [`CASCADE_ID_BYTES_MAX`] characters of `[A-Za-z0-9_-]`, the same on every hop |
//! | [`CASCADE_HOPS_HEADER`] | how many more hops the request may travel after the receiving node, plain decimal |
//! | [`CASCADE_BUDGET_HEADER`] | the time the receiving node has to answer, in milliseconds, plain decimal |
//!
//! A plain client sends none of them: the first node generates the ID and uses its own
//! defaults. A hop's values are capped at the receiving node's defaults, so a caller can
//! only ask for less than the node would do on its own ([`CascadeRequest::from_headers`]).
//! Each hop passes on one hop less and the time it has left minus
//! [`CASCADE_HOP_MARGIN_MS`] ([`CascadeRequest::next_hop`]), so the cascade ends by hops or
//! by time, whichever comes first. A node that sees an ID again ([`SeenRequests`]) is on a
//! loop and answers from its own records only.
//!
//! A peer's answer is trusted only once its receipt proves the record in the ledger of the
//! registry that serves it, under that registry's verified ledger key
//! ([`verify_answer`]); the relaying peer is not trusted at all.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use serde_json::Value;
use treaty_merkle::leaf_hash;
use treaty_note::{Checkpoint, Receipt, VerifierKey};
use treaty_types::LedgerEntry;

use crate::FedError;
use crate::error::clip;
use crate::json::node_id_is_valid;
use crate::limits::{
    CASCADE_BUDGET_MS_MAX, CASCADE_HEADER_DIGITS_MAX, CASCADE_HOP_MARGIN_MS, CASCADE_HOPS_MAX,
    CASCADE_ID_BYTES_MAX, CASCADE_ID_BYTES_MIN, CASCADE_RECEIPT_BYTES_MAX, CASCADE_SEEN_MAX,
    CASCADE_SEEN_TTL_MS,
};

/// The header carrying the cascade's ID.
pub const CASCADE_ID_HEADER: &str = "treaty-cascade-id";
/// The header carrying how many more hops the request may travel.
pub const CASCADE_HOPS_HEADER: &str = "treaty-cascade-hops";
/// The header carrying the receiving node's time budget, in milliseconds.
pub const CASCADE_BUDGET_HEADER: &str = "treaty-cascade-budget-ms";

/// Whether `text` is a cascade ID: [`CASCADE_ID_BYTES_MIN`] to [`CASCADE_ID_BYTES_MAX`]
/// characters of `[A-Za-z0-9_-]` (the base64url alphabet, so 16 random bytes encode to a
/// valid ID; safe in headers and log lines unescaped).
#[must_use]
pub fn cascade_id_is_valid(text: &str) -> bool {
    (CASCADE_ID_BYTES_MIN..=CASCADE_ID_BYTES_MAX).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A cascaded resolve as this node handles it: its ID and what is left of its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CascadeRequest {
    /// The request's ID, the same on every hop (valid per [`cascade_id_is_valid`]).
    pub id: String,
    /// How many more hops the request may travel from this node; 0 = answer locally only.
    pub hops_left: u32,
    /// The time this node has to answer, in milliseconds.
    pub budget_ms: u64,
}

/// Parses a header's plain decimal value: 1 to [`CASCADE_HEADER_DIGITS_MAX`] ASCII digits,
/// no sign, no white space, no leading zero (so one number has one spelling).
fn decimal(header: &'static str, text: &str) -> Result<u64, FedError> {
    let bad = |reason| FedError::InvalidCascadeHeader { header, reason };
    if text.is_empty() {
        return Err(bad("the value is empty"));
    }
    if text.len() > CASCADE_HEADER_DIGITS_MAX {
        return Err(bad("the value has more than 20 digits"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the value is not a plain decimal number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(bad("the value has a leading zero"));
    }
    text.parse::<u64>()
        .map_err(|_| bad("the value is beyond 2^64 - 1"))
}

impl CascadeRequest {
    /// The request from the three header values (each optional: a plain client sends
    /// none). `id` `None` means this node starts the cascade with `fresh_id`, which the
    /// caller generates (at random: [`CASCADE_ID_BYTES_MIN`] base64url characters or
    /// more).
    ///
    /// `hops` and `budget`, when present, are capped at `default_hops` and
    /// `default_budget_ms` (a caller can only ask for less than the node would do on its
    /// own); absent, they are the defaults. The defaults themselves are capped at
    /// [`CASCADE_HOPS_MAX`] and [`CASCADE_BUDGET_MS_MAX`].
    ///
    /// # Errors
    /// [`FedError::InvalidCascadeHeader`] (`invalid_cascade_header`) naming the header:
    /// an ID outside the ID rules (a `fresh_id` too, which is the caller's bug), or a
    /// number that is not plain decimal.
    pub fn from_headers(
        id: Option<&str>,
        hops: Option<&str>,
        budget: Option<&str>,
        fresh_id: &str,
        default_hops: u32,
        default_budget_ms: u64,
    ) -> Result<Self, FedError> {
        let id = match id {
            Some(id) if cascade_id_is_valid(id) => id,
            Some(_) => {
                return Err(FedError::InvalidCascadeHeader {
                    header: CASCADE_ID_HEADER,
                    reason: "use 16-64 characters of A-Z a-z 0-9 _ -",
                });
            }
            None if cascade_id_is_valid(fresh_id) => fresh_id,
            None => {
                return Err(FedError::InvalidCascadeHeader {
                    header: CASCADE_ID_HEADER,
                    reason: "the generated ID breaks the ID rules (16-64 of A-Z a-z 0-9 _ -)",
                });
            }
        };
        let max_hops = default_hops.min(CASCADE_HOPS_MAX);
        let max_budget = default_budget_ms.min(CASCADE_BUDGET_MS_MAX);
        let hops_left = match hops {
            // min with a u32 fits a u32.
            Some(text) => {
                u32::try_from(decimal(CASCADE_HOPS_HEADER, text)?.min(u64::from(max_hops)))
                    .unwrap_or(max_hops)
            }
            None => max_hops,
        };
        let budget_ms = match budget {
            Some(text) => decimal(CASCADE_BUDGET_HEADER, text)?.min(max_budget),
            None => max_budget,
        };
        Ok(Self {
            id: id.to_owned(),
            hops_left,
            budget_ms,
        })
    }

    /// What to send to the next hop after `elapsed_ms` spent here: the same ID, one hop
    /// less, and the budget left minus [`CASCADE_HOP_MARGIN_MS`] (kept to verify and relay
    /// the answer). `None` when no hop is left, or when no more than the margin is left:
    /// the next hop would get no time at all.
    #[must_use]
    pub fn next_hop(&self, elapsed_ms: u64) -> Option<CascadeRequest> {
        let hops_left = self.hops_left.checked_sub(1)?;
        let remaining = self.budget_ms.saturating_sub(elapsed_ms);
        if remaining <= CASCADE_HOP_MARGIN_MS {
            return None;
        }
        Some(CascadeRequest {
            id: self.id.clone(),
            hops_left,
            budget_ms: remaining - CASCADE_HOP_MARGIN_MS,
        })
    }

    /// The three headers to send with this request, as (name, value).
    #[must_use]
    pub fn to_headers(&self) -> [(&'static str, String); 3] {
        [
            (CASCADE_ID_HEADER, self.id.clone()),
            (CASCADE_HOPS_HEADER, self.hops_left.to_string()),
            (CASCADE_BUDGET_HEADER, self.budget_ms.to_string()),
        ]
    }
}

/// The cascade IDs a node has seen recently, to recognize a request that loops back.
///
/// Bounded: at most [`CASCADE_SEEN_MAX`] IDs (the oldest is forgotten first when full), and
/// an ID is forgotten [`CASCADE_SEEN_TTL_MS`] after it was recorded. Each call costs
/// amortized O(1). Times are the caller's clock; if it steps back, entries only live
/// longer, never shorter than the TTL.
#[derive(Debug, Clone, Default)]
pub struct SeenRequests {
    /// IDs in the order they were recorded, with the time. An ID recorded again after it
    /// expired has a newer entry; its older entry here is then stale and skipped.
    order: VecDeque<(u64, String)>,
    /// Each remembered ID and when it was recorded.
    seen: HashMap<String, u64>,
}

impl SeenRequests {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `id` at `now_ms`; `true` the first time, `false` when it was seen less than
    /// [`CASCADE_SEEN_TTL_MS`] ago (the request looped back: answer it locally only). A
    /// repeat does not extend the ID's life.
    ///
    /// IDs are expected to be valid ([`cascade_id_is_valid`]; [`CascadeRequest`] holds only
    /// such), which bounds the memory to [`CASCADE_SEEN_MAX`] times [`CASCADE_ID_BYTES_MAX`].
    pub fn first_time(&mut self, id: &str, now_ms: u64) -> bool {
        let expired = |at: u64| now_ms.saturating_sub(at) >= CASCADE_SEEN_TTL_MS;
        // Forget what expired, oldest first.
        while let Some(&(at, _)) = self.order.front() {
            if !expired(at) {
                break;
            }
            self.pop_oldest();
        }
        if let Some(&at) = self.seen.get(id) {
            if !expired(at) {
                return false;
            }
        }
        // Make room: the queue holds every remembered ID (and maybe stale entries), so
        // below the limit it, the map is too.
        while self.order.len() >= CASCADE_SEEN_MAX {
            self.pop_oldest();
        }
        self.order.push_back((now_ms, id.to_owned()));
        self.seen.insert(id.to_owned(), now_ms);
        true
    }

    /// Drops the oldest queue entry, and its ID unless the ID was recorded again since.
    fn pop_oldest(&mut self) {
        if let Some((at, id)) = self.order.pop_front() {
            if self.seen.get(&id) == Some(&at) {
                self.seen.remove(&id);
            }
        }
    }

    /// How many IDs are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no ID is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A peer's answer that passed [`verify_answer`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAnswer {
    /// Node ID of the registry whose ledger holds the record (`served_by.node_id`).
    pub served_by: String,
    /// The record as served. Proven: the members that make its ledger entry
    /// (`collection`, `key`, `version`, `op`, `body`, `time_ms`) and, when present,
    /// `ledger_index` and `leaf_hash`. Anything else in it (such as
    /// `federation_metadata`) is the peer's word only.
    pub record: Value,
    /// The record's index in the serving registry's ledger, as proven.
    pub index: u64,
    /// The checkpoint of the serving registry's ledger the record is proven in, verified
    /// with its ledger key.
    pub checkpoint: Checkpoint,
}

/// A [`FedError::CascadeAnswerMalformed`].
fn malformed(reason: impl Into<String>) -> FedError {
    FedError::CascadeAnswerMalformed {
        reason: reason.into(),
    }
}

/// A [`FedError::CascadeAnswerMismatch`].
fn mismatch(member: &'static str) -> FedError {
    FedError::CascadeAnswerMismatch { member }
}

/// Checks that record member `name` is a string equal to `asked`.
fn same_text(record: &Value, name: &'static str, path: &str, asked: &str) -> Result<(), FedError> {
    match record.get(name).and_then(Value::as_str) {
        Some(text) if text == asked => Ok(()),
        Some(_) => Err(mismatch(path_of(name))),
        None => Err(malformed(format!("{path} is missing or not a string"))),
    }
}

/// The `member` of a [`FedError::CascadeAnswerMismatch`] for record member `name`.
fn path_of(name: &'static str) -> &'static str {
    match name {
        "collection" => "record.collection",
        "key" => "record.key",
        "op" => "record.op",
        "ledger_index" => "record.ledger_index",
        "leaf_hash" => "record.leaf_hash",
        _ => "record",
    }
}

/// Checks a peer's answer to `GET /v1/resolve/{collection}/{key}`:
///
/// ```json
/// {"record": {"collection", "key", "version", "op", "body", "time_ms", ...},
///  "receipt": "<c2sp.org/tlog-proof@v1 text>", "checkpoint": "<note>",
///  "served_by": {"node_id": "...", "name": "..."}}
/// ```
///
/// `key_for(node_id)` gives the ledger verifier key of a registry this node knows from a
/// verified card (first-hand or relayed), `None` otherwise. The checks, in order:
/// `served_by.node_id` is a node ID; the record's `collection` and `key` are the asked ones
/// and its `op` is `put` (a tombstone does not resolve); the record rebuilds a ledger
/// entry ([`LedgerEntry::record_from_json`]); the receipt (at most
/// [`CASCADE_RECEIPT_BYTES_MAX`]) parses; the record's `ledger_index` and `leaf_hash`, when
/// present, are the receipt's index and the entry's leaf hash; the serving registry's key
/// is known; and the receipt proves the entry under that key.
///
/// The answer's `checkpoint` member is not used: the receipt embeds the checkpoint note it
/// proves against, and that is the one verified and returned. `served_by.name` is
/// informational and not read.
///
/// # Errors
/// Each with its own code: [`FedError::CascadeAnswerMalformed`]
/// (`cascade_answer_malformed`), [`FedError::CascadeAnswerMismatch`]
/// (`cascade_answer_mismatch`), [`FedError::CascadeUnverifiable`]
/// (`cascade_unverifiable`: this node cannot check it, which is not the peer's fault) and
/// [`FedError::CascadeProofInvalid`] (`cascade_proof_invalid`: evidence against the peer,
/// or a sign that this node's copy of the registry's key is outdated).
pub fn verify_answer(
    answer: &Value,
    collection: &str,
    key: &str,
    key_for: impl Fn(&str) -> Option<VerifierKey>,
) -> Result<VerifiedAnswer, FedError> {
    if !answer.is_object() {
        return Err(malformed("the answer is not a JSON object"));
    }
    let node_id = answer
        .get("served_by")
        .and_then(|s| s.get("node_id"))
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("served_by.node_id is missing or not a string"))?;
    if !node_id_is_valid(node_id) {
        return Err(malformed(
            "served_by.node_id is not a lowercase hyphenated UUID",
        ));
    }
    let record = answer
        .get("record")
        .filter(|r| r.is_object())
        .ok_or_else(|| malformed("record is missing or not an object"))?;
    same_text(record, "collection", "record.collection", collection)?;
    same_text(record, "key", "record.key", key)?;
    same_text(record, "op", "record.op", "put")?;
    let receipt_text = match answer.get("receipt") {
        Some(Value::String(text)) => text,
        Some(Value::Null) => {
            return Err(malformed(
                "receipt is null: the record is not checkpointed yet",
            ));
        }
        _ => return Err(malformed("receipt is missing or not a string")),
    };
    if receipt_text.len() > CASCADE_RECEIPT_BYTES_MAX {
        return Err(malformed(format!(
            "receipt is {} bytes, the limit is {CASCADE_RECEIPT_BYTES_MAX}",
            receipt_text.len()
        )));
    }
    let leaf = LedgerEntry::record_from_json(record)
        .and_then(|entry| entry.to_leaf_bytes())
        .map_err(|e| malformed(format!("record: {}", clip(&e.to_string()))))?;
    let receipt = Receipt::parse(receipt_text)
        .map_err(|e| malformed(format!("receipt: {}", clip(&e.to_string()))))?;
    if let Some(index) = record.get("ledger_index") {
        if index.as_u64() != Some(receipt.index()) {
            return Err(mismatch(path_of("ledger_index")));
        }
    }
    if let Some(hash) = record.get("leaf_hash") {
        let computed = base64::engine::general_purpose::STANDARD.encode(leaf_hash(&leaf));
        if hash.as_str() != Some(computed.as_str()) {
            return Err(mismatch(path_of("leaf_hash")));
        }
    }
    let ledger_key = key_for(node_id).ok_or_else(|| FedError::CascadeUnverifiable {
        node_id: clip(node_id),
    })?;
    let verified = receipt
        .verify_entry(&leaf, &ledger_key, &[], 0)
        .map_err(|e| FedError::CascadeProofInvalid {
            reason: clip(&e.to_string()),
        })?;
    Ok(VerifiedAnswer {
        served_by: node_id.to_owned(),
        record: record.clone(),
        index: verified.index,
        checkpoint: verified.checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{A, B};
    use crate::limits::CASCADE_ANSWER_BYTES_MAX;
    use crate::parse_json;
    use ed25519_dalek::SigningKey;
    use serde_json::json;
    use treaty_merkle::{MemoryHashStore, inclusion_proof, root_at};
    use treaty_note::{KEY_TYPE_ED25519, SignerKey, sign_checkpoint};

    const ID: &str = "0123456789abcdef_-XYZ";

    fn req(hops: Option<&str>, budget: Option<&str>) -> Result<CascadeRequest, FedError> {
        CascadeRequest::from_headers(Some(ID), hops, budget, "unused-fresh-id-0001", 3, 2_000)
    }

    #[test]
    fn headers_absent_take_the_defaults() {
        let r = CascadeRequest::from_headers(None, None, None, "fresh_ID-0123456789", 3, 2_000)
            .expect("request");
        assert_eq!(
            r,
            CascadeRequest {
                id: "fresh_ID-0123456789".into(),
                hops_left: 3,
                budget_ms: 2_000
            }
        );
        // Defaults beyond the crate's maxima are capped.
        let r = CascadeRequest::from_headers(None, None, None, ID, 100, u64::MAX).expect("r");
        assert_eq!(
            (r.hops_left, r.budget_ms),
            (CASCADE_HOPS_MAX, CASCADE_BUDGET_MS_MAX)
        );
    }

    #[test]
    fn headers_present_can_only_ask_for_less() {
        let r = req(Some("1"), Some("500")).expect("request");
        assert_eq!((r.id.as_str(), r.hops_left, r.budget_ms), (ID, 1, 500));
        let r = req(Some("7"), Some("999999")).expect("request");
        assert_eq!((r.hops_left, r.budget_ms), (3, 2_000));
        let r = req(Some("0"), Some("0")).expect("request");
        assert_eq!((r.hops_left, r.budget_ms), (0, 0));
        let r = req(Some("18446744073709551615"), Some("18446744073709551615")).expect("max");
        assert_eq!((r.hops_left, r.budget_ms), (3, 2_000));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "01",
            "00",
            "1.0",
            "1e3",
            "0x10",
            "١",
            "18446744073709551616",
            "123456789012345678901",
        ] {
            for (hops, budget, header) in [
                (Some(bad), None, CASCADE_HOPS_HEADER),
                (None, Some(bad), CASCADE_BUDGET_HEADER),
            ] {
                let err = req(hops, budget).expect_err(bad);
                assert_eq!(err.code(), "invalid_cascade_header", "{bad:?}");
                assert!(err.to_string().contains(header), "{err}");
            }
        }
        for bad in [
            "short",
            "0123456789abcde",
            "0123456789abcdef ",
            "0123456789abcdef/",
            "0123456789abcdef=",
            "0123456789abcdéf",
            &"a".repeat(65),
        ] {
            let err =
                CascadeRequest::from_headers(Some(bad), None, None, ID, 3, 2_000).expect_err(bad);
            assert_eq!(err.code(), "invalid_cascade_header");
            assert!(err.to_string().contains(CASCADE_ID_HEADER), "{err}");
            // A bad generated ID is refused too.
            let err = CascadeRequest::from_headers(None, None, None, bad, 3, 2_000).expect_err(bad);
            assert_eq!(err.code(), "invalid_cascade_header");
        }
        assert!(cascade_id_is_valid(&"a".repeat(64)));
        assert!(cascade_id_is_valid(&"-".repeat(16)));
    }

    #[test]
    fn next_hop_spends_hops_and_time() {
        let r = req(None, None).expect("request");
        let next = r.next_hop(100).expect("next");
        assert_eq!(
            next,
            CascadeRequest {
                id: ID.into(),
                hops_left: 2,
                budget_ms: 2_000 - 100 - CASCADE_HOP_MARGIN_MS
            }
        );
        let names: Vec<_> = next.to_headers().into_iter().collect();
        assert_eq!(
            names,
            [
                (CASCADE_ID_HEADER, ID.to_owned()),
                (CASCADE_HOPS_HEADER, "2".to_owned()),
                (CASCADE_BUDGET_HEADER, "1850".to_owned()),
            ]
        );
        // The headers parse back to the same request at the next node.
        let [(_, id), (_, hops), (_, budget)] = next.to_headers();
        let parsed =
            CascadeRequest::from_headers(Some(&id), Some(&hops), Some(&budget), ID, 3, 2_000)
                .expect("parse");
        assert_eq!(parsed, next);
        // Hops run out after three.
        let mut hop = r.clone();
        let mut count = 0;
        while let Some(n) = hop.next_hop(0) {
            hop = n;
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(hop.hops_left, 0);
        // Time runs out: no more than the margin left is no next hop.
        let edge = 2_000 - CASCADE_HOP_MARGIN_MS;
        assert!(r.next_hop(edge).is_none());
        assert_eq!(r.next_hop(edge - 1).expect("1 ms").budget_ms, 1);
        assert!(r.next_hop(u64::MAX).is_none());
        let zero = req(Some("0"), None).expect("request");
        assert!(zero.next_hop(0).is_none());
    }

    #[test]
    fn seen_requests_detect_loops_and_expire() {
        let mut seen = SeenRequests::new();
        assert!(seen.is_empty());
        assert!(seen.first_time("a", 1_000));
        assert!(!seen.first_time("a", 1_000));
        assert!(!seen.first_time("a", 1_000 + CASCADE_SEEN_TTL_MS - 1));
        assert!(seen.first_time("b", 2_000));
        assert_eq!(seen.len(), 2);
        // Expired: first time again, and the earlier entry does not remove the new one.
        assert!(seen.first_time("a", 1_000 + CASCADE_SEEN_TTL_MS));
        assert_eq!(seen.len(), 2);
        assert!(!seen.first_time("a", 1_000 + CASCADE_SEEN_TTL_MS + 5));
        // Much later everything is forgotten.
        assert!(seen.first_time("c", 10 * CASCADE_SEEN_TTL_MS));
        assert_eq!(seen.len(), 1);
        // A clock that steps back does not forget early.
        assert!(!seen.first_time("c", 0));
    }

    #[test]
    fn seen_requests_are_bounded() {
        let mut seen = SeenRequests::new();
        for i in 0..CASCADE_SEEN_MAX + 10 {
            assert!(seen.first_time(&format!("id-{i}"), 5));
        }
        assert_eq!(seen.len(), CASCADE_SEEN_MAX);
        assert!(seen.order.len() <= CASCADE_SEEN_MAX);
        // The oldest were forgotten, the newest are still known.
        assert!(seen.first_time("id-0", 6));
        assert!(!seen.first_time(&format!("id-{}", CASCADE_SEEN_MAX + 9), 6));
        // Stale queue entries (an ID recorded again after expiring, with the clock
        // stepping back and forth) never let the queue grow beyond the limit.
        let mut seen = SeenRequests::new();
        for round in 0..3_u64 {
            for i in 0..CASCADE_SEEN_MAX {
                let now = if i % 2 == 0 {
                    round * CASCADE_SEEN_TTL_MS
                } else {
                    0
                };
                seen.first_time(&format!("x{}", i % 700), now);
                assert!(seen.order.len() <= CASCADE_SEEN_MAX);
                assert!(seen.len() <= seen.order.len());
            }
        }
    }

    /// A registry's ledger of records and its log key.
    struct Ledger {
        key: SignerKey,
        records: Vec<Value>,
        store: MemoryHashStore,
    }

    const ORIGIN: &str = "registry-b.example";

    impl Ledger {
        fn new(seed: u8, n: u64) -> Self {
            let key = SignerKey::new(
                ORIGIN,
                KEY_TYPE_ED25519,
                SigningKey::from_bytes(&[seed; 32]),
            )
            .expect("key");
            let mut ledger = Self {
                key,
                records: Vec::new(),
                store: MemoryHashStore::new(),
            };
            for i in 0..n {
                let record = json!({
                    "collection": "agent-card",
                    "key": format!("agent-{i}"),
                    "version": 1,
                    "op": "put",
                    "time_ms": 1_767_225_600_000_u64 + i,
                    "body": {"name": format!("Agent {i}"), "skills": [i]},
                });
                let leaf = LedgerEntry::record_from_json(&record)
                    .expect("entry")
                    .to_leaf_bytes()
                    .expect("leaf");
                ledger.store.append(leaf_hash(&leaf));
                let mut served = record;
                served["ledger_index"] = json!(i);
                served["leaf_hash"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(leaf_hash(&leaf)));
                ledger.records.push(served);
            }
            ledger
        }

        fn vkey(&self) -> VerifierKey {
            self.key.verifier_key().expect("vkey")
        }

        fn note(&self) -> String {
            let size = self.records.len() as u64;
            let cp = Checkpoint::new(ORIGIN, size, root_at(size, &self.store).expect("root"))
                .expect("cp");
            sign_checkpoint(&cp, self.key.name(), self.key.signing_key()).expect("sign")
        }

        /// The resolve answer for record `i`, as the node serves it.
        fn answer(&self, i: u64) -> Value {
            let size = self.records.len() as u64;
            let proof = inclusion_proof(i, size, &self.store).expect("proof");
            let note = self.note();
            let receipt = Receipt::new(i, proof, note.clone()).expect("receipt");
            json!({
                "record": self.records[i as usize],
                "receipt": receipt.to_text(),
                "checkpoint": note,
                "served_by": {"node_id": B, "name": "Registry B"},
            })
        }
    }

    fn keys_of(ledger: &Ledger) -> impl Fn(&str) -> Option<VerifierKey> + '_ {
        move |node| (node == B).then(|| ledger.vkey())
    }

    fn refused(answer: &Value, ledger: &Ledger) -> FedError {
        verify_answer(answer, "agent-card", "agent-3", keys_of(ledger)).expect_err("refused")
    }

    #[test]
    fn a_proven_answer_verifies() {
        let ledger = Ledger::new(7, 6);
        let answer = ledger.answer(3);
        let v = verify_answer(&answer, "agent-card", "agent-3", keys_of(&ledger)).expect("ok");
        assert_eq!(v.served_by, B);
        assert_eq!(v.index, 3);
        assert_eq!(v.record, answer["record"]);
        assert_eq!(v.checkpoint.size(), 6);
        assert_eq!(v.checkpoint.origin(), ORIGIN);
        // Members outside the entry are allowed; ledger_index and leaf_hash are optional.
        let mut lean = answer.clone();
        let record = lean["record"].as_object_mut().expect("record");
        record.remove("ledger_index");
        record.remove("leaf_hash");
        record.insert("federation_metadata".into(), json!({"source_registry": B}));
        lean.as_object_mut().expect("answer").remove("checkpoint");
        assert!(verify_answer(&lean, "agent-card", "agent-3", keys_of(&ledger)).is_ok());
        // The answer fits the byte limit a node reads it with.
        let bytes = serde_json::to_vec(&answer).expect("json");
        assert!(parse_json(&bytes, CASCADE_ANSWER_BYTES_MAX).is_ok());
    }

    #[test]
    fn each_failure_has_its_code() {
        let ledger = Ledger::new(7, 6);
        let answer = ledger.answer(3);
        let set = |pointer: &str, value: Value| {
            let mut a = answer.clone();
            *a.pointer_mut(pointer).expect("member") = value;
            a
        };
        let code = |a: &Value| refused(a, &ledger).code();
        // Malformed.
        for a in [
            json!([answer.clone()]),
            set("/served_by", json!("b")),
            set("/served_by/node_id", json!(5)),
            set("/served_by/node_id", json!(B.to_uppercase())),
            set("/record", json!("record")),
            set("/record/collection", json!(1)),
            set("/record/op", Value::Null),
            set("/receipt", Value::Null),
            set("/receipt", json!(3)),
            set("/receipt", json!("not a receipt")),
            set("/receipt", json!("x".repeat(CASCADE_RECEIPT_BYTES_MAX + 1))),
            set("/record/version", json!("1")),
            set("/record/body", json!([1])),
        ] {
            assert_eq!(code(&a), "cascade_answer_malformed", "{a}");
        }
        // Not what was asked, or inconsistent with the proof.
        for (a, member) in [
            (
                set("/record/collection", json!("manifest")),
                "record.collection",
            ),
            (set("/record/key", json!("agent-4")), "record.key"),
            (set("/record/op", json!("delete")), "record.op"),
            (set("/record/ledger_index", json!(2)), "record.ledger_index"),
            (
                set("/record/ledger_index", json!("3")),
                "record.ledger_index",
            ),
            (set("/record/leaf_hash", json!("AAAA")), "record.leaf_hash"),
        ] {
            let err = refused(&a, &ledger);
            assert_eq!(err.code(), "cascade_answer_mismatch", "{a}");
            assert_eq!(err, FedError::CascadeAnswerMismatch { member });
        }
        // Served by a registry this node has no verified key for.
        let err = refused(&set("/served_by/node_id", json!(A)), &ledger);
        assert_eq!(err.code(), "cascade_unverifiable");
        // Proof failures: other content, another record's proof, another key.
        let mut altered = set("/record/body/name", json!("Impostor"));
        altered["record"]
            .as_object_mut()
            .expect("r")
            .remove("leaf_hash");
        assert_eq!(code(&altered), "cascade_proof_invalid");
        let mut swapped = ledger.answer(2);
        swapped["record"] = answer["record"].clone();
        swapped["record"]
            .as_object_mut()
            .expect("r")
            .remove("ledger_index");
        assert_eq!(code(&swapped), "cascade_proof_invalid");
        let other = Ledger::new(8, 6);
        let err = verify_answer(&answer, "agent-card", "agent-3", keys_of(&other))
            .expect_err("other key");
        assert_eq!(err.code(), "cascade_proof_invalid");
    }

    #[test]
    fn mutated_answers_never_panic_and_never_forge() {
        let ledger = Ledger::new(7, 5);
        let answer = ledger.answer(3);
        let good = verify_answer(&answer, "agent-card", "agent-3", keys_of(&ledger)).expect("ok");
        let text = serde_json::to_vec(&answer).expect("json");
        let mut passed = 0;
        for i in 0..text.len() {
            for bit in [0x01_u8, 0x20] {
                let mut bytes = text.clone();
                bytes[i] ^= bit;
                let Ok(v) = parse_json(&bytes, CASCADE_ANSWER_BYTES_MAX) else {
                    continue;
                };
                let Ok(got) = verify_answer(&v, "agent-card", "agent-3", keys_of(&ledger)) else {
                    continue;
                };
                // Only what the proof does not cover may differ: the entry is the same.
                passed += 1;
                assert_eq!(got.index, good.index, "byte {i}");
                assert_eq!(got.checkpoint, good.checkpoint, "byte {i}");
                assert_eq!(
                    LedgerEntry::record_from_json(&got.record).expect("entry"),
                    LedgerEntry::record_from_json(&good.record).expect("entry"),
                    "byte {i}"
                );
            }
        }
        // Flips in the unused checkpoint member, the served_by name and the like pass.
        assert!(passed > 0);
        // Arbitrary JSON values never panic either.
        for v in [
            Value::Null,
            json!({}),
            json!({"served_by": {}, "record": {}, "receipt": ""}),
            json!({"served_by": {"node_id": B}, "record": {"collection": "agent-card", "key": "agent-3", "op": "put"}, "receipt": ""}),
        ] {
            assert!(verify_answer(&v, "agent-card", "agent-3", keys_of(&ledger)).is_err());
        }
    }
}
