//! Treaty nodes as OpenTimestamps calendars, and the attestation that makes their proofs
//! checkable offline (issue 7, part 3).
//!
//! A node serves the calendar API (`POST /digest`, `GET /timestamp/<hex>`). It commits each
//! submitted digest `D` (1 to [`DIGEST_BYTES_MAX`] bytes) as one entry of its RFC 6962
//! ledger, the JCS object `{"digest":"<lower-case hex of D>","kind":"anchor"}`. Once a
//! signed checkpoint covers the entry, the path from `D` to the checkpoint's root is pure
//! OpenTimestamps operations, ended by a [`CheckpointAttestation`] that carries the signed
//! checkpoint, so any OpenTimestamps parser can carry the proof and a Treaty verifier can
//! check it with the node's C2SP verifier key alone.
//!
//! # Byte layout (for PROTOCOL.md)
//!
//! ```text
//! D           the submitted digest, 1..=64 bytes (the OTS calendar limit)
//! entry       {"digest":"<hex(D)>","kind":"anchor"}         (JCS: keys in code-unit order)
//! leaf        SHA-256(0x00 || entry)                          (RFC 6962 leaf hash)
//!
//! entry ops, from D to leaf:
//!   f3                                   hexlify
//!   f1 0c 00 7b 22 64 69 67 65 73 74 22 3a 22
//!                                        prepend 0x00 || {"digest":"
//!   f0 12 22 2c 22 6b 69 6e 64 22 3a 22 61 6e 63 68 6f 72 22 7d
//!                                        append  ","kind":"anchor"}
//!   08                                   sha256
//!
//! inclusion ops, from leaf to root, one group per proof hash p (deepest first), the side
//! decided as in RFC 9162 2.1.3.2 (fn = index, sn = size - 1):
//!   p is a left sibling:   f1 21 01 <p:32>          prepend 0x01 || p
//!                          08                       sha256
//!   p is a right sibling:  f1 01 01                 prepend 0x01
//!                          f0 20 <p:32>             append  p
//!                          08                       sha256
//!
//! pending answer (POST /digest):
//!   <entry ops> 00 83dfe30d2ef90c8e varbytes(varbytes(<node URL>))
//!
//! completed answer (GET /timestamp/<hex(leaf)>, relative to leaf):
//!   <inclusion ops> 00 311143721eea408c varbytes(payload)
//!   payload = varbytes(origin) || varuint(tree size) || varbytes(signed checkpoint note)
//!
//! completed, relative to D (GET /timestamp/<hex(D)>, and what an upgraded file holds):
//!   <entry ops> <inclusion ops> 00 311143721eea408c varbytes(payload)
//! ```
//!
//! The commitment a client asks `GET /timestamp/` for is the message at its Pending
//! attestation, here the leaf hash, as for any OpenTimestamps calendar; an upgraded proof
//! therefore reads: entry ops, inclusion ops, checkpoint attestation. The attestation's
//! message is the checkpoint's root. Varints are LEB128; `varbytes` is a varint length and
//! the bytes.
//!
//! # The checkpoint attestation
//!
//! Tag [`CHECKPOINT_ATTESTATION_TAG`] = the first 8 bytes of
//! `SHA-256("treaty.checkpoint-attestation/v1")`: derived from a name, so it cannot collide
//! by accident with the tags OpenTimestamps assigns (which are random), and versioned. Other
//! OpenTimestamps tools keep it as an unknown attestation. The payload must fit
//! [`ATTESTATION_PAYLOAD_BYTES_MAX`] (8192 bytes, the reference limit), which leaves room
//! for a checkpoint with dozens of cosignatures.
//!
//! It verifies when: the note is signed by the node's verifier key (found by the origin, and
//! the origin must equal the key name: Treaty's checkpoint convention), the checkpoint's
//! origin and tree size are the payload's, and its root equals the message the `.ots` path
//! computed. Time evidence comes from witness cosignatures on the note, when present; the
//! checkpoint itself orders the entry in the node's append-only ledger.

