//! The JSON Web Key Set a node publishes with the keys that sign its card (RFC 7517 section
//! 5), holding Ed25519 public keys as OKP JWKs (RFC 8037 section 2).
//!
//! Each key is
//! `{"alg":"EdDSA","crv":"Ed25519","kid":..,"kty":"OKP","status":..,"use":"sig",
//! "valid_from":..,"x":..}` plus `valid_until` for a retired key. `kid` must be the key's
//! RFC 7638 thumbprint, so a key ID can never be re-bound to another key. `status`,
//! `valid_from` and `valid_until` are Treaty's members (RFC 7517 section 4 allows members
//! beyond the registered ones): they let a key be rotated without invalidating cards signed
//! before the rotation. A key's validity window is half-open: a card signed at `iat` is
//! accepted when `valid_from <= iat` and, for a retired key, `iat < valid_until`.
//!
//! The format is closed like the card's: a private member (`d`) or any other unknown member
//! is refused, so a misconfigured node that leaks a private key into its JWKS is caught by
//! its peers instead of trusted.

use ed25519_dalek::VerifyingKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use treaty_types::limits::SAFE_INTEGER_MAX;
use treaty_types::{canonicalize, check_json};

use crate::CardError;
use crate::error::clip;
use crate::json::{Obj, parse_strict, pointer_index};
use crate::jws::{JWS_ALG, b64url, b64url_decode};
use crate::limits::{JWKS_BYTES_MAX, JWKS_KEYS_MAX};

/// Whether a key may sign new cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// The key signs the node's cards now (`"status":"current"`, no `valid_until`).
    Current,
    /// The key no longer signs; cards it signed before `valid_until` still verify
    /// (`"status":"retired"`).
    Retired,
}

impl KeyStatus {
    /// The JSON text of the status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Current => "current",
            KeyStatus::Retired => "retired",
        }
    }
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key: unpadded base64url of SHA-256 over
/// `{"crv":"Ed25519","kty":"OKP","x":<base64url key>}` (RFC 8037 appendix A.3).
#[must_use]
pub fn jwk_thumbprint(public_key: &[u8; 32]) -> String {
    // The three required members in lexicographic order, no white space: RFC 7638 section
    // 3.2's input, which is also their JCS form since no value needs escaping.
    let input = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        b64url(public_key)
    );
    b64url(&Sha256::digest(input.as_bytes()))
}

/// One public key of a JWKS, with its rotation state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// The RFC 7638 thumbprint of `public_key`, cached because signatures are matched on it.
    kid: String,
    /// The Ed25519 public key (member `x`).
    public_key: VerifyingKey,
    /// Member `status`.
    status: KeyStatus,
    /// First second the key may sign at (member `valid_from`, Unix seconds).
    valid_from: u64,
    /// For a retired key, the second from which it no longer signs (member `valid_until`).
    valid_until: Option<u64>,
}

impl Jwk {
    /// A current key, signing from `valid_from` (Unix seconds) on.
    ///
    /// # Errors
    /// [`CardError::TimestampOutOfRange`] above 2^53 - 1 and [`CardError::InvalidJwk`] for a
    /// weak (small-order) key, under which anyone could forge signatures.
    pub fn current(public_key: &VerifyingKey, valid_from: u64) -> Result<Self, CardError> {
        Self::build(public_key, KeyStatus::Current, valid_from, None, 0)
    }

    /// A retired key that signed from `valid_from` until just before `valid_until`.
    ///
    /// # Errors
    /// As [`Jwk::current`], and [`CardError::InvalidJwk`] when `valid_until < valid_from`.
    pub fn retired(
        public_key: &VerifyingKey,
        valid_from: u64,
        valid_until: u64,
    ) -> Result<Self, CardError> {
        Self::build(
            public_key,
            KeyStatus::Retired,
            valid_from,
            Some(valid_until),
            0,
        )
    }

    /// This key, retired at `valid_until` (the rotation step: publish the new key as
    /// current and this one retired, with the same `valid_until` as the new key's
    /// `valid_from`).
    ///
    /// # Errors
    /// As [`Jwk::retired`].
    pub fn retire(&self, valid_until: u64) -> Result<Self, CardError> {
        Self::retired(&self.public_key, self.valid_from, valid_until)
    }

