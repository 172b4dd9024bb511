//! `treaty verify`: offline check of a receipt and a record (or raw entry) against a ledger
//! verifier key. Needs no network: the receipt carries the proof and the signed checkpoint.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use treaty_note::{Receipt, VerifierKey};
use treaty_types::{CollectionName, LedgerEntry, Operation, RecordKey};

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
    #[arg(long)]
    key: String,
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

fn check(args: &VerifyArgs) -> Result<String, String> {
    let key_text = if std::path::Path::new(&args.key).is_file() {
        String::from_utf8(read(&PathBuf::from(&args.key))?)
            .map_err(|_| "key file is not UTF-8".to_owned())?
    } else {
        args.key.clone()
    };
    let key = VerifierKey::parse(key_text.trim()).map_err(|e| format!("verifier key: {e}"))?;
    let receipt = Receipt::parse(read(&args.receipt)?).map_err(|e| format!("receipt: {e}"))?;
    let (entry, what) = match (&args.record, &args.entry) {
        (Some(path), _) => record_entry(&read(path)?)?,
        (None, Some(path)) => (read(path)?, "entry".to_owned()),
        (None, None) => return Err("pass --record or --entry".into()),
    };
    let verified = receipt
        .verify_entry(&entry, &key, &[], 0)
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(format!(
        "{what} is entry {} of ledger {} at tree size {} (root {})",
        verified.index,
        verified.checkpoint.origin(),
        verified.checkpoint.size(),
        crate::client_b64(verified.checkpoint.root()),
    ))
}

/// Rebuilds the canonical ledger entry from a record's JSON.
fn record_entry(bytes: &[u8]) -> Result<(Vec<u8>, String), String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("record is not JSON: {e}"))?;
    let field = |name: &str| v.get(name).ok_or_else(|| format!("record has no {name:?}"));
    let s = |name: &str| -> Result<String, String> {
        field(name)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("record {name:?} is not a string"))
    };
    let n = |name: &str| -> Result<u64, String> {
        field(name)?
            .as_u64()
            .ok_or_else(|| format!("record {name:?} is not an integer"))
    };
    let collection = CollectionName::parse(&s("collection")?).map_err(|e| e.to_string())?;
    let key = RecordKey::parse(&s("key")?).map_err(|e| e.to_string())?;
    let op = match s("op")?.as_str() {
        "put" => Operation::Put,
        "delete" => Operation::Delete,
        other => return Err(format!("record op {other:?} is not put or delete")),
    };
    let version = n("version")?;
    let what = format!("{collection}/{key} version {version}");
    let entry = LedgerEntry::Record {
        collection,
        key,
        version,
        op,
        body: v.get("body").cloned(),
        time_ms: n("time_ms")?,
    };
    Ok((entry.to_leaf_bytes().map_err(|e| e.to_string())?, what))
}
