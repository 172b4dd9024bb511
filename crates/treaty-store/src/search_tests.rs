use super::*;
use crate::{BatchCommit, PreparedEntry, Reader, StoredCheckpoint, Writer};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use treaty_merkle::leaf_hash;
use treaty_types::Operation;

/// A database written through `Writer::commit_batch`, as the sequencer does.
struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    writer: Writer,
    versions: HashMap<(String, String), u64>,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("search.db");
        let writer = Writer::open(&path).expect("open");
        Db {
            _dir: dir,
            path,
            writer,
            versions: HashMap::new(),
        }
    }

    /// Commits one batch: `(collection, key, body)`, `None` for a tombstone.
    fn write(&mut self, ops: &[(&str, &str, Option<Value>)]) {
        let size = self.writer.ledger_size().expect("size");
        let mut range = self.writer.compact_range(size).expect("range");
        let entries: Vec<PreparedEntry> = ops
            .iter()
            .map(|(c, k, body)| {
                let v = self
                    .versions
                    .entry(((*c).to_owned(), (*k).to_owned()))
                    .or_insert(0);
                *v += 1;
                let leaf =
                    serde_json::to_vec(&json!({"body": body, "kind": "record"})).expect("leaf");
                PreparedEntry {
                    leaf_hash: leaf_hash(&leaf),
                    leaf,
                    collection: (*c).to_owned(),
                    key: (*k).to_owned(),
                    version: *v,
                    op: if body.is_some() {
                        Operation::Put
                    } else {
                        Operation::Delete
                    },
                    time_ms: 1,
                    body: body.clone(),
                    effect: crate::Effect::Record,
                }
            })
            .collect();
        let mut hashes = Vec::new();
        for e in &entries {
            range.append(e.leaf_hash, |h| hashes.push(h));
        }
        let cp = StoredCheckpoint {
            size: range.size(),
            root: range.root(),
            note: String::new(),
            signed_ms: 0,
        };
        self.writer
            .commit_batch(&BatchCommit {
                first_index: size,
                entries: &entries,
                hashes: &hashes,
                checkpoint: &cp,
            })
            .expect("commit");
    }

    fn put(&mut self, key: &str, body: Value) {
        self.write(&[("agent-card", key, Some(body))]);
    }

    fn reader(&self) -> Reader {
        Reader::open(&self.path).expect("reader")
    }
}

fn card(name: &str, description: &str, skills: Value) -> Value {
    json!({"name": name, "description": description, "url": "https://x.example", "version": "1", "skills": skills})
}

fn q(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        limit: 20,
        ..SearchQuery::default()
    }
}

fn run(r: &Reader, query: &SearchQuery) -> Result<SearchPage, SearchError> {
    r.search(query).expect("sqlite")
}

fn keys(r: &Reader, query: &SearchQuery) -> Vec<String> {
    run(r, query)
        .expect("query")
        .hits
        .into_iter()
        .map(|h| h.key)
        .collect()
}

/// Every hit, following cursors with pages of `limit`.
fn all_pages(r: &Reader, query: &SearchQuery, limit: u32) -> Vec<SearchHit> {
    let mut query = SearchQuery {
        limit,
        cursor: None,
        ..query.clone()
    };
    let mut out = Vec::new();
    loop {
        let page = run(r, &query).expect("page");
        assert!(page.hits.len() <= limit as usize);
        out.extend(page.hits);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
}

fn invalid_query(r: &Reader, query: &SearchQuery) -> String {
    match run(r, query) {
        Err(SearchError::InvalidQuery(msg)) => msg,
        other => panic!("expected InvalidQuery for {query:?}, got {other:?}"),
    }
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w.to_owned()));
    out
}

#[test]
fn words_are_lowercased_folded_stemmed_and_stop_words_dropped() {
    assert_eq!(
        words("The Forecasting-Agents of Zürich: CAFÉ, v2.0 and naïve ÅSA"),
        [
            "forecast", "agent", "zurich", "cafe", "v2", "0", "naiv", "asa"
        ]
    );
    // Non-Latin scripts are kept whole (and not stemmed).
    assert_eq!(words("東京 Ελλάδα"), ["東京", "ελλάδα"]);
    // Long words are cut at a character boundary.
    let long = "é".repeat(WORD_BYTES_MAX);
    let cut_word = &words(&long)[0];
    assert!(cut_word.len() <= WORD_BYTES_MAX);
    assert!(cut_word.chars().all(|c| c == 'e'));
}

