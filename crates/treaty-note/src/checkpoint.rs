//! Checkpoints: c2sp.org/tlog-checkpoint@v1.0.0 "Note text" and "Signatures".
//!
//! A checkpoint is a signed note whose text is at least three non-empty lines: the origin
//! (the log's identity), the tree size in decimal without leading zeroes, and the base64
//! RFC 6962 root hash; any further lines are opaque, non-empty extension lines. Treaty writes
//! none but keeps any it reads, because they are part of what was signed and cosigned.
//!
//! [`open_checkpoint`] is the one way Treaty trusts a checkpoint: the log key must have signed
//! it (any other known key alone is not enough), every known signature must verify, and the
//! witnesses that cosigned are returned so a caller can apply its quorum policy.

use ed25519_dalek::SigningKey;
use treaty_merkle::Hash;

use crate::cosignature::Cosignature;
use crate::key::{KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, VerifierKey};
use crate::note::{Note, check_no_control_chars};
use crate::{MAX_NOTE_BYTES, NoteError, check_len, decode_base64, encode_base64, parse_decimal};

/// The most extension lines a checkpoint may carry. The spec calls them NOT RECOMMENDED and
/// Treaty writes none, so a handful is generous; the note size bounds them anyway.
pub const MAX_EXTENSION_LINES: usize = 16;

/// A parsed checkpoint body. Constructed only through checks, so [`Checkpoint::to_body`]
/// always produces a body that [`Checkpoint::parse`] reads back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `example.com/log42`.
    origin: String,
    /// Number of leaves in the tree.
    size: u64,
    /// RFC 6962 root hash of the tree at `size`.
    root: Hash,
    /// Opaque extension lines, in order, without newlines.
    extensions: Vec<String>,
}

/// Checks one body line: non-empty, no newline, no control character.
fn check_line(line: &str, reason_empty: &'static str) -> Result<(), NoteError> {
    if line.is_empty() {
        return Err(NoteError::MalformedCheckpoint {
            reason: reason_empty,
        });
    }
    if line.contains('\n') {
        return Err(NoteError::MalformedCheckpoint {
            reason: "a line contains a newline",
        });
    }
    check_no_control_chars(line.as_bytes())
}

