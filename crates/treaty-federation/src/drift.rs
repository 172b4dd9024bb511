//! Drift: whether a peer's trust policy or the schemas of the collections an agreement
//! shares changed since the agreement was established.
//!
//! When an agreement is established the node records a [`Baseline`] of the peer's card:
//! its `policy_hash` and the schema hash of every collection the card lists. Each time it
//! fetches the peer's card again it takes the card's current baseline and [`compare`]s:
//! any finding is drift ([`crate::PeerEvent::DriftDetected`]), and the findings are the
//! evidence shown to the operator. A peer in `DRIFT` is verified again (and the baseline
//! re-recorded) once the operator has looked at it.
//!
//! Findings ([`DriftFinding::field`]):
//!
//! | field | recorded | current | meaning |
//! |---|---|---|---|
//! | `policy_hash` | the recorded hash | the current hash | the trust policy changed |
//! | `schema:<collection>` | recorded schema hash, or none | current schema hash, or none | the collection's schema changed, was set or was removed |
//! | `collection:<collection>` | `<collection>` | none | the card no longer lists a shared collection |
//!
//! A disappeared collection has a field of its own rather than `schema:<collection>` with
//! no current hash, which would read as "its schema was removed". A collection that appears
//! is not drift: nothing was agreed about it, so nothing can have drifted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use treaty_types::CollectionName;

use crate::FedError;
use crate::json::{Obj, SHA256_PREFIX, check_count, invalid, pointer, pointer_index, wrong_type};
use crate::limits::CARD_COLLECTIONS_MAX;

/// What the node recorded about a peer when the agreement was established: its card's
/// policy hash and the schema hash of every collection its card lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The card's `policy_hash`: `sha256:<64 lowercase hex>`.
    pub policy_hash: String,
    /// Every collection the card lists, with its `schema_hash` (`None` when the collection
    /// has no schema).
    pub schemas: BTreeMap<String, Option<String>>,
}

