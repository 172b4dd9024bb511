//! Published test vectors.
//!
//! RFC 9421 appendix B.2.6 signs the appendix B.2 test request with the Ed25519 key of
//! appendix B.1.4. Ed25519 is deterministic, so the signature this crate computes over the
//! base it builds must equal the RFC's signature byte for byte, which checks the base, the
//! structured-field serialization and the signing at once.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha512};
use treaty_httpsig::sf::Key;
use treaty_httpsig::{
    Component, ReplayCache, SignatureInput, SigningKey, Verifier, VerifierConfig, VerifyingKey,
    content_digest, parse_signature, sign_base, signature_field, signature_input_field,
    verify_base, verify_content_digest,
};

use crate::fixtures::{Message, int, params, string};

/// RFC 9421 appendix B.1.4, `test-key-ed25519`, as its JWK `d` (private) member.
const B14_PRIVATE_JWK_D: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
/// The same key's JWK `x` (public) member.
const B14_PUBLIC_JWK_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

/// The appendix B.2 request body.
const B2_BODY: &[u8] = br#"{"hello": "world"}"#;
/// The appendix B.2 request's `Content-Digest` (SHA-512 of the body).
const B2_CONTENT_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

/// The appendix B.2.6 signature base, exactly (no trailing newline).
const B26_BASE: &str = concat!(
    "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n",
    "\"@method\": POST\n",
    "\"@path\": /foo\n",
    "\"@authority\": example.com\n",
    "\"content-type\": application/json\n",
    "\"content-length\": 18\n",
    "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" ",
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
);
/// The appendix B.2.6 `Signature-Input` field value.
const B26_SIGNATURE_INPUT: &str = concat!(
    "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" ",
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
);
/// The appendix B.2.6 `Signature` field value.
const B26_SIGNATURE: &str = concat!(
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1",
    "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
);

fn b14_key() -> SigningKey {
    let d: [u8; 32] = URL_SAFE_NO_PAD
        .decode(B14_PRIVATE_JWK_D)
        .expect("base64url")
        .try_into()
        .expect("32 bytes");
    SigningKey::from_bytes(&d)
}

/// The appendix B.2 test request (`POST /foo?param=Value&Pet=dog`, host `example.com`).
fn b2_request() -> Message {
    Message::new(
        "POST",
        "https://example.com/foo?param=Value&Pet=dog",
        B2_BODY,
    )
    .header("Host", "example.com")
    .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
    .header("Content-Type", "application/json")
    .header("Content-Digest", B2_CONTENT_DIGEST)
    .header("Content-Length", "18")
}

fn b26_input() -> SignatureInput {
    let components = [
        "date",
        "@method",
        "@path",
        "@authority",
        "content-type",
        "content-length",
    ]
    .iter()
    .map(|c| Component::parse(c).expect("supported"))
    .collect();
    let params = params(&[
        ("created", int(1_618_884_473)),
        ("keyid", string("test-key-ed25519")),
    ]);
    SignatureInput::new(components, params).expect("valid")
}

#[test]
fn b14_key_fixture_is_consistent() {
    let x = URL_SAFE_NO_PAD.decode(B14_PUBLIC_JWK_X).expect("base64url");
    assert_eq!(
        b14_key().verifying_key().to_bytes().as_slice(),
        x.as_slice()
    );
}

#[test]
fn b2_request_fixture_is_consistent() {
    let digest = STANDARD.encode(Sha512::digest(B2_BODY));
    assert_eq!(B2_CONTENT_DIGEST, format!("sha-512=:{digest}:"));
}

#[test]
fn b26_signature_base_matches_byte_for_byte() {
    let base = b2_request()
        .with(|req| b26_input().signature_base(req))
        .expect("base builds");
    assert_eq!(base, B26_BASE);
}

#[test]
fn b26_signature_and_fields_match_the_rfc() {
    let input = b26_input();
    let label = Key::new("sig-b26").expect("label");
    let signature = sign_base(&b14_key(), B26_BASE);
    assert_eq!(signature_field(&label, &signature), B26_SIGNATURE);
    assert_eq!(signature_input_field(&label, &input), B26_SIGNATURE_INPUT);
}

