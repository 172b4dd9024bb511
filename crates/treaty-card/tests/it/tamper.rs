//! Changing anything signed breaks verification.
//!
//! The walk visits every leaf of the signed core (every string, number, boolean and null,
//! at any depth), changes it, and checks that the card no longer verifies. Most changes
//! leave a well-formed card and must fail on the signature itself; some (a UUID with an
//! extra character, a trust level of 5) fail an earlier rule, which is fine: the point is
//! that no change to signed content is ever accepted.

use serde_json::{Value, json};
use treaty_card::TrustPolicy;

use crate::fixtures::*;

/// JSON pointers of every leaf under `value`.
fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{path}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}/{i}"), out);
            }
        }
        _ => out.push(path),
    }
}

/// A different value of the same kind where possible.
fn mutate(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            // Change the last character rather than append, so lengths stay the same too.
            let mut chars: Vec<char> = s.chars().collect();
            match chars.last_mut() {
                Some(c) => *c = if *c == 'a' { 'b' } else { 'a' },
                None => chars.push('a'),
            }
            Value::String(chars.into_iter().collect())
        }
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => json!(n.as_u64().map_or(0, |n| n ^ 1)),
        Value::Null => json!("a"),
        other => other.clone(),
    }
}

/// Recomputes `policy_hash` after a `trust_policy` edit, so the edit reaches the signature
/// check instead of stopping at the policy hash.
fn fix_policy_hash(doc: &mut Value) {
    let p = &doc["trust_policy"];
    if let (Some(a), Some(l), Some(r)) = (
        p["accepts_proposals"].as_bool(),
        p["min_trust_level"].as_u64(),
        p["requires_mutual"].as_bool(),
    ) {
        if let Ok(level) = u8::try_from(l) {
            let policy = TrustPolicy {
                accepts_proposals: a,
                min_trust_level: level,
                requires_mutual: r,
            };
            doc["policy_hash"] = json!(policy.hash().expect("hash"));
        }
    }
}

#[test]
fn changing_any_signed_leaf_breaks_verification() {
    let original = doc();
    assert_eq!(verify_code(&original), "ok");
    let mut paths = Vec::new();
    leaves(&core_value(), String::new(), &mut paths);
    // Every member of the fixture, optional ones included: 29 leaves.
    assert_eq!(paths.len(), 29, "{paths:?}");

    let mut by_signature = 0;
    for path in &paths {
        let mut doc = original.clone();
        let leaf = doc.pointer_mut(path).expect("leaf exists");
        *leaf = mutate(leaf);
        if path.starts_with("/trust_policy/") {
            fix_policy_hash(&mut doc);
        }
        let code = verify_code(&doc);
        assert_ne!(code, "ok", "changing {path} went unnoticed");
        if code == "invalid_signature" {
            by_signature += 1;
        }
    }
    // The signature, not some format rule, is what catches most edits.
    assert!(
        by_signature * 2 > paths.len(),
        "only {by_signature} of {} edits failed on the signature",
        paths.len()
    );
}

#[test]
fn structural_edits_break_verification() {
    let original = doc();
    type Edit = fn(&mut Value);
    let edits: Vec<(&str, Edit)> = vec![
        ("remove mtls", |d| {
            d.as_object_mut().expect("object").remove("mtls");
        }),
        ("remove operator.contact", |d| {
            d["operator"]
                .as_object_mut()
                .expect("object")
                .remove("contact");
        }),
        ("remove mtls.ca_fingerprint", |d| {
            d["mtls"]
                .as_object_mut()
                .expect("object")
                .remove("ca_fingerprint");
        }),
        ("remove a collection", |d| {
            d["collections"].as_array_mut().expect("array").pop();
        }),
        ("remove a capability", |d| {
            d["capabilities"].as_array_mut().expect("array").pop();
        }),
        ("add a capability", |d| {
            d["capabilities"]
                .as_array_mut()
                .expect("array")
                .push(json!("zz"));
        }),
        ("empty collections", |d| d["collections"] = json!([])),
        ("add a member", |d| d["extra"] = json!(1)),
        ("add a nested member", |d| d["ledger"]["extra"] = json!("x")),
        ("remove a required member", |d| {
            d.as_object_mut().expect("object").remove("name");
        }),
    ];
    for (name, edit) in edits {
        let mut doc = original.clone();
        edit(&mut doc);
        assert_ne!(verify_code(&doc), "ok", "{name} went unnoticed");
    }
}

#[test]
fn a_valid_card_re_signed_by_a_stranger_fails() {
    let mut doc = doc();
    let core = core_value();
    doc["signatures"] = json!([signature_entry(
        &core,
        &header_json(&card_key(), SIGNED_AT),
        &other_key()
    )]);
    assert_eq!(verify_code(&doc), "invalid_signature");
}

#[test]
fn changing_the_signature_or_header_breaks_verification() {
    let original = doc();
    let sig = original["signatures"][0]["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    // Flip one bit in each of the 64 signature bytes in turn.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = b64.decode(&sig).expect("base64url");
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        let mut doc = original.clone();
        doc["signatures"][0]["signature"] = json!(b64.encode(&changed));
        assert_eq!(verify_code(&doc), "invalid_signature", "byte {i}");
    }
    // A header with another signing time, same key: the signature no longer matches.
    let mut doc = original.clone();
    let other_header = signature_entry(
        &core_value(),
        &header_json(&card_key(), SIGNED_AT + 1),
        &card_key(),
    );
    doc["signatures"][0]["protected"] = other_header["protected"].clone();
    assert_eq!(verify_code(&doc), "invalid_signature");
}
