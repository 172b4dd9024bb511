//! Witnessing benchmarks.
//!
//! - `add-checkpoint`: C2SP add-checkpoint requests handled per second over HTTP by one
//!   witness node, from `--clients` concurrent logs (each a log configured by key in
//!   `witness.logs`, sending its checkpoints in order, each with its consistency proof from
//!   the previous one). Every answer must be a 200 with a cosignature that verifies.
//!   Baseline, same run: the same clients fetching `GET /v1/witness/verifier-key` (the
//!   HTTP cost without the witness's work).
//! - `quorum`: a log node with three witness peers (trust level 2); the time from a record
//!   write (the `PUT` sent) until the log serves a checkpoint covering it with cosignatures
//!   from all three. Baseline, same run: the write alone (the `PUT` acknowledged, durable
//!   and checkpointed).

use crate::sync::{Http, Node, client_runtime, peer_up, quiet};
use crate::{InProcessNode, median, percentile};
use anyhow::{Context as _, Result, ensure};
use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use treaty_merkle::{MemoryHashStore, consistency_proof, leaf_hash};
use treaty_node::config::{RateLimitSettings, WitnessSettings};
use treaty_note::{
    Checkpoint, KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, VerifierKey, sign_checkpoint,
};

/// The two parts.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Part {
    /// add-checkpoint calls handled per second over HTTP.
    AddCheckpoint {
        /// Concurrent logs (one client each).
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Checkpoints each log sends per run.
        #[arg(long, default_value_t = 500)]
        per_client: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Time from a record write to a checkpoint cosigned by a quorum of three witnesses.
    Quorum {
        /// Sequential writes measured.
        #[arg(long, default_value_t = 50)]
        writes: usize,
    },
}

/// Runs one part.
pub(crate) fn run(part: Part) -> Result<()> {
    match part {
        Part::AddCheckpoint {
            clients,
            per_client,
            runs,
        } => add_checkpoint(clients, per_client, runs),
        Part::Quorum { writes } => quorum(writes),
    }
}

/// No rate limits: the bench measures the witness, not the limiter.
fn unlimited() -> RateLimitSettings {
    RateLimitSettings {
        enabled: false,
        ..RateLimitSettings::default()
    }
}

/// One benchmark log: its key and its requests, in order.
struct BenchLog {
    requests: Vec<String>,
}

/// Builds a log of `n` entries and the add-checkpoint request for each size 1..=n, each
/// proving consistency with the previous size. Sizes start after `offset` runs' worth,
/// so that each run continues where the previous one left the witness.
fn bench_log(
    index: usize,
    store: &mut MemoryHashStore,
    from: usize,
    n: usize,
    key: &ed25519_dalek::SigningKey,
    origin: &str,
) -> Result<BenchLog> {
    let mut requests = Vec::with_capacity(n);
    for i in from..from + n {
        store.append(leaf_hash(format!("log {index} entry {i}").as_bytes()));
        let size = store.size();
        let cp = Checkpoint::new(origin, size, store.root())?;
        let note = sign_checkpoint(&cp, origin, key)?;
        let old = size - 1;
        let proof = if old == 0 {
            Vec::new()
        } else {
            consistency_proof(old, size, store)?
        };
        let mut body = format!("old {old}\n");
        for h in proof {
            body.push_str(&base64::engine::general_purpose::STANDARD.encode(h));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&note);
        requests.push(body);
    }
    Ok(BenchLog { requests })
}

