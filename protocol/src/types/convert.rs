//! Conversions between [`CqlValue`] and Rust types.
//!
//! `From<T> for CqlValue` builds values (`i32` is an `Int`, `&str` a `Text`, `Vec<T>` a `List`,
//! maps a `Map`, ...). [`FromCqlValue`] reads a possibly-null value back into a Rust type,
//! with `Option<T>` for columns that may be null; `TryFrom<CqlValue>` does the same for a
//! value known to be present.
//!
//! ```
//! use ringgate_protocol::types::{CqlValue, FromCqlValue};
//! let v = CqlValue::from(vec![1i32, 2, 3]);
//! assert_eq!(Vec::<i32>::try_from(v).unwrap(), vec![1, 2, 3]);
//! assert_eq!(Option::<String>::from_cql(None).unwrap(), None);
//! assert_eq!(i64::try_from(CqlValue::Counter(5)).unwrap(), 5);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;

use crate::ProtocolVersion;
use crate::primitives::{DecodeError, RawValue};

use super::column_type::ColumnType;
use super::decode::decode_cell;

use super::number::{CqlDecimal, CqlVarint};
use super::value::{CqlDate, CqlDuration, CqlTime, CqlTimestamp, CqlValue};

/// Why a cell could not be read as the Rust type asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// The value is of another CQL type than the Rust type reads.
    #[error("cannot read a {found} value as {expected}")]
    Mismatch {
        /// The Rust type asked for.
        expected: &'static str,
        /// The kind of value found ([`CqlValue::kind`]).
        found: &'static str,
    },
    /// The value is null (or empty) and the Rust type cannot express that; ask for an `Option`.
    #[error("null value read as {0}; use an Option")]
    Null(&'static str),
    /// The cell's bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Reading a possibly-null CQL value as a Rust type. `Option<T>` reads null and
/// [`CqlValue::Empty`] as `None`; other types refuse them.
pub trait FromCqlValue: Sized {
    /// Converts `value` (`None` for null).
    fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError>;
}

impl<T: FromCqlValue> FromCqlValue for Option<T> {
    fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError> {
        match value {
            None | Some(CqlValue::Empty) => Ok(None),
            some => T::from_cql(some).map(Some),
        }
    }
}

/// Reading one cell of a row as a Rust type: every [`FromCqlValue`] type (decoding the cell
/// first), and `&str` / `&[u8]` borrowed from the row without copying (`Option<&str>`,
/// `Option<&[u8]>` where the cell may be null).
pub trait FromCell<'a>: Sized {
    /// Converts the cell `raw` of type `t`.
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, ValueError>;
}

impl<'a, T: FromCqlValue> FromCell<'a> for T {
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, ValueError> {
        T::from_cql(decode_cell(t, raw, version)?)
    }
}

fn borrowed_str<'a>(t: &ColumnType, raw: RawValue<'a>) -> Result<Option<&'a str>, ValueError> {
    let bytes = match raw {
        RawValue::Bytes(b) => b,
        RawValue::Null => return Ok(None),
        RawValue::Unset => {
            return Err(DecodeError::Malformed("unset value where a value is expected").into());
        }
    };
    match t {
        ColumnType::Varchar => {}
        ColumnType::Ascii if bytes.is_ascii() => {}
        ColumnType::Ascii => {
            return Err(DecodeError::Malformed("non-ASCII byte in an ascii value").into());
        }
        _ => {
            return Err(ValueError::Mismatch {
                expected: "&str",
                found: "a non-text type",
            });
        }
    }
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| DecodeError::InvalidUtf8("text value").into())
}

fn borrowed_bytes<'a>(t: &ColumnType, raw: RawValue<'a>) -> Result<Option<&'a [u8]>, ValueError> {
    match (t, raw) {
        (ColumnType::Blob | ColumnType::Custom(_), RawValue::Bytes(b)) => Ok(Some(b)),
        (ColumnType::Blob | ColumnType::Custom(_), RawValue::Null) => Ok(None),
        (ColumnType::Blob | ColumnType::Custom(_), RawValue::Unset) => {
            Err(DecodeError::Malformed("unset value where a value is expected").into())
        }
        _ => Err(ValueError::Mismatch {
            expected: "&[u8]",
            found: "a non-blob type",
        }),
    }
}

impl<'a> FromCell<'a> for &'a str {
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        _: ProtocolVersion,
    ) -> Result<Self, ValueError> {
        borrowed_str(t, raw)?.ok_or(ValueError::Null("&str"))
    }
}

impl<'a> FromCell<'a> for Option<&'a str> {
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        _: ProtocolVersion,
    ) -> Result<Self, ValueError> {
        borrowed_str(t, raw)
    }
}

impl<'a> FromCell<'a> for &'a [u8] {
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        _: ProtocolVersion,
    ) -> Result<Self, ValueError> {
        borrowed_bytes(t, raw)?.ok_or(ValueError::Null("&[u8]"))
    }
}

