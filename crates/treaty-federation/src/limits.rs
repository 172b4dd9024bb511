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

/// Shortest cascade ID (`treaty-cascade-id`), in bytes: 16 characters of
/// `[A-Za-z0-9_-]` carry at least 96 bits when drawn at random, so two requests do not
/// collide by chance in a node's seen-set.
pub const CASCADE_ID_BYTES_MIN: usize = 16;
/// Longest cascade ID, in bytes; IDs are stored per request in the seen-set
/// ([`CASCADE_SEEN_MAX`] of them), so this bounds its memory.
pub const CASCADE_ID_BYTES_MAX: usize = 64;
/// Most hops a cascaded resolve may travel; a node's configured default may not exceed it.
pub const CASCADE_HOPS_MAX: u32 = 8;
/// Hops a cascaded resolve travels when the node's configuration does not say.
pub const CASCADE_HOPS_DEFAULT: u32 = 3;
/// Largest time budget of a cascaded resolve, in milliseconds; a node's configured
/// deadline may not exceed it.
pub const CASCADE_BUDGET_MS_MAX: u64 = 30_000;
/// Time each hop keeps for itself out of the budget it passes on, in milliseconds: enough
/// to verify and relay the next hop's answer before its own caller gives up.
pub const CASCADE_HOP_MARGIN_MS: u64 = 50;
/// Most cascade IDs a node remembers at once (the oldest is forgotten first).
pub const CASCADE_SEEN_MAX: usize = 10_000;
/// How long a node remembers a cascade ID, in milliseconds: well beyond
/// [`CASCADE_BUDGET_MS_MAX`], so a request looping back is recognized for as long as it
/// can live.
pub const CASCADE_SEEN_TTL_MS: u64 = 60_000;
/// Most digits of the decimal values of `treaty-cascade-hops` and
/// `treaty-cascade-budget-ms` (`u64::MAX` has 20).
pub const CASCADE_HEADER_DIGITS_MAX: usize = 20;
/// Largest receipt text in a cascade answer: the largest receipt `treaty_note` parses (a
/// maximal checkpoint note plus the proof lines), so every valid receipt fits.
pub const CASCADE_RECEIPT_BYTES_MAX: usize = treaty_note::MAX_RECEIPT_BYTES;
/// Largest answer to `GET /v1/resolve/{collection}/{key}` a cascading node reads from a
/// peer, in bytes: a record of up to `treaty_types::limits::ENTRY_BYTES_MAX` canonical
/// bytes, its receipt and checkpoint note (up to [`CASCADE_RECEIPT_BYTES_MAX`] each), with
/// room for the surrounding members. Parse it with [`crate::parse_json`] and this limit.
pub const CASCADE_ANSWER_BYTES_MAX: usize = 256 * 1024;

/// Farthest a relayed registry card is kept, in hops from this node: 1 is a first-hand
/// peer's own peer. A card relayed from farther away is not stored, which bounds how far
/// one registry's card list spreads (one hop per sync cycle).
pub const REGISTRY_HOPS_MAX: u32 = 4;
/// Most cards in one page of `GET /v1/federation/registry-cards`.
pub const REGISTRY_CARDS_PAGE_MAX: usize = 500;
/// Largest page of `GET /v1/federation/registry-cards`, in bytes. Typical cards are a few
/// KiB with their JWKS, so a full page of them fits; the serving node cuts pages earlier
/// when its cards are larger.
pub const REGISTRY_CARDS_PAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Largest relayed card, in bytes of its RFC 8785 form (mirrors `treaty-card`'s
/// `CARD_BYTES_MAX`, which the node checks again when it verifies the card).
pub const REGISTRY_CARD_BYTES_MAX: usize = 128 * 1024;
/// Largest relayed JWKS, in bytes of its RFC 8785 form (mirrors `treaty-card`'s
/// `JWKS_BYTES_MAX`).
pub const REGISTRY_JWKS_BYTES_MAX: usize = 32 * 1024;
/// Longest registry name in a relayed card item, in bytes (mirrors `treaty-card`'s
/// `NAME_BYTES_MAX`).
pub const REGISTRY_NAME_BYTES_MAX: usize = 128;

/// Most collections a registry card lists, as read for a drift baseline (the most
/// collections a node may define, `treaty_types::limits::COLLECTIONS_MAX`).
pub const CARD_COLLECTIONS_MAX: usize = treaty_types::limits::COLLECTIONS_MAX;
