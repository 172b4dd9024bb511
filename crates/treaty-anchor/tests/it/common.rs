//! Shared fixtures: members, and an in-memory Treaty node acting as a calendar exactly as
//! issue 7 part 3 describes (commit the digest as a ledger entry, sign a checkpoint, answer
//! pending, then completed).

use ed25519_dalek::SigningKey;
use treaty_anchor::node::{anchor_entry, node_leaf_timestamp, node_pending_timestamp};
use treaty_anchor::{Manifest, MemberInput};
use treaty_merkle::{Hash, MemoryHashStore, inclusion_proof, leaf_hash};
use treaty_note::{Checkpoint, KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, VerifierKey};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) fn input(p: &str, r: char, scope: &str, nonce: Option<&str>) -> MemberInput {
    MemberInput {
        participant_id: p.to_owned(),
        record_hash: r.to_string().repeat(64),
        scope: scope.to_owned(),
        nonce: nonce.map(str::to_owned),
    }
}

/// Distinct, non-trivial, deterministic nonces.
pub(crate) fn nonces() -> impl FnMut() -> [u8; 16] {
    treaty_anchor::bench::counter_nonces()
}

/// Five members over three participants.
pub(crate) fn small_manifest() -> Result<Manifest, treaty_anchor::AnchorError> {
    treaty_anchor::build_manifest(
        vec![
            input("tenant-alpha", 'a', "prod", None),
            input("tenant-bravo", 'b', "prod", None),
            input(
                "tenant-alpha",
                'c',
                "staging",
                Some("00112233445566778899aabbccddeeff"),
            ),
            input("tenant-charlie", 'd', "prod", None),
            input("tenant-bravo", 'e', "audit", None),
        ],
        &mut nonces(),
    )
}

/// An in-memory Treaty node: a ledger, a log key and a calendar URL.
pub(crate) struct FakeNode {
    pub(crate) origin: String,
    pub(crate) url: String,
    key: SigningKey,
    tree: MemoryHashStore,
    leaves: Vec<Hash>,
    pub(crate) note: String,
    witness: Option<SigningKey>,
}

impl FakeNode {
    /// A node with `filler` unrelated entries already in its ledger.
    pub(crate) fn new(name: &str, seed: u8, filler: u64) -> Self {
        let mut node = Self {
            origin: format!("{name}.example/ledger"),
            url: format!("http://{name}.example:8080"),
            key: SigningKey::from_bytes(&[seed; 32]),
            tree: MemoryHashStore::new(),
            leaves: Vec::new(),
            note: String::new(),
            witness: None,
        };
        for i in 0..filler {
            node.append(format!("{{\"kind\":\"record\",\"n\":{i}}}").as_bytes());
        }
        node
    }

    pub(crate) fn with_witness(mut self, seed: u8) -> Self {
        self.witness = Some(SigningKey::from_bytes(&[seed; 32]));
        self
    }

    pub(crate) fn verifier(&self) -> VerifierKey {
        VerifierKey::from_signing_key(&self.origin, &self.key, KEY_TYPE_ED25519)
            .unwrap_or_else(|e| panic!("verifier key: {e}"))
    }

    pub(crate) fn witness_verifier(&self) -> Option<VerifierKey> {
        self.witness.as_ref().map(|w| {
            VerifierKey::from_signing_key("witness.example", w, KEY_TYPE_COSIGNATURE_V1)
                .unwrap_or_else(|e| panic!("witness key: {e}"))
        })
    }

    fn append(&mut self, entry: &[u8]) {
        let leaf = leaf_hash(entry);
        self.tree.append(leaf);
        self.leaves.push(leaf);
        self.sign();
    }

    fn sign(&mut self) {
        let checkpoint = Checkpoint::new(&self.origin, self.tree.size(), self.tree.root())
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        let mut note =
            treaty_note::Note::new(checkpoint.to_body()).unwrap_or_else(|e| panic!("note: {e}"));
        note.sign(&self.origin, &self.key)
            .unwrap_or_else(|e| panic!("sign: {e}"));
        if let Some(w) = &self.witness {
            let sig =
                treaty_note::cosign(&checkpoint.to_body(), "witness.example", w, 1_700_000_000)
                    .unwrap_or_else(|e| panic!("cosign: {e}"));
            note.add_signature(sig)
                .unwrap_or_else(|e| panic!("add cosignature: {e}"));
        }
        self.note = note.to_string();
    }

    /// `POST /digest`: commits the digest, answers the pending timestamp.
    pub(crate) fn post_digest(&mut self, digest: &[u8]) -> Vec<u8> {
        let entry = anchor_entry(digest).unwrap_or_else(|e| panic!("entry: {e}"));
        self.append(&entry);
        node_pending_timestamp(digest, &self.url)
            .and_then(|t| t.to_bytes().map_err(treaty_anchor::node::NodeError::Ots))
            .unwrap_or_else(|e| panic!("pending: {e}"))
    }

    /// `GET /timestamp/<hex>`: the completed proof for a leaf hash, or None (404).
    pub(crate) fn get_timestamp(&self, commitment: &[u8]) -> Option<Vec<u8>> {
        let index = self
            .leaves
            .iter()
            .position(|l| l.as_slice() == commitment)?;
        let size = self.tree.size();
        let proof = inclusion_proof(index as u64, size, &self.tree).ok()?;
        let ts = node_leaf_timestamp(
            &self.leaves[index],
            index as u64,
            size,
            &proof,
            &self.note,
            &self.origin,
        )
        .unwrap_or_else(|e| panic!("completed: {e}"));
        ts.to_bytes().ok()
    }

    /// Appends more unrelated entries (later checkpoints).
    pub(crate) fn grow(&mut self, n: u64) {
        for i in 0..n {
            self.append(format!("{{\"kind\":\"later\",\"n\":{i}}}").as_bytes());
        }
    }
}

/// Stamps `manifest` at each node and upgrades every pending attestation.
pub(crate) fn stamp_and_upgrade(manifest: &mut Manifest, nodes: &mut [FakeNode]) -> TestResult {
    let root = manifest.root();
    for node in nodes.iter_mut() {
        let answer = node.post_digest(&root);
        let url = node.url.clone();
        treaty_anchor::anchor_manifest(manifest, [(url.as_str(), answer.as_slice())])?;
    }
    upgrade_all(manifest.anchors_mut(), nodes)
}

pub(crate) fn upgrade_all(anchors: &mut treaty_anchor::Anchors, nodes: &[FakeNode]) -> TestResult {
    for pending in anchors.pending()? {
        let node = nodes
            .iter()
            .find(|n| n.url == pending.uri)
            .ok_or("unknown calendar")?;
        let answer = node
            .get_timestamp(&pending.commitment)
            .ok_or("calendar answered 404")?;
        assert!(anchors.apply_upgrade(&pending, &answer)?);
    }
    Ok(())
}
