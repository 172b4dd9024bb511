//! End-to-end tests through the public API only: a full negotiation between two nodes that
//! exchange JSON, known-answer vectors computed independently, and a no-panic loop over
//! mutated documents.

use std::collections::BTreeMap;

use serde_json::Value;
use treaty_federation::limits::{DOCUMENT_BYTES_MAX, THREAD_BYTES_MAX};
use treaty_federation::*;

const A: &str = "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab";
const B: &str = "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f";
const NOW: u64 = 1_767_225_600;
const DAY: u64 = 86_400;

fn key(node: &str) -> SigningKey {
    SigningKey::from_bytes(&[if node == A { 0xa1 } else { 0xb2 }; 32])
}

fn kid(node: &str) -> &'static str {
    if node == A { "kid-a" } else { "kid-b" }
}

/// What a node holds about its peers: the keys from their JWKS.
fn peer_key(node: &str) -> VerifyingKey {
    key(node).verifying_key()
}

/// Sends a document over the wire: JSON text out, strict parse in.
fn wire(v: &Value) -> Value {
    let text = serde_json::to_vec(v).expect("serializes");
    parse_json(&text, DOCUMENT_BYTES_MAX).expect("parses")
}

/// The receiving node's handling of an offer: parse, verify with the sender's key.
fn receive_offer(v: &Value) -> Signed<Offer> {
    let offer = Signed::<Offer>::from_value(&wire(v)).expect("offer parses");
    offer
        .verify(&peer_key(&offer.body.from))
        .expect("offer verifies");
    offer
}

fn terms() -> Terms {
    Terms {
        collections: vec!["notes".into(), "agent-card".into()],
        verification_frequency: Frequency::Daily,
        retention_days: 90,
        jurisdiction: Some("EU".into()),
        audit_rights: true,
    }
}

fn counter(prev: &Signed<Offer>, at: u64, change: impl FnOnce(&mut Offer)) -> Signed<Offer> {
    let p = &prev.body;
    let mut o = Offer {
        round: p.round + 1,
        from: p.answerer().to_owned(),
        created_at: at,
        expires_at: at + DAY,
        previous: Some(prev.hash()),
        ..p.clone()
    };
    change(&mut o);
    let from = o.from.clone();
    Signed::sign(o, &key(&from), kid(&from)).expect("signs")
}

