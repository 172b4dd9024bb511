//! Fork evidence: two checkpoints of one log, both signed by its key, that no consistency
//! proof connects (c2sp.org/tlog-checkpoint: a log must never sign such a pair; two such
//! notes prove it equivocated).
//!
//! The JSON form, `treaty-fork-evidence/v1`, is what `treaty verify-discrepancy <file>`
//! checks offline and what `fed_discrepancy` ledger entries embed:
//!
//! ```json
//! {"format":"treaty-fork-evidence/v1","kind":"same_size"|"inconsistent","origin":"<origin>",
//!  "log_key":"<vkey, type 0x01, named after the origin>",
//!  "first":"<signed note, verbatim>","second":"<signed note, verbatim>",
//!  "proof":["<base64 hash>", ...]}
//! ```
//!
//! `first` has the smaller size (for equal sizes, the smaller note text, so that one pair
//! has one encoding and one [`ForkEvidence::hash`] whoever found it).
//!
//! # What each kind proves
//!
//! - `same_size`: two signed trees of the same size with different roots. Conclusive: no
//!   honest log signs both. `proof` is empty.
//! - `inconsistent`: a smaller and a larger signed tree, and the consistency proof the log
//!   offered between them, of the length RFC 9162 2.1.4 gives for the sizes, which does not
//!   verify. This proves the log served a proof that fails; it is conclusive only together
//!   with the log's inability to serve one that verifies, since the proof itself is not
//!   signed. A verifier holding the log's tree can settle it; the evidence says exactly
//!   which sizes and roots to ask about.

use base64::Engine as _;
use serde_json::{Value, json};
use treaty_merkle::{Hash, verify_consistency};
use treaty_note::{
    Checkpoint, KEY_TYPE_ED25519, MAX_KEY_TEXT_BYTES, MAX_NOTE_BYTES, VerifierKey, open_checkpoint,
};

use crate::FedError;
use crate::json::{Obj, invalid, sha256_jcs, wrong_type};
use crate::witness::{ADD_CHECKPOINT_PROOF_LINES_MAX, consistency_proof_len};
use crate::{WitnessError, parse_json};

/// The `format` member of every fork evidence object.
pub const FORK_EVIDENCE_FORMAT: &str = "treaty-fork-evidence/v1";

/// The most proof hashes fork evidence carries: what one `add-checkpoint` request may carry.
pub const FORK_EVIDENCE_PROOF_HASHES_MAX: usize = ADD_CHECKPOINT_PROOF_LINES_MAX;

/// The largest fork evidence JSON text [`ForkEvidence::parse`] reads. Two maximal notes
/// whose every byte needs a two-byte JSON escape, a maximal origin likewise, the key and the
/// proof stay below it.
pub const FORK_EVIDENCE_BYTES_MAX: usize = 6 * MAX_NOTE_BYTES + 16 * 1024;

/// The members of the JSON form, all required.
const MEMBERS: [&str; 7] = [
    "format", "kind", "origin", "log_key", "first", "second", "proof",
];

/// Which contradiction the evidence shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForkKind {
    /// Same size, different roots.
    SameSize,
    /// Different sizes, and the consistency proof between them does not verify.
    Inconsistent,
}

impl ForkKind {
    /// The JSON name: `same_size` or `inconsistent`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ForkKind::SameSize => "same_size",
            ForkKind::Inconsistent => "inconsistent",
        }
    }

    /// The kind named `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "same_size" => Some(ForkKind::SameSize),
            "inconsistent" => Some(ForkKind::Inconsistent),
            _ => None,
        }
    }
}

/// Two signed notes of one log that contradict each other, with what is needed to check it.
///
/// Fields are public so that a caller can hold and store evidence as it likes; nothing is
/// trusted until [`ForkEvidence::verify`] passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// Which contradiction.
    pub kind: ForkKind,
    /// The log's origin, equal to both checkpoints' origin and to the key's name.
    pub origin: String,
    /// The log key (type `0x01`) both notes are signed by.
    pub log_key: VerifierKey,
    /// The note with the smaller (or equal) size, verbatim.
    pub first: String,
    /// The other note, verbatim.
    pub second: String,
    /// For [`ForkKind::Inconsistent`], the consistency proof offered from the first size to
    /// the second; empty for [`ForkKind::SameSize`].
    pub proof: Vec<Hash>,
}