#[test]
fn document_tokens_keep_each_word_once_in_its_best_field() {
    let body = card(
        "Weather Bot",
        "Forecasts the weather, and more weather",
        json!([{"id": "forecast", "name": "Daily Forecast", "description": "bot stuff",
                "tags": ["Weather", "Travel Tips"]}]),
    );
    let text = document_tokens("agent-card", &body);
    let tokens: Vec<&str> = text.split(' ').collect();
    let expected = [
        "0",
        "1weather",
        "1bot",
        "2forecast",
        "2daili",
        "2travel",
        "2tip",
        "3more",
        "3stuff",
    ];
    for t in &expected {
        assert!(tokens.contains(t), "{t} missing from {text}");
    }
    for t in ["2weather", "3weather", "3forecast", "3bot"] {
        assert!(!tokens.contains(&t), "{t} should not be in {text}");
    }
    let facets = [
        facet_token(Facet::Collection, "agent-card"),
        facet_token(Facet::Skill, "forecast"),
        facet_token(Facet::Skill, "daily forecast"),
        facet_token(Facet::Tag, "weather"),
        facet_token(Facet::Tag, "travel tips"),
    ];
    for f in facets {
        let f = f.expect("facet");
        assert!(tokens.contains(&f.as_str()), "{f} missing from {text}");
    }
    // Every token survives FTS5's `ascii` tokenizer unchanged: ASCII alphanumerics or
    // non-ASCII characters only.
    assert!(
        text.chars()
            .all(|c| c == ' ' || c.is_ascii_alphanumeric() || !c.is_ascii())
    );
}

#[test]
fn name_outranks_skills_outranks_description() {
    let mut db = Db::new();
    db.put("desc", card("Alpha", "A helper for invoices", json!([])));
    db.put(
        "skill",
        card(
            "Beta",
            "Something",
            json!([{"id": "invoices", "name": "Billing"}]),
        ),
    );
    db.put(
        "tag",
        card(
            "Gamma",
            "Other",
            json!([{"id": "x", "name": "X", "tags": ["invoice"]}]),
        ),
    );
    db.put("name", card("Invoice Master", "Does things", json!([])));
    let r = db.reader();
    let page = run(&r, &q("invoice")).expect("query");
    let got: Vec<(&str, f64)> = page
        .hits
        .iter()
        .map(|h| (h.key.as_str(), h.score))
        .collect();
    // Ties (skill and tag, both the skills field) go to the most recently written.
    assert_eq!(
        got,
        [("name", 4.0), ("tag", 2.0), ("skill", 2.0), ("desc", 1.0)]
    );
    assert_eq!(page.next_cursor, None);
}

#[test]
fn rare_word_placement_outweighs_common_word_placement() {
    let mut db = Db::new();
    // "agent" is in every record; "tide" in two.
    db.put(
        "tide-in-name",
        card("Tide Tables", "An agent for sailors", json!([])),
    );
    db.put(
        "agent-in-name",
        card("Agent Smith", "Knows the tide", json!([])),
    );
    let filler: Vec<(String, Value)> = (0..20)
        .map(|i| {
            (
                format!("f{i}"),
                card(&format!("Filler {i}"), "agent", json!([])),
            )
        })
        .collect();
    for (k, b) in filler {
        db.put(&k, b);
    }
    let r = db.reader();
    let page = run(&r, &q("agent tide")).expect("query");
    let got: Vec<&str> = page.hits.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(got, ["tide-in-name", "agent-in-name"]);
    assert!(page.hits[0].score > page.hits[1].score);
    assert!(page.hits.iter().all(|h| (1.0..=4.0).contains(&h.score)));
}

#[test]
fn all_words_must_match() {
    let mut db = Db::new();
    db.put("both", card("Weather", "forecast service", json!([])));
    db.put("one", card("Weather", "radar", json!([])));
    db.put("other", card("Forecast", "tides", json!([])));
    let r = db.reader();
    assert_eq!(keys(&r, &q("weather forecast")), ["both"]);
    assert_eq!(keys(&r, &q("forecast weather")), ["both"]);
    assert_eq!(keys(&r, &q("weather")).len(), 2);
    assert!(keys(&r, &q("weather nonexistent")).is_empty());
    // Stemming applies to queries too.
    assert_eq!(keys(&r, &q("forecasting weathers")), ["both"]);
}

