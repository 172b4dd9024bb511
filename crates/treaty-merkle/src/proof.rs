//! Roots and proofs for any tree size over stored hashes (RFC 9162 2.1.3, 2.1.4), and
//! their verification.
//!
//! Every function here reads only complete-subtree hashes: a range `[lo, hi)` met during
//! the RFC's recursion splits into at most `log2(hi - lo) + 1` complete subtrees, and only
//! one range per proof can be incomplete, so a root or proof costs `O(log n)` reads.

use crate::{Hash, HashReader, MerkleError, empty_root, node_hash, stored_hash_index};

/// The most hashes a proof may carry: a tree of up to 2^64 leaves has depth 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The RFC 6962 hash of leaves `[lo, hi)`, for ranges the RFC recursion produces (`lo` is
/// a multiple of a power of two at least `hi - lo`) and, more generally, any range.
fn range_hash(lo: u64, hi: u64, reader: &impl HashReader) -> Result<Hash, MerkleError> {
    debug_assert!(lo < hi);
    // Collect the maximal aligned complete subtrees from the left, then fold from the right,
    // which is exactly the RFC 6962 shape for such a range.
    let mut parts: Vec<Hash> = Vec::with_capacity(8);
    let mut start = lo;
    while start < hi {
        let remaining = hi - start;
        let mut level = 63 - remaining.leading_zeros();
        if start != 0 {
            level = level.min(start.trailing_zeros());
        }
        parts.push(reader.read_hash(stored_hash_index(level, start >> level))?);
        start += 1u64 << level;
    }
    let mut iter = parts.iter().rev();
    let Some(last) = iter.next() else {
        unreachable!("a non-empty range has at least one subtree")
    };
    Ok(iter.fold(*last, |acc, left| node_hash(left, &acc)))
}

