//! Building blocks for benchmarks (issue 7, part 8: "building and proving 1,000,000
//! members"), kept here so the benchmark binary and the tests measure the same code.
//!
//! Deterministic: members and nonces derive from their index, so runs are comparable.

use crate::error::AnchorError;
use crate::manifest::Manifest;
use crate::member::MemberInput;
use sha2::{Digest, Sha256};
use treaty_merkle::Hash;

/// `n` distinct synthetic members over 1,000 participants and 3 scopes, without nonces.
#[must_use]
pub fn synthetic_members(n: usize) -> Vec<MemberInput> {
    const SCOPES: [&str; 3] = ["prod", "staging", "audit"];
    (0..n)
        .map(|i| MemberInput {
            participant_id: format!("tenant-{:04}", i % 1000),
            record_hash: hex::encode(Sha256::digest((i as u64).to_be_bytes())),
            scope: SCOPES[i % SCOPES.len()].to_owned(),
            nonce: None,
        })
        .collect()
}

/// A deterministic nonce source (never for real use: nonces must be secret and random).
pub fn counter_nonces() -> impl FnMut() -> [u8; 16] {
    let mut n = 0u64;
    move || {
        n += 1;
        let d = Sha256::digest(n.to_be_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }
}

/// What [`build_and_prove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildAndProve {
    /// The root.
    pub root: Hash,
    /// Members built.
    pub members: u64,
    /// Proofs computed and verified.
    pub proofs_verified: u64,
    /// Proof hashes in all proofs together.
    pub proof_hashes: u64,
}

/// Builds a manifest of `n` synthetic members, then computes and verifies every member's
/// proof. `progress(phase, done, total)` with phase `"build"` or `"prove"`.
///
/// # Errors
/// Any build error, or a proof that fails (a bug).
pub fn build_and_prove(
    n: usize,
    progress: &mut dyn FnMut(&'static str, u64, u64),
) -> Result<BuildAndProve, AnchorError> {
    let manifest = Manifest::build(synthetic_members(n), &mut counter_nonces(), &mut |d, t| {
        progress("build", d, t);
    })?;
    let root = manifest.root();
    let mut proof_hashes = 0u64;
    for i in 0..manifest.members().len() {
        let p = manifest.proven(i)?;
        p.proof.verify(&p.commitment, &root)?;
        proof_hashes += p.proof.hashes.len() as u64;
        progress("prove", i as u64 + 1, n as u64);
    }
    Ok(BuildAndProve {
        root,
        members: manifest.tree_size(),
        proofs_verified: manifest.tree_size(),
        proof_hashes,
    })
}
