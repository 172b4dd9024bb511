//! A one-pass reader for the common case of [`LedgerEntry::from_leaf_bytes`]: the leaf bytes
//! of a record mutation already in RFC 8785 form.
//!
//! `from_leaf_bytes` checks canonical form by parsing the bytes and serializing the entry
//! again for comparison, which costs about 15 µs for an agent card. This reader instead
//! checks the canonical form while it parses, byte by byte, and builds the entry on the way.
//! It is deliberately narrow: it accepts only what it can prove `from_leaf_bytes` accepts
//! with exactly the same entry, and answers `None` for everything else, including every
//! error case, which the caller then hands to the full parse. So the set of accepted inputs,
//! the entries returned and every error (its kind and message) stay those of the full parse.
//!
//! What it accepts, all of it required by the canonical form or by the full parse:
//! - a top-level object of kind `record` with exactly the members `collection`, `key`,
//!   `kind`, `op`, `time_ms`, `version` and optionally `body`, in that (sorted) order;
//! - no whitespace anywhere; members of every object strictly ordered by UTF-16 code units
//!   (which also rules out duplicates);
//! - strings of valid UTF-8 with exactly the escapes the canonical form writes: `\"`, `\\`,
//!   `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00xx` (lowercase hex) for other control characters;
//!   every other character raw;
//! - numbers that are integers in canonical decimal form (`0`, or no leading zero, no `-0`),
//!   within ±(2^53 - 1); `time_ms` and `version` non-negative;
//! - a `body` that is a JSON object, with no array or object nested at
//!   [`JSON_DEPTH_MAX`] levels or deeper (the limit `check_json` enforces);
//! - `collection` and `key` that [`CollectionName::parse`] and [`RecordKey::parse`] accept,
//!   `op` `put` or `delete`.
//!
//! Anything else (a float, `"body":null`, a non-object body, another kind of entry, a
//! number beyond the safe range, another escape, ...) is left to the full parse, which
//! accepts or refuses it as before.

use crate::limits::{JSON_DEPTH_MAX, SAFE_INTEGER_MAX};
use crate::record::{CollectionName, LedgerEntry, Operation, RecordKey};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

/// A record entry read from its canonical leaf bytes with the body left as the text it is
/// in the leaf ([`LedgerEntry::read_leaf`]). A sync applies thousands of these per page and
/// stores each body as text: building a `serde_json::Value` per body and serializing it
/// again cost more than everything else it does with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLeaf {
    /// The record's collection.
    pub collection: CollectionName,
    /// The record's key.
    pub key: RecordKey,
    /// The record's version after this mutation.
    pub version: u64,
    /// Put or delete.
    pub op: Operation,
    /// Where the body's canonical JSON text is within the leaf bytes (`leaf[body]`); `None`
    /// when the entry has no body (tombstones).
    pub body: Option<Range<usize>>,
    /// When the peer's sequencer accepted the mutation, Unix milliseconds.
    pub time_ms: u64,
}

impl RecordLeaf {
    /// The body's canonical JSON text within `leaf` (the bytes this was read from).
    #[must_use]
    pub fn body_text<'a>(&self, leaf: &'a [u8]) -> Option<&'a str> {
        std::str::from_utf8(leaf.get(self.body.clone()?)?).ok()
    }
}

/// What [`LedgerEntry::read_leaf`] read: a record with its body as text, or any other entry.
#[derive(Debug, Clone, PartialEq)]
pub enum LeafEntry {
    /// A record mutation.
    Record(RecordLeaf),
    /// Any other kind of entry, fully parsed.
    Other(LedgerEntry),
}

/// The record entry these canonical leaf bytes are, or `None` when the bytes are not a
/// record entry this reader can prove canonical (the caller must then use the full parse).
pub(crate) fn record(bytes: &[u8]) -> Option<LedgerEntry> {
    let leaf = record_leaf(bytes)?;
    // The body text is proven canonical; serde_json builds the value from it. (Its own
    // depth limit, 128, is far above JSON_DEPTH_MAX, which the reader enforced.)
    let body = match &leaf.body {
        Some(range) => Some(serde_json::from_slice::<Value>(bytes.get(range.clone())?).ok()?),
        None => None,
    };
    Some(LedgerEntry::Record {
        collection: leaf.collection,
        key: leaf.key,
        version: leaf.version,
        op: leaf.op,
        body,
        time_ms: leaf.time_ms,
    })
}

