//! Encoding values with their type, checking that each value fits the type it is written as.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use crate::primitives::{self, EncodeError};

use super::column_type::{ColumnType, MAX_TYPE_DEPTH};
use super::decode::fixed_width;
use super::value::CqlValue;

/// Appends the serialized bytes of `v` as type `t` to `buf`, without a length prefix (the
/// inverse of [`decode_value`](super::decode_value)).
///
/// The value must match the type: e.g. an `Int` for `int`, a `Text` or `Ascii` (ASCII only) for
/// `ascii` or `text`, a `Uuid` or `Timeuuid` for `uuid`, a version 1 UUID for `timeuuid`, a
/// `Bigint` or `Counter` for `counter`, a `Blob` or `Custom` for custom types, a `List` or
/// `Set` for lists and sets, a `Vector` or `List` of exactly `n` elements for
/// `vector<T, n>`. [`CqlValue::Empty`] is accepted for every type and written as
/// zero bytes. A UDT value names its fields in declaration order and may omit trailing fields,
/// a tuple value may omit trailing elements: both are written as nulls. Sets and maps are
/// written in the order given. On error, `buf` is left as it was.
///
/// ```
/// use ringgate_protocol::types::{ColumnType, CqlValue, encode_value};
/// let mut buf = bytes::BytesMut::new();
/// encode_value(&ColumnType::Varint, &CqlValue::Varint(128i64.into()), &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0x00, 0x80]);
/// ```
pub fn encode_value(t: &ColumnType, v: &CqlValue, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = encode_at(t, v, buf, 0);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Appends `v` as a `[bytes]`: a length and the value, or length -1 for `None` (null).
pub fn encode_cell(
    t: &ColumnType,
    v: Option<&CqlValue>,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = put_prefixed(t, v, buf, 0);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn mismatch(reason: &'static str) -> EncodeError {
    EncodeError::Invalid {
        what: "value",
        reason,
    }
}

/// Writes `[bytes]`: a placeholder length, the value, then the real length.
fn put_prefixed(
    t: &ColumnType,
    v: Option<&CqlValue>,
    buf: &mut BytesMut,
    depth: usize,
) -> Result<(), EncodeError> {
    let Some(v) = v else {
        buf.put_i32(-1);
        return Ok(());
    };
    let at = buf.len();
    buf.put_i32(0);
    encode_at(t, v, buf, depth)?;
    let len = buf.len() - at - 4;
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "[bytes] value",
        len,
        max: i32::MAX as usize,
    })?;
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&n.to_be_bytes());
    }
    Ok(())
}

fn put_count(buf: &mut BytesMut, n: usize) -> Result<(), EncodeError> {
    primitives::put_count_i32(buf, "collection size", n)
}

