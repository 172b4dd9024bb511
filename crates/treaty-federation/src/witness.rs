//! The witness protocol, c2sp.org/tlog-witness@v1.0.0 "add-checkpoint", without I/O: the
//! request body ([`AddCheckpoint`]), the witness's decision ([`decide`]), the log side's
//! reading of the answers ([`parse_cosignatures`], [`parse_size`]), and the ledger
//! documents a witness round leaves behind ([`witness_event`], [`cross_anchor`],
//! [`discrepancy_report`]).
//!
//! # The request
//!
//! ```text
//! old <size>\n                 ASCII decimal, no leading zeroes (0 is "0")
//! <base64 hash>\n              zero to 63 consistency proof lines
//! \n
//! <the signed checkpoint note, verbatim, possibly with several signatures>
//! ```
//!
//! # The decision, in the spec's order
//!
//! The node answers 404 (unknown origin) and 403 (no valid signature by a trusted key)
//! before calling [`decide`]; then:
//!
//! 1. old size above the checkpoint's size: 400 ([`Verdict::OldSizeTooLarge`]);
//! 2. old size not the size last cosigned for the origin (0 if none): 409 with that size
//!    ([`Verdict::Conflict`]; body [`size_body`], content type [`TLOG_SIZE_CONTENT_TYPE`]);
//! 3. a non-empty proof with old size 0, or a proof of the wrong length for the sizes, or a
//!    size-0 checkpoint whose root is not the empty tree's: 422 ([`Verdict::BadProof`]);
//! 4. same size, different root: a fork, 422 (Treaty follows the newer drafts here, not
//!    v1.0.0's 409) with both notes as evidence ([`Verdict::Fork`]);
//! 5. a proof of the right length that does not connect the stored checkpoint to the new
//!    one: also a fork, 422, with both notes and the proof ([`Verdict::Fork`]);
//! 6. otherwise cosign and store ([`Verdict::Cosign`]).
//!
//! The spec requires checking the old size and storing the new checkpoint as one atomic
//! step; that is the caller's (a transaction around reading [`Witnessed`], calling
//! [`decide`] and writing the new state).

use base64::Engine as _;
use serde_json::{Value, json};
use treaty_merkle::{Hash, empty_root, verify_consistency};
use treaty_note::{Checkpoint, MAX_NOTE_BYTES, Note, Signature, VerifierKey};
use treaty_types::limits::SAFE_INTEGER_MAX;

use crate::WitnessError;
use crate::evidence::ForkEvidence;

/// The most consistency proof lines an `add-checkpoint` request may carry (the spec: a
/// client MUST NOT send more than 63).
pub const ADD_CHECKPOINT_PROOF_LINES_MAX: usize = 63;

/// The longest `old <size>` line accepted, newline included: `old ` and the 16 digits of
/// [`WITNESS_SIZE_MAX`] need 21 bytes; the rest is slack for a clear error on larger sizes.
pub const ADD_CHECKPOINT_OLD_LINE_BYTES_MAX: usize = 32;

/// One proof line: 44 base64 characters of a 32-byte hash and a newline.
const PROOF_LINE_BYTES: usize = 45;

/// The largest `add-checkpoint` body accepted: the old line, [`ADD_CHECKPOINT_PROOF_LINES_MAX`]
/// proof lines, the empty line and a note of up to [`MAX_NOTE_BYTES`].
pub const ADD_CHECKPOINT_BODY_MAX: usize = ADD_CHECKPOINT_OLD_LINE_BYTES_MAX
    + ADD_CHECKPOINT_PROOF_LINES_MAX * PROOF_LINE_BYTES
    + 1
    + MAX_NOTE_BYTES;

/// The largest tree size the witness handles: 2^53 - 1. Sizes go into canonical JSON ledger
/// entries, where larger integers cannot travel, so larger ones are refused when parsed.
pub const WITNESS_SIZE_MAX: u64 = SAFE_INTEGER_MAX;

/// The content type of a 409 answer's body.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The most cosignature lines a witness's 200 answer may carry. A witness signs with its
/// key(s), a handful at most; 64 leaves room without letting an answer fill a note.
pub const COSIGNATURE_LINES_MAX: usize = 64;

/// The largest 200 answer read: the lines are added to a note, which cannot exceed
/// [`MAX_NOTE_BYTES`] anyway.
pub const COSIGNATURES_BODY_BYTES_MAX: usize = MAX_NOTE_BYTES;

/// The largest 409 answer read (`<size>\n`).
pub const SIZE_BODY_BYTES_MAX: usize = 32;

/// How far a witness's cosignature time may be from the observer's clock, in seconds,
/// before it is reported as `timestamp_drift` (seed 003 section 6.1: "> 5 min").
pub const TIMESTAMP_DRIFT_MAX_SECONDS: u64 = 300;

/// [`Verdict::Cosign`] method: nothing was stored for the origin.
pub const METHOD_FIRST_CHECKPOINT: &str = "first_checkpoint";
/// [`Verdict::Cosign`] method: the stored checkpoint has the same size and root.
pub const METHOD_SAME_CHECKPOINT: &str = "same_checkpoint";
/// [`Verdict::Cosign`] method: a consistency proof from the stored checkpoint verified.
pub const METHOD_CONSISTENCY_PROOF: &str = "consistency_proof";

/// [`witness_event`] role: this node cosigned a peer's checkpoint.
pub const ROLE_GIVEN: &str = "given";
/// [`witness_event`] role: a witness cosigned this node's checkpoint.
pub const ROLE_RECEIVED: &str = "received";

/// The `discrepancy_type` of a fork found by a witness.
pub const DISCREPANCY_FORK: &str = "fork";

/// The prefix of the old size line.
const OLD_PREFIX: &[u8] = b"old ";

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// The RFC 6962 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim (it may carry several signatures).
    pub note: String,
}

