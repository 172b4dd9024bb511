//! Named limits. Every size, count and time span a federation document can influence is
//! bounded here and checked where the document is parsed, before other work ("put a limit
//! on everything").

/// Largest signed document (offer, rejection, revocation, signed agreement), in bytes of
/// the RFC 8785 (JCS) form of the whole document including its signature(s). A document
/// with every list at its limit stays far below it (terms with [`COLLECTIONS_MAX`] names of
/// 64 bytes are about 4.5 KiB).
pub const DOCUMENT_BYTES_MAX: usize = 64 * 1024;
/// Most offers in one negotiation: the opening offer and its counter-offers. Bounds the
/// stored thread and makes a negotiation end even between two nodes that never agree.
pub const ROUNDS_MAX: u32 = 16;
/// Most collections named in one set of terms.
pub const COLLECTIONS_MAX: usize = 64;
/// Longest data retention an agreement may state, in days (100 years).
pub const RETENTION_DAYS_MAX: u32 = 36_500;
/// Longest `jurisdiction` text, in bytes.
pub const JURISDICTION_BYTES_MAX: usize = 64;
/// Longest key ID. Treaty's key IDs are 43-character RFC 7638 thumbprints; the bound leaves
/// room without letting a document carry an arbitrary blob in a key ID.
pub const KID_BYTES_MAX: usize = 128;
/// Longest proposal or agreement ID (`[A-Za-z0-9-]`).
pub const ID_BYTES_MAX: usize = 64;
/// Longest human-readable `reason` of a rejection or revocation, in bytes.
pub const REASON_BYTES_MAX: usize = 512;
/// Longest an offer may stay open: `expires_at - created_at`, in seconds (30 days). A
/// peer cannot pin the other side to an offer for longer.
pub const OFFER_TTL_MAX_SECONDS: u64 = 30 * 24 * 60 * 60;
/// How far in the future a document's creation time may be relative to the receiver's
/// clock, in seconds, to absorb clock differences between nodes.
pub const CLOCK_SKEW_SECONDS_MAX: u64 = 300;
/// Highest `max_records` a license may grant.
pub const MAX_RECORDS_LIMIT: u64 = 100_000_000;
/// Highest `max_events_per_minute` a license may grant.
pub const MAX_EVENTS_PER_MINUTE_LIMIT: u32 = 1_000_000;
/// Largest JSON text [`crate::parse_json`] accepts for a stored negotiation thread: every
/// offer at [`DOCUMENT_BYTES_MAX`] plus a rejection or an agreement, with room for white
/// space.
pub const THREAD_BYTES_MAX: usize = (ROUNDS_MAX as usize + 2) * DOCUMENT_BYTES_MAX * 2;
/// Most entries in one sync feed page the puller verifies: the feed's largest page (its
/// `limit` is 1-10,000). Bounds the hashing, parsing and memory of one verification; a
/// longer page is refused before any of that work.
pub const SYNC_PAGE_ENTRIES_MAX: usize = 10_000;