use crate::ots::{ATTESTATION_PAYLOAD_BYTES_MAX, Attestation, Op, OtsError, Timestamp, wire};
use sha2::{Digest, Sha256};
use treaty_merkle::{Hash, MerkleError, leaf_hash, verify_inclusion};
use treaty_note::{Checkpoint, Cosignature, Note, NoteError, VerifierKey, open_checkpoint};

/// The attestation tag: `SHA-256("treaty.checkpoint-attestation/v1")[..8]`.
pub const CHECKPOINT_ATTESTATION_TAG: [u8; 8] = [0x31, 0x11, 0x43, 0x72, 0x1e, 0xea, 0x40, 0x8c];
/// The name the tag is derived from.
pub const CHECKPOINT_ATTESTATION_NAME: &str = "treaty.checkpoint-attestation/v1";
/// Longest digest a calendar accepts (`POST /digest`, STANDARDS.md).
pub const DIGEST_BYTES_MAX: usize = 64;
/// The bytes the entry ops prepend to `hex(D)`: the RFC 6962 leaf prefix, then the JCS
/// text before the digest's value.
pub const ENTRY_PREFIX: &[u8] = b"\x00{\"digest\":\"";
/// The bytes the entry ops append after `hex(D)`: the rest of the JCS entry.
pub const ENTRY_SUFFIX: &[u8] = b"\",\"kind\":\"anchor\"}";
/// RFC 6962 interior node prefix.
const NODE_PREFIX: u8 = 0x01;

/// Why a node timestamp cannot be built, or a checkpoint attestation does not verify.
///
/// Messages include the underlying error's text, so it is not also chained as `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A submitted digest outside 1..=[`DIGEST_BYTES_MAX`] bytes.
    #[error("digest is {len} bytes; calendars accept 1 to {DIGEST_BYTES_MAX}")]
    DigestLength {
        /// Its length.
        len: usize,
    },
    /// The node URL cannot be a Pending attestation URI.
    #[error("node URL {url:?} cannot name a pending attestation: {error}")]
    NodeUrl {
        /// The URL.
        url: String,
        /// Why.
        error: OtsError,
    },
    /// The inclusion proof does not fit the index and tree size.
    #[error("inclusion proof: {0}")]
    Proof(MerkleError),
    /// The checkpoint note does not parse or does not verify.
    #[error("checkpoint note: {0}")]
    Note(NoteError),
    /// The attestation names another origin than its checkpoint.
    #[error("attestation names origin {payload:?}, its checkpoint is for {checkpoint:?}")]
    OriginMismatch {
        /// Origin in the payload.
        payload: String,
        /// Origin of the checkpoint.
        checkpoint: String,
    },
    /// The attestation's tree size is not its checkpoint's.
    #[error("attestation names tree size {payload}, its checkpoint has size {checkpoint}")]
    SizeMismatch {
        /// Size in the payload.
        payload: u64,
        /// Size of the checkpoint.
        checkpoint: u64,
    },
    /// The proof path does not reach the checkpoint's root.
    #[error("the proof path computes {message}, the checkpoint root is {root}")]
    RootMismatch {
        /// Hex of the message the path computed.
        message: String,
        /// Hex of the checkpoint root.
        root: String,
    },
    /// No configured verifier key has the attestation's origin as its name.
    #[error("no verifier key for ledger origin {origin:?}")]
    NoKeyForOrigin {
        /// The origin.
        origin: String,
    },
    /// The payload does not decode.
    #[error("malformed checkpoint attestation payload: {0}")]
    Payload(OtsError),
    /// The payload decodes but breaks a rule of this attestation.
    #[error("malformed checkpoint attestation payload: {0}")]
    PayloadContent(&'static str),
    /// Building the timestamp failed (an argument or payload over a format limit).
    #[error("building the timestamp: {0}")]
    Ots(OtsError),
}

impl From<MerkleError> for NodeError {
    fn from(e: MerkleError) -> Self {
        NodeError::Proof(e)
    }
}

impl From<NoteError> for NodeError {
    fn from(e: NoteError) -> Self {
        NodeError::Note(e)
    }
}

