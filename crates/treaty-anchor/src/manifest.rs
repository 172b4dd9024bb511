//! Manifests: every member's commitment under one RFC 6962 root (issue 7, part 1), and
//! extracts: one participant's members with their proofs, and nothing else about others.
//!
//! The tree's leaves are the members' 32-byte commitment hashes, in member order, as RFC
//! 6962 entries: leaf hash `SHA-256(0x00 || commitment)`, interior nodes
//! `SHA-256(0x01 || left || right)`. A member's proof is the RFC 9162 inclusion proof of its
//! leaf (deepest sibling first).
//!
//! A [`Manifest`] keeps the whole tree in a [`MemoryHashStore`] (about two hashes per
//! member) and computes proofs when asked, rather than storing one proof per member: a
//! million members then need about 64 MB of hashes instead of 700 MB of proofs, and writing
//! the manifest streams proofs out one member at a time.
//!
//! # What an extract reveals
//!
//! An [`Extract`] holds the root, the participant's own members with their proofs, and the
//! anchors. About everyone else it reveals only what RFC 6962 proofs must: the tree size
//! (the member count: a verifier needs it to interpret a proof, and the proof's length and
//! shape depend on it), the participant's own positions, and the sibling hashes on its
//! paths, which are hashes of other members' nonce-blinded commitments or of subtrees of
//! them. The anchors timestamp the root only.

use crate::anchors::Anchors;
use crate::error::AnchorError;
use crate::member::{FieldError, GENERATED_NONCE_BYTES, Member, MemberInput, MemberQuery};
use std::collections::HashMap;
use std::fmt;
use treaty_merkle::{
    Hash, MemoryHashStore, MerkleError, inclusion_proof, leaf_hash, verify_inclusion,
};

/// The manifest and extract format version (`"version"`).
pub const MANIFEST_VERSION: u64 = 1;
/// Most members in one manifest.
pub const MEMBERS_MAX: usize = 1 << 24;

/// A member's RFC 6962 inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The member's leaf index (its position in member order).
    pub index: u64,
    /// The tree size the proof is for (the member count).
    pub tree_size: u64,
    /// Sibling hashes, deepest first.
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Verifies that `commitment` is leaf `index` of the tree with `root`.
    ///
    /// # Errors
    /// The [`MerkleError`] of `treaty_merkle::verify_inclusion`.
    pub fn verify(&self, commitment: &Hash, root: &Hash) -> Result<(), MerkleError> {
        verify_inclusion(
            self.index,
            self.tree_size,
            &leaf_hash(commitment),
            &self.hashes,
            root,
        )
    }
}

/// A member with its commitment and proof: what a participant keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenMember {
    /// The member.
    pub member: Member,
    /// Its commitment hash as stated by the document it came from.
    pub commitment: Hash,
    /// Its inclusion proof.
    pub proof: InclusionProof,
}

/// Anything members can be looked up in: a [`Manifest`], an [`Extract`], a [`Document`].
pub trait MemberSource {
    /// The root.
    fn root(&self) -> Hash;
    /// The tree size (the manifest's member count).
    fn tree_size(&self) -> u64;
    /// The anchors of the root.
    fn anchors(&self) -> &Anchors;
    /// The first member (in member order) matching `query`, with its proof.
    ///
    /// # Errors
    /// [`AnchorError::NoSuchMember`].
    fn lookup(&self, query: &MemberQuery) -> Result<ProvenMember, AnchorError>;
}

