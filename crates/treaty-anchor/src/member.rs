//! Members and their blinded commitments (seed 002 "Manifest shape", STANDARDS.md
//! "Canonical JSON").
//!
//! A member is `(participant_id, record_hash, scope, nonce)`. Its commitment is
//! `SHA-256(JCS({"nonce", "participant_id", "record_hash", "scope"}))`, all four values
//! strings (the record hash and nonce in lower-case hex). The nonce is what blinds it: a
//! sibling hash in someone's proof reveals nothing about another member's record unless the
//! nonce is guessed, so nonces must be high-entropy secrets. The rules here (at least
//! [`NONCE_BYTES_MIN`] bytes, not one repeated byte) reject the obvious mistakes; they
//! cannot measure entropy, so callers that bring their own nonces must draw them from a
//! CSPRNG.

use crate::error::AnchorError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use treaty_merkle::Hash;

/// Longest participant id, in bytes.
pub const PARTICIPANT_ID_BYTES_MAX: usize = 256;
/// Longest scope, in bytes.
pub const SCOPE_BYTES_MAX: usize = 256;
/// Shortest nonce, in bytes (128 bits: out of reach of guessing).
pub const NONCE_BYTES_MIN: usize = 16;
/// Longest nonce, in bytes.
pub const NONCE_BYTES_MAX: usize = 256;
/// Bytes of a generated nonce.
pub const GENERATED_NONCE_BYTES: usize = 16;

/// A member as `members.json` lists it; `nonce` may be omitted and is then generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// Who the record belongs to.
    pub participant_id: String,
    /// SHA-256 of the participant's evidence: 64 lower-case hex characters.
    pub record_hash: String,
    /// The participant's scope (an environment, a tenant unit, ...).
    pub scope: String,
    /// Lower-case hex blinding nonce; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A field that breaks a rule, before it is tied to a member position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// Ties the error to member `index`.
    pub(crate) fn at(self, index: usize, participant_id: &str) -> AnchorError {
        AnchorError::InvalidMember {
            index,
            participant_id: participant_id.to_owned(),
            field: self.field,
            reason: self.reason,
        }
    }
}

/// A validated member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who the record belongs to.
    participant_id: String,
    /// The record hash.
    record_hash: Hash,
    /// The scope.
    scope: String,
    /// The nonce bytes (committed as lower-case hex).
    nonce: Vec<u8>,
}

impl Member {
    /// A member from its JSON fields.
    ///
    /// # Errors
    /// A [`FieldError`] naming the first field that breaks a rule.
    pub fn new(
        participant_id: impl Into<String>,
        record_hash: &str,
        scope: impl Into<String>,
        nonce: &str,
    ) -> Result<Self, FieldError> {
        let nonce = parse_nonce(nonce)?;
        Self::with_nonce_bytes(participant_id, record_hash, scope, nonce)
    }

    /// A member whose nonce is given as bytes (a generated one).
    ///
    /// # Errors
    /// As [`Member::new`].
    pub fn with_nonce_bytes(
        participant_id: impl Into<String>,
        record_hash: &str,
        scope: impl Into<String>,
        nonce: Vec<u8>,
    ) -> Result<Self, FieldError> {
        let participant_id = participant_id.into();
        let scope = scope.into();
        check_text("participant_id", &participant_id, PARTICIPANT_ID_BYTES_MAX)?;
        let record_hash = parse_hash("record_hash", record_hash)?;
        check_text("scope", &scope, SCOPE_BYTES_MAX)?;
        check_nonce_bytes(&nonce)?;
        Ok(Self {
            participant_id,
            record_hash,
            scope,
            nonce,
        })
    }

    /// The participant.
    #[must_use]
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// The record hash.
    #[must_use]
    pub fn record_hash(&self) -> &Hash {
        &self.record_hash
    }

    /// The record hash in lower-case hex.
    #[must_use]
    pub fn record_hash_hex(&self) -> String {
        hex::encode(self.record_hash)
    }

    /// The scope.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The nonce bytes.
    #[must_use]
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// The nonce in lower-case hex.
    #[must_use]
    pub fn nonce_hex(&self) -> String {
        hex::encode(&self.nonce)
    }

    /// The blinded commitment: `SHA-256(JCS({nonce, participant_id, record_hash, scope}))`.
    #[must_use]
    pub fn commitment(&self) -> Hash {
        commitment_hash(
            &self.nonce_hex(),
            &self.participant_id,
            &self.record_hash_hex(),
            &self.scope,
        )
    }
}