#[test]
fn filters_are_exact_and_case_insensitive_where_documented() {
    let mut db = Db::new();
    db.put(
        "a",
        card(
            "Alpha",
            "maps",
            json!([{"id": "geo-lookup", "name": "Geo Lookup", "tags": ["Maps", "travel"]}]),
        ),
    );
    db.put(
        "b",
        card(
            "Beta",
            "maps",
            json!([{"id": "route", "name": "Route Planner", "tags": ["maps"]}]),
        ),
    );
    db.write(&[("manifest", "m", Some(json!({"name": "Maps manifest"})))]);
    let r = db.reader();
    let with = |text: &str, collection: Option<&str>, skill: Option<&str>, tag: Option<&str>| {
        let mut k = keys(
            &r,
            &SearchQuery {
                text: text.into(),
                collection: collection.map(Into::into),
                skill: skill.map(Into::into),
                tag: tag.map(Into::into),
                source: None,
                limit: 20,
                cursor: None,
            },
        );
        k.sort();
        k
    };
    assert_eq!(with("maps", None, None, None), ["a", "b", "m"]);
    assert_eq!(with("maps", Some("agent-card"), None, None), ["a", "b"]);
    assert_eq!(with("maps", Some("manifest"), None, None), ["m"]);
    assert!(with("maps", Some("Manifest"), None, None).is_empty());
    // Skill by id or by name, any case; a word of the name is not the name.
    assert_eq!(with("", None, Some("GEO-LOOKUP"), None), ["a"]);
    assert_eq!(with("", None, Some("geo lookup"), None), ["a"]);
    assert!(with("", None, Some("geo"), None).is_empty());
    // Tags: exact, any case.
    assert_eq!(with("", None, None, Some("MAPS")), ["a", "b"]);
    assert_eq!(with("", None, None, Some("travel")), ["a"]);
    assert!(with("", None, None, Some("trav")).is_empty());
    // Filters combine with each other and with words.
    assert_eq!(
        with("", Some("agent-card"), Some("route"), Some("maps")),
        ["b"]
    );
    assert_eq!(with("alpha", None, None, Some("maps")), ["a"]);
    // Several words, all rare here, with filters checked separately.
    assert_eq!(with("maps alpha", None, None, Some("travel")), ["a"]);
    assert_eq!(with("maps route", None, Some("route"), None), ["b"]);
    assert!(with("maps alpha", Some("manifest"), None, None).is_empty());
    assert!(with("maps alpha", None, Some("route"), None).is_empty());
    assert!(with("beta", None, None, Some("travel")).is_empty());
    // Filter-only hits score 0, newest first.
    let page = run(
        &r,
        &SearchQuery {
            tag: Some("maps".into()),
            limit: 10,
            ..SearchQuery::default()
        },
    )
    .expect("query");
    let got: Vec<(&str, f64)> = page
        .hits
        .iter()
        .map(|h| (h.key.as_str(), h.score))
        .collect();
    assert_eq!(got, [("b", 0.0), ("a", 0.0)]);
}

#[test]
fn empty_query_lists_everything_newest_first() {
    let mut db = Db::new();
    db.put("a", card("A", "x", json!([])));
    db.write(&[("receipt", "r", Some(json!([1, 2, 3])))]);
    db.put("b", card("B", "y", json!([])));
    let r = db.reader();
    assert_eq!(keys(&r, &q("")), ["b", "r", "a"]);
    assert_eq!(keys(&r, &q("   ")), ["b", "r", "a"]);
}

#[test]
fn other_collections_index_name_title_description_only() {
    let mut db = Db::new();
    db.write(&[
        (
            "manifest",
            "t",
            Some(json!({"title": "Quarterly Ledger", "body": "hidden words"})),
        ),
        (
            "manifest",
            "d",
            Some(json!({"description": "ledger export", "name": 7})),
        ),
        ("manifest", "n", Some(json!("a bare string ledger"))),
    ]);
    let r = db.reader();
    assert_eq!(keys(&r, &q("ledger")), ["t", "d"]);
    assert!(keys(&r, &q("hidden")).is_empty());
    // The record with a non-object body is still listed by collection.
    let mut all = keys(
        &r,
        &SearchQuery {
            collection: Some("manifest".into()),
            limit: 10,
            ..SearchQuery::default()
        },
    );
    all.sort();
    assert_eq!(all, ["d", "n", "t"]);
}