#[test]
fn full_negotiation_between_two_nodes() {
    // Round 1: A proposes level 3 with audit rights.
    let first = Offer {
        proposal_id: "p-2026-0001".into(),
        round: 1,
        proposer: A.into(),
        target: B.into(),
        from: A.into(),
        trust_level: TrustLevel::Attest,
        terms: terms(),
        created_at: NOW,
        expires_at: NOW + DAY,
        previous: None,
    };
    let first = Signed::sign(first, &key(A), kid(A)).expect("signs");
    let mut at_a = Thread::open(first.clone()).expect("A opens");
    let received = receive_offer(&first.to_value());
    received.body.check_timely(NOW + 5).expect("fresh");
    let mut at_b = Thread::open(received).expect("B opens");
    for t in [&at_a, &at_b] {
        assert_eq!(t.awaiting(), Some(B));
        assert_eq!(t.status(NOW + 5), ProposalStatus::Open);
    }

    // Round 2: B counters with level 2.
    let second = counter(&first, NOW + 600, |o| o.trust_level = TrustLevel::Verify);
    at_b.counter(second.clone(), NOW + 600).expect("B records");
    at_a.counter(receive_offer(&second.to_value()), NOW + 605)
        .expect("A records");
    for t in [&at_a, &at_b] {
        assert_eq!(t.awaiting(), Some(A));
        assert_eq!(t.status(NOW + 605), ProposalStatus::Open);
        assert_eq!(t.latest().map(|o| o.body.round), Some(2));
    }

    // Round 3: A counters with a shorter retention.
    let third = counter(&second, NOW + 1200, |o| o.terms.retention_days = 30);
    at_a.counter(third.clone(), NOW + 1200).expect("A records");
    at_b.counter(receive_offer(&third.to_value()), NOW + 1210)
        .expect("B records");
    for t in [&at_a, &at_b] {
        assert_eq!(t.awaiting(), Some(B));
        assert_eq!(t.status(NOW + 1210), ProposalStatus::Open);
    }
    // A cannot answer its own offer.
    let own = counter(&third, NOW + 1300, |_| {});
    let mut stolen = own.clone();
    stolen.body.from = A.into();
    assert_eq!(
        at_a.counter(stolen, NOW + 1300)
            .expect_err("own turn")
            .code(),
        "not_your_turn"
    );

    // B accepts round 3: builds the agreement with both keys, signs, sends it to A.
    let keys = BTreeMap::from([
        (A.to_owned(), PartyKey::new(kid(A), &peer_key(A))),
        (B.to_owned(), PartyKey::new(kid(B), &peer_key(B))),
    ]);
    let agreement =
        Agreement::from_offer(&third, "agr-2026-0001", NOW + 1500, keys).expect("agreement");
    let mut half = SignedAgreement::new(agreement);
    half.sign_as(B, &key(B), NOW + 1500).expect("B signs");
    assert!(!half.is_complete());
    assert_eq!(
        at_b.accept(half.clone(), NOW + 1500)
            .expect_err("half")
            .code(),
        "missing_party_signature"
    );

    // A receives it, checks it against its thread, countersigns and records it.
    let mut at_a_agreement =
        SignedAgreement::from_value(&wire(&half.to_value())).expect("agreement parses");
    at_a.check_agreement(&at_a_agreement.agreement, NOW + 1510)
        .expect("matches A's latest offer");
    // The embedded key for B must be the one A knows from B's JWKS.
    assert_eq!(at_a_agreement.agreement.keys[B].x, peer_key(B).to_bytes());
    at_a_agreement
        .sign_as(A, &key(A), NOW + 1510)
        .expect("A signs");
    assert!(at_a_agreement.is_complete());
    at_a.accept(at_a_agreement.clone(), NOW + 1510)
        .expect("A accepts");

    // B receives the complete agreement and records it.
    let complete = SignedAgreement::from_value(&wire(&at_a_agreement.to_value())).expect("parses");
    at_b.accept(complete.clone(), NOW + 1520)
        .expect("B accepts");
    for t in [&at_a, &at_b] {
        assert_eq!(t.status(NOW + 1520), ProposalStatus::Accepted);
        assert_eq!(t.status(NOW + 100 * DAY), ProposalStatus::Accepted);
        assert_eq!(t.awaiting(), None);
    }
    assert_eq!(at_a, at_b, "both sides hold the same thread");
    let stored = Thread::from_value(&at_a.to_value()).expect("reloads");
    assert_eq!(stored, at_a);

    // The agreed level gates what each may do.
    let level = complete.agreement.trust_level;
    assert_eq!(level, TrustLevel::Verify);
    assert!(gate(Some(level), Action::Witness).is_ok());
    assert_eq!(
        gate(Some(level), Action::CrossAnchor)
            .expect_err("level 3")
            .to_string(),
        "cross-anchoring checkpoints needs trust level 3 (attest); the agreement in force is at level 2 (verify)"
    );

    // Later, A revokes it.
    let revocation = Revocation {
        agreement_id: complete.agreement.agreement_id.clone(),
        agreement_hash: complete.hash(),
        revoked_by: A.into(),
        reason: "operator decision".into(),
        announced_at: NOW + 30 * DAY,
        effective_at: NOW + 31 * DAY,
    };
    let revocation = Signed::sign(revocation, &key(A), kid(A)).expect("signs");
    let received = Signed::<Revocation>::from_value(&wire(&revocation.to_value())).expect("parses");
    received.verify(&peer_key(A)).expect("verifies");
    received
        .body
        .check_against(&complete.agreement)
        .expect("names the agreement");
    assert!(received.body.is_effective(NOW + 31 * DAY));
}

