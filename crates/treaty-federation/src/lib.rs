//! Federation protocol logic: trust levels and level gating, signed trust offers,
//! counter-offers, rejections, agreements and revocations, the negotiation state machine,
//! peer status and admission licenses, sync verification and backoff, cascading resolution,
//! registry-card propagation and drift detection.
//!
//! Pure: no I/O, no clock (the caller's "now" is an argument, in Unix seconds or, where
//! named `_ms`, milliseconds), no randomness (IDs, jitter and random bytes are arguments;
//! Ed25519 signing is deterministic).
//! Every parser checks a named limit ([`limits`]) before doing work and refuses members it
//! does not know (documents defined elsewhere, a registry card read for a drift baseline or
//! a resolve answer, are read for the members used only), and nothing here panics on input. Every error is a [`FedError`] with a
//! stable code ([`FedError::code`]), or for the witness protocol a [`WitnessError`]
//! ([`WitnessError::code`]).
//!
//! | module | what |
//! |---|---|
//! | [`level`] | trust levels 0-4, what each permits, [`gate`] |
//! | [`terms`] | the terms of an offer or agreement |
//! | [`doc`] | signed documents: offers, rejections, revocations, and their JSON |
//! | [`agreement`] | two-party signed agreements and the agreement hash |
//! | [`proposal`] | the negotiation state machine ([`Thread`]) |
//! | [`peer`] | peer status and its transitions |
//! | [`license`] | admission license keys, status and limits |
//! | [`sync`] | verifying a peer's sync feed page against its signed checkpoint ([`verify_page`]) |
//! | [`backoff`] | when to pull a failing peer again ([`next_pull_delay_ms`]) |
//! | [`cascade`] | cascaded resolves: hop and time budget ([`CascadeRequest`]), loop detection ([`SeenRequests`]), verifying a peer's answer ([`verify_answer`]) |
//! | [`cards`] | registry-card propagation: a peer's card list ([`parse_registry_cards`]) and what to keep ([`cards::decide`]) |
//! | [`drift`] | policy and schema drift of a peer since the agreement ([`Baseline`], [`drift::compare`]) |
//! | [`witness`] | c2sp.org/tlog-witness `add-checkpoint` ([`AddCheckpoint`], [`witness::decide`]), the log side's reading of the answers, and the witness ledger documents |
//! | [`evidence`] | fork evidence: two signed checkpoints of one log that contradict each other ([`ForkEvidence`]) |
//!
//! Most items are re-exported at the crate root; `cards::decide`, `drift::compare` and
//! `witness::decide` are used by their module path, as their names alone say too little
//! there.
//!
//! Signed JSON is hashed and signed over its RFC 8785 (JCS) form, with integers limited to
//! +-(2^53 - 1), through `treaty_types::canonicalize`.
//!
//! # Example: a negotiation in two rounds
//!
//! ```
//! use std::collections::BTreeMap;
//! use treaty_federation::*;
//!
//! # fn main() -> Result<(), FedError> {
//! let (a, b) = (
//!     "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!     "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f",
//! );
//! let (key_a, key_b) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
//! let now = 1_767_225_600;
//!
//! // A proposes level 2; B counters with level 1; A accepts.
//! let first = Offer {
//!     proposal_id: "p-1".into(),
//!     round: 1,
//!     proposer: a.into(),
//!     target: b.into(),
//!     from: a.into(),
//!     trust_level: TrustLevel::Verify,
//!     terms: Terms::default(),
//!     created_at: now,
//!     expires_at: now + 86_400,
//!     previous: None,
//! };
//! let first = Signed::sign(first, &key_a, "kid-a")?;
//! // B verifies A's signature with A's key from A's JWKS, then opens its thread.
//! first.verify(&key_a.verifying_key())?;
//! let mut thread = Thread::open(first.clone())?;
//! assert_eq!(thread.awaiting(), Some(b));
//!
//! let counter = Offer {
//!     round: 2,
//!     from: b.into(),
//!     trust_level: TrustLevel::Observe,
//!     created_at: now + 60,
//!     previous: Some(first.hash()),
//!     ..first.body.clone()
//! };
//! let counter = Signed::sign(counter, &key_b, "kid-b")?;
//! thread.counter(counter.clone(), now + 60)?;
//! assert_eq!(thread.awaiting(), Some(a));
//!
//! // A accepts: builds the agreement, signs it; B checks, signs, records.
//! let keys = BTreeMap::from([
//!     (a.to_owned(), PartyKey::new("kid-a", &key_a.verifying_key())),
//!     (b.to_owned(), PartyKey::new("kid-b", &key_b.verifying_key())),
//! ]);
//! let agreement = Agreement::from_offer(&counter, "agr-1", now + 120, keys)?;
//! let mut signed = SignedAgreement::new(agreement);
//! signed.sign_as(a, &key_a, now + 120)?;
//! thread.check_agreement(&signed.agreement, now + 130)?;
//! signed.sign_as(b, &key_b, now + 130)?;
//! thread.accept(signed, now + 130)?;
//! assert_eq!(thread.status(now + 130), ProposalStatus::Accepted);
//!
//! // From then on, B gates A's calls by the agreed level.
//! assert!(gate(Some(TrustLevel::Observe), Action::ReadFeed).is_ok());
//! let err = gate(Some(TrustLevel::Observe), Action::Witness).expect_err("level 1 < 2");
//! assert_eq!(err.code(), "trust_level_insufficient");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod agreement;
pub mod backoff;
pub mod cards;
pub mod cascade;
pub mod doc;
pub mod drift;
mod error;
pub mod evidence;
mod json;
pub mod level;
pub mod license;
pub mod limits;
pub mod peer;
pub mod proposal;
pub mod sync;
pub mod terms;
pub mod witness;

