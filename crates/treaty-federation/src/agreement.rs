//! Trust agreements: the accepted offer restated, with both parties' keys, signed by both.
//!
//! # JSON (`treaty.trust-agreement/v1`)
//!
//! ```json
//! {
//!   "type": "treaty.trust-agreement/v1",
//!   "agreement_id": "a-2026-0001",
//!   "proposal_id": "p-2026-0001",
//!   "parties": ["0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!               "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f"],
//!   "trust_level": 2,
//!   "terms": {"collections": ["notes"], "verification_frequency": "daily",
//!             "retention_days": 365, "audit_rights": false},
//!   "established_at": 1767240000,
//!   "offer_hash": "sha256:<64 hex>",
//!   "keys": {
//!     "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab": {"kid": "<key ID>", "x": "<base64url>"},
//!     "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f": {"kid": "<key ID>", "x": "<base64url>"}
//!   },
//!   "agreement_hash": "sha256:<64 hex>",
//!   "signatures": {
//!     "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab":
//!       {"kid": "<key ID>", "signed_at": 1767240100, "sig": "<base64url>"},
//!     "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f":
//!       {"kid": "<key ID>", "signed_at": 1767240000, "sig": "<base64url>"}
//!   }
//! }
//! ```
//!
//! The body ([`Agreement`]) is every member but `agreement_hash` and `signatures`:
//!
//! | member | type | rule |
//! |---|---|---|
//! | `type` | string | `"treaty.trust-agreement/v1"` |
//! | `agreement_id` | string | 1 to 64 characters of `[A-Za-z0-9-]`, chosen by the accepting node |
//! | `proposal_id` | string | the negotiation that produced it |
//! | `parties` | array of 2 strings | node IDs `[proposer, target]`, distinct |
//! | `trust_level` | integer | 0 to 4, as in the accepted offer |
//! | `terms` | object | as in the accepted offer (see [`crate::terms`]) |
//! | `established_at` | integer | when the accepting node formed the agreement |
//! | `offer_hash` | string | [`crate::Signed::hash`] of the accepted signed offer |
//! | `keys` | object | exactly one member per party, named by its node ID: `{"kid": <key ID, 1 to 128 printable ASCII>, "x": <unpadded base64url of the 32-byte Ed25519 public key>}`; the two keys differ |
//!
//! `agreement_hash` is `sha256:` and the lower-case hex SHA-256 of the RFC 8785 (JCS) bytes
//! of the body: [`Agreement::hash`]. Parsers recompute it and refuse a mismatch. It is the
//! agreement's identity for revocations.
//!
//! `signatures` has at most one member per party, named by its node ID:
//!
//! | member | type | rule |
//! |---|---|---|
//! | `kid` | string | the `kid` of the party's entry in `keys` |
//! | `signed_at` | integer | when the party signed, Unix seconds up to 2^53 - 1 |
//! | `sig` | string | unpadded base64url of the 64-byte Ed25519 signature |
//!
//! Each party signs, with the key the body embeds for it,
//!
//! ```text
//! "treaty-federation-agreement/v1\n" || agreement_hash || "\n" || decimal(signed_at)
//! ```
//!
//! ([`agreement_signing_input`]). The domain separator keeps the signature from being
//! replayed as any other Treaty signature; signing the hash (rather than the body) keeps
//! both parties' signatures independent of each other's; `signed_at` is signed so that a
//! relaying party cannot restate when its counterpart signed.
//!
//! The embedded keys make an agreement self-verifying, which is what lets either party (or
//! an auditor) check it long after a key rotation. Whether an embedded key really is the
//! party's is for the receiver to check against the party's JWKS, once, when the agreement
//! is formed.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Map, Value};

