//! Bearer tokens: operator, scoped tokens, revocation. Reads are public.

use crate::harness::{ADMIN_TOKEN, TestNode};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn scoped_tokens_write_only_their_collections_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (s, issued) = node
        .call(
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": "ingest", "collections": ["receipt"]})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trt_") && token.len() == 68);

    let (s, _) = node
        .call(
            Method::PUT,
            "/v1/records/receipt/r1",
            Some(&json!({"a": 1})),
            Some(&token),
        )
        .await;
    assert_eq!(s, 201);
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/records/manifest/sha256:00",
            Some(&json!({})),
            Some(&token),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (403, Some("token_scope")));
    // Operator actions need the operator's token.
    let (s, p) = node
        .call(Method::GET, "/v1/tokens", None, Some(&token))
        .await;
    assert_eq!((s, p["code"].as_str()), (403, Some("operator_only")));
    let (s, list) = node
        .call(Method::GET, "/v1/tokens", None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(s, 200);
    // The list never carries secrets.
    assert!(!list.to_string().contains(&token));

    let (s, _) = node
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/records/receipt/r2",
            Some(&json!({"a": 2})),
            Some(&token),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (401, Some("token_invalid")));
    // Revocation survives a restart; the record written before it does too.
    let mut node = node;
    node.restart();
    let (s, p) = node
        .call(
            Method::PUT,
            "/v1/records/receipt/r2",
            Some(&json!({"a": 2})),
            Some(&token),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (401, Some("token_invalid")));
    let (s, _) = node.get_json("/v1/records/receipt/r1").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    let (_, issued) = node
        .call(
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": "x", "collections": ["receipt"]})),
            Some(ADMIN_TOKEN),
        )
        .await;
    let token = issued["token"].as_str().unwrap().to_owned();
    node.kill9();
    let mut files = Vec::new();
    let mut dirs = vec![node.data_dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path)
            } else {
                files.push(path)
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&token), "secret token found on disk");
        assert!(!text.contains(ADMIN_TOKEN), "operator token found on disk");
    }
}
