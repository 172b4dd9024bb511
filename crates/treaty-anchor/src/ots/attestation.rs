//! Attestations: the leaves of a timestamp tree (python-opentimestamps `core/notary.py`).
//!
//! On the wire an attestation is `00`, an 8-byte tag and varbytes(payload); the payload's
//! content depends on the tag. Tags this crate does not interpret (Litecoin, Ethereum,
//! Treaty's own checkpoint attestation in [`crate::node`]) are kept byte for byte.

use super::wire::{Reader, write_varbytes, write_varuint};
use super::{ATTESTATION_PAYLOAD_BYTES_MAX, OtsError, PENDING_URI_BYTES_MAX};
use std::cmp::Ordering;

/// Tag of a Pending attestation: "ask this calendar for the completed proof".
pub const PENDING_TAG: [u8; 8] = [0x83, 0xdf, 0xe3, 0x0d, 0x2e, 0xf9, 0x0c, 0x8e];
/// Tag of a Bitcoin block header attestation.
pub const BITCOIN_TAG: [u8; 8] = [0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01];

/// The only characters a Pending URI may hold (`PendingAttestation.ALLOWED_URI_CHARS`):
/// no query, fragment, percent-encoding or user info, so a URI cannot smuggle anything
/// but a calendar address.
pub const PENDING_URI_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._/:";

/// A statement that the message at this point of the tree existed at some time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attestation {
    /// The calendar at `uri` holds the message and will answer `GET <uri>/timestamp/<hex
    /// of the message>` with a more complete proof.
    Pending {
        /// The calendar's base URI.
        uri: String,
    },
    /// The message is the Merkle root of the Bitcoin block at `height`.
    Bitcoin {
        /// Block height.
        height: u64,
    },
    /// Any other tag, payload kept verbatim.
    Unknown {
        /// The 8-byte tag.
        tag: [u8; 8],
        /// The payload, without its length prefix.
        payload: Vec<u8>,
    },
}

/// Checks a Pending URI against [`PENDING_URI_BYTES_MAX`] and [`PENDING_URI_CHARS`].
///
/// # Errors
/// [`OtsError::BadPendingUri`] (with offset 0) saying what is wrong.
pub fn validate_pending_uri(uri: &str) -> Result<(), OtsError> {
    check_uri(uri.as_bytes(), 0)
}

fn check_uri(uri: &[u8], offset: usize) -> Result<(), OtsError> {
    if uri.len() > PENDING_URI_BYTES_MAX {
        return Err(OtsError::BadPendingUri {
            offset,
            reason: format!("is {} bytes, over {PENDING_URI_BYTES_MAX}", uri.len()),
        });
    }
    if let Some(pos) = uri.iter().position(|c| !PENDING_URI_CHARS.contains(c)) {
        return Err(OtsError::BadPendingUri {
            offset: offset + pos,
            reason: format!(
                "has the disallowed byte {:#04x} at position {pos} (allowed: A-Z a-z 0-9 - . _ / :)",
                uri[pos]
            ),
        });
    }
    Ok(())
}

impl Attestation {
    /// A Pending attestation for a calendar URI, checked.
    ///
    /// # Errors
    /// [`OtsError::BadPendingUri`].
    pub fn pending(uri: impl Into<String>) -> Result<Self, OtsError> {
        let uri = uri.into();
        validate_pending_uri(&uri)?;
        Ok(Attestation::Pending { uri })
    }

    /// The 8-byte tag.
    #[must_use]
    pub fn tag(&self) -> [u8; 8] {
        match self {
            Attestation::Pending { .. } => PENDING_TAG,
            Attestation::Bitcoin { .. } => BITCOIN_TAG,
            Attestation::Unknown { tag, .. } => *tag,
        }
    }