use crate::FedError;
use crate::doc::{Offer, Signed, b64url, b64url_array, check_type};
use crate::error::clip;
use crate::json::{
    Obj, check_count, check_hash, check_id, check_kid, check_node_id, check_time, invalid, jcs,
    pointer, sha256_jcs, wrong_type,
};
use crate::level::TrustLevel;
use crate::limits::DOCUMENT_BYTES_MAX;
use crate::terms::Terms;

/// Prefix of the bytes a party signs (see the module documentation).
pub const AGREEMENT_SIGNING_DOMAIN: &[u8] = b"treaty-federation-agreement/v1\n";

/// The members of an agreement body.
const AGREEMENT_MEMBERS: &[&str] = &[
    "type",
    "agreement_id",
    "proposal_id",
    "parties",
    "trust_level",
    "terms",
    "established_at",
    "offer_hash",
    "keys",
];

/// The bytes a party signs: [`AGREEMENT_SIGNING_DOMAIN`], the agreement hash, a line feed
/// and `signed_at` in decimal.
#[must_use]
pub fn agreement_signing_input(agreement_hash: &str, signed_at: u64) -> Vec<u8> {
    let signed_at = signed_at.to_string();
    let mut input = Vec::with_capacity(
        AGREEMENT_SIGNING_DOMAIN.len() + agreement_hash.len() + 1 + signed_at.len(),
    );
    input.extend_from_slice(AGREEMENT_SIGNING_DOMAIN);
    input.extend_from_slice(agreement_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(signed_at.as_bytes());
    input
}

/// A party's key as the agreement embeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyKey {
    /// The key ID in the party's JWKS.
    pub kid: String,
    /// The Ed25519 public key.
    pub x: [u8; 32],
}

impl PartyKey {
    /// The entry for `key`, named `kid`.
    #[must_use]
    pub fn new(kid: &str, key: &VerifyingKey) -> Self {
        Self {
            kid: kid.to_owned(),
            x: key.to_bytes(),
        }
    }

    /// The public key, if `x` is a valid Ed25519 point of large order.
    ///
    /// # Errors
    /// [`FedError::InvalidField`] naming `path`.
    fn verifying_key(&self, path: &str) -> Result<VerifyingKey, FedError> {
        VerifyingKey::from_bytes(&self.x)
            .ok()
            .filter(|k| !k.is_weak())
            .ok_or_else(|| invalid(path, "not an Ed25519 public key of large order"))
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kid".into(), self.kid.as_str().into());
        m.insert("x".into(), b64url(&self.x).into());
        Value::Object(m)
    }
}

/// The body of an agreement: what both parties sign (through its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The agreement's ID.
    pub agreement_id: String,
    /// The negotiation that produced it.
    pub proposal_id: String,
    /// `[proposer, target]`.
    pub parties: [String; 2],
    /// The agreed level.
    pub trust_level: TrustLevel,
    /// The agreed terms.
    pub terms: Terms,
    /// When the agreement was formed.
    pub established_at: u64,
    /// [`Signed::hash`] of the accepted offer.
    pub offer_hash: String,
    /// Each party's signing key, by node ID.
    pub keys: BTreeMap<String, PartyKey>,
}

impl Agreement {
    /// The `type` member.
    pub const TYPE: &'static str = "treaty.trust-agreement/v1";

    /// The agreement that accepts `offer` as it stands.
    ///
    /// `keys` holds each party's key, by node ID, taken from the parties' JWKS by the
    /// caller.
    ///
    /// # Errors
    /// Whatever [`Agreement::validate`] refuses (for example `keys` naming other nodes).
    pub fn from_offer(
        offer: &Signed<Offer>,
        agreement_id: &str,
        established_at: u64,
        keys: BTreeMap<String, PartyKey>,
    ) -> Result<Agreement, FedError> {
        let o = &offer.body;
        let agreement = Agreement {
            agreement_id: agreement_id.to_owned(),
            proposal_id: o.proposal_id.clone(),
            parties: [o.proposer.clone(), o.target.clone()],
            trust_level: o.trust_level,
            terms: o.terms.clone(),
            established_at,
            offer_hash: offer.hash(),
            keys,
        };
        agreement.validate()?;
        Ok(agreement)
    }

