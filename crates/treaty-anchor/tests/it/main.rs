//! Integration tests of treaty-anchor: round trips, tampering, exact `.ots` bytes, errors.

mod common;
mod errors;
mod jcs;
mod ots_bytes;
mod roundtrip;
mod tamper;
