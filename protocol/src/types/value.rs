//! The value model: one [`CqlValue`] variant per CQL type, plus the temporal types.

use std::net::IpAddr;

use super::number::{CqlDecimal, CqlVarint};

/// A decoded CQL value.
///
/// `null` is not a variant: a cell or element that may be null is an `Option<CqlValue>`.
/// [`CqlValue::Empty`] is Cassandra's "empty" value, a zero-length byte string, which most
/// non-string types accept (an empty `int` is neither null nor a number). Equality is
/// structural, with floats compared as Rust compares them (NaN is not equal to itself).
#[derive(Debug, Clone, PartialEq)]
pub enum CqlValue {
    /// A zero-length value of a type whose values are otherwise never empty (every type but
    /// `ascii`, `text`, `blob` and custom types, whose empty values are an empty string or byte
    /// string).
    Empty,
    /// `ascii`: only bytes 0..=127.
    Ascii(String),
    /// `bigint`.
    Bigint(i64),
    /// `blob`.
    Blob(Vec<u8>),
    /// `boolean`.
    Boolean(bool),
    /// `counter`.
    Counter(i64),
    /// `decimal`, full precision.
    Decimal(CqlDecimal),
    /// `double`.
    Double(f64),
    /// `float`.
    Float(f32),
    /// `int`.
    Int(i32),
    /// `timestamp`.
    Timestamp(CqlTimestamp),
    /// `uuid`, the 16 bytes in network order.
    Uuid([u8; 16]),
    /// `text` / `varchar`.
    Text(String),
    /// `varint`, full precision.
    Varint(CqlVarint),
    /// `timeuuid`: a version 1 UUID.
    Timeuuid([u8; 16]),
    /// `inet`.
    Inet(IpAddr),
    /// `date`.
    Date(CqlDate),
    /// `time`.
    Time(CqlTime),
    /// `smallint`.
    Smallint(i16),
    /// `tinyint`.
    Tinyint(i8),
    /// `duration`.
    Duration(CqlDuration),
    /// `list<T>`, in order. Collection elements are never null.
    List(Vec<CqlValue>),
    /// `set<T>`, in wire order (Cassandra sends sets sorted).
    Set(Vec<CqlValue>),
    /// `map<K, V>`, entries in wire order.
    Map(Vec<(CqlValue, CqlValue)>),
    /// A user-defined type's fields, named, in declaration order; `None` is a null field.
    Udt(Vec<(String, Option<CqlValue>)>),
    /// `tuple<...>`; `None` is a null element.
    Tuple(Vec<Option<CqlValue>>),
    /// `vector<T, n>`: exactly n elements, none null.
    Vector(Vec<CqlValue>),
    /// A value of a custom type, as raw bytes.
    Custom(Vec<u8>),
}

impl CqlValue {
    /// A short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Ascii(_) => "ascii",
            Self::Bigint(_) => "bigint",
            Self::Blob(_) => "blob",
            Self::Boolean(_) => "boolean",
            Self::Counter(_) => "counter",
            Self::Decimal(_) => "decimal",
            Self::Double(_) => "double",
            Self::Float(_) => "float",
            Self::Int(_) => "int",
            Self::Timestamp(_) => "timestamp",
            Self::Uuid(_) => "uuid",
            Self::Text(_) => "text",
            Self::Varint(_) => "varint",
            Self::Timeuuid(_) => "timeuuid",
            Self::Inet(_) => "inet",
            Self::Date(_) => "date",
            Self::Time(_) => "time",
            Self::Smallint(_) => "smallint",
            Self::Tinyint(_) => "tinyint",
            Self::Duration(_) => "duration",
            Self::List(_) => "list",
            Self::Set(_) => "set",
            Self::Map(_) => "map",
            Self::Udt(_) => "udt",
            Self::Tuple(_) => "tuple",
            Self::Vector(_) => "vector",
            Self::Custom(_) => "custom",
        }
    }
}

/// A CQL `timestamp`: milliseconds since the Unix epoch (negative before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CqlTimestamp(pub i64);

/// A CQL `date`: days on a scale where 2^31 is the Unix epoch (1970-01-01), as on the wire.
///
/// ```
/// use ringgate_protocol::types::CqlDate;
/// assert_eq!(CqlDate::from_days_since_epoch(0), Some(CqlDate(1 << 31)));
/// assert_eq!(CqlDate(0).days_since_epoch(), -(1 << 31));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CqlDate(pub u32);

impl CqlDate {
    /// The wire value of the Unix epoch.
    pub const EPOCH: u32 = 1 << 31;

    /// The date `days` after (or before, when negative) 1970-01-01, if representable.
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        let raw = days.checked_add(i64::from(Self::EPOCH))?;
        u32::try_from(raw).ok().map(Self)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        i64::from(self.0) - i64::from(Self::EPOCH)
    }
}

/// A CQL `time`: nanoseconds since midnight, `0..=86_399_999_999_999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CqlTime(i64);

impl CqlTime {
    /// The largest valid value: one nanosecond before midnight.
    pub const MAX_NANOS: i64 = 86_400_000_000_000 - 1;

    /// The time `nanos` after midnight, if within a day.
    pub fn from_nanos(nanos: i64) -> Option<Self> {
        (0..=Self::MAX_NANOS)
            .contains(&nanos)
            .then_some(Self(nanos))
    }

    /// Nanoseconds since midnight.
    pub fn nanos(self) -> i64 {
        self.0
    }
}

/// A CQL `duration`: months, days and nanoseconds, all of the same sign (or zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CqlDuration {
    months: i32,
    days: i32,
    nanos: i64,
}

impl CqlDuration {
    /// A duration, if its parts do not mix signs (Cassandra refuses mixed signs).
    pub fn new(months: i32, days: i32, nanos: i64) -> Option<Self> {
        let any_neg = months < 0 || days < 0 || nanos < 0;
        let any_pos = months > 0 || days > 0 || nanos > 0;
        (!(any_neg && any_pos)).then_some(Self {
            months,
            days,
            nanos,
        })
    }

    /// The months part.
    pub fn months(self) -> i32 {
        self.months
    }

    /// The days part.
    pub fn days(self) -> i32 {
        self.days
    }

    /// The nanoseconds part.
    pub fn nanos(self) -> i64 {
        self.nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_scale() {
        assert_eq!(CqlDate(CqlDate::EPOCH).days_since_epoch(), 0);
        assert_eq!(
            CqlDate::from_days_since_epoch(-1),
            Some(CqlDate(0x7FFF_FFFF))
        );
        assert_eq!(CqlDate::from_days_since_epoch(1 << 31), None);
        assert_eq!(CqlDate::from_days_since_epoch(-(1 << 31)), Some(CqlDate(0)));
    }

    #[test]
    fn time_range() {
        assert!(CqlTime::from_nanos(-1).is_none());
        assert!(CqlTime::from_nanos(86_400_000_000_000).is_none());
        assert_eq!(
            CqlTime::from_nanos(86_399_999_999_999).map(CqlTime::nanos),
            Some(86_399_999_999_999)
        );
    }

    #[test]
    fn duration_signs() {
        assert!(CqlDuration::new(1, -1, 0).is_none());
        assert!(CqlDuration::new(0, 0, -5).is_some());
        assert!(CqlDuration::new(-1, -2, -3).is_some());
        assert!(CqlDuration::new(1, 0, 3).is_some());
    }
}
