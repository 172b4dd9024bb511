//! Real `treaty` processes on 127.0.0.1 for integration tests.

use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The operator token every test node uses.
pub const ADMIN_TOKEN: &str = "test-operator-token-0123456789";

/// How long a node may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the `treaty` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_treaty"))
}

/// A running node process.
pub struct TestNode {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub addr: String,
    pub url: String,
    pub http: reqwest::Client,
    extra_env: Vec<(String, String)>,
    extra_args: Vec<String>,
    ca_file: Option<PathBuf>,
}

/// A plain reqwest client (the ring provider; HTTP only in practice).
pub fn plain_http() -> reqwest::Client {
    http_client(None, None)
}

/// A reqwest client trusting the CA certificates in `ca_file` and presenting `identity`
/// (certificate chain, key) when given.
pub fn http_client(ca_file: Option<&Path>, identity: Option<(&Path, &Path)>) -> reqwest::Client {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca_file {
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => b
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

impl TestNode {
    /// Starts a node on a free port with a fresh data directory inside `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts a node with extra environment variables.
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        let extra_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let data_dir = dir.join("node");
        let (child, addr, _) =
            spawn(&data_dir, "127.0.0.1:0", &extra_env, &[]).expect("node starts");
        Self {
            child: Some(child),
            data_dir,
            url: format!("http://{addr}"),
            addr,
            http: plain_http(),
            extra_env,
            extra_args: Vec::new(),
            ca_file: None,
        }
    }

    /// Starts a node with extra `serve` arguments (e.g. `--tls-cert`). When the node serves
    /// HTTPS, `url` is `https://...` and `http` trusts `ca_file`.
    pub fn start_args(dir: &Path, args: &[&str], ca_file: Option<&Path>) -> Self {
        let extra_args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let data_dir = dir.join("node");
        let (child, addr, scheme) =
            spawn(&data_dir, "127.0.0.1:0", &[], &extra_args).expect("node starts");
        Self {
            child: Some(child),
            data_dir,
            url: format!("{scheme}://{addr}"),
            addr,
            http: http_client(ca_file, None),
            extra_env: Vec::new(),
            extra_args,
            ca_file: ca_file.map(Path::to_owned),
        }
    }

    /// Starts a plain-HTTP node with extra environment variables and `serve` arguments.
    pub fn start_full(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let extra_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let extra_args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let data_dir = dir.join("node");
        let (child, addr, _) =
            spawn(&data_dir, "127.0.0.1:0", &extra_env, &extra_args).expect("node starts");
        Self {
            child: Some(child),
            data_dir,
            url: format!("http://{addr}"),
            addr,
            http: plain_http(),
            extra_env,
            extra_args,
            ca_file: None,
        }
    }

    /// Kills the process with SIGKILL (no shutdown, no flush) and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill");
            c.wait().expect("wait");
        }
    }

    /// Asks the node to shut down (SIGTERM) and waits, at most `deadline`, for it to exit;
    /// answers its exit status, or `None` if it was still running at the deadline (then it
    /// is killed).
    pub fn terminate(&mut self, deadline: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        let until = std::time::Instant::now() + deadline;
        // Waiting for a condition (the process has exited), checked every few ms.
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= until {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Starts the node again (after [`TestNode::terminate`] or [`TestNode::kill9`]) on the
    /// same port and data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the node is still running");
        self.restart();
    }

    /// Stops the node (SIGKILL) and starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        let (child, addr, _) = spawn(
            &self.data_dir,
            &self.addr,
            &self.extra_env,
            &self.extra_args,
        )
        .expect("restart");
        assert_eq!(addr, self.addr);
        self.child = Some(child);
        // Pooled keep-alive connections went to the dead process.
        self.http = http_client(self.ca_file.as_deref(), None);
    }

    pub async fn put(&self, collection: &str, key: &str, body: &Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/records/{collection}/{key}"),
            Some(body),
            Some(ADMIN_TOKEN),
        )
        .await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, None).await
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("send");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    /// Any call; answers status and JSON (problem bodies included).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await.expect("text");
        if status >= 400 {
            assert_eq!(ctype, "application/problem+json", "{status} {text}");
        }
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns `treaty serve` and waits for its listening line; answers the child, the bound
/// address and the scheme (`http` or `https`).
fn spawn(
    data_dir: &Path,
    listen: &str,
    env: &[(String, String)],
    args: &[String],
) -> Result<(Child, String, &'static str), String> {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(listen)
        .args(args)
        .env("TREATY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TREATY_BATCH_MAX_WAIT_MS", "5")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // Keep draining so the child never blocks on a full pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().map_err(|e| e.to_string())?;
            return Err(format!("node did not start ({status})"));
        }
    };
    let (scheme, rest) = if let Some(r) = line.strip_prefix("treaty listening on http://") {
        ("http", Some(r))
    } else {
        ("https", line.strip_prefix("treaty listening on https://"))
    };
    let addr = rest
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| format!("unexpected first line {line:?}"))?
        .to_owned();
    Ok((child, addr, scheme))
}

/// Runs the CLI to completion; answers (exit code, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("TREATY_ADMIN_TOKEN")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run treaty");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A valid agent card body.
pub fn agent_card(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "description": format!("{name} translates text"),
        "url": format!("https://agents.example/{name}"),
        "version": "1.0.0",
        "skills": [{"id": "translate", "name": "Translate", "description": "EN to FR", "tags": ["translation", "fr"]}]
    })
}

/// Decodes standard base64.
pub fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// Decodes a base64 hash.
pub fn hash(v: &Value) -> [u8; 32] {
    unb64(v.as_str().expect("string"))
        .try_into()
        .expect("32 bytes")
}