#[test]
fn tombstones_leave_and_updates_replace() {
    let mut db = Db::new();
    db.put("a", card("Falcon", "fast", json!([])));
    db.put("b", card("Falcon Two", "slow", json!([])));
    db.put("c", card("Heron", "slow", json!([])));
    {
        let r = db.reader();
        assert_eq!(keys(&r, &q("falcon")), ["b", "a"]);
    }
    // Update: old words gone, new words found, and the record moves to the front of its
    // score group (it is the newest version now).
    db.put("a", card("Falcon", "swift", json!([])));
    db.write(&[("agent-card", "b", None)]);
    {
        let r = db.reader();
        assert_eq!(keys(&r, &q("falcon")), ["a"]);
        assert!(keys(&r, &q("fast")).is_empty());
        assert_eq!(keys(&r, &q("swift")), ["a"]);
        assert_eq!(keys(&r, &q("slow")), ["c"]);
        assert_eq!(keys(&r, &q("")), ["a", "c"]);
    }
    // Several mutations of one record in one batch: only the last counts.
    db.write(&[
        ("agent-card", "c", Some(card("Heron", "wading", json!([])))),
        ("agent-card", "c", None),
        ("agent-card", "d", Some(card("Ibis", "wading", json!([])))),
        ("agent-card", "d", Some(card("Ibis", "probing", json!([])))),
    ]);
    // A tombstone of a tombstone, and a put after a tombstone.
    db.write(&[("agent-card", "b", None)]);
    db.put("b", card("Kestrel", "hovering", json!([])));
    let r = db.reader();
    assert!(keys(&r, &q("heron")).is_empty());
    assert!(keys(&r, &q("wading")).is_empty());
    assert_eq!(keys(&r, &q("probing")), ["d"]);
    assert_eq!(keys(&r, &q("kestrel")), ["b"]);
    assert_eq!(keys(&r, &q("")), ["b", "d", "a"]);
    // The index holds exactly one row per live record.
    let rows: i64 = db
        .writer
        .conn
        .query_row(
            "SELECT count(*) FROM discovery WHERE discovery MATCH '\"0\"'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(rows, 3);
    // Nothing stays staged once a batch is committed.
    let staged: i64 = db
        .writer
        .conn
        .query_row("SELECT count(*) FROM discovery_pending", [], |r| r.get(0))
        .expect("count");
    assert_eq!(staged, 0);
}

#[test]
fn query_syntax_is_plain_text() {
    let mut db = Db::new();
    db.put("near", card("Near Field", "col term", json!([])));
    db.put("x", card("X Ray", "minus", json!([])));
    db.put("other", card("Other", "weather", json!([])));
    let r = db.reader();
    for text in [
        "\"",
        "*",
        "\"\"",
        "-",
        "()",
        ":",
        "^",
        "OR",
        "AND NOT",
        "\"*\" + -",
    ] {
        let msg = invalid_query(&r, &q(text));
        assert!(msg.contains("no searchable words"), "{text}: {msg}");
    }
    assert_eq!(keys(&r, &q("NEAR(")), ["near"]);
    assert_eq!(keys(&r, &q("near(field, 2)")), Vec::<String>::new());
    assert_eq!(keys(&r, &q("NEAR(\"near\" \"field\")")), ["near"]);
    assert_eq!(keys(&r, &q("col:term")), ["near"]);
    assert_eq!(keys(&r, &q("{tokens}: col")), Vec::<String>::new());
    assert_eq!(keys(&r, &q("-x")), ["x"]);
    assert_eq!(keys(&r, &q("x*")), ["x"]);
    assert_eq!(keys(&r, &q("\"near field")), ["near"]);
    // OR is a stop word, not an operator: both words must still match.
    assert!(keys(&r, &q("weather OR ray")).is_empty());
    assert_eq!(keys(&r, &q("weather OR other")), ["other"]);
    // Raw token syntax cannot reach the index either.
    assert!(keys(&r, &q("1near")).is_empty());
    assert!(keys(&r, &q("0")).is_empty());
    // Odd filter values are facet values, never syntax.
    for tag in ["\"", "a\" OR \"0", "*", "NEAR(x y)"] {
        let page = run(
            &r,
            &SearchQuery {
                tag: Some(tag.into()),
                limit: 5,
                ..SearchQuery::default()
            },
        )
        .expect("query");
        assert!(page.hits.is_empty(), "{tag}");
    }
}

#[test]
fn limits_are_enforced() {
    let db = Db::new();
    let r = db.reader();
    let mut query = q("weather");
    query.limit = 0;
    assert!(invalid_query(&r, &query).contains("limit"));
    query.limit = SEARCH_LIMIT_MAX + 1;
    assert!(invalid_query(&r, &query).contains("limit"));
    query.limit = SEARCH_LIMIT_MAX;
    assert!(run(&r, &query).is_ok());

    let long = "x".repeat(QUERY_BYTES_MAX + 1);
    assert!(invalid_query(&r, &q(&long)).contains("longer"));
    assert!(run(&r, &q(&"x".repeat(QUERY_BYTES_MAX))).is_ok());

    let many: Vec<String> = (0..=QUERY_TERMS_MAX).map(|i| format!("w{i}")).collect();
    assert!(invalid_query(&r, &q(&many.join(" "))).contains("distinct words"));
    let enough = many[..QUERY_TERMS_MAX].join(" ");
    assert!(run(&r, &q(&enough)).is_ok());
    // Repeats and stop words do not count.
    let repeated = format!("{} the a an", "weather ".repeat(20));
    assert!(run(&r, &q(&repeated)).is_ok());

    for filter in [
        SearchQuery {
            tag: Some("t".repeat(FACET_BYTES_MAX + 1)),
            ..q("")
        },
        SearchQuery {
            skill: Some(String::new()),
            ..q("")
        },
        SearchQuery {
            collection: Some(String::new()),
            ..q("")
        },
    ] {
        let msg = invalid_query(&r, &filter);
        assert!(msg.contains("filter"), "{msg}");
    }
}

#[test]
fn cursors_are_validated() {
    let mut db = Db::new();
    for i in 0..5 {
        db.put(&format!("k{i}"), card("Pelican", "bird", json!([])));
    }
    let r = db.reader();
    let mut query = q("pelican");
    query.limit = 2;
    let page = run(&r, &query).expect("page");
    let cursor = page.next_cursor.expect("cursor");
    // Same normalized query: accepted (case, stemming, order and repeats do not matter).
    for text in ["pelican", "PELICANS", "pelican pelican"] {
        let mut again = q(text);
        again.limit = 2;
        again.cursor = Some(cursor.clone());
        assert!(run(&r, &again).is_ok(), "{text}");
    }
    let bad = |c: String, text: &str| {
        let mut query = q(text);
        query.cursor = Some(c);
        run(&r, &query)
    };
    let mut flipped = cursor.clone().into_bytes();
    flipped[3] = if flipped[3] == b'0' { b'1' } else { b'0' };
    for c in [
        String::new(),
        "zz".into(),
        "0".repeat(2 * CURSOR_BYTES),
        cursor.to_uppercase(),
        format!("{cursor}00"),
        cursor[2..].to_owned(),
        String::from_utf8(flipped).expect("ascii"),
        // Right format and fingerprint, impossible score.
        encode_cursor(
            fingerprint(&["pelican".into()], &[], SourceMarker::All),
            Pos {
                score: 9.0,
                index: 1,
            },
        ),
        encode_cursor(
            fingerprint(&["pelican".into()], &[], SourceMarker::All),
            Pos {
                score: f64::NAN,
                index: 1,
            },
        ),
        // Below every index a hit can have (cached rows have `id - 2^62`, id from 1).
        encode_cursor(
            fingerprint(&["pelican".into()], &[], SourceMarker::All),
            Pos {
                score: 1.0,
                index: -CACHE_ROWID_BASE,
            },
        ),
        encode_cursor(
            fingerprint(&["pelican".into()], &[], SourceMarker::All),
            Pos {
                score: 1.0,
                index: i64::MIN,
            },
        ),
    ] {
        assert_eq!(
            bad(c.clone(), "pelican"),
            Err(SearchError::InvalidCursor),
            "{c}"
        );
    }
    // A cursor of another query.
    assert_eq!(bad(cursor.clone(), "bird"), Err(SearchError::InvalidCursor));
    let mut filtered = q("pelican");
    filtered.tag = Some("x".into());
    filtered.cursor = Some(cursor);
    assert_eq!(run(&r, &filtered), Err(SearchError::InvalidCursor));
}

#[test]
fn cursors_are_bound_to_the_source_filter() {
    let mut db = Db::new();
    for i in 0..3 {
        db.put(&format!("k{i}"), card("Pelican", "bird", json!([])));
    }
    let r = db.reader();
    let words = ["pelican".to_owned()];
    let registry = facet_token(Facet::Source, "node-a").expect("facet");
    let at = |index: i64| Pos { score: 4.0, index };
    let with = |source: Option<SourceFilter>, cursor: String| {
        let mut query = q("pelican");
        query.source = source;
        query.cursor = Some(cursor);
        run(&r, &query)
    };
    let local = || Some(SourceFilter::Local);
    let node_a = || Some(SourceFilter::Registry("node-a".into()));
    // Positions the filter can produce are accepted: local ones (from 0) for Local, cached
    // ones (negative, from 1 - 2^62) for a registry, both without a filter.
    let fp_local = fingerprint(&words, &[], SourceMarker::Local);
    let fp_registry = fingerprint(
        &words,
        std::slice::from_ref(&registry),
        SourceMarker::Registry,
    );
    let fp_all = fingerprint(&words, &[], SourceMarker::All);
    assert!(with(local(), encode_cursor(fp_local, at(0))).is_ok());
    assert!(with(node_a(), encode_cursor(fp_registry, at(-1))).is_ok());
    assert!(
        with(
            node_a(),
            encode_cursor(fp_registry, at(1 - CACHE_ROWID_BASE))
        )
        .is_ok()
    );
    assert!(with(None, encode_cursor(fp_all, at(-1))).is_ok());
    assert!(with(None, encode_cursor(fp_all, at(1 - CACHE_ROWID_BASE))).is_ok());
    // Positions outside it are not.
    for (source, cursor) in [
        (local(), encode_cursor(fp_local, at(-1))),
        (node_a(), encode_cursor(fp_registry, at(0))),
        (node_a(), encode_cursor(fp_registry, at(5))),
        (node_a(), encode_cursor(fp_registry, at(-CACHE_ROWID_BASE))),
        (None, encode_cursor(fp_all, at(-CACHE_ROWID_BASE))),
    ] {
        assert_eq!(with(source, cursor), Err(SearchError::InvalidCursor));
    }
    // The filter is part of the fingerprint: no cursor crosses between filters (each at a
    // position the target filter would accept).
    for (source, fp, index) in [
        (None, fp_local, 0),
        (None, fp_registry, -1),
        (local(), fp_all, 0),
        (local(), fp_registry, 0),
        (node_a(), fp_all, -1),
        (node_a(), fp_local, -1),
        (
            Some(SourceFilter::Registry("node-b".into())),
            fp_registry,
            -1,
        ),
    ] {
        assert_eq!(
            with(source, encode_cursor(fp, at(index))),
            Err(SearchError::InvalidCursor)
        );
    }
}

/// A naive model of the documented ranking, for checking the real one: each query word's
/// best field from the raw body, mean weight when every idf is equal.
fn reference_order(
    bodies: &[(String, i64, Value)],
    text: &str,
    idf: &dyn Fn(&str) -> f64,
) -> Vec<(String, f64)> {
    // Normalized like the index does, and in the same (sorted) order, so that floating-point
    // sums are computed identically.
    let mut query_words = words(text);
    query_words.sort();
    query_words.dedup();
    let mut scored = Vec::new();
    for (key, rowid, body) in bodies {
        let fields_of =
            |text: &Value| -> Vec<String> { text.as_str().map(words).unwrap_or_default() };
        let mut best: Vec<Option<u32>> = vec![None; query_words.len()];
        let mut see = |text: &Value, weight: u32| {
            let ws = fields_of(text);
            for (i, qw) in query_words.iter().enumerate() {
                if ws.iter().any(|w| w == qw) {
                    best[i] = Some(best[i].map_or(weight, |b| b.max(weight)));
                }
            }
        };
        see(&body["name"], 4);
        see(&body["description"], 1);
        for skill in body["skills"].as_array().into_iter().flatten() {
            see(&skill["id"], 2);
            see(&skill["name"], 2);
            see(&skill["description"], 1);
            for tag in skill["tags"].as_array().into_iter().flatten() {
                see(tag, 2);
            }
        }
        if best.iter().all(Option::is_some) {
            let (mut num, mut den) = (0.0, 0.0);
            for (qw, b) in query_words.iter().zip(&best) {
                let w = idf(qw.as_str());
                num += w * f64::from(b.unwrap_or(0));
                den += w;
            }
            scored.push((key.clone(), *rowid, num / den));
        }
    }
    scored.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.1.cmp(&a.1)));
    scored.into_iter().map(|(k, _, s)| (k, s)).collect()
}

