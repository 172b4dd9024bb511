//! Node configuration: defaults, then the TOML file, then environment, then flags.
//!
//! The binary's argument parser resolves flags and environment variables (flags win), and
//! hands the result here as [`Overrides`]; whatever they leave unset comes from the file,
//! and whatever the file leaves unset from the defaults.

use crate::ratelimit::{
    ANONYMOUS_PER_MINUTE_DEFAULT, AUTHENTICATED_PER_MINUTE_DEFAULT, ENDPOINT_DEFAULTS,
    EXEMPT_LOOPBACK_DEFAULT, EXEMPT_OPERATOR_DEFAULT, PEER_PER_MINUTE_DEFAULT, PER_MINUTE_MAX,
    PERIOD_DEFAULT,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use treaty_types::limits::{
    BATCH_ENTRIES_DEFAULT, BATCH_ENTRIES_MAX, BATCH_WAIT_MS_DEFAULT, BATCH_WAIT_MS_MAX,
};

/// Where the node keeps its state when nothing else is configured.
pub const DEFAULT_DATA_DIR: &str = "./treaty-data";
/// Where the node listens when nothing else is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The configuration file's name inside the data directory.
pub const CONFIG_FILE_NAME: &str = "treaty.toml";
/// Environment variable overriding `rate_limits.authenticated_per_minute`.
pub const ENV_RATE_AUTHENTICATED: &str = "TREATY_RATE_AUTHENTICATED_PER_MINUTE";
/// Environment variable overriding `rate_limits.peer_per_minute`.
pub const ENV_RATE_PEER: &str = "TREATY_RATE_PEER_PER_MINUTE";
/// Environment variable overriding `federation.require_license` (`true` or `false`).
pub const ENV_FED_REQUIRE_LICENSE: &str = "TREATY_FEDERATION_REQUIRE_LICENSE";
/// Environment variable overriding `federation.ca_file`.
pub const ENV_FED_CA_FILE: &str = "TREATY_FEDERATION_CA_FILE";
/// Environment variable overriding `federation.revocation_notice_seconds`.
pub const ENV_FED_NOTICE: &str = "TREATY_FEDERATION_REVOCATION_NOTICE_SECONDS";
/// Environment variable overriding `federation.sync_interval_ms`.
pub const ENV_SYNC_INTERVAL_MS: &str = "TREATY_SYNC_INTERVAL_MS";
/// Environment variable overriding `federation.sync_page_entries`.
pub const ENV_SYNC_PAGE_ENTRIES: &str = "TREATY_SYNC_PAGE_ENTRIES";
/// Environment variable overriding `rate_limits.anonymous_per_minute`.
pub const ENV_RATE_ANONYMOUS: &str = "TREATY_RATE_ANONYMOUS_PER_MINUTE";
/// Test and drill knob: the length of the rate-limit "minute" in milliseconds (default
/// 60000), so limits can be exercised in seconds. Not for production use.
pub const ENV_RATE_PERIOD_MS: &str = "TREATY_RATE_PERIOD_MS";
/// Environment variable overriding `rate_limits.exempt_loopback` (`true` or `false`); tests
/// on 127.0.0.1 set it to `false` to exercise the anonymous limit.
pub const ENV_RATE_EXEMPT_LOOPBACK: &str = "TREATY_RATE_EXEMPT_LOOPBACK";

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// What flags and environment variables set (each `None` when neither did).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir` / `TREATY_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--config` / `TREATY_CONFIG`: a TOML file (default `<data dir>/treaty.toml`).
    pub config_file: Option<PathBuf>,
    /// `--listen` / `TREATY_LISTEN`.
    pub listen: Option<String>,
    /// `--public-url` / `TREATY_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `TREATY_BATCH_MAX_ENTRIES`.
    pub batch_max_entries: Option<usize>,
    /// `TREATY_BATCH_MAX_WAIT_MS`.
    pub batch_max_wait_ms: Option<u64>,
    /// `--tls-cert` / `TREATY_TLS_CERT`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `TREATY_TLS_KEY`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-client-ca` / `TREATY_TLS_CLIENT_CA`.
    pub tls_client_ca: Option<PathBuf>,
    /// `--tls-client-auth` / `TREATY_TLS_CLIENT_AUTH`.
    pub tls_client_auth: Option<ClientAuth>,
}

/// The TOML file's shape. Every field is optional.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Public base URL; the ledger origin derives from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Sequencer settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<SequencerFile>,
    /// What the registry card says about this registry (operator-edited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardSettings>,
    /// The trust policy published in the registry card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<TrustPolicySettings>,
    /// TLS serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFile>,
    /// Rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitsFile>,
    /// Federation with peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationFile>,
    /// Witnessing (cosigning peers' checkpoints, collecting cosignatures on ours) and
    /// cross-anchoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessFile>,
}

