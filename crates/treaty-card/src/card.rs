//! The signed core of a registry card: the members an operator configures, which the node
//! signs and from which the ETag is computed.
//!
//! The JSON form is closed: every member is listed here, unknown members are refused, and
//! optional members are omitted when absent (`null` is used only for a collection without a
//! schema). Lists are sorted and duplicate-free, so one card has exactly one canonical
//! encoding and its signature and ETag depend only on what the operator configured.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use treaty_note::{KEY_TYPE_ED25519, VerifierKey};
use treaty_types::{CollectionName, canonicalize};

use crate::CardError;
use crate::error::clip;
use crate::json::{Obj, pointer_index};
use crate::limits::{
    CAPABILITIES_MAX, CAPABILITY_BYTES_MAX, COLLECTIONS_MAX, CONTACT_BYTES_MAX,
    LEDGER_ORIGIN_BYTES_MAX, NAME_BYTES_MAX, SCHEMA_VERSION_BYTES_MAX,
    SPIFFE_TRUST_DOMAIN_BYTES_MAX, TRUST_LEVEL_MAX,
};
use crate::urls::{check_card_url, is_under};

/// The `card_version` of this format. A verifier refuses any other version rather than
/// guess at the meaning of members it does not know.
pub const CARD_VERSION: &str = "treaty.registry-card/v1";

/// The members of the signed core, in the order [`CardCore::to_value`] writes them (JCS
/// sorts them anyway).
const CORE_MEMBERS: &[&str] = &[
    "card_version",
    "node_id",
    "name",
    "base_url",
    "endpoints",
    "ledger",
    "collections",
    "trust_policy",
    "policy_hash",
    "capabilities",
    "operator",
    "mtls",
];

/// The members of `endpoints`; all are required.
const ENDPOINT_MEMBERS: &[&str] = &[
    "federation",
    "witness",
    "sync",
    "records",
    "discover",
    "checkpoint",
    "jwks",
];

/// The prefix of every hash in a card.
const SHA256_PREFIX: &str = "sha256:";

/// The signed core of a registry card.
///
/// Its JSON form (see [`CardCore::to_value`]) has these members, all signed:
///
/// | member | type | meaning |
/// |---|---|---|
/// | `card_version` | string | always [`CARD_VERSION`] |
/// | `node_id` | string | [`CardCore::node_id`] |
/// | `name` | string | [`CardCore::name`] |
/// | `base_url` | string | [`CardCore::base_url`] |
/// | `endpoints` | object | [`Endpoints`] |
/// | `ledger` | object | [`Ledger`] |
/// | `collections` | array | [`CollectionInfo`], sorted by name |
/// | `trust_policy` | object | [`TrustPolicy`] |
/// | `policy_hash` | string | `sha256:<hex>` of JCS(`trust_policy`), derived: see [`TrustPolicy::hash`] |
/// | `capabilities` | array of strings | [`CardCore::capabilities`], sorted |
/// | `operator` | object | [`Operator`] |
/// | `mtls` | object, optional | [`Mtls`] |
///
/// `card_version` and `policy_hash` are not fields: the first is fixed and the second is
/// computed, so a `CardCore` can never state a wrong one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCore {
    /// The node's permanent identity: a UUID in lower-case hyphenated form
    /// (`8-4-4-4-12` hex digits). Peers key their records of this node on it, so it survives
    /// renames and moves to another URL.
    pub node_id: String,
    /// Human-readable registry name: 1 to [`NAME_BYTES_MAX`] bytes, no control characters.
    pub name: String,
    /// The node's public base URL, from configuration (never from a request's `Host`): an
    /// absolute `http`/`https` URL with lower-case host, no default port, no trailing slash,
    /// query or fragment. Its origin must be the origin the card is fetched from, and every
    /// other URL in the card lies under it.
    pub base_url: String,
    /// Where the node's APIs live.
    pub endpoints: Endpoints,
    /// The node's transparency log.
    pub ledger: Ledger,
    /// The collections the node serves, sorted by name without duplicates.
    pub collections: Vec<CollectionInfo>,
    /// Whether and how the node takes federation proposals.
    pub trust_policy: TrustPolicy,
    /// Curated capability tokens peers may rely on (`[a-z0-9._:/-]`, 1 to
    /// [`CAPABILITY_BYTES_MAX`] bytes each), sorted without duplicates.
    pub capabilities: Vec<String>,
    /// Who runs the node.
    pub operator: Operator,
    /// The node's mutual-TLS identity, when it federates over mTLS.
    pub mtls: Option<Mtls>,
}

