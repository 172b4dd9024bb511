//! The crate's error types, each with a stable machine-readable code per variant:
//! [`FedError`] for federation documents and sync, [`WitnessError`] for the witness
//! protocol (c2sp.org/tlog-witness) and fork evidence.

use treaty_note::NoteError;
use treaty_types::JsonError;

use crate::level::{Action, TrustLevel};

/// Everything the federation logic refuses.
///
/// [`FedError::code`] gives a stable `snake_case` code per variant; the node answers with it
/// as the RFC 9457 problem type, so codes never change meaning once published. Texts copied
/// from untrusted input into an error are clipped to a few dozen characters, so an error
/// message (and the log line it ends up in) stays bounded whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FedError {
    /// A document is larger than its named limit.
    #[error("{what} is {len} bytes, the limit is {max}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not one JSON value, or an object repeats a member name.
    #[error("invalid JSON: {reason}")]
    InvalidJson {
        /// The parser's message.
        reason: String,
    },
    /// The JSON cannot be canonicalized unambiguously (a fraction, an integer beyond
    /// +-(2^53 - 1)) or is nested too deeply. The code is the underlying
    /// [`JsonError::code`].
    #[error("{what} breaks the canonical JSON rules: {source}")]
    UnsafeJson {
        /// What was being checked.
        what: &'static str,
        /// The offending value.
        #[source]
        source: JsonError,
    },
    /// A required member is absent.
    #[error("required member {path} is missing")]
    MissingField {
        /// JSON pointer of the missing member.
        path: String,
    },
    /// A member has the wrong JSON type.
    #[error("member {path} must be {expected}")]
    WrongType {
        /// JSON pointer of the member.
        path: String,
        /// The type it must have.
        expected: &'static str,
    },
    /// A member the format does not define. v1 documents have a closed set of members, so
    /// that nothing signed is silently ignored.
    #[error("unknown member {path}")]
    UnknownField {
        /// JSON pointer of the member.
        path: String,
    },
    /// A member has the right type but a value outside its rules.
    #[error("invalid {path}: {reason}")]
    InvalidField {
        /// JSON pointer of the member.
        path: String,
        /// Which rule the value breaks.
        reason: &'static str,
    },
    /// A list is longer than its named limit.
    #[error("too many {what}: {count}, the limit is {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A node ID is not a UUID in lower-case hyphenated form.
    #[error("{path} {value:?} is not a lowercase hyphenated UUID (8-4-4-4-12 hex digits)")]
    InvalidNodeId {
        /// JSON pointer of the member (or the argument's name).
        path: String,
        /// The stated value (clipped).
        value: String,
    },
    /// A trust level outside 0 to 4.
    #[error("trust level {value} does not exist; levels are 0 (isolated) to 4 (integrate)")]
    InvalidTrustLevel {
        /// The stated level.
        value: u64,
    },
    /// A name of an enumeration (a status, a tier, ...) this version does not know.
    #[error("unknown {what} {value:?}")]
    UnknownValue {
        /// Which enumeration.
        what: &'static str,
        /// The stated name (clipped).
        value: String,
    },
    /// A time is beyond 2^53 - 1, so it cannot travel as a canonical JSON integer.
    #[error("{what} {value} is above 2^53 - 1")]
    TimestampOutOfRange {
        /// Which time.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A document's `type` is not the one expected here, so a signature made for one kind of
    /// document is never accepted as another.
    #[error("document type {found:?} where {expected:?} was expected")]
    WrongDocumentType {
        /// The type the caller expects.
        expected: &'static str,
        /// The stated type (clipped).
        found: String,
    },
    /// A signature's `alg` is not `ed25519`.
    #[error("signature algorithm {alg:?} is not \"ed25519\"")]
    UnsupportedAlgorithm {
        /// The stated algorithm (clipped).
        alg: String,
    },
    /// A document signature does not verify with the key the caller holds for the sender.
    #[error("document signature by key {kid} does not verify")]
    BadDocumentSignature {
        /// The key ID the signature names (clipped).
        kid: String,
    },
    /// A node that is not one of an agreement's two parties.
    #[error("node {node_id} is not a party to this agreement")]
    NotAParty {
        /// The node ID (clipped).
        node_id: String,
    },
    /// A signing key, or a signature's `kid`, is not the key the agreement embeds for the
    /// party.
    #[error("the key used for party {node_id} is not the key the agreement embeds for it")]
    KeyMismatch {
        /// The party.
        node_id: String,
    },
    /// A party's signature over the agreement hash does not verify with the party's embedded
    /// key.
    #[error("the signature of party {node_id} does not verify")]
    BadAgreementSignature {
        /// The party.
        node_id: String,
    },
    /// A party has not signed the agreement yet.
    #[error("party {node_id} has not signed the agreement")]
    MissingPartySignature {
        /// The party.
        node_id: String,
    },
    /// The stated `agreement_hash` is not the hash of the agreement body.
    #[error("agreement_hash {stated} is not the hash of the agreement ({computed})")]
    AgreementHashMismatch {
        /// The stated hash (clipped).
        stated: String,
        /// The hash computed from the body.
        computed: String,
    },
    /// A revocation does not name the agreement it is checked against.
    #[error("the revocation does not match the agreement: {member} differs")]
    RevocationMismatch {
        /// The member that differs.
        member: &'static str,
    },
    /// The caller's agreements in force do not reach the level an action needs.
    #[error(
        "{} needs trust level {} ({}); {}",
        Action::phrase_for(action),
        needed.as_u8(),
        needed.name(),
        agreed_phrase(*agreed)
    )]
    TrustLevelInsufficient {
        /// The level the action needs.
        needed: TrustLevel,
        /// The highest level of the caller's agreements in force, if any.
        agreed: Option<TrustLevel>,
        /// The action ([`Action::name`]).
        action: &'static str,
    },
    /// A document comes from the party whose turn it is not.
    #[error("it is {expected}'s turn in this negotiation, not {got}'s")]
    NotYourTurn {
        /// The party who must answer.
        expected: String,
        /// The party who sent the document (clipped).
        got: String,
    },
    /// The negotiation has ended (accepted or rejected).
    #[error("the proposal is already {status}")]
    ProposalClosed {
        /// `"accepted"` or `"rejected"`.
        status: &'static str,
    },
    /// The latest offer expired before the answer.
    #[error("the latest offer expired at {expires_at} (now is {now})")]
    ProposalExpired {
        /// When the latest offer expired.
        expires_at: u64,
        /// The caller's time.
        now: u64,
    },
    /// A document states another round than the one it must answer or continue.
    #[error("round {got} where round {expected} was expected")]
    RoundMismatch {
        /// The expected round.
        expected: u32,
        /// The stated round.
        got: u32,
    },
    /// The negotiation used all its rounds; the only answers left are accept or reject.
    #[error("the negotiation has used all {max} rounds; accept or reject the latest offer")]
    RoundsExhausted {
        /// [`crate::limits::ROUNDS_MAX`].
        max: u32,
    },
    /// An offer's `previous` does not link it to the offer it answers.
    #[error("offer chain broken: {reason}")]
    OfferChainBroken {
        /// Which link is wrong.
        reason: &'static str,
    },
    /// A document belongs to another negotiation (other proposal ID or parties).
    #[error("the document belongs to another negotiation: {member} differs")]
    ProposalMismatch {
        /// The member that differs.
        member: &'static str,
    },
    /// An agreement does not restate the latest offer exactly.
    #[error("the agreement does not match the latest offer: {member} differs")]
    AgreementMismatch {
        /// The member that differs.
        member: &'static str,
    },
    /// A document claims a creation time further in the future than the clock skew allows.
    #[error("{what} {time} is more than the allowed clock skew ahead of now ({now})")]
    IssuedInFuture {
        /// Which time.
        what: &'static str,
        /// The stated time.
        time: u64,
        /// The caller's time.
        now: u64,
    },
    /// A peer event that has no meaning in the peer's current status.
    #[error("a peer in status {from} cannot take event {event}")]
    InvalidTransition {
        /// The current status.
        from: &'static str,
        /// The event.
        event: &'static str,
    },
    /// The peer has not been verified yet.
    #[error("the peer is pending verification")]
    PeerPending,
    /// The peer is suspended.
    #[error("the peer is suspended")]
    PeerSuspended,
    /// The peer's admission license was revoked.
    #[error("the peer's license is revoked")]
    PeerRevoked,
    /// A license key is not `trt_lic_` followed by 64 lower-case hex digits.
    #[error("malformed license key: {reason}")]
    LicenseMalformed {
        /// Which rule the key breaks.
        reason: &'static str,
    },
    /// The license is revoked, which is final.
    #[error("the license is revoked; revocation is final")]
    LicenseRevoked,
    /// The peer is only known second-hand ([`crate::PeerStatus::Discovered`]: learned from
    /// another peer's registry-card list). It has to register with this node, or be added
    /// by the operator, and be verified before its calls are served.
    #[error("the peer is only known from another registry's card list; it is not verified")]
    PeerNotVerified,
    /// A cascade header (`treaty-cascade-id`, `treaty-cascade-hops`,
    /// `treaty-cascade-budget-ms`) breaks its rules.
    #[error("invalid {header} header: {reason}")]
    InvalidCascadeHeader {
        /// The header's name.
        header: &'static str,
        /// Which rule the value breaks.
        reason: &'static str,
    },
    /// A peer's answer to a cascaded resolve does not have the answer's shape (a member
    /// missing or of the wrong type, a record that does not rebuild a ledger entry, a receipt
    /// that does not parse or is beyond its limit).
    #[error("malformed cascade answer: {reason}")]
    CascadeAnswerMalformed {
        /// What is wrong (text from the answer is clipped).
        reason: String,
    },
    /// A peer's answer to a cascaded resolve is about something else than what was asked
    /// (another collection or key, a tombstone, a record whose `ledger_index` or
    /// `leaf_hash` is not the proven one).
    #[error("the cascade answer does not match the request: {member} differs")]
    CascadeAnswerMismatch {
        /// The member that differs.
        member: &'static str,
    },
    /// The answer is served by a registry whose ledger key this node does not know (no
    /// verified card of it), so its receipt cannot be checked.
    #[error("no verified ledger key for registry {node_id}; the answer cannot be checked")]
    CascadeUnverifiable {
        /// The registry named in `served_by.node_id` (clipped).
        node_id: String,
    },
    /// The answer's receipt does not prove the record in the serving registry's ledger: the
    /// checkpoint is not signed by its key, or the inclusion proof does not lead from the
    /// record's leaf to the checkpoint's root.
    #[error("the cascade answer's receipt does not verify: {reason}")]
    CascadeProofInvalid {
        /// The verifier's message (clipped).
        reason: String,
    },
    /// A stored [`crate::PeerLog`] is not a state sync verification produces (a range of
    /// the wrong shape, a held checkpoint that does not parse or does not match). It is the
    /// puller's own state, so this is never held against the peer.
    #[error("invalid peer log: {reason}")]
    InvalidPeerLog {
        /// Which rule the state breaks.
        reason: &'static str,
    },
}

