//! Federated anchoring: many participants cross-anchor their evidence under one shared
//! Merkle root, and each can later prove that its own record existed at a time without
//! revealing anyone else's (seed 002, issue 7).
//!
//! The flow, mirrored by the four functions at the top of this crate:
//!
//! 1. [`build_manifest`]: each member `(participant_id, record_hash, scope, nonce)` becomes
//!    a blinded commitment `SHA-256(JCS({nonce, participant_id, record_hash, scope}))`
//!    ([`member`]); the commitments, in member order, are the leaves of an RFC 6962 tree
//!    ([`manifest`]). Each member gets its inclusion proof; [`Manifest::extract`] gives one
//!    participant its members and proofs and nothing else about the others.
//! 2. [`anchor_manifest`]: the root alone goes to OpenTimestamps calendars; their answers
//!    are kept as `.ots` proofs ([`ots`], [`anchors`]). Treaty nodes are calendars too: they
//!    commit the root into their ledger and, once a signed checkpoint covers it, answer
//!    with a proof ending in a checkpoint attestation ([`node`]).
//! 3. [`lookup_member`]: a participant finds its member (and proof) by its own fields.
//! 4. [`verify_member`]: recomputes the commitment, checks the proof against the root and
//!    every anchor, and gives a verdict with reasons ([`verify`]).
//!
//! Standards: RFC 6962 / RFC 9162 section 2 (the tree), RFC 8785 (the commitment's JSON),
//! the OpenTimestamps format of python-opentimestamps (the `.ots` proofs), C2SP
//! tlog-checkpoint and signed-note (the node attestation). See STANDARDS.md.
//!
//! What this crate deliberately does not do: no I/O (the CLI talks to calendars and files),
//! no clock, no randomness (nonces come from a caller-supplied source), no Bitcoin block
//! header checks.
//!
//! # Example
//!
//! ```
//! use treaty_anchor::{MemberInput, MemberQuery, AnchorPolicy};
//!
//! # fn main() -> Result<(), treaty_anchor::AnchorError> {
//! let inputs = vec![
//!     MemberInput { participant_id: "tenant-alpha".into(), record_hash: "a".repeat(64),
//!                   scope: "prod".into(), nonce: None },
//!     MemberInput { participant_id: "tenant-bravo".into(), record_hash: "b".repeat(64),
//!                   scope: "prod".into(), nonce: None },
//! ];
//! // A real caller draws nonces from a CSPRNG (the CLI uses getrandom).
//! let mut counter = 0u8;
//! let mut nonces = || { counter += 1; [counter, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] };
//! let manifest = treaty_anchor::build_manifest(inputs, &mut nonces)?;
//!
//! let query = MemberQuery::new("tenant-alpha", &"a".repeat(64), "prod", None)?;
//! let member = treaty_anchor::lookup_member(&manifest, &query)?;
//! let report = treaty_anchor::verify_member(&member, &manifest, &AnchorPolicy::default());
//! assert!(report.is_verified());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod anchors;
pub mod bench;
mod error;
mod json;
pub mod manifest;
pub mod member;
pub mod node;
pub mod ots;
pub mod verify;

pub use anchors::{ANCHORS_MAX, Anchor, Anchors, PendingUpgrade};
pub use error::AnchorError;
pub use json::read_member_inputs;
pub use manifest::{
    Document, Extract, InclusionProof, MANIFEST_VERSION, MEMBERS_MAX, Manifest, MemberSource,
    ProvenMember,
};
pub use member::{
    FieldError, GENERATED_NONCE_BYTES, Member, MemberInput, MemberQuery, commitment_hash,
    commitment_json,
};
pub use verify::{AnchorPolicy, Finding, Level, Report, verify_member, verify_member_against};

/// Builds a manifest from members, drawing a nonce for each member without one
/// (seed 002 `build_federated_anchor_manifest`).
///
/// # Errors
/// As [`Manifest::build`].
pub fn build_manifest(
    inputs: Vec<MemberInput>,
    nonce_source: &mut dyn FnMut() -> [u8; GENERATED_NONCE_BYTES],
) -> Result<Manifest, AnchorError> {
    Manifest::build(inputs, nonce_source, &mut |_, _| {})
}

/// Anchors a manifest with calendar answers to `POST /digest` of its root, one
/// `(calendar URL, answer bytes)` per calendar (the pure half of seed 002
/// `anchor_federated_manifest`: the CLI does the HTTP).
///
/// # Errors
/// As [`Anchors::attach`]; nothing is attached when any answer is refused.
pub fn anchor_manifest<'a>(
    manifest: &mut Manifest,
    answers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), AnchorError> {
    let mut anchors = manifest.anchors().clone();
    for (calendar, answer) in answers {
        anchors.attach(calendar, answer)?;
    }
    *manifest.anchors_mut() = anchors;
    Ok(())
}

/// Finds a participant's member by its own fields (seed 002
/// `lookup_federated_anchor_member`).
///
/// # Errors
/// [`AnchorError::NoSuchMember`].
pub fn lookup_member(
    source: &impl MemberSource,
    query: &MemberQuery,
) -> Result<ProvenMember, AnchorError> {
    source.lookup(query)
}
