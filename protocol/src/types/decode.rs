//! Decoding a value's bytes with its type (the spec's section 5, "Data Type Serialization
//! Formats"). Every length and count is checked against the bytes present before anything is
//! allocated for it, and nesting is bounded by [`MAX_TYPE_DEPTH`].

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, RawValue, bounded_capacity, decode_all, decode_prefix};

use super::column_type::{ColumnType, MAX_TYPE_DEPTH};
use super::number::{CqlDecimal, CqlVarint};
use super::value::{CqlDate, CqlDuration, CqlTime, CqlTimestamp, CqlValue};

/// Decodes a (non-null) value's bytes as type `t`.
///
/// Zero bytes decode to [`CqlValue::Empty`], except for `ascii`, `text`, `blob` and custom
/// types, whose empty value is an empty string or byte string. Values are encoded the same way
/// in protocol versions 3, 4 and 5; the version is taken so callers need not change should a
/// version ever differ.
///
/// ```
/// use ringgate_protocol::ProtocolVersion;
/// use ringgate_protocol::types::{ColumnType, CqlValue, decode_value};
/// let v = decode_value(&ColumnType::Int, &[0, 0, 1, 0], ProtocolVersion::V5).unwrap();
/// assert_eq!(v, CqlValue::Int(256));
/// assert_eq!(decode_value(&ColumnType::Int, &[], ProtocolVersion::V5).unwrap(), CqlValue::Empty);
/// ```
pub fn decode_value(
    t: &ColumnType,
    bytes: &[u8],
    version: ProtocolVersion,
) -> Result<CqlValue, DecodeError> {
    let _same_in_every_version = version;
    decode_at(t, bytes, 0)
}

/// Decodes a `[bytes]`/`[value]` cell: `None` for null. "Not set" is not a value and is an
/// error here.
pub fn decode_cell(
    t: &ColumnType,
    cell: RawValue<'_>,
    version: ProtocolVersion,
) -> Result<Option<CqlValue>, DecodeError> {
    match cell {
        RawValue::Bytes(b) => decode_value(t, b, version).map(Some),
        RawValue::Null => Ok(None),
        RawValue::Unset => Err(DecodeError::Malformed(
            "unset value where a value is expected",
        )),
    }
}

/// The width of every value of `t` when Cassandra treats it as fixed-width inside a vector
/// (elements then go without a length prefix); `None` for variable-width types. This is
/// Cassandra's own list (`valueLengthIfFixed`): `smallint`, `tinyint`, `date` and `time` are
/// variable-width there despite their fixed encodings.
pub fn fixed_width(t: &ColumnType) -> Option<usize> {
    match t {
        ColumnType::Boolean => Some(1),
        ColumnType::Int | ColumnType::Float => Some(4),
        ColumnType::Bigint | ColumnType::Double | ColumnType::Timestamp => Some(8),
        ColumnType::Uuid | ColumnType::Timeuuid => Some(16),
        ColumnType::Vector { element, dimension } => {
            fixed_width(element)?.checked_mul(usize::try_from(*dimension).ok()?)
        }
        _ => None,
    }
}

/// The most elements reserved ahead of decoding them. A decoded value is larger than its
/// bytes (a 4-byte `[bytes]` header can become a 40-byte [`CqlValue`]), so even a count that
/// the input could hold is not trusted for more than this; larger collections grow as their
/// elements actually decode.
const MAX_PREALLOCATED: usize = 1024;

/// A capacity for `count` elements of at least `min_size` bytes each in `remaining` bytes.
fn capacity(count: usize, remaining: usize, min_size: usize) -> usize {
    bounded_capacity(count, remaining, min_size).min(MAX_PREALLOCATED)
}

fn wrong_length(what: &'static str, len: usize) -> DecodeError {
    DecodeError::InvalidValue {
        what,
        value: i64::try_from(len).unwrap_or(i64::MAX),
    }
}

fn fixed<const N: usize>(b: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(b).map_err(|_| wrong_length(what, b.len()))
}

fn no_trailing(rest: &[u8]) -> Result<(), DecodeError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes(rest.len()))
    }
}