    /// Whether this attestation only promises a later proof.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(self, Attestation::Pending { .. })
    }

    /// The payload bytes (inside the outer length prefix).
    ///
    /// # Errors
    /// [`OtsError::BadPendingUri`] or [`OtsError::PayloadTooLarge`].
    pub fn payload(&self) -> Result<Vec<u8>, OtsError> {
        let mut payload = Vec::new();
        match self {
            Attestation::Pending { uri } => {
                validate_pending_uri(uri)?;
                write_varbytes(&mut payload, uri.as_bytes());
            }
            Attestation::Bitcoin { height } => write_varuint(&mut payload, *height),
            Attestation::Unknown { payload: p, .. } => payload.extend_from_slice(p),
        }
        if payload.len() > ATTESTATION_PAYLOAD_BYTES_MAX {
            return Err(OtsError::PayloadTooLarge {
                len: payload.len(),
                max: ATTESTATION_PAYLOAD_BYTES_MAX,
            });
        }
        Ok(payload)
    }

    /// Appends `tag || varbytes(payload)` (the `00` marker is the caller's).
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), OtsError> {
        let payload = self.payload()?;
        out.extend_from_slice(&self.tag());
        write_varbytes(out, &payload);
        Ok(())
    }

    /// Reads `tag || varbytes(payload)` (after the `00` marker) and interprets known tags.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, OtsError> {
        let tag_bytes = r.take(8, "an 8-byte attestation tag")?;
        let mut tag = [0u8; 8];
        tag.copy_from_slice(tag_bytes);
        let payload = r.varbytes(0, ATTESTATION_PAYLOAD_BYTES_MAX, "attestation payload")?;
        let payload_offset = r.offset() - payload.len();
        let mut p = Reader::at(payload, payload_offset);
        let (attestation, what) = match tag {
            PENDING_TAG => {
                let uri_offset = p.offset();
                let uri = p.varbytes(0, PENDING_URI_BYTES_MAX, "pending attestation URI")?;
                // The length prefix is one or two bytes; point errors at the URI itself.
                check_uri(uri, uri_offset + (p.offset() - uri_offset - uri.len()))?;
                // Allowed characters are ASCII, so this cannot fail; stay total anyway.
                let uri = String::from_utf8(uri.to_vec()).map_err(|_| OtsError::BadPendingUri {
                    offset: uri_offset,
                    reason: "is not UTF-8".to_owned(),
                })?;
                (Attestation::Pending { uri }, "pending")
            }
            BITCOIN_TAG => {
                let height = p.varuint("Bitcoin block height")?;
                (Attestation::Bitcoin { height }, "Bitcoin")
            }
            _ => {
                return Ok(Attestation::Unknown {
                    tag,
                    payload: payload.to_vec(),
                });
            }
        };
        // Known payloads have no room for extensions (the reference calls assert_eof).
        if p.remaining() > 0 {
            return Err(OtsError::PayloadTrailingBytes {
                offset: p.offset(),
                what,
                extra: p.remaining(),
            });
        }
        Ok(attestation)
    }

    /// Rank of the variant, to order attestations that share a tag but not a variant (an
    /// `Unknown` built by hand with a known tag) consistently with `Eq`.
    fn variant_rank(&self) -> u8 {
        match self {
            Attestation::Pending { .. } => 0,
            Attestation::Bitcoin { .. } => 1,
            Attestation::Unknown { .. } => 2,
        }
    }
}

/// The reference order (`TimeAttestation.__lt__` and subclasses): by tag, then by URI
/// (Pending), height (Bitcoin) or payload bytes (unknown).
impl Ord for Attestation {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tag()
            .cmp(&other.tag())
            .then_with(|| match (self, other) {
                (Attestation::Pending { uri: a }, Attestation::Pending { uri: b }) => a.cmp(b),
                (Attestation::Bitcoin { height: a }, Attestation::Bitcoin { height: b }) => {
                    a.cmp(b)
                }
                (
                    Attestation::Unknown { payload: a, .. },
                    Attestation::Unknown { payload: b, .. },
                ) => a.cmp(b),
                _ => self.variant_rank().cmp(&other.variant_rank()),
            })
    }
}