    /// Whether `node_id` is one of the two parties.
    #[must_use]
    pub fn is_party(&self, node_id: &str) -> bool {
        self.parties.iter().any(|p| p == node_id)
    }

    /// The party other than `node_id`, if `node_id` is a party.
    #[must_use]
    pub fn other_party(&self, node_id: &str) -> Option<&str> {
        let [a, b] = &self.parties;
        if a == node_id {
            Some(b)
        } else if b == node_id {
            Some(a)
        } else {
            None
        }
    }

    /// Checks every rule of the body (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::InvalidField`], [`FedError::InvalidNodeId`],
    /// [`FedError::TimestampOutOfRange`] and what [`Terms::validate`] refuses.
    pub fn validate(&self) -> Result<(), FedError> {
        check_id("/agreement_id", &self.agreement_id)?;
        check_id("/proposal_id", &self.proposal_id)?;
        let [a, b] = &self.parties;
        check_node_id("/parties/0", a)?;
        check_node_id("/parties/1", b)?;
        if a == b {
            return Err(invalid("/parties", "a node cannot federate with itself"));
        }
        self.terms.validate_at("/terms")?;
        check_time("established_at", self.established_at)?;
        check_hash("/offer_hash", &self.offer_hash)?;
        if self.keys.len() != 2 || !self.keys.keys().all(|k| self.is_party(k)) {
            return Err(invalid("/keys", "must hold exactly the two parties' keys"));
        }
        for (node, key) in &self.keys {
            let at = pointer("/keys", node);
            check_kid(&pointer(&at, "kid"), &key.kid)?;
            key.verifying_key(&pointer(&at, "x"))?;
        }
        let mut xs = self.keys.values().map(|k| k.x);
        if xs.next() == xs.next() {
            return Err(invalid("/keys", "the two parties have the same key"));
        }
        Ok(())
    }

    /// The JSON form of the body: every member but `agreement_hash` and `signatures`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Self::TYPE.into());
        m.insert("agreement_id".into(), self.agreement_id.as_str().into());
        m.insert("proposal_id".into(), self.proposal_id.as_str().into());
        m.insert(
            "parties".into(),
            Value::Array(self.parties.iter().map(|p| p.as_str().into()).collect()),
        );
        m.insert("trust_level".into(), self.trust_level.as_u8().into());
        m.insert("terms".into(), self.terms.to_value());
        m.insert("established_at".into(), self.established_at.into());
        m.insert("offer_hash".into(), self.offer_hash.as_str().into());
        let keys: Map<String, Value> = self
            .keys
            .iter()
            .map(|(node, key)| (node.clone(), key.to_value()))
            .collect();
        m.insert("keys".into(), Value::Object(keys));
        Value::Object(m)
    }

    /// Parses and validates an agreement body (no `agreement_hash`, no `signatures`).
    ///
    /// # Errors
    /// [`FedError::WrongDocumentType`], the structural errors and whatever
    /// [`Agreement::validate`] refuses.
    pub fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        check_type(&o, Self::TYPE)?;
        o.only(AGREEMENT_MEMBERS)?;
        let parties = o.array("parties")?;
        let party = |i: usize| -> Result<String, FedError> {
            parties
                .get(i)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| wrong_type(&o.at("parties"), "an array of two node IDs"))
        };
        if parties.len() != 2 {
            return Err(wrong_type(&o.at("parties"), "an array of two node IDs"));
        }
        let k = o.obj("keys")?;
        check_count("agreement keys", k.map().len(), 2)?;
        let mut keys = BTreeMap::new();
        for (node, value) in k.map() {
            let e = Obj::new(value, &k.at(node))?;
            e.only(&["kid", "x"])?;
            let x = b64url_array::<32>(e.str("x")?).ok_or_else(|| {
                invalid(
                    &e.at("x"),
                    "not unpadded base64url of a 32-byte Ed25519 key",
                )
            })?;
            keys.insert(
                node.clone(),
                PartyKey {
                    kid: e.str("kid")?.to_owned(),
                    x,
                },
            );
        }
        let agreement = Agreement {
            agreement_id: o.str("agreement_id")?.to_owned(),
            proposal_id: o.str("proposal_id")?.to_owned(),
            parties: [party(0)?, party(1)?],
            trust_level: TrustLevel::from_u64(o.u64("trust_level")?)?,
            terms: Terms::from_value_at(o.req("terms")?, "/terms")?,
            established_at: o.time("established_at")?,
            offer_hash: o.str("offer_hash")?.to_owned(),
            keys,
        };
        agreement.validate()?;
        Ok(agreement)
    }

    /// The agreement hash: `sha256:<64 hex>` of SHA-256 over the JCS form of
    /// [`Agreement::to_value`]. JCS sorts members, so the hash depends only on the content.
    #[must_use]
    pub fn hash(&self) -> String {
        sha256_jcs(&self.to_value())
    }
}

