//! Verified sync, federated discovery, cascading resolution, registry propagation and
//! drift, with real nodes in a chain and in a triangle.
//!
//! Nodes run with a one-hour sync interval, so every pull in these tests is one the test
//! can name: the first pull when an agreement takes effect, a pull started by a peer's
//! checkpoint notification, or an operator's `sync now`. Asynchronous outcomes are waited
//! for as conditions, never with sleeps.

use crate::federation::{WAIT, node_id, op, peer_at, peer_up, start, wait_for, wait_status};
use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, cli, http_client, unb64};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

/// Pulls only when a test causes it.
const QUIET: (&str, &str) = ("TREATY_SYNC_INTERVAL_MS", "3600000");

/// A level-1 agreement between `a` and `b` sharing `collections`: `a` proposes, `b` accepts.
async fn agree(a: &TestNode, b: &TestNode, collections: &[&str]) {
    let idb = node_id(b).await;
    let terms = json!({"collections": collections, "verification_frequency": "hourly",
        "retention_days": 30, "audit_rights": false});
    let (status, body) = op(
        a,
        Method::POST,
        "/v1/federation/proposals",
        Some(&json!({"target": idb, "trust_level": 1, "terms": terms})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let pid = body["id"].as_str().unwrap().to_owned();
    let (status, body) = op(
        b,
        Method::PUT,
        &format!("/v1/federation/proposals/{pid}"),
        Some(&json!({"action": "accept"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The peer `node` as `at` sees it (must be listed).
async fn peer(at: &TestNode, node: &str) -> Value {
    peer_at(at, node).await.expect("peer listed")
}

/// Waits until `at` has verified `of`'s whole ledger.
async fn wait_caught_up(at: &TestNode, of: &TestNode) {
    let id = node_id(of).await;
    wait_for("the peer to be caught up", || async {
        let size = crate::federation::ledger_size(of).await;
        let p = peer(at, &id).await;
        (p["sync"]["verified_size"] == size).then_some(())
    })
    .await;
}

async fn discover(n: &TestNode, query: &str) -> Vec<Value> {
    let (status, body) = n.get_json(&format!("/v1/discover?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn keys(results: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = results
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

async fn sync_now(at: &TestNode, peer_node: &str) -> (u16, Value) {
    op(
        at,
        Method::POST,
        &format!("/v1/federation/peers/{peer_node}/sync"),
        None,
    )
    .await
}

fn fingerprint(n: u8) -> String {
    format!("sha256:{}", hex::encode([n; 32]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_propagates_records_tombstones_registries_and_resolves_with_proof() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[QUIET]);
    let b = start(dir.path(), "b", &[QUIET]);
    let c = start(dir.path(), "c", &[QUIET]);
    let (ida, idb, idc) = (node_id(&a).await, node_id(&b).await, node_id(&c).await);
    peer_up(&a, &b).await;
    peer_up(&b, &c).await;
    agree(&a, &b, &["agent-card"]).await;
    agree(&b, &c, &["agent-card"]).await;

    // C publishes; its checkpoint notification makes B pull at once.
    assert_eq!(
        c.put("agent-card", "translator-c", &agent_card("translator-c"))
            .await
            .0,
        201
    );
    assert_eq!(
        c.put("agent-card", "gone-c", &agent_card("gone-c")).await.0,
        201
    );
    assert_eq!(c.put("receipt", "private-c", &json!({"n": 1})).await.0, 201);
    assert_eq!(
        b.put("agent-card", "local-b", &agent_card("local-b"))
            .await
            .0,
        201
    );
    wait_caught_up(&b, &c).await;

    // Discovery at B: the union of local and cached records, peers' tagged by source.
    let all = discover(&b, "limit=100").await;
    assert_eq!(keys(&all), ["gone-c", "local-b", "translator-c"], "{all:?}");
    for r in &all {
        let meta = &r["record"]["federation_metadata"];
        if r["key"] == "local-b" {
            assert!(
                meta.is_null(),
                "local records carry no federation_metadata: {r}"
            );
        } else {
            assert_eq!(meta["source_registry"], idc, "{r}");
            assert_eq!(r["federation_metadata"]["source_registry"], idc);
        }
    }
    assert_eq!(keys(&discover(&b, "source=local").await), ["local-b"]);
    assert_eq!(
        keys(&discover(&b, &format!("source={idc}")).await),
        ["gone-c", "translator-c"]
    );
    assert_eq!(keys(&discover(&b, "query=gone").await), ["gone-c"]);
    // A collection the agreement does not share travels as hashes only.
    let (status, body) = b
        .get_json("/v1/resolve/receipt/private-c?cascade=false")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("record_not_found"))
    );
    let pb = peer(&b, &idc).await;
    assert_eq!(pb["sync"]["cached_records"], 2, "{pb}");

    // A tombstone removes the cached copy.
    let (status, _) = c
        .call(
            Method::DELETE,
            "/v1/records/agent-card/gone-c",
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    wait_for("the tombstone to reach B", || async {
        let k = keys(&discover(&b, &format!("source={idc}")).await);
        (k == ["translator-c"]).then_some(())
    })
    .await;
    let (status, _) = b
        .get_json("/v1/resolve/agent-card/gone-c?cascade=false")
        .await;
    assert_eq!(status, 404);

    // Registry propagation: A pulls B once and learns C, two hops away, not dialed.
    let (status, report) = sync_now(&a, &idb).await;
    assert_eq!(status, 200, "{report}");
    let pc = peer(&a, &idc).await;
    assert_eq!(pc["status"], "DISCOVERED", "{pc}");
    assert_eq!(pc["hops"], 2);
    assert_eq!(pc["via_peer"], peer(&a, &idb).await["id"]);
    // B's own card as A holds it is first-hand, whatever B relays.
    assert_eq!(peer(&a, &idb).await["hops"], 1);
    // C has no agreement with A: if C knows A at all, it is as a discovered registry.
    if let Some(pa) = peer_at(&c, &ida).await {
        assert_eq!(pa["status"], "DISCOVERED", "{pa}");
    }

    // Cascading resolution through two hops: the manifest lives only at C (not shared),
    // A asks B, B asks C. The answer names C and verifies offline with C's key.
    let fp = fingerprint(7);
    assert_eq!(
        c.put("manifest", &fp, &json!({"name": "deep"})).await.0,
        201
    );
    let (status, miss) = a
        .get_json(&format!("/v1/resolve/manifest/{fp}?cascade=false"))
        .await;
    assert_eq!(
        (status, miss["cascaded"].as_bool()),
        (404, Some(false)),
        "{miss}"
    );
    let (status, found) = a.get_json(&format!("/v1/resolve/manifest/{fp}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["served_by"]["node_id"], idc, "{found}");
    assert_eq!(found["served_by"]["peer_id"], pc["id"]);
    assert_eq!(found["served_by"]["hops"], 2, "{found}");
    assert_eq!(found["via"], peer(&a, &idb).await["id"]);
    assert_eq!(
        found["record"]["federation_metadata"]["source_registry"],
        idc
    );
    let c_key = c.get_text("/v1/log/verifier-key").await.1;
    verify_offline(dir.path(), &found, c_key.trim(), true);
    // The same receipt does not verify under another registry's key.
    let b_key = b.get_text("/v1/log/verifier-key").await.1;
    verify_offline(dir.path(), &found, b_key.trim(), false);

    // A cached record is resolved with a receipt fetched from its source and checked.
    let (status, cached) = b.get_json("/v1/resolve/agent-card/translator-c").await;
    assert_eq!(status, 200, "{cached}");
    assert_eq!(cached["source"], "cache");
    assert!(cached["receipt"].is_string(), "{cached}");
    verify_offline(dir.path(), &cached, c_key.trim(), true);
    let (status, via_cache) = a.get_json("/v1/resolve/agent-card/translator-c").await;
    assert_eq!(status, 200, "{via_cache}");
    assert_eq!(via_cache["served_by"]["node_id"], idc);

    // Nothing anywhere: a 404 after the cascade.
    let (status, body) = a
        .get_json(&format!("/v1/resolve/manifest/{}", fingerprint(9)))
        .await;
    assert_eq!(
        (status, body["cascaded"].as_bool()),
        (404, Some(true)),
        "{body}"
    );
}

/// Writes an answer's record and receipt to files and runs `treaty verify` on them.
fn verify_offline(dir: &std::path::Path, answer: &Value, key: &str, expect_ok: bool) {
    let record = dir.join("record.json");
    let receipt = dir.join("receipt.txt");
    std::fs::write(&record, answer["record"].to_string()).unwrap();
    std::fs::write(&receipt, answer["receipt"].as_str().unwrap()).unwrap();
    let (code, out, err) = cli(
        &[
            "verify",
            "--receipt",
            receipt.to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
            "--key",
            key,
        ],
        &[],
    );
    if expect_ok {
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with("VERIFIED"), "{out}");
    } else {
        assert_ne!(code, 0, "{out}{err}");
        assert!(out.starts_with("NOT VERIFIED"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascade_around_a_triangle_finds_the_record_and_terminates_on_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[QUIET]);
    let b = start(dir.path(), "b", &[QUIET]);
    let c = start(dir.path(), "c", &[QUIET]);
    let idc = node_id(&c).await;
    peer_up(&a, &b).await;
    peer_up(&b, &c).await;
    peer_up(&c, &a).await;

    let fp = fingerprint(3);
    assert_eq!(
        c.put("manifest", &fp, &json!({"name": "in the triangle"}))
            .await
            .0,
        201
    );
    let (status, found) = a.get_json(&format!("/v1/resolve/manifest/{fp}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["served_by"]["node_id"], idc);

    // A key nobody has: every node asks its peers, each sees the request id again on the
    // way round and answers a miss, and the whole cascade ends well inside its deadline.
    let started = Instant::now();
    let (status, body) = a
        .get_json(&format!("/v1/resolve/manifest/{}", fingerprint(4)))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("record_not_found")),
        "{body}"
    );
    assert!(
        started.elapsed() < WAIT,
        "the cascade took {:?}",
        started.elapsed()
    );
    // A request carrying an id a node has already seen is a loop: answered as a miss.
    let http = http_client(None, None);
    let id = "loop-test-id-0123456789";
    for expect in ["record_not_found", "cascade_loop"] {
        let r = http
            .get(format!("{}/v1/resolve/manifest/{}", b.url, fingerprint(5)))
            .header("treaty-cascade-id", id)
            .header("treaty-cascade-hops", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], expect, "{body}");
    }
    // Malformed cascade headers are the caller's error.
    let r = http
        .get(format!("{}/v1/resolve/manifest/{}", b.url, fingerprint(5)))
        .header("treaty-cascade-hops", "many")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// What the tampering proxy does to sync feed answers.
const HONEST: u8 = 0;
const ALTER_ENTRY: u8 = 1;
const ALTER_CHECKPOINT: u8 = 2;
/// Refuse feed requests (503) once this many pages (answers of 200) have been served.
const FAIL_AFTER: u8 = 3;

struct FeedProxy {
    mode: Arc<AtomicU8>,
    served: Arc<AtomicUsize>,
    fail_after: Arc<AtomicUsize>,
    sinces: Arc<std::sync::Mutex<Vec<u64>>>,
}

/// A reverse proxy in front of a node that can alter its sync feed answers.
async fn feed_proxy(listener: tokio::net::TcpListener, target: String) -> FeedProxy {
    use axum::body::Bytes;
    use axum::extract::Request;
    let proxy = FeedProxy {
        mode: Arc::new(AtomicU8::new(HONEST)),
        served: Arc::new(AtomicUsize::new(0)),
        fail_after: Arc::new(AtomicUsize::new(usize::MAX)),
        sinces: Arc::new(std::sync::Mutex::new(Vec::new())),
    };
    let (mode, served, fail_after, sinces) = (
        proxy.mode.clone(),
        proxy.served.clone(),
        proxy.fail_after.clone(),
        proxy.sinces.clone(),
    );
    let http = http_client(None, None);
    let app = axum::Router::new().fallback(move |req: Request| {
        let (http, target, mode, served, fail_after, sinces) = (
            http.clone(),
            target.clone(),
            mode.clone(),
            served.clone(),
            fail_after.clone(),
            sinces.clone(),
        );
        async move {
            let (parts, body) = req.into_parts();
            let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
            let feed = parts.uri.path() == "/v1/federation/entries";
            if feed {
                let since = path
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("since="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                sinces.lock().unwrap().push(since);
                if served.load(Ordering::SeqCst) >= fail_after.load(Ordering::SeqCst) {
                    return axum::response::Response::builder()
                        .status(503)
                        .header("content-type", "application/problem+json")
                        .body(axum::body::Body::from(r#"{"code":"down"}"#))
                        .unwrap();
                }
            }
            let mut fwd = http.request(parts.method.clone(), format!("{target}{path}"));
            for (k, v) in &parts.headers {
                if k != "host" {
                    fwd = fwd.header(k, v);
                }
            }
            let resp = fwd.body(body).send().await.unwrap();
            let status = resp.status();
            // Only pages count: an answer the node refused (say, before the agreement
            // reached it) is not a page the puller could apply.
            if feed && status == 200 {
                served.fetch_add(1, Ordering::SeqCst);
            }
            let headers = resp.headers().clone();
            let mut bytes = resp.bytes().await.unwrap().to_vec();
            let m = mode.load(Ordering::SeqCst);
            if feed && status == 200 && m != HONEST {
                let mut page: Value = serde_json::from_slice(&bytes).unwrap();
                if m == ALTER_ENTRY {
                    // Change a shared record's content: same index, other bytes.
                    for e in page["entries"].as_array_mut().unwrap() {
                        if let Some(leaf) = e["leaf"].as_str() {
                            let text = String::from_utf8(unb64(leaf)).unwrap();
                            let altered = text.replace("served", "SERVED");
                            if altered != text {
                                e["leaf"] = json!(
                                    base64::engine::general_purpose::STANDARD.encode(altered)
                                );
                                break;
                            }
                        }
                    }
                } else {
                    // Change the root line of the signed checkpoint.
                    let note = page["checkpoint"].as_str().unwrap().to_owned();
                    let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
                    lines[2] = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
                    page["checkpoint"] = json!(lines.join("\n"));
                }
                bytes = page.to_string().into_bytes();
            }
            let mut out = axum::response::Response::builder().status(status);
            if let Some(ct) = headers.get("content-type") {
                out = out.header("content-type", ct);
            }
            if let Some(etag) = headers.get("etag") {
                out = out.header("etag", etag);
            }
            out.body(axum::body::Body::from(bytes)).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    proxy
}

/// A node reached only through a feed proxy (its public URL is the proxy's).
async fn behind_proxy(dir: &std::path::Path, name: &str) -> (TestNode, FeedProxy) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let node = TestNode::start_full(
        &dir.join(name),
        &[QUIET, ("TREATY_SYNC_PAGE_ENTRIES", "4")],
        &["--public-url", &proxy_url],
    );
    let proxy = feed_proxy(listener, node.url.clone()).await;
    (node, proxy)
}

async fn discrepancies(at: &TestNode) -> Vec<Value> {
    let (status, body) = op(at, Method::GET, "/v1/federation/discrepancies", None).await;
    assert_eq!(status, 200, "{body}");
    body["discrepancies"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_entries_or_checkpoints_are_refused_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[QUIET]);
    let (b, proxy) = behind_proxy(dir.path(), "b").await;
    let idb = node_id(&b).await;
    peer_up(&b, &a).await;
    agree(&a, &b, &["agent-card"]).await;
    assert_eq!(
        b.put("agent-card", "honest", &agent_card("honest")).await.0,
        201
    );
    wait_caught_up(&a, &b).await;
    let cached_before = keys(&discover(&a, &format!("source={idb}")).await);
    assert_eq!(cached_before, ["honest"]);

    // An altered entry: the page is refused, nothing from it applied, evidence kept.
    proxy.mode.store(ALTER_ENTRY, Ordering::SeqCst);
    let mut card = agent_card("tampered");
    card["description"] = json!("served by B");
    assert_eq!(b.put("agent-card", "tampered", &card).await.0, 201);
    let suspended = wait_status(&a, &idb, "SUSPENDED").await;
    assert!(
        suspended["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("sync_discrepancy"),
        "{suspended}"
    );
    let found = discrepancies(&a).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(d["peer_id"], suspended["id"]);
    assert!(
        ["root_mismatch", "inconsistent_proof"].contains(&d["kind"].as_str().unwrap()),
        "{d}"
    );
    let evidence = &d["evidence"];
    assert_eq!(evidence["kind"], d["kind"]);
    assert!(
        evidence["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\u{2014}")
    );
    assert_eq!(evidence["local_size"], suspended["sync"]["verified_size"]);
    // Nothing of the altered page was applied.
    assert_eq!(
        keys(&discover(&a, &format!("source={idb}")).await),
        cached_before
    );
    // A suspended peer is not pulled.
    let (status, body) = sync_now(&a, &idb).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("peer_not_syncable"))
    );

    // The operator resumes it; honest pages apply again.
    proxy.mode.store(HONEST, Ordering::SeqCst);
    let (status, body) = op(
        &a,
        Method::POST,
        &format!("/v1/federation/peers/{idb}/resume"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ACTIVE")),
        "{body}"
    );
    let (status, report) = sync_now(&a, &idb).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        keys(&discover(&a, &format!("source={idb}")).await),
        ["honest", "tampered"]
    );

    // An altered checkpoint: refused as a bad signature (by whichever pull sees it first:
    // B's notification starts one), the peer suspended again, nothing applied.
    proxy.mode.store(ALTER_CHECKPOINT, Ordering::SeqCst);
    assert_eq!(
        b.put("agent-card", "later", &agent_card("later")).await.0,
        201
    );
    let (status, body) = sync_now(&a, &idb).await;
    assert!(
        (status == 502 && body["kind"] == "bad_checkpoint_signature")
            || (status == 409 && body["code"] == "peer_not_syncable"),
        "{status} {body}"
    );
    wait_status(&a, &idb, "SUSPENDED").await;
    let found = discrepancies(&a).await;
    assert!(found.len() >= 2, "{found:?}");
    let last = found.last().unwrap();
    assert_eq!(last["kind"], "bad_checkpoint_signature", "{last}");
    assert_eq!(last["evidence"]["kind"], "bad_checkpoint_signature");
    assert_eq!(
        keys(&discover(&a, &format!("source={idb}")).await),
        ["honest", "tampered"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_sync_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = start(dir.path(), "a", &[QUIET, ("TREATY_SYNC_PAGE_ENTRIES", "4")]);
    let (b, proxy) = behind_proxy(dir.path(), "b").await;
    let idb = node_id(&b).await;
    peer_up(&b, &a).await;
    // B's feed serves two pages, then fails: A stops in the middle.
    for i in 0..20 {
        let key = format!("card-{i:02}");
        assert_eq!(b.put("agent-card", &key, &agent_card(&key)).await.0, 201);
    }
    proxy.fail_after.store(2, Ordering::SeqCst);
    agree(&a, &b, &["agent-card"]).await;
    wait_for("A to stop mid-sync", || async {
        let p = peer(&a, &idb).await;
        (p["recent_failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "sync_refused")
            && p["sync"]["verified_size"].as_u64().unwrap() > 0)
            .then_some(())
    })
    .await;
    // The pulls keep failing (with backoff: 1 s, 2 s, 4 s, 8 s); after five the peer is
    // INACTIVE. Backoff makes this the slowest wait in the suite, so it has its own bound.
    let deadline = Instant::now() + 2 * WAIT;
    while peer(&a, &idb).await["status"] != "INACTIVE" {
        assert!(Instant::now() < deadline, "B never became INACTIVE at A");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let held = peer(&a, &idb).await["sync"]["verified_size"]
        .as_u64()
        .unwrap();
    let total = crate::federation::ledger_size(&b).await;
    assert_eq!(held, 8, "two pages of four");
    assert!(total > held);
    let partial = keys(&discover(&a, &format!("source={idb}&limit=100")).await);

    // SIGKILL, restart, and the feed is back: every pull starts from the stored cursor.
    a.kill9();
    proxy.sinces.lock().unwrap().clear();
    a.restart();
    proxy.fail_after.store(usize::MAX, Ordering::SeqCst);
    let (status, report) = sync_now(&a, &idb).await;
    assert_eq!(status, 200, "{report}");
    // One successful pull makes an INACTIVE peer ACTIVE again.
    assert_eq!(report["peer"]["status"], "ACTIVE", "{report}");
    let sinces = proxy.sinces.lock().unwrap().clone();
    assert_eq!(
        sinces.first(),
        Some(&held),
        "resumed from the stored cursor: {sinces:?}"
    );
    assert!(
        sinces.iter().all(|s| *s >= held),
        "nothing pulled twice: {sinces:?}"
    );
    let all = discover(&a, &format!("source={idb}&limit=100")).await;
    let all_keys = keys(&all);
    let expected: Vec<String> = (0..20).map(|i| format!("card-{i:02}")).collect();
    assert_eq!(all_keys, expected, "each record exactly once");
    assert!(partial.iter().all(|k| all_keys.contains(k)));
    assert_eq!(peer(&a, &idb).await["sync"]["cached_records"], 20);
    assert_eq!(peer(&a, &idb).await["sync"]["verified_size"], total);

    // The operator can make A forget it all; the next pull verifies it again from 0.
    proxy.sinces.lock().unwrap().clear();
    let (code, out, err) = cli(
        &[
            "peer",
            "reset-sync",
            &idb,
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 records cached"), "{out}");
    assert!(discover(&a, &format!("source={idb}")).await.is_empty());
    let (status, report) = sync_now(&a, &idb).await;
    assert_eq!(status, 200, "{report}");
    let sinces = proxy.sinces.lock().unwrap().clone();
    assert_eq!(sinces.first(), Some(&0), "{sinces:?}");
    assert_eq!(peer(&a, &idb).await["sync"]["cached_records"], 20);
    assert_eq!(peer(&a, &idb).await["sync"]["verified_size"], total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_a_peers_schema_is_detected_and_can_be_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[QUIET]);
    let b = start(dir.path(), "b", &[QUIET]);
    let idb = node_id(&b).await;
    peer_up(&a, &b).await;
    agree(&a, &b, &["agent-card"]).await;
    let (status, report) = sync_now(&a, &idb).await;
    assert_eq!(status, 200, "{report}");

    // Nothing changed: the scan finds nothing.
    let (status, scan) = op(&a, Method::POST, "/v1/admin/federation/drift-scan", None).await;
    assert_eq!(status, 200, "{scan}");
    assert_eq!(
        (scan["scanned"].as_u64(), scan["drifted"].as_u64()),
        (Some(1), Some(0)),
        "{scan}"
    );
    assert_eq!(scan["peers"][0]["cache"]["ok"], true, "{scan}");

    // B sets a schema on the shared collection: its card's schema hash moves.
    let (status, body) = b
        .call(
            Method::PUT,
            "/v1/collections/agent-card/schema",
            Some(&json!({"version": "2.0.0", "schema": {"type": "object"}})),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (code, out, err) = cli(
        &[
            "peer",
            "drift-scan",
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 in DRIFT"), "{out}");
    let drifted = peer(&a, &idb).await;
    assert_eq!(drifted["status"], "DRIFT", "{drifted}");
    let reason = drifted["status_reason"].as_str().unwrap();
    assert!(reason.contains("schema:agent-card"), "{reason}");

    // The operator accepts the change: the new card is the baseline, the peer ACTIVE.
    let (code, out, err) = cli(
        &[
            "peer",
            "resume",
            &idb,
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(peer(&a, &idb).await["status"], "ACTIVE");
    let (_, scan) = op(&a, Method::POST, "/v1/admin/federation/drift-scan", None).await;
    assert_eq!(scan["drifted"], 0, "{scan}");
}

/// A at `dir` caught up with B's five agent cards under a level-1 agreement; answers A, B
/// and B's node id.
async fn five_cards_synced(dir: &std::path::Path) -> (TestNode, TestNode, String) {
    let a = start(dir, "a", &[QUIET]);
    let b = start(dir, "b", &[QUIET]);
    for i in 0..5 {
        let (status, body) = b
            .put(
                "agent-card",
                &format!("card-{i}"),
                &agent_card(&format!("Card {i}")),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    peer_up(&a, &b).await;
    agree(&a, &b, &["agent-card"]).await;
    wait_caught_up(&a, &b).await;
    let idb = node_id(&b).await;
    (a, b, idb)
}

/// SIGTERM stops a node whose background work is running (sync worker, notifier, witness
/// pushes, upkeep): `serve` must return once the listener is closed, not wait on tasks that
/// hold the sequencer. It exits 0 within the deadline, and a restart finds what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_syncing_node_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, _b, idb) = five_cards_synced(dir.path()).await;
    let before = peer(&a, &idb).await["sync"]["verified_size"].clone();
    let size = crate::federation::ledger_size(&a).await;

    let status = a
        .terminate(std::time::Duration::from_secs(10))
        .expect("the node did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");

    a.start_again();
    assert_eq!(crate::federation::ledger_size(&a).await, size);
    assert_eq!(peer(&a, &idb).await["sync"]["verified_size"], before);
    assert_eq!(keys(&discover(&a, "query=translates").await).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_records_a_crash_left_unindexed_are_found_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, _b, idb) = five_cards_synced(dir.path()).await;
    assert_eq!(keys(&discover(&a, &format!("source={idb}")).await).len(), 5);

    // A crash between a sync's commit and the indexing of its rows: the cache and the
    // watermark as the commit left them, the rows not in the discovery index.
    a.kill9();
    {
        let db = rusqlite::Connection::open(a.data_dir.join(treaty_node::identity::DB_FILE_NAME))
            .unwrap();
        let cached: i64 = db
            .query_row("SELECT count(*) FROM peer_records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cached, 5);
        // Cached rows have positive discovery rowids, local records negative ones.
        db.execute_batch(
            "DELETE FROM discovery WHERE rowid > 0;
             UPDATE meta SET value = '0' WHERE key = 'cache_indexed_id';",
        )
        .unwrap();
    }
    a.restart();
    // Every synced record is found again, by text and by source, and only once.
    assert_eq!(keys(&discover(&a, "query=translates").await).len(), 5);
    assert_eq!(keys(&discover(&a, &format!("source={idb}")).await).len(), 5);
    let db =
        rusqlite::Connection::open(a.data_dir.join(treaty_node::identity::DB_FILE_NAME)).unwrap();
    let indexed: i64 = db
        .query_row(
            "SELECT count(*) FROM discovery WHERE discovery MATCH '\"0\"' AND rowid > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 5);
}
