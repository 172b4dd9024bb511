//! Every check of the verifier fails with its own code.
//!
//! Each request here is correctly signed (by the trusted key unless the test is about keys)
//! over exactly the defect under test, so the error comes from that check and not from a
//! broken signature. `Message::code` also asserts that a rejected request leaves the replay
//! cache unchanged.

use treaty_httpsig::sf::{Key, Parameters};
use treaty_httpsig::{
    HttpSigError, ReplayCache, SIGNATURE_BYTES, limits, parse_signature, signature_field,
};

use crate::fixtures::{
    KEYID, Message, NONCE, NOW, TREATY_COMPONENTS, int, node_key, other_key, params, signer,
    string, token, treaty_params, treaty_params_with,
};

/// `Message::post()` signed by `node-a` over `components` with `params`.
fn signed_with(components: &[&str], params: Parameters) -> Message {
    Message::post().signed_raw(&node_key(), "treaty", components, params, true)
}

fn with_param(name: &str, value: Option<treaty_httpsig::sf::BareItem>) -> Message {
    signed_with(&TREATY_COMPONENTS, treaty_params_with(name, value))
}

#[test]
fn the_fixture_itself_verifies() {
    // Otherwise every test below would pass for the wrong reason.
    assert_eq!(
        signed_with(&TREATY_COMPONENTS, params(&treaty_params())).code(),
        "ok"
    );
    assert_eq!(Message::post().signed().code(), "ok");
}

#[test]
fn missing_fields() {
    let mut m = Message::post().signed();
    m.remove("signature-input");
    assert_eq!(m.code(), "missing_signature_input");
    let mut m = Message::post().signed();
    m.remove("signature");
    assert_eq!(m.code(), "missing_signature");
    assert_eq!(Message::post().code(), "missing_signature_input");
}

#[test]
fn oversized_fields() {
    let mut m = Message::post().signed();
    let padding = format!(", pad=\"{}\"", "x".repeat(limits::FIELD_BYTES_MAX));
    let input = format!("{}{padding}", m.get("signature-input").expect("present"));
    m.set("signature-input", &input);
    assert_eq!(m.code(), "signature_field_too_large");
}

#[test]
fn malformed_fields() {
    for (field, value) in [
        ("signature-input", "treaty=(\"@method\""),
        ("signature-input", "treaty=(\"@method\"),"),
        ("signature-input", "Treaty=()"),
        ("signature", "treaty=:not base64:"),
        ("signature", "treaty=:AAAA:, treaty=:AAAA:"),
    ] {
        let mut m = Message::post().signed();
        m.set(field, value);
        assert_eq!(m.code(), "malformed_signature_field", "{field}: {value}");
    }
}

#[test]
fn label_not_found() {
    let m = Message::post().signed_raw(
        &node_key(),
        "other",
        &TREATY_COMPONENTS,
        params(&treaty_params()),
        true,
    );
    assert_eq!(m.code(), "signature_label_not_found");
    let mut m = Message::post().signed();
    let signature = m
        .get("signature")
        .expect("present")
        .replace("treaty=", "other=");
    m.set("signature", &signature);
    assert_eq!(m.code(), "signature_label_not_found");
}

#[test]
fn invalid_signature_input_shapes() {
    let tail = ";created=1700000000;expires=1700000300;nonce=\"n0nce-0123456789\";keyid=\"node-a\";alg=\"ed25519\";tag=\"treaty/v1\"";
    for (value, code) in [
        ("treaty=\"@method\"".to_owned(), "invalid_signature_input"),
        (format!("treaty=(method){tail}"), "invalid_signature_input"),
        (
            format!("treaty=(\"@method\" \"@method\"){tail}"),
            "invalid_signature_input",
        ),
        (
            format!("treaty=(\"@method\" \"content-digest\";sf){tail}"),
            "unsupported_component",
        ),
        (
            format!("treaty=(\"@request-target\"){tail}"),
            "unsupported_component",
        ),
        (
            format!("treaty=(\"@signature-params\"){tail}"),
            "unsupported_component",
        ),
        (
            format!("treaty=(\"Content-Type\"){tail}"),
            "invalid_component_name",
        ),
    ] {
        let mut m = Message::post().signed();
        m.set("signature-input", &value);
        assert_eq!(m.code(), code, "{value}");
    }
}

