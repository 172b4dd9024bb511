//! The registry card: signed core, unsigned volatile block, strong ETag and 304s, key
//! rotation, Host-header spoofing, and `treaty card verify`.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, cli};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use treaty_card::{Jwks, KeyStatus, verify_card};

const CARD: &str = "/.well-known/registry-card.json";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// (status, etag, body bytes) of a card GET with optional headers.
async fn get_card(node: &TestNode, headers: &[(&str, &str)]) -> (u16, Option<String>, Vec<u8>) {
    let mut req = node.http.get(format!("{}{CARD}", node.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), etag, r.bytes().await.unwrap().to_vec())
}

async fn jwks(node: &TestNode) -> Jwks {
    let (s, text) = node.get_text("/.well-known/registry-jwks.json").await;
    assert_eq!(s, 200);
    Jwks::parse(text.as_bytes()).unwrap()
}

fn signed_part(card: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(card).unwrap();
    v.as_object_mut().unwrap().remove("volatile");
    v
}

#[tokio::test]
async fn card_verifies_and_describes_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (s, etag, body) = get_card(&node, &[]).await;
    assert_eq!(s, 200);
    let etag = etag.unwrap();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    let card_url = format!("{}{CARD}", node.url);
    let v = verify_card(&body, Some(&card_url), &jwks(&node).await, now()).unwrap();
    assert_eq!(v.key_status, KeyStatus::Current);
    assert_eq!(v.etag, etag);
    assert_eq!(v.core.base_url, node.url);
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    assert_eq!(v.core.ledger.verifier_key, key.trim());
    let (_, health) = node.get_json("/healthz").await;
    assert_eq!(health["node_id"].as_str(), Some(v.core.node_id.as_str()));
    let card: Value = serde_json::from_slice(&body).unwrap();
    assert!(card["policy_hash"].as_str().unwrap().starts_with("sha256:"));
    let ac = card["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent-card")
        .unwrap()
        .clone();
    let (_, schema) = node.get_json("/v1/collections/agent-card/schema").await;
    assert_eq!(ac["schema_hash"], schema["hash"]);

    // Fetched from elsewhere, the same card is refused: its URLs are bound to its origin.
    let err = verify_card(
        &body,
        Some("https://elsewhere.example/.well-known/registry-card.json"),
        &jwks(&node).await,
        now(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "origin_mismatch");
    // A tampered signed field is refused.
    let mut tampered = card.clone();
    tampered["name"] = json!("Someone else");
    let err = verify_card(
        &serde_json::to_vec(&tampered).unwrap(),
        Some(&card_url),
        &jwks(&node).await,
        now(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    // A changed volatile block still verifies.
    let mut moved = card.clone();
    moved["volatile"]["peer_count"] = json!(99);
    verify_card(
        &serde_json::to_vec(&moved).unwrap(),
        Some(&card_url),
        &jwks(&node).await,
        now(),
    )
    .unwrap();
}

#[tokio::test]
async fn etag_ignores_volatile_data_and_304s_skip_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    let (_, etag, before) = get_card(&node, &[]).await;
    let etag = etag.unwrap();
    // New ledger entries change the volatile block only.
    for i in 0..3 {
        node.put("agent-card", &format!("a{i}"), &agent_card("x"))
            .await;
    }
    let (_, etag2, after) = get_card(&node, &[]).await;
    assert_eq!(etag2.as_deref(), Some(etag.as_str()));
    assert_eq!(signed_part(&before), signed_part(&after));
    let after_v: Value = serde_json::from_slice(&after).unwrap();
    assert_eq!(after_v["volatile"]["checkpoint"]["size"], 3);

    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        "*".to_owned(),
        format!("\"nope\", {etag}"),
    ] {
        let (s, e, body) = get_card(&node, &[("if-none-match", &inm)]).await;
        assert_eq!(s, 304, "{inm}");
        assert!(body.is_empty());
        assert_eq!(e.as_deref(), Some(etag.as_str()));
    }
    let (s, _, body) = get_card(&node, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(s, 200);
    assert!(!body.is_empty());

    // An operator edit (a schema) changes the signed core and the ETag.
    let (s, _) = node
        .call(
            Method::PUT,
            "/v1/collections/receipt/schema",
            Some(&json!({"version": "1", "schema": {"type": "object"}})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(s, 200);
    let (_, etag3, edited) = get_card(&node, &[]).await;
    assert_ne!(etag3.as_deref(), Some(etag.as_str()));
    let (s, _, _) = get_card(&node, &[("if-none-match", &etag)]).await;
    assert_eq!(s, 200, "the old ETag no longer matches");

    // A restart serves the same signed bytes under the same ETag.
    node.restart();
    let (_, etag4, restarted) = get_card(&node, &[]).await;
    assert_eq!(etag4, etag3);
    assert_eq!(signed_part(&restarted), signed_part(&edited));
}

#[tokio::test]
async fn rotation_keeps_old_cards_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let card_url = format!("{}{CARD}", node.url);
    let (_, old_etag, old_card) = get_card(&node, &[]).await;
    let old_kid = verify_card(&old_card, Some(&card_url), &jwks(&node).await, now())
        .unwrap()
        .kid;

    let (s, p) = node.call(Method::POST, "/v1/keys/rotate", None, None).await;
    assert_eq!((s, p["code"].as_str()), (401, Some("token_missing")));
    let (s, rotated) = node
        .call(Method::POST, "/v1/keys/rotate", None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(s, 200);
    assert_ne!(rotated["kid"].as_str(), Some(old_kid.as_str()));

    let keys = jwks(&node).await;
    assert_eq!(keys.keys().len(), 2);
    let old = verify_card(&old_card, Some(&card_url), &keys, now()).unwrap();
    assert_eq!(
        (old.kid.as_str(), old.key_status),
        (old_kid.as_str(), KeyStatus::Retired)
    );
    let (_, new_etag, new_card) = get_card(&node, &[]).await;
    assert_ne!(new_etag, old_etag);
    let new = verify_card(&new_card, Some(&card_url), &keys, now()).unwrap();
    assert_eq!(new.key_status, KeyStatus::Current);
    assert_eq!(Some(new.kid.as_str()), rotated["kid"].as_str());
    // The ledger key does not rotate: same verifier key in both cards.
    assert_eq!(old.core.ledger.verifier_key, new.core.ledger.verifier_key);
}

#[tokio::test]
async fn host_header_spoofing_does_not_change_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (_, _, honest) = get_card(&node, &[]).await;
    for headers in [
        vec![("host", "evil.example")],
        vec![
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
        vec![("forwarded", "host=evil.example;proto=https")],
    ] {
        let (s, _, spoofed) = get_card(&node, &headers).await;
        assert_eq!(s, 200);
        assert_eq!(signed_part(&spoofed), signed_part(&honest), "{headers:?}");
        assert!(!String::from_utf8_lossy(&spoofed).contains("evil.example"));
    }
}

#[tokio::test]
async fn operator_card_settings_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("treaty.toml"),
        "[card]\nname = \"Registry Dublin\"\ncontact = \"mailto:ops@dublin.example\"\nlatitude = \"53.3498\"\nlongitude = \"-6.2603\"\nspiffe_id = \"spiffe://dublin.example/registry\"\n[trust_policy]\naccepts_proposals = false\nmin_trust_level = 2\nrequires_mutual = true\n",
    )
    .unwrap();
    let node = TestNode::start(dir.path());
    let (_, _, body) = get_card(&node, &[]).await;
    let card: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(card["name"], "Registry Dublin");
    assert_eq!(card["operator"]["contact"], "mailto:ops@dublin.example");
    assert_eq!(
        card["mtls"]["spiffe_id"],
        "spiffe://dublin.example/registry"
    );
    assert_eq!(card["trust_policy"]["min_trust_level"], 2);
    assert_eq!(card["volatile"]["location"]["latitude"], "53.3498");
    verify_card(
        &body,
        Some(&format!("{}{CARD}", node.url)),
        &jwks(&node).await,
        now(),
    )
    .unwrap();
}

#[tokio::test]
async fn card_verify_cli_gives_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let (code, out, err) = cli(&["card", "verify", &node.url], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("VERIFIED:"), "{out}");

    let (_, _, body) = get_card(&node, &[]).await;
    let (_, keys) = node.get_text("/.well-known/registry-jwks.json").await;
    let card_path = dir.path().join("card.json");
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, keys).unwrap();
    std::fs::write(&card_path, &body).unwrap();
    let (code, out, _) = cli(
        &[
            "card",
            "verify",
            card_path.to_str().unwrap(),
            "--jwks",
            jwks_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let card_url = format!("{}{CARD}", node.url);
    let (code, out, _) = cli(
        &[
            "card",
            "verify",
            card_path.to_str().unwrap(),
            "--jwks",
            jwks_path.to_str().unwrap(),
            "--fetched-from",
            "https://elsewhere.example/.well-known/registry-card.json",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.contains("origin_mismatch"), "{out}");
    let mut card: Value = serde_json::from_slice(&body).unwrap();
    card["ledger"]["verifier_key"] = json!("not a key");
    std::fs::write(&card_path, serde_json::to_vec(&card).unwrap()).unwrap();
    let (code, out, _) = cli(
        &[
            "card",
            "verify",
            card_path.to_str().unwrap(),
            "--jwks",
            jwks_path.to_str().unwrap(),
            "--fetched-from",
            &card_url,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        out.starts_with("NOT VERIFIED:") && out.contains("verifier"),
        "{out}"
    );
    let (code, out, _) = cli(&["card", "verify", "http://127.0.0.1:1"], &[]);
    assert_ne!(code, 0, "{out}");
}
