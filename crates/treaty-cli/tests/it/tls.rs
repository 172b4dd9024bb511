//! TLS and mTLS end to end: `treaty certs` makes a CA and node certificates, a node serves
//! HTTPS, and the CLI reaches it with --ca-file / TREATY_CA_FILE and client certificates.

use crate::harness::{ADMIN_TOKEN, TestNode, agent_card, cli, http_client};
use std::path::{Path, PathBuf};

/// The files of one development PKI.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `treaty certs ca` + `treaty certs node` for 127.0.0.1 under `dir/<name>`.
fn make_pki(dir: &Path, name: &str) -> Pki {
    let ca_dir = dir.join(format!("{name}-ca"));
    let out = dir.join(format!("{name}-certs"));
    let (code, stdout, err) = cli(&["certs", "ca", "--out-dir", s(&ca_dir)], &[]);
    assert_eq!(code, 0, "{err}");
    let fp = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ca fingerprint: sha256:"))
        .expect("fingerprint line");
    assert_eq!(fp.len(), 64, "{stdout}");
    let (code, _, err) = cli(
        &[
            "certs",
            "node",
            "--ca-dir",
            s(&ca_dir),
            "--out-dir",
            s(&out),
            "--name",
            name,
            "--ip",
            "127.0.0.1",
            "--dns",
            "localhost",
            "--spiffe-id",
            "spiffe://test.example/registry",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    Pki {
        ca: ca_dir.join("ca.pem"),
        cert: out.join(format!("{name}.pem")),
        key: out.join(format!("{name}.key")),
    }
}

fn tls_node(dir: &Path, pki: &Pki, extra: &[&str]) -> TestNode {
    let mut args = vec!["--tls-cert", s(&pki.cert), "--tls-key", s(&pki.key)];
    args.extend_from_slice(extra);
    TestNode::start_args(dir, &args, Some(&pki.ca))
}

fn put_args<'a>(node: &'a TestNode, key: &'a str, body: &'a str) -> Vec<&'a str> {
    vec![
        "record",
        "put",
        "--url",
        &node.url,
        "--token",
        ADMIN_TOKEN,
        "agent-card",
        key,
        "--data",
        body,
    ]
}

#[test]
fn certs_never_overwrite_and_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "n");
    let ca_dir = pki.ca.parent().unwrap();
    let before = std::fs::read(&pki.ca).unwrap();
    let (code, _, err) = cli(&["certs", "ca", "--out-dir", s(ca_dir)], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&pki.ca).unwrap(), before);
    let (code, _, err) = cli(
        &[
            "certs",
            "node",
            "--ca-dir",
            s(ca_dir),
            "--out-dir",
            s(pki.cert.parent().unwrap()),
            "--name",
            "n",
            "--ip",
            "127.0.0.1",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for key in [ca_dir.join("ca.key"), pki.key.clone()] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
    }
}