#[test]
fn invalid_signature_values() {
    for value in [
        "treaty=:AAAA:",
        "treaty=\"abc\"",
        "treaty=(:AAAA:)",
        "treaty",
    ] {
        let mut m = Message::post().signed();
        m.set("signature", value);
        assert_eq!(m.code(), "invalid_signature_value", "{value}");
    }
    let mut m = Message::post().signed();
    let with_param = format!("{};x=1", m.get("signature").expect("present"));
    m.set("signature", &with_param);
    assert_eq!(m.code(), "invalid_signature_value");
}

#[test]
fn wrong_tag() {
    assert_eq!(
        with_param("tag", Some(string("treaty/v2"))).code(),
        "wrong_tag"
    );
    assert_eq!(
        with_param("tag", Some(string("other-app"))).code(),
        "wrong_tag"
    );
    assert_eq!(
        with_param("tag", Some(token("treaty/v1"))).code(),
        "wrong_tag"
    );
    assert_eq!(with_param("tag", None).code(), "wrong_tag");
}

#[test]
fn wrong_alg() {
    assert_eq!(
        with_param("alg", Some(string("rsa-pss-sha512"))).code(),
        "wrong_alg"
    );
    assert_eq!(
        with_param("alg", Some(string("hmac-sha256"))).code(),
        "wrong_alg"
    );
    assert_eq!(
        with_param("alg", Some(token("ed25519"))).code(),
        "wrong_alg"
    );
    assert_eq!(with_param("alg", None).code(), "wrong_alg");
}

#[test]
fn unknown_parameter() {
    assert_eq!(
        with_param("context", Some(string("x"))).code(),
        "unknown_signature_parameter"
    );
}

#[test]
fn missing_parameters() {
    for name in ["keyid", "created", "expires"] {
        let m = with_param(name, None);
        assert_eq!(m.code(), "missing_signature_parameter", "{name}");
    }
}

#[test]
fn missing_nonce() {
    assert_eq!(with_param("nonce", None).code(), "missing_nonce");
}

#[test]
fn invalid_parameters() {
    let cases = [
        ("nonce", string("too-short")),
        ("nonce", string(&"n".repeat(limits::NONCE_BYTES_MAX + 1))),
        ("nonce", int(12_345)),
        ("keyid", string("")),
        ("keyid", token("node-a")),
        ("keyid", string(&"k".repeat(limits::KEYID_BYTES_MAX + 1))),
        ("created", int(-1)),
        ("created", string("1700000000")),
        ("expires", int(NOW as i64)),
        ("expires", int(NOW as i64 - 1)),
    ];
    for (name, value) in cases {
        let m = with_param(name, Some(value.clone()));
        assert_eq!(m.code(), "invalid_signature_parameter", "{name}={value}");
    }
}

#[test]
fn missing_required_components() {
    for dropped in TREATY_COMPONENTS {
        let components: Vec<&str> = TREATY_COMPONENTS
            .iter()
            .copied()
            .filter(|c| *c != dropped)
            .collect();
        let m = signed_with(&components, params(&treaty_params()));
        assert_eq!(m.code(), "missing_required_component", "without {dropped}");
    }
    // Without a body, content-digest need not be covered...
    let m = Message::new("GET", "https://peer.example/v1/x", b"").signed_raw(
        &node_key(),
        "treaty",
        &["@method", "@target-uri", "@authority"],
        params(&treaty_params()),
        false,
    );
    assert_eq!(m.code(), "ok");
    // ...but @path alone does not stand in for @target-uri.
    let m = signed_with(
        &["@method", "@path", "@authority", "content-digest"],
        params(&treaty_params()),
    );
    assert_eq!(m.code(), "missing_required_component");
}

