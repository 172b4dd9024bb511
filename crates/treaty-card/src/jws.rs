//! Detached JSON Web Signatures with EdDSA (Ed25519).
//!
//! Implements the parts of RFC 7515 a card needs: the JWS signing input (section 5.1:
//! `ASCII(BASE64URL(UTF8(protected header))) || '.' || BASE64URL(payload)`), detached content
//! (appendix F: the payload is not transmitted, the verifier recomputes it), unpadded
//! base64url (section 2), and the `EdDSA` algorithm with `Ed25519` keys of RFC 8037
//! section 3.1. Ed25519 is deterministic, so the same header, payload and key always give the
//! same signature bytes.
//!
//! For a card the payload is the JCS form of the card without `signatures` and `volatile`,
//! and the protected header is the JCS form of `{"alg","iat","kid","typ"}`: `iat` records
//! when the card was signed, which is what a verifier compares against the key's validity
//! window. Verifiers take the key from their JWKS by `kid`; any header parameter that would
//! supply a key (`jku`, `jwk`, `x5u`, `x5c`, `x5t`, `x5t#S256`) is refused, never followed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use treaty_types::canonicalize;
use treaty_types::limits::SAFE_INTEGER_MAX;

use crate::CardError;
use crate::error::clip;
use crate::json::{Obj, parse_strict, pointer_index};
use crate::limits::{KID_BYTES_MAX, PROTECTED_HEADER_BYTES_MAX};

/// The only `alg` accepted: EdDSA, RFC 8037 section 3.1.
pub const JWS_ALG: &str = "EdDSA";

/// The `typ` of a registry card signature. A distinct type keeps a signature made for another
/// kind of Treaty document from being replayed as a card signature (RFC 8725 section 3.11).
pub const CARD_JWS_TYPE: &str = "treaty-registry-card+jws";

/// Header parameters that carry or point to a key or certificate. A verifier that honored
/// them would let the document choose its own key, so their presence rejects the signature.
pub const FORBIDDEN_HEADER_PARAMETERS: [&str; 6] = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"];

/// The members of a card's protected header, all required.
const HEADER_MEMBERS: [&str; 4] = ["alg", "iat", "kid", "typ"];

/// Unpadded base64url (RFC 7515 section 2).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url, refusing padding, the standard alphabet's `+` and `/`, and
/// non-zero trailing bits, so that every byte string has exactly one accepted encoding.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// The protected header of a card signature:
/// `{"alg":"EdDSA","iat":<unix seconds>,"kid":<key ID>,"typ":"treaty-registry-card+jws"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// The key ID, the RFC 7638 thumbprint of the signing key, looked up in the verifier's
    /// JWKS.
    pub kid: String,
    /// When the card was signed, in Unix seconds (at most 2^53 - 1). Compared with the key's
    /// validity window, and with the verifier's clock to refuse cards from the future.
    pub iat: u64,
}

impl ProtectedHeader {
    /// The header's JCS bytes: the exact text that is base64url-encoded into `protected`.
    ///
    /// # Errors
    /// [`CardError::TimestampOutOfRange`] when `iat` is above 2^53 - 1 and
    /// [`CardError::InvalidField`] when `kid` is empty, too long or not printable ASCII.
    pub fn to_json(&self) -> Result<Vec<u8>, CardError> {
        if self.iat > SAFE_INTEGER_MAX {
            return Err(CardError::TimestampOutOfRange {
                what: "iat",
                value: self.iat,
            });
        }
        if !is_valid_kid(&self.kid) {
            return Err(CardError::InvalidField {
                path: "kid".into(),
                reason: "not 1-128 printable ASCII characters",
            });
        }
        let header = json!({
            "alg": JWS_ALG,
            "iat": self.iat,
            "kid": self.kid,
            "typ": CARD_JWS_TYPE,
        });
        canonicalize(&header).map_err(|source| CardError::UnsafeJson {
            what: "protected header",
            source,
        })
    }

    /// The `protected` value: unpadded base64url of [`ProtectedHeader::to_json`].
    ///
    /// # Errors
    /// As [`ProtectedHeader::to_json`].
    pub fn encode(&self) -> Result<String, CardError> {
        Ok(b64url(&self.to_json()?))
    }

