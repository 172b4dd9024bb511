//! `treaty anchor`: federated anchoring (issue 7, seed 002).
//!
//! `build` turns `members.json` into a manifest (blinded commitments under one RFC 6962
//! root, a proof per member); `extract` gives one participant its members and proofs;
//! `stamp` submits the root to OpenTimestamps calendars (Treaty nodes serve the same API)
//! and keeps their answers; `upgrade` fetches completed proofs; `verify` checks one member
//! offline and prints VERIFIED or NOT VERIFIED with the reasons (exit status 0 or 1).
//!
//! All the format and verification logic is in `treaty-anchor`; this module reads and
//! writes files, draws nonces from the OS, and talks HTTP. Calendars are reached over
//! http:// or https://; TLS trusts the public roots plus `TREATY_CA_FILE`, and presents
//! `TREATY_CLIENT_CERT` / `TREATY_CLIENT_KEY` to calendars that require mTLS.

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use treaty_anchor::ots::CALENDAR_ANSWER_BYTES_MAX;
use treaty_anchor::{
    AnchorPolicy, Document, Manifest, MemberQuery, MemberSource, PendingUpgrade,
    read_member_inputs, verify_member,
};
use treaty_note::VerifierKey;

/// Longest the CLI waits for one calendar answer.
const REQUEST_TIMEOUT_S: u64 = 30;
/// Members between two progress lines on long runs.
const PROGRESS_EVERY: u64 = 100_000;
/// The media type OpenTimestamps clients ask calendars for.
const OTS_MEDIA_TYPE: &str = "application/vnd.opentimestamps.v1";
/// How much of an error answer is shown.
const ERROR_TEXT_BYTES_MAX: usize = 160;
/// Bytes of a generated nonce.
const NONCE_BYTES: usize = treaty_anchor::GENERATED_NONCE_BYTES;

/// `treaty anchor ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AnchorCmd {
    /// Build a manifest: each member's blinded commitment under one Merkle root, with its
    /// proof. Members without a nonce get one from the OS random source.
    Build {
        /// JSON array of {participant_id, record_hash, scope, nonce?}.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the manifest.
        #[arg(long)]
        output: PathBuf,
    },
    /// Write one participant's members with their proofs and the root (and anchors), and
    /// nothing about other participants beyond the member count.
    Extract {
        /// The manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// The participant.
        #[arg(long)]
        participant_id: String,
        /// Where to write the extract.
        #[arg(long)]
        output: PathBuf,
    },
    /// Submit the root to OpenTimestamps calendars (POST /digest); keep each answer in the
    /// manifest and all of them in one .ots file.
    Stamp {
        /// The manifest to anchor.
        #[arg(long)]
        manifest: PathBuf,
        /// Where to write the anchored manifest.
        #[arg(long)]
        output: PathBuf,
        /// A calendar base URL (http:// or https://), e.g. a Treaty node's. Repeat
        /// for independent anchors.
        #[arg(long = "calendar", required = true)]
        calendars: Vec<String>,
        /// Where to write the .ots file (default: <output>.ots).
        #[arg(long)]
        ots: Option<PathBuf>,
        /// Calendars that must answer (default 1); with fewer, nothing is written.
        #[arg(long, default_value_t = 1)]
        min_calendars: usize,
    },
    /// Fetch completed proofs for pending attestations (GET /timestamp/<hex>) and merge
    /// them into the manifest or extract.
    Upgrade {
        /// The anchored manifest or extract.
        #[arg(long)]
        manifest: PathBuf,
        /// Where to write the result (default: in place).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Where to write the .ots file (default: <output>.ots).
        #[arg(long)]
        ots: Option<PathBuf>,
    },
    /// Verify one member: its commitment, its proof against the root, and every anchor.
    /// Prints VERIFIED or NOT VERIFIED with reasons; exit status 0 or 1.
    Verify {
        /// The manifest or extract.
        #[arg(long)]
        manifest: PathBuf,
        /// The participant.
        #[arg(long)]
        participant_id: String,
        /// The record hash (64 lower-case hex characters).
        #[arg(long)]
        record_hash: String,
        /// The scope.
        #[arg(long)]
        scope: String,
        /// The nonce, if the participant kept it.
        #[arg(long)]
        nonce: Option<String>,
        /// A Treaty node's ledger verifier key (text or a file holding it); its name must
        /// be the node's ledger origin. Repeatable.
        #[arg(long = "node-key")]
        node_keys: Vec<String>,
        /// A witness cosignature key (text or file); verified cosignatures are reported
        /// with their time. Repeatable.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// Anchors that must verify (default: 1 when --node-key is given, else 0).
        #[arg(long)]
        min_anchors: Option<usize>,
    },
}

