//! Verifying a signed federation request (RFC 9421 section 3.2) under Treaty's profile.
//!
//! # Order of checks
//!
//! Cheap, local checks come first and the Ed25519 verification last, so malformed or stale
//! requests cost almost nothing; the nonce is recorded only after the signature verifies.
//! Each failure has its own [`HttpSigError`] variant and [`HttpSigError::code`].
//!
//! 1. Fields present: `Signature-Input` (`missing_signature_input`), `Signature`
//!    (`missing_signature`); each within [`FIELD_BYTES_MAX`] (`signature_field_too_large`).
//! 2. Both parse as RFC 8941 Dictionaries (`malformed_signature_field`) and have a member
//!    with the verifier's label (`signature_label_not_found`).
//! 3. The `Signature-Input` member is an Inner List of supported components without
//!    parameters, none repeated (`invalid_signature_input`, `unsupported_component`,
//!    `invalid_component_name`); the `Signature` member is a Byte Sequence of 64 bytes
//!    (`invalid_signature_value`).
//! 4. Parameters, in this order: `tag` is the profile's (`wrong_tag`); `alg` is
//!    `"ed25519"` (`wrong_alg`); no parameter outside `created expires nonce keyid alg tag`
//!    (`unknown_signature_parameter`); `keyid` present (`missing_signature_parameter`), a
//!    String of 1 to [`KEYID_BYTES_MAX`] characters (`invalid_signature_parameter`); `nonce`
//!    present (`missing_nonce`), a String of [`NONCE_BYTES_MIN`] to [`NONCE_BYTES_MAX`]
//!    characters; `created`, then `expires`, present (`missing_signature_parameter`) and
//!    non-negative Integers; `expires` after `created` (`invalid_signature_parameter`).
//! 5. Coverage: `@method`, `@target-uri`, `@authority`, any configured extras, and
//!    `content-digest` when the body is not empty (`missing_required_component`).
//! 6. Time: `created` within +-skew of `now` (`created_out_of_window`); `now` before
//!    `expires` (`signature_expired`).
//! 7. Body: when the body is not empty, `content-digest` is covered, or the field is present,
//!    `Content-Digest` exists (`missing_content_digest`), parses
//!    (`malformed_content_digest`), has `sha-256` (`unsupported_digest_algorithm`) and
//!    matches the body (`content_digest_mismatch`).
//! 8. Key: the key lookup knows `keyid` (`unknown_key`).
//! 9. Signature base (RFC 9421 section 2.5) built from the request (`component_unavailable`,
//!    `invalid_component_value`) and the Ed25519 signature verified with `verify_strict`
//!    (`bad_signature`).
//! 10. Replay, in [`crate::ReplayCache::admit`]: the `(keyid, nonce)` pair is new
//!     (`nonce_replayed`) and the cache has room (`replay_cache_full`).
//!
//! Steps 1 to 9 read only their arguments ([`Verifier::authenticate`]); step 10 is the only
//! state change, and happens only when everything before it passed, so a forged request can
//! neither burn a peer's nonce nor fill the cache.

use ed25519_dalek::VerifyingKey;

use crate::base::{SIGNATURE_BYTES, SignatureInput, verify_base};
use crate::component::Component;
use crate::digest::verify_content_digest;
use crate::error::{HttpSigError, clip};
use crate::limits::{
    CLOCK_SKEW_SECONDS_DEFAULT, FIELD_BYTES_MAX, KEYID_BYTES_MAX, NONCE_BYTES_MAX, NONCE_BYTES_MIN,
};
use crate::replay::ReplayCache;
use crate::request::RequestView;
use crate::sf::{self, BareItem, Item, Key, MemberValue, Parameters, SfString};
use crate::sign::{ALG_ED25519, TREATY_LABEL, TREATY_TAG, profile_tag};

/// The signature parameters of Treaty's profile; any other is refused.
const PROFILE_PARAMETERS: [&str; 6] = ["created", "expires", "nonce", "keyid", "alg", "tag"];

