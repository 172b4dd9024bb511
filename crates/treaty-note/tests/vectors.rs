//! Published examples from the specifications, checked byte for byte, plus end-to-end
//! receipts over a real tree and whole-input tampering.
//!
//! Sources (all public, used as data):
//! - `golang.org/x/mod/sumdb/note` package docs and tests: the PeterNeumann / EnochRoot keys
//!   and notes. Ed25519 is deterministic, so signing with Go's example signer key must
//!   reproduce Go's signature exactly.
//! - c2sp.org/signed-note: the v1.0.0 example (quasimodo, no key published) and the
//!   `example.com/foo` verifier key and note of the spec's later "Verifier keys" section.
//! - c2sp.org/tlog-checkpoint@v1.0.0 and c2sp.org/tlog-cosignature@v1.0.1: the
//!   `example.com/behind-the-sofa` checkpoint and the `witness.example.com/w1` cosignature. No
//!   keys are published for them, so their framing is what can be checked.
//! - c2sp.org/tlog-proof@v1 (draft): the `example.com/fancylog` receipt, whose signatures are
//!   elided with `[...]` in the spec.
//! - A cross-implementation vector: a checkpoint signed and cosigned from fixed seeds with
//!   Python's `cryptography` package, following only the spec formulas.

use ed25519_dalek::SigningKey;
use treaty_merkle::{MemoryHashStore, inclusion_proof, leaf_hash, root_at};
use treaty_note::{
    Checkpoint, KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, Note, NoteError, Receipt, Signature,
    SignerKey, VerifierKey, cosign, cosignature_message, cosignature_timestamp, open_checkpoint,
    sign_checkpoint,
};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
    then you don't know what your problem is.\n\
    \n\
    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_LINE: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const SOFA_BODY: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SOFA_LOG_LINE: &str = "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=";
const SOFA_WITNESS_LINE: &str = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";

#[test]
fn go_note_example_verifies() {
    let peter = VerifierKey::parse(PETER_VKEY).expect("vkey");
    let note = Note::parse(PETER_NOTE).expect("parse");
    assert_eq!(note.text(), PETER_TEXT);
    let verified = note.verify(std::slice::from_ref(&peter)).expect("verify");
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].key.name(), "PeterNeumann");
    assert_eq!(verified[0].key.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(note.to_string(), PETER_NOTE);
}

#[test]
fn go_note_example_is_reproduced_by_signing() {
    let signer = SignerKey::parse(PETER_SKEY).expect("skey");
    assert_eq!(signer.verifier_key().expect("vkey").to_string(), PETER_VKEY);
    let mut note = Note::new(PETER_TEXT).expect("text");
    note.sign(signer.name(), signer.signing_key())
        .expect("sign");
    assert_eq!(note.to_string(), PETER_NOTE);
}

#[test]
fn go_doubly_signed_example() {
    let peter = VerifierKey::parse(PETER_VKEY).expect("vkey");
    let enoch = VerifierKey::parse(ENOCH_VKEY).expect("vkey");
    let double = format!("{PETER_NOTE}{ENOCH_LINE}");
    let note = Note::parse(&double).expect("parse");
    assert_eq!(
        note.verify(&[peter.clone(), enoch.clone()])
            .expect("both")
            .len(),
        2
    );
    // Each key alone suffices; the other line is an unknown key's, ignored.
    assert_eq!(
        note.verify(std::slice::from_ref(&peter))
            .expect("peter")
            .len(),
        1
    );
    assert_eq!(
        note.verify(std::slice::from_ref(&enoch))
            .expect("enoch")
            .len(),
        1
    );
    assert!(matches!(note.verify(&[]), Err(NoteError::NoKnownSignature)));
}

#[test]
fn signed_note_verifier_keys_example() {
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let key = VerifierKey::parse(vkey).expect("vkey");
    assert_eq!(key.to_string(), vkey);
    let parsed = Note::parse(note).expect("parse");
    assert_eq!(parsed.text(), "This is an example message.\n");
    assert_eq!(parsed.verify(&[key]).expect("verify").len(), 1);
}

