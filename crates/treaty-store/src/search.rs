//! Full-text discovery index over record bodies (SQLite FTS5).
//!
//! STUB: to be implemented (see `index_record` and `search`).

use crate::StoreError;
use rusqlite::Connection;

/// Schema migration that creates the discovery index.
pub(crate) const MIGRATION: &str = "CREATE TABLE discovery_stub (x INTEGER);";

/// A discovery query (already validated by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free-text query; empty means "everything matching the filters".
    pub text: String,
    /// Only this collection.
    pub collection: Option<String>,
    /// Only records with a skill whose id or name equals this.
    pub skill: Option<String>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// One discovery hit.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// Relevance (higher is better).
    pub score: f64,
}

/// A page of hits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    /// Hits, best first.
    pub hits: Vec<SearchHit>,
    /// Cursor for the next page, if there may be one.
    pub next_cursor: Option<String>,
}

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A cursor this index did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A query that cannot be run.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

/// Updates the index for one record mutation, inside the batch transaction. `body` is `None`
/// for a tombstone (the record leaves the index).
///
/// # Errors
/// SQLite errors.
pub(crate) fn index_record(
    _conn: &Connection,
    _collection: &str,
    _key: &str,
    _body: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    Ok(())
}

/// Runs a discovery query.
///
/// # Errors
/// [`SearchError`] wrapped in `Ok(Err(..))` for bad queries; SQLite errors.
pub(crate) fn search(
    _conn: &Connection,
    _q: &SearchQuery,
) -> Result<Result<SearchPage, SearchError>, StoreError> {
    Ok(Ok(SearchPage::default()))
}
