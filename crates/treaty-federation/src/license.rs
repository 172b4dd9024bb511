//! Admission licenses: the secret a node operator hands to a peer operator so that the
//! peer may register, its status, and the limits it grants.
//!
//! A license key is `trt_lic_` followed by 64 lower-case hex digits (32 random bytes), 72
//! characters in all. The prefix makes leaked keys easy to recognize (secret scanners,
//! logs); the fixed form lets the node refuse garbage before any lookup. The node stores
//! only the SHA-256 of the key text ([`LicenseKey::hash`]), so a copy of its database does
//! not reveal usable keys; a presented key is hashed ([`parse_license_key`]) and looked up
//! by hash. Randomness is the caller's: [`license_from_random`] takes the 32 bytes.
//!
//! # Limits JSON
//!
//! ```json
//! {"max_records": 100000, "max_events_per_minute": 1000, "tier": "standard"}
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `max_records` | integer | 1 to [`MAX_RECORDS_LIMIT`] |
//! | `max_events_per_minute` | integer | 1 to [`MAX_EVENTS_PER_MINUTE_LIMIT`] |
//! | `tier` | string | `"standard"` or `"enterprise"` |

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::FedError;
use crate::error::clip;
use crate::json::{Obj, invalid};
use crate::limits::{MAX_EVENTS_PER_MINUTE_LIMIT, MAX_RECORDS_LIMIT};

/// The prefix of every license key.
pub const LICENSE_PREFIX: &str = "trt_lic_";

/// Length of a license key in characters: the prefix and 64 hex digits.
pub const LICENSE_KEY_LEN: usize = LICENSE_PREFIX.len() + 64;

/// A freshly made license key and its hash.
///
/// `Debug` shows only the prefix of the key, so the secret does not end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey {
    /// The key text, handed to the peer operator once.
    pub key: String,
    /// SHA-256 of the key text's UTF-8 bytes: what the node stores.
    pub hash: [u8; 32],
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseKey")
            .field("key", &format_args!("{LICENSE_PREFIX}<redacted>"))
            .field("hash", &hex::encode(self.hash))
            .finish()
    }
}

/// The license key made from 32 random bytes (which the caller draws from the OS).
#[must_use]
pub fn license_from_random(random: &[u8; 32]) -> LicenseKey {
    let key = format!("{LICENSE_PREFIX}{}", hex::encode(random));
    let hash = Sha256::digest(key.as_bytes()).into();
    LicenseKey { key, hash }
}

/// Checks a presented license key's exact form and returns the SHA-256 of its text, the
/// value to look up.
///
/// # Errors
/// [`FedError::LicenseMalformed`]: wrong length, wrong prefix, or anything but lower-case
/// hex after it.
pub fn parse_license_key(text: &str) -> Result<[u8; 32], FedError> {
    if text.len() != LICENSE_KEY_LEN {
        return Err(FedError::LicenseMalformed {
            reason: "not 72 characters",
        });
    }
    let Some(digits) = text.strip_prefix(LICENSE_PREFIX) else {
        return Err(FedError::LicenseMalformed {
            reason: "does not start with trt_lic_",
        });
    };
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(FedError::LicenseMalformed {
            reason: "not 64 lower-case hex digits after trt_lic_",
        });
    }
    Ok(Sha256::digest(text.as_bytes()).into())
}

/// Writes `Display`, `Serialize` and `Deserialize` for an enumeration with `as_str` and
/// `parse`, so each name has one spelling everywhere.
macro_rules! named_enum_serde {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(D::Error::custom)
            }
        }
    };
}

/// A license's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseStatus {
    /// Usable.
    Active,
    /// Temporarily not usable.
    Suspended,
    /// Permanently not usable.
    Revoked,
}

