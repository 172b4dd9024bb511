//! Key names, key IDs, verifier keys and signer keys.
//!
//! Implements c2sp.org/signed-note@v1.0.0 "Signatures" (key names and the recommended key ID
//! `SHA-256(name || 0x0A || type || public key)[:4]`) and the text encodings of
//! `golang.org/x/mod/sumdb/note` that the C2SP ecosystem calls vkeys:
//!
//! - verifier key: `<name>+<8 hex digits key ID>+<base64(type byte || public key)>`;
//! - signer key: `PRIVATE+KEY+<name>+<8 hex digits key ID>+<base64(type byte || seed)>`.
//!
//! Two signature types are implemented, as c2sp.org/tlog-cosignature@v1.0.1 allows vkeys of
//! either: `0x01` (Ed25519 over the note text, used by a log) and `0x04` (timestamped Ed25519
//! cosignatures, used by witnesses). The type is part of the key ID, so the same Ed25519 key
//! under the same name has a different ID for each role.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{NoteError, check_len, decode_base64, encode_base64};

/// A 4-byte key ID, the first bytes of the signature payload in a note signature line.
pub type KeyId = [u8; 4];

/// Signature type `0x01`: Ed25519 over the note text (c2sp.org/signed-note "Ed25519 signatures").
pub const KEY_TYPE_ED25519: u8 = 0x01;

/// Signature type `0x04`: timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature).
pub const KEY_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// The longest verifier or signer key text accepted. A name long enough to exceed this is not
/// a name anyone configures by hand; the limit keeps key parsing bounded like every parser.
pub const MAX_KEY_TEXT_BYTES: usize = 1024;

/// The literal that starts a signer key, so it is never mistaken for a public verifier key.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Length of `type byte || 32-byte key` in key texts.
const ENCODED_KEY_LEN: usize = 33;

/// The key ID of a key: `SHA-256(name || 0x0A || key_type || public_key)[:4]`
/// (c2sp.org/signed-note "Signatures", c2sp.org/tlog-cosignature "Format").
#[must_use]
pub fn key_id(name: &str, key_type: u8, public_key: &[u8; 32]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Whether `name` is a valid key name: non-empty, without Unicode spaces or `+`
/// (signed-note "Format"), and without ASCII control characters, since a signed note may not
/// contain any and a name that can never appear in a note is useless.
///
/// `char::is_whitespace` is the Unicode `White_Space` property, the same set as Go's
/// `unicode.IsSpace`, which the reference implementation uses.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_ascii_control())
}

/// Rejects invalid key names with the name in the error.
pub(crate) fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// Rejects signature types this crate does not implement.
fn check_key_type(key_type: u8) -> Result<(), NoteError> {
    match key_type {
        KEY_TYPE_ED25519 | KEY_TYPE_COSIGNATURE_V1 => Ok(()),
        other => Err(NoteError::UnsupportedKeyType(other)),
    }
}

/// Parses the `<8 hex digits>` key ID of a key text. Exactly eight digits, as Go requires, so
/// one key has one text (modulo hex case, which Go also accepts).
fn parse_key_id_hex(text: &str) -> Result<KeyId, NoteError> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::MalformedKey {
            reason: "key ID is not 8 hex digits",
        });
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(text, &mut id).map_err(|_| NoteError::MalformedKey {
        reason: "key ID is not 8 hex digits",
    })?;
    Ok(id)
}

/// Decodes `base64(type byte || 32 bytes)`.
fn parse_encoded_key(text: &str) -> Result<(u8, [u8; 32]), NoteError> {
    let bytes = decode_base64(text).ok_or(NoteError::MalformedKey {
        reason: "key material is not standard padded base64",
    })?;
    let Some((&key_type, key)) = bytes.split_first() else {
        return Err(NoteError::MalformedKey {
            reason: "key material is empty",
        });
    };
    check_key_type(key_type)?;
    let key: [u8; 32] = key.try_into().map_err(|_| NoteError::MalformedKey {
        reason: "key material is not a type byte and 32 key bytes",
    })?;
    Ok((key_type, key))
}

