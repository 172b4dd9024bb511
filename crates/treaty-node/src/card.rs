//! The node's registry card: its signing keys, the signed card, and the cached snapshot the
//! HTTP handlers serve.
//!
//! The card is signed only when its signed core changes (an operator edit: configuration at
//! start, collections, schemas, key rotation), never per request. The signed document is
//! stored, so a restart with unchanged settings serves byte-identical bytes under the same
//! strong ETag; a conditional GET compares against a precomputed ETag without signing or
//! reading the ledger. Volatile data (checkpoint, peer count, location) is added per response
//! outside the signature and the ETag.
//!
//! Key policy (PROTOCOL.md "Keys"): the card key is separate from the ledger key and rotates
//! (`POST /v1/keys/rotate`); retired keys stay in the JWKS with their validity window, so cards
//! signed before a rotation still verify. Seeds live in `<data dir>/card-keys/<kid>.key`
//! (mode 0600); the database holds only public keys.

use crate::config::Config;
use crate::identity::IdentityError;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use treaty_card::{
    CardCore, CollectionInfo, Endpoints, Jwk, Jwks, Ledger, Location, Mtls, Operator, SchemaRef,
    TrustPolicy, Volatile, jwk_thumbprint, sign_card,
};
use treaty_store::{CardKeyRow, Writer};

/// Folder of card key seeds inside the data directory.
pub const CARD_KEYS_DIR: &str = "card-keys";

/// Capabilities this build serves; peers read them to know what to call.
pub const CAPABILITIES: &[&str] = &[
    "discovery",
    "ledger",
    "receipts",
    "records",
    "resolve",
    "schemas",
];