fn decode_at(t: &ColumnType, b: &[u8], depth: usize) -> Result<CqlValue, DecodeError> {
    if depth > MAX_TYPE_DEPTH {
        return Err(DecodeError::LimitExceeded {
            what: "value nesting depth",
            limit: MAX_TYPE_DEPTH,
        });
    }
    if b.is_empty() {
        return Ok(match t {
            ColumnType::Ascii => CqlValue::Ascii(String::new()),
            ColumnType::Varchar => CqlValue::Text(String::new()),
            ColumnType::Blob => CqlValue::Blob(Vec::new()),
            ColumnType::Custom(_) => CqlValue::Custom(Vec::new()),
            _ => CqlValue::Empty,
        });
    }
    Ok(match t {
        ColumnType::Custom(_) => CqlValue::Custom(b.to_vec()),
        ColumnType::Ascii => {
            if !b.is_ascii() {
                return Err(DecodeError::Malformed("non-ASCII byte in an ascii value"));
            }
            CqlValue::Ascii(utf8(b)?)
        }
        ColumnType::Varchar => CqlValue::Text(utf8(b)?),
        ColumnType::Blob => CqlValue::Blob(b.to_vec()),
        ColumnType::Bigint => CqlValue::Bigint(i64::from_be_bytes(fixed(b, "bigint length")?)),
        ColumnType::Counter => CqlValue::Counter(i64::from_be_bytes(fixed(b, "counter length")?)),
        ColumnType::Boolean => CqlValue::Boolean(fixed::<1>(b, "boolean length")? != [0]),
        ColumnType::Decimal => {
            let (unscaled, scale) = decode_prefix(b, primitives::int)?;
            let unscaled = CqlVarint::from_signed_bytes(unscaled)
                .ok_or(DecodeError::Malformed("decimal without an unscaled value"))?;
            CqlValue::Decimal(CqlDecimal::new(unscaled, scale))
        }
        ColumnType::Double => CqlValue::Double(f64::from_be_bytes(fixed(b, "double length")?)),
        ColumnType::Float => CqlValue::Float(f32::from_be_bytes(fixed(b, "float length")?)),
        ColumnType::Int => CqlValue::Int(i32::from_be_bytes(fixed(b, "int length")?)),
        ColumnType::Timestamp => CqlValue::Timestamp(CqlTimestamp(i64::from_be_bytes(fixed(
            b,
            "timestamp length",
        )?))),
        ColumnType::Uuid => CqlValue::Uuid(fixed(b, "uuid length")?),
        ColumnType::Timeuuid => {
            let u = fixed::<16>(b, "timeuuid length")?;
            if u.get(6).map(|v| v >> 4) != Some(1) {
                return Err(DecodeError::Malformed(
                    "timeuuid that is not a version 1 UUID",
                ));
            }
            CqlValue::Timeuuid(u)
        }
        ColumnType::Varint => CqlValue::Varint(
            CqlVarint::from_signed_bytes(b).ok_or(DecodeError::Malformed("varint"))?,
        ),
        ColumnType::Inet => CqlValue::Inet(primitives::ip_from_bytes(b)?),
        ColumnType::Date => CqlValue::Date(CqlDate(u32::from_be_bytes(fixed(b, "date length")?))),
        ColumnType::Time => {
            let nanos = i64::from_be_bytes(fixed(b, "time length")?);
            CqlValue::Time(CqlTime::from_nanos(nanos).ok_or(DecodeError::InvalidValue {
                what: "time",
                value: nanos,
            })?)
        }
        ColumnType::Smallint => {
            CqlValue::Smallint(i16::from_be_bytes(fixed(b, "smallint length")?))
        }
        ColumnType::Tinyint => CqlValue::Tinyint(i8::from_be_bytes(fixed(b, "tinyint length")?)),
        ColumnType::Duration => CqlValue::Duration(duration(b)?),
        ColumnType::List(e) => CqlValue::List(elements(e, b, depth)?),
        ColumnType::Set(e) => CqlValue::Set(elements(e, b, depth)?),
        ColumnType::Map(k, v) => CqlValue::Map(entries(k, v, b, depth)?),
        ColumnType::Tuple(types) => CqlValue::Tuple(fields(types.iter(), b, depth)?),
        ColumnType::Udt(udt) => {
            let values = fields(udt.fields.iter().map(|(_, t)| t), b, depth)?;
            let named = udt.fields.iter().map(|(name, _)| name.clone());
            CqlValue::Udt(named.zip(values).collect())
        }
        ColumnType::Vector { element, dimension } => {
            CqlValue::Vector(vector(element, *dimension, b, depth)?)
        }
    })
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| DecodeError::InvalidUtf8("text value"))
}

