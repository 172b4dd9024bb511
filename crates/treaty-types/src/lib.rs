//! Treaty's data model: collections, record keys, ledger entries, canonical JSON and the
//! named limits every parser checks.
//!
//! Pure: no I/O, no clock (times are passed in), no randomness. Everything that is hashed or
//! signed is serialized here, with RFC 8785 (JCS), so that there is exactly one encoding.

pub mod jcs;
mod leaf;
pub mod limits;
pub mod record;
pub mod schema;
pub mod strict;

pub use jcs::{JsonError, canonicalize, check_json};
pub use leaf::{LeafEntry, RecordLeaf};
pub use record::{
    BUILTIN_COLLECTIONS, CollectionName, EntryKind, LedgerEntry, Operation, RecordError, RecordKey,
    validate_body,
};
pub use schema::{CollectionSchema, SchemaError};
