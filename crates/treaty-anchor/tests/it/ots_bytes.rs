//! The `.ots` bytes have exactly the structure the format requires (issue 7, part 7):
//! expected bytes written out by hand from the format description in STANDARDS.md and
//! `treaty_anchor::node`'s layout, not produced by the code under test.

use crate::common::{FakeNode, TestResult};
use treaty_anchor::node::{
    CHECKPOINT_ATTESTATION_TAG, node_completed_timestamp, node_leaf_timestamp,
    node_pending_timestamp,
};
use treaty_anchor::ots::{Attestation, DetachedTimestampFile, OtsError, Timestamp};
use treaty_merkle::{MemoryHashStore, inclusion_proof, leaf_hash};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap_or_else(|e| panic!("bad hex in test: {e}"))
}

const MAGIC: &str = "00 4f70656e54696d657374616d7073 0000 50726f6f66 00 bf89e2e884e89294";
/// hexlify; prepend 0x00 || {"digest":"; append ","kind":"anchor"}; sha256.
const ENTRY_OPS: &str = "f3
    f1 0c 00 7b22646967657374223a22
    f0 12 222c226b696e64223a22616e63686f72227d
    08";

#[test]
fn node_pending_timestamp_bytes() -> TestResult {
    let digest = [0x11u8; 32];
    let ts = node_pending_timestamp(&digest, "http://127.0.0.1:8080/")?;
    let expected = h(&format!(
        "{ENTRY_OPS}
         00 83dfe30d2ef90c8e 16 15 {}",
        hex::encode("http://127.0.0.1:8080")
    ));
    assert_eq!(ts.to_bytes()?, expected);

    // As a detached file for the digest.
    let file = DetachedTimestampFile::sha256(digest, ts);
    let expected_file = h(&format!(
        "{MAGIC} 01 08 {} {}",
        hex::encode(digest),
        hex::encode(&expected)
    ));
    assert_eq!(file.to_bytes()?, expected_file);
    assert_eq!(DetachedTimestampFile::parse(&expected_file)?, file);

    // The message at the pending attestation is the leaf hash of the JCS entry.
    let found = file.evaluate()?;
    let entry = format!(
        "{{\"digest\":\"{}\",\"kind\":\"anchor\"}}",
        hex::encode(digest)
    );
    assert_eq!(found[0].message, leaf_hash(entry.as_bytes()).to_vec());
    Ok(())
}

#[test]
fn node_completed_timestamp_bytes() -> TestResult {
    // A two-entry ledger: the anchor entry is leaf 1, so its one sibling (leaf 0) is on
    // the left; a three-entry ledger puts the anchor at 0 with siblings on the right.
    let mut node = FakeNode::new("node-a", 1, 1);
    let digest = [0x22u8; 32];
    node.post_digest(&digest);
    let note = node.note.clone();
    let mut tree = MemoryHashStore::new();
    let filler = leaf_hash(b"{\"kind\":\"record\",\"n\":0}");
    let entry = treaty_anchor::node::anchor_entry(&digest)?;
    tree.append(filler);
    tree.append(leaf_hash(&entry));
    let proof = inclusion_proof(1, 2, &tree)?;
    assert_eq!(proof, vec![filler]);

    let ts = node_completed_timestamp(&digest, 1, 2, &proof, &note, &node.origin)?;
    let payload = [
        &[u8::try_from(node.origin.len())?][..],
        node.origin.as_bytes(),
        &[0x02],
        &encode_varuint(note.len()),
        note.as_bytes(),
    ]
    .concat();
    let expected = h(&format!(
        "{ENTRY_OPS}
         f1 21 01 {}
         08
         00 {} {} {}",
        hex::encode(filler),
        hex::encode(CHECKPOINT_ATTESTATION_TAG),
        hex::encode(encode_varuint(payload.len())),
        hex::encode(&payload)
    ));
    assert_eq!(ts.to_bytes()?, expected);
    // The attestation's message is the checkpoint root.
    let found = ts.evaluate(&digest)?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, tree.root().to_vec());
    // The leaf-relative answer is the same minus the entry ops.
    let leaf = leaf_hash(&entry);
    let tail = node_leaf_timestamp(&leaf, 1, 2, &proof, &note, &node.origin)?;
    assert_eq!(Timestamp::chain(treaty_anchor::node::entry_ops(), tail), ts);
    Ok(())
}

