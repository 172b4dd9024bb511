//! The discovery index: ranked full-text search over record bodies, in SQLite FTS5.
//!
//! # What is indexed
//!
//! From every live record body that is a JSON object: `name` and `title` (the *name* field),
//! `description` (the *description* field), and, for each of the first [`SKILLS_MAX`]
//! objects of a `skills` array (the A2A agent-card shape), its `id`, `name` and `tags` (the
//! *skills* field) and its `description` (the *description* field). Every other member is
//! ignored, so any collection can be indexed; a body without those members is still found by
//! its collection. Tombstones leave the index, and an update replaces the indexed version.
//!
//! # Words
//!
//! Text is split into words here, in Rust, for documents and queries alike: maximal runs of
//! alphanumeric characters, lowercased, Latin-1 and Latin Extended-A diacritics folded
//! (`Zürich` = `zurich`), the 33 English stop words of Lucene's default set dropped, ASCII
//! words Porter-stemmed (`forecasting` = `forecast`), and words cut to [`WORD_BYTES_MAX`]
//! bytes. Matching is by whole (stemmed) word: there is no prefix matching, because a prefix
//! query makes FTS5 merge the postings of every word with that prefix, which alone can cost
//! more than the latency budget on a large index, or a prefix index that slows every write.
//!
//! # The FTS5 table
//!
//! One contentless table (`content=''`, so no second copy of the text: bodies live once, in
//! the ledger) with `contentless_delete=1` (rows can be deleted by rowid alone), `detail=none`
//! (postings hold rowids only: no positions, no columns; the field is in the token instead)
//! and the `ascii` tokenizer, which splits only on ASCII non-alphanumerics and therefore
//! keeps the tokens built here intact. Each live record has one row, whose rowid is the
//! *negated* ledger index of its current version, so FTS5's ascending order is newest
//! first. Its reverse iterators cannot skip: with plain ledger indexes and descending order
//! the 99th percentiles measured 15-35% higher at 1,000,000 records, though the index was
//! smaller (83 MiB instead of 113 MiB: a negative rowid opening a doclist takes a 9-byte
//! varint, and newest-first rowids fill the docsize b-tree from the left, half-filling its
//! pages). The row holds these tokens:
//!
//! - `1w`, `2w` or `3w` for each distinct word `w`, for the *best* field it occurs in (name,
//!   skills, description). Each word gets exactly one field token, so a word's three
//!   postings lists partition the records that contain it by best field.
//! - `c<hex>` for the collection, `k<hex>` for each skill id and skill name (lowercased),
//!   `g<hex>` for each tag (lowercased): facet tokens, so filters are postings lookups rather
//!   than scans. Hex keeps any value one token; values over [`FACET_BYTES_MAX`] bytes are not
//!   facets.
//! - `0`, in every row, so an empty query lists everything.
//!
//! # Cached peer records
//!
//! Records cached from peers (`peer_records`, see [`crate::cache`]) are in the same table,
//! so one query answers the union. A cached row's rowid is [`CACHE_ROWID_BASE`]` - id`
//! (positive, where local rowids are not), and its tokens are a local record's plus `s<hex>`
//! for the node id of the registry it came from (the [`SourceFilter::Registry`] facet).
//! Internally a hit's position index is `-rowid`: the ledger index for a local record,
//! `id - 2^62` (negative) for a cached one, so within a score group every local record
//! comes first, newest first, then every cached record, most recently cached first; the
//! source filter is a range of indexes (`>= 0` local, `< 0` cached), that is a rowid range
//! FTS5 seeks to. Document frequencies (and so scores) count every source whatever the
//! filter, as they do not depend on the facets either. `Writer::index_cached` writes the
//! rows a sync cached into FTS5 after the sync's commit, in steps, each one statement in
//! ascending rowid order; `Writer::apply_sync` deletes the rows it replaces or removes in
//! its own transaction, in one statement (see `cache.rs`: "Cached records enter discovery
//! after their sync commits", and why not through `discovery_pending`).
//!
//! A trigger on `records` deletes the row of the old version whenever a record's head moves
//! (update or tombstone); [`index_record`] then stages the new version in
//! `discovery_pending`, and a trigger on `checkpoints` moves the batch's staged rows into
//! FTS5 in one statement when `Writer::commit_batch` stores the batch's checkpoint, all in
//! the batch transaction. Staging matters: FTS5 writes its buffered postings as a new
//! segment at every statement savepoint, and the record upserts (which check a foreign key)
//! open one per record, so direct inserts would write one segment per record and cost about
//! three times as much. Per record, the write cost is one primary-key read, one tokenization
//! in Rust, one staging insert, and its share of one FTS5 insert and segment flush per batch
//! (plus one FTS5 delete for an update).
//!
//! # Scoring
//!
//! For a query of distinct words `t1..tm`, a record's score is
//! `sum(idf(ti) * weight(field(ti))) / sum(idf(ti))`, where `field(ti)` is the best field of
//! `ti` in the record, with weights name 4, skills and tags 2, description 1. This is BM25F
//! with `k1 = 0` (binary term frequency, the Robertson/Spärck Jones weighting) and no length
//! normalization, divided by the query's total idf so that scores lie in `[1, 4]` (4: every
//! word in the name). Agent cards are short and structured; where a word occurs says more
//! than how often. `idf(t) = 1 + ln(C / min(df(t), C))` with `C` = [`CANDIDATES_MAX`]: exact
//! for words in at most `C` records, the same (1.0) for all words in more, so a rare word's
//! placement outweighs a common word's. Filter-only queries score 0.
//!
//! Why not FTS5's `bm25()`: it scores every match before the first row comes out, and its
//! idf needs a full pass over each word's postings. On 1,000,000 agent cards (the `discover`
//! benchmark's baseline, a conventional FTS5 table ranked by `bm25()`), a word in most cards
//! took about 280 ms at the median and two-word queries about 460 ms at the 99th percentile,
//! against a 5 ms budget. The score above has few distinct values per query, which is what lets the
//! plans below read only what a page needs.
//!
//! Ties are broken by recency: the most recently written version first (local records
//! before cached ones, see above). Hits are ordered by `(score desc, index desc)`, a total
//! order. FTS5 streams postings in rowid order, so this is the only tie-break it can
//! produce without sorting every tie (ordering a million equally scored records by
//! `(collection, key)` would mean reading all of them).
//!
//! # Query evaluation
//!
//! All words must match (AND), in any field. The query runs in one read transaction, so
//! every statement sees the same snapshot. Plans, each exact:
//!
//! - No words: the filter tokens (or `0`) in rowid order; `O(page)`.
//! - One word: its three field postings lists are three score groups (4, 2, 1), each read
//!   in rowid order and ANDed with the filters; `O(page)` however common the word.
//! - Several words: each word's three field lists are read, stopping after `C + 1` entries
//!   in all, which gives its document frequency. If some word is in at most `C` records, so
//!   are the matches: the rarest word's postings are the candidates, other rare words are
//!   intersected in memory, and each common word takes three list intersections driven by
//!   the rare word (which tell both whether and where it occurs); all matches are scored and
//!   sorted, `O(C)` per page. Otherwise every idf is 1 and a record's score depends only on
//!   the combination of best
//!   fields: with at most [`STREAM_TERMS_MAX`] words, the `3^m` combinations are grouped by
//!   score and each group is one FTS5 query streamed in rowid order, `O(page)` plus the cost
//!   of proving sparse groups empty. With more words, the matches where some word is in a
//!   name or skill (all scoring above 1) are scored exactly if there are at most `C`,
//!   followed by the all-description group streamed; otherwise the query is refused as too
//!   broad.
//!
//! What costs time is intersecting with a very common word: FTS5 seeks into a long postings
//! list through its doclist index but then decodes the leaf page from its start, so each
//! candidate costs up to a page of decoding. That is why `C` is small and why the leaf pages
//! are 1000 bytes rather than the default 4050 (intersections of a few hundred candidates
//! with a very common word measured 2.5 times faster, for 2% more index).
//!
//! # Pagination
//!
//! The cursor is the position of the last hit, `(score, index)`, plus a fingerprint of
//! the normalized query (source filter included), hex encoded. A page restarts at that
//! position (keyset pagination): streamed groups seek straight to it with a rowid bound, so
//! page 50 costs what page 1 costs; scored sets are re-read (at most `C` rows). Cursors
//! from another query (or source filter), of another format, or with impossible values
//! (a position outside the source filter included) are refused
//! ([`SearchError::InvalidCursor`]). While the index does not change, pages concatenate to
//! the full order with no duplicates and no misses. When it changes between pages, an
//! updated record moves to the front (a newer version), so it is not repeated, and is
//! missed if it had not been reached yet; scores that depend on document frequencies may
//! shift slightly.
//!
//! # Limits
//!
//! Query text [`QUERY_BYTES_MAX`] bytes and [`QUERY_TERMS_MAX`] distinct words; page size
//! 1..=[`SEARCH_LIMIT_MAX`]; filter values (registry included) [`FACET_BYTES_MAX`] bytes;
//! per indexed string [`FIELD_TEXT_BYTES_MAX`] bytes; [`SKILLS_MAX`] skills and
//! [`TAGS_PER_SKILL_MAX`] tags per skill. User text never reaches FTS5 syntax: every token is
//! built here from alphanumeric characters or hex digits and is double-quoted, so `"`, `*`,
//! `NEAR(`, `OR`, `-x` and `col:term` are words or nothing.