impl FedError {
    /// The stable machine-readable code for problem+json answers and metrics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            FedError::TooLarge { .. } => "too_large",
            FedError::InvalidJson { .. } => "invalid_json",
            FedError::UnsafeJson { source, .. } => source.code(),
            FedError::MissingField { .. } => "missing_field",
            FedError::WrongType { .. } => "wrong_type",
            FedError::UnknownField { .. } => "unknown_field",
            FedError::InvalidField { .. } => "invalid_field",
            FedError::TooMany { .. } => "too_many",
            FedError::InvalidNodeId { .. } => "invalid_node_id",
            FedError::InvalidTrustLevel { .. } => "invalid_trust_level",
            FedError::UnknownValue { .. } => "unknown_value",
            FedError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            FedError::WrongDocumentType { .. } => "wrong_document_type",
            FedError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            FedError::BadDocumentSignature { .. } => "bad_document_signature",
            FedError::NotAParty { .. } => "not_a_party",
            FedError::KeyMismatch { .. } => "key_mismatch",
            FedError::BadAgreementSignature { .. } => "bad_agreement_signature",
            FedError::MissingPartySignature { .. } => "missing_party_signature",
            FedError::AgreementHashMismatch { .. } => "agreement_hash_mismatch",
            FedError::RevocationMismatch { .. } => "revocation_mismatch",
            FedError::TrustLevelInsufficient { .. } => "trust_level_insufficient",
            FedError::NotYourTurn { .. } => "not_your_turn",
            FedError::ProposalClosed { .. } => "proposal_closed",
            FedError::ProposalExpired { .. } => "proposal_expired",
            FedError::RoundMismatch { .. } => "round_mismatch",
            FedError::RoundsExhausted { .. } => "rounds_exhausted",
            FedError::OfferChainBroken { .. } => "offer_chain_broken",
            FedError::ProposalMismatch { .. } => "proposal_mismatch",
            FedError::AgreementMismatch { .. } => "agreement_mismatch",
            FedError::IssuedInFuture { .. } => "issued_in_future",
            FedError::InvalidTransition { .. } => "invalid_transition",
            FedError::PeerPending => "peer_pending",
            FedError::PeerSuspended => "peer_suspended",
            FedError::PeerRevoked => "peer_revoked",
            FedError::LicenseMalformed { .. } => "license_malformed",
            FedError::LicenseRevoked => "license_revoked",
            FedError::InvalidPeerLog { .. } => "invalid_peer_log",
            FedError::PeerNotVerified => "peer_not_verified",
            FedError::InvalidCascadeHeader { .. } => "invalid_cascade_header",
            FedError::CascadeAnswerMalformed { .. } => "cascade_answer_malformed",
            FedError::CascadeAnswerMismatch { .. } => "cascade_answer_mismatch",
            FedError::CascadeUnverifiable { .. } => "cascade_unverifiable",
            FedError::CascadeProofInvalid { .. } => "cascade_proof_invalid",
        }
    }
}

