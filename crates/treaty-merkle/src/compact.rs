//! Compact ranges: the roots of the maximal complete subtrees covering `[0, size)`.
//!
//! A tree of `size` leaves has one complete subtree per set bit of `size`, so the right
//! edge is at most 64 hashes. It is enough to append further leaves and to compute the
//! root, which is how the sequencer extends the ledger without reading stored hashes and
//! how a follower checks a peer's entries against a signed checkpoint.

use crate::{Hash, HashReader, MerkleError, node_hash, stored_hash_index};

/// The right edge of a Merkle tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    /// Number of leaves covered.
    size: u64,
    /// Subtree roots, leftmost (largest) first; one per set bit of `size`.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The compact range of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a compact range from its parts, as persisted by [`CompactRange::hashes`].
    ///
    /// # Errors
    /// [`MerkleError::WrongProofLength`] when the number of hashes is not the number of
    /// set bits of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(MerkleError::WrongProofLength {
                got: hashes.len(),
                expected,
            });
        }
        Ok(Self { size, hashes })
    }

    /// Loads the right edge of a stored tree of `size` leaves: one read per set bit.
    ///
    /// # Errors
    /// Whatever the reader fails with.
    pub fn from_reader(size: u64, reader: &impl HashReader) -> Result<Self, MerkleError> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                hashes.push(reader.read_hash(stored_hash_index(level, start >> level))?);
                start += 1u64 << level;
            }
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves covered.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, leftmost first.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash. `stored` receives, in stored-hash order, the leaf hash and the
    /// hash of every subtree this leaf completes: exactly what a [`HashReader`] must hold next.
    pub fn append(&mut self, leaf: Hash, mut stored: impl FnMut(Hash)) {
        stored(leaf);
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            // `n & 1 == 1` means a subtree of this level is on the edge; `size` has one hash
            // per set bit, so the pop cannot fail.
            let Some(left) = self.hashes.pop() else {
                unreachable!("compact range holds one hash per set bit of its size")
            };
            h = node_hash(&left, &h);
            stored(h);
            n >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// The RFC 6962 root of the covered leaves.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return crate::empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryHashStore;
    use crate::tests::{leaves, naive_root};

    #[test]
    fn root_matches_definition_for_every_small_size() {
        let all = leaves(200);
        let mut range = CompactRange::new();
        assert_eq!(range.root(), crate::empty_root());
        for (i, leaf) in all.iter().enumerate() {
            range.append(*leaf, |_| {});
            assert_eq!(range.root(), naive_root(&all[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn reloads_from_stored_hashes() {
        let all = leaves(130);
        let mut store = MemoryHashStore::new();
        let mut live = CompactRange::new();
        for leaf in &all {
            store.append(*leaf);
            live.append(*leaf, |_| {});
            let loaded = CompactRange::from_reader(live.size(), &store).expect("reload");
            assert_eq!(loaded, live);
        }
    }

    #[test]
    fn from_parts_checks_shape() {
        assert!(CompactRange::from_parts(3, vec![[0; 32]]).is_err());
        assert!(CompactRange::from_parts(3, vec![[0; 32], [1; 32]]).is_ok());
    }
}