use crate::StoreError;
use rusqlite::{Connection, params};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest free-text query, in bytes (the HTTP parameter's limit).
pub const QUERY_BYTES_MAX: usize = treaty_types::limits::DISCOVER_QUERY_BYTES_MAX;
/// Most distinct searchable words in a query (after stop words and repeats are dropped).
pub const QUERY_TERMS_MAX: usize = 16;
/// Largest page (the HTTP parameter's limit).
pub const SEARCH_LIMIT_MAX: u32 = treaty_types::limits::DISCOVER_PAGE_MAX;
/// Longest filter value (collection, skill, tag), in bytes (the HTTP parameters' limit).
/// Longer skill ids, skill names and tags are indexed as words but not as facets.
pub const FACET_BYTES_MAX: usize = treaty_types::limits::DISCOVER_QUERY_BYTES_MAX;
/// Longest word, in bytes; longer words are cut (at a character boundary) when indexed and
/// when queried alike.
pub const WORD_BYTES_MAX: usize = 64;
/// Text indexed from one string member, in bytes; the rest of the string is not searchable.
pub const FIELD_TEXT_BYTES_MAX: usize = 4096;
/// Skills indexed per record.
pub const SKILLS_MAX: usize = 64;
/// Tags indexed per skill.
pub const TAGS_PER_SKILL_MAX: usize = 32;
/// Most matches scored exactly in memory per page, and the document frequency above which
/// all words weigh the same (see the module docs). Scoring a candidate costs intersections
/// with every other word's postings; measured at 1,000,000 records, 1024 keeps the 99th
/// percentile of two-word queries under 4 ms, where 4096 took 13 ms.
pub const CANDIDATES_MAX: usize = 1024;
/// Most words for which score groups are enumerated (`3^4 = 81` field combinations).
pub const STREAM_TERMS_MAX: usize = 4;

/// FTS5's automerge setting for the discovery index: its default, which local commits use;
/// [`crate::Writer::apply_sync`] turns it off for its own postings (see there).
pub(crate) const DISCOVERY_AUTOMERGE: u32 = 4;

/// Schema migration that creates the discovery index.
pub(crate) const MIGRATION: &str = "
    -- One row per live record. rowid = -(ledger index of its current version): FTS5 walks
    -- postings in ascending rowid order much faster than in descending order (its reverse
    -- iterators cannot skip), and results are wanted newest first. Tokens are built in Rust
    -- (see search.rs); 'ascii' leaves them intact; detail=none stores rowids only.
    CREATE VIRTUAL TABLE discovery USING fts5(
        tokens,
        content = '',
        contentless_delete = 1,
        detail = none,
        tokenize = 'ascii'
    );
    -- Smaller leaf pages: a seek into a long postings list decodes its leaf page from the
    -- start, so intersections with very common words cost about half as much as with the
    -- default 4050 bytes, for 2% more index.
    INSERT INTO discovery(discovery, rank) VALUES ('pgsz', 1000);
    -- Rows of the batch being committed. FTS5 writes its buffered postings out as a new
    -- segment at every statement savepoint, and the record upserts open one per record, so
    -- inserting into `discovery` record by record writes one tiny segment per record (about
    -- 3x the cost). Staged here instead, they enter `discovery` in one statement when the
    -- batch's checkpoint is stored, in the same transaction.
    CREATE TABLE discovery_pending (
        rowid  INTEGER PRIMARY KEY,
        tokens TEXT NOT NULL
    );
    CREATE TRIGGER discovery_batch_end AFTER INSERT ON checkpoints
    BEGIN
        INSERT INTO discovery(rowid, tokens) SELECT rowid, tokens FROM discovery_pending;
        DELETE FROM discovery_pending;
    END;
    -- When a record's head moves (update or tombstone), its old version leaves the index;
    -- the new version, if it is a put, is staged by search::index_record.
    CREATE TRIGGER discovery_head_moved AFTER UPDATE OF ledger_index ON records
    BEGIN
        DELETE FROM discovery WHERE rowid = -OLD.ledger_index;
        DELETE FROM discovery_pending WHERE rowid = -OLD.ledger_index;
    END;";

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
    /// Only local records, or only records cached from one registry; `None` for both.
    pub source: Option<SourceFilter>,
    /// Page size.
    pub limit: u32,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// Which records a discovery query covers, by where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFilter {
    /// Only this node's own records.
    Local,
    /// Only records cached from the registry with this node id (see [`crate::cache`]).
    Registry(String),
}

/// Cached peer records are indexed under rowid `CACHE_ROWID_BASE - id`, where `id` is the
/// `peer_records` row id (from 1, never reused), so their rowids are positive and those of
/// local records (`-ledger index`) are not: the two never collide, and in FTS5's ascending
/// rowid order every local record comes before every cached one, and newer cached rows
/// (higher ids) before older ones. `2^62` leaves room for `2^62 - 1` cached rows and keeps
/// every derived value (`-rowid`, bounds plus one) far from overflow.
pub const CACHE_ROWID_BASE: i64 = 1 << 62;

/// The smallest position index a hit can have: that of the cached row with id 1. Local
/// records have indexes from 0 up (their ledger index), cached rows `id - CACHE_ROWID_BASE`.
const INDEX_MIN: i64 = 1 - CACHE_ROWID_BASE;

/// The FTS5 rowid of the cached peer record with `peer_records` id `id`.
pub(crate) fn cached_rowid(id: i64) -> i64 {
    CACHE_ROWID_BASE - id
}

/// The FTS5 row text of a cached peer record, from its body's JSON text: its tokens as a
/// local record with the same collection and body would have, plus the facet token of the
/// registry it came from (when that is short enough to be one), for
/// [`SourceFilter::Registry`].
pub(crate) fn cached_tokens_json(collection: &str, body: &str, source_registry: &str) -> String {
    with_source(document_tokens_json(collection, body), source_registry)
}

/// [`cached_tokens_json`] of a parsed body: the reference the text form is tested against.
#[cfg(test)]
pub(crate) fn cached_tokens(collection: &str, body: &Value, source_registry: &str) -> String {
    with_source(document_tokens(collection, body), source_registry)
}