/// The `endpoints` object: absolute URLs, each under `base_url`.
///
/// `jwks` says where the node publishes the keys that sign this card. It is informative: a
/// verifier uses keys it already trusts or fetched from the peer's own origin, and since
/// `jwks` must lie under `base_url`, whose origin must equal the fetch origin, it can only
/// ever point back to that origin. This crate never dereferences any URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Federation API (proposals, agreements).
    pub federation: String,
    /// Witness API (c2sp.org/tlog-witness `add-checkpoint`).
    pub witness: String,
    /// Peer sync API.
    pub sync: String,
    /// Records API (`/v1/records`).
    pub records: String,
    /// Discovery (search) API.
    pub discover: String,
    /// The latest signed checkpoint.
    pub checkpoint: String,
    /// The JWKS with the keys that sign this card.
    pub jwks: String,
}

/// The `ledger` object: how to check the node's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// The checkpoint origin line (c2sp.org/tlog-checkpoint), e.g. `registry.example.com`.
    pub origin: String,
    /// The log's C2SP verifier key, `<name>+<hex key ID>+<base64>`, of type `0x01`
    /// (Ed25519), named exactly `origin`.
    pub verifier_key: String,
    /// Where the latest checkpoint is served; under `base_url`.
    pub checkpoint_url: String,
}

/// One entry of `collections`.
///
/// JSON: `{"name": ..., "schema_version": ..., "schema_hash": ...}` where the last two are
/// both strings when the collection has a schema and both `null` when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// The collection name (`[a-z][a-z0-9-]{0,63}`, as `treaty_types::CollectionName`).
    pub name: String,
    /// The collection's schema, if it has one.
    pub schema: Option<SchemaRef>,
}

/// Identifies a collection schema, so peers can tell when schemas drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRef {
    /// Operator-chosen version, 1 to [`SCHEMA_VERSION_BYTES_MAX`] printable ASCII bytes
    /// (member `schema_version`).
    pub version: String,
    /// `sha256:<64 lower-case hex>` over the JCS form of the schema (member `schema_hash`).
    pub hash: String,
}

/// The `trust_policy` object, as in the federation discovery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Whether the node accepts federation proposals at all.
    pub accepts_proposals: bool,
    /// The lowest trust level (0 to [`TRUST_LEVEL_MAX`]) the node federates at.
    pub min_trust_level: u8,
    /// Whether federation must be mutual (both sides list each other).
    pub requires_mutual: bool,
}

/// The `operator` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operator {
    /// How to reach the operator (an address or URL), 1 to [`CONTACT_BYTES_MAX`] bytes, no
    /// control characters. Omitted from the JSON when `None`.
    pub contact: Option<String>,
}

/// The `mtls` object: the identity the node presents in mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mtls {
    /// `spiffe://<trust-domain>/registry`, the trust domain being lower-case letters,
    /// digits, `.`, `-` and `_` (SPIFFE ID standard, section 2.1).
    pub spiffe_id: String,
    /// `sha256:<64 lower-case hex>` of the DER trust bundle CA certificate, if pinned.
    /// Omitted from the JSON when `None`.
    pub ca_fingerprint: Option<String>,
}

impl TrustPolicy {
    /// The JSON form: `{"accepts_proposals":bool,"min_trust_level":int,"requires_mutual":bool}`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        json!({
            "accepts_proposals": self.accepts_proposals,
            "min_trust_level": self.min_trust_level,
            "requires_mutual": self.requires_mutual,
        })
    }

    /// `sha256:<hex>` of SHA-256 over the JCS form of [`TrustPolicy::to_value`]: the
    /// card's `policy_hash`, which peers compare to notice policy drift without parsing.
    ///
    /// # Errors
    /// None in practice (the policy has only booleans and a small integer); the canonicalizer's
    /// error is passed on rather than assumed away.
    pub fn hash(&self) -> Result<String, CardError> {
        let bytes = canonicalize(&self.to_value()).map_err(|source| CardError::UnsafeJson {
            what: "trust_policy",
            source,
        })?;
        Ok(format!(
            "{SHA256_PREFIX}{}",
            hex::encode(Sha256::digest(&bytes))
        ))
    }
}