/// The largest skew a configuration may set: one day. More would keep nonces (and accept
/// captured requests) for longer than any clock error justifies.
const CLOCK_SKEW_SECONDS_MAX: u64 = 24 * 60 * 60;

/// What a verifier requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The label of the signature to verify; other labels are ignored.
    label: Key,
    /// The `tag` a signature must carry.
    tag: SfString,
    /// How far `created` may be from the verifier's clock, either way, in seconds.
    skew_seconds: u64,
    /// Components required beyond `@method`, `@target-uri`, `@authority` (always) and
    /// `content-digest` (with a body).
    extra_required: Vec<Component>,
}

impl VerifierConfig {
    /// Treaty's profile: label [`TREATY_LABEL`], tag [`TREATY_TAG`], skew
    /// [`CLOCK_SKEW_SECONDS_DEFAULT`], no extra components.
    #[must_use]
    pub fn treaty_v1() -> Self {
        Self {
            label: Key::from_static(TREATY_LABEL),
            tag: SfString::from_trusted(TREATY_TAG),
            skew_seconds: CLOCK_SKEW_SECONDS_DEFAULT,
            extra_required: Vec::new(),
        }
    }

    /// Also requires `components` to be covered (e.g. `content-type` on an endpoint whose
    /// handler reads it).
    #[must_use]
    pub fn with_required_components(mut self, components: Vec<Component>) -> Self {
        self.extra_required = components;
        self
    }

    /// Sets the allowed clock skew.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidConfig`] above one day.
    pub fn with_skew_seconds(mut self, skew_seconds: u64) -> Result<Self, HttpSigError> {
        if skew_seconds > CLOCK_SKEW_SECONDS_MAX {
            return Err(HttpSigError::InvalidConfig {
                reason: "clock skew may be at most one day",
            });
        }
        self.skew_seconds = skew_seconds;
        Ok(self)
    }

    /// Sets the label and tag (for another profile version or for tests).
    ///
    /// # Errors
    /// [`HttpSigError::InvalidConfig`] as for [`crate::SignerConfig::with_label_and_tag`].
    pub fn with_label_and_tag(mut self, label: &str, tag: &str) -> Result<Self, HttpSigError> {
        self.label = Key::new(label).map_err(|_| HttpSigError::InvalidConfig {
            reason: "label is not a structured-field key (a-z 0-9 _ - . *)",
        })?;
        self.tag = profile_tag(tag).ok_or(HttpSigError::InvalidConfig {
            reason: "tag is not 1 to TAG_BYTES_MAX printable ASCII characters",
        })?;
        Ok(self)
    }

    /// The label.
    #[must_use]
    pub fn label(&self) -> &str {
        self.label.as_str()
    }

    /// The tag.
    #[must_use]
    pub fn tag(&self) -> &str {
        self.tag.as_str()
    }

    /// The allowed skew, in seconds.
    #[must_use]
    pub fn skew_seconds(&self) -> u64 {
        self.skew_seconds
    }

    /// The components required for a request with (`has_body`) or without a body.
    #[must_use]
    pub fn required_components(&self, has_body: bool) -> Vec<Component> {
        let mut required = vec![
            Component::Method,
            Component::TargetUri,
            Component::Authority,
        ];
        if has_body {
            required.push(Component::content_digest());
        }
        for c in &self.extra_required {
            if !required.contains(c) {
                required.push(c.clone());
            }
        }
        required
    }
}

/// One labelled signature read from a request: steps 1 to 3 of the check order, with no
/// profile applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// The label it was found under.
    label: String,
    /// Its covered components and parameters.
    input: SignatureInput,
    /// The signature bytes.
    signature: [u8; SIGNATURE_BYTES],
}