/// `[witness]` in the TOML file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    /// Longest a witness may take to answer an add-checkpoint request, in milliseconds
    /// (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The quorum policy for this node's checkpoints, in c2sp.org/tlog-policy form
    /// (`witness <name> <vkey>` lines, `group` lines, one `quorum` line). `/checkpoint` and
    /// receipts use the newest checkpoint whose cosignatures satisfy it. Default: no
    /// quorum (the newest checkpoint, with whatever cosignatures it has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Verifier keys of logs this node witnesses besides its peers (type 0x01 vkeys whose
    /// name is the log's origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
    /// How often the latest verified checkpoints of trust-level-3+ peers are anchored in
    /// this ledger, in milliseconds (default 3600000; `TREATY_CROSS_ANCHOR_INTERVAL_MS`
    /// overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_anchor_interval_ms: Option<u64>,
    /// Longest a witness event waits in its durable queue before the sequencer writes it,
    /// in milliseconds (default 1000; `TREATY_WITNESS_EVENT_FLUSH_MS` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_flush_ms: Option<u64>,
    /// How often peers' views of each other's logs are compared, in milliseconds (default
    /// 300000; `TREATY_VIEWS_INTERVAL_MS` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views_interval_ms: Option<u64>,
}

/// Environment variable overriding `witness.cross_anchor_interval_ms`.
pub const ENV_CROSS_ANCHOR_INTERVAL_MS: &str = "TREATY_CROSS_ANCHOR_INTERVAL_MS";
/// Environment variable overriding `witness.event_flush_ms`.
pub const ENV_WITNESS_EVENT_FLUSH_MS: &str = "TREATY_WITNESS_EVENT_FLUSH_MS";
/// Environment variable overriding `witness.views_interval_ms`.
pub const ENV_VIEWS_INTERVAL_MS: &str = "TREATY_VIEWS_INTERVAL_MS";
/// Default time a witness may take to cosign (C2SP logs wait about this long).
pub const WITNESS_TIMEOUT_MS_DEFAULT: u64 = 1_000;
/// Default cross-anchor interval: one hour.
pub const CROSS_ANCHOR_INTERVAL_MS_DEFAULT: u64 = 3_600_000;
/// Default longest wait of a witness event before it is written to the ledger.
pub const WITNESS_EVENT_FLUSH_MS_DEFAULT: u64 = 1_000;
/// Default interval between two comparisons of peers' views.
pub const VIEWS_INTERVAL_MS_DEFAULT: u64 = 300_000;
/// Shortest configurable background interval (tests use short ones).
pub const WITNESS_INTERVAL_MS_MIN: u64 = 50;
/// Longest configurable background interval: one day.
pub const WITNESS_INTERVAL_MS_MAX: u64 = 86_400_000;
/// Most extra logs a node witnesses by key.
pub const WITNESS_LOGS_MAX: usize = 1_000;

/// Resolved `[witness]` settings.
#[derive(Debug, Clone)]
pub struct WitnessSettings {
    /// Add-checkpoint timeout, milliseconds.
    pub timeout_ms: u64,
    /// The quorum policy for this node's checkpoints.
    pub policy: Option<Arc<treaty_note::Policy>>,
    /// Logs witnessed by key, besides peers.
    pub logs: Vec<treaty_note::VerifierKey>,
    /// Cross-anchor interval, milliseconds.
    pub cross_anchor_interval_ms: u64,
    /// Longest wait of a queued witness event, milliseconds.
    pub event_flush_ms: u64,
    /// Views comparison interval, milliseconds.
    pub views_interval_ms: u64,
}

impl Default for WitnessSettings {
    fn default() -> Self {
        Self {
            timeout_ms: WITNESS_TIMEOUT_MS_DEFAULT,
            policy: None,
            logs: Vec::new(),
            cross_anchor_interval_ms: CROSS_ANCHOR_INTERVAL_MS_DEFAULT,
            event_flush_ms: WITNESS_EVENT_FLUSH_MS_DEFAULT,
            views_interval_ms: VIEWS_INTERVAL_MS_DEFAULT,
        }
    }
}

impl WitnessSettings {
    /// Resolves `[witness]` against the environment.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for out-of-range values, a policy that does not parse or a
    /// log key that is not an Ed25519 log key.
    pub fn resolve(
        file: WitnessFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let d = Self::default();
        let timeout_ms = file.timeout_ms.unwrap_or(d.timeout_ms);
        if !(50..=PEER_CALL_TIMEOUT_MS_MAX).contains(&timeout_ms) {
            return Err(ConfigError::Invalid {
                field: "witness.timeout_ms",
                reason: format!("{timeout_ms} is not within 50..={PEER_CALL_TIMEOUT_MS_MAX}"),
            });
        }
        let interval = |name: &'static str, var: &'static str, v: Option<u64>, default: u64| {
            let value = match env(var) {
                Some(t) => t.trim().parse().map_err(|e| ConfigError::Invalid {
                    field: var,
                    reason: format!("{t:?}: {e}"),
                })?,
                None => v.unwrap_or(default),
            };
            if (WITNESS_INTERVAL_MS_MIN..=WITNESS_INTERVAL_MS_MAX).contains(&value) {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    field: name,
                    reason: format!(
                        "{value} is not within {WITNESS_INTERVAL_MS_MIN}..={WITNESS_INTERVAL_MS_MAX}"
                    ),
                })
            }
        };
        let cross_anchor_interval_ms = interval(
            "witness.cross_anchor_interval_ms",
            ENV_CROSS_ANCHOR_INTERVAL_MS,
            file.cross_anchor_interval_ms,
            d.cross_anchor_interval_ms,
        )?;
        let event_flush_ms = interval(
            "witness.event_flush_ms",
            ENV_WITNESS_EVENT_FLUSH_MS,
            file.event_flush_ms,
            d.event_flush_ms,
        )?;
        let views_interval_ms = interval(
            "witness.views_interval_ms",
            ENV_VIEWS_INTERVAL_MS,
            file.views_interval_ms,
            d.views_interval_ms,
        )?;
        let policy = match &file.policy {
            Some(text) => Some(Arc::new(treaty_note::Policy::parse(text).map_err(|e| {
                ConfigError::Invalid {
                    field: "witness.policy",
                    reason: e.to_string(),
                }
            })?)),
            None => None,
        };
        let texts = file.logs.unwrap_or_default();
        if texts.len() > WITNESS_LOGS_MAX {
            return Err(ConfigError::Invalid {
                field: "witness.logs",
                reason: format!("{} keys, at most {WITNESS_LOGS_MAX}", texts.len()),
            });
        }
        let mut logs = Vec::with_capacity(texts.len());
        for t in texts {
            let key =
                treaty_note::VerifierKey::parse(t.trim()).map_err(|e| ConfigError::Invalid {
                    field: "witness.logs",
                    reason: format!("{t:?}: {e}"),
                })?;
            if key.key_type() != treaty_note::KEY_TYPE_ED25519 {
                return Err(ConfigError::Invalid {
                    field: "witness.logs",
                    reason: format!("{t:?} is not an Ed25519 log key (type 0x01)"),
                });
            }
            logs.push(key);
        }
        Ok(Self {
            timeout_ms,
            policy,
            logs,
            cross_anchor_interval_ms,
            event_flush_ms,
            views_interval_ms,
        })
    }
}

