//! Verified incremental sync, the puller's side: checking one page of a peer's sync feed
//! against the peer's signed checkpoint before anything from it is applied.
//!
//! Per peer, the puller keeps a [`PeerLog`]: how many of the peer's ledger entries it has
//! verified (`size`), the right edge of the peer's RFC 6962 tree over them (`range`, a
//! [`CompactRange`]: at most 64 hashes, enough to extend the tree and compute its root) and
//! the last signed checkpoint it holds for the peer. A feed page ([`FeedPage`]) brings the
//! entries `since..next` (full leaf bytes for the collections the agreements share, only the
//! leaf hash for everything else), the peer's newest signed checkpoint, and the RFC 6962
//! consistency proof from tree size `next` to the checkpoint's size. [`verify_page`] checks
//! the page and returns the state after it; the caller applies all of it or none of it.
//!
//! # What a page that passes proves
//!
//! The puller's range at `since` is extended with the hash of every entry, so its root at
//! `next` is the root of exactly the peer's first `next` entries as served. The checkpoint
//! is signed by the peer's log key, and the root at `next` is either its root (`next` is its
//! size) or proven by the consistency proof to be a prefix of it. Because the extension
//! starts from the stored range, which an earlier page proved the same way, every entry
//! ever applied is covered: the whole range is a prefix of the tree the new checkpoint
//! signs. A leaf hash served in place of leaf bytes is bound just as tightly; the puller
//! only does not learn the entry behind it.
//!
//! The held checkpoint is checked too, not only the range: a checkpoint smaller than the
//! held one is a rollback, one of the same size with another root is a fork, and when the
//! range reaches the held checkpoint's size (within a page, or already at the start) its
//! root there must be the held root. So when the range has reached the held checkpoint, a
//! page that passes proves the held checkpoint consistent with the new one: held tree, then
//! range, then new tree, each a prefix of the next.
//!
//! # The held checkpoint moves only once the range has reached it
//!
//! A page that ends short of the held checkpoint's size (a puller still catching up) while
//! the peer signed a newer, larger checkpoint proves the range against the new checkpoint,
//! but says nothing about the entries between the range's end and the held size in the two
//! checkpoints: the proof runs from `next`, not from the held size. Replacing the held
//! checkpoint then would forget what the peer signed for those entries, and the peer could
//! have signed something else for them in the new checkpoint unnoticed. So in that case
//! the held checkpoint stays; the page's own checkpoint is returned in
//! [`Applied::checkpoint`] (the peer's current size, for "is there more to pull"), and the
//! held one is checked against the entries when the range reaches its size, after which
//! the newest checkpoint is held. The price: while catching up, a larger checkpoint served
//! first and a smaller one served later is not reported as a rollback, as long as the
//! smaller one is not below the held one. Both are still proven to contain the range.
//!
//! # Discrepancies
//!
//! Any failed check is a [`Discrepancy`]: a [`DiscrepancyKind`], a precise message, and
//! evidence in JSON with everything a third party needs to redo the check: the
//! checkpoint note as served, the held note, the origin and verifier key, the sizes, the
//! compact ranges before and after (standard base64, like a checkpoint's root line), and the
//! offending index and leaf hash. Two notes signed by the peer that contradict each other
//! (a fork) convince anyone; a mismatch between served entries and a checkpoint convinces
//! anyone who fetches the same entries, which the evidence says how to do.
//! [`DiscrepancyKind::InvalidLocalState`] is the one kind that is not about the peer: the
//! puller's own stored state or configured key is broken.
//!
//! Pure: [`verify_page`] reads its arguments and returns a value; nothing is changed on
//! failure, so the caller passes the same [`PeerLog`] again with the next page.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use treaty_merkle::{CompactRange, Hash, MAX_PROOF_HASHES, leaf_hash, verify_consistency};
use treaty_note::{Checkpoint, MAX_NOTE_BYTES, Note, NoteError, VerifierKey};
use treaty_types::{LeafEntry, LedgerEntry};

use crate::FedError;
use crate::error::clip;
use crate::limits::SYNC_PAGE_ENTRIES_MAX;

/// One entry of a feed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEntry {
    /// The exact leaf bytes, for records of the collections the agreements in force share.
    Full {
        /// The entry's index in the peer's ledger.
        index: u64,
        /// The leaf bytes: the RFC 8785 form of a [`LedgerEntry`].
        leaf: Vec<u8>,
    },
    /// Only the leaf hash, for everything the puller may not see. It still extends the tree.
    Hash {
        /// The entry's index in the peer's ledger.
        index: u64,
        /// `SHA-256(0x00 || leaf)`.
        leaf_hash: [u8; 32],
    },
}

impl FeedEntry {
    /// The entry's index in the peer's ledger.
    #[must_use]
    pub fn index(&self) -> u64 {
        match self {
            FeedEntry::Full { index, .. } | FeedEntry::Hash { index, .. } => *index,
        }
    }
}

/// One page of a peer's sync feed, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// The first index of the page; must be the puller's [`PeerLog::size`].
    pub since: u64,
    /// Entries `since..since + entries.len()`, in order.
    pub entries: Vec<FeedEntry>,
    /// The peer's newest checkpoint, a C2SP signed note.
    pub checkpoint: String,
    /// The RFC 6962 consistency proof from tree size `since + entries.len()` to the
    /// checkpoint's size; empty when they are equal.
    pub consistency: Vec<[u8; 32]>,
}

/// The puller's verified view of one peer's ledger. Only [`verify_page`] produces a new
/// one; the caller persists it as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerLog {
    /// How many of the peer's entries are verified (and applied).
    pub size: u64,
    /// The [`CompactRange`] hashes of the peer's tree over those entries: one per set bit
    /// of `size`, leftmost first.
    pub range: Vec<[u8; 32]>,
    /// The held checkpoint note: the last one the range was proven against, and that is
    /// not yet behind the range (see the module docs). `None` before the first page.
    pub checkpoint: Option<String>,
    /// The size of the held checkpoint; 0 when none is held. Never below `size`.
    pub checkpoint_size: u64,
}

