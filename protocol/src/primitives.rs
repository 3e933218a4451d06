//! The notations of the spec's section 3: `[int]`, `[string]`, `[bytes]`, `[value]`, `[inet]`,
//! maps and lists, as `nom` parsers over byte slices and as writers into a `BytesMut`.
//!
//! Parsers borrow from the input; a caller that holds the body as [`Bytes`] turns a borrowed
//! slice into an owned one without copying with [`Bytes::slice_ref`]. Every count read from the
//! input is checked against the bytes that remain before anything is allocated for it, so a
//! hostile count costs nothing.
//!
//! ```
//! use ringgate_protocol::primitives::{self, decode_all};
//! let mut buf = bytes::BytesMut::new();
//! primitives::put_string(&mut buf, "system.local").unwrap();
//! assert_eq!(decode_all(&buf, primitives::string).unwrap(), "system.local");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::bytes::complete::take;
use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{be_i8, be_i16, be_i32, be_i64, be_u8, be_u16};

/// Why a message body (or a value inside one) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the structure it announced.
    #[error("truncated input")]
    Truncated,
    /// A `[string]` or `[long string]` was not valid UTF-8.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// A length, count or tag had a value the spec does not allow.
    #[error("invalid {what}: {value}")]
    InvalidValue {
        /// Which field was wrong.
        what: &'static str,
        /// The value found, as a number.
        value: i64,
    },
    /// A structural problem that has no more specific variant.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Bytes were left over after a complete structure.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// A bound on size, count or nesting depth was exceeded.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What was too large or too deep.
        what: &'static str,
        /// The configured or built-in limit.
        limit: usize,
    },
}

impl<I> ParseError<I> for DecodeError {
    fn from_error_kind(_input: I, kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Eof | ErrorKind::Complete => DecodeError::Truncated,
            _ => DecodeError::Malformed("structure"),
        }
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Why a message or value could not be encoded: some length does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string, byte string or collection is longer than its length prefix can express.
    #[error("{what} is too long: {len} > {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the field can express.
        max: usize,
    },
    /// A value does not match the type it is encoded as.
    #[error("cannot encode {what}: {reason}")]
    Invalid {
        /// Which field.
        what: &'static str,
        /// Why not.
        reason: &'static str,
    },
}

/// The result of a parser over a byte slice.
pub type Parsed<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// A parser failure carrying `e`, for semantic checks inside parsers.
pub fn fail(e: DecodeError) -> nom::Err<DecodeError> {
    nom::Err::Error(e)
}

/// Runs `parser` over all of `input`: leftover bytes are an error.
pub fn decode_all<'a, T>(
    input: &'a [u8],
    parser: impl Parser<&'a [u8], Output = T, Error = DecodeError>,
) -> Result<T, DecodeError> {
    let (rest, out) = decode_prefix(input, parser)?;
    if rest.is_empty() {
        Ok(out)
    } else {
        Err(DecodeError::TrailingBytes(rest.len()))
    }
}

/// Runs `parser` over the start of `input`, returning what is left.
pub fn decode_prefix<'a, T>(
    input: &'a [u8],
    mut parser: impl Parser<&'a [u8], Output = T, Error = DecodeError>,
) -> Result<(&'a [u8], T), DecodeError> {
    parser.parse(input).map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => DecodeError::Truncated,
    })
}

/// A capacity for `count` items of at least `min_size` bytes each that the remaining input
/// could actually hold: never trust a count read from the wire for an allocation.
pub fn bounded_capacity(count: usize, remaining: usize, min_size: usize) -> usize {
    count.min(remaining / min_size.max(1))
}

/// `[byte]`.
pub fn byte(input: &[u8]) -> Parsed<'_, u8> {
    be_u8(input)
}

/// A signed `[byte]` (used by `tinyint`).
pub fn signed_byte(input: &[u8]) -> Parsed<'_, i8> {
    be_i8(input)
}

/// `[short]`: an unsigned 16-bit integer.
pub fn short(input: &[u8]) -> Parsed<'_, u16> {
    be_u16(input)
}

/// A signed 16-bit integer (stream ids, `smallint`).
pub fn signed_short(input: &[u8]) -> Parsed<'_, i16> {
    be_i16(input)
}

/// `[int]`.
pub fn int(input: &[u8]) -> Parsed<'_, i32> {
    be_i32(input)
}

