//! Signed notes: c2sp.org/signed-note@v1.0.0 "Format" and "Signatures".
//!
//! A signed note is a text ending in a newline, one empty line, then one or more signature
//! lines `— <key name> <base64(key ID || signature)>` (U+2014 EM DASH, space). The text is
//! separated from the signatures by the *last* empty line, so the text itself may contain
//! empty lines. The whole note is UTF-8 without ASCII control characters other than newline.
//!
//! Verification follows the spec's rules, which are what make notes safe to extend with
//! witness cosignatures and key rotation: lines from unknown keys are ignored (even if they
//! share a name *or* an ID with a known key), every line from a known key must verify or the
//! whole note is rejected, and a note with no verified known signature is rejected.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};

use crate::cosignature;
use crate::key::{KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, KeyId, VerifierKey, check_name};
use crate::{NoteError, check_len, decode_base64, encode_base64};

/// The largest signed note accepted, signatures included, in bytes.
///
/// A checkpoint with [`MAX_SIGNATURES`] Ed25519 signature lines under long names is about
/// 20 KiB; 64 KiB leaves room for longer texts while keeping a hostile peer from making a
/// verifier buffer and scan megabytes. The spec asks for a limit on signatures or on size.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most signature lines a note may carry. The spec requires accepting at least 16;
/// 100 is the limit of Go's `note.Open`, which this matches so that any note Go accepts
/// and fits [`MAX_NOTE_BYTES`] is accepted here too.
pub const MAX_SIGNATURES: usize = 100;

/// U+2014 EM DASH and a space: the start of every signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The shortest decoded signature payload accepted: a 4-byte key ID and at least one byte,
/// as in Go's `note.Open`.
const MIN_SIGNATURE_PAYLOAD: usize = 5;

/// Rejects bytes below U+0020 other than newline. In UTF-8 such bytes only ever encode those
/// ASCII characters, so a byte scan is exact.
pub(crate) fn check_no_control_chars(text: &[u8]) -> Result<(), NoteError> {
    match text
        .iter()
        .enumerate()
        .find(|&(_, &b)| b < 0x20 && b != b'\n')
    {
        Some((offset, &byte)) => Err(NoteError::ControlCharacter { byte, offset }),
        None => Ok(()),
    }
}

/// One signature line of a note: the signer's key name, its key ID, and the signature bytes
/// after the key ID (for type `0x04` cosignatures: an 8-byte timestamp then 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key name, as written on the line.
    name: String,
    /// The first four decoded bytes, identifying the key together with the name.
    key_id: KeyId,
    /// The decoded bytes after the key ID; never empty.
    bytes: Vec<u8>,
}

impl Signature {
    /// A signature line from its parts.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`], or [`NoteError::MalformedSignatureLine`] when `bytes` is
    /// empty (the spec's payload is `4 + n` bytes and a zero-length signature verifies nothing).
    pub fn new(name: &str, key_id: KeyId, bytes: Vec<u8>) -> Result<Self, NoteError> {
        check_name(name)?;
        if bytes.is_empty() {
            return Err(NoteError::MalformedSignatureLine {
                line: 1,
                reason: "signature is empty",
            });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id,
            bytes,
        })
    }

    /// Parses one signature line without its final newline: `— <name> <base64>`. This is the
    /// form in which a witness returns cosignatures (c2sp.org/tlog-witness).
    ///
    /// # Errors
    /// [`NoteError::MalformedSignatureLine`] or [`NoteError::InvalidKeyName`].
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        check_len("signature line", line.len(), MAX_NOTE_BYTES)?;
        parse_signature_line(line, 1)
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key ID.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The line without its final newline: `— <name> <base64(key ID || bytes)>`.
    #[must_use]
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// Whether this line claims the same key as `other` (same name and key ID).
    fn same_key(&self, other: &Self) -> bool {
        self.key_id == other.key_id && self.name == other.name
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut payload = Vec::with_capacity(4 + self.bytes.len());
        payload.extend_from_slice(&self.key_id);
        payload.extend_from_slice(&self.bytes);
        write!(
            f,
            "{SIGNATURE_PREFIX}{} {}",
            self.name,
            encode_base64(&payload)
        )
    }
}