/// [`record`] without building the body: its canonical form is checked and its place in
/// the bytes returned.
pub(crate) fn record_leaf(bytes: &[u8]) -> Option<RecordLeaf> {
    // UTF-8 once for the whole leaf; the reader then only slices it at ASCII bytes.
    let s = std::str::from_utf8(bytes).ok()?;
    let mut r = Reader { s, i: 0 };
    r.eat(b'{')?;
    let mut body = None;
    let mut name = r.string()?;
    if name == "body" {
        r.eat(b':')?;
        if r.peek()? != b'{' {
            return None;
        }
        let start = r.i;
        r.value(0)?;
        body = Some(start..r.i);
        r.eat(b',')?;
        name = r.string()?;
    }
    if name != "collection" {
        return None;
    }
    r.eat(b':')?;
    let collection = CollectionName::parse(&r.string()?).ok()?;
    r.member("key")?;
    let key = RecordKey::parse(&r.string()?).ok()?;
    r.member("kind")?;
    if r.string()? != "record" {
        return None;
    }
    r.member("op")?;
    let op = match &*r.string()? {
        "put" => Operation::Put,
        "delete" => Operation::Delete,
        _ => return None,
    };
    r.member("time_ms")?;
    let time_ms = r.unsigned()?;
    r.member("version")?;
    let version = r.unsigned()?;
    r.eat(b'}')?;
    if r.i != bytes.len() {
        return None;
    }
    Some(RecordLeaf {
        collection,
        key,
        version,
        op,
        body,
        time_ms,
    })
}