    /// Decodes and checks the `protected` value of signature number `index`.
    ///
    /// Checks, in order: size, base64url, JSON object, no key-supplying parameter, no unknown
    /// parameter, `alg`, `typ`, `kid`, `iat`, and finally that the bytes are the header's
    /// JCS form (so no other parser can read them differently).
    ///
    /// # Errors
    /// [`CardError::TooLarge`], [`CardError::InvalidBase64`], [`CardError::MalformedHeader`],
    /// [`CardError::ForbiddenHeaderParameter`], [`CardError::UnknownHeaderParameter`],
    /// [`CardError::MissingHeaderParameter`], [`CardError::UnsupportedAlgorithm`],
    /// [`CardError::WrongJwsType`] and [`CardError::NonCanonicalHeader`].
    pub fn decode(protected: &str, index: usize) -> Result<Self, CardError> {
        if protected.len() > PROTECTED_HEADER_BYTES_MAX {
            return Err(CardError::TooLarge {
                what: "protected header",
                len: protected.len(),
                max: PROTECTED_HEADER_BYTES_MAX,
            });
        }
        let bytes = b64url_decode(protected).ok_or(CardError::InvalidBase64 {
            index,
            part: "protected",
        })?;
        let malformed = |reason| CardError::MalformedHeader { index, reason };
        let value = parse_strict("protected header", &bytes)
            .map_err(|_| malformed("not valid JSON, or a member is repeated"))?;
        let Value::Object(map) = &value else {
            return Err(malformed("not a JSON object"));
        };
        if let Some(name) = FORBIDDEN_HEADER_PARAMETERS
            .iter()
            .find(|n| map.contains_key(**n))
        {
            return Err(CardError::ForbiddenHeaderParameter {
                index,
                name: (*name).to_owned(),
            });
        }
        if let Some(name) = map.keys().find(|k| !HEADER_MEMBERS.contains(&k.as_str())) {
            return Err(CardError::UnknownHeaderParameter {
                index,
                name: clip(name),
            });
        }
        let get = |name: &'static str| {
            map.get(name)
                .ok_or(CardError::MissingHeaderParameter { index, name })
        };
        let alg = get("alg")?
            .as_str()
            .ok_or_else(|| malformed("alg is not a string"))?;
        if alg != JWS_ALG {
            return Err(CardError::UnsupportedAlgorithm {
                index,
                alg: clip(alg),
            });
        }
        let typ = get("typ")?
            .as_str()
            .ok_or_else(|| malformed("typ is not a string"))?;
        if typ != CARD_JWS_TYPE {
            return Err(CardError::WrongJwsType {
                index,
                typ: clip(typ),
            });
        }
        let kid = get("kid")?
            .as_str()
            .filter(|k| is_valid_kid(k))
            .ok_or_else(|| malformed("kid is not 1-128 printable ASCII characters"))?;
        let iat = get("iat")?
            .as_u64()
            .filter(|t| *t <= SAFE_INTEGER_MAX)
            .ok_or_else(|| malformed("iat is not an integer from 0 to 2^53 - 1"))?;
        let header = ProtectedHeader {
            kid: kid.to_owned(),
            iat,
        };
        if header.to_json()? != bytes {
            return Err(CardError::NonCanonicalHeader { index });
        }
        Ok(header)
    }
}

/// Whether `kid` is 1 to [`KID_BYTES_MAX`] printable ASCII characters.
pub(crate) fn is_valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= KID_BYTES_MAX && kid.bytes().all(|b| b.is_ascii_graphic())
}

/// One entry of a card's `signatures`: `{"protected": <base64url header>, "signature":
/// <base64url Ed25519 signature>}` (RFC 7515 section 7.2.1, without `payload`, which is
/// detached, and without an unprotected `header`, which nothing needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSignature {
    /// Unpadded base64url of the JCS protected header.
    pub protected: String,
    /// Unpadded base64url of the 64-byte Ed25519 signature.
    pub signature: String,
}

impl CardSignature {
    /// The JSON form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        json!({"protected": self.protected, "signature": self.signature})
    }

    /// Parses entry `index` of `signatures` (its structure only; see
    /// [`ProtectedHeader::decode`] for the header).
    pub(crate) fn from_value(value: &Value, index: usize) -> Result<Self, CardError> {
        let o = Obj::new(value, &pointer_index("/signatures", index))?;
        o.only(&["protected", "signature"])?;
        Ok(Self {
            protected: o.str("protected")?.to_owned(),
            signature: o.str("signature")?.to_owned(),
        })
    }
}

/// The JWS signing input for a detached payload: `protected || "." || BASE64URL(payload)`
/// (RFC 7515 section 5.1, step 6).
#[must_use]
pub fn signing_input(protected: &str, payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(protected.len() + 1 + payload.len().div_ceil(3) * 4);
    input.extend_from_slice(protected.as_bytes());
    input.push(b'.');
    input.extend_from_slice(b64url(payload).as_bytes());
    input
}

/// Signs a detached payload under an already encoded `protected` header and returns the
/// unpadded base64url signature (RFC 8037 section 3.1: the signature is the 64-byte Ed25519
/// signature of the signing input).
#[must_use]
pub fn sign_detached(protected: &str, payload: &[u8], key: &SigningKey) -> String {
    b64url(&key.sign(&signing_input(protected, payload)).to_bytes())
}

