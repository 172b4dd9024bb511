//! `treaty witness`: witness history, views, cross-anchors (operator and public reads).

use crate::client::Client;
use crate::{ClientArgs, print_json};
use anyhow::Result;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Witness commands.
#[derive(Debug, Subcommand)]
pub(crate) enum WitnessCmd {
    /// Witness events in the ledger: cosignatures given to peers and received from
    /// witnesses, in ledger order (pages of `--limit`; `--since` the last index shown).
    History {
        #[command(flatten)]
        client: ClientArgs,
        /// Only events about this peer (id or node id).
        #[arg(long)]
        peer: Option<String>,
        /// Only events with a ledger index above this.
        #[arg(long)]
        since: Option<u64>,
        /// Page size, 1-1000 (default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Print the node's JSON answer instead of one line per event.
        #[arg(long)]
        json: bool,
    },
    /// The latest verified checkpoint this node holds of each peer's log.
    Views {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Compare this node's views with every peer's now (operator token); forks are
    /// recorded with their evidence and suspend the forked peer.
    CompareViews {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Anchor now the latest verified checkpoints of trust-level-3+ peers (operator token).
    CrossAnchor {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The proof that a peer's checkpoint is anchored in this ledger (JSON with a
    /// tlog-proof receipt); `--output` also writes it to a file.
    CrossAnchors {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer id or node id.
        peer: String,
        /// The anchored checkpoint's tree size (default: the newest anchor).
        #[arg(long)]
        size: Option<u64>,
        /// Write the proof here as well.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Runs a witness command.
pub(crate) async fn run(cmd: WitnessCmd) -> Result<ExitCode> {
    match cmd {
        WitnessCmd::History {
            client,
            peer,
            since,
            limit,
            json,
        } => {
            let v = Client::new(&client)?
                .witness_history(peer.as_deref(), since, limit)
                .await?;
            if json {
                print_json(&v);
            } else {
                for e in v["events"].as_array().into_iter().flatten() {
                    let ev = &e["event"];
                    println!(
                        "#{} {} {} {} size {} by {} ({})",
                        e["ledger_index"],
                        text(&ev["role"]),
                        text(&ev["origin"]),
                        text(&ev["verification_result"]),
                        ev["size"],
                        text(&ev["witness"]),
                        text(&ev["verification_method"]),
                    );
                }
                if let Some(next) = v["next_since"].as_u64() {
                    eprintln!("next page: --since {next}");
                }
            }
        }
        WitnessCmd::Views { client } => print_json(&Client::new(&client)?.views().await?),
        WitnessCmd::CompareViews { client } => {
            let v = Client::new(&client)?.compare_views().await?;
            print_json(&v);
            if v["forks"].as_u64().unwrap_or(0) > 0 {
                return Ok(ExitCode::from(3));
            }
        }
        WitnessCmd::CrossAnchor { client } => {
            print_json(&Client::new(&client)?.cross_anchor_now().await?);
        }
        WitnessCmd::CrossAnchors {
            client,
            peer,
            size,
            output,
        } => {
            let v = Client::new(&client)?.cross_anchor(&peer, size).await?;
            if let Some(path) = output {
                std::fs::write(&path, serde_json::to_vec_pretty(&v)?)?;
            }
            print_json(&v);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}