/// Refuses a key that cannot be a log key for fork evidence.
fn check_log_key(log_key: &VerifierKey) -> Result<(), WitnessError> {
    if log_key.key_type() != KEY_TYPE_ED25519 {
        return Err(WitnessError::InvalidLogKey {
            reason: "a log key has signature type 0x01",
        });
    }
    Ok(())
}

/// Opens `note` as a checkpoint signed by `log_key` (origin = the key's name).
fn open(note: &str, log_key: &VerifierKey, what: &'static str) -> Result<Checkpoint, WitnessError> {
    open_checkpoint(note, log_key, &[])
        .map(|opened| opened.checkpoint)
        .map_err(|source| WitnessError::InvalidNote { what, source })
}

/// Which fork `first` and `second` (in that order, `first` not larger) show with `proof`,
/// or why they show none. The one definition shared by [`ForkEvidence::new`],
/// [`ForkEvidence::verify`] and the witness's decision.
pub(crate) fn classify(
    first: &Checkpoint,
    second: &Checkpoint,
    proof: &[Hash],
) -> Result<ForkKind, WitnessError> {
    if first.size() > second.size() {
        return Err(WitnessError::EvidenceMismatch {
            reason: "the first note is larger than the second",
        });
    }
    if first.size() == second.size() {
        if first.root() == second.root() {
            return Err(WitnessError::NotAFork {
                reason: "the checkpoints have the same size and the same root",
            });
        }
        if !proof.is_empty() {
            return Err(WitnessError::EvidenceMismatch {
                reason: "evidence of a same-size fork carries no proof",
            });
        }
        return Ok(ForkKind::SameSize);
    }
    if proof.len() > FORK_EVIDENCE_PROOF_HASHES_MAX {
        return Err(WitnessError::TooManyProofLines {
            max: FORK_EVIDENCE_PROOF_HASHES_MAX,
        });
    }
    // A proof of the wrong length is no attempt to connect these sizes; it shows nothing
    // about the trees (the witness answers it as a bad request, not as a fork).
    if proof.len() != consistency_proof_len(first.size(), second.size()) {
        return Err(WitnessError::NotAFork {
            reason: "the proof does not have the length RFC 9162 gives for these sizes",
        });
    }
    if verify_consistency(
        first.size(),
        second.size(),
        proof,
        first.root(),
        second.root(),
    )
    .is_ok()
    {
        return Err(WitnessError::NotAFork {
            reason: "the proof connects the two checkpoints",
        });
    }
    Ok(ForkKind::Inconsistent)
}

/// Standard padded base64, as in checkpoints and proof lines.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The error for evidence JSON.
fn malformed(source: FedError) -> WitnessError {
    WitnessError::MalformedEvidence { source }
}

/// A string member of at most `max` bytes.
fn bounded_str<'a>(obj: &Obj<'a>, key: &str, max: usize) -> Result<&'a str, WitnessError> {
    let text = obj.str(key).map_err(malformed)?;
    if text.len() > max {
        return Err(malformed(FedError::TooLarge {
            what: "fork evidence member",
            len: text.len(),
            max,
        }));
    }
    Ok(text)
}

impl ForkEvidence {
    /// Builds evidence from two signed notes of the log `log_key`, in any order, after the
    /// checks of [`ForkEvidence::verify`]. A same-size pair needs no proof, and `proof` is
    /// dropped for one; otherwise `proof` is the consistency proof offered from the smaller
    /// size to the larger.
    ///
    /// # Errors
    /// [`WitnessError::InvalidLogKey`], [`WitnessError::InvalidNote`] when a note does not
    /// verify under `log_key` (or its origin is not the key's name),
    /// [`WitnessError::TooManyProofLines`], and [`WitnessError::NotAFork`] when the pair is
    /// consistent (same tree, or the proof verifies) or the proof has the wrong length.
    pub fn new(
        log_key: &VerifierKey,
        a: &str,
        b: &str,
        proof: Vec<Hash>,
    ) -> Result<ForkEvidence, WitnessError> {
        check_log_key(log_key)?;
        let cp_a = open(a, log_key, "first note")?;
        let cp_b = open(b, log_key, "second note")?;
        // Smaller size first; for equal sizes the smaller text, so one pair has one form.
        let a_first = (cp_a.size(), a) <= (cp_b.size(), b);
        let ((first, cp1), (second, cp2)) = if a_first {
            ((a, cp_a), (b, cp_b))
        } else {
            ((b, cp_b), (a, cp_a))
        };
        let proof = if cp1.size() == cp2.size() {
            Vec::new()
        } else {
            proof
        };
        let kind = classify(&cp1, &cp2, &proof)?;
        Ok(ForkEvidence {
            kind,
            origin: cp1.origin().to_owned(),
            log_key: log_key.clone(),
            first: first.to_owned(),
            second: second.to_owned(),
            proof,
        })
    }

