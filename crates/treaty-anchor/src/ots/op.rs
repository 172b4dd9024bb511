//! Operations: the edges of a timestamp tree (python-opentimestamps `core/op.py`).

use super::{MSG_BYTES_MAX, OP_ARG_BYTES_MAX, OtsError};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

pub(crate) const TAG_SHA1: u8 = 0x02;
pub(crate) const TAG_RIPEMD160: u8 = 0x03;
pub(crate) const TAG_SHA256: u8 = 0x08;
pub(crate) const TAG_KECCAK256: u8 = 0x67;
pub(crate) const TAG_APPEND: u8 = 0xf0;
pub(crate) const TAG_PREPEND: u8 = 0xf1;
pub(crate) const TAG_REVERSE: u8 = 0xf2;
pub(crate) const TAG_HEXLIFY: u8 = 0xf3;

/// One operation from a message to the next.
///
/// Append and prepend arguments must be 1 to [`OP_ARG_BYTES_MAX`] bytes; the variants are
/// open for pattern matching, so the bound is checked wherever an operation is serialized
/// or applied rather than at construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `02`: SHA-1 (parsed and written, not evaluated here).
    Sha1,
    /// `03`: RIPEMD-160 (parsed and written, not evaluated here).
    Ripemd160,
    /// `08`: SHA-256.
    Sha256,
    /// `67`: Keccak-256 (parsed and written, not evaluated here).
    Keccak256,
    /// `f0`: message || argument.
    Append(Vec<u8>),
    /// `f1`: argument || message.
    Prepend(Vec<u8>),
    /// `f2`: the message's bytes reversed (deprecated upstream, still readable).
    Reverse,
    /// `f3`: the message in lower-case hexadecimal, as ASCII.
    Hexlify,
}

impl Op {
    /// The tag byte.
    #[must_use]
    pub fn tag(&self) -> u8 {
        match self {
            Op::Sha1 => TAG_SHA1,
            Op::Ripemd160 => TAG_RIPEMD160,
            Op::Sha256 => TAG_SHA256,
            Op::Keccak256 => TAG_KECCAK256,
            Op::Append(_) => TAG_APPEND,
            Op::Prepend(_) => TAG_PREPEND,
            Op::Reverse => TAG_REVERSE,
            Op::Hexlify => TAG_HEXLIFY,
        }
    }

    /// The reference implementation's name for the operation.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Op::Sha1 => "sha1",
            Op::Ripemd160 => "ripemd160",
            Op::Sha256 => "sha256",
            Op::Keccak256 => "keccak256",
            Op::Append(_) => "append",
            Op::Prepend(_) => "prepend",
            Op::Reverse => "reverse",
            Op::Hexlify => "hexlify",
        }
    }

    /// The argument of append and prepend.
    #[must_use]
    pub fn argument(&self) -> Option<&[u8]> {
        match self {
            Op::Append(a) | Op::Prepend(a) => Some(a),
            _ => None,
        }
    }

    /// The digest length of a hash operation; `None` for the others.
    #[must_use]
    pub fn digest_len(&self) -> Option<usize> {
        match self {
            Op::Sha1 | Op::Ripemd160 => Some(20),
            Op::Sha256 | Op::Keccak256 => Some(32),
            _ => None,
        }
    }

    /// The hash operation with this tag, for the file header.
    pub(crate) fn hash_from_tag(tag: u8) -> Option<Op> {
        match tag {
            TAG_SHA1 => Some(Op::Sha1),
            TAG_RIPEMD160 => Some(Op::Ripemd160),
            TAG_SHA256 => Some(Op::Sha256),
            TAG_KECCAK256 => Some(Op::Keccak256),
            _ => None,
        }
    }

    /// The argument-less operation with this tag.
    pub(crate) fn unary_from_tag(tag: u8) -> Option<Op> {
        match tag {
            TAG_REVERSE => Some(Op::Reverse),
            TAG_HEXLIFY => Some(Op::Hexlify),
            t => Op::hash_from_tag(t),
        }
    }

    /// Checks the argument bound (see the type's doc).
    pub(crate) fn check(&self) -> Result<(), OtsError> {
        match self.argument() {
            Some(arg) if arg.is_empty() || arg.len() > OP_ARG_BYTES_MAX => {
                Err(OtsError::BadArgument {
                    op: self.name(),
                    len: arg.len(),
                    max: OP_ARG_BYTES_MAX,
                })
            }
            _ => Ok(()),
        }
    }

    /// Appends the tag and, for append/prepend, varbytes(argument).
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), OtsError> {
        self.check()?;
        out.push(self.tag());
        if let Some(arg) = self.argument() {
            super::wire::write_varbytes(out, arg);
        }
        Ok(())
    }

    /// Applies the operation to `msg`, with the reference implementation's bounds: the
    /// input and the result are at most [`MSG_BYTES_MAX`] bytes (hexlify's input at most
    /// half of it) and reverse/hexlify refuse an empty message.
    ///
    /// # Errors
    /// [`OtsError::MessageTooLong`], [`OtsError::EmptyMessage`], [`OtsError::BadArgument`],
    /// and [`OtsError::UnsupportedOp`] for SHA-1, RIPEMD-160 and Keccak-256.
    pub fn apply(&self, msg: &[u8]) -> Result<Vec<u8>, OtsError> {
        self.check()?;
        let max_in = match self {
            Op::Hexlify => MSG_BYTES_MAX / 2,
            _ => MSG_BYTES_MAX,
        };
        if msg.len() > max_in {
            return Err(OtsError::MessageTooLong {
                op: self.name(),
                len: msg.len(),
                max: max_in,
            });
        }
        let out = match self {
            Op::Sha256 => Sha256::digest(msg).to_vec(),
            Op::Append(arg) => [msg, arg.as_slice()].concat(),
            Op::Prepend(arg) => [arg.as_slice(), msg].concat(),
            Op::Reverse | Op::Hexlify if msg.is_empty() => {
                return Err(OtsError::EmptyMessage { op: self.name() });
            }
            Op::Reverse => msg.iter().rev().copied().collect(),
            Op::Hexlify => hex::encode(msg).into_bytes(),
            Op::Sha1 | Op::Ripemd160 | Op::Keccak256 => {
                return Err(OtsError::UnsupportedOp { op: self.name() });
            }
        };
        if out.len() > MSG_BYTES_MAX {
            return Err(OtsError::MessageTooLong {
                op: self.name(),
                len: out.len(),
                max: MSG_BYTES_MAX,
            });
        }
        Ok(out)
    }
}