/// `[federation]` in the TOML file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// Whether registration needs an admission license issued by this node's operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_license: Option<bool>,
    /// Default notice, in seconds, before an agreement this node revokes stops counting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_notice_seconds: Option<u64>,
    /// How long an offer this node makes stays open, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_ttl_seconds: Option<u64>,
    /// PEM CA certificates trusted for peers' HTTPS endpoints, besides the public web roots
    /// (default: `tls.client_ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain presented to peers for mutual TLS (default: `tls.cert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Key of `client_cert` (default: `tls.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Longest a call to a peer may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout_ms: Option<u64>,
    /// How often each peer is pulled (sync feed and registry cards), in milliseconds
    /// (default 300000, five minutes; `TREATY_SYNC_INTERVAL_MS` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_interval_ms: Option<u64>,
    /// Entries asked for per sync feed page, 1-10000 (default 5000;
    /// `TREATY_SYNC_PAGE_ENTRIES` overrides). The serving node also cuts pages by bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_page_entries: Option<u32>,
    /// Whether a resolve that misses locally asks the peers (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<bool>,
    /// How many hops a cascading resolve may travel, this node's call included (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade_hops: Option<u32>,
    /// Overall deadline of a cascading resolve, in milliseconds (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade_deadline_ms: Option<u64>,
    /// Longest one peer may take to answer a cascaded resolve, in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade_peer_timeout_ms: Option<u64>,
}

/// Default notice before a revocation takes effect: one day.
pub const REVOCATION_NOTICE_SECONDS_DEFAULT: u64 = 86_400;
/// Longest configurable revocation notice: one year.
pub const REVOCATION_NOTICE_SECONDS_MAX: u64 = 365 * 86_400;
/// Default lifetime of an offer: seven days.
pub const OFFER_TTL_SECONDS_DEFAULT: u64 = 7 * 86_400;
/// Default (and longest) time a call to a peer may take.
pub const PEER_CALL_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Longest configurable peer call time.
pub const PEER_CALL_TIMEOUT_MS_MAX: u64 = 120_000;
/// Default interval between two pulls of a peer: five minutes (seed 004's cadence).
pub const SYNC_INTERVAL_MS_DEFAULT: u64 = 300_000;
/// Shortest configurable sync interval (tests and drills use short ones).
pub const SYNC_INTERVAL_MS_MIN: u64 = 50;
/// Longest configurable sync interval: one day.
pub const SYNC_INTERVAL_MS_MAX: u64 = 86_400_000;
/// Default entries per sync feed page asked for.
pub const SYNC_PAGE_ENTRIES_DEFAULT: u32 = 5_000;
/// Default overall deadline of a cascading resolve.
pub const CASCADE_DEADLINE_MS_DEFAULT: u64 = 2_000;
/// Default time one peer may take to answer a cascaded resolve.
pub const CASCADE_PEER_TIMEOUT_MS_DEFAULT: u64 = 1_000;

/// Resolved `[federation]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationSettings {
    /// Whether registration needs a license.
    pub require_license: bool,
    /// Default revocation notice, seconds.
    pub revocation_notice_seconds: u64,
    /// Offer lifetime, seconds.
    pub offer_ttl_seconds: u64,
    /// Extra trusted CAs for peers' HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS towards peers.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// The CAs that verify peers' client certificates (`tls.client_ca`), whose fingerprints
    /// bind a certificate to the CA a peer's card pins.
    pub client_ca_bundle: Option<PathBuf>,
    /// Peer call timeout, milliseconds.
    pub call_timeout_ms: u64,
    /// Interval between two pulls of a peer, milliseconds.
    pub sync_interval_ms: u64,
    /// Entries asked for per sync feed page.
    pub sync_page_entries: u32,
    /// Whether resolves that miss cascade to peers.
    pub cascade: bool,
    /// Hop limit of a cascading resolve.
    pub cascade_hops: u32,
    /// Overall deadline of a cascading resolve, milliseconds.
    pub cascade_deadline_ms: u64,
    /// Per-peer timeout of a cascading resolve, milliseconds.
    pub cascade_peer_timeout_ms: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            require_license: false,
            revocation_notice_seconds: REVOCATION_NOTICE_SECONDS_DEFAULT,
            offer_ttl_seconds: OFFER_TTL_SECONDS_DEFAULT,
            ca_file: None,
            client_identity: None,
            client_ca_bundle: None,
            call_timeout_ms: PEER_CALL_TIMEOUT_MS_DEFAULT,
            sync_interval_ms: SYNC_INTERVAL_MS_DEFAULT,
            sync_page_entries: SYNC_PAGE_ENTRIES_DEFAULT,
            cascade: true,
            cascade_hops: treaty_federation::limits::CASCADE_HOPS_DEFAULT,
            cascade_deadline_ms: CASCADE_DEADLINE_MS_DEFAULT,
            cascade_peer_timeout_ms: CASCADE_PEER_TIMEOUT_MS_DEFAULT,
        }
    }
}