/// Parses a signature line; `number` (one-based) is only for the error.
fn parse_signature_line(line: &str, number: usize) -> Result<Signature, NoteError> {
    let malformed = |reason| NoteError::MalformedSignatureLine {
        line: number,
        reason,
    };
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(malformed("does not start with an em dash and a space"))?;
    // The name ends at the first space; a space in the base64 part makes it fail to decode.
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(malformed("no space between key name and signature"))?;
    check_name(name)?;
    let payload = decode_base64(b64).ok_or(malformed("signature is not standard padded base64"))?;
    if payload.len() < MIN_SIGNATURE_PAYLOAD {
        return Err(malformed("signature is shorter than a key ID and one byte"));
    }
    let (id, bytes) = payload.split_at(4);
    let key_id: KeyId = [id[0], id[1], id[2], id[3]];
    Ok(Signature {
        name: name.to_owned(),
        key_id,
        bytes: bytes.to_vec(),
    })
}

/// A signature line that verified under a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The known key it verified under.
    pub key: VerifierKey,
    /// For type `0x04` cosignatures, the signed timestamp (POSIX seconds); `None` for plain
    /// Ed25519 signatures, which carry no time.
    pub timestamp: Option<u64>,
}

/// A note text and its signature lines, verified or not.
///
/// Parsing keeps every line in order, so `Note::parse(x)?.to_string() == x` for every note
/// that parses. Signing never produces a note that [`Note::parse`] would reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    text: String,
    /// The signature lines, in order.
    signatures: Vec<Signature>,
}

