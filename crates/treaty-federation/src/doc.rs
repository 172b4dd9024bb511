//! Signed federation documents: offers, rejections and revocations, each signed by the one
//! node that sends it. Agreements, signed by both parties, are in [`crate::agreement`].
//!
//! # Signatures
//!
//! Every document is a JSON object with a `type` member naming its kind and a `signature`
//! member:
//!
//! ```json
//! "signature": {"alg": "ed25519", "kid": "<key ID>", "sig": "<base64url>"}
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `alg` | string | always `"ed25519"` (Ed25519, RFC 8032) |
//! | `kid` | string | the signer's card key ID (the RFC 7638 thumbprint in its JWKS), 1 to [`KID_BYTES_MAX`](crate::limits::KID_BYTES_MAX) printable ASCII characters |
//! | `sig` | string | the 64-byte Ed25519 signature, unpadded base64url (RFC 4648 section 5) |
//!
//! The signature is computed over
//!
//! ```text
//! "treaty-federation-document/v1\n" || JCS(document without its "signature" member)
//! ```
//!
//! where JCS is RFC 8785. The domain separator ([`DOCUMENT_SIGNING_DOMAIN`]) makes the
//! signed bytes start with text no other Treaty signature (card JWS, HTTP message
//! signatures, checkpoint notes, agreement signatures) ever signs, so a document signature
//! can never be replayed as another kind of signature, and no other signature can be
//! replayed as a document signature. Within documents, the signed `type` member keeps an
//! offer's signature from being presented as a rejection's.
//!
//! `kid` is not covered by the signature: it only tells the receiver which of the sender's
//! keys to try. Changing it can only make verification fail, never make a forgery pass. It
//! is covered by [`Signed::hash`], which is over the whole document.
//!
//! Verifiers use `verify_strict` (no small-order keys, canonical `S`), so a signature is
//! accepted only in one encoding. The parsers are closed (unknown members and `null` for
//! absent optional members are refused) and keep every value exactly as received, so the
//! JCS of a parsed document is the JCS of what the sender signed.
//!
//! Times are Unix seconds, as JSON integers from 0 to 2^53 - 1. Node IDs are UUIDs in
//! lower-case hyphenated form (`8-4-4-4-12` hex digits). Proposal and agreement IDs are 1
//! to [`ID_BYTES_MAX`](crate::limits::ID_BYTES_MAX) characters of `[A-Za-z0-9-]`. Hashes
//! are `sha256:` followed by 64 lower-case hex digits. A `reason` is 1 to
//! [`REASON_BYTES_MAX`](crate::limits::REASON_BYTES_MAX) bytes of UTF-8 without control
//! characters. Each whole document (JCS form, signature included) is at most
//! [`DOCUMENT_BYTES_MAX`] bytes.
//!
//! # Offer (`treaty.trust-offer/v1`)
//!
//! ```json
//! {
//!   "type": "treaty.trust-offer/v1",
//!   "proposal_id": "p-2026-0001",
//!   "round": 2,
//!   "proposer": "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!   "target": "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f",
//!   "from": "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f",
//!   "trust_level": 2,
//!   "terms": {"collections": ["notes"], "verification_frequency": "daily",
//!             "retention_days": 365, "audit_rights": false},
//!   "created_at": 1767225600,
//!   "expires_at": 1767312000,
//!   "previous": "sha256:<64 hex>",
//!   "signature": {"alg": "ed25519", "kid": "<key ID>", "sig": "<base64url>"}
//! }
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `type` | string | `"treaty.trust-offer/v1"` |
//! | `proposal_id` | string | ID of the negotiation, chosen by the proposer |
//! | `round` | integer | 1 to [`ROUNDS_MAX`]; round 1 opens the negotiation, each counter-offer adds one |
//! | `proposer` | string | node ID of the node that opened the negotiation |
//! | `target` | string | node ID of the other node; not the proposer |
//! | `from` | string | node ID of the node making this offer: the proposer in odd rounds, the target in even rounds |
//! | `trust_level` | integer | 0 to 4 (see [`crate::level`]) |
//! | `terms` | object | see [`crate::terms`] |
//! | `created_at` | integer | when the offer was made |
//! | `expires_at` | integer | after `created_at`, at most [`OFFER_TTL_MAX_SECONDS`] after it; the offer can be answered while `now < expires_at` |
//! | `previous` | string | the [`Signed::hash`] of the offer this one counters; present exactly when `round > 1` |
//! | `signature` | object | by `from` |
//!
//! # Rejection (`treaty.trust-rejection/v1`)
//!
//! ```json
//! {
//!   "type": "treaty.trust-rejection/v1",
//!   "proposal_id": "p-2026-0001",
//!   "round": 2,
//!   "from": "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!   "reason": "retention too short",
//!   "created_at": 1767230000,
//!   "signature": {"alg": "ed25519", "kid": "<key ID>", "sig": "<base64url>"}
//! }
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `type` | string | `"treaty.trust-rejection/v1"` |
//! | `proposal_id` | string | the negotiation |
//! | `round` | integer | 1 to [`ROUNDS_MAX`]: the round of the offer being rejected |
//! | `from` | string | node ID of the rejecting node (the one the offer was made to) |
//! | `reason` | string | why, for humans |
//! | `created_at` | integer | when the offer was rejected |
//! | `signature` | object | by `from` |
//!
//! # Revocation (`treaty.trust-revocation/v1`)
//!
//! ```json
//! {
//!   "type": "treaty.trust-revocation/v1",
//!   "agreement_id": "a-2026-0001",
//!   "agreement_hash": "sha256:<64 hex>",
//!   "revoked_by": "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!   "reason": "operator decision",
//!   "announced_at": 1767300000,
//!   "effective_at": 1767386400,
//!   "signature": {"alg": "ed25519", "kid": "<key ID>", "sig": "<base64url>"}
//! }
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `type` | string | `"treaty.trust-revocation/v1"` |
//! | `agreement_id` | string | the agreement revoked |
//! | `agreement_hash` | string | its [`crate::Agreement::hash`], so the revocation names one exact agreement |
//! | `revoked_by` | string | node ID of the revoking party |
//! | `reason` | string | why, for humans |
//! | `announced_at` | integer | when the revocation was issued |
//! | `effective_at` | integer | when the agreement stops being in force; not before `announced_at` |
//! | `signature` | object | by `revoked_by` |

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Map, Value};