impl FederationSettings {
    /// Resolves `[federation]` against the environment and the TLS settings (whose
    /// certificate, key and client CA are the defaults for calls to peers).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for out-of-range values or a half-configured identity.
    pub fn resolve(
        file: FederationFile,
        tls: Option<&TlsSettings>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let d = Self::default();
        let require_license = match env(ENV_FED_REQUIRE_LICENSE) {
            Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: ENV_FED_REQUIRE_LICENSE,
                reason: format!("{v:?}: {e}"),
            })?,
            None => file.require_license.unwrap_or(d.require_license),
        };
        let revocation_notice_seconds = match env(ENV_FED_NOTICE) {
            Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: ENV_FED_NOTICE,
                reason: format!("{v:?}: {e}"),
            })?,
            None => file
                .revocation_notice_seconds
                .unwrap_or(d.revocation_notice_seconds),
        };
        if revocation_notice_seconds > REVOCATION_NOTICE_SECONDS_MAX {
            return Err(ConfigError::Invalid {
                field: "federation.revocation_notice_seconds",
                reason: format!(
                    "{revocation_notice_seconds} is above {REVOCATION_NOTICE_SECONDS_MAX}"
                ),
            });
        }
        let offer_ttl_seconds = file.offer_ttl_seconds.unwrap_or(d.offer_ttl_seconds);
        if !(60..=treaty_federation::limits::OFFER_TTL_MAX_SECONDS).contains(&offer_ttl_seconds) {
            return Err(ConfigError::Invalid {
                field: "federation.offer_ttl_seconds",
                reason: format!(
                    "{offer_ttl_seconds} is not within 60..={}",
                    treaty_federation::limits::OFFER_TTL_MAX_SECONDS
                ),
            });
        }
        let call_timeout_ms = file.call_timeout_ms.unwrap_or(d.call_timeout_ms);
        if !(100..=PEER_CALL_TIMEOUT_MS_MAX).contains(&call_timeout_ms) {
            return Err(ConfigError::Invalid {
                field: "federation.call_timeout_ms",
                reason: format!("{call_timeout_ms} is not within 100..={PEER_CALL_TIMEOUT_MS_MAX}"),
            });
        }
        let sync_interval_ms = match env(ENV_SYNC_INTERVAL_MS) {
            Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: ENV_SYNC_INTERVAL_MS,
                reason: format!("{v:?}: {e}"),
            })?,
            None => file.sync_interval_ms.unwrap_or(d.sync_interval_ms),
        };
        if !(SYNC_INTERVAL_MS_MIN..=SYNC_INTERVAL_MS_MAX).contains(&sync_interval_ms) {
            return Err(ConfigError::Invalid {
                field: "federation.sync_interval_ms",
                reason: format!(
                    "{sync_interval_ms} is not within {SYNC_INTERVAL_MS_MIN}..={SYNC_INTERVAL_MS_MAX}"
                ),
            });
        }
        let sync_page_entries = match env(ENV_SYNC_PAGE_ENTRIES) {
            Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: ENV_SYNC_PAGE_ENTRIES,
                reason: format!("{v:?}: {e}"),
            })?,
            None => file.sync_page_entries.unwrap_or(d.sync_page_entries),
        };
        let page_max = treaty_federation::limits::SYNC_PAGE_ENTRIES_MAX;
        if !(1..=page_max).contains(&(sync_page_entries as usize)) {
            return Err(ConfigError::Invalid {
                field: "federation.sync_page_entries",
                reason: format!("{sync_page_entries} is not within 1..={page_max}"),
            });
        }
        let cascade_hops = file.cascade_hops.unwrap_or(d.cascade_hops);
        let hops_max = treaty_federation::limits::CASCADE_HOPS_MAX;
        if cascade_hops > hops_max {
            return Err(ConfigError::Invalid {
                field: "federation.cascade_hops",
                reason: format!("{cascade_hops} is above {hops_max}"),
            });
        }
        let budget_max = treaty_federation::limits::CASCADE_BUDGET_MS_MAX;
        let cascade_deadline_ms = file.cascade_deadline_ms.unwrap_or(d.cascade_deadline_ms);
        let cascade_peer_timeout_ms = file
            .cascade_peer_timeout_ms
            .unwrap_or(d.cascade_peer_timeout_ms);
        for (field, v) in [
            ("federation.cascade_deadline_ms", cascade_deadline_ms),
            (
                "federation.cascade_peer_timeout_ms",
                cascade_peer_timeout_ms,
            ),
        ] {
            if !(10..=budget_max).contains(&v) {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("{v} is not within 10..={budget_max}"),
                });
            }
        }
        let ca_file = env(ENV_FED_CA_FILE)
            .map(PathBuf::from)
            .or(file.ca_file)
            .or_else(|| tls.and_then(|t| t.client_ca.clone()));
        let client_identity = match (file.client_cert, file.client_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => tls.map(|t| (t.cert.clone(), t.key.clone())),
            _ => {
                return Err(ConfigError::Invalid {
                    field: "federation.client_cert",
                    reason: "client_cert and client_key go together".into(),
                });
            }
        };
        Ok(Self {
            require_license,
            revocation_notice_seconds,
            offer_ttl_seconds,
            ca_file,
            client_identity,
            client_ca_bundle: tls.and_then(|t| t.client_ca.clone()),
            call_timeout_ms,
            sync_interval_ms,
            sync_page_entries,
            cascade: file.cascade.unwrap_or(d.cascade),
            cascade_hops,
            cascade_deadline_ms,
            cascade_peer_timeout_ms,
        })
    }
}

