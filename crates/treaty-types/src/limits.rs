//! Named limits. Every size, count and time that input can influence is bounded here and
//! checked where the input is parsed ("put a limit on everything").

/// Largest ledger entry, in bytes of its canonical (JCS) form.
pub const ENTRY_BYTES_MAX: usize = 64 * 1024;
/// Largest HTTP request body accepted by any endpoint. Larger than an entry because clients
/// may send insignificant white space; the entry limit is checked after canonicalization.
pub const REQUEST_BODY_BYTES_MAX: usize = 256 * 1024;
/// How much of an oversized request body the node reads (and discards) before answering
/// 413, so that the client receives the answer instead of a connection reset.
pub const REQUEST_BODY_DRAIN_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest record key, in bytes.
pub const RECORD_KEY_BYTES_MAX: usize = 256;
/// Longest collection name, in bytes.
pub const COLLECTION_NAME_BYTES_MAX: usize = 64;
/// Deepest nesting of arrays and objects in a record body.
pub const JSON_DEPTH_MAX: usize = 32;
/// The largest integer magnitude allowed in canonical JSON: 2^53 - 1 (RFC 8785 / I-JSON).
pub const SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;
/// Default and largest page of `GET /v1/records/{collection}`.
pub const LIST_PAGE_DEFAULT: u32 = 100;
/// Largest page of `GET /v1/records/{collection}`.
pub const LIST_PAGE_MAX: u32 = 1000;
/// Default page of `GET /v1/log/entries`.
pub const LOG_ENTRIES_PAGE_DEFAULT: u32 = 100;
/// Largest page of `GET /v1/log/entries`.
pub const LOG_ENTRIES_PAGE_MAX: u32 = 1000;
/// Default number of entries the sequencer puts in one batch (one checkpoint).
pub const BATCH_ENTRIES_DEFAULT: usize = 256;
/// Largest batch an operator may configure.
pub const BATCH_ENTRIES_MAX: usize = 4096;
/// Default longest time a write waits for its batch to close, in milliseconds.
pub const BATCH_WAIT_MS_DEFAULT: u64 = 250;
/// Largest batch wait an operator may configure, in milliseconds.
pub const BATCH_WAIT_MS_MAX: u64 = 10_000;
/// Writes queued for the sequencer beyond which new writes are refused with 503.
pub const SEQUENCER_QUEUE_MAX: usize = 65_536;
/// Collections an operator may define.
pub const COLLECTIONS_MAX: usize = 256;
/// Access tokens an operator may issue.
pub const TOKENS_MAX: usize = 10_000;
/// Longest the node works on one HTTP request before answering 503 `request_timeout`.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Requests the node works on at once; beyond it, 503 `overloaded` at once.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 4096;
/// Largest collection schema, in bytes of its canonical form.
pub const SCHEMA_BYTES_MAX: usize = 64 * 1024;
/// Longest schema version string.
pub const SCHEMA_VERSION_BYTES_MAX: usize = 64;
/// Default page of `GET /v1/discover`.
pub const DISCOVER_PAGE_DEFAULT: u32 = 20;
/// Largest page of `GET /v1/discover`.
pub const DISCOVER_PAGE_MAX: u32 = 100;
/// Longest `query`, `skill` or `tag` parameter of `GET /v1/discover`, in bytes.
pub const DISCOVER_QUERY_BYTES_MAX: usize = 256;