use crate::FedError;
use crate::agreement::Agreement;
use crate::error::clip;
use crate::json::{
    Obj, check_hash, check_id, check_kid, check_node_id, check_reason, check_time, invalid, jcs,
    sha256_jcs,
};
use crate::level::TrustLevel;
use crate::limits::{
    CLOCK_SKEW_SECONDS_MAX, DOCUMENT_BYTES_MAX, OFFER_TTL_MAX_SECONDS, ROUNDS_MAX,
};
use crate::terms::Terms;

/// The only signature algorithm: Ed25519.
pub const SIGNATURE_ALG: &str = "ed25519";

/// Prefix of the bytes a document signature signs (see the module documentation).
pub const DOCUMENT_SIGNING_DOMAIN: &[u8] = b"treaty-federation-document/v1\n";

/// Unpadded base64url (RFC 4648 section 5).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url into exactly `N` bytes. The engine refuses padding, the
/// standard alphabet and non-zero trailing bits, so every byte string has one encoding.
pub(crate) fn b64url_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
}

/// A signed federation document kind: its JSON form without the `signature` member.
pub trait Document: Sized {
    /// The `type` member of this kind of document.
    const TYPE: &'static str;

    /// The JSON object, `type` included, `signature` excluded.
    fn to_value(&self) -> Value;

    /// Parses and validates the JSON object (`type` included, no `signature` member).
    ///
    /// # Errors
    /// [`FedError::WrongDocumentType`] and whatever rule of the format the value breaks.
    fn from_value(v: &Value) -> Result<Self, FedError>;
}

/// The `signature` member of a single-signer document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSignature {
    /// Always [`SIGNATURE_ALG`].
    pub alg: String,
    /// The signer's key ID, 1 to [`KID_BYTES_MAX`](crate::limits::KID_BYTES_MAX) printable
    /// ASCII characters. Not signed: a lookup hint.
    pub kid: String,
    /// The Ed25519 signature.
    pub sig: [u8; 64],
}

impl DocSignature {
    /// The JSON form: `{"alg","kid","sig"}`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("alg".into(), self.alg.as_str().into());
        m.insert("kid".into(), self.kid.as_str().into());
        m.insert("sig".into(), b64url(&self.sig).into());
        Value::Object(m)
    }

    /// Parses the `signature` member.
    fn from_value(value: &Value) -> Result<Self, FedError> {
        let o = Obj::new(value, "/signature")?;
        o.only(&["alg", "kid", "sig"])?;
        let alg = o.str("alg")?;
        if alg != SIGNATURE_ALG {
            return Err(FedError::UnsupportedAlgorithm { alg: clip(alg) });
        }
        let kid = o.str("kid")?;
        check_kid(&o.at("kid"), kid)?;
        let sig = b64url_array::<64>(o.str("sig")?).ok_or_else(|| {
            invalid(
                &o.at("sig"),
                "not unpadded base64url of a 64-byte signature",
            )
        })?;
        Ok(Self {
            alg: alg.to_owned(),
            kid: kid.to_owned(),
            sig,
        })
    }
}

/// The bytes a document signature signs: [`DOCUMENT_SIGNING_DOMAIN`] followed by the JCS
/// form of `body` (the document without `signature`).
///
/// # Errors
/// [`FedError::UnsafeJson`] and [`FedError::TooLarge`] (over [`DOCUMENT_BYTES_MAX`]).
pub fn document_signing_input(body: &Value) -> Result<Vec<u8>, FedError> {
    let payload = jcs("document", body, DOCUMENT_BYTES_MAX)?;
    let mut input = Vec::with_capacity(DOCUMENT_SIGNING_DOMAIN.len() + payload.len());
    input.extend_from_slice(DOCUMENT_SIGNING_DOMAIN);
    input.extend_from_slice(&payload);
    Ok(input)
}

/// A document with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// The document.
    pub body: T,
    /// The sender's signature over it.
    pub signature: DocSignature,
}