/// Splits off one newline-terminated line; `None` when no newline is left.
fn split_line(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = rest.iter().position(|&b| b == b'\n')?;
    Some((rest.get(..end)?, rest.get(end + 1..)?))
}

/// Why a size text was refused.
enum SizeTextError {
    /// Not an ASCII decimal without leading zeroes.
    Malformed,
    /// Above [`WITNESS_SIZE_MAX`].
    TooLarge,
}

/// Parses an ASCII decimal without leading zeroes (unless it is `0`) up to
/// [`WITNESS_SIZE_MAX`]. `str::parse` alone would accept `+1` and `007`.
fn parse_size_text(text: &[u8]) -> Result<u64, SizeTextError> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(SizeTextError::Malformed);
    }
    if text.len() > 1 && text.first() == Some(&b'0') {
        return Err(SizeTextError::Malformed);
    }
    // 2^53 - 1 has 16 digits; more is out of range without parsing (and without overflow).
    if text.len() > 16 {
        return Err(SizeTextError::TooLarge);
    }
    let value = text.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if value > WITNESS_SIZE_MAX {
        return Err(SizeTextError::TooLarge);
    }
    Ok(value)
}

/// Decodes one proof line: exactly 32 bytes of standard padded base64.
fn parse_hash(line: &[u8]) -> Option<Hash> {
    // Checking the length first keeps decoding bounded and refuses 31- or 33-byte hashes.
    if line.len() != PROOF_LINE_BYTES - 1 {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?
        .try_into()
        .ok()
}

/// Parses a signed note and the checkpoint in it, without verifying anything.
fn parse_checkpoint_note(note: &str) -> Result<Checkpoint, WitnessError> {
    let invalid = |source| WitnessError::InvalidNote {
        what: "checkpoint note",
        source,
    };
    let parsed = Note::parse(note).map_err(invalid)?;
    Checkpoint::parse(parsed.text()).map_err(invalid)
}

impl AddCheckpoint {
    /// Parses a request body strictly: every line newline-terminated, `old <size>` with a
    /// single space and no leading zeroes, at most [`ADD_CHECKPOINT_PROOF_LINES_MAX`] proof
    /// lines of exactly 32 bytes in standard padded base64, the empty line, then a note
    /// whose text is a checkpoint. Nothing is verified: the caller checks the signatures
    /// (403) before [`decide`].
    ///
    /// # Errors
    /// [`WitnessError::TooLarge`] above [`ADD_CHECKPOINT_BODY_MAX`],
    /// [`WitnessError::MalformedRequest`] naming the line, [`WitnessError::TooManyProofLines`],
    /// [`WitnessError::SizeOutOfRange`] for an old or checkpoint size above
    /// [`WITNESS_SIZE_MAX`], [`WitnessError::InvalidNote`] when the note or its checkpoint
    /// does not parse.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        if body.len() > ADD_CHECKPOINT_BODY_MAX {
            return Err(WitnessError::TooLarge {
                what: "add-checkpoint body",
                len: body.len(),
                max: ADD_CHECKPOINT_BODY_MAX,
            });
        }
        let malformed = |line, reason| WitnessError::MalformedRequest { line, reason };

        let (old_line, mut rest) =
            split_line(body).ok_or(malformed(1, "no newline-terminated old size line"))?;
        if old_line.len() >= ADD_CHECKPOINT_OLD_LINE_BYTES_MAX {
            return Err(malformed(1, "old size line is too long"));
        }
        let size_text = old_line
            .strip_prefix(OLD_PREFIX)
            .ok_or(malformed(1, "first line is not old <size>"))?;
        let old_size = parse_size_text(size_text).map_err(|e| match e {
            SizeTextError::Malformed => {
                malformed(1, "old size is not a decimal without leading zeroes")
            }
            SizeTextError::TooLarge => WitnessError::SizeOutOfRange {
                what: "old size",
                max: WITNESS_SIZE_MAX,
            },
        })?;

        let mut proof = Vec::new();
        let mut number = 1;
        loop {
            number += 1;
            let (line, after) = split_line(rest).ok_or(malformed(
                number,
                "body ends before the empty line that precedes the checkpoint",
            ))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == ADD_CHECKPOINT_PROOF_LINES_MAX {
                return Err(WitnessError::TooManyProofLines {
                    max: ADD_CHECKPOINT_PROOF_LINES_MAX,
                });
            }
            let hash = parse_hash(line).ok_or(malformed(
                number,
                "proof line is not 32 bytes of standard padded base64",
            ))?;
            proof.push(hash);
        }

        let note = std::str::from_utf8(rest).map_err(|_| WitnessError::InvalidNote {
            what: "checkpoint note",
            source: treaty_note::NoteError::NotUtf8 { what: "note" },
        })?;
        let checkpoint = parse_checkpoint_note(note)?;
        if checkpoint.size() > WITNESS_SIZE_MAX {
            return Err(WitnessError::SizeOutOfRange {
                what: "checkpoint size",
                max: WITNESS_SIZE_MAX,
            });
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: note.to_owned(),
        })
    }

    /// The checkpoint of [`AddCheckpoint::note`], parsed but not verified.
    ///
    /// # Errors
    /// [`WitnessError::InvalidNote`] when the note or its checkpoint does not parse.
    pub fn checkpoint(&self) -> Result<Checkpoint, WitnessError> {
        parse_checkpoint_note(&self.note)
    }

    /// The request body, the exact inverse of [`AddCheckpoint::parse`] (the log side builds
    /// requests with it).
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&b64(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }
}

/// What a witness holds for one origin: the latest checkpoint it cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The signed note as received, verbatim: half of the evidence if the log ever forks.
    pub note: String,
}

