//! Signed federation requests: RFC 9421 HTTP Message Signatures with Ed25519 and RFC 9530
//! `Content-Digest`, under Treaty's profile (STANDARDS.md, "Signed requests").
//!
//! What this crate does:
//!
//! - RFC 9530 `Content-Digest` with SHA-256: [`content_digest`], [`verify_content_digest`];
//! - RFC 8941 structured fields, the subset the signature fields use, with named limits:
//!   [`sf`];
//! - RFC 9421 covered components (section 2: [`Component`], [`TargetUri`]), signature
//!   parameters and the signature base (sections 2.3 and 2.5: [`SignatureInput`]), Ed25519
//!   signing and verification (section 3.3.6: [`sign_base`], [`verify_base`]) and the
//!   `Signature-Input` and `Signature` fields (sections 4.1 and 4.2);
//! - Treaty's profile on top: [`Signer`] (section 3.1) and [`Verifier`] (section 3.2) with a
//!   distinct error per failed check ([`HttpSigError::code`]), and the bounded
//!   [`ReplayCache`] for nonces.
//!
//! What it deliberately does not do: no I/O and no HTTP types (callers describe a request
//! with a [`RequestView`]), no clock (the signing time and the verifier's "now" are
//! arguments), no randomness (the nonce is an argument; Ed25519 signing is deterministic),
//! no key storage or key fetching (the verifier gets a lookup function). Nothing here
//! panics on input, and every parser checks a named limit ([`limits`]) before doing work.
//!
//! # Treaty's profile
//!
//! Every federation request carries three fields; for
//! `POST https://peer.example/v1/federation/hello` with body `{}`, signed by key `node-a` at
//! `created` 1700000000:
//!
//! ```text
//! Content-Digest: sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:
//! Signature-Input: treaty=("@method" "@target-uri" "@authority" "content-digest")
//!   ;created=1700000000;expires=1700000300;nonce="<random>";keyid="node-a"
//!   ;alg="ed25519";tag="treaty/v1"
//! Signature: treaty=:<base64 of the 64-byte Ed25519 signature>:
//! ```
//!
//! (`Signature-Input` is one line on the wire.) The signature base signed is
//!
//! ```text
//! "@method": POST
//! "@target-uri": https://peer.example/v1/federation/hello
//! "@authority": peer.example
//! "content-digest": sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:
//! "@signature-params": ("@method" "@target-uri" "@authority" "content-digest");created=...
//! ```
//!
//! - label [`TREATY_LABEL`] (`treaty`), tag [`TREATY_TAG`] (`treaty/v1`), alg `ed25519`;
//! - covered at least `@method`, `@target-uri`, `@authority`, `content-digest`; a signer may
//!   add `@path`, `@query`, `content-type` or any header field;
//! - `expires` = `created` + [`limits::SIGNATURE_VALIDITY_SECONDS_DEFAULT`]; a verifier
//!   accepts `created` within +-[`limits::CLOCK_SKEW_SECONDS_DEFAULT`] of its clock;
//! - every nonce is accepted once per key within the window ([`ReplayCache`]).
//!
//! The order of the verifier's checks and their error codes are listed in [`verify`].
//!
//! # Example
//!
//! ```
//! use treaty_httpsig::{
//!     ReplayCache, RequestView, Signer, SignerConfig, SigningKey, TargetUri, Verifier,
//!     VerifierConfig,
//! };
//!
//! let key = SigningKey::from_bytes(&[1; 32]);
//! let public = key.verifying_key();
//! let signer = Signer::new(key, "node-a", SignerConfig::treaty_v1())?;
//!
//! // Client side: sign, then add the three fields to the outgoing request.
//! let target = TargetUri::parse("https://peer.example/v1/federation/hello")?;
//! let body = br#"{"hello":"world"}"#;
//! let headers = [("content-type", "application/json")];
//! let request = RequestView { method: "POST", target: &target, headers: &headers, body };
//! let signed = signer.sign(&request, 1_700_000_000, "kJ3sW1b3Xc9aQe0vT7mN2w")?;
//!
//! // Server side: the request as received, with the fields added.
//! let mut received = headers.to_vec();
//! received.extend(signed.pairs());
//! let request = RequestView { headers: &received, ..request };
//! let verifier = Verifier::new(VerifierConfig::treaty_v1(), |keyid: &str| {
//!     (keyid == "node-a").then_some(public)
//! });
//! let mut replay = ReplayCache::default();
//! let verified = verifier.verify(&request, 1_700_000_002, &mut replay)?;
//! assert_eq!(verified.keyid(), "node-a");
//!
//! // The same request again is a replay.
//! let again = verifier.verify(&request, 1_700_000_003, &mut replay).unwrap_err();
//! assert_eq!(again.code(), "nonce_replayed");
//! # Ok::<(), treaty_httpsig::HttpSigError>(())
//! ```

mod base;
mod component;
mod digest;
mod error;
pub mod limits;
mod replay;
mod request;
pub mod sf;
mod sign;
pub mod verify;

pub use base::{
    SIGNATURE_BYTES, SignatureInput, sign_base, signature_field, signature_input_field, verify_base,
};
pub use component::{Component, FieldName};
pub use digest::{SHA256_KEY, content_digest, verify_content_digest};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::HttpSigError;
pub use replay::ReplayCache;
pub use request::{RequestView, TARGET_URI_BYTES_MAX, TargetUri};
pub use sign::{
    ALG_ED25519, SignedHeaders, Signer, SignerConfig, TREATY_LABEL, TREATY_TAG,
    treaty_required_components,
};
pub use verify::{
    Authenticated, ParsedSignature, VerifiedRequest, Verifier, VerifierConfig, parse_signature,
};