/// `[long]`.
pub fn long(input: &[u8]) -> Parsed<'_, i64> {
    be_i64(input)
}

/// A non-negative `[int]` used as a length or count.
pub fn count(input: &[u8]) -> Parsed<'_, usize> {
    let (rest, n) = be_i32(input)?;
    let n = usize::try_from(n).map_err(|_| {
        fail(DecodeError::InvalidValue {
            what: "count",
            value: i64::from(n),
        })
    })?;
    Ok((rest, n))
}

/// `[string]`: a `[short]` length and that many bytes of UTF-8.
pub fn string(input: &[u8]) -> Parsed<'_, &str> {
    let (rest, n) = be_u16(input)?;
    let (rest, raw) = take(n)(rest)?;
    let s = std::str::from_utf8(raw).map_err(|_| fail(DecodeError::InvalidUtf8("[string]")))?;
    Ok((rest, s))
}

/// `[long string]`: an `[int]` length and that many bytes of UTF-8.
pub fn long_string(input: &[u8]) -> Parsed<'_, &str> {
    let (rest, n) = count(input)?;
    let (rest, raw) = take(n)(rest)?;
    let s =
        std::str::from_utf8(raw).map_err(|_| fail(DecodeError::InvalidUtf8("[long string]")))?;
    Ok((rest, s))
}

/// `[uuid]`: 16 bytes.
pub fn uuid(input: &[u8]) -> Parsed<'_, [u8; 16]> {
    let (rest, raw) = take(16usize)(input)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(raw);
    Ok((rest, out))
}

/// `[string list]`.
pub fn string_list(input: &[u8]) -> Parsed<'_, Vec<&str>> {
    let (mut rest, n) = be_u16(input)?;
    let mut out = Vec::with_capacity(bounded_capacity(usize::from(n), rest.len(), 2));
    for _ in 0..n {
        let (r, s) = string(rest)?;
        out.push(s);
        rest = r;
    }
    Ok((rest, out))
}

/// `[bytes]`: `None` for a negative length (null).
pub fn bytes(input: &[u8]) -> Parsed<'_, Option<&[u8]>> {
    let (rest, n) = be_i32(input)?;
    match usize::try_from(n) {
        Ok(n) => {
            let (rest, raw) = take(n)(rest)?;
            Ok((rest, Some(raw)))
        }
        Err(_) => Ok((rest, None)),
    }
}

/// `[short bytes]`.
pub fn short_bytes(input: &[u8]) -> Parsed<'_, &[u8]> {
    let (rest, n) = be_u16(input)?;
    take(n)(rest)
}

/// A `[value]`: bytes, null (-1) or, from v4, not set (-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawValue<'a> {
    /// A value's serialized bytes (possibly empty).
    Bytes(&'a [u8]),
    /// `null` (length -1).
    Null,
    /// "not set": leave the existing value unchanged (length -2, v4 and later).
    Unset,
}

/// `[value]`. Lengths below -2 are an error.
pub fn value(input: &[u8]) -> Parsed<'_, RawValue<'_>> {
    let (rest, n) = be_i32(input)?;
    match n {
        -1 => Ok((rest, RawValue::Null)),
        -2 => Ok((rest, RawValue::Unset)),
        n if n < 0 => Err(fail(DecodeError::InvalidValue {
            what: "[value] length",
            value: i64::from(n),
        })),
        n => {
            let (rest, raw) = take(n.unsigned_abs())(rest)?;
            Ok((rest, RawValue::Bytes(raw)))
        }
    }
}

/// `[inetaddr]`: a length byte (4 or 16) and the address.
pub fn inetaddr(input: &[u8]) -> Parsed<'_, IpAddr> {
    let (rest, n) = be_u8(input)?;
    let (rest, raw) = take(n)(rest)?;
    Ok((rest, ip_from_bytes(raw).map_err(fail)?))
}

/// `[inet]`: an `[inetaddr]` and an `[int]` port.
pub fn inet(input: &[u8]) -> Parsed<'_, SocketAddr> {
    let (rest, ip) = inetaddr(input)?;
    let (rest, port) = be_i32(rest)?;
    let port = u16::try_from(port).map_err(|_| {
        fail(DecodeError::InvalidValue {
            what: "port",
            value: i64::from(port),
        })
    })?;
    Ok((rest, SocketAddr::new(ip, port)))
}

