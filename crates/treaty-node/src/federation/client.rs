//! Calls to peers: fetching registry cards and sending signed requests.
//!
//! One `reqwest` client (rustls, ring) serves every call. It never follows a redirect: a
//! card must be served by the registry it describes, and a signed request covers its
//! target URI, so a redirect could only point somewhere the signature does not name. Every
//! answer is read up to a size limit and every call has a deadline.

use crate::config::FederationSettings;
use reqwest::{Method, StatusCode, Url};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;
use treaty_httpsig::{RequestView, Signer, SignerConfig, SigningKey, TargetUri};

/// The well-known path of a registry card.
pub const CARD_PATH: &str = "/.well-known/registry-card.json";
/// The well-known path of the card keys.
pub const JWKS_PATH: &str = "/.well-known/registry-jwks.json";
/// Largest card or JWKS this node downloads.
pub const CARD_FETCH_BYTES_MAX: usize = 256 * 1024;
/// Largest answer to a signed call this node reads.
pub const PEER_ANSWER_BYTES_MAX: usize = 1024 * 1024;
/// Longest URL this node accepts for a peer.
pub const PEER_URL_BYTES_MAX: usize = 2048;

/// What went wrong calling a peer. `code` is the stable problem code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct CallError {
    /// Stable code: `peer_unreachable`, `peer_answer_too_large`, `peer_answer_invalid`, ...
    pub code: &'static str,
    /// What happened, for people.
    pub detail: String,
}