#[tokio::test]
async fn records_over_https_need_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d, "node");
    let node = tls_node(&d.join("n"), &pki, &[]);
    assert!(node.url.starts_with("https://127.0.0.1:"), "{}", node.url);
    // The announced URL defaults to https.
    let (status, card) = node.get_json("/.well-known/registry-card.json").await;
    assert_eq!(status, 200, "{card}");
    assert!(card.to_string().contains(&node.url), "{card}");

    let body = agent_card("t1").to_string();
    let mut args = put_args(&node, "translator", &body);
    args.extend_from_slice(&["--ca-file", s(&pki.ca)]);
    let (code, out, err) = cli(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"version\": 1"), "{out}");
    let (code, out, err) = cli(
        &[
            "record",
            "get",
            "--url",
            &node.url,
            "--ca-file",
            s(&pki.ca),
            "agent-card",
            "translator",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("t1"), "{out}");
    // The same CA from the environment.
    let (code, _, err) = cli(
        &[
            "record",
            "get",
            "--url",
            &node.url,
            "agent-card",
            "translator",
        ],
        &[("TREATY_CA_FILE", s(&pki.ca))],
    );
    assert_eq!(code, 0, "{err}");
    // Without the CA the node's certificate is not trusted.
    let (code, _, err) = cli(
        &[
            "record",
            "get",
            "--url",
            &node.url,
            "agent-card",
            "translator",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // Plain HTTP to the TLS port does not work either.
    let plain = node.url.replacen("https://", "http://", 1);
    let (code, _, _) = cli(
        &["record", "get", "--url", &plain, "agent-card", "translator"],
        &[],
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn required_client_certificates_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d, "node");
    let other = make_pki(d, "stranger");
    let node = tls_node(
        &d.join("n"),
        &pki,
        &[
            "--tls-client-auth",
            "required",
            "--tls-client-ca",
            s(&pki.ca),
        ],
    );
    let get = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec![
            "record",
            "get",
            "--url",
            &node.url,
            "--ca-file",
            s(&pki.ca),
            "agent-card",
            "none",
        ];
        args.extend_from_slice(extra);
        cli(&args, env)
    };
    // No client certificate: refused in the handshake.
    let (code, _, err) = get(&[], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("404"), "{err}");
    // The node's own certificate (clientAuth EKU, same CA): served (the record is absent).
    let (code, _, err) = get(
        &[],
        &["--client-cert", s(&pki.cert), "--client-key", s(&pki.key)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    let (code, out, err) = cli(
        &[
            "checkpoint",
            "--url",
            &node.url,
            "--ca-file",
            s(&pki.ca),
            "--client-cert",
            s(&pki.cert),
            "--client-key",
            s(&pki.key),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    // The same through the environment.
    let (code, _, err) = cli(
        &["checkpoint", "--url", &node.url],
        &[
            ("TREATY_CA_FILE", s(&pki.ca)),
            ("TREATY_CLIENT_CERT", s(&pki.cert)),
            ("TREATY_CLIENT_KEY", s(&pki.key)),
        ],
    );
    assert_eq!(code, 0, "{err}");
    // A certificate from another CA: refused.
    let (code, _, err) = get(
        &[],
        &[
            "--client-cert",
            s(&other.cert),
            "--client-key",
            s(&other.key),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("404"), "{err}");
    // The harness client without a certificate is refused too; with one it is served.
    assert!(
        node.http
            .get(format!("{}/healthz", node.url))
            .send()
            .await
            .is_err()
    );
    let with_cert = http_client(Some(&pki.ca), Some((&pki.cert, &pki.key)));
    let r = with_cert
        .get(format!("{}/healthz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn optional_client_certificates_admit_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d, "node");
    let other = make_pki(d, "stranger");
    let node = tls_node(
        &d.join("n"),
        &pki,
        &[
            "--tls-client-auth",
            "optional",
            "--tls-client-ca",
            s(&pki.ca),
        ],
    );
    let r = node
        .http
        .get(format!("{}/healthz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let good = http_client(Some(&pki.ca), Some((&pki.cert, &pki.key)));
    let r = good
        .get(format!("{}/healthz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A certificate that does not verify is still refused.
    let bad = http_client(Some(&pki.ca), Some((&other.cert, &other.key)));
    assert!(
        bad.get(format!("{}/healthz", node.url))
            .send()
            .await
            .is_err()
    );
}

#[test]
fn client_auth_without_a_ca_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d, "node");
    let (code, _, err) = cli(
        &[
            "serve",
            "--data-dir",
            s(&d.join("n")),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            s(&pki.cert),
            "--tls-key",
            s(&pki.key),
            "--tls-client-auth",
            "required",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("client_ca"), "{err}");
}

#[tokio::test]
async fn anchoring_against_an_https_node() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d, "node");
    let node = tls_node(&d.join("n"), &pki, &[]);
    let p = |name: &str| d.join(name).to_str().unwrap().to_owned();
    std::fs::write(
        p("members.json"),
        serde_json::json!([
            {"participant_id": "tenant-alpha", "record_hash": "a".repeat(64), "scope": "prod",
             "nonce": "00112233445566778899aabbccddeeff"}
        ])
        .to_string(),
    )
    .unwrap();
    let env = [("TREATY_CA_FILE", s(&pki.ca))];
    let (code, _, err) = cli(
        &[
            "anchor",
            "build",
            "--input",
            &p("members.json"),
            "--output",
            &p("manifest.json"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // Without the CA the calendar is not trusted: nothing is written.
    let (code, _, _) = cli(
        &[
            "anchor",
            "stamp",
            "--manifest",
            &p("manifest.json"),
            "--output",
            &p("untrusted.json"),
            "--calendar",
            &node.url,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(!Path::new(&p("untrusted.json")).exists());
    let (code, _, err) = cli(
        &[
            "anchor",
            "stamp",
            "--manifest",
            &p("manifest.json"),
            "--output",
            &p("anchored.json"),
            "--calendar",
            &node.url,
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &["anchor", "upgrade", "--manifest", &p("anchored.json")],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let (status, key) = node.get_text("/v1/log/verifier-key").await;
    assert_eq!(status, 200);
    std::fs::write(p("k.txt"), key).unwrap();
    let (code, out, err) = cli(
        &[
            "anchor",
            "verify",
            "--manifest",
            &p("anchored.json"),
            "--participant-id",
            "tenant-alpha",
            "--record-hash",
            &"a".repeat(64),
            "--scope",
            "prod",
            "--nonce",
            "00112233445566778899aabbccddeeff",
            "--node-key",
            &p("k.txt"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("VERIFIED") && !out.contains("NOT VERIFIED"),
        "{out}"
    );
}
