//! Offline inclusion receipts: c2sp.org/tlog-proof@v1 (a C2SP draft), "Format".
//!
//! A receipt is self-contained: given the entry and a policy of trusted keys (the log key,
//! witness keys, a quorum), anyone can check it with no network access. Its lines:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 opaque data>        (optional, unauthenticated)
//! index <zero-based decimal, no leading zeroes>
//! <base64 inclusion proof hash>     (zero or more, leaf's sibling first)
//!
//! <the checkpoint note, verbatim, with its signature and cosignature lines>
//! ```
//!
//! The `extra` data is not covered by any signature; the spec says applications MUST NOT
//! trust it implicitly, so verification ignores it and returns nothing derived from it.

use treaty_merkle::{Hash, leaf_hash, verify_inclusion};

use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::cosignature::Cosignature;
use crate::key::VerifierKey;
use crate::note::Note;
use crate::policy::Policy;
use crate::{MAX_NOTE_BYTES, NoteError, check_len, decode_base64, encode_base64, parse_decimal};

/// The first line of every receipt, without its newline.
pub const RECEIPT_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion proof lines a receipt may carry: a tree of up to 2^64 leaves has depth
/// 64 (the same bound as `treaty_merkle::MAX_PROOF_HASHES`).
pub const MAX_PROOF_LINES: usize = 64;

/// The most decoded `extra` bytes a receipt may carry. The spec's examples are a file name
/// or a VRF proof, both far smaller.
pub const MAX_EXTRA_BYTES: usize = 4096;

/// The largest receipt accepted: a maximal note plus room for the header, a maximal `extra`
/// line (base64 of [`MAX_EXTRA_BYTES`] is under 5.5 KiB), the index and [`MAX_PROOF_LINES`]
/// proof lines (45 bytes each). Every receipt [`Receipt::to_text`] writes fits.
pub const MAX_RECEIPT_BYTES: usize = MAX_NOTE_BYTES + 16 * 1024;

/// The `extra` line prefix.
const EXTRA_PREFIX: &str = "extra ";

/// The `index` line prefix.
const INDEX_PREFIX: &str = "index ";

/// A parsed receipt. Constructed only through checks, so [`Receipt::to_text`] always writes a
/// receipt that [`Receipt::parse`] reads back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Zero-based index of the entry in the log.
    index: u64,
    /// Opaque, unauthenticated application data; never empty when present.
    extra: Option<Vec<u8>>,
    /// The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    checkpoint_note: String,
}

/// A receipt that verified, with what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// The entry's index in the log.
    pub index: u64,
    /// Verified cosignatures by the given witnesses, one per witness key.
    pub cosignatures: Vec<Cosignature>,
}

/// Checks that `note` is a well-formed note whose text is a checkpoint, so that a receipt
/// never carries something that could not possibly verify.
fn check_checkpoint_note(note: &str) -> Result<(), NoteError> {
    let parsed = Note::parse(note)?;
    Checkpoint::parse(parsed.text())?;
    Ok(())
}

impl Receipt {
    /// A receipt from the entry's index, its inclusion proof and the signed checkpoint note
    /// (as stored or as returned by a witness round, cosignatures included).
    ///
    /// # Errors
    /// [`NoteError::TooManyProofLines`], and note or checkpoint parse errors.
    pub fn new(
        index: u64,
        proof: Vec<Hash>,
        checkpoint_note: impl Into<String>,
    ) -> Result<Self, NoteError> {
        if proof.len() > MAX_PROOF_LINES {
            return Err(NoteError::TooManyProofLines {
                max: MAX_PROOF_LINES,
            });
        }
        let checkpoint_note = checkpoint_note.into();
        check_checkpoint_note(&checkpoint_note)?;
        Ok(Self {
            index,
            extra: None,
            proof,
            checkpoint_note,
        })
    }

    /// The same receipt carrying opaque `extra` data.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] above [`MAX_EXTRA_BYTES`]; [`NoteError::MalformedReceipt`] for
    /// empty data (it would encode as a bare `extra ` line, which is better left out).
    pub fn with_extra(mut self, extra: Vec<u8>) -> Result<Self, NoteError> {
        check_len("receipt extra data", extra.len(), MAX_EXTRA_BYTES)?;
        if extra.is_empty() {
            return Err(NoteError::MalformedReceipt {
                line: 2,
                reason: "extra data is empty",
            });
        }
        self.extra = Some(extra);
        Ok(self)
    }

