//! Type descriptions: the `[option]` that names a column's CQL type in result metadata.

use bytes::{BufMut, BytesMut};

use crate::primitives::{self, DecodeError, EncodeError, Parsed, fail};

/// How deeply collection, tuple, UDT and vector types may nest before decoding refuses them.
pub const MAX_TYPE_DEPTH: usize = 32;

/// A CQL type, as result metadata and prepared statements describe it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A type known only by its Java class name (`0x0000` with an unrecognised class).
    Custom(String),
    /// `ascii`.
    Ascii,
    /// `bigint`.
    Bigint,
    /// `blob`.
    Blob,
    /// `boolean`.
    Boolean,
    /// `counter`.
    Counter,
    /// `decimal`.
    Decimal,
    /// `double`.
    Double,
    /// `float`.
    Float,
    /// `int`.
    Int,
    /// `timestamp`.
    Timestamp,
    /// `uuid`.
    Uuid,
    /// `text` / `varchar`.
    Varchar,
    /// `varint`.
    Varint,
    /// `timeuuid`.
    Timeuuid,
    /// `inet`.
    Inet,
    /// `date` (v4+).
    Date,
    /// `time` (v4+).
    Time,
    /// `smallint` (v4+).
    Smallint,
    /// `tinyint` (v4+).
    Tinyint,
    /// `duration` (v5; earlier versions see it as a custom type).
    Duration,
    /// `list<element>`.
    List(Box<ColumnType>),
    /// `map<key, value>`.
    Map(Box<ColumnType>, Box<ColumnType>),
    /// `set<element>`.
    Set(Box<ColumnType>),
    /// A user-defined type.
    Udt(UdtType),
    /// `tuple<...>`.
    Tuple(Vec<ColumnType>),
    /// Cassandra 5's `vector<element, dimension>`, sent on the wire as a custom type.
    Vector {
        /// The element type.
        element: Box<ColumnType>,
        /// The number of elements.
        dimension: u32,
    },
}

/// A user-defined type's description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdtType {
    /// The keyspace the type belongs to.
    pub keyspace: String,
    /// The type's name.
    pub name: String,
    /// Field names and types, in declaration order.
    pub fields: Vec<(String, ColumnType)>,
}

/// Parses an `[option]` type description.
pub fn column_type(input: &[u8]) -> Parsed<'_, ColumnType> {
    column_type_at_depth(input, 0)
}

fn column_type_at_depth(input: &[u8], depth: usize) -> Parsed<'_, ColumnType> {
    if depth > MAX_TYPE_DEPTH {
        return Err(fail(DecodeError::LimitExceeded {
            what: "type nesting depth",
            limit: MAX_TYPE_DEPTH,
        }));
    }
    let (rest, id) = primitives::short(input)?;
    let inner = |i| column_type_at_depth(i, depth + 1);
    Ok(match id {
        0x0000 => {
            let (rest, class) = primitives::string(rest)?;
            let t = super::marshal::from_class_name(class, depth)
                .map_err(fail)?
                .unwrap_or_else(|| ColumnType::Custom(class.to_owned()));
            (rest, t)
        }
        0x0001 => (rest, ColumnType::Ascii),
        0x0002 => (rest, ColumnType::Bigint),
        0x0003 => (rest, ColumnType::Blob),
        0x0004 => (rest, ColumnType::Boolean),
        0x0005 => (rest, ColumnType::Counter),
        0x0006 => (rest, ColumnType::Decimal),
        0x0007 => (rest, ColumnType::Double),
        0x0008 => (rest, ColumnType::Float),
        0x0009 => (rest, ColumnType::Int),
        0x000B => (rest, ColumnType::Timestamp),
        0x000C => (rest, ColumnType::Uuid),
        0x000D => (rest, ColumnType::Varchar),
        0x000E => (rest, ColumnType::Varint),
        0x000F => (rest, ColumnType::Timeuuid),
        0x0010 => (rest, ColumnType::Inet),
        0x0011 => (rest, ColumnType::Date),
        0x0012 => (rest, ColumnType::Time),
        0x0013 => (rest, ColumnType::Smallint),
        0x0014 => (rest, ColumnType::Tinyint),
        0x0015 => (rest, ColumnType::Duration),
        0x0020 => {
            let (rest, e) = inner(rest)?;
            (rest, ColumnType::List(Box::new(e)))
        }
        0x0021 => {
            let (rest, k) = inner(rest)?;
            let (rest, v) = inner(rest)?;
            (rest, ColumnType::Map(Box::new(k), Box::new(v)))
        }
        0x0022 => {
            let (rest, e) = inner(rest)?;
            (rest, ColumnType::Set(Box::new(e)))
        }
        0x0030 => {
            let (rest, keyspace) = primitives::string(rest)?;
            let (rest, name) = primitives::string(rest)?;
            let (mut rest, n) = primitives::short(rest)?;
            let cap = primitives::bounded_capacity(usize::from(n), rest.len(), 4);
            let mut fields = Vec::with_capacity(cap);
            for _ in 0..n {
                let (r, field) = primitives::string(rest)?;
                let (r, t) = inner(r)?;
                fields.push((field.to_owned(), t));
                rest = r;
            }
            let udt = UdtType {
                keyspace: keyspace.to_owned(),
                name: name.to_owned(),
                fields,
            };
            (rest, ColumnType::Udt(udt))
        }
        0x0031 => {
            let (mut rest, n) = primitives::short(rest)?;
            let cap = primitives::bounded_capacity(usize::from(n), rest.len(), 2);
            let mut elems = Vec::with_capacity(cap);
            for _ in 0..n {
                let (r, t) = inner(rest)?;
                elems.push(t);
                rest = r;
            }
            (rest, ColumnType::Tuple(elems))
        }
        other => {
            return Err(fail(DecodeError::InvalidValue {
                what: "type option id",
                value: i64::from(other),
            }));
        }
    })
}