impl CallError {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// A peer's answer to a signed call.
#[derive(Debug)]
pub struct PeerAnswer {
    /// HTTP status.
    pub status: StatusCode,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
}

/// The bytes of a fetched card and JWKS, and where the card came from.
#[derive(Debug)]
pub struct FetchedCard {
    /// The card URL actually fetched.
    pub card_url: String,
    /// Card bytes.
    pub card: Vec<u8>,
    /// JWKS bytes, from the same origin's well-known path.
    pub jwks: Vec<u8>,
}

/// The client for peer calls.
#[derive(Debug, Clone)]
pub struct PeerClient {
    http: reqwest::Client,
}

/// Checks and normalizes a peer URL: `http` or `https`, a host, no user info, no query or
/// fragment. Returns it without a trailing slash.
///
/// # Errors
/// `invalid_peer_url` with the reason.
pub fn parse_peer_url(text: &str) -> Result<Url, CallError> {
    let bad = |why: &str| CallError::new("invalid_peer_url", format!("{text:?}: {why}"));
    if text.len() > PEER_URL_BYTES_MAX {
        return Err(bad("longer than PEER_URL_BYTES_MAX"));
    }
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("user information is not allowed"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query or fragment is not allowed"));
    }
    Ok(url)
}

/// `scheme://host[:port]` of a URL, the unit that card fetches may not leave.
#[must_use]
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The card URL for a registry given by base URL or by card URL.
///
/// # Errors
/// As [`parse_peer_url`].
pub fn card_url_for(text: &str) -> Result<Url, CallError> {
    let url = parse_peer_url(text.trim_end_matches('/'))?;
    if url.path() == CARD_PATH {
        return Ok(url);
    }
    let base = url.as_str().trim_end_matches('/');
    parse_peer_url(&format!("{base}{CARD_PATH}"))
}

impl PeerClient {
    /// Builds the client: Mozilla roots plus `settings.ca_file`, the client identity for
    /// mutual TLS when configured, no redirects, `settings.call_timeout_ms` per call.
    ///
    /// # Errors
    /// Unreadable PEM files or an unusable identity, as text.
    pub fn new(settings: &FederationSettings) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &settings.ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("federation.ca_file {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("federation.ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("federation.ca_file {}: {e}", path.display()))?;
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let tls = match &settings.client_identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| {
                        format!("federation client certificate {}: {e}", cert.display())
                    })?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("federation client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("federation client identity: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(settings.call_timeout_ms))
            .connect_timeout(Duration::from_millis(settings.call_timeout_ms))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }

    /// Fetches a registry card and the JWKS at the same origin. Redirects are refused,
    /// answers are limited to [`CARD_FETCH_BYTES_MAX`].
    ///
    /// # Errors
    /// `peer_unreachable`, `card_fetch_failed` (a non-200 answer, including redirects) or
    /// `card_too_large`.
    pub async fn fetch_card(&self, card_url: &Url) -> Result<FetchedCard, CallError> {
        // The JWKS sits next to the card, never where the card says.
        let base = card_url.as_str().strip_suffix(CARD_PATH).ok_or_else(|| {
            CallError::new("invalid_peer_url", format!("{card_url} is not a card URL"))
        })?;
        let jwks_url = parse_peer_url(&format!("{base}{JWKS_PATH}"))?;
        let card = self.get_limited(card_url).await?;
        let jwks = self.get_limited(&jwks_url).await?;
        Ok(FetchedCard {
            card_url: card_url.to_string(),
            card,
            jwks,
        })
    }

    async fn get_limited(&self, url: &Url) -> Result<Vec<u8>, CallError> {
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("GET {url}: {e}")))?;
        if resp.status() != StatusCode::OK {
            return Err(CallError::new(
                "card_fetch_failed",
                format!(
                    "GET {url} answered {} (redirects are not followed)",
                    resp.status()
                ),
            ));
        }
        read_limited(resp, CARD_FETCH_BYTES_MAX, "card_too_large").await
    }

    /// Sends a signed request: `method` to `url` with `body` (JSON bytes, or none), signed
    /// by `key` (`kid`) at `now_s` with a fresh random nonce.
    ///
    /// # Errors
    /// `peer_unreachable`, `peer_answer_too_large`, or a signing failure.
    pub async fn signed(
        &self,
        key: &SigningKey,
        kid: &str,
        now_s: u64,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<PeerAnswer, CallError> {
        let (status, bytes) = self
            .signed_raw(key, kid, now_s, method, url, body, PEER_ANSWER_BYTES_MAX)
            .await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(PeerAnswer { status, body })
    }

    /// [`PeerClient::signed`], answering the status and the raw body, read up to `max`
    /// bytes (a sync feed page is larger than other answers and is parsed by its own
    /// parser).
    ///
    /// # Errors
    /// `peer_unreachable`, `peer_answer_too_large`, or a signing failure.
    #[allow(clippy::too_many_arguments)]
    pub async fn signed_raw(
        &self,
        key: &SigningKey,
        kid: &str,
        now_s: u64,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        max: usize,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let target = TargetUri::parse(url)
            .map_err(|e| CallError::new("invalid_peer_url", format!("{url}: {e}")))?;
        let signer = Signer::new(key.clone(), kid, SignerConfig::treaty_v1())
            .map_err(|e| CallError::new("signing_failed", e.to_string()))?;
        let body = body.unwrap_or_default();
        let content_type = [("content-type", "application/json")];
        let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &content_type };
        let view = RequestView {
            method: method.as_str(),
            target: &target,
            headers,
            body: &body,
        };
        let nonce = nonce().map_err(|e| CallError::new("signing_failed", e))?;
        let signed = signer
            .sign(&view, now_s, &nonce)
            .map_err(|e| CallError::new("signing_failed", e.to_string()))?;
        let mut req = self.http.request(method.clone(), url);
        for (name, value) in headers.iter().copied().chain(signed.pairs()) {
            req = req.header(name, value);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("{method} {url}: {e}")))?;
        let status = resp.status();
        let bytes = read_limited(resp, max, "peer_answer_too_large").await?;
        Ok((status, bytes))
    }

    /// Fetches a peer's card only if it changed: `If-None-Match` with the ETag of the last
    /// fetch. `Ok(None)` on 304; otherwise the card and JWKS (as [`PeerClient::fetch_card`])
    /// with the new ETag.
    ///
    /// # Errors
    /// As [`PeerClient::fetch_card`].
    pub async fn fetch_card_if_changed(
        &self,
        card_url: &Url,
        etag: Option<&str>,
    ) -> Result<Option<(FetchedCard, Option<String>)>, CallError> {
        let mut req = self.http.get(card_url.clone());
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("GET {card_url}: {e}")))?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if resp.status() != StatusCode::OK {
            return Err(CallError::new(
                "card_fetch_failed",
                format!(
                    "GET {card_url} answered {} (redirects are not followed)",
                    resp.status()
                ),
            ));
        }
        let new_etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let card = read_limited(resp, CARD_FETCH_BYTES_MAX, "card_too_large").await?;
        let base = card_url.as_str().strip_suffix(CARD_PATH).ok_or_else(|| {
            CallError::new("invalid_peer_url", format!("{card_url} is not a card URL"))
        })?;
        let jwks_url = parse_peer_url(&format!("{base}{JWKS_PATH}"))?;
        let jwks = self.get_limited(&jwks_url).await?;
        Ok(Some((
            FetchedCard {
                card_url: card_url.to_string(),
                card,
                jwks,
            },
            new_etag,
        )))
    }

    /// A plain GET with extra headers and its own timeout (cascaded resolves), answering
    /// the status and JSON body (read up to [`PEER_ANSWER_BYTES_MAX`]).
    ///
    /// # Errors
    /// `peer_unreachable` (including the timeout) or `peer_answer_too_large`.
    pub async fn get_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<PeerAnswer, CallError> {
        let mut req = self.http.get(url).timeout(timeout);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("GET {url}: {e}")))?;
        let status = resp.status();
        let bytes = read_limited(resp, PEER_ANSWER_BYTES_MAX, "peer_answer_too_large").await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(PeerAnswer { status, body })
    }

    /// An unsigned `GET` of a small text resource (a checkpoint), within `timeout`.
    ///
    /// # Errors
    /// `peer_unreachable` (including the timeout) or `peer_answer_too_large`.
    pub async fn get_text(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let resp = self
            .http
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("GET {url}: {e}")))?;
        let status = resp.status();
        let bytes = read_limited(resp, PEER_ANSWER_BYTES_MAX, "peer_answer_too_large").await?;
        Ok((status, bytes))
    }

    /// An unsigned `POST` of a text body (the C2SP witness API authenticates the
    /// checkpoint, not the caller), within `timeout`; the status and body read up to `max`
    /// bytes.
    ///
    /// # Errors
    /// `peer_unreachable` (including the timeout) or `peer_answer_too_large`.
    pub async fn post_text(
        &self,
        url: &str,
        body: String,
        timeout: Duration,
        max: usize,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::new("peer_unreachable", format!("POST {url}: {e}")))?;
        let status = resp.status();
        let bytes = read_limited(resp, max, "peer_answer_too_large").await?;
        Ok((status, bytes))
    }
}