/// The root of the first `size` leaves of the stored tree.
///
/// # Errors
/// [`MerkleError::Read`] when the reader does not hold that many leaves.
pub fn root_at(size: u64, reader: &impl HashReader) -> Result<Hash, MerkleError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, reader)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, deepest hash first.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] when `index >= size`; read errors from the store.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut path = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0u64, size);
    // Walk down from the root, noting each sibling, then reverse to get leaf-first order.
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(range_hash(lo + k, hi, reader)?);
            hi = lo + k;
        } else {
            path.push(range_hash(lo, lo + k, reader)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between tree sizes `first` and `second` (RFC 9162 2.1.4.1).
/// Empty when `first` is 0 or equals `second`.
///
/// # Errors
/// [`MerkleError::SizesOutOfOrder`] when `first > second`; read errors from the store.
pub fn consistency_proof(
    first: u64,
    second: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    if first > second {
        return Err(MerkleError::SizesOutOfOrder { first, second });
    }
    let mut path = Vec::with_capacity(64);
    if first == 0 || first == second {
        return Ok(path);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: each step appends one hash after the recursion,
    // so collect them top-down and reverse.
    let (mut m, mut lo, mut hi, mut complete) = (first, 0u64, second, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                path.push(range_hash(lo, hi, reader)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            path.push(range_hash(lo + k, hi, reader)?);
            hi = lo + k;
        } else {
            path.push(range_hash(lo, lo + k, reader)?);
            m -= k;
            lo += k;
            complete = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with root `root`
/// (RFC 9162 2.1.3.2).
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`], [`MerkleError::WrongProofLength`] or
/// [`MerkleError::RootMismatch`].
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// The number of hashes in an inclusion proof for `index` in a tree of `size` leaves.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    // Levels where the paths to `index` and to the last leaf differ need a hash each; above
    // that, one hash per left sibling on the shared right edge.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Verifies that the tree of `second` leaves with root `root2` extends the tree of `first`
/// leaves with root `root1` (RFC 9162 2.1.4.2).
///
/// # Errors
/// [`MerkleError::SizesOutOfOrder`], [`MerkleError::WrongProofLength`] or
/// [`MerkleError::RootMismatch`].
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), MerkleError> {
    if first > second {
        return Err(MerkleError::SizesOutOfOrder { first, second });
    }
    if first == second || first == 0 {
        // Nothing to prove: the proof must be empty, and the roots must be the ones the
        // sizes force (equal, and the empty-tree root for size 0).
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength {
                got: proof.len(),
                expected: 0,
            });
        }
        let ok = if first == 0 {
            *root1 == empty_root() && (second != 0 || *root2 == empty_root())
        } else {
            root1 == root2
        };
        return if ok {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    if proof.is_empty() || proof.len() > MAX_PROOF_HASHES {
        return Err(MerkleError::WrongProofLength {
            got: proof.len(),
            expected: 1,
        });
    }
    // If `first` is a power of two, the old root is itself a node on the path.
    let mut path = proof.iter();
    let seed = if first.is_power_of_two() {
        *root1
    } else {
        *path.next().unwrap_or(root1)
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in path {
        if s == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr == *root1 && sr == *root2 && s == 0 {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryHashStore;
    use crate::tests::{leaves, naive_root};
    use std::cell::Cell;

    fn store_of(all: &[Hash]) -> MemoryHashStore {
        let mut store = MemoryHashStore::new();
        for l in all {
            store.append(*l);
        }
        store
    }

    #[test]
    fn roots_at_every_size_match_definition() {
        let all = leaves(100);
        let store = store_of(&all);
        for n in 0..=100u64 {
            assert_eq!(
                root_at(n, &store).expect("root"),
                naive_root(&all[..n as usize])
            );
        }
    }

    #[test]
    fn inclusion_proofs_verify_for_every_leaf_and_size() {
        let all = leaves(70);
        let store = store_of(&all);
        for n in 1..=70u64 {
            let root = naive_root(&all[..n as usize]);
            for i in 0..n {
                let proof = inclusion_proof(i, n, &store).expect("proof");
                assert_eq!(proof.len(), inclusion_proof_len(i, n));
                verify_inclusion(i, n, &all[i as usize], &proof, &root)
                    .unwrap_or_else(|e| panic!("leaf {i} size {n}: {e}"));
                // A proof for the wrong leaf or a flipped hash must fail.
                let other = all[((i + 1) % n) as usize];
                if n > 1 {
                    assert!(verify_inclusion(i, n, &other, &proof, &root).is_err());
                }
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(verify_inclusion(i, n, &all[i as usize], &bad, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair() {
        let all = leaves(70);
        let store = store_of(&all);
        for n in 1..=70u64 {
            let root2 = naive_root(&all[..n as usize]);
            for m in 1..=n {
                let root1 = naive_root(&all[..m as usize]);
                let proof = consistency_proof(m, n, &store).expect("proof");
                verify_consistency(m, n, &proof, &root1, &root2)
                    .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
                if m < n {
                    let wrong = naive_root(&all[1..m as usize + 1]);
                    assert!(verify_consistency(m, n, &proof, &wrong, &root2).is_err());
                    assert!(verify_consistency(m, n, &proof, &root1, &root1).is_err() || m == n);
                }
            }
        }
    }

    /// A reader that counts reads, to hold the `O(log n)` promise.
    struct Counting<'a> {
        inner: &'a MemoryHashStore,
        reads: Cell<u64>,
    }

    impl HashReader for Counting<'_> {
        fn read_hash(&self, index: u64) -> Result<Hash, MerkleError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.read_hash(index)
        }
    }

    #[test]
    fn proofs_read_logarithmically_many_hashes() {
        let n = (1u64 << 16) + 12345;
        let mut store = MemoryHashStore::with_capacity(n as usize);
        for i in 0..n {
            store.append(crate::leaf_hash(&i.to_le_bytes()));
        }
        let counting = Counting {
            inner: &store,
            reads: Cell::new(0),
        };
        let depth = 64 - n.leading_zeros() as u64; // 17
        for (i, size) in [(0, n), (n - 1, n), (40_000, n), (777, 1000)] {
            counting.reads.set(0);
            inclusion_proof(i, size, &counting).expect("proof");
            assert!(
                counting.reads.get() <= 2 * depth,
                "inclusion read {}",
                counting.reads.get()
            );
        }
        for (m, size) in [(1, n), (n - 1, n), (40_001, n), (999, 1000)] {
            counting.reads.set(0);
            consistency_proof(m, size, &counting).expect("proof");
            assert!(
                counting.reads.get() <= 2 * depth,
                "consistency read {}",
                counting.reads.get()
            );
        }
        counting.reads.set(0);
        root_at(n - 3, &counting).expect("root");
        assert!(counting.reads.get() <= depth);
    }
}