impl Note {
    /// An unsigned note. It only becomes encodable as a signed note once signed.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::ControlCharacter`], or
    /// [`NoteError::MalformedNote`] when the text is empty or does not end in a newline.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_len("note text", text.len(), MAX_NOTE_BYTES)?;
        if !text.ends_with('\n') {
            return Err(NoteError::MalformedNote {
                reason: "text does not end in a newline",
            });
        }
        check_no_control_chars(text.as_bytes())?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note without verifying anything. Call [`Note::verify`] before trusting
    /// the text: the spec says it MUST be ignored until a trusted signature is checked.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] above [`MAX_NOTE_BYTES`], [`NoteError::NotUtf8`],
    /// [`NoteError::ControlCharacter`], [`NoteError::MalformedNote`],
    /// [`NoteError::TooManySignatures`] above [`MAX_SIGNATURES`],
    /// [`NoteError::MalformedSignatureLine`] and [`NoteError::InvalidKeyName`].
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, NoteError> {
        let input = input.as_ref();
        // Size first: everything after this is linear in the input.
        check_len("note", input.len(), MAX_NOTE_BYTES)?;
        let input = std::str::from_utf8(input).map_err(|_| NoteError::NotUtf8 { what: "note" })?;
        check_no_control_chars(input.as_bytes())?;

        let split = input.rfind("\n\n").ok_or(NoteError::MalformedNote {
            reason: "no empty line before the signatures",
        })?;
        // `split` indexes an ASCII newline, so both slices fall on character boundaries.
        let (text, block) = (&input[..=split], &input[split + 2..]);
        let lines = block.strip_suffix('\n').ok_or(NoteError::MalformedNote {
            reason: "no signature lines, or the last one does not end in a newline",
        })?;

        let mut signatures = Vec::new();
        for (i, line) in lines.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(parse_signature_line(line, i + 1)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, including its final newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, verified or not, in order.
    #[must_use]
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Adds a type `0x01` Ed25519 signature by `signing_key` under `name`, replacing any line
    /// with the same name and key ID (as Go's `note.Sign` does).
    ///
    /// # Errors
    /// As [`Note::add_signature`].
    pub fn sign(&mut self, name: &str, signing_key: &SigningKey) -> Result<(), NoteError> {
        let key = VerifierKey::from_signing_key(name, signing_key, KEY_TYPE_ED25519)?;
        let signature = signing_key.sign(self.text.as_bytes());
        self.add_signature(Signature::new(
            name,
            key.key_id(),
            signature.to_bytes().to_vec(),
        )?)
    }

    /// Appends a signature line (for example a witness cosignature), replacing any line with
    /// the same name and key ID. The line is not verified here.
    ///
    /// # Errors
    /// [`NoteError::TooManySignatures`] or [`NoteError::TooLarge`] when the result would be a
    /// note that [`Note::parse`] rejects.
    pub fn add_signature(&mut self, signature: Signature) -> Result<(), NoteError> {
        let mut signatures: Vec<Signature> = self
            .signatures
            .iter()
            .filter(|s| !s.same_key(&signature))
            .cloned()
            .collect();
        signatures.push(signature);
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let len = encoded_len(&self.text, &signatures);
        check_len("note", len, MAX_NOTE_BYTES)?;
        self.signatures = signatures;
        Ok(())
    }

    /// Verifies the note against `known` keys and returns each known key that signed it, once,
    /// in order of first appearance.
    ///
    /// Lines whose (name, key ID) match no known key are ignored. Every line that does match
    /// must verify, or the whole note is rejected (the spec's SHOULD, taken as a MUST: a bad
    /// signature from a trusted key means a bug or an attack, never something to skip).
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] naming the key whose signature failed,
    /// [`NoteError::AmbiguousKey`] when two different known keys share a name and key ID, and
    /// [`NoteError::NoKnownSignature`] when no known key signed.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for signature in &self.signatures {
            let Some(key) = find_known_key(known, signature)? else {
                continue;
            };
            let timestamp = verify_signature_bytes(key, &self.text, signature.bytes()).ok_or(
                NoteError::InvalidSignature {
                    name: key.name().to_owned(),
                    key_id: hex::encode(key.key_id()),
                },
            )?;
            if !verified.iter().any(|v| v.key == *key) {
                verified.push(VerifiedSignature {
                    key: key.clone(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for signature in &self.signatures {
            writeln!(f, "{signature}")?;
        }
        Ok(())
    }
}

/// The encoded length of a note with these signatures, without building the string.
fn encoded_len(text: &str, signatures: &[Signature]) -> usize {
    let lines: usize = signatures
        .iter()
        .map(|s| {
            // prefix + name + space + base64 of (4 + n) bytes + newline
            SIGNATURE_PREFIX.len() + s.name.len() + 1 + (4 + s.bytes.len()).div_ceil(3) * 4 + 1
        })
        .sum();
    text.len() + 1 + lines
}

/// The known key a signature line claims, if any.
fn find_known_key<'k>(
    known: &'k [VerifierKey],
    signature: &Signature,
) -> Result<Option<&'k VerifierKey>, NoteError> {
    let mut found: Option<&VerifierKey> = None;
    for key in known
        .iter()
        .filter(|k| k.matches(signature.name(), signature.key_id()))
    {
        match found {
            None => found = Some(key),
            // The same key configured twice is harmless; two different keys behind one
            // (name, ID) means the configuration cannot say which one signed.
            Some(first) if first != key => {
                return Err(NoteError::AmbiguousKey {
                    name: key.name().to_owned(),
                    key_id: hex::encode(key.key_id()),
                });
            }
            Some(_) => {}
        }
    }
    Ok(found)
}

/// Checks signature bytes (after the key ID) under `key` over the note `text`.
/// `None`: invalid; `Some(None)`: a valid plain signature; `Some(Some(t))`: a valid
/// cosignature made at time `t`.
fn verify_signature_bytes(key: &VerifierKey, text: &str, bytes: &[u8]) -> Option<Option<u64>> {
    match key.key_type() {
        KEY_TYPE_ED25519 => {
            let signature = ed25519_dalek::Signature::from_slice(bytes).ok()?;
            // `verify` is RFC 8032 verification with canonical S and a cofactorless equation,
            // the same acceptance rule as Go's crypto/ed25519 that signs most notes.
            key.verifying_key()
                .verify(text.as_bytes(), &signature)
                .ok()
                .map(|()| None)
        }
        KEY_TYPE_COSIGNATURE_V1 => cosignature::verify_payload(key, text, bytes).map(Some),
        // VerifierKey only admits the two types above.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";

    fn peter() -> VerifierKey {
        VerifierKey::parse(PETER_VKEY).expect("vkey")
    }

    fn enoch() -> VerifierKey {
        VerifierKey::parse(ENOCH_VKEY).expect("vkey")
    }

    fn msg(sigs: &[&str]) -> String {
        format!("{TEXT}\n{}", sigs.concat())
    }

    #[test]
    fn one_known_one_unknown() {
        let note = Note::parse(msg(&[PETER_SIG, ENOCH_SIG])).expect("parse");
        assert_eq!(note.text(), TEXT);
        assert_eq!(note.signatures().len(), 2);
        let v = note.verify(&[peter()]).expect("verify");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].key, peter());
        assert_eq!(v[0].timestamp, None);
        let both = note.verify(&[peter(), enoch()]).expect("verify both");
        assert_eq!(both.len(), 2);
        assert!(matches!(note.verify(&[]), Err(NoteError::NoKnownSignature)));
    }

    #[test]
    fn bad_signature_from_known_key_rejects_note() {
        // Go's test: four characters spliced into the signature's base64.
        let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let note = Note::parse(msg(&[&bad])).expect("well-formed");
        assert!(matches!(
            note.verify(&[peter()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // ...and a good signature alongside does not save it.
        let note = Note::parse(msg(&[PETER_SIG, &bad])).expect("well-formed");
        assert!(note.verify(&[peter()]).is_err());
        // ...but the same bad line is ignored when its key is unknown.
        let note = Note::parse(msg(&[PETER_SIG, ENOCH_SIG])).expect("parse");
        let bad_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let note2 = Note::parse(msg(&[PETER_SIG, &bad_enoch])).expect("parse");
        assert!(note.verify(&[peter()]).is_ok());
        assert!(note2.verify(&[peter()]).is_ok());
    }

    #[test]
    fn same_name_or_same_id_alone_is_unknown() {
        // A line claiming Peter's name with another ID, and one with Peter's ID under another
        // name: neither is Peter's key, so both are ignored (and Enoch's line verifies).
        let other_id = PETER_SIG.replace("x08g", "AAAA");
        let other_name = PETER_SIG.replace("PeterNeumann", "PeterNeuman");
        let note = Note::parse(msg(&[&other_id, &other_name, ENOCH_SIG])).expect("parse");
        let v = note.verify(&[peter(), enoch()]).expect("verify");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].key, enoch());
    }

    #[test]
    fn ambiguous_known_keys_are_an_error() {
        let sk = SigningKey::from_bytes(&[9; 32]);
        let other =
            VerifierKey::from_signing_key("PeterNeumann", &sk, KEY_TYPE_ED25519).expect("key");
        let note = Note::parse(msg(&[PETER_SIG])).expect("parse");
        // Same name, different ID: not ambiguous, just another key.
        assert!(note.verify(&[peter(), other.clone()]).is_ok());
        // The same key configured twice is fine.
        assert!(note.verify(&[peter(), peter()]).is_ok());
        // Two different keys behind Peter's (name, ID): refuse to guess.
        let twin = other.with_forged_key_id(peter().key_id());
        assert!(matches!(
            note.verify(&[peter(), twin]),
            Err(NoteError::AmbiguousKey { .. })
        ));
    }

    #[test]
    fn sign_reproduces_go_and_replaces_own_line() {
        let skey = crate::SignerKey::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .expect("skey");
        let mut note = Note::new(TEXT).expect("text");
        note.sign("PeterNeumann", skey.signing_key()).expect("sign");
        assert_eq!(note.to_string(), msg(&[PETER_SIG]));
        // Signing again replaces rather than duplicates.
        note.sign("PeterNeumann", skey.signing_key()).expect("sign");
        assert_eq!(note.to_string(), msg(&[PETER_SIG]));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let peter_no_nl = &PETER_SIG[..PETER_SIG.len() - 1];
        let bad: Vec<Vec<u8>> = vec![
            TEXT.into(),
            format!("{TEXT}\n").into(),
            format!("{TEXT}\n{peter_no_nl}").into(),
            format!("\x01{TEXT}\n{PETER_SIG}").into(),
            [b"\xff".as_slice(), msg(&[PETER_SIG]).as_bytes()].concat(),
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
            // Wrong dash: U+2013 EN DASH, and ASCII hyphen.
            msg(&[&PETER_SIG.replace('—', "–")]).into(),
            msg(&[&PETER_SIG.replace('—', "-")]).into(),
            // No space after the dash; two spaces; CRLF line ending.
            msg(&[&PETER_SIG.replace("— ", "—")]).into(),
            msg(&[&PETER_SIG.replace("PeterNeumann ", "PeterNeumann  ")]).into(),
            msg(&[&PETER_SIG.replace("=\n", "=\r\n")]).into(),
            // Bad base64: missing padding, junk, too short to hold a key ID.
            msg(&[&PETER_SIG.replace("=\n", "\n")]).into(),
            msg(&[&PETER_SIG.replace("x08go", "x08g!")]).into(),
            msg(&["— PeterNeumann AAAAAA==\n"]).into(),
            msg(&["— PeterNeumann \n"]).into(),
            // Truncations.
            Vec::new(),
            b"\n".to_vec(),
            b"\n\n".to_vec(),
            format!("\n\n{PETER_SIG}").into_bytes()[..3].to_vec(),
        ];
        for input in bad {
            assert!(
                Note::parse(&input).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn text_may_contain_empty_lines() {
        let text = "a\n\nb\n\n";
        let sk = SigningKey::from_bytes(&[3; 32]);
        let mut note = Note::new(text).expect("text");
        note.sign("example.com/k", &sk).expect("sign");
        let encoded = note.to_string();
        let parsed = Note::parse(&encoded).expect("parse");
        assert_eq!(parsed.text(), text);
        assert_eq!(parsed, note);
        let key =
            VerifierKey::from_signing_key("example.com/k", &sk, KEY_TYPE_ED25519).expect("key");
        assert!(parsed.verify(&[key]).is_ok());
    }

    #[test]
    fn signature_limits() {
        let sk = SigningKey::from_bytes(&[4; 32]);
        let key =
            VerifierKey::from_signing_key("example.com/k", &sk, KEY_TYPE_ED25519).expect("key");
        let mut note = Note::new("hello\n").expect("text");
        note.sign("example.com/k", &sk).expect("sign");
        let line = note.signatures()[0].to_line();
        // The spec's floor of 16 lines and our ceiling are both accepted.
        for n in [16, MAX_SIGNATURES] {
            let input = format!("hello\n\n{}", format!("{line}\n").repeat(n));
            let parsed = Note::parse(&input).expect("within limit");
            assert_eq!(parsed.signatures().len(), n);
            assert_eq!(
                parsed.verify(std::slice::from_ref(&key)).expect("v").len(),
                1
            );
            assert_eq!(parsed.to_string(), input);
        }
        let input = format!(
            "hello\n\n{}",
            format!("{line}\n").repeat(MAX_SIGNATURES + 1)
        );
        assert!(matches!(
            Note::parse(&input),
            Err(NoteError::TooManySignatures { .. })
        ));
        // Adding signatures stops at the limit instead of producing an unparseable note.
        let mut note = Note::new("hello\n").expect("text");
        for i in 0..MAX_SIGNATURES {
            let sk = SigningKey::from_bytes(&[u8::try_from(i).expect("small"); 32]);
            note.sign(&format!("k{i}"), &sk).expect("under limit");
        }
        assert!(matches!(
            note.sign("one-more", &sk),
            Err(NoteError::TooManySignatures { .. })
        ));
        assert!(Note::parse(note.to_string()).is_ok());
    }

    #[test]
    fn size_limits() {
        let big = "a".repeat(MAX_NOTE_BYTES);
        assert!(matches!(
            Note::parse(format!("{big}\n\n{PETER_SIG}")),
            Err(NoteError::TooLarge { .. })
        ));
        // A text that fits alone but not with a signature cannot be signed.
        let text = format!("{}\n", "a".repeat(MAX_NOTE_BYTES - 50));
        let mut note = Note::new(text).expect("fits");
        let sk = SigningKey::from_bytes(&[5; 32]);
        assert!(matches!(
            note.sign("example.com/k", &sk),
            Err(NoteError::TooLarge { .. })
        ));
        assert!(note.signatures().is_empty());
    }

    #[test]
    fn new_rejects_bad_text() {
        assert!(Note::new("").is_err());
        assert!(Note::new("no newline").is_err());
        assert!(Note::new("tab\there\n").is_err());
        assert!(Note::new("ok\n").is_ok());
    }

    #[test]
    fn encoded_len_is_exact() {
        let mut note = Note::new("x\n").expect("text");
        for (i, n) in [1usize, 2, 3, 64, 72, 100].into_iter().enumerate() {
            note.add_signature(
                Signature::new(&format!("k{i}"), [1, 2, 3, 4], vec![7; n]).expect("sig"),
            )
            .expect("add");
            assert_eq!(
                encoded_len(note.text(), note.signatures()),
                note.to_string().len()
            );
        }
    }
}
