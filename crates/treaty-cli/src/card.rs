//! `treaty card verify` and `treaty keys`: check a registry card, rotate the card key.

use anyhow::{Context as _, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use treaty_card::{Jwks, verify_card};

/// The well-known paths of a registry's self-description.
const CARD_PATH: &str = "/.well-known/registry-card.json";
const JWKS_PATH: &str = "/.well-known/registry-jwks.json";
/// Largest card or JWKS the CLI downloads.
const FETCH_BYTES_MAX: usize = 256 * 1024;
/// Longest the CLI waits for a card or JWKS.
const FETCH_TIMEOUT_S: u64 = 10;

/// Where a card comes from.
pub(crate) enum Source {
    /// A registry base URL or the card URL itself.
    Url(String),
    /// A local file, with the JWKS to check it against.
    File {
        card: PathBuf,
        jwks: PathBuf,
        origin: Option<String>,
    },
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let resp = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    let bytes = resp
        .bytes()
        .await
        .with_context(|| format!("reading {url}"))?;
    if bytes.len() > FETCH_BYTES_MAX {
        bail!("{url} is larger than {FETCH_BYTES_MAX} bytes");
    }
    Ok(bytes.to_vec())
}

/// Verifies a card and prints a verdict; exit status 0 when it holds, 1 otherwise.
pub(crate) async fn verify(source: Source) -> Result<ExitCode> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (card, jwks, fetched_from) = match source {
        Source::Url(url) => {
            let url = url.trim_end_matches('/');
            let card_url = if url.ends_with(CARD_PATH) {
                url.to_owned()
            } else {
                format!("{url}{CARD_PATH}")
            };
            // The JWKS comes from the same place as the card, never from a URL inside it.
            let jwks_url = format!("{}{JWKS_PATH}", card_url.trim_end_matches(CARD_PATH));
            // No redirects: a card must be served by the registry it describes.
            let http = crate::tls::TlsArgs::from_env()
                .http_builder()?
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(FETCH_TIMEOUT_S))
                .build()?;
            (
                fetch(&http, &card_url).await?,
                fetch(&http, &jwks_url).await?,
                Some(card_url),
            )
        }
        Source::File { card, jwks, origin } => (
            std::fs::read(&card).with_context(|| format!("reading {}", card.display()))?,
            std::fs::read(&jwks).with_context(|| format!("reading {}", jwks.display()))?,
            origin,
        ),
    };
    let jwks = match Jwks::parse(&jwks) {
        Ok(j) => j,
        Err(e) => {
            println!("NOT VERIFIED: JWKS: {e} ({})", e.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    match verify_card(&card, fetched_from.as_deref(), &jwks, now) {
        Ok(v) => {
            println!(
                "VERIFIED: {} ({}) at {}, signed at {} by {} key {}",
                v.core.name,
                v.core.node_id,
                v.core.base_url,
                v.iat,
                v.key_status.as_str(),
                v.kid
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("NOT VERIFIED: {e} ({})", e.code());
            Ok(ExitCode::FAILURE)
        }
    }
}
