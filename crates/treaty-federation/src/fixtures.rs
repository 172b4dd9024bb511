//! Shared test fixtures: two nodes, their keys, and documents between them.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use serde_json::Value;

use crate::{
    Agreement, Frequency, Offer, PartyKey, Rejection, Revocation, Signed, SignedAgreement, Terms,
    TrustLevel,
};

/// The proposer.
pub(crate) const A: &str = "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab";
/// The target.
pub(crate) const B: &str = "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f";
/// A third node.
pub(crate) const C: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// The fixtures' "now".
pub(crate) const NOW: u64 = 1_767_225_600;
/// One day.
pub(crate) const DAY: u64 = 86_400;

pub(crate) fn key_a() -> SigningKey {
    SigningKey::from_bytes(&[0xa1; 32])
}

pub(crate) fn key_b() -> SigningKey {
    SigningKey::from_bytes(&[0xb2; 32])
}

pub(crate) fn key_c() -> SigningKey {
    SigningKey::from_bytes(&[0xc3; 32])
}

/// The key of `node` (A, B or C).
pub(crate) fn key_of(node: &str) -> SigningKey {
    match node {
        A => key_a(),
        B => key_b(),
        _ => key_c(),
    }
}

/// The key ID of `node`'s key.
pub(crate) fn kid_of(node: &str) -> &'static str {
    match node {
        A => "kid-a",
        B => "kid-b",
        _ => "kid-c",
    }
}

pub(crate) fn terms() -> Terms {
    Terms {
        collections: vec!["notes".into(), "agent-card".into()],
        verification_frequency: Frequency::Daily,
        retention_days: 90,
        jurisdiction: Some("EU".into()),
        audit_rights: true,
    }
}

/// The opening offer, from A to B.
pub(crate) fn offer1() -> Offer {
    Offer {
        proposal_id: "p-1".into(),
        round: 1,
        proposer: A.into(),
        target: B.into(),
        from: A.into(),
        trust_level: TrustLevel::Verify,
        terms: terms(),
        created_at: NOW,
        expires_at: NOW + DAY,
        previous: None,
    }
}

/// `body` signed by the node in its `from`.
pub(crate) fn sign_offer(body: Offer) -> Signed<Offer> {
    let from = body.from.clone();
    Signed::sign(body, &key_of(&from), kid_of(&from)).expect("signs")
}

/// The counter-offer to `prev`, made `dt` seconds after NOW.
pub(crate) fn counter_to(prev: &Signed<Offer>, dt: u64) -> Offer {
    let p = &prev.body;
    Offer {
        round: p.round + 1,
        from: p.answerer().to_owned(),
        created_at: NOW + dt,
        expires_at: NOW + dt + DAY,
        previous: Some(prev.hash()),
        ..p.clone()
    }
}

pub(crate) fn rejection(round: u32, from: &str) -> Rejection {
    Rejection {
        proposal_id: "p-1".into(),
        round,
        from: from.into(),
        reason: "retention too short".into(),
        created_at: NOW + 10,
    }
}

pub(crate) fn sign_rejection(body: Rejection) -> Signed<Rejection> {
    let from = body.from.clone();
    Signed::sign(body, &key_of(&from), kid_of(&from)).expect("signs")
}

pub(crate) fn keys() -> BTreeMap<String, PartyKey> {
    BTreeMap::from([
        (
            A.to_owned(),
            PartyKey::new("kid-a", &key_a().verifying_key()),
        ),
        (
            B.to_owned(),
            PartyKey::new("kid-b", &key_b().verifying_key()),
        ),
    ])
}

/// The agreement accepting `offer`, signed by both parties.
pub(crate) fn agreement_for(offer: &Signed<Offer>, at: u64) -> SignedAgreement {
    let a = Agreement::from_offer(offer, "agr-1", at, keys()).expect("agreement");
    let mut s = SignedAgreement::new(a);
    s.sign_as(A, &key_a(), at).expect("A signs");
    s.sign_as(B, &key_b(), at + 5).expect("B signs");
    s
}

pub(crate) fn revocation(agreement: &Agreement) -> Revocation {
    Revocation {
        agreement_id: agreement.agreement_id.clone(),
        agreement_hash: agreement.hash(),
        revoked_by: B.into(),
        reason: "operator decision".into(),
        announced_at: NOW + DAY,
        effective_at: NOW + 2 * DAY,
    }
}

/// `value` with member `key` set to `v`.
pub(crate) fn with(value: &Value, key: &str, v: Value) -> Value {
    let mut x = value.clone();
    if let Some(m) = x.as_object_mut() {
        m.insert(key.into(), v);
    }
    x
}

/// `value` without member `key`.
pub(crate) fn without(value: &Value, key: &str) -> Value {
    let mut x = value.clone();
    if let Some(m) = x.as_object_mut() {
        m.remove(key);
    }
    x
}

/// The origin (and log key name) of [`TestLog`]s.
pub(crate) const LOG_ORIGIN: &str = "peer.example/log";

/// A transparency log for witness tests: a key named [`LOG_ORIGIN`] and a tree whose leaves
/// depend on `variant`, so two logs with one key and different variants are a fork.
pub(crate) struct TestLog {
    /// The log's signing key.
    pub(crate) sk: SigningKey,
    /// Its verifier key, type 0x01, named after the origin.
    pub(crate) key: treaty_note::VerifierKey,
    /// The tree.
    pub(crate) store: treaty_merkle::MemoryHashStore,
    /// Mixed into every leaf.
    variant: u8,
}

impl TestLog {
    /// A log with key seed `seed`, leaves of `variant`, and `size` leaves.
    pub(crate) fn new(seed: u8, variant: u8, size: u64) -> Self {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let key = treaty_note::VerifierKey::from_signing_key(
            LOG_ORIGIN,
            &sk,
            treaty_note::KEY_TYPE_ED25519,
        )
        .expect("key");
        let mut log = Self {
            sk,
            key,
            store: treaty_merkle::MemoryHashStore::new(),
            variant,
        };
        log.grow_to(size);
        log
    }

    /// Appends leaves until the tree has `size` of them.
    pub(crate) fn grow_to(&mut self, size: u64) {
        while self.store.size() < size {
            let i = self.store.size();
            let mut leaf = vec![self.variant];
            leaf.extend_from_slice(&i.to_be_bytes());
            self.store.append(treaty_merkle::leaf_hash(&leaf));
        }
    }

    /// The root at `size`.
    pub(crate) fn root(&self, size: u64) -> [u8; 32] {
        treaty_merkle::root_at(size, &self.store).expect("root")
    }

    /// The checkpoint at `size`.
    pub(crate) fn checkpoint(&self, size: u64) -> treaty_note::Checkpoint {
        treaty_note::Checkpoint::new(LOG_ORIGIN, size, self.root(size)).expect("checkpoint")
    }

    /// The signed checkpoint note at `size`.
    pub(crate) fn note(&self, size: u64) -> String {
        treaty_note::sign_checkpoint(&self.checkpoint(size), LOG_ORIGIN, &self.sk).expect("sign")
    }

    /// The consistency proof from `first` to `second`.
    pub(crate) fn proof(&self, first: u64, second: u64) -> Vec<[u8; 32]> {
        treaty_merkle::consistency_proof(first, second, &self.store).expect("proof")
    }
}
