//! Signing a card, the served document, and the ETag.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use treaty_types::canonicalize;

use crate::CardError;
use crate::card::CardCore;
use crate::error::clip;
use crate::jwks::jwk_thumbprint;
use crate::jws::{CardSignature, ProtectedHeader, b64url, sign_detached};
use crate::limits::CARD_BYTES_MAX;
use crate::volatile::Volatile;

/// A card core with its signature, ready to be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCard {
    /// What was signed.
    core: CardCore,
    /// `core.to_value()`, kept so that serving the card does not recompute it.
    core_value: Value,
    /// JCS of `core_value`: the JWS payload and the ETag input.
    core_jcs: Vec<u8>,
    /// The decoded protected header.
    header: ProtectedHeader,
    /// The `signatures` entry.
    signature: CardSignature,
}

/// Signs `core` with `key` at time `iat` (Unix seconds, the caller's clock).
///
/// `kid` must be the RFC 7638 thumbprint of `key` ([`jwk_thumbprint`]), the ID under which
/// the key is published in the node's JWKS; taking it as an argument (rather than computing
/// it) keeps the caller's idea of which key signs explicit, and the check catches a node
/// configured with one key and publishing another.
///
/// The result is deterministic: the same core, key, `kid` and `iat` give the same bytes.
///
/// # Errors
/// Everything [`CardCore::validate`] refuses, [`CardError::SigningKidMismatch`],
/// [`CardError::TimestampOutOfRange`] and [`CardError::TooLarge`] when the core alone is
/// over [`CARD_BYTES_MAX`].
pub fn sign_card(
    core: &CardCore,
    key: &SigningKey,
    kid: &str,
    iat: u64,
) -> Result<SignedCard, CardError> {
    core.validate()?;
    let thumbprint = jwk_thumbprint(key.verifying_key().as_bytes());
    if kid != thumbprint {
        return Err(CardError::SigningKidMismatch {
            kid: clip(kid),
            thumbprint,
        });
    }
    let header = ProtectedHeader {
        kid: kid.to_owned(),
        iat,
    };
    let protected = header.encode()?;
    let core_value = core.to_value()?;
    let core_jcs = canonicalize(&core_value).map_err(|source| CardError::UnsafeJson {
        what: "card core",
        source,
    })?;
    if core_jcs.len() > CARD_BYTES_MAX {
        return Err(CardError::TooLarge {
            what: "card core",
            len: core_jcs.len(),
            max: CARD_BYTES_MAX,
        });
    }
    let signature = sign_detached(&protected, &core_jcs, key);
    Ok(SignedCard {
        core: core.clone(),
        core_value,
        core_jcs,
        header,
        signature: CardSignature {
            protected,
            signature,
        },
    })
}

impl SignedCard {
    /// The signed core.
    #[must_use]
    pub fn core(&self) -> &CardCore {
        &self.core
    }

    /// The JCS bytes of the signed core (the detached JWS payload).
    #[must_use]
    pub fn canonical_core(&self) -> &[u8] {
        &self.core_jcs
    }

    /// The protected header (key ID and signing time).
    #[must_use]
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// The `signatures` entry.
    #[must_use]
    pub fn signature(&self) -> &CardSignature {
        &self.signature
    }

    /// The card's strong ETag; equal to [`etag`]`(self.core(), kid)`.
    #[must_use]
    pub fn etag(&self) -> String {
        etag_of_canonical(&self.core_jcs, &self.header.kid)
    }

    /// The served document as a JSON value: the core's members, `signatures` and, when
    /// given, `volatile`.
    ///
    /// # Errors
    /// What [`Volatile::validate`] refuses.
    pub fn to_value(&self, volatile: Option<&Volatile>) -> Result<Value, CardError> {
        let mut doc = self.core_value.clone();
        if let Value::Object(map) = &mut doc {
            map.insert(
                "signatures".into(),
                Value::Array(vec![self.signature.to_value()]),
            );
            if let Some(v) = volatile {
                v.validate()?;
                map.insert("volatile".into(), v.to_value());
            }
        }
        Ok(doc)
    }

    /// The served document's bytes, in JCS form (so two nodes serving the same card serve
    /// the same bytes).
    ///
    /// # Errors
    /// As [`SignedCard::to_value`]; [`CardError::UnsafeJson`] when a volatile count is above
    /// 2^53 - 1; [`CardError::TooLarge`] when the document is over [`CARD_BYTES_MAX`], which
    /// verifiers would refuse.
    pub fn to_bytes(&self, volatile: Option<&Volatile>) -> Result<Vec<u8>, CardError> {
        let bytes =
            canonicalize(&self.to_value(volatile)?).map_err(|source| CardError::UnsafeJson {
                what: "registry card",
                source,
            })?;
        if bytes.len() > CARD_BYTES_MAX {
            return Err(CardError::TooLarge {
                what: "registry card",
                len: bytes.len(),
                max: CARD_BYTES_MAX,
            });
        }
        Ok(bytes)
    }
}

/// The strong HTTP ETag of a card (RFC 9110 section 8.8.3): `"<base64url(SHA-256(JCS(core)
/// || kid))>"`, quotes included.
///
/// Only operator-edited input goes in: the signed core and the key that signs it. The
/// signing time, the signature bytes and the `volatile` block are left out, so the ETag
/// changes exactly when an operator edits the card or rotates the key, and a node can answer
/// `If-None-Match` with 304 without signing anything (registry-card v0.4 "operator-edits-only
/// ETag"). The key ID is included because a rotated key produces a card that a peer holding
/// the old one must fetch.
///
/// # Errors
/// As [`CardCore::canonical_bytes`].
pub fn etag(core: &CardCore, kid: &str) -> Result<String, CardError> {
    Ok(etag_of_canonical(&core.canonical_bytes()?, kid))
}

/// [`etag`] from the core's JCS bytes. JCS output is a self-delimiting JSON object, so
/// appending the key ID cannot make two different (core, kid) pairs collide.
pub(crate) fn etag_of_canonical(core_jcs: &[u8], kid: &str) -> String {
    let mut h = Sha256::new();
    h.update(core_jcs);
    h.update(kid.as_bytes());
    format!("\"{}\"", b64url(&h.finalize()))
}