/// The ledger entry a node writes for a submitted digest: JCS bytes of
/// `{"digest":"<hex>","kind":"anchor"}`.
///
/// # Errors
/// [`NodeError::DigestLength`].
pub fn anchor_entry(digest: &[u8]) -> Result<Vec<u8>, NodeError> {
    check_digest(digest)?;
    // ENTRY_PREFIX starts with the leaf prefix byte, which is not part of the entry.
    let mut entry = ENTRY_PREFIX[1..].to_vec();
    entry.extend_from_slice(hex::encode(digest).as_bytes());
    entry.extend_from_slice(ENTRY_SUFFIX);
    Ok(entry)
}

/// The RFC 6962 leaf hash of [`anchor_entry`]: the commitment a client later asks the node
/// about with `GET /timestamp/<hex>`.
///
/// # Errors
/// [`NodeError::DigestLength`].
pub fn anchor_leaf_hash(digest: &[u8]) -> Result<Hash, NodeError> {
    Ok(leaf_hash(&anchor_entry(digest)?))
}

fn check_digest(digest: &[u8]) -> Result<(), NodeError> {
    if digest.is_empty() || digest.len() > DIGEST_BYTES_MAX {
        return Err(NodeError::DigestLength { len: digest.len() });
    }
    Ok(())
}

/// The operations from a submitted digest to its entry's leaf hash.
#[must_use]
pub fn entry_ops() -> Vec<Op> {
    vec![
        Op::Hexlify,
        Op::Prepend(ENTRY_PREFIX.to_vec()),
        Op::Append(ENTRY_SUFFIX.to_vec()),
        Op::Sha256,
    ]
}

/// The operations from leaf `index`'s hash to the root of the tree of `tree_size` leaves,
/// given its RFC 6962 inclusion proof (deepest hash first). The sibling side at each level
/// follows RFC 9162 2.1.3.2, exactly as `treaty_merkle::verify_inclusion` walks it.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] or [`MerkleError::WrongProofLength`] (as
/// [`NodeError::Proof`]).
pub fn inclusion_ops(index: u64, tree_size: u64, proof: &[Hash]) -> Result<Vec<Op>, NodeError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        }
        .into());
    }
    let (mut f, mut s) = (index, tree_size - 1);
    let mut ops = Vec::with_capacity(proof.len() * 3);
    for p in proof {
        if s == 0 {
            return Err(wrong_length(index, tree_size, proof.len()));
        }
        if f & 1 == 1 || f == s {
            // p is the left sibling: SHA-256(0x01 || p || r).
            let mut arg = Vec::with_capacity(33);
            arg.push(NODE_PREFIX);
            arg.extend_from_slice(p);
            ops.push(Op::Prepend(arg));
            ops.push(Op::Sha256);
            if f & 1 == 0 {
                // The last node of a level with no right sibling is promoted unchanged.
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            // p is the right sibling: SHA-256(0x01 || r || p).
            ops.push(Op::Prepend(vec![NODE_PREFIX]));
            ops.push(Op::Append(p.to_vec()));
            ops.push(Op::Sha256);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length(index, tree_size, proof.len()));
    }
    Ok(ops)
}