impl<'a> FromCell<'a> for Option<&'a [u8]> {
    fn from_cell(
        t: &ColumnType,
        raw: RawValue<'a>,
        _: ProtocolVersion,
    ) -> Result<Self, ValueError> {
        borrowed_bytes(t, raw)
    }
}

impl FromCqlValue for CqlValue {
    fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError> {
        value.ok_or(ValueError::Null("CqlValue"))
    }
}

/// Implements `FromCqlValue`, `TryFrom<CqlValue>` and `From<T> for CqlValue` for a type read
/// from (and built as) the listed variants.
macro_rules! scalar {
    ($t:ty, $name:literal, $build:expr, $($variant:ident)|+) => {
        impl FromCqlValue for $t {
            fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError> {
                match value {
                    $(Some(CqlValue::$variant(v)) => Ok(v.into()),)+
                    Some(other) => Err(ValueError::Mismatch { expected: $name, found: other.kind() }),
                    None => Err(ValueError::Null($name)),
                }
            }
        }

        impl TryFrom<CqlValue> for $t {
            type Error = ValueError;

            fn try_from(value: CqlValue) -> Result<Self, ValueError> {
                <$t as FromCqlValue>::from_cql(Some(value))
            }
        }

        impl From<$t> for CqlValue {
            fn from(v: $t) -> Self {
                $build(v)
            }
        }
    };
}

scalar!(i8, "i8", CqlValue::Tinyint, Tinyint);
scalar!(i16, "i16", CqlValue::Smallint, Smallint);
scalar!(i32, "i32", CqlValue::Int, Int);
scalar!(i64, "i64", CqlValue::Bigint, Bigint | Counter);
scalar!(bool, "bool", CqlValue::Boolean, Boolean);
scalar!(f32, "f32", CqlValue::Float, Float);
scalar!(f64, "f64", CqlValue::Double, Double);
scalar!(String, "String", CqlValue::Text, Text | Ascii);
scalar!(Vec<u8>, "Vec<u8>", CqlValue::Blob, Blob | Custom);
scalar!(IpAddr, "IpAddr", CqlValue::Inet, Inet);
scalar!([u8; 16], "[u8; 16]", CqlValue::Uuid, Uuid | Timeuuid);
scalar!(CqlDecimal, "CqlDecimal", CqlValue::Decimal, Decimal);
scalar!(CqlVarint, "CqlVarint", CqlValue::Varint, Varint);
scalar!(CqlDate, "CqlDate", CqlValue::Date, Date);
scalar!(CqlTime, "CqlTime", CqlValue::Time, Time);
scalar!(CqlTimestamp, "CqlTimestamp", CqlValue::Timestamp, Timestamp);
scalar!(CqlDuration, "CqlDuration", CqlValue::Duration, Duration);

impl From<&str> for CqlValue {
    fn from(v: &str) -> Self {
        CqlValue::Text(v.to_owned())
    }
}

impl From<&[u8]> for CqlValue {
    fn from(v: &[u8]) -> Self {
        CqlValue::Blob(v.to_vec())
    }
}

/// The elements of a list, set or vector.
fn elements(value: Option<CqlValue>, expected: &'static str) -> Result<Vec<CqlValue>, ValueError> {
    match value {
        Some(CqlValue::List(v) | CqlValue::Set(v) | CqlValue::Vector(v)) => Ok(v),
        Some(other) => Err(ValueError::Mismatch {
            expected,
            found: other.kind(),
        }),
        None => Err(ValueError::Null(expected)),
    }
}

fn entries(
    value: Option<CqlValue>,
    expected: &'static str,
) -> Result<Vec<(CqlValue, CqlValue)>, ValueError> {
    match value {
        Some(CqlValue::Map(m)) => Ok(m),
        Some(other) => Err(ValueError::Mismatch {
            expected,
            found: other.kind(),
        }),
        None => Err(ValueError::Null(expected)),
    }
}