/// An IP address from its 4 or 16 raw bytes (also the body of the CQL `inet` type).
pub fn ip_from_bytes(raw: &[u8]) -> Result<IpAddr, DecodeError> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(raw) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(DecodeError::InvalidValue {
            what: "address length",
            value: raw.len() as i64,
        })
    }
}

/// `[string map]`, in wire order.
pub fn string_map(input: &[u8]) -> Parsed<'_, Vec<(&str, &str)>> {
    let (mut rest, n) = be_u16(input)?;
    let mut out = Vec::with_capacity(bounded_capacity(usize::from(n), rest.len(), 4));
    for _ in 0..n {
        let (r, k) = string(rest)?;
        let (r, v) = string(r)?;
        out.push((k, v));
        rest = r;
    }
    Ok((rest, out))
}

/// `[string multimap]`, in wire order.
pub fn string_multimap(input: &[u8]) -> Parsed<'_, Vec<(&str, Vec<&str>)>> {
    let (mut rest, n) = be_u16(input)?;
    let mut out = Vec::with_capacity(bounded_capacity(usize::from(n), rest.len(), 4));
    for _ in 0..n {
        let (r, k) = string(rest)?;
        let (r, v) = string_list(r)?;
        out.push((k, v));
        rest = r;
    }
    Ok((rest, out))
}

/// One entry of a `[bytes map]`: a key and a possibly null value.
pub type BytesMapEntry<'a> = (&'a str, Option<&'a [u8]>);

/// `[bytes map]`, in wire order.
pub fn bytes_map(input: &[u8]) -> Parsed<'_, Vec<BytesMapEntry<'_>>> {
    let (mut rest, n) = be_u16(input)?;
    let mut out = Vec::with_capacity(bounded_capacity(usize::from(n), rest.len(), 6));
    for _ in 0..n {
        let (r, k) = string(rest)?;
        let (r, v) = bytes(r)?;
        out.push((k, v));
        rest = r;
    }
    Ok((rest, out))
}

/// `[unsigned vint]`: the first byte's leading ones count the extra bytes (at most 8).
pub fn unsigned_vint(input: &[u8]) -> Parsed<'_, u64> {
    let (rest, first) = be_u8(input)?;
    let extra = first.leading_ones() as usize;
    let (rest, tail) = take(extra)(rest)?;
    // With `extra` leading ones (and a zero after them when extra < 8), the low bits of the
    // first byte are the value's most significant bits.
    let mut v = u64::from(first & 0xFFu8.checked_shr(extra as u32 + 1).unwrap_or(0));
    for &b in tail {
        v = (v << 8) | u64::from(b);
    }
    Ok((rest, v))
}

/// `[vint]`: a zig-zag encoded signed `[unsigned vint]`.
pub fn vint(input: &[u8]) -> Parsed<'_, i64> {
    let (rest, u) = unsigned_vint(input)?;
    Ok((rest, ((u >> 1) as i64) ^ -((u & 1) as i64)))
}

fn len_prefix<T: TryFrom<usize>>(
    what: &'static str,
    len: usize,
    max: usize,
) -> Result<T, EncodeError> {
    T::try_from(len).map_err(|_| EncodeError::TooLong { what, len, max })
}

/// Writes a `[string]`.
pub fn put_string(buf: &mut BytesMut, s: &str) -> Result<(), EncodeError> {
    put_short_prefixed(buf, "[string]", s.as_bytes())
}