/// `text` plus the facet token of `source_registry`, when that is short enough to be one.
fn with_source(mut text: String, source_registry: &str) -> String {
    if let Some(token) = facet_token(Facet::Source, source_registry) {
        text.push(' ');
        text.push_str(&token);
    }
    text
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
    /// `None` for a local record; for a record cached from a peer, the id of its
    /// `peer_records` row ([`crate::Reader::cached_record_by_id`]), which names the source.
    pub cached: Option<i64>,
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
/// The record's head must already point at the new version (as `Writer::commit_batch`
/// arranges): the row of the previous version was deleted by the `discovery_head_moved`
/// trigger when the head moved, and the new row is keyed by the new ledger index.
///
/// # Errors
/// SQLite errors.
pub(crate) fn index_record(
    conn: &Connection,
    collection: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<(), StoreError> {
    let Some(body) = body else {
        return Ok(());
    };
    let ledger_index: i64 = conn
        .prepare_cached("SELECT ledger_index FROM records WHERE collection = ?1 AND key = ?2")?
        .query_row(params![collection, key], |r| r.get(0))?;
    conn.prepare_cached("INSERT INTO discovery_pending(rowid, tokens) VALUES (?1, ?2)")?
        .execute(params![-ledger_index, document_tokens(collection, body)])?;
    Ok(())
}

/// Runs a discovery query.
///
/// # Errors
/// [`SearchError`] wrapped in `Ok(Err(..))` for bad queries; SQLite errors.
pub(crate) fn search(
    conn: &Connection,
    q: &SearchQuery,
) -> Result<Result<SearchPage, SearchError>, StoreError> {
    let plan = match Plan::parse(q) {
        Ok(plan) => plan,
        Err(e) => return Ok(Err(e)),
    };
    let after = match q.cursor.as_deref().map(|c| decode_cursor(c, &plan)) {
        None => None,
        Some(Ok(pos)) => Some(pos),
        Some(Err(e)) => return Ok(Err(e)),
    };
    // One snapshot for every statement below, so hits, scores and keys agree even while the
    // writer commits.
    let tx = conn.unchecked_transaction()?;
    let limit = plan.limit;
    let sources = match plan.sources(&tx)? {
        Ok(sources) => sources,
        Err(e) => return Ok(Err(e)),
    };
    // One hit more than the page tells whether a next page exists.
    let positions = collect(&tx, &plan, &sources, after, limit + 1)?;
    let mut hits = Vec::with_capacity(limit.min(positions.len()));
    for pos in positions.iter().take(limit) {
        let (collection, key, cached) = record_key(&tx, pos.index)?;
        hits.push(SearchHit {
            collection,
            key,
            score: pos.score,
            cached,
        });
    }
    let next_cursor = if positions.len() > limit {
        positions
            .get(limit - 1)
            .map(|last| encode_cursor(plan.fingerprint, *last))
    } else {
        None
    };
    tx.commit()?;
    Ok(Ok(SearchPage { hits, next_cursor }))
}

/// The fields a word can be found in, best first (the derived order is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Name,
    Skills,
    Description,
}

impl Field {
    /// First character of the field's tokens. Digits, so word tokens never collide with the
    /// facet tokens (which start with a letter).
    fn prefix(self) -> char {
        match self {
            Field::Name => '1',
            Field::Skills => '2',
            Field::Description => '3',
        }
    }

    /// Weight in the score. Integers, so score groups are exact.
    fn weight(self) -> u32 {
        match self {
            Field::Name => 4,
            Field::Skills => 2,
            Field::Description => 1,
        }
    }
}

/// Token present in every row.
const ALL_TOKEN: &str = "0";

/// Kinds of facet token, by their first character.
#[derive(Debug, Clone, Copy)]
enum Facet {
    Collection,
    Skill,
    Tag,
    /// The node id of the registry a cached record came from.
    Source,
}

/// The facet token of a value, or `None` when the value is too long to be one.
fn facet_token(kind: Facet, value: &str) -> Option<String> {
    if value.len() > FACET_BYTES_MAX {
        return None;
    }
    let (prefix, value) = match kind {
        // Collection names are exact (and already lowercase by construction).
        Facet::Collection => ('c', value.to_owned()),
        Facet::Skill => ('k', value.to_lowercase()),
        Facet::Tag => ('g', value.to_lowercase()),
        // Node ids are exact, like collection names.
        Facet::Source => ('s', value.to_owned()),
    };
    let mut token = String::with_capacity(1 + 2 * value.len());
    token.push(prefix);
    push_hex(&mut token, value.as_bytes());
    Some(token)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// The words of one record with the field each was seen in, kept in one buffer (a record
/// has dozens of words; one allocation each would cost more than the rest of the work).
#[derive(Debug, Default)]
struct WordList {
    text: String,
    spans: Vec<Span>,
    scratch: Scratch,
}

/// One word of a [`WordList`].
#[derive(Debug, Clone, Copy)]
struct Span {
    /// The word's first 16 bytes, big-endian and zero-padded: sorting by it orders almost
    /// every pair of words without a string comparison.
    prefix: u128,
    start: u32,
    end: u32,
    field: Field,
}

fn prefix_key(w: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = w.len().min(16);
    bytes[..n].copy_from_slice(&w.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

impl WordList {
    fn add(&mut self, field: Field, text: &str) {
        let WordList {
            text: buf,
            spans,
            scratch,
        } = self;
        for_each_word_with(scratch, text, |w| {
            let start = buf.len();
            buf.push_str(w);
            // Offsets fit: indexed text per record is bounded by the entry size limit.
            let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            spans.push(Span {
                prefix: prefix_key(w),
                start: to_u32(start),
                end: to_u32(buf.len()),
                field,
            });
        });
    }

    fn word(&self, span: &Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// Word order (then best field first), comparing strings only past 16 equal bytes.
    fn order(&self, a: &Span, b: &Span) -> std::cmp::Ordering {
        a.prefix
            .cmp(&b.prefix)
            .then_with(|| {
                if a.end - a.start <= 16 && b.end - b.start <= 16 {
                    // Equal prefixes of short words: only the lengths can differ, and a
                    // zero byte never occurs in a word.
                    (a.end - a.start).cmp(&(b.end - b.start))
                } else {
                    self.word(a).cmp(self.word(b))
                }
            })
            .then(a.field.cmp(&b.field))
    }
}

/// The FTS5 row text of a record under construction: the words of its indexed members, each
/// with the field it was seen in, and its facet tokens. Both readers of a body,
/// [`document_tokens`] (a `Value`) and [`document_tokens_json`] (JSON text), feed one, so the
/// token format is defined here only. The text does not depend on the order of the calls.
#[derive(Debug)]
struct TokenBuilder {
    words: WordList,
    facets: Vec<String>,
}

impl TokenBuilder {
    fn new(collection: &str) -> TokenBuilder {
        let mut facets: Vec<String> = Vec::with_capacity(16);
        facets.extend(facet_token(Facet::Collection, collection));
        TokenBuilder {
            words: WordList {
                text: String::with_capacity(512),
                spans: Vec::with_capacity(96),
                scratch: Scratch::default(),
            },
            facets,
        }
    }

    /// The body's `name` or `title`.
    fn name(&mut self, s: &str) {
        self.words.add(Field::Name, s);
    }

    /// The body's or a skill's `description`.
    fn description(&mut self, s: &str) {
        self.words.add(Field::Description, s);
    }

    /// A skill's `id` or `name`.
    fn skill_id_or_name(&mut self, s: &str) {
        self.words.add(Field::Skills, s);
        self.facets.extend(facet_token(Facet::Skill, s));
    }

    /// One of a skill's `tags`.
    fn tag(&mut self, s: &str) {
        self.words.add(Field::Skills, s);
        self.facets.extend(facet_token(Facet::Tag, s));
    }

    /// The tokens, space separated: `0`, the word tokens in word order, the facets in order.
    fn finish(self) -> String {
        let TokenBuilder {
            mut words,
            mut facets,
        } = self;
        // Sorted by (word, field), the first entry of each word is its best field.
        let mut spans = std::mem::take(&mut words.spans);
        spans.sort_unstable_by(|a, b| words.order(a, b));
        spans.dedup_by(|later, first| {
            later.prefix == first.prefix && words.word(later) == words.word(first)
        });
        facets.sort_unstable();
        facets.dedup();
        let mut text = String::with_capacity(
            2 + words.text.len()
                + 2 * spans.len()
                + facets.iter().map(|f| f.len() + 1).sum::<usize>(),
        );
        text.push_str(ALL_TOKEN);
        for span in &spans {
            text.push(' ');
            text.push(span.field.prefix());
            text.push_str(words.word(span));
        }
        for facet in &facets {
            text.push(' ');
            text.push_str(facet);
        }
        text
    }
}

/// The FTS5 row text of a record: its tokens, space separated.
fn document_tokens(collection: &str, body: &Value) -> String {
    let mut tokens = TokenBuilder::new(collection);
    if let Value::Object(map) = body {
        for member in ["name", "title"] {
            if let Some(Value::String(s)) = map.get(member) {
                tokens.name(s);
            }
        }
        if let Some(Value::String(s)) = map.get("description") {
            tokens.description(s);
        }
        if let Some(Value::Array(skills)) = map.get("skills") {
            for skill in skills.iter().take(SKILLS_MAX) {
                let Value::Object(skill) = skill else {
                    continue;
                };
                for member in ["id", "name"] {
                    if let Some(Value::String(s)) = skill.get(member) {
                        tokens.skill_id_or_name(s);
                    }
                }
                if let Some(Value::String(s)) = skill.get("description") {
                    tokens.description(s);
                }
                if let Some(Value::Array(tags)) = skill.get("tags") {
                    for tag in tags.iter().take(TAGS_PER_SKILL_MAX) {
                        if let Value::String(s) = tag {
                            tokens.tag(s);
                        }
                    }
                }
            }
        }
    }
    tokens.finish()
}

/// [`document_tokens`] of the body given as JSON text, read without building a `Value`.
///
/// Equal to `document_tokens(collection, &serde_json::from_str(body).unwrap_or(Value::Null))`
/// for every text whose objects have no repeated member names: the text is read by the same
/// parser, with the same checks (number range, string escapes, nesting depth, trailing
/// characters), so it is refused exactly when `from_str` refuses it, and then only the
/// collection is indexed. (With a repeated member name, `Value` keeps the last occurrence;
/// here every occurrence is indexed.)
pub(crate) fn document_tokens_json(collection: &str, body: &str) -> String {
    let mut tokens = TokenBuilder::new(collection);
    if read_json_body(body, &mut tokens).is_err() {
        // No words from the part read before the error.
        tokens = TokenBuilder::new(collection);
    }
    tokens.finish()
}

/// Feeds the indexed members of the JSON text `body` to `tokens`.
fn read_json_body(body: &str, tokens: &mut TokenBuilder) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(body);
    BodyPart {
        tokens,
        part: Part::Body,
    }
    .deserialize(&mut de)?;
    de.end()
}

/// What a JSON value is to [`document_tokens`], by where it is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The body.
    Body,
    /// The body's `name` or `title`.
    Name,
    /// The body's or a skill's `description`.
    Description,
    /// The body's `skills`.
    Skills,
    /// One of the first [`SKILLS_MAX`] items of `skills`.
    Skill,
    /// A skill's `id` or `name`.
    SkillIdOrName,
    /// A skill's `tags`.
    Tags,
    /// One of the first [`TAGS_PER_SKILL_MAX`] items of `tags`.
    Tag,
    /// Anything else: parsed as `Value` would parse it (so the same texts are refused), then
    /// dropped. Not `IgnoredAny`, whose fast skip checks neither the nesting depth, nor that
    /// numbers fit an `f64`, nor that `\u` escapes pair their surrogates. (On a 600-byte agent
    /// card the two cost the same, about 0.3 µs.)
    Ignored,
}

impl Part {
    /// The part of a member named `name` of an object that is `self`.
    fn member(self, name: &str) -> Part {
        match (self, name) {
            (Part::Body, "name" | "title") => Part::Name,
            (Part::Body | Part::Skill, "description") => Part::Description,
            (Part::Body, "skills") => Part::Skills,
            (Part::Skill, "id" | "name") => Part::SkillIdOrName,
            (Part::Skill, "tags") => Part::Tags,
            _ => Part::Ignored,
        }
    }
}

/// Reads one JSON value that is `part` of a body into `tokens` (a [`DeserializeSeed`] and its
/// [`Visitor`]). Strings arrive borrowed from the text, or unescaped in serde_json's scratch
/// buffer: nothing is allocated per value. Nesting is bounded by serde_json's recursion limit.
#[derive(Debug)]
struct BodyPart<'a> {
    tokens: &'a mut TokenBuilder,
    part: Part,
}

impl<'de> DeserializeSeed<'de> for BodyPart<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodyPart<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        match self.part {
            Part::Name => self.tokens.name(s),
            Part::Description => self.tokens.description(s),
            Part::SkillIdOrName => self.tokens.skill_id_or_name(s),
            Part::Tag => self.tokens.tag(s),
            Part::Body | Part::Skills | Part::Skill | Part::Tags | Part::Ignored => {}
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Like `.iter().take(max)`: items of any type count.
        let (item, mut left) = match self.part {
            Part::Skills => (Part::Skill, SKILLS_MAX),
            Part::Tags => (Part::Tag, TAGS_PER_SKILL_MAX),
            _ => (Part::Ignored, 0),
        };
        loop {
            let part = if left > 0 { item } else { Part::Ignored };
            let seed = BodyPart {
                tokens: &mut *self.tokens,
                part,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            left = left.saturating_sub(1);
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(part) = map.next_key_seed(MemberName(self.part))? {
            map.next_value_seed(BodyPart {
                tokens: &mut *self.tokens,
                part,
            })?;
        }
        Ok(())
    }
}

/// Reads a member name of an object that is the given part, as the part of its value.
#[derive(Debug, Clone, Copy)]
struct MemberName(Part);

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Part;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Part, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberName {
    type Value = Part;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Part, E> {
        Ok(self.0.member(name))
    }
}

/// The token of `word` in `field`.
fn word_token(field: Field, word: &str) -> String {
    let mut token = String::with_capacity(1 + word.len());
    token.push(field.prefix());
    token.push_str(word);
    token
}

/// A token as an FTS5 string. Tokens never contain `"` (they are built from alphanumerics
/// and hex digits), but doubling it keeps this correct even if that changed.
fn quoted(token: &str) -> String {
    format!("\"{}\"", token.replace('"', "\"\""))
}

/// `"1w" OR "2w" OR "3w"`: the word in any field.
fn any_field(word: &str) -> String {
    format!(
        "({} OR {} OR {})",
        quoted(&word_token(Field::Name, word)),
        quoted(&word_token(Field::Skills, word)),
        quoted(&word_token(Field::Description, word))
    )
}

/// Buffers reused across the words of a text.
#[derive(Debug, Default)]
struct Scratch {
    word: String,
    stem: Vec<u8>,
}

/// Calls `f` with each searchable word of `text` (see the module docs).
fn for_each_word(text: &str, f: impl FnMut(&str)) {
    for_each_word_with(&mut Scratch::default(), text, f);
}

fn for_each_word_with(scratch: &mut Scratch, text: &str, mut f: impl FnMut(&str)) {
    let text = cut(text, FIELD_TEXT_BYTES_MAX);
    scratch.word.clear();
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_ascii() {
                scratch.word.push(c.to_ascii_lowercase());
                continue;
            }
            for lower in c.to_lowercase() {
                // Lowercasing never yields ASCII punctuation, but the `ascii` tokenizer would
                // split a token at one, so keep the guarantee explicit.
                if lower.is_ascii_alphanumeric() || !lower.is_ascii() {
                    scratch.word.push(fold_diacritic(lower));
                }
            }
        } else if !scratch.word.is_empty() {
            finish_word(scratch, &mut f);
        }
    }
    if !scratch.word.is_empty() {
        finish_word(scratch, &mut f);
    }
}

fn finish_word(scratch: &mut Scratch, f: &mut impl FnMut(&str)) {
    let w = cut(&scratch.word, WORD_BYTES_MAX);
    if !is_stop_word(w) {
        if w.len() > 2 && w.bytes().all(|b| b.is_ascii_lowercase()) {
            porter::stem_into(w, &mut scratch.stem);
            // The stem of ASCII letters is ASCII letters.
            f(std::str::from_utf8(&scratch.stem).unwrap_or(w));
        } else {
            f(w);
        }
    }
    scratch.word.clear();
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Lucene's default English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`).
fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "but"
            | "by"
            | "for"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "no"
            | "not"
            | "of"
            | "on"
            | "or"
            | "such"
            | "that"
            | "the"
            | "their"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "to"
            | "was"
            | "will"
            | "with"
    )
}