/// Whether `text` is `sha256:` and 64 lowercase hex digits, the form of every hash in a
/// card.
fn is_sha256(text: &str) -> bool {
    text.strip_prefix(SHA256_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A hash member's text, checked.
fn hash_at(value: &Value, path: &str) -> Result<String, FedError> {
    let text = value.as_str().ok_or_else(|| wrong_type(path, "a string"))?;
    if !is_sha256(text) {
        return Err(invalid(path, "not sha256:<64 lowercase hex>"));
    }
    Ok(text.to_owned())
}

/// A schema hash member: a hash or `null`.
fn schema_hash_at(value: &Value, path: &str) -> Result<Option<String>, FedError> {
    match value {
        Value::Null => Ok(None),
        other => hash_at(other, path).map(Some),
    }
}

/// Adds `name` to `schemas`, refusing an invalid or repeated collection name.
fn insert(
    schemas: &mut BTreeMap<String, Option<String>>,
    name: &str,
    hash: Option<String>,
    path: &str,
) -> Result<(), FedError> {
    if CollectionName::parse(name).is_err() {
        return Err(invalid(
            path,
            "not a collection name ([a-z][a-z0-9-]{0,63})",
        ));
    }
    if schemas.insert(name.to_owned(), hash).is_some() {
        return Err(invalid(path, "the collection is listed twice"));
    }
    Ok(())
}

impl Baseline {
    /// The baseline of a registry card document (JSON): its member `policy_hash` and each
    /// `collections` item's `name` and `schema_hash` (`schema_version` is not compared:
    /// the hash says whether the schema changed, the version is the operator's label).
    /// Other members are not read; the card's own verifier (`treaty-card`) checks them.
    ///
    /// Limits: at most [`CARD_COLLECTIONS_MAX`] collections; names are collection names;
    /// hashes are `sha256:<64 lowercase hex>`.
    ///
    /// # Errors
    /// [`FedError::MissingField`], [`FedError::WrongType`], [`FedError::TooMany`] and
    /// [`FedError::InvalidField`], with the member's JSON pointer.
    pub fn of_card(card: &Value) -> Result<Baseline, FedError> {
        let o = Obj::new(card, "")?;
        let policy_hash = hash_at(o.req("policy_hash")?, &o.at("policy_hash"))?;
        let items = o.array("collections")?;
        check_count("card collections", items.len(), CARD_COLLECTIONS_MAX)?;
        let mut schemas = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let c = Obj::new(item, &pointer_index("/collections", i))?;
            let hash = schema_hash_at(c.req("schema_hash")?, &c.at("schema_hash"))?;
            insert(&mut schemas, c.str("name")?, hash, &c.at("name"))?;
        }
        Ok(Baseline {
            policy_hash,
            schemas,
        })
    }

    /// The stored form: `{"policy_hash": "sha256:..", "schemas": {"<collection>":
    /// "sha256:.." | null, ..}}`, collections in name order.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let schemas: Map<String, Value> = self
            .schemas
            .iter()
            .map(|(name, hash)| {
                (
                    name.clone(),
                    hash.clone().map_or(Value::Null, Value::String),
                )
            })
            .collect();
        json!({ "policy_hash": self.policy_hash, "schemas": schemas })
    }

    /// Reads the stored form back ([`Baseline::to_json`]), strictly: no other members, the
    /// same rules as [`Baseline::of_card`].
    ///
    /// # Errors
    /// As [`Baseline::of_card`], and [`FedError::UnknownField`].
    pub fn from_json(v: &Value) -> Result<Baseline, FedError> {
        let o = Obj::new(v, "")?;
        o.only(&["policy_hash", "schemas"])?;
        let policy_hash = hash_at(o.req("policy_hash")?, &o.at("policy_hash"))?;
        let s = o.obj("schemas")?;
        check_count("baseline schemas", s.map().len(), CARD_COLLECTIONS_MAX)?;
        let mut schemas = BTreeMap::new();
        for (name, hash) in s.map() {
            let path = pointer("/schemas", name);
            let hash = schema_hash_at(hash, &path)?;
            insert(&mut schemas, name, hash, &path)?;
        }
        Ok(Baseline {
            policy_hash,
            schemas,
        })
    }
}

/// One difference between a recorded baseline and the current one (see the module
/// documentation for the fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftFinding {
    /// `policy_hash`, `schema:<collection>` or `collection:<collection>`.
    pub field: String,
    /// The value recorded when the agreement was established.
    pub recorded: Option<String>,
    /// The value now.
    pub current: Option<String>,
}

impl DriftFinding {
    /// `{"field", "recorded", "current"}`, with `null` for none.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({ "field": self.field, "recorded": self.recorded, "current": self.current })
    }
}

