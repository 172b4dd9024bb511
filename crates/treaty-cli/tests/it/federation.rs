//! Peering end to end with three real nodes: registration both ways, a tampered card,
//! every signed-request rejection, trust agreements and level gating, licenses, per-peer
//! rate limits, and mTLS binding.
//!
//! Where a test must act *as* a node (to send a deliberately broken signed request), it
//! signs with that node's own card key, read from the node's data directory: the request
//! is byte for byte what that node could send.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, cli, http_client, unb64};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use treaty_httpsig::{RequestView, Signer, SignerConfig, SigningKey, TargetUri};

/// Longest a test waits for an asynchronous outcome (a registration's verification).
pub(crate) const WAIT: Duration = Duration::from_secs(20);

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Polls `f` until it answers `Some`, failing after [`WAIT`].
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn op(
    n: &TestNode,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    n.call(method, path, body, Some(ADMIN_TOKEN)).await
}

pub(crate) async fn node_id(n: &TestNode) -> String {
    n.get_json("/healthz").await.1["node_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The peer `node` (by node id) as `at` lists it, if listed.
pub(crate) async fn peer_at(at: &TestNode, node: &str) -> Option<Value> {
    let (status, body) = op(at, Method::GET, "/v1/federation/peers", None).await;
    assert_eq!(status, 200, "{body}");
    body["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node_id"] == node)
        .cloned()
}

pub(crate) async fn wait_status(at: &TestNode, node: &str, status: &str) -> Value {
    wait_for(&format!("peer {node} to be {status}"), || async {
        peer_at(at, node).await.filter(|p| p["status"] == status)
    })
    .await
}

/// `from` adds `to` as a peer (both directions) and waits until `to` lists `from` ACTIVE.
pub(crate) async fn peer_up(from: &TestNode, to: &TestNode) {
    let (status, body) = op(
        from,
        Method::POST,
        "/v1/federation/peers",
        Some(&json!({"url": to.url})),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    assert_eq!(body["peer"]["status"], "ACTIVE", "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
    wait_status(to, &node_id(from).await, "ACTIVE").await;
}

/// A node's current card key, read from its data directory.
struct NodeKey {
    kid: String,
    key: SigningKey,
}

fn node_key(n: &TestNode) -> NodeKey {
    let dir = n.data_dir.join("card-keys");
    let mut keys: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert_eq!(keys.len(), 1, "one card key in {}", dir.display());
    let path = keys.pop().unwrap();
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read_to_string(&path).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    NodeKey {
        kid: path.file_stem().unwrap().to_str().unwrap().to_owned(),
        key: SigningKey::from_bytes(&seed),
    }
}

/// How to build one signed request (and how to break it).
struct Req<'a> {
    method: Method,
    url: String,
    body: Option<Value>,
    key: &'a SigningKey,
    kid: &'a str,
    created: u64,
    validity: u64,
    nonce: String,
    /// Replace the body after signing (a digest that no longer matches).
    swap_body: Option<Value>,
    /// Drop the Content-Digest field after signing.
    drop_digest: bool,
}

impl<'a> Req<'a> {
    fn new(method: Method, url: String, body: Option<Value>, k: &'a NodeKey) -> Self {
        Self {
            method,
            url,
            body,
            key: &k.key,
            kid: &k.kid,
            created: now_s(),
            validity: 300,
            nonce: fresh_nonce(),
            swap_body: None,
            drop_digest: false,
        }
    }

    async fn send(&self, http: &reqwest::Client) -> Result<(u16, Value, Option<String>), String> {
        let bytes = self
            .body
            .as_ref()
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default();
        let target = TargetUri::parse(&self.url).unwrap();
        let ct = [("content-type", "application/json")];
        let headers: &[(&str, &str)] = if bytes.is_empty() { &[] } else { &ct };
        let view = RequestView {
            method: self.method.as_str(),
            target: &target,
            headers,
            body: &bytes,
        };
        let signer = Signer::new(
            self.key.clone(),
            self.kid,
            SignerConfig::treaty_v1()
                .with_validity_seconds(self.validity)
                .unwrap(),
        )
        .unwrap();
        let signed = signer.sign(&view, self.created, &self.nonce).unwrap();
        let mut req = http.request(self.method.clone(), &self.url);
        for (k, v) in headers.iter().copied().chain(signed.pairs()) {
            if self.drop_digest && k.eq_ignore_ascii_case("content-digest") {
                continue;
            }
            req = req.header(k, v);
        }
        let sent = match &self.swap_body {
            Some(b) => b.to_string().into_bytes(),
            None => bytes,
        };
        let r = req.body(sent).send().await.map_err(|e| format!("{e:?}"))?;
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            retry,
        ))
    }
}

