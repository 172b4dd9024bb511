//! Errors of building, reading, anchoring and querying manifests.

use crate::ots::OtsError;

/// Why a member list, manifest, extract or anchor was refused. Every member error names the
/// member's position (0-based, in member order), its participant and the JSON field.
///
/// Each message is complete, the underlying error's text included, so underlying errors are
/// not also chained as `source()`: printing a chain (`{:#}` in anyhow) would repeat them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// A member field breaks a rule (hash format, nonce, lengths).
    #[error("member {index} (participant {participant_id:?}): {field}: {reason}")]
    InvalidMember {
        /// Position in member order.
        index: usize,
        /// The member's participant (possibly invalid itself).
        participant_id: String,
        /// The JSON field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A second member with the same (participant_id, record_hash, scope, nonce).
    #[error(
        "member {index} (participant {participant_id:?}): duplicates member {first} \
         (same participant_id, record_hash, scope and nonce)"
    )]
    DuplicateMember {
        /// Position of the duplicate.
        index: usize,
        /// Position of the first occurrence.
        first: usize,
        /// The participant.
        participant_id: String,
    },
    /// A stored commitment hash is not the one its fields give.
    #[error(
        "member {index} (participant {participant_id:?}): commitment_hash: states {stated}, \
         the member's fields give {computed}"
    )]
    CommitmentMismatch {
        /// Position in member order.
        index: usize,
        /// The participant.
        participant_id: String,
        /// Hex of the stored commitment.
        stated: String,
        /// Hex of the recomputed commitment.
        computed: String,
    },
    /// A member's proof does not fit the manifest.
    #[error("member {index} (participant {participant_id:?}): {field}: {reason}")]
    ProofMismatch {
        /// Position in member order.
        index: usize,
        /// The participant.
        participant_id: String,
        /// `proof.index`, `proof.tree_size` or `proof.hashes`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The manifest's root is not the root of its members.
    #[error("root: the manifest states {stated}, but its {members} members give root {computed}")]
    RootMismatch {
        /// Hex of the stated root.
        stated: String,
        /// Hex of the recomputed root.
        computed: String,
        /// How many members.
        members: usize,
    },
    /// The manifest's tree size is not its member count.
    #[error("tree_size: the manifest states {stated}, but it has {members} members")]
    TreeSizeMismatch {
        /// The stated size.
        stated: u64,
        /// Members present.
        members: usize,
    },
    /// A document-level field is missing or malformed.
    #[error("{field}: {reason}")]
    Malformed {
        /// The JSON field (path).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The JSON does not parse or could not be written.
    #[error("{context}: {error}")]
    Json {
        /// What was being read or written.
        context: &'static str,
        /// The JSON error (with line and column when reading).
        error: serde_json::Error,
    },
    /// A member's JSON does not have the member shape (missing or unknown field, wrong
    /// type).
    #[error("member {index}: {error}")]
    MemberJson {
        /// Position in member order.
        index: usize,
        /// The JSON error, with line and column.
        error: serde_json::Error,
    },
    /// A manifest needs at least one member.
    #[error("a manifest needs at least one member")]
    NoMembers,
    /// Over [`crate::MEMBERS_MAX`].
    #[error("more than {max} members")]
    TooManyMembers {
        /// The limit.
        max: usize,
    },
    /// Over [`crate::ANCHORS_MAX`].
    #[error("more than {max} anchors")]
    TooManyAnchors {
        /// The limit.
        max: usize,
    },
    /// An anchor's `.ots` is truncated or corrupt, or a calendar answer is.
    #[error("anchor {anchor} (calendar {calendar:?}): ots: {error}")]
    Ots {
        /// Position in the anchor list.
        anchor: usize,
        /// The calendar.
        calendar: String,
        /// The format error.
        error: OtsError,
    },
    /// An anchor timestamps something else than the manifest root.
    #[error(
        "anchor {anchor} (calendar {calendar:?}): ots: timestamps digest {digest}, not the root {root}"
    )]
    AnchorDigestMismatch {
        /// Position in the anchor list.
        anchor: usize,
        /// The calendar.
        calendar: String,
        /// Hex of the `.ots` digest.
        digest: String,
        /// Hex of the root.
        root: String,
    },
    /// A calendar name that cannot be stored.
    #[error("calendar {calendar:?}: {reason}")]
    InvalidCalendar {
        /// The calendar.
        calendar: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `extract` for a participant with no member.
    #[error("no member has participant_id {participant_id:?}")]
    NoSuchParticipant {
        /// The participant asked for.
        participant_id: String,
    },
    /// `lookup` found no member with these fields.
    #[error(
        "no member has participant_id {participant_id:?}, record_hash {record_hash} and scope \
         {scope:?}{nonce}"
    )]
    NoSuchMember {
        /// The participant.
        participant_id: String,
        /// Hex of the record hash.
        record_hash: String,
        /// The scope.
        scope: String,
        /// `", nonce <hex>"` when a nonce was given, else empty.
        nonce: String,
    },
    /// A lookup field is malformed.
    #[error("query {field}: {reason}")]
    InvalidQuery {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An upgrade names a pending attestation the anchor does not have.
    #[error("anchor {anchor}: no pending attestation for {uri:?} at commitment {commitment}")]
    NoSuchPending {
        /// Position in the anchor list.
        anchor: usize,
        /// The calendar URI.
        uri: String,
        /// Hex of the commitment.
        commitment: String,
    },
    /// Merkle math on the manifest's own tree failed (a bug, reported rather than hidden).
    #[error("merkle tree: {0}")]
    Merkle(treaty_merkle::MerkleError),
}

impl From<treaty_merkle::MerkleError> for AnchorError {
    fn from(e: treaty_merkle::MerkleError) -> Self {
        AnchorError::Merkle(e)
    }
}
