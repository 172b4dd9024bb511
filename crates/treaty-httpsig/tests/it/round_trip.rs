//! Sign, then verify: every supported shape of request and profile.

use treaty_httpsig::{
    Component, ReplayCache, Signer, SignerConfig, TargetUri, Verifier, VerifierConfig,
    parse_signature, treaty_required_components,
};

use crate::fixtures::{KEYID, Message, NONCE, NOW, keys, node_key, signer, verifier};

#[test]
fn post_with_body() {
    let message = Message::post().signed();
    let mut cache = ReplayCache::default();
    let verified = message.verify_at(NOW + 1, &mut cache).expect("verifies");
    assert_eq!(verified.keyid(), KEYID);
    assert_eq!(verified.nonce(), NONCE);
    assert_eq!(verified.created(), NOW);
    assert_eq!(verified.expires(), NOW + 300);
    assert_eq!(verified.components(), treaty_required_components());
    assert_eq!(cache.len(), 1);
    assert!(cache.contains(KEYID, NONCE));
}

#[test]
fn get_without_body_still_binds_the_empty_body() {
    let message = Message::new("GET", "https://peer.example/v1/sync/entries?from=10", b"").signed();
    assert_eq!(
        message.get("content-digest"),
        Some("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:")
    );
    assert_eq!(message.code(), "ok");
}

#[test]
fn wire_format() {
    let message = Message::post().signed();
    assert_eq!(
        message.get("signature-input"),
        Some(
            "treaty=(\"@method\" \"@target-uri\" \"@authority\" \"content-digest\")\
             ;created=1700000000;expires=1700000300;nonce=\"n0nce-0123456789\"\
             ;keyid=\"node-a\";alg=\"ed25519\";tag=\"treaty/v1\""
        )
    );
    let signature = message.get("signature").expect("present");
    assert!(signature.starts_with("treaty=:") && signature.ends_with("==:"));
    assert_eq!(signature.len(), "treaty=::".len() + 88);
    // The base the receiver rebuilds, line by line.
    let parsed = message
        .with(|req| parse_signature(req, "treaty"))
        .expect("parses");
    let base = message
        .with(|req| parsed.input().signature_base(req))
        .expect("base");
    let lines: Vec<&str> = base.lines().collect();
    assert_eq!(lines[0], "\"@method\": POST");
    assert_eq!(
        lines[1],
        "\"@target-uri\": https://peer.example/v1/federation/hello?x=1"
    );
    assert_eq!(lines[2], "\"@authority\": peer.example");
    assert!(lines[3].starts_with("\"content-digest\": sha-256=:"));
    assert!(lines[4].starts_with("\"@signature-params\": (\"@method\""));
    assert_eq!(lines.len(), 5);
}

#[test]
fn extra_components() {
    let mut components = treaty_required_components();
    components.extend([
        Component::Path,
        Component::Query,
        Component::Scheme,
        Component::parse("content-type").expect("field"),
        Component::parse("x-treaty-peer").expect("field"),
    ]);
    let config = SignerConfig::treaty_v1()
        .with_components(components.clone())
        .expect("config");
    let signer = Signer::new(node_key(), KEYID, config).expect("signer");
    let message = Message::post()
        .header("X-Treaty-Peer", "  dublin ")
        .signed_by(&signer, NOW, NONCE);
    let verifier = Verifier::new(
        VerifierConfig::treaty_v1().with_required_components(vec![
            Component::parse("content-type").expect("field"),
            Component::Query,
        ]),
        keys,
    );
    let mut cache = ReplayCache::default();
    let verified = message
        .with(|req| verifier.verify(req, NOW, &mut cache))
        .expect("verifies");
    assert_eq!(verified.components(), components);
}

#[test]
fn a_required_extra_component_must_be_signed() {
    let message = Message::post().signed();
    let verifier = Verifier::new(
        VerifierConfig::treaty_v1()
            .with_required_components(vec![Component::parse("content-type").expect("field")]),
        keys,
    );
    let mut cache = ReplayCache::default();
    let err = message
        .with(|req| verifier.verify(req, NOW, &mut cache))
        .expect_err("content-type not covered");
    assert_eq!(err.code(), "missing_required_component");
}

#[test]
fn covered_field_must_exist_when_signing() {
    let config = SignerConfig::treaty_v1()
        .with_components({
            let mut c = treaty_required_components();
            c.push(Component::parse("content-type").expect("field"));
            c
        })
        .expect("config");
    let signer = Signer::new(node_key(), KEYID, config).expect("signer");
    let message = Message::new("GET", "https://peer.example/", b"");
    let err = message
        .with(|req| signer.sign(req, NOW, NONCE))
        .expect_err("no content-type");
    assert_eq!(err.code(), "component_unavailable");
}