    /// Parses a receipt.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] above [`MAX_RECEIPT_BYTES`], [`NoteError::NotUtf8`],
    /// [`NoteError::MalformedReceipt`] naming the line, [`NoteError::TooManyProofLines`],
    /// and note or checkpoint parse errors for the embedded note.
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, NoteError> {
        let input = input.as_ref();
        check_len("receipt", input.len(), MAX_RECEIPT_BYTES)?;
        let input =
            std::str::from_utf8(input).map_err(|_| NoteError::NotUtf8 { what: "receipt" })?;
        let mut lines = Lines {
            rest: input,
            number: 0,
        };

        if lines.next()? != RECEIPT_HEADER {
            return Err(lines.malformed("first line is not c2sp.org/tlog-proof@v1"));
        }

        let mut line = lines.next()?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix(EXTRA_PREFIX) {
            let bytes = decode_base64(b64)
                .ok_or_else(|| lines.malformed("extra data is not standard padded base64"))?;
            check_len("receipt extra data", bytes.len(), MAX_EXTRA_BYTES)?;
            if bytes.is_empty() {
                return Err(lines.malformed("extra data is empty"));
            }
            extra = Some(bytes);
            line = lines.next()?;
        }

        let index = line
            .strip_prefix(INDEX_PREFIX)
            .and_then(parse_decimal)
            .ok_or_else(|| lines.malformed("expected index <decimal without leading zeroes>"))?;

        let mut proof = Vec::new();
        loop {
            let line = lines.next()?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(NoteError::TooManyProofLines {
                    max: MAX_PROOF_LINES,
                });
            }
            let hash: Hash = decode_base64(line)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| {
                    lines.malformed("proof line is not 32 bytes of standard padded base64")
                })?;
            proof.push(hash);
        }

        let checkpoint_note = lines.rest;
        check_checkpoint_note(checkpoint_note)?;
        Ok(Self {
            index,
            extra,
            proof,
            checkpoint_note: checkpoint_note.to_owned(),
        })
    }

    /// The receipt's text.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = format!("{RECEIPT_HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(EXTRA_PREFIX);
            text.push_str(&encode_base64(extra));
            text.push('\n');
        }
        text.push_str(INDEX_PREFIX);
        text.push_str(&self.index.to_string());
        text.push('\n');
        for hash in &self.proof {
            text.push_str(&encode_base64(hash));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint_note);
        text
    }

    /// Zero-based index of the entry in the log.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The opaque `extra` data, if any. Unauthenticated: do not trust it implicitly.
    #[must_use]
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The inclusion proof hashes, leaf's sibling first.
    #[must_use]
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint note, verbatim.
    #[must_use]
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint_note
    }

    /// Verifies the receipt for the entry whose RFC 6962 leaf hash is `leaf`: the checkpoint
    /// is signed by `log_key` (see [`open_checkpoint`]), the inclusion proof leads from `leaf`
    /// at `index` to the checkpoint's root, and at least `quorum` distinct `witnesses`
    /// cosigned. Witnesses are counted by public key, so one key configured under two names
    /// counts once.
    ///
    /// # Errors
    /// The errors of [`open_checkpoint`], [`NoteError::Inclusion`] and
    /// [`NoteError::QuorumNotMet`].
    pub fn verify(
        &self,
        leaf: &Hash,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        quorum: usize,
    ) -> Result<VerifiedReceipt, NoteError> {
        // The cheap check first: a receipt whose proof does not lead to the root it claims
        // costs no signature verification. Nothing is trusted until the signatures pass too.
        let claimed = Checkpoint::parse(Note::parse(&self.checkpoint_note)?.text())?;
        verify_inclusion(
            self.index,
            claimed.size(),
            leaf,
            &self.proof,
            claimed.root(),
        )?;
        let opened = open_checkpoint(&self.checkpoint_note, log_key, witnesses)?;
        let checkpoint = opened.checkpoint;
        let mut distinct: Vec<&[u8; 32]> = opened
            .cosignatures
            .iter()
            .map(|c| c.key.public_key())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < quorum {
            return Err(NoteError::QuorumNotMet {
                got: distinct.len(),
                need: quorum,
            });
        }
        Ok(VerifiedReceipt {
            checkpoint,
            index: self.index,
            cosignatures: opened.cosignatures,
        })
    }

    /// [`Receipt::verify`] for the entry's bytes, hashed as an RFC 6962 leaf.
    ///
    /// # Errors
    /// As [`Receipt::verify`].
    pub fn verify_entry(
        &self,
        entry: &[u8],
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        quorum: usize,
    ) -> Result<VerifiedReceipt, NoteError> {
        self.verify(&leaf_hash(entry), log_key, witnesses, quorum)
    }

    /// Verifies the receipt for the entry whose RFC 6962 leaf hash is `leaf` under a
    /// c2sp.org/tlog-policy: the checkpoint is signed by one of the policy's logs whose key
    /// name is the checkpoint's origin (the spec: a log's key name MUST correspond to its
    /// origin), the inclusion proof leads from `leaf` at `index` to its root, and the
    /// cosignatures by the policy's witnesses satisfy its quorum.
    ///
    /// When several logs of the policy carry the origin's name (a key rotation), every one
    /// of them that has a line on the note must verify, and one must have signed.
    ///
    /// # Errors
    /// [`NoteError::PolicyHasNoLogs`] (the caller must supply a log: a receipt checked
    /// against no log proves nothing), note and checkpoint parse errors,
    /// [`NoteError::Inclusion`], [`NoteError::UnknownLog`] when no log of the policy is named
    /// after the origin, [`NoteError::MissingLogSignature`] when none of those signed, the
    /// errors of [`open_checkpoint`] (a known key's bad signature rejects the receipt), and
    /// [`NoteError::QuorumNotMet`] with `need` = [`Policy::min_witnesses`].
    pub fn verify_with_policy(
        &self,
        leaf: &Hash,
        policy: &Policy,
    ) -> Result<VerifiedReceipt, NoteError> {
        if policy.logs().is_empty() {
            return Err(NoteError::PolicyHasNoLogs);
        }
        let note = Note::parse(&self.checkpoint_note)?;
        // Parsed unverified only to pick the log by origin and to check the proof cheaply
        // first; nothing from it is returned until the signatures pass.
        let claimed = Checkpoint::parse(note.text())?;
        verify_inclusion(
            self.index,
            claimed.size(),
            leaf,
            &self.proof,
            claimed.root(),
        )?;
        let candidates: Vec<VerifierKey> = policy
            .logs()
            .iter()
            .filter(|(key, _)| key.name() == claimed.origin())
            .map(|(key, _)| key.clone())
            .collect();
        if candidates.is_empty() {
            return Err(NoteError::UnknownLog {
                origin: claimed.origin().to_owned(),
            });
        }
        // All candidate log keys at once, so a bad line by any of them rejects the note
        // (signed-note: a known key's failing signature is never skipped).
        let signed_by = match note.verify(&candidates) {
            Ok(verified) => verified.into_iter().next().map(|v| v.key),
            Err(NoteError::NoKnownSignature) => None,
            Err(e) => return Err(e),
        };
        let log_key = signed_by.ok_or_else(|| NoteError::MissingLogSignature {
            name: claimed.origin().to_owned(),
        })?;
        let opened = open_checkpoint(&self.checkpoint_note, &log_key, &policy.witness_keys())?;
        let cosigners: Vec<VerifierKey> =
            opened.cosignatures.iter().map(|c| c.key.clone()).collect();
        if !policy.satisfied_by(&cosigners) {
            return Err(NoteError::QuorumNotMet {
                // `open_checkpoint` returns one cosignature per known key.
                got: cosigners.len(),
                need: policy.min_witnesses(),
            });
        }
        Ok(VerifiedReceipt {
            checkpoint: opened.checkpoint,
            index: self.index,
            cosignatures: opened.cosignatures,
        })
    }

    /// [`Receipt::verify_with_policy`] for the entry's bytes, hashed as an RFC 6962 leaf.
    ///
    /// # Errors
    /// As [`Receipt::verify_with_policy`].
    pub fn verify_entry_with_policy(
        &self,
        entry: &[u8],
        policy: &Policy,
    ) -> Result<VerifiedReceipt, NoteError> {
        self.verify_with_policy(&leaf_hash(entry), policy)
    }
}

