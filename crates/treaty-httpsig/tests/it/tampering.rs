//! Changing any covered part of a signed request breaks verification; changing what is not
//! covered does not.

use treaty_httpsig::{Component, Signer, SignerConfig, TargetUri, treaty_required_components};

use crate::fixtures::{KEYID, Message, NONCE, NOW, node_key};

/// A request signed over Treaty's components plus `@path`, `@query` and `content-type`, so
/// that each part is bound twice where the profile allows it.
fn signed() -> Message {
    let mut components = treaty_required_components();
    components.extend([
        Component::Path,
        Component::Query,
        Component::parse("content-type").expect("field"),
    ]);
    let config = SignerConfig::treaty_v1()
        .with_components(components)
        .expect("config");
    let signer = Signer::new(node_key(), KEYID, config).expect("signer");
    Message::post().signed_by(&signer, NOW, NONCE)
}

fn retarget(m: &Message, uri: &str) -> Message {
    let mut m = m.clone();
    m.target = TargetUri::parse(uri).expect("valid URI");
    m
}

#[test]
fn untampered_verifies() {
    assert_eq!(signed().code(), "ok");
    // Sanity: the URI the fixture uses.
    assert_eq!(
        signed().target.to_string(),
        "https://peer.example/v1/federation/hello?x=1"
    );
}

#[test]
fn method() {
    for method in ["PUT", "post", "GET", "DELETE"] {
        let mut m = signed();
        m.method = method.to_owned();
        assert_eq!(m.code(), "bad_signature", "{method}");
    }
}

#[test]
fn authority() {
    let m = signed();
    for uri in [
        "https://other.example/v1/federation/hello?x=1",
        "https://peer.example:8443/v1/federation/hello?x=1",
        "https://peer.example.evil/v1/federation/hello?x=1",
    ] {
        assert_eq!(retarget(&m, uri).code(), "bad_signature", "{uri}");
    }
}

#[test]
fn scheme() {
    let m = signed();
    assert_eq!(
        retarget(&m, "http://peer.example/v1/federation/hello?x=1").code(),
        "bad_signature"
    );
}

#[test]
fn path() {
    let m = signed();
    for uri in [
        "https://peer.example/v1/federation/hello/?x=1",
        "https://peer.example/v1/federation/HELLO?x=1",
        "https://peer.example/v1/federation/hell%6F?x=1",
        "https://peer.example/v2/federation/hello?x=1",
    ] {
        assert_eq!(retarget(&m, uri).code(), "bad_signature", "{uri}");
    }
}

#[test]
fn query() {
    let m = signed();
    for uri in [
        "https://peer.example/v1/federation/hello",
        "https://peer.example/v1/federation/hello?x=2",
        "https://peer.example/v1/federation/hello?x=1&y=2",
        "https://peer.example/v1/federation/hello?X=1",
    ] {
        assert_eq!(retarget(&m, uri).code(), "bad_signature", "{uri}");
    }
}

#[test]
fn body() {
    // Body alone: the digest no longer matches.
    let mut m = signed();
    m.body.push(b' ');
    assert_eq!(m.code(), "content_digest_mismatch");
    // Body and a recomputed digest: the signature covers the digest.
    let mut m = signed();
    m.body = br#"{"hello":"mallory"}"#.to_vec();
    let digest = treaty_httpsig::content_digest(&m.body);
    m.set("content-digest", &digest);
    assert_eq!(m.code(), "bad_signature");
    // Body removed entirely, digest recomputed.
    let mut m = signed();
    m.body.clear();
    let digest = treaty_httpsig::content_digest(&m.body);
    m.set("content-digest", &digest);
    assert_eq!(m.code(), "bad_signature");
}

#[test]
fn covered_header() {
    let mut m = signed();
    m.set("content-type", "text/plain");
    assert_eq!(m.code(), "bad_signature");
    // A second line changes the combined value.
    let mut m = signed();
    m.headers
        .push(("content-type".into(), "application/x-evil".into()));
    assert_eq!(m.code(), "bad_signature");
}

#[test]
fn uncovered_header_changes_are_harmless() {
    let mut m = signed();
    m.set("user-agent", "something");
    m.set("x-forwarded-for", "192.0.2.1");
    assert_eq!(m.code(), "ok");
    // Leading and trailing white space in a covered field is not part of its value
    // (RFC 9421 section 2.1).
    let mut m = signed();
    m.set("content-type", "  application/json\t");
    assert_eq!(m.code(), "ok");
}