/// Deterministic pseudo-random cards over a tiny vocabulary, so every word is common.
fn generated(n: usize, seed: u64) -> Vec<(String, Value)> {
    const VOCAB: &[&str] = &[
        "kite", "lamp", "moss", "nest", "opal", "pond", "quay", "reef",
    ];
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let mut pick = |k: usize| -> String {
                (0..k)
                    .map(|_| VOCAB[(next() % VOCAB.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let name = pick(1);
            let description = format!("{} {}", pick(6), "kite lamp moss nest opal");
            let skill_name = pick(1);
            let tag = pick(1);
            (
                format!("g{i:05}"),
                card(
                    &name,
                    &description,
                    json!([{"id": format!("s{}", i % 7), "name": skill_name, "tags": [tag]}]),
                ),
            )
        })
        .collect()
}

/// Writes `cards` in batches of 256, returning `(key, ledger index, body)`.
fn write_all(db: &mut Db, cards: &[(String, Value)]) -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    for chunk in cards.chunks(256) {
        let first = db.writer.ledger_size().expect("size") as i64;
        let ops: Vec<(&str, &str, Option<Value>)> = chunk
            .iter()
            .map(|(k, b)| ("agent-card", k.as_str(), Some(b.clone())))
            .collect();
        db.write(&ops);
        for (i, (k, b)) in chunk.iter().enumerate() {
            out.push((k.clone(), first + i as i64, b.clone()));
        }
    }
    out
}

fn assert_pages_match(r: &Reader, query: &SearchQuery, expected: &[(String, f64)]) {
    for limit in [9, 100] {
        let hits = all_pages(r, query, limit);
        let got: Vec<(String, f64)> = hits.into_iter().map(|h| (h.key, h.score)).collect();
        let unique: HashSet<&String> = got.iter().map(|(k, _)| k).collect();
        assert_eq!(unique.len(), got.len(), "duplicates with limit {limit}");
        assert_eq!(got.len(), expected.len(), "{query:?} limit {limit}");
        for (i, ((gk, gs), (ek, es))) in got.iter().zip(expected).enumerate() {
            assert_eq!(gk, ek, "{query:?} limit {limit} position {i}");
            assert!((gs - es).abs() < 1e-9, "{query:?} {gk}: {gs} vs {es}");
        }
    }
}

#[test]
fn pages_concatenate_to_the_full_order_in_every_plan() {
    let mut db = Db::new();
    let cards = generated(600, 7);
    let bodies = write_all(&mut db, &cards);
    let r = db.reader();
    // Small vocabulary: every word is in fewer than CANDIDATES_MAX records here, so idf
    // varies; the reference uses the same formula with exact document frequencies.
    let word_sets: Vec<HashSet<String>> = bodies
        .iter()
        .map(|(_, _, b)| {
            let mut all = String::new();
            all.push_str(b["name"].as_str().unwrap_or(""));
            all.push(' ');
            all.push_str(b["description"].as_str().unwrap_or(""));
            for s in b["skills"].as_array().into_iter().flatten() {
                for m in ["id", "name", "description"] {
                    all.push(' ');
                    all.push_str(s[m].as_str().unwrap_or(""));
                }
                for t in s["tags"].as_array().into_iter().flatten() {
                    all.push(' ');
                    all.push_str(t.as_str().unwrap_or(""));
                }
            }
            words(&all).into_iter().collect()
        })
        .collect();
    let df = |w: &str| word_sets.iter().filter(|set| set.contains(w)).count();
    let idf = |w: &str| idf_of(df(w));
    for text in ["reef", "quay reef", "kite reef pond", "lamp moss nest opal"] {
        let expected = reference_order(&bodies, text, &idf);
        assert!(!expected.is_empty(), "{text}");
        assert_pages_match(&r, &q(text), &expected);
    }
    // Filter-only: newest first.
    let expected: Vec<(String, f64)> = bodies
        .iter()
        .rev()
        .filter(|(k, _, _)| {
            let i: usize = k[1..].parse().expect("n");
            i % 7 == 3
        })
        .map(|(k, _, _)| (k.clone(), 0.0))
        .collect();
    let query = SearchQuery {
        skill: Some("s3".into()),
        ..q("")
    };
    assert_pages_match(&r, &query, &expected);
}

#[test]
fn broad_queries_stream_score_groups_exactly() {
    // More matches than CANDIDATES_MAX, so multi-word queries take the streamed plans.
    let mut db = Db::new();
    let cards = generated(CANDIDATES_MAX + 300, 11);
    let bodies = write_all(&mut db, &cards);
    let one = |_: &str| 1.0;
    // A rare word with common ones: the rare word's postings drive, each common word is
    // intersected per field, in every combination of fields.
    let rare_cards: Vec<(String, Value)> = (0..12)
        .map(|i| {
            let (name, description, skill) = match i % 3 {
                0 => ("Zephyr Kite", "lamp moss", "reef"),
                1 => ("Lamp", "zephyr kite moss", "kite"),
                _ => ("Moss Works", "kite lamp", "zephyr"),
            };
            (
                format!("z{i:02}"),
                card(
                    name,
                    description,
                    json!([{"id": skill, "name": skill, "tags": ["windy"]}]),
                ),
            )
        })
        .collect();
    let mut bodies = bodies;
    bodies.extend(write_all(&mut db, &rare_cards));
    let r = db.reader();
    let zephyr_idf = idf_of(12);
    let idf = |w: &str| if w == "zephyr" { zephyr_idf } else { 1.0 };
    for text in ["zephyr kite", "kite zephyr lamp", "zephyr moss lamp kite"] {
        let expected = reference_order(&bodies, text, &idf);
        assert!(!expected.is_empty(), "{text}");
        assert_pages_match(&r, &q(text), &expected);
    }
    assert_eq!(all_pages(&r, &q("zephyr kite"), 5).len(), 12);
    let filtered = SearchQuery {
        skill: Some("REEF".into()),
        ..q("zephyr kite")
    };
    let hits = all_pages(&r, &filtered, 3);
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.score == 4.0), "{hits:?}");
    let filtered = SearchQuery {
        collection: Some("manifest".into()),
        ..q("zephyr kite")
    };
    assert!(run(&r, &filtered).expect("query").hits.is_empty());
    // Two and four common words: combination groups.
    for text in ["kite lamp", "kite lamp moss nest"] {
        let expected = reference_order(&bodies, text, &one);
        assert!(expected.len() > CANDIDATES_MAX, "{text}");
        let first = all_pages_prefix(&r, &q(text), 40, 5);
        assert_eq!(first.len(), 200);
        for (i, (hit, (ek, es))) in first.iter().zip(&expected).enumerate() {
            assert_eq!(&hit.key, ek, "{text} position {i}");
            assert!((hit.score - es).abs() < 1e-9);
        }
    }
}

