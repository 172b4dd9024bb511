//! The client side of TLS, shared by every command that makes HTTP requests.
//!
//! Server certificates are checked against the Mozilla roots (webpki-roots) plus any CA
//! certificates named by `--ca-file` / `TREATY_CA_FILE`. A client certificate and key
//! (`--client-cert` / `--client-key`, `TREATY_CLIENT_CERT` / `TREATY_CLIENT_KEY`) are
//! presented to nodes that ask for one (mTLS). The crypto provider is ring.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable naming extra trusted CA certificates (PEM).
pub(crate) const ENV_CA_FILE: &str = "TREATY_CA_FILE";
/// Environment variable naming the client certificate chain (PEM).
pub(crate) const ENV_CLIENT_CERT: &str = "TREATY_CLIENT_CERT";
/// Environment variable naming the client private key (PEM).
pub(crate) const ENV_CLIENT_KEY: &str = "TREATY_CLIENT_KEY";

/// TLS settings of a client command.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct TlsArgs {
    /// Extra CA certificates (PEM, one or more) trusted besides the public roots.
    #[arg(long, env = ENV_CA_FILE)]
    pub(crate) ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) for nodes that require mTLS.
    #[arg(long, env = ENV_CLIENT_CERT, requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert.
    #[arg(long, env = ENV_CLIENT_KEY, requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The settings from the environment alone (for commands without TLS flags).
    pub(crate) fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            ca_file: var(ENV_CA_FILE),
            client_cert: var(ENV_CLIENT_CERT),
            client_key: var(ENV_CLIENT_KEY),
        }
    }

    /// A `reqwest` client builder carrying this TLS configuration.
    ///
    /// # Errors
    /// Unreadable or invalid certificate or key files.
    pub(crate) fn http_builder(&self) -> Result<reqwest::ClientBuilder> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(client_config(self)?))
    }
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// An unreadable file, bad PEM, or a file without certificates.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
///
/// # Errors
/// An unreadable file or no key in it.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading a PEM private key from {}", path.display()))
}

/// The rustls client configuration for `args` (ring provider, webpki roots plus extra CAs,
/// optional client certificate), offering HTTP/2 and HTTP/1.1.
///
/// # Errors
/// Unreadable or invalid files.
pub(crate) fn client_config(args: &TlsArgs) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &args.ca_file {
        for cert in read_certs(path)? {
            roots
                .add(cert)
                .with_context(|| format!("adding a CA certificate from {}", path.display()))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    let mut config = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .context("the client certificate does not match its key")?,
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("--client-cert and --client-key must be given together"),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