/// The reference order (`Op.__lt__`): by tag, then by argument bytes.
impl Ord for Op {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tag().cmp(&other.tag()).then_with(|| {
            self.argument()
                .unwrap_or_default()
                .cmp(other.argument().unwrap_or_default())
        })
    }
}

impl PartialOrd for Op {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_matches_reference_semantics() -> Result<(), OtsError> {
        assert_eq!(Op::Append(b"bar".to_vec()).apply(b"foo")?, b"foobar");
        assert_eq!(Op::Prepend(b"bar".to_vec()).apply(b"foo")?, b"barfoo");
        assert_eq!(Op::Hexlify.apply(&[0x00, 0xab, 0xff])?, b"00abff");
        assert_eq!(Op::Reverse.apply(b"abc")?, b"cba");
        assert_eq!(
            hex::encode(Op::Sha256.apply(b"")?),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        Ok(())
    }

    #[test]
    fn apply_enforces_reference_limits() {
        // The reference test: a 4095-byte message may be appended to by one byte, a
        // 4096-byte one may not.
        let op = Op::Append(vec![0]);
        assert!(op.apply(&[b'.'; 4095]).is_ok());
        assert!(matches!(
            op.apply(&[b'.'; 4096]),
            Err(OtsError::MessageTooLong { len: 4097, .. })
        ));
        assert!(Op::Hexlify.apply(&[0; 2048]).is_ok());
        assert!(matches!(
            Op::Hexlify.apply(&[0; 2049]),
            Err(OtsError::MessageTooLong { .. })
        ));
        assert!(matches!(
            Op::Hexlify.apply(&[]),
            Err(OtsError::EmptyMessage { .. })
        ));
        assert!(matches!(
            Op::Append(vec![]).apply(b"x"),
            Err(OtsError::BadArgument { .. })
        ));
        assert!(matches!(
            Op::Sha1.apply(b"x"),
            Err(OtsError::UnsupportedOp { op: "sha1" })
        ));
    }

    #[test]
    fn order_is_tag_then_argument() {
        let mut ops = vec![
            Op::Hexlify,
            Op::Prepend(vec![1]),
            Op::Append(vec![2]),
            Op::Append(vec![1, 9]),
            Op::Sha256,
            Op::Append(vec![1]),
        ];
        ops.sort();
        assert_eq!(
            ops,
            vec![
                Op::Sha256,
                Op::Append(vec![1]),
                Op::Append(vec![1, 9]),
                Op::Append(vec![2]),
                Op::Prepend(vec![1]),
                Op::Hexlify,
            ]
        );
    }
}