impl LicenseStatus {
    /// `active`, `suspended` or `revoked`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Suspended => "suspended",
            LicenseStatus::Revoked => "revoked",
        }
    }

    /// The status named `text` (exactly).
    ///
    /// # Errors
    /// [`FedError::UnknownValue`].
    pub fn parse(text: &str) -> Result<Self, FedError> {
        match text {
            "active" => Ok(LicenseStatus::Active),
            "suspended" => Ok(LicenseStatus::Suspended),
            "revoked" => Ok(LicenseStatus::Revoked),
            _ => Err(FedError::UnknownValue {
                what: "license status",
                value: clip(text),
            }),
        }
    }

    /// The status after an operator sets it to `to`. Any change is allowed except leaving
    /// `revoked`, which is final (a revoked key may have leaked; issue a new one). Setting
    /// the current status again is allowed, so retried requests are harmless.
    ///
    /// # Errors
    /// [`FedError::LicenseRevoked`].
    pub fn transition(self, to: LicenseStatus) -> Result<LicenseStatus, FedError> {
        if self == LicenseStatus::Revoked && to != LicenseStatus::Revoked {
            return Err(FedError::LicenseRevoked);
        }
        Ok(to)
    }
}

named_enum_serde!(LicenseStatus);

/// A license's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tier {
    /// The default tier.
    #[default]
    Standard,
    /// The enterprise tier.
    Enterprise,
}

impl Tier {
    /// `standard` or `enterprise`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Enterprise => "enterprise",
        }
    }

    /// The tier named `text` (exactly).
    ///
    /// # Errors
    /// [`FedError::UnknownValue`].
    pub fn parse(text: &str) -> Result<Self, FedError> {
        match text {
            "standard" => Ok(Tier::Standard),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(FedError::UnknownValue {
                what: "license tier",
                value: clip(text),
            }),
        }
    }
}

named_enum_serde!(Tier);

/// What a license lets the peer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseLimits {
    /// Most records the peer may hold here (1 to [`MAX_RECORDS_LIMIT`]).
    pub max_records: u64,
    /// Most events per minute the peer may send (1 to [`MAX_EVENTS_PER_MINUTE_LIMIT`]).
    pub max_events_per_minute: u32,
    /// The tier.
    pub tier: Tier,
}

impl Default for LicenseLimits {
    /// 100 000 records, 1 000 events a minute, standard tier.
    fn default() -> Self {
        Self {
            max_records: 100_000,
            max_events_per_minute: 1_000,
            tier: Tier::Standard,
        }
    }
}

impl LicenseLimits {
    /// Checks both limits are within their ranges.
    ///
    /// # Errors
    /// [`FedError::InvalidField`].
    pub fn validate(&self) -> Result<(), FedError> {
        if self.max_records == 0 || self.max_records > MAX_RECORDS_LIMIT {
            return Err(invalid("/max_records", "not 1 to 100000000"));
        }
        if self.max_events_per_minute == 0
            || self.max_events_per_minute > MAX_EVENTS_PER_MINUTE_LIMIT
        {
            return Err(invalid("/max_events_per_minute", "not 1 to 1000000"));
        }
        Ok(())
    }