struct Reader<'a> {
    /// The whole input, valid UTF-8.
    s: &'a str,
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// `,"name":`.
    fn member(&mut self, name: &str) -> Option<()> {
        self.eat(b',')?;
        (self.string()? == name).then_some(())?;
        self.eat(b':')
    }

    /// A canonical string (the opening quote is next), borrowed from the input unless it
    /// has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let b = self.s.as_bytes();
        let mut out: Option<String> = None;
        loop {
            // The run of raw bytes up to the next quote, backslash or control byte: ASCII
            // bytes, so the run is on character boundaries.
            let start = self.i;
            while let Some(&c) = b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let run = self.s.get(start..self.i)?;
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(match out {
                        None => Cow::Borrowed(run),
                        Some(mut o) => {
                            o.push_str(run);
                            Cow::Owned(o)
                        }
                    });
                }
                b'\\' => {
                    let c = match *b.get(self.i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = b.get(self.i + 2..self.i + 6)?;
                            let lower = |h: u8| match h {
                                b'0'..=b'9' => Some(h - b'0'),
                                b'a'..=b'f' => Some(h - b'a' + 10),
                                _ => None,
                            };
                            if hex[0] != b'0' || hex[1] != b'0' {
                                return None;
                            }
                            let v = (lower(hex[2])? << 4) | lower(hex[3])?;
                            // Only control characters without a short escape are written so.
                            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.i += 4;
                            char::from(v)
                        }
                        _ => return None,
                    };
                    self.i += 2;
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(run);
                    o.push(c);
                }
                // A raw control byte: not JSON.
                _ => return None,
            }
        }
    }

    /// A canonical integer within ±(2^53 - 1): `-?(0|[1-9][0-9]*)`, not `-0`.
    fn integer(&mut self) -> Option<(bool, u64)> {
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            if n > SAFE_INTEGER_MAX {
                return None;
            }
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.s.as_bytes()[start] == b'0') || (negative && n == 0) {
            return None;
        }
        // A fraction or exponent: not an integer in canonical form.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some((negative, n))
    }

    fn unsigned(&mut self) -> Option<u64> {
        match self.integer()? {
            (false, n) => Some(n),
            (true, _) => None,
        }
    }

    /// Reads past a canonical value, checking its form without building it; `depth` is
    /// that of the value (the body is at 0), and arrays and objects at [`JSON_DEPTH_MAX`]
    /// or deeper are left to the full parse.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => {
                if depth >= JSON_DEPTH_MAX {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                let mut prev: Option<Cow<'a, str>> = None;
                loop {
                    let k = self.string()?;
                    if prev.is_some_and(|p| utf16_cmp(&p, &k) != Ordering::Less) {
                        return None;
                    }
                    self.eat(b':')?;
                    self.value(depth + 1)?;
                    prev = Some(k);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= JSON_DEPTH_MAX {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(drop),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            _ => self.integer().map(drop),
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        (self.s.as_bytes().get(self.i..self.i + w.len())? == w.as_bytes()).then(|| {
            self.i += w.len();
        })
    }
}

/// RFC 8785 member order: by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

#[cfg(test)]
mod tests {
    //! Differential test: the one-pass reader against the full parse, over generated entries
    //! in canonical form and many mutations of them.
    use super::*;
    use serde_json::{Map, json};

    /// SplitMix64: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const CHARS: &[&str] = &[
        "a",
        "b",
        "z",
        "A",
        "0",
        "9",
        " ",
        "-",
        "_",
        "\"",
        "\\",
        "/",
        "\u{0}",
        "\u{1}",
        "\u{8}",
        "\u{9}",
        "\u{a}",
        "\u{b}",
        "\u{c}",
        "\u{d}",
        "\u{1f}",
        "\u{7f}",
        "\u{80}",
        "é",
        "ß",
        "\u{fb33}",
        "\u{1f600}",
        "\u{e000}",
        "\u{ffff}",
        "\u{10ffff}",
        "name",
        "skills",
    ];

    const INTEGERS: &[i64] = &[
        0,
        1,
        -1,
        7,
        10,
        -10,
        100,
        9_007_199_254_740_991,
        -9_007_199_254_740_991,
        9_007_199_254_740_992,
        -9_007_199_254_740_992,
        1 << 60,
        i64::MIN,
        i64::MAX,
    ];

    fn text(rng: &mut Rng, max: usize) -> String {
        (0..rng.below(max + 1)).map(|_| *rng.pick(CHARS)).collect()
    }

    fn value(rng: &mut Rng, depth: usize, deep: bool) -> Value {
        let leaf_only = depth >= if deep { 36 } else { 4 };
        match rng.below(if leaf_only { 5 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => {
                if rng.below(4) == 0 {
                    json!(u64::MAX - rng.below(3) as u64)
                } else if rng.below(3) == 0 {
                    json!(rng.next() as i64 >> rng.below(64))
                } else {
                    json!(*rng.pick(INTEGERS))
                }
            }
            3 | 4 => Value::String(text(rng, 6)),
            5 if rng.below(20) == 0 => json!(0.5),
            5 | 6 => {
                let n = if deep { 1 } else { rng.below(4) };
                Value::Array((0..n).map(|_| value(rng, depth + 1, deep)).collect())
            }
            _ => object(rng, depth, deep),
        }
    }

    fn object(rng: &mut Rng, depth: usize, deep: bool) -> Value {
        let n = if deep { 1 } else { rng.below(5) };
        let mut m = Map::new();
        for _ in 0..n {
            m.insert(text(rng, 3), value(rng, depth + 1, deep));
        }
        Value::Object(m)
    }

    fn entry(rng: &mut Rng) -> LedgerEntry {
        let versions: &[u64] = &[
            0,
            1,
            2,
            10,
            1_700_000_000_000,
            SAFE_INTEGER_MAX,
            SAFE_INTEGER_MAX + 1,
            SAFE_INTEGER_MAX + 2,
            1 << 60,
            u64::MAX,
        ];
        let collection = *rng.pick(&["agent-card", "receipt", "a", "x1-y2"]);
        let key = *rng.pick(&["k1", "card-0000001", "sha256:00", "A.b-c_d~e+f=g", "@"]);
        let body = match rng.below(6) {
            0 => None,
            1 => {
                let deep = rng.below(2) == 0;
                Some(value(rng, 0, deep))
            }
            _ => {
                let deep = rng.below(8) == 0;
                Some(object(rng, 0, deep))
            }
        };
        match rng.below(12) {
            0 => LedgerEntry::Anchor {
                digest: "00ff".into(),
            },
            1 => LedgerEntry::FedTrustProposal {
                document: object(rng, 0, false),
                time_ms: *rng.pick(versions),
            },
            _ => LedgerEntry::Record {
                collection: CollectionName::parse(collection).expect("collection"),
                key: RecordKey::parse(key).expect("key"),
                version: *rng.pick(versions),
                op: if rng.below(3) == 0 {
                    Operation::Delete
                } else {
                    Operation::Put
                },
                body,
                time_ms: *rng.pick(versions),
            },
        }
    }

    /// Canonical bytes of `e`, or (when the entry cannot be canonical) the JCS serializer's
    /// output anyway, or plain JSON: inputs either way.
    fn bytes_of(e: &LedgerEntry) -> Vec<u8> {
        e.to_leaf_bytes()
            .or_else(|_| serde_json_canonicalizer::to_vec(e))
            .or_else(|_| serde_json::to_vec(e))
            .expect("serializable")
    }

    const SNIPPETS: &[&str] = &[
        " ",
        "\n",
        "\\/",
        "\\u0041",
        "\\u001F",
        "\\u001f",
        "\\u0008",
        "\\u0000",
        "\\ud83d",
        "\\\"",
        "0",
        "-0",
        ".0",
        "e1",
        "E1",
        "1",
        ",",
        ":",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "null",
        "true",
        "\"a\":1,",
        "\"body\":null,",
        "\u{7f}",
        "é",
        "\u{0}",
        "\u{1f}",
    ];

    const BYTES: &[u8] = &[
        b'"', b'\\', b'/', b',', b':', b'{', b'}', b'[', b']', b'0', b'1', b'9', b'-', b'.', b'e',
        b'E', b' ', b'\n', b'a', b'u', b'z', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xe0, 0xed, 0xf0,
        0xff,
    ];

    /// Textual rewrites that keep the bytes close to canonical.
    const REWRITES: &[(&str, &str)] = &[
        ("\"kind\":\"record\"", "\"kind\":\"anchor\""),
        ("\"kind\":\"record\"", "\"kind\":\"Record\""),
        ("\"op\":\"put\"", "\"op\":\"delete\""),
        ("\"op\":\"put\"", "\"op\":\"PUT\""),
        ("\"version\":", "\"version\":0"),
        ("\"version\":", "\"version\":-"),
        ("\"version\":1", "\"version\":1.0"),
        ("\"version\":1", "\"version\":1e0"),
        ("\"time_ms\":", "\"time_ms\":0"),
        ("\"body\":{", "\"body\":null,\"c\":{"),
        ("\"body\":{", "\"body\":{\"\":0,"),
        ("\"body\":", "\"body\":[],\"x\":"),
        ("{\"body\"", "{\"body\":null,\"body\""),
        ("{\"collection\"", "{\"body\":null,\"collection\""),
        ("{\"collection\"", "{\"body\":1,\"collection\""),
        ("{\"collection\"", "{\"body\":{},\"collection\""),
        ("{\"collection\"", "{\"body\":[],\"collection\""),
        ("\"collection\":\"", "\"collection\":\"A"),
        ("\"collection\":\"a", "\"collection\":\"\\u0061"),
        ("\"key\":\"", "\"key\":\"/"),
        ("\"key\":\"", "\"key\":\"\\/"),
        (",\"kind\"", ",\"key\":\"x\",\"kind\""),
        (",\"version\"", ",\"unknown\":1,\"version\""),
        (",\"version\"", ",\"version\":1,\"version\""),
        ("}", " }"),
        ("\\n", "\\u000a"),
        ("\\t", "\\u0009"),
        ("\\u001f", "\\u001F"),
        ("/", "\\/"),
        ("\u{7f}", "\\u007f"),
        ("é", "\\u00e9"),
        ("\u{1f600}", "\\ud83d\\ude00"),
        ("\":1", "\":01"),
        ("\":0", "\":-0"),
        ("\":-1", "\":-01"),
        ("9007199254740991", "9007199254740992"),
        ("9007199254740991", "9007199254740990"),
    ];

    fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
        for _ in 0..1 + rng.below(2) {
            match rng.below(7) {
                0 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b[i] = *rng.pick(BYTES);
                }
                1 => {
                    let i = rng.below(b.len() + 1);
                    let s = rng.pick(SNIPPETS).as_bytes();
                    b.splice(i..i, s.iter().copied());
                }
                2 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    let j = (i + 1 + rng.below(4)).min(b.len());
                    b.drain(i..j);
                }
                3 => b.truncate(rng.below(b.len() + 1)),
                _ => {
                    let (from, to) = *rng.pick(REWRITES);
                    if let Ok(s) = String::from_utf8(b.clone()) {
                        // Rewrite one occurrence, not necessarily the first.
                        let hits: Vec<usize> = s.match_indices(from).map(|(i, _)| i).collect();
                        if !hits.is_empty() {
                            let at = *rng.pick(&hits);
                            let mut out = s[..at].to_owned();
                            out.push_str(to);
                            out.push_str(&s[at + from.len()..]);
                            b = out.into_bytes();
                        }
                    }
                }
            }
        }
        b
    }

    /// The body members in insertion order, for comparing member order too (`Map`'s
    /// equality ignores order).
    fn ordered(e: &LedgerEntry) -> String {
        serde_json::to_string(e).expect("serializable")
    }

    /// Checks one input; answers whether the one-pass reader accepted it.
    fn check(input: &[u8]) -> bool {
        let full = LedgerEntry::from_leaf_bytes_full(input);
        let fast = record(input);
        if let Some(e) = &fast {
            match &full {
                Ok(f) => {
                    assert_eq!(
                        e,
                        f,
                        "different entries for {:?}",
                        String::from_utf8_lossy(input)
                    );
                    assert_eq!(ordered(e), ordered(f), "member order differs");
                }
                Err(err) => panic!(
                    "accepted what the full parse refuses ({err}): {:?}",
                    String::from_utf8_lossy(input)
                ),
            }
        }
        // read_leaf answers the same, with the body as its text in the input.
        match (LedgerEntry::read_leaf(input), &full) {
            (Ok(LeafEntry::Record(r)), Ok(f @ LedgerEntry::Record { body, .. })) => {
                let text = r.body_text(input);
                assert_eq!(
                    text.map(|t| serde_json::from_str::<Value>(t).expect("body text")),
                    *body
                );
                assert_eq!(
                    text.map(str::as_bytes),
                    body.as_ref()
                        .map(|b| crate::jcs::canonicalize(b).expect("canonical"))
                        .as_deref()
                );
                let rebuilt = LedgerEntry::Record {
                    collection: r.collection,
                    key: r.key,
                    version: r.version,
                    op: r.op,
                    body: body.clone(),
                    time_ms: r.time_ms,
                };
                assert_eq!(&rebuilt, f);
            }
            (Ok(LeafEntry::Other(a)), Ok(b)) => {
                assert!(!matches!(b, LedgerEntry::Record { .. }));
                assert_eq!(ordered(&a), ordered(b));
            }
            (Err(a), Err(b)) => assert_eq!(&a, b),
            (a, b) => panic!(
                "read_leaf {a:?} but the full parse {b:?} for {:?}",
                String::from_utf8_lossy(input)
            ),
        }
        // The public function answers exactly what the full parse answers.
        match (LedgerEntry::from_leaf_bytes(input), full) {
            (Ok(a), Ok(b)) => assert_eq!(ordered(&a), ordered(&b)),
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!(
                "from_leaf_bytes {a:?} but the full parse {b:?} for {:?}",
                String::from_utf8_lossy(input)
            ),
        }
        fast.is_some()
    }

    #[test]
    fn agrees_with_the_full_parse_on_generated_and_mutated_inputs() {
        let mut rng = Rng(0x5EED_1EAF);
        let (mut canonical, mut fast_on_canonical, mut mutants, mut fast_on_mutants) = (0, 0, 0, 0);
        for _ in 0..6_000 {
            let e = entry(&mut rng);
            let bytes = bytes_of(&e);
            let accepted = check(&bytes);
            let is_record = matches!(e, LedgerEntry::Record { .. });
            if is_record && LedgerEntry::from_leaf_bytes_full(&bytes).is_ok() {
                canonical += 1;
                // Every canonical record whose body is an object (or absent) and whose
                // numbers are safe integers takes the one-pass route.
                if let LedgerEntry::Record {
                    body,
                    version,
                    time_ms,
                    ..
                } = &e
                {
                    if body.as_ref().is_none_or(Value::is_object)
                        && *version <= SAFE_INTEGER_MAX
                        && *time_ms <= SAFE_INTEGER_MAX
                    {
                        assert!(accepted, "declined {:?}", String::from_utf8_lossy(&bytes));
                    }
                }
                fast_on_canonical += usize::from(accepted);
            }
            // The same entry with the body's members in insertion order (not sorted).
            if let LedgerEntry::Record { body: Some(b), .. } = &e {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                if let Some(rest) = s.strip_prefix("{\"body\":") {
                    let canonical_body =
                        String::from_utf8(serde_json_canonicalizer::to_vec(b).unwrap_or_default())
                            .unwrap_or_default();
                    if let Some(tail) = rest.strip_prefix(&canonical_body) {
                        let plain = format!(
                            "{{\"body\":{}{tail}",
                            serde_json::to_string(b).expect("json")
                        );
                        check(plain.as_bytes());
                    }
                }
            }
            for _ in 0..12 {
                let m = mutate(&mut rng, bytes.clone());
                mutants += 1;
                fast_on_mutants += usize::from(check(&m));
            }
        }
        // The generator must exercise both routes.
        eprintln!(
            "{canonical} canonical records, {fast_on_canonical} read in one pass; {mutants} mutants, {fast_on_mutants} read in one pass"
        );
        assert!(canonical > 2_000, "{canonical} canonical records");
        assert!(fast_on_canonical > 1_000, "{fast_on_canonical} fast");
        assert!(
            fast_on_mutants > 1_000,
            "{fast_on_mutants} of {mutants} mutants fast"
        );
        assert!(mutants - fast_on_mutants > 50_000, "too few refusals");
    }

    #[test]
    fn hand_picked_cases() {
        let ok = r#"{"body":{"a":"x","z":1},"collection":"receipt","key":"k1","kind":"record","op":"put","time_ms":1700000000000,"version":3}"#;
        assert!(check(ok.as_bytes()));
        let tomb = r#"{"collection":"receipt","key":"k1","kind":"record","op":"delete","time_ms":1,"version":4}"#;
        assert!(check(tomb.as_bytes()));
        // UTF-16 order: U+1F600 (surrogates D83D..) before U+FB33.
        let utf16 = "{\"body\":{\"a\":[true,null],\"\u{1f600}\":2,\"\u{fb33}\":1},\"collection\":\"receipt\",\"key\":\"k1\",\"kind\":\"record\",\"op\":\"put\",\"time_ms\":1,\"version\":3}";
        assert!(check(utf16.as_bytes()));
        let code_point_order = "{\"body\":{\"a\":[true,null],\"\u{fb33}\":1,\"\u{1f600}\":2},\"collection\":\"receipt\",\"key\":\"k1\",\"kind\":\"record\",\"op\":\"put\",\"time_ms\":1,\"version\":3}";
        assert!(!check(code_point_order.as_bytes()));
        let escapes = "{\"body\":{\"s\":\"\\u0000\\u001f\\\"\\\\/\u{7f}é\\b\\f\\n\\r\\t\"},\"collection\":\"receipt\",\"key\":\"k1\",\"kind\":\"record\",\"op\":\"put\",\"time_ms\":1,\"version\":3}";
        assert!(check(escapes.as_bytes()));
        for bad in [
            ok.replace(":3}", ": 3}"),
            ok.replace("\"x\"", "\"\\u0078\""),
            ok.replace("\"z\":1", "\"z\":1.0"),
            ok.replace("\"z\":1", "\"z\":-0"),
            ok.replace("\"z\":1", "\"z\":9007199254740992"),
            ok.replace("{\"a\"", "{\"z\":0,\"a\""),
            ok.replace("\"body\":{\"a\":\"x\",\"z\":1}", "\"body\":null"),
            ok.replace("receipt", "Receipt"),
            format!("{ok} "),
        ] {
            assert!(!check(bad.as_bytes()), "{bad}");
            assert!(
                LedgerEntry::from_leaf_bytes(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        // Accepted by the full parse, left to it: a version of exactly 2^53, a non-object body.
        for full_only in [
            ok.replace(":3}", ":9007199254740992}"),
            ok.replace("{\"a\":\"x\",\"z\":1}", "5"),
        ] {
            assert!(!check(full_only.as_bytes()), "{full_only}");
            assert!(LedgerEntry::from_leaf_bytes(full_only.as_bytes()).is_ok());
        }
    }
}