impl<T: Document> Signed<T> {
    /// Signs `body` with `key`, naming the key `kid`.
    ///
    /// The body is validated first (it must parse back with [`Document::from_value`]), so a
    /// node can never send a document its peer would refuse.
    ///
    /// # Errors
    /// [`FedError::InvalidField`] for a bad `kid`, whatever [`Document::from_value`]
    /// refuses in the body, and [`FedError::TooLarge`] when the signed document would
    /// exceed [`DOCUMENT_BYTES_MAX`].
    pub fn sign(body: T, key: &SigningKey, kid: &str) -> Result<Self, FedError> {
        check_kid("kid", kid)?;
        let value = body.to_value();
        T::from_value(&value)?;
        let signature = key.sign(&document_signing_input(&value)?);
        let signed = Self {
            body,
            signature: DocSignature {
                alg: SIGNATURE_ALG.to_owned(),
                kid: kid.to_owned(),
                sig: signature.to_bytes(),
            },
        };
        jcs("signed document", &signed.to_value(), DOCUMENT_BYTES_MAX)?;
        Ok(signed)
    }

    /// Verifies the signature with `key`, the sender's key the caller holds (from the
    /// sender's JWKS, looked up by `signature.kid`; never from the document itself).
    ///
    /// # Errors
    /// [`FedError::UnsupportedAlgorithm`] and [`FedError::BadDocumentSignature`].
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), FedError> {
        if self.signature.alg != SIGNATURE_ALG {
            return Err(FedError::UnsupportedAlgorithm {
                alg: clip(&self.signature.alg),
            });
        }
        let input = document_signing_input(&self.body.to_value())?;
        key.verify_strict(&input, &Signature::from_bytes(&self.signature.sig))
            .map_err(|_| FedError::BadDocumentSignature {
                kid: clip(&self.signature.kid),
            })
    }

    /// The JSON form: the body's members and `signature`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut value = self.body.to_value();
        if let Value::Object(m) = &mut value {
            m.insert("signature".into(), self.signature.to_value());
        }
        value
    }

    /// Parses a signed document strictly. Does not verify the signature (the key depends
    /// on who the caller expects the sender to be): call [`Signed::verify`].
    ///
    /// Checks, in order: JSON object, canonical-JSON rules and size (at most
    /// [`DOCUMENT_BYTES_MAX`] bytes of JCS), `type`, `signature`, then the body.
    ///
    /// # Errors
    /// [`FedError::WrongType`], [`FedError::UnsafeJson`], [`FedError::TooLarge`],
    /// [`FedError::WrongDocumentType`], [`FedError::UnsupportedAlgorithm`], and whatever
    /// rule of the format the body breaks.
    pub fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        jcs("document", v, DOCUMENT_BYTES_MAX)?;
        check_type(&o, T::TYPE)?;
        let signature = DocSignature::from_value(o.req("signature")?)?;
        let mut rest = o.map().clone();
        rest.remove("signature");
        let body = T::from_value(&Value::Object(rest))?;
        Ok(Self { body, signature })
    }

    /// `sha256:<64 hex>` of SHA-256 over the JCS form of [`Signed::to_value`]: names this
    /// exact signed document (an offer's `previous`, an agreement's `offer_hash`).
    #[must_use]
    pub fn hash(&self) -> String {
        sha256_jcs(&self.to_value())
    }
}

/// Refuses a document whose `type` member is not `expected`.
pub(crate) fn check_type(o: &Obj<'_>, expected: &'static str) -> Result<(), FedError> {
    let found = o.str("type")?;
    if found == expected {
        Ok(())
    } else {
        Err(FedError::WrongDocumentType {
            expected,
            found: clip(found),
        })
    }
}

/// Starts a document's JSON object with its `type`.
fn typed(kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), kind.into());
    m
}

/// A signed offer: opens a negotiation (round 1) or counters the previous offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The negotiation's ID.
    pub proposal_id: String,
    /// 1 to [`ROUNDS_MAX`].
    pub round: u32,
    /// Node ID of the node that opened the negotiation.
    pub proposer: String,
    /// Node ID of the other node.
    pub target: String,
    /// Node ID of the node making this offer: the proposer in odd rounds, the target in
    /// even rounds.
    pub from: String,
    /// The level offered.
    pub trust_level: TrustLevel,
    /// The terms offered.
    pub terms: Terms,
    /// When the offer was made.
    pub created_at: u64,
    /// When the offer lapses unanswered.
    pub expires_at: u64,
    /// [`Signed::hash`] of the countered offer; `Some` exactly when `round > 1`.
    pub previous: Option<String>,
}

/// The members of an offer (without `signature`).
const OFFER_MEMBERS: &[&str] = &[
    "type",
    "proposal_id",
    "round",
    "proposer",
    "target",
    "from",
    "trust_level",
    "terms",
    "created_at",
    "expires_at",
    "previous",
];

impl Offer {
    /// Checks every rule of the format (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::InvalidField`], [`FedError::InvalidNodeId`], [`FedError::MissingField`]
    /// (`previous` in a later round), [`FedError::TimestampOutOfRange`] and what
    /// [`Terms::validate`] refuses.
    pub fn validate(&self) -> Result<(), FedError> {
        check_id("/proposal_id", &self.proposal_id)?;
        if self.round == 0 || self.round > ROUNDS_MAX {
            return Err(invalid("/round", "rounds are 1 to 16"));
        }
        check_node_id("/proposer", &self.proposer)?;
        check_node_id("/target", &self.target)?;
        check_node_id("/from", &self.from)?;
        if self.proposer == self.target {
            return Err(invalid("/target", "a node cannot federate with itself"));
        }
        let expected_from = if self.round % 2 == 1 {
            &self.proposer
        } else {
            &self.target
        };
        if self.from != *expected_from {
            return Err(invalid(
                "/from",
                "odd rounds are offered by the proposer, even rounds by the target",
            ));
        }
        self.terms.validate_at("/terms")?;
        check_time("created_at", self.created_at)?;
        check_time("expires_at", self.expires_at)?;
        if self.expires_at <= self.created_at {
            return Err(invalid("/expires_at", "not after created_at"));
        }
        if self.expires_at - self.created_at > OFFER_TTL_MAX_SECONDS {
            return Err(invalid(
                "/expires_at",
                "more than 30 days (OFFER_TTL_MAX_SECONDS) after created_at",
            ));
        }
        match (&self.previous, self.round) {
            (None, 1) => {}
            (Some(_), 1) => {
                return Err(invalid("/previous", "round 1 has no previous offer"));
            }
            (None, _) => {
                return Err(FedError::MissingField {
                    path: "/previous".into(),
                });
            }
            (Some(h), _) => check_hash("/previous", h)?,
        }
        Ok(())
    }

