//! PLACEHOLDER: replaced by the tlog-witness implementation (branch witness-pure).
#![allow(missing_docs, clippy::missing_errors_doc, clippy::too_many_arguments)]
use serde_json::{Value, json};
use treaty_merkle::Hash;
use treaty_note::{Checkpoint, Signature, VerifierKey};

pub const ADD_CHECKPOINT_BODY_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WitnessError(pub String);
impl WitnessError {
    #[must_use]
    pub fn code(&self) -> &'static str {
        "invalid_add_checkpoint"
    }
}

#[derive(Debug, Clone)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}
impl AddCheckpoint {
    pub fn parse(_body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        Err(WitnessError("todo".into()))
    }
    pub fn checkpoint(&self) -> Result<Checkpoint, WitnessError> {
        Err(WitnessError("todo".into()))
    }
    #[must_use]
    pub fn to_body(&self) -> String {
        String::new()
    }
}
#[derive(Debug, Clone)]
pub struct Witnessed {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}
#[derive(Debug)]
pub enum Verdict {
    Cosign { method: &'static str },
    OldSizeTooLarge,
    Conflict { size: u64 },
    BadProof { reason: String },
    Fork(ForkEvidence),
}
#[must_use]
pub fn decide(
    _stored: Option<&Witnessed>,
    _req: &AddCheckpoint,
    _new: &Checkpoint,
    _key: &VerifierKey,
) -> Verdict {
    Verdict::OldSizeTooLarge
}
pub fn parse_cosignatures(_body: &str) -> Result<Vec<Signature>, WitnessError> {
    Ok(Vec::new())
}
pub fn parse_size(_body: &str) -> Result<u64, WitnessError> {
    Ok(0)
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkKind {
    SameSize,
    Inconsistent,
}
impl ForkKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        "same_size"
    }
}
#[derive(Debug, Clone)]
pub struct ForkEvidence {
    pub kind: ForkKind,
    pub origin: String,
    pub log_key: VerifierKey,
    pub first: String,
    pub second: String,
    pub proof: Vec<Hash>,
}
impl ForkEvidence {
    pub fn new(_k: &VerifierKey, _a: &str, _b: &str, _p: Vec<Hash>) -> Result<Self, WitnessError> {
        Err(WitnessError("todo".into()))
    }
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({})
    }
    pub fn from_json(_v: &Value) -> Result<Self, WitnessError> {
        Err(WitnessError("todo".into()))
    }
    pub fn verify(&self) -> Result<(Checkpoint, Checkpoint), WitnessError> {
        Err(WitnessError("todo".into()))
    }
    #[must_use]
    pub fn hash(&self) -> String {
        String::new()
    }
}
#[must_use]
pub fn witness_event(
    _role: &str,
    _witness: &str,
    _origin: &str,
    _size: u64,
    _root: &Hash,
    _old: u64,
    _method: &str,
    _line: &str,
    _at: u64,
    _d: Vec<Value>,
) -> Value {
    json!({})
}
#[must_use]
pub fn cross_anchor(_n: &str, _o: &str, _note: &str, _size: u64, _root: &Hash) -> Value {
    json!({})
}
#[must_use]
pub fn discrepancy_report(_n: &str, _o: &str, _t: &str, _d: &str, _e: &ForkEvidence) -> Value {
    json!({})
}
#[must_use]
pub fn severity(_kind: &str) -> &'static str {
    "critical"
}
#[must_use]
pub fn timestamp_drift(_a: u64, _b: u64) -> Option<Value> {
    None
}