fn duration(b: &[u8]) -> Result<CqlDuration, DecodeError> {
    let (rest, months) = decode_prefix(b, primitives::vint)?;
    let (rest, days) = decode_prefix(rest, primitives::vint)?;
    let nanos = decode_all(rest, primitives::vint)?;
    let part = |what: &'static str, v: i64| {
        i32::try_from(v).map_err(|_| DecodeError::InvalidValue { what, value: v })
    };
    CqlDuration::new(
        part("duration months", months)?,
        part("duration days", days)?,
        nanos,
    )
    .ok_or(DecodeError::Malformed("duration with parts of mixed signs"))
}

/// One `[bytes]` collection element, which may not be null.
fn element(b: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    match decode_prefix(b, primitives::bytes)? {
        (rest, Some(e)) => Ok((rest, e)),
        (_, None) => Err(DecodeError::Malformed("null element in a collection")),
    }
}

/// List and set bodies: an `[int]` count and that many `[bytes]`.
fn elements(t: &ColumnType, b: &[u8], depth: usize) -> Result<Vec<CqlValue>, DecodeError> {
    let (mut rest, n) = decode_prefix(b, primitives::count)?;
    // Each element takes at least its 4-byte length.
    let mut out = Vec::with_capacity(capacity(n, rest.len(), 4));
    for _ in 0..n {
        let (r, e) = element(rest)?;
        out.push(decode_at(t, e, depth + 1)?);
        rest = r;
    }
    no_trailing(rest)?;
    Ok(out)
}

/// Map bodies: an `[int]` count and that many key and value `[bytes]`.
fn entries(
    k: &ColumnType,
    v: &ColumnType,
    b: &[u8],
    depth: usize,
) -> Result<Vec<(CqlValue, CqlValue)>, DecodeError> {
    let (mut rest, n) = decode_prefix(b, primitives::count)?;
    let mut out = Vec::with_capacity(capacity(n, rest.len(), 8));
    for _ in 0..n {
        let (r, key) = element(rest)?;
        let (r, value) = element(r)?;
        out.push((
            decode_at(k, key, depth + 1)?,
            decode_at(v, value, depth + 1)?,
        ));
        rest = r;
    }
    no_trailing(rest)?;
    Ok(out)
}

/// Tuple and UDT bodies: one `[bytes]` per declared type, nulls allowed; the value may stop
/// early, and the missing trailing fields are null.
fn fields<'t>(
    types: impl ExactSizeIterator<Item = &'t ColumnType>,
    b: &[u8],
    depth: usize,
) -> Result<Vec<Option<CqlValue>>, DecodeError> {
    let mut out = Vec::with_capacity(types.len());
    let mut rest = b;
    for t in types {
        if rest.is_empty() {
            out.push(None);
            continue;
        }
        let (r, field) = decode_prefix(rest, primitives::bytes)?;
        out.push(match field {
            Some(f) => Some(decode_at(t, f, depth + 1)?),
            None => None,
        });
        rest = r;
    }
    no_trailing(rest)?;
    Ok(out)
}

/// Vector bodies: `dimension` elements, back to back for fixed-width element types, each after
/// an `[unsigned vint]` length otherwise.
fn vector(
    t: &ColumnType,
    dimension: u32,
    b: &[u8],
    depth: usize,
) -> Result<Vec<CqlValue>, DecodeError> {
    let dimension = usize::try_from(dimension).map_err(|_| DecodeError::LimitExceeded {
        what: "vector dimension",
        limit: usize::MAX,
    })?;
    if let Some(width) = fixed_width(t) {
        if dimension.checked_mul(width) != Some(b.len()) {
            return Err(wrong_length("vector length", b.len()));
        }
        // b is not empty, so width > 0 and the chunks are exactly the elements.
        let mut out = Vec::with_capacity(dimension.min(MAX_PREALLOCATED));
        for chunk in b.chunks_exact(width) {
            out.push(decode_at(t, chunk, depth + 1)?);
        }
        return Ok(out);
    }
    let mut rest = b;
    let mut out = Vec::with_capacity(capacity(dimension, b.len(), 1));
    for _ in 0..dimension {
        let (r, len) = decode_prefix(rest, primitives::unsigned_vint)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        let (e, r) = r.split_at_checked(len).ok_or(DecodeError::Truncated)?;
        out.push(decode_at(t, e, depth + 1)?);
        rest = r;
    }
    no_trailing(rest)?;
    Ok(out)
}
