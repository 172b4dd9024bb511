//! Named limits. Every size, count and time a card or JWKS can influence is bounded here and
//! checked where the input is parsed, before any other work ("put a limit on everything").

/// Largest registry card document accepted, in bytes (as fetched, or as canonical JSON when a
/// parsed value is verified). A card with every list at its limit stays well below it.
pub const CARD_BYTES_MAX: usize = 128 * 1024;
/// Largest JWKS document accepted, in bytes. [`JWKS_KEYS_MAX`] keys take about 10 KiB.
pub const JWKS_BYTES_MAX: usize = 32 * 1024;
/// Most keys in a JWKS: one current key and the retired ones whose cards may still be cached.
pub const JWKS_KEYS_MAX: usize = 32;
/// Most signatures on one card (a node signs with one key; two during a key rotation).
pub const SIGNATURES_MAX: usize = 8;
/// Longest base64url `protected` header text. The header has four short members.
pub const PROTECTED_HEADER_BYTES_MAX: usize = 1024;
/// Longest key ID. Treaty's key IDs are 43-character RFC 7638 thumbprints.
pub const KID_BYTES_MAX: usize = 128;
/// Longest registry `name`.
pub const NAME_BYTES_MAX: usize = 128;
/// Longest URL in a card.
pub const URL_BYTES_MAX: usize = 2048;
/// Longest `ledger.origin` (a C2SP checkpoint origin line).
pub const LEDGER_ORIGIN_BYTES_MAX: usize = 256;
/// Most entries in `collections` (the most collections an operator may define).
pub const COLLECTIONS_MAX: usize = treaty_types::limits::COLLECTIONS_MAX;
/// Longest collection `schema_version`. Mirrors the limit the node applies when a schema is
/// set, so every schema a node accepts can be published.
pub const SCHEMA_VERSION_BYTES_MAX: usize = 64;
/// Most entries in `capabilities`.
pub const CAPABILITIES_MAX: usize = 64;
/// Longest capability string.
pub const CAPABILITY_BYTES_MAX: usize = 64;
/// Longest `operator.contact`.
pub const CONTACT_BYTES_MAX: usize = 256;
/// Longest SPIFFE trust domain (SPIFFE ID standard, section 2.1: at most 255 bytes).
pub const SPIFFE_TRUST_DOMAIN_BYTES_MAX: usize = 255;
/// Highest `trust_policy.min_trust_level` (levels 0-4 of the federation scroll).
pub const TRUST_LEVEL_MAX: u8 = 4;
/// How far in the future a card's signing time (`iat`) may be, in seconds, to absorb clock
/// differences between signer and verifier.
pub const CLOCK_SKEW_SECONDS_MAX: u64 = 300;
/// Longest `volatile.location` coordinate text.
pub const COORDINATE_BYTES_MAX: usize = 16;