/// The witness's answer to one `add-checkpoint` request.
// One verdict per request, matched once and dropped: boxing the evidence would only make
// callers' patterns noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: cosign, and store the new checkpoint in place of the old one (atomically with
    /// the read of the old one).
    Cosign {
        /// How the checkpoint was checked, for the witness event:
        /// [`METHOD_FIRST_CHECKPOINT`], [`METHOD_SAME_CHECKPOINT`] or
        /// [`METHOD_CONSISTENCY_PROOF`].
        method: &'static str,
    },
    /// 400: the old size is larger than the checkpoint's size.
    OldSizeTooLarge,
    /// 409: the old size is not the size this witness last cosigned for the origin.
    Conflict {
        /// The size last cosigned (0 when none): the body of the answer.
        size: u64,
    },
    /// 422 without evidence: the proof is not one the sizes allow (non-empty from size 0 or
    /// between equal sizes, or of the wrong length), or the stored note cannot be used as
    /// evidence.
    BadProof {
        /// What is wrong, for the problem answer.
        reason: String,
    },
    /// 422 with evidence: the log signed two checkpoints that cannot both be honest. Keep
    /// both notes (the evidence) and do not cosign.
    Fork(ForkEvidence),
}

/// Hashes in an RFC 9162 2.1.4 consistency proof from `first` to `second` leaves
/// (0 when `first` is 0 or not below `second`).
///
/// The old tree's last leaf `first - 1` and the new tree's last leaf share a path above
/// the highest bit where they differ: below it the proof has one hash per level (minus the
/// levels of the complete subtree of `2^trailing_zeros(first)` leaves the proof starts
/// from), above it one per left sibling on the right edge, plus that subtree's own hash
/// unless it is the whole old tree.
pub(crate) fn consistency_proof_len(first: u64, second: u64) -> usize {
    if first == 0 || first >= second {
        return 0;
    }
    let shift = first.trailing_zeros();
    let last = first - 1;
    let inner = 64 - (last ^ (second - 1)).leading_zeros();
    let border = (last >> inner).count_ones();
    let seed = u32::from(first != 1u64 << shift);
    // `inner > shift` always holds for first < second; saturating keeps it panic-free.
    (seed + inner.saturating_sub(shift) + border) as usize
}

/// Decides an `add-checkpoint` request, after the node's 404 and 403 checks.
///
/// `stored` is what the witness holds for the request's origin; `new` is the checkpoint of
/// `req.note`, already verified under `origin_key` (the log key, named after the origin,
/// which also verifies the notes of fork evidence).
#[must_use]
pub fn decide(
    stored: Option<&Witnessed>,
    req: &AddCheckpoint,
    new: &Checkpoint,
    origin_key: &VerifierKey,
) -> Verdict {
    if req.old_size > new.size() {
        return Verdict::OldSizeTooLarge;
    }
    // Nothing stored counts as size 0 (the spec), so a client that asks with old size 0
    // learns the stored size from the 409.
    let stored_size = stored.map_or(0, |s| s.size);
    if req.old_size != stored_size {
        return Verdict::Conflict { size: stored_size };
    }
    if req.old_size == 0 && !req.proof.is_empty() {
        return bad_proof("the consistency proof must be empty when the old size is 0");
    }
    // The tree of no leaves has one root; a size-0 checkpoint with another one can be
    // consistent with nothing, so it is never cosigned (nor stored to compare against).
    if new.size() == 0 && *new.root() != empty_root() {
        return bad_proof("a checkpoint of size 0 must have the empty tree's root");
    }
    let Some(stored) = stored else {
        return Verdict::Cosign {
            method: METHOD_FIRST_CHECKPOINT,
        };
    };
    if stored.size == new.size() {
        if stored.root != *new.root() {
            return fork(origin_key, stored, req, Vec::new());
        }
        if !req.proof.is_empty() {
            return bad_proof(
                "the consistency proof must be empty when the old size is the checkpoint's size",
            );
        }
        return Verdict::Cosign {
            method: METHOD_SAME_CHECKPOINT,
        };
    }
    let expected = consistency_proof_len(stored.size, new.size());
    if req.proof.len() != expected {
        return bad_proof(&format!(
            "the consistency proof from {} to {} has {} hashes; these sizes need {}",
            stored.size,
            new.size(),
            req.proof.len(),
            expected
        ));
    }
    match verify_consistency(
        stored.size,
        new.size(),
        &req.proof,
        &stored.root,
        new.root(),
    ) {
        Ok(()) => Verdict::Cosign {
            method: METHOD_CONSISTENCY_PROOF,
        },
        // From size 0 the proof is empty and only the stored root can be wrong: that is this
        // witness's own state (a size-0 checkpoint whose root is not the empty tree's), not
        // something the log's request shows.
        Err(_) if stored.size == 0 => {
            bad_proof("the stored checkpoint of size 0 does not have the empty tree's root")
        }
        Err(_) => fork(origin_key, stored, req, req.proof.clone()),
    }
}

/// A [`Verdict::BadProof`].
fn bad_proof(reason: &str) -> Verdict {
    Verdict::BadProof {
        reason: reason.to_owned(),
    }
}

/// A [`Verdict::Fork`] with evidence from the stored note and the request's note, or a
/// [`Verdict::BadProof`] when the pair cannot serve as evidence (the stored note no longer
/// verifies under the log key, after a key rotation; or it does not match `stored`).
fn fork(
    origin_key: &VerifierKey,
    stored: &Witnessed,
    req: &AddCheckpoint,
    proof: Vec<Hash>,
) -> Verdict {
    match ForkEvidence::new(origin_key, &stored.note, &req.note, proof) {
        Ok(evidence) => Verdict::Fork(evidence),
        Err(e) => Verdict::BadProof {
            reason: format!(
                "the checkpoint contradicts the stored one, but the pair is no evidence: {e}"
            ),
        },
    }
}

/// The body of a 409 answer: the size and a newline.
#[must_use]
pub fn size_body(size: u64) -> String {
    format!("{size}\n")
}

/// The body of a 200 answer: each cosignature line and a newline.
#[must_use]
pub fn cosignatures_body(cosignatures: &[Signature]) -> String {
    cosignatures
        .iter()
        .map(|s| format!("{}\n", s.to_line()))
        .collect()
}

