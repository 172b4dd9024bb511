//! Federated anchoring end to end: build a manifest, stamp its root against one and two real
//! nodes acting as OpenTimestamps calendars, upgrade, and verify members offline.

use crate::harness::{TestNode, cli, unb64};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

fn members(dir: &Path) -> String {
    let path = dir.join("members.json");
    let a = "a".repeat(64);
    let b = "b".repeat(64);
    std::fs::write(
        &path,
        json!([
            {"participant_id": "tenant-alpha", "record_hash": a, "scope": "prod", "nonce": "00112233445566778899aabbccddeeff"},
            {"participant_id": "tenant-bravo", "record_hash": b, "scope": "prod"},
            {"participant_id": "tenant-alpha", "record_hash": b, "scope": "staging", "nonce": "ffeeddccbbaa99887766554433221100"}
        ])
        .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

async fn key_file(node: &TestNode, dir: &Path, name: &str) -> String {
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    path.to_str().unwrap().to_owned()
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

#[tokio::test]
async fn anchoring_against_two_nodes_gives_two_independent_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n1 = TestNode::start(&d.join("n1"));
    let n2 = TestNode::start(&d.join("n2"));
    let input = members(d);
    let (code, _, err) = cli(
        &[
            "anchor",
            "build",
            "--input",
            &input,
            "--output",
            &p(d, "manifest.json"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &[
            "anchor",
            "stamp",
            "--manifest",
            &p(d, "manifest.json"),
            "--output",
            &p(d, "anchored.json"),
            "--calendar",
            &n1.url,
            "--calendar",
            &n2.url,
            "--min-calendars",
            "2",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(Path::new(&p(d, "anchored.json.ots")).exists());
    // Each node committed the root into its ledger as an anchor entry.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(p(d, "anchored.json")).unwrap()).unwrap();
    let root = manifest["root"].as_str().unwrap().to_owned();
    for node in [&n1, &n2] {
        let (_, page) = node.get_json("/v1/log/entries").await;
        let leaf = String::from_utf8(unb64(page["entries"][0]["leaf"].as_str().unwrap())).unwrap();
        assert_eq!(
            leaf,
            format!("{{\"digest\":\"{root}\",\"kind\":\"anchor\"}}")
        );
    }
    let (code, _, err) = cli(
        &["anchor", "upgrade", "--manifest", &p(d, "anchored.json")],
        &[],
    );
    assert_eq!(code, 0, "{err}");

    let k1 = key_file(&n1, d, "k1.txt").await;
    let k2 = key_file(&n2, d, "k2.txt").await;

    // Against one node.
    let (code, _, err) = cli(
        &[
            "anchor",
            "stamp",
            "--manifest",
            &p(d, "manifest.json"),
            "--output",
            &p(d, "single.json"),
            "--calendar",
            &n1.url,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &["anchor", "upgrade", "--manifest", &p(d, "single.json")],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(
        &[
            "anchor",
            "verify",
            "--manifest",
            &p(d, "single.json"),
            "--participant-id",
            "tenant-bravo",
            "--record-hash",
            &"b".repeat(64),
            "--scope",
            "prod",
            "--node-key",
            &k1,
        ],
        &[],
    );
    // tenant-bravo's nonce was generated and is in the manifest: verification finds it.
    assert_eq!(code, 0, "{out}{err}");
    let a = "a".repeat(64);
    let verify = |manifest: &str, record: &str, scope: &str, keys: &[&str], min: &str| {
        let mut args = vec![
            "anchor",
            "verify",
            "--manifest",
            manifest,
            "--participant-id",
            "tenant-alpha",
            "--record-hash",
            record,
            "--scope",
            scope,
            "--nonce",
            "00112233445566778899aabbccddeeff",
            "--min-anchors",
            min,
        ];
        for k in keys {
            args.extend_from_slice(&["--node-key", k]);
        }
        cli(&args, &[])
    };
    let anchored = p(d, "anchored.json");
    let (code, out, err) = verify(&anchored, &a, "prod", &[&k1, &k2], "2");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("VERIFIED"), "{out}");
    // Wrong record hash, wrong scope: not verified.
    let (code, out, _) = verify(&anchored, &"c".repeat(64), "prod", &[&k1, &k2], "2");
    assert_eq!(code, 1, "{out}");
    let (code, _, _) = verify(&anchored, &a, "staging", &[&k1, &k2], "2");
    assert_eq!(code, 1);
    // With one node's key, only one anchor verifies: a quorum of two fails, one passes.
    let (code, _, _) = verify(&anchored, &a, "prod", &[&k1], "2");
    assert_eq!(code, 1);
    let (code, out, _) = verify(&anchored, &a, "prod", &[&k1], "1");
    assert_eq!(code, 0, "{out}");
    // A key of another ledger does not verify the anchors.
    let n3 = TestNode::start(&d.join("n3"));
    let k3 = key_file(&n3, d, "k3.txt").await;
    let (code, _, _) = verify(&anchored, &a, "prod", &[&k3], "1");
    assert_eq!(code, 1);

    // An extract carries one participant's members and nothing about the others.
    let (code, _, err) = cli(
        &[
            "anchor",
            "extract",
            "--manifest",
            &anchored,
            "--participant-id",
            "tenant-alpha",
            "--output",
            &p(d, "alpha.json"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let extract = std::fs::read_to_string(p(d, "alpha.json")).unwrap();
    assert!(!extract.contains("tenant-bravo"));
    let (code, out, _) = verify(&p(d, "alpha.json"), &a, "prod", &[&k1, &k2], "2");
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn the_calendar_api_is_strict_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let post = |body: Vec<u8>| {
        let http = node.http.clone();
        let url = format!("{}/digest", node.url);
        async move {
            let r = http
                .post(url)
                .header("accept", "application/vnd.opentimestamps.v1")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (s, first) = post(vec![7u8; 32]).await;
    assert_eq!(s, 200);
    // The answer names this node in a pending attestation (tag 83dfe30d2ef90c8e).
    assert!(
        first
            .windows(8)
            .any(|w| w == [0x83, 0xdf, 0xe3, 0x0d, 0x2e, 0xf9, 0x0c, 0x8e])
    );
    assert!(
        first
            .windows(node.url.len())
            .any(|w| w == node.url.as_bytes())
    );
    let (s, again) = post(vec![7u8; 32]).await;
    assert_eq!((s, &again), (200, &first));
    let (_, cp) = node.get_json("/healthz").await;
    assert_eq!(cp["tree_size"], 1, "a repeated digest adds no entry");
    for bad in [vec![], vec![1u8; 65]] {
        let (s, body) = post(bad).await;
        assert_eq!(s, 400);
        let p: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(p["code"], "invalid_digest");
    }
    let (s, p) = node
        .call(
            Method::GET,
            &format!("/timestamp/{}", "00".repeat(32)),
            None,
            None,
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (404, Some("unknown_commitment")));
    let (s, p) = node.call(Method::GET, "/timestamp/zz", None, None).await;
    assert_eq!((s, p["code"].as_str()), (400, Some("invalid_commitment")));
    // The pending attestation's commitment is the entry's leaf hash; it completes at once
    // because the answer came after the checkpoint.
    let leaf = treaty_merkle::leaf_hash(
        format!("{{\"digest\":\"{}\",\"kind\":\"anchor\"}}", "07".repeat(32)).as_bytes(),
    );
    let r = node
        .http
        .get(format!("{}/timestamp/{}", node.url, hex_of(&leaf)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    // Treaty checkpoint attestation tag.
    assert!(
        bytes
            .windows(8)
            .any(|w| w == [0x31, 0x11, 0x43, 0x72, 0x1e, 0xea, 0x40, 0x8c])
    );
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