#[test]
fn signed_note_v1_example_frames() {
    // The text itself contains an empty line: the separator is the *last* one.
    let note = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let parsed = Note::parse(note).expect("parse");
    assert_eq!(
        parsed.text(),
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    let sigs = parsed.signatures();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].name(), "quasimodo.example/salvatore");
    assert_eq!(sigs[0].bytes().len(), 64);
    assert_eq!(parsed.to_string(), note);
}

#[test]
fn tlog_checkpoint_and_cosignature_examples_frame() {
    let text = format!("{SOFA_BODY}\n{SOFA_LOG_LINE}\n{SOFA_WITNESS_LINE}\n");
    let note = Note::parse(&text).expect("parse");
    let checkpoint = Checkpoint::parse(note.text()).expect("checkpoint");
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20_852_163);
    assert_eq!(checkpoint.to_body(), SOFA_BODY);

    let [log_line, witness_line] = note.signatures() else {
        panic!("two signature lines expected");
    };
    assert_eq!(log_line.bytes().len(), 64);
    assert_eq!(witness_line.name(), "witness.example.com/w1");
    assert_eq!(witness_line.key_id(), [0x8d, 0x66, 0xcf, 0x3f]);
    // 4 + 8 + 64 = 76 bytes, and the time is the one in the spec's signed-message example.
    assert_eq!(witness_line.bytes().len(), 72);
    assert_eq!(
        cosignature_timestamp(witness_line).expect("ts"),
        1_679_315_147
    );
    assert_eq!(witness_line.to_line(), SOFA_WITNESS_LINE);
    assert_eq!(
        cosignature_message(SOFA_BODY, 1_679_315_147),
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    assert_eq!(note.to_string(), text);
    // With no published keys, nothing here is a known signature.
    let stranger = VerifierKey::from_signing_key(
        "example.com/behind-the-sofa",
        &SigningKey::from_bytes(&[1; 32]),
        KEY_TYPE_ED25519,
    )
    .expect("key");
    assert!(matches!(
        open_checkpoint(&text, &stranger, &[]),
        Err(NoteError::NoKnownSignature)
    ));
}