/// All members, the tree over their commitments, and the anchors of its root.
#[derive(Clone)]
pub struct Manifest {
    /// Members in order.
    members: Vec<Member>,
    /// `members[i].commitment()`, cached.
    commitments: Vec<Hash>,
    /// Every complete subtree hash of the tree, for proofs in `O(log n)` reads.
    tree: MemoryHashStore,
    /// Proofs of the root.
    anchors: Anchors,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A manifest can hold millions of members: show its identity, not its contents.
        f.debug_struct("Manifest")
            .field("root", &hex::encode(self.root()))
            .field("tree_size", &self.tree_size())
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

/// Progress callback: `(done, total)`, called once per member.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

impl Manifest {
    /// Builds a manifest: validates every member, draws a nonce from `nonce_source` for
    /// each member without one, rejects duplicates, and builds the tree.
    ///
    /// # Errors
    /// [`AnchorError::NoMembers`], [`AnchorError::TooManyMembers`],
    /// [`AnchorError::InvalidMember`] (also when the nonce source returns a trivial nonce),
    /// [`AnchorError::DuplicateMember`].
    pub fn build(
        inputs: Vec<MemberInput>,
        nonce_source: &mut dyn FnMut() -> [u8; GENERATED_NONCE_BYTES],
        progress: Progress<'_>,
    ) -> Result<Self, AnchorError> {
        let total = inputs.len();
        let mut tree = TreeBuilder::new(total)?;
        for (index, input) in inputs.into_iter().enumerate() {
            let MemberInput {
                participant_id,
                record_hash,
                scope,
                nonce,
            } = input;
            let member = match nonce {
                Some(nonce) => Member::new(participant_id.clone(), &record_hash, scope, &nonce),
                None => Member::with_nonce_bytes(
                    participant_id.clone(),
                    &record_hash,
                    scope,
                    nonce_source().to_vec(),
                )
                .map_err(|e| FieldError {
                    field: e.field,
                    reason: if e.field == "nonce" {
                        format!(
                            "the generated nonce {}: the nonce source is broken",
                            e.reason
                        )
                    } else {
                        e.reason
                    },
                }),
            }
            .map_err(|e| e.at(index, &participant_id))?;
            tree.push(index, member)?;
            progress(index as u64 + 1, total as u64);
        }
        Ok(tree.finish())
    }

    /// A manifest over already validated members, in order.
    ///
    /// # Errors
    /// [`AnchorError::NoMembers`], [`AnchorError::TooManyMembers`],
    /// [`AnchorError::DuplicateMember`].
    pub fn from_members(members: Vec<Member>, progress: Progress<'_>) -> Result<Self, AnchorError> {
        let total = members.len();
        let mut tree = TreeBuilder::new(total)?;
        for (index, member) in members.into_iter().enumerate() {
            tree.push(index, member)?;
            progress(index as u64 + 1, total as u64);
        }
        Ok(tree.finish())
    }

    /// The root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The tree size: the member count.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tree.size()
    }

    /// The members, in order.
    #[must_use]
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The commitment of member `index`.
    #[must_use]
    pub fn commitment(&self, index: usize) -> Option<&Hash> {
        self.commitments.get(index)
    }

    /// The inclusion proof of member `index`.
    ///
    /// # Errors
    /// [`AnchorError::Merkle`] for an index beyond the members.
    pub fn proof(&self, index: usize) -> Result<InclusionProof, AnchorError> {
        let size = self.tree_size();
        Ok(InclusionProof {
            index: index as u64,
            tree_size: size,
            hashes: inclusion_proof(index as u64, size, &self.tree)?,
        })
    }

    /// Member `index` with its commitment and proof.
    ///
    /// # Errors
    /// [`AnchorError::Merkle`] for an index beyond the members.
    pub fn proven(&self, index: usize) -> Result<ProvenMember, AnchorError> {
        let (Some(member), Some(commitment)) =
            (self.members.get(index), self.commitments.get(index))
        else {
            return Err(MerkleError::IndexOutOfRange {
                index: index as u64,
                size: self.tree_size(),
            }
            .into());
        };
        Ok(ProvenMember {
            member: member.clone(),
            commitment: *commitment,
            proof: self.proof(index)?,
        })
    }

    /// One participant's members with their proofs, the root and the anchors.
    ///
    /// # Errors
    /// [`AnchorError::NoSuchParticipant`].
    pub fn extract(&self, participant_id: &str) -> Result<Extract, AnchorError> {
        let mut members = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.participant_id() == participant_id {
                members.push(self.proven(i)?);
            }
        }
        if members.is_empty() {
            return Err(AnchorError::NoSuchParticipant {
                participant_id: participant_id.to_owned(),
            });
        }
        Ok(Extract {
            participant_id: participant_id.to_owned(),
            root: self.root(),
            tree_size: self.tree_size(),
            members,
            anchors: self.anchors.clone(),
        })
    }

    /// The anchors.
    #[must_use]
    pub fn anchors(&self) -> &Anchors {
        &self.anchors
    }

    /// The anchors, to attach calendar answers and upgrades.
    pub fn anchors_mut(&mut self) -> &mut Anchors {
        &mut self.anchors
    }

    /// Parts for the JSON writer.
    pub(crate) fn tree(&self) -> &MemoryHashStore {
        &self.tree
    }

    /// Replaces the anchors (the JSON reader, after checking them against the root).
    pub(crate) fn set_anchors(&mut self, anchors: Anchors) {
        self.anchors = anchors;
    }
}

