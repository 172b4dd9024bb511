//! Timestamp trees (python-opentimestamps `core/timestamp.py`, `Timestamp`).
//!
//! A tree does not store messages: each node's message follows from the start message and
//! the operations above it, and is computed by [`Timestamp::evaluate`]. That keeps the
//! tree exactly what the bytes say, and lets one tree be parsed before its start message is
//! known (a calendar answer is parsed, then evaluated from the digest that was submitted).

use super::wire::Reader;
use super::{
    ATTESTATIONS_MAX, Attestation, DEPTH_MAX, FILE_BYTES_MAX, MSG_BYTES_MAX, Op, OtsError,
};
use std::cmp::Ordering;

/// Marks "another branch follows" before every branch of a node but the last.
const BRANCH_MARKER: u8 = 0xff;
/// Starts an attestation branch.
const ATTESTATION_MARKER: u8 = 0x00;

/// One branch of a node: an attestation on the node's message, or an operation leading to
/// a child node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Branch {
    /// An attestation on this node's message.
    Attestation(Attestation),
    /// An operation and the node for its result.
    Op(Op, Timestamp),
}

impl Branch {
    /// The canonical order of branches: attestations (marker `00`) before operations, each
    /// in the reference order; `Equal` exactly when the two are the same branch key (the
    /// same attestation, or the same operation whatever follows it).
    fn key_cmp(&self, other: &Branch) -> Ordering {
        match (self, other) {
            (Branch::Attestation(a), Branch::Attestation(b)) => a.cmp(b),
            (Branch::Attestation(_), Branch::Op(..)) => Ordering::Less,
            (Branch::Op(..), Branch::Attestation(_)) => Ordering::Greater,
            (Branch::Op(a, _), Branch::Op(b, _)) => a.cmp(b),
        }
    }
}

/// A node of a timestamp tree: its branches, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// The branches; never empty in a parsed tree.
    branches: Vec<Branch>,
}

/// An attestation found by [`Timestamp::evaluate`], with the message it attests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    /// The message at the attestation's node.
    pub message: Vec<u8>,
    /// The attestation.
    pub attestation: Attestation,
}

impl Timestamp {
    /// An empty node, to be filled with [`Timestamp::add_attestation`] or
    /// [`Timestamp::add_op`]. It cannot be serialized while empty.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A node holding one attestation.
    #[must_use]
    pub fn with_attestation(attestation: Attestation) -> Self {
        Self {
            branches: vec![Branch::Attestation(attestation)],
        }
    }

    /// `ops[0]`, then `ops[1]`, ... then `end`: a single path, as calendars answer.
    #[must_use]
    pub fn chain(ops: Vec<Op>, end: Timestamp) -> Self {
        ops.into_iter().rev().fold(end, |child, op| Self {
            branches: vec![Branch::Op(op, child)],
        })
    }

    /// The branches in written order.
    #[must_use]
    pub fn branches(&self) -> &[Branch] {
        &self.branches
    }

    /// Whether the node has no branch.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }

    /// Adds an attestation at its canonical position; no-op if it is already there.
    pub fn add_attestation(&mut self, attestation: Attestation) {
        self.insert(Branch::Attestation(attestation));
    }

    /// Adds an operation and its child at the canonical position; if the operation is
    /// already there, merges `child` into the existing child instead.
    pub fn add_op(&mut self, op: Op, child: Timestamp) {
        self.insert(Branch::Op(op, child));
    }

    /// Adds everything in `other` (a tree for the same message) to this tree, as the
    /// reference `Timestamp.merge` does.
    pub fn merge(&mut self, other: Timestamp) {
        for branch in other.branches {
            self.insert(branch);
        }
    }

    fn insert(&mut self, branch: Branch) {
        if let Some(existing) = self
            .branches
            .iter_mut()
            .find(|b| b.key_cmp(&branch) == Ordering::Equal)
        {
            if let (Branch::Op(_, mine), Branch::Op(_, theirs)) = (existing, branch) {
                mine.merge(theirs);
            }
            return;
        }
        // Before the first branch that sorts after it: canonical in a canonical node, and
        // a stable, reasonable place in a node parsed in another order.
        let at = self
            .branches
            .iter()
            .position(|b| b.key_cmp(&branch) == Ordering::Greater)
            .unwrap_or(self.branches.len());
        self.branches.insert(at, branch);
    }

    /// Whether any attestation in the tree is not Pending (a completed proof of some kind).
    #[must_use]
    pub fn has_final_attestation(&self) -> bool {
        self.branches.iter().any(|b| match b {
            Branch::Attestation(a) => !a.is_pending(),
            Branch::Op(_, child) => child.has_final_attestation(),
        })
    }

