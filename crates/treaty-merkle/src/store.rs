//! The stored-hash layout: every complete subtree hash of the tree, in append order.
//!
//! Leaf `n` contributes its leaf hash and then one hash for every complete subtree it
//! closes (one per trailing one-bit of `n`), so hashes are only ever appended. The layout
//! is the one of Go's `sumdb/tlog` (`StoredHashIndex`), which makes the index of any
//! complete subtree computable without reading anything.

use crate::{Hash, MerkleError};

/// Read access to stored subtree hashes. Implemented by the node's database and by
/// [`MemoryHashStore`]. A reader must only ever be asked for indexes below
/// [`stored_hash_count`] of the tree size it holds.
pub trait HashReader {
    /// Returns the stored hash at `index`.
    ///
    /// # Errors
    /// Whatever the storage fails with, wrapped as [`MerkleError::Read`].
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError>;
}

/// The position in the stored-hash sequence of the complete subtree at `level` whose
/// leftmost leaf is `n << level`.
#[must_use]
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Level L's n-th hash is written right after level L-1's (2n+1)-th hash; walk down to
    // level 0, whose n-th hash sits at n + n/2 + n/4 + ..., then add the levels back.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0u64;
    let mut m = n;
    while m > 0 {
        i += m;
        m >>= 1;
    }
    i + u64::from(level)
}

/// How many stored hashes a tree of `size` leaves has.
#[must_use]
pub fn stored_hash_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let last = size - 1;
    // The last leaf's hash, plus one hash for every subtree it completed.
    stored_hash_index(0, last) + 1 + u64::from(last.trailing_ones())
}

/// An in-memory [`HashReader`]: a vector of stored hashes. Used by tests, by tools that
/// build whole trees at once (federated anchoring) and as the reference for the SQLite one.
#[derive(Debug, Default, Clone)]
pub struct MemoryHashStore {
    /// Stored hashes in [`stored_hash_index`] order.
    hashes: Vec<Hash>,
    /// The compact range of the leaves appended so far, to compute new hashes without reads.
    edge: crate::CompactRange,
}

impl MemoryHashStore {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `leaves` leaves without reallocating.
    #[must_use]
    pub fn with_capacity(leaves: usize) -> Self {
        Self {
            hashes: Vec::with_capacity(leaves.saturating_mul(2)),
            edge: crate::CompactRange::default(),
        }
    }

    /// Appends one leaf hash and returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let index = self.edge.size();
        self.edge.append(leaf, |h| self.hashes.push(h));
        index
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.edge.root()
    }
}

impl HashReader for MemoryHashStore {
    fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.hashes.get(i).copied())
            .ok_or_else(|| MerkleError::Read {
                index,
                source: format!("no stored hash at {index}").into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_append_order() {
        // Appending leaves one by one must write hashes exactly at the computed indexes.
        let mut store = MemoryHashStore::new();
        for n in 0..300u64 {
            let before = store.hashes.len() as u64;
            assert_eq!(before, stored_hash_count(n));
            store.append(crate::leaf_hash(&n.to_be_bytes()));
            assert_eq!(stored_hash_index(0, n), before, "leaf {n}");
            let closed = n.trailing_ones();
            for level in 1..=closed {
                assert_eq!(
                    stored_hash_index(level, n >> level),
                    before + u64::from(level),
                    "leaf {n} level {level}"
                );
            }
        }
    }

    #[test]
    fn known_small_indexes() {
        // Leaves 0,1 then their parent; leaf 2, leaf 3, parent(2,3), grandparent(0..4).
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        assert_eq!(stored_hash_count(4), 7);
    }
}
