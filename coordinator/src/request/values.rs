//! The values bound to a statement's markers: none, by position, or by name.

use bytes::{Bytes, BytesMut};
use ringgate_protocol::message::Value;
use ringgate_protocol::types::{ColumnType, CqlValue, encode_value};

use super::{PreparedStatement, RequestError};

/// Values for a statement's bind markers. `None` in a slot is CQL `null`.
///
/// Build it from `()` (no values), a `Vec<CqlValue>` or `Vec<Option<CqlValue>>` (by position), or
/// a `Vec<(&str, CqlValue)>` / `Vec<(String, Option<CqlValue>)>` (by marker name).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Values {
    /// The statement has no bind markers.
    #[default]
    None,
    /// One value per marker, in order.
    Positional(Vec<Option<CqlValue>>),
    /// Values by marker name (`:name` markers, or the column a `?` binds).
    Named(Vec<(String, Option<CqlValue>)>),
}

impl From<()> for Values {
    fn from((): ()) -> Self {
        Values::None
    }
}

impl From<Vec<CqlValue>> for Values {
    fn from(values: Vec<CqlValue>) -> Self {
        Values::Positional(values.into_iter().map(Some).collect())
    }
}

impl From<Vec<Option<CqlValue>>> for Values {
    fn from(values: Vec<Option<CqlValue>>) -> Self {
        Values::Positional(values)
    }
}

impl From<Vec<(&str, CqlValue)>> for Values {
    fn from(values: Vec<(&str, CqlValue)>) -> Self {
        Values::Named(
            values
                .into_iter()
                .map(|(n, v)| (n.to_owned(), Some(v)))
                .collect(),
        )
    }
}

impl From<Vec<(String, Option<CqlValue>)>> for Values {
    fn from(values: Vec<(String, Option<CqlValue>)>) -> Self {
        Values::Named(values)
    }
}

/// Values encoded for a statement that is not prepared.
pub(crate) enum Encoded {
    Positional(Vec<Value>),
    Named(Vec<(String, Value)>),
}

impl Values {
    /// Encodes the values of an unprepared statement, each as the CQL type its variant names.
    pub(crate) fn encode_natural(&self) -> Result<Encoded, RequestError> {
        Ok(match self {
            Values::None => Encoded::Positional(Vec::new()),
            Values::Positional(values) => Encoded::Positional(
                values
                    .iter()
                    .map(|v| natural_value(v.as_ref()))
                    .collect::<Result<_, _>>()?,
            ),
            Values::Named(values) => Encoded::Named(
                values
                    .iter()
                    .map(|(n, v)| Ok((n.clone(), natural_value(v.as_ref())?)))
                    .collect::<Result<_, RequestError>>()?,
            ),
        })
    }