/// The JCS bytes of `{"nonce","participant_id","record_hash","scope"}` with string values.
///
/// Written directly rather than through a JSON value: the object has a fixed shape of
/// four strings, so RFC 8785 reduces to the keys in code-unit order and the string escaping
/// of RFC 8785 section 3.2.2.2, and the function cannot fail. Tests check it against
/// `treaty_types::canonicalize` and against Python's
/// `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
#[must_use]
pub fn commitment_json(
    nonce: &str,
    participant_id: &str,
    record_hash: &str,
    scope: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + nonce.len() + participant_id.len() + record_hash.len() + scope.len(),
    );
    // Keys already in code-unit order: nonce < participant_id < record_hash < scope.
    let fields = [
        ("nonce", nonce),
        ("participant_id", participant_id),
        ("record_hash", record_hash),
        ("scope", scope),
    ];
    out.push(b'{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, key);
        out.push(b':');
        push_json_string(&mut out, value);
    }
    out.push(b'}');
    out
}

/// RFC 8785 3.2.2.2 string serialization: `"` and `\` escaped, the five short control
/// escapes, other controls as `\u00xx` with lower-case hex, everything else verbatim UTF-8.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            c if c < 0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0x0f)]);
            }
            // Bytes of multi-byte UTF-8 sequences are all >= 0x80: copied as they are.
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// The commitment hash of the four strings (see [`commitment_json`]).
#[must_use]
pub fn commitment_hash(nonce: &str, participant_id: &str, record_hash: &str, scope: &str) -> Hash {
    Sha256::digest(commitment_json(nonce, participant_id, record_hash, scope)).into()
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(FieldError::new(
            field,
            format!("is {} bytes, over the limit of {max}", value.len()),
        ));
    }
    Ok(())
}

/// Position and character of the first byte that is not lower-case hex.
fn first_non_lower_hex(s: &str) -> Option<(usize, char)> {
    s.char_indices()
        .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
}

