//! Strict JSON input, a small reader over `serde_json::Value` that names the JSON pointer
//! (RFC 6901) of every problem it finds, and the text rules shared by every document.
//!
//! `serde_json` keeps the last of two members with the same name. For a signed document that
//! is a parser-differential hazard (another implementation may keep the first), and RFC 8259
//! section 4 leaves the behavior open, so [`parse_json`] refuses duplicates outright.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use treaty_types::canonicalize;
use treaty_types::limits::SAFE_INTEGER_MAX;

use crate::FedError;
use crate::error::clip;
use crate::limits::{ID_BYTES_MAX, KID_BYTES_MAX, REASON_BYTES_MAX};

/// The prefix of every hash in a federation document.
pub(crate) const SHA256_PREFIX: &str = "sha256:";

/// Parses one JSON value of at most `max_bytes` bytes, refusing duplicate member names at
/// any depth.
///
/// Use it for bodies that carry federation documents: the document parsers take a
/// `serde_json::Value`, and a `Value` built by plain `serde_json` silently keeps the last of
/// two equal member names.
///
/// # Errors
/// [`FedError::TooLarge`] and [`FedError::InvalidJson`].
pub fn parse_json(bytes: &[u8], max_bytes: usize) -> Result<Value, FedError> {
    if bytes.len() > max_bytes {
        return Err(FedError::TooLarge {
            what: "JSON text",
            len: bytes.len(),
            max: max_bytes,
        });
    }
    treaty_types::strict::parse_strict(bytes).map_err(|e| FedError::InvalidJson {
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
pub(crate) fn wrong_type(path: &str, expected: &'static str) -> FedError {
    FedError::WrongType {
        path: shown(path),
        expected,
    }
}

/// A [`FedError::InvalidField`].
pub(crate) fn invalid(path: &str, reason: &'static str) -> FedError {
    FedError::InvalidField {
        path: shown(path),
        reason,
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
    /// `value` as an object, or [`FedError::WrongType`].
    pub(crate) fn new(value: &'a Value, path: &str) -> Result<Self, FedError> {
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

    /// The members.
    pub(crate) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// Refuses any member not in `allowed`.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), FedError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FedError::UnknownField {
                path: clip(&self.at(k)),
            }),
            None => Ok(()),
        }
    }

    /// Member `key`, which must be present.
    pub(crate) fn req(&self, key: &str) -> Result<&'a Value, FedError> {
        self.map
            .get(key)
            .ok_or_else(|| FedError::MissingField { path: self.at(key) })
    }

    /// Member `key`, if present.
    pub(crate) fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Required string member.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, FedError> {
        self.req(key)?
            .as_str()
            .ok_or_else(|| wrong_type(&self.at(key), "a string"))
    }

    /// Optional string member: absent is `None`; `null` is refused, because absence is the
    /// one encoding of "not set".
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FedError> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| wrong_type(&self.at(key), "a string")),
        }
    }

    /// Required boolean member.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, FedError> {
        self.req(key)?
            .as_bool()
            .ok_or_else(|| wrong_type(&self.at(key), "a boolean"))
    }

    /// Required non-negative integer member.
    pub(crate) fn u64(&self, key: &str) -> Result<u64, FedError> {
        self.req(key)?
            .as_u64()
            .ok_or_else(|| wrong_type(&self.at(key), "a non-negative integer"))
    }

    /// Required integer member that fits a `u32` (larger values are reported as out of
    /// range by the caller's own rule, so they are mapped to `u32::MAX`, which every such
    /// rule refuses).
    pub(crate) fn u32(&self, key: &str) -> Result<u32, FedError> {
        Ok(u32::try_from(self.u64(key)?).unwrap_or(u32::MAX))
    }

    /// Required time member: a non-negative integer up to 2^53 - 1.
    pub(crate) fn time(&self, key: &'static str) -> Result<u64, FedError> {
        let t = self.u64(key)?;
        check_time(key, t)?;
        Ok(t)
    }

    /// Required object member.
    pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>, FedError> {
        Obj::new(self.req(key)?, &self.at(key))
    }

    /// Required array member.
    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], FedError> {
        self.req(key)?
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| wrong_type(&self.at(key), "an array"))
    }
}

/// Refuses a time that cannot travel as a canonical JSON integer.
pub(crate) fn check_time(what: &'static str, value: u64) -> Result<(), FedError> {
    if value > SAFE_INTEGER_MAX {
        return Err(FedError::TimestampOutOfRange { what, value });
    }
    Ok(())
}

/// Refuses a list longer than its limit.
pub(crate) fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), FedError> {
    if count > max {
        return Err(FedError::TooMany { what, count, max });
    }
    Ok(())
}