#[test]
fn b26_rfc_signature_verifies() {
    let message = b2_request()
        .header("Signature-Input", B26_SIGNATURE_INPUT)
        .header("Signature", B26_SIGNATURE);
    let public = b14_key().verifying_key();
    let parsed = message
        .with(|req| parse_signature(req, "sig-b26"))
        .expect("parses");
    assert_eq!(parsed.input(), &b26_input());
    message
        .with(|req| parsed.verify_with_key(req, &public))
        .expect("the RFC's signature verifies");
    assert!(verify_base(&public, B26_BASE, parsed.signature()));

    // The same signature over anything else fails.
    let mut tampered = message.clone();
    tampered.set("Content-Type", "text/plain");
    assert_eq!(
        tampered
            .with(|req| parsed.verify_with_key(req, &public))
            .expect_err("tampered")
            .code(),
        "bad_signature"
    );
    let wrong_key = VerifyingKey::from_bytes(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ])
    .expect("RFC 8032 test key 1");
    assert_eq!(
        message
            .with(|req| parsed.verify_with_key(req, &wrong_key))
            .expect_err("wrong key")
            .code(),
        "bad_signature"
    );
}

#[test]
fn b26_is_refused_by_the_treaty_profile() {
    // Valid RFC 9421, but not Treaty's profile: no tag (and no alg, nonce or expires).
    let message = b2_request()
        .header("Signature-Input", B26_SIGNATURE_INPUT)
        .header("Signature", B26_SIGNATURE);
    let verifier = Verifier::new(
        VerifierConfig::treaty_v1()
            .with_label_and_tag("sig-b26", "treaty/v1")
            .expect("config"),
        |_: &str| Some(b14_key().verifying_key()),
    );
    let mut cache = ReplayCache::default();
    let err = message
        .with(|req| verifier.verify(req, 1_618_884_473, &mut cache))
        .expect_err("not Treaty's profile");
    assert_eq!(err.code(), "wrong_tag");
    // The B.2 request carries only a SHA-512 digest, which Treaty does not accept alone.
    assert_eq!(
        verify_content_digest(B2_CONTENT_DIGEST, B2_BODY)
            .expect_err("no sha-256")
            .code(),
        "unsupported_digest_algorithm"
    );
}

/// RFC 9530 appendix B.1 (and several later examples): `{"hello": "world"}` followed by a
/// line feed has `sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:`.
#[test]
fn rfc9530_sha256_example() {
    let body = b"{\"hello\": \"world\"}\n";
    let expected = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:";
    assert_eq!(content_digest(body), expected);
    assert_eq!(verify_content_digest(expected, body), Ok(()));
    // The RFC's sha-512 member beside it is ignored; sha-256 decides.
    let both = format!(
        "{expected}, sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:"
    );
    assert_eq!(verify_content_digest(&both, body), Ok(()));
}

/// RFC 9530 section 2's two-member example. Its `sha-512` member is the digest of the B.1
/// body, but its `sha-256` member is not (the example's values disagree with each other), so
/// a verifier that requires `sha-256` refuses it, and one with only `sha-512` has no
/// `sha-256` to check.
#[test]
fn rfc9530_section2_example() {
    let body = b"{\"hello\": \"world\"}\n";
    let sha512 = "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:";
    assert_eq!(
        format!("sha-512=:{}:", STANDARD.encode(Sha512::digest(body))),
        sha512
    );
    let section2 = format!("sha-256=:d435Qo+nKZ+gLcUHn7GQtQ72hiBVAgqoLsZnZPiTGPk=:, {sha512}");
    assert_eq!(
        verify_content_digest(&section2, body)
            .expect_err("sha-256 does not match")
            .code(),
        "content_digest_mismatch"
    );
    assert_eq!(
        verify_content_digest(sha512, body)
            .expect_err("no sha-256")
            .code(),
        "unsupported_digest_algorithm"
    );
}

/// RFC 9421's appendix B.2 body has no line feed; its SHA-256 (checked independently with
/// `printf '{"hello": "world"}' | openssl dgst -sha256 -binary | base64`).
#[test]
fn rfc9421_body_sha256() {
    assert_eq!(
        content_digest(B2_BODY),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
}
