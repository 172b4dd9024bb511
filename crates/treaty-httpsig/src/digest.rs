//! RFC 9530 `Content-Digest` with SHA-256.
//!
//! The field is an RFC 8941 Dictionary from algorithm keys to Byte Sequences (RFC 9530
//! section 2). Treaty sends exactly one member, `sha-256=:<base64 of SHA-256(body)>:`, and
//! verifiers require that member: it is the only algorithm in the registry (RFC 9530
//! section 5) both "active" and strong that every node implements. Other members are
//! ignored, as RFC 9530 section 2 allows ("A recipient MAY ignore any or all digests"), so
//! a peer may add e.g. `sha-512` for other recipients without breaking Treaty.
//!
//! The digest is over the message content as sent, after any content coding (RFC 9530
//! section 2, RFC 9110 section 6.4): callers pass the body bytes exactly as they travel.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::error::{HttpSigError, clip};
use crate::sf::{self, BareItem, MemberValue};

/// The algorithm key for SHA-256 in the Hash Algorithms for HTTP Digest Fields registry.
pub const SHA256_KEY: &str = "sha-256";
/// Length of a SHA-256 digest.
const SHA256_BYTES: usize = 32;
/// Most unknown algorithm keys named in an [`HttpSigError::UnsupportedDigestAlgorithm`].
const FOUND_ALGORITHMS_SHOWN: usize = 4;

/// The `Content-Digest` field value for `body`: `sha-256=:<base64>:`.
#[must_use]
pub fn content_digest(body: &[u8]) -> String {
    format!("{SHA256_KEY}=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Checks a `Content-Digest` field value against `body`.
///
/// Several field lines are combined with `", "` by the caller, as for any Dictionary.
///
/// # Errors
/// - [`HttpSigError::MalformedContentDigest`]: not a Dictionary (or over the size limit), or
///   the `sha-256` member is not a Byte Sequence of 32 bytes;
/// - [`HttpSigError::UnsupportedDigestAlgorithm`]: no `sha-256` member;
/// - [`HttpSigError::ContentDigestMismatch`]: the digest is not the body's.
pub fn verify_content_digest(field_value: &str, body: &[u8]) -> Result<(), HttpSigError> {
    let dict =
        sf::parse_dictionary(field_value).map_err(|e| HttpSigError::MalformedContentDigest {
            reason: e.to_string(),
        })?;
    let Some(member) = dict.get(SHA256_KEY) else {
        return Err(HttpSigError::UnsupportedDigestAlgorithm {
            found: dict
                .iter()
                .take(FOUND_ALGORITHMS_SHOWN)
                .map(|(k, _)| clip(k.as_str()))
                .collect(),
        });
    };
    let stated = match member {
        MemberValue::Item(item) => match &item.bare {
            BareItem::ByteSequence(bytes) if bytes.len() == SHA256_BYTES => bytes,
            _ => {
                return Err(HttpSigError::MalformedContentDigest {
                    reason: "sha-256 is not a byte sequence of 32 bytes".to_owned(),
                });
            }
        },
        MemberValue::InnerList(_) => {
            return Err(HttpSigError::MalformedContentDigest {
                reason: "sha-256 is an inner list, not a byte sequence".to_owned(),
            });
        }
    };
    let computed = Sha256::digest(body);
    // Not a secret comparison: both values are public (the body is in hand), so a plain
    // comparison leaks nothing.
    if stated.as_slice() != computed.as_slice() {
        return Err(HttpSigError::ContentDigestMismatch {
            stated: STANDARD.encode(stated),
            computed: STANDARD.encode(computed),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_body() {
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
        assert_eq!(verify_content_digest(&content_digest(b""), b""), Ok(()));
    }

    #[test]
    fn unknown_algorithms_are_ignored() {
        let value = format!("sha-512=:AAAA:, {}, md5=?1", content_digest(b"x"));
        assert_eq!(verify_content_digest(&value, b"x"), Ok(()));
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let err = verify_content_digest("sha-256=", b"x").expect_err("must be refused");
        assert_eq!(err.code(), "malformed_content_digest");
        let err = verify_content_digest("sha-256=:AAAA:", b"x").expect_err("must be refused");
        assert_eq!(err.code(), "malformed_content_digest");
        let err = verify_content_digest("sha-256=\"abc\"", b"x").expect_err("must be refused");
        assert_eq!(err.code(), "malformed_content_digest");
        let err = verify_content_digest("sha-256=(1 2)", b"x").expect_err("must be refused");
        assert_eq!(err.code(), "malformed_content_digest");
        let err = verify_content_digest("sha-512=:AAAA:", b"x").expect_err("must be refused");
        assert_eq!(
            err,
            HttpSigError::UnsupportedDigestAlgorithm {
                found: vec!["sha-512".to_owned()]
            }
        );
        let err = verify_content_digest("", b"x").expect_err("must be refused");
        assert_eq!(err.code(), "unsupported_digest_algorithm");
        let err = verify_content_digest(&content_digest(b"x"), b"y").expect_err("must be refused");
        assert_eq!(err.code(), "content_digest_mismatch");
    }
}