fn encode_at(
    t: &ColumnType,
    v: &CqlValue,
    buf: &mut BytesMut,
    depth: usize,
) -> Result<(), EncodeError> {
    if depth > MAX_TYPE_DEPTH {
        return Err(EncodeError::Invalid {
            what: "value",
            reason: "nested deeper than MAX_TYPE_DEPTH",
        });
    }
    let inner = depth + 1;
    match (t, v) {
        (_, CqlValue::Empty) => {}
        (ColumnType::Ascii | ColumnType::Varchar, CqlValue::Ascii(s) | CqlValue::Text(s)) => {
            if matches!(t, ColumnType::Ascii) && !s.is_ascii() {
                return Err(mismatch("non-ASCII text for an ascii type"));
            }
            buf.put_slice(s.as_bytes());
        }
        (ColumnType::Blob | ColumnType::Custom(_), CqlValue::Blob(b) | CqlValue::Custom(b)) => {
            buf.put_slice(b);
        }
        (ColumnType::Bigint | ColumnType::Counter, CqlValue::Bigint(n) | CqlValue::Counter(n)) => {
            buf.put_i64(*n);
        }
        (ColumnType::Boolean, CqlValue::Boolean(b)) => buf.put_u8(u8::from(*b)),
        (ColumnType::Decimal, CqlValue::Decimal(d)) => {
            buf.put_i32(d.scale);
            buf.put_slice(d.unscaled.as_signed_bytes());
        }
        (ColumnType::Double, CqlValue::Double(f)) => buf.put_f64(*f),
        (ColumnType::Float, CqlValue::Float(f)) => buf.put_f32(*f),
        (ColumnType::Int, CqlValue::Int(n)) => buf.put_i32(*n),
        (ColumnType::Timestamp, CqlValue::Timestamp(ts)) => buf.put_i64(ts.0),
        (ColumnType::Uuid, CqlValue::Uuid(u) | CqlValue::Timeuuid(u)) => buf.put_slice(u),
        (ColumnType::Timeuuid, CqlValue::Uuid(u) | CqlValue::Timeuuid(u)) => {
            if u.get(6).map(|b| b >> 4) != Some(1) {
                return Err(mismatch("timeuuid that is not a version 1 UUID"));
            }
            buf.put_slice(u);
        }
        (ColumnType::Varint, CqlValue::Varint(n)) => buf.put_slice(n.as_signed_bytes()),
        (ColumnType::Inet, CqlValue::Inet(ip)) => match ip {
            IpAddr::V4(v4) => buf.put_slice(&v4.octets()),
            IpAddr::V6(v6) => buf.put_slice(&v6.octets()),
        },
        (ColumnType::Date, CqlValue::Date(d)) => buf.put_u32(d.0),
        (ColumnType::Time, CqlValue::Time(time)) => buf.put_i64(time.nanos()),
        (ColumnType::Smallint, CqlValue::Smallint(n)) => buf.put_i16(*n),
        (ColumnType::Tinyint, CqlValue::Tinyint(n)) => buf.put_i8(*n),
        (ColumnType::Duration, CqlValue::Duration(d)) => {
            primitives::put_vint(buf, i64::from(d.months()));
            primitives::put_vint(buf, i64::from(d.days()));
            primitives::put_vint(buf, d.nanos());
        }
        // Lists and sets share their encoding; either value fits either type.
        (
            ColumnType::List(e) | ColumnType::Set(e),
            CqlValue::List(items) | CqlValue::Set(items),
        ) => {
            put_count(buf, items.len())?;
            for item in items {
                put_prefixed(e, Some(item), buf, inner)?;
            }
        }
        (ColumnType::Map(kt, vt), CqlValue::Map(entries)) => {
            put_count(buf, entries.len())?;
            for (k, v) in entries {
                put_prefixed(kt, Some(k), buf, inner)?;
                put_prefixed(vt, Some(v), buf, inner)?;
            }
        }
        (ColumnType::Tuple(types), CqlValue::Tuple(items)) => {
            if items.len() > types.len() {
                return Err(mismatch("tuple with more elements than its type"));
            }
            let mut items = items.iter();
            for et in types {
                put_prefixed(et, items.next().and_then(Option::as_ref), buf, inner)?;
            }
        }
        (ColumnType::Udt(udt), CqlValue::Udt(fields)) => {
            if fields.len() > udt.fields.len() {
                return Err(mismatch("UDT value with more fields than its type"));
            }
            let mut fields = fields.iter();
            for (name, ft) in &udt.fields {
                let value = match fields.next() {
                    Some((given, value)) if given == name => value.as_ref(),
                    Some(_) => return Err(mismatch("UDT field names differ from the type's")),
                    None => None,
                };
                put_prefixed(ft, value, buf, inner)?;
            }
        }
        (
            ColumnType::Vector { element, dimension },
            CqlValue::Vector(items) | CqlValue::List(items),
        ) => {
            if u32::try_from(items.len()) != Ok(*dimension) {
                return Err(mismatch(
                    "vector with a different number of elements than its type",
                ));
            }
            put_vector(element, items, buf, inner)?;
        }
        _ => return Err(mismatch("value of another type")),
    }
    Ok(())
}

/// Vector elements: back to back when fixed-width, after an `[unsigned vint]` length otherwise.
fn put_vector(
    t: &ColumnType,
    items: &[CqlValue],
    buf: &mut BytesMut,
    depth: usize,
) -> Result<(), EncodeError> {
    match fixed_width(t) {
        Some(width) => {
            for item in items {
                let before = buf.len();
                encode_at(t, item, buf, depth)?;
                if buf.len() - before != width {
                    return Err(mismatch("vector element of the wrong width"));
                }
            }
        }
        None => {
            let mut scratch = BytesMut::new();
            for item in items {
                scratch.clear();
                encode_at(t, item, &mut scratch, depth)?;
                primitives::put_unsigned_vint(buf, scratch.len() as u64);
                buf.put_slice(&scratch);
            }
        }
    }
    Ok(())
}