/// `[rate_limits]` in the TOML file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsFile {
    /// Whether limits apply at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Requests per minute per bearer token (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated_per_minute: Option<u32>,
    /// Requests per minute per IP address without a live token (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_per_minute: Option<u32>,
    /// Requests per minute per registered peer (signed requests), default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_per_minute: Option<u32>,
    /// Requests allowed at once (default: each bucket's per-minute rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Whether the operator's token bypasses the limits (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_operator: Option<bool>,
    /// Whether anonymous callers on loopback addresses (local tools, a reverse proxy on
    /// the same host) bypass the limits (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_loopback: Option<bool>,
    /// Per-endpoint requests per minute per identity, by operation id (merged over the
    /// defaults, e.g. `calendarDigest = 60`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<BTreeMap<String, u32>>,
}

/// The resolved rate limits (see [`crate::ratelimit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Requests per period per bearer token.
    pub authenticated_per_minute: u32,
    /// Requests per period per IP address without a live token.
    pub anonymous_per_minute: u32,
    /// Requests per period for each registered peer.
    pub peer_per_minute: u32,
    /// Requests allowed at once; `None`: each bucket's rate.
    pub burst: Option<u32>,
    /// Whether the operator's token bypasses the limits.
    pub exempt_operator: bool,
    /// Whether anonymous callers on loopback addresses bypass the limits.
    pub exempt_loopback: bool,
    /// Per-endpoint rates per identity, by operation id.
    pub endpoints: BTreeMap<String, u32>,
    /// The period the rates refer to (a minute, unless a test scales it).
    pub period: std::time::Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            authenticated_per_minute: AUTHENTICATED_PER_MINUTE_DEFAULT,
            anonymous_per_minute: ANONYMOUS_PER_MINUTE_DEFAULT,
            peer_per_minute: PEER_PER_MINUTE_DEFAULT,
            burst: None,
            exempt_operator: EXEMPT_OPERATOR_DEFAULT,
            exempt_loopback: EXEMPT_LOOPBACK_DEFAULT,
            endpoints: ENDPOINT_DEFAULTS
                .iter()
                .map(|(id, n)| ((*id).to_owned(), *n))
                .collect(),
            period: PERIOD_DEFAULT,
        }
    }
}

impl RateLimitSettings {
    /// No limits at all (benchmarks that measure the node, not the limiter).
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Resolves `[rate_limits]` against the environment (`env` looks a variable up).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for rates outside `1..=PER_MINUTE_MAX`, unknown endpoint
    /// ids, or unparsable environment values.
    pub fn resolve(
        file: RateLimitsFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        fn env_num<T: std::str::FromStr>(
            env: &impl Fn(&str) -> Option<String>,
            var: &'static str,
        ) -> Result<Option<T>, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            env(var)
                .map(|v| {
                    v.trim().parse().map_err(|e| ConfigError::Invalid {
                        field: var,
                        reason: format!("{v:?}: {e}"),
                    })
                })
                .transpose()
        }
        fn rate(field: &'static str, n: u32) -> Result<u32, ConfigError> {
            if (1..=PER_MINUTE_MAX).contains(&n) {
                Ok(n)
            } else {
                Err(ConfigError::Invalid {
                    field,
                    reason: format!("{n} is not within 1..={PER_MINUTE_MAX}"),
                })
            }
        }
        let d = Self::default();
        let authenticated_per_minute = rate(
            "rate_limits.authenticated_per_minute",
            env_num(&env, ENV_RATE_AUTHENTICATED)?
                .or(file.authenticated_per_minute)
                .unwrap_or(d.authenticated_per_minute),
        )?;
        let anonymous_per_minute = rate(
            "rate_limits.anonymous_per_minute",
            env_num(&env, ENV_RATE_ANONYMOUS)?
                .or(file.anonymous_per_minute)
                .unwrap_or(d.anonymous_per_minute),
        )?;
        let peer_per_minute = rate(
            "rate_limits.peer_per_minute",
            env_num(&env, ENV_RATE_PEER)?
                .or(file.peer_per_minute)
                .unwrap_or(d.peer_per_minute),
        )?;
        let burst = file
            .burst
            .map(|b| rate("rate_limits.burst", b))
            .transpose()?;
        let mut endpoints = d.endpoints;
        for (id, n) in file.endpoints.unwrap_or_default() {
            if !crate::api::endpoints::is_id(&id) {
                return Err(ConfigError::Invalid {
                    field: "rate_limits.endpoints",
                    reason: format!("{id:?} is not an endpoint id (see /openapi.json)"),
                });
            }
            endpoints.insert(id, rate("rate_limits.endpoints", n)?);
        }
        let period = match env_num::<u64>(&env, ENV_RATE_PERIOD_MS)? {
            None => d.period,
            Some(ms @ 1..=3_600_000) => std::time::Duration::from_millis(ms),
            Some(ms) => {
                return Err(ConfigError::Invalid {
                    field: ENV_RATE_PERIOD_MS,
                    reason: format!("{ms} is not within 1..=3600000"),
                });
            }
        };
        Ok(Self {
            enabled: file.enabled.unwrap_or(d.enabled),
            authenticated_per_minute,
            anonymous_per_minute,
            peer_per_minute,
            burst,
            exempt_operator: file.exempt_operator.unwrap_or(d.exempt_operator),
            exempt_loopback: env_num(&env, ENV_RATE_EXEMPT_LOOPBACK)?
                .or(file.exempt_loopback)
                .unwrap_or(d.exempt_loopback),
            endpoints,
            period,
        })
    }
}