#[test]
fn many_common_words_rank_boosted_records_then_the_rest() {
    // Five words in every description, and in a name or skill of only a few records: more
    // than STREAM_TERMS_MAX words and more than CANDIDATES_MAX matches, but few records
    // score above 1.
    let mut db = Db::new();
    let cards: Vec<(String, Value)> = (0..CANDIDATES_MAX + 200)
        .map(|i| {
            let name = match i % 97 {
                0 => "Kite Works".to_owned(),
                1 => "Opal Lamp".to_owned(),
                _ => format!("Plain {i}"),
            };
            let skills = if i % 89 == 0 {
                json!([{"id": "moss", "name": "Moss", "tags": ["nest"]}])
            } else {
                json!([])
            };
            (
                format!("p{i:05}"),
                card(&name, "kite lamp moss nest opal", skills),
            )
        })
        .collect();
    let bodies = write_all(&mut db, &cards);
    let r = db.reader();
    let text = "kite lamp moss nest opal";
    let expected = reference_order(&bodies, text, &|_| 1.0);
    assert_eq!(expected.len(), cards.len());
    let boosted = expected.iter().filter(|(_, s)| *s > 1.0).count();
    assert!(boosted > 20 && boosted < 200, "{boosted}");
    // Through the boosted records and well into the all-description group.
    let got = all_pages_prefix(&r, &q(text), 45, 10);
    assert_eq!(got.len(), 450);
    for (i, (hit, (ek, es))) in got.iter().zip(&expected).enumerate() {
        assert_eq!(&hit.key, ek, "position {i}");
        assert!((hit.score - es).abs() < 1e-9);
    }
}

