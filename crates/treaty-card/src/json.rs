//! Strict JSON input, and a small reader over `serde_json::Value` that names the JSON pointer
//! (RFC 6901) of every problem it finds.
//!
//! `serde_json` keeps the last of two members with the same name. For a signed document that
//! is a parser-differential hazard (another implementation may keep the first), and RFC 8259
//! section 4 leaves the behavior open, so [`parse_strict`] refuses duplicates outright.

use serde_json::{Map, Value};

use crate::CardError;
use crate::error::clip;

/// Parses one JSON value, refusing duplicate member names anywhere in it.
pub(crate) fn parse_strict(what: &'static str, bytes: &[u8]) -> Result<Value, CardError> {
    treaty_types::strict::parse_strict(bytes).map_err(|e| CardError::InvalidJson {
        what,
        reason: e.to_string(),
    })
}

pub(crate) use treaty_types::strict::{pointer, pointer_index};

/// The pointer to show for `path`: the root is shown as `/` rather than the empty string.
fn shown(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// The error for a value of the wrong type at `path`.
pub(crate) fn wrong_type(path: &str, expected: &'static str) -> CardError {
    CardError::WrongType {
        path: shown(path),
        expected,
    }
}

/// A JSON object being read, with its pointer for error messages.
pub(crate) struct Obj<'a> {
    /// The members.
    map: &'a Map<String, Value>,
    /// JSON pointer of this object ("" for the document).
    path: String,
}

impl<'a> Obj<'a> {
    /// `value` as an object, or [`CardError::WrongType`].
    pub(crate) fn new(value: &'a Value, path: &str) -> Result<Self, CardError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                path: path.to_owned(),
            }),
            _ => Err(wrong_type(path, "an object")),
        }
    }

    /// The pointer of member `key`.
    pub(crate) fn at(&self, key: &str) -> String {
        pointer(&self.path, key)
    }

    /// Refuses any member not in `allowed`.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), CardError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(CardError::UnknownField {
                path: clip(&self.at(k)),
            }),
            None => Ok(()),
        }
    }

    /// Member `key`, which must be present.
    pub(crate) fn req(&self, key: &str) -> Result<&'a Value, CardError> {
        self.map
            .get(key)
            .ok_or_else(|| CardError::MissingField { path: self.at(key) })
    }

    /// Member `key`, if present.
    pub(crate) fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Whether member `key` is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Required string member.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, CardError> {
        self.req(key)?
            .as_str()
            .ok_or_else(|| wrong_type(&self.at(key), "a string"))
    }

    /// Optional string member: absent is `None`; `null` is refused, because absence is the
    /// one encoding of "not set".
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, CardError> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| wrong_type(&self.at(key), "a string")),
        }
    }

    /// Required member that is a string or `null`.
    pub(crate) fn nullable_str(&self, key: &str) -> Result<Option<&'a str>, CardError> {
        match self.req(key)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(wrong_type(&self.at(key), "a string or null")),
        }
    }

    /// Required boolean member.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, CardError> {
        self.req(key)?
            .as_bool()
            .ok_or_else(|| wrong_type(&self.at(key), "a boolean"))
    }

    /// Required non-negative integer member.
    pub(crate) fn u64(&self, key: &str) -> Result<u64, CardError> {
        self.req(key)?
            .as_u64()
            .ok_or_else(|| wrong_type(&self.at(key), "a non-negative integer"))
    }

    /// Required object member.
    pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>, CardError> {
        Obj::new(self.req(key)?, &self.at(key))
    }

    /// Optional object member (absent is `None`, `null` is refused).
    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, CardError> {
        self.opt(key)
            .map(|v| Obj::new(v, &self.at(key)))
            .transpose()
    }

    /// Required array member.
    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], CardError> {
        self.req(key)?
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| wrong_type(&self.at(key), "an array"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"x":{"b":true,"b":false}}"#,
            r#"[{"c":null,"c":null}]"#,
        ] {
            assert!(
                matches!(
                    parse_strict("t", text.as_bytes()),
                    Err(CardError::InvalidJson { .. })
                ),
                "{text}"
            );
        }
        let v = parse_strict("t", br#"{"a":[1,-2,"s",null,true,{"b":1.5}]}"#).expect("valid");
        assert_eq!(v, serde_json::json!({"a":[1,-2,"s",null,true,{"b":1.5}]}));
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(parse_strict("t", b"{} {}").is_err());
        assert!(parse_strict("t", b"{}\n").is_ok());
    }

    #[test]
    fn pointers_escape_and_root_is_shown() {
        assert_eq!(pointer("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(pointer_index("/a", 3), "/a/3");
        assert!(matches!(
            Obj::new(&Value::Null, ""),
            Err(CardError::WrongType { path, .. }) if path == "/"
        ));
    }
}
