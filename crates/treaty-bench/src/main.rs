//! `treaty-bench`: the numbers in BENCHMARKS.md, each with its baseline measured in the same
//! run. Run with `cargo run --release -p treaty-bench -- <bench>`.
//!
//! - `appends`: records per second through HTTP with concurrent clients against a real node
//!   (own runtime, real loopback sockets, real SQLite in WAL/FULL), and request-to-signed-
//!   checkpoint latency; baseline: the same rows inserted straight into SQLite.
//! - `proofs`: inclusion-proof generation (from SQLite and from memory) and verification at
//!   1,000,000 entries.
//! - `discover`: the discovery index at 1,000,000 synthetic agent cards: build time and disk
//!   size, latency per query class and of exact lookups; baselines: the same build without
//!   the index, a conventional FTS5 table ranked by `bm25()`, and plain primary-key reads.
//! - `card`: the registry card's conditional GETs against full answers.
//! - `sync full|incremental|discover|cascade`: verified sync between real nodes, discovery
//!   over 1,000,000 cached peer records, cascading resolution through a chain (see `sync.rs`).

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
        /// Write agent cards (indexed for discovery) instead of small receipts.
        #[arg(long)]
        agent_cards: bool,
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
    /// Discovery index build, size and query latency, with baselines.
    Discover {
        /// Agent cards in the index.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Queries per class per round.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Rounds (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Skip the two baseline builds (the store without the index, and the conventional
        /// FTS5 table).
        #[arg(long)]
        skip_baselines: bool,
    },
    /// Registry card: conditional GETs answered 304 against full 200 answers.
    Card {
        /// Requests per measurement.
        #[arg(long, default_value_t = 100_000)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Federation: verified sync over HTTP, discovery over the peer cache, cascading
    /// resolution.
    Sync {
        #[command(subcommand)]
        part: sync::Part,
    },
    /// Witnessing: add-checkpoint throughput over HTTP, and the time from a record write
    /// to a checkpoint cosigned by a quorum of witnesses.
    Witness {
        #[command(subcommand)]
        part: witness::Part,
    },
}

mod card;
mod sync;
mod witness;

