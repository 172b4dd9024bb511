//! The one error type of this crate.
//!
//! Every check `verify_card` makes fails with its own variant, so a peer (or an operator
//! reading a log line) can tell a forged card from a stale key, a misconfigured URL or a
//! card fetched from the wrong host without parsing messages. [`CardError::code`] gives the
//! same distinction as a stable string for problem+json answers.

use treaty_note::NoteError;
use treaty_types::JsonError;

use crate::card::CARD_VERSION;
use crate::jws::CARD_JWS_TYPE;

/// Everything that can go wrong building, signing, parsing or verifying a registry card or a
/// JWKS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The input is longer than the named limit for its kind (checked before parsing).
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// What was too large ("registry card", "JWKS", "protected header", ...).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The input is not one well-formed JSON value (syntax error, duplicate member name, ...).
    #[error("{what} is not valid JSON: {reason}")]
    InvalidJson {
        /// What was being parsed.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The JSON has a number that canonical JSON refuses (a fraction, an integer beyond
    /// +-(2^53 - 1)) or is nested too deeply.
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
    /// A member this version of the format does not define. v1 documents have a closed set
    /// of members, so that nothing signed is silently ignored.
    #[error("unknown member {path}")]
    UnknownField {
        /// JSON pointer of the member.
        path: String,
    },
    /// `card_version` is not [`CARD_VERSION`].
    #[error("unknown card_version {found:?}; this verifier knows {CARD_VERSION:?}")]
    UnknownCardVersion {
        /// The stated version (clipped).
        found: String,
    },
    /// A member has the right type but a value outside its rules.
    #[error("invalid {path}: {reason}")]
    InvalidField {
        /// JSON pointer of the member.
        path: String,
        /// Which rule the value breaks.
        reason: &'static str,
    },
    /// An array is longer than its named limit.
    #[error("too many {what}: {count}, the limit is {max}")]
    TooMany {
        /// What was counted ("collections", "signatures", "JWKS keys", ...).
        what: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `node_id` is not a lowercase hyphenated UUID.
    #[error("node_id {value:?} is not a lowercase hyphenated UUID (8-4-4-4-12 hex digits)")]
    InvalidNodeId {
        /// The stated value (clipped).
        value: String,
    },
    /// A URL in the card is not an absolute http(s) URL in the form the card requires.
    #[error("invalid URL at {path}: {reason}")]
    InvalidUrl {
        /// JSON pointer of the URL.
        path: String,
        /// Which rule the URL breaks.
        reason: &'static str,
    },
    /// An endpoint or `ledger.checkpoint_url` is not under `base_url`: the card would send
    /// peers to a host (or path) the card's origin does not vouch for.
    #[error("{path} ({url}) is not under base_url {base_url}")]
    EndpointOutsideBase {
        /// JSON pointer of the URL.
        path: String,
        /// The URL (clipped).
        url: String,
        /// The card's `base_url`.
        base_url: String,
    },
    /// The card describes another origin than the one it was fetched from: a node may only
    /// describe itself.
    #[error("card for origin {card_origin} was fetched from origin {fetched_origin}")]
    OriginMismatch {
        /// `scheme://host[:port]` of the card's `base_url`.
        card_origin: String,
        /// `scheme://host[:port]` of the URL the card was fetched from.
        fetched_origin: String,
    },
    /// The `fetched_from` argument is not an absolute http(s) URL.
    #[error("fetched-from URL {url:?} is invalid: {reason}")]
    InvalidFetchedFrom {
        /// The argument (clipped).
        url: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `policy_hash` is not the SHA-256 of the canonical `trust_policy`.
    #[error("policy_hash {stated} is not SHA-256 over the canonical trust_policy ({computed})")]
    PolicyHashMismatch {
        /// The stated hash (clipped).
        stated: String,
        /// The hash computed from `trust_policy`.
        computed: String,
    },
    /// `ledger.verifier_key` is not a C2SP verifier key.
    #[error("ledger.verifier_key is not a C2SP verifier key: {source}")]
    InvalidVerifierKey {
        /// Why `treaty_note::VerifierKey::parse` refused it.
        #[source]
        source: NoteError,
    },
    /// `ledger.verifier_key` is a valid key of another signature type than Ed25519 `0x01`,
    /// the type a log signs checkpoints with.
    #[error("ledger.verifier_key has type {got:#04x}; a ledger key has type 0x01 (Ed25519)")]
    WrongVerifierKeyType {
        /// The key's type byte.
        got: u8,
    },
    /// `ledger.verifier_key` is named differently from `ledger.origin`, so checkpoints
    /// signed under the origin could never be checked with it.
    #[error("ledger.verifier_key is named {key_name:?} but ledger.origin is {origin:?}")]
    VerifierKeyNameMismatch {
        /// The key's name.
        key_name: String,
        /// The card's ledger origin.
        origin: String,
    },
    /// The card has no `signatures` member, or it is empty.
    #[error("card has no signatures")]
    MissingSignature,
    /// A signature's `protected` or `signature` is not unpadded base64url (or, for
    /// `signature`, does not decode to the 64 bytes of an Ed25519 signature).
    #[error("signature {index}: {part} is not unpadded base64url of the expected length")]
    InvalidBase64 {
        /// Position in `signatures`.
        index: usize,
        /// `"protected"` or `"signature"`.
        part: &'static str,
    },
    /// The protected header does not decode to a JSON object with the members' types right.
    #[error("signature {index}: malformed protected header: {reason}")]
    MalformedHeader {
        /// Position in `signatures`.
        index: usize,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// The protected header is well-formed but not its JCS form, so another parser could
    /// read it differently (duplicate members, white space, key order).
    #[error("signature {index}: protected header is not in canonical (JCS) form")]
    NonCanonicalHeader {
        /// Position in `signatures`.
        index: usize,
    },
    /// The header names a key by URL or embeds one (`jku`, `jwk`, `x5u`, `x5c`, ...).
    /// Verifiers take keys only from the JWKS they already hold, never from the document.
    #[error(
        "signature {index}: header parameter {name:?} is forbidden: keys come from the verifier's JWKS, never from the card"
    )]
    ForbiddenHeaderParameter {
        /// Position in `signatures`.
        index: usize,
        /// The parameter.
        name: String,
    },
    /// The header has a parameter this format does not define (including `crit`).
    #[error("signature {index}: unknown header parameter {name:?}")]
    UnknownHeaderParameter {
        /// Position in `signatures`.
        index: usize,
        /// The parameter (clipped).
        name: String,
    },
    /// The header lacks one of `alg`, `kid`, `typ`, `iat`.
    #[error("signature {index}: header parameter {name:?} is missing")]
    MissingHeaderParameter {
        /// Position in `signatures`.
        index: usize,
        /// The parameter.
        name: &'static str,
    },
    /// `alg` is not `EdDSA`.
    #[error("signature {index}: alg {alg:?} is not \"EdDSA\"")]
    UnsupportedAlgorithm {
        /// Position in `signatures`.
        index: usize,
        /// The stated algorithm (clipped).
        alg: String,
    },
    /// `typ` is not [`CARD_JWS_TYPE`], so the signature was made for another kind of
    /// document and must not be accepted for a card.
    #[error("signature {index}: typ {typ:?} is not {CARD_JWS_TYPE:?}")]
    WrongJwsType {
        /// Position in `signatures`.
        index: usize,
        /// The stated type (clipped).
        typ: String,
    },
    /// Two signatures name the same key.
    #[error("two signatures by key {kid}")]
    DuplicateSignature {
        /// The repeated key ID.
        kid: String,
    },
    /// No signature is by a key in the verifier's JWKS.
    #[error("no signature is by a key in the JWKS (signed by {kids:?})")]
    UnknownKid {
        /// The key IDs the card's signatures name.
        kids: Vec<String>,
    },
    /// The card was signed (`iat`) before the key's `valid_from`.
    #[error("key {kid} is valid from {valid_from}, but the card was signed at {iat}")]
    KeyNotYetValid {
        /// The key.
        kid: String,
        /// The signing time.
        iat: u64,
        /// The start of the key's validity.
        valid_from: u64,
    },
    /// The card was signed at or after the retirement (`valid_until`) of the key.
    #[error("key {kid} was retired at {valid_until}, but the card was signed at {iat}")]
    SignedAfterRetirement {
        /// The key.
        kid: String,
        /// The signing time.
        iat: u64,
        /// The key's retirement time.
        valid_until: u64,
    },
    /// The card claims a signing time further in the future than the allowed clock skew.
    #[error("card signed by {kid} at {iat} is more than {skew_s} s ahead of now ({now})")]
    IssuedInFuture {
        /// The key.
        kid: String,
        /// The signing time.
        iat: u64,
        /// The verifier's time.
        now: u64,
        /// The allowed skew, in seconds.
        skew_s: u64,
    },
    /// The Ed25519 signature by a known key does not verify over the card's canonical core.
    #[error("signature by key {kid} does not verify")]
    InvalidSignature {
        /// The key.
        kid: String,
    },
    /// A JWKS key breaks the OKP/Ed25519 key rules.
    #[error("JWKS key {index}: {reason}")]
    InvalidJwk {
        /// Position in `keys`.
        index: usize,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A JWKS key's `kid` is not the RFC 7638 thumbprint of its public key.
    #[error("JWKS key {index}: kid {kid:?} is not its RFC 7638 thumbprint {thumbprint}")]
    JwkKidMismatch {
        /// Position in `keys`.
        index: usize,
        /// The stated key ID (clipped).
        kid: String,
        /// The thumbprint of the key.
        thumbprint: String,
    },
    /// Two JWKS keys share a `kid`.
    #[error("JWKS lists kid {kid} twice")]
    DuplicateKid {
        /// The repeated key ID.
        kid: String,
    },
    /// `sign_card` was given a `kid` that is not the thumbprint of the signing key.
    #[error("kid {kid:?} is not the RFC 7638 thumbprint {thumbprint} of the signing key")]
    SigningKidMismatch {
        /// The given key ID (clipped).
        kid: String,
        /// The thumbprint of the signing key.
        thumbprint: String,
    },
    /// A time is beyond 2^53 - 1, so it cannot travel as a canonical JSON integer.
    #[error("{what} {value} is above 2^53 - 1")]
    TimestampOutOfRange {
        /// Which time.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

impl CardError {
    /// The stable machine-readable code for problem+json answers and metrics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CardError::TooLarge { .. } => "too_large",
            CardError::InvalidJson { .. } => "invalid_json",
            CardError::UnsafeJson { source, .. } => source.code(),
            CardError::MissingField { .. } => "missing_field",
            CardError::WrongType { .. } => "wrong_type",
            CardError::UnknownField { .. } => "unknown_field",
            CardError::UnknownCardVersion { .. } => "unknown_card_version",
            CardError::InvalidField { .. } => "invalid_field",
            CardError::TooMany { .. } => "too_many",
            CardError::InvalidNodeId { .. } => "invalid_node_id",
            CardError::InvalidUrl { .. } => "invalid_url",
            CardError::EndpointOutsideBase { .. } => "endpoint_outside_base",
            CardError::OriginMismatch { .. } => "origin_mismatch",
            CardError::InvalidFetchedFrom { .. } => "invalid_fetched_from",
            CardError::PolicyHashMismatch { .. } => "policy_hash_mismatch",
            CardError::InvalidVerifierKey { .. } => "invalid_verifier_key",
            CardError::WrongVerifierKeyType { .. } => "wrong_verifier_key_type",
            CardError::VerifierKeyNameMismatch { .. } => "verifier_key_name_mismatch",
            CardError::MissingSignature => "missing_signature",
            CardError::InvalidBase64 { .. } => "invalid_base64",
            CardError::MalformedHeader { .. } => "malformed_header",
            CardError::NonCanonicalHeader { .. } => "non_canonical_header",
            CardError::ForbiddenHeaderParameter { .. } => "forbidden_header_parameter",
            CardError::UnknownHeaderParameter { .. } => "unknown_header_parameter",
            CardError::MissingHeaderParameter { .. } => "missing_header_parameter",
            CardError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            CardError::WrongJwsType { .. } => "wrong_jws_type",
            CardError::DuplicateSignature { .. } => "duplicate_signature",
            CardError::UnknownKid { .. } => "unknown_kid",
            CardError::KeyNotYetValid { .. } => "key_not_yet_valid",
            CardError::SignedAfterRetirement { .. } => "signed_after_retirement",
            CardError::IssuedInFuture { .. } => "issued_in_future",
            CardError::InvalidSignature { .. } => "invalid_signature",
            CardError::InvalidJwk { .. } => "invalid_jwk",
            CardError::JwkKidMismatch { .. } => "jwk_kid_mismatch",
            CardError::DuplicateKid { .. } => "duplicate_kid",
            CardError::SigningKidMismatch { .. } => "signing_kid_mismatch",
            CardError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
        }
    }
}

/// Longest excerpt of untrusted text copied into an error, so that an error message (and the
/// log line it ends up in) stays bounded whatever the input.
const ERROR_EXCERPT_CHARS_MAX: usize = 80;

/// `text` cut to [`ERROR_EXCERPT_CHARS_MAX`] characters, marked with `...` when cut.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(ERROR_EXCERPT_CHARS_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
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
    fn codes_are_distinct_for_distinct_checks() {
        let a = CardError::SignedAfterRetirement {
            kid: "k".into(),
            iat: 2,
            valid_until: 1,
        };
        let b = CardError::KeyNotYetValid {
            kid: "k".into(),
            iat: 0,
            valid_from: 1,
        };
        assert_ne!(a.code(), b.code());
        assert!(a.to_string().contains("retired"));
    }
}
