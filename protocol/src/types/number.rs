//! Arbitrary-precision numbers: `varint` and `decimal`, kept exactly as the wire has them.

use std::fmt;

/// A CQL `varint`: an integer of any size, held as its minimal big-endian two's-complement
/// bytes (never empty; zero is `[0x00]`). Conversions to `i64`/`i128` succeed when it fits.
///
/// ```
/// use ringgate_protocol::types::CqlVarint;
/// assert_eq!(CqlVarint::from(128i64).as_signed_bytes(), &[0x00, 0x80]);
/// assert_eq!(CqlVarint::from_signed_bytes(&[0xFF, 0xFF, 0x80]).unwrap().to_i64(), Some(-128));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CqlVarint(Vec<u8>);

impl CqlVarint {
    /// The varint whose two's-complement big-endian encoding is `bytes`, redundant leading sign
    /// bytes removed; `None` for no bytes (an empty value is not a number).
    pub fn from_signed_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(minimal(bytes)?.to_vec()))
    }

    /// The minimal big-endian two's-complement bytes: the `varint` wire encoding.
    pub fn as_signed_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the number is negative.
    pub fn is_negative(&self) -> bool {
        self.0.first().is_some_and(|b| b & 0x80 != 0)
    }

    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.0.len() > 16 {
            return None;
        }
        let fill = if self.is_negative() { 0xFF } else { 0x00 };
        let mut buf = [fill; 16];
        let start = 16 - self.0.len();
        buf.get_mut(start..)?.copy_from_slice(&self.0);
        Some(i128::from_be_bytes(buf))
    }

    /// The value as an `i64`, if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_i128().and_then(|v| i64::try_from(v).ok())
    }
}

/// `bytes` without redundant leading sign bytes: a leading `0x00` before a byte < 0x80 and a
/// leading `0xFF` before a byte >= 0x80 carry no information.
fn minimal(mut bytes: &[u8]) -> Option<&[u8]> {
    while let [first, second, ..] = bytes {
        let redundant = (*first == 0x00 && *second < 0x80) || (*first == 0xFF && *second >= 0x80);
        if !redundant {
            break;
        }
        bytes = bytes.get(1..)?;
    }
    if bytes.is_empty() { None } else { Some(bytes) }
}

impl From<i128> for CqlVarint {
    fn from(v: i128) -> Self {
        let be = v.to_be_bytes();
        // `minimal` keeps at least one byte of a non-empty slice.
        Self(minimal(&be).unwrap_or(&[0]).to_vec())
    }
}

impl From<i64> for CqlVarint {
    fn from(v: i64) -> Self {
        Self::from(i128::from(v))
    }
}

impl From<i32> for CqlVarint {
    fn from(v: i32) -> Self {
        Self::from(i128::from(v))
    }
}

impl fmt::Debug for CqlVarint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_i128() {
            Some(v) => write!(f, "CqlVarint({v})"),
            None => write!(f, "CqlVarint(0x{})", hex(&self.0)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A CQL `decimal`: `unscaled × 10^(-scale)`, exactly, with the unscaled value of any size.
///
/// ```
/// use ringgate_protocol::types::{CqlDecimal, CqlVarint};
/// let d = CqlDecimal::new(CqlVarint::from(12345i64), 2); // 123.45
/// assert_eq!(d.scale, 2);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CqlDecimal {
    /// The unscaled value.
    pub unscaled: CqlVarint,
    /// The power of ten the unscaled value is divided by (may be negative).
    pub scale: i32,
}

impl CqlDecimal {
    /// `unscaled × 10^(-scale)`.
    pub fn new(unscaled: CqlVarint, scale: i32) -> Self {
        Self { unscaled, scale }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_varint_examples() {
        // Table of the spec's section 5.24.
        for (v, enc) in [
            (0i64, &[0x00u8][..]),
            (1, &[0x01]),
            (127, &[0x7F]),
            (128, &[0x00, 0x80]),
            (129, &[0x00, 0x81]),
            (-1, &[0xFF]),
            (-128, &[0x80]),
            (-129, &[0xFF, 0x7F]),
        ] {
            let n = CqlVarint::from(v);
            assert_eq!(n.as_signed_bytes(), enc, "{v}");
            assert_eq!(CqlVarint::from_signed_bytes(enc).unwrap().to_i64(), Some(v));
        }
    }

    #[test]
    fn non_minimal_input_is_normalised() {
        let n = CqlVarint::from_signed_bytes(&[0x00, 0x00, 0x01]).unwrap();
        assert_eq!(n.as_signed_bytes(), &[0x01]);
        let n = CqlVarint::from_signed_bytes(&[0xFF, 0xFF, 0xFF]).unwrap();
        assert_eq!(n.as_signed_bytes(), &[0xFF]);
        assert_eq!(CqlVarint::from_signed_bytes(&[]), None);
    }

    #[test]
    fn large_values_do_not_fit_small_types() {
        let mut big = vec![0x01];
        big.extend([0u8; 16]); // 2^128
        let n = CqlVarint::from_signed_bytes(&big).unwrap();
        assert_eq!(n.to_i128(), None);
        assert_eq!(n.as_signed_bytes().len(), 17);
        assert_eq!(CqlVarint::from(i128::MIN).to_i64(), None);
        assert_eq!(CqlVarint::from(i128::MIN).to_i128(), Some(i128::MIN));
    }

    proptest! {
        #[test]
        fn i128_roundtrip(v in any::<i128>()) {
            let n = CqlVarint::from(v);
            prop_assert_eq!(n.to_i128(), Some(v));
            prop_assert_eq!(n.is_negative(), v < 0);
            // Minimal: one byte fewer would not hold the value.
            let bits = if v < 0 { 128 - (!v).leading_zeros() } else { 128 - v.leading_zeros() } + 1;
            prop_assert_eq!(n.as_signed_bytes().len(), bits.div_ceil(8).max(1) as usize);
        }
    }
}