impl CardCore {
    /// Sorts `collections` by name and sorts and de-duplicates `capabilities`, the two
    /// orderings [`CardCore::validate`] requires. Collections with the same name are kept,
    /// so that the mistake is reported rather than one of them silently dropped.
    pub fn normalize(&mut self) {
        self.collections.sort_by(|a, b| a.name.cmp(&b.name));
        self.capabilities.sort();
        self.capabilities.dedup();
    }

    /// Checks every rule of the format that does not involve signatures or the fetch URL.
    /// [`crate::sign_card`] calls it, so a node cannot sign a card verifiers would refuse.
    ///
    /// # Errors
    /// [`CardError::InvalidNodeId`], [`CardError::InvalidField`], [`CardError::InvalidUrl`],
    /// [`CardError::EndpointOutsideBase`], [`CardError::InvalidVerifierKey`],
    /// [`CardError::WrongVerifierKeyType`], [`CardError::VerifierKeyNameMismatch`] and
    /// [`CardError::TooMany`].
    pub fn validate(&self) -> Result<(), CardError> {
        if !is_uuid(&self.node_id) {
            return Err(CardError::InvalidNodeId {
                value: clip(&self.node_id),
            });
        }
        check_text(&self.name, "/name", NAME_BYTES_MAX)?;
        check_card_url(&self.base_url, "/base_url")?;
        let e = &self.endpoints;
        for (member, url) in [
            ("federation", &e.federation),
            ("witness", &e.witness),
            ("sync", &e.sync),
            ("records", &e.records),
            ("discover", &e.discover),
            ("checkpoint", &e.checkpoint),
            ("jwks", &e.jwks),
        ] {
            self.check_under_base(url, &format!("/endpoints/{member}"))?;
        }
        self.check_ledger()?;
        self.check_collections()?;
        if self.trust_policy.min_trust_level > TRUST_LEVEL_MAX {
            return Err(invalid(
                "/trust_policy/min_trust_level",
                "trust levels are 0 to 4",
            ));
        }
        self.check_capabilities()?;
        if let Some(contact) = &self.operator.contact {
            check_text(contact, "/operator/contact", CONTACT_BYTES_MAX)?;
        }
        if let Some(mtls) = &self.mtls {
            if !is_spiffe_registry_id(&mtls.spiffe_id) {
                return Err(invalid(
                    "/mtls/spiffe_id",
                    "not spiffe://<trust-domain>/registry with a lower-case trust domain",
                ));
            }
            if let Some(fp) = &mtls.ca_fingerprint {
                if !is_sha256(fp) {
                    return Err(invalid(
                        "/mtls/ca_fingerprint",
                        "not sha256:<64 lower-case hex digits>",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A URL must be a valid card URL under `base_url`.
    fn check_under_base(&self, url: &str, path: &str) -> Result<(), CardError> {
        check_card_url(url, path)?;
        if is_under(url, &self.base_url) {
            Ok(())
        } else {
            Err(CardError::EndpointOutsideBase {
                path: path.to_owned(),
                url: clip(url),
                base_url: clip(&self.base_url),
            })
        }
    }

    /// The ledger's key must be a log key (type 0x01) named by the ledger's origin, so that
    /// the checkpoints the card points to can be checked with the key the card states.
    fn check_ledger(&self) -> Result<(), CardError> {
        let ledger = &self.ledger;
        check_text(&ledger.origin, "/ledger/origin", LEDGER_ORIGIN_BYTES_MAX)?;
        let key = VerifierKey::parse(&ledger.verifier_key)
            .map_err(|source| CardError::InvalidVerifierKey { source })?;
        if key.key_type() != KEY_TYPE_ED25519 {
            return Err(CardError::WrongVerifierKeyType {
                got: key.key_type(),
            });
        }
        if key.name() != ledger.origin {
            return Err(CardError::VerifierKeyNameMismatch {
                key_name: clip(key.name()),
                origin: clip(&ledger.origin),
            });
        }
        self.check_under_base(&ledger.checkpoint_url, "/ledger/checkpoint_url")
    }

    fn check_collections(&self) -> Result<(), CardError> {
        check_count("collections", self.collections.len(), COLLECTIONS_MAX)?;
        for (i, c) in self.collections.iter().enumerate() {
            let at = |member: &str| format!("/collections/{i}/{member}");
            if CollectionName::parse(&c.name).is_err() {
                return Err(invalid(
                    &at("name"),
                    "not a collection name [a-z][a-z0-9-]{0,63}",
                ));
            }
            if let Some(schema) = &c.schema {
                if schema.version.is_empty()
                    || schema.version.len() > SCHEMA_VERSION_BYTES_MAX
                    || !schema.version.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(invalid(
                        &at("schema_version"),
                        "not 1-64 printable ASCII characters",
                    ));
                }
                if !is_sha256(&schema.hash) {
                    return Err(invalid(
                        &at("schema_hash"),
                        "not sha256:<64 lower-case hex digits>",
                    ));
                }
            }
            if i > 0 && self.collections[i - 1].name >= c.name {
                return Err(invalid(
                    &at("name"),
                    "collections must be sorted by name, without duplicates",
                ));
            }
        }
        Ok(())
    }

    fn check_capabilities(&self) -> Result<(), CardError> {
        check_count("capabilities", self.capabilities.len(), CAPABILITIES_MAX)?;
        for (i, cap) in self.capabilities.iter().enumerate() {
            let path = format!("/capabilities/{i}");
            if cap.is_empty()
                || cap.len() > CAPABILITY_BYTES_MAX
                || !cap
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._:/-".contains(&b))
            {
                return Err(invalid(&path, "not 1-64 characters of [a-z0-9._:/-]"));
            }
            if i > 0 && self.capabilities[i - 1] >= *cap {
                return Err(invalid(
                    &path,
                    "capabilities must be sorted, without duplicates",
                ));
            }
        }
        Ok(())
    }

    /// The JSON form of the signed core, including `card_version` and the derived
    /// `policy_hash`.
    ///
    /// # Errors
    /// As [`TrustPolicy::hash`].
    pub fn to_value(&self) -> Result<Value, CardError> {
        let e = &self.endpoints;
        let collections: Vec<Value> = self
            .collections
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "schema_version": c.schema.as_ref().map(|s| s.version.as_str()),
                    "schema_hash": c.schema.as_ref().map(|s| s.hash.as_str()),
                })
            })
            .collect();
        let mut operator = Map::new();
        if let Some(contact) = &self.operator.contact {
            operator.insert("contact".into(), contact.as_str().into());
        }
        let mut core = json!({
            "card_version": CARD_VERSION,
            "node_id": self.node_id,
            "name": self.name,
            "base_url": self.base_url,
            "endpoints": {
                "federation": e.federation,
                "witness": e.witness,
                "sync": e.sync,
                "records": e.records,
                "discover": e.discover,
                "checkpoint": e.checkpoint,
                "jwks": e.jwks,
            },
            "ledger": {
                "origin": self.ledger.origin,
                "verifier_key": self.ledger.verifier_key,
                "checkpoint_url": self.ledger.checkpoint_url,
            },
            "collections": collections,
            "trust_policy": self.trust_policy.to_value(),
            "policy_hash": self.trust_policy.hash()?,
            "capabilities": self.capabilities,
            "operator": operator,
        });
        if let (Some(mtls), Some(obj)) = (&self.mtls, core.as_object_mut()) {
            let mut m = Map::new();
            m.insert("spiffe_id".into(), mtls.spiffe_id.as_str().into());
            if let Some(fp) = &mtls.ca_fingerprint {
                m.insert("ca_fingerprint".into(), fp.as_str().into());
            }
            obj.insert("mtls".into(), Value::Object(m));
        }
        Ok(core)
    }

    /// The RFC 8785 (JCS) bytes of [`CardCore::to_value`]: what the JWS signs and the ETag
    /// hashes.
    ///
    /// # Errors
    /// As [`CardCore::to_value`].
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CardError> {
        canonicalize(&self.to_value()?).map_err(|source| CardError::UnsafeJson {
            what: "card core",
            source,
        })
    }

    /// Parses and validates the signed core of a card: the card's JSON object without
    /// `signatures` and `volatile` (those two members are refused here like any unknown
    /// member).
    ///
    /// `card_version` is checked first, so that a card of a later version is reported as
    /// such rather than as a list of unknown members.
    ///
    /// # Errors
    /// [`CardError::UnknownCardVersion`], the structural errors ([`CardError::MissingField`],
    /// [`CardError::WrongType`], [`CardError::UnknownField`], [`CardError::TooMany`]),
    /// [`CardError::PolicyHashMismatch`] and everything [`CardCore::validate`] refuses.
    pub fn from_value(value: &Value) -> Result<Self, CardError> {
        let o = Obj::new(value, "")?;
        let version = o.str("card_version")?;
        if version != CARD_VERSION {
            return Err(CardError::UnknownCardVersion {
                found: clip(version),
            });
        }
        o.only(CORE_MEMBERS)?;

        let e = o.obj("endpoints")?;
        e.only(ENDPOINT_MEMBERS)?;
        let endpoints = Endpoints {
            federation: e.str("federation")?.to_owned(),
            witness: e.str("witness")?.to_owned(),
            sync: e.str("sync")?.to_owned(),
            records: e.str("records")?.to_owned(),
            discover: e.str("discover")?.to_owned(),
            checkpoint: e.str("checkpoint")?.to_owned(),
            jwks: e.str("jwks")?.to_owned(),
        };

        let l = o.obj("ledger")?;
        l.only(&["origin", "verifier_key", "checkpoint_url"])?;
        let ledger = Ledger {
            origin: l.str("origin")?.to_owned(),
            verifier_key: l.str("verifier_key")?.to_owned(),
            checkpoint_url: l.str("checkpoint_url")?.to_owned(),
        };

        let items = o.array("collections")?;
        check_count("collections", items.len(), COLLECTIONS_MAX)?;
        let mut collections = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = pointer_index("/collections", i);
            let c = Obj::new(item, &path)?;
            c.only(&["name", "schema_version", "schema_hash"])?;
            let schema = match (
                c.nullable_str("schema_version")?,
                c.nullable_str("schema_hash")?,
            ) {
                (Some(version), Some(hash)) => Some(SchemaRef {
                    version: version.to_owned(),
                    hash: hash.to_owned(),
                }),
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        &path,
                        "schema_version and schema_hash must both be set or both be null",
                    ));
                }
            };
            collections.push(CollectionInfo {
                name: c.str("name")?.to_owned(),
                schema,
            });
        }

        let t = o.obj("trust_policy")?;
        t.only(&["accepts_proposals", "min_trust_level", "requires_mutual"])?;
        let level = t.u64("min_trust_level")?;
        let trust_policy = TrustPolicy {
            accepts_proposals: t.bool("accepts_proposals")?,
            min_trust_level: u8::try_from(level)
                .ok()
                .filter(|l| *l <= TRUST_LEVEL_MAX)
                .ok_or_else(|| {
                    invalid("/trust_policy/min_trust_level", "trust levels are 0 to 4")
                })?,
            requires_mutual: t.bool("requires_mutual")?,
        };
        let stated = o.str("policy_hash")?;
        let computed = trust_policy.hash()?;
        if stated != computed {
            return Err(CardError::PolicyHashMismatch {
                stated: clip(stated),
                computed,
            });
        }

        let caps = o.array("capabilities")?;
        check_count("capabilities", caps.len(), CAPABILITIES_MAX)?;
        let capabilities = caps
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    crate::json::wrong_type(&pointer_index("/capabilities", i), "a string")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let op = o.obj("operator")?;
        op.only(&["contact"])?;
        let operator = Operator {
            contact: op.opt_str("contact")?.map(str::to_owned),
        };

        let mtls = match o.opt_obj("mtls")? {
            None => None,
            Some(m) => {
                m.only(&["spiffe_id", "ca_fingerprint"])?;
                Some(Mtls {
                    spiffe_id: m.str("spiffe_id")?.to_owned(),
                    ca_fingerprint: m.opt_str("ca_fingerprint")?.map(str::to_owned),
                })
            }
        };

        let core = CardCore {
            node_id: o.str("node_id")?.to_owned(),
            name: o.str("name")?.to_owned(),
            base_url: o.str("base_url")?.to_owned(),
            endpoints,
            ledger,
            collections,
            trust_policy,
            capabilities,
            operator,
            mtls,
        };
        core.validate()?;
        Ok(core)
    }
}

