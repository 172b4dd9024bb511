//! Records: create, update, read, list, delete, receipts.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, hash};
use reqwest::Method;
use serde_json::json;
use treaty_note::{Receipt, VerifierKey};
use treaty_types::{CollectionName, LedgerEntry, Operation, RecordKey};

#[tokio::test]
async fn record_lifecycle_with_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let key = VerifierKey::parse(key.trim()).unwrap();

    let (status, created) = node
        .put("agent-card", "translator", &agent_card("t1"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["ledger_index"], 0);
    // The write's receipt verifies offline against the record's entry.
    let receipt = Receipt::parse(created["receipt"].as_str().unwrap()).unwrap();
    let entry = LedgerEntry::from_leaf_bytes(&node_entry_bytes(&node, 0).await).unwrap();
    let LedgerEntry::Record {
        version, op, body, ..
    } = &entry
    else {
        panic!("record entry")
    };
    assert_eq!((*version, *op), (1, Operation::Put));
    assert_eq!(body.as_ref().unwrap(), &agent_card("t1"));
    receipt
        .verify_entry(&entry.to_leaf_bytes().unwrap(), &key, &[], 0)
        .unwrap();
    assert_eq!(
        hash(&created["leaf_hash"]),
        treaty_merkle::leaf_hash(&entry.to_leaf_bytes().unwrap())
    );

    let (status, updated) = node
        .put("agent-card", "translator", &agent_card("t2"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["version"], 2);

    let (status, got) = node.get_json("/v1/records/agent-card/translator").await;
    assert_eq!(status, 200);
    assert_eq!(got["version"], 2);
    assert_eq!(got["body"], agent_card("t2"));
    // The record's own fields rebuild its entry, and the receipt endpoint proves it.
    let rebuilt = LedgerEntry::Record {
        collection: CollectionName::parse("agent-card").unwrap(),
        key: RecordKey::parse("translator").unwrap(),
        version: 2,
        op: Operation::Put,
        body: Some(got["body"].clone()),
        time_ms: got["time_ms"].as_u64().unwrap(),
    };
    let (status, text) = node
        .get_text("/v1/records/agent-card/translator/receipt")
        .await;
    assert_eq!(status, 200);
    let receipt = Receipt::parse(&text).unwrap();
    let v = receipt
        .verify_entry(&rebuilt.to_leaf_bytes().unwrap(), &key, &[], 0)
        .unwrap();
    assert_eq!(v.index, 1);
    // ...and does not prove the old version.
    let old = LedgerEntry::Record {
        collection: CollectionName::parse("agent-card").unwrap(),
        key: RecordKey::parse("translator").unwrap(),
        version: 1,
        op: Operation::Put,
        body: Some(agent_card("t1")),
        time_ms: got["time_ms"].as_u64().unwrap(),
    };
    assert!(
        receipt
            .verify_entry(&old.to_leaf_bytes().unwrap(), &key, &[], 0)
            .is_err()
    );

    // Delete writes a tombstone: GET answers 410, listing still shows it.
    let (status, deleted) = node
        .call(
            Method::DELETE,
            "/v1/records/agent-card/translator",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["version"], 3);
    assert_eq!(deleted["op"], "delete");
    let (status, gone) = node.get_json("/v1/records/agent-card/translator").await;
    assert_eq!(
        (status, gone["code"].as_str()),
        (410, Some("record_deleted"))
    );
    let (status, again) = node
        .call(
            Method::DELETE,
            "/v1/records/agent-card/translator",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (404, Some("record_not_found"))
    );
    // Re-creating continues the version sequence.
    let (status, back) = node
        .put("agent-card", "translator", &agent_card("t3"))
        .await;
    assert_eq!((status, back["version"].as_u64()), (200, Some(4)));
}

async fn node_entry_bytes(node: &TestNode, index: u64) -> Vec<u8> {
    let (_, page) = node
        .get_json(&format!("/v1/log/entries?start={index}&limit=1"))
        .await;
    crate::harness::unb64(page["entries"][0]["leaf"].as_str().unwrap())
}

#[tokio::test]
async fn listing_is_stable_paged_and_includes_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    for i in 0..25 {
        let (s, _) = node
            .put("receipt", &format!("r{i:02}"), &json!({"n": i}))
            .await;
        assert_eq!(s, 201);
    }
    let (s, _) = node
        .call(
            Method::DELETE,
            "/v1/records/receipt/r03",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = node.put("receipt", "r00", &json!({"n": 100})).await;
    assert_eq!(s, 200);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = node
            .get_json(&format!("/v1/records/receipt?limit=10&cursor={cursor}"))
            .await;
        assert_eq!(s, 200);
        for r in page["records"].as_array().unwrap() {
            seen.push((
                r["key"].as_str().unwrap().to_owned(),
                r["op"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "each record once: {seen:?}");
    // Ledger order of the latest change: r03's tombstone, then r00's update, come last.
    assert_eq!(seen[23], ("r03".to_owned(), "delete".to_owned()));
    assert_eq!(seen[24], ("r00".to_owned(), "put".to_owned()));
    assert_eq!(seen[0].0, "r01");
    // updated_since filters by change time.
    let (_, all) = node.get_json("/v1/records/receipt?limit=1000").await;
    let last_time = all["records"].as_array().unwrap().last().unwrap()["time_ms"]
        .as_u64()
        .unwrap();
    let (_, recent) = node
        .get_json(&format!(
            "/v1/records/receipt?updated_since={}",
            last_time + 1
        ))
        .await;
    assert_eq!(recent["records"].as_array().unwrap().len(), 0);
    let (_, recent) = node
        .get_json(&format!("/v1/records/receipt?updated_since={last_time}"))
        .await;
    assert!(!recent["records"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn manifests_are_keyed_by_fingerprint_and_operator_collections_work() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let fp = format!("sha256:{}", "ab".repeat(32));
    let (s, _) = node.put("manifest", &fp, &json!({"title": "photo"})).await;
    assert_eq!(s, 201);
    let (s, got) = node.get_json(&format!("/v1/records/manifest/{fp}")).await;
    assert_eq!((s, got["body"]["title"].as_str()), (200, Some("photo")));

    let (s, p) = node.put("compliance", "c1", &json!({})).await;
    assert_eq!((s, p["code"].as_str()), (404, Some("unknown_collection")));
    let (s, _) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance",
            Some(&json!({"description": "audit receipts"})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 201);
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance",
            Some(&json!({})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (409, Some("collection_exists")));
    let (s, _) = node.put("compliance", "c1", &json!({"ok": true})).await;
    assert_eq!(s, 201);
    let (_, list) = node.get_json("/v1/collections").await;
    let names: Vec<_> = list["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["agent-card", "compliance", "manifest", "receipt"]);
}

#[tokio::test]
async fn openapi_documents_every_mounted_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (s, doc) = node.get_json("/openapi.json").await;
    assert_eq!(s, 200);
    for ep in treaty_node::api::endpoints::ALL {
        assert!(
            doc["paths"][ep.path][ep.method.lower()].is_object(),
            "{} undocumented",
            ep.id
        );
        // Mounted: the router never answers "no such endpoint" for a documented path.
        let url = ep.url("", &["receipt", "k"]);
        let method =
            reqwest::Method::from_bytes(ep.method.lower().to_uppercase().as_bytes()).unwrap();
        let (_, body) = node.call(method, &url, None, None).await;
        assert_ne!(
            body["code"].as_str(),
            Some("no_such_endpoint"),
            "{} not mounted",
            ep.id
        );
        assert_ne!(
            body["code"].as_str(),
            Some("method_not_allowed"),
            "{} not mounted",
            ep.id
        );
    }
}
