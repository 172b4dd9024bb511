//! Verifying a fetched card against a JWKS the verifier already holds.

use serde_json::Value;
use treaty_types::{canonicalize, check_json};

use crate::CardError;
use crate::card::CardCore;
use crate::json::{parse_strict, wrong_type};
use crate::jwks::{Jwks, KeyStatus};
use crate::jws::{CardSignature, ProtectedHeader, b64url_decode, verify_detached};
use crate::limits::{CARD_BYTES_MAX, CLOCK_SKEW_SECONDS_MAX, SIGNATURES_MAX};
use crate::sign::etag_of_canonical;
use crate::urls::{check_card_url, fetched_origin};
use crate::volatile::Volatile;

/// Length of an Ed25519 signature.
const SIGNATURE_BYTES: usize = 64;

/// A card whose signature, key and contents all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCard {
    /// The signed core.
    pub core: CardCore,
    /// The unsigned volatile block, if the card had one. Not covered by the signature: a
    /// hint only.
    pub volatile: Option<Volatile>,
    /// The key that signed the card.
    pub kid: String,
    /// When the card was signed (the protected header's `iat`).
    pub iat: u64,
    /// Whether the signing key is current or retired in the verifier's JWKS.
    pub key_status: KeyStatus,
    /// The card's ETag, as the node computes it (see [`crate::etag`]), to store and send
    /// back in `If-None-Match`.
    pub etag: String,
}

/// Verifies a registry card as fetched.
///
/// `fetched_from` is the URL the card was fetched from, or `None` for a card read from a
/// local file; `jwks` holds the keys the verifier trusts for this node (already pinned, or
/// fetched from the node's own origin); `now` is the verifier's clock in Unix seconds. No
/// URL in the card is ever fetched.
///
/// Checks, each failing with its own [`CardError`] variant:
///
/// 1. size at most [`CARD_BYTES_MAX`] ([`CardError::TooLarge`]); one JSON value without
///    duplicate member names ([`CardError::InvalidJson`]); canonical-JSON numbers only
///    ([`CardError::UnsafeJson`]);
/// 2. the signed core: `card_version` ([`CardError::UnknownCardVersion`]), members and
///    types ([`CardError::MissingField`], [`CardError::WrongType`],
///    [`CardError::UnknownField`]), `policy_hash` ([`CardError::PolicyHashMismatch`]) and
///    every rule of [`CardCore::validate`]: `node_id` ([`CardError::InvalidNodeId`]), URLs
///    ([`CardError::InvalidUrl`]), endpoints under `base_url`
///    ([`CardError::EndpointOutsideBase`]), the ledger key
///    ([`CardError::InvalidVerifierKey`], [`CardError::WrongVerifierKeyType`],
///    [`CardError::VerifierKeyNameMismatch`]);
/// 3. the `volatile` block's form, if present (it is not signed, but it is still input);
/// 4. `signatures`: present and non-empty ([`CardError::MissingSignature`]), at most
///    [`SIGNATURES_MAX`], each well-formed ([`CardError::InvalidBase64`] and the header
///    errors of [`ProtectedHeader::decode`], among them
///    [`CardError::ForbiddenHeaderParameter`] for `jku`/`jwk`/`x5u`...), one per key
///    ([`CardError::DuplicateSignature`]);
/// 5. for every signature whose `kid` is in `jwks`: the Ed25519 signature over the JCS
///    core ([`CardError::InvalidSignature`]), the key's validity window
///    ([`CardError::KeyNotYetValid`], [`CardError::SignedAfterRetirement`]) and the clock
///    ([`CardError::IssuedInFuture`] beyond [`CLOCK_SKEW_SECONDS_MAX`]). A failing signature
///    by a known key rejects the card even if another one verifies, as a signed note does;
///    signatures by unknown keys are skipped, and at least one must be by a known key
///    ([`CardError::UnknownKid`]);
/// 6. when `fetched_from` is given, the origin of `base_url` equals its origin
///    ([`CardError::InvalidFetchedFrom`], [`CardError::OriginMismatch`]).
///
/// # Errors
/// The first failed check, as listed.
pub fn verify_card(
    doc: &[u8],
    fetched_from: Option<&str>,
    jwks: &Jwks,
    now: u64,
) -> Result<VerifiedCard, CardError> {
    if doc.len() > CARD_BYTES_MAX {
        return Err(CardError::TooLarge {
            what: "registry card",
            len: doc.len(),
            max: CARD_BYTES_MAX,
        });
    }
    let value = parse_strict("registry card", doc)?;
    verify_parsed(&value, fetched_from, jwks, now)
}