impl PartialOrd for Attestation {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(a: &Attestation) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(a.write(&mut out).is_ok());
        out
    }

    fn read(b: &[u8]) -> Result<Attestation, OtsError> {
        Attestation::read(&mut Reader::new(b))
    }

    #[test]
    fn reference_vectors() {
        // python-opentimestamps tests/core/test_notary.py.
        let pending = Attestation::Pending {
            uri: "foobar".into(),
        };
        let expected = [&PENDING_TAG[..], &[0x07, 0x06], b"foobar"].concat();
        assert_eq!(bytes(&pending), expected);
        assert_eq!(read(&expected), Ok(pending));

        let unknown = Attestation::Unknown {
            tag: [1, 2, 3, 4, 5, 6, 7, 8],
            payload: b"Hello World!".to_vec(),
        };
        let expected = [&[1, 2, 3, 4, 5, 6, 7, 8][..], &[0x0c], b"Hello World!"].concat();
        assert_eq!(bytes(&unknown), expected);
        assert_eq!(read(&expected), Ok(unknown));

        let bitcoin = Attestation::Bitcoin { height: 358_391 };
        let b = bytes(&bitcoin);
        assert_eq!(read(&b), Ok(bitcoin));
    }

    #[test]
    fn reference_rejections() {
        // Payload over 8192 bytes, for an unknown tag and for Pending.
        for tag in [[1, 2, 3, 4, 5, 6, 7, 8], PENDING_TAG] {
            let b = [&tag[..], &[0x81, 0x40], &[b'x'; 8193]].concat();
            assert!(matches!(
                read(&b),
                Err(OtsError::BadLength { len: 8193, .. })
            ));
        }
        // A URI with '%'.
        let b = [&PENDING_TAG[..], &[0x07, 0x06], b"fo%bar"].concat();
        assert!(matches!(
            read(&b),
            Err(OtsError::BadPendingUri { offset: 12, .. })
        ));
        // A 1000-byte URI is fine, 1001 is not.
        let ok = [&PENDING_TAG[..], &[0xea, 0x07, 0xe8, 0x07], &[b'x'; 1000]].concat();
        assert!(read(&ok).is_ok());
        let long = [&PENDING_TAG[..], &[0xeb, 0x07, 0xe9, 0x07], &[b'x'; 1001]].concat();
        assert!(matches!(
            read(&long),
            Err(OtsError::BadLength { len: 1001, .. })
        ));
        // Trailing garbage inside Pending and Bitcoin payloads.
        let b = [&PENDING_TAG[..], &[0x08, 0x06], b"foobarx"].concat();
        assert!(matches!(
            read(&b),
            Err(OtsError::PayloadTrailingBytes { extra: 1, .. })
        ));
        let b = [&BITCOIN_TAG[..], &[0x02, 0x00, 0xff]].concat();
        assert!(matches!(
            read(&b),
            Err(OtsError::PayloadTrailingBytes {
                offset: 10,
                extra: 1,
                ..
            })
        ));
    }

    #[test]
    fn order_matches_reference() {
        let mut v = [
            Attestation::Pending {
                uri: "foobaz".into(),
            },
            Attestation::Pending {
                uri: "barfoo".into(),
            },
            Attestation::Bitcoin { height: 2 },
            Attestation::Unknown {
                tag: [0; 8],
                payload: vec![],
            },
            Attestation::Pending {
                uri: "foobar".into(),
            },
            Attestation::Bitcoin { height: 1 },
        ];
        v.sort();
        let uris: Vec<String> = v
            .iter()
            .map(|a| match a {
                Attestation::Pending { uri } => uri.clone(),
                Attestation::Bitcoin { height } => format!("btc{height}"),
                Attestation::Unknown { .. } => "unknown".into(),
            })
            .collect();
        // Bitcoin's tag (05..) sorts before Pending's (83..); within a tag, by content.
        assert_eq!(
            uris,
            ["unknown", "btc1", "btc2", "barfoo", "foobar", "foobaz"]
        );
    }
}