/// Base letters of U+00E0..=U+00FF; `.` keeps the character (ligatures, ð is kept as d).
const LATIN1_LOWER: &[u8; 32] = b"aaaaaa.ceeeeiiiidnooooo.ouuuuy.y";
/// Base letters of U+0100..=U+017F (both cases); `.` keeps the character.
const LATIN_EXT_A: &[u8; 128] = b"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkkkllllllllllnnnnnnnnnoooooo..rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/// The base letter of a lowercase Latin letter with a diacritic, else the character itself.
fn fold_diacritic(c: char) -> char {
    let code = u32::from(c);
    let base = match code {
        0xE0..=0xFF => LATIN1_LOWER.get((code - 0xE0) as usize),
        0x100..=0x17F => LATIN_EXT_A.get((code - 0x100) as usize),
        _ => None,
    };
    match base {
        Some(&b) if b != b'.' => char::from(b),
        _ => c,
    }
}

/// A position in the result order: score descending, then index descending.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pos {
    score: f64,
    /// `-rowid`: for a local record the ledger index of its current version (`>= 0`), for
    /// a cached peer record `id - CACHE_ROWID_BASE` (`< 0`, see [`CACHE_ROWID_BASE`]).
    index: i64,
}

impl Pos {
    /// Whether `self` comes after `cursor` in result order.
    fn is_after(self, cursor: Pos) -> bool {
        self.score < cursor.score || (self.score == cursor.score && self.index < cursor.index)
    }
}

