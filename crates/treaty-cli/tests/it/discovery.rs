//! Discovery and resolution through the HTTP API.

use crate::harness::{ADMIN_TOKEN, TestNode};
use reqwest::Method;
use serde_json::{Value, json};
use treaty_note::{Receipt, VerifierKey};
use treaty_types::{CollectionName, LedgerEntry, Operation, RecordKey};

fn card(name: &str, description: &str, skill: &str, tags: &[&str]) -> Value {
    json!({
        "name": name, "description": description, "url": format!("https://agents.example/{name}"),
        "version": "1.0.0",
        "skills": [{"id": skill, "name": skill, "description": format!("{skill} things"), "tags": tags}]
    })
}

async fn keys(node: &TestNode, query: &str) -> Vec<String> {
    let (s, page) = node.get_json(&format!("/v1/discover?{query}")).await;
    assert_eq!(s, 200, "{page}");
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn discovery_ranks_filters_pages_and_forgets_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let cards = [
        (
            "translator",
            card(
                "Translator",
                "turns English into French",
                "translate",
                &["language", "fr"],
            ),
        ),
        (
            "summarizer",
            card(
                "Summarizer",
                "summaries of long text, no translator inside",
                "summarize",
                &["text"],
            ),
        ),
        (
            "poet",
            card("Poet", "writes verse", "compose", &["language", "art"]),
        ),
        (
            "fr-tutor",
            card(
                "French tutor",
                "teaches French",
                "teach",
                &["language", "fr"],
            ),
        ),
    ];
    for (k, c) in &cards {
        let (s, _) = node.put("agent-card", k, c).await;
        assert_eq!(s, 201);
    }
    let (s, _) = node
        .put(
            "receipt",
            "translator-receipt",
            &json!({"name": "translator receipt"}),
        )
        .await;
    assert_eq!(s, 201);

    // A name match outranks a description-only match.
    let found = keys(&node, "query=translator&collection=agent-card").await;
    assert_eq!(found, ["translator", "summarizer"]);
    // Results carry the record, and local records carry no federation metadata.
    let (_, page) = node
        .get_json("/v1/discover?query=translator&collection=agent-card")
        .await;
    let first = &page["results"][0];
    assert_eq!(first["record"]["body"]["name"], "Translator");
    assert!(first["record"].get("federation_metadata").is_none());
    // Filters.
    let mut by_tag = keys(&node, "tag=fr").await;
    by_tag.sort();
    assert_eq!(by_tag, ["fr-tutor", "translator"]);
    assert_eq!(keys(&node, "skill=compose").await, ["poet"]);
    assert_eq!(
        keys(&node, "query=french&tag=fr&skill=teach").await,
        ["fr-tutor"]
    );
    assert!(
        keys(&node, "query=translator&collection=receipt")
            .await
            .contains(&"translator-receipt".to_owned())
    );

    // Pages concatenate to the full list, each record once.
    let all = keys(&node, "tag=language&limit=100").await;
    assert_eq!(all.len(), 3);
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = node
            .get_json(&format!(
                "/v1/discover?tag=language&limit=1&cursor={cursor}"
            ))
            .await;
        assert_eq!(s, 200);
        paged.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["key"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, all);

    // A tombstoned record leaves the results; an update is re-indexed.
    let (s, _) = node
        .call(
            Method::DELETE,
            "/v1/records/agent-card/translator",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        keys(&node, "query=translator&collection=agent-card").await,
        ["summarizer"]
    );
    let (s, _) = node
        .put(
            "agent-card",
            "poet",
            &card("Poet", "now also a translator", "compose", &["art"]),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        keys(&node, "query=translator&collection=agent-card")
            .await
            .len(),
        2
    );
    assert!(
        !keys(&node, "tag=language")
            .await
            .contains(&"poet".to_owned())
    );

    // Bad input.
    for (q, code) in [
        ("limit=0", "limit_out_of_range"),
        ("limit=101", "limit_out_of_range"),
        ("cursor=garbage", "invalid_cursor"),
        ("collection=nope", "unknown_collection"),
        ("color=red", "invalid_query"),
    ] {
        let (s, p) = node.get_json(&format!("/v1/discover?{q}")).await;
        assert!(s == 400 || s == 404, "{q}: {s}");
        assert_eq!(p["code"], code, "{q}: {p}");
    }
    let long = "x".repeat(300);
    let (s, p) = node.get_json(&format!("/v1/discover?query={long}")).await;
    assert_eq!((s, p["code"].as_str()), (400, Some("query_too_long")));
    // Query syntax is plain text, never FTS syntax: words inside it are searched as words,
    // and pure punctuation is a clear 400.
    for q in [
        "NEAR(a%20b)",
        "a%20OR%20b",
        "-x",
        "name:translator",
        "translator*",
    ] {
        let (s, p) = node.get_json(&format!("/v1/discover?query={q}")).await;
        assert_eq!(s, 200, "{q}: {p}");
    }
    for q in ["%22", "*", "%5E", "(((", "%22%22"] {
        let (s, p) = node.get_json(&format!("/v1/discover?query={q}")).await;
        assert_eq!((s, p["code"].as_str()), (400, Some("invalid_query")), "{q}");
    }
}

#[tokio::test]
async fn resolve_answers_the_record_with_a_receipt_that_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let fp = format!("sha256:{}", "0f".repeat(32));
    let (s, _) = node
        .put(
            "manifest",
            &fp,
            &json!({"title": "sunset.jpg", "claims": ["c2pa"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, r) = node.get_json(&format!("/v1/resolve/manifest/{fp}")).await;
    assert_eq!(s, 200, "{r}");
    let rec = &r["record"];
    let entry = LedgerEntry::Record {
        collection: CollectionName::parse("manifest").unwrap(),
        key: RecordKey::parse(&fp).unwrap(),
        version: rec["version"].as_u64().unwrap(),
        op: Operation::Put,
        body: Some(rec["body"].clone()),
        time_ms: rec["time_ms"].as_u64().unwrap(),
    };
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let key = VerifierKey::parse(key.trim()).unwrap();
    Receipt::parse(r["receipt"].as_str().unwrap())
        .unwrap()
        .verify_entry(&entry.to_leaf_bytes().unwrap(), &key, &[], 0)
        .unwrap();

    let other = format!("sha256:{}", "aa".repeat(32));
    let (s, p) = node
        .get_json(&format!("/v1/resolve/manifest/{other}"))
        .await;
    assert_eq!((s, p["code"].as_str()), (404, Some("record_not_found")));
    let (s, p) = node
        .get_json("/v1/resolve/manifest/not-a-fingerprint")
        .await;
    assert_eq!((s, p["code"].as_str()), (400, Some("invalid_key")));
    let (s, _) = node
        .call(
            Method::DELETE,
            &format!("/v1/records/manifest/{fp}"),
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (s, p) = node.get_json(&format!("/v1/resolve/manifest/{fp}")).await;
    assert_eq!((s, p["code"].as_str()), (410, Some("record_deleted")));
}