    /// Parses a bare timestamp (a calendar answer: no header, no digest).
    ///
    /// # Errors
    /// Any [`OtsError`] parse error, with the byte offset in `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, OtsError> {
        if bytes.len() > FILE_BYTES_MAX {
            return Err(OtsError::TooLarge {
                what: "timestamp",
                len: bytes.len(),
                max: FILE_BYTES_MAX,
            });
        }
        let mut r = Reader::new(bytes);
        let ts = Self::read(&mut r)?;
        if r.remaining() > 0 {
            return Err(OtsError::TrailingBytes {
                offset: r.offset(),
                extra: r.remaining(),
            });
        }
        Ok(ts)
    }

    /// Reads a whole tree at the reader's position.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, OtsError> {
        let mut attestations = 0usize;
        Self::read_node(r, 0, &mut attestations)
    }

    fn read_node(
        r: &mut Reader<'_>,
        depth: usize,
        attestations: &mut usize,
    ) -> Result<Self, OtsError> {
        if depth >= DEPTH_MAX {
            return Err(OtsError::TooDeep {
                offset: r.offset(),
                max: DEPTH_MAX,
            });
        }
        let mut branches = Vec::new();
        let mut offsets = Vec::new();
        loop {
            let first = r.byte("a branch (ff, 00 or an operation tag)")?;
            let (more, start, tag) = if first == BRANCH_MARKER {
                let start = r.offset();
                (true, start, r.byte("a branch after ff")?)
            } else {
                (false, r.offset() - 1, first)
            };
            let branch = if tag == ATTESTATION_MARKER {
                *attestations += 1;
                if *attestations > ATTESTATIONS_MAX {
                    return Err(OtsError::TooManyAttestations {
                        max: ATTESTATIONS_MAX,
                    });
                }
                Branch::Attestation(Attestation::read(r)?)
            } else {
                let op = read_op(r, tag, start)?;
                Branch::Op(op, Self::read_node(r, depth + 1, attestations)?)
            };
            branches.push(branch);
            offsets.push(start);
            if !more {
                break;
            }
        }
        check_no_duplicates(&branches, &offsets)?;
        Ok(Self { branches })
    }

    /// The serialized tree (no header).
    ///
    /// # Errors
    /// [`OtsError::EmptyTimestamp`] for a node without branches, [`OtsError::TooDeep`],
    /// and invalid operation arguments or attestation payloads.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OtsError> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), OtsError> {
        self.write_node(out, 0)
    }

    fn write_node(&self, out: &mut Vec<u8>, depth: usize) -> Result<(), OtsError> {
        if depth >= DEPTH_MAX {
            return Err(OtsError::TooDeep {
                offset: 0,
                max: DEPTH_MAX,
            });
        }
        if self.branches.is_empty() {
            return Err(OtsError::EmptyTimestamp);
        }
        let last = self.branches.len() - 1;
        for (i, branch) in self.branches.iter().enumerate() {
            if i < last {
                out.push(BRANCH_MARKER);
            }
            match branch {
                Branch::Attestation(a) => {
                    out.push(ATTESTATION_MARKER);
                    a.write(out)?;
                }
                Branch::Op(op, child) => {
                    op.write(out)?;
                    child.write_node(out, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// Walks the tree from `msg`, computing every node's message, and returns every
    /// attestation with the message it attests, in written order.
    ///
    /// # Errors
    /// The first operation that cannot be applied ([`Op::apply`]), [`OtsError::TooDeep`],
    /// or [`OtsError::MessageTooLong`] for a start message over [`MSG_BYTES_MAX`].
    pub fn evaluate(&self, msg: &[u8]) -> Result<Vec<Evaluated>, OtsError> {
        if msg.len() > MSG_BYTES_MAX {
            return Err(OtsError::MessageTooLong {
                op: "start message",
                len: msg.len(),
                max: MSG_BYTES_MAX,
            });
        }
        let mut out = Vec::new();
        self.evaluate_node(msg, 0, &mut out)?;
        Ok(out)
    }

    // Recursive rather than with an explicit stack: the depth is bounded by DEPTH_MAX and
    // only the messages on the current path are alive, at most DEPTH_MAX * 4 KiB.
    fn evaluate_node(
        &self,
        msg: &[u8],
        depth: usize,
        out: &mut Vec<Evaluated>,
    ) -> Result<(), OtsError> {
        if depth >= DEPTH_MAX {
            return Err(OtsError::TooDeep {
                offset: 0,
                max: DEPTH_MAX,
            });
        }
        for branch in &self.branches {
            match branch {
                Branch::Attestation(a) => out.push(Evaluated {
                    message: msg.to_vec(),
                    attestation: a.clone(),
                }),
                Branch::Op(op, child) => child.evaluate_node(&op.apply(msg)?, depth + 1, out)?,
            }
        }
        Ok(())
    }

    /// Upgrades a pending proof: at every node whose message (from start message `msg`) is
    /// `commitment` and which holds `Pending { uri }`, merges `answer` (the calendar's
    /// `GET /timestamp/<hex commitment>` reply, relative to `commitment`), and removes that
    /// Pending attestation when the answer carries a final attestation. Returns how many
    /// nodes were upgraded.
    ///
    /// # Errors
    /// Evaluation errors of the tree.
    pub fn upgrade(
        &mut self,
        msg: &[u8],
        commitment: &[u8],
        uri: &str,
        answer: &Timestamp,
    ) -> Result<usize, OtsError> {
        let complete = answer.has_final_attestation();
        self.upgrade_node(msg, commitment, uri, answer, complete, 0)
    }

    fn upgrade_node(
        &mut self,
        msg: &[u8],
        commitment: &[u8],
        uri: &str,
        answer: &Timestamp,
        complete: bool,
        depth: usize,
    ) -> Result<usize, OtsError> {
        if depth >= DEPTH_MAX {
            return Err(OtsError::TooDeep {
                offset: 0,
                max: DEPTH_MAX,
            });
        }
        let is_target = |b: &Branch| matches!(b, Branch::Attestation(Attestation::Pending { uri: u }) if u == uri);
        let mut upgraded = 0;
        if msg == commitment && self.branches.iter().any(is_target) {
            self.merge(answer.clone());
            if complete {
                self.branches.retain(|b| !is_target(b));
            }
            upgraded += 1;
        }
        for branch in &mut self.branches {
            if let Branch::Op(op, child) = branch {
                let next = op.apply(msg)?;
                upgraded +=
                    child.upgrade_node(&next, commitment, uri, answer, complete, depth + 1)?;
            }
        }
        Ok(upgraded)
    }
}

/// The operation with tag `tag` (already read at `offset`), and its argument if any.
fn read_op(r: &mut Reader<'_>, tag: u8, offset: usize) -> Result<Op, OtsError> {
    if let Some(op) = Op::unary_from_tag(tag) {
        return Ok(op);
    }
    match tag {
        super::op::TAG_APPEND => Ok(Op::Append(
            r.varbytes(1, super::OP_ARG_BYTES_MAX, "append argument")?
                .to_vec(),
        )),
        super::op::TAG_PREPEND => Ok(Op::Prepend(
            r.varbytes(1, super::OP_ARG_BYTES_MAX, "prepend argument")?
                .to_vec(),
        )),
        _ => Err(OtsError::UnknownOp { offset, tag }),
    }
}

/// Refuses a node holding the same branch key twice (the reference reader would keep one
/// and silently drop the other). Sorting keeps this `O(k log k)` for wide nodes.
fn check_no_duplicates(branches: &[Branch], offsets: &[usize]) -> Result<(), OtsError> {
    if branches.len() < 2 {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..branches.len()).collect();
    order.sort_by(|&a, &b| branches[a].key_cmp(&branches[b]).then(a.cmp(&b)));
    for pair in order.windows(2) {
        if branches[pair[0]].key_cmp(&branches[pair[1]]) == Ordering::Equal {
            return Err(OtsError::DuplicateBranch {
                offset: offsets[pair[1]],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::PENDING_TAG;
    use super::*;

    fn pending(uri: &str) -> Attestation {
        Attestation::Pending { uri: uri.into() }
    }

    fn pending_bytes(uri: &str) -> Vec<u8> {
        let mut v = vec![0x00];
        v.extend_from_slice(&PENDING_TAG);
        v.push(u8::try_from(uri.len() + 1).unwrap_or(0));
        v.push(u8::try_from(uri.len()).unwrap_or(0));
        v.extend_from_slice(uri.as_bytes());
        v
    }

    #[test]
    fn reference_serialization_vectors() -> Result<(), OtsError> {
        // python-opentimestamps tests/core/test_timestamp.py test_serialization.
        let mut stamp = Timestamp::new();
        stamp.add_attestation(pending("foobar"));
        assert_eq!(stamp.to_bytes()?, pending_bytes("foobar"));

        stamp.add_attestation(pending("barfoo"));
        let two = [
            &[0xff][..],
            &pending_bytes("barfoo"),
            &pending_bytes("foobar"),
        ]
        .concat();
        assert_eq!(stamp.to_bytes()?, two);

        stamp.add_attestation(pending("foobaz"));
        let three = [
            &[0xff][..],
            &pending_bytes("barfoo"),
            &[0xff],
            &pending_bytes("foobar"),
            &pending_bytes("foobaz"),
        ]
        .concat();
        assert_eq!(stamp.to_bytes()?, three);

        // An empty child cannot be serialized.
        stamp.add_op(Op::Sha256, Timestamp::new());
        assert_eq!(stamp.to_bytes(), Err(OtsError::EmptyTimestamp));

        stamp.add_op(Op::Sha256, Timestamp::with_attestation(pending("deeper")));
        let four = [
            &[0xff][..],
            &pending_bytes("barfoo"),
            &[0xff],
            &pending_bytes("foobar"),
            &[0xff],
            &pending_bytes("foobaz"),
            &[0x08],
            &pending_bytes("deeper"),
        ]
        .concat();
        assert_eq!(stamp.to_bytes()?, four);
        assert_eq!(Timestamp::parse(&four)?, stamp);
        Ok(())
    }

    #[test]
    fn depth_limit_matches_reference() {
        // 255 sha256 operations then an attestation parse; 256 do not (the reference's
        // recursion limit test).
        let ok = [vec![0x08; 255], pending_bytes("barfoo")].concat();
        assert!(Timestamp::parse(&ok).is_ok());
        let deep = [vec![0x08; 256], pending_bytes("barfoo")].concat();
        assert!(matches!(
            Timestamp::parse(&deep),
            Err(OtsError::TooDeep { offset: 256, .. })
        ));
    }

    #[test]
    fn message_limit_is_checked_on_evaluation() -> Result<(), OtsError> {
        let bytes = [&[0xf0, 0x01, 0x00][..], &pending_bytes("barfoo")].concat();
        let ts = Timestamp::parse(&bytes)?;
        assert!(ts.evaluate(&[b'.'; 4095]).is_ok());
        assert!(matches!(
            ts.evaluate(&[b'.'; 4096]),
            Err(OtsError::MessageTooLong { .. })
        ));
        Ok(())
    }

    #[test]
    fn parse_errors_name_the_byte() {
        let cases: Vec<(Vec<u8>, OtsError)> = vec![
            (
                vec![],
                OtsError::Truncated {
                    offset: 0,
                    what: "a branch (ff, 00 or an operation tag)",
                },
            ),
            (
                vec![0x42],
                OtsError::UnknownOp {
                    offset: 0,
                    tag: 0x42,
                },
            ),
            (
                vec![0xff, 0xff],
                OtsError::UnknownOp {
                    offset: 1,
                    tag: 0xff,
                },
            ),
            (
                [&[0xff][..], &pending_bytes("a")].concat(),
                OtsError::Truncated {
                    offset: 13,
                    what: "a branch (ff, 00 or an operation tag)",
                },
            ),
            (
                [&[0xff][..], &pending_bytes("a"), &pending_bytes("a")].concat(),
                OtsError::DuplicateBranch { offset: 13 },
            ),
            (
                vec![0xf0, 0x00],
                OtsError::BadLength {
                    offset: 1,
                    what: "append argument",
                    len: 0,
                    min: 1,
                    max: 4096,
                },
            ),
            (
                [&pending_bytes("a")[..], &[0x00]].concat(),
                OtsError::TrailingBytes {
                    offset: 12,
                    extra: 1,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(Timestamp::parse(&bytes), Err(want), "{bytes:02x?}");
        }
    }

    #[test]
    fn duplicate_ops_are_refused_even_with_different_children() {
        let bytes = [
            &[0xff, 0x08][..],
            &pending_bytes("a"),
            &[0x08],
            &pending_bytes("b"),
        ]
        .concat();
        assert!(matches!(
            Timestamp::parse(&bytes),
            Err(OtsError::DuplicateBranch { offset: 14 })
        ));
    }

    #[test]
    fn non_canonical_order_round_trips_verbatim() -> Result<(), OtsError> {
        // Operations before attestations: legal, kept as written.
        let bytes = [&[0xff, 0x08][..], &pending_bytes("z"), &pending_bytes("a")].concat();
        let ts = Timestamp::parse(&bytes)?;
        assert_eq!(ts.to_bytes()?, bytes);
        Ok(())
    }

    #[test]
    fn merge_and_upgrade() -> Result<(), OtsError> {
        let commitment = Op::Sha256.apply(b"d")?;
        let mut ts = Timestamp::chain(vec![Op::Sha256], Timestamp::with_attestation(pending("c")));
        let answer = Timestamp::chain(
            vec![Op::Append(vec![7]), Op::Sha256],
            Timestamp::with_attestation(Attestation::Bitcoin { height: 5 }),
        );
        // Wrong URI or commitment: nothing happens.
        assert_eq!(ts.upgrade(b"d", &commitment, "other", &answer)?, 0);
        assert_eq!(ts.upgrade(b"d", b"nope", "c", &answer)?, 0);
        assert_eq!(ts.upgrade(b"d", &commitment, "c", &answer)?, 1);
        let found = ts.evaluate(b"d")?;
        assert_eq!(found.len(), 1, "the pending attestation is replaced");
        assert_eq!(found[0].attestation, Attestation::Bitcoin { height: 5 });
        let expected = Op::Sha256.apply(&[commitment.as_slice(), &[7]].concat())?;
        assert_eq!(found[0].message, expected);
        Ok(())
    }
}
