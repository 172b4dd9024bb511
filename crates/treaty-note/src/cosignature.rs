//! Timestamped Ed25519 witness cosignatures: c2sp.org/tlog-cosignature@v1.0.1, "Format" and
//! "Ed25519 signed message".
//!
//! A cosignature is a note signature line on a checkpoint whose key ID is computed with type
//! byte `0x04` and whose payload after the key ID is a `timestamped_signature`: the POSIX
//! time as a big-endian `u64`, then a 64-byte Ed25519 signature over
//!
//! ```text
//! cosignature/v1
//! time <timestamp in decimal>
//! <the whole checkpoint body, with its final newline>
//! ```
//!
//! It states that, at that time, this was the largest consistent tree the witness had seen
//! for the log. The ML-DSA-44 variant of newer drafts (type `0x06`) is not implemented.

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};

use crate::NoteError;
use crate::checkpoint::Checkpoint;
use crate::key::{KEY_TYPE_COSIGNATURE_V1, VerifierKey, check_name, key_id};
use crate::note::Signature;

/// The header line of the signed message, without its newline; it provides domain separation
/// from every other use of the same key.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1";

/// The largest timestamp the spec allows: 2^63 - 1.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = (1 << 63) - 1;

/// Bytes after the key ID: an 8-byte timestamp and a 64-byte Ed25519 signature.
const PAYLOAD_LEN: usize = 8 + 64;

/// A cosignature that verified under a known witness key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness key (type `0x04`) it verified under.
    pub key: VerifierKey,
    /// When the witness cosigned, in POSIX seconds, as the witness claims it. The spec lets
    /// verifiers reject times in the future; this crate has no clock, so that check (if
    /// wanted) is the caller's, against its own injected clock.
    pub timestamp: u64,
}

impl Cosignature {
    /// The witness's key name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The witness's key ID.
    #[must_use]
    pub fn key_id(&self) -> crate::KeyId {
        self.key.key_id()
    }
}

/// The exact bytes a witness signs for `checkpoint_body` at `timestamp`.
#[must_use]
pub fn cosignature_message(checkpoint_body: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}\ntime {timestamp}\n{checkpoint_body}")
}

/// Rejects timestamps above 2^63 - 1.
fn check_timestamp(timestamp: u64) -> Result<(), NoteError> {
    if timestamp > MAX_COSIGNATURE_TIMESTAMP {
        return Err(NoteError::TimestampOutOfRange(timestamp));
    }
    Ok(())
}

/// Cosigns a checkpoint body as witness `name` at `timestamp` (POSIX seconds, supplied by the
/// caller's clock). Returns the signature line to add to the checkpoint note or to send back
/// from a witness's `add-checkpoint` endpoint.
///
/// The body is parsed first: a witness must never put its name under something that is not a
/// checkpoint. Checking consistency with what the witness saw before is the caller's job.
///
/// # Errors
/// [`NoteError::MalformedCheckpoint`] (and the other checkpoint parse errors),
/// [`NoteError::InvalidKeyName`], [`NoteError::TimestampOutOfRange`].
pub fn cosign(
    checkpoint_body: &str,
    name: &str,
    signing_key: &SigningKey,
    timestamp: u64,
) -> Result<Signature, NoteError> {
    Checkpoint::parse(checkpoint_body)?;
    check_name(name)?;
    check_timestamp(timestamp)?;
    let id = key_id(
        name,
        KEY_TYPE_COSIGNATURE_V1,
        signing_key.verifying_key().as_bytes(),
    );
    let message = cosignature_message(checkpoint_body, timestamp);
    let signature = signing_key.sign(message.as_bytes());
    let mut bytes = Vec::with_capacity(PAYLOAD_LEN);
    bytes.extend_from_slice(&timestamp.to_be_bytes());
    bytes.extend_from_slice(&signature.to_bytes());
    Signature::new(name, id, bytes)
}

/// Reads the timestamp of a cosignature line without verifying it. Only the framing is
/// checked (8 + 64 bytes after the key ID, timestamp at most 2^63 - 1); the value means
/// nothing until [`verify_cosignature`] succeeds.
///
/// # Errors
/// [`NoteError::MalformedSignatureLine`] for the wrong length,
/// [`NoteError::TimestampOutOfRange`].
pub fn cosignature_timestamp(signature: &Signature) -> Result<u64, NoteError> {
    let timestamp = split_payload(signature.bytes()).ok_or(NoteError::MalformedSignatureLine {
        line: 1,
        reason: "a cosignature is a key ID, an 8-byte timestamp and 64 signature bytes",
    })?;
    check_timestamp(timestamp.0)?;
    Ok(timestamp.0)
}