/// Log side: reads a witness's 200 body, one or more note signature lines
/// (`— <name> <base64>\n`). The lines are not verified; add them to the checkpoint note and
/// verify with the witness keys the log trusts (unknown keys are then ignored, per spec).
///
/// # Errors
/// [`WitnessError::TooLarge`] above [`COSIGNATURES_BODY_BYTES_MAX`],
/// [`WitnessError::MalformedResponse`] for an empty body or one not ending in a newline,
/// [`WitnessError::TooManyCosignatures`] above [`COSIGNATURE_LINES_MAX`],
/// [`WitnessError::InvalidCosignatureLine`].
pub fn parse_cosignatures(body: &str) -> Result<Vec<Signature>, WitnessError> {
    if body.len() > COSIGNATURES_BODY_BYTES_MAX {
        return Err(WitnessError::TooLarge {
            what: "cosignature response",
            len: body.len(),
            max: COSIGNATURES_BODY_BYTES_MAX,
        });
    }
    let lines = body
        .strip_suffix('\n')
        .ok_or(WitnessError::MalformedResponse {
            line: 1,
            reason: "the body is empty or does not end in a newline",
        })?;
    let mut signatures = Vec::new();
    for (i, line) in lines.split('\n').enumerate() {
        if i == COSIGNATURE_LINES_MAX {
            return Err(WitnessError::TooManyCosignatures {
                max: COSIGNATURE_LINES_MAX,
            });
        }
        let signature =
            Signature::parse_line(line).map_err(|source| WitnessError::InvalidCosignatureLine {
                line: i + 1,
                source,
            })?;
        signatures.push(signature);
    }
    Ok(signatures)
}

/// Log side: reads a witness's 409 body, `<size>\n` (decimal, no leading zeroes).
///
/// # Errors
/// [`WitnessError::TooLarge`] above [`SIZE_BODY_BYTES_MAX`],
/// [`WitnessError::MalformedResponse`], [`WitnessError::SizeOutOfRange`].
pub fn parse_size(body: &str) -> Result<u64, WitnessError> {
    if body.len() > SIZE_BODY_BYTES_MAX {
        return Err(WitnessError::TooLarge {
            what: "size response",
            len: body.len(),
            max: SIZE_BODY_BYTES_MAX,
        });
    }
    let malformed = WitnessError::MalformedResponse {
        line: 1,
        reason: "not a decimal size without leading zeroes and a newline",
    };
    let text = body.strip_suffix('\n').ok_or(malformed)?;
    parse_size_text(text.as_bytes()).map_err(|e| match e {
        SizeTextError::Malformed => WitnessError::MalformedResponse {
            line: 1,
            reason: "not a decimal size without leading zeroes and a newline",
        },
        SizeTextError::TooLarge => WitnessError::SizeOutOfRange {
            what: "witness size",
            max: WITNESS_SIZE_MAX,
        },
    })
}

/// Standard padded base64, the encoding of checkpoint roots and proof lines.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The document of a `fed_witness_event` ledger entry: a cosignature this node gave
/// ([`ROLE_GIVEN`]) or received ([`ROLE_RECEIVED`]).
///
/// `{"role","witness","origin","size","root","old_size","verification_method",
/// "verification_result":"cosigned","cosignature","cosigned_at","discrepancies"}`, the root
/// in standard base64, `cosignature` the signature line without its newline, `cosigned_at`
/// the cosignature's timestamp (Unix seconds), `discrepancies` warnings such as
/// [`timestamp_drift`]'s.
///
/// Integers must be at most 2^53 - 1 (sizes parsed here are; times from a sane clock are);
/// the ledger refuses a document with a larger one rather than rounding it.
#[allow(clippy::too_many_arguments)] // One argument per member of a fixed document.
#[must_use]
pub fn witness_event(
    role: &str,
    witness: &str,
    origin: &str,
    size: u64,
    root: &Hash,
    old_size: u64,
    method: &str,
    cosignature_line: &str,
    cosigned_at: u64,
    discrepancies: Vec<Value>,
) -> Value {
    json!({
        "role": role,
        "witness": witness,
        "origin": origin,
        "size": size,
        "root": b64(root),
        "old_size": old_size,
        "verification_method": method,
        "verification_result": "cosigned",
        "cosignature": cosignature_line,
        "cosigned_at": cosigned_at,
        "discrepancies": discrepancies,
    })
}

/// The document of a `fed_cross_anchor` ledger entry: a peer's verified checkpoint note,
/// verbatim, anchored in this node's ledger.
/// `{"anchored_node_id","origin","checkpoint","size","root"}`, the root in standard base64.
#[must_use]
pub fn cross_anchor(
    anchored_node_id: &str,
    origin: &str,
    note: &str,
    size: u64,
    root: &Hash,
) -> Value {
    json!({
        "anchored_node_id": anchored_node_id,
        "origin": origin,
        "checkpoint": note,
        "size": size,
        "root": b64(root),
    })
}

/// The document of a `fed_discrepancy` ledger entry:
/// `{"reported_node_id","origin","discrepancy_type","severity","detected_by","evidence",
/// "evidence_hash"}`, with the severity of [`severity`] and the evidence's JSON form and
/// [`ForkEvidence::hash`].
#[must_use]
pub fn discrepancy_report(
    reported_node_id: &str,
    origin: &str,
    discrepancy_type: &str,
    detected_by: &str,
    evidence: &ForkEvidence,
) -> Value {
    json!({
        "reported_node_id": reported_node_id,
        "origin": origin,
        "discrepancy_type": discrepancy_type,
        "severity": severity(discrepancy_type),
        "detected_by": detected_by,
        "evidence": evidence.to_json(),
        "evidence_hash": evidence.hash(),
    })
}