    /// The party who answers this offer: the other one than [`Offer::from`].
    #[must_use]
    pub fn answerer(&self) -> &str {
        if self.from == self.proposer {
            &self.target
        } else {
            &self.proposer
        }
    }

    /// Checks the offer against the receiver's clock: it must not have expired
    /// (`now < expires_at`) and must not be created more than [`CLOCK_SKEW_SECONDS_MAX`]
    /// in the future. [`crate::Thread::counter`] applies it; call it yourself on the offer
    /// that opens a negotiation, since [`crate::Thread::open`] takes no time.
    ///
    /// # Errors
    /// [`FedError::ProposalExpired`] and [`FedError::IssuedInFuture`].
    pub fn check_timely(&self, now: u64) -> Result<(), FedError> {
        if self.created_at > now.saturating_add(CLOCK_SKEW_SECONDS_MAX) {
            return Err(FedError::IssuedInFuture {
                what: "created_at",
                time: self.created_at,
                now,
            });
        }
        if now >= self.expires_at {
            return Err(FedError::ProposalExpired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }
}

impl Document for Offer {
    const TYPE: &'static str = "treaty.trust-offer/v1";

    fn to_value(&self) -> Value {
        let mut m = typed(Self::TYPE);
        m.insert("proposal_id".into(), self.proposal_id.as_str().into());
        m.insert("round".into(), self.round.into());
        m.insert("proposer".into(), self.proposer.as_str().into());
        m.insert("target".into(), self.target.as_str().into());
        m.insert("from".into(), self.from.as_str().into());
        m.insert("trust_level".into(), self.trust_level.as_u8().into());
        m.insert("terms".into(), self.terms.to_value());
        m.insert("created_at".into(), self.created_at.into());
        m.insert("expires_at".into(), self.expires_at.into());
        if let Some(p) = &self.previous {
            m.insert("previous".into(), p.as_str().into());
        }
        Value::Object(m)
    }

    fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        check_type(&o, Self::TYPE)?;
        o.only(OFFER_MEMBERS)?;
        let offer = Offer {
            proposal_id: o.str("proposal_id")?.to_owned(),
            round: o.u32("round")?,
            proposer: o.str("proposer")?.to_owned(),
            target: o.str("target")?.to_owned(),
            from: o.str("from")?.to_owned(),
            trust_level: TrustLevel::from_u64(o.u64("trust_level")?)?,
            terms: Terms::from_value_at(o.req("terms")?, "/terms")?,
            created_at: o.time("created_at")?,
            expires_at: o.time("expires_at")?,
            previous: o.opt_str("previous")?.map(str::to_owned),
        };
        offer.validate()?;
        Ok(offer)
    }
}

/// A signed rejection: ends a negotiation by refusing its latest offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The negotiation's ID.
    pub proposal_id: String,
    /// The round of the offer being rejected.
    pub round: u32,
    /// Node ID of the rejecting node.
    pub from: String,
    /// Why, for humans.
    pub reason: String,
    /// When the offer was rejected.
    pub created_at: u64,
}

impl Rejection {
    /// Checks every rule of the format (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::InvalidField`], [`FedError::InvalidNodeId`] and
    /// [`FedError::TimestampOutOfRange`].
    pub fn validate(&self) -> Result<(), FedError> {
        check_id("/proposal_id", &self.proposal_id)?;
        if self.round == 0 || self.round > ROUNDS_MAX {
            return Err(invalid("/round", "rounds are 1 to 16"));
        }
        check_node_id("/from", &self.from)?;
        check_reason("/reason", &self.reason)?;
        check_time("created_at", self.created_at)
    }
}

impl Document for Rejection {
    const TYPE: &'static str = "treaty.trust-rejection/v1";

    fn to_value(&self) -> Value {
        let mut m = typed(Self::TYPE);
        m.insert("proposal_id".into(), self.proposal_id.as_str().into());
        m.insert("round".into(), self.round.into());
        m.insert("from".into(), self.from.as_str().into());
        m.insert("reason".into(), self.reason.as_str().into());
        m.insert("created_at".into(), self.created_at.into());
        Value::Object(m)
    }

    fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        check_type(&o, Self::TYPE)?;
        o.only(&[
            "type",
            "proposal_id",
            "round",
            "from",
            "reason",
            "created_at",
        ])?;
        let r = Rejection {
            proposal_id: o.str("proposal_id")?.to_owned(),
            round: o.u32("round")?,
            from: o.str("from")?.to_owned(),
            reason: o.str("reason")?.to_owned(),
            created_at: o.time("created_at")?,
        };
        r.validate()?;
        Ok(r)
    }
}

