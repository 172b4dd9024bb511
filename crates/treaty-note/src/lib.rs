//! Signed notes, transparency-log checkpoints, witness cosignatures and offline receipts.
//!
//! Every format here is a public C2SP specification, implemented exactly so that tools nobody
//! in Treaty wrote can check Treaty's output:
//!
//! - [`note`]: signed notes, c2sp.org/signed-note@v1.0.0 (and the verifier/signer key text of
//!   `golang.org/x/mod/sumdb/note`);
//! - [`key`]: key IDs, verifier keys (`<name>+<hex id>+<base64>`) and signer keys
//!   (`PRIVATE+KEY+...`), c2sp.org/signed-note@v1.0.0 "Signatures";
//! - [`checkpoint`]: checkpoint bodies and signing/opening them, c2sp.org/tlog-checkpoint@v1.0.0;
//! - [`cosignature`]: timestamped Ed25519 witness cosignatures, c2sp.org/tlog-cosignature@v1.0.1;
//! - [`receipt`]: self-contained inclusion receipts, c2sp.org/tlog-proof@v1 (a draft);
//! - [`policy`]: trust policies (logs, witnesses, groups, quorum), c2sp.org/tlog-policy
//!   (a draft), and [`Receipt::verify_with_policy`].
//!
//! What this crate deliberately does not do: no I/O, no clock (timestamps are arguments), no
//! randomness (keys are arguments), no HTTP. Merkle math lives in `treaty-merkle`; this crate
//! only encodes, signs and verifies. Every parser checks a named limit before doing work
//! ([`MAX_NOTE_BYTES`], [`MAX_SIGNATURES`], [`MAX_PROOF_LINES`], ...) and never panics.
//!
//! # Example: a log signs, a witness cosigns, a client checks a receipt offline
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use treaty_note::{
//!     cosign, sign_checkpoint, Checkpoint, Note, Receipt, VerifierKey, KEY_TYPE_COSIGNATURE_V1,
//!     KEY_TYPE_ED25519,
//! };
//!
//! # fn main() -> Result<(), treaty_note::NoteError> {
//! let log_key = SigningKey::from_bytes(&[1; 32]);
//! let witness_key = SigningKey::from_bytes(&[2; 32]);
//! let log = VerifierKey::from_signing_key("example.com/log", &log_key, KEY_TYPE_ED25519)?;
//! let witness =
//!     VerifierKey::from_signing_key("witness.example", &witness_key, KEY_TYPE_COSIGNATURE_V1)?;
//!
//! // A one-entry ledger: its root is the entry's leaf hash and the proof is empty.
//! let entry = b"hello";
//! let checkpoint = Checkpoint::new("example.com/log", 1, treaty_merkle::leaf_hash(entry))?;
//! let mut note = Note::parse(sign_checkpoint(&checkpoint, log.name(), &log_key)?)?;
//! note.add_signature(cosign(&checkpoint.to_body(), witness.name(), &witness_key, 1_700_000_000)?)?;
//!
//! let receipt = Receipt::new(0, vec![], note.to_string())?;
//! let text = receipt.to_text();
//! let verified = Receipt::parse(&text)?.verify_entry(entry, &log, &[witness], 1)?;
//! assert_eq!(verified.cosignatures[0].timestamp, 1_700_000_000);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod checkpoint;
pub mod cosignature;
pub mod key;
pub mod note;
pub mod policy;
pub mod receipt;

pub use checkpoint::{
    Checkpoint, MAX_EXTENSION_LINES, OpenedCheckpoint, open_checkpoint,
    open_checkpoint_with_origin, sign_checkpoint,
};
pub use cosignature::{
    COSIGNATURE_HEADER, Cosignature, MAX_COSIGNATURE_TIMESTAMP, cosign, cosignature_message,
    cosignature_timestamp, verify_cosignature,
};
pub use key::{
    KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, KeyId, MAX_KEY_TEXT_BYTES, SignerKey, VerifierKey,
    key_id,
};
pub use note::{MAX_NOTE_BYTES, MAX_SIGNATURES, Note, Signature, VerifiedSignature};
pub use policy::{
    POLICY_BYTES_MAX, POLICY_GROUPS_MAX, POLICY_LOGS_MAX, POLICY_NONE, POLICY_WITNESSES_MAX,
    Policy, PolicyWitness,
};
pub use receipt::{
    MAX_EXTRA_BYTES, MAX_PROOF_LINES, MAX_RECEIPT_BYTES, RECEIPT_HEADER, Receipt, VerifiedReceipt,
};
/// The hash type of proofs and roots, re-exported so callers need not name `treaty-merkle`.
pub use treaty_merkle::Hash;

/// Everything that can go wrong parsing, signing or verifying notes, checkpoints,
/// cosignatures and receipts.
///
/// Parse errors say which rule of which spec the input broke; verification errors name the
/// key involved, so an operator can tell a misconfigured policy from a forged note.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The input is longer than the limit for its kind.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// What was too large ("note", "receipt", "key text", ...).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The input is not valid UTF-8 (signed-note "Format").
    #[error("{what} is not valid UTF-8")]
    NotUtf8 {
        /// What was being parsed.
        what: &'static str,
    },
    /// An ASCII control character other than newline (signed-note "Format").
    #[error("control character {byte:#04x} at byte {offset}")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
        /// Its byte offset in the input.
        offset: usize,
    },
    /// The note does not have the text / blank line / signature lines shape.
    #[error("malformed note: {reason}")]
    MalformedNote {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A signature line is not `— <name> <base64>`.
    #[error("malformed signature line {line}: {reason}")]
    MalformedSignatureLine {
        /// One-based number of the signature line within the signature block.
        line: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A key name is empty or contains a Unicode space or `+`.
    #[error("invalid key name {name:?}: names are non-empty, without spaces or '+'")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A verifier or signer key text could not be decoded.
    #[error("malformed key: {reason}")]
    MalformedKey {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A key text's key ID does not match the ID computed from its name and key.
    #[error("key ID {stated} in key text does not match computed key ID {computed}")]
    KeyIdMismatch {
        /// The key ID written in the text, hex.
        stated: String,
        /// The key ID computed from name, type and public key, hex.
        computed: String,
    },
    /// A signature type byte this crate does not implement.
    #[error("unsupported key type {0:#04x}")]
    UnsupportedKeyType(u8),
    /// A small-order Ed25519 public key: anyone could forge signatures that verify under it.
    #[error("weak (small-order) Ed25519 public key")]
    WeakKey,
    /// A key of the wrong signature type for its role (log key, witness key).
    #[error("key {name} has type {got:#04x}, expected {expected:#04x}")]
    WrongKeyType {
        /// The key's name.
        name: String,
        /// The type the role needs.
        expected: u8,
        /// The key's type.
        got: u8,
    },
    /// Two different known keys share a name and key ID, so a signature line is ambiguous.
    #[error("ambiguous known keys for {name}+{key_id}")]
    AmbiguousKey {
        /// The shared name.
        name: String,
        /// The shared key ID, hex.
        key_id: String,
    },
    /// A known key's signature did not verify: the whole note is rejected
    /// (signed-note "Signatures").
    #[error("invalid signature by known key {name}+{key_id}")]
    InvalidSignature {
        /// The key's name.
        name: String,
        /// The key's ID, hex.
        key_id: String,
    },
    /// No signature line matched a known key (signed-note: clients MUST reject the note).
    #[error("note has no signature from a known key")]
    NoKnownSignature,
    /// The note verified, but not by the log key this checkpoint must be signed by.
    #[error("checkpoint is not signed by log key {name}")]
    MissingLogSignature {
        /// The log key's name.
        name: String,
    },
    /// A checkpoint body breaks tlog-checkpoint "Note text".
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The checkpoint's origin is not the one the verifier expects for this log.
    #[error("checkpoint origin {origin:?} is not the expected {expected:?}")]
    OriginMismatch {
        /// The origin line of the checkpoint.
        origin: String,
        /// The origin the verifier expected.
        expected: String,
    },
    /// A cosignature timestamp above 2^63 - 1 (tlog-cosignature "Format").
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
    /// A receipt breaks tlog-proof "Format".
    #[error("malformed receipt line {line}: {reason}")]
    MalformedReceipt {
        /// One-based line number in the receipt.
        line: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// More inclusion proof lines than [`MAX_PROOF_LINES`].
    #[error("receipt has more than {max} proof lines")]
    TooManyProofLines {
        /// The limit.
        max: usize,
    },
    /// The inclusion proof does not lead from the entry to the checkpoint's root.
    #[error("inclusion proof does not verify: {0}")]
    Inclusion(#[from] treaty_merkle::MerkleError),
    /// The known witnesses that cosigned do not satisfy the quorum.
    #[error("{got} known witnesses cosigned; the quorum is not met (it needs at least {need})")]
    QuorumNotMet {
        /// Distinct known witnesses whose cosignatures verified.
        got: usize,
        /// The quorum: for a count, the count; for a [`Policy`], the fewest witnesses that
        /// can satisfy it ([`Policy::min_witnesses`]). With a policy `got` may reach `need`
        /// and still fall short, when the cosigners are not the ones its groups require.
        need: usize,
    },
    /// A policy file breaks c2sp.org/tlog-policy.
    #[error("malformed policy (line {line}): {reason}")]
    MalformedPolicy {
        /// One-based line number; 0 when the problem is the file as a whole (no quorum).
        line: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A policy's `log` or `witness` line has a vkey that does not parse, or whose type does
    /// not fit the role (`0x01` for logs, `0x04` for witnesses).
    #[error("policy line {line}: invalid key: {source}")]
    InvalidPolicyKey {
        /// One-based line number.
        line: usize,
        /// Why the key was refused.
        #[source]
        source: Box<NoteError>,
    },
    /// A policy has more logs, witnesses or groups than this implementation supports.
    #[error("policy line {line}: more than {max} {what}")]
    PolicyLimit {
        /// One-based line number of the first line over the limit.
        line: usize,
        /// What was counted ("logs", "witnesses", "groups").
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Verifying against a policy that lists no log: the caller must supply the log.
    #[error("the policy lists no log; a checkpoint can only be verified against a known log")]
    PolicyHasNoLogs,
    /// No log of the policy has a key named after the checkpoint's origin.
    #[error("no log of the policy has a key named {origin:?} (the checkpoint's origin)")]
    UnknownLog {
        /// The checkpoint's origin line.
        origin: String,
    },
}

/// Rejects input longer than `max` before any other work is done on it.
pub(crate) fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), NoteError> {
    if len > max {
        return Err(NoteError::TooLarge { what, len, max });
    }
    Ok(())
}

/// Decodes standard, padded base64 (RFC 4648 section 4), rejecting non-canonical trailing
/// bits so that every byte string has exactly one accepted encoding.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Encodes standard, padded base64 (RFC 4648 section 4).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Parses an ASCII decimal with no leading zeroes (unless it is `0`), as tlog-checkpoint
/// (tree size), tlog-cosignature (time) and tlog-proof (index) all require.
///
/// `str::parse::<u64>` alone is not enough: it accepts a leading `+` and leading zeroes,
/// which would give one number several encodings.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_canonical() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("20852163"), Some(20_852_163));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "18446744073709551616",
            "１",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("QUJD"), Some(b"ABC".to_vec()));
        for bad in [
            "QUJ", "QUJD=", "QUI", "QUJ=", "QR==", "QUJD\n", "QU JD", "QUJD====",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }
}