/// [`verify_card`] for a card that is already a JSON value; the size limit applies to its
/// JCS form.
///
/// # Errors
/// As [`verify_card`].
pub fn verify_card_value(
    doc: &Value,
    fetched_from: Option<&str>,
    jwks: &Jwks,
    now: u64,
) -> Result<VerifiedCard, CardError> {
    let len = canonicalize(doc)
        .map_err(|source| CardError::UnsafeJson {
            what: "registry card",
            source,
        })?
        .len();
    if len > CARD_BYTES_MAX {
        return Err(CardError::TooLarge {
            what: "registry card",
            len,
            max: CARD_BYTES_MAX,
        });
    }
    verify_parsed(doc, fetched_from, jwks, now)
}

fn verify_parsed(
    doc: &Value,
    fetched_from: Option<&str>,
    jwks: &Jwks,
    now: u64,
) -> Result<VerifiedCard, CardError> {
    check_json(doc).map_err(|source| CardError::UnsafeJson {
        what: "registry card",
        source,
    })?;
    let Value::Object(map) = doc else {
        return Err(wrong_type("", "an object"));
    };
    // The signed core is the document without the two unsigned members.
    let mut core_map = map.clone();
    let signatures = core_map.remove("signatures");
    let volatile = core_map.remove("volatile");
    let core_value = Value::Object(core_map);

    let core = CardCore::from_value(&core_value)?;
    let volatile = volatile.as_ref().map(Volatile::from_value).transpose()?;
    let signatures = parse_signatures(signatures.as_ref())?;

    // Verified over the document's own core, not over a re-serialization of the model, so
    // the check does not depend on this crate's model being lossless.
    let core_jcs = canonicalize(&core_value).map_err(|source| CardError::UnsafeJson {
        what: "card core",
        source,
    })?;
    let mut accepted: Option<(&ProtectedHeader, KeyStatus)> = None;
    for (signature, header) in &signatures {
        let Some(jwk) = jwks.get(&header.kid) else {
            continue;
        };
        if !verify_detached(
            &signature.protected,
            &core_jcs,
            &signature.signature,
            jwk.public_key(),
        ) {
            return Err(CardError::InvalidSignature {
                kid: header.kid.clone(),
            });
        }
        jwk.check_signing_time(header.iat)?;
        if header.iat > now.saturating_add(CLOCK_SKEW_SECONDS_MAX) {
            return Err(CardError::IssuedInFuture {
                kid: header.kid.clone(),
                iat: header.iat,
                now,
                skew_s: CLOCK_SKEW_SECONDS_MAX,
            });
        }
        accepted.get_or_insert((header, jwk.status()));
    }
    let Some((header, key_status)) = accepted else {
        return Err(CardError::UnknownKid {
            kids: signatures.iter().map(|(_, h)| h.kid.clone()).collect(),
        });
    };

    if let Some(url) = fetched_from {
        let fetched = fetched_origin(url)?;
        let card = check_card_url(&core.base_url, "/base_url")?;
        if fetched != card {
            return Err(CardError::OriginMismatch {
                card_origin: card.to_string(),
                fetched_origin: fetched.to_string(),
            });
        }
    }

    Ok(VerifiedCard {
        etag: etag_of_canonical(&core_jcs, &header.kid),
        kid: header.kid.clone(),
        iat: header.iat,
        key_status,
        core,
        volatile,
    })
}

/// Parses `signatures`: every entry must be well-formed, whether or not its key is known, so
/// a card cannot carry junk next to a good signature.
fn parse_signatures(
    value: Option<&Value>,
) -> Result<Vec<(CardSignature, ProtectedHeader)>, CardError> {
    let items = value
        .ok_or(CardError::MissingSignature)?
        .as_array()
        .ok_or_else(|| wrong_type("/signatures", "an array"))?;
    if items.is_empty() {
        return Err(CardError::MissingSignature);
    }
    if items.len() > SIGNATURES_MAX {
        return Err(CardError::TooMany {
            what: "signatures",
            count: items.len(),
            max: SIGNATURES_MAX,
        });
    }
    let mut out: Vec<(CardSignature, ProtectedHeader)> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let signature = CardSignature::from_value(item, index)?;
        let header = ProtectedHeader::decode(&signature.protected, index)?;
        if b64url_decode(&signature.signature).is_none_or(|b| b.len() != SIGNATURE_BYTES) {
            return Err(CardError::InvalidBase64 {
                index,
                part: "signature",
            });
        }
        if out.iter().any(|(_, h)| h.kid == header.kid) {
            return Err(CardError::DuplicateSignature { kid: header.kid });
        }
        out.push((signature, header));
    }
    Ok(out)
}
