//! The one error type of this crate.
//!
//! Every check a verifier makes fails with its own variant, so a node (or an operator reading
//! a log line) can tell a forged request from a stale one, a replay, a clock problem or a
//! misconfigured peer without parsing messages. [`HttpSigError::code`] gives the same
//! distinction as a stable string for RFC 9457 problem details. Values that come from the
//! peer are clipped before they are stored here, so an error is always small enough to log.

use crate::sf::SfError;

/// Longest peer-supplied text kept in an error.
const CLIP_CHARS: usize = 80;

/// `text`, cut to [`CLIP_CHARS`] characters with a marker when longer.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(CLIP_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
    }
}

/// Everything that can go wrong building, signing, parsing or verifying a signed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSigError {
    // --- Building requests and configurations --------------------------------------------
    /// A target URI (or one of its parts) is not in the form this crate accepts.
    #[error("invalid target URI: {reason}")]
    InvalidTargetUri {
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A signer or verifier configuration is unusable.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A component name is neither a derived component (`@...`) nor a lowercase field name.
    #[error("invalid component name {name:?}: {reason}")]
    InvalidComponentName {
        /// The name (clipped).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A derived component this crate does not implement, a component with parameters, or
    /// `@signature-params` listed as a covered component (RFC 9421 section 2.3 forbids it).
    #[error("unsupported component {component:?}")]
    UnsupportedComponent {
        /// The component identifier (clipped).
        component: String,
    },
    /// A covered field is absent from the request, so no signature base can be built
    /// (RFC 9421 section 2.5).
    #[error("covered component {component:?} is not in the request")]
    ComponentUnavailable {
        /// The component name.
        component: String,
    },
    /// A covered component's value cannot go into a signature base (a line break, a control
    /// or non-ASCII character, a method that is not a token).
    #[error("component {component:?} has an unusable value: {reason}")]
    InvalidComponentValue {
        /// The component name.
        component: String,
        /// Which rule the value breaks.
        reason: &'static str,
    },
    /// The signer was given a request that already has a `Content-Digest`; the signer
    /// computes that field itself so that it always matches the body it signs.
    #[error("the request already has a Content-Digest field; the signer sets it")]
    ContentDigestAlreadySet,

    // --- Verification: finding and parsing the signature ---------------------------------
    /// The request has no `Signature-Input` field.
    #[error("request has no Signature-Input field")]
    MissingSignatureInput,
    /// The request has no `Signature` field.
    #[error("request has no Signature field")]
    MissingSignature,
    /// A signature field is longer than [`crate::limits::FIELD_BYTES_MAX`].
    #[error("{field} is {len} bytes, over the limit of {max}")]
    FieldTooLarge {
        /// The field name.
        field: &'static str,
        /// Its length (all lines combined).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A signature field is not an RFC 8941 Dictionary.
    #[error("{field} is not a valid structured-field dictionary: {source}")]
    MalformedField {
        /// The field name.
        field: &'static str,
        /// Where and why parsing stopped.
        #[source]
        source: SfError,
    },
    /// The field has no member with the label the verifier looks for.
    #[error("{field} has no signature labelled {label:?}")]
    LabelNotFound {
        /// The field name.
        field: &'static str,
        /// The expected label.
        label: String,
    },
    /// The labelled `Signature-Input` member is not an Inner List of component names
    /// without parameters, or lists a component twice.
    #[error("Signature-Input is not a valid list of covered components: {reason}")]
    InvalidSignatureInput {
        /// Which rule is broken.
        reason: &'static str,
    },
    /// The labelled `Signature` member is not a Byte Sequence of an Ed25519 signature.
    #[error("Signature value is invalid: {reason}")]
    InvalidSignatureValue {
        /// Which rule is broken.
        reason: &'static str,
    },

    // --- Verification: the Treaty profile --------------------------------------------------
    /// A component the profile requires is not covered by the signature.
    #[error("signature does not cover required component {component:?}")]
    MissingComponent {
        /// The required component.
        component: String,
    },
    /// The `tag` parameter is absent or names another application or profile version.
    #[error("signature tag is {found:?}, expected {expected:?}")]
    WrongTag {
        /// The tag found (clipped), if any.
        found: Option<String>,
        /// The tag the verifier requires.
        expected: String,
    },
    /// The `alg` parameter is absent or not `"ed25519"` (RFC 9421 section 3.3.6).
    #[error("signature alg is {found:?}, expected \"ed25519\"")]
    WrongAlg {
        /// The algorithm found (clipped), if any.
        found: Option<String>,
    },
    /// `created`, `expires` or `keyid` is absent.
    #[error("signature parameter {name:?} is missing")]
    MissingParameter {
        /// The parameter.
        name: &'static str,
    },
    /// The `nonce` parameter is absent, so the request could be replayed.
    #[error("signature has no nonce")]
    MissingNonce,
    /// A signature parameter has the wrong type or a value outside its rules.
    #[error("signature parameter {name:?} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A signature parameter the Treaty profile does not define. The profile's parameter set
    /// is closed so that nothing a later version relies on is silently ignored.
    #[error("unknown signature parameter {name:?}")]
    UnknownParameter {
        /// The parameter (clipped).
        name: String,
    },
    /// `created` is further from the verifier's clock than the allowed skew.
    #[error("signature created at {created} is more than {skew_s} s from now ({now})")]
    CreatedOutOfWindow {
        /// The signature's `created`.
        created: u64,
        /// The verifier's time.
        now: u64,
        /// The allowed skew, in seconds.
        skew_s: u64,
    },
    /// `expires` has passed.
    #[error("signature expired at {expires}; now is {now}")]
    Expired {
        /// The signature's `expires`.
        expires: u64,
        /// The verifier's time.
        now: u64,
    },

    // --- Verification: the body (RFC 9530) -----------------------------------------------
    /// The request has a body (or covers `content-digest`) but no `Content-Digest` field.
    #[error("request has no Content-Digest field")]
    MissingContentDigest,
    /// `Content-Digest` is not a Dictionary, or its `sha-256` member is not a Byte Sequence
    /// of 32 bytes.
    #[error("Content-Digest is malformed: {reason}")]
    MalformedContentDigest {
        /// Why.
        reason: String,
    },
    /// `Content-Digest` has no `sha-256` member, the one algorithm Treaty requires.
    #[error("Content-Digest has no sha-256 digest (algorithms present: {found:?})")]
    UnsupportedDigestAlgorithm {
        /// The algorithm keys present (at most a few, clipped).
        found: Vec<String>,
    },
    /// The `sha-256` digest is not the SHA-256 of the body.
    #[error("Content-Digest sha-256 is {stated}, but the body hashes to {computed}")]
    ContentDigestMismatch {
        /// The stated digest, base64.
        stated: String,
        /// The body's digest, base64.
        computed: String,
    },

    // --- Verification: the key and the signature -------------------------------------------
    /// No trusted key has this key ID.
    #[error("no trusted key has keyid {keyid:?}")]
    UnknownKey {
        /// The key ID (clipped).
        keyid: String,
    },
    /// The Ed25519 signature does not verify over the signature base.
    #[error("signature by key {keyid:?} does not verify")]
    BadSignature {
        /// The key ID.
        keyid: String,
    },

    // --- Verification: replay ---------------------------------------------------------------
    /// This key already used this nonce within the replay window.
    #[error("nonce {nonce:?} of key {keyid:?} was already used")]
    NonceReplayed {
        /// The key ID.
        keyid: String,
        /// The nonce.
        nonce: String,
    },
    /// The replay cache holds its capacity of nonces that are all still inside the window.
    /// Evicting one would reopen it to replay, so the request is refused instead.
    #[error("replay cache is full ({capacity} live nonces)")]
    ReplayCacheFull {
        /// The cache's capacity.
        capacity: usize,
    },
    /// A nonce was offered to the replay cache for a signature already outside the window
    /// the cache covers, so the cache could not protect it. Verifiers never do this; it
    /// guards direct callers of [`crate::ReplayCache::check_and_insert`].
    #[error("signature created at {created} is outside the replay window at {now}")]
    ReplayWindowPassed {
        /// The signature's `created`.
        created: u64,
        /// The time of the check.
        now: u64,
    },
    /// The signature was created before the verifier's replay cache started (a node that
    /// restarted has forgotten the nonces it saw, so it refuses what it could have seen).
    #[error("signature created at {created} predates the verifier's start at {start}; sign again")]
    PredatesStart {
        /// The signature's `created`.
        created: u64,
        /// When the verifier's replay cache started.
        start: u64,
    },
}

impl HttpSigError {
    /// A stable, machine-readable code for this error, for logs and RFC 9457 answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTargetUri { .. } => "invalid_target_uri",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::InvalidComponentName { .. } => "invalid_component_name",
            Self::UnsupportedComponent { .. } => "unsupported_component",
            Self::ComponentUnavailable { .. } => "component_unavailable",
            Self::InvalidComponentValue { .. } => "invalid_component_value",
            Self::ContentDigestAlreadySet => "content_digest_already_set",
            Self::MissingSignatureInput => "missing_signature_input",
            Self::MissingSignature => "missing_signature",
            Self::FieldTooLarge { .. } => "signature_field_too_large",
            Self::MalformedField { .. } => "malformed_signature_field",
            Self::LabelNotFound { .. } => "signature_label_not_found",
            Self::InvalidSignatureInput { .. } => "invalid_signature_input",
            Self::InvalidSignatureValue { .. } => "invalid_signature_value",
            Self::MissingComponent { .. } => "missing_required_component",
            Self::WrongTag { .. } => "wrong_tag",
            Self::WrongAlg { .. } => "wrong_alg",
            Self::MissingParameter { .. } => "missing_signature_parameter",
            Self::MissingNonce => "missing_nonce",
            Self::InvalidParameter { .. } => "invalid_signature_parameter",
            Self::UnknownParameter { .. } => "unknown_signature_parameter",
            Self::CreatedOutOfWindow { .. } => "created_out_of_window",
            Self::Expired { .. } => "signature_expired",
            Self::MissingContentDigest => "missing_content_digest",
            Self::MalformedContentDigest { .. } => "malformed_content_digest",
            Self::UnsupportedDigestAlgorithm { .. } => "unsupported_digest_algorithm",
            Self::ContentDigestMismatch { .. } => "content_digest_mismatch",
            Self::UnknownKey { .. } => "unknown_key",
            Self::BadSignature { .. } => "bad_signature",
            Self::NonceReplayed { .. } => "nonce_replayed",
            Self::ReplayCacheFull { .. } => "replay_cache_full",
            Self::ReplayWindowPassed { .. } => "replay_window_passed",
            Self::PredatesStart { .. } => "signature_predates_start",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("abc"), "abc");
        let long = "x".repeat(200);
        assert_eq!(clip(&long).len(), CLIP_CHARS + 3);
        assert_eq!(clip(&"é".repeat(100)).chars().count(), CLIP_CHARS + 3);
    }
}