/// Everything the witness protocol and fork evidence refuse.
///
/// [`WitnessError::code`] gives a stable `snake_case` code per variant, for problem+json
/// answers and metrics. Not `Clone`: it carries the [`NoteError`] that explains a refused
/// note, which is not `Clone` either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A request or response body is larger than its named limit.
    #[error("{what} is {len} bytes, the limit is {max}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An `add-checkpoint` body breaks c2sp.org/tlog-witness "add-checkpoint" framing.
    #[error("malformed add-checkpoint request, line {line}: {reason}")]
    MalformedRequest {
        /// One-based line number in the body.
        line: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// More consistency proof lines than [`crate::witness::ADD_CHECKPOINT_PROOF_LINES_MAX`]
    /// (or, in fork evidence, more proof hashes than its limit).
    #[error("more than {max} consistency proof hashes")]
    TooManyProofLines {
        /// The limit.
        max: usize,
    },
    /// A tree size above [`crate::witness::WITNESS_SIZE_MAX`] (2^53 - 1): sizes go into
    /// canonical JSON ledger entries, where larger integers cannot travel.
    #[error("{what} is above 2^53 - 1 ({max}), the largest size a ledger entry can carry")]
    SizeOutOfRange {
        /// Which size.
        what: &'static str,
        /// The limit.
        max: u64,
    },
    /// A signed note (or the checkpoint in it) does not parse or does not verify.
    #[error("{what}: {source}")]
    InvalidNote {
        /// Which note ("checkpoint note", "first note", "second note", ...).
        what: &'static str,
        /// Why it was refused.
        #[source]
        source: NoteError,
    },
    /// A witness's answer (a 200 cosignature body or a 409 size body) is malformed.
    #[error("malformed witness response, line {line}: {reason}")]
    MalformedResponse {
        /// One-based line number in the body.
        line: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A line of a witness's 200 body is not a note signature line.
    #[error("witness response line {line} is not a signature line: {source}")]
    InvalidCosignatureLine {
        /// One-based line number in the body.
        line: usize,
        /// Why the line was refused.
        #[source]
        source: NoteError,
    },
    /// A witness's 200 body has more lines than
    /// [`crate::witness::COSIGNATURE_LINES_MAX`].
    #[error("witness response has more than {max} cosignature lines")]
    TooManyCosignatures {
        /// The limit.
        max: usize,
    },
    /// Fork evidence JSON does not have the `treaty-fork-evidence/v1` shape.
    #[error("malformed fork evidence: {source}")]
    MalformedEvidence {
        /// The member and rule, as a [`FedError`] with its JSON pointer.
        #[source]
        source: FedError,
    },
    /// The log key given for fork evidence is not a log key (type `0x01`) named after the
    /// origin.
    #[error("invalid log key for fork evidence: {reason}")]
    InvalidLogKey {
        /// Which rule the key breaks.
        reason: &'static str,
    },
    /// Two notes that are both validly signed but do not show a fork.
    #[error("not a fork: {reason}")]
    NotAFork {
        /// Why the pair is consistent (or proves nothing).
        reason: &'static str,
    },
    /// Fork evidence whose stated members disagree with its notes (the kind, the origin,
    /// the order of the notes, a proof on a same-size pair).
    #[error("fork evidence does not match its notes: {reason}")]
    EvidenceMismatch {
        /// What disagrees.
        reason: &'static str,
    },
}

impl WitnessError {
    /// The stable machine-readable code for problem+json answers and metrics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            WitnessError::TooLarge { .. } => "too_large",
            WitnessError::MalformedRequest { .. } => "malformed_add_checkpoint",
            WitnessError::TooManyProofLines { .. } => "too_many_proof_lines",
            WitnessError::SizeOutOfRange { .. } => "size_out_of_range",
            WitnessError::InvalidNote { .. } => "invalid_note",
            WitnessError::MalformedResponse { .. } => "malformed_witness_response",
            WitnessError::InvalidCosignatureLine { .. } => "invalid_cosignature_line",
            WitnessError::TooManyCosignatures { .. } => "too_many_cosignatures",
            WitnessError::MalformedEvidence { .. } => "malformed_evidence",
            WitnessError::InvalidLogKey { .. } => "invalid_log_key",
            WitnessError::NotAFork { .. } => "not_a_fork",
            WitnessError::EvidenceMismatch { .. } => "evidence_mismatch",
        }
    }
}

/// The second half of the [`FedError::TrustLevelInsufficient`] message.
fn agreed_phrase(agreed: Option<TrustLevel>) -> String {
    match agreed {
        None => "this peer has no agreement in force".to_owned(),
        Some(level) => format!(
            "the agreement in force is at level {} ({})",
            level.as_u8(),
            level.name()
        ),
    }
}

/// Longest excerpt of untrusted text copied into an error.
const ERROR_EXCERPT_CHARS_MAX: usize = 80;

/// `text` cut to [`ERROR_EXCERPT_CHARS_MAX`] characters, marked with `...` when cut.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(ERROR_EXCERPT_CHARS_MAX) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_bounds_untrusted_text() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(ERROR_EXCERPT_CHARS_MAX + 5);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), ERROR_EXCERPT_CHARS_MAX + 3);
        assert!(clipped.ends_with("..."));
    }

    #[test]
    fn unsafe_json_takes_the_code_of_its_source() {
        let e = FedError::UnsafeJson {
            what: "offer",
            source: JsonError::NotAnInteger { path: "/a".into() },
        };
        assert_eq!(e.code(), "number_not_integer");
    }
}
