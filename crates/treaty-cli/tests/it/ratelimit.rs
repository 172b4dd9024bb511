//! Rate limits against a real node: anonymous callers by IP, token holders by token id, the
//! operator exempt. The "minute" is scaled to 6 s (`TREATY_RATE_PERIOD_MS`) so recovery
//! takes seconds; the cool-down schedule itself is unit-tested with a fake clock. Loopback
//! callers are exempt by default, so these nodes turn that off.

use crate::harness::{ADMIN_TOKEN, TestNode};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

async fn get(node: &TestNode, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = node.http.get(format!("{}{path}", node.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Asserts a 429 problem+json with a sane `Retry-After`, and returns it in seconds.
async fn assert_limited(resp: reqwest::Response) -> u64 {
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&secs), "{secs}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["status"], 429);
    assert_eq!(body["retry_after"], secs);
    secs
}

#[tokio::test]
async fn anonymous_and_token_callers_are_limited_separately_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start_with(
        dir.path(),
        &[
            ("TREATY_RATE_ANONYMOUS_PER_MINUTE", "5"),
            ("TREATY_RATE_AUTHENTICATED_PER_MINUTE", "3"),
            ("TREATY_RATE_PERIOD_MS", "6000"),
            // The test client is on 127.0.0.1, which is exempt by default.
            ("TREATY_RATE_EXEMPT_LOOPBACK", "false"),
        ],
    );
    // The operator is not limited (and issues a peer's token).
    for _ in 0..20 {
        let (s, _) = node
            .call(Method::GET, "/v1/tokens", None, Some(ADMIN_TOKEN))
            .await;
        assert_eq!(s, 200);
    }
    let (s, issued) = node
        .call(
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": "peer", "collections": ["receipt"]})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();

    // Five anonymous requests pass; the sixth is refused.
    for i in 0..5 {
        assert_eq!(
            get(&node, "/healthz", None).await.status(),
            200,
            "request {i}"
        );
    }
    assert_limited(get(&node, "/healthz", None).await).await;
    // An unknown token is no identity: it counts against the IP, which is cooling down
    // (and the repeated refusal lengthens the cool-down).
    let wait = assert_limited(get(&node, "/healthz", Some("trt_bogus")).await).await;

    // The token holder on the same IP has its own bucket: three pass, the fourth does not.
    for i in 0..3 {
        let r = get(&node, "/v1/collections", Some(&token)).await;
        assert_eq!(r.status(), 200, "token request {i}");
    }
    assert_limited(get(&node, "/v1/collections", Some(&token)).await).await;
    // The operator still is not limited.
    let (s, _) = node
        .call(Method::GET, "/v1/tokens", None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(s, 200);

    // A client that honours Retry-After is served again. Each wait is the one the node asked
    // for (that is the protocol under test); a well-behaved client needs at most a few.
    let mut wait = wait;
    let mut served = false;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let r = get(&node, "/healthz", None).await;
        if r.status() == 200 {
            served = true;
            break;
        }
        wait = assert_limited(r).await;
    }
    assert!(
        served,
        "a client honouring Retry-After was never served again"
    );
}

#[tokio::test]
async fn loopback_callers_are_exempt_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start_with(dir.path(), &[("TREATY_RATE_ANONYMOUS_PER_MINUTE", "2")]);
    for i in 0..10 {
        assert_eq!(
            get(&node, "/healthz", None).await.status(),
            200,
            "request {i}"
        );
    }
}