fn main() -> Result<()> {
    // reqwest is built with rustls but no built-in provider: plain-HTTP clients still need a
    // process-wide one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().bench {
        Bench::Appends {
            records,
            clients,
            runs,
            agent_cards,
        } => appends(records, clients, runs, agent_cards),
        Bench::Proofs { entries, proofs } => proof_rates(entries, proofs),
        Bench::Discover {
            records,
            queries,
            rounds,
            skip_baselines,
        } => discover::run(records, queries, rounds, skip_baselines),
        Bench::Card {
            requests,
            clients,
            runs,
        } => card::run(requests, clients, runs),
        Bench::Sync { part } => sync::run(part),
        Bench::Witness { part } => witness::run(part),
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

/// A small agent card whose words, skills and tags all reach the discovery index.
fn card_body(i: usize) -> serde_json::Value {
    json!({
        "name": format!("Agent {i} translator"),
        "description": format!("Translates documents between languages, batch {}", i % 97),
        "url": format!("https://agents.example/{i}"),
        "version": "1.0.0",
        "skills": [{"id": format!("skill-{}", i % 100), "name": "Translate", "description": "text translation", "tags": ["language", format!("tag-{}", i % 200)]}]
    })
}

struct AppendRun {
    records_per_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    baseline_rows_per_s: f64,
}

fn appends(records: usize, clients: usize, runs: usize, agent_cards: bool) -> Result<()> {
    let kind = if agent_cards {
        Kind {
            collection: "agent-card",
            make: card_body,
        }
    } else {
        Kind {
            collection: "receipt",
            make: body,
        }
    };
    println!(
        "appends: {records} {} records, {clients} concurrent HTTP/1.1 clients, {runs} runs, batch 256 entries / 250 ms",
        kind.collection
    );
    let mut results = Vec::new();
    for run in 0..runs {
        let r = append_run(records, clients, kind)?;
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

/// How long [`InProcessNode::stop`] waits for the node to drain.
const NODE_STOP_WAIT: Duration = Duration::from_secs(5);

/// A real node on 127.0.0.1 in this process, with its own 2-thread runtime (as under
/// `treaty serve`) and a fresh data directory; benchmarks drive it from another runtime.
pub(crate) struct InProcessNode {
    /// The bound address.
    pub(crate) addr: std::net::SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), treaty_node::NodeError>>,
    dir: tempfile::TempDir,
}

impl InProcessNode {
    /// Starts a node with default settings and the given rate limits.
    pub(crate) fn start(rate_limits: treaty_node::config::RateLimitSettings) -> Result<Self> {
        Self::start_with(rate_limits, Default::default())
    }

    /// Starts a node with default settings, the given rate limits and federation settings.
    pub(crate) fn start_with(
        rate_limits: treaty_node::config::RateLimitSettings,
        federation: treaty_node::config::FederationSettings,
    ) -> Result<Self> {
        Self::start_full(rate_limits, federation, Default::default())
    }

    /// Starts a node with default settings and the given rate limits, federation and
    /// witness settings.
    pub(crate) fn start_full(
        rate_limits: treaty_node::config::RateLimitSettings,
        federation: treaty_node::config::FederationSettings,
        witness: treaty_node::config::WitnessSettings,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = treaty_node::config::Config {
            data_dir: dir.path().join("node"),
            listen: "127.0.0.1:0".parse()?,
            public_url: None,
            batch_max_entries: treaty_types::limits::BATCH_ENTRIES_DEFAULT,
            batch_max_wait_ms: treaty_types::limits::BATCH_WAIT_MS_DEFAULT,
            card: Default::default(),
            trust_policy: Default::default(),
            rate_limits,
            federation,
            witness,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(config.listen))?;
        let addr = listener.local_addr()?;
        let node = treaty_node::Node::prepare(
            &config,
            addr,
            Some(ADMIN),
            Arc::new(treaty_node::clock::SystemClock),
        )?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(node.serve(listener, async move {
            let _ = stop_rx.await;
        }));
        Ok(Self {
            addr,
            runtime,
            stop,
            server,
            dir,
        })
    }

    /// The node's data directory.
    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("node")
    }

    /// Stops the node and waits for it to drain, at most [`NODE_STOP_WAIT`]: since the
    /// federation background tasks (sync worker, checkpoint notifier) hold the node's state,
    /// and with it a sequencer handle, `Node::serve` never gets past joining the sequencer
    /// thread. The runtime is then shut down without waiting for that join.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let server = self.server;
        let _ = self
            .runtime
            .block_on(async { tokio::time::timeout(NODE_STOP_WAIT, server).await });
        self.runtime.shutdown_background();
    }
}

/// What the append benchmark writes.
#[derive(Clone, Copy)]
struct Kind {
    collection: &'static str,
    make: fn(usize) -> serde_json::Value,
}