/// Where the hits of a query come from, in result order.
#[derive(Debug)]
enum Source {
    /// Hits already scored and sorted.
    Ranked(Vec<Pos>),
    /// Every row matching `expr`, all with score `score`, newest first.
    Group { score: f64, expr: String },
}

/// A parsed, validated query.
#[derive(Debug)]
struct Plan {
    /// Distinct stemmed words, sorted (so word order does not change results or cursors).
    words: Vec<String>,
    /// Facet tokens the hits must carry.
    facets: Vec<String>,
    /// Hits have `low <= index < high`: how the source filter restricts hits to local
    /// records (indexes from 0) or cached ones (negative indexes) without a scan, as a rowid
    /// range FTS5 seeks to.
    low: i64,
    /// See `low`.
    high: i64,
    /// Page size.
    limit: usize,
    /// Identifies the normalized query inside cursors.
    fingerprint: u64,
}

impl Plan {
    fn parse(q: &SearchQuery) -> Result<Plan, SearchError> {
        if q.limit == 0 || q.limit > SEARCH_LIMIT_MAX {
            return Err(SearchError::InvalidQuery(format!(
                "limit must be 1 to {SEARCH_LIMIT_MAX}"
            )));
        }
        if q.text.len() > QUERY_BYTES_MAX {
            return Err(SearchError::InvalidQuery(format!(
                "query text is longer than {QUERY_BYTES_MAX} bytes"
            )));
        }
        let mut words = Vec::new();
        for_each_word(&q.text, |w| words.push(w.to_owned()));
        words.sort_unstable();
        words.dedup();
        if words.len() > QUERY_TERMS_MAX {
            return Err(SearchError::InvalidQuery(format!(
                "query has more than {QUERY_TERMS_MAX} distinct words"
            )));
        }
        if words.is_empty() && !q.text.trim().is_empty() {
            return Err(SearchError::InvalidQuery(
                "query has no searchable words (only punctuation or stop words)".into(),
            ));
        }
        let mut facets = Vec::new();
        for (kind, name, value) in [
            (Facet::Collection, "collection", &q.collection),
            (Facet::Skill, "skill", &q.skill),
            (Facet::Tag, "tag", &q.tag),
        ] {
            let Some(value) = value else { continue };
            if value.is_empty() {
                return Err(SearchError::InvalidQuery(format!("empty {name} filter")));
            }
            let token = facet_token(kind, value).ok_or_else(|| {
                SearchError::InvalidQuery(format!(
                    "{name} filter is longer than {FACET_BYTES_MAX} bytes"
                ))
            })?;
            facets.push(token);
        }
        let (low, high, marker) = match &q.source {
            None => (INDEX_MIN, i64::MAX, SourceMarker::All),
            Some(SourceFilter::Local) => (0, i64::MAX, SourceMarker::Local),
            Some(SourceFilter::Registry(node_id)) => {
                if node_id.is_empty() {
                    return Err(SearchError::InvalidQuery("empty registry filter".into()));
                }
                let token = facet_token(Facet::Source, node_id).ok_or_else(|| {
                    SearchError::InvalidQuery(format!(
                        "registry filter is longer than {FACET_BYTES_MAX} bytes"
                    ))
                })?;
                // The facet alone would do (local rows never carry one); the bound also
                // lets cursors of local positions be refused.
                facets.push(token);
                (INDEX_MIN, 0, SourceMarker::Registry)
            }
        };
        let fingerprint = fingerprint(&words, &facets, marker);
        Ok(Plan {
            words,
            facets,
            low,
            high,
            limit: q.limit as usize,
            fingerprint,
        })
    }

    /// Whether a hit at `index` is within the source filter.
    fn admits(&self, index: i64) -> bool {
        self.low <= index && index < self.high
    }

    /// `expr AND filters` as an FTS5 expression.
    fn filtered(&self, expr: &str) -> String {
        let mut out = format!("({expr})");
        for facet in &self.facets {
            out.push_str(" AND ");
            out.push_str(&quoted(facet));
        }
        out
    }

    /// Records carrying every word (in any field) and every facet.
    fn matching_expr(&self) -> String {
        let all = self
            .words
            .iter()
            .map(|w| any_field(w))
            .collect::<Vec<_>>()
            .join(" AND ");
        self.filtered(&all)
    }

