//! OpenTimestamps proofs: the `.ots` binary format, exactly as the reference implementation
//! (python-opentimestamps, `opentimestamps/core/{serialize,op,notary,timestamp}.py`) reads
//! and writes it, and as STANDARDS.md "Timestamps (OpenTimestamps .ots)" summarizes.
//!
//! # Format
//!
//! A detached timestamp file ([`DetachedTimestampFile`]):
//!
//! ```text
//! magic     31 bytes  00 "OpenTimestamps" 00 00 "Proof" 00 bf 89 e2 e8 84 e8 92 94
//! version   1 byte    01
//! file op   1 byte    a hash op: 08 sha256 (also 02 sha1, 03 ripemd160, 67 keccak256)
//! digest    20 or 32 bytes, the op's digest length
//! tree      a timestamp node (below) whose message is the digest
//! ```
//!
//! A timestamp node ([`Timestamp`]) is one or more branches; every branch but the last is
//! preceded by `ff`. A branch is either
//!
//! - an attestation: `00`, an 8-byte tag, then varbytes(payload), or
//! - an operation followed by the node for the operation's result: `08` sha256, `02` sha1,
//!   `03` ripemd160, `67` keccak256, `f2` reverse, `f3` hexlify (lower-case hex of the
//!   message), `f0` append and `f1` prepend, the last two followed by varbytes(argument)
//!   of 1 to 4096 bytes.
//!
//! Integers are unsigned LEB128 ("varuint"); varbytes is a varuint length then the bytes.
//! Attestation payloads: Pending (`83dfe30d2ef90c8e`) carries varbytes(URI), the calendar
//! to ask for the completed proof; Bitcoin (`0588960d73d71901`) carries varuint(block
//! height), and the message at that attestation is the block's Merkle root. Any other tag
//! is kept as an opaque [`Attestation::Unknown`].
//!
//! A calendar's answer to `POST /digest` and `GET /timestamp/<hex>` is a bare timestamp
//! node, without header, whose message is the submitted digest or the requested commitment.
//!
//! # Canonical order
//!
//! The reference writer puts a node's attestations first, sorted by tag and then by URI
//! (Pending), height (Bitcoin) or payload (unknown), and then its operations, sorted by tag
//! and then argument bytes. Everything this module builds or merges is kept in that order.
//! Parsing accepts any order (other writers exist) and keeps it, so a parsed proof always
//! re-serializes byte for byte; it refuses the same branch twice at one node, which the
//! reference reader would silently collapse.
//!
//! # What this module does not do
//!
//! No I/O (calendars are reached by the CLI), no Bitcoin block headers (a Bitcoin
//! attestation is reported with its message; checking it needs a block header), and no
//! SHA-1, RIPEMD-160 or Keccak-256: those operations parse and serialize, but evaluating
//! them is refused with [`OtsError::UnsupportedOp`].

mod attestation;
mod file;
mod op;
mod timestamp;
pub(crate) mod wire;

pub use attestation::{
    Attestation, BITCOIN_TAG, PENDING_TAG, PENDING_URI_CHARS, validate_pending_uri,
};
pub use file::DetachedTimestampFile;
pub use op::Op;
pub use timestamp::{Branch, Evaluated, Timestamp};

/// The 31-byte header magic of a detached timestamp file.
pub const MAGIC: [u8; 31] = *b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94";
/// The only defined major version of the file format.
pub const MAJOR_VERSION: u8 = 1;

/// Largest `.ots` input accepted, file or bare timestamp. Real proofs are a few KiB; this
/// bounds the work a hostile file can cause (every node costs at most one 4 KiB hash).
pub const FILE_BYTES_MAX: usize = 1024 * 1024;
/// Largest calendar answer the reference client reads (`opentimestamps/calendar.py`); the
/// CLI applies it to HTTP bodies, and Treaty nodes must stay within it to be usable by
/// every OpenTimestamps client.
pub const CALENDAR_ANSWER_BYTES_MAX: usize = 10_000;
/// Most timestamp nodes on any path from the top, the top included: the reference
/// reader's recursion limit, so at most 255 operations in a row.
pub const DEPTH_MAX: usize = 256;
/// Longest append/prepend argument (`Op.MAX_RESULT_LENGTH`); arguments are never empty.
pub const OP_ARG_BYTES_MAX: usize = 4096;
/// Longest message an operation may take or produce (`Op.MAX_MSG_LENGTH`,
/// `Op.MAX_RESULT_LENGTH`); hexlify takes at most half of it.
pub const MSG_BYTES_MAX: usize = 4096;
/// Largest attestation payload (`TimeAttestation.MAX_PAYLOAD_SIZE`).
pub const ATTESTATION_PAYLOAD_BYTES_MAX: usize = 8192;
/// Longest Pending attestation URI (`PendingAttestation.MAX_URI_LENGTH`).
pub const PENDING_URI_BYTES_MAX: usize = 1000;
/// Most attestations in one proof. The reference has no limit; real proofs carry a handful
/// (one per calendar, one per chain), so this only stops amplification.
pub const ATTESTATIONS_MAX: usize = 1024;