#[test]
fn expiry_and_rejection_by_the_clock() {
    let first = Offer {
        proposal_id: "p-2".into(),
        round: 1,
        proposer: A.into(),
        target: B.into(),
        from: A.into(),
        trust_level: TrustLevel::Observe,
        terms: Terms::default(),
        created_at: NOW,
        expires_at: NOW + 3600,
        previous: None,
    };
    let first = Signed::sign(first, &key(A), kid(A)).expect("signs");
    let mut t = Thread::open(first.clone()).expect("opens");
    assert_eq!(t.status(NOW + 3599), ProposalStatus::Open);
    assert_eq!(t.status(NOW + 3600), ProposalStatus::Expired);
    assert_eq!(
        first
            .body
            .check_timely(NOW + 3600)
            .expect_err("late")
            .code(),
        "proposal_expired"
    );
    let second = counter(&first, NOW + 3600, |_| {});
    assert_eq!(
        t.counter(second, NOW + 3600).expect_err("late").code(),
        "proposal_expired"
    );
    let rejection = Rejection {
        proposal_id: "p-2".into(),
        round: 1,
        from: B.into(),
        reason: "not now".into(),
        created_at: NOW + 100,
    };
    let rejection = Signed::sign(rejection, &key(B), kid(B)).expect("signs");
    assert_eq!(
        t.reject(rejection.clone(), NOW + 3600)
            .expect_err("late")
            .code(),
        "proposal_expired"
    );
    t.reject(rejection, NOW + 100).expect("in time");
    assert_eq!(t.status(NOW + 3600), ProposalStatus::Rejected);
}

/// Known answers computed outside Rust, with Python 3.12's `json`, `hashlib`, `base64` and
/// the `cryptography` package (48.0), for an ASCII-only body (where
/// `json.dumps(body, sort_keys=True, separators=(",", ":"))` is exactly RFC 8785):
///
/// ```python
/// import json, hashlib, base64
/// from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
/// A = "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab"; B = "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f"
/// priv = lambda seed: Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
/// b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
/// x = lambda seed: b64(priv(seed).public_key().public_bytes_raw())
/// jcs = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")).encode()
/// body = {"type": "treaty.trust-agreement/v1", "agreement_id": "agr-1", "proposal_id": "p-1",
///         "parties": [A, B], "trust_level": 2,
///         "terms": {"collections": ["notes", "agent-card"], "verification_frequency": "daily",
///                   "retention_days": 90, "jurisdiction": "EU", "audit_rights": True},
///         "established_at": 1767225700, "offer_hash": "sha256:" + "ab" * 32,
///         "keys": {A: {"kid": "kid-a", "x": x(0xa1)}, B: {"kid": "kid-b", "x": x(0xb2)}}}
/// h = "sha256:" + hashlib.sha256(jcs(body)).hexdigest()
/// party_sig = b64(priv(0xa1).sign(b"treaty-federation-agreement/v1\n" + h.encode() + b"\n1767225800"))
/// rej = {"type": "treaty.trust-rejection/v1", "proposal_id": "p-1", "round": 1, "from": B,
///        "reason": "retention too short", "created_at": 1767225610}
/// doc_sig = b64(priv(0xb2).sign(b"treaty-federation-document/v1\n" + jcs(rej)))
/// ```
#[test]
fn known_answers() {
    const AGREEMENT_HASH: &str =
        "sha256:c1f31479fcf60b402088bb2e9da0940fd97d1c08ade66c139a72754dbb645d98";
    const PARTY_SIG: &str =
        "SjVu8VsGKQG-fke4Hh22XOsijQbG6fRmT3RDbDpr6WUuWdB3W629sOWCMjm4DTsvluRRQMaU3OE_6VopwAVSAQ";
    const DOC_SIG: &str =
        "Cm08jq7j9i1d0wofpFDu1LXFQyxUKoUOwf_D8vafBhi10QYAanmL2_KRkwCjnlu12oXWxUT_jyo7LNwHgv_PCw";

    let agreement = Agreement {
        agreement_id: "agr-1".into(),
        proposal_id: "p-1".into(),
        parties: [A.into(), B.into()],
        trust_level: TrustLevel::Verify,
        terms: terms(),
        established_at: 1_767_225_700,
        offer_hash: format!("sha256:{}", "ab".repeat(32)),
        keys: BTreeMap::from([
            (A.to_owned(), PartyKey::new("kid-a", &peer_key(A))),
            (B.to_owned(), PartyKey::new("kid-b", &peer_key(B))),
        ]),
    };
    assert_eq!(agreement.hash(), AGREEMENT_HASH);
    // The same body built in another order hashes the same (JCS sorts members).
    let mut reordered = serde_json::Map::new();
    let v = agreement.to_value();
    for (k, x) in v.as_object().expect("object").iter().rev() {
        reordered.insert(k.clone(), x.clone());
    }
    let again = Agreement::from_value(&Value::Object(reordered)).expect("parses");
    assert_eq!(again.hash(), AGREEMENT_HASH);

    let mut signed = SignedAgreement::new(agreement);
    signed.sign_as(A, &key(A), 1_767_225_800).expect("A signs");
    let v = signed.to_value();
    assert_eq!(v["agreement_hash"], AGREEMENT_HASH);
    assert_eq!(v["signatures"][A]["sig"], PARTY_SIG);

    let rejection = Rejection {
        proposal_id: "p-1".into(),
        round: 1,
        from: B.into(),
        reason: "retention too short".into(),
        created_at: 1_767_225_610,
    };
    let rejection = Signed::sign(rejection, &key(B), "kid-b").expect("signs");
    assert_eq!(rejection.to_value()["signature"]["sig"], DOC_SIG);
}

