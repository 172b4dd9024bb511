//! Integration tests of `treaty-card`: one binary, one module per concern.
//!
//! - `fixtures`: a valid card, keys and helpers that sign arbitrary (even invalid) JSON, so
//!   each test can produce exactly the broken card it needs with a valid signature;
//! - `round_trip`: sign, serve, verify; determinism; `volatile` and the ETag;
//! - `tamper`: every signed leaf, changed, breaks verification;
//! - `rotation`: key validity windows and clock skew;
//! - `origin`: the card's origin against where it was fetched, endpoints under `base_url`;
//! - `malformed`: one test per refusal, each checking its own `CardError` variant;
//! - `vectors`: RFC 8037 appendix A (Ed25519 JWK, thumbprint, JWS signing and verification).

mod fixtures;
mod malformed;
mod origin;
mod rotation;
mod round_trip;
mod tamper;
mod vectors;