/// The findings between `recorded` and `current`: the policy hash, then the collections in
/// `shared` (the agreement's collections; every collection of `recorded` when `shared` is
/// empty, which is how an agreement says "all collections"), in name order. Empty means no
/// drift.
///
/// A shared collection that neither baseline lists gives no finding (the peer never had
/// it), nor does one only the current card lists (see the module documentation).
#[must_use]
pub fn compare(recorded: &Baseline, current: &Baseline, shared: &[String]) -> Vec<DriftFinding> {
    let mut findings = Vec::new();
    if recorded.policy_hash != current.policy_hash {
        findings.push(DriftFinding {
            field: "policy_hash".to_owned(),
            recorded: Some(recorded.policy_hash.clone()),
            current: Some(current.policy_hash.clone()),
        });
    }
    let names: BTreeSet<&str> = if shared.is_empty() {
        recorded.schemas.keys().map(String::as_str).collect()
    } else {
        shared.iter().map(String::as_str).collect()
    };
    for name in names {
        match (recorded.schemas.get(name), current.schemas.get(name)) {
            (Some(was), Some(now)) if was != now => findings.push(DriftFinding {
                field: format!("schema:{name}"),
                recorded: was.clone(),
                current: now.clone(),
            }),
            (Some(_), None) => findings.push(DriftFinding {
                field: format!("collection:{name}"),
                recorded: Some(name.to_owned()),
                current: None,
            }),
            _ => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// A card in the shape `treaty-card` writes (only the members drift reads matter).
    fn card(policy: &str, collections: Value) -> Value {
        json!({
            "card_version": "treaty.registry-card/v1",
            "node_id": "1460b875-dc1c-45b1-bb97-db73add4883d",
            "name": "Registry Dublin",
            "collections": collections,
            "trust_policy": {"accepts_proposals": true, "min_trust_level": 1, "requires_mutual": true},
            "policy_hash": policy,
            "capabilities": ["resolve"],
            "signatures": [],
            "volatile": {"peer_count": 0},
        })
    }

    fn base() -> Value {
        card(
            &h('e'),
            json!([
                {"name": "agent-card", "schema_version": "1.0.0", "schema_hash": h('5')},
                {"name": "receipt", "schema_version": null, "schema_hash": null},
                {"name": "tools", "schema_version": "2", "schema_hash": h('7')},
            ]),
        )
    }

    fn baseline(v: &Value) -> Baseline {
        Baseline::of_card(v).expect("baseline")
    }

    #[test]
    fn baseline_of_a_card_and_round_trip() {
        let b = baseline(&base());
        assert_eq!(b.policy_hash, h('e'));
        assert_eq!(
            b.schemas,
            BTreeMap::from([
                ("agent-card".to_owned(), Some(h('5'))),
                ("receipt".to_owned(), None),
                ("tools".to_owned(), Some(h('7'))),
            ])
        );
        let stored = b.to_json();
        assert_eq!(
            stored,
            json!({"policy_hash": h('e'), "schemas": {"agent-card": h('5'), "receipt": null, "tools": h('7')}})
        );
        assert_eq!(Baseline::from_json(&stored).expect("back"), b);
        // A card without collections.
        let empty = baseline(&card(&h('e'), json!([])));
        assert!(empty.schemas.is_empty());
    }

    #[test]
    fn no_drift_between_equal_cards() {
        let b = baseline(&base());
        assert!(compare(&b, &b, &[]).is_empty());
        assert!(compare(&b, &b, &["agent-card".to_owned()]).is_empty());
    }

    #[test]
    fn findings() {
        let recorded = baseline(&base());
        let current = baseline(&card(
            &h('f'),
            json!([
                {"name": "agent-card", "schema_version": "1.1.0", "schema_hash": h('6')},
                {"name": "new-one", "schema_version": null, "schema_hash": null},
                {"name": "receipt", "schema_version": "1", "schema_hash": h('1')},
            ]),
        ));
        let all = compare(&recorded, &current, &[]);
        let json: Vec<Value> = all.iter().map(DriftFinding::to_json).collect();
        assert_eq!(
            json,
            [
                json!({"field": "policy_hash", "recorded": h('e'), "current": h('f')}),
                json!({"field": "schema:agent-card", "recorded": h('5'), "current": h('6')}),
                json!({"field": "schema:receipt", "recorded": null, "current": h('1')}),
                json!({"field": "collection:tools", "recorded": "tools", "current": null}),
            ]
        );
        // Only the shared collections count (the policy always does); a shared collection
        // listed nowhere, or only now, is no finding.
        let shared = ["tools", "new-one", "ghost", "tools"].map(String::from);
        let some = compare(&recorded, &current, &shared);
        let fields: Vec<&str> = some.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["policy_hash", "collection:tools"]);
        // A schema removed is a schema finding with no current hash.
        let removed = baseline(&card(
            &h('e'),
            json!([
                {"name": "agent-card", "schema_version": null, "schema_hash": null},
                {"name": "receipt", "schema_version": null, "schema_hash": null},
                {"name": "tools", "schema_version": "2", "schema_hash": h('7')},
            ]),
        ));
        assert_eq!(
            compare(&recorded, &removed, &[]),
            [DriftFinding {
                field: "schema:agent-card".into(),
                recorded: Some(h('5')),
                current: None,
            }]
        );
        // The version alone is a label: no drift.
        let relabelled = baseline(&card(
            &h('e'),
            json!([
                {"name": "agent-card", "schema_version": "9.9.9", "schema_hash": h('5')},
                {"name": "receipt", "schema_version": null, "schema_hash": null},
                {"name": "tools", "schema_version": "3", "schema_hash": h('7')},
            ]),
        ));
        assert!(compare(&recorded, &relabelled, &[]).is_empty());
    }

    #[test]
    fn refusals_have_codes() {
        let set = |pointer: &str, value: Value| {
            let mut c = base();
            *c.pointer_mut(pointer).expect("member") = value;
            c
        };
        let code = |v: &Value| Baseline::of_card(v).expect_err("refused").code();
        for (v, want) in [
            (json!([]), "wrong_type"),
            (set("/policy_hash", json!(1)), "wrong_type"),
            (set("/policy_hash", json!("sha256:AB")), "invalid_field"),
            (set("/policy_hash", json!(h('E'))), "invalid_field"),
            (
                set("/policy_hash", json!(format!("sha512:{}", "a".repeat(64)))),
                "invalid_field",
            ),
            (set("/collections", json!({})), "wrong_type"),
            (set("/collections/0", json!("agent-card")), "wrong_type"),
            (set("/collections/0/name", json!("Agent")), "invalid_field"),
            (
                set("/collections/1/name", json!("agent-card")),
                "invalid_field",
            ),
            (set("/collections/0/schema_hash", json!(5)), "wrong_type"),
            (
                set("/collections/0/schema_hash", json!("x")),
                "invalid_field",
            ),
        ] {
            assert_eq!(code(&v), want, "{v}");
        }
        let mut c = base();
        c.as_object_mut().expect("card").remove("policy_hash");
        assert_eq!(code(&c), "missing_field");
        let mut c = base();
        c["collections"][0]
            .as_object_mut()
            .expect("item")
            .remove("schema_hash");
        assert_eq!(code(&c), "missing_field");
        let many: Vec<Value> = (0..=CARD_COLLECTIONS_MAX)
            .map(|i| json!({"name": format!("c{i}"), "schema_hash": null}))
            .collect();
        assert_eq!(code(&card(&h('e'), json!(many))), "too_many");
        // The stored form is strict.
        let stored = baseline(&base()).to_json();
        let mut extra = stored.clone();
        extra["extra"] = json!(1);
        let from = |v: &Value| Baseline::from_json(v).expect_err("refused").code();
        assert_eq!(from(&extra), "unknown_field");
        let mut bad = stored.clone();
        bad["schemas"]["Bad"] = Value::Null;
        assert_eq!(from(&bad), "invalid_field");
        let mut bad = stored;
        bad["schemas"]["receipt"] = json!(["x"]);
        assert_eq!(from(&bad), "wrong_type");
        assert_eq!(from(&json!({"policy_hash": h('e')})), "missing_field");
    }

    #[test]
    fn mutated_inputs_never_panic() {
        let recorded = baseline(&base());
        for input in [base(), recorded.to_json()] {
            let text = serde_json::to_vec(&input).expect("json");
            for i in 0..text.len() {
                for bit in [0x01_u8, 0x02, 0x20, 0x80] {
                    let mut bytes = text.clone();
                    bytes[i] ^= bit;
                    let Ok(v) = crate::parse_json(&bytes, 1 << 20) else {
                        continue;
                    };
                    for b in [Baseline::of_card(&v), Baseline::from_json(&v)]
                        .into_iter()
                        .flatten()
                    {
                        let _ = compare(&recorded, &b, &[]);
                        assert_eq!(Baseline::from_json(&b.to_json()), Ok(b));
                    }
                }
            }
        }
    }
}