/// `[tls]` in the TOML file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Certificate chain (PEM); setting it turns HTTPS on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// `off`, `optional` or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
}

/// Whether the node asks TLS clients for a certificate.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates.
    #[default]
    Off,
    /// Asked for and verified when sent; clients without one are served.
    Optional,
    /// Clients without a valid certificate are refused during the handshake.
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(format!("{s:?} is not one of off, optional, required")),
        }
    }
}

/// The resolved TLS settings (present when the node serves HTTPS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// CA certificates (PEM) for client certificates.
    pub client_ca: Option<PathBuf>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
}

/// `[card]` in the TOML file: the operator-edited parts of the registry card.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSettings {
    /// Display name (default: the ledger origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Operator contact, e.g. `mailto:ops@example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Latitude as a decimal string (unsigned card block; never signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<String>,
    /// Longitude as a decimal string (unsigned card block; never signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<String>,
    /// mTLS identity, `spiffe://<trust-domain>/registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe_id: Option<String>,
    /// `sha256:<hex>` of the CA certificate that issues this node's mTLS certificates, as
    /// `treaty certs ca` prints it; peers bind the client certificate to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint: Option<String>,
}

/// `[trust_policy]` in the TOML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicySettings {
    /// Whether this registry accepts trust proposals.
    pub accepts_proposals: bool,
    /// The lowest trust level it federates at (0-4).
    pub min_trust_level: u8,
    /// Whether trust must be mutual.
    pub requires_mutual: bool,
}

impl Default for TrustPolicySettings {
    fn default() -> Self {
        Self {
            accepts_proposals: true,
            min_trust_level: 1,
            requires_mutual: true,
        }
    }
}

/// `[sequencer]` in the TOML file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequencerFile {
    /// Entries per batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_entries: Option<usize>,
    /// Longest wait for a batch to fill, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_wait_ms: Option<u64>,
}

/// The resolved configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory holding the database, keys and config file.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Public base URL, if configured; otherwise derived from the bound address.
    pub public_url: Option<String>,
    /// Entries per sequencer batch.
    pub batch_max_entries: usize,
    /// Longest a write waits for its batch to close, in milliseconds.
    pub batch_max_wait_ms: u64,
    /// Operator-edited registry card fields.
    pub card: CardSettings,
    /// Published trust policy.
    pub trust_policy: TrustPolicySettings,
    /// Rate limits.
    pub rate_limits: RateLimitSettings,
    /// Federation with peers.
    pub federation: FederationSettings,
    /// Witnessing and cross-anchoring.
    pub witness: WitnessSettings,
}

impl Config {
    /// Resolves the configuration: flags and environment in `o`, then the file, then defaults.
    ///
    /// # Errors
    /// An unreadable or invalid file, or invalid values.
    pub fn resolve(o: &Overrides) -> Result<Self, ConfigError> {
        Self::resolve_with_tls(o).map(|(config, _)| config)
    }

