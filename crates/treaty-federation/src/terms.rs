//! The terms two nodes federate under: part of every offer and of the agreement.
//!
//! # JSON
//!
//! ```json
//! {
//!   "collections": ["agent-card", "notes"],
//!   "verification_frequency": "daily",
//!   "retention_days": 365,
//!   "jurisdiction": "EU",
//!   "audit_rights": false
//! }
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `collections` | array of strings | collection names (`[a-z][a-z0-9-]{0,63}`), no duplicates, at most [`COLLECTIONS_MAX`]; order is kept as given (it is signed) and may be empty |
//! | `verification_frequency` | string | `"hourly"`, `"daily"` or `"weekly"`: how often each side re-verifies the other |
//! | `retention_days` | integer | 1 to [`RETENTION_DAYS_MAX`]: how long shared data is kept |
//! | `jurisdiction` | string, optional | 1 to [`JURISDICTION_BYTES_MAX`] bytes of printable ASCII (space allowed, not first or last); omitted when not set (never `null`) |
//! | `audit_rights` | boolean | whether each side may audit the other |
//!
//! All members but `jurisdiction` are required; any other member is refused.

use std::collections::HashSet;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use treaty_types::CollectionName;

use crate::FedError;
use crate::error::clip;
use crate::json::{Obj, check_count, invalid, pointer, pointer_index, wrong_type};
use crate::limits::{COLLECTIONS_MAX, JURISDICTION_BYTES_MAX, RETENTION_DAYS_MAX};

/// The members of a terms object.
const TERMS_MEMBERS: &[&str] = &[
    "collections",
    "verification_frequency",
    "retention_days",
    "jurisdiction",
    "audit_rights",
];

/// How often each side re-verifies the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every hour.
    Hourly,
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
}

impl Frequency {
    /// The JSON name: `hourly`, `daily` or `weekly`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }

    /// The frequency named `text` (exactly; no case folding).
    ///
    /// # Errors
    /// [`FedError::UnknownValue`].
    pub fn parse(text: &str) -> Result<Self, FedError> {
        match text {
            "hourly" => Ok(Frequency::Hourly),
            "daily" => Ok(Frequency::Daily),
            "weekly" => Ok(Frequency::Weekly),
            _ => Err(FedError::UnknownValue {
                what: "verification frequency",
                value: clip(text),
            }),
        }
    }

    /// The period in seconds.
    #[must_use]
    pub fn seconds(self) -> u64 {
        match self {
            Frequency::Hourly => 60 * 60,
            Frequency::Daily => 24 * 60 * 60,
            Frequency::Weekly => 7 * 24 * 60 * 60,
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Frequency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Frequency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Frequency::parse(&s).map_err(D::Error::custom)
    }
}

/// The terms of an offer or agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// The collections the agreement covers, in the order given, without duplicates.
    pub collections: Vec<String>,
    /// How often each side re-verifies the other.
    pub verification_frequency: Frequency,
    /// How long shared data is retained, in days (1 to [`RETENTION_DAYS_MAX`]).
    pub retention_days: u32,
    /// The legal jurisdiction the agreement falls under, if stated.
    pub jurisdiction: Option<String>,
    /// Whether each side may audit the other.
    pub audit_rights: bool,
}

impl Default for Terms {
    /// No collections, daily verification, a year's retention, no jurisdiction, no audit
    /// rights.
    fn default() -> Self {
        Self {
            collections: Vec::new(),
            verification_frequency: Frequency::Daily,
            retention_days: 365,
            jurisdiction: None,
            audit_rights: false,
        }
    }
}

impl Terms {
    /// Checks every rule of the JSON form (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::TooMany`] and [`FedError::InvalidField`], with paths relative to the
    /// terms object.
    pub fn validate(&self) -> Result<(), FedError> {
        self.validate_at("")
    }

