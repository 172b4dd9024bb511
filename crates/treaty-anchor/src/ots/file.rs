//! Detached timestamp files (python-opentimestamps `DetachedTimestampFile`): the `.ots`
//! file a user keeps next to what was timestamped.

use super::wire::Reader;
use super::{Evaluated, FILE_BYTES_MAX, MAGIC, MAJOR_VERSION, Op, OtsError, Timestamp};

/// A timestamp for a digest, with the header that makes it a self-describing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedTimestampFile {
    /// How the file was hashed (a hash [`Op`]).
    hash_op: Op,
    /// The file's digest: the start message of the tree.
    digest: Vec<u8>,
    /// The proof tree.
    timestamp: Timestamp,
}

impl DetachedTimestampFile {
    /// A file for `digest` made with `hash_op`.
    ///
    /// # Errors
    /// [`OtsError::BadFileHashOp`] unless `hash_op` is a hash, [`OtsError::DigestLength`]
    /// unless `digest` has its length.
    pub fn new(hash_op: Op, digest: Vec<u8>, timestamp: Timestamp) -> Result<Self, OtsError> {
        let Some(expected) = hash_op.digest_len() else {
            return Err(OtsError::BadFileHashOp {
                offset: 0,
                tag: hash_op.tag(),
            });
        };
        if digest.len() != expected {
            return Err(OtsError::DigestLength {
                op: hash_op.name(),
                len: digest.len(),
                expected,
            });
        }
        Ok(Self {
            hash_op,
            digest,
            timestamp,
        })
    }

    /// A file for a SHA-256 digest (Treaty timestamps 32-byte Merkle roots).
    #[must_use]
    pub fn sha256(digest: [u8; 32], timestamp: Timestamp) -> Self {
        Self {
            hash_op: Op::Sha256,
            digest: digest.to_vec(),
            timestamp,
        }
    }

    /// The file hash operation.
    #[must_use]
    pub fn hash_op(&self) -> &Op {
        &self.hash_op
    }

