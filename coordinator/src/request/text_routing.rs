//! Routing plain CQL text by token: the classifier finds the table and what the WHERE clause
//! (or INSERT's values) fixes each partition key column to; with the table's schema from the
//! view, literals are serialized as their column's type and bind markers taken from the
//! request's values. A statement whose whole partition key is not fixed that way is not
//! routed by token (it still runs, on the plan's first node).

use bytes::BytesMut;
use ringgate_protocol::message::{Value, Values};
use ringgate_protocol::types::{ColumnType, CqlValue, CqlVarint, encode_value};
use ringgate_routing::{KeyComponent, murmur3_token, write_partition_key};

use crate::cluster::ClusterView;
use crate::cql::{Classified, Literal, StatementKind, Term, Token, classify_tokens, tokenize};

/// What plain CQL text says about where and how it runs, read from one tokenization.
pub(crate) struct TextPlan {
    /// The keyspace and token of its partition, when the text fixes the whole key.
    pub(crate) routing: Option<(Option<String>, i64)>,
    /// Whether it is a conditional update (has an `IF` clause).
    pub(crate) conditional: bool,
    /// Whether it reads the schema tables (`system_schema`, `system_virtual_schema`).
    pub(crate) schema_read: bool,
    /// Whether it changes the schema or truncates (CREATE, ALTER, DROP, TRUNCATE): slow
    /// statements, run with the DDL timeout.
    pub(crate) ddl: bool,
    /// The keyspace, when it is a `USE`.
    pub(crate) use_keyspace: Option<String>,
}

/// Reads `cql` once for everything a request needs to know of its text.
pub(crate) fn plan_text(
    view: &ClusterView,
    cql: &str,
    session_keyspace: Option<&str>,
    values: &Values,
) -> TextPlan {
    let Ok(tokens) = tokenize(cql) else {
        return TextPlan {
            routing: None,
            conditional: false,
            schema_read: false,
            ddl: false,
            use_keyspace: None,
        };
    };
    let classified = classify_tokens(&tokens);
    let schema_read = classified
        .as_ref()
        .is_some_and(|c| reads_schema(c, session_keyspace));
    TextPlan {
        routing: classified.and_then(|c| route_classified(view, &c, session_keyspace, values)),
        conditional: has_if(&tokens),
        schema_read,
        ddl: is_ddl(&tokens),
        use_keyspace: crate::cql::use_keyspace_of(&tokens),
    }
}

/// Whether a statement is a SELECT from the schema tables drivers read for their metadata
/// (`system_schema`, `system_virtual_schema`), in its own keyspace or else in `keyspace`.
pub(crate) fn reads_schema(classified: &Classified, keyspace: Option<&str>) -> bool {
    classified.kind == StatementKind::Select
        && matches!(
            classified.keyspace.as_deref().or(keyspace),
            Some("system_schema" | "system_virtual_schema")
        )
}

/// Whether a statement changes the schema or truncates a table.
fn is_ddl(tokens: &[Token]) -> bool {
    matches!(
        tokens.first(),
        Some(Token::Word(w)) if matches!(w.as_str(), "create" | "alter" | "drop" | "truncate")
    )
}

/// Whether a statement's tokens hold an `IF` clause (a lightweight transaction).
pub(crate) fn has_if(tokens: &[Token]) -> bool {
    tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w == "if"))
}

fn route_classified(
    view: &ClusterView,
    classified: &Classified,
    session_keyspace: Option<&str>,
    values: &Values,
) -> Option<(Option<String>, i64)> {
    let keyspace = classified
        .keyspace
        .as_deref()
        .or(session_keyspace)?
        .to_owned();
    let table = view.keyspace(&keyspace)?.tables.get(&classified.table)?;
    if table.partition_key.is_empty() {
        return None;
    }
    let mut parts: Vec<bytes::Bytes> = Vec::with_capacity(table.partition_key.len());
    for column in &table.partition_key {
        let bytes = match classified.term_of(&column.name)? {
            Term::Marker(i) => match values {
                Values::Positional(v) => bound(v.get(*i)?)?,
                Values::Named(_) => return None,
            },
            Term::NamedMarker(name) => match values {
                Values::Named(v) => bound(&v.iter().find(|(n, _)| n == name)?.1)?,
                Values::Positional(_) => return None,
            },
            Term::Literal(literal) => literal_bytes(&column.cql_type, literal)?,
        };
        parts.push(bytes);
    }
    let components: Vec<KeyComponent<'_>> = parts.iter().map(|b| KeyComponent::Value(b)).collect();
    let mut key = Vec::new();
    write_partition_key(&components, &mut key).ok()?;
    Some((Some(keyspace), murmur3_token(&key)))
}