/// The RFC 8785 bytes of `value`, with a size limit.
pub(crate) fn jcs(what: &'static str, value: &Value, max: usize) -> Result<Vec<u8>, FedError> {
    let bytes = canonicalize(value).map_err(|source| FedError::UnsafeJson { what, source })?;
    if bytes.len() > max {
        return Err(FedError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

/// `sha256:<hex>` over the JCS form of `value`.
///
/// Every value this crate hashes comes from a `to_value` of its own, whose only numbers are
/// times and counts; the parsers and signers refuse times above 2^53 - 1, so the
/// canonicalizer's checks pass for anything that was parsed or signed. For a hand-built
/// value that breaks them the hash is taken over the canonicalizer's unchecked output
/// instead of panicking: such a document is refused by every parser anyway.
pub(crate) fn sha256_jcs(value: &Value) -> String {
    let bytes = canonicalize(value)
        .unwrap_or_else(|_| serde_json_canonicalizer::to_vec(value).unwrap_or_default());
    format!("{SHA256_PREFIX}{}", hex::encode(Sha256::digest(&bytes)))
}

/// Whether `text` is a UUID in its lower-case hyphenated form (RFC 9562 section 4: the
/// form UUIDs are written in; upper case is refused so that one node ID has one encoding
/// and compares equal byte for byte).
#[must_use]
pub fn node_id_is_valid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// Whether `text` is a proposal or agreement ID: 1 to [`ID_BYTES_MAX`] characters of
/// `[A-Za-z0-9-]`, so it is safe in URL paths, file names and log lines unescaped.
#[must_use]
pub fn id_is_valid(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= ID_BYTES_MAX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `kid` is 1 to [`KID_BYTES_MAX`] printable ASCII characters (no space).
pub(crate) fn kid_is_valid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= KID_BYTES_MAX && kid.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `text` is `sha256:` and 64 lower-case hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.strip_prefix(SHA256_PREFIX).is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// A node ID member, or [`FedError::InvalidNodeId`].
pub(crate) fn check_node_id(path: &str, value: &str) -> Result<(), FedError> {
    if node_id_is_valid(value) {
        Ok(())
    } else {
        Err(FedError::InvalidNodeId {
            path: shown(path),
            value: clip(value),
        })
    }
}

/// A proposal or agreement ID member.
pub(crate) fn check_id(path: &str, value: &str) -> Result<(), FedError> {
    if id_is_valid(value) {
        Ok(())
    } else {
        Err(invalid(path, "not 1-64 characters of [A-Za-z0-9-]"))
    }
}

/// A key ID member.
pub(crate) fn check_kid(path: &str, value: &str) -> Result<(), FedError> {
    if kid_is_valid(value) {
        Ok(())
    } else {
        Err(invalid(path, "not 1-128 printable ASCII characters"))
    }
}

/// A hash member.
pub(crate) fn check_hash(path: &str, value: &str) -> Result<(), FedError> {
    if is_sha256(value) {
        Ok(())
    } else {
        Err(invalid(path, "not sha256:<64 lower-case hex digits>"))
    }
}

/// A human-readable `reason`: non-empty, bounded, and without control characters (which
/// would let a peer forge lines in logs and terminals).
pub(crate) fn check_reason(path: &str, text: &str) -> Result<(), FedError> {
    if text.is_empty() || text.len() > REASON_BYTES_MAX {
        return Err(invalid(path, "empty or longer than 512 bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(path, "contains control characters"));
    }
    Ok(())
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
            let err = parse_json(text.as_bytes(), 1024).expect_err(text);
            assert_eq!(err.code(), "invalid_json", "{text}");
        }
        let v = parse_json(br#"{"a":[1,-2,"s",null,true,{"b":1.5}]}"#, 1024).expect("valid");
        assert_eq!(v, serde_json::json!({"a":[1,-2,"s",null,true,{"b":1.5}]}));
        assert_eq!(
            parse_json(b"{} {}", 1024).expect_err("trailing").code(),
            "invalid_json"
        );
        assert_eq!(
            parse_json(b"[1, 2]", 5).expect_err("long").code(),
            "too_large"
        );
    }

    #[test]
    fn pointers_escape_and_root_is_shown() {
        assert_eq!(pointer("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(pointer_index("/a", 3), "/a/3");
        assert!(matches!(
            Obj::new(&Value::Null, ""),
            Err(FedError::WrongType { path, .. }) if path == "/"
        ));
    }

    #[test]
    fn text_forms() {
        assert!(node_id_is_valid("0b6f3c2e-7d1a-4c8e-9f00-1234567890ab"));
        for bad in [
            "",
            "0B6F3C2E-7D1A-4C8E-9F00-1234567890AB",
            "0b6f3c2e7d1a4c8e9f001234567890ab",
            "{0b6f3c2e-7d1a-4c8e-9f00-1234567890ab}",
            "0b6f3c2e-7d1a-4c8e-9f00-1234567890a",
            "0b6f3c2e-7d1a-4c8e-9f00_1234567890ab",
            "0b6f3c2g-7d1a-4c8e-9f00-1234567890ab",
        ] {
            assert!(!node_id_is_valid(bad), "{bad}");
        }
        assert!(id_is_valid("prop-01-AZ"));
        assert!(id_is_valid(&"a".repeat(ID_BYTES_MAX)));
        for bad in ["", "a_b", "a b", "a/b", "é", &"a".repeat(ID_BYTES_MAX + 1)] {
            assert!(!id_is_valid(bad), "{bad}");
        }
        assert!(kid_is_valid("abc-_DEF"));
        assert!(!kid_is_valid("a b"));
        assert!(!kid_is_valid(&"k".repeat(KID_BYTES_MAX + 1)));
        assert!(is_sha256(&format!("sha256:{}", "ab".repeat(32))));
        assert!(!is_sha256(&format!("sha256:{}", "AB".repeat(32))));
        assert!(!is_sha256(&format!("sha256:{}", "ab".repeat(31))));
        assert!(!is_sha256(&format!("sha512:{}", "ab".repeat(32))));
        assert!(check_reason("/r", "fine, thanks — é").is_ok());
        assert!(check_reason("/r", "").is_err());
        assert!(check_reason("/r", "a\nb").is_err());
        assert!(check_reason("/r", "a\u{85}b").is_err());
        assert!(check_reason("/r", &"r".repeat(REASON_BYTES_MAX + 1)).is_err());
        assert!(check_time("t", SAFE_INTEGER_MAX).is_ok());
        assert_eq!(
            check_time("t", SAFE_INTEGER_MAX + 1)
                .expect_err("too big")
                .code(),
            "timestamp_out_of_range"
        );
    }
}
