//! Random and mutated field values: the verifier never panics, and a mutated signature only
//! verifies when the mutation did not change what was signed.
//!
//! The generator is a fixed-seed xorshift, so every run checks the same inputs.

use treaty_httpsig::parse_signature;

use crate::fixtures::{Message, NOW, verifier};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Bytes that matter to the parsers, and some that must always be refused.
const ALPHABET: &[u8] = b"treaty=()\";:,? -*@0123456789abcdefAZ+/=\\\t.\x00\x7f";

fn random_text(rng: &mut Rng, len_max: usize) -> String {
    let len = rng.below(len_max + 1);
    let bytes: Vec<u8> = (0..len).map(|_| rng.pick(ALPHABET)).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn random_fields_never_panic_and_never_verify() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let base = Message::post().signed();
    for _ in 0..5_000 {
        let mut m = base.clone();
        let field = rng.pick(&["signature-input", "signature", "content-digest"]);
        let value = random_text(&mut rng, 120);
        m.set(field, &value);
        assert_ne!(m.code(), "ok", "{field}: {value:?}");
    }
}

#[test]
fn structured_prefixes_never_panic() {
    // Random tails after plausible beginnings reach deeper into the parsers.
    let prefixes = [
        "treaty=(",
        "treaty=(\"@method\" ",
        "treaty=(\"@method\");created=",
        "treaty=(\"@method\");nonce=\"",
        "treaty=:",
        "sha-256=:",
        "treaty=(\"content-digest\";",
    ];
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let value = format!("{}{}", rng.pick(&prefixes), random_text(&mut rng, 60));
        for field in ["signature-input", "signature", "content-digest"] {
            let mut m = Message::post().signed();
            m.set(field, &value);
            assert_ne!(m.code(), "ok", "{field}: {value:?}");
        }
    }
}

#[test]
fn mutations_of_a_valid_signature_input_verify_only_if_nothing_signed_changed() {
    let original = Message::post().signed();
    let input = original.get("signature-input").expect("present").to_owned();
    let parsed_original = original
        .with(|req| parse_signature(req, "treaty"))
        .expect("parses");
    let verifier = verifier();
    let mut rng = Rng(7);
    let mut accepted = 0;
    for _ in 0..5_000 {
        let mut bytes = input.as_bytes().to_vec();
        let at = rng.below(bytes.len() + 1);
        match rng.below(3) {
            0 if at < bytes.len() => bytes[at] = rng.pick(ALPHABET),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, rng.pick(ALPHABET)),
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let mut m = original.clone();
        m.set("signature-input", &mutated);
        if m.with(|req| verifier.authenticate(req, NOW)).is_ok() {
            // Only white space the parser discards can survive.
            let parsed = m
                .with(|req| parse_signature(req, "treaty"))
                .expect("parses");
            assert_eq!(parsed, parsed_original, "{mutated:?}");
            accepted += 1;
        }
    }
    // Some mutations (a space after a ';' or before ')') are harmless and must verify.
    assert!(accepted > 0);
}