/// Writes a `[long string]`.
pub fn put_long_string(buf: &mut BytesMut, s: &str) -> Result<(), EncodeError> {
    let n: i32 = len_prefix("[long string]", s.len(), i32::MAX as usize)?;
    buf.put_i32(n);
    buf.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a `[short bytes]`.
pub fn put_short_bytes(buf: &mut BytesMut, b: &[u8]) -> Result<(), EncodeError> {
    put_short_prefixed(buf, "[short bytes]", b)
}

fn put_short_prefixed(buf: &mut BytesMut, what: &'static str, b: &[u8]) -> Result<(), EncodeError> {
    let n: u16 = len_prefix(what, b.len(), usize::from(u16::MAX))?;
    buf.put_u16(n);
    buf.put_slice(b);
    Ok(())
}

/// Writes a `[string list]`.
pub fn put_string_list<S: AsRef<str>>(buf: &mut BytesMut, list: &[S]) -> Result<(), EncodeError> {
    put_count_u16(buf, "[string list]", list.len())?;
    for s in list {
        put_string(buf, s.as_ref())?;
    }
    Ok(())
}

/// Writes a `[bytes]`; `None` is null.
pub fn put_bytes(buf: &mut BytesMut, b: Option<&[u8]>) -> Result<(), EncodeError> {
    match b {
        None => buf.put_i32(-1),
        Some(b) => {
            let n: i32 = len_prefix("[bytes]", b.len(), i32::MAX as usize)?;
            buf.put_i32(n);
            buf.put_slice(b);
        }
    }
    Ok(())
}

/// Writes a `[value]`.
pub fn put_value(buf: &mut BytesMut, v: RawValue<'_>) -> Result<(), EncodeError> {
    match v {
        RawValue::Bytes(b) => put_bytes(buf, Some(b)),
        RawValue::Null => {
            buf.put_i32(-1);
            Ok(())
        }
        RawValue::Unset => {
            buf.put_i32(-2);
            Ok(())
        }
    }
}

/// Writes an `[inetaddr]`.
pub fn put_inetaddr(buf: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            buf.put_u8(4);
            buf.put_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            buf.put_u8(16);
            buf.put_slice(&v6.octets());
        }
    }
}

/// Writes an `[inet]`.
pub fn put_inet(buf: &mut BytesMut, addr: SocketAddr) {
    put_inetaddr(buf, addr.ip());
    buf.put_i32(i32::from(addr.port()));
}

/// Writes a `[string map]`.
pub fn put_string_map<K: AsRef<str>, V: AsRef<str>>(
    buf: &mut BytesMut,
    map: &[(K, V)],
) -> Result<(), EncodeError> {
    put_count_u16(buf, "[string map]", map.len())?;
    for (k, v) in map {
        put_string(buf, k.as_ref())?;
        put_string(buf, v.as_ref())?;
    }
    Ok(())
}

/// Writes a `[string multimap]`.
pub fn put_string_multimap<K: AsRef<str>, V: AsRef<str>>(
    buf: &mut BytesMut,
    map: &[(K, Vec<V>)],
) -> Result<(), EncodeError> {
    put_count_u16(buf, "[string multimap]", map.len())?;
    for (k, v) in map {
        put_string(buf, k.as_ref())?;
        put_string_list(buf, v)?;
    }
    Ok(())
}

/// Writes a `[bytes map]`.
pub fn put_bytes_map<K: AsRef<str>>(
    buf: &mut BytesMut,
    map: &[(K, Option<Bytes>)],
) -> Result<(), EncodeError> {
    put_count_u16(buf, "[bytes map]", map.len())?;
    for (k, v) in map {
        put_string(buf, k.as_ref())?;
        put_bytes(buf, v.as_deref())?;
    }
    Ok(())
}

/// Writes a `[short]` count, failing if it does not fit.
pub fn put_count_u16(buf: &mut BytesMut, what: &'static str, n: usize) -> Result<(), EncodeError> {
    let n: u16 = len_prefix(what, n, usize::from(u16::MAX))?;
    buf.put_u16(n);
    Ok(())
}

/// Writes an `[int]` count, failing if it does not fit.
pub fn put_count_i32(buf: &mut BytesMut, what: &'static str, n: usize) -> Result<(), EncodeError> {
    let n: i32 = len_prefix(what, n, i32::MAX as usize)?;
    buf.put_i32(n);
    Ok(())
}

/// Writes an `[unsigned vint]` in the fewest bytes.
pub fn put_unsigned_vint(buf: &mut BytesMut, v: u64) {
    // Bytes needed beyond the first: each extra byte adds 8 bits and costs the first byte one
    // bit of payload, so `extra` bytes hold 7 * (extra + 1) + 1 bits, up to 8 extra bytes.
    let bits = 64 - v.leading_zeros() as usize;
    let extra = if bits <= 7 {
        0
    } else {
        ((bits - 1) / 7).min(8)
    };
    if extra == 8 {
        buf.put_u8(0xFF);
        buf.put_u64(v);
        return;
    }
    let first_mask = !(0xFFu8 >> extra); // `extra` leading ones
    let first = first_mask | ((v >> (8 * extra)) as u8);
    buf.put_u8(first);
    for i in (0..extra).rev() {
        buf.put_u8((v >> (8 * i)) as u8);
    }
}

