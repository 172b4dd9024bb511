//! `treaty certs`: a development CA and node certificates for TLS and mTLS (rcgen).
//!
//! These are for development and tests: keys are written unencrypted (mode 0600) and the
//! certificates use rcgen's long default validity. Existing files are never overwritten.

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The CA certificate's file name.
pub(crate) const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file name.
pub(crate) const CA_KEY_FILE: &str = "ca.key";
/// The CA's common name when none is given.
const DEFAULT_CA_NAME: &str = "Treaty development CA";

/// `treaty certs ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CertsCmd {
    /// Create a development CA: <out-dir>/ca.pem and <out-dir>/ca.key (mode 0600).
    Ca {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = DEFAULT_CA_NAME)]
        name: String,
    },
    /// Issue a node certificate (serverAuth and clientAuth) signed by a development CA:
    /// <out-dir>/<name>.pem (leaf then CA) and <out-dir>/<name>.key (mode 0600).
    Node {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// Common name and file stem.
        #[arg(long)]
        name: String,
        /// DNS names (repeatable).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// IP addresses (repeatable).
        #[arg(long = "ip")]
        ips: Vec<IpAddr>,
        /// SPIFFE ID as a URI SAN, spiffe://<trust-domain>/registry.
        #[arg(long)]
        spiffe_id: Option<String>,
    },
}

/// Runs a certs command.
pub(crate) fn run(cmd: CertsCmd) -> Result<ExitCode> {
    match cmd {
        CertsCmd::Ca { out_dir, name } => ca(&out_dir, &name),
        CertsCmd::Node {
            ca_dir,
            out_dir,
            name,
            dns,
            ips,
            spiffe_id,
        } => node(&ca_dir, &out_dir, &name, &dns, &ips, spiffe_id.as_deref()),
    }
}

/// `sha256:<hex>` over a certificate's DER.
fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// Creates `path` (refusing to replace an existing file) with `mode` and writes `data`.
fn create_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {} (existing files are kept)", path.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Fails if any of `paths` exists, before anything is written.
fn refuse_existing(paths: &[&Path]) -> Result<()> {
    for p in paths {
        if p.exists() {
            bail!("{} exists; not overwriting it", p.display());
        }
    }
    Ok(())
}

fn ca(out_dir: &Path, name: &str) -> Result<ExitCode> {
    let cert_path = out_dir.join(CA_CERT_FILE);
    let key_path = out_dir.join(CA_KEY_FILE);
    refuse_existing(&[&cert_path, &key_path])?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let key = KeyPair::generate().context("generating the CA key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).context("signing the CA")?;
    create_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    create_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    println!("ca fingerprint: {}", fingerprint(cert.der()));
    Ok(ExitCode::SUCCESS)
}

fn node(
    ca_dir: &Path,
    out_dir: &Path,
    name: &str,
    dns: &[String],
    ips: &[IpAddr],
    spiffe_id: Option<&str>,
) -> Result<ExitCode> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("--name {name:?}: use a plain file stem");
    }
    if dns.is_empty() && ips.is_empty() {
        bail!("give at least one --dns or --ip");
    }
    if let Some(id) = spiffe_id {
        let rest = id
            .strip_prefix("spiffe://")
            .context("--spiffe-id must start with spiffe://")?;
        let (domain, path) = rest.split_once('/').unwrap_or((rest, ""));
        if domain.is_empty() || path.is_empty() {
            bail!("--spiffe-id {id:?}: expected spiffe://<trust-domain>/<path>");
        }
    }
    let cert_path = out_dir.join(format!("{name}.pem"));
    let key_path = out_dir.join(format!("{name}.key"));
    refuse_existing(&[&cert_path, &key_path])?;

    let ca_cert_pem = std::fs::read_to_string(ca_dir.join(CA_CERT_FILE))
        .with_context(|| format!("reading {}", ca_dir.join(CA_CERT_FILE).display()))?;
    let ca_key_pem = std::fs::read_to_string(ca_dir.join(CA_KEY_FILE))
        .with_context(|| format!("reading {}", ca_dir.join(CA_KEY_FILE).display()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing the CA key")?;
    let ca_der = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
        .context("parsing the CA certificate")?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).context("loading the CA")?;

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let mut sans = Vec::new();
    for d in dns {
        sans.push(SanType::DnsName(
            d.as_str()
                .try_into()
                .with_context(|| format!("--dns {d:?}"))?,
        ));
    }
    sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    if let Some(id) = spiffe_id {
        sans.push(SanType::URI(
            id.try_into()
                .with_context(|| format!("--spiffe-id {id:?}"))?,
        ));
    }
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().context("generating the node key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the node certificate")?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    create_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    // The chain: the leaf, then the CA (servers send both).
    let chain = format!("{}{}", cert.pem(), ca_cert_pem.trim_end().to_owned() + "\n");
    create_new(&cert_path, chain.as_bytes(), 0o644)?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    println!("ca fingerprint: {}", fingerprint(&ca_der));
    Ok(ExitCode::SUCCESS)
}
