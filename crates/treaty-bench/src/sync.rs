//! `treaty-bench sync <part>`: federation between real nodes, each part with its baseline
//! measured in the same run.
//!
//! - `full`: a full verified sync of 10,000 agent cards from B to A over HTTP
//!   (`POST /v1/federation/peers/{B}/sync` after `reset-sync`: every page verified against
//!   B's signed checkpoint and applied in one SQLite transaction). Baseline: the bare
//!   transfer, i.e. the same feed pages (`GET /v1/federation/entries`, signed with A's card
//!   key exactly as A signs them) fetched over the same loopback HTTP and read to the last
//!   byte, neither parsed, verified nor applied.
//! - `incremental`: after a full sync, B writes 1,000 changes (updates, new keys, deletes)
//!   and A syncs them; baseline: the bare transfer of those entries.
//! - `discover`: `Reader::search` over 1,000,000 cached peer records, written through
//!   `Writer::apply_sync` (the sync path), with the `discover` bench's corpus and query mix;
//!   baseline: the same queries over the same cards as local records (the `discover`
//!   bench's build).
//! - `cascade`: `GET /v1/resolve` at A for a manifest held only 1, 2 or 3 hops away along a
//!   chain A-B-C-D, every hop verifying the receipt; baseline: the same resolve answered
//!   locally at the holder (`?cascade=false`).
//!
//! Nodes run with a one-hour sync interval, so the background worker pulls only once, when
//! an agreement takes effect. A checkpoint notification from B would also make A pull at
//! once; in `full` and `incremental`, A's rate limiter admits one notification per day
//! (`notifyCheckpoint`), so only the operator's `POST .../sync` pulls during measurements
//! (checked before measuring, and each measured sync must report the expected entries).

use crate::discover::{self, Corpus, Stats};
use crate::{ADMIN, InProcessNode, median, percentile};
use anyhow::{Context as _, Result, anyhow, bail, ensure};
use reqwest::Method;
use serde_json::{Value, json};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use treaty_merkle::{CompactRange, leaf_hash};
use treaty_node::config::{FederationSettings, RateLimitSettings};
use treaty_store::{
    CacheChange, PeerLogRow, PeerRow, Reader, SearchQuery, SourceFilter, SyncBatch, Writer,
};
use treaty_types::{CollectionName, LeafEntry, LedgerEntry, Operation, RecordKey};

/// The four parts.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Part {
    /// Full sync of B's agent cards to A over HTTP, every entry verified; baseline: the bare
    /// transfer of the same feed pages.
    Full {
        /// Agent cards at B.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// Measured syncs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Incremental sync of changes at B (half updates, 40% new keys, 10% deletes) after a
    /// full sync; baseline: the bare transfer of the same entries.
    Incremental {
        /// Agent cards at B before the first run.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// Changes B writes before each measured sync.
        #[arg(long, default_value_t = 1_000)]
        changes: usize,
        /// Measured syncs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Discovery over cached peer records (written through `apply_sync`); baseline: the
    /// same cards and queries as local records.
    Discover {
        /// Cards, cached on one side and local on the other.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Queries per class per round.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Rounds (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Skip the local-records baseline build.
        #[arg(long)]
        skip_baseline: bool,
    },
    /// Cascading resolution along a chain A-B-C-D; baseline: the local resolve at D.
    Cascade {
        /// Sequential requests per class.
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
}

/// Runs one part.
pub(crate) fn run(part: Part) -> Result<()> {
    match part {
        Part::Full { records, runs } => full(records, runs),
        Part::Incremental {
            records,
            changes,
            runs,
        } => incremental(records, changes, runs),
        Part::Discover {
            records,
            queries,
            rounds,
            skip_baseline,
        } => discover_cache(records, queries, rounds, skip_baseline),
        Part::Cascade { requests } => cascade(requests),
    }
}

/// How long setup steps may take.
const WAIT: Duration = Duration::from_secs(120);
/// The largest feed answer read (the node's `FEED_PAGE_BYTES_MAX`).
const FEED_ANSWER_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Concurrent writers when B writes records.
const WRITERS: usize = 256;
/// Records per `apply_sync` batch in the `discover` part.
const CACHE_BATCH: usize = 10_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Federation settings of every node here: the background worker pulls only when an
/// agreement takes effect (or on a notification).
pub(crate) fn quiet() -> FederationSettings {
    FederationSettings {
        sync_interval_ms: 3_600_000,
        ..FederationSettings::default()
    }
}

/// A's limits in `full` and `incremental`: nothing limited but checkpoint notifications,
/// of which one per day is admitted. Signed peer requests are counted by address, so
/// loopback callers are not exempt here; the bench's own calls carry the (exempt)
/// operator token.
fn notify_throttled() -> RateLimitSettings {
    let max = treaty_node::ratelimit::PER_MINUTE_MAX;
    RateLimitSettings {
        enabled: true,
        authenticated_per_minute: max,
        anonymous_per_minute: max,
        peer_per_minute: max,
        burst: None,
        exempt_operator: true,
        exempt_loopback: false,
        endpoints: [(treaty_node::api::endpoints::FED_NOTIFY.id.to_owned(), 1)]
            .into_iter()
            .collect(),
        period: Duration::from_secs(86_400),
    }
}

/// The bench's HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Http(reqwest::Client);

impl Http {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self(
            reqwest::Client::builder()
                .pool_max_idle_per_host(WRITERS)
                .http1_only()
                .build()?,
        ))
    }

    /// A call with the operator's token; answers the status and the JSON body (or null).
    pub(crate) async fn op(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self.0.request(method.clone(), url).bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A plain GET, as any client sends it; answers the status and the JSON body.
    async fn get(&self, url: &str) -> Result<(u16, Value)> {
        let resp = self
            .0
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// A running node and how to reach it.
pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) inner: InProcessNode,
    pub(crate) url: String,
    pub(crate) id: String,
}

impl Node {
    /// Starts a node (outside any runtime: the node has its own).
    pub(crate) fn start(
        name: &'static str,
        rate_limits: RateLimitSettings,
        rt: &tokio::runtime::Runtime,
        http: &Http,
    ) -> Result<Node> {
        let inner = InProcessNode::start_with(rate_limits, quiet())?;
        let url = format!("http://{}", inner.addr);
        let (status, health) =
            rt.block_on(http.op(Method::GET, &format!("{url}/healthz"), None))?;
        ensure!(status == 200, "{name}: /healthz answered {status}");
        let id = health["node_id"]
            .as_str()
            .context("/healthz has no node_id")?
            .to_owned();
        Ok(Node {
            name,
            inner,
            url,
            id,
        })
    }

    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub(crate) fn stop(self) {
        self.inner.stop();
    }
}

/// Polls `f` until it answers `Some`, failing after [`WAIT`].
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn tree_size(http: &Http, n: &Node) -> Result<u64> {
    let (status, body) = http.op(Method::GET, &n.at("/healthz"), None).await?;
    ensure!(status == 200, "{}: /healthz answered {status}", n.name);
    body["tree_size"]
        .as_u64()
        .with_context(|| format!("{}: /healthz has no tree_size: {body}", n.name))
}

/// The registry `node_id` as `at` lists it, if listed.
async fn peer_at(http: &Http, at: &Node, node_id: &str) -> Result<Option<Value>> {
    let (status, body) = http
        .op(Method::GET, &at.at("/v1/federation/peers"), None)
        .await?;
    ensure!(
        status == 200,
        "{}: peers answered {status}: {body}",
        at.name
    );
    Ok(body["peers"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["node_id"] == node_id))
        .cloned())
}