/// A signed revocation: one party ends an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The agreement revoked.
    pub agreement_id: String,
    /// Its [`Agreement::hash`].
    pub agreement_hash: String,
    /// Node ID of the revoking party.
    pub revoked_by: String,
    /// Why, for humans.
    pub reason: String,
    /// When the revocation was issued.
    pub announced_at: u64,
    /// When the agreement stops being in force (not before `announced_at`).
    pub effective_at: u64,
}

impl Revocation {
    /// Checks every rule of the format (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::InvalidField`], [`FedError::InvalidNodeId`] and
    /// [`FedError::TimestampOutOfRange`].
    pub fn validate(&self) -> Result<(), FedError> {
        check_id("/agreement_id", &self.agreement_id)?;
        check_hash("/agreement_hash", &self.agreement_hash)?;
        check_node_id("/revoked_by", &self.revoked_by)?;
        check_reason("/reason", &self.reason)?;
        check_time("announced_at", self.announced_at)?;
        check_time("effective_at", self.effective_at)?;
        if self.effective_at < self.announced_at {
            return Err(invalid("/effective_at", "before announced_at"));
        }
        Ok(())
    }

    /// Checks that the revocation names `agreement` exactly (ID and hash) and comes from
    /// one of its parties. The caller still verifies the signature with the key of
    /// `revoked_by`.
    ///
    /// # Errors
    /// [`FedError::RevocationMismatch`] and [`FedError::NotAParty`].
    pub fn check_against(&self, agreement: &Agreement) -> Result<(), FedError> {
        if self.agreement_id != agreement.agreement_id {
            return Err(FedError::RevocationMismatch {
                member: "agreement_id",
            });
        }
        if self.agreement_hash != agreement.hash() {
            return Err(FedError::RevocationMismatch {
                member: "agreement_hash",
            });
        }
        if !agreement.is_party(&self.revoked_by) {
            return Err(FedError::NotAParty {
                node_id: clip(&self.revoked_by),
            });
        }
        Ok(())
    }

    /// Whether the revocation has taken effect at `now`.
    #[must_use]
    pub fn is_effective(&self, now: u64) -> bool {
        now >= self.effective_at
    }
}

impl Document for Revocation {
    const TYPE: &'static str = "treaty.trust-revocation/v1";

    fn to_value(&self) -> Value {
        let mut m = typed(Self::TYPE);
        m.insert("agreement_id".into(), self.agreement_id.as_str().into());
        m.insert("agreement_hash".into(), self.agreement_hash.as_str().into());
        m.insert("revoked_by".into(), self.revoked_by.as_str().into());
        m.insert("reason".into(), self.reason.as_str().into());
        m.insert("announced_at".into(), self.announced_at.into());
        m.insert("effective_at".into(), self.effective_at.into());
        Value::Object(m)
    }

    fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        check_type(&o, Self::TYPE)?;
        o.only(&[
            "type",
            "agreement_id",
            "agreement_hash",
            "revoked_by",
            "reason",
            "announced_at",
            "effective_at",
        ])?;
        let r = Revocation {
            agreement_id: o.str("agreement_id")?.to_owned(),
            agreement_hash: o.str("agreement_hash")?.to_owned(),
            revoked_by: o.str("revoked_by")?.to_owned(),
            reason: o.str("reason")?.to_owned(),
            announced_at: o.time("announced_at")?,
            effective_at: o.time("effective_at")?,
        };
        r.validate()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;
    use serde_json::json;
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::fixtures::*;
    use crate::parse_json;

    fn signed_offer_value() -> Value {
        sign_offer(offer1()).to_value()
    }

    #[test]
    fn every_document_round_trips() {
        let first = sign_offer(offer1());
        let second = sign_offer(counter_to(&first, 60));
        for offer in [&first, &second] {
            let v = offer.to_value();
            assert_eq!(
                v.as_object()
                    .and_then(|m| m.keys().next())
                    .map(String::as_str),
                Some("type")
            );
            let back = Signed::<Offer>::from_value(&v).expect("parses");
            assert_eq!(&back, offer);
            assert_eq!(back.to_value(), v);
            back.verify(&key_of(&offer.body.from).verifying_key())
                .expect("verifies");
        }
        assert!(first.to_value().get("previous").is_none());
        assert_eq!(second.body.previous.as_deref(), Some(first.hash().as_str()));

        let rej = sign_rejection(rejection(1, B));
        let back = Signed::<Rejection>::from_value(&rej.to_value()).expect("parses");
        assert_eq!(back, rej);
        back.verify(&key_b().verifying_key()).expect("verifies");

        let agreement = agreement_for(&first, NOW + 100).agreement;
        let rev = Signed::sign(revocation(&agreement), &key_b(), "kid-b").expect("signs");
        let back = Signed::<Revocation>::from_value(&rev.to_value()).expect("parses");
        assert_eq!(back, rev);
        back.verify(&key_b().verifying_key()).expect("verifies");
        assert_eq!(
            rev.to_value(),
            json!({
                "type": "treaty.trust-revocation/v1",
                "agreement_id": "agr-1",
                "agreement_hash": agreement.hash(),
                "revoked_by": B,
                "reason": "operator decision",
                "announced_at": NOW + DAY,
                "effective_at": NOW + 2 * DAY,
                "signature": {"alg": "ed25519", "kid": "kid-b", "sig": b64url(&rev.signature.sig)},
            })
        );
    }