/// Splits `<name>+<hex id>+<base64>`. The base64 part may itself contain `+`, so only the first
/// two `+` separate fields.
fn split_key_text(text: &str) -> Result<(&str, &str, &str), NoteError> {
    let mut parts = text.splitn(3, '+');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(id), Some(key)) => Ok((name, id, key)),
        _ => Err(NoteError::MalformedKey {
            reason: "key text is not <name>+<hex key ID>+<base64 key>",
        }),
    }
}

/// Checks a stated key ID against the computed one.
fn check_key_id(stated: KeyId, computed: KeyId) -> Result<(), NoteError> {
    if stated == computed {
        Ok(())
    } else {
        Err(NoteError::KeyIdMismatch {
            stated: hex::encode(stated),
            computed: hex::encode(computed),
        })
    }
}

/// A public key that verifies note signatures: a name, a signature type, the key ID derived
/// from both and the Ed25519 public key.
///
/// Constructed only through checks (valid name, implemented type, a usable Ed25519 point), so
/// a `VerifierKey` in hand is always one a verifier can be configured with.
#[derive(Clone)]
pub struct VerifierKey {
    /// The key name as it appears in signature lines.
    name: String,
    /// The signature type byte ([`KEY_TYPE_ED25519`] or [`KEY_TYPE_COSIGNATURE_V1`]).
    key_type: u8,
    /// `key_id(name, key_type, public_key)`, cached because every signature line is matched on it.
    key_id: KeyId,
    /// The decoded Ed25519 point, decoded once at construction rather than per signature.
    verifying_key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key from its parts.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`], [`NoteError::UnsupportedKeyType`],
    /// [`NoteError::MalformedKey`] when the bytes are not an Ed25519 point, and
    /// [`NoteError::WeakKey`] for small-order points (a signature "by" such a key can be forged
    /// by anyone, so configuring one is always a mistake).
    pub fn new(name: &str, key_type: u8, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        check_key_type(key_type)?;
        let verifying_key =
            VerifyingKey::from_bytes(public_key).map_err(|_| NoteError::MalformedKey {
                reason: "public key is not an Ed25519 point",
            })?;
        if verifying_key.is_weak() {
            return Err(NoteError::WeakKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key_id: key_id(name, key_type, public_key),
            verifying_key,
        })
    }

    /// The verifier key for the public half of `signing_key`, under `name`, for signatures of
    /// type `key_type`.
    ///
    /// # Errors
    /// As [`VerifierKey::new`].
    pub fn from_signing_key(
        name: &str,
        signing_key: &SigningKey,
        key_type: u8,
    ) -> Result<Self, NoteError> {
        Self::new(name, key_type, signing_key.verifying_key().as_bytes())
    }

    /// Parses `<name>+<8 hex digits key ID>+<base64(type byte || public key)>`.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] above [`MAX_KEY_TEXT_BYTES`], [`NoteError::MalformedKey`] for
    /// bad structure or encoding, [`NoteError::KeyIdMismatch`] when the stated key ID is not
    /// the one computed from the name, type and key, and the errors of [`VerifierKey::new`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_len("verifier key", text.len(), MAX_KEY_TEXT_BYTES)?;
        let (name, id_hex, key_b64) = split_key_text(text)?;
        check_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let (key_type, public_key) = parse_encoded_key(key_b64)?;
        check_key_id(stated, key_id(name, key_type, &public_key))?;
        Self::new(name, key_type, &public_key)
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type byte.
    #[must_use]
    pub fn key_type(&self) -> u8 {
        self.key_type
    }

    /// The 4-byte key ID.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8; 32] {
        self.verifying_key.as_bytes()
    }

    /// The decoded Ed25519 key, for the verification code in this crate.
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// A copy claiming another key ID: two different keys behind one (name, ID) cannot be
    /// built through the public API without a 32-bit hash collision, yet verifiers must
    /// handle that case.
    #[cfg(test)]
    pub(crate) fn with_forged_key_id(mut self, key_id: KeyId) -> Self {
        self.key_id = key_id;
        self
    }

    /// Whether a signature line with this name and key ID belongs to this key.
    pub(crate) fn matches(&self, name: &str, key_id: KeyId) -> bool {
        self.key_id == key_id && self.name == name
    }
}

impl PartialEq for VerifierKey {
    fn eq(&self, other: &Self) -> bool {
        // The key ID is derived from the other three fields, so it need not be compared.
        self.name == other.name
            && self.key_type == other.key_type
            && self.public_key() == other.public_key()
    }
}

impl Eq for VerifierKey {}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text form is what operators paste into configuration; show exactly that.
        f.debug_tuple("VerifierKey")
            .field(&self.to_string())
            .finish()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = [0u8; ENCODED_KEY_LEN];
        encoded[0] = self.key_type;
        encoded[1..].copy_from_slice(self.public_key());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            encode_base64(&encoded)
        )
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A private key that signs notes: a name, a signature type and an Ed25519 signing key.
///
/// Its text form is `PRIVATE+KEY+<name>+<hex key ID>+<base64(type byte || 32-byte seed)>`,
/// as produced by Go's `note.GenerateKey`. `Debug` never shows the seed.
#[derive(Clone)]
pub struct SignerKey {
    /// The key name written in signature lines.
    name: String,
    /// The signature type byte.
    key_type: u8,
    /// The key ID of the public half, cached for signing.
    key_id: KeyId,
    /// The Ed25519 secret (zeroized on drop by ed25519-dalek).
    signing_key: SigningKey,
}

impl SignerKey {
    /// A signer key from its parts.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`] and [`NoteError::UnsupportedKeyType`].
    pub fn new(name: &str, key_type: u8, signing_key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        check_key_type(key_type)?;
        let key_id = key_id(name, key_type, signing_key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key_id,
            signing_key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(type byte || seed)>`. The key ID names
    /// the *public* key, so it is checked after deriving the public key from the seed.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::MalformedKey`], [`NoteError::KeyIdMismatch`] and
    /// the errors of [`SignerKey::new`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_len("signer key", text.len(), MAX_KEY_TEXT_BYTES)?;
        let rest = text
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::MalformedKey {
                reason: "signer key does not start with PRIVATE+KEY+",
            })?;
        let (name, id_hex, key_b64) = split_key_text(rest)?;
        check_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let (key_type, seed) = parse_encoded_key(key_b64)?;
        let signer = Self::new(name, key_type, SigningKey::from_bytes(&seed))?;
        check_key_id(stated, signer.key_id)?;
        Ok(signer)
    }

    /// The secret text form. It grants signing power: keep it out of logs.
    #[must_use]
    pub fn to_private_text(&self) -> String {
        let mut encoded = [0u8; ENCODED_KEY_LEN];
        encoded[0] = self.key_type;
        encoded[1..].copy_from_slice(self.signing_key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            encode_base64(&encoded)
        )
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type byte.
    #[must_use]
    pub fn key_type(&self) -> u8 {
        self.key_type
    }

    /// The key ID of the public half.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 signing key.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The matching verifier key.
    ///
    /// # Errors
    /// [`NoteError::WeakKey`] is impossible for a key derived from a seed, but the check is
    /// kept rather than assumed.
    pub fn verifier_key(&self) -> Result<VerifierKey, NoteError> {
        VerifierKey::from_signing_key(&self.name, &self.signing_key, self.key_type)
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("key_type", &self.key_type)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the `golang.org/x/mod/sumdb/note` package documentation.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

    #[test]
    fn parses_and_formats_go_verifier_key() {
        let key = VerifierKey::parse(PETER_VKEY).expect("Go's example verifier key");
        assert_eq!(key.name(), "PeterNeumann");
        assert_eq!(key.key_type(), KEY_TYPE_ED25519);
        assert_eq!(key.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(key.to_string(), PETER_VKEY);
        assert_eq!(key_id("PeterNeumann", 1, key.public_key()), key.key_id());
    }

    #[test]
    fn signer_key_matches_verifier_key() {
        let signer = SignerKey::parse(PETER_SKEY).expect("Go's example signer key");
        assert_eq!(signer.to_private_text(), PETER_SKEY);
        let verifier = signer.verifier_key().expect("verifier");
        assert_eq!(verifier.to_string(), PETER_VKEY);
        assert!(
            !format!("{signer:?}").contains("AYEK"),
            "Debug leaks the seed"
        );
    }

    /// Go's `TestNewVerifier`: every proper substring and every one-byte change must fail.
    #[test]
    fn every_mangled_verifier_key_is_rejected() {
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = &PETER_VKEY[i..j];
                assert!(VerifierKey::parse(s).is_err(), "accepted {s:?}");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).expect("ascii");
            assert!(VerifierKey::parse(&s).is_err(), "accepted {s:?}");
        }
        // Wrong key length and unknown algorithm, each with its key ID adjusted to match.
        assert!(
            VerifierKey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        assert!(matches!(
            VerifierKey::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedKeyType(0x65))
        ));
    }

    /// Go's `TestNewSigner`: every proper substring and every one-byte change must fail.
    #[test]
    fn every_mangled_signer_key_is_rejected() {
        let b = PETER_SKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = &PETER_SKEY[i..j];
                assert!(SignerKey::parse(s).is_err(), "accepted {s:?}");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).expect("ascii");
            assert!(SignerKey::parse(&s).is_err(), "accepted {s:?}");
        }
    }

    #[test]
    fn key_type_is_part_of_the_key_id() {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let log =
            VerifierKey::from_signing_key("example.com/k", &sk, KEY_TYPE_ED25519).expect("log key");
        let witness = VerifierKey::from_signing_key("example.com/k", &sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("witness key");
        assert_ne!(log.key_id(), witness.key_id());
        assert_ne!(log, witness);
        let reparsed = VerifierKey::parse(&witness.to_string()).expect("round trip");
        assert_eq!(reparsed, witness);
        assert_eq!(reparsed.key_type(), KEY_TYPE_COSIGNATURE_V1);
    }

    #[test]
    fn rejects_bad_names_types_and_points() {
        let sk = SigningKey::from_bytes(&[1; 32]);
        for bad in [
            "",
            "a b",
            "a+b",
            "a\u{a0}b",
            "a\u{3000}b",
            "a\nb",
            "a\x01b",
            "a\tb",
        ] {
            assert!(
                matches!(
                    VerifierKey::from_signing_key(bad, &sk, KEY_TYPE_ED25519),
                    Err(NoteError::InvalidKeyName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            VerifierKey::from_signing_key("n", &sk, 0x02),
            Err(NoteError::UnsupportedKeyType(0x02))
        ));
        // The identity point has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            VerifierKey::new("n", KEY_TYPE_ED25519, &identity),
            Err(NoteError::WeakKey)
        ));
        assert!(VerifierKey::parse(&"a".repeat(MAX_KEY_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn key_id_hex_must_be_eight_digits_either_case() {
        let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
        let key = VerifierKey::parse(&upper).expect("Go accepts upper-case hex");
        assert_eq!(key.to_string(), PETER_VKEY);
        for bad in ["c74f20a", "c74f20a30", "+c74f20a", "c74f20g3", " c74f20a"] {
            let text = PETER_VKEY.replace("c74f20a3", bad);
            assert!(VerifierKey::parse(&text).is_err(), "{text}");
        }
    }
}
