//! Signing a federation request with Treaty's profile of RFC 9421 (section 3.1).
//!
//! The signer always sets `Content-Digest` itself (RFC 9530) and covers it, so the body is
//! bound to the signature even for an empty body. Time and the nonce are arguments: the
//! caller reads its clock and its random number generator, which keeps this deterministic
//! (Ed25519 itself is deterministic) and testable.

use ed25519_dalek::SigningKey;

use crate::base::{SignatureInput, sign_base, signature_field, signature_input_field};
use crate::component::Component;
use crate::digest::content_digest;
use crate::error::HttpSigError;
use crate::limits::{
    KEYID_BYTES_MAX, NONCE_BYTES_MAX, NONCE_BYTES_MIN, SIGNATURE_VALIDITY_SECONDS_DEFAULT,
    TAG_BYTES_MAX,
};
use crate::request::RequestView;
use crate::sf::{BareItem, INTEGER_MAX, Integer, Key, Parameters, SfString};

/// The label of Treaty's signature in `Signature-Input` and `Signature`.
pub const TREATY_LABEL: &str = "treaty";
/// The `tag` naming Treaty's profile (RFC 9421 section 2.3: "an application-specific tag").
/// A signature made for any other application or profile version carries another tag and is
/// refused, so signatures cannot be carried over from one to the other.
pub const TREATY_TAG: &str = "treaty/v1";
/// The `alg` of every Treaty signature (RFC 9421 section 3.3.6).
pub const ALG_ED25519: &str = "ed25519";

/// The components every Treaty signature covers, whatever else a configuration adds: the
/// method, where the request goes (`@target-uri` includes path and query, `@authority`
/// names the node), and the body through `content-digest` (STANDARDS.md).
#[must_use]
pub fn treaty_required_components() -> Vec<Component> {
    vec![
        Component::Method,
        Component::TargetUri,
        Component::Authority,
        Component::content_digest(),
    ]
}

/// What a signer puts into its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerConfig {
    /// The signature's label.
    label: Key,
    /// The `tag` parameter.
    tag: SfString,
    /// The covered components, in the order they are signed.
    components: Vec<Component>,
    /// `expires` minus `created`, in seconds.
    validity_seconds: u64,
}

impl SignerConfig {
    /// Treaty's profile: label [`TREATY_LABEL`], tag [`TREATY_TAG`], covering
    /// `"@method" "@target-uri" "@authority" "content-digest"`, valid for
    /// [`SIGNATURE_VALIDITY_SECONDS_DEFAULT`].
    #[must_use]
    pub fn treaty_v1() -> Self {
        Self {
            label: Key::from_static(TREATY_LABEL),
            tag: SfString::from_trusted(TREATY_TAG),
            components: treaty_required_components(),
            validity_seconds: SIGNATURE_VALIDITY_SECONDS_DEFAULT,
        }
    }

    /// Covers `components`, in this order. They must include the four components of
    /// [`treaty_required_components`]; `@path`, `@query`, `content-type` or any other field
    /// may be added (every covered field must then be present on every request signed).
    ///
    /// # Errors
    /// [`HttpSigError::InvalidConfig`] when a required component is missing;
    /// [`HttpSigError::InvalidSignatureInput`] when one repeats or there are too many.
    pub fn with_components(mut self, components: Vec<Component>) -> Result<Self, HttpSigError> {
        if !treaty_required_components()
            .iter()
            .all(|r| components.contains(r))
        {
            return Err(HttpSigError::InvalidConfig {
                reason: "covered components must include @method, @target-uri, @authority and content-digest",
            });
        }
        // Checks repeats and the count limit.
        SignatureInput::new(components.clone(), Parameters::new())?;
        self.components = components;
        Ok(self)
    }

    /// Sets how long a signature stays valid after `created`.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidConfig`] for zero, which would make every signature expired.
    pub fn with_validity_seconds(mut self, validity_seconds: u64) -> Result<Self, HttpSigError> {
        if validity_seconds == 0 || validity_seconds > INTEGER_MAX.unsigned_abs() {
            return Err(HttpSigError::InvalidConfig {
                reason: "validity must be at least one second",
            });
        }
        self.validity_seconds = validity_seconds;
        Ok(self)
    }

    /// Sets the label and tag (for another profile version or for tests).
    ///
    /// # Errors
    /// [`HttpSigError::InvalidConfig`] when `label` is not a structured-field key or `tag`
    /// is empty, longer than [`TAG_BYTES_MAX`] or not printable ASCII.
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

    /// The covered components.
    #[must_use]
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The validity, in seconds.
    #[must_use]
    pub fn validity_seconds(&self) -> u64 {
        self.validity_seconds
    }
}

/// A tag as a String item, if it is 1 to [`TAG_BYTES_MAX`] printable characters.
pub(crate) fn profile_tag(tag: &str) -> Option<SfString> {
    if tag.is_empty() || tag.len() > TAG_BYTES_MAX {
        return None;
    }
    SfString::new(tag).ok()
}