fn bound(value: &Value) -> Option<bytes::Bytes> {
    match value {
        Value::Bytes(b) => Some(b.clone()),
        Value::Null | Value::Unset => None,
    }
}

/// A literal serialized as a column of type `typ` would hold it; `None` for literals this
/// does not read (timestamps, dates and inets written as strings, say).
fn literal_bytes(typ: &ColumnType, literal: &Literal) -> Option<bytes::Bytes> {
    use ColumnType as T;
    let value = match (typ, literal) {
        (T::Varchar, Literal::String(s)) => CqlValue::Text(s.clone()),
        (T::Ascii, Literal::String(s)) => CqlValue::Ascii(s.clone()),
        (T::Int, Literal::Integer(i)) => CqlValue::Int(i.parse().ok()?),
        (T::Bigint | T::Counter, Literal::Integer(i)) => CqlValue::Bigint(i.parse().ok()?),
        (T::Smallint, Literal::Integer(i)) => CqlValue::Smallint(i.parse().ok()?),
        (T::Tinyint, Literal::Integer(i)) => CqlValue::Tinyint(i.parse().ok()?),
        (T::Varint, Literal::Integer(i)) => {
            CqlValue::Varint(CqlVarint::from(i.parse::<i128>().ok()?))
        }
        (T::Boolean, Literal::Boolean(b)) => CqlValue::Boolean(*b),
        (T::Double, Literal::Float(f) | Literal::Integer(f)) => CqlValue::Double(f.parse().ok()?),
        (T::Float, Literal::Float(f) | Literal::Integer(f)) => CqlValue::Float(f.parse().ok()?),
        (T::Uuid, Literal::Uuid(u)) => CqlValue::Uuid(uuid_bytes(u)?),
        (T::Timeuuid, Literal::Uuid(u)) => CqlValue::Timeuuid(uuid_bytes(u)?),
        (T::Blob, Literal::Blob(hex)) => CqlValue::Blob(hex_bytes(hex)?),
        _ => return None,
    };
    let mut buf = BytesMut::new();
    encode_value(typ, &value, &mut buf).ok()?;
    Some(buf.freeze())
}

fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let bytes = hex_bytes(&hex)?;
    bytes.try_into().ok()
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_changes_and_truncation_are_ddl() {
        let ddl = |cql: &str| is_ddl(&tokenize(cql).unwrap());
        assert!(ddl("DROP KEYSPACE ks"));
        assert!(ddl("create table t (k int primary key)"));
        assert!(ddl("  ALTER TABLE t ADD v int"));
        assert!(ddl("TRUNCATE t"));
        assert!(!ddl("SELECT * FROM drop"));
        assert!(!ddl("INSERT INTO t (k) VALUES (1)"));
        assert!(!ddl(""));
    }

    #[test]
    fn literals_serialize_as_their_column_type() {
        let lit = |t: ColumnType, l: Literal| literal_bytes(&t, &l).map(|b| b.to_vec());
        assert_eq!(
            lit(ColumnType::Int, Literal::Integer("-2".into())),
            Some(vec![0xff, 0xff, 0xff, 0xfe])
        );
        assert_eq!(
            lit(ColumnType::Bigint, Literal::Integer("1".into())),
            Some(vec![0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            lit(ColumnType::Varchar, Literal::String("ab".into())),
            Some(b"ab".to_vec())
        );
        assert_eq!(
            lit(
                ColumnType::Uuid,
                Literal::Uuid("00000000-0000-0000-0000-0000000000ff".into())
            ),
            Some([vec![0; 15], vec![0xff]].concat())
        );
        assert_eq!(
            lit(ColumnType::Blob, Literal::Blob("00fF".into())),
            Some(vec![0, 0xff])
        );
        assert_eq!(
            lit(ColumnType::Varint, Literal::Integer("128".into())),
            Some(vec![0, 0x80])
        );
        // Out of range, mismatched or unread: not routed, never a panic.
        assert_eq!(
            lit(ColumnType::Int, Literal::Integer("3000000000".into())),
            None
        );
        assert_eq!(lit(ColumnType::Int, Literal::String("1".into())), None);
        assert_eq!(lit(ColumnType::Blob, Literal::Blob("abc".into())), None);
        assert_eq!(lit(ColumnType::Blob, Literal::Blob("ñ1".into())), None);
        assert_eq!(lit(ColumnType::Uuid, Literal::Uuid("00".into())), None);
        assert_eq!(
            lit(ColumnType::Timestamp, Literal::String("2026-01-01".into())),
            None
        );
    }
}