    /// Like [`Config::resolve`], also resolving the HTTPS settings (`None`: plain HTTP).
    ///
    /// # Errors
    /// An unreadable or invalid file, or invalid values (e.g. client authentication
    /// without a client CA).
    pub fn resolve_with_tls(o: &Overrides) -> Result<(Self, Option<TlsSettings>), ConfigError> {
        let data_dir = o
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let file_path = o
            .config_file
            .clone()
            .unwrap_or_else(|| data_dir.join(CONFIG_FILE_NAME));
        // An explicitly named file must exist; the default one is optional.
        let file = if o.config_file.is_some() || file_path.exists() {
            read_file(&file_path)?
        } else {
            FileConfig::default()
        };
        let seq = file.sequencer.clone().unwrap_or_default();
        let listen_text = o
            .listen
            .clone()
            .or(file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|e| ConfigError::Invalid {
            field: "listen",
            reason: format!("{listen_text:?}: {e}"),
        })?;
        let public_url = o.public_url.clone().or(file.public_url.clone());
        if let Some(url) = &public_url {
            origin_from_public_url(url)?;
        }
        let batch_max_entries = o
            .batch_max_entries
            .or(seq.batch_max_entries)
            .unwrap_or(BATCH_ENTRIES_DEFAULT);
        if !(1..=BATCH_ENTRIES_MAX).contains(&batch_max_entries) {
            return Err(ConfigError::Invalid {
                field: "batch_max_entries",
                reason: format!("{batch_max_entries} is not within 1..={BATCH_ENTRIES_MAX}"),
            });
        }
        let batch_max_wait_ms = o
            .batch_max_wait_ms
            .or(seq.batch_max_wait_ms)
            .unwrap_or(BATCH_WAIT_MS_DEFAULT);
        if batch_max_wait_ms > BATCH_WAIT_MS_MAX {
            return Err(ConfigError::Invalid {
                field: "batch_max_wait_ms",
                reason: format!("{batch_max_wait_ms} is above {BATCH_WAIT_MS_MAX}"),
            });
        }
        let trust_policy = file.trust_policy.unwrap_or_default();
        if trust_policy.min_trust_level > 4 {
            return Err(ConfigError::Invalid {
                field: "trust_policy.min_trust_level",
                reason: format!("{} is not within 0..=4", trust_policy.min_trust_level),
            });
        }
        let tls = resolve_tls(o, file.tls.clone().unwrap_or_default())?;
        // The binary's parser does not know these (no flags); read the environment here.
        let rate_limits = RateLimitSettings::resolve(file.rate_limits.unwrap_or_default(), |k| {
            std::env::var(k).ok()
        })?;
        let federation =
            FederationSettings::resolve(file.federation.unwrap_or_default(), tls.as_ref(), |k| {
                std::env::var(k).ok()
            })?;
        let witness =
            WitnessSettings::resolve(file.witness.unwrap_or_default(), |k| std::env::var(k).ok())?;
        let config = Self {
            witness,
            federation,
            data_dir,
            listen,
            public_url,
            batch_max_entries,
            batch_max_wait_ms,
            card: file.card.unwrap_or_default(),
            trust_policy,
            rate_limits,
        };
        Ok((config, tls))
    }
}

/// Resolves `[tls]` against the flags and environment; checks the combination.
fn resolve_tls(o: &Overrides, file: TlsFile) -> Result<Option<TlsSettings>, ConfigError> {
    let cert = o.tls_cert.clone().or(file.cert);
    let key = o.tls_key.clone().or(file.key);
    let client_ca = o.tls_client_ca.clone().or(file.client_ca);
    let client_auth = o.tls_client_auth.or(file.client_auth).unwrap_or_default();
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => {
            if client_auth != ClientAuth::Off || client_ca.is_some() {
                return Err(ConfigError::Invalid {
                    field: "tls",
                    reason: "client certificate settings need tls.cert and tls.key".into(),
                });
            }
            return Ok(None);
        }
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                field: "tls.key",
                reason: "tls.cert is set but tls.key is not".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                field: "tls.cert",
                reason: "tls.key is set but tls.cert is not".into(),
            });
        }
    };
    if client_auth != ClientAuth::Off && client_ca.is_none() {
        return Err(ConfigError::Invalid {
            field: "tls.client_ca",
            reason: "client_auth optional or required needs a client CA".into(),
        });
    }
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
    }))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Writes a config file (used by `treaty init`), never overwriting an existing one.
///
/// # Errors
/// I/O errors.
pub fn write_file_if_absent(path: &Path, file: &FileConfig) -> std::io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let text = toml::to_string(file).map_err(std::io::Error::other)?;
    std::fs::write(
        path,
        format!(
            "# Treaty node configuration. Flags and TREATY_* environment variables override it.\n{text}"
        ),
    )?;
    Ok(true)
}