    #[test]
    fn offer_json_shape() {
        let s = sign_offer(offer1());
        assert_eq!(
            s.to_value(),
            json!({
                "type": "treaty.trust-offer/v1",
                "proposal_id": "p-1",
                "round": 1,
                "proposer": A,
                "target": B,
                "from": A,
                "trust_level": 2,
                "terms": {
                    "collections": ["notes", "agent-card"],
                    "verification_frequency": "daily",
                    "retention_days": 90,
                    "jurisdiction": "EU",
                    "audit_rights": true,
                },
                "created_at": NOW,
                "expires_at": NOW + DAY,
                "signature": {"alg": "ed25519", "kid": "kid-a", "sig": b64url(&s.signature.sig)},
            })
        );
    }

    /// Every rule of an offer, checked through `Signed::<Offer>::from_value`.
    #[test]
    fn offer_rules_have_codes() {
        let v = signed_offer_value();
        let second = sign_offer(counter_to(&sign_offer(offer1()), 60)).to_value();
        let terms_with = |k: &str, x: Value| with(&v, "terms", with(&v["terms"], k, x));
        let big = "x".repeat(DOCUMENT_BYTES_MAX);
        let cases: Vec<(Value, &str)> = vec![
            (json!("offer"), "wrong_type"),
            (without(&v, "type"), "missing_field"),
            (with(&v, "type", json!(1)), "wrong_type"),
            (
                with(&v, "type", json!("treaty.trust-rejection/v1")),
                "wrong_document_type",
            ),
            (
                with(&v, "type", json!("treaty.trust-offer/v2")),
                "wrong_document_type",
            ),
            (with(&v, "extra", json!(true)), "unknown_field"),
            (with(&v, "extra", json!(big)), "too_large"),
            (without(&v, "signature"), "missing_field"),
            (with(&v, "signature", json!("sig")), "wrong_type"),
            (
                with(
                    &v,
                    "signature",
                    with(&v["signature"], "alg", json!("EdDSA")),
                ),
                "unsupported_algorithm",
            ),
            (
                with(&v, "signature", with(&v["signature"], "kid", json!(""))),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "signature",
                    with(&v["signature"], "kid", json!("k".repeat(129))),
                ),
                "invalid_field",
            ),
            (
                with(&v, "signature", with(&v["signature"], "sig", json!("AAAA"))),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "signature",
                    with(
                        &v["signature"],
                        "sig",
                        json!(format!(
                            "{}=",
                            v["signature"]["sig"].as_str().unwrap_or_default()
                        )),
                    ),
                ),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "signature",
                    with(&v["signature"], "x5u", json!("https://evil.example")),
                ),
                "unknown_field",
            ),
            (without(&v, "proposal_id"), "missing_field"),
            (with(&v, "proposal_id", json!("")), "invalid_field"),
            (with(&v, "proposal_id", json!("p_1")), "invalid_field"),
            (
                with(&v, "proposal_id", json!("p".repeat(65))),
                "invalid_field",
            ),
            (with(&v, "round", json!(0)), "invalid_field"),
            (with(&v, "round", json!(17)), "invalid_field"),
            (with(&v, "round", json!(4_294_967_297_u64)), "invalid_field"),
            (with(&v, "round", json!("1")), "wrong_type"),
            (with(&v, "round", json!(-1)), "wrong_type"),
            (with(&v, "round", json!(1.5)), "number_not_integer"),
            (
                with(&v, "proposer", json!(A.to_uppercase())),
                "invalid_node_id",
            ),
            (with(&v, "target", json!("not-a-uuid")), "invalid_node_id"),
            (with(&v, "from", json!(7)), "wrong_type"),
            (with(&v, "target", json!(A)), "invalid_field"),
            (with(&v, "from", json!(B)), "invalid_field"),
            (with(&v, "from", json!(C)), "invalid_field"),
            (with(&v, "trust_level", json!(5)), "invalid_trust_level"),
            (with(&v, "trust_level", json!(256)), "invalid_trust_level"),
            (with(&v, "trust_level", json!("2")), "wrong_type"),
            (without(&v, "terms"), "missing_field"),
            (terms_with("retention_days", json!(0)), "invalid_field"),
            (
                terms_with("collections", json!(["notes", "notes"])),
                "invalid_field",
            ),
            (terms_with("x", json!(0)), "unknown_field"),
            (
                with(&v, "created_at", json!(9_007_199_254_740_992_u64)),
                "integer_out_of_range",
            ),
            (with(&v, "expires_at", json!(NOW)), "invalid_field"),
            (with(&v, "expires_at", json!(NOW - 1)), "invalid_field"),
            (
                with(&v, "expires_at", json!(NOW + OFFER_TTL_MAX_SECONDS + 1)),
                "invalid_field",
            ),
            (
                with(&v, "previous", json!(format!("sha256:{}", "0".repeat(64)))),
                "invalid_field",
            ),
            (with(&v, "previous", Value::Null), "wrong_type"),
            (without(&second, "previous"), "missing_field"),
            (
                with(&second, "previous", json!("sha256:abc")),
                "invalid_field",
            ),
            (
                with(
                    &second,
                    "previous",
                    json!(format!("sha256:{}", "A".repeat(64))),
                ),
                "invalid_field",
            ),
            (with(&second, "from", json!(A)), "invalid_field"),
        ];
        for (value, code) in cases {
            let err = Signed::<Offer>::from_value(&value).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
        // The limits themselves are accepted.
        assert!(
            Signed::<Offer>::from_value(&with(
                &v,
                "expires_at",
                json!(NOW + OFFER_TTL_MAX_SECONDS)
            ))
            .is_ok()
        );
        // A bare body parser checks the time range itself (no canonicalization first).
        let body = without(
            &with(&v, "created_at", json!(9_007_199_254_740_992_u64)),
            "signature",
        );
        assert_eq!(
            Offer::from_value(&body).expect_err("big").code(),
            "timestamp_out_of_range"
        );
        assert_eq!(
            Offer::from_value(&v).expect_err("signature").code(),
            "unknown_field"
        );
    }

    #[test]
    fn rejection_and_revocation_rules_have_codes() {
        let r = sign_rejection(rejection(1, B)).to_value();
        let cases: Vec<(Value, &str)> = vec![
            (
                with(&r, "type", json!("treaty.trust-offer/v1")),
                "wrong_document_type",
            ),
            (with(&r, "round", json!(0)), "invalid_field"),
            (with(&r, "round", json!(17)), "invalid_field"),
            (with(&r, "from", json!("b")), "invalid_node_id"),
            (with(&r, "reason", json!("")), "invalid_field"),
            (with(&r, "reason", json!("a\u{1b}[31mred")), "invalid_field"),
            (with(&r, "reason", json!("r".repeat(513))), "invalid_field"),
            (with(&r, "reason", Value::Null), "wrong_type"),
            (without(&r, "created_at"), "missing_field"),
            (with(&r, "extra", json!(1)), "unknown_field"),
        ];
        for (value, code) in cases {
            let err = Signed::<Rejection>::from_value(&value).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
        assert!(
            Signed::<Rejection>::from_value(&with(&r, "reason", json!("r".repeat(512)))).is_ok()
        );

        let agreement = agreement_for(&sign_offer(offer1()), NOW + 100).agreement;
        let rv = Signed::sign(revocation(&agreement), &key_b(), "kid-b")
            .expect("signs")
            .to_value();
        let cases: Vec<(Value, &str)> = vec![
            (
                with(&rv, "type", json!("treaty.trust-agreement/v1")),
                "wrong_document_type",
            ),
            (with(&rv, "agreement_id", json!("a b")), "invalid_field"),
            (
                with(&rv, "agreement_hash", json!("sha256:00")),
                "invalid_field",
            ),
            (with(&rv, "revoked_by", json!("")), "invalid_node_id"),
            (
                with(&rv, "effective_at", json!(NOW + DAY - 1)),
                "invalid_field",
            ),
            (with(&rv, "reason", json!("line\nbreak")), "invalid_field"),
            (without(&rv, "announced_at"), "missing_field"),
        ];
        for (value, code) in cases {
            let err = Signed::<Revocation>::from_value(&value).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
        assert!(
            Signed::<Revocation>::from_value(&with(&rv, "effective_at", json!(NOW + DAY))).is_ok()
        );
    }

    #[test]
    fn revocation_names_one_agreement() {
        let agreement = agreement_for(&sign_offer(offer1()), NOW + 100).agreement;
        let rev = revocation(&agreement);
        assert_eq!(rev.check_against(&agreement), Ok(()));
        assert!(!rev.is_effective(NOW + DAY));
        assert!(rev.is_effective(NOW + 2 * DAY));
        let mut other = agreement.clone();
        other.agreement_id = "agr-2".into();
        assert_eq!(
            rev.check_against(&other).expect_err("id").code(),
            "revocation_mismatch"
        );
        let mut other = agreement.clone();
        other.trust_level = TrustLevel::Observe;
        assert_eq!(
            rev.check_against(&other).expect_err("hash"),
            FedError::RevocationMismatch {
                member: "agreement_hash"
            }
        );
        let stranger = Revocation {
            revoked_by: C.into(),
            ..rev
        };
        assert_eq!(
            stranger
                .check_against(&agreement)
                .expect_err("party")
                .code(),
            "not_a_party"
        );
    }

    #[test]
    fn wrong_key_and_wrong_alg_fail() {
        let s = sign_offer(offer1());
        let err = s.verify(&key_b().verifying_key()).expect_err("B's key");
        assert_eq!(err.code(), "bad_document_signature");
        assert_eq!(
            err,
            FedError::BadDocumentSignature {
                kid: "kid-a".into()
            }
        );
        let mut t = s.clone();
        t.signature.alg = "EdDSA".into();
        assert_eq!(
            t.verify(&key_a().verifying_key()).expect_err("alg").code(),
            "unsupported_algorithm"
        );
        // Signed by A's key but with B named: still only A's key verifies it.
        let mut t = s.clone();
        t.signature.kid = "kid-b".into();
        assert!(t.verify(&key_a().verifying_key()).is_ok());
        assert_ne!(t.hash(), s.hash());
    }

    #[test]
    fn signatures_are_domain_separated() {
        let s = sign_offer(offer1());
        let body = s.body.to_value();
        let jcs_bytes = treaty_types::canonicalize(&body).expect("jcs");
        let input = document_signing_input(&body).expect("input");
        assert_eq!(
            input,
            [DOCUMENT_SIGNING_DOMAIN, jcs_bytes.as_slice()].concat()
        );
        // A signature over the bare JCS bytes (as another protocol might make) is refused.
        let bare = key_a().sign(&jcs_bytes).to_bytes();
        let mut t = s.clone();
        t.signature.sig = bare;
        assert_eq!(
            t.verify(&key_a().verifying_key()).expect_err("bare").code(),
            "bad_document_signature"
        );
        // An agreement-style signature over the same bytes is refused too.
        let other = key_a().sign(&[AGREEMENT_DOMAIN_FOR_TEST, jcs_bytes.as_slice()].concat());
        t.signature.sig = other.to_bytes();
        assert!(t.verify(&key_a().verifying_key()).is_err());
    }

    const AGREEMENT_DOMAIN_FOR_TEST: &[u8] = crate::AGREEMENT_SIGNING_DOMAIN;

    #[test]
    fn changing_any_member_breaks_the_signature() {
        let s = sign_offer(counter_to(&sign_offer(offer1()), 60));
        let v = s.to_value();
        let vk = key_b().verifying_key();
        let mut tried = 0;
        let mut mutants = Vec::new();
        for (k, x) in v.as_object().expect("object") {
            if k == "signature" {
                continue;
            }
            let changed = match x {
                Value::String(t) => json!(format!("{t}0")),
                Value::Number(n) => json!(n.as_u64().unwrap_or(0) + 1),
                Value::Object(m) => {
                    for (tk, tv) in m {
                        let c = match tv {
                            Value::Bool(b) => json!(!b),
                            Value::Number(n) => json!(n.as_u64().unwrap_or(0) + 1),
                            Value::String(t) => json!(format!("{t}X")),
                            Value::Array(_) => json!(["notes"]),
                            _ => Value::Null,
                        };
                        mutants.push(with(&v, k, with(x, tk, c)));
                    }
                    continue;
                }
                _ => Value::Null,
            };
            mutants.push(with(&v, k, changed));
        }
        // Change the signature's bytes too.
        let mut sig = s.signature.sig;
        sig[0] ^= 1;
        mutants.push(with(
            &v,
            "signature",
            with(&v["signature"], "sig", json!(b64url(&sig))),
        ));
        for m in mutants {
            tried += 1;
            if let Ok(parsed) = Signed::<Offer>::from_value(&m) {
                assert!(parsed.verify(&vk).is_err(), "{m}");
            }
        }
        assert!(tried > 15);
    }

    #[test]
    fn flipping_any_byte_never_forges() {
        let s = sign_offer(offer1());
        let text = serde_json::to_vec(&s.to_value()).expect("json");
        let vk = key_a().verifying_key();
        for i in 0..text.len() {
            for bit in [0x01_u8, 0x20] {
                let mut bytes = text.clone();
                bytes[i] ^= bit;
                let Ok(v) = parse_json(&bytes, DOCUMENT_BYTES_MAX) else {
                    continue;
                };
                let Ok(parsed) = Signed::<Offer>::from_value(&v) else {
                    continue;
                };
                if parsed.verify(&vk).is_ok() {
                    // Only the unsigned key ID hint may differ.
                    assert_eq!(parsed.body, s.body, "byte {i}");
                    assert_eq!(parsed.signature.sig, s.signature.sig, "byte {i}");
                    assert_ne!(parsed.signature.kid, s.signature.kid, "byte {i}");
                }
            }
        }
    }

    #[test]
    fn sign_refuses_what_a_peer_would_refuse() {
        assert_eq!(
            Signed::sign(offer1(), &key_a(), "")
                .expect_err("kid")
                .code(),
            "invalid_field"
        );
        assert_eq!(
            Signed::sign(offer1(), &key_a(), "a kid")
                .expect_err("kid")
                .code(),
            "invalid_field"
        );
        let bad = Offer {
            round: 0,
            ..offer1()
        };
        assert_eq!(
            Signed::sign(bad, &key_a(), "kid-a")
                .expect_err("round")
                .code(),
            "invalid_field"
        );
        let bad = Offer {
            created_at: u64::MAX,
            ..offer1()
        };
        assert_eq!(
            Signed::sign(bad, &key_a(), "kid-a")
                .expect_err("time")
                .code(),
            "timestamp_out_of_range"
        );
        // Hashing a hand-built out-of-range document does not panic.
        let mut s = sign_offer(offer1());
        s.body.expires_at = u64::MAX;
        assert!(s.hash().starts_with("sha256:"));
    }

    #[test]
    fn hash_is_sha256_of_the_jcs_document() {
        let s = sign_offer(offer1());
        let jcs_bytes = treaty_types::canonicalize(&s.to_value()).expect("jcs");
        assert_eq!(
            s.hash(),
            format!("sha256:{}", hex::encode(Sha256::digest(&jcs_bytes)))
        );
        assert_eq!(s.hash(), sign_offer(offer1()).hash(), "deterministic");
    }

    #[test]
    fn timeliness() {
        let o = offer1();
        assert_eq!(o.check_timely(NOW), Ok(()));
        assert_eq!(o.check_timely(NOW - CLOCK_SKEW_SECONDS_MAX), Ok(()));
        assert_eq!(
            o.check_timely(NOW - CLOCK_SKEW_SECONDS_MAX - 1)
                .expect_err("future")
                .code(),
            "issued_in_future"
        );
        assert_eq!(o.check_timely(NOW + DAY - 1), Ok(()));
        assert_eq!(
            o.check_timely(NOW + DAY).expect_err("expired").code(),
            "proposal_expired"
        );
        assert_eq!(o.answerer(), B);
    }
}