    /// Checks and builds; `index` is the key's position for error messages.
    fn build(
        public_key: &VerifyingKey,
        status: KeyStatus,
        valid_from: u64,
        valid_until: Option<u64>,
        index: usize,
    ) -> Result<Self, CardError> {
        for (what, value) in [
            ("valid_from", Some(valid_from)),
            ("valid_until", valid_until),
        ] {
            if let Some(value) = value.filter(|v| *v > SAFE_INTEGER_MAX) {
                return Err(CardError::TimestampOutOfRange { what, value });
            }
        }
        if public_key.is_weak() {
            return Err(CardError::InvalidJwk {
                index,
                reason: "weak (small-order) Ed25519 public key",
            });
        }
        if valid_until.is_some_and(|until| until < valid_from) {
            return Err(CardError::InvalidJwk {
                index,
                reason: "valid_until is before valid_from",
            });
        }
        Ok(Self {
            kid: jwk_thumbprint(public_key.as_bytes()),
            public_key: *public_key,
            status,
            valid_from,
            valid_until,
        })
    }

    /// The key ID (RFC 7638 thumbprint).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// Current or retired.
    #[must_use]
    pub fn status(&self) -> KeyStatus {
        self.status
    }

    /// First second the key may sign at.
    #[must_use]
    pub fn valid_from(&self) -> u64 {
        self.valid_from
    }

    /// For a retired key, the first second at which it no longer signs.
    #[must_use]
    pub fn valid_until(&self) -> Option<u64> {
        self.valid_until
    }

    /// Checks that a card signed at `iat` lies in this key's window `[valid_from,
    /// valid_until)`.
    ///
    /// # Errors
    /// [`CardError::KeyNotYetValid`] and [`CardError::SignedAfterRetirement`].
    pub fn check_signing_time(&self, iat: u64) -> Result<(), CardError> {
        if iat < self.valid_from {
            return Err(CardError::KeyNotYetValid {
                kid: self.kid.clone(),
                iat,
                valid_from: self.valid_from,
            });
        }
        if let Some(valid_until) = self.valid_until.filter(|until| iat >= *until) {
            return Err(CardError::SignedAfterRetirement {
                kid: self.kid.clone(),
                iat,
                valid_until,
            });
        }
        Ok(())
    }

    /// The JSON form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kty".into(), "OKP".into());
        m.insert("crv".into(), "Ed25519".into());
        m.insert("x".into(), b64url(self.public_key.as_bytes()).into());
        m.insert("kid".into(), self.kid.as_str().into());
        m.insert("alg".into(), JWS_ALG.into());
        m.insert("use".into(), "sig".into());
        m.insert("status".into(), self.status.as_str().into());
        m.insert("valid_from".into(), self.valid_from.into());
        if let Some(until) = self.valid_until {
            m.insert("valid_until".into(), until.into());
        }
        Value::Object(m)
    }

    /// Parses key number `index` of a JWKS.
    fn from_value(value: &Value, index: usize) -> Result<Self, CardError> {
        let o = Obj::new(value, &pointer_index("/keys", index))?;
        let invalid = |reason| CardError::InvalidJwk { index, reason };
        if o.has("d") {
            return Err(invalid(
                "has private key member \"d\": a JWKS publishes public keys only",
            ));
        }
        o.only(&[
            "kty",
            "crv",
            "x",
            "kid",
            "alg",
            "use",
            "status",
            "valid_from",
            "valid_until",
        ])?;
        if o.str("kty")? != "OKP" {
            return Err(invalid("kty is not \"OKP\""));
        }
        if o.str("crv")? != "Ed25519" {
            return Err(invalid("crv is not \"Ed25519\""));
        }
        if o.str("alg")? != JWS_ALG {
            return Err(invalid("alg is not \"EdDSA\""));
        }
        if o.str("use")? != "sig" {
            return Err(invalid("use is not \"sig\""));
        }
        let x: [u8; 32] = b64url_decode(o.str("x")?)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| invalid("x is not unpadded base64url of 32 bytes"))?;
        let public_key =
            VerifyingKey::from_bytes(&x).map_err(|_| invalid("x is not an Ed25519 point"))?;
        let status = match o.str("status")? {
            "current" => KeyStatus::Current,
            "retired" => KeyStatus::Retired,
            _ => return Err(invalid("status is not \"current\" or \"retired\"")),
        };
        let valid_from = o.u64("valid_from")?;
        let valid_until = match (status, o.has("valid_until")) {
            (KeyStatus::Retired, true) => Some(o.u64("valid_until")?),
            (KeyStatus::Retired, false) => {
                return Err(invalid("a retired key needs valid_until"));
            }
            (KeyStatus::Current, true) => {
                return Err(invalid("a current key has no valid_until"));
            }
            (KeyStatus::Current, false) => None,
        };
        let jwk = Self::build(&public_key, status, valid_from, valid_until, index)?;
        let kid = o.str("kid")?;
        if kid != jwk.kid {
            return Err(CardError::JwkKidMismatch {
                index,
                kid: clip(kid),
                thumbprint: jwk.kid,
            });
        }
        Ok(jwk)
    }
}