/// Reads the signature labelled `label` from `req`'s `Signature-Input` and `Signature`
/// fields (RFC 9421 section 3.2 steps 1 to 3).
///
/// # Errors
/// The variants of steps 1 to 3 of the [module documentation](self).
pub fn parse_signature(
    req: &RequestView<'_>,
    label: &str,
) -> Result<ParsedSignature, HttpSigError> {
    const INPUT: &str = "Signature-Input";
    const SIGNATURE: &str = "Signature";
    let input_field = req
        .field_value("signature-input")
        .ok_or(HttpSigError::MissingSignatureInput)?;
    let signature_field = req
        .field_value("signature")
        .ok_or(HttpSigError::MissingSignature)?;
    for (field, value) in [(INPUT, &input_field), (SIGNATURE, &signature_field)] {
        if value.len() > FIELD_BYTES_MAX {
            return Err(HttpSigError::FieldTooLarge {
                field,
                len: value.len(),
                max: FIELD_BYTES_MAX,
            });
        }
    }
    let inputs =
        sf::parse_dictionary(&input_field).map_err(|source| HttpSigError::MalformedField {
            field: INPUT,
            source,
        })?;
    let signatures =
        sf::parse_dictionary(&signature_field).map_err(|source| HttpSigError::MalformedField {
            field: SIGNATURE,
            source,
        })?;
    let not_found = |field| HttpSigError::LabelNotFound {
        field,
        label: clip(label),
    };
    let input_member = inputs.get(label).ok_or_else(|| not_found(INPUT))?;
    let signature_member = signatures.get(label).ok_or_else(|| not_found(SIGNATURE))?;
    let input = SignatureInput::from_member(input_member)?;
    let signature =
        match signature_member {
            MemberValue::Item(Item {
                bare: BareItem::ByteSequence(bytes),
                params,
            }) if params.is_empty() => <[u8; SIGNATURE_BYTES]>::try_from(bytes.as_slice())
                .map_err(|_| HttpSigError::InvalidSignatureValue {
                    reason: "an Ed25519 signature is 64 bytes",
                })?,
            _ => {
                return Err(HttpSigError::InvalidSignatureValue {
                    reason: "not a byte sequence without parameters",
                });
            }
        };
    Ok(ParsedSignature {
        label: label.to_owned(),
        input,
        signature,
    })
}

impl ParsedSignature {
    /// The label.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The covered components and parameters.
    #[must_use]
    pub fn input(&self) -> &SignatureInput {
        &self.input
    }

    /// The signature bytes.
    #[must_use]
    pub fn signature(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.signature
    }

