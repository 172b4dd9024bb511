//! Integration tests of `treaty-httpsig`: one binary, one module per concern.
//!
//! - `fixtures`: an owned request type, keys, and a signer for arbitrary (even invalid)
//!   signature parameters, so each rejection test gets a correctly signed request whose only
//!   defect is the one under test;
//! - `rfc_vectors`: RFC 9421 appendix B.2.6 (Ed25519) byte for byte, RFC 9530 digests;
//! - `round_trip`: sign then verify, for every supported shape of request and profile;
//! - `rejections`: every check of the verifier fails with its own error code, and nothing
//!   but a successful verification changes the replay cache;
//! - `tampering`: changing any covered part of a signed request breaks verification;
//! - `garbage`: random and mutated field values never panic and never verify by accident.

mod fixtures;
mod garbage;
mod rejections;
mod rfc_vectors;
mod round_trip;
mod tampering;