    /// Chooses the evaluation (see the module docs), doing any work that needs the whole
    /// matching set.
    fn sources(&self, conn: &Connection) -> Result<Result<Vec<Source>, SearchError>, StoreError> {
        match self.words.as_slice() {
            [] => {
                let expr = if self.facets.is_empty() {
                    quoted(ALL_TOKEN)
                } else {
                    self.filtered(&quoted(ALL_TOKEN))
                };
                Ok(Ok(vec![Source::Group { score: 0.0, expr }]))
            }
            [word] => Ok(Ok(FIELDS
                .into_iter()
                .map(|field| Source::Group {
                    score: f64::from(field.weight()),
                    expr: self.filtered(&quoted(&word_token(field, word))),
                })
                .collect())),
            words => {
                // Each word's postings by field, read up to C + 1 in all: the document
                // frequency (for the idf), and for rare words the complete lists.
                let mut postings = Vec::with_capacity(words.len());
                for w in words {
                    postings.push(word_postings(conn, w)?);
                }
                let idf: Vec<f64> = postings.iter().map(|p| idf_of(p.df)).collect();
                if postings.iter().any(|p| p.lists.is_some()) {
                    // A word in at most C records: at most C matches, all scored.
                    return Ok(Ok(vec![Source::Ranked(
                        self.ranked_by_rare_word(conn, &postings, &idf)?,
                    )]));
                }
                // Every word is in more than C records, so every idf is 1.
                if words.len() <= STREAM_TERMS_MAX {
                    return Ok(Ok(self.combination_groups()));
                }
                // Many common words: records with some word in a name or skill score above 1;
                // all the rest score exactly 1 and can be streamed.
                let boosted = format!(
                    "{} AND ({})",
                    self.matching_expr(),
                    words
                        .iter()
                        .flat_map(|w| [
                            quoted(&word_token(Field::Name, w)),
                            quoted(&word_token(Field::Skills, w))
                        ])
                        .collect::<Vec<_>>()
                        .join(" OR ")
                );
                let rows =
                    matching_indexes(conn, &boosted, self.high, self.low, CANDIDATES_MAX + 1)?;
                if rows.len() > CANDIDATES_MAX {
                    return Ok(Err(SearchError::InvalidQuery(format!(
                        "query too broad: more than {STREAM_TERMS_MAX} words that each occur \
                         in many records; add a filter or use fewer, rarer words"
                    ))));
                }
                let bottom = words
                    .iter()
                    .map(|w| quoted(&word_token(Field::Description, w)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                Ok(Ok(vec![
                    Source::Ranked(self.ranked(conn, rows, &idf)?),
                    Source::Group {
                        score: 1.0,
                        expr: self.filtered(&bottom),
                    },
                ]))
            }
        }
    }

    /// Scores every match exactly when some word is rare, and sorts them into result
    /// order. The rarest word's complete postings are the candidates (at most C); other rare
    /// words are intersected in memory; each common word costs three intersections, one per
    /// field list, driven by the rare word's postings, which find both whether and where the
    /// word occurs.
    fn ranked_by_rare_word(
        &self,
        conn: &Connection,
        postings: &[WordPostings],
        idf: &[f64],
    ) -> Result<Vec<Pos>, StoreError> {
        let m = self.words.len();
        let Some((driver, driver_lists)) = postings
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.lists.as_ref().map(|l| (i, l)))
            .min_by_key(|(_, l)| l.iter().map(Vec::len).sum::<usize>())
        else {
            return Ok(Vec::new());
        };
        // The postings cover every source (so that a word's idf does not depend on the
        // source filter, as it does not depend on the facets); the filter applies here.
        let mut candidates: Vec<i64> = driver_lists
            .iter()
            .flatten()
            .copied()
            .filter(|&index| self.admits(index))
            .collect();
        // Newest (largest index) first, as every list here.
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        let n = candidates.len();
        let mut fields = vec![Field::Description; n * m];
        let mut alive = vec![true; n];
        let find = |list: &[i64], index: i64| list.binary_search_by(|x| index.cmp(x)).is_ok();
        let driver_any = any_field(&self.words[driver]);
        let mut facets_checked = self.facets.is_empty();
        for (i, p) in postings.iter().enumerate() {
            match &p.lists {
                Some(lists) => {
                    for (at, &index) in candidates.iter().enumerate() {
                        match FIELDS.iter().zip(lists).find(|(_, l)| find(l, index)) {
                            Some((field, _)) => fields[at * m + i] = *field,
                            None => alive[at] = false,
                        }
                    }
                }
                None => {
                    let mut seen = vec![false; n];
                    for field in FIELDS {
                        let expr = self.filtered(&format!(
                            "{} AND {driver_any}",
                            quoted(&word_token(field, &self.words[i]))
                        ));
                        for index in matching_indexes(conn, &expr, self.high, self.low, n)? {
                            if let Ok(at) = candidates.binary_search_by(|x| index.cmp(x)) {
                                fields[at * m + i] = field;
                                seen[at] = true;
                            }
                        }
                    }
                    for (a, s) in alive.iter_mut().zip(&seen) {
                        *a &= *s;
                    }
                    facets_checked = true;
                }
            }
        }
        if !facets_checked {
            let expr = self.filtered(&driver_any);
            let mut seen = vec![false; n];
            for index in matching_indexes(conn, &expr, self.high, self.low, n)? {
                if let Ok(at) = candidates.binary_search_by(|x| index.cmp(x)) {
                    seen[at] = true;
                }
            }
            for (a, s) in alive.iter_mut().zip(&seen) {
                *a &= *s;
            }
        }
        let mut ranked: Vec<Pos> = candidates
            .iter()
            .enumerate()
            .filter(|&(at, _)| alive[at])
            .map(|(at, &index)| Pos {
                score: score(idf, &fields[at * m..(at + 1) * m]),
                index,
            })
            .collect();
        ranked.sort_unstable_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.index.cmp(&a.index))
        });
        Ok(ranked)
    }

    /// Scores the records `rows` (newest first; each matching every word and facet)
    /// exactly and sorts them into result order. `rows` must hold every match in which some
    /// word is in a name or skill.
    fn ranked(
        &self,
        conn: &Connection,
        rows: Vec<i64>,
        idf: &[f64],
    ) -> Result<Vec<Pos>, StoreError> {
        let (Some(&newest), Some(&oldest)) = (rows.first(), rows.last()) else {
            return Ok(Vec::new());
        };
        let m = self.words.len();
        // Best field of every word in every row; description unless found higher. The
        // matches where word i is best in `field` are `field:wi AND (every other word) AND
        // facets`: no more rows than `rows`, and cheaper to evaluate than the full match.
        let mut fields = vec![Field::Description; rows.len() * m];
        for (i, word) in self.words.iter().enumerate() {
            let others: Vec<String> = self
                .words
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, w)| any_field(w))
                .collect();
            for field in [Field::Name, Field::Skills] {
                let mut parts = vec![quoted(&word_token(field, word))];
                parts.extend(others.iter().cloned());
                let expr = self.filtered(&parts.join(" AND "));
                for r in
                    matching_indexes(conn, &expr, newest.saturating_add(1), oldest, rows.len())?
                {
                    // `rows` is sorted newest (largest index) first.
                    if let Ok(at) = rows.binary_search_by(|x| r.cmp(x)) {
                        fields[at * m + i] = field;
                    }
                }
            }
        }
        let mut ranked: Vec<Pos> = rows
            .iter()
            .enumerate()
            .map(|(at, &index)| Pos {
                score: score(idf, &fields[at * m..(at + 1) * m]),
                index,
            })
            .collect();
        ranked.sort_unstable_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.index.cmp(&a.index))
        });
        Ok(ranked)
    }

    /// Every combination of best fields for the words, grouped by score, best first. Only
    /// used when every idf is 1, so a group's score is its mean field weight.
    fn combination_groups(&self) -> Vec<Source> {
        let m = self.words.len();
        let mut groups: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        // Callers stay within STREAM_TERMS_MAX words; the bound keeps the count finite.
        let combinations = 3usize.pow(u32::try_from(m.min(STREAM_TERMS_MAX)).unwrap_or(0));
        for mut c in 0..combinations {
            let mut weight = 0;
            let mut parts = Vec::with_capacity(m);
            for word in &self.words {
                let field = FIELDS[c % 3];
                c /= 3;
                weight += field.weight();
                parts.push(quoted(&word_token(field, word)));
            }
            groups
                .entry(weight)
                .or_default()
                .push(format!("({})", parts.join(" AND ")));
        }
        let ones = vec![1.0; m];
        groups
            .into_iter()
            .rev()
            .map(|(weight, combos)| Source::Group {
                // Same arithmetic as `score` with every idf 1, so both plans agree exactly.
                score: score_of_weight_sum(&ones, f64::from(weight)),
                expr: self.filtered(&combos.join(" OR ")),
            })
            .collect()
    }
}

/// Every field, best first.
const FIELDS: [Field; 3] = [Field::Name, Field::Skills, Field::Description];

/// A word's document frequency (counted up to `C + 1`) and, when it is at most `C`, its
/// complete postings by field (in [`FIELDS`] order, newest first).
#[derive(Debug)]
struct WordPostings {
    df: usize,
    lists: Option<[Vec<i64>; 3]>,
}

fn word_postings(conn: &Connection, word: &str) -> Result<WordPostings, StoreError> {
    let mut lists: [Vec<i64>; 3] = Default::default();
    let mut df = 0;
    // Description first: it is usually the longest list, so a common word is found common
    // after one read.
    for at in [2, 0, 1] {
        let token = quoted(&word_token(FIELDS[at], word));
        // Every source, local and cached: see `ranked_by_rare_word`.
        let list = matching_indexes(conn, &token, i64::MAX, INDEX_MIN, CANDIDATES_MAX + 1 - df)?;
        df += list.len();
        if df > CANDIDATES_MAX {
            return Ok(WordPostings { df, lists: None });
        }
        lists[at] = list;
    }
    Ok(WordPostings {
        df,
        lists: Some(lists),
    })
}

