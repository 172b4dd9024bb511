//! Registry cards: the signed self-description a Treaty node serves at
//! `/.well-known/registry-card.json`, the JWKS with the keys that sign it, and its ETag.
//!
//! Standards implemented (see `STANDARDS.md`, "Signed self-description"):
//!
//! - the card is signed with a detached JWS (RFC 7515 appendix F), `alg` `EdDSA` over
//!   Ed25519 (RFC 8037 section 3.1), computed over the RFC 8785 (JCS) form of the card
//!   without its `signatures` and `volatile` members (the approach A2A agent cards use):
//!   [`jws`], [`sign_card`], [`verify_card`];
//! - keys are published as a JWKS (RFC 7517 section 5) of OKP Ed25519 keys (RFC 8037
//!   section 2) whose `kid` is the RFC 7638 thumbprint: [`jwks`];
//! - the strong ETag (RFC 9110 section 8.8.3) is computed only from what an operator edits:
//!   [`etag`].
//!
//! What this crate deliberately does not do: no I/O (it never fetches the `jwks` endpoint
//! or anything else a card names; the caller passes the JWKS it trusts), no clock (the
//! signing time and the verifier's "now" are arguments), no randomness (keys are arguments;
//! Ed25519 signing is deterministic). Every parser checks a named limit ([`limits`]) before
//! doing work, and nothing here panics on input.
//!
//! # The card
//!
//! ```json
//! {
//!   "card_version": "treaty.registry-card/v1",
//!   "node_id": "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!   "name": "Registry Dublin",
//!   "base_url": "https://registry.example.com",
//!   "endpoints": {
//!     "federation": "https://registry.example.com/v1/federation",
//!     "witness": "https://registry.example.com/v1/witness",
//!     "sync": "https://registry.example.com/v1/sync",
//!     "records": "https://registry.example.com/v1/records",
//!     "discover": "https://registry.example.com/v1/discover",
//!     "checkpoint": "https://registry.example.com/checkpoint",
//!     "jwks": "https://registry.example.com/.well-known/registry-jwks.json"
//!   },
//!   "ledger": {
//!     "origin": "registry.example.com",
//!     "verifier_key": "registry.example.com+<8 hex>+<base64 of 0x01 || key>",
//!     "checkpoint_url": "https://registry.example.com/checkpoint"
//!   },
//!   "collections": [
//!     {"name": "agent-card", "schema_version": "1.0.0", "schema_hash": "sha256:<64 hex>"},
//!     {"name": "notes", "schema_version": null, "schema_hash": null}
//!   ],
//!   "trust_policy": {"accepts_proposals": true, "min_trust_level": 1, "requires_mutual": true},
//!   "policy_hash": "sha256:<64 hex: SHA-256 of JCS(trust_policy)>",
//!   "capabilities": ["federation", "witness"],
//!   "operator": {"contact": "ops@registry.example.com"},
//!   "mtls": {"spiffe_id": "spiffe://registry.example.com/registry",
//!            "ca_fingerprint": "sha256:<64 hex>"},
//!   "signatures": [{"protected": "<base64url JCS header>", "signature": "<base64url>"}],
//!   "volatile": {"checkpoint": {"size": 42, "root": "<base64 32 bytes>"}, "peer_count": 3,
//!                "location": {"latitude": "53.3498", "longitude": "-6.2603"}}
//! }
//! ```
//!
//! Everything but `signatures` and `volatile` is the signed core ([`CardCore`]). The
//! protected header is the JCS form of
//! `{"alg":"EdDSA","iat":<unix seconds>,"kid":<thumbprint>,"typ":"treaty-registry-card+jws"}`
//! ([`ProtectedHeader`]). `volatile` ([`Volatile`]) is unsigned and outside the ETag.
//!
//! # The JWKS
//!
//! ```json
//! {"keys": [
//!   {"alg": "EdDSA", "crv": "Ed25519", "kid": "<RFC 7638 thumbprint>", "kty": "OKP",
//!    "status": "current", "use": "sig", "valid_from": 1767225600, "x": "<base64url key>"},
//!   {"alg": "EdDSA", "crv": "Ed25519", "kid": "<RFC 7638 thumbprint>", "kty": "OKP",
//!    "status": "retired", "use": "sig", "valid_from": 1735689600,
//!    "valid_until": 1767225600, "x": "<base64url key>"}
//! ]}
//! ```
//!
//! # Example: a node signs its card, a peer verifies it
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use treaty_card::*;
//! use treaty_note::{KEY_TYPE_ED25519, VerifierKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let base = "https://registry.example.com";
//! let log_key = SigningKey::from_bytes(&[1; 32]);
//! let card_key = SigningKey::from_bytes(&[2; 32]);
//! let url = |path: &str| format!("{base}{path}");
//! let core = CardCore {
//!     node_id: "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab".into(),
//!     name: "Registry Dublin".into(),
//!     base_url: base.into(),
//!     endpoints: Endpoints {
//!         federation: url("/v1/federation"),
//!         witness: url("/v1/witness"),
//!         sync: url("/v1/sync"),
//!         records: url("/v1/records"),
//!         discover: url("/v1/discover"),
//!         checkpoint: url("/checkpoint"),
//!         jwks: url("/.well-known/registry-jwks.json"),
//!     },
//!     ledger: Ledger {
//!         origin: "registry.example.com".into(),
//!         verifier_key: VerifierKey::from_signing_key(
//!             "registry.example.com",
//!             &log_key,
//!             KEY_TYPE_ED25519,
//!         )?
//!         .to_string(),
//!         checkpoint_url: url("/checkpoint"),
//!     },
//!     collections: vec![],
//!     trust_policy: TrustPolicy {
//!         accepts_proposals: true,
//!         min_trust_level: 1,
//!         requires_mutual: true,
//!     },
//!     capabilities: vec!["federation".into()],
//!     operator: Operator::default(),
//!     mtls: None,
//! };
//!
//! // The node: publish the key, sign the card, serve it with its ETag.
//! let jwk = Jwk::current(&card_key.verifying_key(), 1_767_225_600)?;
//! let jwks = Jwks::new(vec![jwk.clone()])?;
//! let signed = sign_card(&core, &card_key, jwk.kid(), 1_767_225_700)?;
//! let volatile = Volatile { peer_count: 3, ..Volatile::default() };
//! let body = signed.to_bytes(Some(&volatile))?;
//! assert_eq!(signed.etag(), etag(&core, jwk.kid())?);
//!
//! // The peer: verify against the JWKS it holds, at its own time.
//! let fetched_from = "https://registry.example.com/.well-known/registry-card.json";
//! let card = verify_card(&body, Some(fetched_from), &jwks, 1_767_225_800)?;
//! assert_eq!(card.core, core);
//! assert_eq!(card.key_status, KeyStatus::Current);
//! assert_eq!(card.etag, signed.etag());
//!
//! // The same card served from another host is refused.
//! let mirror = Some("https://mirror.example.net/card.json");
//! let err = verify_card(&body, mirror, &jwks, 1_767_225_800).expect_err("another origin");
//! assert_eq!(err.code(), "origin_mismatch");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod card;
mod error;
mod json;
pub mod jwks;
pub mod jws;
pub mod limits;
mod sign;
mod urls;
mod verify;
pub mod volatile;

pub use card::{
    CARD_VERSION, CardCore, CollectionInfo, Endpoints, Ledger, Mtls, Operator, SchemaRef,
    TrustPolicy,
};
/// Ed25519 keys, re-exported so callers need not name `ed25519-dalek` to sign or build a
/// JWKS.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::CardError;
pub use jwks::{Jwk, Jwks, KeyStatus, jwk_thumbprint};
pub use jws::{
    CARD_JWS_TYPE, CardSignature, FORBIDDEN_HEADER_PARAMETERS, JWS_ALG, ProtectedHeader,
    sign_detached, signing_input, verify_detached,
};
pub use sign::{SignedCard, etag, sign_card};
pub use verify::{VerifiedCard, verify_card, verify_card_value};
pub use volatile::{CheckpointSummary, Location, Volatile};