    /// The timestamped digest.
    #[must_use]
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The proof tree.
    #[must_use]
    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp
    }

    /// Parses a whole `.ots` file.
    ///
    /// # Errors
    /// [`OtsError::TooLarge`] over [`FILE_BYTES_MAX`], [`OtsError::BadMagic`],
    /// [`OtsError::UnsupportedVersion`], [`OtsError::BadFileHashOp`], truncation, tree
    /// errors, and [`OtsError::TrailingBytes`].
    pub fn parse(bytes: &[u8]) -> Result<Self, OtsError> {
        if bytes.len() > FILE_BYTES_MAX {
            return Err(OtsError::TooLarge {
                what: ".ots file",
                len: bytes.len(),
                max: FILE_BYTES_MAX,
            });
        }
        // A short file is reported as not-a-proof, as the reference does: a few bytes of
        // something else are not "a truncated proof".
        if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(OtsError::BadMagic);
        }
        let mut r = Reader::at(&bytes[MAGIC.len()..], MAGIC.len());
        let version = r.byte("the major version byte")?;
        if version != MAJOR_VERSION {
            return Err(OtsError::UnsupportedVersion { version });
        }
        let op_offset = r.offset();
        let tag = r.byte("the file hash operation")?;
        let Some(hash_op) = Op::hash_from_tag(tag) else {
            return Err(OtsError::BadFileHashOp {
                offset: op_offset,
                tag,
            });
        };
        let len = hash_op.digest_len().unwrap_or(32);
        let digest = r.take(len, "the file digest")?.to_vec();
        let timestamp = Timestamp::read(&mut r)?;
        if r.remaining() > 0 {
            return Err(OtsError::TrailingBytes {
                offset: r.offset(),
                extra: r.remaining(),
            });
        }
        Ok(Self {
            hash_op,
            digest,
            timestamp,
        })
    }

    /// The file's bytes.
    ///
    /// # Errors
    /// As [`Timestamp::to_bytes`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, OtsError> {
        let mut out = Vec::with_capacity(MAGIC.len() + 2 + self.digest.len() + 64);
        out.extend_from_slice(&MAGIC);
        out.push(MAJOR_VERSION);
        self.hash_op.write(&mut out)?;
        out.extend_from_slice(&self.digest);
        self.timestamp.write(&mut out)?;
        Ok(out)
    }

    /// Every attestation with the message it attests, starting from the digest.
    ///
    /// # Errors
    /// As [`Timestamp::evaluate`].
    pub fn evaluate(&self) -> Result<Vec<Evaluated>, OtsError> {
        self.timestamp.evaluate(&self.digest)
    }

    /// Pending attestations as `(commitment, calendar URI)`: what to ask each calendar for
    /// with `GET <uri>/timestamp/<hex commitment>`. Each pair once, in tree order.
    ///
    /// # Errors
    /// As [`Timestamp::evaluate`].
    pub fn pending(&self) -> Result<Vec<(Vec<u8>, String)>, OtsError> {
        let mut out: Vec<(Vec<u8>, String)> = Vec::new();
        for e in self.evaluate()? {
            if let super::Attestation::Pending { uri } = e.attestation {
                let pair = (e.message, uri);
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        Ok(out)
    }

    /// Merges a bare calendar answer for this file's digest (what `POST /digest` returns).
    pub fn merge_answer(&mut self, answer: Timestamp) {
        self.timestamp.merge(answer);
    }

    /// Merges another file for the same digest.
    ///
    /// # Errors
    /// [`OtsError::DigestMismatch`] when the hash operation or digest differ.
    pub fn merge(&mut self, other: DetachedTimestampFile) -> Result<(), OtsError> {
        if other.hash_op != self.hash_op || other.digest != self.digest {
            return Err(OtsError::DigestMismatch);
        }
        self.timestamp.merge(other.timestamp);
        Ok(())
    }

    /// Applies a calendar's completed answer for `commitment` (see
    /// [`Timestamp::upgrade`]); returns how many nodes were upgraded.
    ///
    /// # Errors
    /// As [`Timestamp::upgrade`].
    pub fn upgrade(
        &mut self,
        commitment: &[u8],
        uri: &str,
        answer: &Timestamp,
    ) -> Result<usize, OtsError> {
        self.timestamp
            .upgrade(&self.digest, commitment, uri, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Attestation, PENDING_TAG};
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn reference_file() -> Vec<u8> {
        // python-opentimestamps tests/core/test_timestamp.py
        // Test_DetachedTimestampFile.test_serialization.
        let mut v = MAGIC.to_vec();
        v.push(0x01);
        v.push(0x08);
        v.extend_from_slice(&hex::decode(EMPTY_SHA256).unwrap_or_default());
        v.push(0x00);
        v.extend_from_slice(&PENDING_TAG);
        v.extend_from_slice(&[0x07, 0x06]);
        v.extend_from_slice(b"foobar");
        v
    }

    #[test]
    fn reference_file_round_trips() -> Result<(), OtsError> {
        let bytes = reference_file();
        let file = DetachedTimestampFile::parse(&bytes)?;
        assert_eq!(hex::encode(file.digest()), EMPTY_SHA256);
        assert_eq!(file.to_bytes()?, bytes);
        let built = DetachedTimestampFile::new(
            Op::Sha256,
            file.digest().to_vec(),
            Timestamp::with_attestation(Attestation::Pending {
                uri: "foobar".into(),
            }),
        )?;
        assert_eq!(built, file);
        Ok(())
    }

    #[test]
    fn reference_rejections() {
        let mut bad_version = MAGIC.to_vec();
        bad_version.push(0x00);
        let mut bad_op = MAGIC.to_vec();
        bad_op.extend_from_slice(&[0x01, 0x42]);
        bad_op.extend_from_slice(&[0u8; 32]);
        let mut trailing = reference_file();
        trailing.extend_from_slice(b"trailing garbage");
        let cases = [
            (Vec::new(), OtsError::BadMagic),
            (
                b"\x00Not a OpenTimestamps Proof \x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94\x01".to_vec(),
                OtsError::BadMagic,
            ),
            (bad_version, OtsError::UnsupportedVersion { version: 0 }),
            (
                bad_op,
                OtsError::BadFileHashOp {
                    offset: 32,
                    tag: 0x42,
                },
            ),
            (
                trailing,
                OtsError::TrailingBytes {
                    offset: 82,
                    extra: 16,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(DetachedTimestampFile::parse(&bytes), Err(want));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = reference_file();
        for len in 0..bytes.len() {
            let err = DetachedTimestampFile::parse(&bytes[..len]);
            assert!(err.is_err(), "prefix of {len} bytes parsed");
            if len > MAGIC.len() {
                assert!(
                    matches!(err, Err(OtsError::Truncated { .. })),
                    "prefix of {len}: {err:?}"
                );
            }
        }
    }
}