/// The severity of a discrepancy type, per seed 003 section 6.1: `root_mismatch`, `fork`
/// and `anchor_invalid` are `critical`; `timestamp_drift` and `schema_incompatible` are
/// `warning`; `sample_missing` is `info`. Anything else, the sync verifier's kinds
/// included (`bad_checkpoint_signature`, `inconsistent_proof`, `rollback`, ...), is
/// `critical`: an unknown kind is never played down.
#[must_use]
pub fn severity(kind: &str) -> &'static str {
    match kind {
        "timestamp_drift" | "schema_incompatible" => "warning",
        "sample_missing" => "info",
        _ => "critical",
    }
}

/// A `timestamp_drift` warning when a cosignature's time is more than
/// [`TIMESTAMP_DRIFT_MAX_SECONDS`] away from the observer's clock, in either direction:
/// `{"type":"timestamp_drift","severity":"warning","cosigned_at","observed_at",
/// "drift_seconds"}`, `drift_seconds` the absolute difference.
#[must_use]
pub fn timestamp_drift(cosigned_at: u64, now_s: u64) -> Option<Value> {
    let drift = cosigned_at.abs_diff(now_s);
    (drift > TIMESTAMP_DRIFT_MAX_SECONDS).then(|| {
        json!({
            "type": "timestamp_drift",
            "severity": severity("timestamp_drift"),
            "cosigned_at": cosigned_at,
            "observed_at": now_s,
            "drift_seconds": drift,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ForkKind;
    use crate::fixtures::{LOG_ORIGIN, TestLog};
    use ed25519_dalek::SigningKey;
    use treaty_merkle::MemoryHashStore;
    use treaty_note::{KEY_TYPE_COSIGNATURE_V1, cosign, open_checkpoint};

    /// The request body of c2sp.org/tlog-witness's example.
    const SPEC_BODY: &str = "old 20852014\n\
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
        5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
        /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
        \n\
        example.com/behind-the-sofa\n\
        20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
        \n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    /// The response body of c2sp.org/tlog-witness's example.
    const SPEC_RESPONSE: &str = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n\
        \u{2014} witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n\
        \u{2014} witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";

    const HASH: &str = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=";

    /// A request from `log` going from `old` to a signed note of `new`.
    fn request(log: &TestLog, old: u64, new: u64) -> AddCheckpoint {
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                vec![]
            } else {
                log.proof(old, new)
            },
            note: log.note(new),
        }
    }

    /// What a witness holds after cosigning `log` at `size`.
    fn held(log: &TestLog, size: u64) -> Witnessed {
        Witnessed {
            size,
            root: log.root(size),
            note: log.note(size),
        }
    }

    /// `decide` with the request's checkpoint verified as the node would.
    fn run(stored: Option<&Witnessed>, req: &AddCheckpoint, log: &TestLog) -> Verdict {
        let new = open_checkpoint(&req.note, &log.key, &[])
            .expect("verified")
            .checkpoint;
        decide(stored, req, &new, &log.key)
    }

    #[test]
    fn spec_example_round_trips() {
        let req = AddCheckpoint::parse(SPEC_BODY.as_bytes()).expect("parse");
        assert_eq!(req.old_size, 20_852_014);
        assert_eq!(req.proof.len(), 4);
        let cp = req.checkpoint().expect("checkpoint");
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20_852_163);
        assert_eq!(req.to_body(), SPEC_BODY);
        // Built requests round-trip too, with and without a proof.
        let log = TestLog::new(1, 0, 40);
        for (old, new) in [(0, 40), (7, 40), (40, 40), (32, 40)] {
            let req = request(&log, old, new);
            let body = req.to_body();
            assert_eq!(AddCheckpoint::parse(body.as_bytes()).expect("parse"), req);
        }
    }

    #[test]
    fn malformed_requests() {
        let log = TestLog::new(1, 0, 8);
        let note = log.note(8);
        let proof: String = log
            .proof(3, 8)
            .iter()
            .map(|h| format!("{}\n", b64(h)))
            .collect();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "malformed_add_checkpoint"),
            (note.clone(), "malformed_add_checkpoint"),
            (format!("\n{note}"), "malformed_add_checkpoint"),
            ("old 3".to_owned(), "malformed_add_checkpoint"),
            (format!("old 3\n{proof}"), "malformed_add_checkpoint"),
            (format!("old 3\n{proof}{note}"), "malformed_add_checkpoint"),
            (
                format!("old 03\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (format!("old 00\n\n{note}"), "malformed_add_checkpoint"),
            (
                format!("old +3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old -3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old  3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3 \n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old\t3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("Old 3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\r\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 0x3\n{proof}\n{note}"),
                "malformed_add_checkpoint",
            ),
            (format!("old \n\n{note}"), "malformed_add_checkpoint"),
            (
                format!("old {}\n\n{note}", "1".repeat(40)),
                "malformed_add_checkpoint",
            ),
            // Proof lines: bad base64, wrong lengths, stray spaces, CRLF.
            (
                format!("old 3\n{}\n\n{note}", &HASH[..43]),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{HASH}=\n\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{HASH} \n\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n {HASH}\n\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{HASH}\r\n\n{note}"),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{}\n\n{note}", HASH.replace('P', "!")),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{}\n\n{note}", b64(&[7; 31])),
                "malformed_add_checkpoint",
            ),
            (
                format!("old 3\n{}\n\n{note}", b64(&[7; 33])),
                "malformed_add_checkpoint",
            ),
            // Non-canonical trailing bits: the last character of a 32-byte hash carries
            // two unused bits.
            (
                format!("old 3\n{}\n\n{note}", HASH.replace("aw=", "ax=")),
                "malformed_add_checkpoint",
            ),
            // Too many proof lines.
            (
                format!("old 3\n{}\n{note}", format!("{HASH}\n").repeat(64)),
                "too_many_proof_lines",
            ),
            // Sizes beyond 2^53 - 1, in the old line and in the checkpoint.
            (
                format!("old 9007199254740992\n\n{note}"),
                "size_out_of_range",
            ),
            (
                format!("old 18446744073709551616\n\n{note}"),
                "size_out_of_range",
            ),
            (
                format!(
                    "old 0\n\n{}",
                    treaty_note::sign_checkpoint(
                        &treaty_note::Checkpoint::new(LOG_ORIGIN, WITNESS_SIZE_MAX + 1, [1; 32])
                            .expect("cp"),
                        LOG_ORIGIN,
                        &log.sk
                    )
                    .expect("sign")
                ),
                "size_out_of_range",
            ),
            // The note part: missing, unsigned, not a checkpoint, not UTF-8.
            (format!("old 3\n{proof}\n"), "invalid_note"),
            (
                format!("old 3\n{proof}\n{}", log.checkpoint(8).to_body()),
                "invalid_note",
            ),
            (format!("old 3\n{proof}\n\n{note}"), "invalid_note"),
            (
                format!(
                    "old 3\n{proof}\nhello\n\n{}",
                    &note[note.rfind("\n\n").expect("sigs") + 2..]
                ),
                "invalid_note",
            ),
            // Too large.
            (
                format!("old 3\n\n{}", "a".repeat(ADD_CHECKPOINT_BODY_MAX)),
                "too_large",
            ),
        ];
        for (body, code) in cases {
            match AddCheckpoint::parse(body.as_bytes()) {
                Err(e) => assert_eq!(e.code(), code, "{body:?}: {e}"),
                Ok(r) => panic!("accepted {body:?}: {r:?}"),
            }
        }
        let mut bytes = format!("old 3\n{proof}\n").into_bytes();
        bytes.extend_from_slice(b"\xff");
        bytes.extend_from_slice(note.as_bytes());
        assert_eq!(
            AddCheckpoint::parse(&bytes).expect_err("not utf-8").code(),
            "invalid_note"
        );
        // The limits themselves are accepted: 63 lines, size 2^53 - 1.
        let max_lines = format!("old 3\n{}\n{note}", format!("{HASH}\n").repeat(63));
        assert_eq!(
            AddCheckpoint::parse(max_lines.as_bytes())
                .expect("63 lines")
                .proof
                .len(),
            63
        );
        let max_old = format!("old {WITNESS_SIZE_MAX}\n\n{note}");
        assert!(AddCheckpoint::parse(max_old.as_bytes()).is_ok());
    }

    #[test]
    fn body_limit_fits_the_largest_request() {
        let line = format!("old {WITNESS_SIZE_MAX}\n");
        assert!(line.len() <= ADD_CHECKPOINT_OLD_LINE_BYTES_MAX);
        assert_eq!(format!("{HASH}\n").len(), PROOF_LINE_BYTES);
        let largest = line.len() + 63 * PROOF_LINE_BYTES + 1 + MAX_NOTE_BYTES;
        assert!(largest <= ADD_CHECKPOINT_BODY_MAX);
    }

    #[test]
    fn proof_length_formula_matches_the_tree() {
        let log = TestLog::new(1, 0, 130);
        for second in 1..=130u64 {
            for first in 0..=second {
                assert_eq!(
                    consistency_proof_len(first, second),
                    log.proof(first, second).len(),
                    "{first} -> {second}"
                );
            }
        }
        assert_eq!(consistency_proof_len(5, 3), 0);
        assert!(consistency_proof_len(1, WITNESS_SIZE_MAX) <= ADD_CHECKPOINT_PROOF_LINES_MAX);
        assert!(
            consistency_proof_len(WITNESS_SIZE_MAX - 1, WITNESS_SIZE_MAX)
                <= ADD_CHECKPOINT_PROOF_LINES_MAX
        );
        assert!(consistency_proof_len(u64::MAX - 1, u64::MAX) <= 128);
    }

    #[test]
    fn decide_cosigns_what_is_consistent() {
        let log = TestLog::new(1, 0, 20);
        // Nothing stored: old 0, empty proof.
        assert_eq!(
            run(None, &request(&log, 0, 13), &log),
            Verdict::Cosign {
                method: METHOD_FIRST_CHECKPOINT
            }
        );
        // The same checkpoint again.
        let at13 = held(&log, 13);
        assert_eq!(
            run(Some(&at13), &request(&log, 13, 13), &log),
            Verdict::Cosign {
                method: METHOD_SAME_CHECKPOINT
            }
        );
        // A consistency proof, from every size to 20.
        for old in 1..20 {
            assert_eq!(
                run(Some(&held(&log, old)), &request(&log, old, 20), &log),
                Verdict::Cosign {
                    method: METHOD_CONSISTENCY_PROOF
                },
                "{old}"
            );
        }
        // A stored empty tree extends to anything, with the empty proof.
        let empty = TestLog::new(1, 0, 0);
        let at0 = held(&empty, 0);
        assert_eq!(
            run(Some(&at0), &request(&log, 0, 5), &log),
            Verdict::Cosign {
                method: METHOD_CONSISTENCY_PROOF
            }
        );
        assert_eq!(
            run(None, &request(&empty, 0, 0), &empty),
            Verdict::Cosign {
                method: METHOD_FIRST_CHECKPOINT
            }
        );
    }

    #[test]
    fn decide_refuses_in_the_spec_order() {
        let log = TestLog::new(1, 0, 20);
        let at13 = held(&log, 13);
        // 400 before 409: an old size above the checkpoint's.
        let mut req = request(&log, 13, 13);
        req.old_size = 14;
        assert_eq!(run(Some(&at13), &req, &log), Verdict::OldSizeTooLarge);
        assert_eq!(run(None, &req, &log), Verdict::OldSizeTooLarge);
        // 409: not the stored size, or anything but 0 when nothing is stored.
        assert_eq!(
            run(Some(&at13), &request(&log, 12, 20), &log),
            Verdict::Conflict { size: 13 }
        );
        assert_eq!(
            run(Some(&at13), &request(&log, 0, 20), &log),
            Verdict::Conflict { size: 13 }
        );
        assert_eq!(
            run(None, &request(&log, 13, 20), &log),
            Verdict::Conflict { size: 0 }
        );
        // 422 without evidence: a proof from 0, a proof between equal sizes, a proof of the
        // wrong length.
        let mut req = request(&log, 0, 20);
        req.proof = vec![[1; 32]];
        assert!(matches!(run(None, &req, &log), Verdict::BadProof { .. }));
        let mut req = request(&log, 13, 13);
        req.proof = vec![[1; 32]];
        assert!(matches!(
            run(Some(&at13), &req, &log),
            Verdict::BadProof { .. }
        ));
        for len_change in [-1i32, 1] {
            let mut req = request(&log, 13, 20);
            if len_change < 0 {
                req.proof.pop();
            } else {
                req.proof.push([1; 32]);
            }
            assert!(matches!(
                run(Some(&at13), &req, &log),
                Verdict::BadProof { .. }
            ));
        }
        // A size-0 checkpoint must carry the empty tree's root.
        let bogus = treaty_note::Checkpoint::new(LOG_ORIGIN, 0, [1; 32]).expect("cp");
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: treaty_note::sign_checkpoint(&bogus, LOG_ORIGIN, &log.sk).expect("sign"),
        };
        assert!(matches!(run(None, &req, &log), Verdict::BadProof { .. }));
    }

    #[test]
    fn decide_reports_forks_with_evidence_that_verifies() {
        let log = TestLog::new(1, 0, 20);
        let forked = TestLog::new(1, 9, 20);
        let at13 = held(&log, 13);
        // Same size, another root.
        let Verdict::Fork(evidence) = run(Some(&at13), &request(&forked, 13, 13), &forked) else {
            panic!("same size, other root is a fork");
        };
        assert_eq!(evidence.kind, ForkKind::SameSize);
        assert!(evidence.proof.is_empty());
        let (a, b) = evidence.verify().expect("verifies");
        assert_eq!((a.size(), b.size()), (13, 13));
        assert_ne!(a.root(), b.root());
        // Larger, from the forked tree, with the forked tree's own (well-formed) proof.
        let Verdict::Fork(evidence) = run(Some(&at13), &request(&forked, 13, 20), &forked) else {
            panic!("a proof that does not connect is a fork");
        };
        assert_eq!(evidence.kind, ForkKind::Inconsistent);
        assert_eq!(evidence.first, at13.note);
        assert_eq!(evidence.second, forked.note(20));
        assert_eq!(evidence.proof, forked.proof(13, 20));
        let (a, b) = evidence.verify().expect("verifies");
        assert_eq!((a.size(), b.size()), (13, 20));
        // The honest tree, with one proof hash altered.
        let mut req = request(&log, 13, 20);
        req.proof[0][0] ^= 1;
        let Verdict::Fork(evidence) = run(Some(&at13), &req, &log) else {
            panic!("an altered proof does not connect");
        };
        assert!(evidence.verify().is_ok());
        // A stored note that does not verify under the log key gives no evidence.
        let stranger = TestLog::new(2, 0, 20);
        let odd = held(&stranger, 13);
        assert!(matches!(
            run(Some(&odd), &request(&forked, 13, 13), &forked),
            Verdict::BadProof { .. }
        ));
    }

    #[test]
    fn responses_parse() {
        let sigs = parse_cosignatures(SPEC_RESPONSE).expect("spec response");
        assert_eq!(sigs.len(), 3);
        assert_eq!(sigs[2].name(), "witness.example/w2");
        assert_eq!(cosignatures_body(&sigs), SPEC_RESPONSE);
        // A real cosignature, added to the note, verifies under the witness key.
        let log = TestLog::new(1, 0, 5);
        let wsk = SigningKey::from_bytes(&[0x77; 32]);
        let wkey =
            VerifierKey::from_signing_key("w.example", &wsk, KEY_TYPE_COSIGNATURE_V1).expect("k");
        let line = cosign(
            &log.checkpoint(5).to_body(),
            "w.example",
            &wsk,
            1_700_000_000,
        )
        .expect("cosign");
        let body = cosignatures_body(std::slice::from_ref(&line));
        let parsed = parse_cosignatures(&body).expect("parse");
        let mut note = Note::parse(log.note(5)).expect("note");
        for s in parsed {
            note.add_signature(s).expect("add");
        }
        let opened = open_checkpoint(note.to_string(), &log.key, &[wkey]).expect("open");
        assert_eq!(opened.cosignatures[0].timestamp, 1_700_000_000);

        let first = SPEC_RESPONSE.lines().next().expect("line");
        for (bad, code) in [
            ("", "malformed_witness_response"),
            ("\n", "invalid_cosignature_line"),
            (first, "malformed_witness_response"),
            (&format!("{first}\n\n") as &str, "invalid_cosignature_line"),
            (&format!("{first}\r\n"), "invalid_cosignature_line"),
            (&format!("- {}\n", &first[4..]), "invalid_cosignature_line"),
            (&format!("{first}\n").repeat(65), "too_many_cosignatures"),
            (&"a".repeat(COSIGNATURES_BODY_BYTES_MAX + 1), "too_large"),
        ] {
            let err = parse_cosignatures(bad).expect_err(bad);
            assert_eq!(err.code(), code, "{bad:?}");
        }
        assert_eq!(
            parse_cosignatures(&format!("{first}\n").repeat(64))
                .expect("64 lines")
                .len(),
            64
        );

        assert_eq!(parse_size("0\n").expect("zero"), 0);
        assert_eq!(
            parse_size(&size_body(20_852_014)).expect("size"),
            20_852_014
        );
        assert_eq!(
            parse_size(&size_body(WITNESS_SIZE_MAX)).expect("max"),
            WITNESS_SIZE_MAX
        );
        for (bad, code) in [
            ("", "malformed_witness_response"),
            ("\n", "malformed_witness_response"),
            ("5", "malformed_witness_response"),
            ("05\n", "malformed_witness_response"),
            ("+5\n", "malformed_witness_response"),
            (" 5\n", "malformed_witness_response"),
            ("5 \n", "malformed_witness_response"),
            ("5\r\n", "malformed_witness_response"),
            ("5\n\n", "malformed_witness_response"),
            ("9007199254740992\n", "size_out_of_range"),
            ("99999999999999999999999\n", "size_out_of_range"),
            (&"9".repeat(SIZE_BODY_BYTES_MAX + 1), "too_large"),
        ] {
            assert_eq!(parse_size(bad).expect_err(bad).code(), code, "{bad:?}");
        }
    }

    /// Truncations and byte changes of valid bodies never panic; what still parses still
    /// formats back to itself.
    #[test]
    fn mutated_bodies_never_panic() {
        let log = TestLog::new(1, 0, 9);
        let body = request(&log, 5, 9).to_body();
        let bytes = body.as_bytes();
        let check = |b: &[u8]| {
            if let Ok(req) = AddCheckpoint::parse(b) {
                assert_eq!(req.to_body().as_bytes(), b);
                let _ = req.checkpoint();
            }
        };
        for end in 0..=bytes.len() {
            check(&bytes[..end]);
        }
        for i in 0..bytes.len() {
            for replacement in [b'\n', b' ', b'0', b'=', b'\xff', b'A'] {
                let mut m = bytes.to_vec();
                m[i] = replacement;
                check(&m);
            }
            let mut m = bytes.to_vec();
            m.remove(i);
            check(&m);
        }
        for text in [SPEC_RESPONSE, "12345\n"] {
            for end in 0..=text.len() {
                if let Some(t) = text.get(..end) {
                    let _ = parse_cosignatures(t);
                    let _ = parse_size(t);
                }
            }
        }
    }

    #[test]
    fn decide_never_panics_on_odd_state() {
        let log = TestLog::new(1, 0, 64);
        let mut store = MemoryHashStore::new();
        store.append([0; 32]);
        for stored_size in [0u64, 1, 5, 63, 64] {
            let stored = held(&log, stored_size);
            for new in [0u64, 1, 5, 63, 64] {
                for proof_len in [0usize, 1, 6, 63] {
                    let req = AddCheckpoint {
                        old_size: stored_size,
                        proof: vec![[3; 32]; proof_len],
                        note: log.note(new),
                    };
                    let _ = run(Some(&stored), &req, &log);
                    let _ = run(None, &req, &log);
                }
            }
        }
    }

    #[test]
    fn ledger_documents() {
        let log = TestLog::new(1, 0, 9);
        let root = log.root(9);
        let drift = timestamp_drift(1_000, 1_000 + 301).expect("drift");
        let event = witness_event(
            ROLE_GIVEN,
            "w.example",
            LOG_ORIGIN,
            9,
            &root,
            5,
            METHOD_CONSISTENCY_PROOF,
            "\u{2014} w.example AAAA",
            1_000,
            vec![drift.clone()],
        );
        let keys: Vec<&str> = event
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "role",
                "witness",
                "origin",
                "size",
                "root",
                "old_size",
                "verification_method",
                "verification_result",
                "cosignature",
                "cosigned_at",
                "discrepancies"
            ]
        );
        assert_eq!(event["root"], b64(&root));
        assert_eq!(event["verification_result"], "cosigned");
        assert_eq!(event["discrepancies"][0], drift);
        assert!(treaty_types::canonicalize(&event).is_ok());

        let anchor = cross_anchor(crate::fixtures::A, LOG_ORIGIN, &log.note(9), 9, &root);
        assert_eq!(
            anchor,
            json!({
                "anchored_node_id": crate::fixtures::A,
                "origin": LOG_ORIGIN,
                "checkpoint": log.note(9),
                "size": 9,
                "root": b64(&root),
            })
        );
        assert!(treaty_types::canonicalize(&anchor).is_ok());

        let forked = TestLog::new(1, 7, 9);
        let evidence =
            ForkEvidence::new(&log.key, &log.note(9), &forked.note(9), vec![]).expect("fork");
        let report = discrepancy_report(
            crate::fixtures::B,
            LOG_ORIGIN,
            DISCREPANCY_FORK,
            crate::fixtures::A,
            &evidence,
        );
        assert_eq!(report["severity"], "critical");
        assert_eq!(report["evidence"], evidence.to_json());
        assert_eq!(report["evidence_hash"], evidence.hash());
        assert!(treaty_types::canonicalize(&report).is_ok());
    }

    #[test]
    fn severities_and_drift() {
        for kind in ["root_mismatch", "fork", "anchor_invalid"] {
            assert_eq!(severity(kind), "critical");
        }
        for kind in ["timestamp_drift", "schema_incompatible"] {
            assert_eq!(severity(kind), "warning");
        }
        assert_eq!(severity("sample_missing"), "info");
        for kind in crate::DiscrepancyKind::ALL {
            assert_eq!(severity(kind.as_str()), "critical", "{kind}");
        }
        assert_eq!(severity(""), "critical");

        assert_eq!(timestamp_drift(1_000, 1_300), None);
        assert_eq!(timestamp_drift(1_300, 1_000), None);
        assert_eq!(timestamp_drift(5, 5), None);
        assert_eq!(
            timestamp_drift(1_000, 1_301),
            Some(json!({
                "type": "timestamp_drift",
                "severity": "warning",
                "cosigned_at": 1_000,
                "observed_at": 1_301,
                "drift_seconds": 301,
            }))
        );
        let ahead = timestamp_drift(2_000, 1_000).expect("ahead");
        assert_eq!(ahead["drift_seconds"], 1_000);
        let extreme = timestamp_drift(u64::MAX, 0).expect("extreme");
        assert_eq!(extreme["drift_seconds"], u64::MAX);
    }
}
