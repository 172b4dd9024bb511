//! A node may only describe itself: the card's `base_url` must have the origin the card was
//! fetched from, and every URL in the card must lie under `base_url`.

use serde_json::json;
use treaty_card::{CardError, sign_card, verify_card, verify_card_value};

use crate::fixtures::*;

fn verify_from(url: &str) -> Result<treaty_card::VerifiedCard, CardError> {
    verify_card(&doc_bytes(), Some(url), &jwks(), NOW)
}

#[test]
fn fetched_from_the_same_origin_verifies() {
    for url in [
        CARD_URL,
        "https://registry.example.com",
        "https://REGISTRY.example.com:443/anything?x=1#f",
        "HTTPS://registry.example.com/.well-known/registry-card.json",
    ] {
        assert!(verify_from(url).is_ok(), "{url}");
    }
}

#[test]
fn fetched_from_another_origin_fails() {
    for url in [
        "https://mirror.example.net/.well-known/registry-card.json",
        "http://registry.example.com/.well-known/registry-card.json",
        "https://registry.example.com:8443/.well-known/registry-card.json",
        "https://registry.example.com.evil.example/.well-known/registry-card.json",
        "https://sub.registry.example.com/.well-known/registry-card.json",
    ] {
        let err = verify_from(url).expect_err(url);
        assert!(
            matches!(&err, CardError::OriginMismatch { card_origin, .. }
                if card_origin == "https://registry.example.com"),
            "{url}: {err}"
        );
    }
}

#[test]
fn an_unusable_fetch_url_is_its_own_error() {
    for url in [
        "",
        "registry.example.com",
        "ftp://registry.example.com",
        "https://u@registry.example.com",
    ] {
        let err = verify_from(url).expect_err(url);
        assert!(
            matches!(err, CardError::InvalidFetchedFrom { .. }),
            "{url}: {err}"
        );
    }
}

#[test]
fn an_endpoint_on_another_host_is_refused_by_signer_and_verifier() {
    for (member, url) in [
        ("sync", "https://evil.example/v1/sync"),
        (
            "jwks",
            "https://evil.example/.well-known/registry-jwks.json",
        ),
        (
            "records",
            "https://registry.example.com.evil.example/v1/records",
        ),
        ("federation", "http://registry.example.com/v1/federation"),
        ("witness", "https://registry.example.com:8443/v1/witness"),
    ] {
        let mut core = core();
        match member {
            "sync" => core.endpoints.sync = url.into(),
            "jwks" => core.endpoints.jwks = url.into(),
            "records" => core.endpoints.records = url.into(),
            "federation" => core.endpoints.federation = url.into(),
            _ => core.endpoints.witness = url.into(),
        }
        let err = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT)
            .expect_err("the signer refuses");
        assert_eq!(err.code(), "endpoint_outside_base", "{member}: {err}");

        // A card signed anyway (by other software) is refused by the verifier, even from a
        // local file where there is no fetch origin to compare.
        let mut value = core_value();
        value["endpoints"][member] = json!(url);
        let doc = sign_raw(&value);
        let err = verify_card_value(&doc, None, &jwks(), NOW).expect_err("verifier refuses");
        assert!(
            matches!(&err, CardError::EndpointOutsideBase { path, .. }
                if *path == format!("/endpoints/{member}")),
            "{member}: {err}"
        );
    }
}

#[test]
fn checkpoint_url_must_be_under_base_url_too() {
    let mut value = core_value();
    value["ledger"]["checkpoint_url"] = json!("https://elsewhere.example/checkpoint");
    assert_eq!(verify_code(&sign_raw(&value)), "endpoint_outside_base");
}

#[test]
fn a_base_url_with_a_path_scopes_the_endpoints() {
    let mut core = core();
    core.base_url = format!("{BASE}/treaty");
    // Same origin but outside the base path ("/treaty2" is not under "/treaty").
    let err = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT)
        .expect_err("endpoints are outside /treaty");
    assert_eq!(err.code(), "endpoint_outside_base");
    let e = &mut core.endpoints;
    for u in [
        &mut e.federation,
        &mut e.witness,
        &mut e.sync,
        &mut e.records,
        &mut e.discover,
        &mut e.checkpoint,
        &mut e.jwks,
        &mut core.ledger.checkpoint_url,
    ] {
        *u = u.replacen(BASE, &format!("{BASE}/treaty"), 1);
    }
    let signed = sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT).expect("signs");
    let bytes = signed.to_bytes(None).expect("bytes");
    assert!(verify_card(&bytes, Some(CARD_URL), &jwks(), NOW).is_ok());

    core.endpoints.sync = format!("{BASE}/treaty2/sync");
    assert_eq!(
        sign_card(&core, &card_key(), &kid(&card_key()), SIGNED_AT)
            .expect_err("treaty2")
            .code(),
        "endpoint_outside_base"
    );
}

#[test]
fn non_canonical_urls_are_refused() {
    for (path, url) in [
        ("/base_url", "https://Registry.example.com"),
        ("/base_url", "https://registry.example.com/"),
        ("/base_url", "https://registry.example.com:443"),
        ("/base_url", "https://registry.example.com?x=1"),
        ("/endpoints/sync", "https://registry.example.com/v1/../sync"),
        (
            "/endpoints/sync",
            "https://registry.example.com/v1/sync#frag",
        ),
        ("/endpoints/sync", "https://registry.example.com/v1/%73ync"),
        (
            "/endpoints/sync",
            "https://user@registry.example.com/v1/sync",
        ),
        ("/endpoints/sync", "/v1/sync"),
    ] {
        let mut value = core_value();
        *value.pointer_mut(path).expect("member") = json!(url);
        let doc = sign_raw(&value);
        let err = verify_card_value(&doc, None, &jwks(), NOW).expect_err(url);
        assert!(
            matches!(&err, CardError::InvalidUrl { path: p, .. } if p == path),
            "{url}: {err}"
        );
    }
}