/// Writes an `[option]` type description. `Vector` is written as its custom class name.
pub fn put_column_type(buf: &mut BytesMut, t: &ColumnType) -> Result<(), EncodeError> {
    let simple = |buf: &mut BytesMut, id: u16| {
        buf.put_u16(id);
        Ok(())
    };
    match t {
        ColumnType::Custom(class) => {
            buf.put_u16(0x0000);
            primitives::put_string(buf, class)
        }
        ColumnType::Ascii => simple(buf, 0x0001),
        ColumnType::Bigint => simple(buf, 0x0002),
        ColumnType::Blob => simple(buf, 0x0003),
        ColumnType::Boolean => simple(buf, 0x0004),
        ColumnType::Counter => simple(buf, 0x0005),
        ColumnType::Decimal => simple(buf, 0x0006),
        ColumnType::Double => simple(buf, 0x0007),
        ColumnType::Float => simple(buf, 0x0008),
        ColumnType::Int => simple(buf, 0x0009),
        ColumnType::Timestamp => simple(buf, 0x000B),
        ColumnType::Uuid => simple(buf, 0x000C),
        ColumnType::Varchar => simple(buf, 0x000D),
        ColumnType::Varint => simple(buf, 0x000E),
        ColumnType::Timeuuid => simple(buf, 0x000F),
        ColumnType::Inet => simple(buf, 0x0010),
        ColumnType::Date => simple(buf, 0x0011),
        ColumnType::Time => simple(buf, 0x0012),
        ColumnType::Smallint => simple(buf, 0x0013),
        ColumnType::Tinyint => simple(buf, 0x0014),
        ColumnType::Duration => simple(buf, 0x0015),
        ColumnType::List(e) => {
            buf.put_u16(0x0020);
            put_column_type(buf, e)
        }
        ColumnType::Map(k, v) => {
            buf.put_u16(0x0021);
            put_column_type(buf, k)?;
            put_column_type(buf, v)
        }
        ColumnType::Set(e) => {
            buf.put_u16(0x0022);
            put_column_type(buf, e)
        }
        ColumnType::Udt(udt) => {
            buf.put_u16(0x0030);
            primitives::put_string(buf, &udt.keyspace)?;
            primitives::put_string(buf, &udt.name)?;
            primitives::put_count_u16(buf, "UDT fields", udt.fields.len())?;
            for (name, t) in &udt.fields {
                primitives::put_string(buf, name)?;
                put_column_type(buf, t)?;
            }
            Ok(())
        }
        ColumnType::Tuple(elems) => {
            buf.put_u16(0x0031);
            primitives::put_count_u16(buf, "tuple elements", elems.len())?;
            elems.iter().try_for_each(|t| put_column_type(buf, t))
        }
        ColumnType::Vector { .. } => {
            buf.put_u16(0x0000);
            primitives::put_string(buf, &super::marshal::class_name(t))
        }
    }
}