/// The expected proof length, for the error: walk the sizes without hashes.
fn wrong_length(index: u64, tree_size: u64, got: usize) -> NodeError {
    let (mut f, mut s) = (index, tree_size - 1);
    let mut expected = 0usize;
    while s != 0 {
        if (f & 1 == 1 || f == s) && f & 1 == 0 {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        f >>= 1;
        s >>= 1;
        expected += 1;
    }
    MerkleError::WrongProofLength { got, expected }.into()
}

/// What a node answers to `POST /digest` with `digest`: the entry ops, then a Pending
/// attestation naming the node's calendar URL (the base of its `/digest` and `/timestamp`
/// routes; a trailing `/` is dropped).
///
/// # Errors
/// [`NodeError::DigestLength`], [`NodeError::NodeUrl`] when the URL has characters a
/// Pending URI may not hold (OpenTimestamps allows only `A-Z a-z 0-9 - . _ / :`).
pub fn node_pending_timestamp(digest: &[u8], node_url: &str) -> Result<Timestamp, NodeError> {
    check_digest(digest)?;
    let url = node_url.trim_end_matches('/');
    let pending = Attestation::pending(url).map_err(|error| NodeError::NodeUrl {
        url: node_url.to_owned(),
        error,
    })?;
    Ok(Timestamp::chain(
        entry_ops(),
        Timestamp::with_attestation(pending),
    ))
}

/// What a node answers to `GET /timestamp/<hex(leaf)>` once a signed checkpoint covers the
/// entry: the inclusion ops from the leaf hash, then the checkpoint attestation.
///
/// The note is checked against the proof (its origin, size and root), not its signature:
/// the node has just signed it; clients verify the signature.
///
/// # Errors
/// [`NodeError::Note`] when the note or its checkpoint does not parse,
/// [`NodeError::OriginMismatch`], [`NodeError::SizeMismatch`], [`NodeError::Proof`] when
/// the proof does not lead to the checkpoint's root, [`NodeError::Ots`] when the payload is
/// over the format's limit.
pub fn node_leaf_timestamp(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    checkpoint_note: &str,
    origin: &str,
) -> Result<Timestamp, NodeError> {
    let checkpoint = Checkpoint::parse(Note::parse(checkpoint_note)?.text())?;
    if checkpoint.origin() != origin {
        return Err(NodeError::OriginMismatch {
            payload: origin.to_owned(),
            checkpoint: checkpoint.origin().to_owned(),
        });
    }
    if checkpoint.size() != tree_size {
        return Err(NodeError::SizeMismatch {
            payload: tree_size,
            checkpoint: checkpoint.size(),
        });
    }
    verify_inclusion(index, tree_size, leaf, proof, checkpoint.root())?;
    let attestation = CheckpointAttestation::new(origin, tree_size, checkpoint_note)?;
    Ok(Timestamp::chain(
        inclusion_ops(index, tree_size, proof)?,
        Timestamp::with_attestation(attestation.to_attestation()?),
    ))
}

/// The completed proof for a submitted digest, relative to the digest: entry ops, inclusion
/// ops, checkpoint attestation. What a node answers to `GET /timestamp/<hex(D)>`, and what
/// an upgraded client file holds below the node's branch.
///
/// # Errors
/// [`NodeError::DigestLength`] and the errors of [`node_leaf_timestamp`].
pub fn node_completed_timestamp(
    digest: &[u8],
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    checkpoint_note: &str,
    origin: &str,
) -> Result<Timestamp, NodeError> {
    let leaf = anchor_leaf_hash(digest)?;
    let tail = node_leaf_timestamp(&leaf, index, tree_size, proof, checkpoint_note, origin)?;
    Ok(Timestamp::chain(entry_ops(), tail))
}

/// Treaty's attestation: "the message is the root of this signed checkpoint of this ledger".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointAttestation {
    /// The node's ledger origin (the checkpoint's first line, the log key's name).
    origin: String,
    /// The checkpoint's tree size.
    tree_size: u64,
    /// The signed checkpoint note, verbatim.
    note: String,
}

/// A checkpoint attestation that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint whose root the proof reached.
    pub checkpoint: Checkpoint,
    /// Cosignatures by the given witnesses that verified (each carries a Unix time).
    pub cosignatures: Vec<Cosignature>,
}

impl CheckpointAttestation {
    /// An attestation for a checkpoint note.
    ///
    /// # Errors
    /// [`NodeError::Ots`] when the payload would exceed [`ATTESTATION_PAYLOAD_BYTES_MAX`].
    pub fn new(
        origin: impl Into<String>,
        tree_size: u64,
        note: impl Into<String>,
    ) -> Result<Self, NodeError> {
        let a = Self {
            origin: origin.into(),
            tree_size,
            note: note.into(),
        };
        let len = a.payload().len();
        if len > ATTESTATION_PAYLOAD_BYTES_MAX {
            return Err(NodeError::Ots(OtsError::PayloadTooLarge {
                len,
                max: ATTESTATION_PAYLOAD_BYTES_MAX,
            }));
        }
        Ok(a)
    }

    /// The ledger origin.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The signed checkpoint note.
    #[must_use]
    pub fn note(&self) -> &str {
        &self.note
    }

    fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.origin.len() + self.note.len() + 12);
        wire::write_varbytes(&mut p, self.origin.as_bytes());
        wire::write_varuint(&mut p, self.tree_size);
        wire::write_varbytes(&mut p, self.note.as_bytes());
        p
    }

    /// As an OpenTimestamps attestation.
    ///
    /// # Errors
    /// [`NodeError::Ots`] when the payload is over the limit.
    pub fn to_attestation(&self) -> Result<Attestation, NodeError> {
        let payload = self.payload();
        if payload.len() > ATTESTATION_PAYLOAD_BYTES_MAX {
            return Err(NodeError::Ots(OtsError::PayloadTooLarge {
                len: payload.len(),
                max: ATTESTATION_PAYLOAD_BYTES_MAX,
            }));
        }
        Ok(Attestation::Unknown {
            tag: CHECKPOINT_ATTESTATION_TAG,
            payload,
        })
    }

    /// Decodes an attestation if it has this tag: `None` for other attestations.
    #[must_use]
    pub fn from_attestation(attestation: &Attestation) -> Option<Result<Self, NodeError>> {
        match attestation {
            Attestation::Unknown { tag, payload } if *tag == CHECKPOINT_ATTESTATION_TAG => {
                Some(Self::decode(payload))
            }
            _ => None,
        }
    }

    fn decode(payload: &[u8]) -> Result<Self, NodeError> {
        let mut r = wire::Reader::new(payload);
        let origin = r
            .varbytes(1, ATTESTATION_PAYLOAD_BYTES_MAX, "ledger origin")
            .map_err(NodeError::Payload)?;
        let tree_size = r.varuint("tree size").map_err(NodeError::Payload)?;
        let note = r
            .varbytes(1, ATTESTATION_PAYLOAD_BYTES_MAX, "checkpoint note")
            .map_err(NodeError::Payload)?;
        if r.remaining() > 0 {
            return Err(NodeError::Payload(OtsError::PayloadTrailingBytes {
                offset: r.offset(),
                what: "Treaty checkpoint",
                extra: r.remaining(),
            }));
        }
        let origin = String::from_utf8(origin.to_vec())
            .map_err(|_| NodeError::PayloadContent("origin is not UTF-8"))?;
        let note = String::from_utf8(note.to_vec())
            .map_err(|_| NodeError::PayloadContent("checkpoint note is not UTF-8"))?;
        Ok(Self {
            origin,
            tree_size,
            note,
        })
    }

    /// Verifies the attestation for `message` (what the `.ots` path computed): the note is
    /// signed by a key in `node_keys` named after the origin, its origin and size are the
    /// payload's, and its root is `message`. Cosignatures by `witnesses` are checked and
    /// returned; other signature lines are ignored.
    ///
    /// # Errors
    /// [`NodeError::NoKeyForOrigin`], [`NodeError::Note`] (bad note, bad or missing
    /// signature), [`NodeError::SizeMismatch`], [`NodeError::RootMismatch`].
    pub fn verify(
        &self,
        message: &[u8],
        node_keys: &[VerifierKey],
        witnesses: &[VerifierKey],
    ) -> Result<VerifiedCheckpoint, NodeError> {
        let mut last_error = None;
        // Several keys may share a name (a rotated key kept for old checkpoints).
        for key in node_keys.iter().filter(|k| k.name() == self.origin) {
            match open_checkpoint(&self.note, key, witnesses) {
                Ok(opened) => return self.check_opened(message, opened),
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => NodeError::Note(e),
            None => NodeError::NoKeyForOrigin {
                origin: self.origin.clone(),
            },
        })
    }

    fn check_opened(
        &self,
        message: &[u8],
        opened: treaty_note::OpenedCheckpoint,
    ) -> Result<VerifiedCheckpoint, NodeError> {
        let checkpoint = opened.checkpoint;
        // open_checkpoint already tied the checkpoint origin to the key name, which is
        // the payload origin; checked again so the rule does not hide in another crate.
        if checkpoint.origin() != self.origin {
            return Err(NodeError::OriginMismatch {
                payload: self.origin.clone(),
                checkpoint: checkpoint.origin().to_owned(),
            });
        }
        if checkpoint.size() != self.tree_size {
            return Err(NodeError::SizeMismatch {
                payload: self.tree_size,
                checkpoint: checkpoint.size(),
            });
        }
        if message != checkpoint.root().as_slice() {
            return Err(NodeError::RootMismatch {
                message: hex::encode(message),
                root: hex::encode(checkpoint.root()),
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            cosignatures: opened.cosignatures,
        })
    }
}

