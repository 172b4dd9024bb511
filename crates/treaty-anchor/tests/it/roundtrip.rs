//! Round trips: build, write, read, extract, anchor at one and two nodes, upgrade, verify.

use crate::common::{FakeNode, TestResult, small_manifest, stamp_and_upgrade, upgrade_all};
use treaty_anchor::ots::DetachedTimestampFile;
use treaty_anchor::{
    AnchorPolicy, Document, MemberQuery, MemberSource, lookup_member, verify_member,
    verify_member_against,
};

fn policy(nodes: &[&FakeNode], min: usize) -> AnchorPolicy {
    AnchorPolicy {
        node_keys: nodes.iter().map(|n| n.verifier()).collect(),
        witness_keys: nodes.iter().filter_map(|n| n.witness_verifier()).collect(),
        min_verified_anchors: min,
    }
}

fn alpha() -> Result<MemberQuery, treaty_anchor::AnchorError> {
    MemberQuery::new("tenant-alpha", &"a".repeat(64), "prod", None)
}

#[test]
fn manifest_json_round_trips_byte_for_byte() -> TestResult {
    let m = small_manifest()?;
    let json = m.to_json()?;
    let Document::Manifest(back) = Document::from_json(&json)? else {
        return Err("not a manifest".into());
    };
    assert_eq!(back.root(), m.root());
    assert_eq!(back.members(), m.members());
    assert_eq!(back.to_json()?, json);
    Ok(())
}

#[test]
fn manifest_json_shape() -> TestResult {
    let m = small_manifest()?;
    let v: serde_json::Value = serde_json::from_slice(&m.to_json()?)?;
    let keys: Vec<&str> = v
        .as_object()
        .ok_or("not an object")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["version", "kind", "root", "tree_size", "anchors", "members"]
    );
    assert_eq!(v["version"], 1);
    assert_eq!(v["kind"], "manifest");
    assert_eq!(v["tree_size"], 5);
    let member = &v["members"][2];
    assert_eq!(member["nonce"], "00112233445566778899aabbccddeeff");
    assert_eq!(member["proof"]["index"], 2);
    assert_eq!(member["proof"]["tree_size"], 5);
    assert_eq!(member["proof"]["hashes"].as_array().map(Vec::len), Some(3));
    let member_keys: Vec<&str> = member
        .as_object()
        .ok_or("not an object")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        member_keys,
        [
            "participant_id",
            "record_hash",
            "scope",
            "nonce",
            "commitment_hash",
            "proof"
        ]
    );
    // The commitment is SHA-256 of the JCS object, as Python computes it.
    let c = treaty_anchor::commitment_hash(
        "00112233445566778899aabbccddeeff",
        "tenant-alpha",
        &"c".repeat(64),
        "staging",
    );
    assert_eq!(member["commitment_hash"], hex::encode(c));
    Ok(())
}

#[test]
fn extract_reveals_only_the_participant() -> TestResult {
    let mut m = small_manifest()?;
    let mut node = FakeNode::new("node-a", 1, 3);
    stamp_and_upgrade(&mut m, std::slice::from_mut(&mut node))?;
    let e = m.extract("tenant-alpha")?;
    let json = e.to_json()?;
    let text = String::from_utf8(json.clone())?;
    for other in [
        "tenant-bravo",
        "tenant-charlie",
        &"b".repeat(64),
        &"d".repeat(64),
    ] {
        assert!(!text.contains(other), "extract mentions {other}");
    }
    // Other members' nonces and commitments do not appear either.
    for i in [1usize, 3, 4] {
        let other = m.proven(i)?;
        assert!(!text.contains(&other.member.nonce_hex()));
        assert!(!text.contains(&hex::encode(other.commitment)));
    }
    let v: serde_json::Value = serde_json::from_slice(&json)?;
    assert_eq!(v["kind"], "extract");
    assert_eq!(v["participant_id"], "tenant-alpha");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(2));

    let Document::Extract(back) = Document::from_json(&json)? else {
        return Err("not an extract".into());
    };
    assert_eq!(back, e);
    assert_eq!(back.to_json()?, json);
    let member = lookup_member(&back, &alpha()?)?;
    let report = verify_member(&member, &back, &policy(&[&node], 1));
    assert!(report.is_verified(), "{report}");
    Ok(())
}

#[test]
fn seed_flow_without_anchors() -> TestResult {
    let m = small_manifest()?;
    let member = lookup_member(&m, &alpha()?)?;
    let report = verify_member(&member, &m, &AnchorPolicy::default());
    assert!(report.is_verified(), "{report}");
    assert!(report.to_string().starts_with("VERIFIED\n"));
    // Requiring an anchor that is not there fails, with the reason.
    let report = verify_member_against(&member, &m.root(), m.tree_size(), &[], &policy(&[], 1));
    assert!(!report.is_verified());
    assert!(
        report
            .to_string()
            .contains("0 anchor(s) verified, the policy requires 1")
    );
    // Looking up with the nonce works; with another nonce it does not.
    let q = MemberQuery::new(
        "tenant-alpha",
        &"c".repeat(64),
        "staging",
        Some("00112233445566778899aabbccddeeff"),
    )?;
    assert!(lookup_member(&m, &q).is_ok());
    let q = MemberQuery::new(
        "tenant-alpha",
        &"c".repeat(64),
        "staging",
        Some("00112233445566778899aabbccddee00"),
    )?;
    assert!(matches!(
        lookup_member(&m, &q),
        Err(treaty_anchor::AnchorError::NoSuchMember { .. })
    ));
    Ok(())
}

