//! Prints the fields Treaty adds to a sample federation request, and the signature base the
//! receiver rebuilds: `cargo run -p treaty-httpsig --example sample_headers`.
//!
//! The key is a fixed test seed and the nonce a fixed string, so the output is the same on
//! every run (Ed25519 is deterministic).

use treaty_httpsig::{
    HttpSigError, RequestView, Signer, SignerConfig, SigningKey, TargetUri, parse_signature,
};

fn main() -> Result<(), HttpSigError> {
    let signer = Signer::new(
        SigningKey::from_bytes(&[1; 32]),
        "node-a",
        SignerConfig::treaty_v1(),
    )?;
    let target = TargetUri::parse("https://peer.example/v1/federation/hello")?;
    let headers = [("content-type", "application/json")];
    let body = br#"{"hello":"world"}"#;
    let request = RequestView {
        method: "POST",
        target: &target,
        headers: &headers,
        body,
    };
    let signed = signer.sign(&request, 1_700_000_000, "kJ3sW1b3Xc9aQe0vT7mN2w")?;

    let query = target.query().map(|q| format!("?{q}")).unwrap_or_default();
    println!("POST {}{query} HTTP/1.1", target.path());
    println!("host: {}", target.authority());
    for (name, value) in headers.iter().copied().chain(signed.pairs()) {
        println!("{name}: {value}");
    }
    println!("\n{}\n", String::from_utf8_lossy(body));

    let mut received = headers.to_vec();
    received.extend(signed.pairs());
    let request = RequestView {
        headers: &received,
        ..request
    };
    let parsed = parse_signature(&request, "treaty")?;
    println!(
        "signature base:\n{}",
        parsed.input().signature_base(&request)?
    );
    Ok(())
}
