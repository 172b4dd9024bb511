//! [`document_tokens_json`] against [`document_tokens`] of the parsed `Value`, on generated
//! bodies, their serializations, truncations and corruptions.

use super::*;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, json};
use std::collections::HashSet;

/// xorshift64*: small, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Pieces of generated strings: words, stop words, non-ASCII text, characters that need
/// escapes, member names.
const PIECES: &[&str] = &[
    "weather",
    "Forecasting",
    "agents",
    "the",
    "and",
    "of",
    "Zürich",
    "CAFÉ",
    "naïve",
    "ÅSA",
    "東京",
    "Ελλάδα",
    "😀",
    "emoji😀mix",
    "say \"hi\"",
    "back\\slash",
    "new\nline",
    "tab\there",
    "ctl\u{1}x\u{1f}",
    "slash/path",
    "v2.0",
    "x-y_z",
    "é",
    "\u{10ffff}",
    "ǅungla",
    "İstanbul",
    "Straße",
    "Ωmega",
    "skill",
    "name",
    "tags",
    "1234",
    "running",
    "DATA",
];

const SEPARATORS: &[&str] = &[" ", " ", ", ", "-", "", "\t", "/", ". "];

/// Member names that are never indexed where they are put (and one that is, `title`, which
/// only the body has).
const EXTRA_KEYS: &[&str] = &[
    "url",
    "version",
    "Name",
    "names",
    "TITLE",
    "skill",
    "provider",
    "capabilities",
    "name ",
    "descriptions",
    "nàme",
    "",
    "examples",
    "inputModes",
    "😀",
    "na\"me",
];

const COLLECTIONS: &[&str] = &["agent-card", "tools", "", "x.y_z-1"];

fn text(rng: &mut Rng) -> String {
    let mut s = String::new();
    let n = if rng.below(400) == 0 {
        // Past FIELD_TEXT_BYTES_MAX (4096 bytes): the cut must fall in the same place.
        800
    } else {
        rng.below(8)
    };
    for i in 0..n {
        if i > 0 {
            s.push_str(rng.pick(SEPARATORS));
        }
        s.push_str(rng.pick(PIECES));
    }
    if rng.chance(3) {
        // Longer than WORD_BYTES_MAX and FACET_BYTES_MAX.
        s.push_str(&"Lö".repeat(200));
    }
    s
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 => json!(rng.below(1000)),
        1 => json!(-(rng.below(1 << 20) as i64)),
        2 => json!(9_007_199_254_740_991_i64),
        3 => json!(rng.below(1000) as f64 / 8.0),
        _ => json!(1.5e300),
    }
}

