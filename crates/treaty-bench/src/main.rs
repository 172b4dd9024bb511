//! `treaty-bench`: the numbers in BENCHMARKS.md, each with its baseline measured in the same
//! run. Run with `cargo run --release -p treaty-bench -- <bench>`.
//!
//! - `appends`: records per second through HTTP with concurrent clients against a real node
//!   (own runtime, real loopback sockets, real SQLite in WAL/FULL), and request-to-signed-
//!   checkpoint latency; baseline: the same rows inserted straight into SQLite.
//! - `proofs`: inclusion-proof generation (from SQLite and from memory) and verification at
//!   1,000,000 entries.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// HTTP append throughput and latency, with the direct-SQLite baseline.
    Appends {
        /// Records per run.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 512)]
        clients: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Inclusion proof generation and verification rates.
    Proofs {
        /// Ledger size.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Proofs per measurement.
        #[arg(long, default_value_t = 100_000)]
        proofs: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Appends {
            records,
            clients,
            runs,
        } => appends(records, clients, runs),
        Bench::Proofs { entries, proofs } => proof_rates(entries, proofs),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

const ADMIN: &str = "bench-operator-token-000000000000";

fn body(i: usize) -> serde_json::Value {
    json!({"issuer": "bench", "subject": format!("item-{i}"), "amount": i, "tags": ["a", "b"]})
}

struct AppendRun {
    records_per_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    baseline_rows_per_s: f64,
}

fn appends(records: usize, clients: usize, runs: usize) -> Result<()> {
    println!(
        "appends: {records} records, {clients} concurrent HTTP/1.1 clients, {runs} runs, batch 256 entries / 250 ms"
    );
    let mut results = Vec::new();
    for run in 0..runs {
        let r = append_run(records, clients)?;
        println!(
            "  run {run}: {:.0} records/s through HTTP; ack latency p50 {:?} p99 {:?} max {:?}; baseline {:.0} rows/s straight into SQLite",
            r.records_per_s, r.p50, r.p99, r.max, r.baseline_rows_per_s
        );
        results.push(r);
    }
    let http = median(results.iter().map(|r| r.records_per_s).collect());
    let base = median(results.iter().map(|r| r.baseline_rows_per_s).collect());
    let p50 = median(results.iter().map(|r| r.p50.as_secs_f64() * 1e3).collect());
    let p99 = median(results.iter().map(|r| r.p99.as_secs_f64() * 1e3).collect());
    let max = median(results.iter().map(|r| r.max.as_secs_f64() * 1e3).collect());
    println!(
        "median: {http:.0} records/s via HTTP; request-to-signed-checkpoint p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
    );
    println!(
        "median baseline: {base:.0} rows/s straight into SQLite; HTTP ledger / baseline = {:.2}",
        http / base
    );
    Ok(())
}

fn append_run(records: usize, clients: usize) -> Result<AppendRun> {
    let dir = tempfile::tempdir()?;
    let config = treaty_node::config::Config {
        data_dir: dir.path().join("node"),
        listen: "127.0.0.1:0".parse()?,
        public_url: None,
        batch_max_entries: treaty_types::limits::BATCH_ENTRIES_DEFAULT,
        batch_max_wait_ms: treaty_types::limits::BATCH_WAIT_MS_DEFAULT,
        card: Default::default(),
        trust_policy: Default::default(),
    };
    // The node gets its own runtime, as in `treaty serve`; the clients get another.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind(config.listen))?;
    let addr = listener.local_addr()?;
    let node = treaty_node::Node::prepare(
        &config,
        addr,
        Some(ADMIN),
        Arc::new(treaty_node::clock::SystemClock),
    )?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(node.serve(listener, async move {
        let _ = stop_rx.await;
    }));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = format!("http://{addr}");
    let (elapsed, mut latencies) = client_rt.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .http1_only()
            .build()
            .context("client")?;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= records {
                        break;
                    }
                    let t = Instant::now();
                    let resp = http
                        .put(format!("{url}/v1/records/receipt/r{i}"))
                        .bearer_auth(ADMIN)
                        .json(&body(i))
                        .send()
                        .await?;
                    anyhow::ensure!(resp.status().is_success(), "write {i}: {}", resp.status());
                    let _ = resp.bytes().await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut all = Vec::with_capacity(records);
        for t in tasks {
            all.extend(t.await??);
        }
        Ok::<_, anyhow::Error>((start.elapsed(), all))
    })?;
    let _ = stop_tx.send(());
    let _ = server_rt.block_on(server);
    latencies.sort();

    let baseline_rows_per_s = sqlite_baseline(records)?;
    Ok(AppendRun {
        records_per_s: records as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
        baseline_rows_per_s,
    })
}