    /// Rebuilds the signature base from `req` and checks the Ed25519 signature with `key`
    /// (RFC 9421 section 3.2 steps 7 to 9). Applies no profile: no parameter, time or
    /// coverage rule, no digest check, no replay check. [`Verifier`] does all of those.
    ///
    /// # Errors
    /// [`HttpSigError::ComponentUnavailable`], [`HttpSigError::InvalidComponentValue`] when
    /// the base cannot be built; [`HttpSigError::BadSignature`] when it does not verify.
    pub fn verify_with_key(
        &self,
        req: &RequestView<'_>,
        key: &VerifyingKey,
    ) -> Result<(), HttpSigError> {
        let base = self.input.signature_base(req)?;
        if verify_base(key, &base, &self.signature) {
            Ok(())
        } else {
            let keyid = match self.input.params().get("keyid") {
                Some(BareItem::String(s)) => clip(s.as_str()),
                _ => String::new(),
            };
            Err(HttpSigError::BadSignature { keyid })
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The key that signed.
    keyid: String,
    /// The signature's nonce.
    nonce: String,
    /// The signature's `created`.
    created: u64,
    /// The signature's `expires`.
    expires: u64,
    /// What the signature covers.
    components: Vec<Component>,
}

impl VerifiedRequest {
    /// The key ID of the signing key: who sent the request.
    #[must_use]
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The nonce.
    #[must_use]
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// When the signature was created (signer's clock, Unix seconds).
    #[must_use]
    pub fn created(&self) -> u64 {
        self.created
    }

    /// When the signature expires (Unix seconds).
    #[must_use]
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The covered components.
    #[must_use]
    pub fn components(&self) -> &[Component] {
        &self.components
    }
}

/// A request whose signature verified (steps 1 to 9) but whose nonce is not yet recorded.
/// The only way to a [`VerifiedRequest`] is [`ReplayCache::admit`], so the replay check
/// cannot be forgotten.
#[derive(Debug)]
#[must_use = "a request is verified only once ReplayCache::admit accepts its nonce"]
pub struct Authenticated {
    /// The verified facts.
    pub(crate) request: VerifiedRequest,
    /// The verifier's skew, so the cache keeps the nonce at least that long.
    pub(crate) skew_seconds: u64,
}

impl Authenticated {
    /// The key ID of the signing key (for logging before the replay check).
    #[must_use]
    pub fn keyid(&self) -> &str {
        &self.request.keyid
    }
}

/// Verifies requests under a [`VerifierConfig`], with keys from a lookup function.
///
/// The lookup is `Fn(&str) -> Option<VerifyingKey>`: given a `keyid`, the key the node
/// trusts for it (from its peers' published JWKS), or `None`. It is called at most once per
/// request, after every cheap check.
pub struct Verifier<K> {
    /// What to require.
    config: VerifierConfig,
    /// Trusted keys by key ID.
    keys: K,
}

impl<K> std::fmt::Debug for Verifier<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K> Verifier<K>
where
    K: Fn(&str) -> Option<VerifyingKey>,
{
    /// A verifier with `config` and the key lookup `keys`.
    pub fn new(config: VerifierConfig, keys: K) -> Self {
        Self { config, keys }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Steps 1 to 10: verifies `req` at `now` (Unix seconds) and records its nonce in
    /// `replay`. The cache is changed only when every check passes.
    ///
    /// # Errors
    /// Every variant listed in the [module documentation](self), each for its own check.
    pub fn verify(
        &self,
        req: &RequestView<'_>,
        now: u64,
        replay: &mut ReplayCache,
    ) -> Result<VerifiedRequest, HttpSigError> {
        let authenticated = self.authenticate(req, now)?;
        replay.admit(authenticated, now)
    }

    /// Steps 1 to 9, reading only the arguments: what [`Verifier::verify`] does before the
    /// replay check. Lets a node verify signatures without holding the replay cache's lock.
    ///
    /// # Errors
    /// The variants of steps 1 to 9 of the [module documentation](self).
    pub fn authenticate(
        &self,
        req: &RequestView<'_>,
        now: u64,
    ) -> Result<Authenticated, HttpSigError> {
        // Steps 1 to 3.
        let parsed = parse_signature(req, self.config.label.as_str())?;
        let params = parsed.input.params();

        // Step 4: the profile's parameters.
        let tag = params.get("tag");
        if tag != Some(&BareItem::String(self.config.tag.clone())) {
            return Err(HttpSigError::WrongTag {
                found: tag.map(shown),
                expected: self.config.tag.as_str().to_owned(),
            });
        }
        let alg = params.get("alg");
        if !matches!(alg, Some(BareItem::String(s)) if s.as_str() == ALG_ED25519) {
            return Err(HttpSigError::WrongAlg {
                found: alg.map(shown),
            });
        }
        if let Some((key, _)) = params
            .iter()
            .find(|(k, _)| !PROFILE_PARAMETERS.contains(&k.as_str()))
        {
            return Err(HttpSigError::UnknownParameter {
                name: clip(key.as_str()),
            });
        }
        let keyid = string_param(params, "keyid")?
            .ok_or(HttpSigError::MissingParameter { name: "keyid" })?;
        if keyid.is_empty() || keyid.len() > KEYID_BYTES_MAX {
            return Err(HttpSigError::InvalidParameter {
                name: "keyid",
                reason: "must be 1 to KEYID_BYTES_MAX characters",
            });
        }
        let nonce = string_param(params, "nonce")?.ok_or(HttpSigError::MissingNonce)?;
        if !(NONCE_BYTES_MIN..=NONCE_BYTES_MAX).contains(&nonce.len()) {
            return Err(HttpSigError::InvalidParameter {
                name: "nonce",
                reason: "must be NONCE_BYTES_MIN to NONCE_BYTES_MAX characters",
            });
        }
        let created = timestamp_param(params, "created")?;
        let expires = timestamp_param(params, "expires")?;
        if expires <= created {
            return Err(HttpSigError::InvalidParameter {
                name: "expires",
                reason: "must be after created",
            });
        }

        // Step 5: coverage.
        let covered = parsed.input.components();
        let has_body = !req.body.is_empty();
        if let Some(missing) = self
            .config
            .required_components(has_body)
            .into_iter()
            .find(|c| !covered.contains(c))
        {
            return Err(HttpSigError::MissingComponent {
                component: missing.name().to_owned(),
            });
        }

        // Step 6: time.
        let skew = self.config.skew_seconds;
        if created > now.saturating_add(skew) || created.saturating_add(skew) < now {
            return Err(HttpSigError::CreatedOutOfWindow {
                created,
                now,
                skew_s: skew,
            });
        }
        if now >= expires {
            return Err(HttpSigError::Expired { expires, now });
        }

        // Step 7: the body. A digest that is present is checked even when the body is empty
        // and it is not covered: a mismatch there means the request was altered.
        let digest_field = req.field_value("content-digest");
        if has_body || digest_field.is_some() || covered.contains(&Component::content_digest()) {
            let value = digest_field.ok_or(HttpSigError::MissingContentDigest)?;
            verify_content_digest(&value, req.body)?;
        }

        // Step 8: the key.
        let key =
            (self.keys)(keyid).ok_or_else(|| HttpSigError::UnknownKey { keyid: clip(keyid) })?;

        // Step 9: the signature.
        parsed.verify_with_key(req, &key)?;

        Ok(Authenticated {
            request: VerifiedRequest {
                keyid: keyid.to_owned(),
                nonce: nonce.to_owned(),
                created,
                expires,
                components: covered.to_vec(),
            },
            skew_seconds: skew,
        })
    }
}

/// A parameter value as text for an error message, clipped.
fn shown(item: &BareItem) -> String {
    match item {
        BareItem::String(s) => clip(s.as_str()),
        other => clip(&other.to_string()),
    }
}

/// A String parameter, `None` when absent.
fn string_param<'p>(
    params: &'p Parameters,
    name: &'static str,
) -> Result<Option<&'p str>, HttpSigError> {
    match params.get(name) {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(HttpSigError::InvalidParameter {
            name,
            reason: "must be a string",
        }),
    }
}

/// A required, non-negative Integer parameter.
fn timestamp_param(params: &Parameters, name: &'static str) -> Result<u64, HttpSigError> {
    match params.get(name) {
        None => Err(HttpSigError::MissingParameter { name }),
        Some(BareItem::Integer(i)) => {
            u64::try_from(i.get()).map_err(|_| HttpSigError::InvalidParameter {
                name,
                reason: "must not be negative",
            })
        }
        Some(_) => Err(HttpSigError::InvalidParameter {
            name,
            reason: "must be an integer (Unix seconds)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_components_depend_on_the_body() {
        let config = VerifierConfig::treaty_v1();
        assert_eq!(config.required_components(false).len(), 3);
        assert!(
            config
                .required_components(true)
                .contains(&Component::content_digest())
        );
        let config = config.with_required_components(vec![
            Component::Method,
            Component::parse("content-type").expect("valid test input"),
        ]);
        assert_eq!(
            config
                .required_components(true)
                .iter()
                .map(Component::name)
                .collect::<Vec<_>>(),
            [
                "@method",
                "@target-uri",
                "@authority",
                "content-digest",
                "content-type"
            ]
        );
    }

    #[test]
    fn configuration_is_checked() {
        let config = VerifierConfig::treaty_v1();
        assert_eq!(config.skew_seconds(), CLOCK_SKEW_SECONDS_DEFAULT);
        assert!(
            config
                .clone()
                .with_skew_seconds(CLOCK_SKEW_SECONDS_MAX + 1)
                .is_err()
        );
        assert_eq!(
            config
                .clone()
                .with_skew_seconds(5)
                .expect("valid test input")
                .skew_seconds(),
            5
        );
        assert!(
            config
                .clone()
                .with_label_and_tag("ok", &"t".repeat(65))
                .is_err()
        );
        assert_eq!(
            config
                .with_label_and_tag("sig", "x/v2")
                .expect("valid test input")
                .label(),
            "sig"
        );
    }
}
