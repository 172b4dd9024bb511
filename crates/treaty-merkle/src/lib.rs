//! RFC 6962 / RFC 9162 section 2 Merkle tree math for an append-only ledger.
//!
//! What this crate does:
//! - leaf and interior hashing (`SHA-256(0x00 || entry)`, `SHA-256(0x01 || l || r)`);
//! - a storage layout for every complete subtree hash ([`stored_hash_index`]), so a tree of
//!   any size can answer roots and proofs for *any* earlier size from `O(log n)` stored
//!   hashes, never rebuilding anything (the layout of Go's `golang.org/x/mod/sumdb/tlog`);
//! - inclusion and consistency proofs (RFC 9162 2.1.3 and 2.1.4) and their verification;
//! - [`CompactRange`]: the right edge of a tree, enough to append leaves and compute roots
//!   with no reads at all.
//!
//! What it deliberately does not do: no I/O, no clock, no encoding of proofs on the wire
//! and no signing. Storage is behind the narrow [`HashReader`] trait.

use sha2::{Digest, Sha256};

mod compact;
mod proof;
mod store;

pub use compact::CompactRange;
pub use proof::{
    MAX_PROOF_HASHES, consistency_proof, inclusion_proof, root_at, verify_consistency,
    verify_inclusion,
};
pub use store::{HashReader, MemoryHashStore, stored_hash_count, stored_hash_index};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Domain separation prefix for leaves (RFC 6962 section 2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain separation prefix for interior nodes (RFC 6962 section 2.1).
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || entry)`: the hash of one ledger entry.
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Errors from tree queries and proof verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was asked against.
        size: u64,
    },
    /// A consistency request whose first size exceeds the second.
    #[error("first tree size {first} is larger than second tree size {second}")]
    SizesOutOfOrder {
        /// The older tree size.
        first: u64,
        /// The newer tree size.
        second: u64,
    },
    /// A tree size beyond what the store holds.
    #[error("tree size {size} is beyond the stored tree of {stored} leaves")]
    SizeBeyondTree {
        /// The requested size.
        size: u64,
        /// What the store holds.
        stored: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// Hashes supplied.
        got: usize,
        /// Hashes the sizes require.
        expected: usize,
    },
    /// The proof does not lead to the claimed root(s).
    #[error("proof does not match the root")]
    RootMismatch,
    /// The storage behind a [`HashReader`] failed.
    #[error("reading stored hash {index}: {source}")]
    Read {
        /// The stored-hash index being read.
        index: u64,
        /// The storage error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 definition, computed the slow way, to check everything else against.
    pub(crate) fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_pow2_below(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    pub(crate) fn largest_pow2_below(n: u64) -> u64 {
        assert!(n > 1);
        1 << (63 - (n - 1).leading_zeros())
    }

    pub(crate) fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let a = leaf_hash(b"");
        assert_eq!(
            hex(&a),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_ne!(node_hash(&a, &a), leaf_hash(&[a, a].concat()));
    }

    pub(crate) fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }
}
