//! The node's identity: data directory, ledger key, origin and operator token.
//!
//! The ledger key signs checkpoints under the ledger's origin. Both are fixed when the data
//! directory is initialized: a checkpoint key is pinned to its origin for the life of the
//! ledger (PROTOCOL.md, "Keys"), so a later start whose public URL implies another origin is
//! refused rather than silently starting a second log under the same key.

use crate::clock::Clock;
use crate::config::{self, Config, FileConfig};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use treaty_note::{KEY_TYPE_ED25519, SignerKey};
use treaty_store::{StoredCheckpoint, TokenRow, Writer};

/// The database file inside the data directory.
pub const DB_FILE_NAME: &str = "treaty.db";
/// The ledger key file inside the data directory (mode 0600).
pub const LEDGER_KEY_FILE_NAME: &str = "ledger.key";
/// Prefix of every secret access token; lets scanners recognize leaked tokens.
pub const TOKEN_PREFIX: &str = "trt_";
/// Token id of the operator's token.
pub const OPERATOR_TOKEN_ID: &str = "operator";

/// Identity and start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// File system trouble.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Database trouble.
    #[error(transparent)]
    Store(#[from] treaty_store::StoreError),
    /// Key trouble.
    #[error("ledger key {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Configuration trouble.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The public URL would change the pinned origin.
    #[error(
        "this ledger's origin is {pinned:?}, fixed when {data_dir} was initialized; the configured public URL gives {configured:?}. \
         A checkpoint key is pinned to its origin: start with a public URL whose origin is {pinned:?}, or initialize a new data directory"
    )]
    OriginChanged {
        /// The origin in the database.
        pinned: String,
        /// The origin the configuration implies.
        configured: String,
        /// The data directory.
        data_dir: String,
    },
    /// `TREATY_ADMIN_TOKEN` is too weak to be a bearer secret.
    #[error("TREATY_ADMIN_TOKEN must be at least {TOKEN_MIN_BYTES} bytes of printable ASCII")]
    WeakToken,
}

/// Shortest operator token accepted from `TREATY_ADMIN_TOKEN`.
pub const TOKEN_MIN_BYTES: usize = 16;

/// What a node needs to know about itself to run.
#[derive(Debug)]
pub struct Identity {
    /// The ledger's checkpoint signer (key name = origin).
    pub ledger_key: SignerKey,
    /// The ledger origin.
    pub origin: String,
    /// Node id (UUID), stable for the life of the data directory.
    pub node_id: String,
    /// The public base URL, without trailing slash.
    pub public_url: String,
}

/// The result of [`init`].
#[derive(Debug)]
pub struct InitReport {
    /// The identity.
    pub identity: Identity,
    /// Whether this call created the ledger.
    pub created: bool,
    /// The operator token, when this call generated it (to be shown exactly once).
    pub new_operator_token: Option<String>,
}

/// SHA-256 of a token: the only form in which tokens are stored.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh secret token: the prefix and 64 hex characters (256 random bits).
///
/// # Errors
/// The operating system's random source failed.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IdentityError + 'a {
    move |source| IdentityError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// The public URL a node announces: the configured one, or `http://<bound address>`.
#[must_use]
pub fn public_url(config: &Config, bound: std::net::SocketAddr) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_owned()
}

