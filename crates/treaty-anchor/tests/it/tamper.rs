//! Tampering with any field of a member, the proof, the root or any byte of the `.ots`
//! makes verification fail (issue 7, part 7).
//!
//! "Fail" means what a verifier sees: either the document is refused when read (with an
//! error naming the member and field), or `verify_member` gives NOT VERIFIED.

use crate::common::{FakeNode, TestResult, small_manifest, stamp_and_upgrade};
use serde_json::Value;
use treaty_anchor::ots::DetachedTimestampFile;
use treaty_anchor::{
    Anchor, AnchorError, AnchorPolicy, Anchors, Document, InclusionProof, MemberQuery,
    ProvenMember, lookup_member, verify_member, verify_member_against,
};

fn flip_hex(s: &str) -> String {
    // Change the first character to another lower-case hex digit.
    let mut chars: Vec<char> = s.chars().collect();
    chars[0] = if chars[0] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn read(v: &Value) -> Result<Document, AnchorError> {
    let bytes = serde_json::to_vec(v).map_err(|error| AnchorError::Json {
        context: "test",
        error,
    })?;
    Document::from_json(&bytes)
}

fn anchored() -> Result<(treaty_anchor::Manifest, FakeNode), Box<dyn std::error::Error>> {
    let mut m = small_manifest()?;
    let mut node = FakeNode::new("node-a", 1, 6);
    stamp_and_upgrade(&mut m, std::slice::from_mut(&mut node))?;
    Ok((m, node))
}

#[test]
fn every_member_field_of_a_manifest() -> TestResult {
    let (m, _) = anchored()?;
    let v: Value = serde_json::from_slice(&m.to_json()?)?;
    assert!(read(&v).is_ok());
    for i in 0..5 {
        for field in [
            "participant_id",
            "record_hash",
            "scope",
            "nonce",
            "commitment_hash",
        ] {
            let mut t = v.clone();
            let old = t["members"][i][field]
                .as_str()
                .ok_or("no field")?
                .to_owned();
            t["members"][i][field] =
                Value::String(if field == "participant_id" || field == "scope" {
                    format!("{old}x")
                } else {
                    flip_hex(&old)
                });
            let err = read(&t)
                .err()
                .ok_or(format!("member {i} {field} tamper accepted"))?;
            assert!(
                matches!(err, AnchorError::CommitmentMismatch { index, .. } if index == i),
                "member {i} {field}: {err}"
            );
        }
    }
    Ok(())
}

#[test]
fn every_proof_field_of_a_manifest() -> TestResult {
    let (m, _) = anchored()?;
    let v: Value = serde_json::from_slice(&m.to_json()?)?;
    for i in 0..5 {
        let hashes = v["members"][i]["proof"]["hashes"]
            .as_array()
            .ok_or("no hashes")?
            .len();
        for j in 0..hashes {
            let mut t = v.clone();
            let old = t["members"][i]["proof"]["hashes"][j]
                .as_str()
                .ok_or("no hash")?
                .to_owned();
            t["members"][i]["proof"]["hashes"][j] = Value::String(flip_hex(&old));
            let err = read(&t).err().ok_or("proof hash tamper accepted")?;
            assert!(
                matches!(err, AnchorError::ProofMismatch { index, field: "proof.hashes", .. } if index == i),
                "{err}"
            );
        }
        // A hash added or removed.
        let mut t = v.clone();
        if let Some(a) = t["members"][i]["proof"]["hashes"].as_array_mut() {
            a.push(Value::String("0".repeat(64)));
        }
        assert!(read(&t).is_err());
        for (field, value) in [("index", 4 - i as u64), ("tree_size", 6)] {
            if field == "index" && 4 - i == i {
                continue;
            }
            let mut t = v.clone();
            t["members"][i]["proof"][field] = Value::from(value);
            let err = read(&t).err().ok_or("proof field tamper accepted")?;
            assert!(
                matches!(err, AnchorError::ProofMismatch { index, .. } if index == i),
                "{field}: {err}"
            );
        }
    }
    Ok(())
}

#[test]
fn root_tree_size_and_member_order_of_a_manifest() -> TestResult {
    let (m, _) = anchored()?;
    let v: Value = serde_json::from_slice(&m.to_json()?)?;
    let mut t = v.clone();
    t["root"] = Value::String(flip_hex(v["root"].as_str().ok_or("no root")?));
    let err = read(&t).err().ok_or("root tamper accepted")?;
    assert!(
        matches!(err, AnchorError::RootMismatch { members: 5, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("root: the manifest states "),
        "{err}"
    );

    let mut t = v.clone();
    t["tree_size"] = Value::from(4);
    assert!(matches!(
        read(&t),
        Err(AnchorError::TreeSizeMismatch {
            stated: 4,
            members: 5
        })
    ));

    let mut t = v.clone();
    if let Some(a) = t["members"].as_array_mut() {
        a.swap(1, 3);
    }
    assert!(matches!(
        read(&t),
        Err(AnchorError::ProofMismatch {
            index: 1,
            field: "proof.index",
            ..
        })
    ));

    let mut t = v.clone();
    if let Some(a) = t["members"].as_array_mut() {
        a.pop();
    }
    t["tree_size"] = Value::from(4);
    assert!(read(&t).is_err(), "a dropped member is noticed");
    Ok(())
}

#[test]
fn every_field_of_an_extract() -> TestResult {
    let (m, node) = anchored()?;
    let v: Value = serde_json::from_slice(&m.extract("tenant-bravo")?.to_json()?)?;
    assert!(read(&v).is_ok());
    for i in 0..2 {
        for field in ["record_hash", "scope", "nonce", "commitment_hash"] {
            let mut t = v.clone();
            let old = t["members"][i][field]
                .as_str()
                .ok_or("no field")?
                .to_owned();
            t["members"][i][field] = Value::String(if field == "scope" {
                format!("{old}x")
            } else {
                flip_hex(&old)
            });
            assert!(read(&t).is_err(), "extract member {i} {field}");
        }
        let n = v["members"][i]["proof"]["hashes"]
            .as_array()
            .ok_or("no hashes")?
            .len();
        for j in 0..n {
            let mut t = v.clone();
            let old = t["members"][i]["proof"]["hashes"][j]
                .as_str()
                .ok_or("x")?
                .to_owned();
            t["members"][i]["proof"]["hashes"][j] = Value::String(flip_hex(&old));
            let err = read(&t).err().ok_or("extract proof tamper accepted")?;
            assert!(
                matches!(err, AnchorError::ProofMismatch { index, field: "proof", .. } if index == i),
                "{err}"
            );
        }
        let mut t = v.clone();
        t["members"][i]["proof"]["index"] = Value::from(0);
        assert!(read(&t).is_err(), "extract proof index");
    }
    for (field, value) in [
        (
            "root",
            Value::String(flip_hex(v["root"].as_str().ok_or("x")?)),
        ),
        ("tree_size", Value::from(6)),
        ("participant_id", Value::String("tenant-alpha".into())),
    ] {
        let mut t = v.clone();
        t[field] = value;
        assert!(read(&t).is_err(), "extract {field}");
    }
    // The untampered extract verifies with the node's key.
    let Document::Extract(e) = read(&v)? else {
        return Err("not an extract".into());
    };
    let q = MemberQuery::new("tenant-bravo", &"e".repeat(64), "audit", None)?;
    let member = lookup_member(&e, &q)?;
    let policy = AnchorPolicy {
        node_keys: vec![node.verifier()],
        witness_keys: vec![],
        min_verified_anchors: 1,
    };
    assert!(verify_member(&member, &e, &policy).is_verified());
    Ok(())
}

#[test]
fn verify_member_catches_tampering_without_the_parser() -> TestResult {
    let (m, node) = anchored()?;
    let policy = AnchorPolicy {
        node_keys: vec![node.verifier()],
        witness_keys: vec![],
        min_verified_anchors: 1,
    };
    let root = m.root();
    let size = m.tree_size();
    let anchors = m.anchors().as_slice();
    let good = m.proven(3)?;
    assert!(verify_member(&good, &m, &policy).is_verified());

    let mut variants: Vec<ProvenMember> = Vec::new();
    let mut c = good.clone();
    c.commitment[0] ^= 1;
    variants.push(c);
    for j in 0..good.proof.hashes.len() {
        let mut c = good.clone();
        c.proof.hashes[j][31] ^= 0x80;
        variants.push(c);
    }
    let mut c = good.clone();
    c.proof = InclusionProof {
        index: good.proof.index + 1,
        ..good.proof.clone()
    };
    variants.push(c);
    let mut c = good.clone();
    c.proof.tree_size += 1;
    variants.push(c);
    let other = m.proven(1)?;
    let mut c = good.clone();
    c.member = other.member;
    variants.push(c);
    for (k, v) in variants.iter().enumerate() {
        let report = verify_member_against(v, &root, size, anchors, &policy);
        assert!(!report.is_verified(), "variant {k} verified:\n{report}");
    }
    let mut bad_root = root;
    bad_root[5] ^= 1;
    let report = verify_member_against(&good, &bad_root, size, anchors, &policy);
    assert!(!report.is_verified());
    assert!(
        report.to_string().contains("the .ots timestamps"),
        "{report}"
    );
    Ok(())
}

/// Verdict for `.ots` bytes as an anchor of `root`: parse, attach, verify.
fn ots_verifies(
    bytes: &[u8],
    calendar: &str,
    member: &ProvenMember,
    root: [u8; 32],
    policy: &AnchorPolicy,
) -> bool {
    let Ok(ots) = DetachedTimestampFile::parse(bytes) else {
        return false;
    };
    let Ok(anchor) = Anchor::new(calendar, ots) else {
        return false;
    };
    let mut anchors = Anchors::new(root);
    if anchors.add(anchor).is_err() {
        return false;
    }
    verify_member_against(member, &root, 5, anchors.as_slice(), policy).is_verified()
}

#[test]
fn every_byte_of_a_completed_node_ots() -> TestResult {
    let (m, node) = anchored()?;
    let policy = AnchorPolicy {
        node_keys: vec![node.verifier()],
        witness_keys: vec![],
        min_verified_anchors: 1,
    };
    let anchor = &m.anchors().as_slice()[0];
    let bytes = anchor.ots().to_bytes()?;
    let member = m.proven(0)?;
    let root = m.root();
    assert!(ots_verifies(
        &bytes,
        anchor.calendar(),
        &member,
        root,
        &policy
    ));
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut t = bytes.clone();
            t[pos] ^= mask;
            assert!(
                !ots_verifies(&t, anchor.calendar(), &member, root, &policy),
                "byte {pos} ^ {mask:#04x} still verifies"
            );
        }
        // Every truncation fails too.
        assert!(!ots_verifies(
            &bytes[..pos],
            anchor.calendar(),
            &member,
            root,
            &policy
        ));
    }
    // And a byte appended.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(!ots_verifies(
        &longer,
        anchor.calendar(),
        &member,
        root,
        &policy
    ));
    Ok(())
}

#[test]
fn tampered_ots_inside_the_manifest_json() -> TestResult {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (m, node) = anchored()?;
    let v: Value = serde_json::from_slice(&m.to_json()?)?;
    let ots = b64.decode(v["anchors"][0]["ots"].as_str().ok_or("no ots")?)?;
    let policy = AnchorPolicy {
        node_keys: vec![node.verifier()],
        witness_keys: vec![],
        min_verified_anchors: 1,
    };
    let q = MemberQuery::new("tenant-charlie", &"d".repeat(64), "prod", None)?;
    // A sample of positions across the file (every byte is covered above).
    for pos in (0..ots.len()).step_by(7) {
        let mut t = ots.clone();
        t[pos] ^= 0x01;
        let mut tv = v.clone();
        tv["anchors"][0]["ots"] = Value::String(b64.encode(&t));
        let verified = match read(&tv) {
            Err(_) => false,
            Ok(doc) => {
                let member = lookup_member(&doc, &q)?;
                verify_member(&member, &doc, &policy).is_verified()
            }
        };
        assert!(!verified, "byte {pos} of the anchor still verifies");
    }
    Ok(())
}