fn fresh_nonce() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn start(dir: &Path, name: &str, env: &[(&str, &str)]) -> TestNode {
    TestNode::start_with(&dir.join(name), env)
}

pub(crate) async fn ledger_size(n: &TestNode) -> u64 {
    n.get_json("/healthz").await.1["tree_size"]
        .as_u64()
        .unwrap()
}

async fn entry_kinds(n: &TestNode) -> Vec<String> {
    let (_, body) = n.get_json("/v1/log/entries?start=0&limit=1000").await;
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let leaf: Value = serde_json::from_slice(&unb64(e["leaf"].as_str().unwrap())).unwrap();
            leaf["kind"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_register_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[]);
    let b = start(dir.path(), "b", &[]);
    let c = start(dir.path(), "c", &[]);
    let (ida, idb, idc) = (node_id(&a).await, node_id(&b).await, node_id(&c).await);

    // A adds B: A verifies B's card now, B verifies A's card after answering 202.
    peer_up(&a, &b).await;
    // C adds A through the CLI.
    let (code, out, err) = cli(
        &[
            "peer",
            "add",
            &a.url,
            "--url",
            &c.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_status(&a, &idc, "ACTIVE").await;

    let at_a = peer_at(&a, &idb).await.unwrap();
    assert_eq!(at_a["base_url"], b.url);
    assert!(
        at_a["key_fingerprint"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    assert!(at_a["last_verified_at"].as_str().is_some());
    assert_eq!(at_a["trust_level"], Value::Null);
    assert_eq!(at_a["last_synced_at"], Value::Null);
    assert_eq!(peer_at(&b, &ida).await.unwrap()["status"], "ACTIVE");
    assert_eq!(peer_at(&c, &ida).await.unwrap()["status"], "ACTIVE");
    assert!(
        peer_at(&b, &idc).await.is_none(),
        "no gossip: B never met C"
    );

    // The CLI lists them.
    let (code, out, _) = cli(
        &["peer", "list", "--url", &a.url, "--token", ADMIN_TOKEN],
        &[],
    );
    assert_eq!(code, 0);
    for peer in [&at_a, &peer_at(&a, &idc).await.unwrap()] {
        assert!(out.contains(peer["id"].as_str().unwrap()), "{out}");
    }

    // Registration needs a signature: an unsigned one is refused and records nothing.
    let (status, body) = a
        .call(
            Method::POST,
            "/v1/federation/register",
            Some(&json!({"nodeId": "00000000-0000-4000-8000-000000000000",
                "federationDocumentUrl": "http://127.0.0.1:9/.well-known/registry-card.json",
                "callbackUrl": "http://127.0.0.1:9/v1/federation"})),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "missing_signature_input");
    // Federation bodies carry signed documents: a repeated member name is refused outright.
    let r = a
        .http
        .post(format!("{}/v1/federation/register", a.url))
        .header("content-type", "application/json")
        .body(r#"{"nodeId":"x","nodeId":"y"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json", "{body}");
    let (_, peers) = op(&a, Method::GET, "/v1/federation/peers", None).await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 2);

    // B rotates its card key: B registers again with its peers, which learn the new key.
    let (status, rotated) = op(&b, Method::POST, "/v1/keys/rotate", None).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["peers_notified"], 1);
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    let updated = wait_for("A to learn B's new key", || async {
        peer_at(&a, &idb)
            .await
            .filter(|p| p["key_fingerprint"] == kid.as_str())
    })
    .await;
    assert_eq!(updated["status"], "ACTIVE");
}

/// A reverse proxy in front of a node that can tamper with the registry card it serves.
struct Proxy {
    url: String,
    tamper: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn proxy_to(listener: tokio::net::TcpListener, target: String) -> Proxy {
    use axum::body::Bytes;
    use axum::extract::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    let tamper = std::sync::Arc::new(AtomicBool::new(false));
    let url = format!("http://{}", listener.local_addr().unwrap());
    let flag = tamper.clone();
    let http = http_client(None, None);
    let app = axum::Router::new().fallback(move |req: Request| {
        let http = http.clone();
        let target = target.clone();
        let flag = flag.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
            let mut fwd = http.request(parts.method.clone(), format!("{target}{path}"));
            for (k, v) in &parts.headers {
                if k != "host" {
                    fwd = fwd.header(k, v);
                }
            }
            let resp = fwd.body(body).send().await.unwrap();
            let status = resp.status();
            let ctype = resp
                .headers()
                .get("content-type")
                .cloned()
                .unwrap_or(axum::http::HeaderValue::from_static("application/json"));
            let mut bytes = resp.bytes().await.unwrap().to_vec();
            if flag.load(Ordering::SeqCst) && path == "/.well-known/registry-card.json" {
                let mut card: Value = serde_json::from_slice(&bytes).unwrap();
                card["name"] = json!("a name the key never signed");
                bytes = card.to_string().into_bytes();
            }
            axum::response::Response::builder()
                .status(status)
                .header("content-type", ctype)
                .body(axum::body::Body::from(bytes))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy { url, tamper }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_card_suspends_and_a_verified_registration_reactivates() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", &[]);
    // C is reached only through a proxy; its public URL is the proxy's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let c = TestNode::start_args(&dir.path().join("c"), &["--public-url", &proxy_url], None);
    let proxy = proxy_to(listener, c.url.clone()).await;
    assert_eq!(proxy.url, proxy_url);
    let idc = node_id(&c).await;

    proxy
        .tamper
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = op(
        &c,
        Method::POST,
        "/v1/federation/peers",
        Some(&json!({"url": a.url})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "A answered 202: {body}");
    let suspended = wait_status(&a, &idc, "SUSPENDED").await;
    let reason = suspended["status_reason"].as_str().unwrap();
    assert!(reason.contains("signature"), "{reason}");
    assert_eq!(suspended["recent_failures"].as_array().unwrap().len(), 1);

    // The card is whole again; C registers again and A re-activates it.
    proxy
        .tamper
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = op(
        &c,
        Method::POST,
        "/v1/federation/peers",
        Some(&json!({"url": a.url})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let active = wait_status(&a, &idc, "ACTIVE").await;
    assert_eq!(active["status_reason"], Value::Null);
    assert_eq!(active["base_url"], proxy.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signed_request_rejection_has_its_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = start(dir.path(), "a", &[]);
    let b = start(dir.path(), "b", &[]);
    peer_up(&b, &a).await;
    let idb = node_id(&b).await;
    wait_status(&a, &idb, "ACTIVE").await;
    let kb = node_key(&b);
    let http = http_client(None, None);
    let feed = format!("{}/v1/federation/entries", a.url);
    let proposals = format!("{}/v1/federation/proposals", a.url);
    let size = ledger_size(&a).await;

    // Baseline: authenticated, then refused for the trust level (no agreement yet).
    let (status, body, _) = Req::new(Method::GET, feed.clone(), None, &kb)
        .send(&http)
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("trust_level_insufficient")),
        "{body}"
    );
    assert_eq!(body["needed_level"], 1);

    let expect = |r: (u16, Value, Option<String>), status: u16, code: &str| {
        assert_eq!(r.0, status, "{code}: {}", r.1);
        assert_eq!(r.1["code"], code, "{}", r.1);
    };
    let offer_body = json!({"type": "treaty.trust-offer/v1"});

    // A wrong digest: the body changed after signing.
    let mut r = Req::new(
        Method::POST,
        proposals.clone(),
        Some(offer_body.clone()),
        &kb,
    );
    r.swap_body = Some(json!({"type": "tampered"}));
    expect(r.send(&http).await.unwrap(), 401, "content_digest_mismatch");
    // No digest at all.
    let mut r = Req::new(
        Method::POST,
        proposals.clone(),
        Some(offer_body.clone()),
        &kb,
    );
    r.drop_digest = true;
    let got = r.send(&http).await.unwrap();
    assert_eq!(got.0, 401, "{}", got.1);
    assert!(
        ["missing_content_digest", "component_unavailable"]
            .contains(&got.1["code"].as_str().unwrap()),
        "{}",
        got.1
    );
    // An unknown key.
    let stranger = NodeKey {
        kid: "stranger".into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    expect(
        Req::new(Method::GET, feed.clone(), None, &stranger)
            .send(&http)
            .await
            .unwrap(),
        401,
        "unknown_key",
    );
    // B's key id with another key: a bad signature. The nonce it used stays unspent.
    let forged = NodeKey {
        kid: kb.kid.clone(),
        key: SigningKey::from_bytes(&[9; 32]),
    };
    let mut bad = Req::new(Method::GET, feed.clone(), None, &forged);
    let nonce = bad.nonce.clone();
    expect(bad.send(&http).await.unwrap(), 401, "bad_signature");
    bad.key = &kb.key;
    bad.nonce = nonce;
    expect(
        bad.send(&http).await.unwrap(),
        403,
        "trust_level_insufficient",
    );
    // `created` outside +-300 s.
    let mut r = Req::new(Method::GET, feed.clone(), None, &kb);
    r.created = now_s() - 1_000;
    r.validity = 2_000;
    expect(r.send(&http).await.unwrap(), 401, "created_out_of_window");
    let mut r = Req::new(Method::GET, feed.clone(), None, &kb);
    r.created = now_s() + 1_000;
    expect(r.send(&http).await.unwrap(), 401, "created_out_of_window");
    // Expired (created recently, but with a short validity that has passed).
    let mut r = Req::new(Method::GET, feed.clone(), None, &kb);
    r.created = now_s() - 100;
    r.validity = 30;
    expect(r.send(&http).await.unwrap(), 401, "signature_expired");
    // A replay of a request that was accepted.
    let r = Req::new(Method::GET, feed.clone(), None, &kb);
    expect(
        r.send(&http).await.unwrap(),
        403,
        "trust_level_insufficient",
    );
    expect(r.send(&http).await.unwrap(), 401, "nonce_replayed");

    // A suspended peer: refused after authentication, with its own code.
    let (status, body) = op(
        &a,
        Method::POST,
        &format!("/v1/federation/peers/{idb}/suspend"),
        Some(&json!({"reason": "drill"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "SUSPENDED");
    let r = Req::new(Method::GET, feed.clone(), None, &kb);
    let nonce = r.nonce.clone();
    expect(r.send(&http).await.unwrap(), 403, "peer_suspended");
    // Registering again does not lift an operator's suspension.
    let (_, body) = op(
        &b,
        Method::POST,
        "/v1/federation/peers",
        Some(&json!({"url": a.url})),
    )
    .await;
    assert_eq!(
        body["registration"]["answer"]["code"], "peer_suspended",
        "{body}"
    );
    assert_eq!(peer_at(&a, &idb).await.unwrap()["status"], "SUSPENDED");
    let (status, body) = op(
        &a,
        Method::POST,
        &format!("/v1/federation/peers/{idb}/resume"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ACTIVE", "{body}");
    // The refused request's nonce was not spent either.
    let mut r = Req::new(Method::GET, feed.clone(), None, &kb);
    r.nonce = nonce;
    expect(
        r.send(&http).await.unwrap(),
        403,
        "trust_level_insufficient",
    );

    // None of it wrote anything.
    assert_eq!(ledger_size(&a).await, size);
    let (_, list) = op(&a, Method::GET, "/v1/federation/proposals", None).await;
    assert_eq!(list["proposals"], json!([]));

    // A restart forgets the nonces it saw, so a request signed before the restart is
    // refused rather than replayable.
    let r = Req::new(Method::GET, feed.clone(), None, &kb);
    expect(
        r.send(&http).await.unwrap(),
        403,
        "trust_level_insufficient",
    );
    // Make sure the new process starts in a later second than the request's `created`.
    let signed_at = r.created;
    while now_s() <= signed_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.restart();
    expect(
        r.send(&http).await.unwrap(),
        401,
        "signature_predates_start",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agreements_are_negotiated_recorded_on_both_sides_and_gate_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = start(dir.path(), "a", &[]);
    let b = start(dir.path(), "b", &[]);
    let (ida, idb) = (node_id(&a).await, node_id(&b).await);
    peer_up(&a, &b).await;
    let kb = node_key(&b);
    let http = http_client(None, None);
    let feed = format!("{}/v1/federation/entries", a.url);
    assert_eq!(
        a.put("agent-card", "translator", &agent_card("translator"))
            .await
            .0,
        201
    );
    assert_eq!(a.put("receipt", "r1", &json!({"n": 1})).await.0, 201);

    // Below the policy's minimum level: refused by B, recorded nowhere.
    let (status, body) = op(
        &a,
        Method::POST,
        "/v1/federation/proposals",
        Some(&json!({"target": idb, "trust_level": 0})),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["peer_problem"]["code"], "trust_level_below_policy",
        "{body}"
    );

    // A proposes level 1 for agent cards; B counters at level 2; A accepts.
    let terms = json!({"collections": ["agent-card"], "verification_frequency": "hourly",
        "retention_days": 30, "jurisdiction": "EU", "audit_rights": true});
    let (status, body) = op(
        &a,
        Method::POST,
        "/v1/federation/proposals",
        Some(&json!({"target": idb, "trust_level": 1, "terms": terms})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let pid = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["awaiting"], idb);
    let (_, at_b) = op(
        &b,
        Method::GET,
        &format!("/v1/federation/proposals/{pid}"),
        None,
    )
    .await;
    assert_eq!(at_b["direction"], "incoming");
    assert_eq!(at_b["status"], "open");
    // Not A's turn.
    let (status, body) = op(
        &a,
        Method::PUT,
        &format!("/v1/federation/proposals/{pid}"),
        Some(&json!({"action": "accept"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_your_turn")),
        "{body}"
    );

    let (code, out, err) = cli(
        &[
            "proposals",
            "counter",
            &pid,
            "--trust-level",
            "2",
            "--url",
            &b.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (_, at_a) = op(
        &a,
        Method::GET,
        &format!("/v1/federation/proposals/{pid}"),
        None,
    )
    .await;
    assert_eq!(at_a["round"], 2, "{at_a}");
    assert_eq!(at_a["awaiting"], ida);
    assert_eq!(at_a["trust_level"], 2);

    let (status, agreement) = op(
        &a,
        Method::PUT,
        &format!("/v1/federation/proposals/{pid}"),
        Some(&json!({"action": "accept"})),
    )
    .await;
    assert_eq!(status, 200, "{agreement}");
    let aid = agreement["id"].as_str().unwrap().to_owned();
    let hash = agreement["agreement_hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("sha256:"));
    let sigs = agreement["document"]["signatures"].as_object().unwrap();
    assert!(
        sigs.contains_key(&ida) && sigs.contains_key(&idb),
        "{agreement}"
    );
    let (_, at_b) = op(
        &b,
        Method::GET,
        &format!("/v1/federation/agreements/{aid}"),
        None,
    )
    .await;
    assert_eq!(at_b["agreement_hash"], hash);
    assert_eq!(at_b["status"], "active");
    assert_eq!(at_b["trust_level"], 2);
    assert_eq!(peer_at(&a, &idb).await.unwrap()["trust_level"], 2);
    for n in [&a, &b] {
        let kinds = entry_kinds(n).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "fed_trust_proposal").count(),
            2,
            "{kinds:?}"
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "fed_trust_established")
                .count(),
            1
        );
    }

    // Level 2 covers reading the feed: B sees A's shared collection, nothing else.
    let (status, body, _) = Req::new(Method::GET, feed.clone(), None, &kb)
        .send(&http)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["collections"], json!(["agent-card"]));
    // Every entry travels in order; only the shared collection's carry their bytes.
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, body["tree_size"].as_u64().unwrap());
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"], i);
    }
    let leaves: Vec<Value> = entries
        .iter()
        .filter_map(|e| e["leaf"].as_str())
        .map(|l| serde_json::from_slice(&unb64(l)).unwrap())
        .collect();
    assert_eq!(leaves.len(), 1, "{leaves:?}");
    assert_eq!(leaves[0]["key"], "translator");
    assert!(
        entries
            .iter()
            .filter(|e| e["leaf"].is_null())
            .all(|e| e["leaf_hash"].is_string())
    );
    assert_eq!(
        body["consistency"],
        json!([]),
        "a full page ends at the checkpoint"
    );
    // A first page of one entry carries the proof from 1 to the checkpoint.
    let (status, page, _) = Req::new(Method::GET, format!("{feed}?since=0&limit=1"), None, &kb)
        .send(&http)
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next"], 1);
    assert!(!page["consistency"].as_array().unwrap().is_empty());

    // A puller verifies the feed page by page against A's signed checkpoints (the sync
    // verifier of treaty-federation, fed the node's wire format), and tampering is caught.
    let (_, vk) = a.get_text("/v1/log/verifier-key").await;
    let origin = a.get_json("/healthz").await.1["origin"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut log = treaty_federation::PeerLog::empty();
    let mut pages = 0;
    loop {
        let url = format!("{feed}?since={}&limit=2", log.size);
        let (status, page, _) = Req::new(Method::GET, url, None, &kb)
            .send(&http)
            .await
            .unwrap();
        assert_eq!(status, 200, "{page}");
        let parsed = feed_page(&page);
        let applied = treaty_federation::verify_page(&log, &parsed, vk.trim(), &origin)
            .unwrap_or_else(|d| panic!("{}: {}", d.kind.as_str(), d.detail));
        if pages == 0 && !parsed.entries.is_empty() {
            // The same page with one leaf hash flipped never verifies.
            let mut bad = feed_page(&page);
            if let Some(treaty_federation::FeedEntry::Hash { leaf_hash, .. }) = bad
                .entries
                .iter_mut()
                .find(|e| matches!(e, treaty_federation::FeedEntry::Hash { .. }))
            {
                leaf_hash[0] ^= 1;
                assert!(treaty_federation::verify_page(&log, &bad, vk.trim(), &origin).is_err());
            }
        }
        pages += 1;
        let done = applied.log.size == applied.checkpoint.size();
        log = applied.log;
        if done {
            break;
        }
    }
    // A's log may have grown meanwhile (a cosignature from its witness B is an entry):
    // the pull ends at the checkpoint of its last page, which covers the first page's.
    assert!(
        log.size >= page_size(&body),
        "{} < {}",
        log.size,
        page_size(&body)
    );
    assert!(pages >= 2);

    // Bad input on the other level-1 endpoints is refused with its code: a notification
    // whose checkpoint B did not sign (A's own), one that is no note, and a registry-cards
    // cursor beyond what SQLite holds.
    let notify = format!("{}/v1/federation/notify", a.url);
    let (_, own) = a.get_text("/checkpoint").await;
    for checkpoint in [own.as_str(), "not a note"] {
        let (status, body, _) = Req::new(
            Method::POST,
            notify.clone(),
            Some(json!({"checkpoint": checkpoint})),
            &kb,
        )
        .send(&http)
        .await
        .unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_checkpoint")),
            "{body}"
        );
    }
    let (status, body, _) = Req::new(
        Method::GET,
        format!(
            "{}/v1/federation/registry-cards?since={}",
            a.url,
            1u64 << 63
        ),
        None,
        &kb,
    )
    .send(&http)
    .await
    .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("since_out_of_range")),
        "{body}"
    );
    // B's own checkpoint is accepted.
    let (_, theirs) = b.get_text("/checkpoint").await;
    let (status, body, _) = Req::new(
        Method::POST,
        notify.clone(),
        Some(json!({"checkpoint": theirs})),
        &kb,
    )
    .send(&http)
    .await
    .unwrap();
    assert_eq!(
        (status, body["accepted"].as_bool()),
        (202, Some(true)),
        "{body}"
    );

    // Peers, keys and agreements survive a crash of A.
    a.restart();
    let (status, body, _) = Req::new(Method::GET, feed.clone(), None, &kb)
        .send(&http)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, at_a) = op(
        &a,
        Method::GET,
        &format!("/v1/federation/agreements/{aid}"),
        None,
    )
    .await;
    assert_eq!(at_a["agreement_hash"], hash);

    // Revocation with notice: in force until the notice runs out, on both sides.
    let (code, out, err) = cli(
        &[
            "agreements",
            "revoke",
            &aid,
            "--notice",
            "2",
            "--reason",
            "drill",
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (_, at_b) = op(
        &b,
        Method::GET,
        &format!("/v1/federation/agreements/{aid}"),
        None,
    )
    .await;
    assert_eq!(at_b["status"], "revoking", "{at_b}");
    wait_for("the revocation to take effect", || async {
        let (status, _, _) = Req::new(Method::GET, feed.clone(), None, &kb)
            .send(&http)
            .await
            .unwrap();
        (status == 403).then_some(())
    })
    .await;
    for n in [&a, &b] {
        let (_, ag) = op(
            n,
            Method::GET,
            &format!("/v1/federation/agreements/{aid}"),
            None,
        )
        .await;
        assert_eq!(ag["status"], "revoked");
        assert!(
            entry_kinds(n)
                .await
                .contains(&"fed_trust_revoked".to_owned())
        );
    }

    // A rejection closes a proposal on both sides.
    let (_, body) = op(
        &b,
        Method::POST,
        "/v1/federation/proposals",
        Some(&json!({"target": ida, "trust_level": 3})),
    )
    .await;
    let pid2 = body["id"].as_str().unwrap().to_owned();
    let (code, out, err) = cli(
        &[
            "proposals",
            "reject",
            &pid2,
            "--reason",
            "not now",
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    for n in [&a, &b] {
        let (_, p) = op(
            n,
            Method::GET,
            &format!("/v1/federation/proposals/{pid2}"),
            None,
        )
        .await;
        assert_eq!(p["status"], "rejected", "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_admit_peers_and_revocation_revokes_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(
        dir.path(),
        "a",
        &[("TREATY_FEDERATION_REQUIRE_LICENSE", "true")],
    );
    let b = start(dir.path(), "b", &[]);
    let idb = node_id(&b).await;
    let add = |license: Option<&str>| {
        let mut body = json!({"url": a.url});
        if let Some(l) = license {
            body["license"] = json!(l);
        }
        body
    };
    // Without a license A refuses B's registration; A records nothing.
    let (_, body) = op(&b, Method::POST, "/v1/federation/peers", Some(&add(None))).await;
    assert_eq!(body["registration"]["ok"], false, "{body}");
    assert_eq!(body["registration"]["answer"]["code"], "license_required");
    assert!(peer_at(&a, &idb).await.is_none());

    let (code, out, err) = cli(
        &[
            "license",
            "issue",
            "--name",
            "b",
            "--max-events-per-minute",
            "500",
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("trt_lic_"))
        .expect("the key is printed")
        .to_owned();
    assert_eq!(key.len(), 72);
    let (_, list) = op(&a, Method::GET, "/v1/federation/licenses", None).await;
    let lid = list["licenses"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        !list.to_string().contains(&key),
        "the key is never shown again"
    );

    let (_, body) = op(
        &b,
        Method::POST,
        "/v1/federation/peers",
        Some(&add(Some(&key))),
    )
    .await;
    assert_eq!(body["registration"]["ok"], true, "{body}");
    let peer = wait_status(&a, &idb, "ACTIVE").await;
    assert_eq!(peer["license_id"], lid);

    let kb = node_key(&b);
    let http = http_client(None, None);
    let feed = format!("{}/v1/federation/entries", a.url);
    let call = || async {
        Req::new(Method::GET, feed.clone(), None, &kb)
            .send(&http)
            .await
            .unwrap()
    };
    assert_eq!(call().await.1["code"], "trust_level_insufficient");

    let (code, _, err) = cli(
        &[
            "license",
            "suspend",
            &lid,
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (status, body, _) = call().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("license_suspended"))
    );
    let (code, _, err) = cli(
        &[
            "license",
            "resume",
            &lid,
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(call().await.1["code"], "trust_level_insufficient");

    let (code, _, err) = cli(
        &[
            "license",
            "revoke",
            &lid,
            "--url",
            &a.url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(peer_at(&a, &idb).await.unwrap()["status"], "REVOKED");
    let (status, body, _) = call().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("peer_revoked")),
        "{body}"
    );
    // A revoked license stays revoked, and the peer cannot register its way back.
    let (status, body) = op(
        &a,
        Method::PUT,
        &format!("/v1/federation/licenses/{lid}"),
        Some(&json!({"status": "active"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (_, body) = op(
        &b,
        Method::POST,
        "/v1/federation/peers",
        Some(&add(Some(&key))),
    )
    .await;
    assert_eq!(
        body["registration"]["answer"]["code"], "peer_revoked",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_peer_gets_429_with_retry_after_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(
        dir.path(),
        "a",
        &[
            ("TREATY_RATE_PEER_PER_MINUTE", "3"),
            ("TREATY_RATE_PERIOD_MS", "3000"),
        ],
    );
    let b = start(dir.path(), "b", &[]);
    peer_up(&b, &a).await;
    let kb = node_key(&b);
    let http = http_client(None, None);
    let feed = format!("{}/v1/federation/entries", a.url);
    let call = || async {
        Req::new(Method::GET, feed.clone(), None, &kb)
            .send(&http)
            .await
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(call().await.0, 403);
    }
    let (status, body, retry) = call().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    let first: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(first >= 1);
    // Hitting it again during the cool-down keeps refusing; the cool-down does not shrink.
    let (status, _, retry) = call().await;
    assert_eq!(status, 429);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // A client that honours Retry-After is served again once the cool-down is over.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body, retry) = call().await;
        if status == 403 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(Instant::now() < deadline, "never recovered");
        let wait: u64 = retry.expect("Retry-After").parse().unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

fn page_size(page: &Value) -> u64 {
    page["tree_size"].as_u64().unwrap()
}

/// The node's feed answer as the sync verifier's page.
fn feed_page(page: &Value) -> treaty_federation::FeedPage {
    let entries = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let index = e["index"].as_u64().unwrap();
            match e["leaf"].as_str() {
                Some(leaf) => treaty_federation::FeedEntry::Full {
                    index,
                    leaf: unb64(leaf),
                },
                None => treaty_federation::FeedEntry::Hash {
                    index,
                    leaf_hash: unb64(e["leaf_hash"].as_str().unwrap()).try_into().unwrap(),
                },
            }
        })
        .collect();
    treaty_federation::FeedPage {
        since: page["since"].as_u64().unwrap(),
        entries,
        checkpoint: page["checkpoint"].as_str().unwrap().to_owned(),
        consistency: page["consistency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unb64(h.as_str().unwrap()).try_into().unwrap())
            .collect(),
    }
}

/// A CA made by `treaty certs ca`: its directory, certificate and fingerprint.
struct Ca {
    dir: PathBuf,
    cert: PathBuf,
    fingerprint: String,
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn make_ca(dir: &Path, name: &str) -> Ca {
    let ca_dir = dir.join(name);
    let (code, out, err) = cli(&["certs", "ca", "--out-dir", p(&ca_dir)], &[]);
    assert_eq!(code, 0, "{err}");
    let fingerprint = out
        .lines()
        .find_map(|l| l.strip_prefix("ca fingerprint: "))
        .unwrap()
        .to_owned();
    Ca {
        cert: ca_dir.join("ca.pem"),
        dir: ca_dir,
        fingerprint,
    }
}

/// A node certificate (chain) and key for 127.0.0.1 with a SPIFFE ID.
fn make_cert(dir: &Path, ca: &Ca, name: &str, spiffe: &str) -> (PathBuf, PathBuf) {
    let out = dir.join("certs");
    let (code, _, err) = cli(
        &[
            "certs",
            "node",
            "--ca-dir",
            p(&ca.dir),
            "--out-dir",
            p(&out),
            "--name",
            name,
            "--ip",
            "127.0.0.1",
            "--spiffe-id",
            spiffe,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    (
        out.join(format!("{name}.pem")),
        out.join(format!("{name}.key")),
    )
}

/// A node serving HTTPS that asks for client certificates from `ca` and whose card declares
/// `spiffe` pinned to `ca`.
fn mtls_node(dir: &Path, name: &str, ca: &Ca, cert: &(PathBuf, PathBuf), spiffe: &str) -> TestNode {
    let root = dir.join(name);
    let data = root.join("node");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("treaty.toml"),
        format!(
            "[card]\nspiffe_id = \"{spiffe}\"\nca_fingerprint = \"{}\"\n",
            ca.fingerprint
        ),
    )
    .unwrap();
    TestNode::start_args(
        &root,
        &[
            "--tls-cert",
            p(&cert.0),
            "--tls-key",
            p(&cert.1),
            "--tls-client-ca",
            p(&ca.cert),
            "--tls-client-auth",
            "optional",
        ],
        Some(&ca.cert),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_binds_the_client_certificate_to_the_peers_card() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = make_ca(d, "ca1");
    let other_ca = make_ca(d, "ca2");
    let a_cert = make_cert(d, &ca, "a", "spiffe://a.test/registry");
    let b_cert = make_cert(d, &ca, "b", "spiffe://b.test/registry");
    let evil = make_cert(d, &ca, "evil", "spiffe://evil.test/registry");
    let foreign = make_cert(d, &other_ca, "b-foreign", "spiffe://b.test/registry");
    let a = mtls_node(d, "a", &ca, &a_cert, "spiffe://a.test/registry");
    let b = mtls_node(d, "b", &ca, &b_cert, "spiffe://b.test/registry");
    assert!(a.url.starts_with("https://"));

    // Registration both ways over mTLS: each node presents its certificate to the other.
    peer_up(&b, &a).await;
    let idb = node_id(&b).await;
    let at_a = peer_at(&a, &idb).await.unwrap();
    assert_eq!(at_a["spiffe_id"], "spiffe://b.test/registry");
    assert_eq!(at_a["ca_fingerprint"], json!(ca.fingerprint));

    let kb = node_key(&b);
    let feed = format!("{}/v1/federation/entries", a.url);
    let as_b = |client: reqwest::Client| {
        let feed = feed.clone();
        let kb = &kb;
        async move { Req::new(Method::GET, feed, None, kb).send(&client).await }
    };
    // B's signature inside B's mTLS session: authenticated (then gated by trust level).
    let (status, body, _) = as_b(http_client(Some(&ca.cert), Some((&b_cert.0, &b_cert.1))))
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("trust_level_insufficient")),
        "{body}"
    );
    // Signatures over a session without a client certificate still work (optional mode).
    let (status, _, _) = as_b(http_client(Some(&ca.cert), None)).await.unwrap();
    assert_eq!(status, 403);
    // B's signature with a certificate naming another SPIFFE ID: refused.
    let (status, body, _) = as_b(http_client(Some(&ca.cert), Some((&evil.0, &evil.1))))
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("mtls_spiffe_mismatch")),
        "{body}"
    );
    // A certificate from a CA the node does not trust: the handshake itself fails.
    let err = as_b(http_client(Some(&ca.cert), Some((&foreign.0, &foreign.1))))
        .await
        .unwrap_err();
    assert!(!err.is_empty());
}