/// The attestation tag recomputed from its name (a test checks it equals the constant).
#[must_use]
pub fn checkpoint_attestation_tag() -> [u8; 8] {
    let digest = Sha256::digest(CHECKPOINT_ATTESTATION_NAME.as_bytes());
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&digest[..8]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use treaty_merkle::{MemoryHashStore, inclusion_proof};

    #[test]
    fn tag_is_derived_from_its_name() {
        assert_eq!(checkpoint_attestation_tag(), CHECKPOINT_ATTESTATION_TAG);
    }

    #[test]
    fn entry_ops_compute_the_leaf_hash() -> Result<(), Box<dyn std::error::Error>> {
        for digest in [vec![0u8], vec![0xab; 32], (0..64).collect::<Vec<u8>>()] {
            let mut msg = digest.clone();
            for op in entry_ops() {
                msg = op.apply(&msg)?;
            }
            assert_eq!(msg, anchor_leaf_hash(&digest)?.to_vec());
            let entry = String::from_utf8(anchor_entry(&digest)?)?;
            assert_eq!(
                entry,
                format!(
                    "{{\"digest\":\"{}\",\"kind\":\"anchor\"}}",
                    hex::encode(&digest)
                )
            );
        }
        assert!(anchor_entry(&[]).is_err());
        assert!(anchor_entry(&[0; 65]).is_err());
        Ok(())
    }

    #[test]
    fn inclusion_ops_reach_the_root_for_every_position() -> Result<(), Box<dyn std::error::Error>> {
        let mut store = MemoryHashStore::new();
        for size in 1..=40u64 {
            store.append(leaf_hash(&size.to_be_bytes()));
            let root = store.root();
            for index in 0..size {
                let proof = inclusion_proof(index, size, &store)?;
                let mut msg = leaf_hash(&(index + 1).to_be_bytes()).to_vec();
                for op in inclusion_ops(index, size, &proof)? {
                    msg = op.apply(&msg)?;
                }
                assert_eq!(msg, root.to_vec(), "index {index} size {size}");
                // One hash too many or too few is refused, with the expected length.
                let mut longer = proof.clone();
                longer.push([0; 32]);
                assert!(matches!(
                    inclusion_ops(index, size, &longer),
                    Err(NodeError::Proof(MerkleError::WrongProofLength { expected, .. }))
                        if expected == proof.len()
                ));
                if !proof.is_empty() {
                    assert!(inclusion_ops(index, size, &proof[1..]).is_err());
                }
            }
        }
        assert!(inclusion_ops(3, 3, &[]).is_err());
        Ok(())
    }

    #[test]
    fn payload_round_trips_and_rejects_trailing_bytes() -> Result<(), NodeError> {
        let a = CheckpointAttestation::new("example.org/ledger", 7, "note text\n")?;
        let att = a.to_attestation()?;
        let back = CheckpointAttestation::from_attestation(&att);
        assert!(matches!(back, Some(Ok(ref b)) if *b == a));
        if let Attestation::Unknown { payload, .. } = att {
            let mut longer = payload.clone();
            longer.push(0);
            let bad = Attestation::Unknown {
                tag: CHECKPOINT_ATTESTATION_TAG,
                payload: longer,
            };
            assert!(matches!(
                CheckpointAttestation::from_attestation(&bad),
                Some(Err(NodeError::Payload(
                    OtsError::PayloadTrailingBytes { .. }
                )))
            ));
        }
        let big = "x".repeat(ATTESTATION_PAYLOAD_BYTES_MAX);
        assert!(CheckpointAttestation::new("o", 1, big).is_err());
        Ok(())
    }
}