/// Runs an anchor command.
pub(crate) async fn run(cmd: AnchorCmd) -> Result<ExitCode> {
    match cmd {
        AnchorCmd::Build { input, output } => build(&input, &output),
        AnchorCmd::Extract {
            manifest,
            participant_id,
            output,
        } => extract(&manifest, &participant_id, &output),
        AnchorCmd::Stamp {
            manifest,
            output,
            calendars,
            ots,
            min_calendars,
        } => {
            let ots = ots.unwrap_or_else(|| with_ots_suffix(&output));
            stamp(&manifest, &output, &calendars, &ots, min_calendars).await
        }
        AnchorCmd::Upgrade {
            manifest,
            output,
            ots,
        } => {
            let output = output.unwrap_or_else(|| manifest.clone());
            let ots = ots.unwrap_or_else(|| with_ots_suffix(&output));
            upgrade(&manifest, &output, &ots).await
        }
        AnchorCmd::Verify {
            manifest,
            participant_id,
            record_hash,
            scope,
            nonce,
            node_keys,
            witness_keys,
            min_anchors,
        } => Ok(verify(
            &manifest,
            &participant_id,
            &record_hash,
            &scope,
            nonce.as_deref(),
            &node_keys,
            &witness_keys,
            min_anchors,
        )),
    }
}

/// `<path>.ots`.
fn with_ots_suffix(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".ots");
    PathBuf::from(s)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A progress printer for `total` items: a line on stderr every [`PROGRESS_EVERY`], and
/// only on runs long enough to need it.
fn progress(what: &'static str) -> impl FnMut(u64, u64) {
    move |done, total| {
        if total >= PROGRESS_EVERY && (done % PROGRESS_EVERY == 0 || done == total) && done > 0 {
            eprintln!("{what}: {done}/{total}");
        }
    }
}

/// Writes a file through a temporary sibling and a rename, so a crash or an error never
/// leaves a half-written manifest under the final name.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_document(path: &Path) -> Result<Document> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Document::from_json_reader(file).with_context(|| format!("reading {}", path.display()))
}

fn write_document(doc: &Document, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        doc.write_json(w, &mut progress("writing manifest"))?;
        Ok(())
    })
}

/// Writes all anchors merged into one `.ots` file (none when there are no anchors).
fn write_ots(doc: &Document, path: &Path) -> Result<bool> {
    let Some(merged) = doc.anchors().merged()? else {
        return Ok(false);
    };
    let bytes = merged.to_bytes()?;
    write_atomic(path, |w| {
        w.write_all(&bytes)?;
        Ok(())
    })?;
    Ok(true)
}