/// The same rows (entry bytes plus record head) inserted straight into SQLite with the
/// node's durability settings and batch size, without HTTP, hashing, proofs or signing.
fn sqlite_baseline(records: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("baseline.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
         CREATE TABLE records (collection TEXT, key TEXT, version INTEGER, ledger_index INTEGER,
                               PRIMARY KEY (collection, key)) WITHOUT ROWID;",
    )?;
    let rows: Vec<(String, Vec<u8>)> = (0..records)
        .map(|i| {
            (
                format!("r{i}"),
                serde_json::to_vec(&body(i)).unwrap_or_default(),
            )
        })
        .collect();
    let start = Instant::now();
    let mut conn = conn;
    for (b, chunk) in rows
        .chunks(treaty_types::limits::BATCH_ENTRIES_DEFAULT)
        .enumerate()
    {
        let tx = conn.transaction()?;
        {
            let mut e = tx.prepare_cached("INSERT INTO entries(idx, leaf) VALUES (?1, ?2)")?;
            let mut r = tx.prepare_cached("INSERT INTO records VALUES ('receipt', ?1, 1, ?2)")?;
            for (j, (key, leaf)) in chunk.iter().enumerate() {
                let idx = (b * treaty_types::limits::BATCH_ENTRIES_DEFAULT + j) as i64;
                e.execute(rusqlite::params![idx, leaf])?;
                r.execute(rusqlite::params![key, idx])?;
            }
        }
        tx.commit()?;
    }
    Ok(records as f64 / start.elapsed().as_secs_f64())
}

fn proof_rates(entries: u64, proofs: u64) -> Result<()> {
    use treaty_merkle::{MemoryHashStore, inclusion_proof, leaf_hash, verify_inclusion};
    println!("proofs: ledger of {entries} entries, {proofs} proofs per measurement");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("proofs.db");
    let mut writer = treaty_store::Writer::open(&path)?;
    let mut memory = MemoryHashStore::with_capacity(entries as usize);
    let build = Instant::now();
    let mut range = treaty_merkle::CompactRange::new();
    let mut next = 0u64;
    while next < entries {
        let n = (entries - next).min(4096);
        let batch: Vec<_> = (next..next + n)
            .map(|i| {
                let leaf = format!("{{\"i\":{i}}}").into_bytes();
                treaty_store::PreparedEntry {
                    leaf_hash: leaf_hash(&leaf),
                    leaf,
                    collection: "receipt".into(),
                    key: format!("k{i}"),
                    version: 1,
                    op: treaty_types::Operation::Put,
                    time_ms: 0,
                    body: None,
                }
            })
            .collect();
        let mut hashes = Vec::new();
        for e in &batch {
            range.append(e.leaf_hash, |h| hashes.push(h));
            memory.append(e.leaf_hash);
        }
        let cp = treaty_store::StoredCheckpoint {
            size: range.size(),
            root: range.root(),
            note: String::new(),
            signed_ms: 0,
        };
        writer.commit_batch(&treaty_store::BatchCommit {
            first_index: next,
            entries: &batch,
            hashes: &hashes,
            checkpoint: &cp,
        })?;
        next += n;
    }
    println!(
        "  built the ledger in {:.1} s",
        build.elapsed().as_secs_f64()
    );
    let root = range.root();
    let reader = treaty_store::Reader::open(&path)?;
    // A fixed pseudo-random sequence of indexes (xorshift), the same for every measurement.
    let indexes: Vec<u64> = {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..proofs)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % entries
            })
            .collect()
    };
    let mut sqlite_rates = Vec::new();
    let mut memory_rates = Vec::new();
    let mut verify_rates = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut generated = Vec::with_capacity(indexes.len());
        for &i in &indexes {
            generated.push(reader.inclusion_proof(i, entries)?);
        }
        sqlite_rates.push(proofs as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for &i in &indexes {
            std::hint::black_box(inclusion_proof(i, entries, &memory)?);
        }
        memory_rates.push(proofs as f64 / t.elapsed().as_secs_f64());
        let leaves: Vec<_> = indexes
            .iter()
            .map(|i| leaf_hash(format!("{{\"i\":{i}}}").as_bytes()))
            .collect();
        let t = Instant::now();
        for ((&i, proof), leaf) in indexes.iter().zip(&generated).zip(&leaves) {
            verify_inclusion(i, entries, leaf, proof, &root)?;
        }
        verify_rates.push(proofs as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "median: generation from SQLite {:.0} proofs/s; from memory {:.0} proofs/s; verification {:.0} proofs/s",
        median(sqlite_rates),
        median(memory_rates),
        median(verify_rates)
    );
    Ok(())
}