#[test]
fn created_out_of_window() {
    let skew = limits::CLOCK_SKEW_SECONDS_DEFAULT as i64;
    let now = NOW as i64;
    for created in [now + skew + 1, now - skew - 1, 0] {
        let mut entries = treaty_params();
        entries[0].1 = int(created);
        // Keep expires after both created and now, so only the window check can fail.
        entries[1].1 = int(created.max(now) + 300);
        let m = signed_with(&TREATY_COMPONENTS, params(&entries));
        assert_eq!(m.code(), "created_out_of_window", "created={created}");
    }
}

#[test]
fn expired() {
    let mut entries = treaty_params();
    entries[0].1 = int(NOW as i64 - 10);
    entries[1].1 = int(NOW as i64 - 1);
    assert_eq!(
        signed_with(&TREATY_COMPONENTS, params(&entries)).code(),
        "signature_expired"
    );
    entries[1].1 = int(NOW as i64);
    assert_eq!(
        signed_with(&TREATY_COMPONENTS, params(&entries)).code(),
        "signature_expired"
    );
}

#[test]
fn missing_content_digest() {
    let mut m = Message::post().signed();
    m.remove("content-digest");
    assert_eq!(m.code(), "missing_content_digest");
    // Covered but absent on a request without a body is refused the same way.
    let mut m = Message::new("GET", "https://peer.example/", b"").signed();
    m.remove("content-digest");
    assert_eq!(m.code(), "missing_content_digest");
}

#[test]
fn wrong_content_digest() {
    let mut m = Message::post().signed();
    m.body = br#"{"hello":"forged"}"#.to_vec();
    assert_eq!(m.code(), "content_digest_mismatch");
    let mut m = Message::post().signed();
    m.set("content-digest", "sha-256=:AAAA");
    assert_eq!(m.code(), "malformed_content_digest");
    let mut m = Message::post().signed();
    m.set("content-digest", "sha-512=:AAAA:");
    assert_eq!(m.code(), "unsupported_digest_algorithm");
    // An uncovered digest on a bodiless request is still checked.
    let mut m = Message::new("GET", "https://peer.example/", b"").signed_raw(
        &node_key(),
        "treaty",
        &["@method", "@target-uri", "@authority"],
        params(&treaty_params()),
        false,
    );
    m.set(
        "content-digest",
        &treaty_httpsig::content_digest(b"something else"),
    );
    assert_eq!(m.code(), "content_digest_mismatch");
}

#[test]
fn unknown_key() {
    let m = with_param("keyid", Some(string("node-z")));
    assert_eq!(m.code(), "unknown_key");
}

#[test]
fn bad_signature() {
    // Signed by a key other than the one the key ID names.
    let m = Message::post().signed_raw(
        &other_key(),
        "treaty",
        &TREATY_COMPONENTS,
        params(&treaty_params()),
        true,
    );
    assert_eq!(m.code(), "bad_signature");
    // One flipped bit in each of the 64 bytes.
    let m = Message::post().signed();
    let parsed = m
        .with(|req| parse_signature(req, "treaty"))
        .expect("parses");
    let label = Key::new("treaty").expect("label");
    for i in 0..SIGNATURE_BYTES {
        let mut bytes = *parsed.signature();
        bytes[i] ^= 1 << (i % 8);
        let mut flipped = m.clone();
        flipped.set("signature", &signature_field(&label, &bytes));
        assert_eq!(flipped.code(), "bad_signature", "byte {i}");
    }
    // The parameters changed after signing (a later expiry, say).
    let mut m = Message::post().signed();
    let input = m
        .get("signature-input")
        .expect("present")
        .replace("expires=1700000300", "expires=1700009999");
    m.set("signature-input", &input);
    assert_eq!(m.code(), "bad_signature");
}

