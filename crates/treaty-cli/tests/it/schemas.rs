//! Collection schemas: set, enforce (422 naming the failing path), publish, survive restarts.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn schemas_are_enforced_published_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    let (s, _) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance",
            Some(&json!({})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 201);
    let schema = json!({
        "type": "object",
        "required": ["control", "status"],
        "properties": {
            "control": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
            "status": {"enum": ["pass", "fail"]},
            "evidence": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
        }
    });
    let (s, set) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance/schema",
            Some(&json!({"version": "1.2.0", "schema": schema})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200, "{set}");
    let hash = set["hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("sha256:"));

    let (s, _) = node
        .put(
            "compliance",
            "c1",
            &json!({"control": "AC-2", "status": "pass"}),
        )
        .await;
    assert_eq!(s, 201);
    for (body, path) in [
        (json!({"control": "AC-2"}), "/"),
        (json!({"control": "ac2", "status": "pass"}), "/control"),
        (json!({"control": "AC-2", "status": "maybe"}), "/status"),
        (
            json!({"control": "AC-2", "status": "pass", "evidence": ["a", 1]}),
            "/evidence/1",
        ),
    ] {
        let (s, p) = node.put("compliance", "c2", &body).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (422, Some("schema_violation")),
            "{body}"
        );
        assert_eq!(p["path"], path, "{p}");
    }
    let (s, _) = node.get_json("/v1/records/compliance/c2").await;
    assert_eq!(s, 404, "a refused write changed nothing");

    // Published with version and hash.
    let (_, list) = node.get_json("/v1/collections").await;
    let c = list["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "compliance")
        .unwrap()
        .clone();
    assert_eq!(
        (c["schema_version"].as_str(), c["schema_hash"].as_str()),
        (Some("1.2.0"), Some(hash.as_str()))
    );
    let (s, got) = node.get_json("/v1/collections/compliance/schema").await;
    assert_eq!((s, got["hash"].as_str()), (200, Some(hash.as_str())));

    // Invalid schemas are refused and change nothing.
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance/schema",
            Some(&json!({"version": "2", "schema": {"type": 7}})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (422, Some("invalid_schema")));
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/collections/compliance/schema",
            Some(&json!({"version": "2", "schema": {"$ref": "https://evil.example/s.json"}})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (422, Some("invalid_schema")));
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/collections/receipt/schema",
            Some(&json!({"version": "1", "schema": {}})),
            None,
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (401, Some("token_missing")));

    // The schema survives a restart.
    node.restart();
    let (s, p) = node
        .put(
            "compliance",
            "c3",
            &json!({"control": "AC-2", "status": "nope"}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (422, Some("schema_violation")));
    let (_, got) = node.get_json("/v1/collections/compliance/schema").await;
    assert_eq!(got["hash"].as_str(), Some(hash.as_str()));

    // Removing it lifts the constraint.
    let (s, _) = node
        .call(
            Method::DELETE,
            "/v1/collections/compliance/schema",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = node.put("compliance", "c3", &json!({"free": "form"})).await;
    assert_eq!(s, 201);
    let (s, p) = node.get_json("/v1/collections/compliance/schema").await;
    assert_eq!((s, p["code"].as_str()), (404, Some("no_schema")));
}

#[tokio::test]
async fn agent_cards_have_a_builtin_schema_the_operator_can_tighten() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (s, builtin) = node.get_json("/v1/collections/agent-card/schema").await;
    assert_eq!(
        (s, builtin["builtin"].as_bool(), builtin["version"].as_str()),
        (200, Some(true), Some("1.0.0"))
    );
    let mut card = agent_card("a");
    card["skills"][0]["tags"] = json!("not-an-array");
    let (s, p) = node.put("agent-card", "a", &card).await;
    assert_eq!((s, p["path"].as_str()), (422, Some("/skills/0/tags")));

    // Tighten: require a provider.
    let mut tighter = builtin["schema"].clone();
    tighter["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("provider"));
    let (s, _) = node
        .call(
            Method::PUT,
            "/v1/collections/agent-card/schema",
            Some(&json!({"version": "1.1.0", "schema": tighter})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = node.put("agent-card", "a", &agent_card("a")).await;
    assert_eq!(s, 422);
    let mut with_provider = agent_card("a");
    with_provider["provider"] = json!({"organization": "Acme"});
    let (s, _) = node.put("agent-card", "a", &with_provider).await;
    assert_eq!(s, 201);
    // Deleting the operator's schema falls back to the built-in one.
    let (s, _) = node
        .call(
            Method::DELETE,
            "/v1/collections/agent-card/schema",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (_, back) = node.get_json("/v1/collections/agent-card/schema").await;
    assert_eq!(back["hash"], builtin["hash"]);
    let (s, _) = node.put("agent-card", "b", &agent_card("b")).await;
    assert_eq!(s, 201);
}
