//! Schema metadata: keyspaces, tables, columns and user types, as `system_schema` describes
//! them, with each column's CQL type parsed from its text form.

use std::collections::BTreeMap;
use std::sync::Arc;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0};
use nom::combinator::map_res;
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};
use ringgate_protocol::types::{ColumnType, UdtType};

/// A keyspace and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyspaceMeta {
    /// The keyspace's name.
    pub name: String,
    /// Its replication options as stored (`class` and per-DC or `replication_factor`).
    pub replication: BTreeMap<String, String>,
    /// Whether writes go to the commit log.
    pub durable_writes: bool,
    /// Its tables (and materialized views), by name.
    pub tables: BTreeMap<String, Arc<TableMeta>>,
    /// Its user-defined types, by name.
    pub user_types: BTreeMap<String, Arc<UdtType>>,
}

/// A table's columns, with its primary key in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// The keyspace.
    pub keyspace: String,
    /// The table's name.
    pub name: String,
    /// The partition key's columns, in key order.
    pub partition_key: Vec<ColumnMeta>,
    /// The clustering columns, in key order.
    pub clustering_key: Vec<ColumnMeta>,
    /// Every column, by name.
    pub columns: BTreeMap<String, ColumnMeta>,
}

/// The role a column plays in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Part of the partition key.
    PartitionKey,
    /// A clustering column.
    Clustering,
    /// A regular column.
    Regular,
    /// A static column.
    Static,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    /// The column's name (case kept).
    pub name: String,
    /// Its role.
    pub kind: ColumnKind,
    /// Its position within the partition or clustering key (-1 for other columns).
    pub position: i32,
    /// Its type.
    pub cql_type: ColumnType,
    /// Its type as `system_schema` writes it.
    pub type_text: String,
}

impl ColumnKind {
    /// The kind `system_schema.columns.kind` names.
    pub fn from_schema(kind: &str) -> Option<Self> {
        match kind {
            "partition_key" => Some(Self::PartitionKey),
            "clustering" => Some(Self::Clustering),
            "regular" => Some(Self::Regular),
            "static" => Some(Self::Static),
            _ => None,
        }
    }
}

impl TableMeta {
    /// A table from its columns: the key columns are ordered by position.
    pub fn new(keyspace: String, name: String, columns: Vec<ColumnMeta>) -> Self {
        let key = |kind| {
            let mut key: Vec<ColumnMeta> =
                columns.iter().filter(|c| c.kind == kind).cloned().collect();
            key.sort_by_key(|c| c.position);
            key
        };
        TableMeta {
            partition_key: key(ColumnKind::PartitionKey),
            clustering_key: key(ColumnKind::Clustering),
            columns: columns.into_iter().map(|c| (c.name.clone(), c)).collect(),
            keyspace,
            name,
        }
    }
}

/// Why a type's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeParseError {
    /// The text is not a CQL type.
    #[error("cannot parse CQL type {0:?}")]
    Syntax(String),
    /// It names a user type the keyspace does not have.
    #[error("unknown user type {0:?}")]
    UnknownType(String),
    /// Types nest deeper than the protocol crate allows.
    #[error("type nesting too deep: {0:?}")]
    TooDeep(String),
}

/// Parses a CQL type as `system_schema` writes it. `udt` resolves a user type's name (in the
/// column's keyspace) to its definition.
pub fn parse_cql_type(
    text: &str,
    udt: &dyn Fn(&str) -> Option<UdtType>,
) -> Result<ColumnType, TypeParseError> {
    let raw = match delimited(multispace0, raw_type, multispace0).parse(text) {
        Ok(("", raw)) => raw,
        _ => return Err(TypeParseError::Syntax(text.to_owned())),
    };
    resolve(raw, udt, 0, text)
}

/// A type as written, before user types are resolved.
#[derive(Debug)]
enum Raw<'a> {
    Named(&'a str),
    Quoted(String),
    Custom(String),
    Generic(&'a str, Vec<Raw<'a>>),
    Vector(Box<Raw<'a>>, u32),
}

fn raw_type(input: &str) -> IResult<&str, Raw<'_>> {
    alt((vector, generic, quoted_name, custom, plain_name)).parse(input)
}

fn word(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_').parse(input)
}

fn spaced<'a, O>(
    p: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>> {
    delimited(multispace0, p, multispace0)
}

fn generic(input: &str) -> IResult<&str, Raw<'_>> {
    let (rest, name) = word(input)?;
    let (rest, args) = delimited(
        spaced(char('<')),
        separated_list1(spaced(char(',')), raw_type),
        spaced(char('>')),
    )
    .parse(rest)?;
    Ok((rest, Raw::Generic(name, args)))
}

fn vector(input: &str) -> IResult<&str, Raw<'_>> {
    let (rest, _) = tag("vector").parse(input)?;
    let (rest, (element, dimension)) = delimited(
        spaced(char('<')),
        (
            raw_type,
            preceded(spaced(char(',')), map_res(digit1, str::parse::<u32>)),
        ),
        spaced(char('>')),
    )
    .parse(rest)?;
    Ok((rest, Raw::Vector(Box::new(element), dimension)))
}

fn quoted_name(input: &str) -> IResult<&str, Raw<'_>> {
    crate::cql::quoted_identifier.map(Raw::Quoted).parse(input)
}