#[test]
fn replayed_nonce() {
    let m = Message::post().signed();
    let mut cache = ReplayCache::default();
    m.verify_at(NOW, &mut cache).expect("first use");
    let err = m.verify_at(NOW + 10, &mut cache).expect_err("second use");
    assert_eq!(
        err,
        HttpSigError::NonceReplayed {
            keyid: KEYID.into(),
            nonce: NONCE.into()
        }
    );
    // A different request with the same nonce is a replay too.
    let other = Message::new("GET", "https://peer.example/v1/other", b"").signed();
    assert_eq!(
        other
            .verify_at(NOW + 20, &mut cache)
            .expect_err("same nonce")
            .code(),
        "nonce_replayed"
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn replay_cache_full() {
    let mut cache = ReplayCache::new(2, limits::CLOCK_SKEW_SECONDS_DEFAULT);
    for nonce in ["nonce-number-0001", "nonce-number-0002"] {
        Message::post()
            .signed_by(&signer(), NOW, nonce)
            .verify_at(NOW, &mut cache)
            .expect("room");
    }
    let third = Message::post().signed_by(&signer(), NOW, "nonce-number-0003");
    assert_eq!(
        third.verify_at(NOW, &mut cache).expect_err("full").code(),
        "replay_cache_full"
    );
    // Once the first two have left the window, there is room again.
    let later = Message::post().signed_by(&signer(), NOW + 301, "nonce-number-0003");
    later.verify_at(NOW + 301, &mut cache).expect("room again");
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_forged_request_cannot_burn_a_nonce() {
    let genuine = Message::post().signed();
    let forged = Message::post().signed_raw(
        &other_key(),
        "treaty",
        &TREATY_COMPONENTS,
        params(&treaty_params()),
        true,
    );
    let mut cache = ReplayCache::default();
    assert_eq!(
        forged
            .verify_at(NOW, &mut cache)
            .expect_err("forged")
            .code(),
        "bad_signature"
    );
    assert!(cache.is_empty());
    genuine
        .verify_at(NOW, &mut cache)
        .expect("the genuine request still passes");
}

#[test]
fn checks_run_in_the_documented_order() {
    // A request with a defect for each check reports the first in the documented order;
    // removing defects one at a time lets the next check report.
    let mut entries = vec![
        ("created", int(NOW as i64 - 1000)),
        ("expires", int(NOW as i64 - 900)),
        ("keyid", string("node-z")),
        ("alg", string("rsa-pss-sha512")),
        ("tag", string("other")),
        ("extra", int(1)),
    ];
    let mut components = vec!["@method", "@authority", "content-digest"];
    let mut forged_body = true;
    let expected = [
        "wrong_tag",
        "wrong_alg",
        "unknown_signature_parameter",
        "missing_nonce",
        "missing_required_component",
        "created_out_of_window",
        "content_digest_mismatch",
        "unknown_key",
        "bad_signature",
    ];
    let mut codes = Vec::new();
    for step in 0..expected.len() {
        let mut m =
            Message::post().signed_raw(&other_key(), "treaty", &components, params(&entries), true);
        if forged_body {
            m.body = b"{}".to_vec();
        }
        codes.push(m.code());
        match step {
            0 => entries[4].1 = string("treaty/v1"),
            1 => entries[3].1 = string("ed25519"),
            2 => {
                entries.pop();
            }
            3 => entries.push(("nonce", string(NONCE))),
            4 => components.insert(1, "@target-uri"),
            5 => {
                entries[0].1 = int(NOW as i64);
                entries[1].1 = int(NOW as i64 + 300);
            }
            6 => forged_body = false,
            7 => entries[2].1 = string(KEYID),
            _ => {}
        }
    }
    assert_eq!(codes, expected);
}
