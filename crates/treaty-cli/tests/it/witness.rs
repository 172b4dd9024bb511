//! Witnessing with real nodes: C2SP add-checkpoint (including 409 and its recovery),
//! cosigned checkpoints and quorum receipts, cross-anchors, a node that rewrites its
//! history caught by its witness and by a third node comparing views, and restarts that
//! must never look like forks.
//!
//! Nodes run with a one-hour sync interval and a one-hour views interval, so every
//! comparison is one the test asks for; cosignatures follow each checkpoint at once.
//! Asynchronous outcomes are waited for as conditions, never with sleeps.

use crate::federation::{node_id, op, peer_at, peer_up, start, wait_for, wait_status};
use crate::harness::{TestNode, agent_card, cli, unb64};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use treaty_note::{Receipt, VerifierKey};

/// Background work only when a test causes it (cosigning follows checkpoints regardless).
const QUIET: [(&str, &str); 4] = [
    ("TREATY_SYNC_INTERVAL_MS", "3600000"),
    ("TREATY_VIEWS_INTERVAL_MS", "3600000"),
    ("TREATY_CROSS_ANCHOR_INTERVAL_MS", "3600000"),
    ("TREATY_WITNESS_EVENT_FLUSH_MS", "50"),
];

/// An agreement of `level` between `a` and `b`: `a` proposes, `b` accepts.
async fn agree(a: &TestNode, b: &TestNode, level: u8) {
    let idb = node_id(b).await;
    let terms = json!({"collections": [], "verification_frequency": "hourly",
        "retention_days": 30, "audit_rights": false});
    let (status, body) = op(
        a,
        Method::POST,
        "/v1/federation/proposals",
        Some(&json!({"target": idb, "trust_level": level, "terms": terms})),
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

async fn text(n: &TestNode, path: &str) -> String {
    let (status, body) = n.get_text(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn note_size(note: &str) -> u64 {
    let parsed = treaty_note::Note::parse(note).unwrap();
    treaty_note::Checkpoint::parse(parsed.text())
        .unwrap()
        .size()
}

async fn witness_key(n: &TestNode) -> VerifierKey {
    VerifierKey::parse(text(n, "/v1/witness/verifier-key").await.trim()).unwrap()
}

async fn log_key(n: &TestNode) -> VerifierKey {
    VerifierKey::parse(text(n, "/v1/log/verifier-key").await.trim()).unwrap()
}

/// The cosigners (witness key names) on `log`'s served checkpoint, if it covers at least
/// `min_size` entries.
async fn cosigners(
    log: &TestNode,
    witnesses: &[VerifierKey],
    min_size: u64,
) -> Option<Vec<String>> {
    let note = text(log, "/checkpoint").await;
    let opened = treaty_note::open_checkpoint(&note, &log_key(log).await, witnesses).ok()?;
    (opened.checkpoint.size() >= min_size).then(|| {
        let mut names: Vec<String> = opened
            .cosignatures
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        names.sort();
        names
    })
}

/// Waits until `log`'s served checkpoint covers ledger index `index` and carries a
/// cosignature by every one of `witnesses`; answers its size.
async fn wait_cosigned(log: &TestNode, witnesses: &[VerifierKey], index: u64) -> u64 {
    wait_for("the checkpoint to be cosigned", || async {
        let note = text(log, "/checkpoint").await;
        let got = cosigners(log, witnesses, index + 1).await?;
        (got.len() == witnesses.len()).then(|| note_size(&note))
    })
    .await
}

/// Writes an agent card; answers its ledger index.
async fn put(n: &TestNode, key: &str) -> u64 {
    let (status, body) = n.put("agent-card", key, &agent_card(key)).await;
    assert_eq!(status, 201, "{body}");
    body["ledger_index"].as_u64().unwrap()
}

async fn post_checkpoint(witness: &TestNode, body: String) -> (u16, String, String) {
    let resp = witness
        .http
        .post(format!("{}/witness/add-checkpoint", witness.url))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap())
}

fn request(old: u64, proof: &[String], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for p in proof {
        body.push_str(p);
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

async fn consistency(n: &TestNode, from: u64, to: u64) -> Vec<String> {
    let (status, body) = n
        .get_json(&format!("/v1/log/proof/consistency?from={from}&to={to}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

async fn discrepancies(n: &TestNode) -> Vec<Value> {
    let (status, body) = op(n, Method::GET, "/v1/federation/discrepancies", None).await;
    assert_eq!(status, 200, "{body}");
    body["discrepancies"].as_array().unwrap().clone()
}

async fn history(n: &TestNode, peer: &str) -> Vec<Value> {
    let (status, body) = n
        .get_json(&format!(
            "/v1/federation/witness-history?peer={peer}&limit=1000"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

fn pair(dir: &Path, a: &str, b: &str) -> (TestNode, TestNode) {
    (start(dir, a, &QUIET), start(dir, b, &QUIET))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_checkpoint_follows_c2sp_including_409_and_its_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path(), "a", "b");
    peer_up(&a, &b).await;
    // A level-1 agreement does not make peers witnesses: B does not know A's log.
    agree(&a, &b, 1).await;
    put(&a, "before").await;
    let note = text(&a, "/checkpoint").await;
    let (status, ctype, body) = post_checkpoint(&b, request(0, &[], &note)).await;
    assert_eq!(status, 404, "{body}");
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");

    agree(&a, &b, 2).await;
    let (kb, ka) = (witness_key(&b).await, witness_key(&a).await);
    let at = put(&a, "one").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;
    // ... and A witnesses B in return.
    let at = put(&b, "b-one").await;
    wait_cosigned(&b, std::slice::from_ref(&ka), at).await;
    // What B last cosigned of A (A's ledger has grown since, by the witness events): the
    // checkpoint in the receipt of A's record, the newest with B's cosignature.
    let (ida, idb) = (node_id(&a).await, node_id(&b).await);
    let receipt = text(&a, "/v1/records/agent-card/one/receipt").await;
    let served = Receipt::parse(receipt.as_bytes())
        .unwrap()
        .checkpoint_note()
        .to_owned();
    let size = note_size(&served);

    // Malformed requests: 400, nothing stored.
    for bad in [
        "old 01\n\n".to_owned() + &served,
        "old x\n\n".to_owned() + &served,
        format!("old {size}\n{served}"),
        format!("old {}\n\n{served}", size + 1),
    ] {
        let (status, _, body) = post_checkpoint(&b, bad).await;
        assert_eq!(status, 400, "{body}");
    }
    // A checkpoint not signed by A's key: 403.
    let forged = served.replacen("— ", "— x", 1);
    let (status, _, body) = post_checkpoint(&b, request(0, &[], &forged)).await;
    assert!(status == 403 || status == 400, "{status} {body}");

    // The 409 path: B last cosigned `size`; old 0 is answered with that size.
    let (status, ctype, body) = post_checkpoint(&b, request(0, &[], &served)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(ctype, "text/x.tlog.size");
    assert_eq!(body, format!("{size}\n"));
    // With the right old size the same checkpoint is cosigned again.
    let (status, _, body) = post_checkpoint(&b, request(size, &[], &served)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("— ") && body.ends_with('\n'), "{body}");
    let sig = treaty_note::Signature::parse_line(body.trim_end()).unwrap();
    let cp_body = treaty_note::open_checkpoint(&served, &log_key(&a).await, &[])
        .unwrap()
        .checkpoint
        .to_body();
    treaty_note::verify_cosignature(&cp_body, &sig, &kb).expect("the cosignature verifies");

    // Recovery of the log side: B moves ahead of what A recorded (B was down when A
    // checkpointed, and someone else brought it the checkpoint), then A's next push gets a
    // 409, takes B's size and is cosigned.
    b.kill9();
    put(&a, "while-b-is-down").await;
    let ahead = text(&a, "/checkpoint").await;
    let ahead_size = note_size(&ahead);
    b.restart();
    let proof = consistency(&a, size, ahead_size).await;
    let (status, _, body) = post_checkpoint(&b, request(size, &proof, &ahead)).await;
    assert_eq!(status, 200, "{body}");
    let at = put(&a, "after").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;

    // Both sides recorded the cosignatures as ledger entries.
    // B's history about A holds the cosignatures B gave A, and those A gave B.
    let given = wait_for("B's witness events", || async {
        let h: Vec<Value> = history(&b, &ida)
            .await
            .into_iter()
            .filter(|e| e["event"]["role"] == "given")
            .collect();
        let has = |m: &str| h.iter().any(|e| e["event"]["verification_method"] == m);
        (has("consistency_proof") && has("same_checkpoint")).then_some(h)
    })
    .await;
    for e in &given {
        assert_eq!(e["event"]["verification_result"], "cosigned", "{e}");
        assert_eq!(e["event"]["origin"], log_key(&a).await.name(), "{e}");
    }
    let methods: Vec<&str> = given
        .iter()
        .filter_map(|e| e["event"]["verification_method"].as_str())
        .collect();
    assert!(methods.contains(&"consistency_proof"), "{methods:?}");
    assert!(methods.contains(&"same_checkpoint"), "{methods:?}");
    let received = wait_for("A's witness events", || async {
        let h = history(&a, &idb).await;
        h.iter()
            .any(|e| e["event"]["role"] == "received")
            .then_some(h)
    })
    .await;
    assert!(
        received
            .iter()
            .filter(|e| e["event"]["role"] == "received")
            .all(|e| e["event"]["witness"] == kb.name())
    );
    // The CLI reads the same history.
    let (code, out, err) = cli(
        &["witness", "history", "--url", &a.url, "--peer", &idb],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("received"), "{out}");
    // Nothing here was a discrepancy, and nobody was suspended.
    assert!(discrepancies(&a).await.is_empty());
    assert!(discrepancies(&b).await.is_empty());
    assert_eq!(peer_at(&a, &idb).await.unwrap()["status"], "ACTIVE");
    assert_eq!(peer_at(&b, &ida).await.unwrap()["status"], "ACTIVE");

    // A checkpoint of the size B holds with another root, signed with A's ledger key (as a
    // node rewriting its history would): B answers 422 with the evidence, writes the fork
    // to its ledger and suspends A.
    let held = note_size(&ahead).max(size);
    let (_, probe) = {
        let (status, _, body) = post_checkpoint(&b, request(0, &[], &ahead)).await;
        assert_eq!(status, 409, "{body}");
        (status, body)
    };
    let held_size: u64 = probe.trim().parse().unwrap();
    assert!(held_size >= held);
    let signer = treaty_note::SignerKey::parse(
        std::fs::read_to_string(a.data_dir.join("ledger.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let forged_cp =
        treaty_note::Checkpoint::new(log_key(&a).await.name(), held_size, [7u8; 32]).unwrap();
    let forged_note =
        treaty_note::sign_checkpoint(&forged_cp, signer.name(), signer.signing_key()).unwrap();
    let (status, ctype, body) = post_checkpoint(&b, request(held_size, &[], &forged_note)).await;
    assert_eq!(status, 422, "{body}");
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "fork_detected", "{problem}");
    assert_eq!(problem["evidence"]["kind"], "same_size", "{problem}");
    wait_status(&b, &ida, "SUSPENDED").await;
    let fork = wait_for("B to record the fork", || async {
        discrepancies(&b)
            .await
            .into_iter()
            .find(|d| d["kind"] == "fork")
    })
    .await;
    assert_eq!(fork["evidence"]["detected_by"], "witness", "{fork}");
    verify_evidence(dir.path(), "fork.json", &fork, &log_key(&a).await);
    // The forged checkpoint was not stored: the held one answers the next 409.
    let (status, _, body) = post_checkpoint(&b, request(0, &[], &ahead)).await;
    assert!(
        status == 404 || body == format!("{held_size}\n"),
        "{status} {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_receipts_verify_and_fail_with_too_few_cosignatures() {
    let dir = tempfile::tempdir().unwrap();
    let witnesses: Vec<TestNode> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| start(dir.path(), n, &QUIET))
        .collect();
    let mut keys = Vec::new();
    for w in &witnesses {
        keys.push(witness_key(w).await);
    }
    // The log's quorum: all three witnesses.
    let policy_lines: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("witness w{i} {k}\n"))
        .collect();
    let node_policy = format!("{policy_lines}group all3 all w0 w1 w2\nquorum all3\n");
    let log_dir = dir.path().join("log").join("node");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(
        log_dir.join("treaty.toml"),
        format!("[witness]\npolicy = \"\"\"\n{node_policy}\"\"\"\n"),
    )
    .unwrap();
    let log = start(dir.path(), "log", &QUIET);
    for w in &witnesses {
        peer_up(&log, w).await;
        agree(&log, w, 2).await;
    }
    let at = put(&log, "quorum").await;
    wait_cosigned(&log, &keys, at).await;
    let receipt = text(&log, "/v1/records/agent-card/quorum/receipt").await;
    let (_, record) = log.get_json("/v1/records/agent-card/quorum").await;
    let lk = log_key(&log).await;

    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let write = |name: &str, content: &str| {
        let p = files.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    };
    let receipt_file = write("receipt", &receipt);
    let record_file = write("record.json", &record.to_string());
    let verify = |policy: &str, receipt: &str| {
        let p = write("policy", policy);
        cli(
            &[
                "verify",
                "--receipt",
                receipt,
                "--record",
                &record_file,
                "--policy",
                &p,
            ],
            &[],
        )
    };
    // 2 of 3 and 3 of 3 hold.
    for quorum in [
        "group q 2 w0 w1 w2\nquorum q\n",
        "group q all w0 w1 w2\nquorum q\n",
    ] {
        let (code, out, err) = verify(&format!("log {lk}\n{policy_lines}{quorum}"), &receipt_file);
        assert_eq!(code, 0, "{quorum}: {out}{err}");
        assert!(out.starts_with("VERIFIED"), "{out}");
    }
    // A fourth witness that never cosigned: 4 of 4 is not met.
    let extra = witness_key(&start(dir.path(), "w4", &QUIET)).await;
    let (code, out, _) = verify(
        &format!("log {lk}\n{policy_lines}witness w3 {extra}\ngroup q all w0 w1 w2 w3\nquorum q\n"),
        &receipt_file,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT VERIFIED"), "{out}");
    // The receipt with one cosignature cut: 3 of 3 fails, 2 of 3 still holds.
    let cut_line = receipt
        .lines()
        .find(|l| l.starts_with(&format!("— {} ", keys[2].name())))
        .expect("w2's cosignature is in the receipt");
    let cut = write("cut", &receipt.replace(&format!("{cut_line}\n"), ""));
    let (code, out, _) = verify(
        &format!("log {lk}\n{policy_lines}group q all w0 w1 w2\nquorum q\n"),
        &cut,
    );
    assert_eq!(code, 1, "{out}");
    let (code, out, _) = verify(
        &format!("log {lk}\n{policy_lines}group q 2 w0 w1 w2\nquorum q\n"),
        &cut,
    );
    assert_eq!(code, 0, "{out}");
    // The receipt also verifies offline in-process, against the policy's keys.
    let parsed = Receipt::parse(receipt.as_bytes()).unwrap();
    let policy =
        treaty_note::Policy::parse(&format!("log {lk}\n{policy_lines}quorum w1\n")).unwrap();
    let leaf = treaty_types::LedgerEntry::record_from_json(&record)
        .unwrap()
        .to_leaf_bytes()
        .unwrap();
    parsed.verify_entry_with_policy(&leaf, &policy).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_anchor_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path(), "a", "b");
    peer_up(&a, &b).await;
    agree(&a, &b, 3).await;
    let (ka, kb) = (witness_key(&a).await, witness_key(&b).await);
    let at = put(&b, "anchored").await;
    let b_size = wait_cosigned(&b, std::slice::from_ref(&ka), at).await;
    let idb = node_id(&b).await;
    // A anchors B's latest checkpoint it verified (as B's witness).
    let (status, body) = op(&a, Method::POST, "/v1/admin/federation/cross-anchor", None).await;
    assert_eq!(status, 200, "{body}");
    let anchored = body["anchored"].as_array().unwrap();
    assert_eq!(anchored.len(), 1, "{body}");
    assert!(anchored[0]["size"].as_u64().unwrap() >= b_size, "{body}");
    // A checkpoint is anchored once: a second round anchors only a larger one (B's log
    // may have grown meanwhile, by the witness events of A's cosignature).
    let first = anchored[0]["size"].as_u64().unwrap();
    let (_, again) = op(&a, Method::POST, "/v1/admin/federation/cross-anchor", None).await;
    for e in again["anchored"].as_array().unwrap() {
        assert!(e["size"].as_u64().unwrap() > first, "{again}");
    }
    // The proof, once A's checkpoint covering the anchor is cosigned by B.
    let anchor_index = anchored[0]["ledger_index"].as_u64().unwrap();
    wait_cosigned(&a, std::slice::from_ref(&kb), anchor_index).await;
    let (status, proof) = a
        .get_json(&format!("/v1/federation/cross-anchors/{idb}?size={first}"))
        .await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["ledger_index"], anchor_index, "{proof}");
    let leaf = unb64(proof["leaf"].as_str().unwrap());
    let receipt = Receipt::parse(proof["receipt"].as_str().unwrap().as_bytes()).unwrap();
    let verified = receipt
        .verify_entry(&leaf, &log_key(&a).await, std::slice::from_ref(&kb), 1)
        .expect("the anchor entry is in A's ledger, under a checkpoint B cosigned");
    assert_eq!(verified.index, proof["ledger_index"].as_u64().unwrap());
    let entry: Value = serde_json::from_slice(&leaf).unwrap();
    assert_eq!(entry["kind"], "fed_cross_anchor");
    assert_eq!(entry["document"]["anchored_node_id"], idb.as_str());
    // ... and the anchored checkpoint is B's, signed by B's log key.
    let note = entry["document"]["checkpoint"].as_str().unwrap();
    let opened = treaty_note::open_checkpoint(note, &log_key(&b).await, &[]).unwrap();
    assert_eq!(
        opened.checkpoint.size(),
        entry["document"]["size"].as_u64().unwrap()
    );
    // The same through the CLI: written to a file, checked with `treaty verify --entry`.
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let out_file = files.join("anchor.json");
    let (code, _, err) = cli(
        &[
            "witness",
            "cross-anchors",
            "--url",
            &a.url,
            &idb,
            "--output",
            &out_file.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    std::fs::write(files.join("leaf"), &leaf).unwrap();
    std::fs::write(files.join("receipt"), proof["receipt"].as_str().unwrap()).unwrap();
    let (code, out, err) = cli(
        &[
            "verify",
            "--receipt",
            &files.join("receipt").to_string_lossy(),
            "--entry",
            &files.join("leaf").to_string_lossy(),
            "--key",
            &log_key(&a).await.to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    // A peer without a level-3 agreement has no anchor.
    let (status, body) = a
        .get_json("/v1/federation/cross-anchors/no-such-peer")
        .await;
    assert_eq!(status, 404, "{body}");
}

/// Runs the futures concurrently and answers their outputs in order.
async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(pinned.len());
    // Poll all of them together (they share one task): the writes reach the node at once.
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for d in done {
        out.extend(d);
    }
    out
}

/// Copies a stopped node's data directory.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Checks a discrepancy's evidence with `treaty verify-discrepancy`, pinned to `key`.
fn verify_evidence(dir: &Path, name: &str, discrepancy: &Value, key: &VerifierKey) {
    let path = dir.join(name);
    std::fs::write(&path, discrepancy.to_string()).unwrap();
    let (code, out, err) = cli(
        &[
            "verify-discrepancy",
            &path.to_string_lossy(),
            "--key",
            &key.to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("FORK PROVEN"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_rewrites_its_history_is_caught_by_its_witness_and_by_views() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = start(dir.path(), "x", &QUIET);
    let w = start(dir.path(), "w", &QUIET);
    let c = start(dir.path(), "c", &QUIET);
    peer_up(&x, &w).await;
    peer_up(&x, &c).await;
    peer_up(&w, &c).await;
    // W witnesses X; C and W share views; C has no agreement with X (it only knows X's
    // card), so C holds no copy of X's log and reads X's checkpoint when comparing.
    agree(&x, &w, 2).await;
    agree(&w, &c, 1).await;
    let (idx, kx, kw) = (node_id(&x).await, log_key(&x).await, witness_key(&w).await);
    let at = put(&x, "first").await;
    wait_cosigned(&x, std::slice::from_ref(&kw), at).await;

    // X's operator keeps a copy of X as it is now...
    x.kill9();
    let snapshot = dir.path().join("x-snapshot");
    copy_dir(&x.data_dir, &snapshot);
    x.restart();
    // ... X goes on, and W cosigns what X shows it.
    let mut last = 0;
    for k in ["genuine-1", "genuine-2", "genuine-3"] {
        last = put(&x, k).await;
    }
    wait_cosigned(&x, std::slice::from_ref(&kw), last).await;
    let idx_at_w = idx.clone();
    let witnessed = wait_for("W's view of X", || async {
        let (_, v) = op(&w, Method::GET, "/v1/federation/views", None).await;
        v["views"]
            .as_array()?
            .iter()
            .find(|v| v["node_id"] == idx_at_w.as_str())
            .and_then(|v| v["size"].as_u64())
    })
    .await;

    // Then X rewrites its history: back to the copy, other records, same keys and address.
    x.kill9();
    std::fs::remove_dir_all(&x.data_dir).unwrap();
    copy_dir(&snapshot, &x.data_dir);
    x.restart();
    // The rewritten records land in one batch, so X's first new checkpoint is already
    // past what W holds of X.
    let have = crate::federation::ledger_size(&x).await;
    let n = usize::try_from(witnessed.saturating_sub(have)).unwrap() + 2;
    let writes: Vec<_> = (0..n)
        .map(|i| {
            let key = format!("rewritten-{i}");
            let body = agent_card(&key);
            let x = &x;
            async move { x.put("agent-card", &key, &body).await }
        })
        .collect();
    for (status, body) in futures_join(writes).await {
        assert_eq!(status, 201, "{body}");
    }

    // W, shown the rewritten history (asked to cosign it, or pulling it), refuses it and
    // suspends X with evidence: X's own proof does not connect what W holds to it.
    let at_w = wait_for("W to record the fork", || async {
        discrepancies(&w)
            .await
            .into_iter()
            .find(|d| d["kind"] == "fork")
    })
    .await;
    wait_status(&w, &idx, "SUSPENDED").await;
    let by = at_w["evidence"]["detected_by"].as_str().unwrap();
    assert!(by == "witness" || by == "sync", "{at_w}");
    assert_eq!(at_w["evidence"]["severity"], "critical", "{at_w}");
    verify_evidence(dir.path(), "w-evidence.json", &at_w, &kx);

    // C compares views: W's view of X against X's own checkpoint.
    let (status, report) = op(&c, Method::POST, "/v1/admin/federation/compare-views", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["forks"], 1, "{report}");
    wait_status(&c, &idx, "SUSPENDED").await;
    let at_c = discrepancies(&c)
        .await
        .into_iter()
        .find(|d| d["kind"] == "fork")
        .expect("C recorded the fork");
    assert_eq!(at_c["evidence"]["detected_by"], "views", "{at_c}");
    verify_evidence(dir.path(), "c-evidence.json", &at_c, &kx);
    // Under another log's key the evidence proves nothing.
    let path = dir.path().join("c-evidence.json");
    let (code, out, _) = cli(
        &[
            "verify-discrepancy",
            &path.to_string_lossy(),
            "--key",
            &log_key(&w).await.to_string(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");

    // Both forks are ledger entries too.
    for n in [&w, &c] {
        let (_, body) = n.get_json("/v1/log/entries?start=0&limit=1000").await;
        let kinds: Vec<String> = body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let leaf: Value =
                    serde_json::from_slice(&unb64(e["leaf"].as_str().unwrap())).unwrap();
                leaf["kind"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(kinds.iter().any(|k| k == "fed_discrepancy"), "{kinds:?}");
    }
    // A suspended peer is no longer witnessed: its checkpoints are unknown to W now.
    let note = text(&x, "/checkpoint").await;
    let (status, _, body) = post_checkpoint(&w, request(0, &[], &note)).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_restarts_never_look_like_forks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(dir.path(), "a", "b");
    peer_up(&a, &b).await;
    agree(&a, &b, 2).await;
    let (ka, kb) = (witness_key(&a).await, witness_key(&b).await);
    let at = put(&a, "one").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;
    // The log restarts (SIGKILL): it resends what it has and goes on.
    a.kill9();
    a.restart();
    let at = put(&a, "two").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;
    // The witness restarts: it remembers what it cosigned.
    b.kill9();
    b.restart();
    let at = put(&a, "three").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;
    let at = put(&b, "b").await;
    wait_cosigned(&b, std::slice::from_ref(&ka), at).await;
    // Both restart at once.
    a.kill9();
    b.kill9();
    a.restart();
    b.restart();
    let at = put(&a, "four").await;
    wait_cosigned(&a, std::slice::from_ref(&kb), at).await;
    let (ida, idb) = (node_id(&a).await, node_id(&b).await);
    // Views agree both ways, and nothing was ever a discrepancy.
    for n in [&a, &b] {
        let (status, report) =
            op(n, Method::POST, "/v1/admin/federation/compare-views", None).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["forks"], 0, "{report}");
        assert!(discrepancies(n).await.is_empty());
    }
    assert_eq!(peer_at(&a, &idb).await.unwrap()["status"], "ACTIVE");
    assert_eq!(peer_at(&b, &ida).await.unwrap()["status"], "ACTIVE");
}