/// The C2SP origin for a public URL: the URL without scheme or trailing slash, e.g.
/// `https://registry.example.com/treaty/` gives `registry.example.com/treaty`.
///
/// # Errors
/// [`ConfigError::Invalid`] for anything but an absolute http(s) URL without query,
/// fragment, user info, spaces or `+`.
pub fn origin_from_public_url(url: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        field: "public_url",
        reason: format!("{url:?}: {reason}"),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let origin = rest.trim_end_matches('/');
    if origin.is_empty() {
        return Err(bad("has no host"));
    }
    if origin.contains(['?', '#', '@', ' ', '+', '\n', '\t']) {
        return Err(bad(
            "must not contain a query, fragment, user info, spaces or '+'",
        ));
    }
    if !origin.is_ascii() || origin.chars().any(|c| c.is_ascii_control()) {
        return Err(bad("must be printable ASCII"));
    }
    Ok(origin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_from_public_url("https://r.example.com/treaty/").expect("ok"),
            "r.example.com/treaty"
        );
        assert_eq!(
            origin_from_public_url("http://127.0.0.1:8080").expect("ok"),
            "127.0.0.1:8080"
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://a b",
            "https://a+b",
            "https://x?y=1",
            "r.example",
        ] {
            assert!(origin_from_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_is_flags_then_file_then_defaults() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "listen = \"127.0.0.1:9999\"\npublic_url = \"https://file.example\"\n[sequencer]\nbatch_max_wait_ms = 7\n",
        )
        .expect("write");
        let base = Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Overrides::default()
        };
        let c = Config::resolve(&base).expect("resolve");
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.public_url.as_deref(), Some("https://file.example"));
        assert_eq!(c.batch_max_wait_ms, 7);
        assert_eq!(c.batch_max_entries, BATCH_ENTRIES_DEFAULT);
        let c = Config::resolve(&Overrides {
            listen: Some("127.0.0.1:1".into()),
            public_url: Some("https://flag.example".into()),
            ..base.clone()
        })
        .expect("resolve");
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.public_url.as_deref(), Some("https://flag.example"));
        let empty = tempfile::tempdir().expect("tmp");
        let c = Config::resolve(&Overrides {
            data_dir: Some(empty.path().to_owned()),
            ..Overrides::default()
        })
        .expect("resolve");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.batch_max_wait_ms, BATCH_WAIT_MS_DEFAULT);
    }

    #[test]
    fn tls_settings_resolve_and_are_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "[tls]\ncert = \"file.pem\"\nkey = \"file.key\"\nclient_ca = \"ca.pem\"\nclient_auth = \"optional\"\n",
        )
        .expect("write");
        let base = Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Overrides::default()
        };
        let t = Config::resolve_with_tls(&base)
            .expect("resolve")
            .1
            .expect("tls");
        assert_eq!(t.cert, PathBuf::from("file.pem"));
        assert_eq!(t.client_auth, ClientAuth::Optional);
        let t = Config::resolve_with_tls(&Overrides {
            tls_cert: Some("flag.pem".into()),
            tls_client_auth: Some(ClientAuth::Required),
            ..base
        })
        .expect("resolve")
        .1
        .expect("tls");
        assert_eq!(t.cert, PathBuf::from("flag.pem"));
        assert_eq!(t.key, PathBuf::from("file.key"));
        assert_eq!(t.client_auth, ClientAuth::Required);

        let empty = tempfile::tempdir().expect("tmp");
        let o = Overrides {
            data_dir: Some(empty.path().to_owned()),
            ..Overrides::default()
        };
        assert_eq!(Config::resolve_with_tls(&o).expect("resolve").1, None);
        for bad in [
            Overrides {
                tls_cert: Some("c.pem".into()),
                tls_key: Some("k.pem".into()),
                tls_client_auth: Some(ClientAuth::Required),
                ..o.clone()
            },
            Overrides {
                tls_cert: Some("c.pem".into()),
                ..o.clone()
            },
            Overrides {
                tls_client_auth: Some(ClientAuth::Optional),
                tls_client_ca: Some("ca.pem".into()),
                ..o.clone()
            },
        ] {
            assert!(matches!(
                Config::resolve(&bad),
                Err(ConfigError::Invalid { .. })
            ));
        }
        assert_eq!("required".parse(), Ok(ClientAuth::Required));
        assert!("yes".parse::<ClientAuth>().is_err());
    }

    #[test]
    fn rate_limits_resolve_and_are_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "[rate_limits]\nauthenticated_per_minute = 50\nburst = 10\n[rate_limits.endpoints]\ndiscover = 30\n",
        )
        .expect("write");
        let c = Config::resolve(&Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Overrides::default()
        })
        .expect("resolve");
        let r = &c.rate_limits;
        assert_eq!(r.authenticated_per_minute, 50);
        assert_eq!(r.anonymous_per_minute, ANONYMOUS_PER_MINUTE_DEFAULT);
        assert_eq!(r.burst, Some(10));
        assert_eq!(r.endpoints.get("discover"), Some(&30));
        assert_eq!(r.endpoints.get("calendarDigest"), Some(&60));
        assert!(r.enabled && r.exempt_operator);

        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let file = RateLimitsFile {
            anonymous_per_minute: Some(7),
            ..RateLimitsFile::default()
        };
        let r = RateLimitSettings::resolve(
            file.clone(),
            env(&[(ENV_RATE_ANONYMOUS, "5"), (ENV_RATE_PERIOD_MS, "1000")]),
        )
        .expect("resolve");
        assert_eq!(r.anonymous_per_minute, 5);
        assert_eq!(r.period, std::time::Duration::from_secs(1));
        assert!(r.exempt_loopback);
        let r =
            RateLimitSettings::resolve(file.clone(), env(&[(ENV_RATE_EXEMPT_LOOPBACK, "false")]))
                .expect("resolve");
        assert!(!r.exempt_loopback);
        for bad in [
            RateLimitSettings::resolve(file.clone(), env(&[(ENV_RATE_AUTHENTICATED, "0")])),
            RateLimitSettings::resolve(file.clone(), env(&[(ENV_RATE_ANONYMOUS, "many")])),
            RateLimitSettings::resolve(file.clone(), env(&[(ENV_RATE_PERIOD_MS, "0")])),
            RateLimitSettings::resolve(
                RateLimitsFile {
                    endpoints: Some([("noSuchThing".to_owned(), 5)].into()),
                    ..RateLimitsFile::default()
                },
                env(&[]),
            ),
            RateLimitSettings::resolve(
                RateLimitsFile {
                    burst: Some(0),
                    ..RateLimitsFile::default()
                },
                env(&[]),
            ),
        ] {
            assert!(matches!(bad, Err(ConfigError::Invalid { .. })), "{bad:?}");
        }
    }

    #[test]
    fn bad_files_and_values_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(CONFIG_FILE_NAME), "lisen = 1\n").expect("write");
        let o = Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&o),
            Err(ConfigError::Parse { .. })
        ));
        let o = Overrides {
            data_dir: Some(tempfile::tempdir().expect("tmp").path().to_owned()),
            batch_max_entries: Some(0),
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&o),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
