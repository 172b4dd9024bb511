//! Strict JSON input: one parser for every signed document this workspace reads.
//!
//! `serde_json` keeps the last of two members with the same name. For a signed document that
//! is a parser-differential hazard (another implementation may keep the first), and RFC 8259
//! section 4 leaves the behavior open, so [`parse_strict`] refuses duplicates outright.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Longest member name quoted in an error.
const NAME_CHARS_SHOWN: usize = 80;

fn clip(text: &str) -> String {
    match text.char_indices().nth(NAME_CHARS_SHOWN) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
    }
}

/// Parses one JSON value, refusing duplicate member names at any depth. Numbers are kept as
/// `serde_json` reads them, so `check_json` can report unsafe ones with their pointer.
///
/// # Errors
/// The `serde_json` error: malformed JSON or a duplicate member name.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

/// `parent` extended by one member name, escaped as RFC 6901 requires.
#[must_use]
pub fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// `parent` extended by one array index.
#[must_use]
pub fn pointer_index(parent: &str, index: usize) -> String {
    format!("{parent}/{index}")
}

/// A `Value` deserialized by [`StrictVisitor`].
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

/// Builds a `Value` like serde_json's own visitor, except that objects refuse repeated names.
struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // Kept (not refused here) so that `check_json` reports it with its JSON pointer.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate member name {:?}",
                    clip(&key)
                )));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"b":[{"c":1}]}"#).is_ok());
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":[{"c":1,"c":1}]}"#,
            b"{",
            b"[1,]",
        ] {
            assert!(
                parse_strict(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let err = parse_strict(br#"{"dup":1,"dup":2}"#).expect_err("duplicate");
        assert!(
            err.to_string().contains("duplicate member name \"dup\""),
            "{err}"
        );
    }

    #[test]
    fn pointers_escape_per_rfc_6901() {
        assert_eq!(pointer("", "a/b~c"), "/a~1b~0c");
        assert_eq!(pointer_index("/x", 3), "/x/3");
    }
}