/// Implements the collection conversions for a container built from an iterator.
macro_rules! collection {
    ([$($bound:tt)*] $t:ty, $name:literal, elements, $build:path) => {
        impl<T: FromCqlValue $($bound)*> FromCqlValue for $t {
            fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError> {
                elements(value, $name)?.into_iter().map(|v| T::from_cql(Some(v))).collect()
            }
        }

        impl<T: FromCqlValue $($bound)*> TryFrom<CqlValue> for $t {
            type Error = ValueError;

            fn try_from(value: CqlValue) -> Result<Self, ValueError> {
                <$t as FromCqlValue>::from_cql(Some(value))
            }
        }

        impl<T: Into<CqlValue>> From<$t> for CqlValue {
            fn from(v: $t) -> Self {
                $build(v.into_iter().map(Into::into).collect())
            }
        }
    };
    ([$($bound:tt)*] $t:ty, $name:literal, entries) => {
        impl<K: FromCqlValue $($bound)*, V: FromCqlValue> FromCqlValue for $t {
            fn from_cql(value: Option<CqlValue>) -> Result<Self, ValueError> {
                entries(value, $name)?
                    .into_iter()
                    .map(|(k, v)| Ok((K::from_cql(Some(k))?, V::from_cql(Some(v))?)))
                    .collect()
            }
        }

        impl<K: FromCqlValue $($bound)*, V: FromCqlValue> TryFrom<CqlValue> for $t {
            type Error = ValueError;

            fn try_from(value: CqlValue) -> Result<Self, ValueError> {
                <$t as FromCqlValue>::from_cql(Some(value))
            }
        }

        impl<K: Into<CqlValue>, V: Into<CqlValue>> From<$t> for CqlValue {
            fn from(m: $t) -> Self {
                CqlValue::Map(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
        }
    };
}

collection!([] Vec<T>, "Vec", elements, CqlValue::List);
collection!([+ Eq + Hash] HashSet<T>, "HashSet", elements, CqlValue::Set);
collection!([+ Ord] BTreeSet<T>, "BTreeSet", elements, CqlValue::Set);
collection!([+ Eq + Hash] HashMap<K, V>, "HashMap", entries);
collection!([+ Ord] BTreeMap<K, V>, "BTreeMap", entries);

impl CqlValue {
    /// The value of an `int`.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Self::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `bigint` or `counter`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Bigint(v) | Self::Counter(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `double`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Double(v) => Some(*v),
            _ => None,
        }
    }

    /// The text of a `text` or `ascii` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) | Self::Ascii(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `blob` or custom value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Blob(b) | Self::Custom(b) => Some(b),
            _ => None,
        }
    }

    /// The 16 bytes of a `uuid` or `timeuuid`.
    pub fn as_uuid(&self) -> Option<[u8; 16]> {
        match self {
            Self::Uuid(u) | Self::Timeuuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The address of an `inet`.
    pub fn as_inet(&self) -> Option<IpAddr> {
        match self {
            Self::Inet(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The elements of a list, set or vector.
    pub fn as_elements(&self) -> Option<&[CqlValue]> {
        match self {
            Self::List(v) | Self::Set(v) | Self::Vector(v) => Some(v),
            _ => None,
        }
    }

    /// The entries of a map.
    pub fn as_entries(&self) -> Option<&[(CqlValue, CqlValue)]> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_roundtrip_through_cql_value() {
        assert_eq!(i32::try_from(CqlValue::from(7i32)).unwrap(), 7);
        assert_eq!(String::try_from(CqlValue::from("hé")).unwrap(), "hé");
        assert_eq!(String::try_from(CqlValue::Ascii("a".into())).unwrap(), "a");
        assert_eq!(
            Vec::<u8>::try_from(CqlValue::from(&[1u8, 2][..])).unwrap(),
            vec![1, 2]
        );
        let ip: IpAddr = "::1".parse().unwrap();
        assert_eq!(IpAddr::try_from(CqlValue::from(ip)).unwrap(), ip);
        assert_eq!(f32::try_from(CqlValue::from(1.5f32)).unwrap(), 1.5);
    }

    #[test]
    fn mismatches_and_nulls_are_errors() {
        assert_eq!(
            i32::try_from(CqlValue::Bigint(1)),
            Err(ValueError::Mismatch {
                expected: "i32",
                found: "bigint"
            })
        );
        assert_eq!(i32::from_cql(None), Err(ValueError::Null("i32")));
        assert_eq!(Option::<i32>::from_cql(None), Ok(None));
        assert_eq!(Option::<i32>::from_cql(Some(CqlValue::Empty)), Ok(None));
        assert!(i32::from_cql(Some(CqlValue::Empty)).is_err());
        assert!(Vec::<i32>::try_from(CqlValue::List(vec![CqlValue::Text("x".into())])).is_err());
    }

    #[test]
    fn maps_and_sets() {
        let m: BTreeMap<String, i64> = [("a".to_owned(), 1i64), ("b".to_owned(), 2)].into();
        let v = CqlValue::from(m.clone());
        assert_eq!(
            v,
            CqlValue::Map(vec![
                (CqlValue::Text("a".into()), CqlValue::Bigint(1)),
                (CqlValue::Text("b".into()), CqlValue::Bigint(2)),
            ])
        );
        assert_eq!(BTreeMap::<String, i64>::try_from(v.clone()).unwrap(), m);
        assert_eq!(HashMap::<String, i64>::try_from(v).unwrap().len(), 2);
        let s: BTreeSet<i32> = [3, 1].into();
        assert_eq!(
            CqlValue::from(s),
            CqlValue::Set(vec![CqlValue::Int(1), CqlValue::Int(3)])
        );
        let nested = CqlValue::List(vec![CqlValue::Set(vec![CqlValue::Int(1)])]);
        assert_eq!(
            Vec::<HashSet<i32>>::try_from(nested).unwrap(),
            vec![HashSet::from([1])]
        );
    }
}