/// Creates the data directory, config file, ledger key, operator token and the empty
/// checkpoint if they do not exist yet, and checks them if they do. Idempotent.
///
/// `admin_token` (from `TREATY_ADMIN_TOKEN`) replaces the generated operator token, on
/// first initialization and on every later start.
///
/// # Errors
/// I/O, database or key errors, or [`IdentityError::OriginChanged`].
pub fn init(
    config: &Config,
    public_url: &str,
    admin_token: Option<&str>,
    clock: &dyn Clock,
) -> Result<InitReport, IdentityError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    restrict_dir(dir)?;
    let origin = config::origin_from_public_url(public_url)?;
    config::write_file_if_absent(
        &dir.join(config::CONFIG_FILE_NAME),
        &FileConfig {
            listen: Some(config.listen.to_string()),
            public_url: Some(public_url.to_owned()),
            sequencer: None,
            card: None,
            trust_policy: None,
            tls: None,
            rate_limits: None,
            federation: None,
            witness: None,
        },
    )
    .map_err(io("writing", &dir.join(config::CONFIG_FILE_NAME)))?;

    let writer = Writer::open(&dir.join(DB_FILE_NAME))?;
    let pinned = writer.meta("origin")?;
    if let Some(pinned) = &pinned {
        if *pinned != origin {
            return Err(IdentityError::OriginChanged {
                pinned: pinned.clone(),
                configured: origin,
                data_dir: dir.display().to_string(),
            });
        }
    }
    let ledger_key = load_or_create_key(&dir.join(LEDGER_KEY_FILE_NAME), &origin)?;
    let now = clock.now_ms();

    let mut new_operator_token = None;
    if let Some(token) = admin_token {
        if token.len() < TOKEN_MIN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdentityError::WeakToken);
        }
        put_operator_token(&writer, token, now)?;
    } else if !writer.tokens()?.iter().any(|t| t.id == OPERATOR_TOKEN_ID) {
        let token = new_token().map_err(|e| IdentityError::Key {
            path: dir.clone(),
            message: format!("random source: {e}"),
        })?;
        put_operator_token(&writer, &token, now)?;
        new_operator_token = Some(token);
    }

    let created = pinned.is_none();
    if created {
        // The empty checkpoint first, then the origin: a crash in between leaves a directory
        // that the next start initializes again, never a pinned origin without a checkpoint.
        let note =
            crate::ledger::sign_checkpoint(&ledger_key, &origin, 0, &treaty_merkle::empty_root())
                .map_err(|e| IdentityError::Key {
                path: dir.join(LEDGER_KEY_FILE_NAME),
                message: e.to_string(),
            })?;
        writer.put_checkpoint(&StoredCheckpoint {
            size: 0,
            root: treaty_merkle::empty_root(),
            note,
            signed_ms: now,
        })?;
        let node_id = new_uuid().map_err(|e| IdentityError::Key {
            path: dir.clone(),
            message: format!("random source: {e}"),
        })?;
        writer.set_meta("node_id", &node_id)?;
        writer.set_meta("created_ms", &now.to_string())?;
        writer.set_meta("origin", &origin)?;
    }
    let node_id = writer.meta("node_id")?.unwrap_or_default();
    Ok(InitReport {
        identity: Identity {
            ledger_key,
            origin,
            node_id,
            public_url: public_url.to_owned(),
        },
        created,
        new_operator_token,
    })
}

fn put_operator_token(writer: &Writer, token: &str, now: u64) -> Result<(), IdentityError> {
    writer.put_token(&TokenRow {
        id: OPERATOR_TOKEN_ID.to_owned(),
        hash: token_hash(token),
        name: "operator".to_owned(),
        collections: None,
        created_ms: now,
        revoked_ms: None,
    })?;
    Ok(())
}

/// A random (version 4) UUID.
pub fn new_uuid() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn load_or_create_key(path: &Path, origin: &str) -> Result<SignerKey, IdentityError> {
    let key_err = |message: String| IdentityError::Key {
        path: path.to_owned(),
        message,
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
        let key = SignerKey::parse(text.trim()).map_err(|e| key_err(e.to_string()))?;
        if key.name() != origin {
            return Err(key_err(format!(
                "key is named {:?} but the origin is {origin:?}",
                key.name()
            )));
        }
        return Ok(key);
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| key_err(format!("random source: {e}")))?;
    let key = SignerKey::new(
        origin,
        KEY_TYPE_ED25519,
        ed25519_dalek::SigningKey::from_bytes(&seed),
    )
    .map_err(|e| key_err(e.to_string()))?;
    write_secret_file(path, &format!("{}\n", key.to_private_text()))?;
    Ok(key)
}

/// Writes a secret (a key seed) durably: to a temporary file with mode 0600 from the start,
/// synced, then renamed into place, so it is never readable by others and never half-written.
///
/// # Errors
/// I/O errors, naming the file.
pub(crate) fn write_secret_file(path: &Path, contents: &str) -> Result<(), IdentityError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io("creating", &tmp))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming", path))
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("restricting", dir))
}

#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) -> Result<(), IdentityError> {
    Ok(())
}