/// Whether `signature` (unpadded base64url) is a valid Ed25519 signature by `key` over the
/// signing input of `protected` and `payload`.
///
/// Uses `verify_strict`, which also refuses small-order keys and non-canonical signature
/// encodings, so one message has one accepted signature per key. Returns `false` for a
/// signature that is not base64url of 64 bytes.
#[must_use]
pub fn verify_detached(
    protected: &str,
    payload: &[u8],
    signature: &str,
    key: &VerifyingKey,
) -> bool {
    let Some(bytes) = b64url_decode(signature) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify_strict(&signing_input(protected, payload), &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kid: &str, iat: u64) -> String {
        ProtectedHeader {
            kid: kid.into(),
            iat,
        }
        .encode()
        .expect("valid header")
    }

    fn decode_json(text: &str) -> Result<ProtectedHeader, CardError> {
        ProtectedHeader::decode(&b64url(text.as_bytes()), 0)
    }

    #[test]
    fn header_round_trip_is_jcs() {
        let h = ProtectedHeader {
            kid: "abc".into(),
            iat: 1_700_000_000,
        };
        assert_eq!(
            String::from_utf8(h.to_json().expect("json")).expect("utf8"),
            r#"{"alg":"EdDSA","iat":1700000000,"kid":"abc","typ":"treaty-registry-card+jws"}"#
        );
        assert_eq!(
            ProtectedHeader::decode(&header("abc", 1_700_000_000), 0).expect("decodes"),
            h
        );
    }

    #[test]
    fn header_checks_each_rule() {
        let ok = r#"{"alg":"EdDSA","iat":1,"kid":"k","typ":"treaty-registry-card+jws"}"#;
        assert!(decode_json(ok).is_ok());
        let cases: [(&str, &str); 12] = [
            ("[1]", "malformed_header"),
            (r#"{"alg":"EdDSA","alg":"EdDSA"}"#, "malformed_header"),
            (
                r#"{"alg":"EdDSA","iat":1,"jku":"https://evil.example/k","kid":"k","typ":"treaty-registry-card+jws"}"#,
                "forbidden_header_parameter",
            ),
            (
                r#"{"alg":"EdDSA","iat":1,"jwk":{},"kid":"k","typ":"treaty-registry-card+jws"}"#,
                "forbidden_header_parameter",
            ),
            (
                r#"{"alg":"EdDSA","crit":["b64"],"iat":1,"kid":"k","typ":"treaty-registry-card+jws"}"#,
                "unknown_header_parameter",
            ),
            (
                r#"{"alg":"EdDSA","kid":"k","typ":"treaty-registry-card+jws"}"#,
                "missing_header_parameter",
            ),
            (
                r#"{"alg":"none","iat":1,"kid":"k","typ":"treaty-registry-card+jws"}"#,
                "unsupported_algorithm",
            ),
            (
                r#"{"alg":"EdDSA","iat":1,"kid":"k","typ":"JWT"}"#,
                "wrong_jws_type",
            ),
            (
                r#"{"alg":"EdDSA","iat":1,"kid":"","typ":"treaty-registry-card+jws"}"#,
                "malformed_header",
            ),
            (
                r#"{"alg":"EdDSA","iat":-1,"kid":"k","typ":"treaty-registry-card+jws"}"#,
                "malformed_header",
            ),
            (
                r#"{"alg":"EdDSA","iat":9007199254740992,"kid":"k","typ":"treaty-registry-card+jws"}"#,
                "malformed_header",
            ),
            (
                r#"{"typ":"treaty-registry-card+jws","alg":"EdDSA","iat":1,"kid":"k"}"#,
                "non_canonical_header",
            ),
        ];
        for (json, code) in cases {
            let err = decode_json(json).expect_err(json);
            assert_eq!(err.code(), code, "{json}: {err}");
        }
        assert!(matches!(
            ProtectedHeader::decode("eyJhbGciOiJFZERTQSJ9=", 3),
            Err(CardError::InvalidBase64 {
                index: 3,
                part: "protected"
            })
        ));
        assert!(matches!(
            ProtectedHeader::decode(&"A".repeat(PROTECTED_HEADER_BYTES_MAX + 1), 0),
            Err(CardError::TooLarge { .. })
        ));
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_decode("QUJD"), Some(b"ABC".to_vec()));
        assert_eq!(b64url_decode("_-8"), Some(vec![0xff, 0xef]));
        for bad in ["QUI=", "QR", "QUJ", "/+8", "QU JD", "QUJD\n"] {
            assert_eq!(b64url_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sign_is_deterministic_and_verifies_strictly() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let protected = header("k", 5);
        let a = sign_detached(&protected, b"payload", &key);
        assert_eq!(a, sign_detached(&protected, b"payload", &key));
        let vk = key.verifying_key();
        assert!(verify_detached(&protected, b"payload", &a, &vk));
        assert!(!verify_detached(&protected, b"payloaD", &a, &vk));
        assert!(!verify_detached(&header("k", 6), b"payload", &a, &vk));
        assert!(!verify_detached(&protected, b"payload", "AAAA", &vk));
        assert!(!verify_detached(
            &protected,
            b"payload",
            &format!("{a}="),
            &vk
        ));
    }
}