impl Checkpoint {
    /// A checkpoint with no extension lines, the only kind Treaty writes.
    ///
    /// # Errors
    /// [`NoteError::MalformedCheckpoint`] for an empty origin or one containing a newline,
    /// [`NoteError::ControlCharacter`].
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, NoteError> {
        let origin = origin.into();
        check_line(&origin, "origin is empty")?;
        Ok(Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The same checkpoint with these extension lines (replacing any it had).
    ///
    /// # Errors
    /// [`NoteError::MalformedCheckpoint`] for an empty line, a line with a newline, or more
    /// than [`MAX_EXTENSION_LINES`] lines; [`NoteError::ControlCharacter`].
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, NoteError> {
        if extensions.len() > MAX_EXTENSION_LINES {
            return Err(NoteError::MalformedCheckpoint {
                reason: "too many extension lines",
            });
        }
        for line in &extensions {
            check_line(line, "extension line is empty")?;
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// Parses a checkpoint body (a note text, with its final newline).
    ///
    /// The origin is accepted as any non-empty line: the spec says clients MUST NOT assume it
    /// follows the recommended URL-like form.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::ControlCharacter`] and
    /// [`NoteError::MalformedCheckpoint`] naming the broken rule.
    pub fn parse(body: &str) -> Result<Self, NoteError> {
        check_len("checkpoint", body.len(), MAX_NOTE_BYTES)?;
        check_no_control_chars(body.as_bytes())?;
        let body = body
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedCheckpoint {
                reason: "body does not end in a newline",
            })?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::MalformedCheckpoint {
                reason: "fewer than three lines",
            });
        };
        check_line(origin, "origin is empty")?;
        let size = parse_decimal(size).ok_or(NoteError::MalformedCheckpoint {
            reason: "tree size is not a decimal without leading zeroes",
        })?;
        let root: Hash = decode_base64(root)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(NoteError::MalformedCheckpoint {
                reason: "root hash is not 32 bytes of standard padded base64",
            })?;
        let mut extensions = Vec::new();
        for line in lines {
            if extensions.len() == MAX_EXTENSION_LINES {
                return Err(NoteError::MalformedCheckpoint {
                    reason: "too many extension lines",
                });
            }
            check_line(line, "extension line is empty")?;
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The body: origin, size, base64 root and extension lines, each ending in a newline.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            encode_base64(&self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// The log's identity.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of leaves in the tree.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// RFC 6962 root hash of the tree.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Extension lines, without newlines.
    #[must_use]
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// Signs a checkpoint with the log's Ed25519 key (type `0x01`) under `name` and returns the
/// signed note text. Treaty names the log key after the origin, as the spec recommends
/// (so [`open_checkpoint`] can check one against the other).
///
/// # Errors
/// [`NoteError::InvalidKeyName`] and the note size limits.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    name: &str,
    signing_key: &SigningKey,
) -> Result<String, NoteError> {
    let mut note = Note::new(checkpoint.to_body())?;
    note.sign(name, signing_key)?;
    Ok(note.to_string())
}

/// A checkpoint whose log signature verified, with the witness cosignatures that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note as parsed, with every signature line (known or not), for storing or
    /// forwarding verbatim.
    pub note: Note,
    /// Verified cosignatures by the given witnesses, one per witness key, in note order.
    pub cosignatures: Vec<Cosignature>,
}

/// Opens a signed checkpoint note: it must be signed by `log_key` and its origin must equal
/// the log key's name (Treaty's convention, the spec's SHOULD). Cosignatures by `witnesses`
/// are verified and returned; lines from any other key are ignored.
///
/// # Errors
/// As [`open_checkpoint_with_origin`].
pub fn open_checkpoint(
    note: impl AsRef<[u8]>,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<OpenedCheckpoint, NoteError> {
    open_checkpoint_with_origin(note, log_key.name(), log_key, witnesses)
}

/// Like [`open_checkpoint`] for a log whose origin differs from its key name (as in Go's
/// checksum database, origin `go.sum database tree`, key `sum.golang.org`).
///
/// # Errors
/// [`NoteError::WrongKeyType`] unless `log_key` is type `0x01` and every witness type
/// `0x04`; note parse errors; [`NoteError::InvalidSignature`] when any known key's line fails;
/// [`NoteError::NoKnownSignature`] or [`NoteError::MissingLogSignature`] when the log did not
/// sign; checkpoint parse errors; [`NoteError::OriginMismatch`].
pub fn open_checkpoint_with_origin(
    note: impl AsRef<[u8]>,
    origin: &str,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<OpenedCheckpoint, NoteError> {
    if log_key.key_type() != KEY_TYPE_ED25519 {
        return Err(NoteError::WrongKeyType {
            name: log_key.name().to_owned(),
            expected: KEY_TYPE_ED25519,
            got: log_key.key_type(),
        });
    }
    if let Some(w) = witnesses
        .iter()
        .find(|w| w.key_type() != KEY_TYPE_COSIGNATURE_V1)
    {
        return Err(NoteError::WrongKeyType {
            name: w.name().to_owned(),
            expected: KEY_TYPE_COSIGNATURE_V1,
            got: w.key_type(),
        });
    }
    let note = Note::parse(note)?;
    let mut known = Vec::with_capacity(witnesses.len() + 1);
    known.push(log_key.clone());
    known.extend_from_slice(witnesses);
    let verified = note.verify(&known)?;
    if !verified.iter().any(|v| v.key == *log_key) {
        return Err(NoteError::MissingLogSignature {
            name: log_key.name().to_owned(),
        });
    }
    // Parse only after the signature check: the text means nothing until then.
    let checkpoint = Checkpoint::parse(note.text())?;
    if checkpoint.origin() != origin {
        return Err(NoteError::OriginMismatch {
            origin: checkpoint.origin().to_owned(),
            expected: origin.to_owned(),
        });
    }
    let cosignatures = verified
        .into_iter()
        .filter_map(|v| match v.timestamp {
            Some(timestamp) if v.key.key_type() == KEY_TYPE_COSIGNATURE_V1 => Some(Cosignature {
                key: v.key,
                timestamp,
            }),
            _ => None,
        })
        .collect();
    Ok(OpenedCheckpoint {
        checkpoint,
        note,
        cosignatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::cosign;

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn log() -> (SigningKey, VerifierKey) {
        let sk = SigningKey::from_bytes(&[0x10; 32]);
        let vk =
            VerifierKey::from_signing_key("example.com/behind-the-sofa", &sk, KEY_TYPE_ED25519)
                .expect("key");
        (sk, vk)
    }

    fn witness(i: u8) -> (SigningKey, VerifierKey) {
        let sk = SigningKey::from_bytes(&[0x20 + i; 32]);
        let vk = VerifierKey::from_signing_key(
            &format!("witness{i}.example"),
            &sk,
            KEY_TYPE_COSIGNATURE_V1,
        )
        .expect("key");
        (sk, vk)
    }

    #[test]
    fn parses_spec_example_body() {
        let cp = Checkpoint::parse(BODY).expect("parse");
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20_852_163);
        assert!(cp.extensions().is_empty());
        assert_eq!(cp.to_body(), BODY);
    }

    #[test]
    fn extensions_are_kept() {
        let body = format!("{BODY}ext one\next two\n");
        let cp = Checkpoint::parse(&body).expect("parse");
        assert_eq!(cp.extensions(), ["ext one", "ext two"]);
        assert_eq!(cp.to_body(), body);
        let many = format!("{BODY}{}", "e\n".repeat(MAX_EXTENSION_LINES + 1));
        assert!(Checkpoint::parse(&many).is_err());
    }

    #[test]
    fn malformed_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            String::new(),
            "o\n1\n".to_owned(),
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n1 \n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=CsUY\n".to_owned(),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\r\n1\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "accepted {bad:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::new("", 1, [0; 32]).is_err());
        assert!(Checkpoint::new("a\nb", 1, [0; 32]).is_err());
        assert!(
            Checkpoint::new("o", 1, [0; 32])
                .and_then(|c| c.with_extensions(vec![String::new()]))
                .is_err()
        );
    }

    #[test]
    fn sign_open_and_cosign() {
        let (log_sk, log_vk) = log();
        let cp = Checkpoint::parse(BODY).expect("parse");
        let signed = sign_checkpoint(&cp, log_vk.name(), &log_sk).expect("sign");
        let opened = open_checkpoint(&signed, &log_vk, &[]).expect("open");
        assert_eq!(opened.checkpoint, cp);
        assert!(opened.cosignatures.is_empty());

        let mut note = opened.note;
        let (w1_sk, w1) = witness(1);
        let (w2_sk, w2) = witness(2);
        let (w3_sk, _w3) = witness(3);
        note.add_signature(cosign(BODY, w1.name(), &w1_sk, 100).expect("c1"))
            .expect("add");
        note.add_signature(cosign(BODY, w2.name(), &w2_sk, 200).expect("c2"))
            .expect("add");
        note.add_signature(cosign(BODY, "witness3.example", &w3_sk, 300).expect("c3"))
            .expect("add");
        let text = note.to_string();
        // Witness 3 is unknown here and ignored.
        let opened = open_checkpoint(&text, &log_vk, &[w1.clone(), w2.clone()]).expect("open");
        let got: Vec<(&str, u64)> = opened
            .cosignatures
            .iter()
            .map(|c| (c.name(), c.timestamp))
            .collect();
        assert_eq!(got, [("witness1.example", 100), ("witness2.example", 200)]);
    }

    #[test]
    fn log_signature_is_required() {
        let (_, log_vk) = log();
        let (w1_sk, w1) = witness(1);
        let mut note = Note::new(BODY).expect("note");
        note.add_signature(cosign(BODY, w1.name(), &w1_sk, 1).expect("c"))
            .expect("add");
        // Only a witness signed: the note verifies under known keys, but not by the log.
        assert!(matches!(
            open_checkpoint(note.to_string(), &log_vk, &[w1]),
            Err(NoteError::MissingLogSignature { .. })
        ));
    }

    #[test]
    fn origin_and_key_types_are_checked() {
        let (log_sk, log_vk) = log();
        let cp = Checkpoint::new("example.com/other", 1, [1; 32]).expect("cp");
        let signed = sign_checkpoint(&cp, log_vk.name(), &log_sk).expect("sign");
        assert!(matches!(
            open_checkpoint(&signed, &log_vk, &[]),
            Err(NoteError::OriginMismatch { .. })
        ));
        assert!(open_checkpoint_with_origin(&signed, "example.com/other", &log_vk, &[]).is_ok());
        let (_, w1) = witness(1);
        assert!(matches!(
            open_checkpoint(&signed, &w1, &[]),
            Err(NoteError::WrongKeyType { .. })
        ));
        assert!(matches!(
            open_checkpoint(&signed, &log_vk, std::slice::from_ref(&log_vk)),
            Err(NoteError::WrongKeyType { .. })
        ));
    }

    #[test]
    fn a_bad_witness_cosignature_rejects_the_checkpoint() {
        let (log_sk, log_vk) = log();
        let (w1_sk, w1) = witness(1);
        let cp = Checkpoint::parse(BODY).expect("parse");
        let mut note =
            Note::parse(sign_checkpoint(&cp, log_vk.name(), &log_sk).expect("sign")).expect("note");
        // A cosignature over a different checkpoint, attached to this one.
        let other = BODY.replace("20852163", "20852164");
        note.add_signature(cosign(&other, w1.name(), &w1_sk, 1).expect("c"))
            .expect("add");
        assert!(matches!(
            open_checkpoint(note.to_string(), &log_vk, &[w1]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Without the witness configured, the line is just ignored.
        assert!(open_checkpoint(note.to_string(), &log_vk, &[]).is_ok());
    }
}
