//! Operator commands for federation: peers, trust proposals, agreements and licenses.
//!
//! Every command here needs the operator token. The request bodies are built by the pure
//! functions below (unit-tested); the node checks them again and answers problem+json with
//! a stable `code` when it refuses one.

use crate::client::Client;
use crate::{ClientArgs, print_json};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use std::process::ExitCode;
use treaty_types::CollectionName;

/// Longest jurisdiction label, in bytes (as the node checks it).
const JURISDICTION_BYTES_MAX: usize = 64;

/// `treaty peer ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PeerCmd {
    /// Register a peer in both directions.
    ///
    /// The node fetches and verifies the peer's registry card at <PEER_URL>, records the peer,
    /// then registers itself with the peer by a signed request. The summary says whether
    /// the peer accepted that registration; a peer that requires an admission license
    /// refuses it unless --license carries a key it issued.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The peer's base URL (or its registry card URL).
        #[arg(value_name = "PEER_URL")]
        peer_url: String,
        /// An admission license key the peer issued to this node, presented when
        /// registering with it.
        #[arg(long, value_parser = non_empty)]
        license: Option<String>,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// List registered peers: id, name, status, trust level, base URL, last verification
    /// and the number of recent failures.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the node's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print one peer as JSON, with its verified registry card and recent failures.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
    },
    /// Suspend a peer: its calls are refused with 403 until it is resumed.
    Suspend {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
        /// Why (kept as the peer's status reason; at most 512 bytes).
        #[arg(long, value_parser = non_empty)]
        reason: Option<String>,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Resume a suspended peer: the node re-verifies its card now and marks it ACTIVE if
    /// it verifies, SUSPENDED with the reason otherwise.
    Resume {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Run one sync cycle with a peer now: card refresh (If-None-Match), drift check,
    /// registry cards, then its sync feed until caught up, every page verified against
    /// its signed checkpoint. Prints what was applied.
    Sync {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Forget what was synced from a peer (verified state and cached records); the next
    /// sync pulls and verifies its ledger from the start.
    ResetSync {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Scan every peer with an agreement for drift now: policy and schema hashes against
    /// the agreement's baseline, and the cache against the peer's current checkpoint.
    DriftScan {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// List discrepancies found in what peers served, each with its evidence (JSON).
    Discrepancies {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this peer (id or node id).
        #[arg(long)]
        peer: Option<String>,
    },
    /// Forget a peer: its keys are dropped, so its calls fail as unknown_key. Its
    /// proposals and agreements stay as history.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id (or the peer's node id).
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

/// How often each side re-verifies the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Frequency {
    /// Every hour.
    Hourly,
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
}

impl Frequency {
    fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }
}

/// Collection names from a comma-separated flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CollectionList(Vec<String>);

/// The terms flags shared by `propose` and `proposals counter`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct TermsArgs {
    /// Comma-separated collections the agreement covers, in order (e.g. agent-card,notes);
    /// "" for none. Default: none.
    #[arg(long, value_parser = parse_collections)]
    collections: Option<CollectionList>,
    /// How often each side re-verifies the other. Default: daily.
    #[arg(long, value_enum)]
    frequency: Option<Frequency>,
    /// How long shared data is kept, in days (1-36500). Default: 365.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    retention_days: Option<u32>,
    /// The legal jurisdiction the agreement falls under (1-64 printable ASCII
    /// characters, e.g. EU). Default: none.
    #[arg(long, value_parser = parse_jurisdiction)]
    jurisdiction: Option<String>,
    /// Grant each side the right to audit the other. Default: no audit rights.
    #[arg(long)]
    audit_rights: bool,
}

impl TermsArgs {
    /// Whether any terms flag was given.
    fn any(&self) -> bool {
        self.collections.is_some()
            || self.frequency.is_some()
            || self.retention_days.is_some()
            || self.jurisdiction.is_some()
            || self.audit_rights
    }

    /// The full terms object: the flags given, the defaults for the rest. `jurisdiction`
    /// is omitted when not set (the node refuses `null`).
    fn to_json(&self) -> Value {
        let mut t = Map::new();
        t.insert(
            "collections".into(),
            json!(self.collections.as_ref().map_or(&[][..], |c| &c.0[..])),
        );
        t.insert(
            "verification_frequency".into(),
            self.frequency.unwrap_or(Frequency::Daily).as_str().into(),
        );
        t.insert(
            "retention_days".into(),
            self.retention_days.unwrap_or(365).into(),
        );
        if let Some(j) = &self.jurisdiction {
            t.insert("jurisdiction".into(), j.as_str().into());
        }
        t.insert("audit_rights".into(), self.audit_rights.into());
        Value::Object(t)
    }
}

/// `treaty propose ...`
#[derive(Debug, Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The peer to propose to: its peer id, node id or base URL.
    #[arg(long, value_parser = non_empty)]
    target: String,
    /// Trust level offered: 0 isolated, 1 observe (read the sync feed), 2 verify,
    /// 3 attest, 4 integrate.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    trust_level: u8,
    #[command(flatten)]
    terms: TermsArgs,
    /// Seconds until the offer expires unanswered. Default: the node's configured
    /// offer lifetime.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    expires_in: Option<u64>,
    /// Print the node's JSON answer instead of the summary.
    #[arg(long)]
    json: bool,
}

/// `treaty proposals ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ProposalsCmd {
    /// List proposals sent and received, newest first, with their status and whose turn
    /// it is (`awaiting`: the node id that must answer next).
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the node's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print one proposal as JSON, with every signed offer, counter and rejection.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Proposal id.
        id: String,
    },
    /// Accept the latest offer: both nodes sign the agreement and it takes effect.
    Accept {
        #[command(flatten)]
        client: ClientArgs,
        /// Proposal id.
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Reject the latest offer; the proposal is closed.
    Reject {
        #[command(flatten)]
        client: ClientArgs,
        /// Proposal id.
        id: String,
        /// Why (sent to the peer, signed; at most 512 bytes).
        #[arg(long, value_parser = non_empty)]
        reason: Option<String>,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Answer the latest offer with a counter-offer; the turn passes to the peer.
    ///
    /// Without --trust-level the offered level is kept. Without any terms flag the
    /// offered terms are kept; with any terms flag the terms are replaced by a full set
    /// built from the flags given and the defaults for the rest (no collections, daily,
    /// 365 days, no jurisdiction, no audit rights).
    Counter {
        #[command(flatten)]
        client: ClientArgs,
        /// Proposal id.
        id: String,
        /// Trust level countered: 0 isolated, 1 observe, 2 verify, 3 attest, 4 integrate.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
        trust_level: Option<u8>,
        #[command(flatten)]
        terms: TermsArgs,
        /// Seconds until the counter-offer expires unanswered. Default: the node's
        /// configured offer lifetime.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        expires_in: Option<u64>,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

/// `treaty agreements ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AgreementsCmd {
    /// List trust agreements with their status (active, revoking, revoked).
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the node's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print one agreement as JSON: the document signed by both nodes, its hash and any
    /// revocation.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Agreement id.
        id: String,
    },
    /// Revoke an agreement after a notice period.
    ///
    /// The node signs the revocation and delivers it to the peer. Revocation is
    /// unilateral: it takes effect at the end of the notice even if the peer cannot be
    /// told (the summary says whether it was).
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Agreement id.
        id: String,
        /// Seconds until the revocation takes effect. Default: the node's
        /// federation.revocation_notice_seconds.
        #[arg(long)]
        notice: Option<u64>,
        /// Why (signed and sent to the peer; at most 512 bytes).
        #[arg(long, value_parser = non_empty)]
        reason: Option<String>,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

/// License tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Tier {
    /// The standard tier.
    Standard,
    /// The enterprise tier.
    Enterprise,
}

impl Tier {
    fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Enterprise => "enterprise",
        }
    }
}