impl PeerLog {
    /// The state before the first page: nothing verified, no checkpoint held.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            size: 0,
            range: Vec::new(),
            checkpoint: None,
            checkpoint_size: 0,
        }
    }

    /// Checks that this is a state [`verify_page`] could have produced, for a caller that
    /// loads it from storage: the range has one hash per set bit of `size`, a held note
    /// parses as a checkpoint of `checkpoint_size`, `size` is not beyond it, and when
    /// `size` is the held size the range's root is the held root.
    ///
    /// # Errors
    /// [`FedError::InvalidPeerLog`] naming the broken rule.
    pub fn check(&self) -> Result<(), FedError> {
        self.parts().map(|_| ())
    }

    /// The root of the peer's tree over the verified entries.
    ///
    /// # Errors
    /// [`FedError::InvalidPeerLog`] when the range does not have one hash per set bit of
    /// `size`.
    pub fn root(&self) -> Result<[u8; 32], FedError> {
        Ok(self.compact_range()?.root())
    }

    /// The range as a [`CompactRange`].
    fn compact_range(&self) -> Result<CompactRange, FedError> {
        CompactRange::from_parts(self.size, self.range.clone()).map_err(|_| {
            FedError::InvalidPeerLog {
                reason: "range does not have one hash per set bit of size",
            }
        })
    }

    /// The range and the held checkpoint, after every check of [`PeerLog::check`]. The held
    /// note is only parsed, not verified again: it was verified when it was stored, and the
    /// peer's key may have been rotated since.
    fn parts(&self) -> Result<(CompactRange, Option<Checkpoint>), FedError> {
        let invalid = |reason| FedError::InvalidPeerLog { reason };
        let range = self.compact_range()?;
        let Some(text) = &self.checkpoint else {
            if self.checkpoint_size != 0 || self.size != 0 {
                return Err(invalid(
                    "size or checkpoint_size is set but no checkpoint is held",
                ));
            }
            return Ok((range, None));
        };
        let note = Note::parse(text).map_err(|_| invalid("held checkpoint is not a note"))?;
        let held =
            Checkpoint::parse(note.text()).map_err(|_| invalid("held note is not a checkpoint"))?;
        if held.size() != self.checkpoint_size {
            return Err(invalid("checkpoint_size is not the held checkpoint's size"));
        }
        if self.size > held.size() {
            return Err(invalid("size is beyond the held checkpoint"));
        }
        if self.size == held.size() && range.root() != *held.root() {
            return Err(invalid("range root is not the held checkpoint's root"));
        }
        Ok((range, Some(held)))
    }
}

/// A page that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The state after the page, to persist in place of the one passed in.
    pub log: PeerLog,
    /// The [`FeedEntry::Full`] entries, parsed, with their index, in order. Record bodies
    /// are not built: each is the canonical text at [`treaty_types::RecordLeaf::body`] in the page's leaf
    /// bytes (a sync stores bodies as text, and building them cost more than the rest).
    pub entries: Vec<(u64, LeafEntry)>,
    /// How many entries came as a leaf hash only.
    pub hashes_only: u64,
    /// The page's checkpoint, verified: the peer's current size and root. The puller has
    /// caught up when `log.size` reaches its size. It is held in `log` unless the range
    /// has not reached the held checkpoint yet (see the module docs).
    pub checkpoint: Checkpoint,
}

/// What a page got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscrepancyKind {
    /// The checkpoint is not a signed note, is not signed by the peer's log key (or a
    /// signature by it fails), or the signed text is not a checkpoint.
    BadCheckpointSignature,
    /// The checkpoint is validly signed but names another origin than the peer's log.
    WrongOrigin,
    /// The page does not start at the puller's size, skips or repeats an index, or ends
    /// beyond its checkpoint's size.
    NonContiguous,
    /// A root the entries give is not the root a checkpoint signs: at the checkpoint's
    /// size, at the held checkpoint's size, or a second checkpoint of the held size with
    /// another root (a fork).
    RootMismatch,
    /// The consistency proof does not lead from the entries' root to the checkpoint's.
    InconsistentProof,
    /// The checkpoint is smaller than the one held: the peer's log went backwards.
    Rollback,
    /// A full leaf is not a canonical ledger entry.
    MalformedEntry,
    /// The page breaks a size limit: too many entries, a checkpoint note beyond the note
    /// limit, or a proof longer than any tree needs.
    TooLarge,
    /// Not about the peer: the puller's stored [`PeerLog`] or configured verifier key is
    /// invalid. Repair or reset the state; do not hold this against the peer.
    InvalidLocalState,
}

impl DiscrepancyKind {
    /// Every kind.
    pub const ALL: [DiscrepancyKind; 9] = [
        DiscrepancyKind::BadCheckpointSignature,
        DiscrepancyKind::WrongOrigin,
        DiscrepancyKind::NonContiguous,
        DiscrepancyKind::RootMismatch,
        DiscrepancyKind::InconsistentProof,
        DiscrepancyKind::Rollback,
        DiscrepancyKind::MalformedEntry,
        DiscrepancyKind::TooLarge,
        DiscrepancyKind::InvalidLocalState,
    ];

    /// The stable `snake_case` name, for storage, metrics and problem answers.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::BadCheckpointSignature => "bad_checkpoint_signature",
            DiscrepancyKind::WrongOrigin => "wrong_origin",
            DiscrepancyKind::NonContiguous => "non_contiguous",
            DiscrepancyKind::RootMismatch => "root_mismatch",
            DiscrepancyKind::InconsistentProof => "inconsistent_proof",
            DiscrepancyKind::Rollback => "rollback",
            DiscrepancyKind::MalformedEntry => "malformed_entry",
            DiscrepancyKind::TooLarge => "too_large",
            DiscrepancyKind::InvalidLocalState => "invalid_local_state",
        }
    }

    /// Whether this is about what the peer served (every kind but
    /// [`DiscrepancyKind::InvalidLocalState`]).
    #[must_use]
    pub fn is_peer_fault(self) -> bool {
        self != DiscrepancyKind::InvalidLocalState
    }
}

impl fmt::Display for DiscrepancyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A page that failed a check, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct Discrepancy {
    /// Which check failed.
    pub kind: DiscrepancyKind,
    /// What exactly is wrong, for operators. Text from the page is clipped.
    pub detail: String,
    /// A JSON object with everything needed to show the problem to a third party; always
    /// has `kind`, and for a page `origin`, `verifier_key`, `since`, `entries`,
    /// `checkpoint` (the note as served), `held_checkpoint`, `held_checkpoint_size`,
    /// `local_size` and `range_before`, plus what the failed check computed.
    pub evidence: Value,
}

impl Discrepancy {
    /// The stable code, [`DiscrepancyKind::as_str`].
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// Standard padded base64, the encoding of a checkpoint's root line.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A list of hashes in base64.
fn b64_list(hashes: &[Hash]) -> Value {
    Value::Array(hashes.iter().map(|h| Value::String(b64(h))).collect())
}

/// A note for the evidence: the whole note when within the note limit (all notes that can
/// verify are), an excerpt otherwise, so evidence stays bounded.
fn note_evidence(note: &str) -> Value {
    if note.len() <= MAX_NOTE_BYTES {
        Value::String(note.to_owned())
    } else {
        json!({ "excerpt": clip(note), "bytes": note.len() })
    }
}

/// Builds discrepancies with the evidence every page check shares.
struct Evidence<'a> {
    /// The state the page was checked against.
    log: &'a PeerLog,
    /// The page.
    page: &'a FeedPage,
    /// The peer's verifier key text.
    verifier_key: &'a str,
    /// The peer's origin.
    origin: &'a str,
}