    /// [`Terms::validate`] with error paths under `path`.
    pub(crate) fn validate_at(&self, path: &str) -> Result<(), FedError> {
        check_count("collections", self.collections.len(), COLLECTIONS_MAX)?;
        let mut seen = HashSet::with_capacity(self.collections.len());
        let list = pointer(path, "collections");
        for (i, name) in self.collections.iter().enumerate() {
            if CollectionName::parse(name).is_err() {
                return Err(invalid(
                    &pointer_index(&list, i),
                    "not a collection name [a-z][a-z0-9-]{0,63}",
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(invalid(&pointer_index(&list, i), "collection listed twice"));
            }
        }
        if self.retention_days == 0 || self.retention_days > RETENTION_DAYS_MAX {
            return Err(invalid(
                &pointer(path, "retention_days"),
                "retention is 1 to 36500 days",
            ));
        }
        if let Some(j) = &self.jurisdiction {
            if !jurisdiction_is_valid(j) {
                return Err(invalid(
                    &pointer(path, "jurisdiction"),
                    "not 1-64 bytes of printable ASCII without leading or trailing space",
                ));
            }
        }
        Ok(())
    }

    /// The JSON form. `jurisdiction` is omitted when `None`.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "collections".into(),
            Value::Array(
                self.collections
                    .iter()
                    .map(|c| Value::String(c.clone()))
                    .collect(),
            ),
        );
        m.insert(
            "verification_frequency".into(),
            self.verification_frequency.as_str().into(),
        );
        m.insert("retention_days".into(), self.retention_days.into());
        if let Some(j) = &self.jurisdiction {
            m.insert("jurisdiction".into(), j.as_str().into());
        }
        m.insert("audit_rights".into(), self.audit_rights.into());
        Value::Object(m)
    }

    /// Parses and validates a terms object strictly: unknown members, `null` for
    /// `jurisdiction` and every rule of the module documentation are refused, with the
    /// member's JSON pointer in the error.
    ///
    /// # Errors
    /// [`FedError::WrongType`], [`FedError::MissingField`], [`FedError::UnknownField`],
    /// [`FedError::TooMany`] and [`FedError::InvalidField`].
    pub fn from_value(value: &Value) -> Result<Self, FedError> {
        Self::from_value_at(value, "")
    }