/// A 32-byte hash from exactly 64 lower-case hex characters.
pub(crate) fn parse_hash(field: &'static str, s: &str) -> Result<Hash, FieldError> {
    if let Some((pos, c)) = first_non_lower_hex(s) {
        return Err(FieldError::new(
            field,
            format!(
                "must be 64 lower-case hex characters (a SHA-256 digest); character {c:?} at \
                 position {pos} is not"
            ),
        ));
    }
    if s.len() != 64 {
        return Err(FieldError::new(
            field,
            format!(
                "must be 64 lower-case hex characters (a SHA-256 digest); got {}",
                s.len()
            ),
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|e| FieldError::new(field, format!("is not hex: {e}")))?;
    Ok(out)
}

/// Nonce bytes from their hex form, with every rule of [`check_nonce_bytes`].
pub(crate) fn parse_nonce(s: &str) -> Result<Vec<u8>, FieldError> {
    if s.is_empty() {
        return Err(FieldError::new("nonce", "must not be empty"));
    }
    if let Some((pos, c)) = first_non_lower_hex(s) {
        return Err(FieldError::new(
            "nonce",
            format!("must be lower-case hex; character {c:?} at position {pos} is not"),
        ));
    }
    if s.len() % 2 != 0 {
        return Err(FieldError::new(
            "nonce",
            format!(
                "must have an even number of hex characters (whole bytes); got {}",
                s.len()
            ),
        ));
    }
    let bytes = hex::decode(s).map_err(|e| FieldError::new("nonce", format!("is not hex: {e}")))?;
    check_nonce_bytes(&bytes)?;
    Ok(bytes)
}

fn check_nonce_bytes(nonce: &[u8]) -> Result<(), FieldError> {
    if nonce.len() < NONCE_BYTES_MIN {
        return Err(FieldError::new(
            "nonce",
            format!(
                "is {} bytes; a nonce must be at least {NONCE_BYTES_MIN} bytes ({} hex \
                 characters) to blind the commitment",
                nonce.len(),
                NONCE_BYTES_MIN * 2
            ),
        ));
    }
    if nonce.len() > NONCE_BYTES_MAX {
        return Err(FieldError::new(
            "nonce",
            format!(
                "is {} bytes, over the limit of {NONCE_BYTES_MAX}",
                nonce.len()
            ),
        ));
    }
    if let Some(&first) = nonce.first() {
        if nonce.iter().all(|&b| b == first) {
            return Err(FieldError::new(
                "nonce",
                format!("is trivial: every byte is {first:#04x}"),
            ));
        }
    }
    Ok(())
}

/// What a participant looks itself up by: its own fields, the nonce optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    /// The participant.
    pub participant_id: String,
    /// The record hash.
    pub record_hash: Hash,
    /// The scope.
    pub scope: String,
    /// The nonce, when the participant kept it.
    pub nonce: Option<Vec<u8>>,
}

impl MemberQuery {
    /// A query from text fields, checked like member fields.
    ///
    /// # Errors
    /// [`AnchorError::InvalidQuery`] naming the field.
    pub fn new(
        participant_id: &str,
        record_hash: &str,
        scope: &str,
        nonce: Option<&str>,
    ) -> Result<Self, AnchorError> {
        let q = |e: FieldError| AnchorError::InvalidQuery {
            field: e.field,
            reason: e.reason,
        };
        check_text("participant_id", participant_id, PARTICIPANT_ID_BYTES_MAX).map_err(q)?;
        let record_hash = parse_hash("record_hash", record_hash).map_err(q)?;
        check_text("scope", scope, SCOPE_BYTES_MAX).map_err(q)?;
        let nonce = nonce.map(parse_nonce).transpose().map_err(q)?;
        Ok(Self {
            participant_id: participant_id.to_owned(),
            record_hash,
            scope: scope.to_owned(),
            nonce,
        })
    }

    /// Whether `member` is the one asked for.
    #[must_use]
    pub fn matches(&self, member: &Member) -> bool {
        member.participant_id == self.participant_id
            && member.record_hash == self.record_hash
            && member.scope == self.scope
            && self.nonce.as_ref().is_none_or(|n| *n == member.nonce)
    }

    /// The error for "no such member".
    pub(crate) fn not_found(&self) -> AnchorError {
        AnchorError::NoSuchMember {
            participant_id: self.participant_id.clone(),
            record_hash: hex::encode(self.record_hash),
            scope: self.scope.clone(),
            nonce: self
                .nonce
                .as_ref()
                .map(|n| format!(", nonce {}", hex::encode(n)))
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A64: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const NONCE: &str = "000102030405060708090a0b0c0d0e0f";

    #[test]
    fn python_known_answer() {
        // Computed here with Python 3.11:
        //   obj = {"nonce": N, "participant_id": P, "record_hash": R, "scope": S}
        //   hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"),
        //                             ensure_ascii=False).encode()).hexdigest()
        assert_eq!(
            hex::encode(commitment_hash(NONCE, "tenant-alpha", A64, "prod")),
            "d08b34bf119e52cce6ecaeb4eaea62eb54d6b86220b4a26d38d7de297fc99fbe"
        );
        assert_eq!(
            hex::encode(commitment_hash(
                NONCE,
                "tenänt \"ß\" \\ \u{1f} \n 😀 \u{7f} \u{2028}",
                A64,
                "prod/π"
            )),
            "165bc6c1a79e3e7285e8b487cb5947bef877a024067c05b6a4516b0d02de6fa8"
        );
    }

    #[test]
    fn json_escaping() {
        let j = commitment_json(
            "00",
            "a\"b\\c\u{8}\u{9}\u{a}\u{c}\u{d}\u{1}\u{1f}é",
            "r",
            "s",
        );
        assert_eq!(
            String::from_utf8_lossy(&j),
            "{\"nonce\":\"00\",\"participant_id\":\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001fé\",\"record_hash\":\"r\",\"scope\":\"s\"}"
        );
    }

    #[test]
    fn field_rules() {
        let bad = |p: &str, r: &str, s: &str, n: &str| Member::new(p, r, s, n).err();
        assert_eq!(
            bad("", A64, "s", NONCE).map(|e| e.field),
            Some("participant_id")
        );
        assert_eq!(
            bad("p", "", "s", NONCE).map(|e| e.field),
            Some("record_hash")
        );
        assert_eq!(
            bad("p", &A64[1..], "s", NONCE).map(|e| e.field),
            Some("record_hash")
        );
        assert_eq!(
            bad("p", &A64.to_uppercase(), "s", NONCE).map(|e| e.field),
            Some("record_hash")
        );
        assert_eq!(bad("p", A64, "", NONCE).map(|e| e.field), Some("scope"));
        for n in [
            "",
            "0",
            "000102030405060708090a0b0c0d0e0",
            "000102030405060708090A0B0C0D0E0F",
            "0001020304050607",
            "00000000000000000000000000000000",
            "abababababababababababababababab",
            "ffffffffffffffffffffffffffffffff",
            " 00102030405060708090a0b0c0d0e0f",
        ] {
            let e = bad("p", A64, "s", n);
            assert_eq!(e.as_ref().map(|e| e.field), Some("nonce"), "{n:?}: {e:?}");
        }
        // Two distinct bytes are enough for this rule (entropy cannot be measured).
        assert!(Member::new("p", A64, "s", "abababababababababababababababac").is_ok());
        assert!(Member::new("p", A64, "s", NONCE).is_ok());
    }
}
