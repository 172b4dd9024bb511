//! Sign, serve, verify; determinism; what the ETag depends on.

use serde_json::{Value, json};
use treaty_card::{CardCore, KeyStatus, Volatile, etag, sign_card, verify_card, verify_card_value};

use crate::fixtures::*;

#[test]
fn sign_then_verify_returns_the_card() {
    let signed = signed();
    let card = verify_card(&doc_bytes(), Some(CARD_URL), &jwks(), NOW).expect("verifies");
    assert_eq!(card.core, core());
    assert_eq!(card.volatile, Some(volatile()));
    assert_eq!(card.kid, kid(&card_key()));
    assert_eq!(card.iat, SIGNED_AT);
    assert_eq!(card.key_status, KeyStatus::Current);
    assert_eq!(card.etag, signed.etag());

    // The value form and a local file (no fetch URL) verify the same way.
    let again = verify_card_value(&doc(), None, &jwks(), NOW).expect("verifies");
    assert_eq!(again, card);
}

#[test]
fn a_card_without_optional_members_round_trips() {
    let mut core = core();
    core.collections.clear();
    core.capabilities.clear();
    core.operator.contact = None;
    core.mtls = None;
    let signed = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT).expect("signs");
    let bytes = signed.to_bytes(None).expect("bytes");
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    assert!(text.contains(r#""operator":{}"#), "{text}");
    assert!(
        !text.contains("mtls") && !text.contains("volatile"),
        "{text}"
    );
    let card = verify_card(&bytes, Some(CARD_URL), &jwks(), NOW).expect("verifies");
    assert_eq!(card.core, core);
    assert_eq!(card.volatile, None);
}

#[test]
fn signing_is_deterministic() {
    assert_eq!(doc_bytes(), doc_bytes());
    let a = signed();
    let b = sign_card(&core(), &card_key(), &kid(&card_key()), SIGNED_AT).expect("signs");
    assert_eq!(a.signature(), b.signature());
    // Another signing time changes the signature but not the ETag.
    let c = sign_card(&core(), &card_key(), &kid(&card_key()), SIGNED_AT + 1).expect("signs");
    assert_ne!(a.signature(), c.signature());
    assert_eq!(a.etag(), c.etag());
}

#[test]
fn served_document_has_the_documented_shape() {
    let doc = doc();
    let members: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = members.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "base_url",
            "capabilities",
            "card_version",
            "collections",
            "endpoints",
            "ledger",
            "mtls",
            "name",
            "node_id",
            "operator",
            "policy_hash",
            "signatures",
            "trust_policy",
            "volatile"
        ]
    );
    assert_eq!(doc["card_version"], "treaty.registry-card/v1");
    assert_eq!(
        doc["collections"][1],
        json!({"name": "notes", "schema_version": null, "schema_hash": null})
    );
    assert_eq!(
        doc["volatile"],
        json!({"checkpoint": {"root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 42},
               "location": {"latitude": "53.3498", "longitude": "-6.2603"}, "peer_count": 3})
    );
    let protected = doc["signatures"][0]["protected"]
        .as_str()
        .expect("protected");
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(protected)
        .expect("base64url");
    assert_eq!(
        String::from_utf8(header).expect("utf8"),
        format!(
            r#"{{"alg":"EdDSA","iat":{SIGNED_AT},"kid":"{}","typ":"treaty-registry-card+jws"}}"#,
            kid(&card_key())
        )
    );
    // The served bytes are the JCS form: no white space, sorted members.
    let text = String::from_utf8(doc_bytes()).expect("utf8");
    assert!(text.starts_with(r#"{"base_url":"https://registry.example.com","capabilities":["#));
}

#[test]
fn volatile_changes_neither_signature_validity_nor_etag() {
    let signed = signed();
    let reference = verify_card(&doc_bytes(), Some(CARD_URL), &jwks(), NOW).expect("verifies");
    let variants = [
        None,
        Some(Volatile::default()),
        Some(Volatile {
            peer_count: 9_007_199_254_740_991,
            ..volatile()
        }),
        Some(Volatile {
            checkpoint: None,
            location: None,
            peer_count: 0,
        }),
    ];
    for v in variants {
        let bytes = signed.to_bytes(v.as_ref()).expect("bytes");
        let card = verify_card(&bytes, Some(CARD_URL), &jwks(), NOW).expect("still verifies");
        assert_eq!(card.volatile, v);
        assert_eq!(card.etag, reference.etag);
        assert_eq!(card.core, reference.core);
    }
    // Edited in the served JSON directly, too.
    let mut doc = doc();
    doc["volatile"]["peer_count"] = json!(77);
    doc["volatile"]["location"]["latitude"] = json!(-12);
    let card = verify_card_value(&doc, Some(CARD_URL), &jwks(), NOW).expect("verifies");
    assert_eq!(card.etag, reference.etag);
    assert_eq!(card.volatile.expect("volatile").peer_count, 77);
}

#[test]
fn etag_is_a_strong_quoted_base64url_sha256() {
    let tag = etag(&core(), &kid(&card_key())).expect("etag");
    assert_eq!(tag, signed().etag());
    assert!(tag.starts_with('"') && tag.ends_with('"'));
    let inner = &tag[1..tag.len() - 1];
    assert_eq!(inner.len(), 43, "{tag}");
    assert!(
        inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    // Another key: another ETag, because peers holding the old signature must refetch.
    assert_ne!(tag, etag(&core(), &kid(&other_key())).expect("etag"));
}

/// Every edit an operator can make changes the ETag, and no two edits collide.
#[test]
fn etag_changes_when_any_core_field_changes() {
    type Edit = fn(&mut CardCore);
    let edits: Vec<(&str, Edit)> = vec![
        ("node_id", |c| {
            c.node_id = "0b6f3c2e-7d1a-4c8e-9f00-1234567890ac".into()
        }),
        ("name", |c| c.name.push('!')),
        ("base_url", |c| {
            // Moving the node moves every URL with it.
            let from = c.base_url.clone();
            let to = format!("{from}/treaty");
            let mv = |u: &mut String| *u = u.replacen(&from, &to, 1);
            c.base_url = to.clone();
            let e = &mut c.endpoints;
            for u in [
                &mut e.federation,
                &mut e.witness,
                &mut e.sync,
                &mut e.records,
                &mut e.discover,
                &mut e.checkpoint,
                &mut e.jwks,
                &mut c.ledger.checkpoint_url,
            ] {
                mv(u);
            }
        }),
        ("endpoints.federation", |c| c.endpoints.federation.push('2')),
        ("endpoints.witness", |c| c.endpoints.witness.push('2')),
        ("endpoints.sync", |c| c.endpoints.sync.push('2')),
        ("endpoints.records", |c| c.endpoints.records.push('2')),
        ("endpoints.discover", |c| c.endpoints.discover.push('2')),
        ("endpoints.checkpoint", |c| c.endpoints.checkpoint.push('2')),
        ("endpoints.jwks", |c| c.endpoints.jwks.push('2')),
        ("ledger.origin+key", |c| {
            c.ledger.origin = "registry.example.com/log2".into();
            c.ledger.verifier_key = treaty_note::VerifierKey::from_signing_key(
                &c.ledger.origin,
                &log_key(),
                treaty_note::KEY_TYPE_ED25519,
            )
            .expect("key")
            .to_string();
        }),
        ("ledger.verifier_key", |c| {
            c.ledger.verifier_key = treaty_note::VerifierKey::from_signing_key(
                &c.ledger.origin,
                &other_key(),
                treaty_note::KEY_TYPE_ED25519,
            )
            .expect("key")
            .to_string();
        }),
        ("ledger.checkpoint_url", |c| {
            c.ledger.checkpoint_url.push('2')
        }),
        ("collections.remove", |c| {
            c.collections.pop();
        }),
        ("collections.name", |c| {
            c.collections[1].name = "notes2".into()
        }),
        ("collections.schema_version", |c| {
            if let Some(s) = &mut c.collections[0].schema {
                s.version = "1.0.1".into();
            }
        }),
        ("collections.schema_hash", |c| {
            if let Some(s) = &mut c.collections[0].schema {
                s.hash = format!("sha256:{}", "ef".repeat(32));
            }
        }),
        ("collections.schema_removed", |c| {
            c.collections[0].schema = None
        }),
        ("trust_policy.accepts_proposals", |c| {
            c.trust_policy.accepts_proposals = false;
        }),
        ("trust_policy.min_trust_level", |c| {
            c.trust_policy.min_trust_level = 2
        }),
        ("trust_policy.requires_mutual", |c| {
            c.trust_policy.requires_mutual = false
        }),
        ("capabilities.add", |c| c.capabilities.push("zz".into())),
        ("capabilities.remove", |c| {
            c.capabilities.pop();
        }),
        ("operator.contact", |c| {
            c.operator.contact = Some("x@y".into())
        }),
        ("operator.contact_removed", |c| c.operator.contact = None),
        ("mtls.spiffe_id", |c| {
            if let Some(m) = &mut c.mtls {
                m.spiffe_id = "spiffe://other.example/registry".into();
            }
        }),
        ("mtls.ca_fingerprint", |c| {
            if let Some(m) = &mut c.mtls {
                m.ca_fingerprint = None;
            }
        }),
        ("mtls.removed", |c| c.mtls = None),
    ];
    let k = kid(&card_key());
    let mut seen = vec![("original", etag(&core(), &k).expect("etag"))];
    for (name, edit) in edits {
        let mut c = core();
        edit(&mut c);
        c.validate()
            .unwrap_or_else(|e| panic!("edit {name} made an invalid card: {e}"));
        let tag = etag(&c, &k).expect("etag");
        if let Some((other, _)) = seen.iter().find(|(_, t)| *t == tag) {
            panic!("edit {name} has the same ETag as {other}");
        }
        // The edited card still signs and verifies, with that ETag.
        let signed = sign_card(&c, &card_key(), &k, SIGNED_AT).expect("signs");
        let bytes = signed.to_bytes(None).expect("bytes");
        let card = verify_card(&bytes, None, &jwks(), NOW).expect("verifies");
        assert_eq!(card.etag, tag, "{name}");
        seen.push((name, tag));
    }
}

#[test]
fn normalize_sorts_what_validate_requires_sorted() {
    let mut c = core();
    c.collections.reverse();
    c.capabilities = vec!["witness".into(), "federation".into(), "witness".into()];
    assert_eq!(c.validate().expect_err("unsorted").code(), "invalid_field");
    c.normalize();
    assert_eq!(c, core());
    c.collections.push(c.collections[0].clone());
    c.normalize();
    assert!(matches!(
        c.validate(),
        Err(treaty_card::CardError::InvalidField { path, .. }) if path == "/collections/1/name"
    ));
}

#[test]
fn parsed_core_re_serializes_to_the_same_value() {
    let v: Value = core_value();
    let parsed = CardCore::from_value(&v).expect("parses");
    assert_eq!(parsed.to_value().expect("value"), v);
}