    /// [`Terms::from_value`] for a terms object at `path` in a larger document.
    pub(crate) fn from_value_at(value: &Value, path: &str) -> Result<Self, FedError> {
        let o = Obj::new(value, path)?;
        o.only(TERMS_MEMBERS)?;
        let items = o.array("collections")?;
        check_count("collections", items.len(), COLLECTIONS_MAX)?;
        let collections = items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong_type(&pointer_index(&o.at("collections"), i), "a string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let frequency = o.str("verification_frequency")?;
        let verification_frequency = Frequency::parse(frequency).map_err(|_| {
            invalid(
                &o.at("verification_frequency"),
                "not \"hourly\", \"daily\" or \"weekly\"",
            )
        })?;
        let terms = Terms {
            collections,
            verification_frequency,
            retention_days: o.u32("retention_days")?,
            jurisdiction: o.opt_str("jurisdiction")?.map(str::to_owned),
            audit_rights: o.bool("audit_rights")?,
        };
        terms.validate_at(path)?;
        Ok(terms)
    }
}

/// Whether `text` is 1 to [`JURISDICTION_BYTES_MAX`] bytes of printable ASCII (space
/// included), not starting or ending with a space, so that one jurisdiction has one
/// spelling as far as white space goes.
fn jurisdiction_is_valid(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= JURISDICTION_BYTES_MAX
        && text.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !text.starts_with(' ')
        && !text.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Terms {
        Terms {
            collections: vec!["notes".into(), "agent-card".into()],
            verification_frequency: Frequency::Hourly,
            retention_days: 30,
            jurisdiction: Some("European Union".into()),
            audit_rights: true,
        }
    }

    #[test]
    fn round_trip_keeps_order() {
        let t = sample();
        let v = t.to_value();
        assert_eq!(
            v,
            json!({
                "collections": ["notes", "agent-card"],
                "verification_frequency": "hourly",
                "retention_days": 30,
                "jurisdiction": "European Union",
                "audit_rights": true,
            })
        );
        assert_eq!(Terms::from_value(&v), Ok(t));
        let d = Terms::default();
        let v = d.to_value();
        assert!(v.get("jurisdiction").is_none());
        assert_eq!(Terms::from_value(&v), Ok(d));
    }

    #[test]
    fn frequency_names() {
        for f in [Frequency::Hourly, Frequency::Daily, Frequency::Weekly] {
            assert_eq!(Frequency::parse(f.as_str()), Ok(f));
            let json = serde_json::to_string(&f).expect("json");
            assert_eq!(serde_json::from_str::<Frequency>(&json).expect("back"), f);
        }
        assert_eq!(
            Frequency::parse("Daily").expect_err("case").code(),
            "unknown_value"
        );
        assert_eq!(Frequency::Weekly.seconds(), 604_800);
    }

    #[test]
    fn every_rule_is_checked() {
        let base = sample().to_value();
        let with = |member: &str, v: Value| {
            let mut x = base.clone();
            x[member] = v;
            x
        };
        let without = |member: &str| {
            let mut x = base.clone();
            x.as_object_mut().expect("object").remove(member);
            x
        };
        let many: Vec<Value> = (0..=COLLECTIONS_MAX)
            .map(|i| Value::String(format!("c{i}")))
            .collect();
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([]), "wrong_type", "/"),
            (with("extra", json!(1)), "unknown_field", "/extra"),
            (without("collections"), "missing_field", "/collections"),
            (without("audit_rights"), "missing_field", "/audit_rights"),
            (
                with("collections", json!("notes")),
                "wrong_type",
                "/collections",
            ),
            (
                with("collections", json!(["notes", 1])),
                "wrong_type",
                "/collections/1",
            ),
            (
                with("collections", json!(["Notes"])),
                "invalid_field",
                "/collections/0",
            ),
            (
                with("collections", json!(["a", "b", "a"])),
                "invalid_field",
                "/collections/2",
            ),
            (with("collections", Value::Array(many)), "too_many", ""),
            (
                with("verification_frequency", json!("monthly")),
                "invalid_field",
                "/verification_frequency",
            ),
            (
                with("verification_frequency", json!(1)),
                "wrong_type",
                "/verification_frequency",
            ),
            (
                with("retention_days", json!(0)),
                "invalid_field",
                "/retention_days",
            ),
            (
                with("retention_days", json!(36_501)),
                "invalid_field",
                "/retention_days",
            ),
            (
                with("retention_days", json!(4_294_967_296_u64)),
                "invalid_field",
                "/retention_days",
            ),
            (
                with("retention_days", json!(-1)),
                "wrong_type",
                "/retention_days",
            ),
            (
                with("retention_days", json!(1.5)),
                "wrong_type",
                "/retention_days",
            ),
            (
                with("jurisdiction", Value::Null),
                "wrong_type",
                "/jurisdiction",
            ),
            (
                with("jurisdiction", json!("")),
                "invalid_field",
                "/jurisdiction",
            ),
            (
                with("jurisdiction", json!(" EU")),
                "invalid_field",
                "/jurisdiction",
            ),
            (
                with("jurisdiction", json!("EU\n")),
                "invalid_field",
                "/jurisdiction",
            ),
            (
                with("jurisdiction", json!("Éire")),
                "invalid_field",
                "/jurisdiction",
            ),
            (
                with("jurisdiction", json!("J".repeat(65))),
                "invalid_field",
                "/jurisdiction",
            ),
            (
                with("audit_rights", json!("true")),
                "wrong_type",
                "/audit_rights",
            ),
        ];
        for (value, code, path) in cases {
            let err = Terms::from_value(&value).expect_err(&value.to_string());
            assert_eq!(err.code(), code, "{value}: {err}");
            if !path.is_empty() {
                assert!(err.to_string().contains(path), "{err} should name {path}");
            }
        }
        assert!(Terms::from_value(&with("retention_days", json!(36_500))).is_ok());
        assert!(Terms::from_value(&with("jurisdiction", json!("J".repeat(64)))).is_ok());
        let full: Vec<Value> = (0..COLLECTIONS_MAX)
            .map(|i| Value::String(format!("c{i}")))
            .collect();
        assert!(Terms::from_value(&with("collections", Value::Array(full))).is_ok());
    }

    #[test]
    fn nested_paths_name_the_parent() {
        let mut v = sample().to_value();
        v["retention_days"] = json!(0);
        let err = Terms::from_value_at(&v, "/terms").expect_err("bad");
        assert!(err.to_string().contains("/terms/retention_days"), "{err}");
    }
}