/// Signed and cosigned independently with Python's `cryptography` package from seeds
/// `[0x10; 32]` (log) and `[0x42; 32]` (witness), following only the spec formulas.
#[test]
fn cross_implementation_cosigned_checkpoint() {
    let log_vkey =
        "example.com/behind-the-sofa+b0e4285c+AVycbfJhycuEBHV3aq782US0BTKPqyj5s6le9ASQ096E";
    let witness_vkey = "witness.example/w1+f1ed8c47+BCFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS";
    let expected = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
        — example.com/behind-the-sofa sOQoXK6uiXhSfpn8Z5fCbJC6t49avyLgxym/Onk9Q9Qjk4bNYZpYMDnMMtPAAuNpFFgHwr2KMz4Jqnu2nSWVJRDA9Ak=\n\
        — witness.example/w1 8e2MRwAAAABkGFDLEqgtDUsneMqeLcGMqk8Xx08OQIVxF72ZJmEtUU5sbo5WiTljN+UF1cQ+vSoh1gRQ0wV3Nz9m8DFvjwHDTDcQBA==\n";

    let log_sk = SigningKey::from_bytes(&[0x10; 32]);
    let witness_sk = SigningKey::from_bytes(&[0x42; 32]);
    let log = VerifierKey::parse(log_vkey).expect("log vkey");
    let witness = VerifierKey::parse(witness_vkey).expect("witness vkey");
    assert_eq!(
        VerifierKey::from_signing_key(log.name(), &log_sk, KEY_TYPE_ED25519).expect("k"),
        log
    );
    assert_eq!(
        VerifierKey::from_signing_key(witness.name(), &witness_sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("k"),
        witness
    );

    // Producing: the same bytes as the independent implementation.
    let checkpoint = Checkpoint::parse(SOFA_BODY).expect("checkpoint");
    let mut note = Note::parse(sign_checkpoint(&checkpoint, log.name(), &log_sk).expect("sign"))
        .expect("note");
    note.add_signature(
        cosign(SOFA_BODY, witness.name(), &witness_sk, 1_679_315_147).expect("cosign"),
    )
    .expect("add");
    assert_eq!(note.to_string(), expected);

    // Consuming.
    let opened = open_checkpoint(expected, &log, std::slice::from_ref(&witness)).expect("open");
    assert_eq!(opened.checkpoint, checkpoint);
    assert_eq!(opened.cosignatures.len(), 1);
    assert_eq!(opened.cosignatures[0].name(), "witness.example/w1");
    assert_eq!(opened.cosignatures[0].timestamp, 1_679_315_147);
}

/// The spec's receipt, with its elided (`[...]`) signature lines: the header parses, the note
/// does not. With real signatures over the same checkpoint it parses and round-trips; its five
/// proof hashes are illustrative (a tree of 109482 leaves needs 17), so it cannot verify.
#[test]
fn tlog_proof_example() {
    let header = "c2sp.org/tlog-proof@v1\n\
        extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
        index 73894\n\
        gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
        B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
        EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
        RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
        AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\n";
    let body = "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n";
    let elided = format!(
        "{header}{body}\n\
         — example.com/fancylog hI2DJw[...]1roloI=\n\
         — witness1.example mJirIklj[...]qY9v2B/5bg==\n\
         — witness2.example TnKKVHLX[...]xwYwrSjgow==\n\
         — witness3.example S4X82uH5[...]3oEcROGLFQ==\n"
    );
    assert!(matches!(
        Receipt::parse(&elided),
        Err(NoteError::MalformedSignatureLine { line: 1, .. })
    ));

    let log_sk = SigningKey::from_bytes(&[0x50; 32]);
    let log = VerifierKey::from_signing_key("example.com/fancylog", &log_sk, KEY_TYPE_ED25519)
        .expect("key");
    let checkpoint = Checkpoint::parse(body).expect("checkpoint");
    let mut note = Note::parse(sign_checkpoint(&checkpoint, log.name(), &log_sk).expect("sign"))
        .expect("note");
    let mut witnesses = Vec::new();
    for i in 1..=3u8 {
        let sk = SigningKey::from_bytes(&[0x50 + i; 32]);
        let name = format!("witness{i}.example");
        note.add_signature(cosign(body, &name, &sk, 1_700_000_000).expect("cosign"))
            .expect("add");
        witnesses
            .push(VerifierKey::from_signing_key(&name, &sk, KEY_TYPE_COSIGNATURE_V1).expect("key"));
    }
    let text = format!("{header}{note}");
    let receipt = Receipt::parse(&text).expect("parse");
    assert_eq!(receipt.index(), 73_894);
    assert_eq!(
        receipt.extra().map(|e| &e[..30]),
        Some(b"age-v1.2.1-darwin-arm64.tar.gz".as_slice())
    );
    assert_eq!(receipt.proof().len(), 5);
    assert_eq!(receipt.checkpoint_note(), note.to_string());
    assert_eq!(receipt.to_text(), text);
    assert!(matches!(
        receipt.verify(&[0; 32], &log, &witnesses, 3),
        Err(NoteError::Inclusion(_))
    ));
}

struct Ledger {
    log_sk: SigningKey,
    log: VerifierKey,
    witness_sks: Vec<(String, SigningKey)>,
    witnesses: Vec<VerifierKey>,
    store: MemoryHashStore,
}

fn entry(i: u64) -> Vec<u8> {
    format!("treaty entry {i}").into_bytes()
}

fn ledger(size: u64) -> Ledger {
    let log_sk = SigningKey::from_bytes(&[0x60; 32]);
    let log = VerifierKey::from_signing_key("treaty.example/ledger", &log_sk, KEY_TYPE_ED25519)
        .expect("k");
    let mut witness_sks = Vec::new();
    let mut witnesses = Vec::new();
    for i in 0..3u8 {
        let name = format!("witness{i}.example");
        let sk = SigningKey::from_bytes(&[0x70 + i; 32]);
        witnesses
            .push(VerifierKey::from_signing_key(&name, &sk, KEY_TYPE_COSIGNATURE_V1).expect("k"));
        witness_sks.push((name, sk));
    }
    let mut store = MemoryHashStore::new();
    for i in 0..size {
        store.append(leaf_hash(&entry(i)));
    }
    Ledger {
        log_sk,
        log,
        witness_sks,
        witnesses,
        store,
    }
}

impl Ledger {
    /// The checkpoint note at `size`, cosigned by the first `cosigners` witnesses.
    fn checkpoint_note(&self, size: u64, cosigners: usize) -> String {
        let root = root_at(size, &self.store).expect("root");
        let checkpoint = Checkpoint::new(self.log.name(), size, root).expect("checkpoint");
        let body = checkpoint.to_body();
        let mut note =
            Note::parse(sign_checkpoint(&checkpoint, self.log.name(), &self.log_sk).expect("sign"))
                .expect("note");
        for (name, sk) in self.witness_sks.iter().take(cosigners) {
            note.add_signature(cosign(&body, name, sk, 1_750_000_000).expect("cosign"))
                .expect("add");
        }
        note.to_string()
    }

    fn receipt(&self, index: u64, size: u64, cosigners: usize) -> Receipt {
        let proof = inclusion_proof(index, size, &self.store).expect("proof");
        Receipt::new(index, proof, self.checkpoint_note(size, cosigners)).expect("receipt")
    }
}

#[test]
fn receipts_verify_end_to_end() {
    let ledger = ledger(1000);
    for (index, size) in [
        (0, 1),
        (0, 1000),
        (999, 1000),
        (511, 512),
        (512, 1000),
        (77, 300),
    ] {
        let receipt = ledger.receipt(index, size, 3);
        let parsed = Receipt::parse(receipt.to_text()).expect("parse");
        assert_eq!(parsed, receipt);
        let verified = parsed
            .verify_entry(&entry(index), &ledger.log, &ledger.witnesses, 3)
            .expect("verify");
        assert_eq!(verified.index, index);
        assert_eq!(verified.checkpoint.size(), size);
        assert_eq!(verified.cosignatures.len(), 3);
        // Another entry, or the right entry at another index, does not verify.
        assert!(
            parsed
                .verify_entry(&entry(index + 1), &ledger.log, &ledger.witnesses, 0)
                .is_err()
        );
    }
}

#[test]
fn receipt_quorum() {
    let ledger = ledger(20);
    let receipt = ledger.receipt(5, 20, 2);
    let e = entry(5);
    assert!(
        receipt
            .verify_entry(&e, &ledger.log, &ledger.witnesses, 2)
            .is_ok()
    );
    assert!(matches!(
        receipt.verify_entry(&e, &ledger.log, &ledger.witnesses, 3),
        Err(NoteError::QuorumNotMet { got: 2, need: 3 })
    ));
    // Only configured witnesses count.
    assert!(matches!(
        receipt.verify_entry(&e, &ledger.log, &ledger.witnesses[1..], 2),
        Err(NoteError::QuorumNotMet { got: 1, need: 2 })
    ));
    // One witness key listed under two names is one witness.
    let (name0, sk0) = &ledger.witness_sks[0];
    let alias =
        VerifierKey::from_signing_key("alias.example", sk0, KEY_TYPE_COSIGNATURE_V1).expect("k");
    let mut note = Note::parse(receipt.checkpoint_note()).expect("note");
    let body = note.text().to_owned();
    note.add_signature(cosign(&body, "alias.example", sk0, 1).expect("cosign"))
        .expect("add");
    let aliased = Receipt::new(5, receipt.proof().to_vec(), note.to_string()).expect("receipt");
    let policy = [ledger.witnesses[0].clone(), alias];
    assert_eq!(name0, ledger.witnesses[0].name());
    assert!(matches!(
        aliased.verify_entry(&e, &ledger.log, &policy, 2),
        Err(NoteError::QuorumNotMet { got: 1, need: 2 })
    ));
    // The wrong log key verifies nothing.
    assert!(
        receipt
            .verify_entry(&e, &ledger.witnesses[0], &[], 0)
            .is_err()
    );
}

/// Flipping any single byte of a receipt (header, proof, checkpoint body, any signature line)
/// must make it fail to parse or fail to verify, when the policy needs every signer. (With a
/// weaker quorum, renaming a witness's line merely turns it into an ignored unknown line, so
/// the test demands all three.)
#[test]
fn tampering_with_any_receipt_byte_fails() {
    let ledger = ledger(13);
    let text = ledger.receipt(6, 13, 3).to_text();
    let e = entry(6);
    let original = Receipt::parse(&text).expect("parse");
    assert!(
        original
            .verify_entry(&e, &ledger.log, &ledger.witnesses, 3)
            .is_ok()
    );
    for i in 0..text.len() {
        let mut bytes = text.as_bytes().to_vec();
        bytes[i] ^= 0x01;
        let accepted = Receipt::parse(&bytes)
            .and_then(|r| r.verify_entry(&e, &ledger.log, &ledger.witnesses, 3))
            .is_ok();
        assert!(!accepted, "byte {i} still verifies");
    }
    // Truncating at any point fails too.
    for end in 0..text.len() {
        let accepted = Receipt::parse(&text.as_bytes()[..end])
            .and_then(|r| r.verify_entry(&e, &ledger.log, &ledger.witnesses, 3))
            .is_ok();
        assert!(!accepted, "prefix of {end} bytes still verifies");
    }
}

/// The same for a bare checkpoint note under the log key alone.
#[test]
fn tampering_with_any_checkpoint_byte_fails() {
    let ledger = ledger(3);
    let text = ledger.checkpoint_note(3, 0);
    assert!(open_checkpoint(&text, &ledger.log, &[]).is_ok());
    for i in 0..text.len() {
        let mut bytes = text.as_bytes().to_vec();
        bytes[i] ^= 0x01;
        assert!(
            open_checkpoint(&bytes, &ledger.log, &[]).is_err(),
            "byte {i} still verifies"
        );
    }
}

#[test]
fn garbage_never_panics() {
    let ledger = ledger(4);
    let receipt = ledger.receipt(1, 4, 1).to_text();
    let note = ledger.checkpoint_note(4, 1);
    // Cheap deterministic pseudo-random mutations (xorshift): inserts, deletes, byte swaps.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed_text in [&receipt, &note] {
        for _ in 0..1000 {
            let mut bytes = seed_text.as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = usize::try_from(next() % (bytes.len() as u64 + 1)).expect("usize");
                match next() % 3 {
                    0 => bytes.insert(at, u8::try_from(next() % 256).expect("byte")),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ if at < bytes.len() => bytes[at] = u8::try_from(next() % 256).expect("byte"),
                    _ => {}
                }
            }
            let _ = Receipt::parse(&bytes).map(|r| r.verify(&[0; 32], &ledger.log, &[], 0));
            let _ = Note::parse(&bytes).map(|n| n.verify(&ledger.witnesses));
            let _ = open_checkpoint(&bytes, &ledger.log, &ledger.witnesses);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                let _ = Checkpoint::parse(s);
                let _ = VerifierKey::parse(s);
                let _ = SignerKey::parse(s);
                let _ = Signature::parse_line(s);
            }
        }
    }
}
