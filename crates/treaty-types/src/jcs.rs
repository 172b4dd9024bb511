//! RFC 8785 JSON Canonicalization Scheme, with the checks that keep it byte-identical
//! across implementations.
//!
//! The JCS crates format numbers as ECMAScript does, so integers beyond 2^53 - 1 are silently
//! rounded and floating point values depend on shortest-round-trip printing. Treaty signs
//! and hashes JSON, so it refuses both before canonicalizing: integers must lie within
//! +-(2^53 - 1) and non-integers must travel as strings.

use crate::limits::{JSON_DEPTH_MAX, SAFE_INTEGER_MAX};
use serde_json::Value;

/// Why a JSON value cannot be canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// An integer outside +-(2^53 - 1).
    #[error("integer at {path} is outside +-(2^53-1); send it as a string")]
    IntegerOutOfRange {
        /// JSON pointer to the number.
        path: String,
    },
    /// A number with a fraction or exponent.
    #[error("number at {path} is not an integer; send it as a string")]
    NotAnInteger {
        /// JSON pointer to the number.
        path: String,
    },
    /// Arrays and objects nested too deeply.
    #[error("JSON nested deeper than {max} levels at {path}")]
    TooDeep {
        /// JSON pointer where the limit was crossed.
        path: String,
        /// The limit.
        max: usize,
    },
}

impl JsonError {
    /// The stable machine-readable code for problem+json answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            JsonError::IntegerOutOfRange { .. } => "integer_out_of_range",
            JsonError::NotAnInteger { .. } => "number_not_integer",
            JsonError::TooDeep { .. } => "json_too_deep",
        }
    }
}

/// Checks that `value` canonicalizes unambiguously: safe integers only, bounded depth.
///
/// # Errors
/// The first offending value, by JSON pointer.
pub fn check_json(value: &Value) -> Result<(), JsonError> {
    check_at(value, &mut String::new(), 0)
}

fn check_at(value: &Value, path: &mut String, depth: usize) -> Result<(), JsonError> {
    let here = |p: &String| {
        if p.is_empty() {
            "/".to_owned()
        } else {
            p.clone()
        }
    };
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i.unsigned_abs() > SAFE_INTEGER_MAX {
                    return Err(JsonError::IntegerOutOfRange { path: here(path) });
                }
            } else if n.as_u64().is_some() {
                // Only values above i64::MAX land here: all out of range.
                return Err(JsonError::IntegerOutOfRange { path: here(path) });
            } else {
                // serde_json parses fractions, exponents and integers too large for 64 bits as
                // f64. An integral value that large is an out-of-range integer; anything
                // else is a non-integer.
                let f = n.as_f64().unwrap_or(f64::NAN);
                return Err(if f.fract() == 0.0 && f.abs() > SAFE_INTEGER_MAX as f64 {
                    JsonError::IntegerOutOfRange { path: here(path) }
                } else {
                    JsonError::NotAnInteger { path: here(path) }
                });
            }
            Ok(())
        }
        Value::Array(items) => {
            if depth >= JSON_DEPTH_MAX {
                return Err(JsonError::TooDeep {
                    path: here(path),
                    max: JSON_DEPTH_MAX,
                });
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                check_at(item, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            if depth >= JSON_DEPTH_MAX {
                return Err(JsonError::TooDeep {
                    path: here(path),
                    max: JSON_DEPTH_MAX,
                });
            }
            for (k, v) in map {
                let len = path.len();
                path.push('/');
                // JSON pointer escaping (RFC 6901).
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                check_at(v, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// The RFC 8785 canonical bytes of `value`, after [`check_json`].
///
/// # Errors
/// Whatever [`check_json`] refuses.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, JsonError> {
    check_json(value)?;
    // With only safe integers, strings, booleans and null left, serialization cannot fail.
    Ok(serde_json_canonicalizer::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_utf16_and_strips_space() {
        // RFC 8785 3.2.3: keys sort by UTF-16 code units, so U+1F600 (surrogates D83D..)
        // sorts before U+FB33 even though its code point is larger.
        let v: Value =
            serde_json::from_str("{ \"\u{fb33}\": 1, \"\u{1f600}\": 2, \"a\": [ true , null ] }")
                .expect("json");
        assert_eq!(
            String::from_utf8(canonicalize(&v).expect("jcs")).expect("utf8"),
            "{\"a\":[true,null],\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn escapes_like_rfc8785() {
        let v = json!({"s": "\u{0}\u{1f}\"\\/\u{7f}é"});
        assert_eq!(
            String::from_utf8(canonicalize(&v).expect("jcs")).expect("utf8"),
            "{\"s\":\"\\u0000\\u001f\\\"\\\\/\u{7f}é\"}"
        );
    }

    #[test]
    fn integer_limits() {
        let ok = json!({"a": 9_007_199_254_740_991_i64, "b": -9_007_199_254_740_991_i64});
        assert!(canonicalize(&ok).is_ok());
        for text in [
            r#"{"a":9007199254740992}"#,
            r#"{"a":-9007199254740992}"#,
            r#"{"a":18446744073709551615}"#,
            r#"{"a":{"b":[1,100000000000000000000000]}}"#,
        ] {
            let v: Value = serde_json::from_str(text).expect("json");
            assert!(
                matches!(check_json(&v), Err(JsonError::IntegerOutOfRange { .. })),
                "{text}"
            );
        }
        let v: Value = serde_json::from_str(r#"{"a":{"b":[1,2.5]}}"#).expect("json");
        assert_eq!(
            check_json(&v),
            Err(JsonError::NotAnInteger {
                path: "/a/b/1".into()
            })
        );
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(JSON_DEPTH_MAX + 1) + &"]".repeat(JSON_DEPTH_MAX + 1);
        let v: Value = serde_json::from_str(&deep).expect("json");
        assert!(matches!(check_json(&v), Err(JsonError::TooDeep { .. })));
        let ok = "[".repeat(JSON_DEPTH_MAX) + &"]".repeat(JSON_DEPTH_MAX);
        let v: Value = serde_json::from_str(&ok).expect("json");
        assert!(check_json(&v).is_ok());
    }
}