/// Any value, nested at most `depth` more levels, with indexed member names in places where
/// they are not indexed.
fn junk(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => number(rng),
        3 | 4 => Value::String(text(rng)),
        5 => Value::Array((0..rng.below(4)).map(|_| junk(rng, depth - 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(4) {
                let key = if rng.chance(50) {
                    rng.pick(&["name", "title", "description", "skills", "id", "tags"])
                } else {
                    rng.pick(EXTRA_KEYS)
                };
                map.insert(key.to_owned(), junk(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Any value but a string.
fn not_string(rng: &mut Rng) -> Value {
    loop {
        let v = junk(rng, 2);
        if !v.is_string() {
            return v;
        }
    }
}

/// Mostly a string; sometimes another type, which must contribute nothing.
fn string_member(rng: &mut Rng) -> Value {
    if rng.chance(85) {
        Value::String(text(rng))
    } else if rng.chance(30) {
        // The right content in the wrong shape.
        json!([text(rng)])
    } else {
        not_string(rng)
    }
}

/// `n` items, often around `max`, to check the limit counts the same items.
fn count(rng: &mut Rng, max: usize) -> usize {
    if rng.chance(5) {
        max - 2 + rng.below(6)
    } else {
        rng.below(5)
    }
}

fn object(rng: &mut Rng, mut members: Vec<(&str, Value)>) -> Value {
    for _ in 0..rng.below(4) {
        members.push((rng.pick(EXTRA_KEYS), junk(rng, 3)));
    }
    rng.shuffle(&mut members);
    let mut map = Map::new();
    for (k, v) in members {
        // The first of a repeated extra name wins; indexed names are never repeated.
        map.entry(k).or_insert(v);
    }
    Value::Object(map)
}

fn skill(rng: &mut Rng) -> Value {
    if rng.chance(10) {
        return if rng.chance(50) {
            json!(text(rng))
        } else {
            junk(rng, 2)
        };
    }
    let mut members = Vec::new();
    for name in ["id", "name", "description"] {
        if rng.chance(75) {
            members.push((name, string_member(rng)));
        }
    }
    if rng.chance(75) {
        let tags = if rng.chance(90) {
            let n = count(rng, TAGS_PER_SKILL_MAX);
            Value::Array(
                (0..n)
                    .map(|_| {
                        if rng.chance(85) {
                            Value::String(text(rng))
                        } else {
                            not_string(rng)
                        }
                    })
                    .collect(),
            )
        } else {
            junk(rng, 2)
        };
        members.push(("tags", tags));
    }
    object(rng, members)
}

fn body(rng: &mut Rng) -> Value {
    if rng.chance(5) {
        return junk(rng, 3);
    }
    let mut members = Vec::new();
    for name in ["name", "title", "description"] {
        if rng.chance(75) {
            members.push((name, string_member(rng)));
        }
    }
    if rng.chance(80) {
        let skills = if rng.chance(90) {
            let n = count(rng, SKILLS_MAX);
            Value::Array((0..n).map(|_| skill(rng)).collect())
        } else if rng.chance(50) {
            // A skill where the list should be.
            skill(rng)
        } else {
            junk(rng, 2)
        };
        members.push(("skills", skills));
    }
    object(rng, members)
}

/// JSON text of `v` with random white space and random (valid) escapes.
fn write_scrambled(rng: &mut Rng, v: &Value, out: &mut String) {
    fn ws(rng: &mut Rng, out: &mut String) {
        if rng.chance(30) {
            out.push_str(rng.pick(&[" ", "\n", "\t", "\r\n  ", "  "]));
        }
    }
    fn string(rng: &mut Rng, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let mut units = [0u16; 2];
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '/' if rng.chance(50) => out.push_str("\\/"),
                c if (c as u32) < 0x20 || rng.chance(15) => {
                    for unit in c.encode_utf16(&mut units) {
                        if rng.chance(50) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    ws(rng, out);
    match v {
        Value::String(s) => string(rng, s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scrambled(rng, item, out);
            }
            ws(rng, out);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                string(rng, k, out);
                ws(rng, out);
                out.push(':');
                write_scrambled(rng, item, out);
            }
            ws(rng, out);
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    ws(rng, out);
}

/// `v` with the members of every object in reverse order.
fn reversed(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed(v)))
                .collect(),
        ),
        v => v.clone(),
    }
}

/// The length of the longest string in `v`, member names included.
fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len().max(longest_string(v)))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// The contract: the tokens of the parsed body, or of `null` when it does not parse.
fn assert_agrees(collection: &str, text: &str, registry: &str) {
    let value = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    assert_eq!(
        document_tokens_json(collection, text),
        document_tokens(collection, &value),
        "{collection:?} {text:?}"
    );
    assert_eq!(
        cached_tokens_json(collection, text, registry),
        cached_tokens(collection, &value, registry),
        "{collection:?} {text:?}"
    );
}

/// The serializations a body is checked in.
fn serializations(rng: &mut Rng, v: &Value) -> Vec<String> {
    let mut out = vec![
        serde_json::to_string(v).expect("json"),
        serde_json::to_string_pretty(v).expect("json"),
    ];
    // JCS refuses non-integers and unsafe integers (treaty_types::jcs), which some bodies have.
    if let Ok(bytes) = treaty_types::jcs::canonicalize(v) {
        out.push(String::from_utf8(bytes).expect("utf-8"));
    }
    let mut scrambled = String::new();
    write_scrambled(rng, v, &mut scrambled);
    out.push(scrambled);
    out
}

#[test]
fn json_tokens_match_value_tokens_on_generated_bodies() {
    let mut rng = Rng(0x5eed_0001);
    let (mut canonical, mut long, mut many_skills, mut many_tags) = (0, 0, 0, 0);
    for _ in 0..5000 {
        let v = body(&mut rng);
        let collection = rng.pick(COLLECTIONS);
        let registry = if rng.chance(50) { "node-a" } else { "" };
        let expected = document_tokens(collection, &v);
        // The Value version does not depend on the order of members either.
        assert_eq!(document_tokens(collection, &reversed(&v)), expected);
        let texts = serializations(&mut rng, &v);
        canonical += usize::from(texts.len() == 4);
        for text in &texts {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
            assert_eq!(document_tokens_json(collection, text), expected, "{text}");
            assert_agrees(collection, text, registry);
        }
        let skills = v.get("skills").and_then(Value::as_array);
        many_skills += usize::from(skills.is_some_and(|s| s.len() > SKILLS_MAX));
        many_tags += usize::from(skills.is_some_and(|s| {
            s.iter().any(|k| {
                k.get("tags")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.len() > TAGS_PER_SKILL_MAX)
            })
        }));
        long += usize::from(longest_string(&v) > FIELD_TEXT_BYTES_MAX);
    }
    // The generator reaches the limits.
    assert!(canonical > 1000, "{canonical}");
    assert!(many_skills > 50, "{many_skills}");
    assert!(many_tags > 50, "{many_tags}");
    assert!(long > 50, "{long}");
}

/// Whether some object in the JSON text repeats a member name (where the contract does not
/// hold: `Value` keeps the last occurrence). `false` for text that does not parse.
fn repeats_a_member_name(text: &str) -> bool {
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut repeats = false;
            while let Some(r) = seq.next_element_seed(Check)? {
                repeats |= r;
            }
            Ok(repeats)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut names = HashSet::new();
            let mut repeats = false;
            while let Some(name) = map.next_key::<String>()? {
                repeats |= !names.insert(name);
                repeats |= map.next_value_seed(Check)?;
            }
            Ok(repeats)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    Check.deserialize(&mut de).unwrap_or(false)
}

#[test]
fn json_tokens_of_truncated_or_corrupted_bodies_are_those_of_null() {
    let mut rng = Rng(0x5eed_0002);
    let null_tokens = document_tokens("agent-card", &Value::Null);
    let (mut truncated, mut invalid, mut valid) = (0, 0, 0);
    while truncated < 300 {
        let v = body(&mut rng);
        let mut text = String::new();
        write_scrambled(&mut rng, &v, &mut text);
        if text.len() > 1500 {
            continue;
        }
        truncated += 1;
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let prefix = &text[..end];
            let tokens = document_tokens_json("agent-card", prefix);
            if serde_json::from_str::<Value>(prefix).is_err() {
                assert_eq!(tokens, null_tokens, "{prefix:?}");
            } else {
                assert_agrees("agent-card", prefix, "node-a");
            }
        }
    }
    const MUTANTS: &[&str] = &[
        "{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "\\ud83d", "u", "0", "9", "-", "e", ".",
        " ", "n", "x", "é", "😀", "1e400",
    ];
    for _ in 0..20_000 {
        let v = body(&mut rng);
        let mut text = serde_json::to_string(&v).expect("json");
        if text.len() > 3000 {
            continue;
        }
        for _ in 0..1 + rng.below(3) {
            let at = loop {
                let at = rng.below(text.len() + 1);
                if text.is_char_boundary(at) {
                    break at;
                }
            };
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            match rng.below(3) {
                0 => text.replace_range(at..end, rng.pick(MUTANTS)),
                1 => text.insert_str(at, rng.pick(MUTANTS)),
                _ => text.replace_range(at..end, ""),
            }
        }
        if serde_json::from_str::<Value>(&text).is_err() {
            invalid += 1;
            assert_eq!(
                document_tokens_json("agent-card", &text),
                null_tokens,
                "{text:?}"
            );
        } else if !repeats_a_member_name(&text) {
            valid += 1;
            assert_agrees("agent-card", &text, "node-a");
        }
    }
    assert!(invalid > 5000 && valid > 500, "{invalid} {valid}");
}

#[test]
fn json_tokens_refuse_what_value_refuses() {
    let null_tokens = document_tokens("c", &Value::Null);
    let named = document_tokens("c", &json!({"name": "Weather"}));
    let nested = |depth: usize| {
        format!(
            r#"{{"name":"Weather","x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let cases: Vec<(String, &String)> = vec![
        // Accepted by serde_json's fast skip (IgnoredAny), refused by Value.
        (r#"{"name":"Weather","x":1e400}"#.into(), &null_tokens),
        (r#"{"name":"Weather","x":-1e400}"#.into(), &null_tokens),
        (r#"{"name":"Weather","x":"\ud800"}"#.into(), &null_tokens),
        (
            r#"{"name":"Weather","x":"\udc00\ud800"}"#.into(),
            &null_tokens,
        ),
        (r#"{"name":"Weather","\ud83d":1}"#.into(), &null_tokens),
        (nested(100_000), &null_tokens),
        // Accepted by both.
        (r#"{"name":"Weather","x":1e-400}"#.into(), &named),
        (r#"{"name":"Weather","x":"\ud83d\ude00"}"#.into(), &named),
        (r#"{"na\u006de":"Weather"}"#.into(), &named),
        (" {\"name\":\"Weather\"} \n\t".into(), &named),
        // Refused by both.
        (
            r#"{"name":"Weather"} {"name":"Other"}"#.into(),
            &null_tokens,
        ),
        (r#"{"name":"Weather"} x"#.into(), &null_tokens),
        (r#"{"name":"Weather",}"#.into(), &null_tokens),
        (r#"{"name":"Weather""#.into(), &null_tokens),
        (r#"{'name':'Weather'}"#.into(), &null_tokens),
        (r#"{"name":"Weather\"}"#.into(), &null_tokens),
        (r#"{"name":"Wea\x"}"#.into(), &null_tokens),
        ("{\"name\":\"Wea\u{1}ther\"}".into(), &null_tokens),
        ("\u{feff}{\"name\":\"Weather\"}".into(), &null_tokens),
        (r#"{"name":"Weather","x":01}"#.into(), &null_tokens),
        (r#"{"name":"Weather","x":NaN}"#.into(), &null_tokens),
        ("".into(), &null_tokens),
        ("nul".into(), &null_tokens),
        ("[".repeat(1_000_000), &null_tokens),
        (
            format!(r#"{{"skills":[{{"tags":["a",{}"#, "{\"x\":".repeat(100_000)),
            &null_tokens,
        ),
    ];
    // serde_json's recursion limit, which Value hits too (but IgnoredAny does not check).
    let (mut deep_ok, mut too_deep) = (0, 0);
    for depth in 120..136 {
        let text = nested(depth);
        let tokens = document_tokens_json("c", &text);
        if serde_json::from_str::<Value>(&text).is_ok() {
            deep_ok += 1;
            assert_eq!(tokens, named, "{depth}");
        } else {
            too_deep += 1;
            assert_eq!(tokens, null_tokens, "{depth}");
        }
    }
    assert!(deep_ok > 0 && too_deep > 0, "{deep_ok} {too_deep}");
    for (text, expected) in &cases {
        let shown = &text[..text.len().min(80)];
        assert_eq!(&document_tokens_json("c", text), *expected, "{shown}");
        assert_agrees("c", text, "node-a");
    }
    // Wrong types contribute nothing; the limits count items of every type.
    let mut skills: Vec<Value> = vec![json!(1); SKILLS_MAX - 1];
    skills.push(json!({"id": "last", "tags": [[], {}, 5, null, "kept"]}));
    skills.push(json!({"id": "over"}));
    let body = json!({"name": 5, "title": ["t"], "description": {"name": "d"}, "skills": skills});
    let text = document_tokens_json("c", &body.to_string());
    assert_eq!(text, document_tokens("c", &body));
    assert!(text.contains(" 2last") && text.contains(" 2kept"), "{text}");
    assert!(!text.contains("over") && !text.contains(" 1t") && !text.contains("3d"));
}