pub use agreement::{
    AGREEMENT_SIGNING_DOMAIN, Agreement, PartyKey, PartySignature, SignedAgreement,
    agreement_signing_input,
};
pub use backoff::{
    SYNC_BACKOFF_BASE_MS, SYNC_BACKOFF_MAX_MS, SYNC_FAILURES_INACTIVE, next_pull_delay_ms,
};
pub use cards::{
    CardDecision, KeepReason, KnownRegistry, RegistryCardsPage, RelayedCard, parse_registry_cards,
};
pub use cascade::{
    CASCADE_BUDGET_HEADER, CASCADE_HOPS_HEADER, CASCADE_ID_HEADER, CascadeRequest, SeenRequests,
    VerifiedAnswer, cascade_id_is_valid, verify_answer,
};
pub use doc::{
    DOCUMENT_SIGNING_DOMAIN, DocSignature, Document, Offer, Rejection, Revocation, SIGNATURE_ALG,
    Signed, document_signing_input,
};
pub use drift::{Baseline, DriftFinding};
/// Ed25519 keys, re-exported so callers need not name `ed25519-dalek` to sign or verify.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::{FedError, WitnessError};
pub use evidence::{
    FORK_EVIDENCE_BYTES_MAX, FORK_EVIDENCE_FORMAT, FORK_EVIDENCE_PROOF_HASHES_MAX, ForkEvidence,
    ForkKind,
};
pub use json::{id_is_valid, node_id_is_valid, parse_json};
pub use level::{Action, TrustLevel, gate};
pub use license::{
    LICENSE_KEY_LEN, LICENSE_PREFIX, LicenseKey, LicenseLimits, LicenseStatus, Tier,
    license_from_random, parse_license_key,
};
pub use peer::{PeerEvent, PeerStatus};
pub use proposal::{ProposalStatus, Thread};
pub use sync::{
    Applied, Discrepancy, DiscrepancyKind, FeedEntry, FeedPage, PeerLog, checkpoint_of, verify_page,
};
pub use terms::{Frequency, Terms};
pub use witness::{
    ADD_CHECKPOINT_BODY_MAX, ADD_CHECKPOINT_OLD_LINE_BYTES_MAX, ADD_CHECKPOINT_PROOF_LINES_MAX,
    AddCheckpoint, COSIGNATURE_LINES_MAX, COSIGNATURES_BODY_BYTES_MAX, DISCREPANCY_FORK,
    METHOD_CONSISTENCY_PROOF, METHOD_FIRST_CHECKPOINT, METHOD_SAME_CHECKPOINT, ROLE_GIVEN,
    ROLE_RECEIVED, SIZE_BODY_BYTES_MAX, TIMESTAMP_DRIFT_MAX_SECONDS, TLOG_SIZE_CONTENT_TYPE,
    Verdict, WITNESS_SIZE_MAX, Witnessed, cosignatures_body, cross_anchor, discrepancy_report,
    parse_cosignatures, parse_size, severity, size_body, timestamp_drift, witness_event,
};

#[cfg(test)]
mod fixtures;
