//! RFC 8037 appendix A: the Ed25519 example key, its RFC 7638 thumbprint, and the JWS it
//! signs. These are the published values; reproducing them byte for byte shows that the
//! base64url, signing-input and signature code agree with every other JOSE implementation.

use treaty_card::{
    Jwk, SigningKey, VerifyingKey, jwk_thumbprint, sign_detached, signing_input, verify_detached,
};

/// RFC 8037 A.1: the private key `d`.
const D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// RFC 8037 A.1/A.2: the public key `x`.
const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// RFC 8037 A.3: the JWK thumbprint of the public key.
const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/// RFC 8037 A.4: the protected header `{"alg":"EdDSA"}`, encoded.
const PROTECTED: &str = "eyJhbGciOiJFZERTQSJ9";
/// RFC 8037 A.4: the payload.
const PAYLOAD: &[u8] = b"Example of Ed25519 signing";
/// RFC 8037 A.4: the JWS signing input.
const SIGNING_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
/// RFC 8037 A.4: the signature.
const SIGNATURE: &str =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&b64(D).try_into().expect("32 bytes"))
}

#[test]
fn a1_a2_public_key_from_private_key() {
    assert_eq!(
        key().verifying_key().as_bytes().as_slice(),
        b64(X).as_slice()
    );
}

#[test]
fn a3_thumbprint() {
    let x: [u8; 32] = b64(X).try_into().expect("32 bytes");
    assert_eq!(jwk_thumbprint(&x), THUMBPRINT);
    // The JWKS entry for the key carries the thumbprint as its kid.
    let jwk = Jwk::current(&key().verifying_key(), 0).expect("jwk");
    assert_eq!(jwk.kid(), THUMBPRINT);
    assert_eq!(jwk.to_value()["x"], X);
}

#[test]
fn a4_signing_reproduces_the_signature() {
    assert_eq!(
        treaty_card::jws::signing_input(PROTECTED, PAYLOAD),
        SIGNING_INPUT.as_bytes()
    );
    assert_eq!(signing_input(PROTECTED, PAYLOAD), SIGNING_INPUT.as_bytes());
    assert_eq!(sign_detached(PROTECTED, PAYLOAD, &key()), SIGNATURE);
}

#[test]
fn a5_verification() {
    let x: [u8; 32] = b64(X).try_into().expect("32 bytes");
    let public = VerifyingKey::from_bytes(&x).expect("point");
    assert!(verify_detached(PROTECTED, PAYLOAD, SIGNATURE, &public));
    assert!(!verify_detached(
        PROTECTED,
        b"Example of Ed25519 signinG",
        SIGNATURE,
        &public
    ));
    assert!(!verify_detached(
        "eyJhbGciOiJFZERTQSIgfQ",
        PAYLOAD,
        SIGNATURE,
        &public
    ));
}

/// A known answer for Treaty's own format: the fixture card (`fixtures::core`, card key
/// seed `[2; 32]`, `iat` 1767225700) signed and served with its volatile block. The values
/// were checked independently with Python (`json.dumps(sort_keys=True, separators=(",",
/// ":"))` as JCS, `cryptography`'s Ed25519), so another implementation can test against
/// them; a change here is a change of the wire format.
#[test]
fn treaty_card_known_answer() {
    use sha2::{Digest, Sha256};
    let signed = crate::fixtures::signed();
    assert_eq!(
        signed.signature().signature,
        "UWjoG3cQ9kSHIsNyrTOaREFL3RvS2K87Xuf28GEcGhqnhCILsNaIJyXvzrb8cFdroGc_N98hisOnS6dqMD0aBQ"
    );
    assert_eq!(
        signed.etag(),
        "\"bECDqUxUKq9X26nzamuOEQShqZ1iFCznvB_FZgQcSV0\""
    );
    assert_eq!(
        hex::encode(Sha256::digest(crate::fixtures::doc_bytes())),
        "e645bee4ec5c00192c18006ae94dd08e8373352d25c9571813954cfb388b7089"
    );
}