impl Evidence<'_> {
    /// A discrepancy of `kind` whose evidence is the shared members plus `extra`'s.
    fn report(&self, kind: DiscrepancyKind, detail: String, extra: Value) -> Discrepancy {
        let mut evidence = Map::new();
        evidence.insert("kind".into(), kind.as_str().into());
        evidence.insert("origin".into(), self.origin.into());
        evidence.insert("verifier_key".into(), self.verifier_key.into());
        evidence.insert("since".into(), self.page.since.into());
        evidence.insert("entries".into(), self.page.entries.len().into());
        evidence.insert("checkpoint".into(), note_evidence(&self.page.checkpoint));
        evidence.insert(
            "held_checkpoint".into(),
            self.log
                .checkpoint
                .as_deref()
                .map_or(Value::Null, note_evidence),
        );
        evidence.insert(
            "held_checkpoint_size".into(),
            self.log.checkpoint_size.into(),
        );
        evidence.insert("local_size".into(), self.log.size.into());
        if self.log.range.len() <= MAX_PROOF_HASHES {
            evidence.insert("range_before".into(), b64_list(&self.log.range));
        }
        if let Value::Object(extra) = extra {
            evidence.extend(extra);
        }
        Discrepancy {
            kind,
            detail,
            evidence: Value::Object(evidence),
        }
    }
}

/// Why a checkpoint did not open, as a kind and a message.
fn open_failure(e: &NoteError) -> (DiscrepancyKind, String) {
    match e {
        NoteError::OriginMismatch { origin, expected } => (
            DiscrepancyKind::WrongOrigin,
            format!(
                "the checkpoint's origin {:?} is not the peer's log {:?}",
                clip(origin),
                clip(expected)
            ),
        ),
        NoteError::WrongKeyType { .. } => (
            DiscrepancyKind::InvalidLocalState,
            format!(
                "the configured verifier key is not a log key: {}",
                clip(&e.to_string())
            ),
        ),
        _ => (
            DiscrepancyKind::BadCheckpointSignature,
            format!(
                "the checkpoint does not open with the peer's log key: {}",
                clip(&e.to_string())
            ),
        ),
    }
}

/// Parses the peer's verifier key text, which is the puller's configuration, not the page.
fn parse_key(verifier_key: &str) -> Result<VerifierKey, (DiscrepancyKind, String)> {
    VerifierKey::parse(verifier_key).map_err(|e| {
        (
            DiscrepancyKind::InvalidLocalState,
            format!(
                "the configured verifier key does not parse: {}",
                clip(&e.to_string())
            ),
        )
    })
}

/// Opens `note` with the peer's key: signed by it, a checkpoint, of `origin`. Witness
/// cosignatures are not required here; lines by other keys are ignored.
fn open(
    note: &str,
    key: &VerifierKey,
    origin: &str,
) -> Result<Checkpoint, (DiscrepancyKind, String)> {
    treaty_note::open_checkpoint_with_origin(note, origin, key, &[])
        .map(|opened| opened.checkpoint)
        .map_err(|e| open_failure(&e))
}

/// Opens a peer's checkpoint note: it must be signed by `verifier_key` (C2SP verifier key
/// text, `<name>+<hex id>+<base64>`) and name `origin`. For callers that get a checkpoint
/// outside a feed page (a peer's card, a gossip message) and want the same checks and the
/// same kinds of evidence.
///
/// # Errors
/// A [`Discrepancy`] of kind [`DiscrepancyKind::TooLarge`],
/// [`DiscrepancyKind::BadCheckpointSignature`], [`DiscrepancyKind::WrongOrigin`], or
/// [`DiscrepancyKind::InvalidLocalState`] when the verifier key is not a log key.
pub fn checkpoint_of(
    note: &str,
    verifier_key: &str,
    origin: &str,
) -> Result<Checkpoint, Discrepancy> {
    let report = |kind: DiscrepancyKind, detail: String| Discrepancy {
        kind,
        detail,
        evidence: json!({
            "kind": kind.as_str(),
            "origin": origin,
            "verifier_key": verifier_key,
            "checkpoint": note_evidence(note),
        }),
    };
    if note.len() > MAX_NOTE_BYTES {
        return Err(report(
            DiscrepancyKind::TooLarge,
            format!(
                "the checkpoint note is {} bytes; notes are at most {MAX_NOTE_BYTES}",
                note.len()
            ),
        ));
    }
    parse_key(verifier_key)
        .and_then(|key| open(note, &key, origin))
        .map_err(|(kind, detail)| report(kind, detail))
}