/// One party's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartySignature {
    /// The `kid` of the party's embedded key.
    pub kid: String,
    /// When the party signed.
    pub signed_at: u64,
    /// Ed25519 signature over [`agreement_signing_input`].
    pub sig: [u8; 64],
}

impl PartySignature {
    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kid".into(), self.kid.as_str().into());
        m.insert("signed_at".into(), self.signed_at.into());
        m.insert("sig".into(), b64url(&self.sig).into());
        Value::Object(m)
    }

    fn from_value(value: &Value, path: &str) -> Result<Self, FedError> {
        let o = Obj::new(value, path)?;
        o.only(&["kid", "signed_at", "sig"])?;
        let kid = o.str("kid")?;
        check_kid(&o.at("kid"), kid)?;
        let sig = b64url_array::<64>(o.str("sig")?).ok_or_else(|| {
            invalid(
                &o.at("sig"),
                "not unpadded base64url of a 64-byte signature",
            )
        })?;
        Ok(Self {
            kid: kid.to_owned(),
            signed_at: o.time("signed_at")?,
            sig,
        })
    }
}

/// An agreement with the signatures collected so far (none, one or both parties').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAgreement {
    /// The body.
    pub agreement: Agreement,
    /// Signatures by node ID.
    pub signatures: BTreeMap<String, PartySignature>,
}

impl SignedAgreement {
    /// `agreement` without signatures.
    #[must_use]
    pub fn new(agreement: Agreement) -> Self {
        Self {
            agreement,
            signatures: BTreeMap::new(),
        }
    }

    /// The agreement hash ([`Agreement::hash`]).
    #[must_use]
    pub fn hash(&self) -> String {
        self.agreement.hash()
    }

    /// Adds (or replaces) `node_id`'s signature, made with `key` at `now`.
    ///
    /// # Errors
    /// What [`Agreement::validate`] refuses, [`FedError::NotAParty`],
    /// [`FedError::KeyMismatch`] when `key` is not the key embedded for `node_id`, and
    /// [`FedError::TimestampOutOfRange`].
    pub fn sign_as(&mut self, node_id: &str, key: &SigningKey, now: u64) -> Result<(), FedError> {
        self.agreement.validate()?;
        let embedded = self
            .agreement
            .keys
            .get(node_id)
            .ok_or_else(|| FedError::NotAParty {
                node_id: clip(node_id),
            })?;
        if key.verifying_key().to_bytes() != embedded.x {
            return Err(FedError::KeyMismatch {
                node_id: node_id.to_owned(),
            });
        }
        check_time("signed_at", now)?;
        let sig = key.sign(&agreement_signing_input(&self.hash(), now));
        let signature = PartySignature {
            kid: embedded.kid.clone(),
            signed_at: now,
            sig: sig.to_bytes(),
        };
        self.signatures.insert(node_id.to_owned(), signature);
        Ok(())
    }

