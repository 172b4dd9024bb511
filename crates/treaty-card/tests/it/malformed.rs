//! One refusal per test, each checked against its own `CardError` variant. Cards with a
//! defect in the signed core are signed anyway ([`sign_raw`]), so that the defect itself,
//! not the signature, is what the verifier must catch.

use serde_json::{Value, json};
use treaty_card::limits::{CARD_BYTES_MAX, SIGNATURES_MAX};
use treaty_card::{CardError, Jwk, Jwks, sign_card, verify_card, verify_card_value};
use treaty_note::{KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, VerifierKey};

use crate::fixtures::*;

fn verify_value(doc: &Value) -> Result<treaty_card::VerifiedCard, CardError> {
    verify_card_value(doc, Some(CARD_URL), &jwks(), NOW)
}

/// The core with `path` set to `value`, signed.
fn signed_with(path: &str, value: Value) -> Value {
    let mut core = core_value();
    *core.pointer_mut(path).expect("member exists") = value;
    sign_raw(&core)
}

#[test]
fn malformed_verifier_key() {
    for bad in [
        "garbage",
        "",
        "registry.example.com+00000000+AQ==",
        // A valid key with a ninth key ID digit.
        &core().ledger.verifier_key.replacen('+', "+0", 1),
    ] {
        let err = verify_value(&signed_with("/ledger/verifier_key", json!(bad))).expect_err(bad);
        assert!(
            matches!(err, CardError::InvalidVerifierKey { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn verifier_key_of_the_wrong_type_or_name() {
    let witness_key =
        VerifierKey::from_signing_key("registry.example.com", &log_key(), KEY_TYPE_COSIGNATURE_V1)
            .expect("key")
            .to_string();
    let err = verify_value(&signed_with("/ledger/verifier_key", json!(witness_key)))
        .expect_err("type 0x04");
    assert!(
        matches!(err, CardError::WrongVerifierKeyType { got: 0x04 }),
        "{err}"
    );

    let other_name = VerifierKey::from_signing_key("other.example", &log_key(), KEY_TYPE_ED25519)
        .expect("key")
        .to_string();
    let err = verify_value(&signed_with("/ledger/verifier_key", json!(other_name)))
        .expect_err("name mismatch");
    assert!(
        matches!(&err, CardError::VerifierKeyNameMismatch { key_name, origin }
            if key_name == "other.example" && origin == "registry.example.com"),
        "{err}"
    );
}

#[test]
fn wrong_policy_hash() {
    let mut core = core_value();
    core["trust_policy"]["min_trust_level"] = json!(3);
    let err = verify_value(&sign_raw(&core)).expect_err("stale hash");
    assert!(matches!(err, CardError::PolicyHashMismatch { .. }), "{err}");
    let err = verify_value(&signed_with("/policy_hash", json!("sha256:00"))).expect_err("bad hash");
    assert!(matches!(err, CardError::PolicyHashMismatch { .. }), "{err}");
}

#[test]
fn key_supplying_headers_are_rejected_even_when_the_signature_is_valid() {
    let k = kid(&card_key());
    for (name, member) in [
        ("jku", r#""jku":"https://evil.example/jwks.json","#),
        ("jwk", r#""jwk":{"crv":"Ed25519","kty":"OKP","x":"AA"},"#),
        ("x5u", r#""x5u":"https://evil.example/cert.pem","#),
        ("x5c", r#""x5c":["MIIB"],"#),
    ] {
        // Members in JCS order so that only the forbidden parameter is wrong.
        let header = format!(
            r#"{{"alg":"EdDSA","iat":{SIGNED_AT},{member}"kid":"{k}","typ":"treaty-registry-card+jws"}}"#
        );
        let doc = sign_raw_with_header(&core_value(), &header, &card_key());
        let err = verify_value(&doc).expect_err(name);
        assert!(
            matches!(&err, CardError::ForbiddenHeaderParameter { index: 0, name: n } if n == name),
            "{name}: {err}"
        );
    }
}

#[test]
fn other_header_defects() {
    let k = kid(&card_key());
    let cases = [
        (
            format!(
                r#"{{"alg":"none","iat":{SIGNED_AT},"kid":"{k}","typ":"treaty-registry-card+jws"}}"#
            ),
            "unsupported_algorithm",
        ),
        (
            format!(r#"{{"alg":"EdDSA","iat":{SIGNED_AT},"kid":"{k}","typ":"JWT"}}"#),
            "wrong_jws_type",
        ),
        (
            format!(r#"{{"alg":"EdDSA","kid":"{k}","typ":"treaty-registry-card+jws"}}"#),
            "missing_header_parameter",
        ),
        (
            format!(
                r#"{{"alg":"EdDSA","b64":false,"iat":{SIGNED_AT},"kid":"{k}","typ":"treaty-registry-card+jws"}}"#
            ),
            "unknown_header_parameter",
        ),
        (
            format!(
                r#"{{"alg": "EdDSA","iat":{SIGNED_AT},"kid":"{k}","typ":"treaty-registry-card+jws"}}"#
            ),
            "non_canonical_header",
        ),
        (
            format!(
                r#"{{"alg":"EdDSA","iat":"{SIGNED_AT}","kid":"{k}","typ":"treaty-registry-card+jws"}}"#
            ),
            "malformed_header",
        ),
    ];
    for (header, code) in cases {
        let doc = sign_raw_with_header(&core_value(), &header, &card_key());
        let err = verify_value(&doc).expect_err(&header);
        assert_eq!(err.code(), code, "{header}: {err}");
    }
}

#[test]
fn unknown_kid() {
    let stranger = Jwks::new(vec![
        Jwk::current(&other_key().verifying_key(), KEY_FROM).expect("jwk"),
    ])
    .expect("jwks");
    let err = verify_card(&doc_bytes(), Some(CARD_URL), &stranger, NOW).expect_err("unknown");
    assert!(
        matches!(&err, CardError::UnknownKid { kids } if *kids == vec![kid(&card_key())]),
        "{err}"
    );
    let err =
        verify_card(&doc_bytes(), Some(CARD_URL), &Jwks::default(), NOW).expect_err("empty JWKS");
    assert_eq!(err.code(), "unknown_kid");
}

#[test]
fn bad_base64() {
    let original = doc();
    let sig = original["signatures"][0]["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    let protected = original["signatures"][0]["protected"]
        .as_str()
        .expect("protected")
        .to_owned();
    let cases = [
        ("signature", format!("{sig}==")),
        ("signature", sig.replace('-', "+").replace('_', "/") + "!"),
        ("signature", sig[..sig.len() - 4].to_owned()),
        ("signature", String::new()),
        ("protected", format!("{protected}=")),
        ("protected", format!("{protected}*")),
    ];
    for (part, value) in cases {
        let mut doc = original.clone();
        doc["signatures"][0][part] = json!(value);
        let err = verify_value(&doc).expect_err(&value);
        assert!(
            matches!(err, CardError::InvalidBase64 { index: 0, part: p } if p == part),
            "{part} {value:?}: {err}"
        );
    }
}

#[test]
fn oversized_input() {
    let mut bytes = doc_bytes();
    bytes.resize(CARD_BYTES_MAX + 1, b' ');
    let err = verify_card(&bytes, Some(CARD_URL), &jwks(), NOW).expect_err("too large");
    assert!(
        matches!(err, CardError::TooLarge { len, max, .. } if len == CARD_BYTES_MAX + 1 && max == CARD_BYTES_MAX),
        "{err}"
    );
    // Exactly at the limit, trailing white space is fine.
    bytes.truncate(CARD_BYTES_MAX);
    assert!(verify_card(&bytes, Some(CARD_URL), &jwks(), NOW).is_ok());

    // The value form measures the canonical size.
    let mut doc = doc();
    doc["volatile"]["padding"] = json!("x".repeat(CARD_BYTES_MAX));
    assert_eq!(
        verify_value(&doc).expect_err("too large").code(),
        "too_large"
    );
}

#[test]
fn missing_or_malformed_signatures() {
    let mut doc = doc();
    doc.as_object_mut().expect("object").remove("signatures");
    assert!(matches!(
        verify_value(&doc),
        Err(CardError::MissingSignature)
    ));
    doc["signatures"] = json!([]);
    assert!(matches!(
        verify_value(&doc),
        Err(CardError::MissingSignature)
    ));
    doc["signatures"] = json!({});
    assert_eq!(verify_value(&doc).expect_err("object").code(), "wrong_type");
    doc["signatures"] = json!([{"protected": "eyJ9"}]);
    assert_eq!(
        verify_value(&doc).expect_err("no signature").code(),
        "missing_field"
    );
    doc["signatures"] = json!(vec![json!({}); SIGNATURES_MAX + 1]);
    assert!(matches!(
        verify_value(&doc),
        Err(CardError::TooMany {
            what: "signatures",
            ..
        })
    ));
    let entry = crate::fixtures::doc()["signatures"][0].clone();
    doc["signatures"] = json!([entry.clone(), entry]);
    assert!(matches!(
        verify_value(&doc),
        Err(CardError::DuplicateSignature { .. })
    ));
}

#[test]
fn unknown_card_version() {
    for version in ["treaty.registry-card/v2", "v1", ""] {
        let err = verify_value(&signed_with("/card_version", json!(version))).expect_err(version);
        assert!(
            matches!(&err, CardError::UnknownCardVersion { found } if found == version),
            "{err}"
        );
    }
    let mut core = core_value();
    core.as_object_mut().expect("object").remove("card_version");
    assert_eq!(
        verify_value(&sign_raw(&core))
            .expect_err("no version")
            .code(),
        "missing_field"
    );
}

#[test]
fn structure_and_types() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/name", json!(7), "wrong_type"),
        ("/endpoints", json!("x"), "wrong_type"),
        (
            "/trust_policy/accepts_proposals",
            json!("yes"),
            "wrong_type",
        ),
        ("/trust_policy/min_trust_level", json!(-1), "wrong_type"),
        ("/trust_policy/min_trust_level", json!(5), "invalid_field"),
        ("/operator/contact", json!(null), "wrong_type"),
        ("/mtls", json!(null), "wrong_type"),
        ("/capabilities/0", json!(1), "wrong_type"),
        ("/capabilities/0", json!("Federation"), "invalid_field"),
        ("/collections/0/schema_hash", json!(null), "invalid_field"),
        (
            "/collections/0/schema_hash",
            json!("sha256:ABC"),
            "invalid_field",
        ),
        ("/collections/0/name", json!("Agent_Card"), "invalid_field"),
        ("/collections/0/name", json!("zzz"), "invalid_field"),
        (
            "/mtls/spiffe_id",
            json!("spiffe://registry.example.com/node"),
            "invalid_field",
        ),
        ("/name", json!("two\nlines"), "invalid_field"),
        ("/name", json!(""), "invalid_field"),
        (
            "/node_id",
            json!("0B6F3C2E-7D1A-4C8E-9F00-1234567890AB"),
            "invalid_node_id",
        ),
        ("/node_id", json!("registry-dublin"), "invalid_node_id"),
    ];
    for (path, value, code) in cases {
        let err = verify_value(&signed_with(path, value.clone())).expect_err(path);
        assert_eq!(err.code(), code, "{path} = {value}: {err}");
    }
    let mut core = core_value();
    core["endpoints"]
        .as_object_mut()
        .expect("object")
        .remove("witness");
    let err = verify_value(&sign_raw(&core)).expect_err("missing");
    assert!(
        matches!(&err, CardError::MissingField { path } if path == "/endpoints/witness"),
        "{err}"
    );
    let mut core = core_value();
    core["jku"] = json!("https://evil.example/jwks.json");
    let err = verify_value(&sign_raw(&core)).expect_err("unknown member");
    assert!(
        matches!(&err, CardError::UnknownField { path } if path == "/jku"),
        "{err}"
    );
}

#[test]
fn json_level_refusals() {
    let cases: [(&[u8], &str); 5] = [
        (b"not json", "invalid_json"),
        (b"[1,2]", "wrong_type"),
        (br#"{"name":"a","name":"b"}"#, "invalid_json"),
        (br#"{"volatile":{"peer_count":1.5}}"#, "number_not_integer"),
        (br#"{"x":9007199254740992}"#, "integer_out_of_range"),
    ];
    for (bytes, code) in cases {
        let err = verify_card(bytes, Some(CARD_URL), &jwks(), NOW).expect_err("refused");
        assert_eq!(
            err.code(),
            code,
            "{}: {err}",
            String::from_utf8_lossy(bytes)
        );
    }
    // A duplicate member in an otherwise valid, signed card.
    let text = String::from_utf8(doc_bytes()).expect("utf8");
    let dup = text.replacen(
        r#""name":"Registry Dublin""#,
        r#""name":"Registry Dublin","name":"Evil""#,
        1,
    );
    assert_ne!(dup, text);
    assert_eq!(
        verify_card(dup.as_bytes(), Some(CARD_URL), &jwks(), NOW)
            .expect_err("duplicate")
            .code(),
        "invalid_json"
    );
}

#[test]
fn malformed_volatile_is_refused() {
    let mut doc = doc();
    doc["volatile"]["location"]["latitude"] = json!("north");
    let err = verify_value(&doc).expect_err("bad latitude");
    assert!(
        matches!(&err, CardError::InvalidField { path, .. } if path == "/volatile/location/latitude"),
        "{err}"
    );
}

#[test]
fn sign_card_refuses_what_verifiers_would_refuse() {
    let err = sign_card(&core(), &card_key(), &kid(&other_key()), SIGNED_AT)
        .expect_err("kid of another key");
    assert!(matches!(err, CardError::SigningKidMismatch { .. }), "{err}");
    let err = sign_card(&core(), &card_key(), &kid(&card_key()), 1 << 53).expect_err("iat");
    assert!(
        matches!(err, CardError::TimestampOutOfRange { .. }),
        "{err}"
    );
    let mut core = core();
    core.node_id = "not-a-uuid".into();
    let err = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT).expect_err("node_id");
    assert!(matches!(err, CardError::InvalidNodeId { .. }), "{err}");
    let mut core = crate::fixtures::core();
    core.capabilities = vec!["a".into(); 65];
    let err = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT).expect_err("count");
    assert!(
        matches!(
            err,
            CardError::TooMany {
                what: "capabilities",
                ..
            }
        ),
        "{err}"
    );
}