    /// The JSON form (see the module documentation).
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("max_records".into(), self.max_records.into());
        m.insert(
            "max_events_per_minute".into(),
            self.max_events_per_minute.into(),
        );
        m.insert("tier".into(), self.tier.as_str().into());
        Value::Object(m)
    }

    /// Parses and validates the JSON form strictly.
    ///
    /// # Errors
    /// The structural errors, [`FedError::InvalidField`] (including an unknown tier).
    pub fn from_value(v: &Value) -> Result<Self, FedError> {
        let o = Obj::new(v, "")?;
        o.only(&["max_records", "max_events_per_minute", "tier"])?;
        let tier = Tier::parse(o.str("tier")?)
            .map_err(|_| invalid("/tier", "not \"standard\" or \"enterprise\""))?;
        let limits = LicenseLimits {
            max_records: o.u64("max_records")?,
            max_events_per_minute: o.u32("max_events_per_minute")?,
            tier,
        };
        limits.validate()?;
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_form_and_hash() {
        let lic = license_from_random(&[0xab; 32]);
        assert_eq!(lic.key.len(), 72);
        assert_eq!(lic.key, format!("trt_lic_{}", "ab".repeat(32)));
        // The hash is SHA-256 of the key text, not of the random bytes.
        assert_eq!(
            lic.hash,
            <[u8; 32]>::from(Sha256::digest(lic.key.as_bytes()))
        );
        assert_eq!(parse_license_key(&lic.key), Ok(lic.hash));
        // Known answer: sha256("trt_lic_" + "00" * 32), computed with python3
        // hashlib.sha256(("trt_lic_" + "00" * 32).encode()).hexdigest().
        let zero = license_from_random(&[0; 32]);
        assert_eq!(hex::encode(zero.hash), ZERO_KEY_SHA256);
        assert!(!format!("{lic:?}").contains(&"ab".repeat(32)));
    }

    const ZERO_KEY_SHA256: &str =
        "30daa6df998f728ccda73821d23fc530498b59b0a8ae8c4c634aa2b64adc4929";

    #[test]
    fn malformed_keys_are_refused() {
        let good = license_from_random(&[0x5c; 32]).key;
        let upper = good.to_uppercase().replacen("TRT_LIC_", "trt_lic_", 1);
        let cases = [
            String::new(),
            good[..71].to_owned(),
            format!("{good}0"),
            good.replacen("trt_lic_", "trt_key_", 1),
            good.replacen("trt_lic_", "TRT_LIC_", 1),
            upper,
            format!("{}g", &good[..71]),
            format!("{} ", &good[..71]),
            format!("trt_lic_{}é", "a".repeat(62)),
        ];
        for bad in cases {
            let err = parse_license_key(&bad).expect_err(&bad);
            assert_eq!(err.code(), "license_malformed", "{bad:?}");
        }
    }

    #[test]
    fn status_transitions() {
        use LicenseStatus as L;
        let all = [L::Active, L::Suspended, L::Revoked];
        for from in all {
            for to in all {
                let got = from.transition(to);
                if from == L::Revoked && to != L::Revoked {
                    assert_eq!(got.expect_err("final").code(), "license_revoked");
                } else {
                    assert_eq!(got, Ok(to));
                }
            }
            assert_eq!(L::parse(from.as_str()), Ok(from));
            let json = serde_json::to_string(&from).expect("json");
            assert_eq!(serde_json::from_str::<L>(&json).expect("back"), from);
        }
        assert_eq!(
            L::parse("Active").expect_err("case").code(),
            "unknown_value"
        );
    }

    #[test]
    fn limits() {
        let d = LicenseLimits::default();
        assert_eq!(
            d.to_value(),
            json!({"max_records": 100_000, "max_events_per_minute": 1000, "tier": "standard"})
        );
        assert_eq!(LicenseLimits::from_value(&d.to_value()), Ok(d));
        let e = LicenseLimits {
            max_records: MAX_RECORDS_LIMIT,
            max_events_per_minute: MAX_EVENTS_PER_MINUTE_LIMIT,
            tier: Tier::Enterprise,
        };
        assert_eq!(LicenseLimits::from_value(&e.to_value()), Ok(e));
        for (v, code) in [
            (
                json!({"max_records": 0, "max_events_per_minute": 1, "tier": "standard"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 100_000_001, "max_events_per_minute": 1, "tier": "standard"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 0, "tier": "standard"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 1_000_001, "tier": "standard"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 4_294_967_296_u64, "tier": "standard"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 1, "tier": "gold"}),
                "invalid_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 1}),
                "missing_field",
            ),
            (
                json!({"max_records": 1, "max_events_per_minute": 1, "tier": "standard", "x": 1}),
                "unknown_field",
            ),
            (
                json!({"max_records": "1", "max_events_per_minute": 1, "tier": "standard"}),
                "wrong_type",
            ),
        ] {
            assert_eq!(
                LicenseLimits::from_value(&v)
                    .expect_err(&v.to_string())
                    .code(),
                code,
                "{v}"
            );
        }
        assert_eq!(
            Tier::parse("gold").expect_err("tier").code(),
            "unknown_value"
        );
        assert_eq!(Tier::default(), Tier::Standard);
        assert_eq!(
            serde_json::to_string(&Tier::Enterprise).expect("json"),
            "\"enterprise\""
        );
    }
}
