//! Durability: restarts keep everything, SIGKILL never loses an acknowledged write, and every
//! checkpoint a node ever published stays consistent with every later one.
//!
//! The crash test writes from many concurrent clients, watches checkpoints, kills the node
//! with SIGKILL after a different number of acknowledgements each round (so the kill lands
//! at different points of the sequencer's pipeline: queueing, signing, committing,
//! publishing), restarts it, and checks every acknowledged write and every checkpoint seen.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, cli, hash};
use crate::ledger::checkpoint;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use treaty_merkle::verify_consistency;
use treaty_note::{Checkpoint, VerifierKey, open_checkpoint};

/// Concurrent writers per round.
const WRITERS: usize = 16;
/// Acknowledgements to wait for before each kill: one kill point per round.
const KILL_AFTER_ACKS: &[usize] = &[1, 7, 40, 111, 250, 433, 701, 1000];
/// Longest a round may take to reach its kill point.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn restart_keeps_records_and_checkpoints_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    for i in 0..20 {
        node.put(
            "agent-card",
            &format!("a{i}"),
            &agent_card(&format!("n{i}")),
        )
        .await;
    }
    let (before, note_before) = checkpoint(&node).await;
    node.restart();
    let (after, note_after) = checkpoint(&node).await;
    // Nothing new was written: the same signed checkpoint is served, byte for byte.
    assert_eq!((after.size(), &note_after), (before.size(), &note_before));
    let (s, r) = node.get_json("/v1/records/agent-card/a7").await;
    assert_eq!((s, r["body"]["name"].as_str()), (200, Some("n7")));
    node.put("agent-card", "z", &agent_card("z")).await;
    let (later, _) = checkpoint(&node).await;
    assert_eq!(later.size(), 21);
    let (_, p) = node
        .get_json("/v1/log/proof/consistency?from=20&to=21")
        .await;
    let proof: Vec<_> = p["proof"].as_array().unwrap().iter().map(hash).collect();
    verify_consistency(20, 21, &proof, before.root(), later.root()).unwrap();
}

#[tokio::test]
async fn the_origin_is_pinned_to_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    node.kill9();
    let data = node.data_dir.to_str().unwrap().to_owned();
    let (code, _, err) = cli(
        &[
            "serve",
            "--data-dir",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "https://elsewhere.example",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("origin") && err.contains("elsewhere.example"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_at_many_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(dir.path());
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let key = VerifierKey::parse(key.trim()).unwrap();
    // key -> (version, body) of the newest acknowledged write.
    let acked: Arc<Mutex<HashMap<String, (u64, Value)>>> = Arc::default();
    let mut seen: Vec<Checkpoint> = Vec::new();

    for (round, &kill_after) in KILL_AFTER_ACKS.iter().enumerate() {
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let seen_round: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (url, http) = (node.url.clone(), node.http.clone());
            let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Mostly fresh keys, and one hot key per writer so versions climb.
                    let k = if i % 4 == 3 {
                        format!("hot-{w}")
                    } else {
                        format!("k{round}-{w}-{i}")
                    };
                    let body = json!({"round": round, "writer": w, "i": i});
                    let resp = http
                        .put(format!("{url}/v1/records/receipt/{k}"))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(resp) = resp else { break };
                    if !resp.status().is_success() {
                        break;
                    }
                    let Ok(ack) = resp.json::<Value>().await else {
                        break;
                    };
                    let version = ack["version"].as_u64().unwrap();
                    acked.lock().unwrap().insert(k, (version, body));
                    count.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
            }));
        }
        // A watcher keeps every checkpoint the node publishes.
        {
            let (url, http, key) = (node.url.clone(), node.http.clone(), key.clone());
            let (stop, seen_round) = (stop.clone(), seen_round.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = http.get(format!("{url}/checkpoint")).send().await else {
                        break;
                    };
                    let Ok(note) = r.text().await else { break };
                    let cp =
                        open_checkpoint(&note, &key, &[]).expect("published checkpoints verify");
                    seen_round.lock().unwrap().push(cp.checkpoint);
                    tokio::task::yield_now().await;
                }
            }));
        }
        // Wait for the kill point (a condition, not a fixed sleep), then SIGKILL mid-stream.
        let started = Instant::now();
        while count.load(Ordering::SeqCst) < kill_after {
            assert!(
                started.elapsed() < ROUND_TIMEOUT,
                "round {round} stalled at {}",
                count.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        seen.extend(seen_round.lock().unwrap().drain(..));

        node.restart();
        let (now, _) = checkpoint(&node).await;
        // Every acknowledged write is there, at its acknowledged version or later.
        let snapshot = acked.lock().unwrap().clone();
        for (k, (version, body)) in &snapshot {
            let (s, r) = node.get_json(&format!("/v1/records/receipt/{k}")).await;
            assert_eq!(s, 200, "round {round}: acknowledged {k} lost");
            let got = r["version"].as_u64().unwrap();
            assert!(
                got >= *version,
                "round {round}: {k} went back from v{version} to v{got}"
            );
            if got == *version {
                assert_eq!(&r["body"], body, "round {round}: {k} body changed");
            }
        }
        // Every checkpoint ever seen is a prefix of the new one.
        for cp in &seen {
            assert!(
                cp.size() <= now.size(),
                "round {round}: checkpoint {} beyond restart size {}",
                cp.size(),
                now.size()
            );
            let (s, p) = node
                .get_json(&format!(
                    "/v1/log/proof/consistency?from={}&to={}",
                    cp.size(),
                    now.size()
                ))
                .await;
            assert_eq!(s, 200);
            let proof: Vec<_> = p["proof"].as_array().unwrap().iter().map(hash).collect();
            verify_consistency(cp.size(), now.size(), &proof, cp.root(), now.root())
                .unwrap_or_else(|e| {
                    panic!("round {round}: checkpoint {} inconsistent: {e}", cp.size())
                });
        }
        seen.push(now);
        // Keep the consistency checks bounded: only distinct sizes matter.
        seen.sort_by_key(Checkpoint::size);
        seen.dedup_by_key(|c| c.size());
    }
    assert!(acked.lock().unwrap().len() >= KILL_AFTER_ACKS.iter().sum::<usize>() / 2);
}