/// Newline-terminated lines of a receipt's header, tracking line numbers for errors; what
/// remains after the proof's empty line is the note.
struct Lines<'a> {
    /// The unread input.
    rest: &'a str,
    /// One-based number of the last line returned.
    number: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its newline; every header line must end in one.
    fn next(&mut self) -> Result<&'a str, NoteError> {
        self.number += 1;
        let (line, rest) = self
            .rest
            .split_once('\n')
            .ok_or(NoteError::MalformedReceipt {
                line: self.number,
                reason: "receipt ends before its checkpoint note",
            })?;
        self.rest = rest;
        Ok(line)
    }

    /// An error about the last line returned.
    fn malformed(&self, reason: &'static str) -> NoteError {
        NoteError::MalformedReceipt {
            line: self.number,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::key::KEY_TYPE_ED25519;
    use ed25519_dalek::SigningKey;

    fn signed_note() -> (String, VerifierKey) {
        let sk = SigningKey::from_bytes(&[0x30; 32]);
        let vk =
            VerifierKey::from_signing_key("example.com/log", &sk, KEY_TYPE_ED25519).expect("key");
        let entry = b"only entry";
        let cp = Checkpoint::new("example.com/log", 1, leaf_hash(entry)).expect("cp");
        (sign_checkpoint(&cp, vk.name(), &sk).expect("sign"), vk)
    }

    #[test]
    fn single_entry_tree_has_empty_proof() {
        let (note, vk) = signed_note();
        let receipt = Receipt::new(0, vec![], note.clone()).expect("receipt");
        let text = receipt.to_text();
        assert_eq!(text, format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{note}"));
        let parsed = Receipt::parse(&text).expect("parse");
        assert_eq!(parsed, receipt);
        let v = parsed
            .verify_entry(b"only entry", &vk, &[], 0)
            .expect("verify");
        assert_eq!(v.index, 0);
        assert!(parsed.verify_entry(b"other entry", &vk, &[], 0).is_err());
        assert!(matches!(
            parsed.verify_entry(b"only entry", &vk, &[], 1),
            Err(NoteError::QuorumNotMet { got: 0, need: 1 })
        ));
    }

    #[test]
    fn extra_round_trips() {
        let (note, _) = signed_note();
        let receipt = Receipt::new(0, vec![], note)
            .and_then(|r| r.with_extra(b"age-v1.2.1.tar.gz".to_vec()))
            .expect("receipt");
        let parsed = Receipt::parse(receipt.to_text()).expect("parse");
        assert_eq!(parsed.extra(), Some(b"age-v1.2.1.tar.gz".as_slice()));
        assert_eq!(parsed, receipt);
        assert!(
            Receipt::new(0, vec![], signed_note().0)
                .and_then(|r| r.with_extra(vec![]))
                .is_err()
        );
        assert!(
            Receipt::new(0, vec![], signed_note().0)
                .and_then(|r| r.with_extra(vec![0; MAX_EXTRA_BYTES + 1]))
                .is_err()
        );
    }

    #[test]
    fn malformed_receipts() {
        let (note, _) = signed_note();
        let hash = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";
        let bad = [
            String::new(),
            "c2sp.org/tlog-proof@v1".to_owned(),
            format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{note}"),
            format!("C2SP.org/tlog-proof@v1\nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 00\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex  1\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\r\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\n\nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nextra \nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nextra !!!!\nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\nextra QUJD\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}=\n\n{note}"),
            "c2sp.org/tlog-proof@v1\nindex 0\n\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 0\n\nnot a note\n".to_owned(),
            // A signed note whose text is not a checkpoint.
            format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{}", {
                let mut n = Note::new("hello\n").expect("note");
                n.sign("k", &SigningKey::from_bytes(&[1; 32]))
                    .expect("sign");
                n
            }),
        ];
        for input in bad {
            assert!(Receipt::parse(&input).is_err(), "accepted {input:?}");
        }
        let too_many = format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\n{note}",
            format!("{hash}\n").repeat(MAX_PROOF_LINES + 1)
        );
        assert!(matches!(
            Receipt::parse(&too_many),
            Err(NoteError::TooManyProofLines { .. })
        ));
        assert!(Receipt::new(0, vec![[0; 32]; MAX_PROOF_LINES + 1], note.clone()).is_err());
        assert!(matches!(
            Receipt::parse(vec![b'a'; MAX_RECEIPT_BYTES + 1]),
            Err(NoteError::TooLarge { .. })
        ));
        assert!(Receipt::parse(b"c2sp.org/tlog-proof@v1\n\xff\n").is_err());
    }

    /// A five-entry ledger, its log key and three witnesses, for policy receipts.
    struct PolicyLedger {
        log_sk: SigningKey,
        log: VerifierKey,
        witness_sks: Vec<SigningKey>,
        witnesses: Vec<VerifierKey>,
        store: treaty_merkle::MemoryHashStore,
    }

    const POLICY_ORIGIN: &str = "example.com/policy-log";

    fn policy_ledger() -> PolicyLedger {
        let log_sk = SigningKey::from_bytes(&[0x31; 32]);
        let log =
            VerifierKey::from_signing_key(POLICY_ORIGIN, &log_sk, KEY_TYPE_ED25519).expect("key");
        let witness_sks: Vec<SigningKey> = (0..3u8)
            .map(|i| SigningKey::from_bytes(&[0x50 + i; 32]))
            .collect();
        let witnesses = witness_sks
            .iter()
            .enumerate()
            .map(|(i, sk)| {
                VerifierKey::from_signing_key(
                    &format!("w{i}.example"),
                    sk,
                    crate::KEY_TYPE_COSIGNATURE_V1,
                )
                .expect("key")
            })
            .collect();
        let mut store = treaty_merkle::MemoryHashStore::new();
        for i in 0..5u8 {
            store.append(leaf_hash(&[i]));
        }
        PolicyLedger {
            log_sk,
            log,
            witness_sks,
            witnesses,
            store,
        }
    }

    impl PolicyLedger {
        /// A receipt for entry 2, cosigned by the witnesses at `cosigners`.
        fn receipt(&self, cosigners: &[usize]) -> Receipt {
            let cp = Checkpoint::new(POLICY_ORIGIN, 5, self.store.root()).expect("cp");
            let mut note =
                Note::parse(sign_checkpoint(&cp, self.log.name(), &self.log_sk).expect("sign"))
                    .expect("note");
            for &i in cosigners {
                note.add_signature(
                    crate::cosign(
                        &cp.to_body(),
                        self.witnesses[i].name(),
                        &self.witness_sks[i],
                        7,
                    )
                    .expect("cosign"),
                )
                .expect("add");
            }
            let proof = treaty_merkle::inclusion_proof(2, 5, &self.store).expect("proof");
            Receipt::new(2, proof, note.to_string()).expect("receipt")
        }

        /// `log` line(s), the three witnesses A, B, C and `quorum`.
        fn policy(&self, logs: &[&VerifierKey], rest: &str) -> Policy {
            let mut text: String = logs.iter().map(|k| format!("log {k}\n")).collect();
            for (name, key) in ["A", "B", "C"].iter().zip(&self.witnesses) {
                text.push_str(&format!("witness {name} {key}\n"));
            }
            text.push_str(rest);
            Policy::parse(&text).expect("policy")
        }
    }

    #[test]
    fn policy_receipts_need_the_quorum() {
        let l = policy_ledger();
        let two_of_three = l.policy(&[&l.log], "group G 2 A B C\nquorum G\n");
        let entry = [2u8];
        let v = l
            .receipt(&[0, 2])
            .verify_entry_with_policy(&entry, &two_of_three)
            .expect("two of three");
        assert_eq!(v.index, 2);
        assert_eq!(v.checkpoint.size(), 5);
        assert_eq!(v.cosignatures.len(), 2);
        assert!(matches!(
            l.receipt(&[1])
                .verify_entry_with_policy(&entry, &two_of_three),
            Err(NoteError::QuorumNotMet { got: 1, need: 2 })
        ));
        // Another entry does not verify however many witnesses signed.
        assert!(matches!(
            l.receipt(&[0, 1, 2])
                .verify_entry_with_policy(&[3u8], &two_of_three),
            Err(NoteError::Inclusion(_))
        ));
        // Groups: A and one of B, C.
        let nested = l.policy(&[&l.log], "group BC any B C\ngroup Q all A BC\nquorum Q\n");
        assert!(
            l.receipt(&[0, 2])
                .verify_entry_with_policy(&entry, &nested)
                .is_ok()
        );
        assert!(matches!(
            l.receipt(&[1, 2]).verify_entry_with_policy(&entry, &nested),
            Err(NoteError::QuorumNotMet { got: 2, need: 2 })
        ));
        // quorum none: the log's signature alone.
        let none = l.policy(&[&l.log], "quorum none\n");
        assert!(
            l.receipt(&[])
                .verify_entry_with_policy(&entry, &none)
                .is_ok()
        );
    }

    #[test]
    fn policy_receipts_need_the_log() {
        let l = policy_ledger();
        let entry = [2u8];
        let receipt = l.receipt(&[0, 1, 2]);
        let no_logs = l.policy(&[], "quorum none\n");
        assert!(matches!(
            receipt.verify_entry_with_policy(&entry, &no_logs),
            Err(NoteError::PolicyHasNoLogs)
        ));
        // A log under another name is not this origin's log.
        let other_sk = SigningKey::from_bytes(&[0x32; 32]);
        let other_name =
            VerifierKey::from_signing_key("example.com/other", &l.log_sk, KEY_TYPE_ED25519)
                .expect("key");
        let p = l.policy(&[&other_name], "quorum none\n");
        assert!(matches!(
            receipt.verify_entry_with_policy(&entry, &p),
            Err(NoteError::UnknownLog { .. })
        ));
        // The origin's name with another key: the log did not sign.
        let other_key =
            VerifierKey::from_signing_key(POLICY_ORIGIN, &other_sk, KEY_TYPE_ED25519).expect("key");
        let p = l.policy(&[&other_key], "quorum none\n");
        assert!(matches!(
            receipt.verify_entry_with_policy(&entry, &p),
            Err(NoteError::MissingLogSignature { .. })
        ));
        // A rotation: both keys listed, the note signed by one of them.
        let p = l.policy(&[&other_key, &l.log], "group G all A B C\nquorum G\n");
        assert!(receipt.verify_entry_with_policy(&entry, &p).is_ok());
    }

    #[test]
    fn policy_receipts_reject_bad_known_signatures() {
        let l = policy_ledger();
        let entry = [2u8];
        let p = l.policy(&[&l.log], "quorum A\n");
        let good = l.receipt(&[0]);
        // Witness B's line over another checkpoint: B is known, so the receipt is rejected
        // even though A alone satisfies the quorum.
        let mut note = Note::parse(good.checkpoint_note()).expect("note");
        let other = Checkpoint::new(POLICY_ORIGIN, 4, [9; 32]).expect("cp");
        note.add_signature(
            crate::cosign(
                &other.to_body(),
                l.witnesses[1].name(),
                &l.witness_sks[1],
                1,
            )
            .expect("cosign"),
        )
        .expect("add");
        let bad = Receipt::new(2, good.proof().to_vec(), note.to_string()).expect("receipt");
        assert!(matches!(
            bad.verify_entry_with_policy(&entry, &p),
            Err(NoteError::InvalidSignature { .. })
        ));
        assert!(good.verify_entry_with_policy(&entry, &p).is_ok());
    }

    /// Every truncation and single-byte change of a receipt either fails or, under a policy
    /// that needs every signer, fails to verify; none panics.
    #[test]
    fn mutated_receipts_fail_under_a_policy() {
        let l = policy_ledger();
        let p = l.policy(&[&l.log], "group G all A B C\nquorum G\n");
        let text = l.receipt(&[0, 1, 2]).to_text();
        assert!(
            Receipt::parse(&text)
                .expect("parse")
                .verify_entry_with_policy(&[2u8], &p)
                .is_ok()
        );
        let bytes = text.as_bytes();
        let accepted = |b: &[u8]| {
            Receipt::parse(b)
                .and_then(|r| r.verify_entry_with_policy(&[2u8], &p))
                .is_ok()
        };
        for end in 0..bytes.len() {
            assert!(!accepted(&bytes[..end]), "truncated at {end}");
        }
        for i in 0..bytes.len() {
            let mut m = bytes.to_vec();
            m[i] ^= 0x01;
            assert!(!accepted(&m), "byte {i} flipped");
        }
    }
}