fn build(input: &Path, output: &Path) -> Result<ExitCode> {
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let inputs =
        read_member_inputs(file).with_context(|| format!("reading {}", input.display()))?;
    // One call to the OS for every nonce needed: a million members would otherwise make a
    // million system calls.
    let missing = inputs.iter().filter(|m| m.nonce.is_none()).count();
    let mut pool = vec![0u8; missing * NONCE_BYTES];
    getrandom::fill(&mut pool).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let mut chunks = pool.chunks_exact(NONCE_BYTES);
    // Should the pool run dry (it cannot), an all-zero nonce is refused by the builder as
    // "trivial", so no member is ever committed with a predictable nonce.
    let mut nonce_source = || {
        chunks
            .next()
            .and_then(|c| <[u8; NONCE_BYTES]>::try_from(c).ok())
            .unwrap_or([0; NONCE_BYTES])
    };
    let manifest = Manifest::build(inputs, &mut nonce_source, &mut progress("building"))?;
    let doc = Document::Manifest(manifest);
    write_document(&doc, output)?;
    println!(
        "built manifest of {} members ({missing} nonces generated), root {}",
        doc.tree_size(),
        to_hex(&doc.root())
    );
    println!("wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}

fn extract(manifest: &Path, participant_id: &str, output: &Path) -> Result<ExitCode> {
    let Document::Manifest(m) = read_document(manifest)? else {
        bail!(
            "{} is an extract; extract from the whole manifest",
            manifest.display()
        );
    };
    let e = m.extract(participant_id)?;
    write_atomic(output, |w| {
        e.write_json(w)?;
        Ok(())
    })?;
    println!(
        "wrote {} member(s) of {participant_id:?} under root {} to {}",
        e.members().len(),
        to_hex(&e.root()),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn http_client() -> Result<reqwest::Client> {
    crate::tls::TlsArgs::from_env()
        .http_builder()?
        .timeout(Duration::from_secs(REQUEST_TIMEOUT_S))
        .user_agent(concat!("treaty/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building HTTP client")
}

/// Refuses URLs that are not http(s), with the reason.
fn check_calendar_url(url: &str) -> Result<()> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        bail!("{url}: a calendar URL starts with http:// or https://");
    }
    Ok(())
}

/// Reads an answer body, refusing more than `max` bytes.
async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.context("reading the answer")? {
        if body.len() + chunk.len() > max {
            bail!("answer is over {max} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A short, printable excerpt of an error answer (calendars answer text; do not let it
/// forge lines in our output).
async fn error_text(resp: reqwest::Response) -> String {
    let body = read_limited(resp, 64 * 1024).await.unwrap_or_default();
    body.iter()
        .take(ERROR_TEXT_BYTES_MAX)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

/// `POST <calendar>/digest`: the calendar's bare timestamp for `digest`.
async fn post_digest(http: &reqwest::Client, calendar: &str, digest: &[u8]) -> Result<Vec<u8>> {
    let url = format!("{}/digest", calendar.trim_end_matches('/'));
    let resp = http
        .post(&url)
        .header(reqwest::header::ACCEPT, OTS_MEDIA_TYPE)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(digest.to_vec())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("POST {url}: HTTP {status}: {}", error_text(resp).await);
    }
    read_limited(resp, CALENDAR_ANSWER_BYTES_MAX)
        .await
        .with_context(|| format!("POST {url}"))
}

/// `GET <uri>/timestamp/<hex>`: the completed proof, or `None` while the calendar has none
/// (404).
async fn get_timestamp(
    http: &reqwest::Client,
    pending: &PendingUpgrade,
) -> Result<Option<Vec<u8>>> {
    let url = pending.url();
    let resp = http
        .get(&url)
        .header(reqwest::header::ACCEPT, OTS_MEDIA_TYPE)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}: {}", error_text(resp).await);
    }
    Ok(Some(
        read_limited(resp, CALENDAR_ANSWER_BYTES_MAX)
            .await
            .with_context(|| format!("GET {url}"))?,
    ))
}

async fn stamp(
    manifest: &Path,
    output: &Path,
    calendars: &[String],
    ots: &Path,
    min_calendars: usize,
) -> Result<ExitCode> {
    for c in calendars {
        check_calendar_url(c)?;
    }
    let mut doc = read_document(manifest)?;
    if !matches!(doc, Document::Manifest(_)) {
        bail!(
            "{} is an extract; stamp the whole manifest",
            manifest.display()
        );
    }
    let root = doc.root();
    let http = http_client()?;
    let mut answered = 0usize;
    for calendar in calendars {
        let calendar = calendar.trim_end_matches('/');
        let result = match post_digest(&http, calendar, &root).await {
            Ok(answer) => doc
                .anchors_mut()
                .attach(calendar, &answer)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                answered += 1;
                eprintln!("{calendar}: submitted root {}", to_hex(&root));
            }
            Err(e) => eprintln!("{calendar}: failed: {e:#}"),
        }
    }
    if answered < min_calendars.max(1) {
        eprintln!(
            "{answered} of {} calendar(s) answered, {} required: nothing written",
            calendars.len(),
            min_calendars.max(1)
        );
        return Ok(ExitCode::FAILURE);
    }
    write_document(&doc, output)?;
    write_ots(&doc, ots)?;
    println!(
        "anchored root {} at {answered} of {} calendar(s)",
        to_hex(&root),
        calendars.len()
    );
    println!("wrote {} and {}", output.display(), ots.display());
    Ok(ExitCode::SUCCESS)
}

async fn upgrade(manifest: &Path, output: &Path, ots: &Path) -> Result<ExitCode> {
    let mut doc = read_document(manifest)?;
    let pending = doc.anchors().pending()?;
    if pending.is_empty() {
        println!("nothing to upgrade: no pending attestations");
        return Ok(ExitCode::SUCCESS);
    }
    let http = http_client()?;
    let (mut completed, mut waiting, mut failed) = (0usize, 0usize, 0usize);
    for p in &pending {
        if let Err(e) = check_calendar_url(&p.uri) {
            eprintln!("anchor {}: {e:#}", p.anchor);
            failed += 1;
            continue;
        }
        match get_timestamp(&http, p).await {
            Ok(Some(answer)) => match doc.anchors_mut().apply_upgrade(p, &answer) {
                Ok(true) => {
                    completed += 1;
                    eprintln!("anchor {}: {} completed the proof", p.anchor, p.uri);
                }
                Ok(false) => {
                    waiting += 1;
                    eprintln!("anchor {}: {} answered, still pending", p.anchor, p.uri);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("anchor {}: {} answered a bad proof: {e}", p.anchor, p.uri);
                }
            },
            Ok(None) => {
                waiting += 1;
                eprintln!("anchor {}: {} has no completed proof yet", p.anchor, p.uri);
            }
            Err(e) => {
                failed += 1;
                eprintln!("anchor {}: {e:#}", p.anchor);
            }
        }
    }
    if completed > 0 {
        write_document(&doc, output)?;
        write_ots(&doc, ots)?;
        println!("wrote {} and {}", output.display(), ots.display());
    }
    println!("{completed} completed, {waiting} still pending, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A key given as text or as a file holding it.
fn read_key(arg: &str) -> Result<VerifierKey, String> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).map_err(|e| format!("reading key file {arg}: {e}"))?
    } else {
        arg.to_owned()
    };
    VerifierKey::parse(text.trim()).map_err(|e| format!("key {arg:?}: {e}"))
}

#[allow(clippy::too_many_arguments)] // One per command-line flag; bundling them adds nothing.
fn verify(
    manifest: &Path,
    participant_id: &str,
    record_hash: &str,
    scope: &str,
    nonce: Option<&str>,
    node_keys: &[String],
    witness_keys: &[String],
    min_anchors: Option<usize>,
) -> ExitCode {
    let checked = (|| -> Result<treaty_anchor::Report, String> {
        let policy = AnchorPolicy {
            node_keys: node_keys
                .iter()
                .map(|k| read_key(k))
                .collect::<Result<_, _>>()?,
            witness_keys: witness_keys
                .iter()
                .map(|k| read_key(k))
                .collect::<Result<_, _>>()?,
            min_verified_anchors: min_anchors.unwrap_or(usize::from(!node_keys.is_empty())),
        };
        let query = MemberQuery::new(participant_id, record_hash, scope, nonce)
            .map_err(|e| e.to_string())?;
        let doc = read_document(manifest).map_err(|e| format!("{e:#}"))?;
        let member = doc.lookup(&query).map_err(|e| e.to_string())?;
        Ok(verify_member(&member, &doc, &policy))
    })();
    match checked {
        Ok(report) => {
            print!("{report}");
            if report.is_verified() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(reason) => {
            println!("NOT VERIFIED\n  FAIL {reason}");
            ExitCode::FAILURE
        }
    }
}