/// The first `pages` pages of `limit` hits.
fn all_pages_prefix(r: &Reader, query: &SearchQuery, limit: u32, pages: usize) -> Vec<SearchHit> {
    let mut query = SearchQuery {
        limit,
        ..query.clone()
    };
    let mut out = Vec::new();
    for _ in 0..pages {
        let page = run(r, &query).expect("page");
        out.extend(page.hits);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    out
}

#[test]
fn too_broad_queries_are_refused() {
    // Five words, each in a name or skill of every record: more than CANDIDATES_MAX
    // boosted records, more than STREAM_TERMS_MAX words.
    let mut db = Db::new();
    let cards: Vec<(String, Value)> = (0..CANDIDATES_MAX + 10)
        .map(|i| {
            (
                format!("b{i}"),
                card(
                    "kite lamp moss nest opal",
                    "kite lamp moss nest opal",
                    json!([]),
                ),
            )
        })
        .collect();
    write_all(&mut db, &cards);
    let r = db.reader();
    assert!(invalid_query(&r, &q("kite lamp moss nest opal")).contains("too broad"));
    // With a filter narrowing the matches, the same words are fine.
    let narrowed = SearchQuery {
        collection: Some("manifest".into()),
        ..q("kite lamp moss nest opal")
    };
    assert!(run(&r, &narrowed).expect("query").hits.is_empty());
    // Four words stream.
    let page = run(&r, &q("kite lamp moss nest")).expect("query");
    assert_eq!(page.hits.len(), 20);
    assert!(page.hits.iter().all(|h| h.score == 4.0));
}

#[test]
fn streamed_queries_use_the_index_order() {
    let db = Db::new();
    let plan: Vec<String> = db
        .writer
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT -rowid FROM discovery WHERE discovery MATCH ?1
             AND rowid > ?2 AND rowid <= ?3 ORDER BY rowid LIMIT ?4",
        )
        .expect("prepare")
        .query_map(params!["\"0\"", 10, 0, 5], |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        plan.iter().all(|step| !step.contains("TEMP B-TREE")),
        "{plan:?}"
    );
    let plan: Vec<String> = db
        .writer
        .conn
        .prepare("EXPLAIN QUERY PLAN SELECT collection, key FROM records WHERE ledger_index = ?1")
        .expect("prepare")
        .query_map([1], |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        plan.iter()
            .any(|s| s.contains("INDEX") && s.contains("ledger_index=?")),
        "{plan:?}"
    );
}