/// An [`CardError::InvalidField`].
fn invalid(path: &str, reason: &'static str) -> CardError {
    CardError::InvalidField {
        path: path.to_owned(),
        reason,
    }
}

/// Refuses a list longer than its limit.
fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), CardError> {
    if count > max {
        return Err(CardError::TooMany { what, count, max });
    }
    Ok(())
}

/// Free text: non-empty, bounded, and without control characters (which would let a card
/// forge lines in logs and terminals).
fn check_text(text: &str, path: &str, max: usize) -> Result<(), CardError> {
    if text.is_empty() || text.len() > max {
        return Err(invalid(path, "empty or longer than its limit"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(path, "contains control characters"));
    }
    Ok(())
}

/// Whether `text` is a UUID in its lower-case hyphenated form (RFC 9562 section 4: the
/// form UUIDs are written in; upper case is refused so that one UUID has one encoding).
pub(crate) fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// Whether `text` is `sha256:` and 64 lower-case hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.strip_prefix(SHA256_PREFIX).is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// Whether `text` is `spiffe://<trust-domain>/registry`.
fn is_spiffe_registry_id(text: &str) -> bool {
    text.strip_prefix("spiffe://")
        .and_then(|rest| rest.strip_suffix("/registry"))
        .is_some_and(|td| {
            !td.is_empty()
                && td.len() <= SPIFFE_TRUST_DOMAIN_BYTES_MAX
                && td
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_form() {
        assert!(is_uuid("0b6f3c2e-7d1a-4c8e-9f00-1234567890ab"));
        for bad in [
            "0B6F3C2E-7D1A-4C8E-9F00-1234567890AB",
            "0b6f3c2e7d1a4c8e9f001234567890ab",
            "{0b6f3c2e-7d1a-4c8e-9f00-1234567890ab}",
            "0b6f3c2e-7d1a-4c8e-9f00-1234567890a",
            "0b6f3c2e-7d1a-4c8e-9f00_1234567890ab",
            "0b6f3c2g-7d1a-4c8e-9f00-1234567890ab",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn hash_and_spiffe_forms() {
        assert!(is_sha256(&format!("sha256:{}", "ab".repeat(32))));
        assert!(!is_sha256(&format!("sha256:{}", "AB".repeat(32))));
        assert!(!is_sha256(&format!("sha256:{}", "ab".repeat(31))));
        assert!(!is_sha256(&format!("sha512:{}", "ab".repeat(32))));
        assert!(is_spiffe_registry_id("spiffe://peer.example.com/registry"));
        assert!(!is_spiffe_registry_id("spiffe://Peer.example.com/registry"));
        assert!(!is_spiffe_registry_id("spiffe:///registry"));
        assert!(!is_spiffe_registry_id("spiffe://peer.example.com/workload"));
        assert!(!is_spiffe_registry_id("spiffe://a/b/registry"));
    }

    #[test]
    fn policy_hash_is_sha256_of_the_jcs_policy() {
        let p = TrustPolicy {
            accepts_proposals: true,
            min_trust_level: 1,
            requires_mutual: true,
        };
        let jcs = br#"{"accepts_proposals":true,"min_trust_level":1,"requires_mutual":true}"#;
        assert_eq!(
            p.hash().expect("hash"),
            format!("sha256:{}", hex::encode(Sha256::digest(jcs)))
        );
    }
}
