//! `treaty verify`: offline check of a receipt and a record (or raw entry) against a ledger
//! verifier key. Needs no network: the receipt carries the proof and the signed checkpoint.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use treaty_note::{Receipt, VerifierKey};
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