    /// The `treaty-fork-evidence/v1` JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "format": FORK_EVIDENCE_FORMAT,
            "kind": self.kind.as_str(),
            "origin": self.origin,
            "log_key": self.log_key.to_string(),
            "first": self.first,
            "second": self.second,
            "proof": self.proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
        })
    }

    /// Reads the JSON object: exactly the seven members, `format` and `kind` known, every
    /// text within its limit, `log_key` a type `0x01` vkey named after `origin`, each proof
    /// hash 32 bytes of standard padded base64. The claim itself is checked by
    /// [`ForkEvidence::verify`].
    ///
    /// # Errors
    /// [`WitnessError::MalformedEvidence`] with the member's JSON pointer,
    /// [`WitnessError::TooManyProofLines`], [`WitnessError::InvalidLogKey`].
    pub fn from_json(v: &Value) -> Result<ForkEvidence, WitnessError> {
        let obj = Obj::new(v, "").map_err(malformed)?;
        obj.only(&MEMBERS).map_err(malformed)?;
        if obj.str("format").map_err(malformed)? != FORK_EVIDENCE_FORMAT {
            return Err(malformed(invalid(
                &obj.at("format"),
                "not treaty-fork-evidence/v1",
            )));
        }
        let kind = ForkKind::from_name(obj.str("kind").map_err(malformed)?)
            .ok_or_else(|| malformed(invalid(&obj.at("kind"), "not same_size or inconsistent")))?;
        let origin = bounded_str(&obj, "origin", MAX_NOTE_BYTES)?;
        let key_text = bounded_str(&obj, "log_key", MAX_KEY_TEXT_BYTES)?;
        let log_key = VerifierKey::parse(key_text)
            .map_err(|_| malformed(invalid(&obj.at("log_key"), "not a verifier key")))?;
        check_log_key(&log_key)?;
        if log_key.name() != origin {
            return Err(WitnessError::InvalidLogKey {
                reason: "the key's name is not the origin",
            });
        }
        let first = bounded_str(&obj, "first", MAX_NOTE_BYTES)?;
        let second = bounded_str(&obj, "second", MAX_NOTE_BYTES)?;
        let items = obj.array("proof").map_err(malformed)?;
        if items.len() > FORK_EVIDENCE_PROOF_HASHES_MAX {
            return Err(WitnessError::TooManyProofLines {
                max: FORK_EVIDENCE_PROOF_HASHES_MAX,
            });
        }
        let mut proof = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = crate::json::pointer_index(&obj.at("proof"), i);
            let text = item
                .as_str()
                .ok_or_else(|| malformed(wrong_type(&path, "a string")))?;
            let hash: Hash = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| {
                    malformed(invalid(&path, "not 32 bytes of standard padded base64"))
                })?;
            proof.push(hash);
        }
        Ok(ForkEvidence {
            kind,
            origin: origin.to_owned(),
            log_key,
            first: first.to_owned(),
            second: second.to_owned(),
            proof,
        })
    }

    /// Reads evidence from JSON text (a file), refusing duplicate member names and texts
    /// above [`FORK_EVIDENCE_BYTES_MAX`].
    ///
    /// # Errors
    /// [`WitnessError::MalformedEvidence`] for text that is not one JSON value, and the
    /// errors of [`ForkEvidence::from_json`].
    pub fn parse(bytes: &[u8]) -> Result<ForkEvidence, WitnessError> {
        let value = parse_json(bytes, FORK_EVIDENCE_BYTES_MAX).map_err(malformed)?;
        Self::from_json(&value)
    }

    /// Checks the claim offline: both notes verify under `log_key` (a type `0x01` key named
    /// after `origin`, whose origin both checkpoints carry), `first` is not larger than
    /// `second`, and then for [`ForkKind::SameSize`] the sizes are equal and the roots
    /// differ (no proof), for [`ForkKind::Inconsistent`] the first size is smaller and
    /// `proof`, of the length RFC 9162 gives for the sizes, does not verify. Returns the two
    /// checkpoints, first and second.
    ///
    /// # Errors
    /// [`WitnessError::InvalidLogKey`], [`WitnessError::InvalidNote`] naming the note that
    /// does not verify, [`WitnessError::EvidenceMismatch`] when a stated member disagrees
    /// with the notes, [`WitnessError::NotAFork`], [`WitnessError::TooManyProofLines`].
    pub fn verify(&self) -> Result<(Checkpoint, Checkpoint), WitnessError> {
        check_log_key(&self.log_key)?;
        if self.log_key.name() != self.origin {
            return Err(WitnessError::InvalidLogKey {
                reason: "the key's name is not the origin",
            });
        }
        // `open_checkpoint` requires each checkpoint's origin to be the key's name, which is
        // `origin`: one log, one origin, one key.
        let first = open(&self.first, &self.log_key, "first note")?;
        let second = open(&self.second, &self.log_key, "second note")?;
        let kind = classify(&first, &second, &self.proof)?;
        if kind != self.kind {
            return Err(WitnessError::EvidenceMismatch {
                reason: "the stated kind is not the one the notes show",
            });
        }
        Ok((first, second))
    }

    /// `sha256:<hex>` over the RFC 8785 form of [`ForkEvidence::to_json`]: names the
    /// evidence in `fed_discrepancy` entries (`evidence_hash`). The object has no numbers, so
    /// its canonical form is always defined.
    #[must_use]
    pub fn hash(&self) -> String {
        sha256_jcs(&self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{LOG_ORIGIN, TestLog, with, without};
    use ed25519_dalek::SigningKey;
    use treaty_note::KEY_TYPE_COSIGNATURE_V1;

    /// The honest log, a fork of it under the same key, and evidence of both kinds.
    fn fixtures() -> (TestLog, TestLog, ForkEvidence, ForkEvidence) {
        let log = TestLog::new(1, 0, 20);
        let forked = TestLog::new(1, 5, 20);
        let same = ForkEvidence::new(&log.key, &log.note(11), &forked.note(11), vec![])
            .expect("same size");
        let inconsistent = ForkEvidence::new(
            &log.key,
            &forked.note(20),
            &log.note(11),
            forked.proof(11, 20),
        )
        .expect("inconsistent");
        (log, forked, same, inconsistent)
    }

    #[test]
    fn builds_orders_and_verifies() {
        let (log, forked, same, inconsistent) = fixtures();
        assert_eq!(same.kind, ForkKind::SameSize);
        assert_eq!(same.origin, LOG_ORIGIN);
        let (a, b) = same.verify().expect("same size verifies");
        assert_eq!(a.size(), b.size());
        // One pair, one form: the argument order does not matter.
        let swapped = ForkEvidence::new(&log.key, &forked.note(11), &log.note(11), vec![[1; 32]])
            .expect("same size");
        assert_eq!(swapped, same);
        assert_eq!(swapped.hash(), same.hash());
        // The smaller checkpoint comes first whatever the order given.
        assert_eq!(inconsistent.kind, ForkKind::Inconsistent);
        assert_eq!(inconsistent.first, log.note(11));
        assert_eq!(inconsistent.second, forked.note(20));
        let (a, b) = inconsistent.verify().expect("inconsistent verifies");
        assert_eq!((a.size(), b.size()), (11, 20));
        // A size-0 checkpoint with a root that is not the empty tree's contradicts any
        // larger one.
        let bogus = treaty_note::sign_checkpoint(
            &Checkpoint::new(LOG_ORIGIN, 0, [1; 32]).expect("cp"),
            LOG_ORIGIN,
            &log.sk,
        )
        .expect("sign");
        let e = ForkEvidence::new(&log.key, &bogus, &log.note(3), vec![]).expect("fork");
        assert_eq!(e.kind, ForkKind::Inconsistent);
        assert!(e.verify().is_ok());
    }

    #[test]
    fn consistent_pairs_are_not_forks() {
        let (log, forked, _, _) = fixtures();
        let not_fork = |r: Result<ForkEvidence, WitnessError>| {
            assert_eq!(r.expect_err("not a fork").code(), "not_a_fork");
        };
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(11),
            &log.note(11),
            vec![],
        ));
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(11),
            &log.note(20),
            log.proof(11, 20),
        ));
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(0),
            &log.note(20),
            vec![],
        ));
        // A proof of the wrong length shows nothing about the trees.
        let mut short = forked.proof(11, 20);
        short.pop();
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(11),
            &forked.note(20),
            short,
        ));
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(11),
            &forked.note(20),
            vec![],
        ));
        // The same tree, signed twice (another signature line): same size, same root.
        let mut twice = treaty_note::Note::parse(log.note(11)).expect("note");
        twice
            .sign("extra.example", &SigningKey::from_bytes(&[9; 32]))
            .expect("sign");
        not_fork(ForkEvidence::new(
            &log.key,
            &log.note(11),
            &twice.to_string(),
            vec![],
        ));
    }

    #[test]
    fn notes_must_be_the_logs() {
        let (log, forked, _, _) = fixtures();
        // Another key under the log's name did not sign these notes.
        let other = TestLog::new(2, 0, 20);
        let err = ForkEvidence::new(&other.key, &log.note(11), &forked.note(11), vec![])
            .expect_err("other key");
        assert_eq!(err.code(), "invalid_note");
        // A note by another key is no half of this log's fork.
        let err = ForkEvidence::new(&log.key, &log.note(11), &other.note(11), vec![])
            .expect_err("other signer");
        assert_eq!(err.code(), "invalid_note");
        // A witness key is no log key.
        let witness = VerifierKey::from_signing_key(LOG_ORIGIN, &log.sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("key");
        let err = ForkEvidence::new(&witness, &log.note(11), &forked.note(11), vec![])
            .expect_err("witness key");
        assert_eq!(err.code(), "invalid_log_key");
        // A key named after another origin opens neither note.
        let renamed = VerifierKey::from_signing_key("other.example/log", &log.sk, KEY_TYPE_ED25519)
            .expect("key");
        let err = ForkEvidence::new(&renamed, &log.note(11), &forked.note(11), vec![])
            .expect_err("renamed");
        assert_eq!(err.code(), "invalid_note");
        assert!(
            ForkEvidence::new(&log.key, &log.note(11), &forked.note(20), vec![[0; 32]; 64])
                .is_err()
        );
    }

    #[test]
    fn json_round_trips() {
        let (_, _, same, inconsistent) = fixtures();
        for e in [&same, &inconsistent] {
            let v = e.to_json();
            let keys: Vec<&str> = v
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, MEMBERS);
            assert_eq!(v["format"], FORK_EVIDENCE_FORMAT);
            assert_eq!(v["kind"], e.kind.as_str());
            assert_eq!(&ForkEvidence::from_json(&v).expect("from_json"), e);
            let text = serde_json::to_vec_pretty(&v).expect("text");
            let parsed = ForkEvidence::parse(&text).expect("parse");
            assert_eq!(&parsed, e);
            assert!(parsed.verify().is_ok());
            let hash = e.hash();
            assert!(crate::json::is_sha256(&hash), "{hash}");
            let jcs = treaty_types::canonicalize(&v).expect("jcs");
            assert_eq!(
                hash,
                format!(
                    "sha256:{}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jcs))
                )
            );
        }
        assert_ne!(same.hash(), inconsistent.hash());
        assert_eq!(ForkKind::from_name("same_size"), Some(ForkKind::SameSize));
        assert_eq!(ForkKind::from_name("Same_size"), None);
    }

    #[test]
    fn from_json_is_strict() {
        let (log, _, same, inconsistent) = fixtures();
        let v = inconsistent.to_json();
        let witness = VerifierKey::from_signing_key(LOG_ORIGIN, &log.sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("key");
        let renamed = VerifierKey::from_signing_key("other.example/log", &log.sk, KEY_TYPE_ED25519)
            .expect("key");
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "malformed_evidence"),
            (json!("x"), "malformed_evidence"),
            (with(&v, "extra", json!(1)), "malformed_evidence"),
            (without(&v, "proof"), "malformed_evidence"),
            (without(&v, "format"), "malformed_evidence"),
            (
                with(&v, "format", json!("treaty-fork-evidence/v2")),
                "malformed_evidence",
            ),
            (with(&v, "kind", json!("fork")), "malformed_evidence"),
            (with(&v, "kind", json!(1)), "malformed_evidence"),
            (with(&v, "origin", json!(null)), "malformed_evidence"),
            (
                with(&v, "log_key", json!("not a key")),
                "malformed_evidence",
            ),
            (
                with(&v, "log_key", json!(witness.to_string())),
                "invalid_log_key",
            ),
            (
                with(&v, "log_key", json!(renamed.to_string())),
                "invalid_log_key",
            ),
            (
                with(&v, "origin", json!("other.example/log")),
                "invalid_log_key",
            ),
            (with(&v, "first", json!(["x"])), "malformed_evidence"),
            (
                with(&v, "second", json!("a".repeat(MAX_NOTE_BYTES + 1))),
                "malformed_evidence",
            ),
            (with(&v, "proof", json!("AAAA")), "malformed_evidence"),
            (with(&v, "proof", json!([1])), "malformed_evidence"),
            (with(&v, "proof", json!(["AAAA"])), "malformed_evidence"),
            (
                with(&v, "proof", json!([b64(&[1; 32]).replace('=', "")])),
                "malformed_evidence",
            ),
            (
                with(&v, "proof", json!(vec![b64(&[1; 32]); 64])),
                "too_many_proof_lines",
            ),
        ];
        for (value, code) in cases {
            let err = ForkEvidence::from_json(&value).expect_err("refused");
            assert_eq!(err.code(), code, "{value}: {err}");
        }
        // Duplicate members in the text are refused, not resolved.
        let text = serde_json::to_string(&same.to_json()).expect("text");
        let dup = text.replacen('{', r#"{"kind":"same_size","#, 1);
        assert_eq!(
            ForkEvidence::parse(dup.as_bytes()).expect_err("dup").code(),
            "malformed_evidence"
        );
        assert_eq!(
            ForkEvidence::parse(&vec![b' '; FORK_EVIDENCE_BYTES_MAX + 1])
                .expect_err("large")
                .code(),
            "malformed_evidence"
        );
    }

    #[test]
    fn tampered_evidence_fails_to_verify() {
        let (log, forked, same, inconsistent) = fixtures();
        let code = |e: &ForkEvidence| e.verify().expect_err("tampered").code();
        // Swapped notes: the larger first.
        let mut e = inconsistent.clone();
        std::mem::swap(&mut e.first, &mut e.second);
        assert_eq!(code(&e), "evidence_mismatch");
        // The other kind stated.
        let mut e = inconsistent.clone();
        e.kind = ForkKind::SameSize;
        assert_eq!(code(&e), "evidence_mismatch");
        let mut e = same.clone();
        e.kind = ForkKind::Inconsistent;
        assert_eq!(code(&e), "evidence_mismatch");
        // A proof on a same-size pair.
        let mut e = same.clone();
        e.proof = vec![[1; 32]];
        assert_eq!(code(&e), "evidence_mismatch");
        // The proof replaced by one that connects: the pair is consistent.
        let mut e = inconsistent.clone();
        e.second = log.note(20);
        e.proof = log.proof(11, 20);
        assert_eq!(code(&e), "not_a_fork");
        // One note replaced by a consistent one: no fork left.
        let mut e = same.clone();
        e.second = e.first.clone();
        assert_eq!(code(&e), "not_a_fork");
        // Another key, or another key type, or another origin.
        let other = TestLog::new(2, 0, 20);
        let mut e = same.clone();
        e.log_key = other.key.clone();
        assert_eq!(code(&e), "invalid_note");
        let mut e = same.clone();
        e.log_key = VerifierKey::from_signing_key(LOG_ORIGIN, &log.sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("key");
        assert_eq!(code(&e), "invalid_log_key");
        let mut e = same.clone();
        e.origin = "other.example/log".into();
        assert_eq!(code(&e), "invalid_log_key");
        // A note of another log, or an altered note text.
        let mut e = same.clone();
        e.second = other.note(11);
        assert_eq!(code(&e), "invalid_note");
        let mut e = inconsistent.clone();
        e.second = forked.note(20).replacen("20\n", "21\n", 1);
        assert_eq!(code(&e), "invalid_note");
        assert!(same.verify().is_ok() && inconsistent.verify().is_ok());
    }

    /// Truncated and altered JSON texts never panic, and whatever still parses and verifies
    /// is still a fork of the same log.
    #[test]
    fn mutated_evidence_never_panics() {
        let (log, _, _, inconsistent) = fixtures();
        let text = serde_json::to_string(&inconsistent.to_json()).expect("text");
        let bytes = text.as_bytes();
        let check = |b: &[u8]| {
            if let Ok(e) = ForkEvidence::parse(b) {
                if let Ok((a, b)) = e.verify() {
                    assert_eq!(e.log_key, log.key);
                    assert!(a.size() <= b.size());
                }
                let _ = e.hash();
            }
        };
        for end in (0..=bytes.len()).step_by(7) {
            check(&bytes[..end]);
        }
        for i in 0..bytes.len() {
            for replacement in [b'"', b'0', b'A', b'\\'] {
                let mut m = bytes.to_vec();
                m[i] = replacement;
                check(&m);
            }
        }
    }
}