/// Card failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardServiceError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] treaty_store::StoreError),
    /// The card or JWKS does not validate (e.g. a malformed configured contact or SPIFFE ID).
    #[error("registry card: {0}")]
    Card(#[from] treaty_card::CardError),
    /// Key files.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// Everything the card handlers serve, swapped whole on every change.
#[derive(Debug)]
pub struct CardSnapshot {
    /// Strong ETag (quoted), from the signed core and the key id only.
    pub etag: String,
    /// The signed document without `volatile`.
    pub document: Value,
    /// Serialized JWKS.
    pub jwks: Vec<u8>,
}

/// Inputs of the signed core that do not change while the node runs.
#[derive(Debug, Clone)]
pub struct CardIdentity {
    /// Node id.
    pub node_id: String,
    /// Public base URL without trailing slash.
    pub base_url: String,
    /// Ledger origin.
    pub origin: String,
    /// Ledger verifier key text.
    pub verifier_key: String,
    /// Operator-edited settings.
    pub settings: crate::config::CardSettings,
    /// Published trust policy.
    pub trust_policy: crate::config::TrustPolicySettings,
}

/// The card keys and the current snapshot.
#[derive(Debug)]
pub struct CardService {
    keys_dir: PathBuf,
    identity: CardIdentity,
    current: RwLock<Option<(String, SigningKey)>>,
    snapshot: RwLock<Arc<CardSnapshot>>,
}

impl CardService {
    /// Loads (creating on first start) the card key, and signs or reloads the card for the
    /// given collections.
    ///
    /// # Errors
    /// [`CardServiceError`].
    pub fn open(
        config: &Config,
        identity: CardIdentity,
        writer: &mut Writer,
        collections: &[CollectionInfo],
        now_ms: u64,
    ) -> Result<Self, CardServiceError> {
        let keys_dir = config.data_dir.join(CARD_KEYS_DIR);
        let service = Self {
            keys_dir,
            identity,
            current: RwLock::new(None),
            snapshot: RwLock::new(Arc::new(CardSnapshot {
                etag: String::new(),
                document: Value::Null,
                jwks: Vec::new(),
            })),
        };
        if !writer.card_keys()?.iter().any(|k| k.retired_ms.is_none()) {
            service.new_key(writer, now_ms)?;
        }
        service.load_current_key(writer)?;
        service.refresh(writer, collections, now_ms)?;
        Ok(service)
    }

    /// The current card key and its `kid`: it also signs this node's federation requests
    /// and trust documents, so peers check them against the JWKS they verified the card with.
    #[must_use]
    pub fn signing_key(&self) -> Option<(String, SigningKey)> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The trust policy the card publishes (and the node applies to proposals).
    #[must_use]
    pub fn trust_policy(&self) -> crate::config::TrustPolicySettings {
        self.identity.trust_policy
    }

    /// The snapshot to serve.
    #[must_use]
    pub fn snapshot(&self) -> Arc<CardSnapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The unsigned, per-response block.
    #[must_use]
    pub fn volatile(&self, size: u64, root: &[u8; 32], peer_count: u64) -> Volatile {
        let location = match (
            &self.identity.settings.latitude,
            &self.identity.settings.longitude,
        ) {
            (Some(lat), Some(lon)) => Some(Location {
                latitude: lat.clone(),
                longitude: lon.clone(),
            }),
            _ => None,
        };
        Volatile {
            checkpoint: Some(treaty_card::CheckpointSummary {
                size,
                root: base64::engine::general_purpose::STANDARD.encode(root),
            }),
            peer_count,
            location,
        }
    }

    /// Rotates the card key: a new current key, the old one retired now (its window closes
    /// at the end of this second, so cards it signed this second still verify), and the card
    /// re-signed with the new key.
    ///
    /// # Errors
    /// [`CardServiceError`].
    pub fn rotate(
        &self,
        writer: &mut Writer,
        collections: &[CollectionInfo],
        now_ms: u64,
    ) -> Result<String, CardServiceError> {
        let kid = self.new_key(writer, now_ms)?;
        self.load_current_key(writer)?;
        self.refresh(writer, collections, now_ms)?;
        Ok(kid)
    }

    /// Re-signs the card if its signed core changed; otherwise keeps the stored signature.
    ///
    /// # Errors
    /// [`CardServiceError`].
    pub fn refresh(
        &self,
        writer: &Writer,
        collections: &[CollectionInfo],
        now_ms: u64,
    ) -> Result<(), CardServiceError> {
        let core = self.core(collections);
        let Some((kid, key)) = self.current.read().ok().and_then(|c| c.clone()) else {
            return Err(CardServiceError::Identity(IdentityError::Key {
                path: self.keys_dir.clone(),
                message: "no current card key".into(),
            }));
        };
        let etag = treaty_card::etag(&core, &kid)?;
        let document = match writer.card_state()? {
            Some((stored, doc, _)) if stored == etag => serde_json::from_slice(&doc)
                .map_err(|e| treaty_store::StoreError::Corrupt(format!("stored card: {e}")))?,
            _ => {
                let signed = sign_card(&core, &key, &kid, now_ms / 1000)?;
                let bytes = signed.to_bytes(None)?;
                writer.put_card_state(&etag, &bytes, now_ms)?;
                tracing::info!(%etag, %kid, "registry card signed");
                signed.to_value(None)?
            }
        };
        let jwks = self.jwks(writer)?.to_bytes()?;
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(CardSnapshot {
                etag,
                document,
                jwks,
            });
        }
        Ok(())
    }

    fn core(&self, collections: &[CollectionInfo]) -> CardCore {
        let id = &self.identity;
        let base = &id.base_url;
        let mut core = CardCore {
            node_id: id.node_id.clone(),
            name: id
                .settings
                .name
                .clone()
                .unwrap_or_else(|| id.origin.clone()),
            base_url: base.clone(),
            endpoints: Endpoints {
                federation: format!("{base}/v1/federation"),
                witness: format!("{base}/witness"),
                sync: format!("{base}/v1/federation/entries"),
                records: format!("{base}/v1/records"),
                discover: format!("{base}/v1/discover"),
                checkpoint: format!("{base}/checkpoint"),
                jwks: format!("{base}/.well-known/registry-jwks.json"),
            },
            ledger: Ledger {
                origin: id.origin.clone(),
                verifier_key: id.verifier_key.clone(),
                checkpoint_url: format!("{base}/checkpoint"),
            },
            collections: collections.to_vec(),
            trust_policy: TrustPolicy {
                accepts_proposals: id.trust_policy.accepts_proposals,
                min_trust_level: id.trust_policy.min_trust_level,
                requires_mutual: id.trust_policy.requires_mutual,
            },
            capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
            operator: Operator {
                contact: id.settings.contact.clone(),
            },
            mtls: id.settings.spiffe_id.clone().map(|spiffe_id| Mtls {
                spiffe_id,
                ca_fingerprint: id.settings.ca_fingerprint.clone(),
            }),
        };
        core.normalize();
        core
    }

    /// The JWKS: every key with its validity window, in seconds.
    fn jwks(&self, writer: &Writer) -> Result<Jwks, CardServiceError> {
        let mut keys = Vec::new();
        for row in writer.card_keys()? {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&row.public_key).map_err(|e| {
                treaty_store::StoreError::Corrupt(format!("card key {}: {e}", row.kid))
            })?;
            let from = row.created_ms / 1000;
            keys.push(match row.retired_ms {
                None => Jwk::current(&vk, from)?,
                Some(retired) => Jwk::retired(&vk, from, retired / 1000 + 1)?,
            });
        }
        // Newest first: the current key leads. Keep within the JWKS limit by dropping the
        // oldest retired keys (cards they signed have long been re-signed).
        keys.reverse();
        keys.truncate(treaty_card::limits::JWKS_KEYS_MAX);
        Ok(Jwks::new(keys)?)
    }

    fn new_key(&self, writer: &mut Writer, now_ms: u64) -> Result<String, CardServiceError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IdentityError::Key {
            path: self.keys_dir.clone(),
            message: format!("random source: {e}"),
        })?;
        let key = SigningKey::from_bytes(&seed);
        let public_key = key.verifying_key().to_bytes();
        let kid = jwk_thumbprint(&public_key);
        write_seed(&self.keys_dir, &kid, &seed)?;
        writer.rotate_card_key(&CardKeyRow {
            kid: kid.clone(),
            public_key,
            created_ms: now_ms,
            retired_ms: None,
        })?;
        tracing::info!(%kid, "card key created");
        Ok(kid)
    }

    fn load_current_key(&self, writer: &Writer) -> Result<(), CardServiceError> {
        let rows = writer.card_keys()?;
        let Some(row) = rows.iter().find(|k| k.retired_ms.is_none()) else {
            return Err(IdentityError::Key {
                path: self.keys_dir.clone(),
                message: "no current card key".into(),
            }
            .into());
        };
        let path = self.keys_dir.join(format!("{}.key", row.kid));
        let text = std::fs::read_to_string(&path).map_err(|source| IdentityError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| IdentityError::Key {
                path: path.clone(),
                message: "not a base64 Ed25519 seed".into(),
            })?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().to_bytes() != row.public_key {
            return Err(IdentityError::Key {
                path,
                message: "seed does not match the registered public key".into(),
            }
            .into());
        }
        if let Ok(mut c) = self.current.write() {
            *c = Some((row.kid.clone(), key));
        }
        Ok(())
    }
}

/// The card's view of the node's collections.
#[must_use]
pub fn card_collections(
    map: &std::collections::BTreeMap<String, crate::api::CollectionInfo>,
) -> Vec<CollectionInfo> {
    map.iter()
        .map(|(name, info)| CollectionInfo {
            name: name.clone(),
            schema: info.schema.as_ref().map(|s| SchemaRef {
                version: s.version().to_owned(),
                hash: s.hash().to_owned(),
            }),
        })
        .collect()
}

/// Writes a card key seed as base64 in `<dir>/<kid>.key` (mode 0600).
fn write_seed(dir: &Path, kid: &str, seed: &[u8; 32]) -> Result<(), IdentityError> {
    std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
        what: "creating",
        path: dir.to_owned(),
        source,
    })?;
    crate::identity::write_secret_file(
        &dir.join(format!("{kid}.key")),
        &format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(seed)
        ),
    )
}