/// Verifies one cosignature line over `checkpoint_body` under the witness key `key` and
/// returns its timestamp.
///
/// # Errors
/// [`NoteError::WrongKeyType`] unless `key` is a type `0x04` key, and
/// [`NoteError::InvalidSignature`] when the line is not by `key` or does not verify.
pub fn verify_cosignature(
    checkpoint_body: &str,
    signature: &Signature,
    key: &VerifierKey,
) -> Result<u64, NoteError> {
    if key.key_type() != KEY_TYPE_COSIGNATURE_V1 {
        return Err(NoteError::WrongKeyType {
            name: key.name().to_owned(),
            expected: KEY_TYPE_COSIGNATURE_V1,
            got: key.key_type(),
        });
    }
    let invalid = || NoteError::InvalidSignature {
        name: key.name().to_owned(),
        key_id: hex::encode(key.key_id()),
    };
    if !key.matches(signature.name(), signature.key_id()) {
        return Err(invalid());
    }
    verify_payload(key, checkpoint_body, signature.bytes()).ok_or_else(invalid)
}

/// Splits `timestamp (8, big-endian) || signature (64)`.
fn split_payload(bytes: &[u8]) -> Option<(u64, &[u8])> {
    if bytes.len() != PAYLOAD_LEN {
        return None;
    }
    let (time, signature) = bytes.split_at(8);
    let time: [u8; 8] = time.try_into().ok()?;
    Some((u64::from_be_bytes(time), signature))
}

/// Verifies a cosignature payload (the bytes after the key ID) under `key` over `body`;
/// the timestamp when valid. Shared with [`crate::Note::verify`].
pub(crate) fn verify_payload(key: &VerifierKey, body: &str, bytes: &[u8]) -> Option<u64> {
    let (timestamp, signature) = split_payload(bytes)?;
    if timestamp > MAX_COSIGNATURE_TIMESTAMP {
        return None;
    }
    let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
    let message = cosignature_message(body, timestamp);
    key.verifying_key()
        .verify(message.as_bytes(), &signature)
        .ok()
        .map(|()| timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness() -> (SigningKey, VerifierKey) {
        let sk = SigningKey::from_bytes(&[0x42; 32]);
        let vk = VerifierKey::from_signing_key("witness.example/w1", &sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("key");
        (sk, vk)
    }

    #[test]
    fn message_is_exactly_the_spec_layout() {
        assert_eq!(
            cosignature_message(BODY, 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        assert_eq!(cosignature_message(BODY, 0).lines().nth(1), Some("time 0"));
    }

    #[test]
    fn cosign_then_verify() {
        let (sk, vk) = witness();
        let sig = cosign(BODY, "witness.example/w1", &sk, 1_679_315_147).expect("cosign");
        assert_eq!(sig.key_id(), vk.key_id());
        assert_eq!(sig.bytes().len(), PAYLOAD_LEN);
        assert_eq!(cosignature_timestamp(&sig).expect("ts"), 1_679_315_147);
        assert_eq!(
            verify_cosignature(BODY, &sig, &vk).expect("verify"),
            1_679_315_147
        );
        // The line survives a text round trip.
        let reparsed = Signature::parse_line(&sig.to_line()).expect("line");
        assert_eq!(reparsed, sig);
    }

    #[test]
    fn tampering_fails() {
        let (sk, vk) = witness();
        let sig = cosign(BODY, "witness.example/w1", &sk, 1_000).expect("cosign");
        // Another body, another time, any flipped payload byte.
        let other = BODY.replace("20852163", "20852164");
        assert!(verify_cosignature(&other, &sig, &vk).is_err());
        for i in 0..sig.bytes().len() {
            let mut bytes = sig.bytes().to_vec();
            bytes[i] ^= 1;
            let forged = Signature::new(sig.name(), sig.key_id(), bytes).expect("sig");
            assert!(verify_cosignature(BODY, &forged, &vk).is_err(), "byte {i}");
        }
        // A plain Ed25519 key cannot check a cosignature, and vice versa.
        let plain = VerifierKey::from_signing_key("witness.example/w1", &sk, 0x01).expect("key");
        assert!(matches!(
            verify_cosignature(BODY, &sig, &plain),
            Err(NoteError::WrongKeyType { .. })
        ));
    }

    #[test]
    fn limits_and_inputs() {
        let (sk, _) = witness();
        assert!(matches!(
            cosign(BODY, "w", &sk, MAX_COSIGNATURE_TIMESTAMP + 1),
            Err(NoteError::TimestampOutOfRange(_))
        ));
        assert!(cosign(BODY, "w", &sk, MAX_COSIGNATURE_TIMESTAMP).is_ok());
        assert!(cosign("not a checkpoint\n", "w", &sk, 1).is_err());
        assert!(cosign(BODY, "bad name", &sk, 1).is_err());
        let short = Signature::new("w", [0; 4], vec![0; 64]).expect("sig");
        assert!(cosignature_timestamp(&short).is_err());
        let mut bytes = vec![0xff; 8];
        bytes.extend_from_slice(&[0; 64]);
        let huge = Signature::new("w", [0; 4], bytes).expect("sig");
        assert!(matches!(
            cosignature_timestamp(&huge),
            Err(NoteError::TimestampOutOfRange(_))
        ));
    }
}
