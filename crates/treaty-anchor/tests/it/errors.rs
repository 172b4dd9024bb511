//! Bad input gets a precise error naming the member and field (issue 7, part 6).

use crate::common::{FakeNode, TestResult, input, nonces, small_manifest, stamp_and_upgrade};
use serde_json::{Value, json};
use treaty_anchor::ots::OtsError;
use treaty_anchor::{AnchorError, Document, read_member_inputs};

fn build_err(inputs: Vec<treaty_anchor::MemberInput>) -> String {
    match treaty_anchor::build_manifest(inputs, &mut nonces()) {
        Ok(_) => "accepted".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_hashes_and_nonces_name_member_and_field() {
    let ok = || input("tenant-alpha", 'a', "prod", None);
    let cases: Vec<(treaty_anchor::MemberInput, &str)> = vec![
        (
            treaty_anchor::MemberInput {
                record_hash: "A".repeat(64),
                ..ok()
            },
            "member 1 (participant \"tenant-alpha\"): record_hash: must be 64 lower-case hex characters (a SHA-256 digest); character 'A' at position 0 is not",
        ),
        (
            treaty_anchor::MemberInput {
                record_hash: "a".repeat(63),
                ..ok()
            },
            "member 1 (participant \"tenant-alpha\"): record_hash: must be 64 lower-case hex characters (a SHA-256 digest); got 63",
        ),
        (
            input(
                "tenant-alpha",
                'a',
                "prod",
                Some("00112233445566778899aabbccddeef"),
            ),
            "member 1 (participant \"tenant-alpha\"): nonce: must have an even number of hex characters (whole bytes); got 31",
        ),
        (
            input(
                "tenant-alpha",
                'a',
                "prod",
                Some("00000000000000000000000000000000"),
            ),
            "member 1 (participant \"tenant-alpha\"): nonce: is trivial: every byte is 0x00",
        ),
        (
            input("tenant-alpha", 'a', "prod", Some("0011")),
            "member 1 (participant \"tenant-alpha\"): nonce: is 2 bytes; a nonce must be at least 16 bytes (32 hex characters) to blind the commitment",
        ),
        (
            input("tenant-alpha", 'a', "prod", Some("")),
            "member 1 (participant \"tenant-alpha\"): nonce: must not be empty",
        ),
        (
            input(
                "tenant-alpha",
                'a',
                "prod",
                Some("0x112233445566778899aabbccddeeff"),
            ),
            "member 1 (participant \"tenant-alpha\"): nonce: must be lower-case hex; character 'x' at position 1 is not",
        ),
        (
            input("", 'a', "prod", None),
            "member 1 (participant \"\"): participant_id: must not be empty",
        ),
    ];
    for (bad, want) in cases {
        assert_eq!(
            build_err(vec![input("tenant-zulu", 'f', "prod", None), bad]),
            want
        );
    }
}

#[test]
fn duplicates_are_refused() {
    let n = Some("00112233445566778899aabbccddeeff");
    let err = build_err(vec![
        input("tenant-alpha", 'a', "prod", n),
        input("tenant-bravo", 'a', "prod", n),
        input("tenant-alpha", 'a', "prod", n),
    ]);
    assert_eq!(
        err,
        "member 2 (participant \"tenant-alpha\"): duplicates member 0 (same participant_id, \
         record_hash, scope and nonce)"
    );
    // Same fields without a nonce: two different generated nonces, two members.
    assert_eq!(
        build_err(vec![
            input("tenant-alpha", 'a', "prod", None),
            input("tenant-alpha", 'a', "prod", None),
        ]),
        "accepted"
    );
}

#[test]
fn members_json_shape_errors_name_the_member() -> TestResult {
    let good = json!([
        {"participant_id": "p", "record_hash": "a".repeat(64), "scope": "s"},
        {"participant_id": "q", "record_hash": "b".repeat(64), "scope": "s", "nonce": "00112233445566778899aabbccddeeff"}
    ]);
    assert_eq!(
        read_member_inputs(serde_json::to_vec(&good)?.as_slice())?.len(),
        2
    );
    let cases = [
        (
            json!([{"participant_id": "p", "record_hash": "a", "scope": "s"}, {"participant_id": "p", "scope": "s"}]),
            1,
            "missing field `record_hash`",
        ),
        (
            json!([{"participant_id": "p", "record_hash": "a", "scope": "s", "colour": "red"}]),
            0,
            "unknown field `colour`",
        ),
        (
            json!([{"participant_id": 7, "record_hash": "a", "scope": "s"}]),
            0,
            "invalid type: integer `7`",
        ),
    ];
    for (v, index, text) in cases {
        let err = read_member_inputs(serde_json::to_vec(&v)?.as_slice())
            .err()
            .ok_or("accepted")?;
        assert!(
            matches!(err, AnchorError::MemberJson { index: i, .. } if i == index),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("member {index}: {text}")),
            "{err}"
        );
    }
    assert!(matches!(
        read_member_inputs(&b"{\"members\": []}"[..]),
        Err(AnchorError::Json { .. })
    ));
    assert!(matches!(
        read_member_inputs(&b"[{\"participant_id\": \"p\""[..]),
        Err(AnchorError::MemberJson { index: 0, .. })
    ));
    Ok(())
}

fn anchored_json() -> Result<Value, Box<dyn std::error::Error>> {
    let mut m = small_manifest()?;
    let mut node = FakeNode::new("node-a", 1, 2);
    stamp_and_upgrade(&mut m, std::slice::from_mut(&mut node))?;
    Ok(serde_json::from_slice(&m.to_json()?)?)
}

#[test]
fn truncated_and_corrupt_ots_in_a_manifest() -> TestResult {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v = anchored_json()?;
    let ots = b64.decode(v["anchors"][0]["ots"].as_str().ok_or("no ots")?)?;
    let with = |bytes: &[u8]| -> Result<AnchorError, Box<dyn std::error::Error>> {
        let mut t = v.clone();
        t["anchors"][0]["ots"] = Value::String(b64.encode(bytes));
        Document::from_json(&serde_json::to_vec(&t)?)
            .err()
            .ok_or_else(|| "accepted".into())
    };
    let err = with(&ots[..ots.len() - 1])?;
    assert!(
        matches!(
            err,
            AnchorError::Ots {
                anchor: 0,
                error: OtsError::Truncated { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "anchor 0 (calendar \"http://node-a.example:8080\"): ots: truncated at byte"
        ),
        "{err}"
    );
    let err = with(&ots[..20])?;
    assert!(
        matches!(
            err,
            AnchorError::Ots {
                error: OtsError::BadMagic,
                ..
            }
        ),
        "{err}"
    );
    let mut corrupt = ots.clone();
    corrupt[31] = 2;
    let err = with(&corrupt)?;
    assert!(
        matches!(
            err,
            AnchorError::Ots {
                error: OtsError::UnsupportedVersion { version: 2 },
                ..
            }
        ),
        "{err}"
    );
    let mut corrupt = ots.clone();
    corrupt[65] = 0x42; // the first operation of the tree
    let err = with(&corrupt)?;
    assert_eq!(
        err.to_string(),
        "anchor 0 (calendar \"http://node-a.example:8080\"): ots: byte 65: unknown operation tag 0x42"
    );
    let mut longer = ots.clone();
    longer.push(0);
    let err = with(&longer)?;
    assert!(
        matches!(
            err,
            AnchorError::Ots {
                error: OtsError::TrailingBytes { extra: 1, .. },
                ..
            }
        ),
        "{err}"
    );
    // The .ots of another digest.
    let mut other = ots.clone();
    other[40] ^= 1;
    let err = with(&other)?;
    assert!(
        matches!(err, AnchorError::AnchorDigestMismatch { anchor: 0, .. }),
        "{err}"
    );
    // Not base64 at all.
    let mut t = v.clone();
    t["anchors"][0]["ots"] = Value::String("not base64!".into());
    let err = Document::from_json(&serde_json::to_vec(&t)?)
        .err()
        .ok_or("accepted")?;
    assert!(
        err.to_string()
            .starts_with("anchors[0].ots: is not standard base64"),
        "{err}"
    );
    Ok(())
}

#[test]
fn document_level_errors() -> TestResult {
    let v = anchored_json()?;
    let expect = |t: Value, want: &str| -> TestResult {
        let err = Document::from_json(&serde_json::to_vec(&t)?)
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().starts_with(want), "{err} (wanted {want})");
        Ok(())
    };
    let mut t = v.clone();
    t["version"] = json!(2);
    expect(t, "version: is 2, this implementation reads version 1")?;
    let mut t = v.clone();
    t["kind"] = json!("other");
    expect(t, "kind: is \"other\"")?;
    let mut t = v.clone();
    t["root"] = json!("zz");
    expect(t, "root: must be 64 lower-case hex")?;
    let mut t = v.clone();
    t["extra"] = json!(1);
    expect(t, "manifest JSON: unknown field `extra`")?;
    let mut t = v.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("anchors");
    }
    expect(t, "manifest JSON: missing field `anchors`")?;
    let mut t = v.clone();
    t["members"][3]["record_hash"] = json!("B".repeat(64));
    expect(
        t,
        "member 3 (participant \"tenant-charlie\"): record_hash: must be 64",
    )?;
    let mut t = v.clone();
    t["members"][4]["proof"]["hashes"][0] = json!("00");
    expect(
        t,
        "member 4 (participant \"tenant-bravo\"): proof.hashes: entry 0 must be 64",
    )?;
    let mut t = v.clone();
    if let Some(m) = t["members"][1].as_object_mut() {
        m.remove("nonce");
    }
    expect(t, "member 1: missing field `nonce`")?;
    Ok(())
}

#[test]
fn a_manifest_whose_root_does_not_match_its_members() -> TestResult {
    // Members re-ordered and proofs rewritten consistently still give another root.
    let m = small_manifest()?;
    let other = treaty_anchor::build_manifest(
        vec![input("tenant-alpha", 'a', "prod", None)],
        &mut nonces(),
    )?;
    let mut v: Value = serde_json::from_slice(&m.to_json()?)?;
    v["root"] = json!(hex::encode(other.root()));
    let err = Document::from_json(&serde_json::to_vec(&v)?)
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        err.to_string(),
        format!(
            "root: the manifest states {}, but its 5 members give root {}",
            hex::encode(other.root()),
            hex::encode(m.root())
        )
    );
    Ok(())
}