#[test]
fn right_sibling_ops_bytes() -> TestResult {
    let mut node = FakeNode::new("node-b", 2, 0);
    let digest = [0x33u8; 4];
    node.post_digest(&digest);
    node.grow(2);
    let mut tree = MemoryHashStore::new();
    tree.append(treaty_anchor::node::anchor_leaf_hash(&digest)?);
    tree.append(leaf_hash(b"{\"kind\":\"later\",\"n\":0}"));
    tree.append(leaf_hash(b"{\"kind\":\"later\",\"n\":1}"));
    let proof = inclusion_proof(0, 3, &tree)?;
    assert_eq!(proof.len(), 2);
    let ts = node_completed_timestamp(&digest, 0, 3, &proof, &node.note, &node.origin)?;
    let bytes = ts.to_bytes()?;
    let path = h(&format!(
        "f1 01 01 f0 20 {} 08 f1 01 01 f0 20 {} 08 00 {}",
        hex::encode(proof[0]),
        hex::encode(proof[1]),
        hex::encode(CHECKPOINT_ATTESTATION_TAG)
    ));
    let start = h(ENTRY_OPS).len();
    assert_eq!(&bytes[start..start + path.len()], path.as_slice());
    assert_eq!(ts.evaluate(&digest)?[0].message, tree.root().to_vec());
    Ok(())
}

#[test]
fn mismatched_note_is_refused_when_building() -> TestResult {
    let mut node = FakeNode::new("node-a", 1, 1);
    let digest = [0x22u8; 32];
    node.post_digest(&digest);
    let filler = leaf_hash(b"{\"kind\":\"record\",\"n\":0}");
    // Wrong size, wrong origin, wrong sibling.
    assert!(
        node_completed_timestamp(&digest, 1, 3, &[filler, filler], &node.note, &node.origin)
            .is_err()
    );
    assert!(
        node_completed_timestamp(&digest, 1, 2, &[filler], &node.note, "other.example/ledger")
            .is_err()
    );
    assert!(node_completed_timestamp(&digest, 1, 2, &[[0; 32]], &node.note, &node.origin).is_err());
    assert!(node_completed_timestamp(&digest, 1, 2, &[filler], &node.note, &node.origin).is_ok());
    Ok(())
}

#[test]
fn upgraded_file_structure() -> TestResult {
    // What `stamp` then `upgrade` leave for a root anchored at a Treaty node: the header,
    // the root, the entry ops and the inclusion ops and the attestation, pending removed.
    let mut node = FakeNode::new("node-c", 4, 0);
    let root = [0x44u8; 32];
    let answer = node.post_digest(&root);
    let mut file = DetachedTimestampFile::sha256(root, Timestamp::parse(&answer)?);
    let pending = file.pending()?;
    assert_eq!(pending.len(), 1);
    let (commitment, uri) = &pending[0];
    let completed = Timestamp::parse(&node.get_timestamp(commitment).ok_or("404")?)?;
    assert_eq!(file.upgrade(commitment, uri, &completed)?, 1);
    let bytes = file.to_bytes()?;
    // One-entry ledger: no inclusion ops, the attestation follows the entry ops.
    let prefix = h(&format!(
        "{MAGIC} 01 08 {} {ENTRY_OPS} 00 {}",
        hex::encode(root),
        hex::encode(CHECKPOINT_ATTESTATION_TAG)
    ));
    assert_eq!(&bytes[..prefix.len()], prefix.as_slice());
    let found = file.evaluate()?;
    assert_eq!(found.len(), 1, "the pending attestation is gone");
    assert!(
        matches!(found[0].attestation, Attestation::Unknown { tag, .. } if tag == CHECKPOINT_ATTESTATION_TAG)
    );
    Ok(())
}

#[test]
fn bare_answer_errors() {
    let pending = h("00 83dfe30d2ef90c8e 07 06 666f6f626172");
    assert!(Timestamp::parse(&pending).is_ok());
    for (bytes, want) in [
        (h("00 83dfe30d2ef90c8e 07 06 666f6f62"), "truncated"),
        (h("00 83dfe30d2ef90c8e 07 06 666f6f626172 00"), "trailing"),
        (h("00 83dfe30d2ef90c8e 07 06 666f25626172"), "uri"),
        (h("09 00 83dfe30d2ef90c8e 07 06 666f6f626172"), "op"),
        (h("f0 80 00"), "varuint"),
        (h("f0 00"), "length"),
    ] {
        let err = Timestamp::parse(&bytes).err();
        let ok = match want {
            "truncated" => matches!(err, Some(OtsError::Truncated { offset: 10, .. })),
            "trailing" => matches!(
                err,
                Some(OtsError::TrailingBytes {
                    offset: 17,
                    extra: 1
                })
            ),
            "uri" => matches!(err, Some(OtsError::BadPendingUri { offset: 13, .. })),
            "op" => matches!(
                err,
                Some(OtsError::UnknownOp {
                    offset: 0,
                    tag: 0x09
                })
            ),
            "varuint" => matches!(err, Some(OtsError::NonCanonicalVaruint { offset: 1, .. })),
            _ => matches!(
                err,
                Some(OtsError::BadLength {
                    offset: 1,
                    len: 0,
                    ..
                })
            ),
        };
        assert!(ok, "{want}: {err:?}");
    }
}

fn encode_varuint(mut v: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = u8::try_from(v & 0x7f).unwrap_or(0);
        v >>= 7;
        if v == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}
