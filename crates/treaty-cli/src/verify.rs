//! `treaty verify`: offline check of a receipt and a record (or raw entry) against a ledger
//! verifier key, or against a C2SP tlog-policy (log keys, witness keys and a quorum). Needs
//! no network: the receipt carries the proof and the (cosigned) checkpoint.
//!
//! `treaty verify-discrepancy`: offline check of fork evidence.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use treaty_federation::ForkEvidence;
use treaty_note::{Policy, Receipt, VerifierKey};
use treaty_types::LedgerEntry;

/// Arguments of `treaty verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The tlog-proof receipt file.
    #[arg(long)]
    receipt: PathBuf,
    /// The record as JSON (as `treaty record get` prints it, or a write's answer with body).
    #[arg(long, conflicts_with = "entry", required_unless_present = "entry")]
    record: Option<PathBuf>,
    /// The exact ledger entry bytes instead of a record.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// The ledger's verifier key: the text itself or a file holding it.
    #[arg(long, required_unless_present = "policy", conflicts_with = "policy")]
    key: Option<String>,
    /// A C2SP tlog-policy file: the receipt's checkpoint must be signed by one of its logs
    /// and cosigned by witnesses meeting its quorum.
    #[arg(long)]
    policy: Option<PathBuf>,
}

/// Arguments of `treaty verify-discrepancy`.
#[derive(Debug, Args)]
pub(crate) struct DiscrepancyArgs {
    /// A file holding the evidence: the fork evidence object, a `fed_discrepancy` report
    /// (its `evidence` member), a ledger entry or a discrepancy as listed (nested deeper).
    file: PathBuf,
    /// The log's verifier key the evidence must be signed by (text or file). Without it,
    /// the key named in the evidence is used and printed: check that it is the log's.
    #[arg(long)]
    key: Option<String>,
}