/// Appends validated members one at a time: commitment, duplicate check, leaf.
struct TreeBuilder {
    members: Vec<Member>,
    commitments: Vec<Hash>,
    tree: MemoryHashStore,
    /// Commitment to first position. Equal commitments mean equal (participant_id,
    /// record_hash, scope, nonce): JCS is injective and SHA-256 collision resistant. The
    /// map is only probed, never iterated, so its order cannot leak into any output.
    seen: HashMap<Hash, usize>,
}

impl TreeBuilder {
    fn new(total: usize) -> Result<Self, AnchorError> {
        if total == 0 {
            return Err(AnchorError::NoMembers);
        }
        if total > MEMBERS_MAX {
            return Err(AnchorError::TooManyMembers { max: MEMBERS_MAX });
        }
        Ok(Self {
            members: Vec::with_capacity(total),
            commitments: Vec::with_capacity(total),
            tree: MemoryHashStore::with_capacity(total),
            seen: HashMap::with_capacity(total),
        })
    }

    fn push(&mut self, index: usize, member: Member) -> Result<(), AnchorError> {
        let c = member.commitment();
        if let Some(&first) = self.seen.get(&c) {
            return Err(AnchorError::DuplicateMember {
                index,
                first,
                participant_id: member.participant_id().to_owned(),
            });
        }
        self.seen.insert(c, index);
        self.commitments.push(c);
        self.tree.append(leaf_hash(&c));
        self.members.push(member);
        Ok(())
    }

    fn finish(self) -> Manifest {
        let root = self.tree.root();
        Manifest {
            members: self.members,
            commitments: self.commitments,
            tree: self.tree,
            anchors: Anchors::new(root),
        }
    }
}

impl MemberSource for Manifest {
    fn root(&self) -> Hash {
        Manifest::root(self)
    }

    fn tree_size(&self) -> u64 {
        Manifest::tree_size(self)
    }

    fn anchors(&self) -> &Anchors {
        &self.anchors
    }

    fn lookup(&self, query: &MemberQuery) -> Result<ProvenMember, AnchorError> {
        let index = self
            .members
            .iter()
            .position(|m| query.matches(m))
            .ok_or_else(|| query.not_found())?;
        self.proven(index)
    }
}

/// One participant's members with their proofs, the root, the tree size and the anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// The participant.
    pub(crate) participant_id: String,
    /// The root.
    pub(crate) root: Hash,
    /// The tree size (the manifest's member count).
    pub(crate) tree_size: u64,
    /// The participant's members, in member order.
    pub(crate) members: Vec<ProvenMember>,
    /// The anchors of the root.
    pub(crate) anchors: Anchors,
}

impl Extract {
    /// The participant.
    #[must_use]
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// The root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The tree size.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The participant's members with their proofs.
    #[must_use]
    pub fn members(&self) -> &[ProvenMember] {
        &self.members
    }

    /// The anchors.
    #[must_use]
    pub fn anchors(&self) -> &Anchors {
        &self.anchors
    }

    /// The anchors, to apply upgrades.
    pub fn anchors_mut(&mut self) -> &mut Anchors {
        &mut self.anchors
    }
}

impl MemberSource for Extract {
    fn root(&self) -> Hash {
        self.root
    }

    fn tree_size(&self) -> u64 {
        self.tree_size
    }

    fn anchors(&self) -> &Anchors {
        &self.anchors
    }

    fn lookup(&self, query: &MemberQuery) -> Result<ProvenMember, AnchorError> {
        self.members
            .iter()
            .find(|m| query.matches(&m.member))
            .cloned()
            .ok_or_else(|| query.not_found())
    }
}