fn add_checkpoint(clients: usize, per_client: usize, runs: usize) -> Result<()> {
    ensure!(
        clients > 0 && per_client > 0 && runs > 0,
        "nothing to measure"
    );
    // The logs: keys, origins and their trees (kept across runs).
    let mut logs = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let origin = format!("bench.example/log{i}");
        let vkey = VerifierKey::new(&origin, KEY_TYPE_ED25519, key.verifying_key().as_bytes())?;
        logs.push((key, origin, vkey, MemoryHashStore::new()));
    }
    let witness = WitnessSettings {
        logs: logs.iter().map(|l| l.2.clone()).collect(),
        ..WitnessSettings::default()
    };
    let node = InProcessNode::start_full(unlimited(), quiet(), witness)?;
    let base = format!("http://{}", node.addr);
    let rt = client_runtime()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .http1_only()
        .build()?;
    let wkey_text = rt.block_on(async {
        http.get(format!("{base}/v1/witness/verifier-key"))
            .send()
            .await?
            .text()
            .await
    })?;
    let wkey = VerifierKey::parse(wkey_text.trim())?;
    ensure!(
        wkey.key_type() == KEY_TYPE_COSIGNATURE_V1,
        "witness key type"
    );
    println!(
        "witness add-checkpoint: {clients} logs x {per_client} checkpoints per run, {runs} runs, 2 cores"
    );
    let mut rates = Vec::new();
    let mut baselines = Vec::new();
    let mut p99s = Vec::new();
    for run in 0..runs {
        let mut prepared = Vec::with_capacity(clients);
        for (i, l) in logs.iter_mut().enumerate() {
            let (key, origin, _, store) = l;
            let log = bench_log(i, store, run * per_client, per_client, key, origin)?;
            prepared.push(log);
        }
        // Baseline: the same number of requests to a trivial endpoint.
        let started = Instant::now();
        rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..clients {
                let (http, url) = (http.clone(), format!("{base}/v1/witness/verifier-key"));
                tasks.spawn(async move {
                    for _ in 0..per_client {
                        let r = http.get(&url).send().await?;
                        ensure!(r.status() == 200, "baseline answered {}", r.status());
                        r.bytes().await?;
                    }
                    Ok::<_, anyhow::Error>(())
                });
            }
            while let Some(r) = tasks.join_next().await {
                r??;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        let baseline = (clients * per_client) as f64 / started.elapsed().as_secs_f64();
        // The witness.
        let wkey = Arc::new(wkey.clone());
        let started = Instant::now();
        let latencies = rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for log in prepared {
                let (http, url, wkey) = (
                    http.clone(),
                    format!("{base}/witness/add-checkpoint"),
                    wkey.clone(),
                );
                tasks.spawn(async move {
                    let mut lat = Vec::with_capacity(log.requests.len());
                    for body in log.requests {
                        let note_start = body.find("\n\n").map_or(0, |i| i + 2);
                        let cp_body = body[note_start..]
                            .split("\n\n")
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                            + "\n";
                        let t = Instant::now();
                        let r = http.post(&url).body(body).send().await?;
                        let status = r.status();
                        let text = r.text().await?;
                        lat.push(t.elapsed());
                        ensure!(status == 200, "add-checkpoint answered {status}: {text}");
                        let sig = treaty_note::Signature::parse_line(text.trim_end())?;
                        treaty_note::verify_cosignature(&cp_body, &sig, &wkey)
                            .context("the cosignature verifies")?;
                    }
                    Ok::<_, anyhow::Error>(lat)
                });
            }
            let mut all = Vec::new();
            while let Some(r) = tasks.join_next().await {
                all.extend(r??);
            }
            Ok::<_, anyhow::Error>(all)
        })?;
        let elapsed = started.elapsed();
        let rate = latencies.len() as f64 / elapsed.as_secs_f64();
        let mut sorted = latencies;
        sorted.sort();
        let p50 = percentile(&sorted, 0.50);
        let p99 = percentile(&sorted, 0.99);
        println!(
            "run {}: {:.0} add-checkpoint/s (p50 {:.2} ms, p99 {:.2} ms); baseline GET verifier-key {:.0}/s; ratio {:.2}",
            run + 1,
            rate,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            baseline,
            rate / baseline
        );
        rates.push(rate);
        baselines.push(baseline);
        p99s.push(p99.as_secs_f64() * 1e3);
    }
    let (rate, baseline) = (median(rates), median(baselines));
    println!(
        "median: {rate:.0} add-checkpoint/s, p99 {:.2} ms; baseline {baseline:.0}/s; ratio {:.2}; goal >= 2000/s: {}",
        median(p99s),
        rate / baseline,
        if rate >= 2000.0 { "met" } else { "MISSED" }
    );
    node.stop();
    Ok(())
}