    /// Verifies `node_id`'s signature with the key the agreement embeds for it.
    ///
    /// # Errors
    /// [`FedError::NotAParty`], [`FedError::MissingPartySignature`],
    /// [`FedError::KeyMismatch`] (the signature names another `kid`),
    /// [`FedError::InvalidField`] (an embedded key that is no Ed25519 key) and
    /// [`FedError::BadAgreementSignature`].
    pub fn verify_party(&self, node_id: &str) -> Result<(), FedError> {
        if !self.agreement.is_party(node_id) {
            return Err(FedError::NotAParty {
                node_id: clip(node_id),
            });
        }
        let signature =
            self.signatures
                .get(node_id)
                .ok_or_else(|| FedError::MissingPartySignature {
                    node_id: node_id.to_owned(),
                })?;
        let embedded = self
            .agreement
            .keys
            .get(node_id)
            .ok_or_else(|| FedError::KeyMismatch {
                node_id: node_id.to_owned(),
            })?;
        if signature.kid != embedded.kid {
            return Err(FedError::KeyMismatch {
                node_id: node_id.to_owned(),
            });
        }
        let key = embedded.verifying_key(&pointer(&pointer("/keys", node_id), "x"))?;
        let bad = || FedError::BadAgreementSignature {
            node_id: node_id.to_owned(),
        };
        check_time("signed_at", signature.signed_at).map_err(|_| bad())?;
        key.verify_strict(
            &agreement_signing_input(&self.hash(), signature.signed_at),
            &Signature::from_bytes(&signature.sig),
        )
        .map_err(|_| bad())
    }