/// `treaty license ...`
#[derive(Debug, Subcommand)]
pub(crate) enum LicenseCmd {
    /// Issue an admission license. Give its key to the peer's operator, who passes it as
    /// `treaty peer add --license`. The key is printed once; the node keeps only its
    /// SHA-256. Limits not given take the node's defaults.
    Issue {
        #[command(flatten)]
        client: ClientArgs,
        /// Label (e.g. the peer organisation's name).
        #[arg(long, value_parser = non_empty)]
        name: Option<String>,
        /// Most records the licensed peer may hold here.
        #[arg(long)]
        max_records: Option<u64>,
        /// Most calls per minute the licensed peer may make.
        #[arg(long)]
        max_events_per_minute: Option<u32>,
        /// License tier.
        #[arg(long, value_enum)]
        tier: Option<Tier>,
        /// Print the node's JSON answer (key included) instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// List issued licenses (without keys).
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the node's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Suspend a license: the peer it admits is refused until the license is resumed.
    Suspend {
        #[command(flatten)]
        client: ClientArgs,
        /// License id.
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Make a suspended license active again.
    Resume {
        #[command(flatten)]
        client: ClientArgs,
        /// License id.
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a license for good; the peer it admits becomes REVOKED.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// License id.
        id: String,
        /// Print the node's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

// ---------------------------------------------------------------------------------------
// Flag parsing.

/// A value that is not empty (nor only whitespace).
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

/// Comma-separated collection names, each trimmed. An empty (or blank) value is the empty
/// list; an empty name inside a list (`a,,b`, `a,`), an invalid name or a name given twice
/// is refused.
fn parse_collections(s: &str) -> Result<CollectionList, String> {
    if s.trim().is_empty() {
        return Ok(CollectionList(Vec::new()));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let name = part.trim();
        if name.is_empty() {
            return Err(format!(
                "collection {} is empty (names are separated by single commas)",
                i + 1
            ));
        }
        if CollectionName::parse(name).is_err() {
            return Err(format!(
                "{name:?} is not a collection name (a-z, 0-9 and '-', starting with a letter, at most 64)"
            ));
        }
        if out.iter().any(|n| n == name) {
            return Err(format!("collection {name:?} is listed twice"));
        }
        out.push(name.to_owned());
    }
    Ok(CollectionList(out))
}

/// 1 to 64 bytes of printable ASCII, spaces allowed but not first or last.
fn parse_jurisdiction(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= JURISDICTION_BYTES_MAX
        && s.bytes().all(|b| (b' '..=b'~').contains(&b))
        && !s.starts_with(' ')
        && !s.ends_with(' ');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "a jurisdiction is 1-{JURISDICTION_BYTES_MAX} printable ASCII characters without leading or trailing spaces"
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Request bodies.

fn peer_add_body(url: &str, license: Option<&str>) -> Value {
    let mut b = json!({ "url": url });
    if let Some(l) = license {
        b["license"] = l.into();
    }
    b
}

fn reason_body(reason: Option<&str>) -> Value {
    match reason {
        Some(r) => json!({ "reason": r }),
        None => json!({}),
    }
}

fn propose_body(
    target: &str,
    trust_level: u8,
    terms: &TermsArgs,
    expires_in: Option<u64>,
) -> Value {
    let mut b = json!({
        "target": target,
        "trust_level": trust_level,
        "terms": terms.to_json(),
    });
    if let Some(e) = expires_in {
        b["expires_in_seconds"] = e.into();
    }
    b
}

fn reject_body(reason: Option<&str>) -> Value {
    let mut b = json!({ "action": "reject" });
    if let Some(r) = reason {
        b["reason"] = r.into();
    }
    b
}

fn counter_body(trust_level: Option<u8>, terms: &TermsArgs, expires_in: Option<u64>) -> Value {
    let mut b = json!({ "action": "counter" });
    if let Some(l) = trust_level {
        b["trust_level"] = l.into();
    }
    if terms.any() {
        b["terms"] = terms.to_json();
    }
    if let Some(e) = expires_in {
        b["expires_in_seconds"] = e.into();
    }
    b
}

fn license_issue_body(
    name: Option<&str>,
    max_records: Option<u64>,
    max_events_per_minute: Option<u32>,
    tier: Option<Tier>,
) -> Value {
    let mut b = json!({});
    if let Some(n) = name {
        b["name"] = n.into();
    }
    if let Some(m) = max_records {
        b["max_records"] = m.into();
    }
    if let Some(m) = max_events_per_minute {
        b["max_events_per_minute"] = m.into();
    }
    if let Some(t) = tier {
        b["tier"] = t.as_str().into();
    }
    b
}

// ---------------------------------------------------------------------------------------
// Output.

/// A JSON value as a table cell: `-` for null or missing, strings unquoted.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Left-aligned columns separated by two spaces, without trailing spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            line.extend(std::iter::repeat_n(' ', w - c.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Prints the rows of `items` under `headers`, or `empty` when there are none.
fn print_table(items: &Value, headers: &[&str], fields: &[&str], empty: &str) {
    let rows: Vec<Vec<String>> = items
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| fields.iter().map(|f| cell(&item[*f])).collect())
        .collect();
    if rows.is_empty() {
        println!("{empty}");
    } else {
        print!("{}", table(headers, &rows));
    }
}

/// One line on whether the peer accepted our registration, from `add`'s `registration`.
fn registration_summary(r: &Value) -> String {
    if r["ok"].as_bool() == Some(true) {
        let mut s = "accepted by the peer".to_owned();
        if let Some(code) = r["status"].as_u64() {
            s.push_str(&format!(" (HTTP {code}"));
            if let Some(st) = r["answer"]["status"].as_str() {
                s.push_str(&format!(", status {st}"));
            }
            s.push(')');
        }
        return s;
    }
    let (code, detail) = if r["answer"]["code"].is_string() {
        (&r["answer"]["code"], &r["answer"]["detail"])
    } else {
        (&r["code"], &r["detail"])
    };
    let reason = match (code.as_str(), detail.as_str()) {
        (Some(c), Some(d)) if !d.is_empty() => Some(format!("{c}: {d}")),
        (Some(c), _) => Some(c.to_owned()),
        _ => None,
    };
    match (r["status"].as_u64(), reason) {
        (Some(status), Some(why)) => format!("refused by the peer (HTTP {status} {why})"),
        (Some(status), None) => format!("refused by the peer (HTTP {status})"),
        (None, Some(why)) => format!("failed ({why})"),
        (None, None) => "failed".to_owned(),
    }
}

fn print_peer(p: &Value) {
    println!("peer {} ({})", cell(&p["id"]), cell(&p["name"]));
    println!("  node id:     {}", cell(&p["node_id"]));
    println!("  base url:    {}", cell(&p["base_url"]));
    let mut status = cell(&p["status"]);
    if let Some(reason) = p["status_reason"].as_str() {
        status.push_str(&format!(" ({reason})"));
    }
    println!("  status:      {status}");
    println!("  trust level: {}", cell(&p["trust_level"]));
}

fn print_proposal(p: &Value) {
    println!("proposal {}", cell(&p["id"]));
    println!("  peer:        {}", cell(&p["peer_id"]));
    println!(
        "  status:      {} (round {}, trust level {})",
        cell(&p["status"]),
        cell(&p["round"]),
        cell(&p["trust_level"])
    );
    println!("  awaiting:    {}", cell(&p["awaiting"]));
    println!("  expires at:  {}", cell(&p["expires_at"]));
}

fn print_agreement(a: &Value) {
    println!("agreement {} ({})", cell(&a["id"]), cell(&a["status"]));
    println!("  peer:        {}", cell(&a["peer_id"]));
    println!(
        "  trust level: {} ({})",
        cell(&a["trust_level"]),
        cell(&a["trust_level_name"])
    );
    println!("  hash:        {}", cell(&a["agreement_hash"]));
}

fn print_license(l: &Value) {
    println!(
        "license {} ({}): {}",
        cell(&l["id"]),
        cell(&l["name"]),
        cell(&l["status"])
    );
    println!(
        "  tier {}, max records {}, max events per minute {}, peer {}",
        cell(&l["tier"]),
        cell(&l["max_records"]),
        cell(&l["max_events_per_minute"]),
        cell(&l["peer_id"])
    );
}

/// Prints `v` as JSON when `json`, else through `summary`.
fn show(v: &Value, json: bool, summary: impl FnOnce(&Value)) {
    if json {
        print_json(v);
    } else {
        summary(v);
    }
}

// ---------------------------------------------------------------------------------------
// Commands.

pub(crate) async fn peer(cmd: PeerCmd) -> Result<ExitCode> {
    match cmd {
        PeerCmd::Add {
            client,
            peer_url,
            license,
            json,
        } => {
            let v = Client::new(&client)?
                .add_peer(&peer_add_body(&peer_url, license.as_deref()))
                .await?;
            let accepted = v["registration"]["ok"].as_bool() == Some(true);
            show(&v, json, |v| {
                print_peer(&v["peer"]);
                println!(
                    "  registration with the peer: {}",
                    registration_summary(&v["registration"])
                );
            });
            if !accepted {
                eprintln!(
                    "warning: the peer is recorded here, but it did not accept this node's registration; fix the cause and run `treaty peer add` again"
                );
            }
        }
        PeerCmd::List { client, json } => {
            let v = Client::new(&client)?.peers().await?;
            show(&v, json, |v| {
                let rows: Vec<Vec<String>> = v["peers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        vec![
                            cell(&p["id"]),
                            cell(&p["name"]),
                            cell(&p["status"]),
                            cell(&p["trust_level"]),
                            cell(&p["base_url"]),
                            cell(&p["last_verified_at"]),
                            p["recent_failures"]
                                .as_array()
                                .map_or(0, Vec::len)
                                .to_string(),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no peers");
                } else {
                    print!(
                        "{}",
                        table(
                            &[
                                "ID",
                                "NAME",
                                "STATUS",
                                "TRUST",
                                "BASE URL",
                                "LAST VERIFIED",
                                "FAILURES"
                            ],
                            &rows
                        )
                    );
                }
            });
        }
        PeerCmd::Show { client, id } => print_json(&Client::new(&client)?.peer(&id).await?),
        PeerCmd::Suspend {
            client,
            id,
            reason,
            json,
        } => {
            let v = Client::new(&client)?
                .suspend_peer(&id, &reason_body(reason.as_deref()))
                .await?;
            show(&v, json, print_peer);
        }
        PeerCmd::Resume { client, id, json } => {
            let v = Client::new(&client)?.resume_peer(&id).await?;
            show(&v, json, print_peer);
        }
        PeerCmd::Sync { client, id, json } => {
            let v = Client::new(&client)?.sync_peer(&id).await?;
            show(&v, json, |v| {
                println!(
                    "synced {}: {} pages, {} entries verified, {} records cached or updated, {} removed; peer tree size {}; {} registry cards learned",
                    cell(&v["peer"]["id"]),
                    cell(&v["pages"]),
                    cell(&v["entries"]),
                    cell(&v["puts"]),
                    cell(&v["deletes"]),
                    cell(&v["size"]),
                    cell(&v["cards"]),
                );
            });
        }
        PeerCmd::ResetSync { client, id, json } => {
            let v = Client::new(&client)?.reset_peer_sync(&id).await?;
            show(&v, json, |v| {
                println!(
                    "sync state of {} reset: {} records cached",
                    cell(&v["id"]),
                    cell(&v["sync"]["cached_records"])
                );
            });
        }
        PeerCmd::DriftScan { client, json } => {
            let v = Client::new(&client)?.drift_scan().await?;
            show(&v, json, |v| {
                println!(
                    "scanned {} peers, {} in DRIFT",
                    cell(&v["scanned"]),
                    cell(&v["drifted"])
                );
                for p in v["peers"].as_array().into_iter().flatten() {
                    println!(
                        "{} {} {}: card {} cache {}",
                        cell(&p["peer_id"]),
                        cell(&p["name"]),
                        cell(&p["status"]),
                        if p["card"]["ok"] == true {
                            "ok"
                        } else {
                            "DRIFTED"
                        },
                        if p["cache"]["ok"] == true {
                            "ok"
                        } else {
                            "DISAGREES"
                        },
                    );
                }
            });
        }
        PeerCmd::Discrepancies { client, peer } => {
            print_json(&Client::new(&client)?.discrepancies(peer.as_deref()).await?);
        }
        PeerCmd::Remove { client, id, json } => {
            let v = Client::new(&client)?.remove_peer(&id).await?;
            show(&v, json, |v| {
                println!(
                    "removed peer {} (node {})",
                    cell(&v["removed"]),
                    cell(&v["node_id"])
                );
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn propose(args: ProposeArgs) -> Result<ExitCode> {
    let body = propose_body(&args.target, args.trust_level, &args.terms, args.expires_in);
    let v = Client::new(&args.client)?.propose(&body).await?;
    show(&v, args.json, print_proposal);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn proposals(cmd: ProposalsCmd) -> Result<ExitCode> {
    match cmd {
        ProposalsCmd::List { client, json } => {
            let v = Client::new(&client)?.proposals().await?;
            show(&v, json, |v| {
                print_table(
                    &v["proposals"],
                    &[
                        "ID",
                        "DIRECTION",
                        "PEER",
                        "STATUS",
                        "ROUND",
                        "TRUST",
                        "AWAITING",
                        "EXPIRES AT",
                    ],
                    &[
                        "id",
                        "direction",
                        "peer_id",
                        "status",
                        "round",
                        "trust_level",
                        "awaiting",
                        "expires_at",
                    ],
                    "no proposals",
                );
            });
        }
        ProposalsCmd::Show { client, id } => {
            print_json(&Client::new(&client)?.proposal(&id).await?);
        }
        ProposalsCmd::Accept { client, id, json } => {
            let v = Client::new(&client)?
                .respond(&id, &json!({ "action": "accept" }))
                .await?;
            show(&v, json, print_agreement);
        }
        ProposalsCmd::Reject {
            client,
            id,
            reason,
            json,
        } => {
            let v = Client::new(&client)?
                .respond(&id, &reject_body(reason.as_deref()))
                .await?;
            show(&v, json, print_proposal);
        }
        ProposalsCmd::Counter {
            client,
            id,
            trust_level,
            terms,
            expires_in,
            json,
        } => {
            let v = Client::new(&client)?
                .respond(&id, &counter_body(trust_level, &terms, expires_in))
                .await?;
            show(&v, json, print_proposal);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn agreements(cmd: AgreementsCmd) -> Result<ExitCode> {
    match cmd {
        AgreementsCmd::List { client, json } => {
            let v = Client::new(&client)?.agreements().await?;
            show(&v, json, |v| {
                print_table(
                    &v["agreements"],
                    &[
                        "ID",
                        "PEER",
                        "TRUST",
                        "STATUS",
                        "ESTABLISHED AT",
                        "EFFECTIVE AT",
                    ],
                    &[
                        "id",
                        "peer_id",
                        "trust_level",
                        "status",
                        "established_at",
                        "effective_at",
                    ],
                    "no agreements",
                );
            });
        }
        AgreementsCmd::Show { client, id } => {
            print_json(&Client::new(&client)?.agreement(&id).await?);
        }
        AgreementsCmd::Revoke {
            client,
            id,
            notice,
            reason,
            json,
        } => {
            let v = Client::new(&client)?
                .revoke_agreement(&id, notice, reason.as_deref())
                .await?;
            show(&v, json, |v| {
                print_agreement(v);
                println!("  effective:   {}", cell(&v["effective_at"]));
                println!(
                    "  peer told:   {}",
                    match v["delivered"].as_bool() {
                        Some(true) => "yes",
                        Some(false) => "no (the revocation takes effect regardless)",
                        None => "-",
                    }
                );
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn license(cmd: LicenseCmd) -> Result<ExitCode> {
    let (client, id, status, json) = match cmd {
        LicenseCmd::Issue {
            client,
            name,
            max_records,
            max_events_per_minute,
            tier,
            json,
        } => {
            let body =
                license_issue_body(name.as_deref(), max_records, max_events_per_minute, tier);
            let v = Client::new(&client)?.issue_license(&body).await?;
            show(&v, json, |v| {
                print_license(v);
                println!();
                println!(
                    "license key (shown only once; the node keeps only its SHA-256, so store it now):"
                );
                println!();
                println!("    {}", cell(&v["key"]));
                println!();
            });
            return Ok(ExitCode::SUCCESS);
        }
        LicenseCmd::List { client, json } => {
            let v = Client::new(&client)?.licenses().await?;
            show(&v, json, |v| {
                print_table(
                    &v["licenses"],
                    &[
                        "ID",
                        "NAME",
                        "TIER",
                        "STATUS",
                        "PEER",
                        "MAX RECORDS",
                        "MAX EVENTS/MIN",
                        "CREATED AT",
                    ],
                    &[
                        "id",
                        "name",
                        "tier",
                        "status",
                        "peer_id",
                        "max_records",
                        "max_events_per_minute",
                        "created_at",
                    ],
                    "no licenses",
                );
            });
            return Ok(ExitCode::SUCCESS);
        }
        LicenseCmd::Suspend { client, id, json } => (client, id, "suspended", json),
        LicenseCmd::Resume { client, id, json } => (client, id, "active", json),
        LicenseCmd::Revoke { client, id, json } => (client, id, "revoked", json),
    };
    let v = Client::new(&client)?
        .set_license_status(&id, status)
        .await?;
    show(&v, json, |v| {
        print_license(v);
        if status == "revoked" && v["peer_id"].is_string() {
            println!("  the peer it admitted is now REVOKED");
        }
    });
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser as _};

    fn names(list: &[&str]) -> CollectionList {
        CollectionList(list.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        crate::Cli::command().debug_assert();
    }

    #[test]
    fn collections_are_split_and_trimmed() {
        assert_eq!(
            parse_collections("agent-card, notes ,x1").unwrap(),
            names(&["agent-card", "notes", "x1"])
        );
        assert_eq!(parse_collections("notes").unwrap(), names(&["notes"]));
        assert_eq!(parse_collections("").unwrap(), names(&[]));
        assert_eq!(parse_collections("  ").unwrap(), names(&[]));
    }

    #[test]
    fn empty_invalid_and_repeated_collection_names_are_refused() {
        for bad in ["a,,b", "a,", ",a", "a, ,b"] {
            let e = parse_collections(bad).unwrap_err();
            assert!(e.contains("empty"), "{bad}: {e}");
        }
        for bad in ["Notes", "1abc", "a b", "a_b"] {
            let e = parse_collections(bad).unwrap_err();
            assert!(e.contains("not a collection name"), "{bad}: {e}");
        }
        let long = "a".repeat(65);
        assert!(parse_collections(&long).is_err());
        let e = parse_collections("a,b, a").unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn jurisdictions_are_printable_ascii() {
        assert_eq!(parse_jurisdiction("EU").unwrap(), "EU");
        assert_eq!(parse_jurisdiction("New York").unwrap(), "New York");
        for bad in ["", " EU", "EU ", "Zürich", "a\tb", &"x".repeat(65)] {
            assert!(parse_jurisdiction(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn blank_values_are_refused() {
        assert!(non_empty("").is_err());
        assert!(non_empty("  ").is_err());
        assert_eq!(non_empty("why").unwrap(), "why");
    }

    #[test]
    fn terms_default_to_a_full_object() {
        let t = TermsArgs::default();
        assert!(!t.any());
        assert_eq!(
            t.to_json(),
            json!({
                "collections": [],
                "verification_frequency": "daily",
                "retention_days": 365,
                "audit_rights": false,
            })
        );
    }

    #[test]
    fn terms_take_every_flag() {
        let t = TermsArgs {
            collections: Some(names(&["agent-card", "notes"])),
            frequency: Some(Frequency::Weekly),
            retention_days: Some(30),
            jurisdiction: Some("EU".into()),
            audit_rights: true,
        };
        assert!(t.any());
        assert_eq!(
            t.to_json(),
            json!({
                "collections": ["agent-card", "notes"],
                "verification_frequency": "weekly",
                "retention_days": 30,
                "jurisdiction": "EU",
                "audit_rights": true,
            })
        );
    }

    #[test]
    fn a_proposal_always_carries_full_terms() {
        let b = propose_body("peer-1", 1, &TermsArgs::default(), None);
        assert_eq!(
            b,
            json!({
                "target": "peer-1",
                "trust_level": 1,
                "terms": TermsArgs::default().to_json(),
            })
        );
        let b = propose_body("https://b.example", 2, &TermsArgs::default(), Some(600));
        assert_eq!(b["expires_in_seconds"], 600);
    }

    #[test]
    fn a_counter_sends_terms_only_when_a_terms_flag_is_given() {
        assert_eq!(
            counter_body(None, &TermsArgs::default(), None),
            json!({"action": "counter"})
        );
        assert_eq!(
            counter_body(Some(3), &TermsArgs::default(), Some(60)),
            json!({"action": "counter", "trust_level": 3, "expires_in_seconds": 60})
        );
        let only_retention = TermsArgs {
            retention_days: Some(90),
            ..TermsArgs::default()
        };
        assert_eq!(
            counter_body(None, &only_retention, None),
            json!({
                "action": "counter",
                "terms": {
                    "collections": [],
                    "verification_frequency": "daily",
                    "retention_days": 90,
                    "audit_rights": false,
                },
            })
        );
        let only_audit = TermsArgs {
            audit_rights: true,
            ..TermsArgs::default()
        };
        assert_eq!(
            counter_body(None, &only_audit, None)["terms"]["audit_rights"],
            true
        );
        let no_collections = TermsArgs {
            collections: Some(names(&[])),
            ..TermsArgs::default()
        };
        assert!(counter_body(None, &no_collections, None)["terms"].is_object());
    }

    #[test]
    fn optional_members_are_omitted() {
        assert_eq!(
            peer_add_body("https://b", None),
            json!({"url": "https://b"})
        );
        assert_eq!(
            peer_add_body("https://b", Some("lic_x")),
            json!({"url": "https://b", "license": "lic_x"})
        );
        assert_eq!(reason_body(None), json!({}));
        assert_eq!(reason_body(Some("audit")), json!({"reason": "audit"}));
        assert_eq!(reject_body(None), json!({"action": "reject"}));
        assert_eq!(
            reject_body(Some("no")),
            json!({"action": "reject", "reason": "no"})
        );
        assert_eq!(license_issue_body(None, None, None, None), json!({}));
        assert_eq!(
            license_issue_body(Some("acme"), Some(10), Some(60), Some(Tier::Enterprise)),
            json!({"name": "acme", "max_records": 10, "max_events_per_minute": 60, "tier": "enterprise"})
        );
    }

    #[test]
    fn flags_parse_into_the_commands() {
        let cli = crate::Cli::try_parse_from([
            "treaty",
            "propose",
            "--target",
            "peer-1",
            "--trust-level",
            "2",
            "--collections",
            "agent-card, notes",
            "--frequency",
            "hourly",
            "--audit-rights",
        ])
        .unwrap();
        let crate::Command::Propose(p) = cli.command else {
            panic!("not propose");
        };
        assert_eq!(
            propose_body(&p.target, p.trust_level, &p.terms, p.expires_in)["terms"],
            json!({
                "collections": ["agent-card", "notes"],
                "verification_frequency": "hourly",
                "retention_days": 365,
                "audit_rights": true,
            })
        );
        for bad in [
            &["treaty", "propose", "--target", "p", "--trust-level", "5"][..],
            &["treaty", "propose", "--target", "p"],
            &["treaty", "propose", "--trust-level", "1"],
            &[
                "treaty",
                "propose",
                "--target",
                "p",
                "--trust-level",
                "1",
                "--collections",
                "a,,b",
            ],
            &[
                "treaty",
                "propose",
                "--target",
                "p",
                "--trust-level",
                "1",
                "--frequency",
                "monthly",
            ],
            &[
                "treaty",
                "propose",
                "--target",
                "p",
                "--trust-level",
                "1",
                "--retention-days",
                "0",
            ],
            &[
                "treaty",
                "propose",
                "--target",
                "p",
                "--trust-level",
                "1",
                "--expires-in",
                "0",
            ],
            &["treaty", "proposals", "reject", "id", "--reason", ""],
            &["treaty", "license", "issue", "--tier", "gold"],
        ] {
            assert!(crate::Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
        let cli = crate::Cli::try_parse_from(["treaty", "proposals", "counter", "p1"]).unwrap();
        let crate::Command::Proposals(ProposalsCmd::Counter {
            trust_level,
            terms,
            expires_in,
            ..
        }) = cli.command
        else {
            panic!("not counter");
        };
        assert_eq!(
            counter_body(trust_level, &terms, expires_in),
            json!({"action": "counter"})
        );
    }

    #[test]
    fn cells_and_tables() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&json!({})["missing"]), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!("x")), "x");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(
            table(
                &["ID", "NAME"],
                &[
                    vec!["a".into(), "-".into()],
                    vec!["bbbb".into(), "x".into()]
                ]
            ),
            "ID    NAME\na     -\nbbbb  x\n"
        );
    }

    #[test]
    fn registration_outcomes_read_plainly() {
        assert_eq!(
            registration_summary(&json!({
                "ok": true, "status": 202,
                "answer": {"peerId": "x", "status": "pending_verification"}
            })),
            "accepted by the peer (HTTP 202, status pending_verification)"
        );
        assert_eq!(
            registration_summary(&json!({
                "ok": false, "status": 403,
                "answer": {"code": "license_required", "detail": "present a license"}
            })),
            "refused by the peer (HTTP 403 license_required: present a license)"
        );
        assert_eq!(
            registration_summary(
                &json!({"ok": false, "code": "unreachable", "detail": "timed out"})
            ),
            "failed (unreachable: timed out)"
        );
        assert_eq!(
            registration_summary(&json!({"ok": false, "code": "no_signing_key"})),
            "failed (no_signing_key)"
        );
    }
}