/// An agreement of `level` between `a` and `b`: `a` proposes, `b` accepts.
async fn agree(http: &Http, a: &Node, b: &Node, level: u8) -> Result<()> {
    let terms = json!({"collections": [], "verification_frequency": "hourly",
        "retention_days": 30, "audit_rights": false});
    let (status, body) = http
        .op(
            Method::POST,
            &a.at("/v1/federation/proposals"),
            Some(&json!({"target": b.id, "trust_level": level, "terms": terms})),
        )
        .await?;
    ensure!(status == 201, "proposing: {status} {body}");
    let pid = body["id"].as_str().context("proposal without id")?;
    let (status, body) = http
        .op(
            Method::PUT,
            &b.at(&format!("/v1/federation/proposals/{pid}")),
            Some(&json!({"action": "accept"})),
        )
        .await?;
    ensure!(status == 200, "accepting: {status} {body}");
    Ok(())
}

/// How many of `witnesses` cosigned the checkpoint `log` serves, and its size.
async fn cosigned(
    http: &reqwest::Client,
    log: &Node,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<(u64, usize)> {
    let note = http.get(log.at("/checkpoint")).send().await?.text().await?;
    let opened = treaty_note::open_checkpoint(&note, log_key, witnesses)?;
    Ok((opened.checkpoint.size(), opened.cosignatures.len()))
}

fn quorum(writes: usize) -> Result<()> {
    let http = Http::new()?;
    let rt = client_runtime()?;
    let log = Node::start("log", unlimited(), &rt, &http)?;
    let mut witnesses = Vec::new();
    for name in ["w1", "w2", "w3"] {
        witnesses.push(Node::start(name, unlimited(), &rt, &http)?);
    }
    let plain = reqwest::Client::builder().http1_only().build()?;
    let (log_key, keys) = rt.block_on(async {
        let mut keys = Vec::new();
        for w in &witnesses {
            peer_up(&http, &log, w).await?;
            agree(&http, &log, w, 2).await?;
            let t = plain
                .get(w.at("/v1/witness/verifier-key"))
                .send()
                .await?
                .text()
                .await?;
            keys.push(VerifierKey::parse(t.trim())?);
        }
        let t = plain
            .get(log.at("/v1/log/verifier-key"))
            .send()
            .await?
            .text()
            .await?;
        Ok::<_, anyhow::Error>((VerifierKey::parse(t.trim())?, keys))
    })?;
    println!(
        "witness quorum: 1 log, 3 witnesses (trust level 2), {writes} sequential writes, 2 cores"
    );
    let mut write_ms = Vec::with_capacity(writes);
    let mut cosigned_ms = Vec::with_capacity(writes);
    rt.block_on(async {
        for i in 0..writes {
            let t = Instant::now();
            let (status, body) = http
                .op(
                    Method::PUT,
                    &log.at(&format!("/v1/records/receipt/q{i}")),
                    Some(&json!({"n": i})),
                )
                .await?;
            ensure!(status == 201 || status == 200, "write: {status} {body}");
            let written = t.elapsed();
            let index = body["ledger_index"].as_u64().context("ledger_index")?;
            // Polled every millisecond: the poll's own cost is a local GET.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (size, n) = cosigned(&plain, &log, &log_key, &keys).await?;
                if size > index && n == keys.len() {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "no quorum-cosigned checkpoint after 30 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            cosigned_ms.push(t.elapsed().as_secs_f64() * 1e3);
            write_ms.push(written.as_secs_f64() * 1e3);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let mut sorted: Vec<Duration> = cosigned_ms
        .iter()
        .map(|m| Duration::from_secs_f64(m / 1e3))
        .collect();
    sorted.sort();
    let p99 = percentile(&sorted, 0.99).as_secs_f64() * 1e3;
    let (w, c) = (median(write_ms), median(cosigned_ms));
    println!(
        "median: write acknowledged {w:.1} ms; cosigned by 3 of 3 {c:.1} ms (p99 {p99:.1} ms); cosigning adds {:.1} ms ({:.2}x the write)",
        c - w,
        c / w
    );
    log.stop();
    for w in witnesses {
        w.stop();
    }
    Ok(())
}