/// Writes a `[vint]` (zig-zag, then unsigned vint).
pub fn put_vint(buf: &mut BytesMut, v: i64) {
    put_unsigned_vint(buf, ((v >> 63) ^ (v << 1)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_vint_example() {
        // The spec: 256 000 is encoded on 3 bytes as [110]00011 11101000 00000000.
        let mut buf = BytesMut::new();
        put_unsigned_vint(&mut buf, 256_000);
        assert_eq!(&buf[..], &[0b1100_0011, 0b1110_1000, 0b0000_0000]);
        assert_eq!(decode_all(&buf, unsigned_vint).unwrap(), 256_000);
    }

    #[test]
    fn vint_zigzag_small_values() {
        for (v, enc) in [
            (0i64, 0u8),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (2, 4),
            (-3, 5),
            (3, 6),
        ] {
            let mut buf = BytesMut::new();
            put_vint(&mut buf, v);
            assert_eq!(&buf[..], &[enc]);
        }
    }

    #[test]
    fn value_lengths() {
        assert_eq!(decode_all(&[0xFF; 4], value).unwrap(), RawValue::Null);
        assert_eq!(
            decode_all(&[0xFF, 0xFF, 0xFF, 0xFE], value).unwrap(),
            RawValue::Unset
        );
        assert!(matches!(
            decode_all(&[0xFF, 0xFF, 0xFF, 0xFD], value),
            Err(DecodeError::InvalidValue { .. })
        ));
        assert_eq!(
            decode_all(&[0, 0, 0, 0x10], value),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        // 65535 strings announced, none present: an error, not a large allocation.
        assert_eq!(
            decode_all(&[0xFF, 0xFF], string_list),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_all(&[0x7F, 0xFF, 0xFF, 0xFF], bytes),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn bad_utf8_and_trailing_bytes() {
        assert_eq!(
            decode_all(&[0, 1, 0xFF], string),
            Err(DecodeError::InvalidUtf8("[string]"))
        );
        assert_eq!(
            decode_all(&[0, 0, 7], string),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn inet_v4_and_v6() {
        let mut buf = BytesMut::new();
        let a: SocketAddr = "127.0.0.3:9042".parse().unwrap();
        let b: SocketAddr = "[::1]:19042".parse().unwrap();
        put_inet(&mut buf, a);
        put_inet(&mut buf, b);
        let (rest, got_a) = decode_prefix(&buf, inet).unwrap();
        assert_eq!(got_a, a);
        assert_eq!(decode_all(rest, inet).unwrap(), b);
        assert!(decode_all(&[5, 1, 2, 3, 4, 5, 0, 0, 0, 1], inet).is_err());
    }

    #[test]
    fn too_long_string_is_an_encode_error() {
        let s = "x".repeat(70_000);
        assert!(matches!(
            put_string(&mut BytesMut::new(), &s),
            Err(EncodeError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn unsigned_vint_roundtrip(v in any::<u64>()) {
            let mut buf = BytesMut::new();
            put_unsigned_vint(&mut buf, v);
            prop_assert!(buf.len() <= 9);
            prop_assert_eq!(decode_all(&buf, unsigned_vint).unwrap(), v);
        }

        #[test]
        fn vint_roundtrip(v in any::<i64>()) {
            let mut buf = BytesMut::new();
            put_vint(&mut buf, v);
            prop_assert_eq!(decode_all(&buf, vint).unwrap(), v);
        }

        #[test]
        fn maps_roundtrip(m in proptest::collection::vec(("[a-z]{0,8}", proptest::collection::vec("\\PC{0,6}", 0..4)), 0..6)) {
            let mut buf = BytesMut::new();
            put_string_multimap(&mut buf, &m).unwrap();
            let got = decode_all(&buf, string_multimap).unwrap();
            let got: Vec<(String, Vec<String>)> = got.into_iter().map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect())).collect();
            prop_assert_eq!(got, m);
        }

        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_prefix(&data, string_multimap);
            let _ = decode_prefix(&data, bytes_map);
            let _ = decode_prefix(&data, inet);
            let _ = decode_prefix(&data, vint);
            let _ = decode_prefix(&data, long_string);
        }
    }
}
