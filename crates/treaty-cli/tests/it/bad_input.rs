//! Bad input gets a clear 4xx problem with a stable code and leaves the ledger unchanged.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card};
use crate::ledger::checkpoint;
use reqwest::Method;
use serde_json::json;

/// method, path, token, body, expected status, expected code.
type Case = (
    Method,
    String,
    Option<&'static str>,
    Option<String>,
    u16,
    &'static str,
);

#[tokio::test]
async fn every_bad_request_is_a_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (s, _) = node.put("agent-card", "a", &agent_card("a")).await;
    assert_eq!(s, 201);
    let (before, note_before) = checkpoint(&node).await;

    let big = "x".repeat(70 * 1024);
    let huge = "x".repeat(300 * 1024);
    let raw_cases: Vec<Case> = vec![
        (
            Method::PUT,
            "/v1/records/nope/k".into(),
            Some(ADMIN_TOKEN),
            Some("{}".into()),
            404,
            "unknown_collection",
        ),
        (
            Method::PUT,
            "/v1/records/Bad_Name/k".into(),
            Some(ADMIN_TOKEN),
            Some("{}".into()),
            400,
            "invalid_collection",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/a%20b".into(),
            Some(ADMIN_TOKEN),
            Some("{}".into()),
            400,
            "invalid_key",
        ),
        (
            Method::PUT,
            "/v1/records/manifest/sha256:xyz".into(),
            Some(ADMIN_TOKEN),
            Some("{}".into()),
            400,
            "invalid_key",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"a\":".into()),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("[1,2]".into()),
            422,
            "body_not_object",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"a\":9007199254740992}".into()),
            422,
            "integer_out_of_range",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"a\":-9007199254740992}".into()),
            422,
            "integer_out_of_range",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"a\":1e400}".into()),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"a\":0.5}".into()),
            422,
            "number_not_integer",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some(format!("{{\"a\":\"{big}\"}}")),
            413,
            "entry_too_large",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some(ADMIN_TOKEN),
            Some(format!("{{\"a\":\"{huge}\"}}")),
            413,
            "body_too_large",
        ),
        (
            Method::PUT,
            "/v1/records/agent-card/k".into(),
            Some(ADMIN_TOKEN),
            Some("{\"name\":\"x\"}".into()),
            422,
            "schema_violation",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            None,
            Some("{}".into()),
            401,
            "token_missing",
        ),
        (
            Method::PUT,
            "/v1/records/receipt/k".into(),
            Some("wrong-token-value"),
            Some("{}".into()),
            401,
            "token_invalid",
        ),
        (
            Method::DELETE,
            "/v1/records/receipt/missing".into(),
            Some(ADMIN_TOKEN),
            None,
            404,
            "record_not_found",
        ),
        (
            Method::DELETE,
            "/v1/records/agent-card/a".into(),
            None,
            None,
            401,
            "token_missing",
        ),
        (
            Method::GET,
            "/v1/log/proof/inclusion?index=0&tree_size=99".into(),
            None,
            None,
            400,
            "tree_size_beyond_checkpoint",
        ),
        (
            Method::GET,
            "/v1/log/proof/inclusion?index=1&tree_size=1".into(),
            None,
            None,
            400,
            "index_out_of_range",
        ),
        (
            Method::GET,
            "/v1/log/proof/inclusion?index=x".into(),
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/v1/log/proof/consistency?from=0&to=99".into(),
            None,
            None,
            400,
            "tree_size_beyond_checkpoint",
        ),
        (
            Method::GET,
            "/v1/log/proof/consistency?from=2&to=1".into(),
            None,
            None,
            400,
            "sizes_out_of_order",
        ),
        (
            Method::GET,
            "/v1/log/entries?start=99".into(),
            None,
            None,
            400,
            "tree_size_beyond_checkpoint",
        ),
        (
            Method::GET,
            "/v1/log/entries?limit=100000".into(),
            None,
            None,
            400,
            "limit_out_of_range",
        ),
        (
            Method::GET,
            "/v1/records/receipt?limit=0".into(),
            None,
            None,
            400,
            "limit_out_of_range",
        ),
        (
            Method::GET,
            "/v1/records/receipt?cursor=zzz".into(),
            None,
            None,
            400,
            "invalid_cursor",
        ),
        (
            Method::GET,
            "/v1/records/receipt?bogus=1".into(),
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/v1/records/agent-card/missing".into(),
            None,
            None,
            404,
            "record_not_found",
        ),
        (
            Method::POST,
            "/checkpoint".into(),
            None,
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v2/anything".into(),
            None,
            None,
            404,
            "no_such_endpoint",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(ADMIN_TOKEN),
            Some("{\"name\":\"x\",\"collections\":[\"nope\"]}".into()),
            404,
            "unknown_collection",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(ADMIN_TOKEN),
            Some("{\"name\":\"x\"}".into()),
            422,
            "invalid_body",
        ),
    ];
    for (method, path, token, body, want_status, want_code) in raw_cases {
        let mut req = node
            .http
            .request(method.clone(), format!("{}{path}", node.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let problem: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            (status, problem["code"].as_str()),
            (want_status, Some(want_code)),
            "{method} {path}: {problem}"
        );
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(problem["status"], want_status);
        for member in ["type", "title", "detail"] {
            assert!(problem[member].is_string(), "{path} lacks {member}");
        }
    }
    // A wrong media type is refused too.
    let resp = node
        .http
        .put(format!("{}/v1/records/receipt/k", node.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);

    let (after, note_after) = checkpoint(&node).await;
    assert_eq!(
        (after.size(), note_after),
        (before.size(), note_before),
        "ledger changed"
    );
    let (_, k) = node.get_json("/v1/records/receipt/k").await;
    assert_eq!(k["code"], json!("record_not_found"));
}