#[test]
fn header_names_are_case_insensitive_and_lines_combine() {
    let mut message = Message::post().signed();
    // Another party's signature in a separate line of each field, names in other cases.
    let input = message.get("signature-input").expect("present").to_owned();
    let signature = message.get("signature").expect("present").to_owned();
    message.remove("signature-input");
    message.remove("signature");
    message.headers.push((
        "Signature-Input".into(),
        "proxy=(\"@method\");created=1;keyid=\"p\"".into(),
    ));
    message.headers.push(("SIGNATURE-INPUT".into(), input));
    message.headers.push(("Signature".into(), signature));
    message
        .headers
        .push(("signature".into(), "proxy=:AAAA:".into()));
    assert_eq!(message.code(), "ok");
}

#[test]
fn non_canonical_white_space_in_signature_input_still_verifies() {
    // RFC 9421 section 3.2 step 7: the verifier re-serializes what it parsed, so optional
    // white space added in transit does not change the base.
    let mut message = Message::post().signed();
    let input = message.get("signature-input").expect("present").to_owned();
    let spaced = input
        .replace("=(", "=(  ")
        .replace("\" \"", "\"   \"")
        .replace(")", " )")
        .replace(";", "; ");
    assert_ne!(spaced, input);
    message.set("signature-input", &format!("  {spaced}  "));
    assert_eq!(message.code(), "ok");
    // An unpadded signature is the same bytes (RFC 8941 section 4.2.7).
    let signature = message
        .get("signature")
        .expect("present")
        .replace("==:", ":");
    message.set("signature", &signature);
    assert_eq!(message.code(), "ok");
}

#[test]
fn authority_normalization_matches_both_sides() {
    // The client used the default port and capitals; the server describes the request from
    // its configured base URL. Both normalize to the same components.
    let client = Message::new("POST", "HTTPS://Peer.Example:443/v1/x", b"{}").signed();
    let mut server = client.clone();
    server.target = TargetUri::new("https", "peer.example", "/v1/x", None).expect("target");
    assert_eq!(server.code(), "ok");
}

#[test]
fn authenticate_then_admit() {
    let message = Message::post().signed();
    let verifier = verifier();
    let authenticated = message
        .with(|req| verifier.authenticate(req, NOW))
        .expect("authenticates");
    assert_eq!(authenticated.keyid(), KEYID);
    let mut cache = ReplayCache::new(4, 300);
    let verified = cache.admit(authenticated, NOW).expect("admitted");
    assert_eq!(verified.nonce(), NONCE);
    // The cache keeps the nonce for the verifier's skew even if it was built with less.
    let mut short = ReplayCache::new(4, 1);
    let authenticated = message
        .with(|req| verifier.authenticate(req, NOW))
        .expect("authenticates");
    short.admit(authenticated, NOW).expect("admitted");
    short.evict_expired(NOW + 299);
    assert!(short.contains(KEYID, NONCE));
}

#[test]
fn time_boundaries() {
    let mut cache = ReplayCache::default();
    // With Treaty's defaults (validity = skew = 300 s) a signature is usable for 300 s
    // after `created`: at `created + 299` it passes, at `created + 300` it has expired.
    let fresh = Message::post().signed_by(&signer(), NOW, "n0nce-fresh-00001");
    fresh.verify_at(NOW + 299, &mut cache).expect("last second");
    let stale = Message::post().signed_by(&signer(), NOW, "n0nce-stale-00001");
    assert_eq!(
        stale
            .verify_at(NOW + 300, &mut cache)
            .expect_err("expires == now")
            .code(),
        "signature_expired"
    );
    // With a longer validity, `created` exactly one skew in the past is still inside...
    let config = SignerConfig::treaty_v1()
        .with_validity_seconds(600)
        .expect("config");
    let long = Signer::new(node_key(), KEYID, config).expect("signer");
    let late = Message::post().signed_by(&long, NOW, "n0nce-late-000001");
    late.verify_at(NOW + 300, &mut cache)
        .expect("created exactly skew ago");
    // ...and so is `created` exactly one skew in the future (a signer's clock running ahead).
    let early = Message::post().signed_by(&signer(), NOW + 300, "n0nce-early-00001");
    early
        .verify_at(NOW, &mut cache)
        .expect("created exactly skew ahead");
}