/// Valid documents of every kind, as JSON text.
fn seeds() -> Vec<Vec<u8>> {
    let first = Offer {
        proposal_id: "p-3".into(),
        round: 1,
        proposer: A.into(),
        target: B.into(),
        from: A.into(),
        trust_level: TrustLevel::Integrate,
        terms: terms(),
        created_at: NOW,
        expires_at: NOW + DAY,
        previous: None,
    };
    let first = Signed::sign(first, &key(A), kid(A)).expect("signs");
    let second = counter(&first, NOW + 10, |_| {});
    let keys = BTreeMap::from([
        (A.to_owned(), PartyKey::new(kid(A), &peer_key(A))),
        (B.to_owned(), PartyKey::new(kid(B), &peer_key(B))),
    ]);
    let agreement = Agreement::from_offer(&second, "agr-3", NOW + 20, keys).expect("agreement");
    let mut signed = SignedAgreement::new(agreement);
    signed.sign_as(A, &key(A), NOW + 20).expect("signs");
    signed.sign_as(B, &key(B), NOW + 21).expect("signs");
    let mut thread = Thread::open(first.clone()).expect("opens");
    thread.counter(second.clone(), NOW + 10).expect("counters");
    thread.accept(signed.clone(), NOW + 30).expect("accepts");
    let rejection = Rejection {
        proposal_id: "p-3".into(),
        round: 2,
        from: A.into(),
        reason: "no".into(),
        created_at: NOW + 20,
    };
    let rejection = Signed::sign(rejection, &key(A), kid(A)).expect("signs");
    let revocation = Revocation {
        agreement_id: "agr-3".into(),
        agreement_hash: signed.hash(),
        revoked_by: B.into(),
        reason: "done".into(),
        announced_at: NOW + 40,
        effective_at: NOW + 40,
    };
    let revocation = Signed::sign(revocation, &key(B), kid(B)).expect("signs");
    [
        first.to_value(),
        second.to_value(),
        signed.to_value(),
        thread.to_value(),
        rejection.to_value(),
        revocation.to_value(),
        LicenseLimits::default().to_value(),
    ]
    .iter()
    .map(|v| serde_json::to_vec(v).expect("json"))
    .collect()
}

