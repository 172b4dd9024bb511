//! The primitive encodings of the format (python-opentimestamps `core/serialize.py`):
//! unsigned LEB128 integers ("varuint") and length-prefixed byte strings ("varbytes").
//!
//! The reference reader accepts non-minimal LEB128 (`80 00` for zero). This reader refuses
//! it, so that every value has exactly one encoding: a parsed file re-serializes to the same
//! bytes, and no byte of a proof can change without changing what the proof says.

use super::OtsError;

/// A cursor over input bytes that knows its absolute position in the outermost input, so
/// errors inside nested payloads still name the byte of the file.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// The bytes being read.
    buf: &'a [u8],
    /// Next unread position within `buf`.
    pos: usize,
    /// Offset of `buf[0]` within the outermost input, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole input.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self::at(buf, 0)
    }

    /// A reader over a slice that starts at `base` in the outermost input.
    pub(crate) fn at(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Unread bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte.
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, OtsError> {
        let b = *self.buf.get(self.pos).ok_or(OtsError::Truncated {
            offset: self.offset(),
            what,
        })?;
        self.pos += 1;
        Ok(b)
    }

    /// Exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], OtsError> {
        if self.remaining() < n {
            return Err(OtsError::Truncated {
                offset: self.offset(),
                what,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// An unsigned LEB128 integer of at most 64 bits, minimally encoded.
    pub(crate) fn varuint(&mut self, what: &'static str) -> Result<u64, OtsError> {
        let start = self.offset();
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte(what)?;
            let low = u64::from(b & 0x7f);
            // Bits that would fall beyond 64 make the value unrepresentable.
            if shift > 63 || (shift == 63 && low > 1) {
                return Err(OtsError::VaruintOverflow {
                    offset: start,
                    what,
                });
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                // A final zero group after the first byte adds nothing: a longer encoding
                // of a value that has a shorter one.
                if b == 0 && shift > 0 {
                    return Err(OtsError::NonCanonicalVaruint {
                        offset: start,
                        what,
                    });
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// A varuint length within `min..=max`, then that many bytes.
    pub(crate) fn varbytes(
        &mut self,
        min: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], OtsError> {
        let offset = self.offset();
        let len = self.varuint(what)?;
        // Compare as u64 before converting: a huge length must not wrap on 32-bit targets.
        if len < min as u64 || len > max as u64 {
            return Err(OtsError::BadLength {
                offset,
                what,
                len,
                min,
                max,
            });
        }
        // In range, so it fits in usize.
        self.take(usize::try_from(len).unwrap_or(usize::MAX), what)
    }
}

/// Appends `value` as unsigned LEB128, minimally encoded.
pub(crate) fn write_varuint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Appends a varuint length and the bytes.
pub(crate) fn write_varbytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varuint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varuint(&mut out, v);
        out
    }

    #[test]
    fn varuint_known_encodings() {
        // Values from the reference implementation's LEB128 writer.
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(1000), [0xe8, 0x07]);
        assert_eq!(enc(8193), [0x81, 0x40]);
        assert_eq!(
            enc(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn varuint_round_trips() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            300,
            16_383,
            16_384,
            1 << 35,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = enc(v);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.varuint("v").ok(), Some(v));
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn varuint_rejects_non_minimal_overflow_and_truncation() {
        let cases: [(&[u8], &str); 5] = [
            (&[0x80, 0x00], "non-minimal"),
            (&[0xff, 0x00], "non-minimal"),
            (&[0x80], "truncated"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                "overflow",
            ),
            (
                &[
                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                ],
                "overflow",
            ),
        ];
        for (bytes, kind) in cases {
            let err = Reader::new(bytes).varuint("v");
            let ok = match kind {
                "non-minimal" => matches!(err, Err(OtsError::NonCanonicalVaruint { .. })),
                "truncated" => matches!(err, Err(OtsError::Truncated { .. })),
                _ => matches!(err, Err(OtsError::VaruintOverflow { .. })),
            };
            assert!(ok, "{bytes:02x?}: {err:?}");
        }
    }

    #[test]
    fn varbytes_checks_bounds_before_reading() {
        let mut r = Reader::new(&[0x03, b'a', b'b']);
        assert!(matches!(
            r.varbytes(0, 10, "x"),
            Err(OtsError::Truncated { offset: 1, .. })
        ));
        let mut r = Reader::new(&[0x00]);
        assert!(matches!(
            r.varbytes(1, 10, "x"),
            Err(OtsError::BadLength { len: 0, .. })
        ));
        let mut r = Reader::at(&[0x0b], 40);
        assert!(matches!(
            r.varbytes(1, 10, "x"),
            Err(OtsError::BadLength {
                offset: 40,
                len: 11,
                ..
            })
        ));
    }
}