/// A manifest or an extract, as read from JSON.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Document {
    /// A whole manifest.
    Manifest(Manifest),
    /// One participant's extract.
    Extract(Extract),
}

impl Document {
    /// The anchors, to apply upgrades.
    pub fn anchors_mut(&mut self) -> &mut Anchors {
        match self {
            Document::Manifest(m) => m.anchors_mut(),
            Document::Extract(e) => e.anchors_mut(),
        }
    }
}

impl MemberSource for Document {
    fn root(&self) -> Hash {
        match self {
            Document::Manifest(m) => m.root(),
            Document::Extract(e) => e.root(),
        }
    }

    fn tree_size(&self) -> u64 {
        match self {
            Document::Manifest(m) => m.tree_size(),
            Document::Extract(e) => e.tree_size(),
        }
    }

    fn anchors(&self) -> &Anchors {
        match self {
            Document::Manifest(m) => m.anchors(),
            Document::Extract(e) => e.anchors(),
        }
    }

    fn lookup(&self, query: &MemberQuery) -> Result<ProvenMember, AnchorError> {
        match self {
            Document::Manifest(m) => m.lookup(query),
            Document::Extract(e) => e.lookup(query),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize) -> Vec<MemberInput> {
        (0..n)
            .map(|i| MemberInput {
                participant_id: format!("tenant-{}", i % 3),
                record_hash: record_hash(i),
                scope: "prod".into(),
                nonce: None,
            })
            .collect()
    }

    fn record_hash(i: usize) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(i.to_be_bytes()))
    }

    fn counter() -> impl FnMut() -> [u8; 16] {
        let mut n = 0u128;
        move || {
            n += 1;
            (n * 0x0101_0101_0101_0101_0101_0101_0101_0103).to_be_bytes()
        }
    }

    #[test]
    fn proofs_verify_for_every_member() -> Result<(), AnchorError> {
        for n in [1usize, 2, 3, 7, 33] {
            let m = Manifest::build(inputs(n), &mut counter(), &mut |_, _| {})?;
            assert_eq!(m.tree_size(), n as u64);
            for i in 0..n {
                let p = m.proven(i)?;
                p.proof.verify(&p.commitment, &m.root())?;
                assert_eq!(p.commitment, p.member.commitment());
            }
        }
        Ok(())
    }

    #[test]
    fn duplicates_and_bad_members_name_the_member() {
        let mut v = inputs(3);
        for m in &mut v {
            m.nonce = Some("000102030405060708090a0b0c0d0e0f".into());
        }
        v[2].participant_id = v[0].participant_id.clone();
        v[2].record_hash = v[0].record_hash.clone();
        let err = Manifest::build(v, &mut counter(), &mut |_, _| {});
        assert!(matches!(
            err,
            Err(AnchorError::DuplicateMember {
                index: 2,
                first: 0,
                ..
            })
        ));

        let mut v = inputs(3);
        v[1].record_hash.pop();
        let err = Manifest::build(v, &mut counter(), &mut |_, _| {});
        assert!(matches!(
            err,
            Err(AnchorError::InvalidMember {
                index: 1,
                field: "record_hash",
                ..
            })
        ));

        let err = Manifest::build(inputs(2), &mut || [7u8; 16], &mut |_, _| {});
        assert!(
            matches!(err, Err(AnchorError::InvalidMember { index: 0, field: "nonce", ref reason, .. }) if reason.contains("nonce source")),
            "{err:?}"
        );
        assert!(matches!(
            Manifest::build(vec![], &mut counter(), &mut |_, _| {}),
            Err(AnchorError::NoMembers)
        ));
    }

    #[test]
    fn extract_holds_only_the_participant() -> Result<(), AnchorError> {
        let m = Manifest::build(inputs(10), &mut counter(), &mut |_, _| {})?;
        let e = m.extract("tenant-1")?;
        assert_eq!(e.members().len(), 3);
        assert!(
            e.members()
                .iter()
                .all(|p| p.member.participant_id() == "tenant-1")
        );
        assert_eq!(e.tree_size(), 10);
        assert!(matches!(
            m.extract("nobody"),
            Err(AnchorError::NoSuchParticipant { .. })
        ));
        Ok(())
    }
}