/// `from` adds `to` as a peer; waits until `to` lists `from` ACTIVE too.
pub(crate) async fn peer_up(http: &Http, from: &Node, to: &Node) -> Result<()> {
    let (status, body) = http
        .op(
            Method::POST,
            &from.at("/v1/federation/peers"),
            Some(&json!({"url": to.url})),
        )
        .await?;
    ensure!(
        (status == 200 || status == 201)
            && body["peer"]["status"] == "ACTIVE"
            && body["registration"]["ok"] == true,
        "{} adding {}: {status} {body}",
        from.name,
        to.name
    );
    wait_for(
        &format!("{} to list {} ACTIVE", to.name, from.name),
        || async {
            Ok(peer_at(http, to, &from.id)
                .await?
                .filter(|p| p["status"] == "ACTIVE"))
        },
    )
    .await?;
    Ok(())
}

/// A level-1 agreement sharing `collections`: `a` proposes, `b` accepts.
async fn agree(http: &Http, a: &Node, b: &Node, collections: &[&str]) -> Result<()> {
    let terms = json!({"collections": collections, "verification_frequency": "hourly",
        "retention_days": 30, "audit_rights": false});
    let (status, body) = http
        .op(
            Method::POST,
            &a.at("/v1/federation/proposals"),
            Some(&json!({"target": b.id, "trust_level": 1, "terms": terms})),
        )
        .await?;
    ensure!(
        status == 201,
        "{} proposing to {}: {status} {body}",
        a.name,
        b.name
    );
    let pid = body["id"].as_str().context("proposal without id")?;
    let (status, body) = http
        .op(
            Method::PUT,
            &b.at(&format!("/v1/federation/proposals/{pid}")),
            Some(&json!({"action": "accept"})),
        )
        .await?;
    ensure!(status == 200, "{} accepting: {status} {body}", b.name);
    Ok(())
}

/// One `POST .../sync` of `peer` at `at`: the status and the report.
async fn sync_once(http: &Http, at: &Node, peer: &Node) -> Result<(u16, Value)> {
    http.op(
        Method::POST,
        &at.at(&format!("/v1/federation/peers/{}/sync", peer.id)),
        None,
    )
    .await
}

/// A sync that must succeed (retried while another pull of the same peer holds it).
async fn sync_now(http: &Http, at: &Node, peer: &Node) -> Result<Value> {
    for _ in 0..100 {
        let (status, body) = sync_once(http, at, peer).await?;
        match status {
            200 => return Ok(body),
            409 if body["code"] == "sync_in_progress" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => bail!("{} syncing {}: {status} {body}", at.name, peer.name),
        }
    }
    bail!("{} syncing {}: still in progress", at.name, peer.name)
}

async fn reset_sync(http: &Http, at: &Node, peer: &Node) -> Result<()> {
    let (status, body) = http
        .op(
            Method::POST,
            &at.at(&format!("/v1/federation/peers/{}/reset-sync", peer.id)),
            None,
        )
        .await?;
    ensure!(status == 200, "reset-sync: {status} {body}");
    Ok(())
}

/// How many of `of`'s entries `at` holds verified.
async fn verified_size(http: &Http, at: &Node, of: &Node) -> Result<u64> {
    let p = peer_at(http, at, &of.id)
        .await?
        .with_context(|| format!("{} does not list {}", at.name, of.name))?;
    Ok(p["sync"]["verified_size"].as_u64().unwrap_or(0))
}

/// Waits until `at` holds all of `of`'s ledger verified.
async fn caught_up(http: &Http, at: &Node, of: &Node) -> Result<u64> {
    wait_for(
        &format!("{} to catch up with {}", at.name, of.name),
        || async {
            let size = tree_size(http, of).await?;
            Ok((verified_size(http, at, of).await? == size).then_some(size))
        },
    )
    .await
}

/// One record write at B.
enum Change {
    Put(String, Value),
    Delete(String),
}

