//! Named limits. Every size, count and time a peer's request can influence is bounded here and
//! checked where the input is parsed, before any other work ("put a limit on everything").

/// Longest value of a `Signature-Input`, `Signature` or `Content-Digest` field, in bytes,
/// after several field lines of the same name are combined. One Treaty signature takes about
/// 300 bytes of `Signature-Input` and 100 of `Signature`; the rest leaves room for a few
/// signatures added by other parties (RFC 9421 section 4.3).
pub const FIELD_BYTES_MAX: usize = 8 * 1024;
/// Most members in one structured-field Dictionary (labels in `Signature-Input`, algorithms
/// in `Content-Digest`).
pub const DICTIONARY_MEMBERS_MAX: usize = 32;
/// Most items in one Inner List, which bounds the covered components of a signature.
pub const INNER_LIST_ITEMS_MAX: usize = 32;
/// Most parameters on one item or Inner List. A Treaty signature carries six.
pub const PARAMETERS_MAX: usize = 16;
/// Longest Dictionary or parameter key (a signature label, a parameter name).
pub const KEY_BYTES_MAX: usize = 64;
/// Longest String or Token item, in bytes (without quotes or escapes).
pub const STRING_BYTES_MAX: usize = 1024;
/// Largest decoded Byte Sequence, in bytes. An Ed25519 signature is 64 bytes and the largest
/// digest in the RFC 9530 registry (SHA-512) is 64 bytes as well.
pub const BYTE_SEQUENCE_BYTES_MAX: usize = 512;
/// Most covered components in one signature.
pub const COVERED_COMPONENTS_MAX: usize = INNER_LIST_ITEMS_MAX;

/// Longest `keyid`. Treaty key IDs are 43-character RFC 7638 thumbprints; the rest is slack
/// for other naming schemes. Also bounds the memory of one replay-cache entry.
pub const KEYID_BYTES_MAX: usize = 128;
/// Shortest `nonce`. Nonces are random values chosen by the signer; fewer than 16 printable
/// characters cannot carry the 96 random bits that keep two nodes' nonces from colliding.
pub const NONCE_BYTES_MIN: usize = 16;
/// Longest `nonce`. 64 characters hold 256 random bits in any common encoding, and the bound
/// keeps one replay-cache entry small.
pub const NONCE_BYTES_MAX: usize = 64;
/// Longest `tag`.
pub const TAG_BYTES_MAX: usize = 64;

/// How far a signature's `created` may be from the verifier's clock, either way, in seconds
/// (STANDARDS.md: "default 300 s"). It is also how long a nonce stays in the replay cache.
pub const CLOCK_SKEW_SECONDS_DEFAULT: u64 = 300;
/// How long after `created` a Treaty signature expires, in seconds. Equal to the skew: a
/// verifier whose clock runs up to that far ahead of the signer's still accepts a fresh
/// request, and a captured request is useless once both bounds have passed.
pub const SIGNATURE_VALIDITY_SECONDS_DEFAULT: u64 = 300;
/// Default capacity of the replay cache, in entries. Each entry holds a key ID and a nonce
/// (at most [`KEYID_BYTES_MAX`] + [`NONCE_BYTES_MAX`] bytes, kept twice for the two indexes),
/// so a full cache of maximal entries stays under about 50 MiB; with Treaty's 43-byte key IDs
/// and 22-byte nonces it is under 20 MiB. 65,536 entries admit about 100 signed requests per
/// second, sustained, over the longest retention of `created` + skew.
pub const REPLAY_CACHE_ENTRIES_DEFAULT: usize = 65_536;
