//! The ledger API: checkpoints, entries and proofs verify with independent code.

use crate::harness::{TestNode, agent_card, hash, unb64};
use treaty_merkle::{leaf_hash, verify_consistency, verify_inclusion};
use treaty_note::{Checkpoint, VerifierKey, open_checkpoint};

/// Fetches and verifies the node's checkpoint against its verifier key.
pub async fn checkpoint(node: &TestNode) -> (Checkpoint, String) {
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let key = VerifierKey::parse(key.trim()).expect("verifier key");
    let (status, note) = node.get_text("/checkpoint").await;
    assert_eq!(status, 200);
    let opened = open_checkpoint(&note, &key, &[]).expect("checkpoint verifies");
    (opened.checkpoint, note)
}

#[tokio::test]
async fn checkpoints_entries_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (cp0, _) = checkpoint(&node).await;
    assert_eq!(cp0.size(), 0);
    assert_eq!(cp0.origin(), node.addr);

    let mut checkpoints = vec![cp0];
    for i in 0..7 {
        let (status, _) = node
            .put(
                "agent-card",
                &format!("a{i}"),
                &agent_card(&format!("agent{i}")),
            )
            .await;
        assert_eq!(status, 201);
        checkpoints.push(checkpoint(&node).await.0);
    }
    let last = checkpoints.last().unwrap().clone();
    assert_eq!(last.size(), 7);

    // Entries: leaf bytes hash to the served leaf hash, and every one is included.
    let (status, page) = node.get_json("/v1/log/entries?start=0&limit=1000").await;
    assert_eq!(status, 200);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7);
    for e in entries {
        let leaf = unb64(e["leaf"].as_str().unwrap());
        assert_eq!(leaf_hash(&leaf), hash(&e["leaf_hash"]));
        let i = e["index"].as_u64().unwrap();
        let (status, p) = node
            .get_json(&format!("/v1/log/proof/inclusion?index={i}&tree_size=7"))
            .await;
        assert_eq!(status, 200);
        let proof: Vec<_> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        verify_inclusion(i, 7, &leaf_hash(&leaf), &proof, last.root()).unwrap();
    }
    // Every earlier checkpoint is consistent with the last.
    for cp in &checkpoints {
        let (status, p) = node
            .get_json(&format!(
                "/v1/log/proof/consistency?from={}&to=7",
                cp.size()
            ))
            .await;
        assert_eq!(status, 200);
        let proof: Vec<_> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        verify_consistency(cp.size(), 7, &proof, cp.root(), last.root()).unwrap();
    }
    // Paging entries.
    let (_, page) = node.get_json("/v1/log/entries?start=5&limit=10").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let (_, page) = node.get_json("/v1/log/entries?start=7").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn metrics_report_requests_and_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    for i in 0..3 {
        node.put("agent-card", &format!("m{i}"), &agent_card("m"))
            .await;
    }
    let (s, _) = node.get_json("/v1/records/agent-card/missing").await;
    assert_eq!(s, 404);
    let (s, text) = node.get_text("/metrics").await;
    assert_eq!(s, 200);
    assert!(text.contains("treaty_ledger_size 3"), "{text}");
    let put_line = text
        .lines()
        .find(|l| {
            l.starts_with("treaty_http_requests_total")
                && l.contains("endpoint=\"putRecord\"")
                && l.contains("status=\"201\"")
        })
        .unwrap_or_else(|| panic!("no PUT counter in {text}"));
    assert!(put_line.ends_with(" 3"), "{put_line}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("treaty_http_requests_total") && l.contains("status=\"404\"")),
        "{text}"
    );
    assert!(text.contains("treaty_sequencer_commit_seconds"), "{text}");
}