/// A JWKS: `{"keys":[<Jwk>...]}`, at most [`JWKS_KEYS_MAX`] keys with distinct `kid`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    /// The keys, in document order.
    keys: Vec<Jwk>,
}

impl Jwks {
    /// A key set from keys.
    ///
    /// # Errors
    /// [`CardError::TooMany`] above [`JWKS_KEYS_MAX`] and [`CardError::DuplicateKid`].
    pub fn new(keys: Vec<Jwk>) -> Result<Self, CardError> {
        if keys.len() > JWKS_KEYS_MAX {
            return Err(CardError::TooMany {
                what: "JWKS keys",
                count: keys.len(),
                max: JWKS_KEYS_MAX,
            });
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(CardError::DuplicateKid {
                    kid: key.kid.clone(),
                });
            }
        }
        Ok(Self { keys })
    }

    /// Parses a JWKS document as fetched.
    ///
    /// # Errors
    /// [`CardError::TooLarge`] above [`JWKS_BYTES_MAX`], [`CardError::InvalidJson`],
    /// [`CardError::UnsafeJson`] and everything [`Jwks::from_value`] refuses.
    pub fn parse(bytes: &[u8]) -> Result<Self, CardError> {
        if bytes.len() > JWKS_BYTES_MAX {
            return Err(CardError::TooLarge {
                what: "JWKS",
                len: bytes.len(),
                max: JWKS_BYTES_MAX,
            });
        }
        let value = parse_strict("JWKS", bytes)?;
        check_json(&value).map_err(|source| CardError::UnsafeJson {
            what: "JWKS",
            source,
        })?;
        Self::from_value(&value)
    }

    /// Parses a JWKS value.
    ///
    /// # Errors
    /// The structural errors, [`CardError::TooMany`], [`CardError::InvalidJwk`],
    /// [`CardError::JwkKidMismatch`], [`CardError::TimestampOutOfRange`] and
    /// [`CardError::DuplicateKid`].
    pub fn from_value(value: &Value) -> Result<Self, CardError> {
        let o = Obj::new(value, "")?;
        o.only(&["keys"])?;
        let items = o.array("keys")?;
        if items.len() > JWKS_KEYS_MAX {
            return Err(CardError::TooMany {
                what: "JWKS keys",
                count: items.len(),
                max: JWKS_KEYS_MAX,
            });
        }
        let keys = items
            .iter()
            .enumerate()
            .map(|(i, v)| Jwk::from_value(v, i))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The JSON form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().map(Jwk::to_value).collect();
        let mut m = Map::new();
        m.insert("keys".into(), Value::Array(keys));
        Value::Object(m)
    }

    /// The JCS bytes of [`Jwks::to_value`], as a node serves them.
    ///
    /// # Errors
    /// None in practice (times are checked at construction); the canonicalizer's error is
    /// passed on rather than assumed away.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        canonicalize(&self.to_value()).map_err(|source| CardError::UnsafeJson {
            what: "JWKS",
            source,
        })
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All keys, in document order.
    #[must_use]
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    fn vk(seed: u8) -> VerifyingKey {
        SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[test]
    fn round_trip() {
        let current = Jwk::current(&vk(1), 100).expect("current");
        let retired = Jwk::current(&vk(2), 10)
            .expect("old")
            .retire(100)
            .expect("retired");
        let jwks = Jwks::new(vec![current, retired]).expect("jwks");
        let bytes = jwks.to_bytes().expect("bytes");
        assert_eq!(Jwks::parse(&bytes).expect("parses"), jwks);
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(
            text.contains(r#""status":"retired","use":"sig","valid_from":10,"valid_until":100"#)
        );
    }

    #[test]
    fn window_is_half_open() {
        let k = Jwk::retired(&vk(1), 10, 20).expect("key");
        assert!(k.check_signing_time(10).is_ok());
        assert!(k.check_signing_time(19).is_ok());
        assert!(matches!(
            k.check_signing_time(9),
            Err(CardError::KeyNotYetValid { .. })
        ));
        assert!(matches!(
            k.check_signing_time(20),
            Err(CardError::SignedAfterRetirement { .. })
        ));
        assert!(
            Jwk::current(&vk(1), 10)
                .expect("key")
                .check_signing_time(u64::MAX)
                .is_ok()
        );
    }

    #[test]
    fn refuses_bad_keys() {
        let good = Jwk::current(&vk(1), 0).expect("key").to_value();
        let with = |key: &str, value: Value| {
            let mut v = good.clone();
            v[key] = value;
            json!({ "keys": [v] })
        };
        let without = |key: &str| {
            let mut v = good.clone();
            v.as_object_mut().expect("object").remove(key);
            json!({ "keys": [v] })
        };
        let cases = [
            (
                with("d", json!("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")),
                "invalid_jwk",
            ),
            (with("kty", json!("EC")), "invalid_jwk"),
            (with("crv", json!("X25519")), "invalid_jwk"),
            (with("alg", json!("ES256")), "invalid_jwk"),
            (with("use", json!("enc")), "invalid_jwk"),
            (with("x", json!("AAAA")), "invalid_jwk"),
            (with("status", json!("revoked")), "invalid_jwk"),
            (with("valid_until", json!(5)), "invalid_jwk"),
            (with("kid", json!("not-the-thumbprint")), "jwk_kid_mismatch"),
            (with("key_ops", json!(["verify"])), "unknown_field"),
            (with("valid_from", json!(-1)), "wrong_type"),
            (without("kid"), "missing_field"),
            (
                json!({"keys": [good.clone(), good.clone()]}),
                "duplicate_kid",
            ),
            (json!({"keys": {}}), "wrong_type"),
            (json!({"keys": [], "extra": 1}), "unknown_field"),
        ];
        for (doc, code) in cases {
            let err = Jwks::from_value(&doc).expect_err("refused");
            assert_eq!(err.code(), code, "{doc}: {err}");
        }
        let mut retired = good.clone();
        retired["status"] = json!("retired");
        let err = Jwks::from_value(&json!({ "keys": [retired] })).expect_err("no valid_until");
        assert_eq!(err.code(), "invalid_jwk");
    }

    #[test]
    fn limits() {
        let many = json!({"keys": vec![json!({}); JWKS_KEYS_MAX + 1]});
        assert!(matches!(
            Jwks::from_value(&many),
            Err(CardError::TooMany { .. })
        ));
        assert!(matches!(
            Jwks::parse(&vec![b' '; JWKS_BYTES_MAX + 1]),
            Err(CardError::TooLarge { .. })
        ));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).expect("identity decodes");
        assert!(matches!(
            Jwk::current(&weak, 0),
            Err(CardError::InvalidJwk { .. })
        ));
        assert!(matches!(
            Jwk::current(&vk(1), SAFE_INTEGER_MAX + 1),
            Err(CardError::TimestampOutOfRange { .. })
        ));
    }
}
