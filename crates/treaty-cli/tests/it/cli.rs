//! The `treaty` CLI against real nodes: init, client verbs, offline verify, config precedence.

use crate::harness::{ADMIN_TOKEN, TestNode, cli};

#[test]
fn init_creates_key_config_and_shows_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    let (code, out, err) = cli(
        &[
            "init",
            "--data-dir",
            d,
            "--public-url",
            "https://reg.example/t",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("origin:       reg.example/t"), "{out}");
    let token = out
        .lines()
        .find_map(|l| l.split("stored): ").nth(1))
        .expect("token line")
        .trim()
        .to_owned();
    assert!(token.starts_with("trt_") && token.len() == 68, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("ledger.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(data.join("treaty.toml").exists());
    assert!(data.join("treaty.db").exists());
    // Second init: nothing new, and no token shown again.
    let (code, out, _) = cli(
        &[
            "init",
            "--data-dir",
            d,
            "--public-url",
            "https://reg.example/t",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("already initialized") && !out.contains("trt_"),
        "{out}"
    );
}

#[test]
fn flags_beat_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("treaty.toml"),
        "public_url = \"https://file.example\"\n",
    )
    .unwrap();
    let d = data.to_str().unwrap();
    let origin = |args: &[&str], env: &[(&str, &str)]| {
        let fresh = tempfile::tempdir().unwrap();
        let copy = fresh.path().join("d");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(data.join("treaty.toml"), copy.join("treaty.toml")).unwrap();
        let c = copy.to_str().unwrap().to_owned();
        let mut full = vec!["init", "--data-dir", &c];
        full.extend_from_slice(args);
        let (code, out, err) = cli(&full, env);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .find_map(|l| l.strip_prefix("origin:       ").map(str::to_owned))
            .unwrap()
    };
    let _ = d;
    assert_eq!(origin(&[], &[]), "file.example");
    assert_eq!(
        origin(&[], &[("TREATY_PUBLIC_URL", "https://env.example")]),
        "env.example"
    );
    assert_eq!(
        origin(
            &["--public-url", "https://flag.example"],
            &[("TREATY_PUBLIC_URL", "https://env.example")]
        ),
        "flag.example"
    );
}

#[tokio::test]
async fn client_verbs_and_offline_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let env = [
        ("TREATY_URL", node.url.as_str()),
        ("TREATY_TOKEN", ADMIN_TOKEN),
    ];
    let run = |args: &[&str]| cli(args, &env);

    let (code, out, err) = run(&[
        "record",
        "put",
        "receipt",
        "r1",
        "--data",
        r#"{"amount": 5}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let ack: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ack["version"], 1);

    let (code, out, _) = run(&["record", "get", "receipt", "r1"]);
    assert_eq!(code, 0);
    let record_path = dir.path().join("record.json");
    std::fs::write(&record_path, &out).unwrap();
    let (code, receipt, _) = run(&["record", "receipt", "receipt", "r1"]);
    assert_eq!(code, 0);
    let receipt_path = dir.path().join("receipt.txt");
    std::fs::write(&receipt_path, &receipt).unwrap();
    let (_, key) = node.get_text("/v1/log/verifier-key").await;
    let key_path = dir.path().join("key.txt");
    std::fs::write(&key_path, &key).unwrap();

    let (code, out, _) = run(&[
        "verify",
        "--receipt",
        receipt_path.to_str().unwrap(),
        "--record",
        record_path.to_str().unwrap(),
        "--key",
        key_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("VERIFIED: receipt/r1 version 1 is entry 0"),
        "{out}"
    );
    // The key may also be given inline.
    let (code, _, _) = run(&[
        "verify",
        "--receipt",
        receipt_path.to_str().unwrap(),
        "--record",
        record_path.to_str().unwrap(),
        "--key",
        key.trim(),
    ]);
    assert_eq!(code, 0);
    // A tampered record fails with a verdict and exit status 1.
    let tampered = std::fs::read_to_string(&record_path)
        .unwrap()
        .replace("\"amount\": 5", "\"amount\": 6");
    assert_ne!(tampered, std::fs::read_to_string(&record_path).unwrap());
    let tampered_path = dir.path().join("tampered.json");
    std::fs::write(&tampered_path, tampered).unwrap();
    let (code, out, _) = run(&[
        "verify",
        "--receipt",
        receipt_path.to_str().unwrap(),
        "--record",
        tampered_path.to_str().unwrap(),
        "--key",
        key_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.starts_with("NOT VERIFIED:"), "{out}");
    // A receipt checked against another ledger's key fails too.
    let other = "other.example+5d5f1b14+AQ35j6cd9Pu3/mu1sDzvn9lBMv2rdlLFbg3wRh2AiUO8";
    let (code, out, _) = run(&[
        "verify",
        "--receipt",
        receipt_path.to_str().unwrap(),
        "--record",
        record_path.to_str().unwrap(),
        "--key",
        other,
    ]);
    assert_eq!(code, 1, "{out}");

    let (code, out, _) = run(&["checkpoint"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("{}\n1\n", node.addr)), "{out}");

    for k in ["r2", "r3"] {
        assert_eq!(run(&["record", "put", "receipt", k, "--data", "{}"]).0, 0);
    }
    let (code, out, _) = run(&["record", "delete", "receipt", "r2"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["record", "list", "receipt", "--limit", "1"]);
    assert_eq!(code, 0);
    let keys: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys, ["r1", "r3", "r2"]);

    let (code, _, _) = run(&[
        "collection",
        "create",
        "audit",
        "--description",
        "audit trail",
    ]);
    assert_eq!(code, 0);
    let (code, out, _) = run(&["token", "issue", "--name", "bot", "--collections", "audit"]);
    assert_eq!(code, 0);
    let issued: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bot = issued["token"].as_str().unwrap();
    let (code, _, err) = cli(
        &["record", "put", "audit", "x", "--data", "{}"],
        &[("TREATY_URL", &node.url), ("TREATY_TOKEN", bot)],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &["record", "put", "receipt", "x", "--data", "{}"],
        &[("TREATY_URL", &node.url), ("TREATY_TOKEN", bot)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("403 token_scope"), "{err}");
    let (code, _, _) = run(&["token", "revoke", issued["id"].as_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, out, _) = run(&["token", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("revoked_ms"));
    // Errors are reported with the problem's code and a non-zero status.
    let (code, _, err) = run(&["record", "get", "nope", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("404 unknown_collection"), "{err}");
}

#[tokio::test]
async fn schema_discovery_card_and_key_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path());
    let env = [
        ("TREATY_URL", node.url.as_str()),
        ("TREATY_TOKEN", ADMIN_TOKEN),
    ];
    let run = |args: &[&str]| cli(args, &env);

    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, r#"{"type":"object","required":["amount"]}"#).unwrap();
    let (code, out, err) = run(&[
        "collection",
        "set-schema",
        "receipt",
        "--schema-version",
        "2.0.0",
        "--file",
        schema_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"version\": \"2.0.0\""), "{out}");
    let (code, out, _) = run(&["collection", "get-schema", "receipt"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"required\""), "{out}");
    let (code, _, err) = run(&["record", "put", "receipt", "r1", "--data", "{}"]);
    assert_eq!(code, 1);
    assert!(err.contains("422 schema_violation"), "{err}");
    assert_eq!(run(&["collection", "delete-schema", "receipt"]).0, 0);

    let card = r#"{"name":"Translator","description":"English to French","url":"https://a.example","version":"1","skills":[{"id":"translate","name":"Translate","description":"text","tags":["fr"]}]}"#;
    assert_eq!(
        run(&["record", "put", "agent-card", "t1", "--data", card]).0,
        0
    );
    let (code, out, err) = run(&["discover", "french", "--tag", "fr"]);
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["key"], "t1");
    let (code, out, _) = run(&["resolve", "agent-card", "t1"]);
    assert_eq!(code, 0);
    assert!(out.contains("c2sp.org/tlog-proof@v1"), "{out}");

    let (code, out, _) = run(&["card", "show"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let old_kid = {
        let (_, jwks) = node.get_json("/.well-known/registry-jwks.json").await;
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    };
    assert_eq!(shown["base_url"].as_str(), Some(node.url.as_str()));
    let (code, out, _) = run(&["keys", "rotate"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["keys", "list"]);
    assert_eq!(code, 0);
    let jwks: serde_json::Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses.contains(&(old_kid, "retired".to_owned())),
        "{statuses:?}"
    );
    let (code, out, _) = run(&["card", "verify", &node.url]);
    assert_eq!(code, 0, "{out}");
}