    /// Whether both parties, and no one else, have signed. Does not verify: see
    /// [`SignedAgreement::verify_complete`].
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.signatures.len() == 2
            && self
                .agreement
                .parties
                .iter()
                .all(|p| self.signatures.contains_key(p))
    }

    /// Checks that the agreement is valid, signed by both parties and nobody else, and that
    /// both signatures verify.
    ///
    /// # Errors
    /// What [`Agreement::validate`] and [`SignedAgreement::verify_party`] refuse, and
    /// [`FedError::NotAParty`] for a signature by another node.
    pub fn verify_complete(&self) -> Result<(), FedError> {
        self.agreement.validate()?;
        if let Some(other) = self.signatures.keys().find(|n| !self.agreement.is_party(n)) {
            return Err(FedError::NotAParty {
                node_id: clip(other),
            });
        }
        for party in &self.agreement.parties {
            self.verify_party(party)?;
        }
        Ok(())
    }

    /// The JSON form: the body's members, `agreement_hash` and `signatures`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut value = self.agreement.to_value();
        if let Value::Object(m) = &mut value {
            m.insert("agreement_hash".into(), self.hash().into());
            let sigs: Map<String, Value> = self
                .signatures
                .iter()
                .map(|(node, s)| (node.clone(), s.to_value()))
                .collect();
            m.insert("signatures".into(), Value::Object(sigs));
        }
        value
    }

    /// Parses a signed agreement strictly, recomputes its hash and verifies every signature
    /// it carries (the keys are in the document). It may carry fewer than two signatures;
    /// [`SignedAgreement::verify_complete`] requires both.
    ///
    /// Checks, in order: JSON object, canonical-JSON rules and size (at most
    /// [`DOCUMENT_BYTES_MAX`] bytes of JCS), `type`, members, body, hash, signatures.
    ///
    /// # Errors
    /// The structural errors, [`FedError::WrongDocumentType`],
    /// [`FedError::AgreementHashMismatch`], [`FedError::TooMany`], [`FedError::NotAParty`]
    /// and what [`SignedAgreement::verify_party`] refuses.
    pub fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        jcs("agreement", v, DOCUMENT_BYTES_MAX)?;
        check_type(&o, Agreement::TYPE)?;
        let mut members = AGREEMENT_MEMBERS.to_vec();
        members.extend(["agreement_hash", "signatures"]);
        o.only(&members)?;
        let stated = o.str("agreement_hash")?;
        let sigs = o.obj("signatures")?;
        let mut body = o.map().clone();
        body.remove("agreement_hash");
        body.remove("signatures");
        let agreement = Agreement::from_value(&Value::Object(body))?;
        let computed = agreement.hash();
        if stated != computed {
            return Err(FedError::AgreementHashMismatch {
                stated: clip(stated),
                computed,
            });
        }
        check_count("agreement signatures", sigs.map().len(), 2)?;
        let mut signatures = BTreeMap::new();
        for (node, value) in sigs.map() {
            if !agreement.is_party(node) {
                return Err(FedError::NotAParty {
                    node_id: clip(node),
                });
            }
            signatures.insert(
                node.clone(),
                PartySignature::from_value(value, &sigs.at(node))?,
            );
        }
        let signed = SignedAgreement {
            agreement,
            signatures,
        };
        for node in signed.signatures.keys() {
            signed.verify_party(node)?;
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::*;

    fn signed() -> SignedAgreement {
        agreement_for(&sign_offer(offer1()), NOW + 100)
    }

    #[test]
    fn round_trip_and_shape() {
        let s = signed();
        assert!(s.is_complete());
        s.verify_complete().expect("verifies");
        let v = s.to_value();
        let back = SignedAgreement::from_value(&v).expect("parses");
        assert_eq!(back, s);
        assert_eq!(back.to_value(), v);
        let m = v.as_object().expect("object");
        let members: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            members,
            [
                "type",
                "agreement_id",
                "proposal_id",
                "parties",
                "trust_level",
                "terms",
                "established_at",
                "offer_hash",
                "keys",
                "agreement_hash",
                "signatures"
            ]
        );
        assert_eq!(v["parties"], json!([A, B]));
        assert_eq!(v["agreement_hash"], json!(s.hash()));
        assert_eq!(
            v["keys"][A],
            json!({"kid": "kid-a", "x": b64url(&key_a().verifying_key().to_bytes())})
        );
        assert_eq!(
            v["signatures"][B],
            json!({"kid": "kid-b", "signed_at": NOW + 105, "sig": b64url(&s.signatures[B].sig)})
        );
        // Half-signed agreements travel too.
        let mut half = s.clone();
        half.signatures.remove(A);
        let back = SignedAgreement::from_value(&half.to_value()).expect("half");
        assert!(!back.is_complete());
        assert_eq!(
            back.verify_complete().expect_err("half").code(),
            "missing_party_signature"
        );
        back.verify_party(B).expect("B's verifies");
        // The body alone round-trips as well.
        assert_eq!(
            Agreement::from_value(&s.agreement.to_value()),
            Ok(s.agreement.clone())
        );
    }

    #[test]
    fn from_offer_copies_the_offer() {
        let offer = sign_offer(offer1());
        let a = Agreement::from_offer(&offer, "agr-1", NOW + 1, keys()).expect("agreement");
        assert_eq!(a.proposal_id, "p-1");
        assert_eq!(a.parties, [A.to_owned(), B.to_owned()]);
        assert_eq!(a.trust_level, offer.body.trust_level);
        assert_eq!(a.terms, offer.body.terms);
        assert_eq!(a.offer_hash, offer.hash());
        assert_eq!(a.other_party(A), Some(B));
        assert_eq!(a.other_party(B), Some(A));
        assert_eq!(a.other_party(C), None);
        let mut wrong = keys();
        wrong.remove(B);
        wrong.insert(C.into(), PartyKey::new("kid-c", &key_c().verifying_key()));
        assert_eq!(
            Agreement::from_offer(&offer, "agr-1", NOW, wrong)
                .expect_err("C")
                .code(),
            "invalid_field"
        );
        assert_eq!(
            Agreement::from_offer(&offer, "agr 1", NOW, keys())
                .expect_err("id")
                .code(),
            "invalid_field"
        );
    }

    #[test]
    fn hash_ignores_member_order() {
        let s = signed();
        let v = s.to_value();
        // Rebuild the object with members in reverse order, nested ones too.
        fn reversed(v: &Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .rev()
                        .map(|(k, x)| (k.clone(), reversed(x)))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        let r = reversed(&v);
        assert_ne!(
            serde_json::to_string(&r).expect("json"),
            serde_json::to_string(&v).expect("json")
        );
        let back = SignedAgreement::from_value(&r).expect("parses");
        assert_eq!(back.hash(), s.hash());
        assert_eq!(back, s);
    }

    #[test]
    fn sign_as_checks_party_and_key() {
        let a = signed().agreement;
        let mut s = SignedAgreement::new(a);
        assert_eq!(
            s.sign_as(C, &key_c(), NOW).expect_err("C").code(),
            "not_a_party"
        );
        assert_eq!(
            s.sign_as(A, &key_b(), NOW).expect_err("B's key").code(),
            "key_mismatch"
        );
        assert_eq!(
            s.sign_as(A, &key_a(), u64::MAX).expect_err("time").code(),
            "timestamp_out_of_range"
        );
        assert!(s.signatures.is_empty());
        assert_eq!(
            s.verify_party(A).expect_err("none").code(),
            "missing_party_signature"
        );
        assert_eq!(s.verify_party(C).expect_err("C").code(), "not_a_party");
        s.sign_as(A, &key_a(), NOW).expect("signs");
        assert!(!s.is_complete());
        s.verify_party(A).expect("verifies");
    }

    #[test]
    fn verification_failures_have_codes() {
        let s = signed();
        // A signature with the right kid but made by another key.
        let mut t = s.clone();
        if let Some(sig) = t.signatures.get_mut(A) {
            sig.sig = key_c()
                .sign(&agreement_signing_input(&s.hash(), sig.signed_at))
                .to_bytes();
        }
        assert_eq!(
            t.verify_party(A).expect_err("C's sig").code(),
            "bad_agreement_signature"
        );
        // signed_at is signed.
        let mut t = s.clone();
        if let Some(sig) = t.signatures.get_mut(A) {
            sig.signed_at += 1;
        }
        assert_eq!(
            t.verify_party(A).expect_err("time").code(),
            "bad_agreement_signature"
        );
        // kid must be the embedded key's.
        let mut t = s.clone();
        if let Some(sig) = t.signatures.get_mut(A) {
            sig.kid = "kid-x".into();
        }
        assert_eq!(t.verify_party(A).expect_err("kid").code(), "key_mismatch");
        // Changing the body invalidates both signatures.
        let mut t = s.clone();
        t.agreement.terms.retention_days += 1;
        assert_eq!(
            t.verify_complete().expect_err("body").code(),
            "bad_agreement_signature"
        );
        // A third signature is refused.
        let mut t = s.clone();
        t.signatures.insert(C.into(), s.signatures[A].clone());
        assert!(!t.is_complete());
        assert_eq!(t.verify_complete().expect_err("C").code(), "not_a_party");
    }

    #[test]
    fn parse_rules_have_codes() {
        let s = signed();
        let v = s.to_value();
        let sigs = &v["signatures"];
        let keys_v = &v["keys"];
        let other_hash = format!("sha256:{}", "cd".repeat(32));
        let mut same_key = keys_v.clone();
        same_key[B] = keys_v[A].clone();
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "wrong_type"),
            (
                with(&v, "type", json!("treaty.trust-offer/v1")),
                "wrong_document_type",
            ),
            (with(&v, "extra", json!(0)), "unknown_field"),
            (
                with(&v, "extra", json!("x".repeat(DOCUMENT_BYTES_MAX))),
                "too_large",
            ),
            (without(&v, "agreement_hash"), "missing_field"),
            (without(&v, "signatures"), "missing_field"),
            (
                with(&v, "agreement_hash", json!(other_hash)),
                "agreement_hash_mismatch",
            ),
            (with(&v, "trust_level", json!(1)), "agreement_hash_mismatch"),
            (with(&v, "trust_level", json!(9)), "invalid_trust_level"),
            (with(&v, "parties", json!([A])), "wrong_type"),
            (with(&v, "parties", json!([A, B, C])), "wrong_type"),
            (with(&v, "parties", json!([A, 1])), "wrong_type"),
            (with(&v, "parties", json!([A, A])), "invalid_field"),
            (with(&v, "parties", json!([A, "B"])), "invalid_node_id"),
            (
                with(&v, "parties", json!([B, A])),
                "agreement_hash_mismatch",
            ),
            (with(&v, "offer_hash", json!("sha256:")), "invalid_field"),
            (with(&v, "established_at", json!(-5)), "wrong_type"),
            (with(&v, "keys", json!({})), "invalid_field"),
            (
                with(&v, "keys", with(keys_v, C, keys_v[A].clone())),
                "too_many",
            ),
            (
                with(&v, "keys", with(keys_v, A, json!({"kid": "kid-a"}))),
                "missing_field",
            ),
            (
                with(
                    &v,
                    "keys",
                    with(keys_v, A, json!({"kid": "kid-a", "x": "AAAA"})),
                ),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "keys",
                    with(keys_v, A, with(&keys_v[A], "crv", json!("Ed25519"))),
                ),
                "unknown_field",
            ),
            (
                with(
                    &v,
                    "keys",
                    with(keys_v, A, with(&keys_v[A], "kid", json!(""))),
                ),
                "invalid_field",
            ),
            // The identity point (small order) is no key.
            (
                with(
                    &v,
                    "keys",
                    with(
                        keys_v,
                        A,
                        with(
                            &keys_v[A],
                            "x",
                            json!(b64url(&{
                                let mut id = [0_u8; 32];
                                id[0] = 1;
                                id
                            })),
                        ),
                    ),
                ),
                "invalid_field",
            ),
            (with(&v, "keys", same_key), "invalid_field"),
            (with(&v, "signatures", json!([])), "wrong_type"),
            (
                with(&v, "signatures", with(sigs, C, sigs[A].clone())),
                "too_many",
            ),
            (
                with(&v, "signatures", json!({C: sigs[A].clone()})),
                "not_a_party",
            ),
            (
                with(
                    &v,
                    "signatures",
                    with(sigs, A, with(&sigs[A], "sig", json!("!"))),
                ),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "signatures",
                    with(sigs, A, with(&sigs[A], "kid", json!("kid-b"))),
                ),
                "key_mismatch",
            ),
            (
                with(
                    &v,
                    "signatures",
                    with(sigs, A, with(&sigs[A], "signed_at", json!(1))),
                ),
                "bad_agreement_signature",
            ),
            (
                with(
                    &v,
                    "signatures",
                    with(sigs, A, without(&sigs[A], "signed_at")),
                ),
                "missing_field",
            ),
            (
                with(
                    &v,
                    "signatures",
                    with(sigs, A, with(&sigs[A], "extra", json!(1))),
                ),
                "unknown_field",
            ),
            (
                with(&v, "signatures", with(sigs, A, sigs[B].clone())),
                "key_mismatch",
            ),
        ];
        for (value, code) in cases {
            let err = SignedAgreement::from_value(&value).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn signing_input_is_domain_separated() {
        assert_eq!(
            agreement_signing_input("sha256:00", 42),
            b"treaty-federation-agreement/v1\nsha256:00\n42".to_vec()
        );
    }
}