/// 16 random bytes, base64url: the request nonce.
fn nonce() -> Result<String, String> {
    use base64::Engine as _;
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
    code: &'static str,
) -> Result<Vec<u8>, CallError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(CallError::new(
            code,
            format!("the answer is over {max} bytes"),
        ));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CallError::new("peer_unreachable", e.to_string()))?
    {
        if out.len() + chunk.len() > max {
            return Err(CallError::new(
                code,
                format!("the answer is over {max} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_are_checked_and_card_urls_derived() {
        assert_eq!(
            card_url_for("http://127.0.0.1:9/").expect("ok").as_str(),
            "http://127.0.0.1:9/.well-known/registry-card.json"
        );
        assert_eq!(
            card_url_for("https://peer.example/.well-known/registry-card.json")
                .expect("ok")
                .as_str(),
            "https://peer.example/.well-known/registry-card.json"
        );
        for bad in [
            "ftp://x",
            "http://u:p@x",
            "http://x/?q=1",
            "http://x/#f",
            "not a url",
        ] {
            assert_eq!(
                card_url_for(bad).expect_err("must fail").code,
                "invalid_peer_url",
                "{bad}"
            );
        }
        let long = format!("http://x/{}", "a".repeat(PEER_URL_BYTES_MAX));
        assert_eq!(
            card_url_for(&long).expect_err("must fail").code,
            "invalid_peer_url"
        );
    }
}