/// Verifies one feed page against the puller's state for the peer, and returns the state
/// after it with the entries to apply. `verifier_key` is the peer's log key as C2SP
/// verifier key text and `origin` its log's origin.
///
/// In order, each failure its own [`DiscrepancyKind`]:
/// 1. the stored state is one this function produces ([`PeerLog::check`]) and the key
///    parses (`InvalidLocalState`);
/// 2. at most [`SYNC_PAGE_ENTRIES_MAX`] entries, a note within the note limit, a proof of
///    at most 64 hashes (`TooLarge`);
/// 3. the checkpoint is signed by the key (`BadCheckpointSignature`) and names `origin`
///    (`WrongOrigin`);
/// 4. it is not smaller than the held checkpoint (`Rollback`) and, at the same size, has
///    the same root (`RootMismatch`: a fork, both notes in the evidence);
/// 5. the page starts at the puller's size, its indexes run on without a gap, and it ends
///    at or before the checkpoint's size (`NonContiguous`);
/// 6. every full leaf is a canonical [`LedgerEntry`] (`MalformedEntry`); the range is
///    extended with every leaf hash, and where it reaches the held checkpoint's size its
///    root must be the held root (`RootMismatch`);
/// 7. at the page's end `m`, the root is the checkpoint's when `m` is its size
///    (`RootMismatch`, and the proof must be empty: `InconsistentProof`), otherwise the
///    consistency proof leads from it to the checkpoint's (`InconsistentProof`).
///
/// Since the range was extended from the stored one, which an earlier page proved the same
/// way, a page that passes proves every verified entry, not only its own, to be in the
/// tree the new checkpoint signs; and, once the range has reached the held checkpoint, the
/// held checkpoint consistent with the new one. The held checkpoint moves to the new one
/// only then (see the module docs for why).
///
/// # Errors
/// The first check that fails, as a [`Discrepancy`]. Nothing is applied on failure: the
/// function changes nothing, so `log` stays the state to pass with the next page.
pub fn verify_page(
    log: &PeerLog,
    page: &FeedPage,
    verifier_key: &str,
    origin: &str,
) -> Result<Applied, Discrepancy> {
    let w = Evidence {
        log,
        page,
        verifier_key,
        origin,
    };

    // 1. Local state: a broken stored state must not be blamed on the peer.
    let (mut range, held) = log.parts().map_err(|e| {
        w.report(
            DiscrepancyKind::InvalidLocalState,
            format!("the stored peer log is invalid: {e}"),
            json!({}),
        )
    })?;
    let key =
        parse_key(verifier_key).map_err(|(kind, detail)| w.report(kind, detail, json!({})))?;

    // 2. Limits, before any work.
    if page.entries.len() > SYNC_PAGE_ENTRIES_MAX {
        return Err(w.report(
            DiscrepancyKind::TooLarge,
            format!(
                "the page has {} entries; a page has at most {SYNC_PAGE_ENTRIES_MAX}",
                page.entries.len()
            ),
            json!({}),
        ));
    }
    if page.checkpoint.len() > MAX_NOTE_BYTES {
        return Err(w.report(
            DiscrepancyKind::TooLarge,
            format!(
                "the checkpoint note is {} bytes; notes are at most {MAX_NOTE_BYTES}",
                page.checkpoint.len()
            ),
            json!({}),
        ));
    }
    if page.consistency.len() > MAX_PROOF_HASHES {
        return Err(w.report(
            DiscrepancyKind::TooLarge,
            format!(
                "the consistency proof has {} hashes; no tree needs more than {MAX_PROOF_HASHES}",
                page.consistency.len()
            ),
            json!({}),
        ));
    }

    // 3. The checkpoint: signed by the peer, for its log.
    let cp = open(&page.checkpoint, &key, origin)
        .map_err(|(kind, detail)| w.report(kind, detail, json!({})))?;
    let (n, root_n) = (cp.size(), *cp.root());
    let checkpoint_facts = json!({
        "checkpoint_size": n,
        "checkpoint_root": b64(&root_n),
        "consistency": b64_list(&page.consistency),
    });
    let with = |extra: Value| {
        let mut all = checkpoint_facts.clone();
        if let (Value::Object(all), Value::Object(extra)) = (&mut all, extra) {
            all.extend(extra);
        }
        all
    };

    // 4. Against the held checkpoint: no going back, no second root for one size.
    if let Some(held) = &held {
        if n < held.size() {
            return Err(w.report(
                DiscrepancyKind::Rollback,
                format!(
                    "the checkpoint has size {n}, below the held checkpoint's size {}",
                    held.size()
                ),
                with(json!({ "held_checkpoint_root": b64(held.root()) })),
            ));
        }
        if n == held.size() && root_n != *held.root() {
            return Err(w.report(
                DiscrepancyKind::RootMismatch,
                format!(
                    "fork: the checkpoint and the held checkpoint both have size {n} but \
                     roots {} and {}",
                    b64(&root_n),
                    b64(held.root())
                ),
                with(json!({ "held_checkpoint_root": b64(held.root()) })),
            ));
        }
    }

    // 5. Contiguity.
    if page.since != log.size {
        return Err(w.report(
            DiscrepancyKind::NonContiguous,
            format!(
                "the page starts at {} but {} entries are verified",
                page.since, log.size
            ),
            with(json!({})),
        ));
    }
    let m = u64::try_from(page.entries.len())
        .ok()
        .and_then(|count| page.since.checked_add(count))
        .filter(|m| *m <= n);
    let Some(m) = m else {
        return Err(w.report(
            DiscrepancyKind::NonContiguous,
            format!(
                "the page's {} entries from {} end beyond the checkpoint's size {n}",
                page.entries.len(),
                page.since
            ),
            with(json!({})),
        ));
    };
    // `m <= n` bounds every expected index, so `since + offset` cannot overflow.
    for (expected, entry) in (page.since..m).zip(&page.entries) {
        if entry.index() != expected {
            return Err(w.report(
                DiscrepancyKind::NonContiguous,
                format!(
                    "entry {} of the page has index {} where {expected} was expected",
                    expected - page.since,
                    entry.index()
                ),
                with(json!({ "index": entry.index(), "expected_index": expected })),
            ));
        }
    }

    // 6. Entries: parse full leaves, extend the range, check the held root on the way.
    let anchor = held.as_ref().filter(|h| h.size() > log.size);
    let mut entries = Vec::new();
    let mut hashes_only = 0u64;
    for entry in &page.entries {
        let (index, hash) = match entry {
            FeedEntry::Full { index, leaf } => {
                let hash = leaf_hash(leaf);
                let parsed = LedgerEntry::read_leaf(leaf).map_err(|e| {
                    w.report(
                        DiscrepancyKind::MalformedEntry,
                        format!(
                            "entry {index} is not a canonical ledger entry ({}): {}",
                            e.code(),
                            clip(&e.to_string())
                        ),
                        with(json!({
                            "index": index,
                            "leaf_hash": b64(&hash),
                            "leaf_bytes": leaf.len(),
                            "error": e.code(),
                        })),
                    )
                })?;
                entries.push((*index, parsed));
                (*index, hash)
            }
            FeedEntry::Hash { index, leaf_hash } => {
                hashes_only += 1;
                (*index, *leaf_hash)
            }
        };
        range.append(hash, |_| {});
        if let Some(held) = anchor.filter(|h| h.size() == range.size()) {
            let root = range.root();
            if root != *held.root() {
                return Err(w.report(
                    DiscrepancyKind::RootMismatch,
                    format!(
                        "up to entry {index} the entries give root {} at size {}, but the \
                         held checkpoint of that size has root {}",
                        b64(&root),
                        range.size(),
                        b64(held.root())
                    ),
                    with(json!({
                        "index": index,
                        "leaf_hash": b64(&hash),
                        "computed_size": range.size(),
                        "computed_root": b64(&root),
                        "held_checkpoint_root": b64(held.root()),
                        "range_after": b64_list(range.hashes()),
                    })),
                ));
            }
        }
    }

    // 7. The page's end against the checkpoint.
    let root_m = range.root();
    let computed = || {
        with(json!({
            "computed_size": m,
            "computed_root": b64(&root_m),
            "range_after": b64_list(range.hashes()),
        }))
    };
    if m == n {
        if root_m != root_n {
            return Err(w.report(
                DiscrepancyKind::RootMismatch,
                format!(
                    "the entries give root {} at size {m}, but the checkpoint of that size \
                     has root {}",
                    b64(&root_m),
                    b64(&root_n)
                ),
                computed(),
            ));
        }
        if !page.consistency.is_empty() {
            return Err(w.report(
                DiscrepancyKind::InconsistentProof,
                format!(
                    "the page ends at the checkpoint's size {n}, so the proof must be empty, \
                     but it has {} hashes",
                    page.consistency.len()
                ),
                computed(),
            ));
        }
    } else if let Err(e) = verify_consistency(m, n, &page.consistency, &root_m, &root_n) {
        return Err(w.report(
            DiscrepancyKind::InconsistentProof,
            format!(
                "the consistency proof does not lead from root {} at size {m} to the \
                 checkpoint's root {} at size {n}: {e}",
                b64(&root_m),
                b64(&root_n)
            ),
            computed(),
        ));
    }

    // Hold the new checkpoint unless the range is still short of the held one and the new
    // one is larger (then nothing yet links the two; see the module docs).
    let advance = m >= log.checkpoint_size || n == log.checkpoint_size;
    let (checkpoint, checkpoint_size) = if advance {
        (Some(page.checkpoint.clone()), n)
    } else {
        (log.checkpoint.clone(), log.checkpoint_size)
    };
    Ok(Applied {
        log: PeerLog {
            size: m,
            range: range.hashes().to_vec(),
            checkpoint,
            checkpoint_size,
        },
        entries,
        hashes_only,
        checkpoint: cp,
    })
}

