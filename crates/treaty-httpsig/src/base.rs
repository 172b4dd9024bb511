//! Signature parameters (RFC 9421 section 2.3), the signature base (section 2.5), the raw
//! Ed25519 primitives (section 3.3.6) and the `Signature-Input` and `Signature` field values
//! (sections 4.1 and 4.2).
//!
//! These are profile-free building blocks: they sign and check whatever components and
//! parameters they are given, which is what the RFC 9421 appendix B test vectors need.
//! Treaty's rules (required components and parameters, clocks, replay) live in
//! [`crate::sign`] and [`crate::verify`].

use std::fmt::Write as _;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::component::Component;
use crate::error::HttpSigError;
use crate::limits::COVERED_COMPONENTS_MAX;
use crate::request::RequestView;
use crate::sf::{self, BareItem, InnerList, Item, Key, MemberValue, Parameters, SfString};

/// Length of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// The name of the signature-parameters line of a signature base.
const SIGNATURE_PARAMS: &str = "@signature-params";

/// The covered components and signature parameters of one signature: the value of its
/// `Signature-Input` member and of the `@signature-params` line (RFC 9421 section 2.3).
///
/// Both orders are kept exactly: they are part of what is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    /// The covered components, in order, each at most once.
    components: Vec<Component>,
    /// The signature parameters, in order.
    params: Parameters,
}

impl SignatureInput {
    /// Covered components and parameters.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidSignatureInput`] when a component repeats or there are more
    /// than [`COVERED_COMPONENTS_MAX`] (RFC 9421 section 2: "each component identifier MUST
    /// occur only once").
    pub fn new(components: Vec<Component>, params: Parameters) -> Result<Self, HttpSigError> {
        if components.len() > COVERED_COMPONENTS_MAX {
            return Err(HttpSigError::InvalidSignatureInput {
                reason: "more than COVERED_COMPONENTS_MAX covered components",
            });
        }
        for (i, c) in components.iter().enumerate() {
            if components.iter().skip(i + 1).any(|other| other == c) {
                return Err(HttpSigError::InvalidSignatureInput {
                    reason: "a component is covered twice",
                });
            }
        }
        Ok(Self { components, params })
    }

    /// Reads a parsed `Signature-Input` member: an Inner List of Strings, each a component
    /// name without parameters, with the signature parameters on the list.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidSignatureInput`] for another shape or a repeated component;
    /// [`HttpSigError::UnsupportedComponent`] for a component with parameters or one this
    /// crate does not implement; [`HttpSigError::InvalidComponentName`] for a field name
    /// that is not a lowercase token.
    pub fn from_member(member: &MemberValue) -> Result<Self, HttpSigError> {
        let MemberValue::InnerList(list) = member else {
            return Err(HttpSigError::InvalidSignatureInput {
                reason: "the member is not an inner list",
            });
        };
        let mut components = Vec::with_capacity(list.items.len());
        for item in &list.items {
            let BareItem::String(name) = &item.bare else {
                return Err(HttpSigError::InvalidSignatureInput {
                    reason: "a covered component is not a string",
                });
            };
            if !item.params.is_empty() {
                // `sf`, `key`, `bs`, `req`, `tr`: not implemented, and ignoring one would
                // build a different base than the signer's.
                return Err(HttpSigError::UnsupportedComponent {
                    component: crate::error::clip(&item.to_string()),
                });
            }
            components.push(Component::parse(name.as_str())?);
        }
        Self::new(components, list.params.clone())
    }

    /// The covered components, in order.
    #[must_use]
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The signature parameters, in order.
    #[must_use]
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// The Inner List with parameters this input serializes as.
    fn inner_list(&self) -> InnerList {
        InnerList {
            items: self
                .components
                .iter()
                .map(|c| Item {
                    // Component names are printable ASCII by construction: derived names
                    // are constants and field names are tokens.
                    bare: BareItem::String(component_string(c)),
                    params: Parameters::new(),
                })
                .collect(),
            params: self.params.clone(),
        }
    }

    /// The serialized value (RFC 9421 section 2.3): the `@signature-params` component value
    /// and the value of this signature's `Signature-Input` member.
    #[must_use]
    pub fn serialize(&self) -> String {
        self.inner_list().to_string()
    }