/// Runs the check and prints a verdict; exit status 0 when it holds, 1 when it does not.
pub(crate) fn run(args: &VerifyArgs) -> ExitCode {
    match check(args) {
        Ok(summary) => {
            println!("VERIFIED: {summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("NOT VERIFIED: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// A verifier key given as text or as a file holding it.
fn key_arg(text: &str) -> Result<VerifierKey, String> {
    let key_text = if std::path::Path::new(text).is_file() {
        String::from_utf8(read(&PathBuf::from(text))?)
            .map_err(|_| "key file is not UTF-8".to_owned())?
    } else {
        text.to_owned()
    };
    VerifierKey::parse(key_text.trim()).map_err(|e| format!("verifier key: {e}"))
}

fn check(args: &VerifyArgs) -> Result<String, String> {
    let receipt = Receipt::parse(read(&args.receipt)?).map_err(|e| format!("receipt: {e}"))?;
    let (entry, what) = match (&args.record, &args.entry) {
        (Some(path), _) => record_entry(&read(path)?)?,
        (None, Some(path)) => (read(path)?, "entry".to_owned()),
        (None, None) => return Err("pass --record or --entry".into()),
    };
    let verified = match (&args.key, &args.policy) {
        (_, Some(path)) => {
            let text = String::from_utf8(read(path)?)
                .map_err(|_| "policy file is not UTF-8".to_owned())?;
            let policy = Policy::parse(&text).map_err(|e| format!("policy: {e}"))?;
            receipt
                .verify_entry_with_policy(&entry, &policy)
                .map_err(|e| format!("{what}: {e}"))?
        }
        (Some(key), None) => receipt
            .verify_entry(&entry, &key_arg(key)?, &[], 0)
            .map_err(|e| format!("{what}: {e}"))?,
        (None, None) => return Err("pass --key or --policy".into()),
    };
    let mut witnesses: Vec<String> = verified
        .cosignatures
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    witnesses.sort();
    witnesses.dedup();
    Ok(format!(
        "{what} is entry {} of ledger {} at tree size {} (root {}){}",
        verified.index,
        verified.checkpoint.origin(),
        verified.checkpoint.size(),
        crate::client_b64(verified.checkpoint.root()),
        if args.policy.is_some() {
            format!(
                ", cosigned by {} witness(es) meeting the policy's quorum: {}",
                witnesses.len(),
                witnesses.join(", ")
            )
        } else {
            String::new()
        }
    ))
}

/// Runs `treaty verify-discrepancy`; exit status 0 when the evidence proves a fork.
pub(crate) fn run_discrepancy(args: &DiscrepancyArgs) -> ExitCode {
    match check_discrepancy(args) {
        Ok(summary) => {
            println!("FORK PROVEN: {summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("NOT PROVEN: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The fork evidence object in `v`: `v` itself, or found under `evidence` / `document`
/// members (a report, a ledger entry, a listed discrepancy), at most a few levels down.
fn find_evidence(v: &serde_json::Value, depth: usize) -> Option<&serde_json::Value> {
    if v.get("format").and_then(serde_json::Value::as_str) == Some("treaty-fork-evidence/v1") {
        return Some(v);
    }
    if depth == 0 {
        return None;
    }
    ["evidence", "document", "event"]
        .iter()
        .filter_map(|k| v.get(k))
        .find_map(|inner| find_evidence(inner, depth - 1))
}

fn check_discrepancy(args: &DiscrepancyArgs) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(&read(&args.file)?)
        .map_err(|e| format!("evidence is not JSON: {e}"))?;
    let found =
        find_evidence(&v, 4).ok_or("no fork evidence (treaty-fork-evidence/v1) in the file")?;
    let evidence = ForkEvidence::from_json(found).map_err(|e| format!("evidence: {e}"))?;
    if let Some(k) = &args.key {
        let key = key_arg(k)?;
        if key != evidence.log_key {
            return Err(format!(
                "the evidence is signed by {}, not by {key}",
                evidence.log_key
            ));
        }
    }
    let (a, b) = evidence.verify().map_err(|e| e.to_string())?;
    Ok(format!(
        "log {} (key {}) signed {} checkpoints: size {} root {} and size {} root {}{}",
        evidence.origin,
        evidence.log_key,
        evidence.kind.as_str(),
        a.size(),
        crate::client_b64(a.root()),
        b.size(),
        crate::client_b64(b.root()),
        if args.key.is_none() {
            " (key taken from the evidence: check it is the log's)"
        } else {
            ""
        }
    ))
}

/// Rebuilds the canonical ledger entry from a record's JSON
/// ([`LedgerEntry::record_from_json`], the inverse of the node's record JSON), with a short
/// description of the record for the verdict.
fn record_entry(bytes: &[u8]) -> Result<(Vec<u8>, String), String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("record is not JSON: {e}"))?;
    let entry = LedgerEntry::record_from_json(&v).map_err(|e| format!("record: {e}"))?;
    let what = match &entry {
        LedgerEntry::Record {
            collection,
            key,
            version,
            ..
        } => format!("{collection}/{key} version {version}"),
        _ => "record".to_owned(),
    };
    let leaf = entry.to_leaf_bytes().map_err(|e| format!("record: {e}"))?;
    Ok((leaf, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_entry_rebuilds_the_leaf() {
        let record = br#"{"collection":"receipt","key":"k1","version":3,"op":"put",
            "time_ms":1700000000000,"ledger_index":7,"leaf_hash":"x","body":{"z":1,"a":"x"}}"#;
        let (leaf, what) = record_entry(record).expect("record");
        assert_eq!(what, "receipt/k1 version 3");
        assert_eq!(
            leaf,
            br#"{"body":{"a":"x","z":1},"collection":"receipt","key":"k1","kind":"record","op":"put","time_ms":1700000000000,"version":3}"#
        );
    }

    #[test]
    fn record_entry_explains_refusals() {
        let err = record_entry(br#"{"collection":"receipt","key":"k1","op":"put","time_ms":1}"#)
            .expect_err("no version");
        assert_eq!(err, "record: /version: required member is missing");
        let err = record_entry(b"{").expect_err("not JSON");
        assert!(err.starts_with("record is not JSON"), "{err}");
        let err = record_entry(
            br#"{"collection":"receipt","key":"k1","version":1,"op":"upsert","time_ms":1}"#,
        )
        .expect_err("op");
        assert!(err.contains("/op"), "{err}");
    }
}