/// The three header fields a signed request carries, values ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Content-Digest`: `sha-256=:<base64>:`.
    pub content_digest: String,
    /// `Signature-Input`: `<label>=(<components>);created=..;expires=..;nonce=".."
    /// ;keyid="..";alg="ed25519";tag=".."`.
    pub signature_input: String,
    /// `Signature`: `<label>=:<base64 Ed25519 signature>:`.
    pub signature: String,
}

impl SignedHeaders {
    /// The fields as `(lowercase name, value)`, to add to the request (replacing any field of
    /// the same name).
    #[must_use]
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("content-digest", &self.content_digest),
            ("signature-input", &self.signature_input),
            ("signature", &self.signature),
        ]
    }
}

/// Signs requests with one node key.
pub struct Signer {
    /// The node's Ed25519 key.
    key: SigningKey,
    /// The `keyid` peers look the key up by.
    keyid: SfString,
    /// What to sign.
    config: SignerConfig,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("Signer")
            .field("keyid", &self.keyid.as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer using `key`, announced as `keyid`.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidParameter`] when `keyid` is empty, longer than
    /// [`KEYID_BYTES_MAX`] or not printable ASCII.
    pub fn new(key: SigningKey, keyid: &str, config: SignerConfig) -> Result<Self, HttpSigError> {
        if keyid.is_empty() || keyid.len() > KEYID_BYTES_MAX {
            return Err(HttpSigError::InvalidParameter {
                name: "keyid",
                reason: "must be 1 to KEYID_BYTES_MAX characters",
            });
        }
        let keyid = SfString::new(keyid).map_err(|_| HttpSigError::InvalidParameter {
            name: "keyid",
            reason: "must be printable ASCII",
        })?;
        Ok(Self { key, keyid, config })
    }

    /// The key ID this signer announces.
    #[must_use]
    pub fn keyid(&self) -> &str {
        self.keyid.as_str()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SignerConfig {
        &self.config
    }

    /// Signs `req` at `created` (Unix seconds) with `nonce`, and returns the fields to add.
    ///
    /// `nonce` must be fresh randomness for every request (at least [`NONCE_BYTES_MIN`]
    /// printable characters, e.g. 16 random bytes in base64url); the receiver refuses a
    /// nonce it has seen from this key within its window.
    ///
    /// # Errors
    /// - [`HttpSigError::InvalidParameter`]: the nonce is too short, too long or not
    ///   printable ASCII, or `created` is beyond what a structured-field integer holds;
    /// - [`HttpSigError::ContentDigestAlreadySet`]: `req` already has a `Content-Digest`;
    /// - [`HttpSigError::ComponentUnavailable`], [`HttpSigError::InvalidComponentValue`]:
    ///   a covered component cannot be read from `req`.
    pub fn sign(
        &self,
        req: &RequestView<'_>,
        created: u64,
        nonce: &str,
    ) -> Result<SignedHeaders, HttpSigError> {
        if !(NONCE_BYTES_MIN..=NONCE_BYTES_MAX).contains(&nonce.len()) {
            return Err(HttpSigError::InvalidParameter {
                name: "nonce",
                reason: "must be NONCE_BYTES_MIN to NONCE_BYTES_MAX characters",
            });
        }
        let nonce = SfString::new(nonce).map_err(|_| HttpSigError::InvalidParameter {
            name: "nonce",
            reason: "must be printable ASCII",
        })?;
        let timestamp = |value: u64, name| {
            i64::try_from(value)
                .ok()
                .and_then(|v| Integer::new(v).ok())
                .ok_or(HttpSigError::InvalidParameter {
                    name,
                    reason: "is beyond a structured-field integer",
                })
        };
        let created_item = timestamp(created, "created")?;
        let expires_item = timestamp(
            created.saturating_add(self.config.validity_seconds),
            "expires",
        )?;

        if req.header_values("content-digest").next().is_some() {
            return Err(HttpSigError::ContentDigestAlreadySet);
        }
        let digest = content_digest(req.body);
        let mut headers = req.headers.to_vec();
        headers.push(("content-digest", &digest));
        let view = RequestView {
            headers: &headers,
            ..*req
        };

        // Parameter order is fixed, so the same request, time, nonce and key always give
        // the same bytes.
        let mut params = Parameters::new();
        let entries = [
            ("created", BareItem::Integer(created_item)),
            ("expires", BareItem::Integer(expires_item)),
            ("nonce", BareItem::String(nonce)),
            ("keyid", BareItem::String(self.keyid.clone())),
            ("alg", BareItem::String(SfString::from_trusted(ALG_ED25519))),
            ("tag", BareItem::String(self.config.tag.clone())),
        ];
        for (name, value) in entries {
            params.push(Key::from_static(name), value).map_err(|_| {
                HttpSigError::InvalidConfig {
                    reason: "signature parameters could not be assembled",
                }
            })?;
        }
        let input = SignatureInput::new(self.config.components.clone(), params)?;
        let base = input.signature_base(&view)?;
        let signature = sign_base(&self.key, &base);
        Ok(SignedHeaders {
            content_digest: digest,
            signature_input: signature_input_field(&self.config.label, &input),
            signature: signature_field(&self.config.label, &signature),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TargetUri;

    fn signer() -> Signer {
        Signer::new(
            SigningKey::from_bytes(&[7; 32]),
            "node-a",
            SignerConfig::treaty_v1(),
        )
        .expect("valid test input")
    }

    #[test]
    fn header_format_is_stable() {
        let target =
            TargetUri::parse("https://peer.example/v1/federation/hello").expect("valid test input");
        let req = RequestView {
            method: "POST",
            target: &target,
            headers: &[("content-type", "application/json")],
            body: b"{}",
        };
        let signed = signer()
            .sign(&req, 1_700_000_000, "AAAAAAAAAAAAAAAAAAAAAA")
            .expect("valid test input");
        assert_eq!(
            signed.content_digest,
            "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"
        );
        assert_eq!(
            signed.signature_input,
            "treaty=(\"@method\" \"@target-uri\" \"@authority\" \"content-digest\")\
             ;created=1700000000;expires=1700000300;nonce=\"AAAAAAAAAAAAAAAAAAAAAA\"\
             ;keyid=\"node-a\";alg=\"ed25519\";tag=\"treaty/v1\""
        );
        assert!(signed.signature.starts_with("treaty=:"));
        // Deterministic: the same inputs sign to the same bytes.
        let again = signer()
            .sign(&req, 1_700_000_000, "AAAAAAAAAAAAAAAAAAAAAA")
            .expect("valid test input");
        assert_eq!(signed, again);
    }

    #[test]
    fn refuses_bad_arguments() {
        let target = TargetUri::parse("https://peer.example/").expect("valid test input");
        let req = RequestView {
            method: "GET",
            target: &target,
            headers: &[],
            body: b"",
        };
        let s = signer();
        assert_eq!(
            s.sign(&req, 1, "short")
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        assert_eq!(
            s.sign(&req, 1, &"n".repeat(NONCE_BYTES_MAX + 1))
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        assert_eq!(
            s.sign(&req, 1, "0123456789abcdef\u{e9}")
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        assert_eq!(
            s.sign(&req, u64::MAX, "0123456789abcdef")
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        let with_digest = RequestView {
            headers: &[("Content-Digest", "sha-256=:AAAA:")],
            ..req
        };
        assert_eq!(
            s.sign(&with_digest, 1, "0123456789abcdef")
                .expect_err("must be refused"),
            HttpSigError::ContentDigestAlreadySet
        );
        assert!(
            Signer::new(
                SigningKey::from_bytes(&[1; 32]),
                "",
                SignerConfig::treaty_v1()
            )
            .is_err()
        );
        assert!(
            Signer::new(
                SigningKey::from_bytes(&[1; 32]),
                "k\u{1}",
                SignerConfig::treaty_v1()
            )
            .is_err()
        );
    }

    #[test]
    fn configuration_keeps_the_required_components() {
        let config = SignerConfig::treaty_v1();
        assert_eq!(
            config
                .clone()
                .with_components(vec![Component::Method, Component::TargetUri])
                .expect_err("must be refused")
                .code(),
            "invalid_config"
        );
        let mut more = treaty_required_components();
        more.push(Component::parse("content-type").expect("valid test input"));
        more.push(Component::Path);
        assert_eq!(
            config
                .clone()
                .with_components(more.clone())
                .expect("valid test input")
                .components(),
            more
        );
        more.push(Component::Path);
        assert!(config.clone().with_components(more).is_err());
        assert!(config.clone().with_validity_seconds(0).is_err());
        assert!(config.clone().with_label_and_tag("Bad", "x").is_err());
        assert!(config.clone().with_label_and_tag("ok", "").is_err());
        let other = config
            .with_label_and_tag("sig1", "other/v2")
            .expect("valid test input");
        assert_eq!((other.label(), other.tag()), ("sig1", "other/v2"));
    }

    /// The constants built without run-time checks are valid structured-field values.
    #[test]
    fn trusted_constants_are_valid() {
        assert!(Key::new(TREATY_LABEL).is_ok());
        assert!(profile_tag(TREATY_TAG).is_some());
        assert!(SfString::new(ALG_ED25519).is_ok());
        for name in ["created", "expires", "nonce", "keyid", "alg", "tag"] {
            assert!(Key::new(name).is_ok(), "{name}");
        }
        for name in [
            "@method",
            "@target-uri",
            "@authority",
            "@scheme",
            "@path",
            "@query",
            "@signature-params",
            "content-digest",
        ] {
            assert!(SfString::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let text = format!("{:?}", signer());
        assert!(text.contains("node-a"));
        assert!(!text.to_lowercase().contains("secret"));
    }
}