/// `1 + ln(C / min(df, C))`: see the module docs.
fn idf_of(df: usize) -> f64 {
    let df = df.clamp(1, CANDIDATES_MAX);
    1.0 + (CANDIDATES_MAX as f64 / df as f64).ln()
}

/// A record's score from each word's idf and best field.
fn score(idf: &[f64], fields: &[Field]) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    for (w, f) in idf.iter().zip(fields) {
        num += w * f64::from(f.weight());
        den += w;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// [`score`] when every idf is 1 and the weights sum to `weight_sum`.
fn score_of_weight_sum(ones: &[f64], weight_sum: f64) -> f64 {
    let den: f64 = ones.iter().sum();
    if den > 0.0 { weight_sum / den } else { 0.0 }
}

/// Indexes (`-rowid`, see [`Pos::index`]) of the rows matching `expr` with
/// `low <= index < high`, in result order within a score group (local records newest first,
/// then cached records newest first), at most `limit`. `low` must be at least [`INDEX_MIN`]
/// (so `-low` cannot overflow) to include cached records.
fn matching_indexes(
    conn: &Connection,
    expr: &str,
    high: i64,
    low: i64,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    // FTS5 rowids are negated ledger indexes (see MIGRATION) and, for cached records,
    // CACHE_ROWID_BASE - id, so ascending rowid order is the result order.
    let mut stmt = conn.prepare_cached(
        "SELECT -rowid FROM discovery WHERE discovery MATCH ?1 AND rowid > ?2 AND rowid <= ?3
         ORDER BY rowid LIMIT ?4",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![expr, -high, -low, limit], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(rows)
}

/// Collection and key of the hit at `index`: the local record whose current version is at
/// ledger index `index`, or (negative `index`) the cached peer record with id
/// `index + CACHE_ROWID_BASE`, with that id.
fn record_key(conn: &Connection, index: i64) -> Result<(String, String, Option<i64>), StoreError> {
    let (sql, arg, cached) = if index >= 0 {
        (
            "SELECT collection, key FROM records WHERE ledger_index = ?1",
            index,
            None,
        )
    } else {
        // No overflow: indexes of hits are at least INDEX_MIN.
        let id = index.saturating_add(CACHE_ROWID_BASE);
        (
            "SELECT collection, key FROM peer_records WHERE id = ?1",
            id,
            Some(id),
        )
    };
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_row([arg], |r| Ok((r.get(0)?, r.get(1)?, cached)))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::Corrupt(format!(
                "discovery index entry {index} is neither the head of a record nor a cached record"
            )),
            e => e.into(),
        })
}