fn append_run(records: usize, clients: usize, kind: Kind) -> Result<AppendRun> {
    let node = InProcessNode::start(treaty_node::config::RateLimitSettings::default())?;
    let addr = node.addr;

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
                        .put(format!("{url}/v1/records/{}/r{i}", kind.collection))
                        .bearer_auth(ADMIN)
                        .json(&(kind.make)(i))
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
    node.stop();
    latencies.sort();

    let baseline_rows_per_s = sqlite_baseline(records, kind)?;
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
fn sqlite_baseline(records: usize, kind: Kind) -> Result<f64> {
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
                serde_json::to_vec(&(kind.make)(i)).unwrap_or_default(),
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
                    effect: treaty_store::Effect::Record,
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

/// The `discover` bench: synthetic agent cards through `Writer::commit_batch`, then a mixed
/// query set through `Reader::search` and `Reader::record`.
mod discover {
    use super::{median, percentile};
    use anyhow::{Context as _, Result, anyhow};
    use serde_json::{Value, json};
    use std::path::Path;
    use std::time::{Duration, Instant};
    use treaty_merkle::{CompactRange, leaf_hash};
    use treaty_store::{
        BatchCommit, PreparedEntry, Reader, SearchPage, SearchQuery, StoredCheckpoint, Writer,
    };

    /// Entries per commit: the node's batch size, so the index sees the node's transactions.
    const BATCH: usize = treaty_types::limits::BATCH_ENTRIES_DEFAULT;
    /// Page size of every query.
    const PAGE: u32 = 20;
    /// Deep-page chains are timed from this page on...
    pub(crate) const DEEP_FIRST_PAGE: usize = 20;
    /// ...for this many pages.
    pub(crate) const DEEP_PAGES: usize = 5;
    /// Zipf-distributed vocabulary of descriptions, names and skills.
    const VOCAB: usize = 3_000;
    /// Distinct skill ids (and names).
    const SKILL_IDS: usize = 100;
    /// Distinct tags (Zipf-distributed).
    const TAGS: usize = 200;
    /// Cards per "tail" word: each card's description ends with one word drawn uniformly from
    /// `records / TAIL_CARDS` tail words, so a tail word is in about this many cards: more
    /// than a brand, fewer than `CANDIDATES_MAX` (the store's exact-scoring plan at its most
    /// expensive).
    const TAIL_CARDS: usize = 500;
    /// Last word of every card name.
    const KINDS: &[&str] = &["Agent", "Assistant", "Bot", "Service", "Copilot"];
    /// Words in every card ("An agent that helps with ...") or in many names.
    const VERY_COMMON: &[&str] = &["agent", "helps", "assistant", "bot", "service"];
    const SEED: u64 = 0x5EED_D15C_0FE7_2026;
    /// Conventional-FTS5 baseline samples (each common-word query scores every match).
    const BASELINE_RARE: usize = 200;
    const BASELINE_COMMON: usize = 20;
    const BASELINE_TWO: usize = 100;

    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// xorshift64, seeded through splitmix so nearby seeds give unrelated streams.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(splitmix(seed) | 1)
        }

        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A pronounceable pseudo-word for `n`: base-70 digits as consonant-vowel syllables, at
    /// least `min` of them (a bijection for each length).
    fn syllables(mut n: usize, min: usize) -> String {
        const C: &[u8] = b"bdfgklmnprstvz";
        const V: &[u8] = b"aeiou";
        let mut s = String::new();
        let mut count = 0;
        while n > 0 || count < min {
            let d = n % 70;
            n /= 70;
            s.push(char::from(C[d / 5]));
            s.push(char::from(V[d % 5]));
            count += 1;
        }
        s
    }

    fn title(w: &str) -> String {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }

    /// Cumulative Zipf (s = 1) weights over `n` ranks.
    fn zipf_cdf(n: usize) -> Vec<f64> {
        let mut total = 0.0;
        (0..n)
            .map(|r| {
                total += 1.0 / (r + 1) as f64;
                total
            })
            .collect()
    }

    fn zipf(cdf: &[f64], rng: &mut Rng) -> usize {
        let u = rng.unit() * cdf.last().copied().unwrap_or(0.0);
        cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
    }

    /// The synthetic corpus: card `i` is a pure function of `i`.
    pub(crate) struct Corpus {
        words: Vec<String>,
        word_cdf: Vec<f64>,
        skills: Vec<(String, String)>,
        tags: Vec<String>,
        tag_cdf: Vec<f64>,
        /// Distinct brand words (about three cards each): the rare words.
        brands: usize,
        /// Distinct tail words (about `TAIL_CARDS` cards each).
        tails: usize,
    }

    impl Corpus {
        pub(crate) fn new(records: usize) -> Corpus {
            let words: Vec<String> = (0..VOCAB).map(|r| syllables(r, 2)).collect();
            let skills = (0..SKILL_IDS)
                .map(|s| {
                    let (a, b) = (&words[(s * 7) % 300], &words[(s * 13 + 1) % 300]);
                    (format!("{a}-{b}"), format!("{} {}", title(a), title(b)))
                })
                .collect();
            let tags = (0..TAGS).map(|t| words[20 + t].clone()).collect();
            Corpus {
                word_cdf: zipf_cdf(VOCAB),
                words,
                skills,
                tags,
                tag_cdf: zipf_cdf(TAGS),
                brands: (records / 3).max(1),
                tails: (records / TAIL_CARDS).max(1),
            }
        }

        fn word(&self, rng: &mut Rng) -> &str {
            &self.words[zipf(&self.word_cdf, rng)]
        }

        fn phrase(&self, rng: &mut Rng, n: usize) -> String {
            (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
        }

        fn brand(&self, i: usize) -> String {
            let b = splitmix(SEED ^ 0xB4A2D ^ i as u64) as usize % self.brands;
            format!("{}x", syllables(b, 3))
        }

        /// Three syllables, no `x`: distinct from vocabulary words (two) and brands.
        fn tail(&self, i: usize) -> String {
            syllables(splitmix(SEED ^ 0x7A11 ^ i as u64) as usize % self.tails, 3)
        }

        pub(crate) fn collection(&self, i: usize) -> &'static str {
            match splitmix(SEED ^ 0xC011 ^ i as u64) % 100 {
                0..=89 => "agent-card",
                90..=95 => "manifest",
                _ => "tools",
            }
        }

        pub(crate) fn key(i: usize) -> String {
            format!("card-{i:07}")
        }

        pub(crate) fn card(&self, i: usize) -> Value {
            let mut rng = Rng::new(SEED ^ i as u64);
            let name = format!(
                "{} {} {}",
                title(&self.brand(i)),
                title(self.word(&mut rng)),
                KINDS[rng.below(KINDS.len())]
            );
            let n = 12 + rng.below(13);
            let description = format!(
                "An agent that helps with {} {}.",
                self.phrase(&mut rng, n),
                self.tail(i)
            );
            let skills: Vec<Value> = (0..1 + rng.below(4))
                .map(|_| {
                    let (id, name) = &self.skills[rng.below(SKILL_IDS)];
                    let n = 6 + rng.below(9);
                    let description = self.phrase(&mut rng, n);
                    let tags: Vec<&str> = (0..1 + rng.below(3))
                        .map(|_| self.tags[zipf(&self.tag_cdf, &mut rng)].as_str())
                        .collect();
                    json!({"id": id, "name": name, "description": description, "tags": tags})
                })
                .collect();
            json!({
                "name": name,
                "description": description,
                "url": format!("https://agents.example/{}", Corpus::key(i)),
                "version": format!("1.{}.0", rng.below(10)),
                "skills": skills,
            })
        }
    }

    pub(crate) struct Build {
        pub(crate) total: Duration,
        pub(crate) commits: Duration,
        pub(crate) file_bytes: u64,
        /// Bytes per table (dbstat), largest first.
        pub(crate) tables: Vec<(String, u64)>,
    }

    impl Build {
        pub(crate) fn index_bytes(&self) -> u64 {
            self.tables
                .iter()
                .filter(|(t, _)| t.starts_with("discovery"))
                .map(|(_, b)| b)
                .sum()
        }
    }

    /// Writes `records` cards through `Writer::commit_batch` in node-sized batches; with
    /// `index` false the bodies are withheld, so the discovery index stays empty.
    pub(crate) fn build(
        path: &Path,
        corpus: &Corpus,
        records: usize,
        index: bool,
    ) -> Result<Build> {
        let mut writer = Writer::open(path)?;
        let mut range = CompactRange::new();
        let start = Instant::now();
        let mut commits = Duration::ZERO;
        let mut next = 0usize;
        while next < records {
            let n = (records - next).min(BATCH);
            let batch = (next..next + n)
                .map(|i| {
                    let card = corpus.card(i);
                    let collection = corpus.collection(i);
                    let key = Corpus::key(i);
                    let leaf = serde_json::to_vec(&json!({
                        "body": &card, "collection": collection, "key": &key,
                        "kind": "record", "op": "put", "version": 1,
                    }))?;
                    Ok(PreparedEntry {
                        leaf_hash: leaf_hash(&leaf),
                        leaf,
                        collection: collection.into(),
                        key,
                        version: 1,
                        op: treaty_types::Operation::Put,
                        time_ms: i as u64,
                        body: index.then_some(card),
                        effect: treaty_store::Effect::Record,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut hashes = Vec::new();
            for e in &batch {
                range.append(e.leaf_hash, |h| hashes.push(h));
            }
            let cp = StoredCheckpoint {
                size: range.size(),
                root: range.root(),
                note: String::new(),
                signed_ms: 0,
            };
            let t = Instant::now();
            writer.commit_batch(&BatchCommit {
                first_index: next as u64,
                entries: &batch,
                hashes: &hashes,
                checkpoint: &cp,
            })?;
            commits += t.elapsed();
            next += n;
        }
        let total = start.elapsed();
        // Closing the last connection checkpoints the WAL into the main file.
        drop(writer);
        let file_bytes = std::fs::metadata(path)?.len();
        let conn = rusqlite::Connection::open(path)?;
        let mut stmt =
            conn.prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC, 1")?;
        let tables = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Build {
            total,
            commits,
            file_bytes,
            tables,
        })
    }

    pub(crate) fn mib(bytes: u64) -> f64 {
        bytes as f64 / (1024.0 * 1024.0)
    }

    pub(crate) fn load() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    }

    fn text(t: impl Into<String>) -> SearchQuery {
        SearchQuery {
            text: t.into(),
            limit: PAGE,
            ..SearchQuery::default()
        }
    }

    /// A deterministic filter: a collection, a tag or a skill id or name.
    fn filter(
        corpus: &Corpus,
        rng: &mut Rng,
        mut q: SearchQuery,
        collections: bool,
    ) -> SearchQuery {
        let kinds = if collections { 3 } else { 2 };
        match rng.below(kinds) {
            0 => q.tag = Some(corpus.tags[rng.below(TAGS)].clone()),
            1 => {
                let (id, name) = &corpus.skills[rng.below(SKILL_IDS)];
                q.skill = Some(if rng.below(2) == 0 { id } else { name }.to_uppercase());
            }
            _ => {
                q.collection =
                    Some(["agent-card", "agent-card", "manifest", "tools"][rng.below(4)].into())
            }
        }
        q
    }

    pub(crate) struct Classes {
        pub(crate) named: Vec<(&'static str, Vec<SearchQuery>)>,
        pub(crate) deep: Vec<SearchQuery>,
        pub(crate) resolve: Vec<(String, String)>,
    }

    pub(crate) fn classes(corpus: &Corpus, records: usize, n: usize) -> Classes {
        let mut rng = Rng::new(SEED ^ 0x0E7E);
        let rare = (0..n)
            .map(|_| text(corpus.brand(rng.below(records))))
            .collect();
        let common_words: Vec<&str> = VERY_COMMON
            .iter()
            .copied()
            .chain(corpus.words[..5].iter().map(String::as_str))
            .collect();
        let common = (0..n)
            .map(|_| text(common_words[rng.below(common_words.len())]))
            .collect();
        let two = (0..n)
            .map(|_| {
                let a = corpus.word(&mut rng).to_owned();
                let mut b = corpus.word(&mut rng).to_owned();
                while b == a {
                    b = corpus.word(&mut rng).to_owned();
                }
                text(format!("{a} {b}"))
            })
            .collect();
        // A card's rare brand word with a word of its description (often a very common one),
        // so every query has hits.
        let rare_common = (0..n)
            .map(|_| {
                let i = rng.below(records);
                let card = corpus.card(i);
                let words: Vec<&str> = card["description"]
                    .as_str()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .split(' ')
                    .skip(1)
                    .collect();
                let w = words
                    .get(rng.below(words.len().max(1)))
                    .copied()
                    .unwrap_or("agent");
                text(format!("{} {w}", corpus.brand(i)))
            })
            .collect();
        // A card's tail word with a very common word: a few hundred candidates, each checked
        // against postings lists that hold most of the index.
        let tail_common = (0..n)
            .map(|_| {
                let i = rng.below(records);
                let common = ["agent", "helps", corpus.words[0].as_str()][rng.below(3)];
                text(format!("{} {common}", corpus.tail(i)))
            })
            .collect();
        let filter_only = (0..n)
            .map(|_| filter(corpus, &mut rng, text(""), true))
            .collect();
        let word_filter = (0..n)
            .map(|_| {
                let w = corpus.word(&mut rng).to_owned();
                filter(corpus, &mut rng, text(w), false)
            })
            .collect();
        // Deep chains: queries with well over 25 pages of hits.
        let deep = (0..(n / DEEP_PAGES).max(1))
            .map(|i| match i % 4 {
                0 => text(common_words[rng.below(common_words.len())]),
                1 => text(format!(
                    "{} {}",
                    corpus.words[rng.below(10)],
                    VERY_COMMON[rng.below(2)]
                )),
                2 => SearchQuery {
                    tag: Some(corpus.tags[rng.below(20)].clone()),
                    ..text("")
                },
                _ => {
                    let w = corpus.words[rng.below(20)].clone();
                    filter(corpus, &mut rng, text(w), false)
                }
            })
            .collect();
        let resolve = (0..n)
            .map(|_| {
                let i = rng.below(records);
                (corpus.collection(i).to_owned(), Corpus::key(i))
            })
            .collect();
        Classes {
            named: vec![
                ("rare word", rare),
                ("very common word", common),
                ("two words", two),
                ("rare + common word", rare_common),
                ("tail + common word", tail_common),
                ("filter only", filter_only),
                ("word + filter", word_filter),
            ],
            deep,
            resolve,
        }
    }

    pub(crate) fn search(reader: &Reader, q: &SearchQuery) -> Result<SearchPage> {
        reader
            .search(q)?
            .map_err(|e| anyhow!("query {q:?} refused: {e}"))
    }

    #[derive(Default, Clone, Copy)]
    pub(crate) struct Stats {
        pub(crate) p50: f64,
        pub(crate) p99: f64,
        pub(crate) max: f64,
        pub(crate) samples: usize,
        pub(crate) hits_per_page: f64,
    }

    pub(crate) fn stats(mut lat: Vec<Duration>, hits: usize) -> Stats {
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        if lat.is_empty() {
            return Stats::default();
        }
        Stats {
            p50: ms(percentile(&lat, 0.5)),
            p99: ms(percentile(&lat, 0.99)),
            max: ms(percentile(&lat, 1.0)),
            samples: lat.len(),
            hits_per_page: hits as f64 / lat.len() as f64,
        }
    }

    pub(crate) fn median_stats(rounds: &[Stats]) -> Stats {
        Stats {
            p50: median(rounds.iter().map(|s| s.p50).collect()),
            p99: median(rounds.iter().map(|s| s.p99).collect()),
            max: median(rounds.iter().map(|s| s.max).collect()),
            samples: rounds.first().map_or(0, |s| s.samples),
            hits_per_page: median(rounds.iter().map(|s| s.hits_per_page).collect()),
        }
    }

    fn print_row(name: &str, s: Stats) {
        println!(
            "  {name:<24} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>8.1}",
            s.samples, s.p50, s.p99, s.max, s.hits_per_page
        );
    }

    /// One round: every class once. Returns per-class stats, with "all discovery" last
    /// but one and the two resolve rows last.
    fn round(
        reader: &Reader,
        plain: &rusqlite::Connection,
        classes: &Classes,
    ) -> Result<Vec<(String, Stats)>> {
        let mut out = Vec::new();
        let mut all = Vec::new();
        let mut all_hits = 0;
        for (name, queries) in &classes.named {
            let mut lat = Vec::with_capacity(queries.len());
            let mut hits = 0;
            for q in queries {
                let t = Instant::now();
                let page = search(reader, q)?;
                lat.push(t.elapsed());
                hits += page.hits.len();
            }
            all.extend_from_slice(&lat);
            all_hits += hits;
            out.push(((*name).to_owned(), stats(lat, hits)));
        }
        let mut lat = Vec::new();
        let mut hits = 0;
        for q in &classes.deep {
            let mut q = q.clone();
            for page in 1..DEEP_FIRST_PAGE + DEEP_PAGES {
                let t = Instant::now();
                let p = search(reader, &q)?;
                let elapsed = t.elapsed();
                if page >= DEEP_FIRST_PAGE {
                    lat.push(elapsed);
                    hits += p.hits.len();
                }
                match p.next_cursor {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        all.extend_from_slice(&lat);
        all_hits += hits;
        out.push((
            format!(
                "deep page ({DEEP_FIRST_PAGE}-{})",
                DEEP_FIRST_PAGE + DEEP_PAGES - 1
            ),
            stats(lat, hits),
        ));
        out.push(("all discovery".into(), stats(all, all_hits)));

        let mut lat = Vec::with_capacity(classes.resolve.len());
        for (c, k) in &classes.resolve {
            let t = Instant::now();
            let row = reader.record(c, k)?;
            lat.push(t.elapsed());
            row.with_context(|| format!("{c}/{k} missing"))?;
        }
        out.push((
            "resolve (Reader::record)".into(),
            stats(lat, classes.resolve.len()),
        ));
        let mut lat = Vec::with_capacity(classes.resolve.len());
        let mut stmt = plain.prepare_cached(
            "SELECT version, op, ledger_index, updated_ms FROM records
             WHERE collection = ?1 AND key = ?2",
        )?;
        for (c, k) in &classes.resolve {
            let t = Instant::now();
            let row: (i64, String, i64, i64) = stmt.query_row(rusqlite::params![c, k], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            lat.push(t.elapsed());
            std::hint::black_box(row);
        }
        out.push((
            "resolve baseline (PK)".into(),
            stats(lat, classes.resolve.len()),
        ));
        Ok(out)
    }

    /// The conventional FTS5 design: text columns, porter tokenizer, positions
    /// (detail=full), contentless, ranked with `bm25()` weights 4/2/1 over every match.
    fn conventional(path: &Path, corpus: &Corpus, records: usize) -> Result<(Duration, u64)> {
        let mut conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE VIRTUAL TABLE cards USING fts5(name, skills, description, content='',
               tokenize='porter unicode61 remove_diacritics 2');",
        )?;
        let start = Instant::now();
        for chunk_start in (0..records).step_by(10_000) {
            let tx = conn.transaction()?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT INTO cards(rowid, name, skills, description) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for i in chunk_start..(chunk_start + 10_000).min(records) {
                    let card = corpus.card(i);
                    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
                    let mut skills = Vec::new();
                    let mut description = vec![s(&card["description"])];
                    for sk in card["skills"].as_array().into_iter().flatten() {
                        skills.push(s(&sk["id"]));
                        skills.push(s(&sk["name"]));
                        for t in sk["tags"].as_array().into_iter().flatten() {
                            skills.push(s(t));
                        }
                        description.push(s(&sk["description"]));
                    }
                    put.execute(rusqlite::params![
                        i as i64,
                        s(&card["name"]),
                        skills.join(" "),
                        description.join(" ")
                    ])?;
                }
            }
            tx.commit()?;
        }
        let elapsed = start.elapsed();
        drop(conn);
        Ok((elapsed, std::fs::metadata(path)?.len()))
    }

    fn conventional_queries(path: &Path, sets: &[(&str, &[SearchQuery])]) -> Result<()> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut stmt = conn.prepare(
            "SELECT rowid, bm25(cards, 4.0, 2.0, 1.0) AS score FROM cards
             WHERE cards MATCH ?1 ORDER BY score LIMIT ?2",
        )?;
        for (name, queries) in sets {
            let mut lat = Vec::new();
            let mut hits = 0;
            for q in *queries {
                let expr = q
                    .text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let t = Instant::now();
                let rows = stmt
                    .query_map(rusqlite::params![expr, PAGE], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                lat.push(t.elapsed());
                hits += rows.len();
            }
            print_row(name, stats(lat, hits));
        }
        Ok(())
    }

    pub(super) fn run(
        records: usize,
        queries: usize,
        rounds: usize,
        skip_baselines: bool,
    ) -> Result<()> {
        anyhow::ensure!(
            records > 0 && queries > 0 && rounds > 0,
            "nothing to measure"
        );
        println!(
            "discover: {records} synthetic agent cards, batches of {BATCH}, {queries} queries per class, \
             page size {PAGE}, {rounds} rounds; load average {}",
            load()
        );
        let corpus = Corpus::new(records);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("discover.db");

        let built = build(&path, &corpus, records, true)?;
        println!(
            "  build with index: {:.1} s ({:.0} records/s; {:.1} s inside commit_batch), file {:.1} MiB, \
             discovery index {:.1} MiB ({:.1}% of the file, {:.0} bytes/record)",
            built.total.as_secs_f64(),
            records as f64 / built.total.as_secs_f64(),
            built.commits.as_secs_f64(),
            mib(built.file_bytes),
            mib(built.index_bytes()),
            100.0 * built.index_bytes() as f64 / built.file_bytes as f64,
            built.index_bytes() as f64 / records as f64,
        );
        for (table, bytes) in built.tables.iter().take(10) {
            println!("    {table:<32} {:>9.1} MiB", mib(*bytes));
        }
        if !skip_baselines {
            let bare = dir.path().join("bare.db");
            let b = build(&bare, &corpus, records, false)?;
            println!(
                "  baseline, same build without the index: {:.1} s ({:.0} records/s; {:.1} s inside \
                 commit_batch), file {:.1} MiB; the index costs {:.1} s of commit time ({:.1} us/record)",
                b.total.as_secs_f64(),
                records as f64 / b.total.as_secs_f64(),
                b.commits.as_secs_f64(),
                mib(b.file_bytes),
                (built.commits.as_secs_f64() - b.commits.as_secs_f64()),
                (built.commits.as_secs_f64() - b.commits.as_secs_f64()) * 1e6 / records as f64,
            );
            std::fs::remove_file(&bare)?;
        }

        let classes = classes(&corpus, records, queries);
        let reader = Reader::open(&path)?;
        let plain = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        // Warm the page cache the way a running node would be warm.
        for (_, qs) in &classes.named {
            for q in qs.iter().take(50) {
                search(&reader, q)?;
            }
        }
        let mut per_round: Vec<Vec<(String, Stats)>> = Vec::new();
        for r in 0..rounds {
            let t = Instant::now();
            let result = round(&reader, &plain, &classes)?;
            println!(
                "  round {r}: {:.1} s, load average {}; p99 ms: {}",
                t.elapsed().as_secs_f64(),
                load(),
                result
                    .iter()
                    .map(|(n, s)| format!("{n} {:.2}", s.p99))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            per_round.push(result);
        }
        println!("median of {rounds} rounds (ms):");
        println!(
            "  {:<24} {:>6} {:>9} {:>9} {:>9} {:>8}",
            "class", "n", "p50", "p99", "max", "hits/pg"
        );
        let names: Vec<String> = per_round
            .first()
            .map(|r| r.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        for (i, name) in names.iter().enumerate() {
            let rounds: Vec<Stats> = per_round
                .iter()
                .filter_map(|r| r.get(i).map(|x| x.1))
                .collect();
            print_row(name, median_stats(&rounds));
        }

        if !skip_baselines {
            let conv = dir.path().join("conventional.db");
            let (took, bytes) = conventional(&conv, &corpus, records)?;
            println!(
                "baseline, conventional FTS5 (porter, detail=full, contentless, bm25 4/2/1 ORDER BY score): \
                 built in {:.1} s (10,000 rows per transaction), {:.1} MiB; one round (ms):",
                took.as_secs_f64(),
                mib(bytes)
            );
            let class = |n: &str| {
                classes
                    .named
                    .iter()
                    .find(|(name, _)| *name == n)
                    .map(|(_, q)| q.as_slice())
                    .unwrap_or(&[])
            };
            let rare = class("rare word");
            let common = class("very common word");
            let two = class("two words");
            conventional_queries(
                &conv,
                &[
                    ("rare word", &rare[..rare.len().min(BASELINE_RARE)]),
                    (
                        "very common word",
                        &common[..common.len().min(BASELINE_COMMON)],
                    ),
                    ("two words", &two[..two.len().min(BASELINE_TWO)]),
                ],
            )?;
        }
        Ok(())
    }
}