#[test]
fn anchored_at_one_node() -> TestResult {
    let mut m = small_manifest()?;
    let mut node = FakeNode::new("node-a", 1, 7).with_witness(9);
    let root = m.root();
    let answer = node.post_digest(&root);
    treaty_anchor::anchor_manifest(&mut m, [(node.url.as_str(), answer.as_slice())])?;

    // Pending: one request, for the leaf hash of the anchor entry, at the node's URL.
    let pending = m.anchors().pending()?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].uri, node.url);
    assert_eq!(
        pending[0].commitment,
        treaty_anchor::node::anchor_leaf_hash(&root)?.to_vec()
    );
    assert_eq!(
        pending[0].url(),
        format!(
            "{}/timestamp/{}",
            node.url,
            hex::encode(&pending[0].commitment)
        )
    );
    let member = lookup_member(&m, &alpha()?)?;
    let report = verify_member(&member, &m, &policy(&[&node], 0));
    assert!(report.is_verified(), "{report}");
    assert!(
        report
            .to_string()
            .contains("pending at http://node-a.example:8080")
    );
    let report = verify_member(&member, &m, &policy(&[&node], 1));
    assert!(
        !report.is_verified(),
        "a pending anchor is not a verified one"
    );

    // The node checkpoints later entries too; the upgrade still proves inclusion.
    node.grow(5);
    upgrade_all(m.anchors_mut(), std::slice::from_ref(&node))?;
    assert!(m.anchors().pending()?.is_empty(), "pending replaced");
    let report = verify_member(&member, &m, &policy(&[&node], 1));
    assert!(report.is_verified(), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("ledger node-a.example/ledger includes the root at tree size 13"),
        "{text}"
    );
    assert!(
        text.contains("cosigned by witness.example at unix time 1700000000"),
        "{text}"
    );

    // Survives the JSON round trip.
    let Document::Manifest(back) = Document::from_json(&m.to_json()?)? else {
        return Err("not a manifest".into());
    };
    let report = verify_member(&member, &back, &policy(&[&node], 1));
    assert!(report.is_verified(), "{report}");

    // Without the node's key the attestation is reported, not trusted.
    let report = verify_member(&member, &m, &policy(&[], 1));
    assert!(!report.is_verified());
    assert!(
        report
            .to_string()
            .contains("no verifier key for that origin")
    );

    // With the wrong key under the right name it fails outright.
    let impostor = FakeNode::new("node-a", 2, 0);
    let report = verify_member(&member, &m, &policy(&[&impostor], 0));
    assert!(!report.is_verified(), "{report}");
    Ok(())
}

#[test]
fn anchored_at_two_nodes_gives_two_independent_anchors() -> TestResult {
    let mut m = small_manifest()?;
    let mut nodes = [
        FakeNode::new("node-a", 1, 2),
        FakeNode::new("node-b", 3, 11),
    ];
    stamp_and_upgrade(&mut m, &mut nodes)?;
    assert_eq!(m.anchors().len(), 2);
    let member = lookup_member(&m, &alpha()?)?;
    let both = policy(&[&nodes[0], &nodes[1]], 2);
    let report = verify_member(&member, &m, &both);
    assert!(report.is_verified(), "{report}");
    assert_eq!(report.verified_anchors, 2);
    // Trusting only one node verifies one anchor; requiring two then fails.
    let one = policy(&[&nodes[1]], 2);
    let report = verify_member(&member, &m, &one);
    assert_eq!(report.verified_anchors, 1);
    assert!(!report.is_verified());

    // The merged .ots holds both, and is itself a valid file for the root.
    let merged = m.anchors().merged()?.ok_or("no anchors")?;
    let bytes = merged.to_bytes()?;
    let parsed = DetachedTimestampFile::parse(&bytes)?;
    assert_eq!(parsed.digest(), m.root().as_slice());
    assert_eq!(parsed.evaluate()?.len(), 2);
    assert_eq!(parsed.to_bytes()?, bytes);
    Ok(())
}

#[test]
fn stamping_the_same_calendar_twice_merges() -> TestResult {
    let mut m = small_manifest()?;
    let mut node = FakeNode::new("node-a", 1, 0);
    let root = m.root();
    let a1 = node.post_digest(&root);
    let a2 = node.post_digest(&root);
    // Identical answers (same digest, same URL): merged into one anchor, no duplicate.
    treaty_anchor::anchor_manifest(&mut m, [(node.url.as_str(), a1.as_slice())])?;
    treaty_anchor::anchor_manifest(&mut m, [(node.url.as_str(), a2.as_slice())])?;
    assert_eq!(m.anchors().len(), 1);
    assert_eq!(m.anchors().pending()?.len(), 1);
    Ok(())
}

#[test]
fn member_source_is_uniform() -> TestResult {
    let m = small_manifest()?;
    let doc = Document::from_json(&m.to_json()?)?;
    let e = m.extract("tenant-alpha")?;
    let q = alpha()?;
    let a = lookup_member(&m, &q)?;
    assert_eq!(lookup_member(&doc, &q)?, a);
    assert_eq!(lookup_member(&e, &q)?, a);
    assert_eq!(MemberSource::root(&doc), m.root());
    Ok(())
}

#[test]
fn bench_helpers_build_and_prove() -> TestResult {
    let mut calls = 0u64;
    let r = treaty_anchor::bench::build_and_prove(1000, &mut |_, _, _| calls += 1)?;
    assert_eq!(r.members, 1000);
    assert_eq!(r.proofs_verified, 1000);
    assert!(calls >= 2000);
    Ok(())
}