/// Up to `want` positions after `after`, in result order, from `sources` (themselves in
/// result order).
fn collect(
    conn: &Connection,
    plan: &Plan,
    sources: &[Source],
    after: Option<Pos>,
    want: usize,
) -> Result<Vec<Pos>, StoreError> {
    let mut out = Vec::with_capacity(want);
    for source in sources {
        if out.len() >= want {
            break;
        }
        match source {
            Source::Ranked(list) => {
                let rest = list
                    .iter()
                    .filter(|p| after.is_none_or(|a| p.is_after(a)))
                    .take(want - out.len());
                out.extend(rest);
            }
            Source::Group { score, expr } => {
                let high = match after {
                    None => plan.high,
                    Some(a) if *score < a.score => plan.high,
                    Some(a) if *score == a.score => a.index.min(plan.high),
                    Some(_) => continue,
                };
                for index in matching_indexes(conn, expr, high, plan.low, want - out.len())? {
                    out.push(Pos {
                        score: *score,
                        index,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Cursor layout version (first byte).
const CURSOR_VERSION: u8 = 1;
/// Version, fingerprint, score bits, index.
const CURSOR_BYTES: usize = 1 + 8 + 8 + 8;

fn encode_cursor(fingerprint: u64, pos: Pos) -> String {
    let mut bytes = Vec::with_capacity(CURSOR_BYTES);
    bytes.push(CURSOR_VERSION);
    bytes.extend_from_slice(&fingerprint.to_be_bytes());
    bytes.extend_from_slice(&pos.score.to_bits().to_be_bytes());
    bytes.extend_from_slice(&pos.index.to_be_bytes());
    let mut out = String::with_capacity(2 * CURSOR_BYTES);
    push_hex(&mut out, &bytes);
    out
}

fn decode_cursor(cursor: &str, plan: &Plan) -> Result<Pos, SearchError> {
    let hex = cursor.as_bytes();
    if hex.len() != 2 * CURSOR_BYTES {
        return Err(SearchError::InvalidCursor);
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(SearchError::InvalidCursor),
    };
    let mut bytes = [0u8; CURSOR_BYTES];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        bytes[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        w
    };
    let score = f64::from_bits(u64::from_be_bytes(word(9)));
    let index = i64::from_be_bytes(word(17));
    let max_score = f64::from(Field::Name.weight());
    if bytes[0] != CURSOR_VERSION
        || u64::from_be_bytes(word(1)) != plan.fingerprint
        || !(0.0..=max_score).contains(&score)
        || !plan.admits(index)
    {
        return Err(SearchError::InvalidCursor);
    }
    Ok(Pos { score, index })
}

/// The source filter, as the fingerprint sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceMarker {
    /// No filter.
    All,
    /// [`SourceFilter::Local`].
    Local,
    /// [`SourceFilter::Registry`] (whose facet token is among the facets).
    Registry,
}

/// FNV-1a over the normalized query: stable across processes and releases, unlike std's
/// hasher, so cursors survive a restart. Without a source filter nothing is added for it,
/// so cursors issued before source filters existed stay valid.
fn fingerprint(words: &[String], facets: &[String], source: SourceMarker) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for w in words {
        eat(w.as_bytes());
        eat(&[0]);
    }
    eat(&[1]);
    for f in facets {
        eat(f.as_bytes());
        eat(&[0]);
    }
    match source {
        SourceMarker::All => {}
        SourceMarker::Local => eat(&[2, b'l']),
        SourceMarker::Registry => eat(&[2, b'r']),
    }
    h
}

/// The Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", Program 14(3),
/// 1980), following the author's reference C implementation, including its two documented
/// departures (`bli` -> `ble`, `logi` -> `log`). Input: ASCII lowercase letters.
mod porter {
    /// Leaves the stem of `word` in `out` (a buffer reused across words).
    pub(super) fn stem_into(word: &str, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(word.as_bytes());
        if word.len() <= 2 {
            return;
        }
        let mut s = Stemmer {
            b: out,
            k: word.len() as isize - 1,
            j: 0,
        };
        s.step1ab();
        if s.k > 0 {
            s.step1c();
            s.step2();
            s.step3();
            s.step4();
            s.step5();
        }
        let len = (s.k + 1) as usize;
        out.truncate(len);
    }

    #[cfg(test)]
    pub(super) fn stem(word: &str) -> String {
        let mut out = Vec::new();
        stem_into(word, &mut out);
        out.into_iter().map(char::from).collect()
    }

    /// `b[..=k]` is the word being stemmed; `j` marks the end of the stem before a matched
    /// suffix (it can be -1 when the suffix is the whole word).
    struct Stemmer<'a> {
        b: &'a mut Vec<u8>,
        k: isize,
        j: isize,
    }

    const STEP2: &[(&[u8], &[u8])] = &[
        (b"ational", b"ate"),
        (b"tional", b"tion"),
        (b"enci", b"ence"),
        (b"anci", b"ance"),
        (b"izer", b"ize"),
        (b"bli", b"ble"),
        (b"alli", b"al"),
        (b"entli", b"ent"),
        (b"eli", b"e"),
        (b"ousli", b"ous"),
        (b"ization", b"ize"),
        (b"ation", b"ate"),
        (b"ator", b"ate"),
        (b"alism", b"al"),
        (b"iveness", b"ive"),
        (b"fulness", b"ful"),
        (b"ousness", b"ous"),
        (b"aliti", b"al"),
        (b"iviti", b"ive"),
        (b"biliti", b"ble"),
        (b"logi", b"log"),
    ];

    const STEP3: &[(&[u8], &[u8])] = &[
        (b"icate", b"ic"),
        (b"ative", b""),
        (b"alize", b"al"),
        (b"iciti", b"ic"),
        (b"ical", b"ic"),
        (b"ful", b""),
        (b"ness", b""),
    ];

    const STEP4: &[&[u8]] = &[
        b"al", b"ance", b"ence", b"er", b"ic", b"able", b"ible", b"ant", b"ement", b"ment", b"ent",
        b"ion", b"ou", b"ism", b"ate", b"iti", b"ous", b"ive", b"ize",
    ];

    impl Stemmer<'_> {
        fn at(&self, i: isize) -> u8 {
            usize::try_from(i)
                .ok()
                .and_then(|i| self.b.get(i))
                .copied()
                .unwrap_or(0)
        }

        /// Whether `b[i]` is a consonant (`y` is one at the start or after a vowel).
        fn cons(&self, i: isize) -> bool {
            match self.at(i) {
                b'a' | b'e' | b'i' | b'o' | b'u' => false,
                b'y' => i == 0 || !self.cons(i - 1),
                _ => true,
            }
        }

        /// The number of vowel-consonant sequences in `b[..=j]`.
        fn m(&self) -> usize {
            let mut n = 0;
            let mut i = 0;
            loop {
                if i > self.j {
                    return n;
                }
                if !self.cons(i) {
                    break;
                }
                i += 1;
            }
            i += 1;
            loop {
                loop {
                    if i > self.j {
                        return n;
                    }
                    if self.cons(i) {
                        break;
                    }
                    i += 1;
                }
                i += 1;
                n += 1;
                loop {
                    if i > self.j {
                        return n;
                    }
                    if !self.cons(i) {
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
        }

        fn vowel_in_stem(&self) -> bool {
            (0..=self.j).any(|i| !self.cons(i))
        }

        /// Whether `b[j-1..=j]` is a double consonant.
        fn double_c(&self, j: isize) -> bool {
            j >= 1 && self.at(j) == self.at(j - 1) && self.cons(j)
        }

        /// Whether `b[i-2..=i]` is consonant-vowel-consonant and `b[i]` is not w, x or y.
        fn cvc(&self, i: isize) -> bool {
            i >= 2
                && self.cons(i)
                && !self.cons(i - 1)
                && self.cons(i - 2)
                && !matches!(self.at(i), b'w' | b'x' | b'y')
        }

        /// Whether `b[..=k]` ends with `s`; if so, `j` marks the stem before it.
        fn ends(&mut self, s: &[u8]) -> bool {
            let len = s.len() as isize;
            // Most suffixes fail on the last letter; checking it first (as the reference
            // implementation does) avoids a slice comparison per suffix.
            if len > self.k + 1 || s.last().copied() != Some(self.at(self.k)) {
                return false;
            }
            let start = (self.k + 1 - len) as usize;
            if self.b.get(start..=self.k as usize) != Some(s) {
                return false;
            }
            self.j = self.k - len;
            true
        }

        /// Replaces `b[j+1..=k]` with `s`.
        fn set_to(&mut self, s: &[u8]) {
            self.b.truncate((self.j + 1) as usize);
            self.b.extend_from_slice(s);
            self.k = self.j + s.len() as isize;
        }

        fn r(&mut self, s: &[u8]) {
            if self.m() > 0 {
                self.set_to(s);
            }
        }

        /// Plurals and -ed or -ing.
        fn step1ab(&mut self) {
            if self.at(self.k) == b's' {
                if self.ends(b"sses") {
                    self.k -= 2;
                } else if self.ends(b"ies") {
                    self.set_to(b"i");
                } else if self.at(self.k - 1) != b's' {
                    self.k -= 1;
                }
            }
            if self.ends(b"eed") {
                if self.m() > 0 {
                    self.k -= 1;
                }
            } else if (self.ends(b"ed") || self.ends(b"ing")) && self.vowel_in_stem() {
                self.k = self.j;
                if self.ends(b"at") {
                    self.set_to(b"ate");
                } else if self.ends(b"bl") {
                    self.set_to(b"ble");
                } else if self.ends(b"iz") {
                    self.set_to(b"ize");
                } else if self.double_c(self.k) {
                    self.k -= 1;
                    if matches!(self.at(self.k), b'l' | b's' | b'z') {
                        self.k += 1;
                    }
                } else if self.m() == 1 && self.cvc(self.k) {
                    self.set_to(b"e");
                }
            }
        }

        /// Terminal y to i when there is another vowel in the stem.
        fn step1c(&mut self) {
            if self.ends(b"y") && self.vowel_in_stem() {
                if let Some(c) = usize::try_from(self.k).ok().and_then(|k| self.b.get_mut(k)) {
                    *c = b'i';
                }
            }
        }

        /// Double suffixes to single ones.
        fn step2(&mut self) {
            for (suffix, replacement) in STEP2 {
                if self.ends(suffix) {
                    self.r(replacement);
                    return;
                }
            }
        }

        /// -ic-, -full, -ness and the like.
        fn step3(&mut self) {
            for (suffix, replacement) in STEP3 {
                if self.ends(suffix) {
                    self.r(replacement);
                    return;
                }
            }
        }

        /// -ant, -ence and the like, in context `m > 1`.
        fn step4(&mut self) {
            for suffix in STEP4 {
                if self.ends(suffix) {
                    if *suffix == b"ion" && !matches!(self.at(self.j), b's' | b't') {
                        continue;
                    }
                    if self.m() > 1 {
                        self.k = self.j;
                    }
                    return;
                }
            }
        }

        /// A final -e when `m > 1`, and -ll to -l when `m > 1`.
        fn step5(&mut self) {
            self.j = self.k;
            if self.at(self.k) == b'e' {
                let a = self.m();
                if a > 1 || (a == 1 && !self.cvc(self.k - 1)) {
                    self.k -= 1;
                }
            }
            if self.at(self.k) == b'l' && self.double_c(self.k) && self.m() > 1 {
                self.k -= 1;
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::stem;

        #[test]
        fn reference_vocabulary() {
            // From the algorithm's published vocabulary and output lists.
            for (word, expected) in [
                ("caresses", "caress"),
                ("ponies", "poni"),
                ("ties", "ti"),
                ("caress", "caress"),
                ("cats", "cat"),
                ("feed", "feed"),
                ("agreed", "agre"),
                ("plastered", "plaster"),
                ("bled", "bled"),
                ("motoring", "motor"),
                ("sing", "sing"),
                ("conflated", "conflat"),
                ("troubled", "troubl"),
                ("sized", "size"),
                ("hopping", "hop"),
                ("tanned", "tan"),
                ("falling", "fall"),
                ("hissing", "hiss"),
                ("fizzed", "fizz"),
                ("failing", "fail"),
                ("filing", "file"),
                ("happy", "happi"),
                ("sky", "sky"),
                ("relational", "relat"),
                ("conditional", "condit"),
                ("rational", "ration"),
                ("generalizations", "gener"),
                ("oscillators", "oscil"),
                ("running", "run"),
                ("agents", "agent"),
                ("forecasting", "forecast"),
                ("weather", "weather"),
                ("adjustment", "adjust"),
                ("adoption", "adopt"),
                ("effective", "effect"),
                ("hopefulness", "hope"),
                ("goodness", "good"),
                ("electrical", "electr"),
                ("controlling", "control"),
                ("roll", "roll"),
            ] {
                assert_eq!(stem(word), expected, "{word}");
            }
        }
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "search_json_tests.rs"]
mod json_tests;