/// Largest feed page answer a puller reads, in bytes. The serving node keeps the leaf bytes
/// of a page under [`FEED_PAGE_LEAF_BYTES_MAX`], and base64 and JSON add about 40% to that.
pub const FEED_PAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Most leaf bytes a serving node puts in one page (it always serves at least one entry).
pub const FEED_PAGE_LEAF_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The wire form of a feed page (`GET /v1/federation/entries`). Members the puller does
/// not need (`tree_size`, `next`, `collections`) are read by serde and ignored.
#[derive(serde::Deserialize)]
struct WirePage {
    since: u64,
    entries: Vec<WireEntry>,
    checkpoint: String,
    consistency: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    index: u64,
    #[serde(default)]
    leaf: Option<String>,
    #[serde(default)]
    leaf_hash: Option<String>,
}

impl FeedPage {
    /// Parses a feed page answer: `{"since", "entries": [{"index", "leaf"|"leaf_hash"}],
    /// "checkpoint", "consistency": [...]}` with standard base64 bytes and hashes. Only the
    /// shape is checked here; [`verify_page`] checks what the page proves.
    ///
    /// # Errors
    /// [`FedError::TooLarge`] beyond [`FEED_PAGE_BYTES_MAX`], [`FedError::TooMany`] beyond
    /// [`SYNC_PAGE_ENTRIES_MAX`] entries or [`MAX_PROOF_HASHES`] proof hashes,
    /// [`FedError::InvalidJson`] for anything else malformed.
    pub fn parse(bytes: &[u8]) -> Result<FeedPage, FedError> {
        if bytes.len() > FEED_PAGE_BYTES_MAX {
            return Err(FedError::TooLarge {
                what: "feed page",
                len: bytes.len(),
                max: FEED_PAGE_BYTES_MAX,
            });
        }
        let wire: WirePage = serde_json::from_slice(bytes).map_err(|e| FedError::InvalidJson {
            reason: clip(&e.to_string()),
        })?;
        if wire.entries.len() > SYNC_PAGE_ENTRIES_MAX {
            return Err(FedError::TooMany {
                what: "feed page entries",
                count: wire.entries.len(),
                max: SYNC_PAGE_ENTRIES_MAX,
            });
        }
        if wire.consistency.len() > MAX_PROOF_HASHES {
            return Err(FedError::TooMany {
                what: "consistency proof hashes",
                count: wire.consistency.len(),
                max: MAX_PROOF_HASHES,
            });
        }
        let bad = |reason: &str| FedError::InvalidJson {
            reason: reason.to_owned(),
        };
        let decode = |text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad("a leaf or hash is not standard base64"))
        };
        let hash = |text: &str| -> Result<[u8; 32], FedError> {
            decode(text)?
                .try_into()
                .map_err(|_| bad("a hash is not 32 bytes"))
        };
        let entries = wire
            .entries
            .into_iter()
            .map(|e| match (e.leaf, e.leaf_hash) {
                (Some(leaf), None) => Ok(FeedEntry::Full {
                    index: e.index,
                    leaf: decode(&leaf)?,
                }),
                (None, Some(h)) => Ok(FeedEntry::Hash {
                    index: e.index,
                    leaf_hash: hash(&h)?,
                }),
                _ => Err(bad("an entry must have exactly one of leaf and leaf_hash")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let consistency = wire
            .consistency
            .iter()
            .map(|h| hash(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedPage {
            since: wire.since,
            entries,
            checkpoint: wire.checkpoint,
            consistency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use treaty_merkle::{MemoryHashStore, consistency_proof, root_at};
    use treaty_note::{KEY_TYPE_ED25519, SignerKey, sign_checkpoint};
    use treaty_types::{CollectionName, Operation, RecordKey};

    const ORIGIN: &str = "peer.example/log";

    /// Leaf bytes of entry `i`: a shared record for even `i`, an anchor otherwise.
    /// `variant` changes the content while keeping it canonical.
    fn entry_bytes(i: u64, variant: u64) -> Vec<u8> {
        let entry = if i % 2 == 0 {
            LedgerEntry::Record {
                collection: CollectionName::parse("receipt").expect("name"),
                key: RecordKey::parse(&format!("k{i}")).expect("key"),
                version: 1,
                op: Operation::Put,
                body: Some(json!({ "n": i, "v": variant })),
                time_ms: 1_700_000_000_000 + i,
            }
        } else {
            LedgerEntry::Anchor {
                digest: format!("{:016x}", i ^ (variant << 32)),
            }
        };
        entry.to_leaf_bytes().expect("bytes")
    }

    /// A peer: its signing key, ledger and tree.
    struct Peer {
        key: SignerKey,
        leaves: Vec<Vec<u8>>,
        store: MemoryHashStore,
    }

    impl Peer {
        fn new(seed: u8) -> Self {
            let key = SignerKey::new(
                ORIGIN,
                KEY_TYPE_ED25519,
                SigningKey::from_bytes(&[seed; 32]),
            )
            .expect("key");
            Self {
                key,
                leaves: Vec::new(),
                store: MemoryHashStore::new(),
            }
        }

        fn with_entries(seed: u8, n: u64) -> Self {
            let mut peer = Self::new(seed);
            peer.grow(n);
            peer
        }

        /// Appends `n` entries.
        fn grow(&mut self, n: u64) {
            self.grow_variant(n, 0);
        }

        fn grow_variant(&mut self, n: u64, variant: u64) {
            for _ in 0..n {
                let bytes = entry_bytes(self.leaves.len() as u64, variant);
                self.store.append(leaf_hash(&bytes));
                self.leaves.push(bytes);
            }
        }

        fn vkey(&self) -> String {
            self.key.verifier_key().expect("vkey").to_string()
        }

        /// The signed checkpoint of the first `size` entries.
        fn checkpoint(&self, size: u64) -> String {
            self.checkpoint_as(ORIGIN, size)
        }

        fn checkpoint_as(&self, origin: &str, size: u64) -> String {
            let root = root_at(size, &self.store).expect("root");
            let cp = Checkpoint::new(origin, size, root).expect("cp");
            sign_checkpoint(&cp, self.key.name(), self.key.signing_key()).expect("sign")
        }

        /// The feed's page of `count` entries from `since` against the checkpoint at
        /// `at`; entries of odd index (anchors) travel as hashes only.
        fn page(&self, since: u64, count: u64, at: u64) -> FeedPage {
            let next = since + count;
            let entries = (since..next)
                .map(|i| {
                    let leaf = self.leaves[i as usize].clone();
                    if i % 2 == 0 {
                        FeedEntry::Full { index: i, leaf }
                    } else {
                        FeedEntry::Hash {
                            index: i,
                            leaf_hash: leaf_hash(&leaf),
                        }
                    }
                })
                .collect();
            FeedPage {
                since,
                entries,
                checkpoint: self.checkpoint(at),
                // None when the page overruns the checkpoint (a test of that case).
                consistency: consistency_proof(next, at, &self.store).unwrap_or_default(),
            }
        }
    }

    fn verify(peer: &Peer, log: &PeerLog, page: &FeedPage) -> Result<Applied, Discrepancy> {
        verify_page(log, page, &peer.vkey(), ORIGIN)
    }

    /// Verifies a page that must fail with `kind`, and checks the state is untouched and
    /// the evidence names the kind.
    fn refused(peer: &Peer, log: &PeerLog, page: &FeedPage, kind: DiscrepancyKind) -> Discrepancy {
        let before = log.clone();
        let err = verify(peer, log, page).expect_err("page must be refused");
        assert_eq!(err.kind, kind, "{err}");
        assert_eq!(log, &before);
        assert_eq!(err.evidence["kind"], kind.as_str());
        assert_eq!(err.code(), kind.as_str());
        err
    }

    /// Syncs `log` to `at` in pages of `step`.
    fn sync(peer: &Peer, mut log: PeerLog, at: u64, step: u64) -> PeerLog {
        while log.size < at {
            let count = step.min(at - log.size);
            log = verify(peer, &log, &peer.page(log.size, count, at))
                .expect("page")
                .log;
        }
        log
    }

    #[test]
    fn full_sync_in_pages_with_hash_only_entries() {
        let peer = Peer::with_entries(1, 25);
        let mut log = PeerLog::empty();
        let mut full = Vec::new();
        let mut hashes_only = 0;
        for (since, count) in [(0, 7), (7, 7), (14, 7), (21, 4)] {
            let applied = verify(&peer, &log, &peer.page(since, count, 25)).expect("page");
            assert_eq!(applied.log.size, since + count);
            assert_eq!(applied.log.checkpoint_size, 25);
            assert_eq!(
                applied.log.checkpoint.as_deref(),
                Some(peer.checkpoint(25).as_str())
            );
            assert_eq!(applied.checkpoint.size(), 25);
            applied.log.check().expect("valid state");
            full.extend(applied.entries.iter().map(|(i, _)| *i));
            hashes_only += applied.hashes_only;
            log = applied.log;
        }
        assert_eq!(full, (0..25).filter(|i| i % 2 == 0).collect::<Vec<_>>());
        assert_eq!(hashes_only, 12);
        assert_eq!(log.root().expect("root"), peer.store.root());
        // The parsed entries are the peer's.
        let applied = verify(&peer, &PeerLog::empty(), &peer.page(0, 3, 25)).expect("page");
        assert_eq!(
            applied.entries,
            vec![
                (0, LedgerEntry::read_leaf(&peer.leaves[0]).expect("e0")),
                (2, LedgerEntry::read_leaf(&peer.leaves[2]).expect("e2")),
            ]
        );
    }

    #[test]
    fn incremental_page_after_a_full_sync() {
        let mut peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 25, 10);
        peer.grow(6);
        let applied = verify(&peer, &log, &peer.page(25, 6, 31)).expect("page");
        assert_eq!(applied.log.size, 31);
        assert_eq!(applied.log.checkpoint_size, 31);
        assert_eq!(
            applied.entries.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [26, 28, 30]
        );
        assert_eq!(applied.hashes_only, 3);
        assert_eq!(applied.log.root().expect("root"), peer.store.root());
        // Incremental again while the peer runs ahead: the page ends short of the checkpoint.
        peer.grow(10);
        let applied = verify(&peer, &applied.log, &peer.page(31, 4, 41)).expect("page");
        assert_eq!((applied.log.size, applied.log.checkpoint_size), (35, 41));
    }

    #[test]
    fn empty_page_with_a_grown_checkpoint() {
        let mut peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 25, 25);
        peer.grow(15);
        let page = peer.page(25, 0, 40);
        assert!(!page.consistency.is_empty());
        let applied = verify(&peer, &log, &page).expect("page");
        assert_eq!(applied.log.size, 25);
        assert_eq!(applied.log.range, log.range);
        assert_eq!(applied.log.checkpoint_size, 40);
        assert!(applied.entries.is_empty());
        // Same checkpoint again, nothing new: fine and idempotent.
        let again = verify(&peer, &applied.log, &page).expect("page");
        assert_eq!(again.log, applied.log);
        // From an empty log, a page with no entries needs no proof.
        let fresh = verify(&peer, &PeerLog::empty(), &peer.page(0, 0, 40)).expect("page");
        assert_eq!(fresh.log.size, 0);
        assert_eq!(fresh.log.checkpoint_size, 40);
    }

    #[test]
    fn held_checkpoint_stays_until_the_range_reaches_it() {
        let mut peer = Peer::with_entries(1, 10);
        let log = verify(&peer, &PeerLog::empty(), &peer.page(0, 4, 10))
            .expect("page")
            .log;
        assert_eq!((log.size, log.checkpoint_size), (4, 10));
        peer.grow(10);
        // Still short of 10 with a checkpoint of 20: the held checkpoint stays.
        let applied = verify(&peer, &log, &peer.page(4, 4, 20)).expect("page");
        assert_eq!((applied.log.size, applied.log.checkpoint_size), (8, 10));
        assert_eq!(applied.log.checkpoint, log.checkpoint);
        assert_eq!(applied.checkpoint.size(), 20);
        // Crossing 10: checked against the held root, then the new one is held.
        let applied = verify(&peer, &applied.log, &peer.page(8, 5, 20)).expect("page");
        assert_eq!((applied.log.size, applied.log.checkpoint_size), (13, 20));
        // A smaller, older checkpoint of size >= 10 is now a rollback.
        refused(
            &peer,
            &applied.log,
            &peer.page(13, 0, 13),
            DiscrepancyKind::Rollback,
        );
    }

    #[test]
    fn a_fork_behind_the_held_checkpoint_is_caught_when_the_range_reaches_it() {
        // The peer signed a checkpoint at 10, then rewrote entry 7 and signs 20 entries.
        let honest = Peer::with_entries(1, 10);
        let log = verify(&honest, &PeerLog::empty(), &honest.page(0, 5, 10))
            .expect("page")
            .log;
        let mut forked = Peer::with_entries(1, 7);
        forked.grow_variant(1, 9);
        forked.grow(12);
        // Entries 5..8 are consistent with the forked checkpoint of 20, and the held
        // checkpoint stays; 8..12 reaches 10, where the root is not the held one.
        let applied = verify(&forked, &log, &forked.page(5, 3, 20)).expect("page");
        assert_eq!(applied.log.checkpoint, log.checkpoint);
        let err = refused(
            &forked,
            &applied.log,
            &forked.page(8, 4, 20),
            DiscrepancyKind::RootMismatch,
        );
        assert_eq!(err.evidence["computed_size"], 10);
        assert_eq!(err.evidence["held_checkpoint"], honest.checkpoint(10));
        // In one page it is caught as well.
        refused(
            &forked,
            &log,
            &forked.page(5, 7, 20),
            DiscrepancyKind::RootMismatch,
        );
    }

    #[test]
    fn altered_leaves() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        // A canonical entry with other content, in a page that ends at the checkpoint.
        let mut page = peer.page(10, 15, 25);
        page.entries[2] = FeedEntry::Full {
            index: 12,
            leaf: entry_bytes(12, 1),
        };
        let err = refused(&peer, &log, &page, DiscrepancyKind::RootMismatch);
        assert_eq!(err.evidence["computed_size"], 25);
        assert_eq!(err.evidence["checkpoint"], peer.checkpoint(25));
        assert_eq!(err.evidence["checkpoint_root"], b64(&peer.store.root()));
        // The same in a page that ends before it: the proof no longer fits.
        let mut page = peer.page(10, 5, 25);
        page.entries[2] = FeedEntry::Full {
            index: 12,
            leaf: entry_bytes(12, 1),
        };
        let err = refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
        assert_eq!(err.evidence["computed_size"], 15);
        // A flipped byte in a hash-only entry.
        let mut page = peer.page(10, 5, 25);
        if let FeedEntry::Hash { leaf_hash, .. } = &mut page.entries[1] {
            leaf_hash[0] ^= 1;
        }
        refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
    }

    #[test]
    fn bad_checkpoint_signature() {
        let peer = Peer::with_entries(1, 5);
        let mut page = peer.page(0, 5, 5);
        // Flip one base64 character of the signature.
        let at = page.checkpoint.len() - 6;
        let flipped = if page.checkpoint.as_bytes()[at] == b'A' {
            "B"
        } else {
            "A"
        };
        page.checkpoint.replace_range(at..=at, flipped);
        let err = refused(
            &peer,
            &PeerLog::empty(),
            &page,
            DiscrepancyKind::BadCheckpointSignature,
        );
        assert_eq!(err.evidence["checkpoint"], page.checkpoint);
        // Signed by someone else under the same name.
        let other = Peer::with_entries(2, 5);
        let page = other.page(0, 5, 5);
        refused(
            &peer,
            &PeerLog::empty(),
            &page,
            DiscrepancyKind::BadCheckpointSignature,
        );
        // Not a note at all.
        let mut page = peer.page(0, 5, 5);
        page.checkpoint = "hello".into();
        refused(
            &peer,
            &PeerLog::empty(),
            &page,
            DiscrepancyKind::BadCheckpointSignature,
        );
    }

    #[test]
    fn checkpoint_from_another_origin() {
        let peer = Peer::with_entries(1, 5);
        let mut page = peer.page(0, 5, 5);
        page.checkpoint = peer.checkpoint_as("other.example/log", 5);
        let err = refused(
            &peer,
            &PeerLog::empty(),
            &page,
            DiscrepancyKind::WrongOrigin,
        );
        assert!(err.detail.contains("other.example/log"), "{}", err.detail);
        let err = checkpoint_of(&page.checkpoint, &peer.vkey(), ORIGIN).expect_err("origin");
        assert_eq!(err.kind, DiscrepancyKind::WrongOrigin);
        let cp = checkpoint_of(&peer.checkpoint(5), &peer.vkey(), ORIGIN).expect("open");
        assert_eq!((cp.size(), *cp.root()), (5, peer.store.root()));
    }

    #[test]
    fn rollback_to_a_smaller_checkpoint() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 20, 10);
        assert_eq!(log.checkpoint_size, 20);
        let err = refused(
            &peer,
            &log,
            &peer.page(20, 0, 15),
            DiscrepancyKind::Rollback,
        );
        assert_eq!(err.evidence["checkpoint"], peer.checkpoint(15));
        assert_eq!(err.evidence["held_checkpoint"], peer.checkpoint(20));
        assert_eq!(err.evidence["checkpoint_size"], 15);
        assert_eq!(err.evidence["held_checkpoint_size"], 20);
    }

    #[test]
    fn fork_at_the_same_size() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 25, 25);
        let mut fork = Peer::with_entries(1, 24);
        fork.grow_variant(1, 3);
        let err = refused(
            &peer,
            &log,
            &fork.page(25, 0, 25),
            DiscrepancyKind::RootMismatch,
        );
        assert!(err.detail.starts_with("fork"), "{}", err.detail);
        assert_eq!(err.evidence["checkpoint"], fork.checkpoint(25));
        assert_eq!(err.evidence["held_checkpoint"], peer.checkpoint(25));
        // Mid-sync too, against a held checkpoint the range has not reached.
        let log = verify(&peer, &PeerLog::empty(), &peer.page(0, 10, 25))
            .expect("page")
            .log;
        refused(
            &peer,
            &log,
            &fork.page(10, 3, 25),
            DiscrepancyKind::RootMismatch,
        );
        // A fork beyond a held checkpoint the range has reached is not visible yet: the
        // entries so far are in both trees.
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        assert!(verify(&peer, &log, &fork.page(10, 3, 25)).is_ok());
    }

    #[test]
    fn gaps_and_overruns() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        // A gap in the indexes.
        let mut page = peer.page(10, 5, 25);
        page.entries.remove(2);
        let err = refused(&peer, &log, &page, DiscrepancyKind::NonContiguous);
        assert_eq!(err.evidence["index"], 13);
        assert_eq!(err.evidence["expected_index"], 12);
        // A repeated index.
        let mut page = peer.page(10, 5, 25);
        page.entries[3] = page.entries[2].clone();
        refused(&peer, &log, &page, DiscrepancyKind::NonContiguous);
        // Not starting where the puller is.
        refused(
            &peer,
            &log,
            &peer.page(9, 5, 25),
            DiscrepancyKind::NonContiguous,
        );
        refused(
            &peer,
            &log,
            &peer.page(11, 5, 25),
            DiscrepancyKind::NonContiguous,
        );
        // Beyond the checkpoint's size.
        let mut page = peer.page(10, 5, 14);
        page.consistency.clear();
        refused(&peer, &log, &page, DiscrepancyKind::NonContiguous);
        // Far beyond.
        let mut page = peer.page(10, 5, 25);
        page.since = u64::MAX;
        refused(&peer, &log, &page, DiscrepancyKind::NonContiguous);
    }

    #[test]
    fn wrong_proofs() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        let mut page = peer.page(10, 5, 25);
        page.consistency[0][0] ^= 1;
        refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
        let mut page = peer.page(10, 5, 25);
        page.consistency.pop();
        refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
        let mut page = peer.page(10, 5, 25);
        page.consistency.clear();
        refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
        // A proof where none belongs.
        let mut page = peer.page(10, 15, 25);
        page.consistency.push([0; 32]);
        refused(&peer, &log, &page, DiscrepancyKind::InconsistentProof);
        // Longer than any tree needs.
        let mut page = peer.page(10, 5, 25);
        page.consistency = vec![[0; 32]; MAX_PROOF_HASHES + 1];
        refused(&peer, &log, &page, DiscrepancyKind::TooLarge);
    }

    #[test]
    fn non_canonical_leaf() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        for bad in [
            String::from_utf8(entry_bytes(12, 0))
                .expect("utf8")
                .replace(",", ", ")
                .into_bytes(),
            b"not json".to_vec(),
            br#"{"kind":"other"}"#.to_vec(),
            vec![0xff; 3],
        ] {
            let mut page = peer.page(10, 5, 25);
            let hash = leaf_hash(&bad);
            page.entries[2] = FeedEntry::Full {
                index: 12,
                leaf: bad,
            };
            let err = refused(&peer, &log, &page, DiscrepancyKind::MalformedEntry);
            assert_eq!(err.evidence["index"], 12);
            assert_eq!(err.evidence["leaf_hash"], b64(&hash));
        }
    }

    #[test]
    fn too_many_entries() {
        let peer = Peer::with_entries(1, 5);
        let mut page = peer.page(0, 5, 5);
        page.entries = (0..=SYNC_PAGE_ENTRIES_MAX as u64)
            .map(|index| FeedEntry::Hash {
                index,
                leaf_hash: [0; 32],
            })
            .collect();
        refused(&peer, &PeerLog::empty(), &page, DiscrepancyKind::TooLarge);
        let mut page = peer.page(0, 5, 5);
        page.checkpoint = "x".repeat(MAX_NOTE_BYTES + 1);
        let err = refused(&peer, &PeerLog::empty(), &page, DiscrepancyKind::TooLarge);
        assert_eq!(err.evidence["checkpoint"]["bytes"], MAX_NOTE_BYTES + 1);
    }

    #[test]
    fn state_is_unchanged_on_failure_and_reusable() {
        let peer = Peer::with_entries(1, 25);
        let log = sync(&peer, PeerLog::empty(), 10, 10);
        let snapshot = log.clone();
        let mut bad = peer.page(10, 15, 25);
        bad.entries[14] = FeedEntry::Hash {
            index: 24,
            leaf_hash: [7; 32],
        };
        refused(&peer, &log, &bad, DiscrepancyKind::RootMismatch);
        assert_eq!(log, snapshot);
        let applied = verify(&peer, &log, &peer.page(10, 15, 25)).expect("page");
        assert_eq!(applied.log.size, 25);
    }

    #[test]
    fn invalid_local_state_is_not_the_peers_fault() {
        let peer = Peer::with_entries(1, 25);
        let good = sync(&peer, PeerLog::empty(), 10, 10);
        let page = peer.page(10, 5, 25);
        let mut bad = good.clone();
        bad.range.pop();
        let err = refused(&peer, &bad, &page, DiscrepancyKind::InvalidLocalState);
        assert!(!err.kind.is_peer_fault());
        assert_eq!(bad.check().expect_err("state").code(), "invalid_peer_log");
        for broken in [
            PeerLog {
                checkpoint_size: 24,
                ..good.clone()
            },
            PeerLog {
                checkpoint: None,
                ..good.clone()
            },
            PeerLog {
                checkpoint: Some("garbage".into()),
                ..good.clone()
            },
            PeerLog {
                size: 25,
                range: Vec::new(),
                ..good.clone()
            },
        ] {
            assert!(broken.check().is_err(), "{broken:?}");
            refused(&peer, &broken, &page, DiscrepancyKind::InvalidLocalState);
        }
        // A held checkpoint at the range's size with another root.
        let mut at_size = sync(&peer, PeerLog::empty(), 25, 25);
        at_size.range = vec![[1; 32]; at_size.range.len()];
        assert!(at_size.check().is_err());
        // The verifier key text is ours too.
        let err = verify_page(&good, &page, "not a key", ORIGIN).expect_err("key");
        assert_eq!(err.kind, DiscrepancyKind::InvalidLocalState);
        assert!(PeerLog::empty().check().is_ok());
    }

    #[test]
    fn kinds_have_stable_names() {
        let names: Vec<&str> = DiscrepancyKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "bad_checkpoint_signature",
                "wrong_origin",
                "non_contiguous",
                "root_mismatch",
                "inconsistent_proof",
                "rollback",
                "malformed_entry",
                "too_large",
                "invalid_local_state",
            ]
        );
    }

    #[test]
    fn feed_pages_parse_and_malformed_ones_are_refused() {
        let ok = br#"{"since":2,"tree_size":4,"next":4,"collections":[],"entries":[
            {"index":2,"leaf":"eyJhIjoxfQ=="},
            {"index":3,"leaf_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}],
            "checkpoint":"note","consistency":[]}"#;
        let page = FeedPage::parse(ok).expect("parses");
        assert_eq!(page.since, 2);
        assert_eq!(
            page.entries,
            vec![
                FeedEntry::Full {
                    index: 2,
                    leaf: br#"{"a":1}"#.to_vec()
                },
                FeedEntry::Hash {
                    index: 3,
                    leaf_hash: [0; 32]
                }
            ]
        );
        for bad in [
            &br#"{"since":0,"entries":[{"index":0}],"checkpoint":"n","consistency":[]}"#[..],
            br#"{"since":0,"entries":[{"index":0,"leaf":"!!"}],"checkpoint":"n","consistency":[]}"#,
            br#"{"since":0,"entries":[{"index":0,"leaf_hash":"AAAA"}],"checkpoint":"n","consistency":[]}"#,
            br#"{"since":0,"entries":[],"checkpoint":"n","consistency":["AAAA"]}"#,
            br#"{"since":-1,"entries":[],"checkpoint":"n","consistency":[]}"#,
            br#"{"entries":[]}"#,
            b"[]",
            b"",
        ] {
            assert!(FeedPage::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let mut big = Vec::from(&b"{"[..]);
        big.resize(FEED_PAGE_BYTES_MAX + 1, b' ');
        assert!(matches!(
            FeedPage::parse(&big),
            Err(FedError::TooLarge { .. })
        ));
    }
}