/// Feeds one JSON value to every parser. Whatever parses must survive its own round trip
/// and the checks a node would run next.
fn exercise(v: &Value) {
    if let Ok(o) = Signed::<Offer>::from_value(v) {
        assert_eq!(Signed::<Offer>::from_value(&o.to_value()).as_ref(), Ok(&o));
        let _ = o.verify(&peer_key(A));
        let _ = o.hash();
        let _ = o.body.check_timely(NOW);
        if let Ok(mut t) = Thread::open(o.clone()) {
            let _ = t.status(NOW);
            let _ = t.counter(o, NOW);
        }
    }
    if let Ok(r) = Signed::<Rejection>::from_value(v) {
        assert_eq!(
            Signed::<Rejection>::from_value(&r.to_value()).as_ref(),
            Ok(&r)
        );
        let _ = r.verify(&peer_key(A));
    }
    if let Ok(r) = Signed::<Revocation>::from_value(v) {
        assert_eq!(
            Signed::<Revocation>::from_value(&r.to_value()).as_ref(),
            Ok(&r)
        );
        let _ = r.verify(&peer_key(B));
    }
    if let Ok(a) = SignedAgreement::from_value(v) {
        assert_eq!(SignedAgreement::from_value(&a.to_value()).as_ref(), Ok(&a));
        let _ = a.verify_complete();
        let _ = a.is_complete();
    }
    if let Ok(a) = Agreement::from_value(v) {
        let _ = a.hash();
    }
    if let Ok(t) = Thread::from_value(v) {
        assert_eq!(Thread::from_value(&t.to_value()).as_ref(), Ok(&t));
        let _ = t.status(NOW);
        let _ = t.awaiting();
    }
    if let Ok(t) = Terms::from_value(v) {
        assert_eq!(Terms::from_value(&t.to_value()), Ok(t));
    }
    if let Ok(l) = LicenseLimits::from_value(v) {
        assert_eq!(LicenseLimits::from_value(&l.to_value()), Ok(l));
    }
    if let Some(s) = v.as_str() {
        let _ = parse_license_key(s);
        let _ = PeerStatus::parse(s);
    }
}

#[test]
fn mutated_documents_never_panic() {
    // Cheap deterministic pseudo-random mutations (xorshift): inserts, deletes, byte
    // changes, of text and of parsed values.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const INTERESTING: &[u8] = b"{}[]\":,0123456789-.eE\\ntfa\x00\xff";
    let mut parsed = 0;
    for seed in seeds() {
        exercise(&parse_json(&seed, THREAD_BYTES_MAX).expect("seed parses"));
        for _ in 0..1000 {
            let mut bytes = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = usize::try_from(next() % (bytes.len() as u64 + 1)).expect("usize");
                let byte = if next() % 2 == 0 {
                    INTERESTING[usize::try_from(next() % INTERESTING.len() as u64).expect("usize")]
                } else {
                    u8::try_from(next() % 256).expect("byte")
                };
                match next() % 3 {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ if at < bytes.len() => bytes[at] = byte,
                    _ => {}
                }
            }
            // The strict parser and plain serde_json (which keeps duplicate members).
            if let Ok(v) = parse_json(&bytes, THREAD_BYTES_MAX) {
                parsed += 1;
                exercise(&v);
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                exercise(&v);
            }
        }
    }
    assert!(
        parsed > 500,
        "only {parsed} mutants parsed; the loop tests little"
    );
}

#[test]
fn mutated_values_never_panic() {
    // Replace one member anywhere in each document by a value of another type.
    let replacements = [
        Value::Null,
        Value::Bool(true),
        serde_json::json!(-1),
        serde_json::json!(u64::MAX),
        serde_json::json!(1.5),
        serde_json::json!(""),
        serde_json::json!("x".repeat(100)),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::from_str::<Value>(&("[".repeat(40) + &"]".repeat(40))).expect("deep"),
    ];
    fn paths(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    paths(x, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    paths(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut tried = 0;
    for seed in seeds() {
        let v = parse_json(&seed, THREAD_BYTES_MAX).expect("parses");
        let mut ps = Vec::new();
        paths(&v, "", &mut ps);
        for p in ps {
            for r in &replacements {
                let mut m = v.clone();
                if let Some(slot) = m.pointer_mut(&p) {
                    *slot = r.clone();
                }
                exercise(&m);
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}
