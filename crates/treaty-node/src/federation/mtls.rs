//! Binding a mutual-TLS client certificate to the peer whose signature a request carries.
//!
//! rustls has already checked the chain against `tls.client_ca` when a request gets here.
//! What it cannot know is *which peer* the certificate belongs to. The peer's verified
//! registry card says it (`mtls.spiffe_id`, `mtls.ca_fingerprint`), so a request whose
//! signature names peer P and whose certificate is P's must agree with P's card:
//!
//! - the leaf's SPIFFE-style URI SAN (`spiffe://<trust-domain>/registry`) equals the card's
//!   `mtls.spiffe_id`;
//! - when the card pins `mtls.ca_fingerprint`, the CA that issued the chain (the
//!   `tls.client_ca` certificate whose subject is the top certificate's issuer) has that
//!   SHA-256 fingerprint.
//!
//! A certificate presented by a peer whose card declares no mTLS identity is refused too:
//! an identity the peer never claimed cannot be bound to it.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

/// A CA certificate from `tls.client_ca`: its subject (DER) and fingerprint.
#[derive(Debug, Clone)]
pub struct TrustedCa {
    subject: Vec<u8>,
    fingerprint: String,
}

/// `sha256:<hex>` of DER bytes, the form cards and `treaty certs ca` use.
#[must_use]
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// Loads the client CA bundle.
///
/// # Errors
/// Unreadable or unparsable certificates, as text.
pub fn load_cas(path: &Path) -> Result<Vec<TrustedCa>, String> {
    let mut out = Vec::new();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())?;
    for cert in certs {
        let cert = cert.map_err(|e| e.to_string())?;
        let (_, parsed) = X509Certificate::from_der(cert.as_ref())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(TrustedCa {
            subject: parsed.subject().as_raw().to_vec(),
            fingerprint: fingerprint(cert.as_ref()),
        });
    }
    Ok(out)
}

/// What a verified client chain says about its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// The leaf's `spiffe://` URI SAN, if it has exactly one.
    pub spiffe_id: Option<String>,
    /// The fingerprint of the configured CA that issued the chain, if found.
    pub ca_fingerprint: Option<String>,
}

/// Reads the identity from a chain (leaf first) verified against `cas`.
#[must_use]
pub fn identity(chain: &[Vec<u8>], cas: &[TrustedCa]) -> CertIdentity {
    let mut id = CertIdentity::default();
    let Some(leaf) = chain.first() else {
        return id;
    };
    if let Ok((_, cert)) = X509Certificate::from_der(leaf) {
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            let mut uris = san.value.general_names.iter().filter_map(|n| match n {
                GeneralName::URI(u) if u.starts_with("spiffe://") => Some(*u),
                _ => None,
            });
            // SPIFFE X.509-SVID: exactly one SPIFFE ID per certificate.
            if let (Some(u), None) = (uris.next(), uris.next()) {
                id.spiffe_id = Some(u.to_owned());
            }
        }
    }
    if let Some(top) = chain.last() {
        if let Ok((_, cert)) = X509Certificate::from_der(top) {
            let issuer = cert.issuer().as_raw();
            id.ca_fingerprint = cas
                .iter()
                .find(|ca| ca.subject == issuer)
                .map(|ca| ca.fingerprint.clone());
        }
    }
    id
}

/// Checks `presented` against the peer card's `mtls` block.
///
/// # Errors
/// `(code, detail)`: `mtls_identity_undeclared`, `mtls_spiffe_mismatch` or
/// `mtls_ca_mismatch`.
pub fn check_binding(
    presented: &CertIdentity,
    declared: Option<&treaty_card::Mtls>,
) -> Result<(), (&'static str, String)> {
    let Some(declared) = declared else {
        return Err((
            "mtls_identity_undeclared",
            "the client certificate belongs to no identity the peer's card declares".into(),
        ));
    };
    if presented.spiffe_id.as_deref() != Some(declared.spiffe_id.as_str()) {
        return Err((
            "mtls_spiffe_mismatch",
            format!(
                "the client certificate's SPIFFE ID is {:?}; the peer's card declares {:?}",
                presented.spiffe_id, declared.spiffe_id
            ),
        ));
    }
    if let Some(pinned) = &declared.ca_fingerprint {
        if presented.ca_fingerprint.as_deref() != Some(pinned.as_str()) {
            return Err((
                "mtls_ca_mismatch",
                format!(
                    "the client certificate was issued by CA {:?}; the peer's card pins {pinned}",
                    presented.ca_fingerprint
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtls(spiffe: &str, ca: Option<&str>) -> treaty_card::Mtls {
        treaty_card::Mtls {
            spiffe_id: spiffe.into(),
            ca_fingerprint: ca.map(Into::into),
        }
    }

    #[test]
    fn binding_needs_the_declared_spiffe_id_and_pinned_ca() {
        let presented = CertIdentity {
            spiffe_id: Some("spiffe://a.example/registry".into()),
            ca_fingerprint: Some("sha256:aa".into()),
        };
        assert!(
            check_binding(&presented, Some(&mtls("spiffe://a.example/registry", None))).is_ok()
        );
        assert!(
            check_binding(
                &presented,
                Some(&mtls("spiffe://a.example/registry", Some("sha256:aa")))
            )
            .is_ok()
        );
        let code =
            |d: Option<&treaty_card::Mtls>| check_binding(&presented, d).expect_err("must fail").0;
        assert_eq!(code(None), "mtls_identity_undeclared");
        assert_eq!(
            code(Some(&mtls("spiffe://b.example/registry", None))),
            "mtls_spiffe_mismatch"
        );
        assert_eq!(
            code(Some(&mtls(
                "spiffe://a.example/registry",
                Some("sha256:bb")
            ))),
            "mtls_ca_mismatch"
        );
    }

    #[test]
    fn identity_reads_the_spiffe_san_and_issuing_ca() {
        use rcgen::{CertificateParams, IsCa, Issuer, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("ok");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ok");
        ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ok");
        let issuer = Issuer::from_ca_cert_der(ca.der(), ca_key).expect("ok");
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("ok");
        leaf_params.subject_alt_names.push(SanType::URI(
            "spiffe://a.example/registry".try_into().expect("ok"),
        ));
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().expect("ok"), &issuer)
            .expect("ok");

        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca.pem()).expect("ok");
        let cas = load_cas(&path).expect("ok");
        let ca_der = ca.der().to_vec();
        let want = CertIdentity {
            spiffe_id: Some("spiffe://a.example/registry".into()),
            ca_fingerprint: Some(fingerprint(&ca_der)),
        };
        // With or without the CA at the end of the chain (node certificate files carry it).
        assert_eq!(identity(&[leaf.der().to_vec()], &cas), want);
        assert_eq!(identity(&[leaf.der().to_vec(), ca_der.clone()], &cas), want);
        // Another CA's bundle: the SPIFFE ID is read, no CA is recognized.
        let other_key = KeyPair::generate().expect("ok");
        let mut other = CertificateParams::new(Vec::<String>::new()).expect("ok");
        other.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        other
            .distinguished_name
            .push(rcgen::DnType::CommonName, "other CA");
        let other = other.self_signed(&other_key).expect("ok");
        std::fs::write(&path, other.pem()).expect("ok");
        let other_cas = load_cas(&path).expect("ok");
        assert_eq!(
            identity(&[leaf.der().to_vec()], &other_cas).ca_fingerprint,
            None
        );
        assert_eq!(identity(&[], &cas), CertIdentity::default());
        assert_eq!(identity(&[vec![1, 2, 3]], &cas), CertIdentity::default());
    }
}