    /// Encodes the values of a prepared statement with its markers' types, by position (named
    /// values are put in marker order, so the routing key can be read from them).
    pub(crate) fn encode_for(
        &self,
        statement: &PreparedStatement,
    ) -> Result<Vec<Value>, RequestError> {
        match self {
            Values::None => statement.encode_values(&[]),
            Values::Positional(values) => statement.encode_values(values),
            Values::Named(values) => {
                let mut ordered: Vec<Option<Option<CqlValue>>> =
                    vec![None; statement.markers.len()];
                for (name, value) in values {
                    let i = statement
                        .markers
                        .iter()
                        .position(|m| m.name == *name)
                        .ok_or_else(|| {
                            RequestError::Invalid(format!("no bind marker named {name}"))
                        })?;
                    if let Some(slot) = ordered.get_mut(i) {
                        *slot = Some(value.clone());
                    }
                }
                let ordered = ordered
                    .into_iter()
                    .zip(&statement.markers)
                    .map(|(v, m)| {
                        v.ok_or_else(|| {
                            RequestError::Invalid(format!("no value for bind marker {}", m.name))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                statement.encode_values(&ordered)
            }
        }
    }
}

/// A value encoded as the CQL type its variant names (for statements that are not prepared).
fn natural_value(v: Option<&CqlValue>) -> Result<Value, RequestError> {
    use ColumnType as T;
    let Some(v) = v else {
        return Ok(Value::Null);
    };
    let t = match v {
        CqlValue::Empty => return Ok(Value::Bytes(Bytes::new())),
        CqlValue::Ascii(_) => T::Ascii,
        CqlValue::Bigint(_) => T::Bigint,
        CqlValue::Blob(_) => T::Blob,
        CqlValue::Boolean(_) => T::Boolean,
        CqlValue::Counter(_) => T::Counter,
        CqlValue::Decimal(_) => T::Decimal,
        CqlValue::Double(_) => T::Double,
        CqlValue::Float(_) => T::Float,
        CqlValue::Int(_) => T::Int,
        CqlValue::Timestamp(_) => T::Timestamp,
        CqlValue::Uuid(_) => T::Uuid,
        CqlValue::Text(_) => T::Varchar,
        CqlValue::Varint(_) => T::Varint,
        CqlValue::Timeuuid(_) => T::Timeuuid,
        CqlValue::Inet(_) => T::Inet,
        CqlValue::Date(_) => T::Date,
        CqlValue::Time(_) => T::Time,
        CqlValue::Smallint(_) => T::Smallint,
        CqlValue::Tinyint(_) => T::Tinyint,
        CqlValue::Duration(_) => T::Duration,
        _ => {
            return Err(RequestError::Invalid(
                "collections, tuples, UDTs and vectors need a prepared statement (their type is not implied by the value)".to_owned(),
            ));
        }
    };
    let mut buf = BytesMut::new();
    encode_value(&t, v, &mut buf)?;
    Ok(Value::Bytes(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use ringgate_protocol::message::ColumnSpec;

    use super::*;

    fn statement() -> PreparedStatement {
        let marker = |name: &str, typ| ColumnSpec {
            keyspace: "ks".into(),
            table: "t".into(),
            name: name.into(),
            typ,
        };
        PreparedStatement {
            query: String::new(),
            prepared_in: None,
            id: Bytes::new(),
            result_metadata_id: None,
            keyspace: Some("ks".into()),
            markers: vec![
                marker("a", ColumnType::Int),
                marker("b", ColumnType::Varchar),
            ],
            pk_indexes: vec![0],
            result_columns: None,
            conditional: false,
            read_only: false,
            schema_read: false,
            use_keyspace: None,
            prepared: ringgate_protocol::message::Prepared::default(),
        }
    }

    #[test]
    fn named_values_are_put_in_marker_order() {
        let s = statement();
        let named: Values = vec![("b", CqlValue::Text("x".into())), ("a", CqlValue::Int(7))].into();
        let positional: Values = vec![CqlValue::Int(7), CqlValue::Text("x".into())].into();
        assert_eq!(
            named.encode_for(&s).unwrap(),
            positional.encode_for(&s).unwrap()
        );
        assert_eq!(
            positional.encode_for(&s).unwrap()[0],
            Value::Bytes(Bytes::from_static(&[0, 0, 0, 7]))
        );
    }

    #[test]
    fn named_values_must_match_the_markers() {
        let s = statement();
        let unknown: Values = vec![("c", CqlValue::Int(1))].into();
        assert!(
            matches!(unknown.encode_for(&s), Err(RequestError::Invalid(m)) if m.contains("no bind marker named c"))
        );
        let missing: Values = vec![("a", CqlValue::Int(1))].into();
        assert!(
            matches!(missing.encode_for(&s), Err(RequestError::Invalid(m)) if m.contains("no value for bind marker b"))
        );
        // Null is a value: explicitly given, it is sent as null.
        let with_null: Values = vec![
            ("a".to_owned(), Some(CqlValue::Int(1))),
            ("b".to_owned(), None),
        ]
        .into();
        assert_eq!(with_null.encode_for(&s).unwrap()[1], Value::Null);
    }

    #[test]
    fn unprepared_values_take_their_natural_type() {
        let Encoded::Positional(v) = Values::from(vec![Some(CqlValue::Bigint(1)), None])
            .encode_natural()
            .unwrap()
        else {
            panic!("positional")
        };
        assert_eq!(
            v,
            vec![
                Value::Bytes(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1])),
                Value::Null
            ]
        );
        let list = Values::from(vec![CqlValue::List(vec![])]);
        assert!(list.encode_natural().is_err());
    }
}