    /// The signature base for `req` (RFC 9421 section 2.5): one line
    /// `"<component>": <value>\n` per covered component, in order, then the
    /// `"@signature-params": <serialized input>` line without a final newline.
    ///
    /// # Errors
    /// [`HttpSigError::ComponentUnavailable`] when a covered field is absent;
    /// [`HttpSigError::InvalidComponentValue`] when a value cannot go into a base.
    pub fn signature_base(&self, req: &RequestView<'_>) -> Result<String, HttpSigError> {
        let mut base = String::new();
        for component in &self.components {
            let value = component.value(req)?;
            let name = BareItem::String(component_string(component));
            // Writing to a String cannot fail.
            let _ = writeln!(base, "{name}: {value}");
        }
        let name = BareItem::String(SfString::from_trusted(SIGNATURE_PARAMS));
        let _ = write!(base, "{name}: {}", self.serialize());
        Ok(base)
    }
}

/// A component name as a String item. Component names are printable ASCII without quotes
/// or backslashes by construction (derived names are constants, field names are tokens).
fn component_string(component: &Component) -> SfString {
    SfString::from_trusted(component.name())
}

/// Signs a signature base with Ed25519 (RFC 9421 section 3.3.6: the base is the message,
/// no prehash). Ed25519 is deterministic, so the same key and base give the same bytes.
#[must_use]
pub fn sign_base(key: &SigningKey, base: &str) -> [u8; SIGNATURE_BYTES] {
    key.sign(base.as_bytes()).to_bytes()
}

/// Whether `signature` is a valid Ed25519 signature by `key` over `base`.
///
/// Uses `verify_strict`, which also refuses small-order keys and non-canonical signature
/// encodings, so one base has one accepted signature per key.
#[must_use]
pub fn verify_base(key: &VerifyingKey, base: &str, signature: &[u8; SIGNATURE_BYTES]) -> bool {
    key.verify_strict(base.as_bytes(), &Signature::from_bytes(signature))
        .is_ok()
}

/// The `Signature-Input` field value for one signature: `<label>=<serialized input>`.
#[must_use]
pub fn signature_input_field(label: &Key, input: &SignatureInput) -> String {
    sf::serialize_member(label, &MemberValue::InnerList(input.inner_list()))
}

/// The `Signature` field value for one signature: `<label>=:<base64 signature>:`.
#[must_use]
pub fn signature_field(label: &Key, signature: &[u8; SIGNATURE_BYTES]) -> String {
    sf::serialize_member(
        label,
        &MemberValue::Item(Item {
            bare: BareItem::ByteSequence(signature.to_vec()),
            params: Parameters::new(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TargetUri;
    use crate::sf::Integer;

    #[test]
    fn base_layout() {
        let target = TargetUri::parse("https://example.com/a?b=c").expect("valid test input");
        let headers = [("x-empty", "")];
        let req = RequestView {
            method: "GET",
            target: &target,
            headers: &headers,
            body: b"",
        };
        let mut params = Parameters::new();
        params
            .push(
                Key::new("created").expect("valid test input"),
                BareItem::Integer(Integer::new(1).expect("valid test input")),
            )
            .expect("valid test input");
        params
            .push(
                Key::new("keyid").expect("valid test input"),
                BareItem::String(SfString::new("k \"1\"").expect("valid test input")),
            )
            .expect("valid test input");
        let input = SignatureInput::new(
            vec![
                Component::Method,
                Component::Query,
                Component::parse("x-empty").expect("valid test input"),
            ],
            params,
        )
        .expect("valid test input");
        assert_eq!(
            input.signature_base(&req).expect("valid test input"),
            "\"@method\": GET\n\"@query\": ?b=c\n\"x-empty\": \n\"@signature-params\": \
             (\"@method\" \"@query\" \"x-empty\");created=1;keyid=\"k \\\"1\\\"\""
        );
        let label = Key::new("treaty").expect("valid test input");
        assert_eq!(
            signature_input_field(&label, &input),
            "treaty=(\"@method\" \"@query\" \"x-empty\");created=1;keyid=\"k \\\"1\\\"\""
        );
        assert_eq!(
            signature_field(&label, &[0; SIGNATURE_BYTES]),
            format!("treaty=:{}AA==:", "A".repeat(84))
        );
    }

    #[test]
    fn a_component_is_covered_once() {
        let err = SignatureInput::new(
            vec![Component::Method, Component::Method],
            Parameters::new(),
        )
        .expect_err("must be refused");
        assert_eq!(err.code(), "invalid_signature_input");
    }
}