/// Why bytes are not a valid OpenTimestamps proof, or a proof cannot be built, evaluated or
/// merged. Parse errors name the byte offset in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtsError {
    /// The input is over a size limit.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends in the middle of a structure.
    #[error("truncated at byte {offset}: expected {what}")]
    Truncated {
        /// Where more input was needed.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The file does not start with the 31-byte magic.
    #[error("not an OpenTimestamps proof: the 31-byte header magic does not match")]
    BadMagic,
    /// A major version other than 1.
    #[error("unsupported .ots major version {version} (only 1 is defined)")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The file hash is not a hash operation.
    #[error("byte {offset}: {tag:#04x} is not a hash operation, so it cannot hash the file")]
    BadFileHashOp {
        /// Offset of the tag.
        offset: usize,
        /// The tag found.
        tag: u8,
    },
    /// A branch starts with a byte that is neither `ff`, `00` nor an operation.
    #[error("byte {offset}: unknown operation tag {tag:#04x}")]
    UnknownOp {
        /// Offset of the tag.
        offset: usize,
        /// The tag found.
        tag: u8,
    },
    /// A length outside its allowed range.
    #[error("byte {offset}: {what} length {len} is outside {min}..={max}")]
    BadLength {
        /// Offset of the length.
        offset: usize,
        /// What the length is of.
        what: &'static str,
        /// The length found.
        len: u64,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A varuint with a redundant final zero group.
    #[error("byte {offset}: non-minimal varuint encoding of {what}")]
    NonCanonicalVaruint {
        /// Offset of the varuint.
        offset: usize,
        /// What it encodes.
        what: &'static str,
    },
    /// A varuint beyond 64 bits.
    #[error("byte {offset}: varuint {what} does not fit in 64 bits")]
    VaruintOverflow {
        /// Offset of the varuint.
        offset: usize,
        /// What it encodes.
        what: &'static str,
    },
    /// More nested operations than [`DEPTH_MAX`] allows.
    #[error("byte {offset}: timestamp nested deeper than {max} levels")]
    TooDeep {
        /// Offset of the node that is too deep (0 when building in memory).
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// More attestations than [`ATTESTATIONS_MAX`].
    #[error("more than {max} attestations")]
    TooManyAttestations {
        /// The limit.
        max: usize,
    },
    /// A Pending attestation URI with a character outside [`PENDING_URI_CHARS`], or too
    /// long.
    #[error("byte {offset}: pending attestation URI {reason}")]
    BadPendingUri {
        /// Offset of the URI (0 when building in memory).
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A known attestation's payload has bytes after its content.
    #[error("byte {offset}: {what} attestation payload has {extra} trailing bytes")]
    PayloadTrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// Which attestation.
        what: &'static str,
        /// How many extra bytes.
        extra: usize,
    },
    /// The same operation or attestation twice at one node.
    #[error(
        "byte {offset}: duplicate branch (the same operation or attestation twice at one node)"
    )]
    DuplicateBranch {
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// Bytes after a complete proof.
    #[error("byte {offset}: {extra} trailing bytes after the end of the proof")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many.
        extra: usize,
    },
    /// A node with no branch: the format cannot express it.
    #[error("a timestamp node with no operation and no attestation cannot be serialized")]
    EmptyTimestamp,
    /// An append/prepend argument that is empty or over [`OP_ARG_BYTES_MAX`].
    #[error("{op} argument of {len} bytes is outside 1..={max}")]
    BadArgument {
        /// The operation.
        op: &'static str,
        /// The argument length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An attestation payload over [`ATTESTATION_PAYLOAD_BYTES_MAX`].
    #[error("attestation payload of {len} bytes is over the limit of {max}")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An operation's input or output over [`MSG_BYTES_MAX`].
    #[error("{op} would work on or produce {len} bytes, over the limit of {max}")]
    MessageTooLong {
        /// The operation.
        op: &'static str,
        /// The length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Reverse or hexlify of an empty message (it would allow a cycle in the proof).
    #[error("{op} of an empty message")]
    EmptyMessage {
        /// The operation.
        op: &'static str,
    },
    /// A hash operation this crate does not compute.
    #[error("operation {op} is not supported for evaluation by this implementation")]
    UnsupportedOp {
        /// The operation.
        op: &'static str,
    },
    /// A file digest whose length is not its hash operation's.
    #[error("file digest is {len} bytes, but {op} digests are {expected} bytes")]
    DigestLength {
        /// The file hash operation.
        op: &'static str,
        /// The digest length given.
        len: usize,
        /// The operation's digest length.
        expected: usize,
    },
    /// Merging proofs of different digests.
    #[error("cannot merge timestamps of different file digests")]
    DigestMismatch,
}
