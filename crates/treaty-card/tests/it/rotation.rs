//! Key rotation and time: a key's window `[valid_from, valid_until)` bounds the signing
//! times (`iat`) it is trusted for, and the verifier's clock bounds how far ahead `iat` may
//! be.

use serde_json::json;
use treaty_card::{CardError, Jwk, Jwks, KeyStatus, limits::CLOCK_SKEW_SECONDS_MAX};
use treaty_card::{sign_card, verify_card, verify_card_value};

use crate::fixtures::*;

/// When the node rotated from [`card_key`] to [`other_key`].
const ROTATED_AT: u64 = KEY_FROM + 10_000;

/// The JWKS after the rotation: the new key current, the old one retired at [`ROTATED_AT`].
fn rotated_jwks() -> Jwks {
    let old = Jwk::current(&card_key().verifying_key(), KEY_FROM).expect("old key");
    let new = Jwk::current(&other_key().verifying_key(), ROTATED_AT).expect("new key");
    Jwks::new(vec![new, old.retire(ROTATED_AT).expect("retire")]).expect("jwks")
}

fn card_signed_by(key: &treaty_card::SigningKey, iat: u64) -> Vec<u8> {
    sign_card(&core(), key, &kid(key), iat)
        .expect("signs")
        .to_bytes(None)
        .expect("bytes")
}

#[test]
fn a_card_signed_before_retirement_still_verifies() {
    let now = ROTATED_AT + 86_400;
    let card = verify_card(
        &card_signed_by(&card_key(), SIGNED_AT),
        Some(CARD_URL),
        &rotated_jwks(),
        now,
    )
    .expect("old card still verifies");
    assert_eq!(card.key_status, KeyStatus::Retired);
    assert_eq!(card.kid, kid(&card_key()));
    // One second before retirement is still inside the window.
    let card = verify_card(
        &card_signed_by(&card_key(), ROTATED_AT - 1),
        None,
        &rotated_jwks(),
        now,
    )
    .expect("last second");
    assert_eq!(card.key_status, KeyStatus::Retired);
}

#[test]
fn a_card_signed_at_or_after_retirement_fails() {
    let now = ROTATED_AT + 86_400;
    for iat in [ROTATED_AT, ROTATED_AT + 1, now] {
        let err = verify_card(
            &card_signed_by(&card_key(), iat),
            Some(CARD_URL),
            &rotated_jwks(),
            now,
        )
        .expect_err("signed by a retired key");
        assert!(
            matches!(err, CardError::SignedAfterRetirement { iat: i, valid_until, .. }
                if i == iat && valid_until == ROTATED_AT),
            "{err}"
        );
    }
}

#[test]
fn the_new_key_verifies_from_its_valid_from_only() {
    let now = ROTATED_AT + 86_400;
    let card = verify_card(
        &card_signed_by(&other_key(), ROTATED_AT),
        None,
        &rotated_jwks(),
        now,
    )
    .expect("new key");
    assert_eq!(card.key_status, KeyStatus::Current);
    let err = verify_card(
        &card_signed_by(&other_key(), ROTATED_AT - 1),
        None,
        &rotated_jwks(),
        now,
    )
    .expect_err("before the new key's valid_from");
    assert!(matches!(err, CardError::KeyNotYetValid { .. }), "{err}");
}

#[test]
fn the_etag_changes_with_the_key() {
    let now = ROTATED_AT + 86_400;
    let old = verify_card(
        &card_signed_by(&card_key(), SIGNED_AT),
        None,
        &rotated_jwks(),
        now,
    )
    .expect("old");
    let new = verify_card(
        &card_signed_by(&other_key(), ROTATED_AT),
        None,
        &rotated_jwks(),
        now,
    )
    .expect("new");
    assert_eq!(old.core, new.core);
    assert_ne!(old.etag, new.etag);
}

#[test]
fn iat_in_the_future_beyond_the_skew_fails() {
    let now = NOW;
    let at_limit = card_signed_by(&card_key(), now + CLOCK_SKEW_SECONDS_MAX);
    assert!(verify_card(&at_limit, None, &jwks(), now).is_ok());
    let beyond = card_signed_by(&card_key(), now + CLOCK_SKEW_SECONDS_MAX + 1);
    let err = verify_card(&beyond, None, &jwks(), now).expect_err("from the future");
    assert!(
        matches!(err, CardError::IssuedInFuture { skew_s, .. } if skew_s == CLOCK_SKEW_SECONDS_MAX),
        "{err}"
    );
    // A verifier clock near the top of u64 does not overflow.
    assert!(verify_card(&at_limit, None, &jwks(), u64::MAX).is_ok());
}

#[test]
fn during_an_overlap_either_signature_may_carry_the_card() {
    // Signed by both keys; the verifier knows only one of them at a time.
    let core = core_value();
    let mut doc = core.clone();
    doc["signatures"] = json!([
        signature_entry(&core, &header_json(&card_key(), SIGNED_AT), &card_key()),
        signature_entry(&core, &header_json(&other_key(), SIGNED_AT), &other_key()),
    ]);
    let only_old = jwks();
    let only_new = Jwks::new(vec![
        Jwk::current(&other_key().verifying_key(), KEY_FROM).expect("jwk"),
    ])
    .expect("jwks");
    let a = verify_card_value(&doc, None, &only_old, NOW).expect("old key");
    let b = verify_card_value(&doc, None, &only_new, NOW).expect("new key");
    assert_eq!(a.kid, kid(&card_key()));
    assert_eq!(b.kid, kid(&other_key()));
}

#[test]
fn a_bad_signature_by_a_known_key_is_not_rescued_by_a_good_one() {
    let core = core_value();
    let mut doc = core.clone();
    // The second entry claims other_key's kid but is signed with card_key.
    doc["signatures"] = json!([
        signature_entry(&core, &header_json(&card_key(), SIGNED_AT), &card_key()),
        signature_entry(&core, &header_json(&other_key(), SIGNED_AT), &card_key()),
    ]);
    let both = Jwks::new(vec![
        Jwk::current(&card_key().verifying_key(), KEY_FROM).expect("jwk"),
        Jwk::current(&other_key().verifying_key(), KEY_FROM).expect("jwk"),
    ])
    .expect("jwks");
    let err = verify_card_value(&doc, None, &both, NOW).expect_err("forged entry");
    assert!(
        matches!(&err, CardError::InvalidSignature { kid: k } if *k == kid(&other_key())),
        "{err}"
    );
}