/// Writes `changes` to `collection` at `n` from [`WRITERS`] concurrent clients.
async fn write_all(http: &Http, n: &Node, collection: &str, changes: Vec<Change>) -> Result<()> {
    let total = changes.len();
    let changes = Arc::new(changes);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS.min(total.max(1)) {
        let (http, base, changes, next) = (
            http.clone(),
            n.at(&format!("/v1/records/{collection}")),
            changes.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = changes.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let (status, body) = match c {
                    Change::Put(key, body) => {
                        http.op(Method::PUT, &format!("{base}/{key}"), Some(body))
                            .await?
                    }
                    Change::Delete(key) => {
                        http.op(Method::DELETE, &format!("{base}/{key}"), None)
                            .await?
                    }
                };
                ensure!((200..300).contains(&status), "write {i}: {status} {body}");
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Standard base64 (the card key files), without a dependency for it.
fn unb64(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c:#x}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// B's sync feed as A reads it: signed requests with A's card key, through the node's own
/// peer client; nothing parsed, verified or applied.
struct Feed {
    client: treaty_node::federation::client::PeerClient,
    key: treaty_card::SigningKey,
    kid: String,
    url: String,
    page: u32,
}

/// One bare pass over feed pages.
struct Transfer {
    took: Duration,
    pages: usize,
    bytes: usize,
    bodies: Vec<Vec<u8>>,
}

impl Feed {
    fn new(a: &Node, b: &Node) -> Result<Feed> {
        let dir = a.inner.data_dir().join(treaty_node::card::CARD_KEYS_DIR);
        let mut keys: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        ensure!(
            keys.len() == 1,
            "one card key expected in {}",
            dir.display()
        );
        let path = keys.pop().context("no card key")?;
        let seed: [u8; 32] = unb64(&std::fs::read_to_string(&path)?)?
            .try_into()
            .map_err(|_| anyhow!("{}: not a 32-byte seed", path.display()))?;
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("key file name")?
            .to_owned();
        let settings = quiet();
        Ok(Feed {
            client: treaty_node::federation::client::PeerClient::new(&settings)
                .map_err(|e| anyhow!(e))?,
            key: treaty_card::SigningKey::from_bytes(&seed),
            kid,
            url: b.at("/v1/federation/entries"),
            page: settings.sync_page_entries,
        })
    }

    async fn get(&self, since: u64) -> Result<Vec<u8>> {
        let url = format!("{}?since={since}&limit={}", self.url, self.page);
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let (status, bytes) = self
            .client
            .signed_raw(
                &self.key,
                &self.kid,
                now_s,
                Method::GET,
                &url,
                None,
                FEED_ANSWER_BYTES_MAX,
            )
            .await
            .map_err(|e| anyhow!("GET {url}: {}: {}", e.code, e.detail))?;
        ensure!(
            status == reqwest::StatusCode::OK,
            "GET {url}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(bytes)
    }

    /// Where the pages from `since` start (as A pulls them: each from the previous `next`),
    /// up to B's newest checkpoint. Reads and parses the pages (not timed).
    async fn pages(&self, since: u64) -> Result<Vec<u64>> {
        let mut starts = Vec::new();
        let mut next = since;
        loop {
            let page: Value = serde_json::from_slice(&self.get(next).await?)?;
            let size = page["tree_size"]
                .as_u64()
                .context("page without tree_size")?;
            if next >= size {
                break;
            }
            starts.push(next);
            next = page["next"].as_u64().context("page without next")?;
        }
        Ok(starts)
    }

    /// Fetches the pages starting at `starts`, one after the other, as A does: timed.
    async fn transfer(&self, starts: &[u64]) -> Result<Transfer> {
        let t = Instant::now();
        let mut bodies = Vec::with_capacity(starts.len());
        for &since in starts {
            bodies.push(self.get(since).await?);
        }
        let took = t.elapsed();
        Ok(Transfer {
            took,
            pages: bodies.len(),
            bytes: bodies.iter().map(Vec::len).sum(),
            bodies,
        })
    }
}

/// JSON parsing of fetched pages into `serde_json::Value` (an approximation of the feed
/// parser's share: the node's parser also decodes every leaf's base64 and JSON).
fn parse_time(bodies: &[Vec<u8>]) -> Result<Duration> {
    let t = Instant::now();
    for b in bodies {
        std::hint::black_box(serde_json::from_slice::<Value>(b)?);
    }
    Ok(t.elapsed())
}

/// A's local work on fetched pages, redone in-process stage by stage with the functions
/// the sync path calls (`leaf_hash` and the compact range, `LedgerEntry::from_leaf_bytes`,
/// the cache changes (owning the page's leaf bytes), `Writer::apply_sync`), into a shadow store that
/// mirrors A's cache. Not reachable from here: the feed parser and the checkpoint signature
/// check (`treaty_federation` is not a dependency of this crate); plain JSON parsing of the
/// pages stands in for the first, the second is one signature per page.
#[derive(Debug, Default, Clone, Copy)]
struct Stages {
    json: Duration,
    hash: Duration,
    parse: Duration,
    changes: Duration,
    apply: Duration,
    /// Indexing the new cached rows for discovery (`Writer::index_cached`): after the
    /// commit, off the sync's path, so not part of `local`.
    index: Duration,
}

impl Stages {
    fn local(&self) -> Duration {
        self.json + self.hash + self.parse + self.changes + self.apply
    }
}

/// One entry of a feed page: its index and leaf bytes, or (outside the shared collections)
/// only its leaf hash.
enum FeedItem {
    Leaf(u64, Vec<u8>),
    Hash([u8; 32]),
}

/// A store holding what A holds of B, to replay pages into.
struct Shadow {
    _dir: tempfile::TempDir,
    writer: Writer,
    range: CompactRange,
}

impl Shadow {
    fn new() -> Result<Shadow> {
        let dir = tempfile::tempdir()?;
        let mut writer = Writer::open(&dir.path().join("shadow.db"))?;
        writer.upsert_peer(&peer_row())?;
        Ok(Shadow {
            _dir: dir,
            writer,
            range: CompactRange::new(),
        })
    }

    /// Replays feed pages (raw answers, in order from the shadow's size).
    fn replay(&mut self, bodies: &[Vec<u8>]) -> Result<Stages> {
        let mut s = Stages::default();
        for body in bodies {
            let t = Instant::now();
            let page: Value = serde_json::from_slice(body)?;
            s.json += t.elapsed();
            let from = self.range.size();
            ensure!(
                page["since"] == from,
                "page from {} replayed at {from}",
                page["since"]
            );
            let next = page["next"].as_u64().context("page without next")?;
            let checkpoint_size = page["tree_size"]
                .as_u64()
                .context("page without tree_size")?;
            let note = page["checkpoint"]
                .as_str()
                .context("page without checkpoint")?;
            // Decoding base64 is the parser's work, done here untimed by a slow decoder.
            let mut items = Vec::new();
            for e in page["entries"].as_array().context("page without entries")? {
                let index = e["index"].as_u64().context("entry without index")?;
                if let Some(leaf) = e["leaf"].as_str() {
                    items.push(FeedItem::Leaf(index, unb64(leaf)?));
                } else {
                    let h = unb64(e["leaf_hash"].as_str().context("entry without hash")?)?;
                    items.push(FeedItem::Hash(
                        h.try_into().map_err(|_| anyhow!("hash length"))?,
                    ));
                }
            }
            let t = Instant::now();
            for item in &items {
                let h = match item {
                    FeedItem::Leaf(_, leaf) => leaf_hash(leaf),
                    FeedItem::Hash(h) => *h,
                };
                self.range.append(h, |_| {});
            }
            s.hash += t.elapsed();
            let t = Instant::now();
            let parsed = items
                .iter()
                .filter_map(|item| match item {
                    FeedItem::Leaf(i, leaf) => Some((*i, leaf)),
                    FeedItem::Hash(_) => None,
                })
                .map(|(i, l)| Ok((i, l, LedgerEntry::read_leaf(l)?)))
                .collect::<Result<Vec<_>>>()?;
            s.parse += t.elapsed();
            let t = Instant::now();
            let changes = changes_of(&parsed);
            s.changes += t.elapsed();
            ensure!(self.range.size() == next, "page entries end at {next}");
            let log = PeerLogRow {
                peer_id: PEER_ID.into(),
                size: next,
                range: self.range.hashes().to_vec(),
                checkpoint: Some(note.to_owned()),
                checkpoint_size,
                updated_ms: 0,
            };
            let t = Instant::now();
            self.writer.apply_sync(&SyncBatch {
                peer_id: PEER_ID,
                source_registry: SOURCE,
                from_size: from,
                log: &log,
                changes: &changes,
                checkpoint_size,
                checkpoint: note,
                now_ms: 1,
            })?;
            s.apply += t.elapsed();
            // The node's indexer takes the page's new rows once the page is committed.
            let t = Instant::now();
            index_all(&mut self.writer)?;
            s.index += t.elapsed();
        }
        // As the node does after a cycle (untimed here, and not awaited there).
        upkeep(&mut self.writer)?;
        Ok(s)
    }
}

/// The store upkeep the node runs after a sync cycle (`federation::sync`): discovery-index
/// merges, then a passive WAL checkpoint.
fn upkeep(writer: &mut Writer) -> Result<()> {
    index_all(writer)?;
    for _ in 0..treaty_store::MERGE_STEPS_MAX {
        if !writer.merge_discovery(treaty_store::MERGE_STEP_PAGES)? {
            break;
        }
    }
    writer.checkpoint_wal()?;
    Ok(())
}

/// Indexes every cached row waiting for discovery, in the node's steps.
fn index_all(writer: &mut Writer) -> Result<()> {
    while writer.index_cached(treaty_store::INDEX_STEP_ROWS)?.more {}
    Ok(())
}

/// The cache changes of verified entries, as the node's sync worker makes them (each put
/// owns a copy of the page's leaf bytes; the node moves them out of the page).
fn changes_of(entries: &[(u64, &Vec<u8>, LeafEntry)]) -> Vec<CacheChange> {
    entries
        .iter()
        .filter_map(|(index, leaf, entry)| match entry {
            LeafEntry::Record(r) => {
                Some(CacheChange::of_record(*index, r.clone(), (*leaf).clone()))
            }
            LeafEntry::Other(_) => None,
        })
        .collect()
}

/// Two nodes, B holding `records` agent cards, peered, with a level-1 agreement sharing
/// `agent-card`, A caught up, and A's notification throttle checked.
async fn setup_pair(
    http: &Http,
    a: &Node,
    b: &Node,
    corpus: &Corpus,
    records: usize,
) -> Result<()> {
    let t = Instant::now();
    let cards = (0..records)
        .map(|i| Change::Put(Corpus::key(i), corpus.card(i)))
        .collect();
    write_all(http, b, "agent-card", cards).await?;
    println!(
        "  setup: B wrote {records} agent cards over HTTP in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    peer_up(http, a, b).await?;
    agree(http, a, b, &["agent-card"]).await?;
    // The agreement's first pull (and B's first notification, the one A admits).
    let t = Instant::now();
    let size = caught_up(http, a, b).await?;
    println!(
        "  setup: agreement in force; A's first pull (background worker) caught up to {size} entries within {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // From now on B's notifications must be refused: check that a new checkpoint at B does
    // not make A pull. (Should the admitted notification still be unused, the first probe
    // spends it.)
    let mut held = false;
    for probe in 0..3 {
        write_all(
            http,
            b,
            "agent-card",
            vec![Change::Put(format!("probe-{probe}"), corpus.card(probe))],
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let behind = verified_size(http, a, b).await? < tree_size(http, b).await?;
        sync_now(http, a, b).await?;
        if behind {
            held = true;
            break;
        }
    }
    ensure!(
        held,
        "A pulled B on its own after each checkpoint notification: measurements would race the background worker"
    );
    caught_up(http, a, b).await?;
    println!(
        "  setup: B's checkpoint notifications no longer make A pull (A's notifyCheckpoint limit)"
    );
    Ok(())
}

/// What one measured sync did, with its baselines.
struct SyncRun {
    sync: Duration,
    /// From the start of the sync until a discovery query answered with the newest
    /// record it brought (the query indexes whatever the indexer has not reached yet).
    discoverable: Duration,
    entries: u64,
    pages: u64,
    puts: u64,
    deletes: u64,
    bare: Duration,
    bare_pages: usize,
    bare_bytes: usize,
    parse: Duration,
    noop: Duration,
    stages: Stages,
}

/// The measured `POST .../sync` of B at A, which must pull `from..to`; then a discovery
/// query whose first hit among B's records (newest cached first) must be one this sync
/// cached (proven by the checkpoint of `to`); then the baselines over the same entries,
/// and an empty cycle.
async fn measured_sync(
    http: &Http,
    feed: &Feed,
    shadow: &mut Shadow,
    (a, b): (&Node, &Node),
    from: u64,
) -> Result<SyncRun> {
    let to = tree_size(http, b).await?;
    let held = verified_size(http, a, b).await?;
    ensure!(
        held == from,
        "A holds {held} of B's entries before the measured sync, expected {from} (a background pull?)"
    );
    let t = Instant::now();
    let (status, report) = sync_once(http, a, b).await?;
    let sync = t.elapsed();
    let probe = format!("/v1/discover?source={}&collection=agent-card&limit=1", b.id);
    let (found_status, found) = http.op(Method::GET, &a.at(&probe), None).await?;
    let discoverable = t.elapsed();
    ensure!(status == 200, "measured sync: {status} {report}");
    ensure!(
        found_status == 200 && found["results"][0]["federation_metadata"]["checkpoint_size"] == to,
        "after the sync, discovery at A did not answer a record it brought first: {found_status} {found}"
    );
    let entries = report["entries"].as_u64().unwrap_or(0);
    ensure!(
        entries == to - from && report["size"] == to,
        "measured sync pulled {entries} entries to {}, expected {} to {to}: {report}",
        report["size"],
        to - from
    );
    let starts = feed.pages(from).await?;
    let bare = feed.transfer(&starts).await?;
    let parse = parse_time(&bare.bodies)?;
    let stages = shadow.replay(&bare.bodies)?;
    let t = Instant::now();
    let (status, empty) = sync_once(http, a, b).await?;
    let noop = t.elapsed();
    ensure!(
        status == 200 && empty["entries"] == 0,
        "empty sync: {status} {empty}"
    );
    Ok(SyncRun {
        sync,
        discoverable,
        entries,
        pages: report["pages"].as_u64().unwrap_or(0),
        puts: report["puts"].as_u64().unwrap_or(0),
        deletes: report["deletes"].as_u64().unwrap_or(0),
        bare: bare.took,
        bare_pages: bare.pages,
        bare_bytes: bare.bytes,
        parse,
        noop,
        stages,
    })
}

fn print_run(run: usize, r: &SyncRun) {
    let st = &r.stages;
    println!(
        "  run {run}: sync {:.1} ms, discoverable {:.1} ms ({} entries, {} pages, {} puts, {} deletes); bare transfer {:.1} ms ({} pages, {:.2} MiB; + JSON parse {:.1} ms); empty cycle {:.1} ms",
        ms(r.sync),
        ms(r.discoverable),
        r.entries,
        r.pages,
        r.puts,
        r.deletes,
        ms(r.bare),
        r.bare_pages,
        r.bare_bytes as f64 / (1024.0 * 1024.0),
        ms(r.parse),
        ms(r.noop)
    );
    println!(
        "         in-process replay: JSON {:.1} ms, leaf hashes + range {:.1} ms, read_leaf {:.1} ms, cache changes {:.1} ms, apply_sync {:.1} ms; sum {:.1} ms; then index_cached {:.1} ms",
        ms(st.json),
        ms(st.hash),
        ms(st.parse),
        ms(st.changes),
        ms(st.apply),
        ms(st.local()),
        ms(st.index)
    );
}

fn print_summary(runs: &[SyncRun], goal_ms: f64) {
    let med = |f: &dyn Fn(&SyncRun) -> Duration| median(runs.iter().map(|r| ms(f(r))).collect());
    let min = runs
        .iter()
        .map(|r| ms(r.sync))
        .fold(f64::INFINITY, f64::min);
    let max = runs.iter().map(|r| ms(r.sync)).fold(0.0, f64::max);
    let sync = med(&|r| r.sync);
    let bare = med(&|r| r.bare);
    let noop = med(&|r| r.noop);
    let entries = runs.first().map_or(0, |r| r.entries);
    let pages = runs.first().map_or(0, |r| r.pages);
    println!(
        "median of {} runs: sync {sync:.1} ms (min {min:.1}, max {max:.1}) for {entries} entries in {pages} pages = {:.1} us/entry; goal {goal_ms:.0} ms: {}",
        runs.len(),
        sync * 1e3 / entries.max(1) as f64,
        if sync <= goal_ms {
            "met".to_owned()
        } else {
            format!(
                "missed by {:.1} ms ({:.1}x)",
                sync - goal_ms,
                sync / goal_ms
            )
        }
    );
    println!(
        "median until discoverable (the sync, then a discovery query that finds its newest record): {:.1} ms",
        med(&|r| r.discoverable)
    );
    println!(
        "median baseline: bare transfer {bare:.1} ms (+ JSON parse {:.1} ms); sync / bare transfer = {:.1}; empty cycle (card 304, registry cards, one empty feed page) {noop:.1} ms",
        med(&|r| r.parse),
        sync / bare,
    );
    println!("| run | sync | entries | pages | bare transfer | JSON parse | empty cycle |");
    println!("|---|---|---|---|---|---|---|");
    for (i, r) in runs.iter().enumerate() {
        println!(
            "| {i} | {:.1} ms | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(r.sync),
            r.entries,
            r.pages,
            ms(r.bare),
            ms(r.parse),
            ms(r.noop)
        );
    }
    println!(
        "| **median** | **{sync:.1} ms** | | | **{bare:.1} ms** | {:.1} ms | {noop:.1} ms |",
        med(&|r| r.parse),
    );
    let stage = |f: fn(&Stages) -> Duration| med(&|r| f(&r.stages));
    let local = stage(Stages::local);
    println!(
        "where the time goes (medians; the stages are the in-process replay of the same pages):"
    );
    println!("| part | ms | share of sync |");
    println!("|---|---|---|");
    let row = |name: &str, v: f64| println!("| {name} | {v:.1} | {:.0}% |", 100.0 * v / sync);
    row(
        "fetch (= bare transfer): B reads the entries and the kind and collection of each, writes base64 + JSON; HTTP",
        bare,
    );
    row("A: JSON parse of the pages", stage(|s| s.json));
    row("A: leaf hashes + compact range", stage(|s| s.hash));
    row(
        "A: `LedgerEntry::read_leaf` (canonical-form check, bodies left as text)",
        stage(|s| s.parse),
    );
    row(
        "A: cache changes (entries to `CachePut`s)",
        stage(|s| s.changes),
    );
    row(
        "A: `Writer::apply_sync` (SQLite; removed rows leave the discovery index)",
        stage(|s| s.apply),
    );
    row(
        "fixed cycle cost (= empty cycle: card 304, drift check, registry cards, feed request)",
        noop,
    );
    row(
        "rest: the feed parser's base64, checkpoint signatures, locks, scheduling (a difference of separate measurements)",
        sync - bare - local - noop,
    );
    row(
        "after the answer, not part of the sync: A indexes the new rows for discovery (`Writer::index_cached`)",
        stage(|s| s.index),
    );
}

/// A (notifications throttled) and B, with the bench's runtime and client.
struct Pair {
    rt: tokio::runtime::Runtime,
    http: Http,
    a: Node,
    b: Node,
}

impl Pair {
    fn start() -> Result<Pair> {
        let rt = client_runtime()?;
        let http = Http::new()?;
        let a = Node::start("A", notify_throttled(), &rt, &http)?;
        let b = Node::start("B", RateLimitSettings::disabled(), &rt, &http)?;
        Ok(Pair { rt, http, a, b })
    }

    /// Stops both nodes (outside the bench's runtime) and passes `result` on.
    fn finish(self, result: Result<()>) -> Result<()> {
        drop(self.rt);
        self.a.stop();
        self.b.stop();
        result
    }
}

fn full(records: usize, runs: usize) -> Result<()> {
    ensure!(records > 0 && runs > 0, "nothing to measure");
    println!(
        "sync full: {records} agent cards at B, synced to A over loopback HTTP ({} entries per feed page), {runs} runs; load average {}",
        quiet().sync_page_entries,
        discover::load()
    );
    let corpus = Corpus::new(records);
    let pair = Pair::start()?;
    let (http, a, b) = (&pair.http, &pair.a, &pair.b);
    let result = pair.rt.block_on(async {
        setup_pair(http, a, b, &corpus, records).await?;
        let feed = Feed::new(a, b)?;
        let mut results = Vec::new();
        for run in 0..runs {
            reset_sync(http, a, b).await?;
            let mut shadow = Shadow::new()?;
            let r = measured_sync(http, &feed, &mut shadow, (a, b), 0).await?;
            print_run(run, &r);
            results.push(r);
        }
        print_summary(&results, 200.0);
        Ok(())
    });
    pair.finish(result)
}

fn incremental(records: usize, changes: usize, runs: usize) -> Result<()> {
    ensure!(records > 0 && changes > 0 && runs > 0, "nothing to measure");
    let updates = changes / 2;
    let deletes = changes / 10;
    let inserts = changes - updates - deletes;
    ensure!(
        runs * (updates + deletes) <= records,
        "{runs} runs of {updates} updates and {deletes} deletes need at least {} records",
        runs * (updates + deletes)
    );
    println!(
        "sync incremental: {records} agent cards at B synced to A, then per run {changes} changes at B \
         ({updates} updates of existing keys, {inserts} new keys, {deletes} deletes) and one sync, {runs} runs; load average {}",
        discover::load()
    );
    let corpus = Corpus::new(records + runs * inserts);
    let pair = Pair::start()?;
    let (http, a, b) = (&pair.http, &pair.a, &pair.b);
    let result = pair.rt.block_on(async {
        setup_pair(http, a, b, &corpus, records).await?;
        let feed = Feed::new(a, b)?;
        // The shadow store starts where A is.
        let mut shadow = Shadow::new()?;
        let base = feed.transfer(&feed.pages(0).await?).await?;
        shadow.replay(&base.bodies)?;
        let mut results = Vec::new();
        for run in 0..runs {
            let from = verified_size(http, a, b).await?;
            let mut batch = Vec::with_capacity(changes);
            for j in 0..updates {
                let i = run * updates + j;
                let mut card = corpus.card(i);
                card["version"] = json!(format!("2.{run}.0"));
                batch.push(Change::Put(Corpus::key(i), card));
            }
            for j in 0..inserts {
                let i = records + run * inserts + j;
                batch.push(Change::Put(Corpus::key(i), corpus.card(i)));
            }
            for j in 0..deletes {
                batch.push(Change::Delete(Corpus::key(records - 1 - run * deletes - j)));
            }
            write_all(http, b, "agent-card", batch).await?;
            let r = measured_sync(http, &feed, &mut shadow, (a, b), from).await?;
            print_run(run, &r);
            results.push(r);
        }
        print_summary(&results, 20.0);
        Ok(())
    });
    pair.finish(result)
}

/// The peer the cached records come from.
const PEER_ID: &str = "bench-peer";
const SOURCE: &str = "bench-source-node";

fn peer_row() -> PeerRow {
    PeerRow {
        id: PEER_ID.into(),
        node_id: SOURCE.into(),
        name: "bench source".into(),
        base_url: "https://source.example".into(),
        card_url: "https://source.example/.well-known/registry-card.json".into(),
        callback_url: "https://source.example/v1/federation".into(),
        status: "ACTIVE".into(),
        status_reason: None,
        card: None,
        jwks: None,
        kid: None,
        spiffe_id: None,
        ca_fingerprint: None,
        verifier_key: None,
        license_id: None,
        created_ms: 1,
        updated_ms: 1,
        last_verified_ms: None,
        last_synced_ms: None,
        hops: 1,
        via_peer: None,
        card_seq: 0,
        card_etag: None,
    }
}

/// A cache build: time in all and inside `apply_sync`, file size, discovery index size.
struct CacheBuild {
    total: Duration,
    applies: Duration,
    file_bytes: u64,
    index_bytes: u64,
}

/// Writes `records` cards as one peer's cached records, through `Writer::apply_sync` in
/// batches of [`CACHE_BATCH`], each with the log state and checkpoint a verified page would
/// bring (placeholder hashes: the store keeps them as they are).
fn build_cache(path: &Path, corpus: &Corpus, records: usize) -> Result<CacheBuild> {
    let mut writer = Writer::open(path)?;
    writer.upsert_peer(&peer_row())?;
    let start = Instant::now();
    let mut applies = Duration::ZERO;
    let mut from = 0usize;
    while from < records {
        let to = (from + CACHE_BATCH).min(records);
        let changes = (from..to)
            .map(|i| {
                let card = corpus.card(i);
                let collection = corpus.collection(i);
                let key = Corpus::key(i);
                // The entry the source's ledger would hold, and where its body is in it.
                let leaf = LedgerEntry::Record {
                    collection: CollectionName::parse(collection)?,
                    key: RecordKey::parse(&key)?,
                    version: 1,
                    op: Operation::Put,
                    body: Some(card),
                    time_ms: i as u64,
                }
                .to_leaf_bytes()?;
                match LedgerEntry::read_leaf(&leaf)? {
                    LeafEntry::Record(r) => Ok(CacheChange::of_record(i as u64, r, leaf)),
                    LeafEntry::Other(_) => bail!("not a record entry"),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let size = to as u64;
        let note = format!("source.example/log\n{size}\nplaceholder-root\n");
        let log = PeerLogRow {
            peer_id: PEER_ID.into(),
            size,
            range: (0..size.count_ones()).map(|b| [b as u8 + 1; 32]).collect(),
            checkpoint: Some(note.clone()),
            checkpoint_size: size,
            updated_ms: 0,
        };
        let t = Instant::now();
        let outcome = writer.apply_sync(&SyncBatch {
            peer_id: PEER_ID,
            source_registry: SOURCE,
            from_size: from as u64,
            log: &log,
            changes: &changes,
            checkpoint_size: size,
            checkpoint: &note,
            now_ms: 1,
        })?;
        applies += t.elapsed();
        // apply_sync leaves index merges and the WAL checkpoint to its caller, as the node
        // does after a cycle (untimed there too: after answering).
        upkeep(&mut writer)?;
        ensure!(
            outcome.puts == (to - from) as u64,
            "batch {from}..{to} cached {} records",
            outcome.puts
        );
        from = to;
    }
    let total = start.elapsed();
    drop(writer);
    let file_bytes = std::fs::metadata(path)?.len();
    let conn = rusqlite::Connection::open(path)?;
    let index_bytes: i64 = conn.query_row(
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'discovery%'",
        [],
        |r| r.get(0),
    )?;
    Ok(CacheBuild {
        total,
        applies,
        file_bytes,
        index_bytes: u64::try_from(index_bytes).unwrap_or(0),
    })
}

/// One round of every class over one store; `resolve` looks a record up the way
/// `GET /v1/resolve` does for that kind of record.
fn query_round(
    reader: &Reader,
    classes: &[(String, Vec<SearchQuery>)],
    deep: &[SearchQuery],
    resolve: &[(String, String)],
    lookup: &dyn Fn(&Reader, &str, &str) -> Result<bool>,
) -> Result<Vec<(String, Stats)>> {
    let mut out = Vec::new();
    let mut all = Vec::new();
    let mut all_hits = 0;
    for (name, queries) in classes {
        let mut lat = Vec::with_capacity(queries.len());
        let mut hits = 0;
        for q in queries {
            let t = Instant::now();
            let page = discover::search(reader, q)?;
            lat.push(t.elapsed());
            hits += page.hits.len();
        }
        all.extend_from_slice(&lat);
        all_hits += hits;
        out.push((name.clone(), discover::stats(lat, hits)));
    }
    let (first, pages) = (discover::DEEP_FIRST_PAGE, discover::DEEP_PAGES);
    let mut lat = Vec::new();
    let mut hits = 0;
    for q in deep {
        let mut q = q.clone();
        for page in 1..first + pages {
            let t = Instant::now();
            let p = discover::search(reader, &q)?;
            let elapsed = t.elapsed();
            if page >= first {
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
        format!("deep page ({first}-{})", first + pages - 1),
        discover::stats(lat, hits),
    ));
    out.push(("all discovery".into(), discover::stats(all, all_hits)));
    let mut lat = Vec::with_capacity(resolve.len());
    for (c, k) in resolve {
        let t = Instant::now();
        let found = lookup(reader, c, k)?;
        lat.push(t.elapsed());
        ensure!(found, "{c}/{k} missing");
    }
    out.push(("resolve".into(), discover::stats(lat, resolve.len())));
    Ok(out)
}

/// The `discover` bench's classes, plus its rare words restricted to one source (`source=`
/// of `GET /v1/discover`): the registry on the cached side, local on the other.
fn store_classes(
    classes: &discover::Classes,
    source: &SourceFilter,
) -> Vec<(String, Vec<SearchQuery>)> {
    let mut out: Vec<(String, Vec<SearchQuery>)> = classes
        .named
        .iter()
        .map(|(n, q)| ((*n).to_owned(), q.clone()))
        .collect();
    if let Some((_, rare)) = classes.named.iter().find(|(n, _)| *n == "rare word") {
        out.push((
            "rare word + source".into(),
            rare.iter()
                .map(|q| SearchQuery {
                    source: Some(source.clone()),
                    ..q.clone()
                })
                .collect(),
        ));
    }
    out
}

fn discover_cache(
    records: usize,
    queries: usize,
    rounds: usize,
    skip_baseline: bool,
) -> Result<()> {
    ensure!(
        records > 0 && queries > 0 && rounds > 0,
        "nothing to measure"
    );
    println!(
        "sync discover: {records} synthetic agent cards cached from one peer (apply_sync, {CACHE_BATCH} per batch), \
         {queries} queries per class, {rounds} rounds; baseline: the same cards as local records{}; load average {}",
        if skip_baseline { " (skipped)" } else { "" },
        discover::load()
    );
    let corpus = Corpus::new(records);
    let dir = tempfile::tempdir()?;
    let cached_path = dir.path().join("cached.db");
    let built = build_cache(&cached_path, &corpus, records)?;
    println!(
        "  cache build: {:.1} s ({:.0} records/s; {:.1} s inside apply_sync, {:.1} us/record), file {:.1} MiB, discovery index {:.1} MiB",
        built.total.as_secs_f64(),
        records as f64 / built.total.as_secs_f64(),
        built.applies.as_secs_f64(),
        built.applies.as_secs_f64() * 1e6 / records as f64,
        discover::mib(built.file_bytes),
        discover::mib(built.index_bytes),
    );
    let local_path = dir.path().join("local.db");
    if !skip_baseline {
        let b = discover::build(&local_path, &corpus, records, true)?;
        println!(
            "  baseline local build (commit_batch, 256 per batch): {:.1} s ({:.1} s inside commit_batch, {:.1} us/record), file {:.1} MiB, discovery index {:.1} MiB",
            b.total.as_secs_f64(),
            b.commits.as_secs_f64(),
            b.commits.as_secs_f64() * 1e6 / records as f64,
            discover::mib(b.file_bytes),
            discover::mib(b.index_bytes()),
        );
    }
    let classes = discover::classes(&corpus, records, queries);
    let cached_classes = store_classes(&classes, &SourceFilter::Registry(SOURCE.into()));
    let local_classes = store_classes(&classes, &SourceFilter::Local);
    let cached = Reader::open(&cached_path)?;
    let local = if skip_baseline {
        None
    } else {
        Some(Reader::open(&local_path)?)
    };
    let cached_lookup =
        |r: &Reader, c: &str, k: &str| -> Result<bool> { Ok(!r.cached_records(c, k)?.is_empty()) };
    let local_lookup =
        |r: &Reader, c: &str, k: &str| -> Result<bool> { Ok(r.record(c, k)?.is_some()) };
    // Warm the page caches the way a running node's would be.
    for (reader, cls) in [
        (Some(&cached), &cached_classes),
        (local.as_ref(), &local_classes),
    ] {
        if let Some(reader) = reader {
            for (_, qs) in cls {
                for q in qs.iter().take(50) {
                    discover::search(reader, q)?;
                }
            }
        }
    }
    let mut cached_rounds = Vec::new();
    let mut local_rounds = Vec::new();
    for r in 0..rounds {
        let t = Instant::now();
        let c = query_round(
            &cached,
            &cached_classes,
            &classes.deep,
            &classes.resolve,
            &cached_lookup,
        )?;
        let l = match &local {
            Some(reader) => Some(query_round(
                reader,
                &local_classes,
                &classes.deep,
                &classes.resolve,
                &local_lookup,
            )?),
            None => None,
        };
        let p99 = |v: &[(String, Stats)], name: &str| {
            v.iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |(_, s)| s.p99)
        };
        println!(
            "  round {r}: {:.1} s, load average {}; all discovery p99: cached {:.2} ms, local {:.2} ms",
            t.elapsed().as_secs_f64(),
            discover::load(),
            p99(&c, "all discovery"),
            l.as_deref().map_or(f64::NAN, |l| p99(l, "all discovery")),
        );
        cached_rounds.push(c);
        if let Some(l) = l {
            local_rounds.push(l);
        }
    }
    let medians = |per_round: &[Vec<(String, Stats)>], i: usize| {
        let v: Vec<Stats> = per_round
            .iter()
            .filter_map(|r| r.get(i).map(|x| x.1))
            .collect();
        (!v.is_empty()).then(|| discover::median_stats(&v))
    };
    println!("median of {rounds} rounds (ms; `Reader::search`, page size 20):");
    println!(
        "| class | n | cached p50 | cached p99 | cached max | hits/page | local p50 | local p99 | local max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let names: Vec<String> = cached_rounds
        .first()
        .map(|r| r.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut worst: (f64, String) = (0.0, String::new());
    for (i, name) in names.iter().enumerate() {
        let Some(c) = medians(&cached_rounds, i) else {
            continue;
        };
        if name != "resolve" && name != "all discovery" && c.p99 > worst.0 {
            worst = (c.p99, name.clone());
        }
        let l = medians(&local_rounds, i);
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        let label = if name == "resolve" {
            "resolve (cached: `cached_records`; local: `record`)".to_owned()
        } else if name == "all discovery" {
            "**all discovery**".to_owned()
        } else {
            name.clone()
        };
        println!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.1} | {} | {} | {} |",
            c.samples,
            c.p50,
            c.p99,
            c.max,
            c.hits_per_page,
            f(l.map(|s| s.p50)),
            f(l.map(|s| s.p99)),
            f(l.map(|s| s.max)),
        );
    }
    if let Some(all) = names
        .iter()
        .position(|n| n == "all discovery")
        .and_then(|i| medians(&cached_rounds, i))
    {
        println!(
            "goal p99 <= 5 ms over cached records: {} (all discovery p99 {:.2} ms; worst class {} at {:.2} ms)",
            if all.p99 <= 5.0 && worst.0 <= 5.0 {
                "met"
            } else {
                "missed"
            },
            all.p99,
            worst.1,
            worst.0
        );
    }
    Ok(())
}

fn fingerprint(n: u8) -> String {
    format!(
        "sha256:{}",
        [n; 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn cascade(requests: usize) -> Result<()> {
    ensure!(requests > 0, "nothing to measure");
    println!(
        "sync cascade: chain A-B-C-D (peered along the chain, level-1 agreements sharing no collection), \
         {requests} sequential GET /v1/resolve per class, interleaved; load average {}",
        discover::load()
    );
    let rt = client_runtime()?;
    let http = Http::new()?;
    let names = ["A", "B", "C", "D"];
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(Node::start(
            name,
            RateLimitSettings::disabled(),
            &rt,
            &http,
        )?);
    }
    let result = rt.block_on(cascade_run(&http, &nodes, requests));
    drop(rt);
    for n in nodes {
        n.stop();
    }
    result
}

async fn cascade_run(http: &Http, nodes: &[Node], requests: usize) -> Result<()> {
    let [a, b, c, d] = nodes else {
        bail!("four nodes expected");
    };
    for pair in nodes.windows(2) {
        peer_up(http, &pair[0], &pair[1]).await?;
        agree(http, &pair[0], &pair[1], &[]).await?;
    }
    // A manifest at each of B, C and D.
    let held = [
        (b, fingerprint(2)),
        (c, fingerprint(3)),
        (d, fingerprint(4)),
    ];
    for (n, fp) in &held {
        let (status, body) = http
            .op(
                Method::PUT,
                &n.at(&format!("/v1/records/manifest/{fp}")),
                Some(&json!({"name": format!("manifest at {}", n.name), "layers": 3})),
            )
            .await?;
        ensure!((200..300).contains(&status), "{}: {status} {body}", n.name);
    }
    // Registry-card propagation, one hop per pull, nearest to D first: B learns D from C,
    // then A learns C and D from B.
    for _ in 0..2 {
        sync_now(http, c, d).await?;
        sync_now(http, b, c).await?;
        sync_now(http, a, b).await?;
    }
    for (at, hops) in [(a, 3), (b, 2)] {
        let p = peer_at(http, at, &d.id)
            .await?
            .with_context(|| format!("{} does not know D after propagation", at.name))?;
        ensure!(
            p["status"] == "DISCOVERED" && p["hops"] == hops,
            "{} lists D as {p}",
            at.name
        );
    }
    println!(
        "  setup: A knows D (DISCOVERED, 3 hops) and B knows D (2 hops) from propagated registry cards"
    );

    // The classes: (label, URL, expected hops, expected server).
    let classes = [
        (
            "local at D (`?cascade=false`), baseline",
            d.at(&format!(
                "/v1/resolve/manifest/{}?cascade=false",
                fingerprint(4)
            )),
            0,
            &d.id,
        ),
        (
            "1 hop (A -> B)",
            a.at(&format!("/v1/resolve/manifest/{}", fingerprint(2))),
            1,
            &b.id,
        ),
        (
            "2 hops (A -> B -> C)",
            a.at(&format!("/v1/resolve/manifest/{}", fingerprint(3))),
            2,
            &c.id,
        ),
        (
            "3 hops (A -> B -> C -> D)",
            a.at(&format!("/v1/resolve/manifest/{}", fingerprint(4))),
            3,
            &d.id,
        ),
    ];
    for (label, url, hops, server) in &classes {
        let (status, body) = http.get(url).await?;
        ensure!(status == 200, "{label}: {status} {body}");
        ensure!(
            body["served_by"]["hops"] == *hops && body["served_by"]["node_id"] == **server,
            "{label}: served by {}",
            body["served_by"]
        );
    }
    let warmup = 20.min(requests);
    let mut lat: Vec<Vec<Duration>> = vec![Vec::with_capacity(requests); classes.len()];
    for i in 0..warmup + requests {
        for (k, (label, url, _, _)) in classes.iter().enumerate() {
            let t = Instant::now();
            let (status, body) = http.get(url).await?;
            let elapsed = t.elapsed();
            ensure!(status == 200, "{label}: {status} {body}");
            if i >= warmup {
                lat[k].push(elapsed);
            }
        }
    }
    println!("results ({requests} requests per class after {warmup} warm-up, ms):");
    println!("| resolve | p50 | p99 | max | mean |");
    println!("|---|---|---|---|---|");
    for ((label, _, _, _), mut l) in classes.iter().zip(lat) {
        l.sort();
        let mean = l.iter().map(|d| ms(*d)).sum::<f64>() / l.len() as f64;
        println!(
            "| {label} | {:.2} | {:.2} | {:.2} | {mean:.2} |",
            ms(percentile(&l, 0.5)),
            ms(percentile(&l, 0.99)),
            ms(percentile(&l, 1.0)),
        );
    }
    Ok(())
}