fn custom(input: &str) -> IResult<&str, Raw<'_>> {
    let (rest, class) =
        delimited(char('\''), take_while(|c| c != '\''), char('\'')).parse(input)?;
    Ok((rest, Raw::Custom(class.to_owned())))
}

fn plain_name(input: &str) -> IResult<&str, Raw<'_>> {
    word.map(Raw::Named).parse(input)
}

fn resolve(
    raw: Raw<'_>,
    udt: &dyn Fn(&str) -> Option<UdtType>,
    depth: usize,
    text: &str,
) -> Result<ColumnType, TypeParseError> {
    if depth > ringgate_protocol::types::MAX_TYPE_DEPTH {
        return Err(TypeParseError::TooDeep(text.to_owned()));
    }
    let inner = |r: Raw<'_>| resolve(r, udt, depth + 1, text).map(Box::new);
    let syntax = || TypeParseError::Syntax(text.to_owned());
    Ok(match raw {
        Raw::Named(name) => match native(&name.to_ascii_lowercase()) {
            Some(t) => t,
            None => udt(&name.to_ascii_lowercase())
                .map(ColumnType::Udt)
                .ok_or_else(|| TypeParseError::UnknownType(name.to_owned()))?,
        },
        Raw::Quoted(name) => udt(&name)
            .map(ColumnType::Udt)
            .ok_or(TypeParseError::UnknownType(name))?,
        Raw::Custom(class) => ColumnType::Custom(class),
        Raw::Vector(element, dimension) => ColumnType::Vector {
            element: inner(*element)?,
            dimension,
        },
        Raw::Generic(name, args) => {
            let mut args = args.into_iter();
            let mut next = || args.next().ok_or_else(syntax);
            let t = match name.to_ascii_lowercase().as_str() {
                "frozen" => *inner(next()?)?,
                "list" => ColumnType::List(inner(next()?)?),
                "set" => ColumnType::Set(inner(next()?)?),
                "map" => {
                    let k = inner(next()?)?;
                    ColumnType::Map(k, inner(next()?)?)
                }
                "tuple" => {
                    let mut elems = vec![*inner(next()?)?];
                    for a in args.by_ref() {
                        elems.push(*inner(a)?);
                    }
                    ColumnType::Tuple(elems)
                }
                _ => return Err(syntax()),
            };
            if args.next().is_some() {
                return Err(syntax());
            }
            t
        }
    })
}

fn native(name: &str) -> Option<ColumnType> {
    Some(match name {
        "ascii" => ColumnType::Ascii,
        "bigint" => ColumnType::Bigint,
        "blob" => ColumnType::Blob,
        "boolean" => ColumnType::Boolean,
        "counter" => ColumnType::Counter,
        "date" => ColumnType::Date,
        "decimal" => ColumnType::Decimal,
        "double" => ColumnType::Double,
        "duration" => ColumnType::Duration,
        "float" => ColumnType::Float,
        "inet" => ColumnType::Inet,
        "int" => ColumnType::Int,
        "smallint" => ColumnType::Smallint,
        "text" | "varchar" => ColumnType::Varchar,
        "time" => ColumnType::Time,
        "timestamp" => ColumnType::Timestamp,
        "timeuuid" => ColumnType::Timeuuid,
        "tinyint" => ColumnType::Tinyint,
        "uuid" => ColumnType::Uuid,
        "varint" => ColumnType::Varint,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> UdtType {
        UdtType {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("street".into(), ColumnType::Varchar),
                ("zip".into(), ColumnType::Int),
            ],
        }
    }

    fn parse(text: &str) -> Result<ColumnType, TypeParseError> {
        parse_cql_type(text, &|name| {
            (name == "address" || name == "Address").then(address)
        })
    }

    #[test]
    fn natives_and_collections() {
        assert_eq!(parse("int").unwrap(), ColumnType::Int);
        assert_eq!(parse("text").unwrap(), ColumnType::Varchar);
        assert_eq!(
            parse("frozen<map<text, list<int>>>").unwrap(),
            ColumnType::Map(
                Box::new(ColumnType::Varchar),
                Box::new(ColumnType::List(Box::new(ColumnType::Int)))
            )
        );
        assert_eq!(
            parse("tuple<int, text, frozen<set<uuid>>>").unwrap(),
            ColumnType::Tuple(vec![
                ColumnType::Int,
                ColumnType::Varchar,
                ColumnType::Set(Box::new(ColumnType::Uuid))
            ])
        );
        assert_eq!(
            parse("vector<float, 3>").unwrap(),
            ColumnType::Vector {
                element: Box::new(ColumnType::Float),
                dimension: 3
            }
        );
        assert_eq!(
            parse("'org.apache.cassandra.db.marshal.BytesType'").unwrap(),
            ColumnType::Custom("org.apache.cassandra.db.marshal.BytesType".into())
        );
    }

    #[test]
    fn user_types_resolve_by_name() {
        assert_eq!(
            parse("frozen<address>").unwrap(),
            ColumnType::Udt(address())
        );
        assert_eq!(parse("\"Address\"").unwrap(), ColumnType::Udt(address()));
        assert_eq!(
            parse("frozen<nope>"),
            Err(TypeParseError::UnknownType("nope".into()))
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        for text in [
            "",
            "map<int>",
            "list<int, int>",
            "list<",
            "vector<float>",
            "int int",
            "tuple<>",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        let deep = format!("{}int{}", "list<".repeat(40), ">".repeat(40));
        assert!(matches!(parse(&deep), Err(TypeParseError::TooDeep(_))));
    }
}
